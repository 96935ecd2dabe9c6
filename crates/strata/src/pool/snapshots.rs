//! Image snapshots: the tree of a persistent image's saved states, with ACTIVE, PARENT and
//! CHILDREN as OpenNebula keeps them (`Snapshots`, `ALLOW_ORPHANS=DENY`).
//!
//! OpenNebula takes image snapshots from the disks of running VMs; strata takes one from a
//! READY persistent image ([`Pool::snapshot_create`]): a copy of the image's file in
//! `<SOURCE>.snap/<id>` (the fs driver's layout), which becomes the ACTIVE snapshot, child of
//! the one that was. `snapshot-delete`, `snapshot-revert` and `snapshot-flatten` follow
//! OpenNebula's rules ([`strata_model::one::perform`]): the image is LOCKED while the driver
//! works, then READY. A new image file is written to a partial file and renamed over the
//! image's file, so that a crash leaves the old or the new state, never half of one.

use std::path::{Path, PathBuf};

use strata_model::one::{
    Caller, Command, DriverOp, ImageRecord, ImageState, Method, Refusal, SnapshotFacts,
    SnapshotRecord, perform, transition,
};
use strata_store::{Job, JobOp};

use super::{Pool, PoolError, PoolResult, find_image};

/// The snapshot commands of `oneimage`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SnapshotAction {
    /// `snapshot-delete`: the snapshot goes.
    Delete,
    /// `snapshot-revert`: the image goes back to the snapshot, which becomes ACTIVE.
    Revert,
    /// `snapshot-flatten`: the image becomes the snapshot and every snapshot goes.
    Flatten,
}

impl SnapshotAction {
    fn method(self) -> Method {
        match self {
            SnapshotAction::Delete => Method::SnapshotDelete,
            SnapshotAction::Revert => Method::SnapshotRevert,
            SnapshotAction::Flatten => Method::SnapshotFlatten,
        }
    }

    fn driver(self) -> DriverOp {
        match self {
            SnapshotAction::Delete => DriverOp::SnapshotDelete,
            SnapshotAction::Revert => DriverOp::SnapshotRevert,
            SnapshotAction::Flatten => DriverOp::SnapshotFlatten,
        }
    }
}

/// A snapshot operation's failure on snapshot `sid`, as its message.
fn snap_failed(sid: u32, reason: String) -> String {
    strata_model::one::DriverFailure::Snapshot {
        snapshot: sid,
        reason,
    }
    .to_string()
}

/// The file of snapshot `id` of an image whose file is `source`.
pub(crate) fn snapshot_file(source: &str, id: u32) -> PathBuf {
    strata_store::pool::snap_dir(Path::new(source)).join(id.to_string())
}

fn facts(record: &ImageRecord, id: u32) -> SnapshotFacts {
    let found = record.snapshots.get(id);
    SnapshotFacts {
        exists: found.is_some(),
        active: found.is_some_and(|s| s.active),
        has_children: found.is_some_and(|s| !s.children.is_empty()),
        orphans: record.snapshots.allow_orphans,
    }
}

impl Pool {
    /// Takes a snapshot of persistent image `id` (strata's own: OpenNebula's come from VMs):
    /// returns the snapshot's id.
    pub fn snapshot_create(&self, caller: &Caller, id: u32, name: Option<&str>) -> PoolResult<u32> {
        let refused = |refusal| PoolError::Refused { refusal };
        let record = self.change(|db| {
            let record = find_image(db, caller, id, Method::Info)?.clone();
            strata_model::one::AuthRequest::new(&caller.requester)
                .add(strata_model::one::Operation::Manage, &record.facts().auth())
                .check()
                .map_err(|e| refused(Refusal::Auth(e.into())))?;
            if !record.image_type.has_snapshots() {
                return Err(refused(Refusal::SnapshotType));
            }
            if !record.persistent {
                return Err(refused(Refusal::SnapshotNotPersistent));
            }
            if record.state != ImageState::Ready || db.jobs.contains_key(&id) {
                return Err(refused(Refusal::SnapshotCreateState {
                    state: record.state,
                }));
            }
            db.jobs.insert(id, Job::here(JobOp::Snapshot));
            if let Some(r) = db.image_mut(id) {
                r.prev_state = r.state;
                r.state = ImageState::Locked;
            }
            Ok(record)
        })?;
        let sid = record.snapshots.next_snapshot;
        let copied = self.copy_to_snapshot(&record, sid);
        self.change(|db| {
            db.jobs.remove(&id);
            let Some(r) = db.image_mut(id) else {
                return Ok(());
            };
            r.state = ImageState::Ready;
            r.prev_state = ImageState::Locked;
            if let Err(message) = &copied {
                super::images::fail(r, DriverOp::SnapshotRevert, message);
                return Ok(());
            }
            let parent = r.snapshots.list.iter().find(|s| s.active).map(|s| s.id);
            for s in &mut r.snapshots.list {
                s.active = false;
                if Some(s.id) == parent {
                    s.children.push(sid);
                }
            }
            r.snapshots.list.push(SnapshotRecord {
                id: sid,
                name: name.map_or_else(|| format!("snapshot-{sid}"), str::to_owned),
                date: super::images::now(),
                parent: parent.map_or(-1, i64::from),
                children: Vec::new(),
                active: true,
                size_mb: r.size_mb,
            });
            r.snapshots.next_snapshot = sid.saturating_add(1);
            Ok(())
        })?;
        copied.map_err(|message| refused(Refusal::StatFailed { message }))?;
        Ok(sid)
    }

