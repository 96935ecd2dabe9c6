//! The image life cycle as pure functions: [`transition`] (the state rules of every command),
//! [`perform`] (the same with authorisation where the server checks it), [`allocate`] (the
//! outcome of creating an image), the [`Refusal`]s with OpenNebula's exact texts, and
//! [`RequestError`], which frames a refusal the way the server answers a request
//! (`[one.image.enable] ...`).
//!
//! Facts from OpenNebula/one `src/rm/api/ImageAPI.cc`, `src/image/ImageManagerActions.cc`,
//! `src/image/ImageManagerProtocol.cc`, `src/image/Image.cc`, `include/Image.h`,
//! `src/image/ImagePool.cc`, `src/vm/Snapshots.cc`, `src/rm/api/SharedAPI.cc` and
//! `src/rm/Request.cc` (`failure_message`). Each text below names its source.
//!
//! # Object locks across state changes
//!
//! OpenNebula's `Image::set_state` clears the object lock (`oneimage lock`) whenever it moves an
//! image to any state but LOCKED, so `oneimage enable`, a VM releasing the image or a driver
//! finishing its copy all silently drop a user's lock. strata does not reproduce that: an
//! [`Outcome`] keeps [`ImageFacts::lock`] unchanged, and says in
//! [`Outcome::upstream_clears_lock`] whether OpenNebula would have cleared it, so a front end can
//! warn about the difference.

use std::fmt;
use std::str::FromStr;

use super::datastore::DatastoreType;
use super::image_type::{ChtypeFamily, ImageType, PersistenceAtCreate};
use super::lock::{LockError, LockLevel};
use super::perms::{
    AuthError, AuthRequest, ObjectAuth, ObjectKind, Operation, Permissions, Requester,
};
use super::state::ImageState;

/// What the transition rules need to know of an image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageFacts {
    /// The image id (messages name it).
    pub id: u32,
    /// The image name (the DISK-type message names it).
    pub name: String,
    /// The owner's uid.
    pub uid: u32,
    /// The image's group.
    pub gid: u32,
    /// The permission bits.
    pub perms: Permissions,
    /// The object lock (`oneimage lock`), kept unchanged by every transition.
    pub lock: LockLevel,
    /// The type.
    pub image_type: ImageType,
    /// The state.
    pub state: ImageState,
    /// Whether the image is persistent.
    pub persistent: bool,
    /// `RUNNING_VMS`: VMs using the image.
    pub running_vms: u32,
    /// `CLONING_OPS`: clones of this image in progress.
    pub cloning_ops: u32,
    /// Number of snapshots.
    pub snapshots: u32,
    /// The template's `PERSISTENT_TYPE` is `SHAREABLE` (any case): a persistent image may then
    /// serve several VMs.
    pub shareable: bool,
    /// `SOURCE` is set (a delete without it drops the image at once, with no driver call).
    pub has_source: bool,
    /// `CLONING_ID`: the image this one is being cloned from, while the clone runs.
    pub clone_source: Option<u32>,
}

impl ImageFacts {
    /// A non-persistent image with no VMs, clones, snapshots or lock, owned by uid 0 with the
    /// default permissions `600`, whose SOURCE is set.
    pub fn new(id: u32, name: impl Into<String>, image_type: ImageType, state: ImageState) -> Self {
        ImageFacts {
            id,
            name: name.into(),
            uid: 0,
            gid: 0,
            perms: Permissions::for_new_object(super::perms::DEFAULT_UMASK, 0, 0, false),
            lock: LockLevel::None,
            image_type,
            state,
            persistent: false,
            running_vms: 0,
            cloning_ops: 0,
            snapshots: 0,
            shareable: false,
            has_source: true,
            clone_source: None,
        }
    }

    /// The image as an authorisation object.
    pub fn auth(&self) -> ObjectAuth {
        ObjectAuth {
            kind: ObjectKind::Image,
            oid: Some(self.id),
            uid: self.uid,
            gid: self.gid,
            perms: self.perms,
            lock: self.lock,
        }
    }
}

/// What `persistent`/`nonpersistent` need to know of the image's datastore.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DatastoreFacts {
    /// `DS_MAD` is `lvm` (any case): persistence cannot change.
    pub lvm: bool,
    /// `PERSISTENT_ONLY=YES`: images cannot be made non-persistent.
    pub persistent_only: bool,
}

impl DatastoreFacts {
    /// Facts from the datastore's `DS_MAD` and `PERSISTENT_ONLY` flag.
    pub fn new(ds_mad: &str, persistent_only: bool) -> DatastoreFacts {
        DatastoreFacts {
            lvm: ds_mad.eq_ignore_ascii_case("lvm"),
            persistent_only,
        }
    }
}

/// What `clone` needs to know of the datastores involved (`ImageAPI::clone`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CloneTarget {
    /// The type of the target datastore.
    pub target_type: DatastoreType,
    /// The type of the source image's datastore when it differs from the target one; `None`
    /// when cloning into the same datastore.
    pub source_type: Option<DatastoreType>,
    /// Both datastores have the same `DS_MAD` (true when they are the same).
    pub same_ds_mad: bool,
    /// The target has room for the image (or does not check capacity).
    pub enough_space: bool,
}

impl CloneTarget {
    /// A clone into the source image's own IMAGE datastore, with room to spare.
    pub const SAME_DATASTORE: CloneTarget = CloneTarget {
        target_type: DatastoreType::Image,
        source_type: None,
        same_ds_mad: true,
        enough_space: true,
    };
}

/// The snapshot tree modes (`Snapshots::AllowOrphansMode`); images start in DENY, and take the
/// VM disk's mode when a VM hands its snapshots over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum OrphansMode {
    /// `DENY`: the active snapshot and snapshots with children cannot be deleted.
    #[default]
    Deny,
    /// `MIXED`: as DENY for deletion.
    Mixed,
    /// `LINEAR`: reverting deletes the younger snapshots.
    Linear,
    /// `ALLOW`: anything may be deleted.
    Allow,
}

/// An `ALLOW_ORPHANS` value that is not `DENY`, `MIXED`, `LINEAR` or `ALLOW`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Unknown ALLOW_ORPHANS mode {value:?}: expected DENY, MIXED, LINEAR or ALLOW")]
pub struct OrphansModeError {
    /// The text that was given.
    pub value: String,
}

impl OrphansMode {
    /// The `ALLOW_ORPHANS` value.
    pub const fn as_str(self) -> &'static str {
        match self {
            OrphansMode::Deny => "DENY",
            OrphansMode::Mixed => "MIXED",
            OrphansMode::Linear => "LINEAR",
            OrphansMode::Allow => "ALLOW",
        }
    }
}

impl FromStr for OrphansMode {
    type Err = OrphansModeError;

