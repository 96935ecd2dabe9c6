//! The records of an OpenNebula pool: one [`ImageRecord`] per image and one [`DatastoreRecord`]
//! per datastore, as strata keeps them (serde, the pool's database) and complete enough to
//! print every element of `oneimage show -x` and `onedatastore show -x` (OpenNebula/one
//! `src/image/Image.cc` and `src/datastore/Datastore.cc`, `to_xml`).
//!
//! Times are seconds since the epoch, sizes are MiB as OpenNebula counts them, and `-1` stands
//! for "none" where OpenNebula's XML has it (`CLONING_ID`, `TARGET_SNAPSHOT`, a snapshot's
//! `PARENT`).

use serde::{Deserialize, Serialize};

use super::datastore::DatastoreType;
use super::image_type::ImageType;
use super::lock::LockLevel;
use super::perms::{Permissions, Requester};
use super::state::ImageState;
use super::template::Template;
use super::transition::{ImageFacts, OrphansMode};

/// `DISK_TYPE`: how a disk is attached (`Image::DiskType`, include/Image.h). strata's
/// datastores are directories of files, so every image strata makes is [`DiskType::File`];
/// the other values are kept when a template names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DiskType {
    /// 0, `FILE`.
    #[default]
    File,
    /// 1, `CDROM`.
    Cdrom,
    /// 2, `BLOCK`.
    Block,
    /// 3, `RBD`.
    Rbd,
    /// 4, `RBD_CDROM`.
    RbdCdrom,
    /// 5, `GLUSTER`.
    Gluster,
    /// 6, `GLUSTER_CDROM`.
    GlusterCdrom,
    /// 7, `SHEEPDOG`.
    Sheepdog,
    /// 8, `SHEEPDOG_CDROM`.
    SheepdogCdrom,
    /// 9, `ISCSI`.
    Iscsi,
}

impl DiskType {
    /// The integer OpenNebula's XML carries.
    pub const fn code(self) -> u8 {
        match self {
            DiskType::File => 0,
            DiskType::Cdrom => 1,
            DiskType::Block => 2,
            DiskType::Rbd => 3,
            DiskType::RbdCdrom => 4,
            DiskType::Gluster => 5,
            DiskType::GlusterCdrom => 6,
            DiskType::Sheepdog => 7,
            DiskType::SheepdogCdrom => 8,
            DiskType::Iscsi => 9,
        }
    }

    /// The name `show` prints (`Image::disk_type_to_str`).
    pub const fn as_str(self) -> &'static str {
        match self {
            DiskType::File => "FILE",
            DiskType::Cdrom => "CDROM",
            DiskType::Block => "BLOCK",
            DiskType::Rbd => "RBD",
            DiskType::RbdCdrom => "RBD_CDROM",
            DiskType::Gluster => "GLUSTER",
            DiskType::GlusterCdrom => "GLUSTER_CDROM",
            DiskType::Sheepdog => "SHEEPDOG",
            DiskType::SheepdogCdrom => "SHEEPDOG_CDROM",
            DiskType::Iscsi => "ISCSI",
        }
    }

    /// The disk type a `DISK_TYPE` attribute names (`Image::str_to_disk_type`, case-insensitive):
    /// anything unknown is FILE, as in OpenNebula.
    pub fn parse_lenient(s: &str) -> DiskType {
        match s.to_ascii_uppercase().as_str() {
            "CDROM" => DiskType::Cdrom,
            "BLOCK" => DiskType::Block,
            "RBD" => DiskType::Rbd,
            "RBD_CDROM" => DiskType::RbdCdrom,
            "GLUSTER" => DiskType::Gluster,
            "GLUSTER_CDROM" => DiskType::GlusterCdrom,
            "SHEEPDOG" => DiskType::Sheepdog,
            "SHEEPDOG_CDROM" => DiskType::SheepdogCdrom,
            "ISCSI" => DiskType::Iscsi,
            _ => DiskType::File,
        }
    }
}

/// The owner and group of an object, with their names as OpenNebula prints them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ownership {
    /// `UID`.
    pub uid: u32,
    /// `GID`.
    pub gid: u32,
    /// `UNAME`.
    pub uname: String,
    /// `GNAME`.
    pub gname: String,
}

/// An object lock as stored (`<LOCK>`): its level, who took it, when, and the request id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockRecord {
    /// `LOCKED`: the level, never [`LockLevel::None`] in a stored lock.
    pub level: LockLevel,
    /// `OWNER`: the uid that took it.
    pub owner: u32,
    /// `TIME`: when.
    pub time: i64,
    /// `REQ_ID`: the request that took it (`-1` when none).
    pub req_id: i64,
}

/// One image snapshot (`<SNAPSHOT>` in `Snapshots::to_xml`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotRecord {
    /// `ID`.
    pub id: u32,
    /// `NAME`.
    pub name: String,
    /// `DATE`.
    pub date: i64,
    /// `PARENT`: the parent's id, `-1` for a root.
    pub parent: i64,
    /// `CHILDREN`: the children's ids.
    pub children: Vec<u32>,
    /// `ACTIVE`: the image's current state is this snapshot.
    pub active: bool,
    /// `SIZE`, MiB.
    pub size_mb: u64,
}

