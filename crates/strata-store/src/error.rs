//! [`StoreError`]: the one error type of this crate, with structured fields, pcocc's and
//! transient's exact texts where they have one, and a small stable [`ErrorKind`].

use std::io;
use std::path::{Path, PathBuf};

use strata_model::digest::Digest;
use strata_model::name::NameError;
use strata_model::record::RecordError;

/// What went wrong, in the few categories a front end needs to choose an exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The operating system failed a read, write, open or rename.
    Io,
    /// The operating system refused because of permissions or a read-only filesystem.
    PermissionDenied,
    /// A configuration file (`repos.yaml`) is unreadable, malformed or inconsistent.
    Config,
    /// A stored file does not have the format it must have (repository `.config`, a blob
    /// reference that is not a digest).
    InvalidFormat,
    /// Stored data contradicts itself (a record that does not parse, a record whose file name
    /// names another image).
    Corrupt,
    /// A repository, image, revision, blob or instance does not exist.
    NotFound,
    /// The thing to create already exists.
    AlreadyExists,
    /// Bytes do not hash to the digest they were expected to have.
    IntegrityMismatch,
    /// Another process holds a lock that this operation does not wait for.
    Locked,
    /// An image is used by a VM instance.
    InUse,
    /// A valid input that strata does not support (a pcocc v1 repository, a future version).
    Unsupported,
    /// The caller passed something that cannot work (a directory where a file is needed, a
    /// file outside the repository's scratch directory, an invalid name).
    InvalidInput,
}

