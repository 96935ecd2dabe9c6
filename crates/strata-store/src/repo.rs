//! [`Repository`]: a content-addressed image repository in pcocc's version 2 layout.
//!
//! # Layout
//!
//! ```text
//! <repo>/.config              YAML `version: 2` (pcocc validates `{version: number}`, no other key)
//! <repo>/.tmp/                scratch on the same filesystem: blobs and records are written
//!                             here, then renamed into place
//! <repo>/.lock                flock: shared by writers of blobs and records, exclusive by gc
//! <repo>/.locks/<enc(name)>   per-image flocks (Repository::lock_image): one writer of new
//!                             revisions of a name at a time, outside pcocc's view
//! <repo>/.instances/<id>.json VM instances that use an image (see `instances`)
//! <repo>/data/<h[0:2]>/<h>    blobs, named by the sha256 hex of their bytes, mode 0444
//! <repo>/meta/<enc(name)>@<r> one JSON record per image revision, pcocc's bytes
//! ```
//!
//! pcocc reads only `.config`, `.tmp/*`, `data/*/*` and `meta/*` (its globs skip dot files), so
//! the dot entries strata adds are invisible to it, and a repository strata writes opens in
//! pcocc. `enc` keeps names in pcocc's alphabet `[A-Za-z0-9_.-]` as they are and
//! percent-encodes every other byte (see [`record_file_name`]).
//!
//! # Version 1
//!
//! pcocc's first layout (`version: 1`) differs only in `meta/`: one YAML record per revision at
//! `meta/<h[0:2]>/<h>`, `h` the sha256 hex of `"{name}\n{revision}"`. strata reads it (list,
//! show, export, copy from it), logs pcocc's `Please upgrade your {repo} repository` on open,
//! refuses to write to it ([`StoreError::LegacyVersion`]), and [`Repository::gc`] upgrades it
//! to version 2 as pcocc's `repo gc` does, crash-safe (see `v1`).
//!
//! # Concurrency
//!
//! Writers ([`Writer`], which every writing method uses) hold the repository's `.lock`
//! **shared**, so any number of imports run together; [`Repository::gc`] holds it
//! **exclusive**, so it runs alone and sees every import either finished or not started.
//! An import that puts blobs and then commits a record must hold one [`Writer`] across both
//! steps ([`Repository::writer`]); otherwise gc may run in between, find the new blobs
//! unreferenced and remove them (the commit then fails with `Object {h} not found in
//! repository {repo}`, so nothing is corrupted, but the import is lost). Readers take no lock:
//! every file appears by an atomic rename of a complete, fsynced file, so a reader sees a record
//! whole or not at all, and a blob only once all its bytes are there.
//!
//! # Crash safety
//!
//! A crash at any instant leaves each image at its old or its new state. The argument, step by
//! step, for the only operations that change what an image is:
//!
//! 1. **Blob.** Bytes go to a new file in `.tmp/`, which is fsynced, made 0444, and renamed
//!    (without replacing) to `data/<xx>/<h>`; then `data/<xx>/` is fsynced (and `data/` too when
//!    the fan-out directory was just created). Before the rename, a crash leaves an orphan in
//!    `.tmp/`, which no record names and gc removes. After it, the blob is whole (its bytes were
//!    durable before its name existed). Either way no record has changed.
//! 2. **Record.** [`Writer::commit`] first checks that every blob the record names exists and
//!    fsyncs their fan-out directories, so the blobs are durable before the record can be.
//!    The record is then written to `.tmp/`, fsynced, and renamed to `meta/<enc>@<rev>`
//!    (without replacing; [`Writer::replace_record`] replaces, and rename replaces atomically),
//!    and `meta/` is fsynced. rename is atomic: after a crash the record file is absent (old
//!    state: the revision does not exist) or complete (new state), never partial.
//! 3. **Delete.** Unlinking `meta/<enc>@<rev>` is atomic; blobs are left to gc.
//! 4. **gc** removes only blobs that no complete record (and no instance) names, under the
//!    exclusive lock; a crash in the middle leaves some garbage not yet removed.
//! 5. **Initialisation** builds the repository in a hidden sibling directory and renames it
//!    into place, so a repository either exists with its `.config` or not at all.

