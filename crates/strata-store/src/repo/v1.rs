//! pcocc's version 1 layout: reading it, and upgrading it to version 2.
//!
//! A version 1 repository (`.config` says `version: 1`, pcocc before 0.6) differs from
//! version 2 only in `meta/`: each revision's record is YAML (`yaml.safe_dump`) at
//! `meta/<h[0:2]>/<h>`, where `h` is the sha256 hex of `"{name}\n{revision}"` (ASCII only:
//! Python's `encode('ascii', 'ignore')`). The name and revision are in the record alone, so a
//! listing reads every record, as pcocc's `load_meta` does; a record that does not parse fails
//! the listing, as in pcocc.
//!
//! # Upgrade
//!
//! pcocc's `repo gc` upgrades: it moves `meta/` to `meta.old/`, writes each record as JSON in
//! a new `meta/`, then `.config`; a crash in between leaves a repository that lists nothing.
//! strata's upgrade ([`Repository::gc`], under the exclusive lock) orders the same steps so
//! that `.config` is the single commit point:
//!
//! 1. Every record is read; one that does not parse stops the upgrade before anything changes.
//! 2. Top-level record files in `meta/` that are not among them (left by an earlier
//!    interrupted upgrade, of revisions deleted since) are removed. Version 1 readers never
//!    look at top-level files (pcocc globs `meta/*/*`), so nothing they see changes.
//! 3. Each record is written as version 2 JSON to `meta/<enc(name)>@<revision>` (a temporary
//!    file fsynced and renamed, replacing), then `meta/` is fsynced. Still invisible to
//!    version 1 readers.
//! 4. **Commit:** `.config` is replaced by `version: 2` (temporary file, fsync, rename, fsync
//!    of the repository directory). Before this rename the repository is version 1 with all its
//!    records; after it, version 2 with all its records.
//! 5. The version 1 fan-out directories move from `meta/` to `meta.old/` (pcocc's backup
//!    name). Until they do, strata's version 2 readers skip them, but pcocc's own version 2
//!    reader fails on them; `repo verify` reports them and the next gc finishes the move.
//!
//! Records naming blobs that are missing are carried over as they are (pcocc's `put_meta`
//! would refuse the whole upgrade): the repository is no worse, and strata's version 2 tools
//! (verify, delete) can then deal with them.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;

use sha2::{Digest as _, Sha256};
use strata_model::record::RevisionRecord;

use super::meta::{
    MetaEntry, MetaListing, RecordFormat, parse_record_file_name, put_file, read_record_file,
    record_file_name,
};
use super::{CONFIG_BYTES, REPO_VERSION, Repository, validate_config};
use crate::error::{IoContext, Result, StoreError};
use crate::fsutil;

/// Where pcocc keeps the version 1 records after an upgrade, beside `meta/`.
const BACKUP_DIR: &str = "meta.old";

/// What an upgrade from version 1 did ([`GcReport::upgrade`](super::GcReport::upgrade)).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Upgrade {
    /// Records converted from YAML to JSON (0 when gc only finished an interrupted upgrade).
    pub records: u64,
    /// Version 1 fan-out directories moved out of `meta/`.
    pub dirs_moved: u64,
    /// Where they went: `meta.old/`.
    pub backup: PathBuf,
}

/// `meta/<h[0:2]>/<h>` for `name` at `revision`.
pub(crate) fn record_path(meta: &Path, name: &str, revision: u64) -> PathBuf {
    let text = format!("{name}\n{revision}");
    let ascii: Vec<u8> = text.bytes().filter(u8::is_ascii).collect();
    let h = hex::encode(Sha256::digest(&ascii));
    meta.join(&h[..2]).join(h)
}

