//! The methods: each reads its parameters as oned's `*XRPC::request_execute` reads them
//! (OpenNebula/one `src/rm/xml-rpc/ImageXRPC.cc`, `DatastoreXRPC.cc`, `SystemXRPC.cc`), calls the
//! pool, and answers as `RequestXRPC::make_response` does: `[true, payload, 0]`, or
//! `[false, message, code, object id, -1]` with the message framed by
//! `Request::failure_message` (the pool's errors already are) and the code of
//! `Request::ErrorCode` (`include/Request.h`).
//!
//! A parameter of the wrong type, or a missing one, is a fault, as xmlrpc-c's `paramList`
//! answers it (`-501`, `Parameter that is supposed to be integer is not`, `Not enough
//! parameters`); an unknown method is xmlrpc-c's `-506` fault, `Method '<name>' not defined`.

use std::path::PathBuf;

use strata::pool::{
    CreateImage, DatastoreInfo, ImageAction, NewDatastore, NewOwner, PoolError, PoolFilter,
};
use strata_model::one::{
    AttrName, AttrValue, Caller, Class, DatastoreRefusal, ErrorCode, ImageType, LockRequest,
    Method, Permissions, Refusal, RequestError, Right, SubKey, Template, Vector,
};

use super::codec::{Response, Value, fault};
use super::{Endpoint, ONE_VERSION};
use crate::render::{self, DatastoreView};

/// oned's error codes (`Request::ErrorCode`).
pub(crate) mod code {
    /// `AUTHENTICATION`.
    pub(crate) const AUTHENTICATION: i32 = 0x0100;
    /// `AUTHORIZATION`.
    pub(crate) const AUTHORIZATION: i32 = 0x0200;
    /// `NO_EXISTS`.
    pub(crate) const NO_EXISTS: i32 = 0x0400;
    /// `ACTION`.
    pub(crate) const ACTION: i32 = 0x0800;
    /// `RPC_API` (`XML_RPC_API` before 7.0).
    pub(crate) const RPC_API: i32 = 0x1000;
    /// `INTERNAL`.
    pub(crate) const INTERNAL: i32 = 0x2000;
    /// `ALLOCATE`.
    pub(crate) const ALLOCATE: i32 = 0x4000;
}

