//! [`Pool`]: an ID-keyed pool of images with owners, permissions and states, kept in
//! datastores: OpenNebula's image life cycle over a [`PoolStore`].
//!
//! The rules are data in strata-model's `one` module: which state allows which command
//! ([`transition`](fn@strata_model::one::transition)), who may do what
//! ([`strata_model::one::authorize`]), and the refusals with OpenNebula's words.
//! This module applies them to the stored records, each change under the pool's lock, and moves
//! the bytes (what OpenNebula's datastore driver does: copy, mkfs, clone, rm).
//!
//! What is OpenNebula's policy rather than an invariant (oned.conf's umask, default type,
//! device prefix, restricted attributes, file systems) comes in as a [`PoolPolicy`] from the
//! front end.
//!
//! # Crash safety
//!
//! Each change is one [`PoolStore::update`], saved atomically. A copy into a datastore is long,
//! so it runs outside the lock: the image is recorded LOCKED with a [`Job`] naming the process,
//! the bytes go to a partial file, and a second change renames the file into place and makes
//! the image READY. Reads and changes see a job whose process is gone as interrupted: its image
//! goes to ERROR with a message (a create, a clone) or finishes leaving the pool (a delete), and
//! its partial file is removed. So a crash at any point leaves every image in a state
//! OpenNebula knows, and never a half file under an image's SOURCE.

mod data;
mod datastores;
mod images;
mod instances;
mod snapshots;

use std::path::PathBuf;

use strata_model::one::{
    Caller, DatastoreRecord, DatastoreRefusal, DatastoreRequestError, ImageRecord, ImageType,
    Method, ObjectKind, Operation, Refusal, RequestError, authorize,
};
use strata_store::{Job, JobOp, PoolDb, PoolStore, StoreError};

pub use data::Checked;
pub use datastores::{DatastoreInfo, NewDatastore};
pub use images::{CreateImage, CreatedImage, ImageAction, NewOwner};
pub use instances::InstanceInfo;
pub use snapshots::SnapshotAction;

/// oned.conf's values that decide how new images look: the front end passes OpenNebula's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolPolicy {
    /// `DEFAULT_UMASK`, applied to new objects' permissions.
    pub umask: u16,
    /// `ENABLE_OTHER_PERMISSIONS`: whether non-admins may set OTHER bits.
    pub enable_other_permissions: bool,
    /// `DEFAULT_IMAGE_TYPE`: the type of a template without TYPE.
    pub default_image_type: ImageType,
    /// `DEFAULT_DEVICE_PREFIX`: the DEV_PREFIX of OS and DATABLOCK images without one.
    pub default_device_prefix: String,
    /// `DEFAULT_IMAGE_PERSISTENT_NEW`: the persistence of a template without PERSISTENT.
    pub default_persistent: bool,
    /// `IMAGE_RESTRICTED_ATTR`: attributes only admins may set.
    pub restricted_attributes: Vec<String>,
    /// The datastore driver's `SUPPORTED_FS`: the file systems an empty datablock may get.
    pub supported_fs: Vec<String>,
}

/// Which images a listing shows (`one.imagepool.info`'s filter flag).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PoolFilter {
    /// `-2`: every image the caller may use.
    All,
    /// `-3`: the caller's own.
    Mine,
    /// `-1`: the caller's own and those of the caller's groups.
    MineAndGroups,
    /// `-4`: those of the caller's primary group.
    PrimaryGroup,
    /// A user id: that user's images the caller may use.
    User(u32),
}