    /// Any case, as `Snapshots::str_to_allow_orphans_mode` upper-cases.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = s.to_ascii_uppercase();
        [
            OrphansMode::Deny,
            OrphansMode::Mixed,
            OrphansMode::Linear,
            OrphansMode::Allow,
        ]
        .into_iter()
        .find(|m| m.as_str() == wanted)
        .ok_or_else(|| OrphansModeError {
            value: s.to_owned(),
        })
    }
}

impl fmt::Display for OrphansMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the `snapshot-*` commands need to know of the snapshot named.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SnapshotFacts {
    /// The snapshot exists.
    pub exists: bool,
    /// It is the active snapshot.
    pub active: bool,
    /// It has children.
    pub has_children: bool,
    /// The image's snapshot mode.
    pub orphans: OrphansMode,
}

/// The three snapshot operations, for messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SnapshotOp {
    /// `snapshot-delete`.
    Delete,
    /// `snapshot-revert`.
    Revert,
    /// `snapshot-flatten`.
    Flatten,
}

/// A datastore driver operation on an image, started by a transition or finished by
/// [`Command::DriverDone`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DriverOp {
    /// `CP`: copy PATH into the datastore.
    Cp,
    /// `MKFS`: create an empty disk; `saving` for a VM disk save-as, which the VM side unlocks.
    Mkfs {
        /// The image is the target of a disk save-as.
        saving: bool,
    },
    /// `CLONE`: copy another image.
    Clone,
    /// `RM`: remove the image; `force_delete` is the template's `FORCE_DELETE` (set by
    /// `delete --force`), which drops the image even if the driver fails.
    Rm {
        /// `FORCE_DELETE=YES`.
        force_delete: bool,
    },
    /// `SNAP_DELETE`.
    SnapshotDelete,
    /// `SNAP_REVERT`.
    SnapshotRevert,
    /// `SNAP_FLATTEN`.
    SnapshotFlatten,
}

/// A command on an existing image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// `oneimage enable`.
    Enable,
    /// `oneimage disable`.
    Disable,
    /// `oneimage persistent` (`true`) or `nonpersistent` (`false`).
    Persistent {
        /// The persistence asked for.
        persistent: bool,
        /// The image's datastore.
        datastore: DatastoreFacts,
    },
    /// `oneimage delete`.
    Delete {
        /// `--force`.
        force: bool,
        /// For a BACKUP image: its VM is taking a backup that this delete would break (the VM
        /// is in BACKUP or BACKUP_POWEROFF in INCREMENT mode or without CONCURRENT_FORGET, or
        /// is flattening increments).
        backup_vm_busy: bool,
    },
    /// `oneimage clone`, as seen by the source image.
    Clone {
        /// The datastores involved.
        target: CloneTarget,
    },
    /// A clone of this image finished, well or not (`release_cloning_resource`).
    ReleaseClone,
    /// `oneimage chtype`.
    Chtype {
        /// The new type.
        to: ImageType,
    },
    /// `oneimage snapshot-delete`.
    SnapshotDelete {
        /// The snapshot named.
        snapshot: SnapshotFacts,
    },
    /// `oneimage snapshot-revert`.
    SnapshotRevert {
        /// The snapshot named.
        snapshot: SnapshotFacts,
    },
    /// `oneimage snapshot-flatten`.
    SnapshotFlatten {
        /// The snapshot named.
        snapshot: SnapshotFacts,
    },
    /// A VM starts using the image as a DISK (`acquire_image`); `hot_attach` for a disk
    /// attached to a running VM.
    Acquire {
        /// The disk is hot-attached.
        hot_attach: bool,
    },
    /// A VM stops using the image (`release_image`); `vm_failed` when the VM failed, which
    /// puts a persistent image in ERROR.
    Release {
        /// The VM failed.
        vm_failed: bool,
    },
    /// A datastore driver operation finished.
    DriverDone {
        /// The operation.
        op: DriverOp,
        /// It succeeded.
        success: bool,
    },
}

/// The XML-RPC method a command is sent as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method {
    /// `one.image.allocate` (`create`).
    Allocate,
    /// `one.image.clone`.
    Clone,
    /// `one.image.delete`.
    Delete,
    /// `one.image.enable` (`enable` and `disable`).
    Enable,
    /// `one.image.persistent` (`persistent` and `nonpersistent`).
    Persistent,
    /// `one.image.chtype`.
    Chtype,
    /// `one.image.snapshotdelete`.
    SnapshotDelete,
    /// `one.image.snapshotrevert`.
    SnapshotRevert,
    /// `one.image.snapshotflatten`.
    SnapshotFlatten,
    /// `one.image.chmod`.
    Chmod,
    /// `one.image.chown` (`chown` and `chgrp`).
    Chown,
    /// `one.image.rename`.
    Rename,
    /// `one.image.update`.
    Update,
    /// `one.image.info` (`show`).
    Info,
    /// `one.image.lock`.
    Lock,
    /// `one.image.unlock`.
    Unlock,
    /// `one.image.restore`.
    Restore,
}

impl Method {
    /// The method name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Method::Allocate => "one.image.allocate",
            Method::Clone => "one.image.clone",
            Method::Delete => "one.image.delete",
            Method::Enable => "one.image.enable",
            Method::Persistent => "one.image.persistent",
            Method::Chtype => "one.image.chtype",
            Method::SnapshotDelete => "one.image.snapshotdelete",
            Method::SnapshotRevert => "one.image.snapshotrevert",
            Method::SnapshotFlatten => "one.image.snapshotflatten",
            Method::Chmod => "one.image.chmod",
            Method::Chown => "one.image.chown",
            Method::Rename => "one.image.rename",
            Method::Update => "one.image.update",
            Method::Info => "one.image.info",
            Method::Lock => "one.image.lock",
            Method::Unlock => "one.image.unlock",
            Method::Restore => "one.image.restore",
        }
    }
}

/// A method name that is not one of `one.image.*`'s.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Unknown image method {value:?}")]
pub struct MethodError {
    /// The text that was given.
    pub value: String,
}

impl Method {
    /// Every method.
    pub const ALL: [Method; 17] = [
        Method::Allocate,
        Method::Clone,
        Method::Delete,
        Method::Enable,
        Method::Persistent,
        Method::Chtype,
        Method::SnapshotDelete,
        Method::SnapshotRevert,
        Method::SnapshotFlatten,
        Method::Chmod,
        Method::Chown,
        Method::Rename,
        Method::Update,
        Method::Info,
        Method::Lock,
        Method::Unlock,
        Method::Restore,
    ];
}

