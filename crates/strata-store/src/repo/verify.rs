//! [`Repository::verify`]: rehash every blob, check every record, and report every problem as
//! data ([`VerifyReport`]), not as text.
//!
//! Checking that each VM revision's qcow2 chain resolves (every layer's backing file is the
//! blob below it, by pcocc's relative path) needs a qcow2 reader, which lives in `strata-disk`.
//! That check plugs in through [`ChainCheck`]: [`Qcow2Chains`] implements it with
//! `strata-disk`, and [`Repository::verify_with`] takes it. [`Repository::verify`] checks no
//! chain ([`VerifyReport::chains_checked`] is then `false`).

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use strata_model::digest::Digest;
use strata_model::record::RevisionRecord;

use super::Repository;
use crate::error::{Result, StoreError};
use crate::fsutil;

/// A check of one revision's layer chain, supplied by a crate that can read qcow2.
pub trait ChainCheck {
    /// The problems of `record`'s chain in `repo`, as sentences (empty when the chain is
    /// sound). Called only for records whose blobs are all present.
    fn check_chain(&self, repo: &Repository, record: &RevisionRecord) -> Vec<String>;
}

/// The [`ChainCheck`] on `strata-disk`: opens each VM revision's top blob with backing files
/// allowed only under `data/`, and checks that layer `i`'s backing file is recorded as
/// `../../data/<xx>/<h>` of blob `i - 1` with format qcow2, and that the bottom layer has none.
/// Container revisions are not chains and are skipped.
#[derive(Debug, Clone, Copy, Default)]
pub struct Qcow2Chains;

impl ChainCheck for Qcow2Chains {
    fn check_chain(&self, repo: &Repository, record: &RevisionRecord) -> Vec<String> {
        use strata_model::format::DiskFormat;
        if record.kind != strata_model::kind::Kind::Vm {
            return Vec::new();
        }
        let blobs = &record.data_blobs;
        let Some(top) = blobs.last() else {
            return Vec::new();
        };
        let options = strata_disk::OpenOptions {
            format: Some(DiskFormat::Qcow2),
            allowed_dirs: vec![repo.data_dir()],
            // The record lists every layer, so the chain may be as deep as it says; one more
            // level is followed so that a layer the record forgot is reported below.
            max_depth: blobs.len(),
            ..strata_disk::OpenOptions::default()
        };
        let opened = match strata_disk::open(&repo.blob_path(top.digest()), &options) {
            Ok(opened) => opened,
            Err(e) => return vec![format!("the chain does not open: {e}")],
        };
        let mut problems = Vec::new();
        let mut image: &dyn strata_disk::DiskImage = &*opened.image;
        for (i, blob) in blobs.iter().enumerate().rev() {
            let below = i.checked_sub(1).map(|j| &blobs[j]);
            match (image.backing_file(), below) {
                (None, None) => {}
                (Some(backing), Some(below)) => {
                    let expected = Repository::relative_blob_path(below.digest());
                    if std::path::Path::new(&backing.name) != expected {
                        problems.push(format!(
                            "layer {i} ({}) is backed by {:?}, not {}",
                            blob.digest(),
                            backing.name,
                            expected.display()
                        ));
                    }
                    if backing.format != Some(DiskFormat::Qcow2) {
                        problems.push(format!(
                            "layer {i} ({}) does not record its backing file as qcow2",
                            blob.digest()
                        ));
                    }
                }
                (Some(backing), None) => problems.push(format!(
                    "the bottom layer ({}) has a backing file {:?}",
                    blob.digest(),
                    backing.name
                )),
                (None, Some(_)) => problems.push(format!(
                    "layer {i} ({}) has no backing file, but {i} layers lie below it",
                    blob.digest()
                )),
            }
            match image.backing() {
                Some(next) => image = next,
                None => break,
            }
        }
        problems
    }
}

