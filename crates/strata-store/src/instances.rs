//! VM instances: which image revision a running (or stopped) VM's overlay stands on, recorded
//! in the repository so that deleting or collecting that revision can be refused or made safe.
//!
//! # Where and why
//!
//! One JSON file per instance, `<repo>/.instances/<id>.json`:
//!
//! - **In the repository**, not next to the VM: gc and delete run against the repository and
//!   must see every user of its blobs, whichever front end, vmstore or node created the VM
//!   (transient's in-use check scans one vmstore only and misses the others, its issue #153).
//!   On a shared filesystem the files are seen cluster-wide.
//! - **A dot directory**: pcocc's globs skip it, so a repository with instances still opens in
//!   pcocc.
//! - **One file per instance**, created by an atomic no-replace rename from `.tmp/` (same
//!   filesystem): creating instances never contends, a reader sees a file whole or not at all,
//!   and two VMs cannot take the same id.
//!
//! # Order of operations
//!
//! [`Repository::create_instance_with`] writes the instance record **before** the overlay
//! exists (then creates the overlay with an [`OverlayCreator`], normally [`Qcow2Overlays`] on
//! `strata-disk`'s qcow2 writer), and [`Repository::remove_instance`] is to be called **after** the overlay is gone,
//! so that at any instant an overlay that exists is pinned. gc keeps every blob an instance
//! names, even if its record was deleted by force.
//!
//! A repository the user may not write (a system repository) cannot hold instance records:
//! [`Repository::create_instance`] then fails with a permission error, and the caller decides
//! whether to run the VM unpinned, as pcocc always does.

use std::fmt;
use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use strata_model::digest::Digest;
use strata_model::format::DiskFormat;

use crate::error::{IoContext, Result, StoreError};
use crate::fsutil;
use crate::repo::Repository;

/// The directory of instance records, inside the repository.
pub const INSTANCES_DIR: &str = ".instances";

/// The largest instance file read (they are a few hundred bytes).
const MAX_INSTANCE_LEN: u64 = 1 << 20;

/// An instance's id: `[A-Za-z0-9_.-]+`, not starting with `.` (its file name is `<id>.json`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct InstanceId(String);

impl InstanceId {
    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for InstanceId {
    type Err = StoreError;

    fn from_str(s: &str) -> Result<InstanceId> {
        if s.is_empty() || s.starts_with('.') || !strata_model::name::is_pcocc_safe(s) {
            return Err(StoreError::InvalidInstanceId { id: s.to_owned() });
        }
        Ok(InstanceId(s.to_owned()))
    }
}

impl TryFrom<String> for InstanceId {
    type Error = StoreError;