/// Every method served.
pub(crate) const METHODS: &[&str] = &[
    "one.system.version",
    "one.imagepool.info",
    "one.image.info",
    "one.image.allocate",
    "one.image.clone",
    "one.image.delete",
    "one.image.enable",
    "one.image.persistent",
    "one.image.chtype",
    "one.image.chmod",
    "one.image.chown",
    "one.image.rename",
    "one.image.update",
    "one.image.lock",
    "one.image.unlock",
    "one.datastorepool.info",
    "one.datastore.info",
    "one.datastore.allocate",
    "one.datastore.delete",
    "one.datastore.update",
    "one.datastore.rename",
    "one.datastore.chown",
    "one.datastore.chmod",
    "one.datastore.enable",
];

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
enum CallError {
    /// An xmlrpc-c fault: a parameter missing or of the wrong type.
    #[error("{message}")]
    Fault {
        /// The fault code.
        code: i32,
        /// The fault string.
        message: String,
    },
    /// The pool refused, or failed.
    #[error(transparent)]
    Pool(#[from] PoolError),
    /// A refusal framed here (a template that does not parse, an unknown user, a PATH outside
    /// the safe directories): the whole message, its code and object id.
    #[error("{message}")]
    Refused {
        /// oned's error code.
        code: i32,
        /// The framed message.
        message: String,
        /// The object the request names, or -1.
        id: i32,
    },
}

fn refused(code: i32, method: &str, text: impl std::fmt::Display, id: i32) -> CallError {
    CallError::Refused {
        code,
        message: format!("[{method}] {text}"),
        id,
    }
}

/// The numeric code of a refusal's [`ErrorCode`].
fn image_code(code: ErrorCode) -> i32 {
    match code {
        ErrorCode::Authorization => code::AUTHORIZATION,
        ErrorCode::NoExists => code::NO_EXISTS,
        ErrorCode::Action => code::ACTION,
        ErrorCode::Allocate => code::ALLOCATE,
        ErrorCode::Internal | ErrorCode::Logged => code::INTERNAL,
    }
}

/// The code and object id of a datastore refusal (`DatastoreAPI`, `SharedAPI`: `del` and
/// `rename` answer ACTION, `enable` INTERNAL, `allocate` ALLOCATE).
fn datastore_code(refusal: &DatastoreRefusal) -> (i32, i32) {
    match refusal {
        DatastoreRefusal::Auth(_) => (code::AUTHORIZATION, -1),
        DatastoreRefusal::NotFound { id } => (code::NO_EXISTS, i32::try_from(*id).unwrap_or(-1)),
        DatastoreRefusal::InvalidName {
            allocating: true, ..
        }
        | DatastoreRefusal::NameTaken { .. }
        | DatastoreRefusal::SystemDsMad
        | DatastoreRefusal::NoDsMad
        | DatastoreRefusal::UnknownDsMad { .. }
        | DatastoreRefusal::NoTmMad
        | DatastoreRefusal::UnknownTmMad { .. } => (code::ALLOCATE, -1),
        DatastoreRefusal::InvalidName {
            allocating: false, ..
        }
        | DatastoreRefusal::RenameCollision { .. }
        | DatastoreRefusal::NotEmpty { .. } => (code::ACTION, -1),
        DatastoreRefusal::OnlySystemEnable => (code::INTERNAL, -1),
    }
}

/// oned's failure array.
fn failure(code: i32, message: String, id: i32) -> Value {
    Value::Array(vec![
        Value::Bool(false),
        Value::String(message),
        Value::Int(code),
        Value::Int(id),
        // replication_idx, UINT64_MAX sent as a signed i8.
        Value::I8(-1),
    ])
}

fn success(payload: Value) -> Value {
    Value::Array(vec![Value::Bool(true), payload, Value::Int(0)])
}

/// Answers one call (see [`super::call`]).
pub(crate) fn answer(endpoint: &Endpoint, method: &str, params: &[Value]) -> Response {
    if !METHODS.contains(&method) {
        return Response::Fault {
            code: fault::NO_SUCH_METHOD,
            message: format!("Method '{method}' not defined"),
        };
    }
    let args = Params(params);
    let session = match args.string(0) {
        Ok(s) => s,
        Err(CallError::Fault { code, message }) => return Response::Fault { code, message },
        Err(_) => return unreachable_fault(),
    };
    let Some(caller) = endpoint.verify(session) else {
        return Response::Value(failure(
            code::AUTHENTICATION,
            format!("[{method}] User couldn't be authenticated, aborting call."),
            -1,
        ));
    };
    match run(endpoint, &caller, method, &args) {
        Ok(payload) => Response::Value(success(payload)),
        Err(CallError::Fault { code, message }) => Response::Fault { code, message },
        Err(CallError::Refused { code, message, id }) => {
            Response::Value(failure(code, message, id))
        }
        Err(CallError::Pool(e)) => {
            let (code, id, message) = match &e {
                PoolError::Image(RequestError { refusal, .. }) => {
                    let id = match refusal {
                        Refusal::NotFound { id, .. } => i32::try_from(*id).unwrap_or(-1),
                        _ => -1,
                    };
                    (image_code(refusal.code()), id, e.to_string())
                }
                PoolError::Datastore(d) => {
                    let (code, id) = datastore_code(&d.refusal);
                    (code, id, e.to_string())
                }
                // The pool's files: oned's INTERNAL, framed as Request::failure_message frames
                // it.
                _ => (code::INTERNAL, -1, format!("[{method}] {e}")),
            };
            Response::Value(failure(code, message, id))
        }
    }
}

/// `Params::string` fails with a fault only; this is never reached.
fn unreachable_fault() -> Response {
    Response::Fault {
        code: fault::INTERNAL,
        message: "Internal error".to_owned(),
    }
}

/// The parameters, read as xmlrpc-c's `paramList` reads them.
struct Params<'a>(&'a [Value]);