mod blob;
mod gc;
mod meta;
mod oci;
mod v1;
mod verify;

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

pub use blob::{NewBlob, StoredBlob};
pub use gc::GcReport;
pub use meta::{DeleteMode, encode_name, parse_record_file_name, record_file_name};
pub use oci::{
    ContainerSource, PCOCC_REF_NAME, StagedBlob, container_blobs, container_record, oci_index_for,
};
pub use v1::Upgrade;
pub use verify::{ChainCheck, Problem, Qcow2Chains, VerifyReport};

use crate::env::Env;
use crate::error::{IoContext, Result, StoreError, py_os_error};
use crate::fsutil;
use crate::lock::{FileLock, LockMode};

/// The repository format version strata writes and reads.
pub const REPO_VERSION: u32 = 2;

/// pcocc's first repository format, which strata reads and upgrades but does not write.
pub const LEGACY_REPO_VERSION: u32 = 1;

/// The bytes of a new repository's `.config`, as PyYAML's `safe_dump({'version': 2})` writes
/// them.
const CONFIG_BYTES: &[u8] = b"version: 2\n";

/// The largest `.config` read (it is one line; the bound protects from a wrong file).
const MAX_CONFIG_LEN: u64 = 64 << 10;

/// A content-addressed image repository (pcocc's `ObjectStore`, version 2).
#[derive(Debug, Clone)]
pub struct Repository {
    name: String,
    root: PathBuf,
    owner: Option<String>,
    /// The layout version `.config` said when opened ([`REPO_VERSION`] or
    /// [`LEGACY_REPO_VERSION`]); gc's upgrade changes it for every clone of this handle.
    version: Arc<AtomicU32>,
}

impl Repository {
    /// Opens the repository `name` at `path`, creating it if `path` does not exist, with
    /// pcocc's rules and texts (`_init_repodir`):
    ///
    /// - an existing directory must hold a valid `.config` (`Bad repository config file {path}
    ///   : {err}`) of version 2 or 1 (`Unsupported version for repository "X"`); a version 1
    ///   repository opens read-only, with pcocc's `Please upgrade your X repository` logged as
    ///   a warning;
    /// - an existing non-directory is refused (`Repository path {p} is not a directory`);
    /// - a missing parent is refused (`Invalid repository parent directory {p}`);
    /// - otherwise the repository is created with `data/`, `meta/`, `.tmp/` and `.config`
    ///   (`Unable to create repository directory {p}: {err}: `).
    ///
    pub fn open(name: &str, path: &Path) -> Result<Repository> {
        let version = if path.is_dir() {
            let version = validate_config(name, path)?;
            if version == LEGACY_REPO_VERSION {
                tracing::warn!(repo = name, path = %path.display(), "Please upgrade your {name} repository");
            }
            version
        } else if path.exists() {
            return Err(StoreError::RepoNotDirectory {
                path: path.to_owned(),
            });
        } else {
            let parent = path.parent().unwrap_or(Path::new(""));
            if !parent.is_dir() {
                return Err(StoreError::RepoInvalidParent {
                    parent: parent.to_owned(),
                });
            }
            init(name, path)?
        };
        Ok(Repository {
            name: name.to_owned(),
            root: path.to_owned(),
            owner: None,
            version: Arc::new(AtomicU32::new(version)),
        })
    }

    /// The repository's layout version: [`REPO_VERSION`], or [`LEGACY_REPO_VERSION`] until
    /// [`Repository::gc`] upgrades it.
    pub fn version(&self) -> u32 {
        self.version.load(Ordering::Acquire)
    }

    /// Whether the repository is in pcocc's version 1 layout (read, not written).
    pub fn is_legacy(&self) -> bool {
        self.version() == LEGACY_REPO_VERSION
    }

    /// Fails with [`StoreError::LegacyVersion`] on a version 1 repository.
    fn check_writable_layout(&self) -> Result<()> {
        if self.is_legacy() {
            return Err(StoreError::LegacyVersion {
                repo: self.name.clone(),
                path: self.root.clone(),
            });
        }
        Ok(())
    }

