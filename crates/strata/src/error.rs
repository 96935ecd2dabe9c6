//! [`ErrorKind`]: the small, stable classification of every core error, which front ends map to
//! exit codes. The core's error type itself grows with its operations.

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
