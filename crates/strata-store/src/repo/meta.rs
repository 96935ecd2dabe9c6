//! Revision records: `meta/<enc(name)>@<revision>`, one JSON file each, pcocc's bytes.
//!
//! File names: a name made only of pcocc's characters `[A-Za-z0-9_.-]` is used as it is, so
//! every pcocc repository reads as is; any other byte of the UTF-8 name is written `%XX`
//! (uppercase hex), so transient's `centos/7:2004.01` is stored as `centos%2F7%3A2004.01@0`.
//! `%` and `@` are outside pcocc's alphabet, so they are always escaped: the last `@` separates
//! the revision, and decoding is unambiguous. Only the canonical form is accepted when reading
//! (`%2f` or `%41` are not names we write), which makes the mapping one to one.
//!
//! This is not transient's backend encoding (which escapes `-` too and keeps `~`): here pcocc's
//! names must map to themselves.

use std::collections::BTreeMap;
use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use strata_model::name::NameError;
use strata_model::record::RevisionRecord;

use super::{Repository, Writer};
use crate::error::{IoContext, Result, StoreError};
use crate::fsutil;

/// Every byte but pcocc's name characters `[A-Za-z0-9_.-]`.
const ESCAPED: &AsciiSet = &NON_ALPHANUMERIC.remove(b'_').remove(b'.').remove(b'-');

/// The largest record file read. pcocc's records are a few hundred bytes; a container's OCI
/// index makes them a few KiB. The bound keeps a wrong file from exhausting memory.
pub(crate) const MAX_RECORD_LEN: u64 = 16 << 20;

/// The file name of the record of `name` at `revision`: `<enc(name)>@<revision>`.
pub fn record_file_name(name: &str, revision: u64) -> String {
    format!("{}@{revision}", encode_name(name))
}

/// `enc(name)`: the name as it appears in file names (itself if it is a valid pcocc name).
pub fn encode_name(name: &str) -> String {
    utf8_percent_encode(name, ESCAPED).to_string()
}

/// The image name and revision a record file name stands for, if it is one that
/// [`record_file_name`] writes (canonical escapes, a decimal revision without sign or leading
/// zero, a non-empty UTF-8 name).
pub fn parse_record_file_name(file_name: &str) -> Option<(String, u64)> {
    let (encoded, revision) = file_name.rsplit_once('@')?;
    if revision.is_empty()
        || !revision.bytes().all(|b| b.is_ascii_digit())
        || (revision.len() > 1 && revision.starts_with('0'))
    {
        return None;
    }
    let revision: u64 = revision.parse().ok()?;
    let name = percent_decode_str(encoded).decode_utf8().ok()?;
    if name.is_empty() || utf8_percent_encode(&name, ESCAPED).to_string() != encoded {
        return None;
    }
    Some((name.into_owned(), revision))
}

/// What [`Writer::delete_record`] does with a revision that VM instances use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeleteMode {
    /// Refuse with [`StoreError::InUse`].
    RefuseInUse,
    /// Delete the record anyway. The instances keep working: gc keeps the blobs that
    /// instances name.
    Force,
}

/// Marks a deletion in progress: `meta/.delete-<enc(name)>`, written (fsynced, renamed) before
/// the first record of a multi-revision delete is unlinked and removed after the last, so that
/// readers treat the revisions it lists as deleted whatever a crash leaves in between.
pub(crate) const DELETE_MARKER_PREFIX: &str = ".delete-";

/// The largest deletion marker read (it lists revision numbers).
const MAX_MARKER_LEN: u64 = 1 << 20;

/// A deletion marker's content.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct MarkerFile {
    name: String,
    revisions: Vec<u64>,
}

/// A deletion that did not complete: its marker and the revisions it deletes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PendingDelete {
    pub(crate) path: PathBuf,
    pub(crate) name: String,
    pub(crate) revisions: Vec<u64>,
}

/// How a repository's records are written: pcocc's JSON (version 2) or YAML (version 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RecordFormat {
    /// `json.dump`, version 2.
    Json,
    /// `yaml.safe_dump`, version 1.
    Yaml,
}

