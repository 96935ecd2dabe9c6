//! [`PoolStore`]: an OpenNebula pool on disk, its datastores and their files.
//!
//! ```text
//! <root>/pool.json               the database: every image and datastore record, the next ids,
//!                                the operations in flight; rewritten whole through a temporary
//!                                file, fsynced and renamed
//! <root>/pool.lock               flock: exclusive for each change, shared for each read
//! <root>/datastores/<id>/        a datastore's BASE_PATH: one file per image (the image's SOURCE)
//! <root>/datastores/<id>/.partial/  files being written; renamed into place when complete
//! <root>/instances/<id>.qcow2    instance overlays on images' files
//! ```
//!
//! The store keeps the bytes and the records consistent and crash-safe; what a change means
//! (OpenNebula's state rules and permissions) is the core's. A long operation (copying an
//! image in) runs outside the lock: it records a [`Job`] naming its process, writes a partial
//! file, and finishes with a second change. A job whose process is gone was interrupted, which
//! the core turns into an image in ERROR ([`Job::is_alive`]).

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use strata_model::one::{Capacity, DatastoreRecord, ImageRecord};
use tempfile::NamedTempFile;

use crate::error::{IoContext, Result, StoreError};
use crate::fsutil::{fsync_dir, mkdir_if_missing};
use crate::lock::{FileLock, LockMode};

/// The database's file name.
pub const DB_FILE: &str = "pool.json";
/// The lock file's name.
pub const LOCK_FILE: &str = "pool.lock";
/// The directory of the datastores.
pub const DATASTORES_DIR: &str = "datastores";
/// The directory of instance overlays.
pub const INSTANCES_DIR: &str = "instances";
/// The directory of partial files inside a datastore.
pub const PARTIAL_DIR: &str = ".partial";
/// The database format this version writes and reads.
pub const DB_VERSION: u32 = 1;
/// The largest database read: a pool of 10,000 images is about 10 MiB.
pub const MAX_DB_BYTES: u64 = 1 << 30;
/// The first id of datastores a user creates (0, 1 and 2 are made with the pool).
pub const FIRST_USER_DATASTORE: u32 = 100;

/// What an operation in flight does, for the message of an interrupted one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum JobOp {
    /// Copying data into a new image (`oneimage create`).
    Create,
    /// Copying an image into a new one (`oneimage clone`).
    Clone,
    /// Removing an image's files (`oneimage delete`).
    Delete,
    /// Rewriting an image from one of its snapshots, or taking one.
    Snapshot,
    /// Saving an instance's changes back into its persistent image.
    Save,
}

impl JobOp {
    /// The operation's name in messages.
    pub const fn as_str(self) -> &'static str {
        match self {
            JobOp::Create => "create",
            JobOp::Clone => "clone",
            JobOp::Delete => "delete",
            JobOp::Snapshot => "snapshot",
            JobOp::Save => "save",
        }
    }
}

/// An operation in flight on one image, run by one process outside the pool's lock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Job {
    /// What it does.
    pub op: JobOp,
    /// The process running it.
    pub pid: u32,
    /// That process's start time (`/proc/<pid>/stat`, field 22), so that a reused pid is not
    /// taken for it.
    pub start: u64,
    /// The file the job will rename its result to, in the image's datastore: removed if the
    /// process dies after the rename but before the database says so.
    #[serde(default)]
    pub target: Option<String>,
}

impl Job {
    /// A job run by the calling process.
    pub fn here(op: JobOp) -> Job {
        let pid = std::process::id();
        Job {
            op,
            pid,
            start: process_start(pid).unwrap_or(0),
            target: None,
        }
    }

    /// This job, which will rename its result to `target`.
    pub fn with_target(mut self, target: impl Into<String>) -> Job {
        self.target = Some(target.into());
        self
    }

    /// Whether the process that runs the job is still running.
    pub fn is_alive(&self) -> bool {
        process_start(self.pid).is_some_and(|start| start == self.start)
    }
}

/// A process's start time in clock ticks since boot, `None` when there is no such process.
fn process_start(pid: u32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold anything: fields are counted
    // after its last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// The whole database of a pool.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoolDb {
    /// [`DB_VERSION`].
    pub version: u32,
    /// The id the next image takes: ids are never reused.
    pub next_image_id: u32,
    /// The id the next datastore takes.
    pub next_datastore_id: u32,
    /// The datastores, by id.
    pub datastores: Vec<DatastoreRecord>,
    /// The images, by id.
    pub images: Vec<ImageRecord>,
    /// Operations in flight, by image id.
    pub jobs: BTreeMap<u32, Job>,
    /// The id the next instance takes.
    #[serde(default)]
    pub next_instance_id: u32,
    /// The instances: images in use, as VMs use them.
    #[serde(default)]
    pub instances: Vec<PoolInstance>,
}

