//! One way to make a convert destination of any writable format, with the options
//! `qemu-img convert -O FORMAT` uses when given none: what front ends call when the user names
//! only a format (`export -t vmdk`). Callers that need a format's own options (cluster size,
//! subformat, compression) create that format's target directly.

use std::path::Path;

use strata_model::DiskFormat;

use crate::convert::{ConvertError, ConvertTarget};
use crate::error::DiskError;
use crate::qcow2::{CreateOptions, Qcow2Target};
use crate::qed::{QedCreateOptions, QedTarget};
use crate::raw::RawTarget;
use crate::vdi::{VdiCreateOptions, VdiTarget};
use crate::vmdk::{VmdkCreateOptions, VmdkTarget};
use crate::vpc::{VpcCreateOptions, VpcTarget};

/// The formats [`create_target`] writes.
pub fn is_writable(format: DiskFormat) -> bool {
    matches!(
        format,
        DiskFormat::Raw
            | DiskFormat::Qcow2
            | DiskFormat::Qed
            | DiskFormat::Vdi
            | DiskFormat::Vmdk
            | DiskFormat::Vpc
    )
}

/// A destination at `path` (written to a temporary file beside it, renamed there by
/// [`ConvertTarget::finish`]) of `size` virtual bytes in `format`, with qemu-img's default
/// options; `hash` computes the file's sha256 as it is written, `sync` fsyncs it first.
/// A format strata reads but cannot write is [`ConvertError::FormatNotWritable`].
pub fn create_target(
    format: DiskFormat,
    path: &Path,
    size: u64,
    hash: bool,
    sync: bool,
) -> Result<Box<dyn ConvertTarget>, DiskError> {
    Ok(match format {
        DiskFormat::Raw => Box::new(RawTarget::create(path, size, hash, sync)?),
        DiskFormat::Qcow2 => Box::new(Qcow2Target::create(
            path,
            &CreateOptions::new(size),
            hash,
            sync,
        )?),
        DiskFormat::Vmdk => Box::new(VmdkTarget::create(
            path,
            &VmdkCreateOptions::new(size),
            hash,
            sync,
        )?),
        DiskFormat::Qed => Box::new(QedTarget::create(
            path,
            &QedCreateOptions::new(size),
            hash,
            sync,
        )?),
        DiskFormat::Vdi => Box::new(VdiTarget::create(
            path,
            &VdiCreateOptions::new(size),
            hash,
            sync,
        )?),
        DiskFormat::Vpc => Box::new(VpcTarget::create(
            path,
            &VpcCreateOptions::new(size),
            hash,
            sync,
        )?),
        other => {
            return Err(ConvertError::FormatNotWritable {
                format: other.name(),
            }
            .into());
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writable_formats_are_exactly_those_created() {
        let dir = tempfile::tempdir().unwrap();
        for format in &DiskFormat::ALL {
            let path = dir.path().join(format!("out.{}", format.name()));
            let made = create_target(*format, &path, 1 << 20, false, false);
            assert_eq!(made.is_ok(), is_writable(*format), "{format:?}");
            if let Err(e) = made {
                assert_eq!(e.kind(), crate::ErrorKind::Unsupported);
                assert!(e.to_string().contains(format.name()), "{e}");
            }
        }
    }
}
