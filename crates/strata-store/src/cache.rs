//! [`Cache`]: pcocc's container cache (repos.yaml `cache: {path}`), where the root filesystems
//! of container images are kept extracted so that containers start without unpacking.
//!
//! # Layout and keys (pcocc's `Cache.py` and `ImageMgr.cache_key`, v0.7.5)
//!
//! ```text
//! <cache>/<H[0:2]>/<H>            an entry: a bundle directory (`rootfs/`, `config.json`)
//! <cache>/<H[0:2]>/<...>.deleted  an entry being built or removed: skipped, purged by gc
//! <cache>/.locks/<H>              strata's entry locks (pcocc's globs skip dot files)
//! ```
//!
//! An entry's logical key is `sha256(json.dumps(meta) + "\n" + item)` (hex), where `meta` is
//! the revision record with the repository's name added as `repo` and `item` is
//! `cached_bundle` (or `cached_squashfs`); the entry's name `H` is the sha512 (hex) of that
//! key. Any change to the record (a new revision, another repository) is another entry.
//!
//! # Crash safety
//!
//! An entry is built in a directory whose name ends in `.deleted` (pcocc skips and purges such
//! names), the filesystem is synced, and the directory is renamed to `H` without replacing:
//! after a crash an entry is whole or absent. Removal renames `H` to `H.deleted` first (pcocc's
//! `CacheBlob.invalidate`), makes the tree writable (pcocc's `chmod -R 700`) and deletes it.
//!
//! # Untrusted layers
//!
//! Bundles are extracted with [`strata_oci::unpack_image`] under an [`ExtractPolicy`] that by
//! default trusts no image: character and block device nodes are not created, setuid and
//! setgid bits are cleared (pcocc runs containers unprivileged, which need neither), and a
//! compressed layer may expand at most [`strata_oci::ExpansionLimit::DEFAULT`] times its size
//! (a decompression bomb fails before it fills the cache's filesystem). A site that trusts its
//! images turns them on in `containers.yaml` (see [`crate::config`]).
//!
//! # LRU and holds
//!
//! Using an entry touches its mtime; listings are sorted by mtime, oldest first, and
//! [`Cache::decimate`] removes the oldest. A launcher holds an entry ([`Cache::hold_bundle`],
//! a shared `flock` on `.locks/H`) while a container runs on it; removal takes the lock
//! exclusively without waiting, so gc and delete skip or refuse an entry in use, where pcocc
//! leaves that to the user.

use std::collections::HashSet;
use std::fs;
use std::io;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde_json::{Map, Value};
use sha2::{Digest as _, Sha256, Sha512};
use strata_model::kind::Kind;
use strata_model::record::RevisionRecord;
use strata_oci::{ExpansionLimit, Platform, UnpackOptions};

use crate::error::{IoContext, Result, StoreError};
use crate::lock::{FileLock, LockMode};
use crate::repo::ContainerSource;

/// The item of an extracted bundle (pcocc's default, `image_driver: flat`).
pub const CACHED_BUNDLE: &str = "cached_bundle";
/// The item of a squashfs image of a bundle (`image_driver: squashfs`; [`Cache::hold_squashfs`]).
pub const CACHED_SQUASHFS: &str = "cached_squashfs";
/// Every item a revision may have in the cache, in pcocc's order (`CACHEABLE_ITEMS`).
pub const CACHEABLE_ITEMS: [&str; 2] = [CACHED_SQUASHFS, CACHED_BUNDLE];

/// The suffix of entries being built or removed.
const DELETED: &str = ".deleted";

/// One entry of the cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheEntry {
    /// The entry's name: the sha512 hex of its logical key.
    pub hash: String,
    /// Its path.
    pub path: PathBuf,
    /// When it was last used (its mtime).
    pub used: SystemTime,
    /// Whether it is a directory (a bundle) rather than a file (a squashfs image).
    pub is_dir: bool,
}

/// What removing entries did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CacheRemoval {
    /// The entries removed, in the order they were removed.
    pub removed: Vec<String>,
    /// The entries kept because a running container holds them.
    pub held: Vec<String>,
}

