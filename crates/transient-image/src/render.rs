//! Outcomes as transient prints them: the `image ls` table (beautifultable's `STYLE_NONE`, from
//! strata-cli, with transient's size words from strata-model) and strata's `ls --json`.
//!
//! Differences from transient, on purpose (each in `docs/transient-image.md`):
//!
//! - Rows are sorted by name; transient prints them in directory order, which changes from one
//!   filesystem to the next.
//! - An image that cannot be read is a row whose sizes are [`ERROR_MARK`] (its reason goes to
//!   standard error); transient fails the whole listing.
//! - Sizes of 1024 TiB and more keep counting in TiB (`1024.00 TiB`): transient crashes
//!   (`KeyError: 5`). Its units stop at TiB; going on in TiB keeps every size in the units
//!   that scripts reading its table know.

use strata::{ByteSize, ErrorKind};
use strata_cli::table::transient::{IMAGE_LS, render};

/// What a size cell of an image that could not be read shows.
pub const ERROR_MARK: &str = "error";

/// One listed image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// The image name.
    pub name: String,
    /// Its file, when known.
    pub file: Option<String>,
    /// Its sizes, or why they could not be read.
    pub sizes: Result<Sizes, Unreadable>,
}

/// Why an image's sizes could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unreadable {
    /// The reason, in words.
    pub reason: String,
    /// Its kind, for the exit code.
    pub kind: ErrorKind,
}

/// The two sizes transient lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sizes {
    /// The virtual disk's size in bytes (qemu-img's `virtual-size`).
    pub virtual_size: u64,
    /// The bytes its file takes on the filesystem (qemu-img's `actual-size`).
    pub actual_size: u64,
}

/// `image ls`, exactly as transient prints it: the table, every line ending with its padding
/// space, or one empty line when the backend has no image.
pub fn ls(rows: &[Row]) -> String {
    let cells: Vec<[String; 3]> = rows
        .iter()
        .map(|row| match &row.sizes {
            Ok(sizes) => [
                row.name.clone(),
                ByteSize(sizes.virtual_size).to_transient_string(),
                ByteSize(sizes.actual_size).to_transient_string(),
            ],
            Err(_) => [
                row.name.clone(),
                ERROR_MARK.to_owned(),
                ERROR_MARK.to_owned(),
            ],
        })
        .collect();
    render(&IMAGE_LS, &cells)
}

/// `ls --json` (strata's own; the fields are in `docs/transient-image.md`).
pub mod json {
    use serde::Serialize;

    use super::Row;

    /// One image.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize)]
    pub struct Image {
        /// The image name, as `rm` takes it.
        pub name: String,
        /// Its file in the backend.
        pub file: Option<String>,
        /// The virtual disk's size in bytes; `null` when the image could not be read.
        pub virtual_size: Option<u64>,
        /// The bytes its file takes on the filesystem; `null` when the image could not be
        /// read.
        pub actual_size: Option<u64>,
        /// Why the image could not be read; `null` when it was.
        pub error: Option<String>,
    }

    /// `ls --json`: every image, sorted by name.
    pub fn ls(rows: &[Row]) -> Vec<Image> {
        rows.iter()
            .map(|row| Image {
                name: row.name.clone(),
                file: row.file.clone(),
                virtual_size: row.sizes.as_ref().ok().map(|s| s.virtual_size),
                actual_size: row.sizes.as_ref().ok().map(|s| s.actual_size),
                error: row.sizes.as_ref().err().map(|e| e.reason.clone()),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(name: &str, sizes: Result<(u64, u64), &str>) -> Row {
        Row {
            name: name.to_owned(),
            file: Some(format!("/b/{name}")),
            sizes: sizes
                .map(|(virtual_size, actual_size)| Sizes {
                    virtual_size,
                    actual_size,
                })
                .map_err(|reason| Unreadable {
                    reason: reason.to_owned(),
                    kind: ErrorKind::InvalidFormat,
                }),
        }
    }

    #[test]
    fn transients_docs_sample() {
        let gib = 1u64 << 30;
        let rows = [
            row("centos/7:2004.01", Ok((40 * gib, 1_127_428_915))),
            row("generic/alpine38:v3.0.2", Ok((32 * gib, 104_533_279))),
            row("alpine_rel3", Ok((20 * gib, 137_825_239))),
        ];
        assert_eq!(
            ls(&rows),
            concat!(
                " NAME                     VIRT SIZE   REAL SIZE \n",
                " centos/7:2004.01         40.00 GiB    1.05 GiB \n",
                " generic/alpine38:v3.0.2  32.00 GiB   99.69 MiB \n",
                " alpine_rel3              20.00 GiB  131.44 MiB \n",
            )
        );
    }

    #[test]
    fn empty_unreadable_and_huge() {
        assert_eq!(ls(&[]), "\n");
        let rows = [
            row("broken", Err("not a qcow2 image")),
            row("huge", Ok((1 << 50, 200_704))),
        ];
        assert_eq!(
            ls(&rows),
            concat!(
                " NAME      VIRT SIZE   REAL SIZE \n",
                " broken        error       error \n",
                " huge    1024.00 TiB  196.00 KiB \n",
            )
        );
        let json = json::ls(&rows);
        assert_eq!(json[0].error.as_deref(), Some("not a qcow2 image"));
        assert_eq!((json[0].virtual_size, json[0].actual_size), (None, None));
        assert_eq!(
            (json[1].virtual_size, json[1].actual_size),
            (Some(1 << 50), Some(200_704))
        );
        assert_eq!(json[1].error, None);
    }
}