/// Why a pool operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PoolError {
    /// OpenNebula's answer to an image request it refuses (method, caller and refusal).
    #[error(transparent)]
    Image(#[from] RequestError),
    /// OpenNebula's answer to a datastore request it refuses.
    #[error(transparent)]
    Datastore(#[from] DatastoreRequestError),
    /// The pool's files: the database, a lock, a datastore directory.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A request of strata's own (instances, taking a snapshot), which OpenNebula makes through
    /// its VMs, refused: the refusal's text, unframed.
    #[error("{refusal}")]
    Refused {
        /// Why.
        refusal: Refusal,
    },
    /// The pool has not been made at this path.
    #[error("there is no pool at {}", .path.display())]
    NoPool {
        /// The pool's directory.
        path: PathBuf,
    },
}

impl PoolError {
    /// A refused image request.
    pub(crate) fn image(method: Method, caller: &Caller, refusal: Refusal) -> PoolError {
        PoolError::Image(RequestError {
            method,
            uid: caller.requester.uid,
            refusal,
        })
    }

    /// The stable category of this error.
    pub fn kind(&self) -> crate::ErrorKind {
        match self {
            PoolError::Image(e) => refusal_kind(&e.refusal),
            PoolError::Datastore(e) => match e.refusal {
                DatastoreRefusal::Auth(_) => crate::ErrorKind::PermissionDenied,
                DatastoreRefusal::NotFound { .. } => crate::ErrorKind::NotFound,
                DatastoreRefusal::NameTaken { .. } | DatastoreRefusal::RenameCollision { .. } => {
                    crate::ErrorKind::AlreadyExists
                }
                DatastoreRefusal::NotEmpty { .. } => crate::ErrorKind::Busy,
                _ => crate::ErrorKind::InvalidRequest,
            },
            PoolError::Refused { refusal } => refusal_kind(refusal),
            PoolError::Store(e) => crate::error::store_kind(e),
            PoolError::NoPool { .. } => crate::ErrorKind::NotFound,
        }
    }
}

/// The kind of a refusal: who may not, what is not there, what is taken, what is busy (in use,
/// in a state the request needs to wait out, or locked), else a wrong request.
fn refusal_kind(refusal: &Refusal) -> crate::ErrorKind {
    use crate::ErrorKind as K;
    match refusal {
        Refusal::Auth(_) => K::PermissionDenied,
        Refusal::NotFound { .. } | Refusal::SnapshotMissing => K::NotFound,
        Refusal::NameTaken { .. }
        | Refusal::RenameCollision { .. }
        | Refusal::ChownCollision { .. } => K::AlreadyExists,
        Refusal::Lock(_)
        | Refusal::DeleteLocked
        | Refusal::DeleteInUse { .. }
        | Refusal::DeleteCloning { .. }
        | Refusal::DeleteBackupActive
        | Refusal::EnableState { .. }
        | Refusal::PersistencyState { .. }
        | Refusal::CloneState { .. }
        | Refusal::SnapshotState { .. }
        | Refusal::SnapshotCreateState { .. }
        | Refusal::AcquireLocked { .. }
        | Refusal::AcquireInUse { .. }
        | Refusal::AcquireState { .. } => K::Busy,
        _ => K::InvalidRequest,
    }
}

/// The result type of pool operations.
pub type PoolResult<T> = std::result::Result<T, PoolError>;

/// An OpenNebula-style pool (see the module documentation).
#[derive(Debug, Clone)]
pub struct Pool {
    store: PoolStore,
    policy: PoolPolicy,
}

impl Pool {
    /// The pool at `root`, made with the datastores `bootstrap` gives if it does not exist yet.
    pub fn open_or_init(
        root: impl Into<PathBuf>,
        policy: PoolPolicy,
        bootstrap: impl FnOnce(&PoolStore) -> Vec<DatastoreRecord>,
    ) -> PoolResult<Pool> {
        let store = PoolStore::new(root);
        if !store.exists() {
            let records = bootstrap(&store);
            store.init(|| records)?;
        }
        Ok(Pool { store, policy })
    }

    /// The pool at `root`, which must exist.
    pub fn open(root: impl Into<PathBuf>, policy: PoolPolicy) -> PoolResult<Pool> {
        let store = PoolStore::new(root);
        if !store.exists() {
            return Err(PoolError::NoPool {
                path: store.root().to_owned(),
            });
        }
        Ok(Pool { store, policy })
    }

    /// The pool's files.
    pub fn store(&self) -> &PoolStore {
        &self.store
    }

    /// The policy new images follow.
    pub fn policy(&self) -> &PoolPolicy {
        &self.policy
    }

    /// The database as it stands, with interrupted operations shown as they will be settled.
    fn current(&self) -> PoolResult<PoolDb> {
        let mut db = self.store.read()?;
        settle(&self.store, &mut db, false);
        Ok(db)
    }

    /// Changes the database under the lock, settling interrupted operations first.
    fn change<T>(&self, change: impl FnOnce(&mut PoolDb) -> PoolResult<T>) -> PoolResult<T> {
        self.store.update(|db| {
            settle(&self.store, db, true);
            change(db)
        })
    }

    /// The images `filter` selects that the caller may see (`one.imagepool.info`), by id.
    pub fn images(&self, caller: &Caller, filter: PoolFilter) -> PoolResult<Vec<ImageRecord>> {
        let db = self.current()?;
        let r = &caller.requester;
        Ok(db
            .images
            .into_iter()
            .filter(|image| {
                let owner = image.owner.uid;
                let group = image.owner.gid;
                let selected = match filter {
                    PoolFilter::All => true,
                    PoolFilter::Mine => owner == r.uid,
                    PoolFilter::MineAndGroups => owner == r.uid || r.groups.contains(&group),
                    PoolFilter::PrimaryGroup => group == r.gid,
                    PoolFilter::User(uid) => owner == uid,
                };
                selected && authorize(r, &image.facts().auth(), Operation::UseNoLock)
            })
            .collect())
    }

    /// One image (`one.image.info`): the caller needs USE on it (a lock does not hide it).
    pub fn image(&self, caller: &Caller, id: u32) -> PoolResult<ImageRecord> {
        let db = self.current()?;
        let image = find_image(&db, caller, id, Method::Info)?;
        let auth = image.facts().auth();
        strata_model::one::AuthRequest::new(&caller.requester)
            .add(Operation::UseNoLock, &auth)
            .check()
            .map_err(|e| PoolError::image(Method::Info, caller, Refusal::Auth(e.into())))?;
        Ok(image.clone())
    }

    /// Settles interrupted operations now, removes the files they left, and reports what is
    /// still wrong with the pool: images whose files are missing, files in datastores that no
    /// image names. No problem is a consistent pool.
    pub fn verify(&self) -> PoolResult<Checked> {
        self.change(|db| Ok(data::check(&self.store, db)))
    }
}

/// The image `id`, or OpenNebula's `Error getting image [id].`
pub(crate) fn find_image<'d>(
    db: &'d PoolDb,
    caller: &Caller,
    id: u32,
    method: Method,
) -> PoolResult<&'d ImageRecord> {
    db.image(id).ok_or_else(|| {
        PoolError::image(
            method,
            caller,
            Refusal::NotFound {
                kind: ObjectKind::Image,
                id,
            },
        )
    })
}

