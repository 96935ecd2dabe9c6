//! The crate's error: [`OciError`], one flat enum whose variants carry the file or archive entry
//! they are about and the numbers involved, with a small stable [`ErrorKind`] that front ends map
//! to exit codes.
//!
//! Errors raised inside a reader (a digest found wrong at the end of a stream, a decompressed
//! size over its cap) travel through `std::io` as an [`io::Error`] wrapping an [`OciError`];
//! [`OciError::from_io`] unwraps them again so callers see the precise variant.

use std::io;
use std::path::PathBuf;

use strata_model::text::quote;

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
    /// Input over a size limit (JSON documents, registry answers, decompressed layers,
    /// including a layer that expands past its ratio).
    TooLarge,
    /// A registry could not be reached, dropped the connection or failed (5xx) after the
    /// retries, or answered with an error that fits no other kind.
    Network,
    /// A registry refused the credentials, or asked for some when none were found.
    PermissionDenied,
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
    /// A compressed layer that expands past its [`crate::inflate::ExpansionLimit`]: a
    /// decompression bomb, or a layer that needs a larger limit.
    #[error(
        "{what}: expands past {limit} bytes from {compressed} compressed bytes (limit: {ratio} times the compressed size, or the floor)"
    )]
    ExpansionTooLarge {
        /// The layer (or archive) concerned.
        what: String,
        /// Its compressed size (the bytes read so far when the size was not known).
        compressed: u64,
        /// The decompressed bytes it was allowed.
        limit: u64,
        /// The ratio of the limit.
        ratio: u64,
    },
    /// A SIF or `.simg` file that is refused.
    #[error("{}: {error}", path.display())]
    Sif {
        /// The file.
        path: PathBuf,
        /// Why.
        error: crate::sif::SifError,
    },
    /// A request that cannot be honoured as asked.
    #[error("{0}")]
    InvalidRequest(String),
    /// A registry answered a request with an HTTP error (after the retries, for a 5xx).
    #[error("{registry}/{repository}: {op}: {}{message}", status.map(|s| format!("HTTP {s}: ")).unwrap_or_default())]
    Registry {
        /// The registry host (`host[:port]`).
        registry: String,
        /// The repository path within it.
        repository: String,
        /// What was being done ("pull manifest latest", "upload blob sha256:…" ...).
        op: String,
        /// The HTTP status, when the registry answered.
        status: Option<u16>,
        /// The distribution error code (`MANIFEST_UNKNOWN`, `BLOB_UNKNOWN` ...), when given.
        code: Option<Box<str>>,
        /// The registry's message, or what went wrong.
        message: Box<str>,
    },
    /// A registry that could not be reached or dropped the connection, after the retries.
    #[error("{registry}: {op}: connection failed after {attempts} attempt(s)")]
    Connection {
        /// The registry host (`host[:port]`).
        registry: String,
        /// What was being done.
        op: String,
        /// How many times it was tried.
        attempts: u32,
        /// The last transport error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A registry that refused access (HTTP 401/403, or a failed token exchange).
    #[error("{registry}/{repository}: access denied{}: {reason}", match (user, credentials_from) {
        (Some(u), Some(f)) => format!(" for user {u:?} (credentials from {})", f.display()),
        (Some(u), None) => format!(" for user {u:?}"),
        _ => " (no credentials found for this registry)".to_owned(),
    })]
    Unauthorized {
        /// The registry host (`host[:port]`).
        registry: String,
        /// The repository path within it.
        repository: String,
        /// The user the credentials named, if any were sent.
        user: Option<String>,
        /// The auth file the credentials came from.
        credentials_from: Option<PathBuf>,
        /// What the registry said ("HTTP 401", a token server's message ...).
        reason: Box<str>,
    },
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
            OciError::TooLarge { .. } | OciError::ExpansionTooLarge { .. } => ErrorKind::TooLarge,
            OciError::Sif { error, .. } if error.is_unsupported() => ErrorKind::Unsupported,
            OciError::Sif { .. } => ErrorKind::InvalidFormat,
            OciError::InvalidRequest(_) => ErrorKind::InvalidRequest,
            OciError::Registry { status, code, .. } => match (status, code.as_deref()) {
                (Some(401 | 403), _) => ErrorKind::PermissionDenied,
                (Some(404), _)
                | (_, Some("MANIFEST_UNKNOWN" | "BLOB_UNKNOWN" | "NAME_UNKNOWN" | "NOT_FOUND")) => {
                    ErrorKind::NotFound
                }
                (_, Some("UNSUPPORTED")) => ErrorKind::Unsupported,
                _ => ErrorKind::Network,
            },
            OciError::Connection { .. } => ErrorKind::Network,
            OciError::Unauthorized { .. } => ErrorKind::PermissionDenied,
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

    /// An error of the tar reader on `what`: an operating system error stays [`OciError::Io`]
    /// (74); any other is the archive's fault (a header that does not parse, an entry cut
    /// short) and is [`OciError::InvalidFormat`] (65), with the reader's text made printable
    /// (it quotes raw header bytes) and cut to
    /// [`MAX_QUOTED`](strata_model::text::MAX_QUOTED) characters.
    pub(crate) fn from_tar(what: impl AsRef<std::path::Path>, e: io::Error) -> OciError {
        let what = what.as_ref();
        match unwrap_io(e) {
            Ok(e) => e,
            Err(source) if source.raw_os_error().is_some() => OciError::Io {
                path: what.to_owned(),
                op: "read tar",
                source,
            },
            Err(e) => OciError::invalid(
                what.display().to_string(),
                format!("not a valid tar archive: {}", quote(&e.to_string())),
            ),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tar_errors_are_the_archives_unless_the_system_says_so() {
        let bad = OciError::from_tar(
            "x.tar",
            io::Error::other("numeric field was not a number: \u{FFFD}\u{1b}[31m\nnext"),
        );
        assert_eq!(bad.kind(), ErrorKind::InvalidFormat);
        assert_eq!(
            bad.to_string(),
            "x.tar: not a valid tar archive: numeric field was not a number: ?\\u{1b}[31m\\nnext"
        );
        let short = OciError::from_tar("x.tar", io::ErrorKind::UnexpectedEof.into());
        assert_eq!(short.kind(), ErrorKind::InvalidFormat);
        let eio = OciError::from_tar("x.tar", io::Error::from_raw_os_error(5));
        assert!(
            matches!(eio, OciError::Io { op: "read tar", .. }),
            "{eio:?}"
        );
        let carried = OciError::from_tar("x.tar", OciError::not_found("blob").into_io());
        assert!(matches!(carried, OciError::NotFound { .. }));
    }
}