fn type_fault(what: &str) -> CallError {
    CallError::Fault {
        code: fault::TYPE,
        message: format!("Parameter that is supposed to be {what} is not"),
    }
}

impl Params<'_> {
    fn get(&self, i: usize) -> Result<&Value, CallError> {
        self.0.get(i).ok_or_else(|| CallError::Fault {
            code: fault::TYPE,
            message: "Not enough parameters".to_owned(),
        })
    }

    fn has(&self, i: usize) -> bool {
        self.0.len() > i
    }

    fn int(&self, i: usize) -> Result<i32, CallError> {
        self.get(i)?.as_i32().ok_or_else(|| type_fault("integer"))
    }

    fn boolean(&self, i: usize) -> Result<bool, CallError> {
        self.get(i)?.as_bool().ok_or_else(|| type_fault("boolean"))
    }

    fn string(&self, i: usize) -> Result<&str, CallError> {
        self.get(i)?.as_str().ok_or_else(|| type_fault("a string"))
    }

    fn opt_int(&self, i: usize, default: i32) -> Result<i32, CallError> {
        if self.has(i) {
            self.int(i)
        } else {
            Ok(default)
        }
    }

    fn opt_bool(&self, i: usize) -> Result<bool, CallError> {
        if self.has(i) {
            self.boolean(i)
        } else {
            Ok(false)
        }
    }
}

/// An object id: a negative one names no object (`Error getting image [-1].`).
fn oid(id: i32, method: &str, kind: &str) -> Result<u32, CallError> {
    u32::try_from(id).map_err(|_| {
        refused(
            code::NO_EXISTS,
            method,
            format!("Error getting {kind} [{id}]."),
            id,
        )
    })
}

/// A template given as text, or as XML (`Template::parse_str_or_xml`: pyone sends a nested dict
/// as `<TEMPLATE>...</TEMPLATE>`); a parse error is oned's `[method] Parse error: ...` (INTERNAL).
fn template(text: &str, method: &str) -> Result<Template, CallError> {
    if text.trim_start().starts_with('<') {
        return xml_template(text)
            .map_err(|e| refused(code::INTERNAL, method, format!("Parse error: {e}"), -1));
    }
    Template::parse(text).map_err(|e| refused(code::INTERNAL, method, e, -1))
}

/// An XML template: each child of the root is an attribute; one with element children is a
/// vector.
fn xml_template(text: &str) -> Result<Template, String> {
    let options = roxmltree::ParsingOptions {
        allow_dtd: false,
        nodes_limit: super::codec::MAX_NODES,
        ..roxmltree::ParsingOptions::default()
    };
    let doc = roxmltree::Document::parse_with_options(text, options).map_err(|e| e.to_string())?;
    let mut template = Template::new();
    for attr in doc.root_element().children().filter(|n| n.is_element()) {
        let name = AttrName::normalize(attr.tag_name().name()).map_err(|e| e.to_string())?;
        let subs: Vec<_> = attr.children().filter(|n| n.is_element()).collect();
        if subs.is_empty() {
            template.push(name, AttrValue::Single(node_text(attr)));
        } else {
            let mut vector = Vector::new();
            for sub in subs {
                let key = SubKey::normalize(sub.tag_name().name()).map_err(|e| e.to_string())?;
                vector.replace(key, node_text(sub));
            }
            template.push(name, AttrValue::Vector(vector));
        }
    }
    Ok(template)
}