impl FromStr for Method {
    type Err = MethodError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Method::ALL
            .into_iter()
            .find(|m| m.as_str() == s)
            .ok_or_else(|| MethodError {
                value: s.to_owned(),
            })
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Command {
    /// The method a client sends this command as; `None` for the server's own events
    /// (acquire, release, driver completions).
    pub const fn method(&self) -> Option<Method> {
        match self {
            Command::Enable | Command::Disable => Some(Method::Enable),
            Command::Persistent { .. } => Some(Method::Persistent),
            Command::Delete { .. } => Some(Method::Delete),
            Command::Clone { .. } => Some(Method::Clone),
            Command::Chtype { .. } => Some(Method::Chtype),
            Command::SnapshotDelete { .. } => Some(Method::SnapshotDelete),
            Command::SnapshotRevert { .. } => Some(Method::SnapshotRevert),
            Command::SnapshotFlatten { .. } => Some(Method::SnapshotFlatten),
            Command::ReleaseClone
            | Command::Acquire { .. }
            | Command::Release { .. }
            | Command::DriverDone { .. } => None,
        }
    }
}

/// The server's error codes (`Request::ErrorCode`), which decide how a refusal is framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// `AUTHORIZATION`: `User [uid] : <msg>.`
    Authorization,
    /// `ACTION`: the message as is.
    Action,
    /// `INTERNAL`: the message as is.
    Internal,
    /// `ALLOCATE`: `Error allocating a new image. <msg>`.
    Allocate,
    /// `NO_EXISTS`: `Error getting image [id].`
    NoExists,
    /// Not a response: oned only logs the text.
    Logged,
}

