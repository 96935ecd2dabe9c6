//! Image requests: create, clone, and the commands on one image, each checked in OpenNebula's
//! order (`ImageAllocateAPI`, `ImagePool::allocate`, `Image::insert`, `ImageAPI`, `SharedAPI`).

use std::path::{Path, PathBuf};

use strata_model::OneName;
use strata_model::one::{
    AttrName, AuthRequest, Caller, CloneTarget, Command, Created, DatastoreFacts, DatastoreRecord,
    DatastoreType, DiskType, DriverFailure, DriverOp, Effect, ImageRecord, ImageState, ImageType,
    LockLevel, LockRecord, LockRequest, Method, NewImage, ObjectAuth, ObjectKind, ObjectLock,
    Operation, Origin, Ownership, Permissions, Refusal, Snapshots, Template, allocate, check_chmod,
    perform, transition,
};
use strata_store::pool::source_name;
use strata_store::{Job, JobOp, PoolDb};

use super::data::{self, Filled};
use super::datastores::datastore_auth;
use super::{Pool, PoolError, PoolResult, find_image};
use crate::progress::Progress;

/// `oneimage create`: a template and the datastore it goes to.
#[derive(Debug)]
pub struct CreateImage {
    /// The image template (NAME, TYPE, PATH or SIZE, ...).
    pub template: Template,
    /// The datastore's id.
    pub datastore: u32,
    /// `--no_check_capacity`: honoured for admins only, as in OpenNebula.
    pub no_check_capacity: bool,
    /// PATH already opened by the caller, read instead of opening PATH: a server that serves
    /// other users reads what the client could open, never a path on the client's word.
    pub source_file: Option<std::fs::File>,
}

/// A new image: its id, and how its data went in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatedImage {
    /// The image id.
    pub id: u32,
    /// Its state once its data is in (READY, or ERROR when the copy failed).
    pub state: ImageState,
    /// Why the copy failed (also the template's `ERROR`); the image then stays in ERROR.
    pub error: Option<String>,
}

/// A new owner for `chown`/`chgrp`: the ids with their names.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NewOwner {
    /// The new user, if it changes.
    pub user: Option<(u32, String)>,
    /// The new group, if it changes.
    pub group: Option<(u32, String)>,
}

/// A command on one image.
#[derive(Debug, Clone, PartialEq)]
pub enum ImageAction {
    /// `enable`.
    Enable,
    /// `disable`.
    Disable,
    /// `persistent` (`true`) or `nonpersistent`.
    Persistent(bool),
    /// `chtype`.
    Chtype(ImageType),
    /// `delete`, `--force` to delete a locked image.
    Delete {
        /// `--force`.
        force: bool,
    },
    /// `rename`.
    Rename(String),
    /// `chmod`.
    Chmod(Permissions),
    /// `chown` and `chgrp`.
    Chown(NewOwner),
    /// `update`: the template replaced, or merged into with `append`.
    Update {
        /// The new attributes.
        template: Template,
        /// `-a`: merge instead of replace.
        append: bool,
    },
    /// `lock`.
    Lock(LockRequest),
    /// `unlock`.
    Unlock,
}

impl ImageAction {
    /// The XML-RPC method the action is sent as.
    pub fn method(&self) -> Method {
        match self {
            ImageAction::Enable | ImageAction::Disable => Method::Enable,
            ImageAction::Persistent(_) => Method::Persistent,
            ImageAction::Chtype(_) => Method::Chtype,
            ImageAction::Delete { .. } => Method::Delete,
            ImageAction::Rename(_) => Method::Rename,
            ImageAction::Chmod(_) => Method::Chmod,
            ImageAction::Chown(_) => Method::Chown,
            ImageAction::Update { .. } => Method::Update,
            ImageAction::Lock(_) => Method::Lock,
            ImageAction::Unlock => Method::Unlock,
        }
    }
}

