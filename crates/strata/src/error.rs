//! [`ErrorKind`]: the small, stable classification of every core error, which front ends map to
//! exit codes, and [`Error`], the one error type of every operation.

use std::path::PathBuf;

use strata_disk::DiskError;
use strata_model::{DiskFormat, Kind};
use strata_oci::OciError;
use strata_store::StoreError;

use crate::store::ImageKey;

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
    /// The caller stopped the operation ([`StrataOptions::cancel`](crate::StrataOptions), set
    /// by a front end's SIGINT or SIGTERM handler); nothing it staged was kept.
    Interrupted,
    /// The configuration (repos.yaml and friends) is invalid.
    Config,
    /// Any other I/O failure.
    Io,
}

/// The result type of every operation.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why an operation failed, with every fact as a field; [`Error::kind`] classifies every
/// variant. The texts are plain English: a front end words the variants its users know in its
/// own dialect and prints the others as they are.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A repository, configuration or record error (locks, blobs, records, the cache).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A disk image that cannot be opened, read, converted or written.
    #[error(transparent)]
    Disk(#[from] DiskError),
    /// A container image, blob or document that failed outside an import or export (reading a
    /// stored image back, the container cache).
    #[error(transparent)]
    Oci(Box<OciError>),
    /// No store was given, and an operation needs the default one.
    #[error("no store is configured")]
    NoStore,
    /// A store name that is not among the stores given.
    #[error("no store is named {name}")]
    UnknownStore {
        /// The name asked for.
        name: String,
    },
    /// The image is not in the store searched, or in any store.
    #[error(
        "image {key} not found{}",
        match .store { Some(store) => format!(" in store {store}"), None => " in any store".to_owned() }
    )]
    ImageNotFound {
        /// How the request named it.
        key: ImageKey,
        /// The store searched, or `None` for every store.
        store: Option<String>,
    },
    /// A new image's name is taken in its store.
    #[error("an image named {name} already exists in store {store}")]
    ImageExists {
        /// The name.
        name: String,
        /// The store.
        store: String,
    },
    /// An image that VMs use, and the removal was not forced
    /// ([`OnInUse::Refuse`](crate::OnInUse::Refuse)).
    #[error("image {key} in store {store} is in use by {}", .users.join(", "))]
    ImageInUse {
        /// The image.
        key: ImageKey,
        /// The store.
        store: String,
        /// The VMs that use it, by the names the store knows them by, sorted.
        users: Vec<String>,
    },
    /// A store was asked for an image by a kind of key it does not keep (an ID in a store of
    /// names).
    #[error("store {store} cannot find an image by {key}: it names images by name")]
    KeyNotSupported {
        /// The key.
        key: ImageKey,
        /// The store.
        store: String,
    },
    /// An empty image name.
    #[error("an image name cannot be empty")]
    EmptyName,
    /// A name the store cannot hold (a registry tag holds at most 128 characters).
    #[error("store {store} cannot hold an image named {name}: {reason}")]
    NameNotStorable {
        /// The name.
        name: String,
        /// The store.
        store: String,
        /// Why, in a few words.
        reason: String,
    },
    /// Clients kept claiming the same registry tag: no one of them won it in time.
    #[error("store {store}: tag {tag} was claimed by other clients on each of {attempts} tries")]
    Contended {
        /// The store.
        store: String,
        /// The tag.
        tag: String,
        /// Tries made.
        attempts: u32,
    },
    /// What a registry holds under one of a store's tags is not a revision strata wrote or
    /// contradicts its tag.
    #[error("store {store}: tag {tag}: {message}")]
    BadRemoteRevision {
        /// The store.
        store: String,
        /// The tag.
        tag: String,
        /// What is wrong.
        message: String,
    },
    /// The store lacks a capability the operation needs (revisions, container images,
    /// maintenance).
    #[error("store {store} does not keep {what}")]
    NotCapable {
        /// The store.
        store: String,
        /// What it would need to keep, in a few words.
        what: &'static str,
    },
    /// Converting an import source failed; [`Error::kind`] is the wrapped error's.
    #[error("cannot import {}: {error}", .path.display())]
    DiskSource {
        /// The source file.
        path: PathBuf,
        /// What failed (already in the text, hence not a `#[source]`).
        error: DiskError,
    },
    /// An import source that is not a regular file.
    #[error("cannot import {}: not a regular file", .path.display())]
    NotAFile {
        /// The source.
        path: PathBuf,
        /// Whether anything exists at that path (if not, the kind is
        /// [`ErrorKind::NotFound`]).
        exists: bool,
    },
    /// Reading a container import source failed; [`Error::kind`] is the wrapped error's.
    #[error("cannot import {from}: {error}")]
    ContainerSource {
        /// The source, as its transport writes it (`oci-archive:/tmp/a.tar`).
        from: String,
        /// What failed (already in the text, hence not a `#[source]`; boxed: registry errors
        /// carry several names).
        error: Box<OciError>,
    },
    /// Writing a container export destination failed; [`Error::kind`] is the wrapped error's.
    #[error("cannot export to {}: {error}", .path.display())]
    ContainerDestination {
        /// The destination (a file, or `docker://…` for a push).
        path: PathBuf,
        /// What failed (already in the text, hence not a `#[source]`; boxed: registry errors
        /// carry several names).
        error: Box<OciError>,
    },
    /// An architecture that names none (`ARCH` or `ARCH/VARIANT`).
    #[error("invalid architecture {text:?}: expected ARCH or ARCH/VARIANT, as amd64 or arm64/v8")]
    BadArch {
        /// The text given.
        text: String,
    },
    /// A container transport strata does not read or write (yet): `docker://` without a
    /// registry client, `containers-storage:`, `dir:`.
    #[error("The {transport} container transport is not supported by strata yet")]
    TransportUnavailable {
        /// The transport's name.
        transport: &'static str,
    },
    /// A container transport strata reads but cannot write (`ostree:`, `sif:`).
    #[error(
        "Exporting to the {transport} container transport is not supported: strata only imports from it"
    )]
    ExportNotSupported {
        /// The transport's name.
        transport: &'static str,
    },
    /// A cache operation with no container cache configured.
    #[error("no container cache is configured")]
    NoCache,
    /// A cache entry that a running container holds.
    #[error("Cache entry {} of image {name} is in use by a running container", &.hash[..10.min(.hash.len())])]
    CacheEntryInUse {
        /// The image name.
        name: String,
        /// The entry's name (sha512 hex).
        hash: String,
    },
    /// A disk format strata reads but does not write (none today: every format strata reads,
    /// vhdx included, is written too; a format added for reading first would be refused here).
    #[error(
        "{} images cannot be written: strata reads them, and writes raw, qcow2, qed, vdi, vmdk, vpc and vhdx",
        .format.name()
    )]
    FormatNotWritable {
        /// The format asked for.
        format: DiskFormat,
    },
    /// An operation on VM disks asked of an image that is not one.
    #[error("Image {name} is a {kind} image: only VM images can be {action}")]
    NotVm {
        /// The image name.
        name: String,
        /// Its kind.
        kind: Kind,
        /// What was asked, in a few words (`resized`).
        action: &'static str,
    },
    /// A container destination asked of an image that is not a container image.
    #[error("Image {name} is a {kind} image: only container images can be written as containers")]
    NotContainer {
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
    /// The store to write to is not writable by this process (`access(W_OK)`).
    #[error("store {store} is not writable ({})", .path.display())]
    ReadOnlyStore {
        /// The store.
        store: String,
        /// Its directory.
        path: PathBuf,
    },
    /// An export destination that cannot hold a file (a directory, or a path ending in `/`).
    #[error("{} is not a file path", .path.display())]
    BadDestination {
        /// The destination path.
        path: PathBuf,
    },
    /// The operation was stopped ([`StrataOptions::cancel`](crate::StrataOptions)) before it
    /// completed; what it had staged was removed.
    #[error("interrupted")]
    Interrupted,
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
            Error::Disk(e) | Error::DiskSource { error: e, .. } => disk_kind(e),
            Error::Oci(e) => oci_kind(e),
            Error::ContainerSource { error, .. } | Error::ContainerDestination { error, .. } => {
                oci_kind(error)
            }
            Error::NoStore | Error::NoCache => ErrorKind::Config,
            Error::UnknownStore { .. } | Error::ImageNotFound { .. } => ErrorKind::NotFound,
            Error::ImageExists { .. } => ErrorKind::AlreadyExists,
            Error::KeyNotSupported { .. } | Error::NotCapable { .. } => ErrorKind::Unsupported,
            Error::BadRemoteRevision { .. } => ErrorKind::Corrupt,
            Error::EmptyName
            | Error::NameNotStorable { .. }
            | Error::NotVm { .. }
            | Error::NotContainer { .. }
            | Error::Shrink { .. }
            | Error::BadDestination { .. }
            | Error::BadArch { .. } => ErrorKind::InvalidRequest,
            Error::NotAFile { exists: false, .. } => ErrorKind::NotFound,
            Error::NotAFile { exists: true, .. } => ErrorKind::InvalidRequest,
            Error::TransportUnavailable { .. }
            | Error::ExportNotSupported { .. }
            | Error::FormatNotWritable { .. } => ErrorKind::Unsupported,
            Error::CacheEntryInUse { .. } | Error::ImageInUse { .. } | Error::Contended { .. } => {
                ErrorKind::Busy
            }
            Error::Interrupted => ErrorKind::Interrupted,
            Error::ReadOnlyStore { .. } => ErrorKind::PermissionDenied,
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
pub(crate) fn store_kind(e: &StoreError) -> ErrorKind {
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
        K::Interrupted => ErrorKind::Interrupted,
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
        let e = Error::ImageExists {
            name: "a".into(),
            store: "user".into(),
        };
        assert_eq!(e.kind(), ErrorKind::AlreadyExists);
        assert_eq!(
            e.to_string(),
            "an image named a already exists in store user"
        );
        let e = Error::ImageNotFound {
            key: ImageKey::Name {
                name: "a".into(),
                revision: Some(3),
            },
            store: None,
        };
        assert_eq!(e.kind(), ErrorKind::NotFound);
        assert_eq!(e.to_string(), "image a@3 not found in any store");
        let e = Error::ImageInUse {
            key: ImageKey::name("centos/7"),
            store: "backend".into(),
            users: vec!["vm-1".into(), "vm 2".into()],
        };
        assert_eq!(e.kind(), ErrorKind::Busy);
        assert_eq!(
            e.to_string(),
            "image centos/7 in store backend is in use by vm-1, vm 2"
        );
        let e = Error::KeyNotSupported {
            key: ImageKey::Id(7),
            store: "user".into(),
        };
        assert_eq!(e.kind(), ErrorKind::Unsupported);
        assert_eq!(
            e.to_string(),
            "store user cannot find an image by #7: it names images by name"
        );
        assert_eq!(Error::NoStore.kind(), ErrorKind::Config);
        assert_eq!(
            Error::UnknownStore { name: "x".into() }.kind(),
            ErrorKind::NotFound
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
        let e = Error::DiskSource {
            path: "disk".into(),
            error: DiskError::invalid_request("nope"),
        };
        assert_eq!(e.to_string(), "cannot import disk: nope");
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
            let wrapped = Error::ContainerSource {
                from: "oci:src".into(),
                error: Box::new(oci),
            };
            assert_eq!(wrapped.kind(), kind, "{wrapped}");
            assert!(wrapped.to_string().starts_with("cannot import oci:src: "));
        }
        let e = Error::from(StoreError::Oci(OciError::TooLarge {
            what: "x".into(),
            limit: 1,
        }));
        assert_eq!(e.kind(), ErrorKind::InvalidFormat);
        let e = Error::NotVm {
            name: "c".into(),
            kind: Kind::Ctr,
            action: "resized",
        };
        assert_eq!(
            e.to_string(),
            "Image c is a ctr image: only VM images can be resized"
        );
    }
}