/// Why OpenNebula refuses a command. `Display` is the server's message (`att.resp_msg`);
/// [`RequestError`] adds the request framing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The permission or lock check failed (`SharedAPI::basic_authorization`,
    /// `AuthManager.cc`).
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// The object does not exist; `Request::failure_message` forms the text, naming the kind
    /// in lower case (`RequestLogger::object_name`): `Error getting image [5].`
    #[error("Error getting {} [{id}].", .kind.object_name())]
    NotFound {
        /// The kind of object.
        kind: ObjectKind,
        /// Its id.
        id: u32,
    },
    /// `oneimage lock`/`unlock` refusals.
    #[error(transparent)]
    Lock(#[from] LockError),

    // ---- delete: ImageAPI::del_image, ImageManager::delete_image, SharedAPI::delete_object
    /// A LOCKED* image deleted without `--force`. Text: `ImageAPI::del_image`.
    #[error(
        "Image locked, use --force flag to remove the image. Force delete may leave some files \
         on Datastore"
    )]
    DeleteLocked,
    /// VMs use the image. Text: `ImageManager::delete_image`, framed by
    /// `SharedAPI::delete_object`.
    #[error("Cannot delete IMAGE. There are {running_vms} VMs using it.")]
    DeleteInUse {
        /// `RUNNING_VMS`.
        running_vms: u32,
    },
    /// The image is being cloned. Same sources.
    #[error("Cannot delete IMAGE. There are {cloning_ops} active clone operations.")]
    DeleteCloning {
        /// `CLONING_OPS`.
        cloning_ops: u32,
    },
    /// A BACKUP image whose VM is taking a backup. Same sources.
    #[error(
        "Cannot delete IMAGE. Active backup on the associated VM. Wait till it finish to delete \
         the backup Image"
    )]
    DeleteBackupActive,

    // ---- enable/disable: ImageAPI::enable, ImageManager::enable_image
    /// BACKUP images have no enabled state.
    #[error("Could not {} image: Backup images cannot be enabled or disabled.", verb(.enable))]
    EnableBackup {
        /// `enable` (true) or `disable`.
        enable: bool,
    },
    /// The state does not allow it.
    #[error("Could not {} image: Image cannot be in state {}.", verb(.enable), .state.state_to_str())]
    EnableState {
        /// `enable` (true) or `disable`.
        enable: bool,
        /// The current state.
        state: ImageState,
    },

    // ---- persistent/nonpersistent: ImageAPI::persistent, Image::persistent (Image.h)
    /// The datastore is lvm. Text: `ImageAPI::persistent`.
    #[error("lvm datastores doesn't support change of image persistency.")]
    PersistencyLvm,
    /// KERNEL, RAMDISK or CONTEXT made persistent. Text: `ImageAPI::persistent`.
    #[error("KERNEL, RAMDISK and CONTEXT must be non-persistent")]
    PersistencyFileType,
    /// BACKUP made non-persistent. Text: `ImageAPI::persistent`.
    #[error("BACKUP images must be persistent")]
    PersistencyBackup,
    /// Made non-persistent in a `PERSISTENT_ONLY` datastore. Text: `ImageAPI::persistent`.
    #[error("This Datastore only accepts persistent images.")]
    PersistentOnlyDatastore,
    /// Made non-persistent with snapshots. Text: `Image::persistent`, framed by
    /// `ImageAPI::persistent`.
    #[error("Could not make image non-persistent: Image has snapshots.")]
    PersistencySnapshots,
    /// The state does not allow it. Same sources.
    #[error("Could not make image {}: Image cannot be in state {}.", persistence(.persistent), .state.state_to_str())]
    PersistencyState {
        /// The persistence asked for.
        persistent: bool,
        /// The current state.
        state: ImageState,
    },

    // ---- clone: ImageAPI::clone, ImageManager::can_clone_image (via ImagePool::allocate)
    /// The type cannot be cloned. Text: `ImageAPI::clone`.
    #[error("{image_type} images cannot be cloned.")]
    CloneType {
        /// The source's type.
        image_type: ImageType,
    },
    /// The source has snapshots. Text: `ImageAPI::clone`.
    #[error("Cannot clone images with snapshots")]
    CloneSnapshots,
    /// A datastore involved is not an IMAGE datastore. Text: `ImageAPI::clone`.
    #[error("Clone only supported for IMAGE_DS Datastores")]
    CloneDatastoreType,
    /// The two datastores have different `DS_MAD`s. Text: `ImageAPI::clone`.
    #[error("Clone only supported to same DS_MAD Datastores")]
    CloneDsMad,
    /// The target datastore is full. Text: `ImageAPI::clone` and `ImageAllocateAPI::allocate`.
    #[error("Not enough space in datastore")]
    NotEnoughSpace,
    /// The source's state does not allow cloning (an ALLOCATE error). Text:
    /// `ImageManager::can_clone_image`.
    #[error("Cannot clone image in state: {}", .state.state_to_str())]
    CloneState {
        /// The source's state.
        state: ImageState,
    },

    // ---- chtype: ImageAPI::change_type, Image::set_type
    /// The new type is outside the image's family. Text: `ImageAPI::change_type`.
    #[error("Cannot change image type to an incompatible type for the current datastore.")]
    ChtypeIncompatible,
    /// BACKUP and FILESYSTEM cannot change type. Text: `ImageAPI::change_type`, reproduced with
    /// its missing space (`"Cannot change type for" + type + " images."`).
    #[error("Cannot change type for{image_type} images.")]
    ChtypeImmutable {
        /// The current type.
        image_type: ImageType,
    },
    /// With snapshots, only OS and DATABLOCK. Text: `Image::set_type`.
    #[error("Image with snapshots can be only of type OS or DATABLOCK")]
    ChtypeSnapshots,

    // ---- snapshots: ImageManager::{delete,revert,flatten}_snapshot, Snapshots::test_delete_image
    /// Only OS and DATABLOCK images have snapshots (CDROM gets this text too). Text:
    /// `ImageManager::delete_snapshot` and siblings.
    #[error(
        "IMAGES of type KERNEL, RAMDISK, BACKUP, FILESYSTEM and CONTEXT does not have snapshots."
    )]
    SnapshotType,
    /// The image is not READY. Same sources.
    #[error("Cannot {} in state {}", snapshot_phrase(.op), .state.state_to_str())]
    SnapshotState {
        /// The operation.
        op: SnapshotOp,
        /// The current state.
        state: ImageState,
    },
    /// No such snapshot. Same sources and `Snapshots::test_delete_image`.
    #[error("Snapshot does not exist")]
    SnapshotMissing,
    /// Deleting the active snapshot in DENY or MIXED mode. Text: `Snapshots::test_delete_image`.
    #[error("Cannot delete the active snapshot")]
    SnapshotActive,
    /// Deleting a snapshot with children in DENY or MIXED mode. Same source.
    #[error("Cannot delete snapshot with children")]
    SnapshotChildren,

    // ---- VM disks: ImageManager::acquire_image (reported inside the VM request's error)
    /// The type cannot be a DISK.
    #[error("Image {id} ({name}) of type {image_type} cannot be used as DISK.")]
    NotADisk {
        /// The image id.
        id: u32,
        /// The image name.
        name: String,
        /// Its type.
        image_type: ImageType,
    },
    /// A hot-attach while the image is locked.
    #[error("Cannot acquire image {id}, it is locked")]
    AcquireLocked {
        /// The image id.
        id: u32,
    },
    /// A persistent, non-shareable image already in use.
    #[error("Cannot acquire image {id}, it is persistent and already in use")]
    AcquireInUse {
        /// The image id.
        id: u32,
    },
    /// The state does not allow use.
    #[error("Cannot acquire image {id}, it is in state: {}", .state.state_to_str())]
    AcquireState {
        /// The image id.
        id: u32,
        /// The current state.
        state: ImageState,
    },

    // ---- log-only texts of release_image / release_cloning_resource
    /// A release of a type that is never acquired. Logged by `ImageManager::release_image`.
    #[error("Trying to release a KERNEL, RAMDISK, BACKUP or CONTEXT image")]
    ReleaseType,
    /// A release in a state without VMs. Logged by `ImageManager::release_image`.
    #[error("Releasing image in wrong state: {}", .state.state_to_str())]
    ReleaseState {
        /// The current state.
        state: ImageState,
    },
    /// A clone release of a type that cannot be cloned. Logged by
    /// `ImageManager::release_cloning_resource`.
    #[error("Trying to release a cloning {image_type} image")]
    ReleaseCloneType {
        /// The image's type.
        image_type: ImageType,
    },
    /// A clone release outside USED and CLONE. Same source.
    #[error("Release cloning image in wrong state")]
    ReleaseCloneState {
        /// The current state.
        state: ImageState,
    },

    // ---- creation: ImageAllocateAPI::allocate, ImagePool::allocate, Image::insert
    /// SYSTEM and BACKUP datastores take no new images. Text: `ImageAllocateAPI::allocate`.
    #[error("New images can only be allocated in a files or image datastore.")]
    AllocateDatastore,
    /// A non-persistent image in a `PERSISTENT_ONLY` datastore. Text:
    /// `ImageAllocateAPI::allocate`.
    #[error("This Datastore only accepts persistent images.")]
    AllocatePersistentOnly,
    /// OS, CDROM, DATABLOCK or FILESYSTEM outside an IMAGE datastore. Text:
    /// `ImagePool::allocate`.
    #[error(
        "Only IMAGES of type KERNEL, RAMDISK and CONTEXT can be registered in a FILE_DS datastore"
    )]
    AllocateNeedsImageDatastore,
    /// KERNEL, RAMDISK or CONTEXT outside a FILE datastore. Text: `ImagePool::allocate`.
    #[error(
        "IMAGES of type KERNEL, RAMDISK and CONTEXT cannot be registered in an IMAGE_DS datastore"
    )]
    AllocateNeedsFileDatastore,
    /// BACKUP outside a BACKUP datastore. Text: `ImagePool::allocate`.
    #[error("IMAGES of type BACKUP can only be registered in an BACKUP_DS datastore")]
    AllocateNeedsBackupDatastore,
    /// The owner already has an image of that name. Text: `ImagePool::allocate`.
    #[error("NAME is already taken by IMAGE {id}.")]
    NameTaken {
        /// The id of the image that has the name.
        id: u32,
    },
    /// Both PATH and SOURCE. Text: `Image::insert`.
    #[error("PATH and SOURCE cannot be both set.")]
    PathAndSource,
    /// SOURCE without FORMAT. Text: `Image::insert`.
    #[error("SOURCE needs FORMAT to be set.")]
    SourceNeedsFormat,
    /// A BACKUP image without SOURCE. Text: `Image::insert`.
    #[error("SOURCE cannot be empty for BACKUP images")]
    BackupNeedsSource,
    /// CDROM, KERNEL, RAMDISK or CONTEXT with neither PATH nor SOURCE. Text: `Image::insert`.
    #[error("No PATH nor SOURCE in template.")]
    NoPathNorSource,
    /// A BACKUP image without `VM_ID`. Text: `Image::insert`.
    #[error("No associated VM ID for BACKUP image.")]
    BackupNeedsVm,
    /// strata's `snapshot-create` of an image that is not persistent: OpenNebula takes image
    /// snapshots from the disks of running VMs, which only persistent images keep (strata's
    /// text).
    #[error("Snapshots are taken of persistent images only")]
    SnapshotNotPersistent,
    /// strata's `snapshot-create` of an image that is not READY (strata's text, in the words
    /// of the other snapshot operations).
    #[error("Cannot take a snapshot in state {}", .state.state_to_str())]
    SnapshotCreateState {
        /// The current state.
        state: ImageState,
    },
    /// A TYPE that is not one of the eight (`Image::set_type`; OpenNebula's own text is garbled
    /// by a pointer addition, so strata names the value).
    #[error("Unknown type {value}")]
    UnknownType {
        /// The TYPE given.
        value: String,
    },
    /// The datastore driver could not size the new image (`ImageAllocate`, `stat_image`): the
    /// driver's or the template's reason follows.
    #[error("Cannot parse image SIZE: {message}")]
    StatFailed {
        /// Why (`Wrong number or missing SIZE attribute.`, a driver error).
        message: String,
    },
    /// A non-admin's template sets an attribute oned.conf restricts (`IMAGE_RESTRICTED_ATTR`,
    /// SOURCE by default). Text: `ImageAPI.cc`, `ImageAllocateAPI::allocate`.
    #[error("Template includes a restricted attribute {name}")]
    RestrictedAttribute {
        /// The attribute.
        name: String,
    },
    /// A name OpenNebula does not accept (`PoolObjectSQL::name_is_valid`); `allocating` when a
    /// new object is being made (framed as an allocation error), else a rename.
    #[error("{error}")]
    InvalidName {
        /// What is wrong with it.
        error: crate::name::NameError,
        /// The request allocates an object.
        allocating: bool,
    },
    /// `rename` to a name its owner already uses (`SharedAPI.cc`, `RequestManagerRename`).
    #[error(
        "{} cannot be renamed to {name} because it collides with {} {id}",
        .kind.object_name(),
        .kind.object_name()
    )]
    RenameCollision {
        /// The kind of object.
        kind: ObjectKind,
        /// The name asked for.
        name: String,
        /// The object that has it.
        id: u32,
    },
    /// `chown` to a user who already owns an object of that name (`SharedAPI.cc`,
    /// `RequestManagerChown::check_name_unique`).
    #[error(
        "user [{uid}] already owns {} [{id}] with NAME {name}",
        .kind.object_name()
    )]
    ChownCollision {
        /// The kind of object.
        kind: ObjectKind,
        /// The new owner.
        uid: u32,
        /// The object the new owner has with that name.
        id: u32,
        /// The name.
        name: String,
    },
}

