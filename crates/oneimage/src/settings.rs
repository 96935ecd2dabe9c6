//! Where the pool is, who is calling, and OpenNebula's defaults (oned.conf) that the core takes
//! as policy.
//!
//! A **personal pool** needs no server: it lives in `$STRATA_ONE_POOL`, else
//! `$XDG_DATA_HOME/strata/one` (`~/.local/share/strata/one`), and the user who runs the
//! command owns everything in it and acts as its administrator (OpenNebula's `oneadmin`), as
//! the one user of a single-user OpenNebula would.

use std::collections::BTreeSet;
use std::path::PathBuf;

use strata::pool::PoolPolicy;
use strata_model::one::{
    AttrName, BOOTSTRAP_DATASTORE_UMASK, Caller, DatastoreRecord, DatastoreState, DatastoreType,
    DiskType, ImageType, ONEADMIN_GROUP, Ownership, Permissions, Requester, Template,
};
use strata_store::{Accounts, Env, PoolStore};

/// The environment variable naming a personal pool's directory: set, it is used even where a
/// daemon serves a shared pool.
pub const POOL_VAR: &str = "STRATA_ONE_POOL";

/// The environment variable naming the socket of the daemon of a shared pool.
pub const SOCKET_VAR: &str = "STRATA_ONE_SOCKET";

/// Where the daemon of a shared pool listens by default.
pub const DEFAULT_SOCKET: &str = "/run/strata/one.sock";

/// Where a command goes: a personal pool in a directory, or the daemon of a shared pool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A personal pool, written by this process.
    Personal,
    /// A shared pool, through its daemon's socket.
    Shared(PathBuf),
}

/// The pool a command goes to: `$STRATA_ONE_POOL` names a personal pool; else the daemon's
/// socket (`$STRATA_ONE_SOCKET`, else the default) when it exists; else the personal pool.
pub fn target(env: &Env) -> Target {
    if env.var(POOL_VAR).is_some_and(|p| !p.is_empty()) {
        return Target::Personal;
    }
    let socket = match env.var(SOCKET_VAR) {
        Some(s) if !s.is_empty() => PathBuf::from(s),
        _ => PathBuf::from(DEFAULT_SOCKET),
    };
    if env.var(SOCKET_VAR).is_some_and(|s| !s.is_empty()) || socket.exists() {
        Target::Shared(socket)
    } else {
        Target::Personal
    }
}

/// The settings of one command.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The pool's directory.
    pub pool_dir: PathBuf,
    /// Who calls.
    pub caller: Caller,
    /// The machine's users and groups, for names.
    pub accounts: Accounts,
}

impl Settings {
    /// The settings of the calling process: the personal pool of its real user.
    pub fn from_process(env: &Env) -> Settings {
        let accounts = Accounts::read();
        let uid = rustix::process::getuid().as_raw();
        let gid = rustix::process::getgid().as_raw();
        let mut groups: BTreeSet<u32> = rustix::process::getgroups()
            .map(|g| g.into_iter().map(|g| g.as_raw()).collect())
            .unwrap_or_default();
        groups.insert(gid);
        let caller = personal_caller(uid, gid, groups, &accounts);
        let pool_dir = match env.var(POOL_VAR) {
            Some(dir) if !dir.is_empty() => PathBuf::from(dir),
            _ => env.xdg_data_home().join("strata").join("one"),
        };
        Settings {
            pool_dir,
            caller,
            accounts,
        }
    }
}

/// The caller of a personal pool: the user, in their groups, with `oneadmin`'s rights.
pub fn personal_caller(uid: u32, gid: u32, groups: BTreeSet<u32>, accounts: &Accounts) -> Caller {
    caller(uid, gid, groups, true, accounts)
}

/// The caller with OS uid `uid`, primary group `gid`, in `groups`, with `oneadmin`'s rights if
/// `admin`; the names from `accounts`.
pub fn caller(
    uid: u32,
    gid: u32,
    groups: BTreeSet<u32>,
    admin: bool,
    accounts: &Accounts,
) -> Caller {
    let mut requester = Requester::new(uid, gid);
    requester.groups.extend(groups);
    if admin {
        requester.groups.insert(ONEADMIN_GROUP);
    }
    Caller {
        requester,
        ownership: Ownership {
            uid,
            gid,
            uname: accounts.user_name(uid),
            gname: accounts.group_name(gid),
        },
    }
}

/// oned.conf's defaults (OpenNebula/one `share/etc/oned.conf`, `datastore.conf`).
pub fn opennebula_policy() -> PoolPolicy {
    PoolPolicy {
        umask: strata_model::one::DEFAULT_UMASK,
        enable_other_permissions: false,
        default_image_type: ImageType::Os,
        default_device_prefix: "sd".to_owned(),
        default_persistent: false,
        restricted_attributes: vec!["SOURCE".to_owned()],
        supported_fs: ["ext2", "ext3", "ext4", "xfs"]
            .into_iter()
            .map(str::to_owned)
            .collect(),
    }
}

fn set(template: &mut Template, name: &str, value: &str) {
    if let Ok(name) = AttrName::normalize(name) {
        template.set(name, value.to_owned());
    }
}

/// The datastores OpenNebula makes with a new pool (`DatastorePool`): 0 `system`, 1 `default`
/// (images), 2 `files`, owned by `owner` with the bootstrap umask (`640`), their templates as
/// `Datastore::insert` and the `local` transfer driver's `TM_MAD_CONF` leave them.
pub fn bootstrap_datastores(store: &PoolStore, owner: &Ownership) -> Vec<DatastoreRecord> {
    let make = |id: u32, name: &str, ds_type: DatastoreType, ds_mad: &str| {
        let mut template = Template::new();
        if ds_type != DatastoreType::System {
            set(&mut template, "DS_MAD", ds_mad);
        }
        set(&mut template, "TM_MAD", "local");
        set(&mut template, "TYPE", ds_type.server_name());
        set(&mut template, "SAFE_DIRS", "/var/tmp");
        set(&mut template, "RESTRICTED_DIRS", "/");
        if matches!(ds_type, DatastoreType::Image | DatastoreType::System) {
            set(&mut template, "DISK_TYPE", "FILE");
        }
        set(&mut template, "SHARED", "YES");
        set(&mut template, "LN_TARGET", "SYSTEM");
        set(&mut template, "CLONE_TARGET", "SYSTEM");
        set(&mut template, "DS_MIGRATE", "YES");
        DatastoreRecord {
            id,
            owner: owner.clone(),
            name: name.to_owned(),
            perms: Permissions::for_new_object(
                BOOTSTRAP_DATASTORE_UMASK,
                owner.uid,
                owner.gid,
                false,
            ),
            ds_mad: ds_mad.to_owned(),
            tm_mad: "local".to_owned(),
            base_path: store.datastore_dir(id).to_string_lossy().into_owned(),
            ds_type,
            disk_type: DiskType::File,
            state: DatastoreState::Ready,
            clusters: vec![0],
            template,
        }
    };
    vec![
        make(0, "system", DatastoreType::System, "-"),
        make(1, "default", DatastoreType::Image, "fs"),
        make(2, "files", DatastoreType::File, "fs"),
    ]
}