fn node_text(node: roxmltree::Node<'_, '_>) -> String {
    node.children()
        .filter(|n| n.is_text())
        .filter_map(|n| n.text())
        .collect()
}

/// `one.image.chmod`'s nine values over the current permissions: -1 keeps a bit, 0 clears it,
/// 1 sets it; anything else is oned's `New permission values must be -1, 0 or 1` (INTERNAL).
fn chmod_bits(
    current: Permissions,
    args: &Params<'_>,
    method: &str,
    id: i32,
) -> Result<Permissions, CallError> {
    let mut perms = current;
    let mut i = 2;
    for class in [Class::Owner, Class::Group, Class::Other] {
        for right in [Right::Use, Right::Manage, Right::Admin] {
            match args.int(i)? {
                -1 => {}
                0 => perms = perms.with(class, right, false),
                1 => perms = perms.with(class, right, true),
                _ => {
                    return Err(refused(
                        code::INTERNAL,
                        method,
                        "New permission values must be -1, 0 or 1",
                        id,
                    ));
                }
            }
            i += 1;
        }
    }
    Ok(perms)
}

/// `chown`'s new owner: -1 keeps the user or group; an id the machine does not know is oned's
/// `Error getting user [uid].` (NO_EXISTS).
fn new_owner(endpoint: &Endpoint, args: &Params<'_>, method: &str) -> Result<NewOwner, CallError> {
    let accounts = endpoint.accounts();
    let (uid, gid) = (args.int(2)?, args.int(3)?);
    let user = match u32::try_from(uid) {
        Ok(uid) => match accounts.user(uid) {
            Some(u) => Some((uid, u.name.clone())),
            None => {
                return Err(refused(
                    code::NO_EXISTS,
                    method,
                    format!("Error getting user [{uid}]."),
                    i32::try_from(uid).unwrap_or(-1),
                ));
            }
        },
        Err(_) => None,
    };
    let group = match u32::try_from(gid) {
        Ok(gid) => match accounts.group(gid) {
            Some(g) => Some((gid, g.name.clone())),
            None => {
                return Err(refused(
                    code::NO_EXISTS,
                    method,
                    format!("Error getting group [{gid}]."),
                    i32::try_from(gid).unwrap_or(-1),
                ));
            }
        },
        Err(_) => None,
    };
    Ok(NewOwner { user, group })
}

fn datastore_view(info: &DatastoreInfo) -> DatastoreView<'_> {
    DatastoreView {
        record: &info.record,
        capacity: info.capacity,
        image_ids: &info.images,
    }
}

/// `one.imagepool.info`'s id range (`PoolSQL::oid_filter`, `PoolSharedAPI::dump`): with
/// `end >= -1`, ids from `start` (unless -1) to `end` (unless -1); with `end < -1`, a page of
/// `-end` images after skipping `start`.
fn id_range<T>(items: Vec<T>, id: impl Fn(&T) -> u32, start: i32, end: i32) -> Vec<T> {
    if end < -1 {
        let skip = usize::try_from(start).unwrap_or(0);
        let take = usize::try_from(end.unsigned_abs()).unwrap_or(usize::MAX);
        return items.into_iter().skip(skip).take(take).collect();
    }
    if start == -1 {
        return items;
    }
    items
        .into_iter()
        .filter(|item| {
            let i = i64::from(id(item));
            i >= i64::from(start) && (end == -1 || i <= i64::from(end))
        })
        .collect()
}