/// One thing wrong in a repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// A blob's bytes do not hash to its name.
    BlobMismatch {
        /// The blob file.
        path: PathBuf,
        /// The digest its name says.
        expected: Digest,
        /// The digest of its bytes.
        actual: Digest,
    },
    /// A blob could not be read.
    UnreadableBlob {
        /// The blob file.
        path: PathBuf,
        /// What the operating system said.
        error: String,
    },
    /// A blob has a write permission bit (blobs are 0444).
    WritableBlob {
        /// The blob file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// A file under `data/` that is not a blob: its name is not a sha256 hex digest, or it is
    /// in the wrong fan-out directory, or it is not a regular file.
    StrayData {
        /// The file.
        path: PathBuf,
    },
    /// A file in `meta/` whose name is not `<enc(name)>@<revision>`.
    StrayMeta {
        /// The file.
        path: PathBuf,
    },
    /// A version 1 fan-out directory left in `meta/` of a version 2 repository by an upgrade
    /// that a crash interrupted after its commit: strata skips it, pcocc fails on it. `repo gc`
    /// moves it to `meta.old/`.
    InterruptedUpgrade {
        /// The directory.
        path: PathBuf,
    },
    /// A deletion of several revisions that a crash interrupted: strata treats the revisions
    /// as deleted, but records of them may remain for other readers (pcocc). `repo gc`
    /// completes it.
    InterruptedDelete {
        /// The deletion's marker.
        path: PathBuf,
        /// The image.
        name: String,
        /// The revisions it deletes.
        revisions: Vec<u64>,
    },
    /// A record that does not parse or contradicts its file name.
    BadRecord {
        /// The record file.
        path: PathBuf,
        /// The error text (`Bad metadata for {name}: {err}`).
        message: String,
    },
    /// A record names a blob that is not in the repository.
    MissingBlob {
        /// The image name.
        name: String,
        /// The revision.
        revision: u64,
        /// The missing blob.
        digest: Digest,
    },
    /// A container revision whose OCI index or manifests are wrong, or name a blob that its
    /// `data_blobs` does not list (gc, pcocc's too, would remove it).
    Container {
        /// The image name.
        name: String,
        /// The revision.
        revision: u64,
        /// What is wrong.
        message: String,
    },
    /// [`ChainCheck`] found a problem in a revision's layer chain.
    Chain {
        /// The image name.
        name: String,
        /// The revision.
        revision: u64,
        /// What is wrong.
        message: String,
    },
}

/// What [`Repository::verify`] checked and found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VerifyReport {
    /// Blobs rehashed.
    pub blobs_checked: u64,
    /// Bytes rehashed (holes count as their length).
    pub bytes_checked: u64,
    /// Records read.
    pub records_checked: u64,
    /// Whether layer chains were checked (a [`ChainCheck`] was given).
    pub chains_checked: bool,
    /// Every problem found, blobs first, then records.
    pub problems: Vec<Problem>,
    /// Garbage, not a problem: blobs that no record and no instance names (an import a crash
    /// cut between its blobs and its record, or a deleted image), which gc removes.
    pub unreferenced_blobs: u64,
    /// Their total size in bytes.
    pub unreferenced_bytes: u64,
    /// Garbage, not a problem: entries of `.tmp/` (writes in progress, or cut by a crash),
    /// which gc removes.
    pub tmp_entries: u64,
}

impl VerifyReport {
    /// Whether nothing is wrong.
    pub fn is_clean(&self) -> bool {
        self.problems.is_empty()
    }
}

impl Repository {
    /// Rehashes every blob (streaming, one 1 MiB buffer) and checks every record; layer chains
    /// are not checked (see [`Repository::verify_with`]). Takes no lock: blobs that gc removes
    /// meanwhile are skipped.
    pub fn verify(&self) -> Result<VerifyReport> {
        self.verify_with(None)
    }

    /// [`Repository::verify`], also checking each complete revision's layer chain with `chain`.
    pub fn verify_with(&self, chain: Option<&dyn ChainCheck>) -> Result<VerifyReport> {
        let mut report = VerifyReport {
            chains_checked: chain.is_some(),
            ..VerifyReport::default()
        };
        let present = self.verify_blobs(&mut report)?;
        let mut referenced: std::collections::HashSet<Digest> = self
            .instances()?
            .into_iter()
            .flat_map(|instance| instance.blobs)
            .collect();
        let listing = self.meta_entries()?;
        let fan_outs = if self.is_legacy() {
            Vec::new()
        } else {
            self.legacy_fan_outs()?
        };
        report
            .problems
            .extend(listing.strays.into_iter().map(|path| {
                if fan_outs.contains(&path) {
                    Problem::InterruptedUpgrade { path }
                } else {
                    Problem::StrayMeta { path }
                }
            }));
        report
            .problems
            .extend(
                listing
                    .unreadable
                    .into_iter()
                    .map(|(path, error)| Problem::BadRecord {
                        path,
                        message: error.to_string(),
                    }),
            );
        report.problems.extend(
            listing
                .pending
                .into_iter()
                .map(|p| Problem::InterruptedDelete {
                    path: p.path,
                    name: p.name,
                    revisions: p.revisions,
                }),
        );
        for entry in listing.entries {
            let record = match super::meta::read_record(
                &entry.path,
                &entry.name,
                entry.revision,
                self.record_format(),
            ) {
                Ok(Some(record)) => record,
                Ok(None) => continue,
                Err(e @ (StoreError::BadRecord { .. } | StoreError::BadMetadata { .. })) => {
                    report.problems.push(Problem::BadRecord {
                        path: entry.path,
                        message: e.to_string(),
                    });
                    continue;
                }
                Err(e) => return Err(e),
            };
            report.records_checked += 1;
            referenced.extend(record.data_blobs.iter().map(|b| b.digest().clone()));
            let mut complete = true;
            for blob in &record.data_blobs {
                if !self.has_blob(blob.digest()) {
                    complete = false;
                    report.problems.push(Problem::MissingBlob {
                        name: record.name.clone(),
                        revision: record.revision,
                        digest: blob.digest().clone(),
                    });
                }
            }
            if record.kind == strata_model::kind::Kind::Ctr {
                self.verify_container(&record, &mut report);
            }
            if let Some(chain) = chain.filter(|_| complete) {
                for message in chain.check_chain(self, &record) {
                    report.problems.push(Problem::Chain {
                        name: record.name.clone(),
                        revision: record.revision,
                        message,
                    });
                }
            }
        }
        for (digest, len) in &present {
            if !referenced.contains(digest) {
                report.unreferenced_blobs += 1;
                report.unreferenced_bytes += len;
            }
        }
        let tmp = self.tmp_dir();
        report.tmp_entries = match fs::read_dir(&tmp) {
            Ok(dir) => dir.count() as u64,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
            Err(e) => return Err(StoreError::io("list", &tmp, e)),
        };
        Ok(report)
    }