/// An image in use: a qcow2 overlay on the image's file, as a VM's disk is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoolInstance {
    /// Its id (the image's `VMS/ID`).
    pub id: u32,
    /// The image it uses.
    pub image: u32,
    /// Who started it.
    pub uid: u32,
    /// The overlay file.
    pub overlay: String,
    /// When it started (seconds since the epoch).
    pub started: i64,
}

impl PoolDb {
    /// A pool with these datastores and no image.
    pub fn new(datastores: Vec<DatastoreRecord>) -> PoolDb {
        let next = datastores
            .iter()
            .map(|d| d.id.saturating_add(1))
            .max()
            .unwrap_or(0)
            .max(FIRST_USER_DATASTORE);
        PoolDb {
            version: DB_VERSION,
            next_image_id: 0,
            next_datastore_id: next,
            datastores,
            images: Vec::new(),
            jobs: BTreeMap::new(),
            next_instance_id: 0,
            instances: Vec::new(),
        }
    }

    /// The image with this id.
    pub fn image(&self, id: u32) -> Option<&ImageRecord> {
        self.images
            .binary_search_by_key(&id, |i| i.id)
            .ok()
            .map(|at| &self.images[at])
    }

    /// The image with this id, to change.
    pub fn image_mut(&mut self, id: u32) -> Option<&mut ImageRecord> {
        self.images
            .binary_search_by_key(&id, |i| i.id)
            .ok()
            .map(|at| &mut self.images[at])
    }

    /// Adds an image, keeping the list sorted by id.
    pub fn insert_image(&mut self, image: ImageRecord) {
        match self.images.binary_search_by_key(&image.id, |i| i.id) {
            Ok(at) => self.images[at] = image,
            Err(at) => self.images.insert(at, image),
        }
    }

    /// Removes an image and its job.
    pub fn remove_image(&mut self, id: u32) -> Option<ImageRecord> {
        self.jobs.remove(&id);
        let at = self.images.binary_search_by_key(&id, |i| i.id).ok()?;
        Some(self.images.remove(at))
    }

    /// The datastore with this id.
    pub fn datastore(&self, id: u32) -> Option<&DatastoreRecord> {
        self.datastores.iter().find(|d| d.id == id)
    }

    /// The datastore with this id, to change.
    pub fn datastore_mut(&mut self, id: u32) -> Option<&mut DatastoreRecord> {
        self.datastores.iter_mut().find(|d| d.id == id)
    }

    /// Takes the next image id.
    pub fn take_image_id(&mut self) -> u32 {
        let id = self.next_image_id;
        self.next_image_id = self.next_image_id.saturating_add(1);
        id
    }

    /// Takes the next datastore id.
    pub fn take_datastore_id(&mut self) -> u32 {
        let id = self.next_datastore_id;
        self.next_datastore_id = self.next_datastore_id.saturating_add(1);
        id
    }
}

/// An OpenNebula pool on disk (see the module documentation).
#[derive(Debug, Clone)]
pub struct PoolStore {
    root: PathBuf,
}

impl PoolStore {
    /// The pool at `root`, which need not exist yet ([`PoolStore::init`] makes it).
    pub fn new(root: impl Into<PathBuf>) -> PoolStore {
        PoolStore { root: root.into() }
    }

    /// The pool's directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The database file.
    pub fn db_path(&self) -> PathBuf {
        self.root.join(DB_FILE)
    }

    /// Whether the pool has been made.
    pub fn exists(&self) -> bool {
        self.db_path().is_file()
    }

    /// Makes the pool with these datastores if it does not exist yet (idempotent: a pool made
    /// by a concurrent process is left as it is). Each datastore's directory is created.
    pub fn init(&self, datastores: impl FnOnce() -> Vec<DatastoreRecord>) -> Result<()> {
        fs::create_dir_all(&self.root).at("create", &self.root)?;
        let _lock = self.lock(LockMode::Exclusive)?;
        if self.exists() {
            return Ok(());
        }
        let db = PoolDb::new(datastores());
        for ds in &db.datastores {
            self.make_datastore_dir(ds.id)?;
        }
        self.save(&db)
    }

    /// The directory of datastore `id`: its `BASE_PATH`.
    pub fn datastore_dir(&self, id: u32) -> PathBuf {
        self.root.join(DATASTORES_DIR).join(id.to_string())
    }

    /// Creates the directory of datastore `id` and its partial directory.
    pub fn make_datastore_dir(&self, id: u32) -> Result<PathBuf> {
        let dir = self.datastore_dir(id);
        fs::create_dir_all(dir.join(PARTIAL_DIR)).at("create", &dir)?;
        Ok(dir)
    }