fn run(
    endpoint: &Endpoint,
    caller: &Caller,
    method: &str,
    args: &Params<'_>,
) -> Result<Value, CallError> {
    let pool = endpoint.pool();
    let image_id = || -> Result<(i32, u32), CallError> {
        let id = args.int(1)?;
        Ok((id, oid(id, method, "image")?))
    };
    let ds_id = || -> Result<(i32, u32), CallError> {
        let id = args.int(1)?;
        Ok((id, oid(id, method, "datastore")?))
    };
    let apply = |action: ImageAction| -> Result<Value, CallError> {
        let (raw, id) = image_id()?;
        pool.apply(caller, id, &action)?;
        Ok(Value::Int(raw))
    };
    match method {
        "one.system.version" => Ok(Value::string(ONE_VERSION)),
        "one.imagepool.info" => {
            let (flag, start, end) = (args.int(1)?, args.int(2)?, args.int(3)?);
            let filter = match flag {
                -4 => PoolFilter::PrimaryGroup,
                -3 => PoolFilter::Mine,
                -2 => PoolFilter::All,
                -1 => PoolFilter::MineAndGroups,
                uid => match u32::try_from(uid) {
                    Ok(uid) => PoolFilter::User(uid),
                    Err(_) => {
                        return Err(refused(code::RPC_API, method, "Incorrect filter_flag", -1));
                    }
                },
            };
            let images = id_range(pool.images(caller, filter)?, |i| i.id, start, end);
            Ok(Value::String(render::image_pool_xml(&images)))
        }
        "one.image.info" => {
            let (_, id) = image_id()?;
            args.opt_bool(2)?;
            Ok(Value::String(render::image_xml(&pool.image(caller, id)?)))
        }
        "one.image.allocate" => {
            let text = args.string(1)?;
            let ds_raw = args.int(2)?;
            let no_check_capacity = args.opt_bool(3)?;
            let mut template = template(text, method)?;
            let datastore = oid(ds_raw, method, "datastore")?;
            let source_file = check_path(endpoint, caller, &mut template, datastore)?;
            let made = pool.create_image(
                caller,
                CreateImage {
                    template,
                    datastore,
                    no_check_capacity,
                    source_file,
                },
                &strata::progress::NoProgress,
            )?;
            Ok(Value::Int(i32::try_from(made.id).unwrap_or(i32::MAX)))
        }
        "one.image.clone" => {
            let (_, id) = image_id()?;
            let name = args.string(2)?;
            let target = u32::try_from(args.opt_int(3, -1)?).ok();
            let made = pool.clone_image(caller, id, name, target, &strata::progress::NoProgress)?;
            Ok(Value::Int(i32::try_from(made.id).unwrap_or(i32::MAX)))
        }
        "one.image.delete" => {
            image_id()?;
            let force = args.opt_bool(2)?;
            apply(ImageAction::Delete { force })
        }
        "one.image.enable" => {
            image_id()?;
            let action = if args.boolean(2)? {
                ImageAction::Enable
            } else {
                ImageAction::Disable
            };
            apply(action)
        }
        "one.image.persistent" => {
            image_id()?;
            let persistent = args.boolean(2)?;
            apply(ImageAction::Persistent(persistent))
        }
        "one.image.chtype" => {
            let (_, id) = image_id()?;
            let text = args.string(2)?;
            match text.trim().to_ascii_uppercase().parse::<ImageType>() {
                Ok(to) => apply(ImageAction::Chtype(to)),
                Err(_) => {
                    // `Image::str_to_type` gives no type: oned finds the image, then refuses.
                    pool.image(caller, id)
                        .map_err(|e| as_method(e, Method::Chtype))?;
                    Err(PoolError::Image(RequestError {
                        method: Method::Chtype,
                        uid: caller.requester.uid,
                        refusal: Refusal::ChtypeIncompatible,
                    })
                    .into())
                }
            }
        }
        "one.image.chmod" => {
            let (raw, id) = image_id()?;
            let current = current_image_perms(endpoint, id);
            let perms = chmod_bits(current, args, method, raw)?;
            apply(ImageAction::Chmod(perms))
        }
        "one.image.chown" => {
            image_id()?;
            let owner = new_owner(endpoint, args, method)?;
            apply(ImageAction::Chown(owner))
        }
        "one.image.rename" => {
            image_id()?;
            let name = args.string(2)?.to_owned();
            apply(ImageAction::Rename(name))
        }
        "one.image.update" => {
            let (raw, _) = image_id()?;
            let text = args.string(2)?;
            let append = args.opt_int(3, 0)?;
            if !(0..=1).contains(&append) {
                return Err(refused(code::RPC_API, method, "Wrong update type", raw));
            }
            let template = template(text, method)?;
            apply(ImageAction::Update {
                template,
                append: append == 1,
            })
        }
        "one.image.lock" => {
            let (raw, id) = image_id()?;
            let level = args.int(2)?;
            if args.opt_bool(3)? {
                // `test`: a locked image is refused with its lock's time as the whole message
                // (`PoolObjectSQL::test_lock_db`), once the caller may see it.
                let image = pool
                    .image(caller, id)
                    .map_err(|e| as_method(e, Method::Lock))?;
                if let Some(lock) = image.lock {
                    return Err(refused(code::ACTION, method, lock.time, raw));
                }
            }
            let request = LockRequest::from_code(i64::from(level)).map_err(|e| {
                PoolError::Image(RequestError {
                    method: Method::Lock,
                    uid: caller.requester.uid,
                    refusal: Refusal::Lock(e),
                })
            })?;
            pool.apply(caller, id, &ImageAction::Lock(request))?;
            Ok(Value::Int(raw))
        }
        "one.image.unlock" => apply(ImageAction::Unlock),
        "one.datastorepool.info" => {
            let infos = pool.datastores(caller)?;
            let views: Vec<DatastoreView<'_>> = infos.iter().map(datastore_view).collect();
            Ok(Value::String(render::datastore_pool_xml(&views)))
        }
        "one.datastore.info" => {
            let (_, id) = ds_id()?;
            args.opt_bool(2)?;
            let info = pool.datastore(caller, id)?;
            Ok(Value::String(render::datastore_xml(
                &info.record,
                &info.capacity,
                &info.images,
            )))
        }
        "one.datastore.allocate" => {
            let text = args.string(1)?;
            // The cluster: strata's datastores are all in cluster 0.
            args.opt_int(2, -1)?;
            let template = template(text, method)?;
            let id = pool.create_datastore(caller, NewDatastore { template })?;
            Ok(Value::Int(i32::try_from(id).unwrap_or(i32::MAX)))
        }
        "one.datastore.delete" => {
            let (raw, id) = ds_id()?;
            pool.delete_datastore(caller, id)?;
            Ok(Value::Int(raw))
        }
        "one.datastore.update" => {
            let (raw, id) = ds_id()?;
            let text = args.string(2)?;
            let append = args.opt_int(3, 0)?;
            if !(0..=1).contains(&append) {
                return Err(refused(code::RPC_API, method, "Wrong update type", raw));
            }
            let template = template(text, method)?;
            if !caller.requester.is_admin() {
                guard_dirs(endpoint, id, &template, append == 1, method, raw)?;
            }
            pool.update_datastore(caller, id, &template, append == 1)?;
            Ok(Value::Int(raw))
        }
        "one.datastore.rename" => {
            let (raw, id) = ds_id()?;
            let name = args.string(2)?;
            pool.rename_datastore(caller, id, name)?;
            Ok(Value::Int(raw))
        }
        "one.datastore.chown" => {
            let (raw, id) = ds_id()?;
            let owner = new_owner(endpoint, args, method)?;
            pool.chown_datastore(caller, id, &owner)?;
            Ok(Value::Int(raw))
        }
        "one.datastore.chmod" => {
            let (raw, id) = ds_id()?;
            let current = endpoint
                .pool()
                .store()
                .read()
                .ok()
                .and_then(|db| db.datastore(id).map(|d| d.perms))
                .unwrap_or(Permissions::NONE);
            let perms = chmod_bits(current, args, method, raw)?;
            pool.chmod_datastore(caller, id, perms)?;
            Ok(Value::Int(raw))
        }
        "one.datastore.enable" => {
            let (raw, id) = ds_id()?;
            let enable = args.boolean(2)?;
            pool.enable_datastore(caller, id, enable)?;
            Ok(Value::Int(raw))
        }
        _ => Err(CallError::Fault {
            code: fault::NO_SUCH_METHOD,
            message: format!("Method '{method}' not defined"),
        }),
    }
}

