//! [`ErrorKind`]: the small, stable classification of every core error, which front ends map to
//! exit codes, and [`Error`], the one error type of every operation.

use std::path::PathBuf;

use strata_disk::DiskError;
use strata_model::spec::{SpecError, TransportError};
use strata_model::{DiskFormat, Kind, NameError};
use strata_oci::OciError;
use strata_store::StoreError;

/// What kind of failure an operation met.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The request itself is wrong: a bad name, reference, size or option combination.
    InvalidRequest,
    /// Something named does not exist: an image, a revision, a repository, a file.
    NotFound,
    /// The destination name is taken.
    AlreadyExists,
    /// The input is not a valid image, archive or record of the expected format.
    InvalidFormat,
    /// A valid input that uses a feature strata does not implement.
    Unsupported,
    /// Stored data contradicts itself (tables, refcounts, records).
    Corrupt,
    /// Data does not match its digest or recorded size.
    IntegrityMismatch,
    /// A path named by an input escapes the directories it may reach.
    Escape,
    /// The object is in use (an instance runs on it) or locked by another process.
    Busy,
    /// The operating system denied access.
    PermissionDenied,
    /// The configuration (repos.yaml and friends) is invalid.
    Config,
    /// Any other I/O failure.
    Io,
}

/// The result type of every operation.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why an operation failed. Texts are pcocc's where pcocc has one (most come through the
/// wrapped [`StoreError`] and [`SpecError`]: `Object {name}[ revision {r}] not found[ in
/// repository {repo}| in configured repositories]`, `Image {name} already exists in repo
/// {repo}`, `Unknown repository {name}`, `Mismatch between specified format {f} and detected
/// image type {d}` ...); [`Error::kind`] classifies every variant.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A repository, configuration or record error (lookups, `check_overwrite`, locks, blobs).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A disk image that cannot be opened, read, converted or written.
    #[error(transparent)]
    Disk(#[from] DiskError),
    /// pcocc's format decision failed (`-t`, `FORMAT:` prefix, extension, content).
    #[error(transparent)]
    Spec(#[from] SpecError),
    /// An image name that pcocc would refuse (`Object name contains invalid characters`,
    /// `Empty object name`).
    #[error(transparent)]
    Name(#[from] NameError),
    /// The `list` filter is not a valid regular expression (pcocc's text, space included).
    #[error("Could not parse regular expression :{message}")]
    BadRegex {
        /// The pattern given.
        pattern: String,
        /// The regex engine's description.
        message: String,
    },
    /// Converting an import source failed (pcocc's wrapper text around qemu-img's failure);
    /// [`Error::kind`] is the wrapped error's.
    #[error("Failed to import {path} : {error}")]
    ImportFailed {
        /// The source path, as given (prefix removed).
        path: String,
        /// What failed (already in the text, hence not a `#[source]`).
        error: DiskError,
    },
    /// The import source is not a regular file (pcocc's wrapper and `VMImage.convert` texts).
    #[error("Failed to import {path} : not an image file")]
    NotAnImageFile {
        /// The source path, as given (prefix removed).
        path: String,
        /// Whether anything exists at that path (if not, the kind is
        /// [`ErrorKind::NotFound`]).
        exists: bool,
    },
    /// A container image, blob or document that failed outside an import or export (reading a
    /// stored image back, the container cache).
    #[error(transparent)]
    Oci(Box<OciError>),
    /// Reading a container import source failed (pcocc's wrapper text, `Failed to import {0} :
    /// {1}`); [`Error::kind`] is the wrapped error's.
    #[error("Failed to import {path} : {error}")]
    ContainerImportFailed {
        /// The source, as given (prefix removed).
        path: String,
        /// What failed (already in the text, hence not a `#[source]`; boxed: registry errors
        /// carry several names).
        error: Box<OciError>,
    },
    /// Writing a container export destination failed; [`Error::kind`] is the wrapped error's.
    #[error("Failed to export to {} : {error}", .path.display())]
    ContainerExportFailed {
        /// The destination.
        path: PathBuf,
        /// What failed (already in the text, hence not a `#[source]`; boxed: registry errors
        /// carry several names).
        error: Box<OciError>,
    },
    /// An `--arch` that names no architecture (`ARCH` or `ARCH/VARIANT`).
    #[error("invalid architecture {text:?}: expected ARCH or ARCH/VARIANT, as amd64 or arm64/v8")]
    BadArch {
        /// The text given.
        text: String,
    },
    /// A containers-transports reference that does not parse (containers/image's texts).
    #[error("{error}")]
    BadTransport {
        /// The reference, `FORMAT:DETAILS`.
        text: String,
        /// Why it does not parse.
        error: TransportError,
    },
    /// A container transport strata does not read or write (yet): `docker://` without a
    /// registry client, `containers-storage:`, `dir:`, `sif:`.
    #[error("The {transport} container transport is not supported by strata yet")]
    TransportUnavailable {
        /// The transport's name.
        transport: &'static str,
    },
    /// A container transport strata reads but cannot write (`ostree:`, and `sif:`, which
    /// pcocc imports only too).
    #[error(
        "Exporting to the {transport} container transport is not supported: strata only imports from it"
    )]
    ExportNotSupported {
        /// The transport's name.
        transport: &'static str,
    },
    /// A cache entry that a running container holds (pcocc would remove it under the
    /// container; strata refuses).
    #[error("Cache entry {} of image {name} is in use by a running container", &.hash[..10.min(.hash.len())])]
    CacheEntryInUse {
        /// The image name.
        name: String,
        /// The entry's name (sha512 hex).
        hash: String,
    },
    /// A disk format strata reads but does not write (vhdx).
    #[error(
        "{} images cannot be written: strata reads them, and writes raw, qcow2, qed, vdi, vmdk and vpc",
        .format.name()
    )]
    FormatNotWritable {
        /// The format asked for.
        format: DiskFormat,
    },
    /// `resize` of an image that is not a VM disk (pcocc has no such check).
    #[error("Image {name} is a {kind} image: only VM images can be resized")]
    NotVm {
        /// The image name.
        name: String,
        /// Its kind.
        kind: Kind,
    },
    /// `resize` to a size below the current one.
    #[error("Cannot shrink image {name} from {current} to {requested} bytes")]
    Shrink {
        /// The image name.
        name: String,
        /// The current virtual size.
        current: u64,
        /// The size asked for (rounded up to whole 512-byte sectors).
        requested: u64,
    },
    /// The repository to write to is not writable by this process (`access(W_OK)`).
    #[error("Repository {repo} is not writable ({})", .path.display())]
    ReadOnlyRepository {
        /// The repository name.
        repo: String,
        /// Its directory.
        path: PathBuf,
    },
    /// An export destination that cannot hold a file (a directory, or a path ending in `/`).
    #[error("{} is not a file path", .path.display())]
    BadDestination {
        /// The destination path.
        path: PathBuf,
    },
    /// An operating-system error on a path, outside the store and the codecs.
    #[error("Cannot {op} {}", .path.display())]
    Io {
        /// What was being done.
        op: &'static str,
        /// The path concerned.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    /// The stable category of this error, which front ends map to exit codes.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Store(e) => store_kind(e),
            Error::Disk(e) | Error::ImportFailed { error: e, .. } => disk_kind(e),
            Error::Spec(e) => match e {
                SpecError::PrefixMismatch { .. }
                | SpecError::InvalidFormat { .. }
                | SpecError::WrongKind { .. } => ErrorKind::InvalidRequest,
                SpecError::DetectedMismatch { .. } | SpecError::CouldNotDetect { .. } => {
                    ErrorKind::InvalidFormat
                }
            },
            Error::Name(_)
            | Error::BadRegex { .. }
            | Error::NotVm { .. }
            | Error::Shrink { .. }
            | Error::BadDestination { .. } => ErrorKind::InvalidRequest,
            Error::NotAnImageFile { exists: false, .. } => ErrorKind::NotFound,
            Error::NotAnImageFile { exists: true, .. } => ErrorKind::InvalidRequest,
            Error::Oci(e) => oci_kind(e),
            Error::ContainerImportFailed { error, .. }
            | Error::ContainerExportFailed { error, .. } => oci_kind(error),
            Error::BadTransport { .. } | Error::BadArch { .. } => ErrorKind::InvalidRequest,
            Error::TransportUnavailable { .. }
            | Error::ExportNotSupported { .. }
            | Error::FormatNotWritable { .. } => ErrorKind::Unsupported,
            Error::CacheEntryInUse { .. } => ErrorKind::Busy,
            Error::ReadOnlyRepository { .. } => ErrorKind::PermissionDenied,
            Error::Io { source, .. } => io_kind(source),
        }
    }

    /// An [`Error::Io`] for `op` on `path`.
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Error {
        Error::Io {
            op,
            path: path.into(),
            source,
        }
    }
}

