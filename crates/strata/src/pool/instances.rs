//! Images in use: instances, as VMs use them. OpenNebula's images are used by VMs, which
//! acquire them (READY → USED, or USED_PERS for a persistent image, RUNNING_VMS + 1) and
//! release them; a persistent image's changes are the image's new state when its VM is done.
//!
//! An instance is a qcow2 overlay on the image's file (`<pool>/instances/<id>.qcow2`), which a
//! VM runs on. Stopping it releases the image: a non-persistent image's overlay is dropped; a
//! persistent image gets the overlay's changes, written to a partial file and renamed over the
//! image's file, so that a crash leaves the image as it was before or after. A failed VM
//! (`failed`) puts a persistent image in ERROR, as OpenNebula does, and saves nothing.

use std::path::{Path, PathBuf};

use strata_disk::OpenOptions;
use strata_model::DiskFormat;
use strata_model::one::{
    AuthRequest, Caller, Command, ImageRecord, ObjectAuth, ObjectKind, Operation, Refusal,
    transition,
};
use strata_store::{Job, JobOp, OverlayCreator, PoolInstance, Qcow2Overlays};

use super::data::{self, PartialOutput};
use super::{Pool, PoolError, PoolResult};

/// An instance, as the pool records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceInfo {
    /// Its id (the image's `VMS/ID`).
    pub id: u32,
    /// The image it uses.
    pub image: u32,
    /// Who started it.
    pub uid: u32,
    /// The overlay a VM runs on.
    pub overlay: PathBuf,
    /// When it started (seconds since the epoch).
    pub started: i64,
}

impl From<&PoolInstance> for InstanceInfo {
    fn from(i: &PoolInstance) -> InstanceInfo {
        InstanceInfo {
            id: i.id,
            image: i.image,
            uid: i.uid,
            overlay: PathBuf::from(&i.overlay),
            started: i.started,
        }
    }
}

fn refused(refusal: Refusal) -> PoolError {
    PoolError::Refused { refusal }
}

fn disk_format(record: &ImageRecord) -> Result<DiskFormat, Refusal> {
    DiskFormat::ALL
        .into_iter()
        .find(|f| f.name() == record.format)
        .ok_or(Refusal::NotADisk {
            id: record.id,
            name: record.name.clone(),
            image_type: record.image_type,
        })
}

fn vm_auth(instance: &PoolInstance) -> ObjectAuth {
    ObjectAuth {
        kind: ObjectKind::Vm,
        oid: Some(instance.id),
        uid: instance.uid,
        gid: u32::MAX,
        perms: strata_model::one::Permissions::parse_octet("600")
            .unwrap_or(strata_model::one::Permissions::NONE),
        lock: strata_model::one::LockLevel::None,
    }
}

impl Pool {
    /// The instances the caller started (every one, for an admin).
    pub fn instances(&self, caller: &Caller) -> PoolResult<Vec<InstanceInfo>> {
        let db = self.current()?;
        let r = &caller.requester;
        Ok(db
            .instances
            .iter()
            .filter(|i| r.is_admin() || i.uid == r.uid)
            .map(InstanceInfo::from)
            .collect())
    }

    /// Starts an instance of image `image`: the caller needs USE on it; the image is acquired
    /// as a VM acquires a disk, and an overlay is made on its file.
    pub fn start_instance(&self, caller: &Caller, image: u32) -> PoolResult<InstanceInfo> {
        let instances_dir = self.store.instances_dir();
        std::fs::create_dir_all(&instances_dir).map_err(|e| {
            PoolError::Store(strata_store::StoreError::Io {
                op: "create",
                path: instances_dir.clone(),
                source: e,
            })
        })?;
        self.change(|db| {
            let Some(record) = db.image(image).cloned() else {
                return Err(refused(Refusal::NotFound {
                    kind: ObjectKind::Image,
                    id: image,
                }));
            };
            AuthRequest::new(&caller.requester)
                .add(Operation::Use, &record.facts().auth())
                .check()
                .map_err(|e| refused(Refusal::Auth(e.into())))?;
            let out = transition(&record.facts(), &Command::Acquire { hot_attach: false })
                .map_err(refused)?;
            let format = disk_format(&record).map_err(refused)?;
            let id = db.next_instance_id;
            db.next_instance_id = db.next_instance_id.saturating_add(1);
            let overlay = instances_dir.join(format!("{id}.qcow2"));
            let _ = std::fs::remove_file(&overlay);
            Qcow2Overlays
                .create_overlay(&overlay, Path::new(&record.source), format)
                .map_err(|e| {
                    refused(Refusal::StatFailed {
                        message: format!("cannot make the overlay {}: {e}", overlay.display()),
                    })
                })?;
            let instance = PoolInstance {
                id,
                image,
                uid: caller.requester.uid,
                overlay: overlay.to_string_lossy().into_owned(),
                started: super::images::now(),
            };
            if let Some(r) = db.image_mut(image) {
                r.take_facts(&out.image);
                r.vms.push(id);
            }
            let info = InstanceInfo::from(&instance);
            db.instances.push(instance);
            Ok(info)
        })
    }