/// Whether a directory in `meta/` is a version 1 fan-out directory (two lowercase hex digits).
pub(crate) fn is_fan_out_name(name: &str) -> bool {
    name.len() == 2
        && name
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

impl Repository {
    /// The records of a version 1 repository (read to learn their names), the other entries of
    /// `meta/`, and the records that do not parse.
    pub(crate) fn legacy_meta_entries(&self) -> Result<MetaListing> {
        let meta = self.meta_dir();
        let mut listing = MetaListing::default();
        let dir = match fs::read_dir(&meta) {
            Ok(dir) => dir,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(listing),
            Err(e) => return Err(StoreError::io("list", &meta, e)),
        };
        for item in dir {
            let item = item.at("list", &meta)?;
            let path = item.path();
            let hidden = item.file_name().to_string_lossy().starts_with('.');
            if hidden || !item.file_type().at("stat", &path)?.is_dir() {
                listing.strays.push(path);
                continue;
            }
            for file in fs::read_dir(&path).at("list", &path)? {
                let file = file.at("list", &path)?;
                let file_path = file.path();
                let file_name = file.file_name().to_string_lossy().into_owned();
                if file_name.starts_with('.') || !file.file_type().at("stat", &file_path)?.is_file()
                {
                    listing.strays.push(file_path);
                    continue;
                }
                match read_record_file(&file_path, &file_name, RecordFormat::Yaml) {
                    // A record pcocc would not find under its name is not one of its revisions.
                    Ok(Some(record))
                        if record_path(&meta, &record.name, record.revision) == file_path =>
                    {
                        listing.entries.push(MetaEntry {
                            name: record.name,
                            revision: record.revision,
                            path: file_path,
                        });
                    }
                    Ok(Some(_)) => listing.strays.push(file_path),
                    Ok(None) => {}
                    Err(e) => listing.unreadable.push((file_path, e)),
                }
            }
        }
        listing
            .entries
            .sort_by(|a, b| (&a.name, a.revision).cmp(&(&b.name, b.revision)));
        listing.strays.sort();
        listing.unreadable.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(listing)
    }

    /// Upgrades a version 1 repository to version 2 (see the module documentation), or
    /// finishes an upgrade a crash interrupted; `None` when there was nothing to do. The caller
    /// holds the exclusive lock.
    pub(crate) fn upgrade_locked(&self) -> Result<Option<Upgrade>> {
        self.upgrade_until(&mut || true)
    }

    /// [`Repository::upgrade_locked`], calling `proceed` before each step that changes the
    /// disk and stopping there, as a crash would, when it returns `false` (tests crash the
    /// upgrade at every step this way).
    fn upgrade_until(&self, proceed: &mut dyn FnMut() -> bool) -> Result<Option<Upgrade>> {
        // Another process may have upgraded it since this handle was opened.
        if self.is_legacy() && validate_config(&self.name, &self.root)? == REPO_VERSION {
            self.version.store(REPO_VERSION, Ordering::Release);
        }
        if !self.is_legacy() {
            let backup = self.root.join(BACKUP_DIR);
            let dirs_moved = self.move_fan_outs(&backup, proceed)?;
            return Ok((dirs_moved > 0).then_some(Upgrade {
                records: 0,
                dirs_moved,
                backup,
            }));
        }
        tracing::warn!(repo = %self.name, "Upgrading repository");
        let listing = self.legacy_meta_entries()?;
        if let Some((_, error)) = listing.unreadable.into_iter().next() {
            return Err(error);
        }
        let mut records: Vec<RevisionRecord> = Vec::with_capacity(listing.entries.len());
        for entry in &listing.entries {
            if let Some(record) = read_record_file(&entry.path, &entry.name, RecordFormat::Yaml)? {
                records.push(record);
            }
        }
        let meta = self.meta_dir();
        let tmp = self.tmp_dir();
        fsutil::mkdir_if_missing(&tmp).at("create directory", &tmp)?;
        // 2. Leftovers of an earlier attempt that no record stands for any more.
        for stray in &listing.strays {
            let is_leftover = stray.parent() == Some(meta.as_path())
                && stray.is_file()
                && stray
                    .file_name()
                    .and_then(|n| n.to_str())
                    .and_then(parse_record_file_name)
                    .is_some_and(|(name, revision)| {
                        !records
                            .iter()
                            .any(|r| r.name == name && r.revision == revision)
                    });
            if is_leftover {
                if !proceed() {
                    return Ok(None);
                }
                fs::remove_file(stray).at("remove", stray)?;
            }
        }
        // 3. The version 2 records, beside the version 1 directories.
        for record in &records {
            let target = meta.join(record_file_name(&record.name, record.revision));
            if !proceed() {
                return Ok(None);
            }
            put_file(&tmp, &target, record.to_pcocc_json().as_bytes(), true)?;
        }
        fsutil::fsync_dir(&meta)?;
        // 4. The commit point.
        if !proceed() {
            return Ok(None);
        }
        put_file(&tmp, &self.root.join(".config"), CONFIG_BYTES, true)?;
        fsutil::fsync_dir(&self.root)?;
        self.version.store(REPO_VERSION, Ordering::Release);
        // 5. The version 1 directories out of the way.
        let backup = self.root.join(BACKUP_DIR);
        let dirs_moved = self.move_fan_outs(&backup, proceed)?;
        Ok(Some(Upgrade {
            records: records.len() as u64,
            dirs_moved,
            backup,
        }))
    }

    /// Moves version 1 fan-out directories from `meta/` of a version 2 repository to `backup`
    /// (a name taken there gets a numbered suffix); returns how many moved.
    fn move_fan_outs(&self, backup: &Path, proceed: &mut dyn FnMut() -> bool) -> Result<u64> {
        let meta = self.meta_dir();
        let fan_outs = self.legacy_fan_outs()?;
        if fan_outs.is_empty() {
            return Ok(0);
        }
        if fsutil::mkdir_if_missing(backup).at("create directory", backup)? {
            fsutil::fsync_dir(&self.root)?;
        }
        let mut moved = 0;
        for dir in &fan_outs {
            if !proceed() {
                break;
            }
            let name = dir.file_name().unwrap_or_default().to_string_lossy();
            let mut target = backup.join(name.as_ref());
            let mut n = 1u32;
            while target.exists() {
                target = backup.join(format!("{name}.{n}"));
                n += 1;
            }
            fs::rename(dir, &target).at("rename into", &target)?;
            moved += 1;
        }
        fsutil::fsync_dir(backup)?;
        fsutil::fsync_dir(&meta)?;
        Ok(moved)
    }

    /// The version 1 fan-out directories in `meta/` of a version 2 repository: what an
    /// interrupted upgrade leaves.
    pub(crate) fn legacy_fan_outs(&self) -> Result<Vec<PathBuf>> {
        let meta = self.meta_dir();
        let dir = match fs::read_dir(&meta) {
            Ok(dir) => dir,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(StoreError::io("list", &meta, e)),
        };
        let mut found = Vec::new();
        for item in dir {
            let item = item.at("list", &meta)?;
            if is_fan_out_name(&item.file_name().to_string_lossy())
                && item.file_type().at("stat", &item.path())?.is_dir()
            {
                found.push(item.path());
            }
        }
        found.sort();
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_paths_are_pcoccs_hash() {
        // hashlib.sha256(b'centos7\n0').hexdigest()
        let path = record_path(Path::new("meta"), "centos7", 0);
        let h = hex::encode(Sha256::digest(b"centos7\n0"));
        assert_eq!(path, Path::new("meta").join(&h[..2]).join(&h));
        // Non-ASCII characters are dropped before hashing, as encode('ascii', 'ignore') does.
        assert_eq!(
            record_path(Path::new("m"), "cé", 1),
            record_path(Path::new("m"), "c", 1)
        );
    }

    /// Writes `record` as pcocc's version 1 `put_meta` does (`yaml.safe_dump`, PyYAML < 5.1's
    /// flow style for the nested collections, at the hashed path).
    fn put_v1(root: &Path, name: &str, revision: u64, blob: &str) {
        let path = record_path(&root.join("meta"), name, revision);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        let yaml = format!(
            "custom_meta: {{}}\ndata_blobs: [{blob}]\nkind: vm\nname: {name}\nowner: jdoe\nrevision: {revision}\ntimestamp: 1533305394.12\n"
        );
        fs::write(path, yaml).unwrap();
    }

    /// A version 1 repository with `a@0`, `a@1`, `b@0` on one blob.
    fn v1_repo(dir: &Path) -> (PathBuf, String) {
        let root = dir.join("r");
        let repo = Repository::open("r", &root).unwrap();
        let blob = repo
            .writer()
            .unwrap()
            .put_blob(&b"layer"[..], None)
            .unwrap();
        let hex = blob.hex().to_owned();
        fs::write(root.join(".config"), "version: 1\n").unwrap();
        for (name, revision) in [("a", 0), ("a", 1), ("b", 0)] {
            put_v1(&root, name, revision, &hex);
        }
        (root, hex)
    }

    fn names(repo: &Repository) -> Vec<(String, u64)> {
        repo.records()
            .unwrap()
            .into_iter()
            .map(|r| (r.name, r.revision))
            .collect()
    }

    /// A crash at every step of the upgrade leaves a repository that lists the same records,
    /// in version 1 before the commit and version 2 after; verify names what the crash left
    /// after the commit, and the next gc completes the upgrade.
    #[test]
    fn upgrading_is_safe_at_every_crash_point() {
        let all = vec![
            ("a".to_owned(), 0),
            ("a".to_owned(), 1),
            ("b".to_owned(), 0),
        ];
        // 3 records, the commit, 3 fan-out directories (one per record: distinct hashes).
        for steps in 0..8 {
            let dir = tempfile::tempdir().unwrap();
            let (root, _) = v1_repo(dir.path());
            let repo = Repository::open("r", &root).unwrap();
            assert!(repo.is_legacy());
            assert_eq!(names(&repo), all);
            let mut left = steps;
            let outcome = repo
                .upgrade_until(&mut || {
                    if left == 0 {
                        return false;
                    }
                    left -= 1;
                    true
                })
                .unwrap();
            assert_eq!(outcome.is_some(), steps >= 4, "steps {steps}");

            // What a process opening the repository after the crash sees.
            let reopened = Repository::open("r", &root).unwrap();
            assert_eq!(reopened.is_legacy(), steps < 4, "steps {steps}");
            assert_eq!(names(&reopened), all, "steps {steps}");
            let problems = reopened.verify().unwrap().problems;
            let interrupted = problems
                .iter()
                .filter(|p| matches!(p, super::super::Problem::InterruptedUpgrade { .. }))
                .count();
            assert_eq!(
                interrupted,
                if steps < 4 { 0 } else { 7 - steps },
                "steps {steps}"
            );

            let report = reopened.gc(std::time::Duration::ZERO).unwrap();
            assert_eq!(report.upgrade.is_some(), steps < 7, "steps {steps}");
            let done = Repository::open("r", &root).unwrap();
            assert!(!done.is_legacy());
            assert_eq!(names(&done), all, "steps {steps}");
            assert!(done.verify().unwrap().is_clean(), "steps {steps}");
            assert_eq!(fs::read(root.join(".config")).unwrap(), b"version: 2\n");
            assert_eq!(fs::read_dir(root.join("meta.old")).unwrap().count(), 3);
            assert!(done.has_blob(done.record("a", 1).unwrap().data_blobs[0].digest()));
        }
    }

    /// A revision that pcocc deletes after an interrupted upgrade wrote its version 2 record
    /// does not come back when gc upgrades again.
    #[test]
    fn a_revision_deleted_since_an_interrupted_upgrade_stays_deleted() {
        let dir = tempfile::tempdir().unwrap();
        let (root, _) = v1_repo(dir.path());
        let repo = Repository::open("r", &root).unwrap();
        let mut left = 3;
        repo.upgrade_until(&mut || {
            if left == 0 {
                return false;
            }
            left -= 1;
            true
        })
        .unwrap();
        assert!(root.join("meta/b@0").is_file());
        // pcocc image delete b: unlinks the version 1 record (and its emptied directory).
        let v1 = record_path(&root.join("meta"), "b", 0);
        fs::remove_file(&v1).unwrap();
        fs::remove_dir(v1.parent().unwrap()).unwrap();
        let repo = Repository::open("r", &root).unwrap();
        assert_eq!(names(&repo).len(), 2);
        let report = repo.gc(std::time::Duration::ZERO).unwrap();
        assert_eq!(report.upgrade.map(|u| u.records), Some(2));
        assert!(!root.join("meta/b@0").exists());
        assert_eq!(
            names(&Repository::open("r", &root).unwrap()),
            vec![("a".to_owned(), 0), ("a".to_owned(), 1)]
        );
    }

    #[test]
    fn fan_out_names() {
        assert!(is_fan_out_name("0a"));
        assert!(!is_fan_out_name("0A"));
        assert!(!is_fan_out_name("abc"));
        assert!(!is_fan_out_name("a@"));
    }
}