/// A refusal of `one.image.info` (the pool's read of an image) as one of `method`.
fn as_method(e: PoolError, method: Method) -> PoolError {
    match e {
        PoolError::Image(mut r) => {
            r.method = method;
            PoolError::Image(r)
        }
        e => e,
    }
}

/// The image's permissions as stored (the pool checks the caller's rights when it applies the
/// change; a missing image gets the pool's own answer then).
fn current_image_perms(endpoint: &Endpoint, id: u32) -> Permissions {
    endpoint
        .pool()
        .store()
        .read()
        .ok()
        .and_then(|db| db.image(id).map(|i| i.perms))
        .unwrap_or(Permissions::NONE)
}

/// The datastore attributes the PATH guard ([`check_path`]) reads.
const GUARD_ATTRIBUTES: [&str; 2] = ["SAFE_DIRS", "RESTRICTED_DIRS"];

/// A non-administrator may not change the attributes the PATH guard reads, even on a datastore
/// they administer (OpenNebula keeps such attributes for `oneadmin` with its restricted
/// attributes: `PoolObjectSQL::replace_template`'s text, framed as `SharedAPI::update` frames
/// it, INTERNAL).
fn guard_dirs(
    endpoint: &Endpoint,
    id: u32,
    update: &Template,
    append: bool,
    method: &str,
    raw: i32,
) -> Result<(), CallError> {
    let Ok(db) = endpoint.pool().store().read() else {
        return Ok(());
    };
    // A missing datastore: the pool answers that.
    let Some(ds) = db.datastore(id) else {
        return Ok(());
    };
    for name in GUARD_ATTRIBUTES {
        let old = ds.template.get(name);
        let new = match update.get(name) {
            Some(v) => Some(v),
            None if append => old,
            None => None,
        };
        if new != old {
            return Err(refused(
                code::INTERNAL,
                method,
                format!("Cannot update template. Tried to change restricted attribute: {name}"),
                raw,
            ));
        }
    }
    Ok(())
}