/// What `meta/` holds.
#[derive(Debug, Default)]
pub(crate) struct MetaListing {
    /// The records, sorted by name and revision, without those a pending deletion lists.
    pub(crate) entries: Vec<MetaEntry>,
    /// Other entries, which are not records (nor deletion markers).
    pub(crate) strays: Vec<PathBuf>,
    /// Deletions that did not complete.
    pub(crate) pending: Vec<PendingDelete>,
    /// Version 1 only, where a record's name is in its content: the record files that do not
    /// parse, with their errors. Every listing fails on the first, as pcocc's `load_meta` does;
    /// verify reports them all.
    pub(crate) unreadable: Vec<(PathBuf, StoreError)>,
}

impl MetaListing {
    /// The listing, or the error of its first unreadable record.
    fn readable(mut self) -> Result<MetaListing> {
        if self.unreadable.is_empty() {
            Ok(self)
        } else {
            Err(self.unreadable.swap_remove(0).1)
        }
    }
}

/// A record file found in `meta/`: its name, revision and path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MetaEntry {
    pub(crate) name: String,
    pub(crate) revision: u64,
    pub(crate) path: PathBuf,
}

impl Repository {
    /// The record of `name` at `revision` (`Object {name} revision {r} not found in repository
    /// {repo}`; a file that does not parse: `Bad metadata for {name}: {err}`).
    pub fn record(&self, name: &str, revision: u64) -> Result<RevisionRecord> {
        let path = self.record_path(name, revision);
        match read_record(&path, name, revision, self.record_format())? {
            Some(record) => Ok(record),
            None => Err(StoreError::ImageNotFound {
                name: name.to_owned(),
                revision: Some(revision),
                repo: Some(self.name.clone()),
            }),
        }
    }

    /// The record of the latest (highest) revision of `name` (pcocc's default revision).
    pub fn latest_record(&self, name: &str) -> Result<RevisionRecord> {
        let revisions = self.revisions(name)?;
        let latest = revisions.last().copied().unwrap_or_default();
        self.record(name, latest)
    }

    /// The revisions of `name`, ascending, from the file names alone (`Object {name} not found
    /// in repository {repo}` when there is none).
    pub fn revisions(&self, name: &str) -> Result<Vec<u64>> {
        let mut revisions: Vec<u64> = self
            .meta_entries()?
            .readable()?
            .entries
            .into_iter()
            .filter(|e| e.name == name)
            .map(|e| e.revision)
            .collect();
        if revisions.is_empty() {
            return Err(StoreError::ImageNotFound {
                name: name.to_owned(),
                revision: None,
                repo: Some(self.name.clone()),
            });
        }
        revisions.sort_unstable();
        Ok(revisions)
    }

    /// Every image and its revisions (ascending), from the file names alone, without reading
    /// any record (pcocc's `load_meta(shallow=True)`, with integer revisions).
    pub fn index(&self) -> Result<BTreeMap<String, Vec<u64>>> {
        let mut index: BTreeMap<String, Vec<u64>> = BTreeMap::new();
        for entry in self.meta_entries()?.readable()?.entries {
            index.entry(entry.name).or_default().push(entry.revision);
        }
        for revisions in index.values_mut() {
            revisions.sort_unstable();
        }
        Ok(index)
    }

    /// Every record, sorted by name and revision. The first record that does not parse fails
    /// the whole listing, as in pcocc (use [`Repository::verify`] to list every problem).
    pub fn records(&self) -> Result<Vec<RevisionRecord>> {
        let mut records = Vec::new();
        let format = self.record_format();
        for entry in self.meta_entries()?.readable()?.entries {
            // A record deleted since the listing is simply not listed.
            if let Some(record) = read_record(&entry.path, &entry.name, entry.revision, format)? {
                records.push(record);
            }
        }
        records.sort_by(|a, b| (&a.name, a.revision).cmp(&(&b.name, b.revision)));
        Ok(records)
    }

