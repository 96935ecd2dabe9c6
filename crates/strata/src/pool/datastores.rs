//! Datastore requests: list, show, create, delete, enable/disable, rename, chmod, chown,
//! update, with OpenNebula's checks (`Datastore::insert`, `DatastorePool`, `DatastoreAPI`).

use strata_model::OneName;
use strata_model::one::{
    AuthRequest, Caller, Capacity, DatastoreMethod, DatastoreRecord, DatastoreRefusal,
    DatastoreRequestError, DatastoreState, DatastoreType, DiskType, LockLevel, ObjectAuth,
    ObjectKind, Operation, Permissions, Template, authorize, check_chmod,
};
use strata_store::PoolDb;

use super::images::NewOwner;
use super::{Pool, PoolError, PoolResult};

/// A datastore as `onedatastore` shows it: the record, its capacity and its images.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatastoreInfo {
    /// The stored record.
    pub record: DatastoreRecord,
    /// Its capacity, from the file system under its directory.
    pub capacity: Capacity,
    /// The ids of its images.
    pub images: Vec<u32>,
}

/// `onedatastore create`: the template (NAME, TYPE, DS_MAD, TM_MAD, ...).
#[derive(Debug, Clone)]
pub struct NewDatastore {
    /// The template.
    pub template: Template,
}

/// The datastore drivers strata's datastores are (directories of files).
const DS_MADS: [&str; 1] = ["fs"];
/// The transfer drivers a datastore may name; strata's instances read images in place.
const TM_MADS: [&str; 4] = ["local", "shared", "ssh", "qcow2"];

/// A datastore as an authorisation object.
pub(super) fn datastore_auth(ds: &DatastoreRecord) -> ObjectAuth {
    ObjectAuth {
        kind: ObjectKind::Datastore,
        oid: Some(ds.id),
        uid: ds.owner.uid,
        gid: ds.owner.gid,
        perms: ds.perms,
        lock: LockLevel::None,
    }
}

fn refused(method: DatastoreMethod, caller: &Caller, refusal: DatastoreRefusal) -> PoolError {
    PoolError::Datastore(DatastoreRequestError {
        method,
        uid: caller.requester.uid,
        refusal,
    })
}

/// Refuses the request unless the caller may `op` the datastore.
fn allowed(
    caller: &Caller,
    ds: &DatastoreRecord,
    op: Operation,
    method: DatastoreMethod,
) -> PoolResult<()> {
    AuthRequest::new(&caller.requester)
        .add(op, &datastore_auth(ds))
        .check()
        .map_err(|e| refused(method, caller, DatastoreRefusal::Auth(e.into())))
}

fn find<'d>(
    db: &'d PoolDb,
    caller: &Caller,
    id: u32,
    method: DatastoreMethod,
) -> PoolResult<&'d DatastoreRecord> {
    db.datastore(id)
        .ok_or_else(|| refused(method, caller, DatastoreRefusal::NotFound { id }))
}

impl Pool {
    fn info(&self, db: &PoolDb, record: &DatastoreRecord) -> PoolResult<DatastoreInfo> {
        Ok(DatastoreInfo {
            record: record.clone(),
            capacity: self.store.capacity(record.id)?,
            images: db
                .images
                .iter()
                .filter(|i| i.datastore_id == record.id)
                .map(|i| i.id)
                .collect(),
        })
    }

    /// Every datastore the caller may use (`one.datastorepool.info`), by id.
    pub fn datastores(&self, caller: &Caller) -> PoolResult<Vec<DatastoreInfo>> {
        let db = self.current()?;
        let mut all: Vec<&DatastoreRecord> = db
            .datastores
            .iter()
            .filter(|d| authorize(&caller.requester, &datastore_auth(d), Operation::UseNoLock))
            .collect();
        all.sort_by_key(|d| d.id);
        all.into_iter().map(|d| self.info(&db, d)).collect()
    }

    /// One datastore (`one.datastore.info`).
    pub fn datastore(&self, caller: &Caller, id: u32) -> PoolResult<DatastoreInfo> {
        let m = DatastoreMethod::Info;
        let db = self.current()?;
        let ds = find(&db, caller, id, m)?;
        allowed(caller, ds, Operation::UseNoLock, m)?;
        self.info(&db, ds)
    }