    /// The image's file copied to snapshot `sid`'s file (through a partial file).
    fn copy_to_snapshot(&self, record: &ImageRecord, sid: u32) -> Result<(), String> {
        let target = snapshot_file(&record.source, sid);
        let dir = target.parent().map(Path::to_owned).unwrap_or_default();
        std::fs::create_dir_all(&dir)
            .map_err(|e| snap_failed(sid, format!("create {}: {e}", dir.display())))?;
        let partial = tempfile::Builder::new()
            .prefix(".partial.")
            .tempfile_in(&dir)
            .map_err(|e| snap_failed(sid, format!("create a file in {}: {e}", dir.display())))?;
        let source = std::fs::File::open(&record.source)
            .map_err(|e| snap_failed(sid, format!("read {}: {e}", record.source)))?;
        strata_store::fsutil::clone_or_copy(&source, partial.as_file())
            .and_then(|_| partial.as_file().sync_all())
            .map_err(|e| snap_failed(sid, format!("copy {}: {e}", record.source)))?;
        partial
            .persist(&target)
            .map_err(|e| snap_failed(sid, format!("write {}: {}", target.display(), e.error)))?;
        Ok(())
    }

    /// `snapshot-delete`, `snapshot-revert` or `snapshot-flatten` of snapshot `sid` of image
    /// `id`.
    pub fn snapshot_action(
        &self,
        caller: &Caller,
        id: u32,
        sid: u32,
        action: SnapshotAction,
    ) -> PoolResult<()> {
        let m = action.method();
        let record = self.change(|db| {
            let record = find_image(db, caller, id, m)?.clone();
            let snapshot = facts(&record, sid);
            let command = match action {
                SnapshotAction::Delete => Command::SnapshotDelete { snapshot },
                SnapshotAction::Revert => Command::SnapshotRevert { snapshot },
                SnapshotAction::Flatten => Command::SnapshotFlatten { snapshot },
            };
            let out = perform(&record.facts(), &command, &caller.requester)
                .map_err(|r| PoolError::image(m, caller, r))?;
            db.jobs.insert(id, Job::here(JobOp::Snapshot));
            if let Some(r) = db.image_mut(id) {
                r.take_facts(&out.image);
                r.target_snapshot = i64::from(sid);
            }
            Ok(record)
        })?;
        let file = snapshot_file(&record.source, sid);
        // Revert and flatten: the snapshot's bytes, in a partial file beside the image's.
        let staged = match action {
            SnapshotAction::Delete => Ok(None),
            SnapshotAction::Revert | SnapshotAction::Flatten => self
                .store
                .partial(record.datastore_id, id)
                .map_err(|e| e.to_string())
                .and_then(|partial| {
                    let from = std::fs::File::open(&file)
                        .map_err(|e| snap_failed(sid, format!("read {}: {e}", file.display())))?;
                    strata_store::fsutil::clone_or_copy(&from, partial.as_file())
                        .and_then(|_| partial.as_file().sync_all())
                        .map_err(|e| snap_failed(sid, format!("copy {}: {e}", file.display())))?;
                    Ok(Some(partial))
                }),
        };
        let mut remove_after = Vec::new();
        let result = self.change(|db| {
            db.jobs.remove(&id);
            let Some(r) = db.image_mut(id) else {
                return Ok(Err("the image is gone".to_owned()));
            };
            r.target_snapshot = -1;
            let done = match staged {
                Err(message) => Err(message),
                Ok(partial) => {
                    let renamed = match partial {
                        Some(partial) => partial.persist(&r.source).map(|_| ()).map_err(|e| {
                            snap_failed(sid, format!("write {}: {}", r.source, e.error))
                        }),
                        None => Ok(()),
                    };
                    renamed.map(|()| apply(r, sid, action, &mut remove_after))
                }
            };
            match &done {
                Ok(()) => {
                    if let Ok(out) = transition(
                        &r.facts(),
                        &Command::DriverDone {
                            op: action.driver(),
                            success: true,
                        },
                    ) {
                        r.take_facts(&out.image);
                    }
                }
                Err(message) => super::images::fail(r, action.driver(), message),
            }
            Ok(done)
        })?;
        for path in remove_after {
            let _ = if path.is_dir() {
                std::fs::remove_dir_all(&path)
            } else {
                std::fs::remove_file(&path)
            };
        }
        result.map_err(|message| PoolError::Refused {
            refusal: Refusal::StatFailed { message },
        })
    }
}

/// What a snapshot operation does to the record; the files to remove once it is saved go to
/// `remove_after`.
fn apply(r: &mut ImageRecord, sid: u32, action: SnapshotAction, remove_after: &mut Vec<PathBuf>) {
    let size = r.snapshots.get(sid).map(|s| s.size_mb);
    match action {
        SnapshotAction::Delete => {
            let parent = r.snapshots.get(sid).map(|s| s.parent);
            r.snapshots.list.retain(|s| s.id != sid);
            if let Some(parent) = parent.and_then(|p| u32::try_from(p).ok()) {
                for s in &mut r.snapshots.list {
                    if s.id == parent {
                        s.children.retain(|c| *c != sid);
                    }
                }
            }
            remove_after.push(snapshot_file(&r.source, sid));
        }
        SnapshotAction::Revert => {
            for s in &mut r.snapshots.list {
                s.active = s.id == sid;
            }
            if let Some(size) = size {
                r.size_mb = size;
            }
            r.modtime = super::images::now();
        }
        SnapshotAction::Flatten => {
            r.snapshots.list.clear();
            r.snapshots.current_base = -1;
            if let Some(size) = size {
                r.size_mb = size;
            }
            r.modtime = super::images::now();
            remove_after.push(strata_store::pool::snap_dir(Path::new(&r.source)));
        }
    }
}