    /// The record files in `meta/` (sorted by name and revision) except those an interrupted
    /// deletion lists, the paths of other entries there, which are not records, and the
    /// interrupted deletions. A version 1 repository's records are read to learn their names
    /// (see `v1`).
    pub(crate) fn meta_entries(&self) -> Result<MetaListing> {
        if self.is_legacy() {
            return self.legacy_meta_entries();
        }
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
            let file_name = item.file_name();
            let file_name = file_name.to_str();
            if file_name.is_some_and(|n| n.starts_with(DELETE_MARKER_PREFIX)) {
                match read_marker(&path)? {
                    Some(pending) => listing.pending.push(pending),
                    None => listing.strays.push(path),
                }
                continue;
            }
            match file_name.and_then(parse_record_file_name) {
                Some((name, revision)) if item.file_type().at("stat", &path)?.is_file() => {
                    listing.entries.push(MetaEntry {
                        name,
                        revision,
                        path,
                    });
                }
                _ => listing.strays.push(path),
            }
        }
        let pending = &listing.pending;
        listing.entries.retain(|e| {
            !pending
                .iter()
                .any(|p| p.name == e.name && p.revisions.contains(&e.revision))
        });
        listing
            .entries
            .sort_by(|a, b| (&a.name, a.revision).cmp(&(&b.name, b.revision)));
        listing.strays.sort();
        listing.pending.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(listing)
    }

    /// The file of the record of `name` at `revision`, in the repository's layout.
    pub(crate) fn record_path(&self, name: &str, revision: u64) -> PathBuf {
        if self.is_legacy() {
            super::v1::record_path(&self.meta_dir(), name, revision)
        } else {
            self.meta_dir().join(record_file_name(name, revision))
        }
    }

    /// How this repository's records are written.
    pub(crate) fn record_format(&self) -> RecordFormat {
        if self.is_legacy() {
            RecordFormat::Yaml
        } else {
            RecordFormat::Json
        }
    }

    /// Completes every interrupted deletion: unlinks the records it lists that are still
    /// there, then its marker (under the exclusive lock, before gc counts references).
    pub(crate) fn complete_pending_deletes(&self) -> Result<Vec<PendingDelete>> {
        let pending = self.meta_entries()?.pending;
        for deletion in &pending {
            finish_delete(self, deletion)?;
        }
        Ok(pending)
    }

    /// [`Writer::commit`] in a write session of its own.
    pub fn commit(&self, record: &RevisionRecord) -> Result<()> {
        self.writer()?.commit(record)
    }

    /// [`Writer::replace_record`] in a write session of its own.
    pub fn replace_record(&self, record: &RevisionRecord) -> Result<()> {
        self.writer()?.replace_record(record)
    }

    /// [`Writer::delete_record`] in a write session of its own.
    pub fn delete_record(&self, name: &str, revision: u64, mode: DeleteMode) -> Result<()> {
        self.writer()?.delete_record(name, revision, mode)
    }
}