/// Removes a single attribute from a template and returns its value (`erase_template_attribute`).
fn take(template: &mut Template, name: &str) -> Option<String> {
    let value = template.get_single(name).map(str::to_owned);
    template.remove(name);
    value
}

/// Sets attribute `name` (one of the upper-case names this module uses, which always
/// normalise) to `value`.
pub(super) fn set_attr(template: &mut Template, name: &str, value: String) {
    if let Ok(name) = AttrName::normalize(name) {
        template.set(name, value);
    }
}

/// The state rule a command goes through, for those that have one (enable, disable,
/// persistent, chtype, delete).
fn state_command(action: &ImageAction, ds: Option<&DatastoreRecord>) -> Option<Command> {
    Some(match action {
        ImageAction::Enable => Command::Enable,
        ImageAction::Disable => Command::Disable,
        ImageAction::Persistent(p) => Command::Persistent {
            persistent: *p,
            datastore: DatastoreFacts::new(
                ds.map_or("fs", |d| d.ds_mad.as_str()),
                ds.and_then(|d| d.template.get_single("PERSISTENT_ONLY"))
                    .is_some_and(|p| p.eq_ignore_ascii_case("YES")),
            ),
        },
        ImageAction::Chtype(to) => Command::Chtype { to: *to },
        ImageAction::Delete { force } => Command::Delete {
            force: *force,
            backup_vm_busy: false,
        },
        _ => return None,
    })
}

/// CREATE on images and USE on the datastore (`ImageAllocate`, `ImageClone`).
fn may_create_in(caller: &Caller, ds: &DatastoreRecord) -> Result<(), Refusal> {
    AuthRequest::new(&caller.requester)
        .add(
            Operation::Create,
            &ObjectAuth::for_create(ObjectKind::Image, &caller.requester),
        )
        .add(Operation::Use, &datastore_auth(ds))
        .check()
        .map_err(|e| Refusal::Auth(e.into()))
}

/// The size in MiB a template's SIZE gives, as `stat_image` reads it.
fn template_size(template: &Template) -> Result<u64, Refusal> {
    template
        .get_single("SIZE")
        .and_then(|s| s.trim().parse::<u64>().ok())
        .ok_or_else(|| Refusal::StatFailed {
            message: "Wrong number or missing SIZE attribute.".to_owned(),
        })
}

/// Seconds since the epoch.
pub(super) fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// Puts an image in ERROR with `message` in its template (`set_template_error_message`): the
/// driver operation `op` failed.
pub(crate) fn fail(image: &mut ImageRecord, op: DriverOp, message: &str) {
    if let Ok(out) = transition(&image.facts(), &Command::DriverDone { op, success: false }) {
        image.take_facts(&out.image);
    } else {
        image.prev_state = image.state;
        image.state = ImageState::Error;
    }
    image.state = ImageState::Error;
    set_attr(&mut image.template, "ERROR", message.to_owned());
}

/// A clone of `source` into `target` ended (well or not): the source is released.
pub(crate) fn release_clone(db: &mut PoolDb, source: u32, target: u32) {
    if let Some(image) = db.image_mut(source) {
        image.clones.retain(|c| *c != target);
        if let Ok(out) = transition(&image.facts(), &Command::ReleaseClone) {
            image.take_facts(&out.image);
        }
    }
}

/// The format a datastore converts new images to (the fs driver's `CONVERT_CMD`): its `DRIVER`
/// when that is `qcow2` or `raw` and `CONVERT` is not `no`; never for CDROMs or in a files
/// datastore.
fn driver_format(ds: &DatastoreRecord, image_type: ImageType) -> Option<strata_model::DiskFormat> {
    let convert = ds
        .template
        .get_single("CONVERT")
        .is_none_or(|c| !c.eq_ignore_ascii_case("no"));
    if !convert || image_type == ImageType::Cdrom || ds.ds_type == DatastoreType::File {
        return None;
    }
    match ds.template.get_single("DRIVER")? {
        "qcow2" => Some(strata_model::DiskFormat::Qcow2),
        "raw" => Some(strata_model::DiskFormat::Raw),
        _ => None,
    }
}