/// Finishes what interrupted operations left: see the module documentation. With
/// `remove_files`, partial files and the files of interrupted deletes are removed too (only
/// under the exclusive lock).
fn settle(store: &PoolStore, db: &mut PoolDb, remove_files: bool) {
    let dead: Vec<(u32, Job)> = db
        .jobs
        .iter()
        .filter(|(_, job)| !job.is_alive())
        .map(|(id, job)| (*id, job.clone()))
        .collect();
    for (id, job) in dead {
        db.jobs.remove(&id);
        let Some(image) = db.image_mut(id) else {
            continue;
        };
        if remove_files {
            let _ = store.remove_partials(image.datastore_id, id);
            // Renamed into place, but the database never said so: nothing names it.
            if let Some(target) = &job.target {
                let path = store.datastore_dir(image.datastore_id).join(target);
                if image.source != path.to_string_lossy() {
                    let _ = std::fs::remove_file(path);
                }
            }
        }
        match job.op {
            JobOp::Delete => {
                if remove_files && !image.source.is_empty() {
                    let _ = store.remove_source(std::path::Path::new(&image.source));
                }
                db.remove_image(id);
            }
            // The instance keeps running on its overlay; its changes were not saved.
            JobOp::Save => {}
            JobOp::Create | JobOp::Clone | JobOp::Snapshot => {
                let message = strata_model::one::DriverFailure::Interrupted {
                    op: job.op.as_str().to_owned(),
                    pid: job.pid,
                }
                .to_string();
                let op = match job.op {
                    JobOp::Create => strata_model::one::DriverOp::Cp,
                    JobOp::Clone => strata_model::one::DriverOp::Clone,
                    _ => strata_model::one::DriverOp::SnapshotRevert,
                };
                images::fail(image, op, &message);
                if let Some(source) = u32::try_from(image.cloning_id).ok()
                    && job.op == JobOp::Clone
                {
                    image.cloning_id = -1;
                    images::release_clone(db, source, id);
                }
            }
        }
    }
}