    /// Checks that every digest a container revision's OCI index and manifests name exists
    /// and is listed in its `data_blobs`.
    fn verify_container(&self, record: &RevisionRecord, report: &mut VerifyReport) {
        let (digests, problems) = self.container_references(record);
        let problem = |message: String| Problem::Container {
            name: record.name.clone(),
            revision: record.revision,
            message,
        };
        report.problems.extend(problems.into_iter().map(problem));
        let mut reported: Vec<&Digest> = Vec::new();
        for digest in &digests {
            if reported.contains(&digest) {
                continue;
            }
            reported.push(digest);
            let listed = record.data_blobs.iter().any(|b| b.digest() == digest);
            if !listed {
                report.problems.push(problem(format!(
                    "{} is referenced but not listed in data_blobs",
                    digest.prefixed()
                )));
                if !self.has_blob(digest) {
                    report.problems.push(Problem::MissingBlob {
                        name: record.name.clone(),
                        revision: record.revision,
                        digest: digest.clone(),
                    });
                }
            }
        }
    }

    /// Rehashes every blob into `report`; returns the blobs found, with their sizes.
    fn verify_blobs(&self, report: &mut VerifyReport) -> Result<Vec<(Digest, u64)>> {
        let mut present = Vec::new();
        let data = self.data_dir();
        let fan_outs = match fs::read_dir(&data) {
            Ok(dir) => dir,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(present),
            Err(e) => return Err(StoreError::io("list", &data, e)),
        };
        let mut fan_outs: Vec<PathBuf> = fan_outs.flatten().map(|e| e.path()).collect();
        fan_outs.sort();
        for fan_out in fan_outs {
            let Ok(blobs) = fs::read_dir(&fan_out) else {
                report.problems.push(Problem::StrayData { path: fan_out });
                continue;
            };
            let mut blobs: Vec<PathBuf> = blobs.flatten().map(|e| e.path()).collect();
            blobs.sort();
            let fan_name = fan_out
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default();
            for path in blobs {
                let expected = path
                    .file_name()
                    .and_then(|n| n.to_str())
                    .filter(|n| !n.contains(':'))
                    .and_then(|n| n.parse::<Digest>().ok())
                    .filter(|d| d.fan_out() == fan_name);
                let meta = fs::symlink_metadata(&path);
                let (Some(expected), Ok(meta)) = (expected, meta) else {
                    report.problems.push(Problem::StrayData { path });
                    continue;
                };
                if !meta.is_file() {
                    report.problems.push(Problem::StrayData { path });
                    continue;
                }
                let mode = meta.permissions().mode() & 0o7777;
                if mode & 0o222 != 0 {
                    report.problems.push(Problem::WritableBlob {
                        path: path.clone(),
                        mode,
                    });
                }
                match fsutil::hash_file(&path) {
                    Ok((actual, len)) => {
                        report.blobs_checked += 1;
                        report.bytes_checked += len;
                        present.push((expected.clone(), len));
                        if actual != expected {
                            report.problems.push(Problem::BlobMismatch {
                                path,
                                expected,
                                actual,
                            });
                        }
                    }
                    Err(StoreError::Io { source, .. })
                        if source.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => {
                        let error = match &e {
                            StoreError::Io { source, .. } => source.to_string(),
                            other => other.to_string(),
                        };
                        report
                            .problems
                            .push(Problem::UnreadableBlob { path, error });
                    }
                }
            }
        }
        Ok(present)
    }
}