impl Writer<'_> {
    /// Adds a new revision record, atomically, after checking that every blob it names is in
    /// the repository (`Object {h} not found in repository {repo}`). An existing record of the
    /// same name and revision is never overwritten ([`StoreError::RecordExists`]), so two
    /// writers racing for the same next revision cannot lose one another's image.
    pub fn commit(&self, record: &RevisionRecord) -> Result<()> {
        self.write_record(record, false)
    }

    /// Writes a revision record, atomically replacing the one of the same name and revision if
    /// there is one (record-only changes: description, permissions, our `custom_meta.strata`).
    pub fn replace_record(&self, record: &RevisionRecord) -> Result<()> {
        self.write_record(record, true)
    }

    /// Deletes the records of `name` at each of `revisions`, all or none: every one must exist
    /// (`Object {name} revision {r} not found in repository {repo}`) and, unless `mode` is
    /// [`DeleteMode::Force`], none may be used by a VM instance, before anything is removed.
    /// Several revisions go through a deletion marker (see `DELETE_MARKER_PREFIX`), so a
    /// crash leaves the image whole or deleted to strata's readers, and `gc` completes it.
    /// Blobs stay until gc.
    pub fn delete_records(&self, name: &str, revisions: &[u64], mode: DeleteMode) -> Result<()> {
        self.delete_records_until(name, revisions, mode, &mut || true)
    }

    /// [`Writer::delete_records`], calling `go_on` between its durable steps and stopping
    /// where it returns `false`, as a crash would (for tests of every crash point).
    pub(crate) fn delete_records_until(
        &self,
        name: &str,
        revisions: &[u64],
        mode: DeleteMode,
        go_on: &mut dyn FnMut() -> bool,
    ) -> Result<()> {
        let repo = self.repo;
        for &revision in revisions {
            let path = repo.meta_dir().join(record_file_name(name, revision));
            if !path.is_file() {
                return Err(StoreError::ImageNotFound {
                    name: name.to_owned(),
                    revision: Some(revision),
                    repo: Some(repo.name.clone()),
                });
            }
            if mode == DeleteMode::RefuseInUse {
                let users = repo.is_in_use(name, revision)?;
                if !users.is_empty() {
                    return Err(StoreError::InUse {
                        name: name.to_owned(),
                        revision,
                        instances: users.into_iter().map(|id| id.to_string()).collect(),
                    });
                }
            }
        }
        if let [revision] = revisions {
            return self.delete_record(name, *revision, DeleteMode::Force);
        }
        let meta = repo.meta_dir();
        let marker = MarkerFile {
            name: name.to_owned(),
            revisions: revisions.to_vec(),
        };
        let target = meta.join(format!("{DELETE_MARKER_PREFIX}{}", encode_name(name)));
        let tmp_dir = repo.tmp_dir();
        let mut tmp = tempfile::Builder::new()
            .prefix("delete-")
            .tempfile_in(&tmp_dir)
            .at("create", &target)?;
        let bytes = serde_json::to_vec(&marker)
            .map_err(|e| StoreError::io("write", &target, std::io::Error::other(e)))?;
        tmp.write_all(&bytes).at("write", &target)?;
        tmp.as_file().sync_all().at("fsync", &target)?;
        let (_, tmp_path) = tmp.into_parts();
        // A marker left by an earlier interrupted delete of the same name is replaced: its
        // records are still hidden by this one or already gone.
        if let Some(earlier) = read_marker(&target)? {
            finish_delete(repo, &earlier)?;
        }
        tmp_path
            .persist(&target)
            .map_err(|e| StoreError::io("rename into", &target, e.error))?;
        fsutil::fsync_dir(&meta)?;
        let pending = PendingDelete {
            path: target,
            name: name.to_owned(),
            revisions: revisions.to_vec(),
        };
        for &revision in revisions {
            if !go_on() {
                return Ok(());
            }
            let path = meta.join(record_file_name(name, revision));
            match fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(StoreError::io("remove", &path, e)),
            }
        }
        if !go_on() {
            return Ok(());
        }
        fsutil::fsync_dir(&meta)?;
        if !go_on() {
            return Ok(());
        }
        finish_delete(repo, &pending)
    }

    /// Deletes the record of `name` at `revision` (`Object {name} revision {r} not found in
    /// repository {repo}`), refusing one that VM instances use unless `mode` is
    /// [`DeleteMode::Force`]. Blobs stay until gc.
    pub fn delete_record(&self, name: &str, revision: u64, mode: DeleteMode) -> Result<()> {
        let repo = self.repo;
        let path = repo.meta_dir().join(record_file_name(name, revision));
        let not_found = || StoreError::ImageNotFound {
            name: name.to_owned(),
            revision: Some(revision),
            repo: Some(repo.name.clone()),
        };
        if !path.is_file() {
            return Err(not_found());
        }
        if mode == DeleteMode::RefuseInUse {
            let users = repo.is_in_use(name, revision)?;
            if !users.is_empty() {
                return Err(StoreError::InUse {
                    name: name.to_owned(),
                    revision,
                    instances: users.into_iter().map(|id| id.to_string()).collect(),
                });
            }
        }
        match fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(not_found()),
            Err(e) => return Err(StoreError::io("remove", &path, e)),
        }
        fsutil::fsync_dir(&repo.meta_dir())
    }

    fn write_record(&self, record: &RevisionRecord, replace: bool) -> Result<()> {
        let repo = self.repo;
        if record.name.is_empty() {
            return Err(NameError::PcoccEmpty.into());
        }
        // Every blob must be there, and durable, before the record can be.
        let mut fan_outs = Vec::new();
        for blob in &record.data_blobs {
            let digest = blob.digest();
            if !repo.has_blob(digest) {
                return Err(StoreError::ObjectNotFound {
                    hash: digest.hex().to_owned(),
                    repo: repo.name.clone(),
                });
            }
            let fan_out = repo.data_dir().join(digest.fan_out());
            if !fan_outs.contains(&fan_out) {
                fan_outs.push(fan_out);
            }
        }
        for fan_out in &fan_outs {
            fsutil::fsync_dir(fan_out)?;
        }
        let meta = repo.meta_dir();
        fsutil::mkdir_if_missing(&meta).at("create directory", &meta)?;
        let target = meta.join(record_file_name(&record.name, record.revision));
        let exists = || StoreError::RecordExists {
            name: record.name.clone(),
            revision: record.revision,
            repo: repo.name.clone(),
        };
        if !replace && target.exists() {
            return Err(exists());
        }
        if !put_file(
            &repo.tmp_dir(),
            &target,
            record.to_pcocc_json().as_bytes(),
            replace,
        )? {
            return Err(exists());
        }
        fsutil::fsync_dir(&meta)
    }
}