/// An image's snapshot tree (`<SNAPSHOTS>`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshots {
    /// `ALLOW_ORPHANS`: images start in DENY.
    pub allow_orphans: OrphansMode,
    /// `CURRENT_BASE`: `-1` when none.
    pub current_base: i64,
    /// `NEXT_SNAPSHOT`: the id the next snapshot takes.
    pub next_snapshot: u32,
    /// The snapshots, by id.
    pub list: Vec<SnapshotRecord>,
}

impl Default for Snapshots {
    fn default() -> Snapshots {
        Snapshots {
            allow_orphans: OrphansMode::Deny,
            current_base: -1,
            next_snapshot: 0,
            list: Vec::new(),
        }
    }
}

impl Snapshots {
    /// The snapshot with this id.
    pub fn get(&self, id: u32) -> Option<&SnapshotRecord> {
        self.list.iter().find(|s| s.id == id)
    }
}

/// One image of the pool: every field of OpenNebula's `<IMAGE>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageRecord {
    /// `ID`: never reused within a pool.
    pub id: u32,
    /// `UID`, `GID`, `UNAME`, `GNAME`.
    pub owner: Ownership,
    /// `NAME`: unique per owner.
    pub name: String,
    /// `<LOCK>`, when locked.
    pub lock: Option<LockRecord>,
    /// `<PERMISSIONS>`.
    pub perms: Permissions,
    /// `TYPE`.
    pub image_type: ImageType,
    /// `DISK_TYPE`.
    pub disk_type: DiskType,
    /// `PERSISTENT`.
    pub persistent: bool,
    /// `REGTIME`.
    pub regtime: i64,
    /// `MODTIME`: the last change of the image's contents (a snapshot operation or a
    /// persistent image's release); OpenNebula leaves it 0 until then.
    pub modtime: i64,
    /// `SOURCE`: where the image's data is (the datastore file), empty until made.
    pub source: String,
    /// `PATH`: where the data came from, as the template said.
    pub path: String,
    /// `FORMAT`: the disk format (`raw`, `qcow2`, ...).
    pub format: String,
    /// `FS`: the file system an empty datablock was made with.
    pub fs: String,
    /// `SIZE`, MiB.
    pub size_mb: u64,
    /// `STATE`.
    pub state: ImageState,
    /// `PREV_STATE`.
    pub prev_state: ImageState,
    /// `RUNNING_VMS`.
    pub running_vms: u32,
    /// `CLONING_OPS`.
    pub cloning_ops: u32,
    /// `CLONING_ID`: the image this one is a clone of while the copy runs, `-1` otherwise.
    pub cloning_id: i64,
    /// `TARGET_SNAPSHOT`: the snapshot an operation in flight works on, `-1` otherwise.
    pub target_snapshot: i64,
    /// `DATASTORE_ID`.
    pub datastore_id: u32,
    /// `DATASTORE`: its name.
    pub datastore: String,
    /// `<VMS>`: the instances (VMs) using the image.
    pub vms: Vec<u32>,
    /// `<CLONES>`: images being cloned from this one.
    pub clones: Vec<u32>,
    /// `<APP_CLONES>`: marketplace apps being made from it (strata has no marketplace: empty).
    pub app_clones: Vec<u32>,
    /// `<TEMPLATE>`, in insertion order ([`Template::sorted`] gives OpenNebula's order).
    pub template: Template,
    /// `<SNAPSHOTS>`.
    pub snapshots: Snapshots,
}

impl ImageRecord {
    /// What the transition rules need to know of this image.
    pub fn facts(&self) -> ImageFacts {
        ImageFacts {
            id: self.id,
            name: self.name.clone(),
            uid: self.owner.uid,
            gid: self.owner.gid,
            perms: self.perms,
            lock: self.lock.map_or(LockLevel::None, |l| l.level),
            image_type: self.image_type,
            state: self.state,
            persistent: self.persistent,
            running_vms: self.running_vms,
            cloning_ops: self.cloning_ops,
            snapshots: u32::try_from(self.snapshots.list.len()).unwrap_or(u32::MAX),
            shareable: self
                .template
                .get_single("PERSISTENT_TYPE")
                .is_some_and(|t| t.eq_ignore_ascii_case("SHAREABLE")),
            has_source: !self.source.is_empty(),
            clone_source: u32::try_from(self.cloning_id).ok(),
        }
    }

    /// Takes over what a transition changed (state, persistence, counts) from `facts`; the
    /// record's own fields (lists of VMs and clones, sizes) are the caller's.
    pub fn take_facts(&mut self, facts: &ImageFacts) {
        if facts.state != self.state {
            self.prev_state = self.state;
            self.state = facts.state;
        }
        self.persistent = facts.persistent;
        self.running_vms = facts.running_vms;
        self.cloning_ops = facts.cloning_ops;
        self.image_type = facts.image_type;
        self.perms = facts.perms;
        self.cloning_id = facts.clone_source.map_or(-1, i64::from);
    }
}