fn verb(enable: &bool) -> &'static str {
    if *enable { "enable" } else { "disable" }
}

fn persistence(persistent: &bool) -> &'static str {
    if *persistent {
        "persistent"
    } else {
        "non-persistent"
    }
}

fn snapshot_phrase(op: &SnapshotOp) -> &'static str {
    match op {
        SnapshotOp::Delete => "delete snapshot",
        SnapshotOp::Revert => "revert to snapshot",
        SnapshotOp::Flatten => "flatten snapshot",
    }
}

impl Refusal {
    /// The server's error code for this refusal.
    pub const fn code(&self) -> ErrorCode {
        match self {
            Refusal::Auth(_) => ErrorCode::Authorization,
            Refusal::NotFound { .. } => ErrorCode::NoExists,
            Refusal::CloneState { .. }
            | Refusal::AllocateDatastore
            | Refusal::AllocatePersistentOnly
            | Refusal::AllocateNeedsImageDatastore
            | Refusal::AllocateNeedsFileDatastore
            | Refusal::AllocateNeedsBackupDatastore
            | Refusal::NameTaken { .. }
            | Refusal::PathAndSource
            | Refusal::SourceNeedsFormat
            | Refusal::BackupNeedsSource
            | Refusal::NoPathNorSource
            | Refusal::BackupNeedsVm
            | Refusal::UnknownType { .. }
            | Refusal::InvalidName {
                allocating: true, ..
            } => ErrorCode::Allocate,
            Refusal::RestrictedAttribute { .. } => ErrorCode::Authorization,
            Refusal::DeleteLocked
            | Refusal::EnableBackup { .. }
            | Refusal::EnableState { .. }
            | Refusal::PersistencyLvm
            | Refusal::PersistentOnlyDatastore
            | Refusal::PersistencySnapshots
            | Refusal::PersistencyState { .. }
            | Refusal::ChtypeSnapshots
            | Refusal::NotADisk { .. }
            | Refusal::AcquireLocked { .. }
            | Refusal::AcquireInUse { .. }
            | Refusal::AcquireState { .. }
            | Refusal::StatFailed { .. }
            | Refusal::ChownCollision { .. } => ErrorCode::Internal,
            Refusal::ReleaseType
            | Refusal::ReleaseState { .. }
            | Refusal::ReleaseCloneType { .. }
            | Refusal::ReleaseCloneState { .. } => ErrorCode::Logged,
            Refusal::Lock(_)
            | Refusal::DeleteInUse { .. }
            | Refusal::DeleteCloning { .. }
            | Refusal::DeleteBackupActive
            | Refusal::PersistencyFileType
            | Refusal::PersistencyBackup
            | Refusal::CloneType { .. }
            | Refusal::CloneSnapshots
            | Refusal::CloneDatastoreType
            | Refusal::CloneDsMad
            | Refusal::NotEnoughSpace
            | Refusal::ChtypeIncompatible
            | Refusal::ChtypeImmutable { .. }
            | Refusal::SnapshotType
            | Refusal::SnapshotState { .. }
            | Refusal::SnapshotMissing
            | Refusal::SnapshotActive
            | Refusal::SnapshotChildren
            | Refusal::SnapshotNotPersistent
            | Refusal::SnapshotCreateState { .. }
            | Refusal::InvalidName {
                allocating: false, ..
            }
            | Refusal::RenameCollision { .. } => ErrorCode::Action,
        }
    }
}

/// A refusal framed as the server answers a request (`Request::failure_message`), e.g.
/// `[one.image.enable] Could not enable image: Image cannot be in state USED.` This is the text
/// the `oneimage` CLI prints on standard error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct RequestError {
    /// The method of the request.
    pub method: Method,
    /// The requester's uid (named by AUTHORIZATION errors).
    pub uid: u32,
    /// The refusal.
    #[source]
    pub refusal: Refusal,
}

impl fmt::Display for RequestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}] ", self.method)?;
        match self.refusal.code() {
            ErrorCode::Authorization => write!(f, "User [{}] : {}.", self.uid, self.refusal),
            ErrorCode::Allocate => write!(f, "Error allocating a new image. {}", self.refusal),
            ErrorCode::Action | ErrorCode::Internal | ErrorCode::NoExists | ErrorCode::Logged => {
                write!(f, "{}", self.refusal)
            }
        }
    }
}

/// What a command did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// Nothing changed (e.g. `enable` of a READY image, `persistent` of a persistent one).
    NoOp,
    /// The image changed; no driver is involved.
    Changed,
    /// The image changed and the server started this driver operation.
    Driver(DriverOp),
    /// The image is gone from the pool.
    Dropped,
}

/// The result of an allowed command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The image after the command.
    pub image: ImageFacts,
    /// What happened.
    pub effect: Effect,
    /// The image this one was being cloned from, which the server now releases (apply
    /// [`Command::ReleaseClone`] to it).
    pub release_clone_source: Option<u32>,
    /// OpenNebula would have cleared the object lock here (`Image::set_state`); strata keeps it.
    pub upstream_clears_lock: bool,
}