/// Writes `bytes` to a new file in `tmp_dir`, fsyncs it, gives it the umask's mode (as pcocc's
/// `open(target, 'w')`; tempfile makes 0600) and renames it to `target`, replacing it if
/// `replace`; `false` when `target` exists and `replace` is not set. The caller fsyncs
/// `target`'s directory. Errors name `target`, never the scratch file.
pub(crate) fn put_file(tmp_dir: &Path, target: &Path, bytes: &[u8], replace: bool) -> Result<bool> {
    let mut tmp = tempfile::Builder::new()
        .prefix("meta-")
        .tempfile_in(tmp_dir)
        .at("create", target)?;
    tmp.write_all(bytes).at("write", target)?;
    tmp.as_file().sync_all().at("fsync", target)?;
    set_umask_mode(tmp.as_file()).at("chmod", target)?;
    let (_, tmp_path) = tmp.into_parts();
    let persisted = if replace {
        tmp_path.persist(target)
    } else {
        tmp_path.persist_noclobber(target)
    };
    match persisted {
        Ok(()) => Ok(true),
        Err(e) if !replace && e.error.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(StoreError::io("rename into", target, e.error)),
    }
}

/// The deletion marker at `path`: `None` when it is not there or does not parse (then it is a
/// stray file, which verify reports).
fn read_marker(path: &Path) -> Result<Option<PendingDelete>> {
    let file = match fs::File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(StoreError::io("open", path, e)),
    };
    let mut bytes = Vec::new();
    file.take(MAX_MARKER_LEN)
        .read_to_end(&mut bytes)
        .at("read", path)?;
    Ok(serde_json::from_slice::<MarkerFile>(&bytes)
        .ok()
        .map(|m| PendingDelete {
            path: path.to_owned(),
            name: m.name,
            revisions: m.revisions,
        }))
}

/// Unlinks what is left of `deletion`'s records, then its marker, each step made durable.
fn finish_delete(repo: &Repository, deletion: &PendingDelete) -> Result<()> {
    let meta = repo.meta_dir();
    for &revision in &deletion.revisions {
        let path = meta.join(record_file_name(&deletion.name, revision));
        match fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(StoreError::io("remove", &path, e)),
        }
    }
    fsutil::fsync_dir(&meta)?;
    match fs::remove_file(&deletion.path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(StoreError::io("remove", &deletion.path, e)),
    }
    fsutil::fsync_dir(&meta)
}

/// Gives `file` mode `0666 & !umask`, the mode `open(path, 'w')` would have given it.
fn set_umask_mode(file: &fs::File) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    file.set_permissions(fs::Permissions::from_mode(0o666 & !crate::fsutil::umask()))
}

/// Reads and parses the record file at `path`, expected to hold `name` at `revision`; `None`
/// if there is no such file.
pub(crate) fn read_record(
    path: &Path,
    name: &str,
    revision: u64,
    format: RecordFormat,
) -> Result<Option<RevisionRecord>> {
    let Some(record) = read_record_file(path, name, format)? else {
        return Ok(None);
    };
    if record.name != name || record.revision != revision {
        return Err(StoreError::BadMetadata {
            name: name.to_owned(),
            path: path.to_owned(),
            message: format!(
                "the file is named for {name}@{revision} but holds {}@{}",
                record.name, record.revision
            ),
        });
    }
    Ok(Some(record))
}