/// The core's kind of a store error.
fn store_kind(e: &StoreError) -> ErrorKind {
    use strata_store::ErrorKind as K;
    if let StoreError::Oci(e) = e {
        return oci_kind(e);
    }
    match e.kind() {
        K::Io => ErrorKind::Io,
        K::PermissionDenied => ErrorKind::PermissionDenied,
        K::Config => ErrorKind::Config,
        K::InvalidFormat => ErrorKind::InvalidFormat,
        K::Corrupt => ErrorKind::Corrupt,
        K::NotFound => ErrorKind::NotFound,
        K::AlreadyExists => ErrorKind::AlreadyExists,
        K::IntegrityMismatch => ErrorKind::IntegrityMismatch,
        K::Locked | K::InUse => ErrorKind::Busy,
        K::Unsupported => ErrorKind::Unsupported,
        K::InvalidInput => ErrorKind::InvalidRequest,
    }
}

impl From<OciError> for Error {
    fn from(e: OciError) -> Self {
        Error::Oci(Box::new(e))
    }
}

/// The core's kind of a strata-oci error. Input over one of its size limits
/// ([`strata_oci::ErrorKind::TooLarge`]) is bad input data, [`ErrorKind::InvalidFormat`]
/// (exit 65), like an entry that would escape its root ([`ErrorKind::Escape`], also 65).
fn oci_kind(e: &OciError) -> ErrorKind {
    use strata_oci::ErrorKind as K;
    match e.kind() {
        K::Io => match e {
            OciError::Io { source, .. } => io_kind(source),
            _ => ErrorKind::Io,
        },
        K::InvalidFormat | K::TooLarge => ErrorKind::InvalidFormat,
        K::Unsupported => ErrorKind::Unsupported,
        K::NotFound => ErrorKind::NotFound,
        K::Escape => ErrorKind::Escape,
        K::IntegrityMismatch => ErrorKind::IntegrityMismatch,
        K::InvalidRequest => ErrorKind::InvalidRequest,
        // A registry that stays unreachable after the retries: an I/O failure (74).
        K::Network => ErrorKind::Io,
        // A registry that refuses the credentials (401/403): 77.
        K::PermissionDenied => ErrorKind::PermissionDenied,
    }
}