/// An error from the store. Every I/O error names its path.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    // ----- repos.yaml ----------------------------------------------------------------------
    /// A `repos.yaml` file could not be read; the text is Python's `str(IOError)`, as pcocc
    /// prints it (`[Errno 2] No such file or directory: '/etc/pcocc/repos.yaml'`).
    #[error("{}", py_os_error(.error, .path))]
    ConfigRead {
        /// The file.
        path: PathBuf,
        /// The operating system's error (already in the text, hence not a `#[source]`).
        error: io::Error,
    },
    /// A `repos.yaml` file is not valid YAML: the parser's message (which says where), then
    /// the file.
    #[error("{message} (in {})", .path.display())]
    ConfigSyntax {
        /// The file.
        path: PathBuf,
        /// The parser's description.
        message: String,
    },
    /// A `repos.yaml` file violates pcocc's schema: jsonschema's message as pcocc prints it
    /// (`'path' is a required property`, `Additional properties are not allowed ('x' was
    /// unexpected)`, `3 is not of type 'string'`), then the key and the file it is about (pcocc
    /// prints the message alone, which leaves a user to guess which file and which entry).
    #[error(
        "{message} ({}in {})",
        if .key.is_empty() { String::new() } else { format!("at {} ", .key) },
        .path.display()
    )]
    ConfigSchema {
        /// The file.
        path: PathBuf,
        /// The key the message is about, as `repos[0].path`; empty for the document itself.
        key: String,
        /// jsonschema's message.
        message: String,
    },
    /// Two repositories have the same name (in one file, or in the user and system files).
    #[error("Duplicate repository: {name}")]
    DuplicateRepository {
        /// The repeated name.
        name: String,
    },
    /// Both the user and the system `repos.yaml` define a cache.
    #[error("Only a single cache should be configured in repo.yaml")]
    MultipleCaches {
        /// The file that defined the second cache.
        path: PathBuf,
    },
    /// The configuration lists no repository and a default one is needed.
    #[error("No repository configured")]
    NoRepository,
    /// A repository name that the configuration does not list.
    #[error("Unknown repository {name}")]
    UnknownRepository {
        /// The name asked for.
        name: String,
    },
    /// The container cache is needed but not configured.
    #[error("A cache needs to be configured in the repos.yaml config file")]
    NoCache,
    /// The configured cache directory cannot be created (pcocc's text).
    #[error("Could not create cache dir")]
    CacheCreate {
        /// The cache directory.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
    /// The configured cache directory is not writable.
    #[error("Cache should be writable in {}", .path.display())]
    CacheNotWritable {
        /// The cache directory.
        path: PathBuf,
    },

    // ----- repository initialisation -------------------------------------------------------
    /// The repository path exists and is not a directory.
    #[error("Repository path {} is not a directory", .path.display())]
    RepoNotDirectory {
        /// The repository path.
        path: PathBuf,
    },
    /// The repository does not exist and its parent directory does not either.
    #[error("Invalid repository parent directory {}", .parent.display())]
    RepoInvalidParent {
        /// The parent directory that is missing.
        parent: PathBuf,
    },
    /// Creating the repository's directories or `.config` failed; `{err}` is Python's
    /// `str(OSError)`, trailing `: ` included, as pcocc prints it.
    #[error("Unable to create repository directory {}: {}: ", .path.display(), py_os_error(.error, .failed))]
    RepoCreate {
        /// The repository path.
        path: PathBuf,
        /// The directory or file whose creation failed.
        failed: PathBuf,
        /// The operating system's error (already in the text, hence not a `#[source]`).
        error: io::Error,
    },
    /// The repository's `.config` is unreadable or does not match `{version: number}`.
    #[error("Bad repository config file {} : {message}", .path.display())]
    BadRepoConfig {
        /// The `.config` file.
        path: PathBuf,
        /// Why it is bad.
        message: String,
    },
    /// The repository's `.config` names a version other than 1 or 2.
    #[error("Unsupported version for repository \"{repo}\"")]
    UnsupportedVersion {
        /// The repository name.
        repo: String,
        /// The version found, as written.
        version: String,
    },
    /// A write to a pcocc version 1 repository (YAML records under `meta/<xx>/`), which strata
    /// reads but does not write: its gc upgrades it to version 2 first.
    #[error(
        "Repository \"{repo}\" ({}) is in pcocc's version 1 layout, which is read but not written: garbage collection upgrades it to version 2",
        .path.display()
    )]
    LegacyVersion {
        /// The repository name.
        repo: String,
        /// The repository's directory.
        path: PathBuf,
    },

    // ----- blobs and records ---------------------------------------------------------------
    /// A blob that a record names is not in the repository (pcocc's `put_meta` text).
    #[error("Object {hash} not found in repository {repo}")]
    ObjectNotFound {
        /// The blob reference, as the record writes it.
        hash: String,
        /// The repository name.
        repo: String,
    },
    /// An image (or one revision of it) is not in a repository, or in any configured one
    /// (pcocc's `ObjectNotFound`).
    #[error(
        "Object {name}{} not found{}",
        .revision.map(|r| format!(" revision {r}")).unwrap_or_default(),
        match .repo { Some(repo) => format!(" in repository {repo}"), None => " in configured repositories".to_owned() }
    )]
    ImageNotFound {
        /// The image name.
        name: String,
        /// The revision asked for, if one was.
        revision: Option<u64>,
        /// The repository searched, or `None` for all configured repositories.
        repo: Option<String>,
    },
    /// A record file whose contents contradict its file name (pcocc's prefix, our reason).
    #[error("Bad metadata for {name}: {message}")]
    BadMetadata {
        /// The image name (from the file name).
        name: String,
        /// The record file.
        path: PathBuf,
        /// Why it is bad.
        message: String,
    },
    /// A record for this image revision already exists; revisions are never overwritten by
    /// [`commit`](crate::Repository::commit).
    #[error("Image {name} revision {revision} already exists in repository {repo}")]
    RecordExists {
        /// The image name.
        name: String,
        /// The revision.
        revision: u64,
        /// The repository name.
        repo: String,
    },
    /// A record file that does not parse or does not match pcocc's schema; the text is
    /// pcocc's `Bad metadata for {name}: {err}`.
    #[error("{error}")]
    BadRecord {
        /// The record file.
        path: PathBuf,
        /// Why it was refused (already in the text, hence not a `#[source]`).
        error: RecordError,
    },
    /// Bytes did not hash to the digest they were expected to have.
    #[error("Digest mismatch: expected {expected}, found {actual}")]
    IntegrityMismatch {
        /// The digest the caller (or the file name) announced.
        expected: Digest,
        /// The digest of the bytes.
        actual: Digest,
    },
    /// A path that must be a regular file is not (pcocc's `put_data_blob` text).
    #[error("{} is not a regular file", .path.display())]
    NotRegularFile {
        /// The path.
        path: PathBuf,
    },
    /// An image name that this store cannot hold.
    #[error(transparent)]
    InvalidName(#[from] NameError),
    /// An image revision is used by VM instances and deletion was not forced.
    #[error("Image {name} revision {revision} is in use by {}", .instances.join(", "))]
    InUse {
        /// The image name.
        name: String,
        /// The revision.
        revision: u64,
        /// The instances that use it.
        instances: Vec<String>,
    },

    // ----- instances -------------------------------------------------------------------------
    /// No instance of this id in the repository.
    #[error("Instance {id} not found in repository {repo}")]
    InstanceNotFound {
        /// The instance id.
        id: String,
        /// The repository name.
        repo: String,
    },
    /// An instance of this id already exists.
    #[error("Instance {id} already exists in repository {repo}")]
    InstanceExists {
        /// The instance id.
        id: String,
        /// The repository name.
        repo: String,
    },
    /// An instance id outside `[A-Za-z0-9_.-]`, empty, or starting with `.`.
    #[error(
        "Invalid instance id {id:?}: use letters, digits, '_', '.' and '-', not starting with '.'"
    )]
    InvalidInstanceId {
        /// The id given.
        id: String,
    },
    /// The overlay of a new instance could not be created.
    #[error("Cannot create the overlay {}", .path.display())]
    Overlay {
        /// The overlay file.
        path: PathBuf,
        /// What the overlay creator said.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// An instance file that does not parse.
    #[error("Bad instance file {}: {message}", .path.display())]
    BadInstance {
        /// The file.
        path: PathBuf,
        /// Why it is bad.
        message: String,
    },

    // ----- transient's flat backend ----------------------------------------------------------
    /// A flat-backend image that is not there (transient's `retrieve_image` message).
    #[error("Unable to find image '{name}' in backend")]
    FlatNotFound {
        /// The image name.
        name: String,
    },
    /// A flat-backend image to remove that is not there (transient's `image rm` message).
    #[error("No image in backend with name '{name}'")]
    FlatNoSuchImage {
        /// The image name.
        name: String,
    },
    /// A flat-backend image that already exists (transient's `commit` message).
    #[error("An image with the name '{name}' already exists")]
    FlatExists {
        /// The image name.
        name: String,
    },

    // ----- disks ---------------------------------------------------------------------------
    /// Writing or reading a disk image the store makes (a new blob, an overlay) failed
    /// (strata-disk's error, with its own kind).
    #[error(transparent)]
    Disk(Box<strata_disk::DiskError>),

    // ----- containers ----------------------------------------------------------------------
    /// A container image, blob or document failed (strata-oci's error, with its own kind).
    #[error(transparent)]
    Oci(#[from] strata_oci::OciError),

    // ----- OpenNebula pools -----------------------------------------------------------------------
    /// A pool's database cannot be read: not JSON of the expected shape, too large, or of
    /// another version.
    #[error("Bad pool database {}: {message}", .path.display())]
    BadPool {
        /// The database file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },

    // ----- generic -----------------------------------------------------------------------------
    /// Another process holds a lock and this operation does not wait.
    #[error("{} is locked by another process", .path.display())]
    Locked {
        /// The lock file.
        path: PathBuf,
    },
    /// An operating-system error on a path.
    #[error("Cannot {op} {}", .path.display())]
    Io {
        /// What was being done ("create", "read", "rename", "fsync" ...).
        op: &'static str,
        /// The path concerned.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
}

impl StoreError {
    /// The stable category of this error.
    pub fn kind(&self) -> ErrorKind {
        use StoreError as E;
        match self {
            E::ConfigRead { .. }
            | E::ConfigSyntax { .. }
            | E::ConfigSchema { .. }
            | E::DuplicateRepository { .. }
            | E::MultipleCaches { .. }
            | E::NoRepository
            | E::UnknownRepository { .. }
            | E::NoCache => ErrorKind::Config,
            E::CacheNotWritable { .. } => ErrorKind::PermissionDenied,
            E::CacheCreate { source: error, .. } | E::RepoCreate { error, .. } => io_kind(error),
            E::RepoNotDirectory { .. } | E::NotRegularFile { .. } => ErrorKind::InvalidInput,
            E::InvalidName(_) | E::InvalidInstanceId { .. } => ErrorKind::InvalidInput,
            E::RepoInvalidParent { .. } => ErrorKind::NotFound,
            E::BadRepoConfig { .. } => ErrorKind::InvalidFormat,
            E::UnsupportedVersion { .. } | E::LegacyVersion { .. } => ErrorKind::Unsupported,
            E::ObjectNotFound { .. }
            | E::ImageNotFound { .. }
            | E::InstanceNotFound { .. }
            | E::FlatNotFound { .. }
            | E::FlatNoSuchImage { .. } => ErrorKind::NotFound,
            E::BadMetadata { .. }
            | E::BadRecord { .. }
            | E::BadInstance { .. }
            | E::BadPool { .. } => ErrorKind::Corrupt,
            E::RecordExists { .. } | E::InstanceExists { .. } | E::FlatExists { .. } => {
                ErrorKind::AlreadyExists
            }
            E::IntegrityMismatch { .. } => ErrorKind::IntegrityMismatch,
            E::InUse { .. } => ErrorKind::InUse,
            E::Locked { .. } => ErrorKind::Locked,
            E::Io { source, .. } => io_kind(source),
            E::Overlay { .. } => ErrorKind::Io,
            E::Disk(e) => disk_kind(e),
            E::Oci(e) => oci_kind(e),
        }
    }

    /// An [`StoreError::Io`] error for `op` on `path`.
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: io::Error) -> StoreError {
        StoreError::Io {
            op,
            path: path.into(),
            source,
        }
    }
}

/// The kind of an operating-system error: permissions and read-only filesystems are
/// [`ErrorKind::PermissionDenied`], a missing file [`ErrorKind::NotFound`].
pub(crate) fn io_kind(error: &io::Error) -> ErrorKind {
    match error.kind() {
        io::ErrorKind::PermissionDenied | io::ErrorKind::ReadOnlyFilesystem => {
            ErrorKind::PermissionDenied
        }
        io::ErrorKind::NotFound => ErrorKind::NotFound,
        io::ErrorKind::AlreadyExists => ErrorKind::AlreadyExists,
        io::ErrorKind::WouldBlock => ErrorKind::Locked,
        _ => ErrorKind::Io,
    }
}

/// The kind of a strata-oci error. Input over one of its size limits is bad input
/// ([`ErrorKind::InvalidFormat`]); a path that would escape is too.
pub(crate) fn oci_kind(e: &strata_oci::OciError) -> ErrorKind {
    use strata_oci::ErrorKind as K;
    match e.kind() {
        K::Io => match e {
            strata_oci::OciError::Io { source, .. } => io_kind(source),
            _ => ErrorKind::Io,
        },
        K::InvalidFormat | K::TooLarge | K::Escape => ErrorKind::InvalidFormat,
        K::Unsupported => ErrorKind::Unsupported,
        K::NotFound => ErrorKind::NotFound,
        K::IntegrityMismatch => ErrorKind::IntegrityMismatch,
        K::InvalidRequest => ErrorKind::InvalidInput,
        K::Network => ErrorKind::Io,
        K::PermissionDenied => ErrorKind::PermissionDenied,
    }
}

/// The crate's result type.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Adds a path and an operation to `io::Result`s.
pub(crate) trait IoContext<T> {
    /// Wraps the error in [`StoreError::Io`] naming `op` and `path`.
    fn at(self, op: &'static str, path: &Path) -> Result<T>;
}

impl<T> IoContext<T> for io::Result<T> {
    fn at(self, op: &'static str, path: &Path) -> Result<T> {
        self.map_err(|e| StoreError::io(op, path, e))
    }
}

impl<T> IoContext<T> for rustix::io::Result<T> {
    fn at(self, op: &'static str, path: &Path) -> Result<T> {
        self.map_err(|e| StoreError::io(op, path, e.into()))
    }
}

/// Python's `str()` of an `OSError` raised on `path`: `[Errno N] <strerror>: '<path>'`, or the
/// plain Rust text when the error carries no errno.
pub(crate) fn py_os_error(error: &io::Error, path: &Path) -> String {
    match error.raw_os_error() {
        Some(code) => {
            let text = io::Error::from_raw_os_error(code).to_string();
            let strerror = text
                .strip_suffix(&format!(" (os error {code})"))
                .unwrap_or(&text);
            format!(
                "[Errno {code}] {strerror}: {}",
                strata_model::python::repr_str(&path.to_string_lossy())
            )
        }
        None => error.to_string(),
    }
}

impl From<strata_disk::DiskError> for StoreError {
    fn from(e: strata_disk::DiskError) -> Self {
        StoreError::Disk(Box::new(e))
    }
}

/// The store's kind of a codec error.
fn disk_kind(e: &strata_disk::DiskError) -> ErrorKind {
    use strata_disk::ErrorKind as K;
    match e.kind() {
        K::Io => match &e.source {
            strata_disk::error::DiskErrorSource::Io { source, .. } => io_kind(source),
            _ => ErrorKind::Io,
        },
        K::InvalidFormat => ErrorKind::InvalidFormat,
        K::Unsupported => ErrorKind::Unsupported,
        K::Corrupt | K::Escape => ErrorKind::Corrupt,
        K::NotFound => ErrorKind::NotFound,
        K::IntegrityMismatch => ErrorKind::IntegrityMismatch,
        K::InvalidRequest => ErrorKind::InvalidInput,
        K::Interrupted => ErrorKind::Io,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_texts() {
        let e = io::Error::from_raw_os_error(2);
        assert_eq!(
            py_os_error(&e, Path::new("/etc/pcocc/repos.yaml")),
            "[Errno 2] No such file or directory: '/etc/pcocc/repos.yaml'"
        );
        assert_eq!(strata_model::python::repr_str("it's"), "\"it's\"");
        assert_eq!(strata_model::python::repr_str("a'\"b"), "'a\\'\"b'");
        assert_eq!(strata_model::python::repr_str("x\ty"), "'x\\ty'");
    }

    #[test]
    fn image_not_found_texts() {
        let e = StoreError::ImageNotFound {
            name: "foo".into(),
            revision: Some(2),
            repo: None,
        };
        assert_eq!(
            e.to_string(),
            "Object foo revision 2 not found in configured repositories"
        );
        let e = StoreError::ImageNotFound {
            name: "foo".into(),
            revision: None,
            repo: Some("user".into()),
        };
        assert_eq!(e.to_string(), "Object foo not found in repository user");
        assert_eq!(e.kind(), ErrorKind::NotFound);
    }

    #[test]
    fn io_kinds() {
        let denied = StoreError::io("write", "/x", io::Error::from_raw_os_error(13));
        assert_eq!(denied.kind(), ErrorKind::PermissionDenied);
        let rofs = StoreError::io("write", "/x", io::Error::from_raw_os_error(30));
        assert_eq!(rofs.kind(), ErrorKind::PermissionDenied);
        assert_eq!(denied.to_string(), "Cannot write /x");
    }
}