    /// Removes the directory of datastore `id`, which must hold no image file.
    pub fn remove_datastore_dir(&self, id: u32) -> Result<()> {
        let dir = self.datastore_dir(id);
        let partial = dir.join(PARTIAL_DIR);
        match fs::remove_dir_all(&partial) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(StoreError::io("remove", partial, e)),
        }
        match fs::remove_dir(&dir) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(StoreError::io("remove", dir, e)),
        }
    }

    fn lock(&self, mode: LockMode) -> Result<FileLock> {
        FileLock::acquire(&self.root.join(LOCK_FILE), mode)
    }

    /// Reads the database under a shared lock.
    pub fn read(&self) -> Result<PoolDb> {
        let _lock = self.lock(LockMode::Shared)?;
        self.load()
    }

    /// Changes the database under the exclusive lock: `change` sees the current database and
    /// the change is saved (atomically) only when it succeeds. `E` is the caller's error type.
    pub fn update<T, E: From<StoreError>>(
        &self,
        change: impl FnOnce(&mut PoolDb) -> std::result::Result<T, E>,
    ) -> std::result::Result<T, E> {
        let _lock = self.lock(LockMode::Exclusive)?;
        let mut db = self.load()?;
        let before = db.clone();
        let value = change(&mut db)?;
        if db != before {
            self.save(&db)?;
        }
        Ok(value)
    }

    fn load(&self) -> Result<PoolDb> {
        let path = self.db_path();
        let file = File::open(&path).at("open", &path)?;
        let len = file.metadata().at("stat", &path)?.len();
        if len > MAX_DB_BYTES {
            return Err(StoreError::BadPool {
                path,
                message: format!("{len} bytes, more than the {MAX_DB_BYTES} a pool may hold"),
            });
        }
        let mut bytes = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
        file.take(MAX_DB_BYTES + 1)
            .read_to_end(&mut bytes)
            .at("read", &path)?;
        let db: PoolDb = serde_json::from_slice(&bytes).map_err(|e| StoreError::BadPool {
            path: path.clone(),
            message: e.to_string(),
        })?;
        if db.version != DB_VERSION {
            return Err(StoreError::BadPool {
                path,
                message: format!(
                    "version {}, this strata reads version {DB_VERSION}",
                    db.version
                ),
            });
        }
        if !db.images.windows(2).all(|w| w[0].id < w[1].id) {
            return Err(StoreError::BadPool {
                path,
                message: "images are not sorted by id".to_owned(),
            });
        }
        Ok(db)
    }

    fn save(&self, db: &PoolDb) -> Result<()> {
        let path = self.db_path();
        let mut tmp = NamedTempFile::with_prefix_in(".pool.json.", &self.root)
            .at("create a temporary file in", &self.root)?;
        let bytes = serde_json::to_vec(db).map_err(|e| StoreError::BadPool {
            path: path.clone(),
            message: e.to_string(),
        })?;
        tmp.write_all(&bytes).at("write", tmp.path())?;
        tmp.as_file().sync_all().at("fsync", tmp.path())?;
        tmp.persist(&path)
            .map_err(|e| StoreError::io("rename into", &path, e.error))?;
        fsync_dir(&self.root)
    }

    /// A new partial file for image `id` in datastore `ds` (`.partial/<id>.<random>`), to be
    /// completed with [`PoolStore::commit`] (or dropped, which removes it).
    pub fn partial(&self, ds: u32, id: u32) -> Result<NamedTempFile> {
        let dir = self.datastore_dir(ds).join(PARTIAL_DIR);
        mkdir_if_missing(&dir).at("create", &dir)?;
        NamedTempFile::with_prefix_in(format!("{id}."), &dir).at("create a partial file in", &dir)
    }

    /// Removes the partial files of image `id` in datastore `ds` (those an interrupted process
    /// left).
    pub fn remove_partials(&self, ds: u32, id: u32) -> Result<()> {
        let dir = self.datastore_dir(ds).join(PARTIAL_DIR);
        let Ok(entries) = fs::read_dir(&dir) else {
            return Ok(());
        };
        let prefix = format!("{id}.");
        for entry in entries.flatten() {
            if entry.file_name().to_string_lossy().starts_with(&prefix) {
                let path = entry.path();
                match fs::remove_file(&path) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(StoreError::io("remove", path, e)),
                }
            }
        }
        Ok(())
    }

    /// Completes a partial file: fsyncs it and renames it to `name` in datastore `ds`.
    pub fn commit(&self, ds: u32, partial: NamedTempFile, name: &str) -> Result<PathBuf> {
        let dir = self.datastore_dir(ds);
        let path = dir.join(name);
        partial.as_file().sync_all().at("fsync", partial.path())?;
        partial
            .persist(&path)
            .map_err(|e| StoreError::io("rename into", &path, e.error))?;
        fsync_dir(&dir)?;
        Ok(path)
    }

    /// Removes an image's file and its snapshot directory (`<source>.snap`), as the fs driver's
    /// `rm` does; a missing file is no error.
    pub fn remove_source(&self, source: &Path) -> Result<()> {
        for path in [source.to_owned(), snap_dir(source)] {
            let result = if path.is_dir() {
                fs::remove_dir_all(&path)
            } else {
                fs::remove_file(&path)
            };
            match result {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(StoreError::io("remove", path, e)),
            }
        }
        if let Some(dir) = source.parent() {
            fsync_dir(dir)?;
        }
        Ok(())
    }

    /// The directory of instance overlays.
    pub fn instances_dir(&self) -> PathBuf {
        self.root.join(INSTANCES_DIR)
    }

    /// A datastore's capacity, from the file system its directory is on (`df -B1M`).
    pub fn capacity(&self, ds: u32) -> Result<Capacity> {
        let dir = self.datastore_dir(ds);
        let probe = if dir.exists() { dir } else { self.root.clone() };
        let st = rustix::fs::statvfs(&probe).at("statvfs", &probe)?;
        let mib = |blocks: u64| blocks.saturating_mul(st.f_frsize) >> 20;
        let total = mib(st.f_blocks);
        let free = mib(st.f_bavail);
        Ok(Capacity {
            total_mb: total,
            free_mb: free,
            used_mb: mib(st.f_blocks.saturating_sub(st.f_bfree)),
        })
    }
}

