//! [`DriverFailure`]: why a datastore driver operation failed (copy, mkfs, clone, a snapshot, an
//! instance's save), as data. `Display` gives the text an image keeps in its `ERROR` attribute
//! and a refused request quotes (`Cannot parse image SIZE: ...`): OpenNebula's fs driver's words
//! where it has them (`src/datastore_mad/remotes/fs/cp`, `libfs.sh`, `scripts_common.sh`), and
//! plain words in the same manner for what strata adds.

/// Why a datastore driver operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DriverFailure {
    /// The size of PATH cannot be found (`fs_size`), with the reason when there is one.
    #[error("Cannot determine size for {path}{}", reason_suffix(.reason))]
    Size {
        /// PATH as given.
        path: String,
        /// Why, if known.
        reason: Option<String>,
    },
    /// PATH names a URL: strata copies local files only.
    #[error("Cannot determine size for {path}: strata copies local files only")]
    NotLocal {
        /// PATH as given.
        path: String,
    },
    /// PATH is not a regular file.
    #[error("Cannot determine size for {path}: not a regular file")]
    NotRegular {
        /// PATH as given.
        path: String,
    },
    /// A CDROM, KERNEL, RAMDISK or CONTEXT image with neither (`stat_image`).
    #[error("Either PATH or SOURCE are required for {image_type}")]
    NeedsPathOrSource {
        /// The image's type.
        image_type: String,
    },
    /// The copy into the datastore failed.
    #[error("Error copying {path}: {reason}")]
    Copy {
        /// PATH as given.
        path: String,
        /// Why.
        reason: String,
    },
    /// A compressed PATH could not be decompressed.
    #[error("Error decompressing {path} ({compression}): {reason}")]
    Decompress {
        /// PATH as given.
        path: String,
        /// The compression (`gzip`, `bzip2`, `xz`).
        compression: String,
        /// Why.
        reason: String,
    },
    /// What came in is not a disk image strata reads.
    #[error("{path} is not a disk image strata reads: {reason}")]
    NotADisk {
        /// PATH as given.
        path: String,
        /// Why.
        reason: String,
    },
    /// What came in names a backing file: an image in a datastore holds all its data.
    #[error(
        "{path} has a backing file ({backing}): an image in a datastore must hold all its data"
    )]
    BackingFile {
        /// PATH as given.
        path: String,
        /// The backing file it names.
        backing: String,
    },
    /// FORMAT names no format strata writes.
    #[error("Unsupported image format: {format}")]
    UnsupportedFormat {
        /// The format asked for.
        format: String,
    },
    /// SIZE (MiB) is more than a disk can be.
    #[error("SIZE {size_mb} is too large")]
    TooLarge {
        /// The size asked for.
        size_mb: u64,
    },
    /// FS is not one the driver makes (`mkfs_command`, datastore.conf's `SUPPORTED_FS`).
    #[error("Unsupported file system type: {fs}. Supported types are: {}", .supported.join(","))]
    UnsupportedFs {
        /// The file system asked for.
        fs: String,
        /// Those the driver makes.
        supported: Vec<String>,
    },
    /// mkfs failed, or could not run.
    #[error("Error making a {fs} file system: {reason}")]
    Mkfs {
        /// The file system.
        fs: String,
        /// Why (mkfs's standard error, or why it did not run).
        reason: String,
    },
    /// An empty disk could not be made.
    #[error("Error creating the disk: {reason}")]
    Create {
        /// Why.
        reason: String,
    },
    /// A conversion to the datastore's format failed.
    #[error("Error converting the disk: {reason}")]
    Convert {
        /// Why.
        reason: String,
    },
    /// A clone's copy failed.
    #[error("Error cloning {path}: {reason}")]
    Clone {
        /// The source image's file.
        path: String,
        /// Why.
        reason: String,
    },
    /// The datastore's own files failed (a partial file, a rename into place).
    #[error("Error writing into the datastore: {reason}")]
    Datastore {
        /// Why.
        reason: String,
    },
    /// The process that ran the operation is gone (killed, or the machine stopped).
    #[error("Interrupted: the process that ran this image's {op} (pid {pid}) is gone")]
    Interrupted {
        /// The operation (`create`, `clone`, `snapshot`).
        op: String,
        /// The process.
        pid: u32,
    },
    /// The image was deleted while its data was written.
    #[error("the image was deleted while its data was written")]
    Deleted,
    /// Another process finished the operation's job first.
    #[error("the operation was taken over by another process")]
    TakenOver,
    /// An instance's changes could not be saved into its persistent image.
    #[error("cannot save instance {instance}: {reason}")]
    Save {
        /// The instance.
        instance: u32,
        /// Why.
        reason: String,
    },
    /// A snapshot's file could not be written or read.
    #[error("Error with snapshot {snapshot}: {reason}")]
    Snapshot {
        /// The snapshot.
        snapshot: u32,
        /// Why.
        reason: String,
    },
    /// Deleting the image's files failed (`rm`).
    #[error("Error deleting image: {reason}")]
    Delete {
        /// Why.
        reason: String,
    },
}

fn reason_suffix(reason: &Option<String>) -> String {
    reason
        .as_deref()
        .map_or_else(String::new, |r| format!(": {r}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_are_the_drivers() {
        assert_eq!(
            DriverFailure::Size {
                path: "/x".into(),
                reason: None
            }
            .to_string(),
            "Cannot determine size for /x"
        );
        assert_eq!(
            DriverFailure::UnsupportedFs {
                fs: "btrfs".into(),
                supported: vec!["ext4".into(), "xfs".into()]
            }
            .to_string(),
            "Unsupported file system type: btrfs. Supported types are: ext4,xfs"
        );
    }
}