/// A datastore's state (`Datastore::DatastoreState`): `on` or `off` in `onedatastore list`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DatastoreState {
    /// 0, `READY` (`on`).
    #[default]
    Ready,
    /// 1, `DISABLED` (`off`).
    Disabled,
}

impl DatastoreState {
    /// The integer OpenNebula's XML carries.
    pub const fn code(self) -> u8 {
        match self {
            DatastoreState::Ready => 0,
            DatastoreState::Disabled => 1,
        }
    }

    /// The long name (`show`).
    pub const fn as_str(self) -> &'static str {
        match self {
            DatastoreState::Ready => "READY",
            DatastoreState::Disabled => "DISABLED",
        }
    }

    /// The short name (`list`'s STAT).
    pub const fn short(self) -> &'static str {
        match self {
            DatastoreState::Ready => "on",
            DatastoreState::Disabled => "off",
        }
    }
}

/// One datastore of the pool: every stored field of OpenNebula's `<DATASTORE>` (capacity and
/// the image list are computed when it is read).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DatastoreRecord {
    /// `ID`: 0, 1 and 2 are made with the pool; new ones from 100.
    pub id: u32,
    /// `UID`, `GID`, `UNAME`, `GNAME`.
    pub owner: Ownership,
    /// `NAME`: unique in the pool.
    pub name: String,
    /// `<PERMISSIONS>`.
    pub perms: Permissions,
    /// `DS_MAD`: `fs` for every datastore strata serves (`-` for the system datastore).
    pub ds_mad: String,
    /// `TM_MAD`: `local`.
    pub tm_mad: String,
    /// `BASE_PATH`: the directory holding the datastore's files.
    pub base_path: String,
    /// `TYPE`.
    pub ds_type: DatastoreType,
    /// `DISK_TYPE`.
    pub disk_type: DiskType,
    /// `STATE`.
    pub state: DatastoreState,
    /// `<CLUSTERS>`: cluster 0, `default`.
    pub clusters: Vec<i64>,
    /// `<TEMPLATE>`.
    pub template: Template,
}

/// A datastore's capacity as `onedatastore` prints it: MiB from the file system under
/// `BASE_PATH` (`df -B1M`, the fs driver's monitor).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Capacity {
    /// `TOTAL_MB`.
    pub total_mb: u64,
    /// `FREE_MB`.
    pub free_mb: u64,
    /// `USED_MB`.
    pub used_mb: u64,
}

/// A requester as the pool records it in new objects: ids and names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// Ids and groups, for authorisation.
    pub requester: Requester,
    /// Names for `UNAME` and `GNAME`.
    pub ownership: Ownership,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disk_types_read_leniently_as_opennebula_does() {
        assert_eq!(DiskType::parse_lenient("block"), DiskType::Block);
        assert_eq!(DiskType::parse_lenient("nonsense"), DiskType::File);
        assert_eq!(DiskType::Iscsi.code(), 9);
        assert_eq!(DiskType::RbdCdrom.as_str(), "RBD_CDROM");
    }

    #[test]
    fn facts_carry_what_the_rules_need() {
        let mut template = Template::new();
        template.push(
            super::super::template::AttrName::normalize("persistent_type").unwrap(),
            "shareable",
        );
        let record = ImageRecord {
            id: 7,
            owner: Ownership {
                uid: 1000,
                gid: 1000,
                uname: "ann".into(),
                gname: "ann".into(),
            },
            name: "disk".into(),
            lock: Some(LockRecord {
                level: LockLevel::Manage,
                owner: 1000,
                time: 1,
                req_id: -1,
            }),
            perms: Permissions::parse_octet("600").unwrap(),
            image_type: ImageType::Os,
            disk_type: DiskType::File,
            persistent: true,
            regtime: 1,
            modtime: 0,
            source: String::new(),
            path: String::new(),
            format: "qcow2".into(),
            fs: String::new(),
            size_mb: 1,
            state: ImageState::Ready,
            prev_state: ImageState::Ready,
            running_vms: 0,
            cloning_ops: 0,
            cloning_id: 4,
            target_snapshot: -1,
            datastore_id: 1,
            datastore: "default".into(),
            vms: vec![],
            clones: vec![],
            app_clones: vec![],
            template,
            snapshots: Snapshots::default(),
        };
        let facts = record.facts();
        assert!(facts.shareable);
        assert!(!facts.has_source);
        assert_eq!(facts.lock, LockLevel::Manage);
        assert_eq!(facts.clone_source, Some(4));
        let json = serde_json::to_string(&record).unwrap();
        assert_eq!(serde_json::from_str::<ImageRecord>(&json).unwrap(), record);
    }
}