    /// This repository, with `owner` as the owner of the VM instances it records
    /// ([`Repository::create_instance`]).
    pub fn with_owner(mut self, owner: impl Into<String>) -> Repository {
        self.owner = Some(owner.into());
        self
    }

    /// The repository's name in the configuration.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The repository's directory.
    pub fn path(&self) -> &Path {
        &self.root
    }

    /// The owner of the instances this handle records: the one set with
    /// [`Repository::with_owner`], else the user of [`Env::from_process`].
    pub fn owner(&self) -> String {
        self.owner
            .clone()
            .unwrap_or_else(|| Env::from_process().user().to_owned())
    }

    /// Whether the calling process may write to the repository (`access(W_OK)` on its
    /// directory, pcocc's `repo list` WRITABLE column). Root may write anywhere except on a
    /// read-only filesystem.
    pub fn is_writable(&self) -> bool {
        fsutil::is_writable(&self.root)
    }

    /// `data/`.
    pub fn data_dir(&self) -> PathBuf {
        self.root.join("data")
    }

    /// `meta/`.
    pub fn meta_dir(&self) -> PathBuf {
        self.root.join("meta")
    }

    /// `.tmp/`: scratch space on the repository's filesystem.
    pub fn tmp_dir(&self) -> PathBuf {
        self.root.join(".tmp")
    }

    /// `.lock`.
    pub fn lock_path(&self) -> PathBuf {
        self.root.join(".lock")
    }

    /// Takes the repository's write lock (shared with other writers, excluding gc) and returns
    /// a [`Writer`] that holds it. Hold one writer across the blobs and the record of one
    /// import; it waits while gc runs.
    ///
    /// A version 1 repository is refused ([`StoreError::LegacyVersion`]): gc upgrades it.
    pub fn writer(&self) -> Result<Writer<'_>> {
        self.check_writable_layout()?;
        let lock = FileLock::acquire(&self.lock_path(), LockMode::Shared)?;
        let tmp = self.tmp_dir();
        fsutil::mkdir_if_missing(&tmp).at("create directory", &tmp)?;
        Ok(Writer {
            repo: self,
            _lock: Arc::new(lock),
        })
    }

    /// Waits for the exclusive lock of image `name` (`.locks/<enc(name)>`), which serialises
    /// the processes that add revisions to one image: the second of two `resize`s of an image
    /// waits for the first, then builds on its revision instead of racing it for the same
    /// revision number. Dropping the lock releases it.
    pub fn lock_image(&self, name: &str) -> Result<FileLock> {
        let dir = self.root.join(".locks");
        fsutil::mkdir_if_missing(&dir).at("create directory", &dir)?;
        FileLock::acquire(&dir.join(meta::encode_name(name)), LockMode::Exclusive)
    }

    /// Like [`Repository::writer`], but fails with [`StoreError::Locked`] while gc runs.
    pub fn try_writer(&self) -> Result<Writer<'_>> {
        self.check_writable_layout()?;
        let lock = FileLock::try_acquire(&self.lock_path(), LockMode::Shared)?;
        Ok(Writer {
            repo: self,
            _lock: Arc::new(lock),
        })
    }
}

/// A write session on a repository: holds the shared `.lock` until dropped, so gc waits for it.
///
/// Every method that changes the repository lives here; [`Repository`] has one-shot
/// conveniences of the same names that open a writer for a single call.
#[derive(Debug, Clone)]
pub struct Writer<'r> {
    repo: &'r Repository,
    /// Held until the last clone of this writer is dropped.
    _lock: Arc<FileLock>,
}

impl<'r> Writer<'r> {
    /// The repository written to.
    pub fn repository(&self) -> &'r Repository {
        self.repo
    }
}