/// A held entry: while this lives, gc and delete leave the entry alone.
#[derive(Debug)]
pub struct CacheHold {
    path: PathBuf,
    _lock: FileLock,
}

impl CacheHold {
    /// The bundle directory (`rootfs/`, `config.json`).
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// How the cache extracts images' layers (`containers.yaml` `runtime.strata_*` keys, see
/// [`crate::config`]). The default trusts no image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExtractPolicy {
    /// Create the character and block device nodes layers hold (needs root; default false:
    /// skipped).
    pub device_nodes: bool,
    /// Keep setuid and setgid bits (when running as root, which applies the recorded owners;
    /// default false: cleared).
    pub setid_bits: bool,
    /// How far a compressed layer may expand ([`ExpansionLimit::DEFAULT`] by default).
    pub expansion: ExpansionLimit,
}

impl Default for ExtractPolicy {
    fn default() -> Self {
        ExtractPolicy {
            device_nodes: false,
            setid_bits: false,
            expansion: ExpansionLimit::DEFAULT,
        }
    }
}

impl ExtractPolicy {
    /// The unpack options this policy means.
    pub fn unpack_options(&self) -> UnpackOptions {
        UnpackOptions {
            device_nodes: self.device_nodes,
            setid_bits: self.setid_bits,
            expansion: self.expansion,
            ..UnpackOptions::default()
        }
    }
}

/// pcocc's container cache directory.
#[derive(Debug, Clone)]
pub struct Cache {
    root: PathBuf,
    policy: ExtractPolicy,
}

impl Cache {
    /// The cache at `path`, created if missing; it must be writable (pcocc's `Cache.__init__`:
    /// `Could not create cache dir`, `Cache should be writable in {path}`).
    pub fn open(path: &Path) -> Result<Cache> {
        if !path.is_dir() {
            fs::create_dir_all(path).map_err(|source| StoreError::CacheCreate {
                path: path.to_owned(),
                source,
            })?;
        }
        if !crate::fsutil::is_writable(path) {
            return Err(StoreError::CacheNotWritable {
                path: path.to_owned(),
            });
        }
        Ok(Cache {
            root: path.to_owned(),
            policy: ExtractPolicy::default(),
        })
    }

    /// The same cache, extracting bundles under `policy`.
    pub fn with_policy(self, policy: ExtractPolicy) -> Cache {
        Cache { policy, ..self }
    }

    /// How bundles are extracted.
    pub fn policy(&self) -> &ExtractPolicy {
        &self.policy
    }

    /// The cache's directory.
    pub fn path(&self) -> &Path {
        &self.root
    }

    /// pcocc's logical key of `item` for `record` of repository `repo`:
    /// `sha256(json.dumps(meta) + "\n" + item)` in hex.
    pub fn logical_key(record: &RevisionRecord, repo: &str, item: &str) -> String {
        let text = format!("{}\n{item}", record.to_pcocc_json_with_repo(repo));
        hex::encode(Sha256::digest(text.as_bytes()))
    }

    /// The entry name of a logical key: its sha512 in hex (pcocc's `Cache.hash_key`).
    pub fn hash_key(key: &str) -> String {
        hex::encode(Sha512::digest(key.as_bytes()))
    }

    /// The entry name of `item` for `record` of `repo`.
    pub fn entry_hash(record: &RevisionRecord, repo: &str, item: &str) -> String {
        Self::hash_key(&Self::logical_key(record, repo, item))
    }

    /// Where the entry `hash` lives: `<cache>/<hash[0:2]>/<hash>`.
    pub fn entry_path(&self, hash: &str) -> PathBuf {
        self.root.join(hash.get(..2).unwrap_or(hash)).join(hash)
    }

    fn lock_path(&self, hash: &str) -> PathBuf {
        self.root.join(".locks").join(hash)
    }