/// What a create is sure of before it takes the lock: the source's size and the way its data
/// goes in.
struct Plan {
    size_mb: u64,
    fill: Fill,
}

enum Fill {
    /// Copy PATH in (decompressing it), from the file opened.
    Copy(PathBuf, std::fs::File),
    /// Make an empty disk of SIZE MiB, in FORMAT, with FS if given.
    Empty { format: String, fs: Option<String> },
    /// SOURCE names the data already (admins only): nothing to do.
    Source,
}

impl Pool {
    /// The refusal of a template that sets an attribute only admins may set
    /// (`IMAGE_RESTRICTED_ATTR`).
    fn restricted(&self, template: &Template) -> Option<Refusal> {
        self.policy
            .restricted_attributes
            .iter()
            .find(|a| template.get(a).is_some())
            .map(|name| Refusal::RestrictedAttribute { name: name.clone() })
    }

    /// A new image's record as `ImagePool::allocate` makes it: the caller's, with the policy's
    /// permissions, in `ds`, in the state `created` says, with no data yet.
    #[allow(
        clippy::too_many_arguments,
        reason = "the facts of a new image, each distinct"
    )]
    fn new_record(
        &self,
        id: u32,
        owner: &Ownership,
        name: &str,
        (image_type, disk_type): (ImageType, DiskType),
        created: &Created,
        ds: &DatastoreRecord,
        template: Template,
    ) -> ImageRecord {
        ImageRecord {
            id,
            owner: owner.clone(),
            name: name.to_owned(),
            lock: None,
            perms: Permissions::for_new_object(
                self.policy.umask,
                owner.uid,
                owner.gid,
                self.policy.enable_other_permissions,
            ),
            image_type,
            disk_type,
            persistent: created.persistent,
            regtime: now(),
            modtime: 0,
            source: String::new(),
            path: String::new(),
            format: String::new(),
            fs: String::new(),
            size_mb: 0,
            state: created.state,
            prev_state: created.state,
            running_vms: created.running_vms,
            cloning_ops: 0,
            cloning_id: -1,
            target_snapshot: -1,
            datastore_id: ds.id,
            datastore: ds.name.clone(),
            vms: Vec::new(),
            clones: Vec::new(),
            app_clones: Vec::new(),
            template,
            snapshots: Snapshots::default(),
        }
    }

    /// `one.image.allocate`: checks the request as OpenNebula does, records the image LOCKED,
    /// then puts its data in the datastore (copy, decompress, or mkfs) and makes it READY; a
    /// copy that fails leaves the image in ERROR with the reason (see [`CreatedImage`]).
    pub fn create_image(
        &self,
        caller: &Caller,
        request: CreateImage,
        progress: &dyn Progress,
    ) -> PoolResult<CreatedImage> {
        let m = Method::Allocate;
        let refuse = |r: Refusal| PoolError::image(m, caller, r);
        let mut template = request.template;
        let admin = caller.requester.is_admin();

        let snapshot = self.current()?;
        let ds = snapshot
            .datastore(request.datastore)
            .ok_or_else(|| {
                refuse(Refusal::NotFound {
                    kind: ObjectKind::Datastore,
                    id: request.datastore,
                })
            })?
            .clone();
        if matches!(ds.ds_type, DatastoreType::System | DatastoreType::Backup) {
            return Err(refuse(Refusal::AllocateDatastore));
        }
        let type_text = template.get_single("TYPE").map(str::to_owned);
        let image_type = match &type_text {
            Some(t) => t.trim().to_ascii_uppercase().parse::<ImageType>().ok(),
            None => Some(self.policy.default_image_type),
        };
        let plan = self
            .plan(&template, image_type, &ds, request.source_file)
            .map_err(refuse)?;
        let capacity = self.store.capacity(ds.id)?;
        let check_capacity = !(request.no_check_capacity && admin);
        if check_capacity && plan.size_mb > capacity.free_mb {
            return Err(refuse(Refusal::NotEnoughSpace));
        }
        if !admin && let Some(refusal) = self.restricted(&template) {
            return Err(refuse(refusal));
        }
        may_create_in(caller, &ds).map_err(refuse)?;
        let persistent = match template.get_single("PERSISTENT") {
            Some(p) => p.trim().eq_ignore_ascii_case("YES"),
            None => self.policy.default_persistent,
        };
        let persistent_only = ds
            .template
            .get_single("PERSISTENT_ONLY")
            .is_some_and(|p| p.eq_ignore_ascii_case("YES"));
        if persistent_only && !persistent {
            return Err(refuse(Refusal::AllocatePersistentOnly));
        }

        // ImagePool::allocate and Image::insert.
        let name = take(&mut template, "NAME").unwrap_or_default();
        let name: OneName = name.parse().map_err(|error| {
            refuse(Refusal::InvalidName {
                error,
                allocating: true,
            })
        })?;
        let Some(image_type) = image_type else {
            return Err(refuse(Refusal::UnknownType {
                value: type_text.unwrap_or_default(),
            }));
        };
        template.remove("TYPE");
        template.remove("PERSISTENT");
        let path = take(&mut template, "PATH").unwrap_or_default();
        let source = take(&mut template, "SOURCE").unwrap_or_default();
        let format = take(&mut template, "FORMAT").unwrap_or_default();
        let fs = take(&mut template, "FS").unwrap_or_default();
        template.remove("SIZE");
        template.remove("DRIVER");
        template.remove("TM_MAD");
        let disk_type =
            take(&mut template, "DISK_TYPE").map_or(ds.disk_type, |t| DiskType::parse_lenient(&t));
        if image_type.keeps_dev_prefix() {
            if template.get_single("DEV_PREFIX").is_none_or(str::is_empty) {
                set_attr(
                    &mut template,
                    "DEV_PREFIX",
                    self.policy.default_device_prefix.clone(),
                );
            }
        } else {
            template.remove("DEV_PREFIX");
        }
        let created = allocate(&NewImage {
            image_type,
            datastore: ds.ds_type,
            persistent_only_datastore: persistent_only,
            persistent,
            has_path: !path.is_empty(),
            has_source: !source.is_empty(),
            has_format: !format.is_empty(),
            origin: Origin::Api,
        })
        .map_err(refuse)?;
        if !created.persistent {
            template.remove("PERSISTENT_TYPE");
        }
        let format = match &plan.fill {
            Fill::Empty { format, .. } => format.clone(),
            Fill::Copy(..) => String::new(),
            Fill::Source => format,
        };
        let owner = caller.ownership.clone();
        let regtime = now();
        let needs_job = !matches!(plan.fill, Fill::Source) && created.driver.is_some();

        let id = self.change(|db| {
            if let Some(taken) = db
                .images
                .iter()
                .find(|i| i.owner.uid == owner.uid && i.name == name.as_str())
            {
                return Err(refuse(Refusal::NameTaken { id: taken.id }));
            }
            if db.datastore(ds.id).is_none() {
                return Err(refuse(Refusal::NotFound {
                    kind: ObjectKind::Datastore,
                    id: ds.id,
                }));
            }
            let id = db.take_image_id();
            let record = ImageRecord {
                source: source.clone(),
                path: path.clone(),
                format: format.clone(),
                fs: fs.clone(),
                size_mb: plan.size_mb,
                regtime,
                ..self.new_record(
                    id,
                    &owner,
                    name.as_str(),
                    (image_type, disk_type),
                    &created,
                    &ds,
                    template.clone(),
                )
            };
            db.insert_image(record);
            let target = source_name(id);
            if needs_job {
                db.jobs
                    .insert(id, Job::here(JobOp::Create).with_target(target.clone()));
            }
            Ok((id, target))
        })?;
        let (id, target) = id;
        let done = CreatedImage {
            id,
            state: created.state,
            error: None,
        };
        if !needs_job {
            return Ok(done);
        }
        let filled = match &plan.fill {
            Fill::Copy(path, file) => data::copy_in(
                &self.store,
                &data::CopyIn {
                    ds: ds.id,
                    id,
                    name: &target,
                    source: file,
                    path,
                    decompress: ds.ds_type != DatastoreType::File,
                    convert_to: driver_format(&ds, image_type),
                },
                progress,
            ),
            Fill::Empty { format, fs } => data::make_empty(
                &self.store,
                ds.id,
                id,
                &target,
                &data::EmptyDisk {
                    size_mb: plan.size_mb,
                    format,
                    fs: fs.as_deref(),
                    supported_fs: &self.policy.supported_fs,
                },
            ),
            // A SOURCE image has no job (`needs_job`): nothing to fill.
            Fill::Source => return Ok(done),
        };
        self.finish_fill(caller, id, DriverOp::Cp, filled)
    }

    /// What `stat_image` finds out before allocation: the size, and how the data goes in.
    fn plan(
        &self,
        template: &Template,
        image_type: Option<ImageType>,
        ds: &DatastoreRecord,
        opened: Option<std::fs::File>,
    ) -> Result<Plan, Refusal> {
        let path = template.get_single("PATH").filter(|p| !p.is_empty());
        let source = template.get_single("SOURCE").filter(|s| !s.is_empty());
        if source.is_some() {
            return Ok(Plan {
                size_mb: template_size(template)?,
                fill: Fill::Source,
            });
        }
        match (path, image_type) {
            (Some(path), _) => {
                let path = PathBuf::from(path);
                let stat_failed = |failure: DriverFailure| Refusal::StatFailed {
                    message: failure.to_string(),
                };
                let file = match opened {
                    Some(file) => file,
                    None => data::open_source(&path).map_err(stat_failed)?,
                };
                Ok(Plan {
                    size_mb: data::stat(&file, &path).map_err(stat_failed)?,
                    fill: Fill::Copy(path, file),
                })
            }
            (None, Some(ImageType::Os | ImageType::Datablock) | None) => {
                let size_mb = template_size(template)?;
                let ds_driver = ds.template.get_single("DRIVER").filter(|d| !d.is_empty());
                let format = ds_driver
                    .or_else(|| template.get_single("FORMAT").filter(|f| !f.is_empty()))
                    .unwrap_or("raw")
                    .to_owned();
                let fs = template
                    .get_single("FS")
                    .filter(|f| !f.is_empty())
                    .map(str::to_owned);
                Ok(Plan {
                    size_mb,
                    fill: Fill::Empty { format, fs },
                })
            }
            (None, Some(t)) => Err(Refusal::StatFailed {
                message: DriverFailure::NeedsPathOrSource {
                    image_type: t.to_string(),
                }
                .to_string(),
            }),
        }
    }

    /// The second half of a create or clone: the data is in a partial file (or failed); the
    /// image becomes READY with its SOURCE, or ERROR with the reason.
    fn finish_fill(
        &self,
        caller: &Caller,
        id: u32,
        op: DriverOp,
        filled: Result<Filled, DriverFailure>,
    ) -> PoolResult<CreatedImage> {
        self.change(|db| {
            let ours = db
                .jobs
                .get(&id)
                .is_some_and(|j| j.pid == std::process::id());
            db.jobs.remove(&id);
            let clone_source = db.image(id).and_then(|i| u32::try_from(i.cloning_id).ok());
            let Some(image) = db.image_mut(id) else {
                // Deleted meanwhile (a forced delete): the file is dropped with `filled`.
                return Ok(CreatedImage {
                    id,
                    state: ImageState::Error,
                    error: Some(DriverFailure::Deleted.to_string()),
                });
            };
            let result = match filled {
                Ok(filled) if ours => {
                    match self
                        .store
                        .commit(image.datastore_id, filled.file, &filled.name)
                    {
                        Ok(path) => {
                            image.source = path.to_string_lossy().into_owned();
                            image.format = filled.format;
                            image.size_mb = filled.size_mb;
                            if !filled.fs.is_empty() {
                                image.fs = filled.fs;
                            }
                            Ok(())
                        }
                        Err(e) => Err(DriverFailure::Datastore {
                            reason: e.to_string(),
                        }),
                    }
                }
                Ok(_) => Err(DriverFailure::TakenOver),
                Err(failure) => Err(failure),
            };
            let error = match result {
                Ok(()) => {
                    let out =
                        transition(&image.facts(), &Command::DriverDone { op, success: true })
                            .map_err(|r| PoolError::image(Method::Allocate, caller, r))?;
                    image.take_facts(&out.image);
                    image.cloning_id = -1;
                    None
                }
                Err(failure) => {
                    let message = failure.to_string();
                    fail(image, op, &message);
                    image.cloning_id = -1;
                    Some(message)
                }
            };
            let state = image.state;
            if op == DriverOp::Clone
                && let Some(source) = clone_source
            {
                release_clone(db, source, id);
            }
            Ok(CreatedImage { id, state, error })
        })
    }

    /// `one.image.clone`: a copy of image `id` named `name` in datastore `target` (the source's
    /// when `None`).
    pub fn clone_image(
        &self,
        caller: &Caller,
        id: u32,
        name: &str,
        target: Option<u32>,
        progress: &dyn Progress,
    ) -> PoolResult<CreatedImage> {
        let m = Method::Clone;
        let refuse = |r: Refusal| PoolError::image(m, caller, r);
        let name: OneName = name.parse().map_err(|error| {
            refuse(Refusal::InvalidName {
                error,
                allocating: true,
            })
        })?;
        let owner = caller.ownership.clone();
        let (new_id, source_path, ds_id, target) = self.change(|db| {
            let source = find_image(db, caller, id, m)?.clone();
            let ds_id = target.unwrap_or(source.datastore_id);
            let ds = db
                .datastore(ds_id)
                .ok_or_else(|| {
                    refuse(Refusal::NotFound {
                        kind: ObjectKind::Datastore,
                        id: ds_id,
                    })
                })?
                .clone();
            let source_ds = db.datastore(source.datastore_id);
            let capacity = self.store.capacity(ds_id)?;
            let clone_target = CloneTarget {
                target_type: ds.ds_type,
                source_type: source_ds.map(|d| d.ds_type),
                same_ds_mad: source_ds.is_none_or(|d| d.ds_mad == ds.ds_mad),
                enough_space: source.size_mb <= capacity.free_mb,
            };
            let out = perform(
                &source.facts(),
                &Command::Clone {
                    target: clone_target,
                },
                &caller.requester,
            )
            .map_err(refuse)?;
            may_create_in(caller, &ds).map_err(refuse)?;
            if let Some(taken) = db
                .images
                .iter()
                .find(|i| i.owner.uid == owner.uid && i.name == name.as_str())
            {
                return Err(refuse(Refusal::NameTaken { id: taken.id }));
            }
            let persistent = if self.policy.default_persistent {
                true
            } else {
                source.persistent
            };
            let created = allocate(&NewImage {
                image_type: source.image_type,
                datastore: ds.ds_type,
                persistent_only_datastore: false,
                persistent,
                has_path: true,
                has_source: false,
                has_format: true,
                origin: Origin::Clone { source: id },
            })
            .map_err(refuse)?;
            let new_id = db.take_image_id();
            let mut template = source.template.clone();
            template.remove("ERROR");
            let record = ImageRecord {
                path: source.source.clone(),
                format: source.format.clone(),
                fs: source.fs.clone(),
                size_mb: source.size_mb,
                cloning_id: i64::from(id),
                ..self.new_record(
                    new_id,
                    &owner,
                    name.as_str(),
                    (source.image_type, source.disk_type),
                    &created,
                    &ds,
                    template,
                )
            };
            db.insert_image(record);
            let target = source_name(new_id);
            db.jobs
                .insert(new_id, Job::here(JobOp::Clone).with_target(target.clone()));
            if let Some(image) = db.image_mut(id) {
                image.take_facts(&out.image);
                image.clones.push(new_id);
            }
            Ok((new_id, PathBuf::from(&source.source), ds.id, target))
        })?;
        let filled = data::copy_image(&self.store, ds_id, new_id, &target, &source_path, progress);
        self.finish_fill(caller, new_id, DriverOp::Clone, filled)
    }

    /// A command on image `id`, with OpenNebula's checks; returns what it did.
    pub fn apply(&self, caller: &Caller, id: u32, action: &ImageAction) -> PoolResult<Effect> {
        let m = action.method();
        let refuse = |r: Refusal| PoolError::image(m, caller, r);
        let removed = self.change(|db| {
            let image = find_image(db, caller, id, m)?.clone();
            let facts = image.facts();
            let requester = &caller.requester;
            let auth = facts.auth();
            let mut record = image.clone();
            let mut effect = Effect::Changed;
            let mut remove = None;
            match action {
                ImageAction::Enable
                | ImageAction::Disable
                | ImageAction::Persistent(_)
                | ImageAction::Chtype(_)
                | ImageAction::Delete { .. } => {
                    let Some(command) = state_command(action, db.datastore(image.datastore_id))
                    else {
                        return Ok((Effect::NoOp, None));
                    };
                    let out = perform(&facts, &command, requester).map_err(refuse)?;
                    record.take_facts(&out.image);
                    effect = out.effect;
                    if let ImageAction::Persistent(false) = action {
                        record.template.remove("PERSISTENT_TYPE");
                    }
                    if let ImageAction::Chtype(to) = action
                        && !to.keeps_dev_prefix()
                    {
                        record.template.remove("DEV_PREFIX");
                    }
                    match out.effect {
                        Effect::Dropped => remove = Some(image.clone()),
                        Effect::Driver(DriverOp::Rm { .. }) => {
                            db.jobs.insert(id, Job::here(JobOp::Delete));
                            remove = Some(image.clone());
                        }
                        _ => {}
                    }
                }
                ImageAction::Rename(name) => {
                    AuthRequest::new(requester)
                        .add(Operation::Manage, &auth)
                        .check()
                        .map_err(|e| refuse(Refusal::Auth(e.into())))?;
                    if *name == image.name {
                        return Ok((Effect::NoOp, None));
                    }
                    if let Some(other) = db
                        .images
                        .iter()
                        .find(|i| i.owner.uid == image.owner.uid && i.name == *name)
                    {
                        return Err(refuse(Refusal::RenameCollision {
                            kind: ObjectKind::Image,
                            name: name.clone(),
                            id: other.id,
                        }));
                    }
                    let valid: OneName = name.parse().map_err(|error| {
                        refuse(Refusal::InvalidName {
                            error,
                            allocating: false,
                        })
                    })?;
                    record.name = valid.as_str().to_owned();
                }
                ImageAction::Chmod(to) => {
                    check_chmod(requester, &auth, *to, self.policy.enable_other_permissions)
                        .map_err(|e| refuse(Refusal::Auth(e)))?;
                    record.perms = *to;
                }
                ImageAction::Chown(new) => {
                    let mut request = AuthRequest::new(requester).add(Operation::Manage, &auth);
                    if let Some((uid, _)) = &new.user
                        && *uid != requester.uid
                        && !requester.is_admin()
                    {
                        // MANAGE on another user: only admins have it (no ACL grants it).
                        request = request.add(Operation::Manage, &foreign(ObjectKind::User, *uid));
                    }
                    if let Some((gid, _)) = &new.group
                        && !requester.groups.contains(gid)
                        && !requester.is_admin()
                    {
                        request = request.add(Operation::Use, &foreign(ObjectKind::Group, *gid));
                    }
                    request
                        .check()
                        .map_err(|e| refuse(Refusal::Auth(e.into())))?;
                    if let Some((uid, uname)) = &new.user {
                        if let Some(other) = db
                            .images
                            .iter()
                            .find(|i| i.owner.uid == *uid && i.name == image.name && i.id != id)
                        {
                            return Err(refuse(Refusal::ChownCollision {
                                kind: ObjectKind::Image,
                                uid: *uid,
                                id: other.id,
                                name: image.name.clone(),
                            }));
                        }
                        record.owner.uid = *uid;
                        record.owner.uname = uname.clone();
                    }
                    if let Some((gid, gname)) = &new.group {
                        record.owner.gid = *gid;
                        record.owner.gname = gname.clone();
                    }
                }
                ImageAction::Update { template, append } => {
                    AuthRequest::new(requester)
                        .add(Operation::Manage, &auth)
                        .check()
                        .map_err(|e| refuse(Refusal::Auth(e.into())))?;
                    if !requester.is_admin()
                        && let Some(refusal) = self.restricted(template)
                    {
                        return Err(refuse(refusal));
                    }
                    if *append {
                        for a in template.iter() {
                            record.template.set(a.name.clone(), a.value.clone());
                        }
                    } else {
                        record.template = template.clone();
                    }
                }
                ImageAction::Lock(level) => {
                    AuthRequest::new(requester)
                        .add(Operation::ManageNoLock, &auth)
                        .check()
                        .map_err(|e| refuse(Refusal::Auth(e.into())))?;
                    let current = ObjectLock {
                        level: facts.lock,
                        owner: image.lock.map(|l| l.owner),
                    };
                    let locked = current
                        .lock(requester.uid, requester.is_admin(), *level)
                        .map_err(|e| refuse(Refusal::Lock(e)))?;
                    record.lock = Some(LockRecord {
                        level: locked.level,
                        owner: requester.uid,
                        time: now(),
                        req_id: -1,
                    });
                }
                ImageAction::Unlock => {
                    AuthRequest::new(requester)
                        .add(Operation::ManageNoLock, &auth)
                        .check()
                        .map_err(|e| refuse(Refusal::Auth(e.into())))?;
                    let current = ObjectLock {
                        level: facts.lock,
                        owner: image.lock.map(|l| l.owner),
                    };
                    current
                        .unlock(requester.uid, requester.is_admin())
                        .map_err(|e| refuse(Refusal::Lock(e)))?;
                    record.lock = None;
                }
            }
            if record == image && remove.is_none() {
                return Ok((Effect::NoOp, None));
            }
            match remove {
                Some(_) if effect == Effect::Dropped => {
                    db.remove_image(id);
                }
                _ => {
                    if let Some(i) = db.image_mut(id) {
                        *i = record;
                    }
                }
            }
            Ok((effect, remove))
        })?;
        let (effect, removed) = removed;
        if let (Effect::Driver(DriverOp::Rm { force_delete }), Some(image)) = (effect, removed) {
            let result = self.store.remove_source(Path::new(&image.source));
            return self.change(|db| {
                db.jobs.remove(&id);
                match (&result, force_delete) {
                    (Ok(()), _) | (Err(_), true) => {
                        db.remove_image(id);
                        Ok(Effect::Dropped)
                    }
                    (Err(e), false) => {
                        if let Some(image) = db.image_mut(id) {
                            fail(
                                image,
                                DriverOp::Rm {
                                    force_delete: false,
                                },
                                &DriverFailure::Delete {
                                    reason: e.to_string(),
                                }
                                .to_string(),
                            );
                        }
                        Ok(Effect::Changed)
                    }
                }
            });
        }
        Ok(effect)
    }
}

/// A user or group the requester neither is nor belongs to, as an authorisation object: no
/// permission bit grants anything on it, so only an admin passes.
pub(super) fn foreign(kind: ObjectKind, id: u32) -> ObjectAuth {
    ObjectAuth {
        kind,
        oid: Some(id),
        uid: u32::MAX,
        gid: u32::MAX,
        perms: Permissions::NONE,
        lock: LockLevel::None,
    }
}