/// Checks an existing repository's `.config` (pcocc's `_validate_repo_config`) and returns its
/// version: [`REPO_VERSION`] or [`LEGACY_REPO_VERSION`]. pcocc reads any version below 2 as
/// version 1; strata refuses versions other than 1 and 2 (pcocc never wrote them).
fn validate_config(name: &str, root: &Path) -> Result<u32> {
    use std::io::Read;
    let path = root.join(".config");
    let bad = |message: String| StoreError::BadRepoConfig {
        path: path.clone(),
        message,
    };
    let mut text = String::new();
    fs::File::open(&path)
        .and_then(|f| f.take(MAX_CONFIG_LEN).read_to_string(&mut text))
        .map_err(|e| bad(py_os_error(&e, &path)))?;
    let doc: serde_yaml_ng::Value = if text.trim().is_empty() {
        serde_yaml_ng::Value::Null
    } else {
        serde_yaml_ng::from_str(&text).map_err(|e| bad(e.to_string()))?
    };
    let serde_yaml_ng::Value::Mapping(map) = &doc else {
        return Err(bad(format!(
            "{} is not of type 'object'",
            crate::config::py_repr(&doc)
        )));
    };
    let version = map.get("version");
    if let Some(v) = version
        && !v.is_number()
    {
        return Err(bad(format!(
            "{} is not of type 'number'",
            crate::config::py_repr(v)
        )));
    }
    let Some(version) = version.and_then(serde_yaml_ng::Value::as_f64) else {
        return Err(bad("'version' is a required property".to_owned()));
    };
    let extras: Vec<String> = map
        .keys()
        .filter(|k| k.as_str() != Some("version"))
        .map(crate::config::py_repr)
        .collect();
    if !extras.is_empty() {
        let verb = if extras.len() == 1 { "was" } else { "were" };
        return Err(bad(format!(
            "Additional properties are not allowed ({} {verb} unexpected)",
            extras.join(", ")
        )));
    }
    if version == f64::from(LEGACY_REPO_VERSION) {
        return Ok(LEGACY_REPO_VERSION);
    }
    if version != f64::from(REPO_VERSION) {
        let written = map
            .get("version")
            .map(crate::config::py_repr)
            .unwrap_or_default();
        return Err(StoreError::UnsupportedVersion {
            repo: name.to_owned(),
            version: written,
        });
    }
    Ok(REPO_VERSION)
}

/// Creates a new repository at `root` (whose parent exists and which does not): built in a
/// hidden sibling directory, then renamed into place, so that it appears complete or not at all.
/// If another process creates it first, that repository is validated and used. Returns the
/// version of the repository at `root`.
fn init(name: &str, root: &Path) -> Result<u32> {
    let parent = root.parent().unwrap_or(Path::new("."));
    let parent = if parent.as_os_str().is_empty() {
        Path::new(".")
    } else {
        parent
    };
    let failed = |failed: &Path, error: std::io::Error| StoreError::RepoCreate {
        path: root.to_owned(),
        failed: failed.to_owned(),
        error,
    };
    let staging = Staging::create(parent).map_err(|e| failed(root, e))?;
    for sub in ["data", "meta", ".tmp"] {
        let dir = staging.path.join(sub);
        fs::create_dir(&dir).map_err(|e| failed(&root.join(sub), e))?;
    }
    let config = staging.path.join(".config");
    fs::File::create_new(&config)
        .and_then(|mut f| {
            f.write_all(CONFIG_BYTES)?;
            f.sync_all()
        })
        .map_err(|e| failed(&root.join(".config"), e))?;
    fsutil::fsync_dir(&staging.path)?;
    match fs::rename(&staging.path, root) {
        Ok(()) => {
            staging.disarm();
            fsutil::fsync_dir(parent)?;
            Ok(REPO_VERSION)
        }
        Err(e) if root.is_dir() => {
            // Someone else created it meanwhile (EEXIST/ENOTEMPTY): use theirs.
            drop(e);
            validate_config(name, root)
        }
        Err(e) => Err(failed(root, e)),
    }
}

/// A hidden directory next to a repository being created, removed on drop unless disarmed.
/// Created with `mkdir`, so it gets the umask's mode like pcocc's repositories.
struct Staging {
    path: PathBuf,
    armed: bool,
}