    /// Every entry (pcocc's `*/*`, dot files and `.deleted` names left out), least recently
    /// used first.
    pub fn entries(&self) -> Result<Vec<CacheEntry>> {
        let mut entries = Vec::new();
        for fan_out in list(&self.root)? {
            if !fan_out.is_dir() || is_hidden(&fan_out) {
                continue;
            }
            for path in list(&fan_out)? {
                let Some(hash) = path.file_name().and_then(|n| n.to_str()) else {
                    continue;
                };
                if hash.starts_with('.') || hash.ends_with(DELETED) {
                    continue;
                }
                let Ok(meta) = fs::symlink_metadata(&path) else {
                    continue;
                };
                entries.push(CacheEntry {
                    hash: hash.to_owned(),
                    used: meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
                    is_dir: meta.is_dir(),
                    path,
                });
            }
        }
        entries.sort_by(|a, b| a.used.cmp(&b.used).then_with(|| a.hash.cmp(&b.hash)));
        Ok(entries)
    }

    /// Holds the bundle of a container revision, extracting it first if the cache does not
    /// have it (pcocc's `ContainerBundleView`), and marks it used. `repo` is the repository
    /// the record was read from.
    pub fn hold_bundle(
        &self,
        repo: &dyn ContainerSource,
        record: &RevisionRecord,
    ) -> Result<CacheHold> {
        // Anything else in a bundle's place (absent, or a stray file) is (re)built.
        self.hold_entry(repo, record, CACHED_BUNDLE, Path::is_dir, |hash| {
            self.build_bundle(repo, record, hash)
        })
    }

    /// Holds the squashfs image of a container revision's bundle (`cached_squashfs`, what
    /// pcocc's `image_driver: squashfs` mounts), building it if the cache does not have it:
    /// the bundle is held (and extracted if missing), then written as squashfs with
    /// [`strata_oci::squashfs::write_tree`] (pcocc's `mksquashfs -all-root` with every
    /// compression off) into a `.deleted` file, synced, and renamed into place without
    /// replacing, as bundles are.
    pub fn hold_squashfs(
        &self,
        repo: &dyn ContainerSource,
        record: &RevisionRecord,
    ) -> Result<CacheHold> {
        self.hold_entry(repo, record, CACHED_SQUASHFS, Path::is_file, |hash| {
            let bundle = self.hold_bundle(repo, record)?;
            self.build_squashfs(repo, record, bundle.path(), hash)
        })
    }

    /// Holds the `kind` entry of a container revision under a shared lock, building it under
    /// the exclusive lock (removing whatever is in its place first) when `present` says it is
    /// not there, then taking the shared lock again; marks it used.
    fn hold_entry(
        &self,
        repo: &dyn ContainerSource,
        record: &RevisionRecord,
        kind: &str,
        present: fn(&Path) -> bool,
        build: impl Fn(&str) -> Result<()>,
    ) -> Result<CacheHold> {
        let hash = Self::entry_hash(record, repo.source_name(), kind);
        let path = self.entry_path(&hash);
        let lock_path = self.lock_path(&hash);
        let locks = self.root.join(".locks");
        crate::fsutil::mkdir_if_missing(&locks).at("create directory", &locks)?;
        loop {
            let shared = FileLock::acquire(&lock_path, LockMode::Shared)?;
            if present(&path) {
                touch(&path)?;
                return Ok(CacheHold {
                    path,
                    _lock: shared,
                });
            }
            drop(shared);
            let exclusive = FileLock::acquire(&lock_path, LockMode::Exclusive)?;
            if !present(&path) {
                remove_tree(&path)?;
                build(&hash)?;
            }
            drop(exclusive);
        }
    }

    /// Where the entry `hash` of kind `what` goes, its fan-out directory (made if missing), and
    /// the name prefix of the temporary it is built in (pcocc's key of a `<what>_tmp` entry).
    fn staging(
        &self,
        repo: &dyn ContainerSource,
        record: &RevisionRecord,
        hash: &str,
        what: &str,
    ) -> Result<(PathBuf, PathBuf, String)> {
        let target = self.entry_path(hash);
        let fan_out = target.parent().unwrap_or(&self.root).to_owned();
        crate::fsutil::mkdir_if_missing(&fan_out).at("create directory", &fan_out)?;
        let tmp_key = Self::hash_key(&Self::logical_key(
            record,
            repo.source_name(),
            &format!("{what}_tmp"),
        ));
        Ok((target, fan_out, format!("{tmp_key}-")))
    }