/// Reads and parses the record file at `path` (`name` is for messages only); `None` if there
/// is no such file.
pub(crate) fn read_record_file(
    path: &Path,
    name: &str,
    format: RecordFormat,
) -> Result<Option<RevisionRecord>> {
    let file = match fs::File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(StoreError::io("read", path, e)),
    };
    let mut bytes = Vec::new();
    file.take(MAX_RECORD_LEN + 1)
        .read_to_end(&mut bytes)
        .at("read", path)?;
    let bad = |message: String| StoreError::BadMetadata {
        name: name.to_owned(),
        path: path.to_owned(),
        message,
    };
    if bytes.len() as u64 > MAX_RECORD_LEN {
        return Err(bad(format!(
            "the record is larger than {MAX_RECORD_LEN} bytes"
        )));
    }
    let text = String::from_utf8(bytes).map_err(|e| bad(format!("not UTF-8 text: {e}")))?;
    let parsed = match format {
        RecordFormat::Json => RevisionRecord::from_pcocc_json(name, &text),
        RecordFormat::Yaml => RevisionRecord::from_pcocc_yaml(name, &text),
    };
    parsed.map(Some).map_err(|error| StoreError::BadRecord {
        path: path.to_owned(),
        error,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A crash at every step of deleting three revisions leaves the image whole or deleted to
    /// strata's readers (never `a@1` and `a@2` without `a@0`, as unlinking one record after the
    /// other did), verify names an interrupted deletion, and gc completes it.
    #[test]
    fn deleting_several_revisions_is_all_or_nothing_at_every_crash_point() {
        use strata_model::kind::Kind;
        for steps in 0..8 {
            let dir = tempfile::tempdir().unwrap();
            let repo = Repository::open("r", &dir.path().join("r")).unwrap();
            let writer = repo.writer().unwrap();
            let blob = writer.put_blob(&b"layer"[..], None).unwrap();
            for revision in 0..3 {
                let record = RevisionRecord::new("a", revision, Kind::Vm, "u", 1.0, [blob.clone()]);
                writer.commit(&record).unwrap();
            }
            let mut left = steps;
            let mut crash = || {
                if left == 0 {
                    return false;
                }
                left -= 1;
                true
            };
            writer
                .delete_records_until("a", &[0, 1, 2], DeleteMode::RefuseInUse, &mut crash)
                .unwrap();
            drop(writer);
            match repo.revisions("a") {
                Ok(revisions) => assert_eq!(revisions, [0, 1, 2], "after {steps} steps"),
                Err(e) => assert!(matches!(e, StoreError::ImageNotFound { .. }), "{e}"),
            }
            let listing = repo.meta_entries().unwrap();
            assert!(listing.strays.is_empty(), "after {steps} steps");
            let report = repo.verify().unwrap();
            let interrupted = report
                .problems
                .iter()
                .filter(|p| matches!(p, super::super::Problem::InterruptedDelete { .. }))
                .count();
            assert_eq!(interrupted, listing.pending.len(), "after {steps} steps");
            assert_eq!(report.problems.len(), interrupted, "{report:?}");
            let gc = repo.gc(std::time::Duration::ZERO).unwrap();
            assert_eq!(gc.deletions_completed, listing.pending.len() as u64);
            assert!(repo.verify().unwrap().is_clean());
            assert!(repo.meta_entries().unwrap().pending.is_empty());
            if repo.revisions("a").is_err() {
                assert_eq!(fs::read_dir(repo.meta_dir()).unwrap().count(), 0);
                assert_eq!(gc.blobs_removed, 1, "after {steps} steps");
            }
        }
    }

    #[test]
    fn file_names() {
        for (name, file) in [
            ("centos7-cloud", "centos7-cloud@1"),
            ("a_b.c-d", "a_b.c-d@1"),
            ("centos/7:2004.01", "centos%2F7%3A2004.01@1"),
            ("50%", "50%25@1"),
            ("a@b", "a%40b@1"),
            ("with space", "with%20space@1"),
            ("é~", "%C3%A9%7E@1"),
        ] {
            assert_eq!(record_file_name(name, 1), file);
            assert_eq!(
                parse_record_file_name(file),
                Some((name.to_owned(), 1)),
                "{file}"
            );
        }
        for bad in [
            "x", "x@", "@1", "x@01", "x@-1", "x@+1", "x@1a", "%2f@1", "%41@1", "a%2@1", "%C3@1",
        ] {
            assert_eq!(parse_record_file_name(bad), None, "{bad}");
        }
        assert_eq!(parse_record_file_name("x@0"), Some(("x".to_owned(), 0)));
        assert_eq!(
            parse_record_file_name("x@18446744073709551615"),
            Some(("x".to_owned(), u64::MAX))
        );
        assert_eq!(parse_record_file_name("x@18446744073709551616"), None);
    }

    proptest::proptest! {
        #[test]
        fn file_names_round_trip(name in "\\PC{1,40}", revision: u64) {
            let file = record_file_name(&name, revision);
            proptest::prop_assert_eq!(parse_record_file_name(&file), Some((name.clone(), revision)));
            proptest::prop_assert_eq!(file.matches('@').count(), 1);
            if strata_model::name::is_pcocc_safe(&name) {
                proptest::prop_assert_eq!(file, format!("{name}@{revision}"));
            }
        }
    }
}