/// The core's kind of a codec error; an I/O failure caused by permissions is
/// [`ErrorKind::PermissionDenied`].
fn disk_kind(e: &DiskError) -> ErrorKind {
    use strata_disk::ErrorKind as K;
    match e.kind() {
        K::Io => match &e.source {
            strata_disk::error::DiskErrorSource::Io { source, .. } => io_kind(source),
            _ => ErrorKind::Io,
        },
        K::InvalidFormat => ErrorKind::InvalidFormat,
        K::Unsupported => ErrorKind::Unsupported,
        K::Corrupt => ErrorKind::Corrupt,
        K::NotFound => ErrorKind::NotFound,
        K::Escape => ErrorKind::Escape,
        K::IntegrityMismatch => ErrorKind::IntegrityMismatch,
        K::InvalidRequest => ErrorKind::InvalidRequest,
    }
}

/// The kind of an operating-system error.
fn io_kind(e: &std::io::Error) -> ErrorKind {
    match e.kind() {
        std::io::ErrorKind::PermissionDenied | std::io::ErrorKind::ReadOnlyFilesystem => {
            ErrorKind::PermissionDenied
        }
        std::io::ErrorKind::NotFound => ErrorKind::NotFound,
        std::io::ErrorKind::AlreadyExists => ErrorKind::AlreadyExists,
        _ => ErrorKind::Io,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_and_texts() {
        let e = Error::from(StoreError::InUse {
            name: "a".into(),
            revision: 0,
            instances: vec!["i1".into(), "i2".into()],
        });
        assert_eq!(e.kind(), ErrorKind::Busy);
        assert_eq!(e.to_string(), "Image a revision 0 is in use by i1, i2");
        let e = Error::from(StoreError::ImageExists {
            name: "a".into(),
            repo: "user".into(),
        });
        assert_eq!(e.kind(), ErrorKind::AlreadyExists);
        assert_eq!(e.to_string(), "Image a already exists in repo user");
        let e = Error::BadRegex {
            pattern: "(".into(),
            message: "unclosed group".into(),
        };
        assert_eq!(
            e.to_string(),
            "Could not parse regular expression :unclosed group"
        );
        let e = Error::FormatNotWritable {
            format: DiskFormat::Vhdx,
        };
        assert_eq!(e.kind(), ErrorKind::Unsupported);
        assert!(e.to_string().starts_with("vhdx images cannot be written:"));
        let denied = DiskError::io(
            "open",
            std::io::Error::from(std::io::ErrorKind::PermissionDenied),
        );
        assert_eq!(Error::from(denied).kind(), ErrorKind::PermissionDenied);
        let e = Error::ImportFailed {
            path: "disk".into(),
            error: DiskError::invalid_request("nope"),
        };
        assert_eq!(e.to_string(), "Failed to import disk : nope");
        assert_eq!(e.kind(), ErrorKind::InvalidRequest);
        for (oci, kind) in [
            (
                OciError::TooLarge {
                    what: "index.json".into(),
                    limit: 4 << 20,
                },
                ErrorKind::InvalidFormat,
            ),
            (
                OciError::Escape {
                    entry: "../x".into(),
                    reason: "path has a .. component".into(),
                },
                ErrorKind::Escape,
            ),
            (
                OciError::DigestMismatch {
                    what: "blob".into(),
                    expected: "a".into(),
                    actual: "b".into(),
                },
                ErrorKind::IntegrityMismatch,
            ),
            (
                OciError::NotFound {
                    what: "blob".into(),
                },
                ErrorKind::NotFound,
            ),
        ] {
            let wrapped = Error::ContainerImportFailed {
                path: "src".into(),
                error: Box::new(oci),
            };
            assert_eq!(wrapped.kind(), kind, "{wrapped}");
            assert!(wrapped.to_string().starts_with("Failed to import src : "));
        }
        let e = Error::from(StoreError::Oci(OciError::TooLarge {
            what: "x".into(),
            limit: 1,
        }));
        assert_eq!(e.kind(), ErrorKind::InvalidFormat);
        let e = Error::NotVm {
            name: "c".into(),
            kind: Kind::Ctr,
        };
        assert_eq!(
            e.to_string(),
            "Image c is a ctr image: only VM images can be resized"
        );
    }
}