/// The text the `fs` datastore driver's `cp` gives when a PATH is in a restricted directory
/// (OpenNebula/one `src/datastore_mad/remotes/fs/cp`, `error_message`).
fn not_allowed(path: &str) -> String {
    format!("Not allowed to copy image from {path}, check RESTRICTED_DIRS in your datastore")
}

/// The directories of a datastore's `SAFE_DIRS` (space-separated; `/var/tmp` when it has
/// none), resolved.
fn safe_dirs(template: &Template) -> Vec<PathBuf> {
    let listed = template.get_single("SAFE_DIRS").unwrap_or("/var/tmp");
    listed
        .split_whitespace()
        .map(|d| std::fs::canonicalize(d).unwrap_or_else(|_| PathBuf::from(d)))
        .collect()
}

/// Guards the daemon against acting as a confused deputy: a PATH names a file the endpoint
/// copies with its own rights, so for a caller who is not an administrator it must resolve
/// (symbolic links followed, as `readlink -f` in the driver's `check_restricted`) to a regular
/// file under one of the datastore's `SAFE_DIRS` that the caller could read themselves; the
/// template then carries the resolved path. A URL is refused for everyone: strata copies local
/// files only. Refusals are the driver's text, framed as oned frames a failed `stat`
/// (`[one.image.allocate] Cannot parse image SIZE: ...`, INTERNAL).
/// A non-admin's PATH, opened: it must be a regular file under the datastore's SAFE_DIRS that
/// the caller may read. The checks are made on the opened file (its path as the kernel knows it,
/// its mode and owner), so that nothing swapped in after them is read: the pool reads that very
/// file. Admins are not restricted (the pool opens their PATH).
fn check_path(
    endpoint: &Endpoint,
    caller: &Caller,
    template: &mut Template,
    datastore: u32,
) -> Result<Option<std::fs::File>, CallError> {
    const METHOD: &str = "one.image.allocate";
    let Some(path) = template
        .get_single("PATH")
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(str::to_owned)
    else {
        return Ok(None);
    };
    let refuse = |message: String| {
        refused(
            code::INTERNAL,
            METHOD,
            format!("Cannot parse image SIZE: {message}"),
            -1,
        )
    };
    if path.contains("://") {
        return Err(refuse(format!(
            "{}: strata copies local files only",
            not_allowed(&path)
        )));
    }
    if caller.requester.is_admin() {
        return Ok(None);
    }
    let Ok(db) = endpoint.pool().store().read() else {
        return Err(refuse(not_allowed(&path)));
    };
    // A datastore that does not exist: the pool answers that, before it looks at PATH.
    let Some(ds) = db.datastore(datastore) else {
        return Ok(None);
    };
    let safe = safe_dirs(&ds.template);
    let file = std::fs::File::open(&path).map_err(|_| refuse(not_allowed(&path)))?;
    let resolved = {
        use std::os::fd::AsRawFd;
        std::fs::read_link(format!("/proc/self/fd/{}", file.as_raw_fd()))
            .map_err(|_| refuse(not_allowed(&path)))?
    };
    if !safe.iter().any(|dir| resolved.starts_with(dir)) || !readable_by(&file, caller) {
        return Err(refuse(not_allowed(&path)));
    }
    if let (Ok(name), Some(resolved)) = (AttrName::normalize("PATH"), resolved.to_str()) {
        template.set(name, resolved.to_owned());
    }
    Ok(Some(file))
}