    /// Builds the squashfs entry `hash` from the bundle at `bundle`.
    fn build_squashfs(
        &self,
        repo: &dyn ContainerSource,
        record: &RevisionRecord,
        bundle: &Path,
        hash: &str,
    ) -> Result<()> {
        let (target, fan_out, prefix) = self.staging(repo, record, hash, CACHED_SQUASHFS)?;
        let building = tempfile::Builder::new()
            .prefix(&prefix)
            .suffix(DELETED)
            .tempfile_in(&fan_out)
            .at("create a file in", &fan_out)?;
        strata_oci::squashfs::write_tree(bundle, building.path())?;
        let (_, built) = building
            .keep()
            .map_err(|e| StoreError::io("keep", &fan_out, e.error))?;
        install(&built, &target, Path::is_file)
    }

    /// Builds the bundle `hash` of a container revision (see the module's crash safety).
    fn build_bundle(
        &self,
        repo: &dyn ContainerSource,
        record: &RevisionRecord,
        hash: &str,
    ) -> Result<()> {
        if record.kind != Kind::Ctr {
            return Err(strata_oci::OciError::InvalidRequest(format!(
                "{} is not a container image",
                record.name
            ))
            .into());
        }
        let image = repo.image_of(record, &Platform::host())?;
        let (target, fan_out, prefix) = self.staging(repo, record, hash, CACHED_BUNDLE)?;
        let building = tempfile::Builder::new()
            .prefix(&prefix)
            .suffix(DELETED)
            .tempdir_in(&fan_out)
            .at("create a directory in", &fan_out)?;
        let built = (|| {
            let rootfs = building.path().join("rootfs");
            // strata-oci warns about each entry left out (device nodes, setid bits cleared).
            strata_oci::unpack_image(repo, &image, &rootfs, &self.policy.unpack_options())?;
            let config_json = building.path().join("config.json");
            fs::write(&config_json, runtime_config(&image.config_bytes))
                .at("write", &config_json)?;
            let dir = fs::File::open(building.path()).at("open", building.path())?;
            rustix::fs::syncfs(&dir).map_err(|e| StoreError::io("sync", building.path(), e.into()))
        })();
        if let Err(e) = built {
            // Restrictive modes in the tree would stop the temporary directory's removal.
            make_writable(building.path());
            return Err(e);
        }
        install(&building.keep(), &target, Path::is_dir)
    }