impl Outcome {
    fn from(image: &ImageFacts) -> Outcome {
        Outcome {
            image: image.clone(),
            effect: Effect::Changed,
            release_clone_source: None,
            upstream_clears_lock: false,
        }
    }

    fn no_op(image: &ImageFacts) -> Outcome {
        Outcome {
            effect: Effect::NoOp,
            ..Outcome::from(image)
        }
    }

    /// `Image::set_state`.
    fn set_state(&mut self, state: ImageState) {
        if state != ImageState::Locked && self.image.lock != LockLevel::None {
            self.upstream_clears_lock = true;
        }
        self.image.state = state;
    }

    /// `Image::set_state_unlock`.
    fn unlock(&mut self) {
        match self.image.state {
            ImageState::Locked => self.set_state(ImageState::Ready),
            ImageState::LockedUsed => self.set_state(ImageState::Used),
            ImageState::LockedUsedPers => self.set_state(ImageState::UsedPers),
            ImageState::Error => self.set_state(if self.image.running_vms == 0 {
                ImageState::Ready
            } else if self.image.persistent {
                ImageState::UsedPers
            } else {
                ImageState::Used
            }),
            _ => {}
        }
    }
}

/// Applies `command` to `image` with OpenNebula's state rules, without authorisation: the
/// checks come in the server's order, so the refusal is the one OpenNebula would give.
pub fn transition(image: &ImageFacts, command: &Command) -> Result<Outcome, Refusal> {
    before_authorization(image, command)?;
    after_authorization(image, command)
}

/// Like [`transition`], with the authorisation check of the request at the point where the
/// server makes it (after the delete `--force` check and the clone type and datastore checks,
/// before everything else). The server's own events (acquire, release, driver completions) are
/// not authorised. Datastore permissions and quotas are not modelled.
pub fn perform(
    image: &ImageFacts,
    command: &Command,
    requester: &Requester,
) -> Result<Outcome, Refusal> {
    before_authorization(image, command)?;
    let object = image.auth();
    let request = AuthRequest::new(requester);
    let request = match command {
        Command::Enable
        | Command::Disable
        | Command::Persistent { .. }
        | Command::Chtype { .. }
        | Command::SnapshotDelete { .. }
        | Command::SnapshotRevert { .. }
        | Command::SnapshotFlatten { .. } => request.add(Operation::Manage, &object),
        Command::Delete { .. } => {
            let op = if image.state.is_locked() {
                Operation::Admin
            } else {
                Operation::Manage
            };
            request.add(op, &object)
        }
        Command::Clone { .. } => request
            .add(
                Operation::Create,
                &ObjectAuth::for_create(ObjectKind::Image, requester),
            )
            .add(Operation::Use, &object),
        Command::ReleaseClone
        | Command::Acquire { .. }
        | Command::Release { .. }
        | Command::DriverDone { .. } => request,
    };
    request
        .check()
        .map_err(|denied| Refusal::Auth(AuthError::Denied(denied)))?;
    after_authorization(image, command)
}