/// The snapshot directory of an image file (`<source>.snap`).
pub fn snap_dir(source: &Path) -> PathBuf {
    let mut name = source.as_os_str().to_owned();
    name.push(".snap");
    PathBuf::from(name)
}

/// A fresh file name for image `id`'s data: 32 hex digits from the time and the id, as the fs
/// driver names files (an opaque name, not a content hash).
pub fn source_name(id: u32) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let digest = Sha256::digest(format!("{nanos}:{id}:{}\n", std::process::id()));
    hex::encode(&digest[..16])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_job_of_this_process_is_alive_and_of_a_gone_one_is_not() {
        let job = Job::here(JobOp::Create);
        assert!(job.is_alive());
        let gone = Job {
            start: job.start + 1,
            ..job.clone()
        };
        assert!(!gone.is_alive());
    }

    #[test]
    fn an_update_is_saved_only_when_it_succeeds() {
        let dir = tempfile::tempdir().unwrap();
        let store = PoolStore::new(dir.path().join("pool"));
        store.init(Vec::new).unwrap();
        let failed: std::result::Result<(), StoreError> = store.update(|db| {
            db.take_image_id();
            Err(StoreError::Locked {
                path: PathBuf::from("x"),
            })
        });
        assert!(failed.is_err());
        assert_eq!(store.read().unwrap().next_image_id, 0);
        let id = store
            .update(|db| Ok::<_, StoreError>(db.take_image_id()))
            .unwrap();
        assert_eq!(id, 0);
        assert_eq!(store.read().unwrap().next_image_id, 1);
        assert_eq!(store.read().unwrap().next_datastore_id, 100);
    }

    #[test]
    fn a_database_of_another_version_or_not_json_is_refused_with_its_path() {
        let dir = tempfile::tempdir().unwrap();
        let store = PoolStore::new(dir.path());
        store.init(Vec::new).unwrap();
        fs::write(store.db_path(), b"{\"version\": 9}").unwrap();
        let e = store.read().unwrap_err().to_string();
        assert!(e.contains("pool.json"), "{e}");
        fs::write(store.db_path(), b"not json").unwrap();
        assert!(matches!(store.read(), Err(StoreError::BadPool { .. })));
    }

    #[test]
    fn a_partial_file_becomes_an_image_file_and_is_removed_with_its_snapshots() {
        let dir = tempfile::tempdir().unwrap();
        let store = PoolStore::new(dir.path());
        store.init(Vec::new).unwrap();
        store.make_datastore_dir(1).unwrap();
        let mut partial = store.partial(1, 0).unwrap();
        partial.write_all(b"data").unwrap();
        let name = source_name(0);
        assert_eq!(name.len(), 32);
        let path = store.commit(1, partial, &name).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"data");
        fs::create_dir(snap_dir(&path)).unwrap();
        store.remove_source(&path).unwrap();
        assert!(!path.exists() && !snap_dir(&path).exists());
        assert!(store.capacity(1).unwrap().total_mb > 0);
    }
}