    /// Removes the entry `hash` (no-op if absent). An entry held by a running container is
    /// left alone and `false` returned.
    pub fn remove(&self, hash: &str) -> Result<bool> {
        let path = self.entry_path(hash);
        if fs::symlink_metadata(&path).is_err() {
            return Ok(true);
        }
        let locks = self.root.join(".locks");
        crate::fsutil::mkdir_if_missing(&locks).at("create directory", &locks)?;
        let _lock = match FileLock::try_acquire(&self.lock_path(hash), LockMode::Exclusive) {
            Ok(lock) => lock,
            Err(StoreError::Locked { .. }) => return Ok(false),
            Err(e) => return Err(e),
        };
        let mut deleted = path.clone().into_os_string();
        deleted.push(DELETED);
        let deleted = PathBuf::from(deleted);
        if fs::symlink_metadata(&deleted).is_ok() {
            remove_tree(&deleted)?;
        }
        match fs::rename(&path, &deleted) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(true),
            Err(e) => return Err(StoreError::io("rename", &path, e)),
        }
        remove_tree(&deleted)?;
        Ok(true)
    }

    /// Removes the entries of every item of `record` of `repo` (pcocc's `cache delete` and the
    /// first step of `image delete`).
    pub fn remove_image(&self, record: &RevisionRecord, repo: &str) -> Result<CacheRemoval> {
        let mut outcome = CacheRemoval::default();
        for item in CACHEABLE_ITEMS {
            let hash = Self::entry_hash(record, repo, item);
            if fs::symlink_metadata(self.entry_path(&hash)).is_err() {
                continue;
            }
            if self.remove(&hash)? {
                outcome.removed.push(hash);
            } else {
                outcome.held.push(hash);
            }
        }
        self.clean_empty_dirs()?;
        Ok(outcome)
    }

    /// Removes every entry not in `keep` (pcocc's default `cache gc`: dangling entries).
    pub fn remove_unknown(&self, keep: &HashSet<String>) -> Result<CacheRemoval> {
        let entries: Vec<CacheEntry> = self
            .entries()?
            .into_iter()
            .filter(|e| !keep.contains(&e.hash))
            .collect();
        self.remove_all(entries)
    }

    /// Removes the least recently used entries until at most `count` remain (pcocc's
    /// `decimate`, `cache gc -b N`).
    pub fn decimate(&self, count: usize) -> Result<CacheRemoval> {
        let entries = self.entries()?;
        let excess = entries.len().saturating_sub(count);
        self.remove_all(entries.into_iter().take(excess).collect())
    }

    /// Removes every entry (pcocc's `clear`, `cache gc -c`).
    pub fn clear(&self) -> Result<CacheRemoval> {
        let entries = self.entries()?;
        self.remove_all(entries)
    }

    fn remove_all(&self, entries: Vec<CacheEntry>) -> Result<CacheRemoval> {
        let mut outcome = CacheRemoval::default();
        for entry in entries {
            if self.remove(&entry.hash)? {
                outcome.removed.push(entry.hash);
            } else {
                outcome.held.push(entry.hash);
            }
        }
        self.clean_empty_dirs()?;
        Ok(outcome)
    }

    /// pcocc's `clean_empty_dirs`: purges `*.deleted` leftovers and removes empty fan-out
    /// directories. A bundle being built (`<tmp key>-<random>.deleted`) is left alone until
    /// it has not changed for an hour: its builder may still be running.
    pub fn clean_empty_dirs(&self) -> Result<()> {
        for fan_out in list(&self.root)? {
            if !fan_out.is_dir() || is_hidden(&fan_out) {
                continue;
            }
            for path in list(&fan_out)? {
                let name = path
                    .file_name()
                    .and_then(|n| n.to_str())
                    .unwrap_or_default();
                if !name.ends_with(DELETED) {
                    continue;
                }
                if name.contains('-') && is_recent(&path) {
                    continue;
                }
                remove_tree(&path)?;
            }
            if list(&fan_out)?.is_empty() {
                match fs::remove_dir(&fan_out) {
                    Ok(()) => {}
                    Err(e)
                        if matches!(
                            e.kind(),
                            io::ErrorKind::NotFound | io::ErrorKind::DirectoryNotEmpty
                        ) => {}
                    Err(e) => return Err(StoreError::io("remove", &fan_out, e)),
                }
            }
        }
        Ok(())
    }
}

/// The `config.json` pcocc's `OciImageConfig.gen_runtime_config` writes from an image config:
/// `ociVersion` 0.1.0, `root.path` `rootfs`, and `process` with `cwd` (`/` by default), then
/// `env`, `args` (the image's `Cmd`) and `entrypoint` when the config has non-empty ones.
pub fn runtime_config(config_bytes: &[u8]) -> String {
    let config: Value = serde_json::from_slice(config_bytes).unwrap_or(Value::Null);
    let get = |key: &str| {
        config
            .get("config")
            .and_then(|c| c.get(key))
            .filter(|v| is_truthy(v))
            .cloned()
    };
    let mut process = Map::new();
    process.insert(
        "cwd".to_owned(),
        get("WorkingDir").unwrap_or_else(|| Value::String("/".to_owned())),
    );
    for (key, name) in [
        ("Env", "env"),
        ("Cmd", "args"),
        ("Entrypoint", "entrypoint"),
    ] {
        if let Some(v) = get(key) {
            process.insert(name.to_owned(), v);
        }
    }
    let mut root = Map::new();
    root.insert("path".to_owned(), Value::String("rootfs".to_owned()));
    let mut out = Map::new();
    out.insert("ociVersion".to_owned(), Value::String("0.1.0".to_owned()));
    out.insert("root".to_owned(), Value::Object(root));
    out.insert("process".to_owned(), Value::Object(process));
    strata_model::python::json_dumps(&Value::Object(out))
}

/// Python's truth value of a JSON value (`if self.cwd():`).
fn is_truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