    /// `one.datastore.allocate`: a new datastore (ids from 100) and its directory.
    pub fn create_datastore(&self, caller: &Caller, request: NewDatastore) -> PoolResult<u32> {
        let m = DatastoreMethod::Allocate;
        let refuse = |r| refused(m, caller, r);
        AuthRequest::new(&caller.requester)
            .add(
                Operation::Create,
                &ObjectAuth::for_create(ObjectKind::Datastore, &caller.requester),
            )
            .check()
            .map_err(|e| refuse(DatastoreRefusal::Auth(e.into())))?;
        let mut template = request.template;
        let name = template.get_single("NAME").unwrap_or_default().to_owned();
        template.remove("NAME");
        let name: OneName = name.parse().map_err(|error| {
            refuse(DatastoreRefusal::InvalidName {
                error,
                allocating: true,
            })
        })?;
        let ds_type = template
            .get_single("TYPE")
            .and_then(|t| t.parse::<DatastoreType>().ok())
            .unwrap_or(DatastoreType::Image);
        let ds_mad = template.get_single("DS_MAD").unwrap_or_default().to_owned();
        let ds_mad = match ds_type {
            DatastoreType::System if !ds_mad.is_empty() => {
                return Err(refuse(DatastoreRefusal::SystemDsMad));
            }
            DatastoreType::System => "-".to_owned(),
            _ if ds_mad.is_empty() => return Err(refuse(DatastoreRefusal::NoDsMad)),
            _ if !DS_MADS.contains(&ds_mad.as_str()) => {
                return Err(refuse(DatastoreRefusal::UnknownDsMad { mad: ds_mad }));
            }
            _ => ds_mad,
        };
        let tm_mad = template.get_single("TM_MAD").unwrap_or_default().to_owned();
        let tm_mad = match ds_type {
            DatastoreType::Backup => "-".to_owned(),
            _ if tm_mad.is_empty() => return Err(refuse(DatastoreRefusal::NoTmMad)),
            _ if !TM_MADS.contains(&tm_mad.as_str()) => {
                return Err(refuse(DatastoreRefusal::UnknownTmMad { mad: tm_mad }));
            }
            _ => tm_mad,
        };
        template.remove("BASE_PATH");
        let disk_type = template
            .get_single("DISK_TYPE")
            .map_or(DiskType::File, DiskType::parse_lenient);
        template.remove("DISK_TYPE");
        if template.get_single("SAFE_DIRS").is_none()
            && template.get_single("RESTRICTED_DIRS").is_none()
        {
            set(&mut template, "SAFE_DIRS", "/var/tmp");
            set(&mut template, "RESTRICTED_DIRS", "/");
        }
        if matches!(ds_type, DatastoreType::Image | DatastoreType::System) {
            set(&mut template, "DISK_TYPE", disk_type.as_str());
        }
        let owner = caller.ownership.clone();
        self.change(|db| {
            if let Some(other) = db.datastores.iter().find(|d| d.name == name.as_str()) {
                return Err(refuse(DatastoreRefusal::NameTaken { id: other.id }));
            }
            let id = db.take_datastore_id();
            let dir = self.store.make_datastore_dir(id)?;
            db.datastores.push(DatastoreRecord {
                id,
                owner: owner.clone(),
                name: name.as_str().to_owned(),
                perms: Permissions::for_new_object(
                    self.policy.umask,
                    owner.uid,
                    owner.gid,
                    self.policy.enable_other_permissions,
                ),
                ds_mad: ds_mad.clone(),
                tm_mad: tm_mad.clone(),
                base_path: dir.to_string_lossy().into_owned(),
                ds_type,
                disk_type,
                state: DatastoreState::Ready,
                clusters: vec![0],
                template: template.clone(),
            });
            Ok(id)
        })
    }

    /// `one.datastore.delete`: only an empty datastore goes (with its directory).
    pub fn delete_datastore(&self, caller: &Caller, id: u32) -> PoolResult<()> {
        let m = DatastoreMethod::Delete;
        self.change(|db| {
            let ds = find(db, caller, id, m)?;
            allowed(caller, ds, Operation::Admin, m)?;
            if db.images.iter().any(|i| i.datastore_id == id) {
                return Err(refused(m, caller, DatastoreRefusal::NotEmpty { id }));
            }
            db.datastores.retain(|d| d.id != id);
            self.store.remove_datastore_dir(id)?;
            Ok(())
        })
    }