impl Staging {
    fn create(parent: &Path) -> std::io::Result<Staging> {
        use std::sync::atomic::{AtomicU64, Ordering};
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        loop {
            let n = COUNTER.fetch_add(1, Ordering::Relaxed);
            let path = parent.join(format!(".strata-init-{}-{nanos}-{n}", std::process::id()));
            match fs::create_dir(&path) {
                Ok(()) => return Ok(Staging { path, armed: true }),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(e),
            }
        }
    }

    fn disarm(mut self) {
        self.armed = false;
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if self.armed {
            let _ = fs::remove_dir_all(&self.path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    #[test]
    fn init_creates_the_pcocc_layout() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("images");
        let repo = Repository::open("user", &root).unwrap();
        assert_eq!(fs::read(root.join(".config")).unwrap(), b"version: 2\n");
        for sub in ["data", "meta", ".tmp"] {
            assert!(root.join(sub).is_dir(), "{sub}");
        }
        assert_eq!(repo.name(), "user");
        // Nothing else is left next to it.
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
        // Reopening validates.
        Repository::open("user", &root).unwrap();
    }

    #[test]
    fn init_rules() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("file");
        fs::write(&file, "").unwrap();
        let e = Repository::open("r", &file).unwrap_err();
        assert!(matches!(&e, StoreError::RepoNotDirectory { path } if *path == file));
        assert_eq!(
            e.to_string(),
            format!("Repository path {} is not a directory", file.display())
        );

        let deep = dir.path().join("missing/repo");
        let e = Repository::open("r", &deep).unwrap_err();
        assert!(matches!(&e, StoreError::RepoInvalidParent { .. }));
        assert_eq!(
            e.to_string(),
            format!(
                "Invalid repository parent directory {}",
                dir.path().join("missing").display()
            )
        );
        assert_eq!(e.kind(), ErrorKind::NotFound);
    }

    #[test]
    fn creation_failure_has_pcoccs_text() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("x".repeat(300));
        let e = Repository::open("r", &root).unwrap_err();
        assert!(matches!(e, StoreError::RepoCreate { .. }), "{e:?}");
        let p = root.display();
        assert_eq!(
            e.to_string(),
            format!(
                "Unable to create repository directory {p}: [Errno 36] File name too long: '{p}': "
            )
        );
        assert_eq!(
            fs::read_dir(dir.path()).unwrap().count(),
            0,
            "the staging directory is gone"
        );
    }

    #[test]
    fn config_validation() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("r");
        fs::create_dir(&root).unwrap();
        let config = root.join(".config");
        let e = Repository::open("r", &root).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "Bad repository config file {} : [Errno 2] No such file or directory: '{}'",
                config.display(),
                config.display()
            )
        );
        for (text, message) in [
            ("{}", "'version' is a required property"),
            ("version: two", "'two' is not of type 'number'"),
            (
                "version: 2\nx: 1",
                "Additional properties are not allowed ('x' was unexpected)",
            ),
            ("- 1", "[1] is not of type 'object'"),
        ] {
            fs::write(&config, text).unwrap();
            let e = Repository::open("r", &root).unwrap_err();
            assert!(matches!(e, StoreError::BadRepoConfig { .. }), "{text}");
            assert_eq!(
                e.to_string(),
                format!(
                    "Bad repository config file {} : {message}",
                    config.display()
                )
            );
        }
        fs::write(&config, "version: 3\n").unwrap();
        let e = Repository::open("r", &root).unwrap_err();
        assert!(matches!(e, StoreError::UnsupportedVersion { .. }));
        assert_eq!(e.to_string(), "Unsupported version for repository \"r\"");
        fs::write(&config, "version: 0.5\n").unwrap();
        let e = Repository::open("r", &root).unwrap_err();
        assert!(matches!(e, StoreError::UnsupportedVersion { .. }));
        fs::write(&config, "version: 1\n").unwrap();
        let repo = Repository::open("r", &root).unwrap();
        assert!(repo.is_legacy());
        let e = repo.writer().unwrap_err();
        assert!(matches!(e, StoreError::LegacyVersion { .. }));
        assert_eq!(e.kind(), ErrorKind::Unsupported);
        fs::write(&config, "version: 2.0\n").unwrap();
        assert_eq!(
            Repository::open("r", &root).unwrap().version(),
            REPO_VERSION
        );
    }
}