    /// Stops instance `id` and releases its image; a persistent image gets the instance's
    /// changes (unless `failed`, which puts it in ERROR, as a failed VM does).
    pub fn stop_instance(&self, caller: &Caller, id: u32, failed: bool) -> PoolResult<()> {
        let (instance, record, save) = self.change(|db| {
            let Some(instance) = db.instances.iter().find(|i| i.id == id).cloned() else {
                return Err(refused(Refusal::NotFound {
                    kind: ObjectKind::Vm,
                    id,
                }));
            };
            AuthRequest::new(&caller.requester)
                .add(Operation::Manage, &vm_auth(&instance))
                .check()
                .map_err(|e| refused(Refusal::Auth(e.into())))?;
            let record = db.image(instance.image).cloned();
            let save = record.as_ref().is_some_and(|r| r.persistent) && !failed;
            if save {
                if db.jobs.contains_key(&instance.image) {
                    return Err(refused(Refusal::StatFailed {
                        message: format!("image {} is busy with another operation", instance.image),
                    }));
                }
                db.jobs.insert(instance.image, Job::here(JobOp::Save));
            }
            Ok((instance, record, save))
        })?;
        let saved = match (&record, save) {
            (Some(record), true) => Some(self.write_back(record, &instance)),
            _ => None,
        };
        let result = self.change(|db| {
            db.jobs.remove(&instance.image);
            let mut save_error = None;
            if let (Some(record), Some(saved)) = (&record, saved) {
                match saved.and_then(|file| {
                    let size = file.1;
                    file.0.persist(&record.source).map_err(|e| {
                        strata_model::one::DriverFailure::Save {
                            instance: instance.id,
                            reason: format!("{}: {}", record.source, e.error),
                        }
                        .to_string()
                    })?;
                    Ok(size)
                }) {
                    Ok(size_mb) => {
                        if let Some(r) = db.image_mut(instance.image) {
                            r.size_mb = size_mb;
                            r.modtime = super::images::now();
                        }
                    }
                    Err(message) => save_error = Some(message),
                }
            }
            db.instances.retain(|i| i.id != id);
            if let Some(r) = db.image_mut(instance.image) {
                r.vms.retain(|v| *v != id);
                let vm_failed = failed || save_error.is_some();
                if let Ok(out) = transition(&r.facts(), &Command::Release { vm_failed }) {
                    r.take_facts(&out.image);
                }
                if let Some(message) = &save_error {
                    super::images::set_attr(&mut r.template, "ERROR", message.clone());
                }
            }
            Ok(save_error)
        })?;
        let _ = std::fs::remove_file(&instance.overlay);
        match result {
            None => Ok(()),
            Some(message) => Err(refused(Refusal::StatFailed { message })),
        }
    }

    /// The image with the instance's changes, in the image's format, in a partial file, with
    /// its size in MiB.
    fn write_back(
        &self,
        record: &ImageRecord,
        instance: &PoolInstance,
    ) -> Result<(tempfile::NamedTempFile, u64), String> {
        let format = disk_format(record).map_err(|r| r.to_string())?;
        let ds_dir = self.store.datastore_dir(record.datastore_id);
        let chain = strata_disk::open(
            Path::new(&instance.overlay),
            &OpenOptions {
                allowed_dirs: vec![ds_dir],
                ..OpenOptions::default()
            },
        )
        .map_err(|e| {
            strata_model::one::DriverFailure::Save {
                instance: instance.id,
                reason: e.to_string(),
            }
            .to_string()
        })?;
        let size = chain.image.virtual_size();
        let partial = self
            .store
            .partial(record.datastore_id, record.id)
            .map_err(|e| e.to_string())?;
        let mut out = PartialOutput::new(partial);
        let target = strata_disk::create_target(format, &mut out, size).map_err(|e| {
            strata_model::one::DriverFailure::Save {
                instance: instance.id,
                reason: e.to_string(),
            }
            .to_string()
        })?;
        strata_disk::convert(
            &*chain.image,
            target,
            &strata_disk::ConvertOptions::default(),
            &|_| {},
        )
        .map_err(|e| {
            strata_model::one::DriverFailure::Save {
                instance: instance.id,
                reason: e.to_string(),
            }
            .to_string()
        })?;
        let file = out.into_file();
        file.as_file().sync_all().map_err(|e| {
            strata_model::one::DriverFailure::Save {
                instance: instance.id,
                reason: e.to_string(),
            }
            .to_string()
        })?;
        Ok((file, data::mib_ceil(size)))
    }
}