    /// `one.datastore.enable`: only SYSTEM datastores are enabled or disabled.
    pub fn enable_datastore(&self, caller: &Caller, id: u32, enable: bool) -> PoolResult<()> {
        let m = DatastoreMethod::Enable;
        self.change(|db| {
            let ds = find(db, caller, id, m)?;
            allowed(caller, ds, Operation::Manage, m)?;
            if ds.ds_type != DatastoreType::System {
                return Err(refused(m, caller, DatastoreRefusal::OnlySystemEnable));
            }
            if let Some(ds) = db.datastore_mut(id) {
                ds.state = if enable {
                    DatastoreState::Ready
                } else {
                    DatastoreState::Disabled
                };
            }
            Ok(())
        })
    }

    /// `one.datastore.rename`: the images keep naming it (their DATASTORE follows).
    pub fn rename_datastore(&self, caller: &Caller, id: u32, name: &str) -> PoolResult<()> {
        let m = DatastoreMethod::Rename;
        self.change(|db| {
            let ds = find(db, caller, id, m)?;
            allowed(caller, ds, Operation::Manage, m)?;
            if ds.name == name {
                return Ok(());
            }
            if let Some(other) = db.datastores.iter().find(|d| d.name == name) {
                return Err(refused(
                    m,
                    caller,
                    DatastoreRefusal::RenameCollision {
                        name: name.to_owned(),
                        id: other.id,
                    },
                ));
            }
            let valid: OneName = name.parse().map_err(|error| {
                refused(
                    m,
                    caller,
                    DatastoreRefusal::InvalidName {
                        error,
                        allocating: false,
                    },
                )
            })?;
            if let Some(ds) = db.datastore_mut(id) {
                ds.name = valid.as_str().to_owned();
            }
            for image in db.images.iter_mut().filter(|i| i.datastore_id == id) {
                image.datastore = valid.as_str().to_owned();
            }
            Ok(())
        })
    }

    /// `one.datastore.chmod`.
    pub fn chmod_datastore(&self, caller: &Caller, id: u32, to: Permissions) -> PoolResult<()> {
        let m = DatastoreMethod::Chmod;
        self.change(|db| {
            let ds = find(db, caller, id, m)?;
            check_chmod(
                &caller.requester,
                &datastore_auth(ds),
                to,
                self.policy.enable_other_permissions,
            )
            .map_err(|e| refused(m, caller, DatastoreRefusal::Auth(e)))?;
            if let Some(ds) = db.datastore_mut(id) {
                ds.perms = to;
            }
            Ok(())
        })
    }

    /// `one.datastore.chown`: only admins give a datastore to another user or group.
    pub fn chown_datastore(&self, caller: &Caller, id: u32, new: &NewOwner) -> PoolResult<()> {
        let m = DatastoreMethod::Chown;
        self.change(|db| {
            let ds = find(db, caller, id, m)?;
            let r = &caller.requester;
            let mut request = AuthRequest::new(r).add(Operation::Manage, &datastore_auth(ds));
            if !r.is_admin() {
                if let Some((uid, _)) = &new.user
                    && *uid != r.uid
                {
                    request = request.add(
                        Operation::Manage,
                        &super::images::foreign(ObjectKind::User, *uid),
                    );
                }
                if let Some((gid, _)) = &new.group
                    && !r.groups.contains(gid)
                {
                    request = request.add(
                        Operation::Use,
                        &super::images::foreign(ObjectKind::Group, *gid),
                    );
                }
            }
            request
                .check()
                .map_err(|e| refused(m, caller, DatastoreRefusal::Auth(e.into())))?;
            if let Some(ds) = db.datastore_mut(id) {
                if let Some((uid, uname)) = &new.user {
                    ds.owner.uid = *uid;
                    ds.owner.uname = uname.clone();
                }
                if let Some((gid, gname)) = &new.group {
                    ds.owner.gid = *gid;
                    ds.owner.gname = gname.clone();
                }
            }
            Ok(())
        })
    }

    /// `one.datastore.update`: the template replaced, or merged into with `append`.
    pub fn update_datastore(
        &self,
        caller: &Caller,
        id: u32,
        template: &Template,
        append: bool,
    ) -> PoolResult<()> {
        let m = DatastoreMethod::Update;
        self.change(|db| {
            let ds = find(db, caller, id, m)?;
            allowed(caller, ds, Operation::Admin, m)?;
            if let Some(ds) = db.datastore_mut(id) {
                if append {
                    for a in template.iter() {
                        ds.template.set(a.name.clone(), a.value.clone());
                    }
                } else {
                    ds.template = template.clone();
                }
            }
            Ok(())
        })
    }
}

fn set(template: &mut Template, name: &str, value: &str) {
    if let Ok(name) = strata_model::one::AttrName::normalize(name) {
        template.set(name, value.to_owned());
    }
}