fn before_authorization(image: &ImageFacts, command: &Command) -> Result<(), Refusal> {
    match command {
        Command::Delete { force: false, .. } if image.state.is_locked() => {
            Err(Refusal::DeleteLocked)
        }
        Command::Clone { target } => {
            if !image.image_type.cloneable() {
                return Err(Refusal::CloneType {
                    image_type: image.image_type,
                });
            }
            if image.snapshots > 0 {
                return Err(Refusal::CloneSnapshots);
            }
            if target.target_type != DatastoreType::Image {
                return Err(Refusal::CloneDatastoreType);
            }
            if let Some(source_type) = target.source_type {
                if source_type != DatastoreType::Image {
                    return Err(Refusal::CloneDatastoreType);
                }
                if !target.same_ds_mad {
                    return Err(Refusal::CloneDsMad);
                }
            }
            if !target.enough_space {
                return Err(Refusal::NotEnoughSpace);
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

fn after_authorization(image: &ImageFacts, command: &Command) -> Result<Outcome, Refusal> {
    use ImageState as S;
    let mut out = Outcome::from(image);
    match *command {
        Command::Enable | Command::Disable => {
            let enable = matches!(command, Command::Enable);
            if image.image_type == ImageType::Backup {
                return Err(Refusal::EnableBackup { enable });
            }
            match (enable, image.state) {
                (true, S::Disabled) => out.set_state(S::Ready),
                (true, S::Error) => out.unlock(),
                (true, S::Ready) | (false, S::Disabled) => return Ok(Outcome::no_op(image)),
                (false, S::Ready | S::Error) => out.set_state(S::Disabled),
                (_, state) => return Err(Refusal::EnableState { enable, state }),
            }
        }
        Command::Persistent {
            persistent,
            datastore,
        } => {
            if persistent == image.persistent {
                return Ok(Outcome::no_op(image));
            }
            if datastore.lvm {
                return Err(Refusal::PersistencyLvm);
            }
            match image.image_type {
                ImageType::Kernel | ImageType::Ramdisk | ImageType::Context => {
                    return Err(Refusal::PersistencyFileType);
                }
                ImageType::Backup => return Err(Refusal::PersistencyBackup),
                _ => {}
            }
            if datastore.persistent_only && !persistent {
                return Err(Refusal::PersistentOnlyDatastore);
            }
            if image.snapshots > 0 && !persistent {
                return Err(Refusal::PersistencySnapshots);
            }
            if matches!(
                image.state,
                S::Used | S::Clone | S::UsedPers | S::LockedUsed | S::LockedUsedPers
            ) {
                return Err(Refusal::PersistencyState {
                    persistent,
                    state: image.state,
                });
            }
            out.image.persistent = persistent;
        }
        Command::Delete {
            force,
            backup_vm_busy,
        } => {
            if image.image_type == ImageType::Backup && backup_vm_busy {
                return Err(Refusal::DeleteBackupActive);
            }
            match image.state {
                S::Ready if image.running_vms != 0 && image.image_type != ImageType::Backup => {
                    return Err(Refusal::DeleteInUse {
                        running_vms: image.running_vms,
                    });
                }
                S::Clone => {
                    return Err(Refusal::DeleteCloning {
                        cloning_ops: image.cloning_ops,
                    });
                }
                S::Used | S::UsedPers | S::LockedUsed | S::LockedUsedPers => {
                    return Err(Refusal::DeleteInUse {
                        running_vms: image.running_vms,
                    });
                }
                _ => {}
            }
            if image.state == S::Locked {
                out.release_clone_source = image.clone_source;
            }
            out.image.clone_source = None;
            if image.has_source {
                out.set_state(S::Delete);
                // `--force` sets FORCE_DELETE, which drops the image even if RM fails.
                out.effect = Effect::Driver(DriverOp::Rm {
                    force_delete: force,
                });
            } else {
                out.effect = Effect::Dropped;
            }
        }
        Command::Clone { .. } => match image.state {
            S::Ready => {
                out.image.cloning_ops = image.cloning_ops.saturating_add(1);
                out.set_state(if image.persistent { S::Clone } else { S::Used });
            }
            S::Used | S::Clone => out.image.cloning_ops = image.cloning_ops.saturating_add(1),
            state => return Err(Refusal::CloneState { state }),
        },
        Command::ReleaseClone => {
            if !image.image_type.cloneable() {
                return Err(Refusal::ReleaseCloneType {
                    image_type: image.image_type,
                });
            }
            match image.state {
                S::Used | S::Clone => {
                    out.image.cloning_ops = image.cloning_ops.saturating_sub(1);
                    if out.image.cloning_ops == 0 && image.running_vms == 0 {
                        out.set_state(S::Ready);
                    }
                }
                state => return Err(Refusal::ReleaseCloneState { state }),
            }
        }
        Command::Chtype { to } => {
            match image.image_type.chtype_family() {
                ChtypeFamily::Immutable => {
                    return Err(Refusal::ChtypeImmutable {
                        image_type: image.image_type,
                    });
                }
                family if to.chtype_family() != family => {
                    return Err(Refusal::ChtypeIncompatible);
                }
                _ => {}
            }
            if !matches!(to, ImageType::Os | ImageType::Datablock) && image.snapshots > 0 {
                return Err(Refusal::ChtypeSnapshots);
            }
            if to == image.image_type {
                return Ok(Outcome::no_op(image));
            }
            out.image.image_type = to;
        }
        Command::SnapshotDelete { snapshot } => {
            check_snapshot(image, SnapshotOp::Delete, &snapshot)?;
            out.set_state(S::Locked);
            out.effect = Effect::Driver(DriverOp::SnapshotDelete);
        }
        Command::SnapshotRevert { snapshot } => {
            check_snapshot(image, SnapshotOp::Revert, &snapshot)?;
            out.set_state(S::Locked);
            out.effect = Effect::Driver(DriverOp::SnapshotRevert);
        }
        Command::SnapshotFlatten { snapshot } => {
            check_snapshot(image, SnapshotOp::Flatten, &snapshot)?;
            out.set_state(S::Locked);
            out.effect = Effect::Driver(DriverOp::SnapshotFlatten);
        }
        Command::Acquire { hot_attach } => acquire(image, hot_attach, &mut out)?,
        Command::Release { vm_failed } => release(image, vm_failed, &mut out)?,
        Command::DriverDone { op, success } => driver_done(image, op, success, &mut out),
    }
    Ok(out)
}

fn check_snapshot(image: &ImageFacts, op: SnapshotOp, snap: &SnapshotFacts) -> Result<(), Refusal> {
    if !image.image_type.has_snapshots() {
        return Err(Refusal::SnapshotType);
    }
    if image.state != ImageState::Ready {
        return Err(Refusal::SnapshotState {
            op,
            state: image.state,
        });
    }
    if !snap.exists {
        return Err(Refusal::SnapshotMissing);
    }
    if op == SnapshotOp::Delete && matches!(snap.orphans, OrphansMode::Deny | OrphansMode::Mixed) {
        if snap.active {
            return Err(Refusal::SnapshotActive);
        }
        if snap.has_children {
            return Err(Refusal::SnapshotChildren);
        }
    }
    Ok(())
}

/// `ImageManager::acquire_image`.
fn acquire(image: &ImageFacts, hot_attach: bool, out: &mut Outcome) -> Result<(), Refusal> {
    use ImageState as S;
    let id = image.id;
    if !image.image_type.usable_as_disk() {
        return Err(Refusal::NotADisk {
            id,
            name: image.name.clone(),
            image_type: image.image_type,
        });
    }
    let in_use = || Refusal::AcquireInUse { id };
    let one_more = image.running_vms.saturating_add(1);
    match image.state {
        S::Ready => {
            out.image.running_vms = one_more;
            out.set_state(if image.persistent {
                S::UsedPers
            } else {
                S::Used
            });
        }
        S::Locked if hot_attach => return Err(Refusal::AcquireLocked { id }),
        S::Locked => {
            out.image.running_vms = one_more;
            out.set_state(if image.persistent {
                S::LockedUsedPers
            } else {
                S::LockedUsed
            });
        }
        S::UsedPers | S::LockedUsedPers if !image.shareable => return Err(in_use()),
        S::UsedPers | S::Used => out.image.running_vms = one_more,
        S::LockedUsedPers | S::LockedUsed if hot_attach => {
            return Err(Refusal::AcquireLocked { id });
        }
        S::LockedUsedPers | S::LockedUsed => out.image.running_vms = one_more,
        state @ (S::Init | S::Disabled | S::Error | S::Delete | S::Clone) => {
            return Err(Refusal::AcquireState { id, state });
        }
    }
    Ok(())
}

/// `ImageManager::release_image`.
fn release(image: &ImageFacts, vm_failed: bool, out: &mut Outcome) -> Result<(), Refusal> {
    use ImageState as S;
    if !image.image_type.usable_as_disk() {
        return Err(Refusal::ReleaseType);
    }
    let left = image.running_vms.saturating_sub(1);
    match image.state {
        S::UsedPers | S::LockedUsedPers => {
            out.image.running_vms = left;
            if vm_failed {
                out.set_state(S::Error);
            } else if left == 0 {
                out.set_state(if image.state == S::UsedPers {
                    S::Ready
                } else {
                    S::Locked
                });
            }
        }
        S::Used | S::LockedUsed => {
            out.image.running_vms = left;
            if left == 0 && image.cloning_ops == 0 {
                out.set_state(if image.state == S::Used {
                    S::Ready
                } else {
                    S::Locked
                });
            }
        }
        state => return Err(Refusal::ReleaseState { state }),
    }
    Ok(())
}

/// `ImageManager::_cp`, `_mkfs`, `_clone`, `_rm`, `_snap_*` (ImageManagerProtocol.cc).
fn driver_done(image: &ImageFacts, op: DriverOp, success: bool, out: &mut Outcome) {
    match op {
        DriverOp::Cp => {
            if success {
                out.image.has_source = true;
                out.unlock();
            } else {
                out.set_state(ImageState::Error);
            }
        }
        DriverOp::Mkfs { saving } => {
            if image.state == ImageState::Delete {
                // "Ignoring mkfs callback, image is being deleted".
                *out = Outcome::no_op(image);
            } else if success {
                out.image.has_source = true;
                if !saving {
                    out.unlock();
                }
            } else {
                out.set_state(ImageState::Error);
            }
        }
        DriverOp::Clone => {
            if success {
                out.image.has_source = true;
                out.unlock();
            } else {
                out.set_state(ImageState::Error);
            }
            out.image.clone_source = None;
            out.release_clone_source = image.clone_source;
        }
        DriverOp::Rm { force_delete } => {
            if success || force_delete {
                out.effect = Effect::Dropped;
            } else {
                out.set_state(ImageState::Error);
            }
        }
        DriverOp::SnapshotDelete => {
            out.unlock();
            if success {
                out.image.snapshots = image.snapshots.saturating_sub(1);
            }
        }
        DriverOp::SnapshotRevert => out.unlock(),
        DriverOp::SnapshotFlatten => {
            if success {
                out.image.snapshots = 0;
            }
            out.unlock();
        }
    }
}

/// Where a new image comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// `oneimage create` (`one.image.allocate`).
    Api,
    /// `oneimage clone` of image `source` (the target side).
    Clone {
        /// The source image id.
        source: u32,
    },
    /// A VM disk save-as.
    SaveAs,
    /// A VM backup (the server's own allocation); `vm` is the template's `VM_ID`.
    Backup {
        /// The VM backed up.
        vm: Option<u32>,
    },
}

/// What creation needs to know of a new image (after the template's defaults are applied).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NewImage {
    /// The type (`TYPE`, or oned.conf `DEFAULT_IMAGE_TYPE`).
    pub image_type: ImageType,
    /// The type of the target datastore.
    pub datastore: DatastoreType,
    /// The datastore has `PERSISTENT_ONLY=YES`.
    pub persistent_only_datastore: bool,
    /// `PERSISTENT` after the user, group and oned.conf defaults (`Image::test_set_persistent`).
    pub persistent: bool,
    /// `PATH` is set.
    pub has_path: bool,
    /// `SOURCE` is set.
    pub has_source: bool,
    /// `FORMAT` is set.
    pub has_format: bool,
    /// Where it comes from.
    pub origin: Origin,
}

/// A created image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Created {
    /// Its state once the request returns: LOCKED while a driver works, READY with SOURCE or
    /// for a backup.
    pub state: ImageState,
    /// Its persistence, after the type's rule.
    pub persistent: bool,
    /// `RUNNING_VMS` (1 for a backup: its VM).
    pub running_vms: u32,
    /// The driver operation started, if any. A FILESYSTEM image with neither PATH nor SOURCE
    /// starts none and stays LOCKED (OpenNebula's `register_image` has no case for it).
    pub driver: Option<DriverOp>,
    /// The image cloned from.
    pub clone_source: Option<u32>,
}

/// Creates an image with OpenNebula's checks in the server's order (datastore type, persistent
/// only, type against datastore, then the template checks of `Image::insert`) and returns its
/// initial state and driver operation. Name validity and uniqueness, capacity, quotas and
/// permissions are the caller's (see [`Refusal::NameTaken`], [`Refusal::NotEnoughSpace`]).
///
/// As in OpenNebula, the `PERSISTENT_ONLY` check sees the template's persistence before the
/// type's rule applies: a CDROM with `PERSISTENT=YES` passes it, then is created
/// non-persistent.
pub fn allocate(new: &NewImage) -> Result<Created, Refusal> {
    let t = new.image_type;
    if new.origin == Origin::Api {
        if matches!(new.datastore, DatastoreType::System | DatastoreType::Backup) {
            return Err(Refusal::AllocateDatastore);
        }
        if new.persistent_only_datastore && !new.persistent {
            return Err(Refusal::AllocatePersistentOnly);
        }
    }
    if new.datastore != t.required_datastore() {
        return Err(match t.required_datastore() {
            DatastoreType::Image | DatastoreType::System => Refusal::AllocateNeedsImageDatastore,
            DatastoreType::File => Refusal::AllocateNeedsFileDatastore,
            DatastoreType::Backup => Refusal::AllocateNeedsBackupDatastore,
        });
    }
    let persistent = match t.persistence_at_create() {
        PersistenceAtCreate::Honoured => new.persistent,
        PersistenceAtCreate::AlwaysNonPersistent => false,
        PersistenceAtCreate::AlwaysPersistent => true,
    };
    let mut created = Created {
        state: ImageState::Locked,
        persistent,
        running_vms: 0,
        driver: None,
        clone_source: None,
    };
    match new.origin {
        Origin::Clone { source } => {
            created.clone_source = Some(source);
            created.driver = Some(DriverOp::Clone);
        }
        Origin::SaveAs => created.driver = Some(DriverOp::Mkfs { saving: true }),
        Origin::Api | Origin::Backup { .. } => {
            if new.has_source {
                if new.has_path {
                    return Err(Refusal::PathAndSource);
                }
                if !new.has_format {
                    return Err(Refusal::SourceNeedsFormat);
                }
            } else if t == ImageType::Backup {
                return Err(Refusal::BackupNeedsSource);
            } else if new.has_path {
                created.driver = Some(DriverOp::Cp);
            } else if matches!(t, ImageType::Os | ImageType::Datablock) {
                created.driver = Some(DriverOp::Mkfs { saving: false });
            } else if t != ImageType::Filesystem {
                return Err(Refusal::NoPathNorSource);
            }
        }
    }
    if t == ImageType::Backup {
        let Origin::Backup { vm: Some(_) } = new.origin else {
            return Err(Refusal::BackupNeedsVm);
        };
        created.state = ImageState::Ready;
        created.running_vms = 1;
    }
    if new.has_source && created.driver.is_none() {
        // register_image: "Using source ... from template": set_state_unlock.
        created.state = ImageState::Ready;
    }
    Ok(created)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn img(t: ImageType, s: ImageState) -> ImageFacts {
        ImageFacts::new(5, "disk", t, s)
    }

    #[test]
    fn enable_from_error_returns_to_use() {
        let mut image = img(ImageType::Os, ImageState::Error);
        image.running_vms = 2;
        image.persistent = true;
        let out = transition(&image, &Command::Enable).unwrap();
        assert_eq!(out.image.state, ImageState::UsedPers);
        image.lock = LockLevel::Admin;
        let out = transition(&image, &Command::Enable).unwrap();
        assert!(out.upstream_clears_lock);
        assert_eq!(out.image.lock, LockLevel::Admin);
    }

    #[test]
    fn request_framing() {
        let e = RequestError {
            method: Method::Enable,
            uid: 3,
            refusal: Refusal::EnableState {
                enable: true,
                state: ImageState::UsedPers,
            },
        };
        assert_eq!(
            e.to_string(),
            "[one.image.enable] Could not enable image: Image cannot be in state USED."
        );
        let e = RequestError {
            method: Method::Clone,
            uid: 3,
            refusal: Refusal::CloneState {
                state: ImageState::Disabled,
            },
        };
        assert_eq!(
            e.to_string(),
            "[one.image.clone] Error allocating a new image. Cannot clone image in state: DISABLED"
        );
    }
}