    fn try_from(s: String) -> Result<InstanceId> {
        s.parse()
    }
}

impl From<InstanceId> for String {
    fn from(id: InstanceId) -> String {
        id.0
    }
}

impl fmt::Display for InstanceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What an instance stands on: the contents of `.instances/<id>.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Instance {
    /// The instance's id.
    pub id: InstanceId,
    /// The repository name, as configured when the instance was created.
    pub repo: String,
    /// The image name.
    pub name: String,
    /// The image revision.
    pub revision: u64,
    /// The top blob: the overlay's backing file.
    pub top: Digest,
    /// Every blob of the revision (bottom first), all of which gc keeps.
    pub blobs: Vec<Digest>,
    /// The overlay file, absolute.
    pub overlay: PathBuf,
    /// Who created the instance.
    pub owner: String,
    /// When, in seconds since the epoch.
    pub created: f64,
}

/// Creates a qcow2 overlay. [`Qcow2Overlays`] does it with `strata-disk`; tests and embedders
/// may supply their own.
pub trait OverlayCreator {
    /// Creates `overlay` as a qcow2 image whose backing file is `backing` (an absolute path to
    /// the top blob) of format `backing_format`, with the backing file's virtual size.
    fn create_overlay(
        &self,
        overlay: &Path,
        backing: &Path,
        backing_format: DiskFormat,
    ) -> std::result::Result<(), Box<dyn std::error::Error + Send + Sync>>;
}

/// The [`OverlayCreator`] on `strata-disk`'s qcow2 writer: a qcow2 v3 image with qemu-img's
/// defaults, the backing file's virtual size, and the backing file recorded by its absolute
/// path with its format (as pcocc's `qemu-img create -f qcow2 -F qcow2 -b <abs top blob>`).
#[derive(Debug, Clone, Copy, Default)]
pub struct Qcow2Overlays;

impl OverlayCreator for Qcow2Overlays {
    fn create_overlay(
        &self,
        overlay: &Path,
        backing: &Path,
        backing_format: DiskFormat,
    ) -> std::result::Result<(), Box<dyn std::error::Error + Send + Sync>> {
        let top = strata_disk::open(
            backing,
            &strata_disk::OpenOptions {
                format: Some(backing_format),
                no_backing: true,
                ..strata_disk::OpenOptions::default()
            },
        )?;
        let backing_name = backing.to_str().ok_or("the backing path is not UTF-8")?;
        let mut options = strata_disk::qcow2::CreateOptions::new(top.image.virtual_size());
        options.backing = Some((backing_name.to_owned(), backing_format));
        strata_disk::qcow2::create_file(overlay, &options)?;
        Ok(())
    }
}

impl Repository {
    /// `.instances/`.
    pub fn instances_dir(&self) -> PathBuf {
        self.path().join(INSTANCES_DIR)
    }

    /// Records that instance `id` runs `name` at `revision` on `overlay` (which the caller
    /// creates afterwards, backed by [`Repository::blob_path`] of the top blob). The revision
    /// must exist; the id must be new ([`StoreError::InstanceExists`]).
    pub fn create_instance(
        &self,
        id: &InstanceId,
        name: &str,
        revision: u64,
        overlay: &Path,
    ) -> Result<Instance> {
        let writer = self.writer()?;
        let record = self.record(name, revision)?;
        let Some(top) = record.top_blob() else {
            return Err(StoreError::BadMetadata {
                name: name.to_owned(),
                path: self
                    .meta_dir()
                    .join(crate::repo::record_file_name(name, revision)),
                message: "the revision has no data blob".to_owned(),
            });
        };
        let overlay = if overlay.is_absolute() {
            overlay.to_owned()
        } else {
            std::env::current_dir()
                .at("resolve", overlay)?
                .join(overlay)
        };
        let instance = Instance {
            id: id.clone(),
            repo: self.name().to_owned(),
            name: name.to_owned(),
            revision,
            top: top.digest().clone(),
            blobs: record
                .data_blobs
                .iter()
                .map(|b| b.digest().clone())
                .collect(),
            overlay,
            owner: self.owner(),
            created: crate::fsutil::now(),
        };
        let dir = self.instances_dir();
        fsutil::mkdir_if_missing(&dir).at("create directory", &dir)?;
        let bytes = serde_json::to_vec_pretty(&instance).map_err(|e| StoreError::BadInstance {
            path: dir.join(format!("{id}.json")),
            message: e.to_string(),
        })?;
        let tmp_dir = self.tmp_dir();
        let target = self.instance_path(id);
        let mut tmp = tempfile::Builder::new()
            .prefix("instance-")
            .tempfile_in(&tmp_dir)
            .at("create", &target)?;
        tmp.write_all(&bytes).at("write", &target)?;
        tmp.as_file().sync_all().at("fsync", &target)?;
        let (_, tmp_path) = tmp.into_parts();
        match tmp_path.persist_noclobber(&target) {
            Ok(()) => {}
            Err(e) if e.error.kind() == std::io::ErrorKind::AlreadyExists => {
                return Err(StoreError::InstanceExists {
                    id: id.to_string(),
                    repo: self.name().to_owned(),
                });
            }
            Err(e) => return Err(StoreError::io("rename into", &target, e.error)),
        }
        fsutil::fsync_dir(&dir)?;
        drop(writer);
        Ok(instance)
    }

    /// [`Repository::create_instance`], then the overlay with `creator`; if that fails, the
    /// instance record is removed again.
    pub fn create_instance_with(
        &self,
        id: &InstanceId,
        name: &str,
        revision: u64,
        overlay: &Path,
        creator: &dyn OverlayCreator,
    ) -> Result<Instance> {
        let instance = self.create_instance(id, name, revision, overlay)?;
        let backing = self.blob_path(&instance.top);
        let backing = fs::canonicalize(&backing).at("resolve", &backing)?;
        if let Err(source) = creator.create_overlay(&instance.overlay, &backing, DiskFormat::Qcow2)
        {
            let _ = self.remove_instance(id);
            return Err(StoreError::Overlay {
                path: instance.overlay,
                source,
            });
        }
        Ok(instance)
    }

    /// The instance file of `id`.
    pub fn instance_path(&self, id: &InstanceId) -> PathBuf {
        self.instances_dir().join(format!("{id}.json"))
    }

    /// The instance `id` ([`StoreError::InstanceNotFound`]).
    pub fn instance(&self, id: &InstanceId) -> Result<Instance> {
        let path = self.instance_path(id);
        match read_instance(&path)? {
            Some(instance) => Ok(instance),
            None => Err(StoreError::InstanceNotFound {
                id: id.to_string(),
                repo: self.name().to_owned(),
            }),
        }
    }

    /// Every instance, sorted by id. A file that does not parse fails the listing (gc must not
    /// guess what it pinned).
    pub fn instances(&self) -> Result<Vec<Instance>> {
        let dir = self.instances_dir();
        let entries = match fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(StoreError::io("list", &dir, e)),
        };
        let mut instances = Vec::new();
        for entry in entries {
            let path = entry.at("list", &dir)?.path();
            let is_instance = path
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.ends_with(".json") && !n.starts_with('.'));
            if !is_instance {
                continue;
            }
            if let Some(instance) = read_instance(&path)? {
                instances.push(instance);
            }
        }
        instances.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(instances)
    }

    /// The instances that use `name` at `revision`.
    pub fn is_in_use(&self, name: &str, revision: u64) -> Result<Vec<InstanceId>> {
        Ok(self
            .instances()?
            .into_iter()
            .filter(|i| i.name == name && i.revision == revision)
            .map(|i| i.id)
            .collect())
    }

    /// Forgets instance `id` (call it once its overlay is removed).
    pub fn remove_instance(&self, id: &InstanceId) -> Result<()> {
        let path = self.instance_path(id);
        match fs::remove_file(&path) {
            Ok(()) => fsutil::fsync_dir(&self.instances_dir()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Err(StoreError::InstanceNotFound {
                    id: id.to_string(),
                    repo: self.name().to_owned(),
                })
            }
            Err(e) => Err(StoreError::io("remove", &path, e)),
        }
    }

    /// Forgets the instances whose overlay file no longer exists (VMs removed without telling
    /// the store, crashed hosts); returns their ids.
    pub fn prune_instances(&self) -> Result<Vec<InstanceId>> {
        let mut pruned = Vec::new();
        for instance in self.instances()? {
            if !instance.overlay.exists() {
                match self.remove_instance(&instance.id) {
                    Ok(()) | Err(StoreError::InstanceNotFound { .. }) => pruned.push(instance.id),
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(pruned)
    }
}

/// Reads an instance file; `None` if it does not exist.
fn read_instance(path: &Path) -> Result<Option<Instance>> {
    let file = match fs::File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(StoreError::io("read", path, e)),
    };
    let mut bytes = Vec::new();
    file.take(MAX_INSTANCE_LEN)
        .read_to_end(&mut bytes)
        .at("read", path)?;
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| StoreError::BadInstance {
            path: path.to_owned(),
            message: e.to_string(),
        })
}