/// Whether `file` is a regular file its mode lets the caller read (owner, group, other bits).
fn readable_by(file: &std::fs::File, caller: &Caller) -> bool {
    use std::os::unix::fs::MetadataExt;
    let Ok(meta) = file.metadata() else {
        return false;
    };
    if !meta.is_file() {
        return false;
    }
    let mode = meta.mode();
    let r = &caller.requester;
    if meta.uid() == r.uid {
        mode & 0o400 != 0
    } else if meta.gid() == r.gid || r.groups.contains(&meta.gid()) {
        mode & 0o040 != 0
    } else {
        mode & 0o004 != 0
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::*;

    #[test]
    fn id_ranges_are_oneds() {
        let ids: Vec<u32> = (0..10).collect();
        let r = |s, e| id_range(ids.clone(), |i| *i, s, e);
        assert_eq!(r(-1, -1), ids);
        assert_eq!(r(3, -1), (3..10).collect::<Vec<_>>());
        assert_eq!(r(3, 5), vec![3, 4, 5]);
        assert_eq!(r(-1, 5), ids);
        assert_eq!(r(2, -3), vec![2, 3, 4]);
        assert_eq!(r(-1, -2), vec![0, 1]);
    }

    #[test]
    fn xml_templates_read_as_text_ones() {
        let t = xml_template(
            "<TEMPLATE><NAME><![CDATA[n]]></NAME><SIZE>4</SIZE><V><A>1</A><B>2</B></V></TEMPLATE>",
        )
        .unwrap();
        assert_eq!(t.get_single("NAME"), Some("n"));
        assert_eq!(t.get_single("SIZE"), Some("4"));
        match t.get("V") {
            Some(AttrValue::Vector(v)) => assert_eq!(v.get("B"), Some("2")),
            other => panic!("{other:?}"),
        }
        assert!(xml_template("<!DOCTYPE x><T/>").is_err());
        assert!(xml_template("<T>").is_err());
    }
}
