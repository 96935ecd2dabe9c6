//! Garbage collection: remove blobs no record (and no VM instance) names, empty fan-out
//! directories, and leftovers in `.tmp/`, under the repository's exclusive lock.
//!
//! pcocc's `garbage_collect` takes the union of `data_blobs` over the repository's records
//! (stripping `sha256:`), deletes every other `data/*/*` file and any fan-out directory it
//! empties, then wipes all of `.tmp/*`. strata does the same with two differences:
//!
//! - **Locking.** gc holds `.lock` exclusive. Every strata writer holds it shared from its first
//!   temporary file to its last rename ([`Writer`](super::Writer)), so gc waits for imports in
//!   progress and imports wait for gc: gc never sees a half-finished strata import, and never
//!   removes the blobs of an import whose record is about to be committed.
//! - **A grace period.** Entries of `.tmp/` and unreferenced blobs younger than `grace` are kept.
//!   With the lock, no strata import can own them; but pcocc takes no lock, so a pcocc import
//!   running on the same repository (or a process that writes to `.tmp/` without a writer) may
//!   own them, between its blob's rename and its record's write. `grace = 0` behaves as pcocc.
//!   Age is the later of the modification and status-change times (a rename updates the
//!   latter, so a freshly renamed blob is young even if its bytes are old).
//!
//! Blobs that VM instances name (`.instances/`) are kept too, so that a record deleted with
//! [`DeleteMode::Force`](super::DeleteMode::Force) does not pull the disk from under a
//! running VM.

use std::collections::HashSet;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::Repository;
use super::meta::RecordFormat;
use crate::error::{IoContext, Result, StoreError};
use crate::lock::{FileLock, LockMode};

/// What [`Repository::gc`] removed and kept.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GcReport {
    /// Unreferenced blobs removed.
    pub blobs_removed: u64,
    /// Their total size in bytes.
    pub blob_bytes_removed: u64,
    /// Empty fan-out directories removed.
    pub dirs_removed: u64,
    /// Entries of `.tmp/` removed.
    pub tmp_removed: u64,
    /// The size of the `.tmp/` files removed (directories count their files).
    pub tmp_bytes_removed: u64,
    /// Unreferenced blobs and `.tmp/` entries kept because they are younger than the grace
    /// period.
    pub young_kept: u64,
    /// Blobs kept because a record or an instance names them.
    pub blobs_kept: u64,
    /// Deletions that a crash had interrupted, completed before anything else.
    pub deletions_completed: u64,
    /// The upgrade of a version 1 repository to version 2 (or the completion of one a crash
    /// interrupted), done first.
    pub upgrade: Option<super::Upgrade>,
}

impl Repository {
    /// Removes what no record and no instance uses (see the module documentation), waiting
    /// for writers in progress; returns what was removed.
    ///
    /// A record that does not parse aborts gc before anything is removed (it might name
    /// blobs), with its `Bad metadata for {name}: {err}` error.
    pub fn gc(&self, grace: Duration) -> Result<GcReport> {
        let _lock = FileLock::acquire(&self.lock_path(), LockMode::Exclusive)?;
        self.gc_locked(grace)
    }

    /// [`Repository::gc`] but fails with [`StoreError::Locked`] instead of waiting for writers.
    pub fn try_gc(&self, grace: Duration) -> Result<GcReport> {
        let _lock = FileLock::try_acquire(&self.lock_path(), LockMode::Exclusive)?;
        self.gc_locked(grace)
    }