fn is_hidden(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with('.'))
}

fn is_recent(path: &Path) -> bool {
    fs::symlink_metadata(path)
        .ok()
        .and_then(|m| m.modified().ok())
        .and_then(|t| t.elapsed().ok())
        .is_some_and(|age| age.as_secs() < 3600)
}

/// Marks an entry used now (pcocc's `CacheBlob.touch`).
fn touch(path: &Path) -> Result<()> {
    let f = fs::File::open(path).at("open", path)?;
    f.set_modified(SystemTime::now()).at("touch", path)
}

/// The entries of `dir`, sorted; none if it does not exist.
fn list(dir: &Path) -> Result<Vec<PathBuf>> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(StoreError::io("list", dir, e)),
    };
    let mut paths = Vec::new();
    for entry in entries {
        paths.push(entry.at("list", dir)?.path());
    }
    paths.sort();
    Ok(paths)
}

/// Removes a file or a tree, first giving its owner access to every directory of it (pcocc's
/// `chmod -R 700`), since root filesystems have restrictive modes.
/// Renames the entry `built` (file or tree) to `target` unless something is there already, then
/// fsyncs their directory. When another process installed the same entry first (`present` says
/// so of `target`), `built` is removed and that one is kept: entries of one key are equal.
fn install(built: &Path, target: &Path, present: fn(&Path) -> bool) -> Result<()> {
    match rustix::fs::renameat_with(
        rustix::fs::CWD,
        built,
        rustix::fs::CWD,
        target,
        rustix::fs::RenameFlags::NOREPLACE,
    ) {
        Ok(()) => match target.parent() {
            Some(dir) => crate::fsutil::fsync_dir(dir),
            None => Ok(()),
        },
        Err(e) => {
            remove_tree(built)?;
            if present(target) {
                Ok(())
            } else {
                Err(StoreError::io("rename into", target, e.into()))
            }
        }
    }
}

fn remove_tree(path: &Path) -> Result<()> {
    let Ok(meta) = fs::symlink_metadata(path) else {
        return Ok(());
    };
    if !meta.is_dir() {
        return fs::remove_file(path).at("remove", path);
    }
    make_writable(path);
    match fs::remove_dir_all(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(StoreError::io("remove", path, e)),
    }
}

fn make_writable(dir: &Path) {
    let Ok(meta) = fs::symlink_metadata(dir) else {
        return;
    };
    if !meta.is_dir() {
        return;
    }
    let _ = fs::set_permissions(dir, fs::Permissions::from_mode(meta.mode() | 0o700));
    if let Ok(entries) = fs::read_dir(dir) {
        for entry in entries.flatten() {
            make_writable(&entry.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runtime_config_as_pcocc() {
        let cfg = br#"{"architecture":"amd64","config":{"Env":["PATH=/bin"],"Cmd":["sh"],"WorkingDir":""},"rootfs":{"type":"layers","diff_ids":[]}}"#;
        assert_eq!(
            runtime_config(cfg),
            r#"{"ociVersion": "0.1.0", "root": {"path": "rootfs"}, "process": {"cwd": "/", "env": ["PATH=/bin"], "args": ["sh"]}}"#
        );
    }

    #[test]
    fn keys_as_pcocc() {
        let record = RevisionRecord::new("img", 0, Kind::Ctr, "jdoe", 1.5, []);
        let key = Cache::logical_key(&record, "user", CACHED_BUNDLE);
        let text = "{\"name\": \"img\", \"revision\": 0, \"kind\": \"ctr\", \"owner\": \"jdoe\", \
            \"timestamp\": 1.5, \"data_blobs\": [], \"custom_meta\": {}, \"repo\": \"user\"}\ncached_bundle";
        assert_eq!(key, hex::encode(Sha256::digest(text.as_bytes())));
        let hash = Cache::hash_key(&key);
        assert_eq!(hash.len(), 128);
        let cache = Cache {
            root: PathBuf::from("/c"),
            policy: ExtractPolicy::default(),
        };
        assert_eq!(
            cache.entry_path(&hash),
            Path::new("/c").join(&hash[..2]).join(&hash)
        );
    }
}
