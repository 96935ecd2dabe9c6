//! The crate's error: [`OciError`], one flat enum whose variants carry the file or archive entry
//! they are about and the numbers involved, with a small stable [`ErrorKind`] that front ends map
//! to exit codes.
//!
//! Errors raised inside a reader (a digest found wrong at the end of a stream, a decompressed
//! size over its cap) travel through `std::io` as an [`io::Error`] wrapping an [`OciError`];
//! [`OciError::from_io`] unwraps them again so callers see the precise variant.

use std::io;
use std::path::PathBuf;

/// What went wrong, in the few categories a front end needs to choose an exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The operating system refused or failed a read, write or open.
    Io,
    /// The bytes are not valid for the expected format (bad JSON, bad tar, missing field).
    InvalidFormat,
    /// Valid input that uses something strata does not implement (digest algorithm, compression).
    Unsupported,
    /// A named image, blob or file does not exist.
    NotFound,
    /// A path would leave the directory it must stay in.
    Escape,
    /// Data does not match its recorded digest or size.
    IntegrityMismatch,
    /// The caller asked for something impossible or ambiguous.
    InvalidRequest,
    /// Input over a size limit (JSON documents, decompressed layers).
    TooLarge,
}

/// An error from strata-oci. Every variant names the file, blob or entry it concerns.
#[derive(Debug, thiserror::Error)]
pub enum OciError {
    /// An I/O error on a file.
    #[error("{}: {op}: {source}", path.display())]
    Io {
        /// The file or directory concerned.
        path: PathBuf,
        /// What was being done ("open", "write", "rename" ...).
        op: &'static str,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
    /// A document that is not what its format requires.
    #[error("{what}: {reason}")]
    InvalidFormat {
        /// The file, blob or entry (e.g. "index.json", "blob sha256:ab…").
        what: String,
        /// Why it is invalid.
        reason: String,
    },
    /// Something valid that strata does not implement.
    #[error("{what}: unsupported: {reason}")]
    Unsupported {
        /// The file, blob or entry concerned.
        what: String,
        /// What is not supported.
        reason: String,
    },
    /// A named thing that does not exist.
    #[error("{what}: not found")]
    NotFound {
        /// What was looked for (an image name, a blob digest, an archive entry).
        what: String,
    },
    /// An archive entry or link whose path would leave the destination.
    #[error("{entry}: refused: {reason}")]
    Escape {
        /// The entry's path as the archive names it.
        entry: String,
        /// Why it would escape (".. component", "absolute path", "symlink leaves the root" ...).
        reason: String,
    },
    /// Bytes whose sha256 is not the digest that names them.
    #[error("{what}: digest mismatch: expected {expected}, got {actual}")]
    DigestMismatch {
        /// The blob or entry concerned.
        what: String,
        /// The digest it was named by.
        expected: String,
        /// The digest of the bytes read.
        actual: String,
    },
    /// Bytes whose count is not the size recorded for them.
    #[error("{what}: size mismatch: expected {expected} bytes, got {actual}")]
    SizeMismatch {
        /// The blob or entry concerned.
        what: String,
        /// The size recorded in its descriptor.
        expected: u64,
        /// The bytes read (a lower bound when reading stopped early).
        actual: u64,
    },
    /// Input over a size limit.
    #[error("{what}: larger than the limit of {limit} bytes")]
    TooLarge {
        /// The file, blob or stream concerned.
        what: String,
        /// The limit in bytes.
        limit: u64,
    },
    /// A request that cannot be honoured as asked.
    #[error("{0}")]
    InvalidRequest(String),
}

impl OciError {
    /// The stable category of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            OciError::Io { source, .. } if source.kind() == io::ErrorKind::NotFound => {
                ErrorKind::NotFound
            }
            OciError::Io { .. } => ErrorKind::Io,
            OciError::InvalidFormat { .. } => ErrorKind::InvalidFormat,
            OciError::Unsupported { .. } => ErrorKind::Unsupported,
            OciError::NotFound { .. } => ErrorKind::NotFound,
            OciError::Escape { .. } => ErrorKind::Escape,
            OciError::DigestMismatch { .. } | OciError::SizeMismatch { .. } => {
                ErrorKind::IntegrityMismatch
            }
            OciError::TooLarge { .. } => ErrorKind::TooLarge,
            OciError::InvalidRequest(_) => ErrorKind::InvalidRequest,
        }
    }

    /// An I/O error on `path` while doing `op`; an [`OciError`] carried inside the I/O error (by
    /// a verifying or limiting reader) is returned as itself.
    pub fn from_io(path: impl Into<PathBuf>, op: &'static str, source: io::Error) -> OciError {
        match unwrap_io(source) {
            Ok(e) => e,
            Err(source) => OciError::Io {
                path: path.into(),
                op,
                source,
            },
        }
    }

    /// An invalid document.
    pub(crate) fn invalid(what: impl Into<String>, reason: impl Into<String>) -> OciError {
        OciError::InvalidFormat {
            what: what.into(),
            reason: reason.into(),
        }
    }

    /// Something unsupported.
    pub(crate) fn unsupported(what: impl Into<String>, reason: impl Into<String>) -> OciError {
        OciError::Unsupported {
            what: what.into(),
            reason: reason.into(),
        }
    }

    /// Something missing.
    pub(crate) fn not_found(what: impl Into<String>) -> OciError {
        OciError::NotFound { what: what.into() }
    }

    /// Wraps this error into an [`io::Error`] so it can cross a [`std::io::Read`] boundary.
    pub(crate) fn into_io(self) -> io::Error {
        io::Error::other(self)
    }
}

/// Takes an [`OciError`] back out of an [`io::Error`] made by [`OciError::into_io`].
pub(crate) fn unwrap_io(e: io::Error) -> Result<OciError, io::Error> {
    if e.get_ref().is_some_and(|inner| inner.is::<OciError>()) {
        match e.into_inner().map(|inner| inner.downcast::<OciError>()) {
            Some(Ok(inner)) => Ok(*inner),
            Some(Err(other)) => Err(io::Error::other(other)),
            None => Err(io::Error::other("unreachable: checked above")),
        }
    } else {
        Err(e)
    }
}

/// The crate's result type.
pub type Result<T, E = OciError> = std::result::Result<T, E>;