    fn gc_locked(&self, grace: Duration) -> Result<GcReport> {
        // pcocc's gc upgrades a version 1 repository (after collecting; strata before, so
        // that what follows reads one layout).
        let upgrade = self.upgrade_locked()?;
        // A deletion a crash interrupted is completed first: its records, hidden from strata's
        // readers, must not outlive the blobs gc is about to remove.
        let completed = self.complete_pending_deletes()?;
        let mut live: HashSet<String> = HashSet::new();
        for record in self.records()? {
            live.extend(
                record
                    .data_blobs
                    .iter()
                    .map(|b| b.digest().hex().to_owned()),
            );
        }
        // Files in meta/ whose names strata does not write (`x@01`, hand-made ones) are still
        // records to pcocc, which reads every non-hidden `meta/*`: keep their blobs too, and
        // stop if one does not parse, as pcocc would.
        for stray in self.meta_entries()?.strays {
            let file_name = stray
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default();
            if file_name.starts_with('.') || !stray.is_file() {
                continue;
            }
            let name = file_name
                .rsplit_once('@')
                .map_or(file_name, |(name, _)| name);
            if let Some(record) = super::meta::read_record_file(&stray, name, RecordFormat::Json)? {
                live.extend(
                    record
                        .data_blobs
                        .iter()
                        .map(|b| b.digest().hex().to_owned()),
                );
            }
        }
        for instance in self.instances()? {
            live.extend(instance.blobs.iter().map(|d| d.hex().to_owned()));
        }
        let now = SystemTime::now();
        let young = |meta: &fs::Metadata| age(meta, now) < grace;
        let mut report = GcReport {
            deletions_completed: completed.len() as u64,
            upgrade,
            ..GcReport::default()
        };

        let data = self.data_dir();
        for fan_out in list(&data)? {
            if !fan_out.is_dir() {
                continue;
            }
            let mut remaining = 0u64;
            for blob in list(&fan_out)? {
                let Ok(meta) = fs::symlink_metadata(&blob) else {
                    continue;
                };
                if meta.is_dir() {
                    remaining += 1;
                    continue;
                }
                let name = blob
                    .file_name()
                    .and_then(|n| n.to_str())
                    .unwrap_or_default();
                if live.contains(name) {
                    report.blobs_kept += 1;
                    remaining += 1;
                } else if young(&meta) {
                    report.young_kept += 1;
                    remaining += 1;
                } else {
                    remove_file(&blob)?;
                    report.blobs_removed += 1;
                    report.blob_bytes_removed += meta.len();
                }
            }
            // pcocc removes a fan-out directory once it is empty. A writer cannot be putting a
            // blob into it: writers are excluded by the lock.
            if remaining == 0 {
                match fs::remove_dir(&fan_out) {
                    Ok(()) => report.dirs_removed += 1,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(StoreError::io("remove", &fan_out, e)),
                }
            }
        }

        let tmp = self.tmp_dir();
        for entry in list(&tmp)? {
            let Ok(meta) = fs::symlink_metadata(&entry) else {
                continue;
            };
            if young(&meta) {
                report.young_kept += 1;
                continue;
            }
            if meta.is_dir() {
                report.tmp_bytes_removed += tree_size(&entry);
                make_writable(&entry);
                fs::remove_dir_all(&entry).at("remove", &entry)?;
            } else {
                report.tmp_bytes_removed += meta.len();
                remove_file(&entry)?;
            }
            report.tmp_removed += 1;
        }
        Ok(report)
    }
}

/// How long ago `meta`'s file last changed: the later of mtime and ctime (zero if in the
/// future).
fn age(meta: &fs::Metadata, now: SystemTime) -> Duration {
    let at = |secs: i64, nanos: i64| {
        let secs = u64::try_from(secs).unwrap_or(0);
        let nanos = u32::try_from(nanos).unwrap_or(0);
        UNIX_EPOCH + Duration::new(secs, nanos.min(999_999_999))
    };
    let changed = at(meta.mtime(), meta.mtime_nsec()).max(at(meta.ctime(), meta.ctime_nsec()));
    now.duration_since(changed).unwrap_or(Duration::ZERO)
}

/// The entries of `dir`, sorted; none if it does not exist.
fn list(dir: &Path) -> Result<Vec<std::path::PathBuf>> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(StoreError::io("list", dir, e)),
    };
    let mut paths = Vec::new();
    for entry in entries {
        paths.push(entry.at("list", dir)?.path());
    }
    paths.sort();
    Ok(paths)
}

fn remove_file(path: &Path) -> Result<()> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(StoreError::io("remove", path, e)),
    }
}

/// The total size of the files under `dir` (best effort).
fn tree_size(dir: &Path) -> u64 {
    let Ok(entries) = fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => tree_size(&e.path()),
            Ok(_) => e.metadata().map_or(0, |m| m.len()),
            Err(_) => 0,
        })
        .sum()
}

/// Gives the owner write and search permission on every directory under `dir` (best effort),
/// so that extracted trees with restrictive modes can be removed, as pcocc's cache does with
/// `chmod -R 700`.
fn make_writable(dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
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
