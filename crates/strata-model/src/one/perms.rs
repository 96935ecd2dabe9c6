//! OpenNebula permissions: the nine [`Permissions`] bits with their octal, symbolic and
//! `um-` forms, the defaults of new objects, the [`Operation`] each command needs, and a pure
//! authorisation check ([`authorize`], [`AuthRequest`]).
//!
//! Facts from OpenNebula/one `src/pool/PoolObjectSQL.cc` (`set_umask`), `PoolObjectAuth.cc`
//! (`get_acl_rules`), `src/acl/AclManager.cc` (`authorize`, `oneadmin_authorize`, default
//! rules), `src/authm/AuthManager.cc` (`AuthRequest::add_auth` messages), `include/AuthRequest.h`,
//! `src/group/Group.cc` (`add_admin_rules`), `src/rm/api/SharedAPI.cc` (`chmod`),
//! `src/oca/ruby/opennebula/pool_element.rb` (`chmod_octet`), `src/cli/one_helper.rb`
//! (`to_octet`) and `src/cli/one_helper/oneimage_helper.rb` (`format_resource`).
//!
//! The authorisation check knows the rules built from the permission bits, the default ACL
//! rule `@1 IMAGE/* CREATE` (members of the `users` group may create images), and the rule
//! OpenNebula adds for group administrators (`#uid IMAGE/@gid USE+MANAGE`). Any other ACL rule
//! is outside this model: a caller that honours custom ACLs must check them itself.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::lock::LockLevel;

/// oned.conf's default `DEFAULT_UMASK`: `177`, giving `600` (`um- --- ---`) to new objects.
pub const DEFAULT_UMASK: u16 = 0o177;

/// The umask of the bootstrap datastores (`DatastorePool`): `137`, giving `640`.
pub const BOOTSTRAP_DATASTORE_UMASK: u16 = 0o137;

/// The `oneadmin` group: its members (and uid 0) pass every check but object locks.
pub const ONEADMIN_GROUP: u32 = 0;

/// The `users` group: the default ACL lets its members create images.
pub const USERS_GROUP: u32 = 1;

/// The three classes of users a permission applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Class {
    /// `OWNER`: the object's owner.
    Owner,
    /// `GROUP`: members of the object's group.
    Group,
    /// `OTHER`: everyone.
    Other,
}

impl Class {
    /// The three classes, in print order.
    pub const ALL: [Class; 3] = [Class::Owner, Class::Group, Class::Other];

    /// The name `oneimage show` prints (`OWNER`, `GROUP`, `OTHER`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Class::Owner => "OWNER",
            Class::Group => "GROUP",
            Class::Other => "OTHER",
        }
    }

    /// The letter of the symbolic form (`u`, `g`, `o`).
    pub const fn letter(self) -> char {
        match self {
            Class::Owner => 'u',
            Class::Group => 'g',
            Class::Other => 'o',
        }
    }

    const fn shift(self) -> u16 {
        match self {
            Class::Owner => 6,
            Class::Group => 3,
            Class::Other => 0,
        }
    }
}

/// The three rights a permission bit grants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Right {
    /// `USE` (`u` in `um-`, `r` in the symbolic form, 4 in an octal digit).
    Use,
    /// `MANAGE` (`m`, `w`, 2).
    Manage,
    /// `ADMIN` (`a`, `x`, 1).
    Admin,
}

impl Right {
    /// The three rights, in print order.
    pub const ALL: [Right; 3] = [Right::Use, Right::Manage, Right::Admin];

    /// The value of this right in an octal digit.
    pub const fn weight(self) -> u16 {
        match self {
            Right::Use => 4,
            Right::Manage => 2,
            Right::Admin => 1,
        }
    }

    /// The letter of `oneimage show`'s mask (`u`, `m`, `a`).
    pub const fn mask_letter(self) -> char {
        match self {
            Right::Use => 'u',
            Right::Manage => 'm',
            Right::Admin => 'a',
        }
    }

    /// The letter of the CLI's symbolic form (`r`, `w`, `x`).
    pub const fn symbolic_letter(self) -> char {
        match self {
            Right::Use => 'r',
            Right::Manage => 'w',
            Right::Admin => 'x',
        }
    }
}

/// The nine permission bits of an OpenNebula object: OWNER, GROUP, OTHER × USE, MANAGE,
/// ADMIN. Text form: three octal digits (`640`), an octal digit being u=4, m=2, a=1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Permissions(u16);

/// Permissions text that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PermissionsError {
    /// The CLI's own refusal: a symbolic form that grants nothing. Text: `one_helper.rb`
    /// `to_octet` (`STDERR.puts 'Error in permissions format'`).
    #[error("Error in permissions format")]
    Format {
        /// The text that was given.
        value: String,
    },
    /// Not three octal digits. OpenNebula's CLI reads any Ruby integer text digit by digit
    /// (`0640` means `064`, `8` means nothing); strata refuses instead of guessing.
    #[error("Error in permissions format: {value:?} is not three octal digits such as 640")]
    Octal {
        /// The text that was given.
        value: String,
    },
    /// A symbolic clause that is not `u=`, `g=` or `o=` followed by distinct letters among
    /// `r`, `w`, `x`. OpenNebula's CLI skips malformed clauses, counts unknown classes as `o`
    /// and adds repeated letters into the next digit; strata refuses instead.
    #[error("Error in permissions format: bad clause {clause:?} in {value:?}")]
    Symbolic {
        /// The text that was given.
        value: String,
        /// The clause at fault.
        clause: String,
    },
    /// Bits outside `0o777`.
    #[error("Permission bits {bits:#o} are out of range")]
    Bits {
        /// The bits that were given.
        bits: u16,
    },
}

impl Permissions {
    /// No bit set (`000`).
    pub const NONE: Permissions = Permissions(0);

    /// The permissions with these bits (at most `0o777`).
    pub const fn from_bits(bits: u16) -> Result<Permissions, PermissionsError> {
        if bits > 0o777 {
            Err(PermissionsError::Bits { bits })
        } else {
            Ok(Permissions(bits))
        }
    }

    /// The bits, as a number whose octal digits are OWNER, GROUP, OTHER.
    pub const fn bits(self) -> u16 {
        self.0
    }

    /// Whether `class` has `right`.
    pub const fn allows(self, class: Class, right: Right) -> bool {
        self.0 & (right.weight() << class.shift()) != 0
    }

    /// These permissions with `class`'s `right` set to `on`.
    #[must_use]
    pub const fn with(self, class: Class, right: Right, on: bool) -> Permissions {
        let bit = right.weight() << class.shift();
        if on {
            Permissions(self.0 | bit)
        } else {
            Permissions(self.0 & !bit)
        }
    }

    /// The octal digit of `class`.
    pub const fn digit(self, class: Class) -> u16 {
        (self.0 >> class.shift()) & 0o7
    }

    /// The mask `oneimage show` prints for `class`: `u`, `m`, `a` or `-` for each right,
    /// e.g. `um-`.
    pub fn mask(self, class: Class) -> String {
        Right::ALL
            .into_iter()
            .map(|r| {
                if self.allows(class, r) {
                    r.mask_letter()
                } else {
                    '-'
                }
            })
            .collect()
    }

    /// The CLI's symbolic form, all three classes: `u=rw,g=r,o=`.
    pub fn to_symbolic(self) -> String {
        let mut out = String::new();
        for class in Class::ALL {
            if class != Class::Owner {
                out.push(',');
            }
            out.push(class.letter());
            out.push('=');
            for right in Right::ALL {
                if self.allows(class, right) {
                    out.push(right.symbolic_letter());
                }
            }
        }
        out
    }

    /// Parses the CLI's symbolic form (`one_helper.rb` `to_octet`): comma-separated clauses
    /// `u=`, `g=`, `o=` each followed by letters among `r` (USE), `w` (MANAGE), `x` (ADMIN);
    /// an empty clause (`o=`) grants nothing and a class left out grants nothing. A form that
    /// grants nothing at all is refused with the CLI's text.
    pub fn parse_symbolic(s: &str) -> Result<Permissions, PermissionsError> {
        let mut bits = 0u16;
        for clause in s.split(',') {
            let bad = || PermissionsError::Symbolic {
                value: s.to_owned(),
                clause: clause.into(),
            };
            let (class, letters) = clause.split_once('=').ok_or_else(bad)?;
            let class = match class {
                "u" => Class::Owner,
                "g" => Class::Group,
                "o" => Class::Other,
                _ => return Err(bad()),
            };
            for letter in letters.chars() {
                let right = match letter {
                    'r' => Right::Use,
                    'w' => Right::Manage,
                    'x' => Right::Admin,
                    _ => return Err(bad()),
                };
                let bit = right.weight() << class.shift();
                if bits & bit != 0 {
                    return Err(bad());
                }
                bits |= bit;
            }
        }
        if bits == 0 {
            return Err(PermissionsError::Format {
                value: s.to_owned(),
            });
        }
        Ok(Permissions(bits))
    }

    /// Parses the `octet` argument of `oneimage chmod`: three octal digits (`640`) or the
    /// symbolic form (`u=rw,g=r,o=`), surrounded by blanks or not.
    pub fn parse_octet(s: &str) -> Result<Permissions, PermissionsError> {
        let t = s.trim_matches(|c: char| c.is_ascii_whitespace());
        if t.contains('=') {
            Self::parse_symbolic(t).map_err(|e| match e {
                PermissionsError::Symbolic { clause, .. } => PermissionsError::Symbolic {
                    value: s.to_owned(),
                    clause,
                },
                _ => PermissionsError::Format {
                    value: s.to_owned(),
                },
            })
        } else {
            t.parse().map_err(|_| PermissionsError::Octal {
                value: s.to_owned(),
            })
        }
    }

    /// The permissions of a new object (`PoolObjectSQL::set_umask`): `0777` when the owner is
    /// uid 0 or its group is gid 0, else `0666` with oned.conf `ENABLE_OTHER_PERMISSIONS=YES`
    /// or `0660` without (the default), then `& !umask`.
    pub const fn for_new_object(
        umask: u16,
        owner_uid: u32,
        owner_gid: u32,
        enable_other: bool,
    ) -> Permissions {
        let base = if owner_uid == 0 || owner_gid == 0 {
            0o777
        } else if enable_other {
            0o666
        } else {
            0o660
        };
        Permissions(base & !umask & 0o777)
    }

    /// Whether a chmod from `self` to `to` changes any ADMIN bit: then it needs
    /// [`Operation::Admin`] instead of [`Operation::Manage`] (`SharedAPI::chmod`).
    pub const fn chmod_changes_admin(self, to: Permissions) -> bool {
        (self.0 ^ to.0) & 0o111 != 0
    }

    /// Whether a chmod from `self` to `to` changes any OTHER bit: refused to non-admins when
    /// `ENABLE_OTHER_PERMISSIONS=NO` (`SharedAPI::chmod`).
    pub const fn chmod_changes_other(self, to: Permissions) -> bool {
        (self.0 ^ to.0) & 0o007 != 0
    }

    /// The operation a chmod from `self` to `to` needs.
    pub const fn chmod_operation(self, to: Permissions) -> Operation {
        if self.chmod_changes_admin(to) {
            Operation::Admin
        } else {
            Operation::Manage
        }
    }
}

impl FromStr for Permissions {
    type Err = PermissionsError;

    /// Exactly three octal digits, as [`Display`](fmt::Display) prints them.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bytes = s.as_bytes();
        if bytes.len() != 3 || !bytes.iter().all(|b| (b'0'..=b'7').contains(b)) {
            return Err(PermissionsError::Octal {
                value: s.to_owned(),
            });
        }
        let bits = bytes
            .iter()
            .fold(0u16, |acc, b| acc * 8 + u16::from(b - b'0'));
        Ok(Permissions(bits))
    }
}

impl fmt::Display for Permissions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:03o}", self.0)
    }
}

impl TryFrom<String> for Permissions {
    type Error = PermissionsError;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<Permissions> for String {
    fn from(p: Permissions) -> String {
        p.to_string()
    }
}

/// An authorisation operation (`AuthRequest::Operation`): a right, and whether an object lock
/// can block it (the `*_NO_LCK` operations cannot).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    /// `USE` (0x1).
    Use,
    /// `USE_NO_LCK` (0x11): `show`.
    UseNoLock,
    /// `MANAGE` (0x2): the default of image commands.
    Manage,
    /// `MANAGE_NO_LCK` (0x12): `lock`, `unlock`.
    ManageNoLock,
    /// `ADMIN` (0x4).
    Admin,
    /// `ADMIN_NO_LCK` (0x14).
    AdminNoLock,
    /// `CREATE` (0x8): on the pool, not on an object.
    Create,
}

impl Operation {
    /// OpenNebula's code of this operation.
    pub const fn code(self) -> u8 {
        match self {
            Operation::Use => 0x1,
            Operation::UseNoLock => 0x11,
            Operation::Manage => 0x2,
            Operation::ManageNoLock => 0x12,
            Operation::Admin => 0x4,
            Operation::AdminNoLock => 0x14,
            Operation::Create => 0x8,
        }
    }

    /// The right bits (`code & 0x0F`), compared with an object lock level.
    pub const fn right_bits(self) -> u8 {
        self.code() & 0x0F
    }

    /// Whether an object lock can block this operation.
    pub const fn lockable(self) -> bool {
        self.code() & 0x10 == 0
    }

    /// `operation_to_str`: `USE`, `MANAGE`, `ADMIN`, `CREATE` (the `_NO_LCK` forms print as
    /// their right).
    pub const fn as_str(self) -> &'static str {
        match self {
            Operation::Use | Operation::UseNoLock => "USE",
            Operation::Manage | Operation::ManageNoLock => "MANAGE",
            Operation::Admin | Operation::AdminNoLock => "ADMIN",
            Operation::Create => "CREATE",
        }
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The `oneimage` commands, as far as authorisation is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// `show`, `list`, `top`.
    Show,
    /// `create`: CREATE on the pool (plus USE on the datastore, not modelled here).
    Create,
    /// `clone`: CREATE on the pool and USE on the source image (plus USE on the datastores).
    Clone,
    /// `delete`; `locked_state` is whether the image is in a LOCKED* state, which makes it
    /// need ADMIN (`ImageAPI::del_image`).
    Delete {
        /// The image is LOCKED, LOCKED_USED or LOCKED_USED_PERS.
        locked_state: bool,
    },
    /// `update`.
    Update,
    /// `enable`, `disable`.
    Enable,
    /// `persistent`, `nonpersistent`.
    Persistent,
    /// `chtype`.
    Chtype,
    /// `chown`, `chgrp`: MANAGE on the image (plus MANAGE on the new user and USE on the new
    /// group, not modelled here).
    Chown,
    /// `chmod`; `changes_admin` is whether it changes any ADMIN bit.
    Chmod {
        /// The new permissions differ from the old in an ADMIN bit.
        changes_admin: bool,
    },
    /// `rename`.
    Rename,
    /// `snapshot-delete`, `snapshot-revert`, `snapshot-flatten`.
    Snapshot,
    /// `restore`: USE.
    Restore,
    /// `lock`, `unlock`: MANAGE_NO_LCK.
    Lock,
}

impl Action {
    /// The operation checked on the image itself. For [`Action::Create`] it is the operation
    /// on the pool.
    pub const fn operation(self) -> Operation {
        match self {
            Action::Show => Operation::UseNoLock,
            Action::Create => Operation::Create,
            Action::Clone | Action::Restore => Operation::Use,
            Action::Delete { locked_state: true }
            | Action::Chmod {
                changes_admin: true,
            } => Operation::Admin,
            Action::Lock => Operation::ManageNoLock,
            Action::Delete {
                locked_state: false,
            }
            | Action::Chmod {
                changes_admin: false,
            }
            | Action::Update
            | Action::Enable
            | Action::Persistent
            | Action::Chtype
            | Action::Chown
            | Action::Rename
            | Action::Snapshot => Operation::Manage,
        }
    }
}

/// The kind of object a message names (`PoolObjectSQL::type_to_str`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ObjectKind {
    /// `IMAGE`.
    Image,
    /// `DATASTORE`.
    Datastore,
    /// `USER`: the new owner of a `chown`.
    User,
    /// `GROUP`: the new group of a `chown`/`chgrp`.
    Group,
    /// `VM`: an instance, which uses an image as a VM's disk does.
    Vm,
}

impl ObjectKind {
    /// The name OpenNebula prints.
    pub const fn as_str(self) -> &'static str {
        match self {
            ObjectKind::Image => "IMAGE",
            ObjectKind::Datastore => "DATASTORE",
            ObjectKind::User => "USER",
            ObjectKind::Group => "GROUP",
            ObjectKind::Vm => "VM",
        }
    }

    /// The name a server message gives the kind (`RequestLogger::object_name`): `image`,
    /// `datastore`, `user`, `group`, `virtual machine`.
    pub const fn object_name(self) -> &'static str {
        match self {
            ObjectKind::Image => "image",
            ObjectKind::Datastore => "datastore",
            ObjectKind::User => "user",
            ObjectKind::Group => "group",
            ObjectKind::Vm => "virtual machine",
        }
    }
}

impl fmt::Display for ObjectKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who makes a request.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Requester {
    /// The user id.
    pub uid: u32,
    /// The primary group (the group of objects the user creates).
    pub gid: u32,
    /// Every group the user belongs to, the primary one included.
    pub groups: BTreeSet<u32>,
    /// The groups this user administers (OpenNebula grants them `USE+MANAGE` on the group's
    /// images).
    pub admin_of: BTreeSet<u32>,
}

impl Requester {
    /// A user with one group.
    pub fn new(uid: u32, gid: u32) -> Requester {
        Requester {
            uid,
            gid,
            groups: BTreeSet::from([gid]),
            admin_of: BTreeSet::new(),
        }
    }

    /// `RequestAttributes::is_admin`: uid 0 or a member of the `oneadmin` group.
    pub fn is_admin(&self) -> bool {
        self.uid == 0 || self.gid == ONEADMIN_GROUP || self.groups.contains(&ONEADMIN_GROUP)
    }
}

/// What authorisation needs to know of an object (`PoolObjectAuth`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ObjectAuth {
    /// The kind of object, for messages.
    pub kind: ObjectKind,
    /// Its id; `None` for a CREATE request, which has no object yet.
    pub oid: Option<u32>,
    /// The owner's uid.
    pub uid: u32,
    /// The object's group.
    pub gid: u32,
    /// The permission bits.
    pub perms: Permissions,
    /// The object lock (`oneimage lock`).
    pub lock: LockLevel,
}

impl ObjectAuth {
    /// The object of a CREATE request by `requester` (`AuthRequest::add_create_auth`).
    pub fn for_create(kind: ObjectKind, requester: &Requester) -> ObjectAuth {
        ObjectAuth {
            kind,
            oid: None,
            uid: requester.uid,
            gid: requester.gid,
            // PoolObjectAuth's defaults (owner USE+MANAGE), which never grant CREATE.
            perms: Permissions(0o600),
            lock: LockLevel::None,
        }
    }
}

/// Whether `requester` may perform `op` on `object` (`AuthRequest::add_auth` and
/// `AclManager::authorize`/`oneadmin_authorize`), with the default ACL rules only (the users
/// group creates images and uses the datastores of the default VDC).
pub fn authorize(requester: &Requester, object: &ObjectAuth, op: Operation) -> bool {
    let blocked = op.lockable() && object.lock.blocks(op);
    if requester.is_admin() {
        return !blocked;
    }
    if blocked {
        return false;
    }
    let right = match op {
        Operation::Use | Operation::UseNoLock => Some(Right::Use),
        Operation::Manage | Operation::ManageNoLock => Some(Right::Manage),
        Operation::Admin | Operation::AdminNoLock => Some(Right::Admin),
        Operation::Create => None,
    };
    if let Some(right) = right {
        // The three rules built from the bits: `#uid`, `@gid`, `*`.
        if (requester.uid == object.uid && object.perms.allows(Class::Owner, right))
            || (requester.groups.contains(&object.gid) && object.perms.allows(Class::Group, right))
            || object.perms.allows(Class::Other, right)
        {
            return true;
        }
        // The default VDC's rule `@1 DATASTORE/%0 USE #0` (VdcPool): the users group may use
        // the datastores of cluster 0, which every datastore of a strata pool is in.
        if object.kind == ObjectKind::Datastore
            && right == Right::Use
            && requester.groups.contains(&USERS_GROUP)
        {
            return true;
        }
        // Group administrators: `#uid IMAGE/@gid USE+MANAGE *` (Group::add_admin_rules).
        object.kind == ObjectKind::Image
            && matches!(right, Right::Use | Right::Manage)
            && requester.admin_of.contains(&object.gid)
    } else {
        // Default rule `@1 VM+IMAGE+.../* CREATE *` (AclManager constructor).
        object.kind == ObjectKind::Image && requester.groups.contains(&USERS_GROUP)
    }
}

/// One refused item of an [`AuthRequest`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denial {
    /// The object kind.
    pub kind: ObjectKind,
    /// The object id, if any.
    pub oid: Option<u32>,
    /// The operation refused.
    pub op: Operation,
    /// The requester is an admin, so the only possible cause is an object lock: the message
    /// says `IMAGE is locked.` instead of `Not authorized to perform ...`.
    pub by_lock: bool,
}

impl fmt::Display for Denial {
    /// Text: `src/authm/AuthManager.cc`, `AuthRequest::add_auth`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.by_lock {
            write!(f, "{} is locked.", self.kind)?;
        } else {
            write!(f, "Not authorized to perform {} {}", self.op, self.kind)?;
        }
        if let Some(oid) = self.oid {
            write!(f, " [{oid}]")?;
        }
        Ok(())
    }
}

/// A refused authorisation request: every refused item, joined with `; ` as OpenNebula does.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", join_denials(.denials))]
pub struct AuthDenied {
    /// The refused items, in request order (never empty).
    pub denials: Vec<Denial>,
}

fn join_denials(denials: &[Denial]) -> String {
    denials
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// An authorisation request of several items, checked all at once (`AuthRequest`).
#[derive(Debug, Clone)]
pub struct AuthRequest<'a> {
    requester: &'a Requester,
    denials: Vec<Denial>,
}

impl<'a> AuthRequest<'a> {
    /// An empty request by `requester`.
    pub fn new(requester: &'a Requester) -> AuthRequest<'a> {
        AuthRequest {
            requester,
            denials: Vec::new(),
        }
    }

    /// Adds one item: `op` on `object`.
    #[must_use]
    pub fn add(mut self, op: Operation, object: &ObjectAuth) -> AuthRequest<'a> {
        if !authorize(self.requester, object, op) {
            self.denials.push(Denial {
                kind: object.kind,
                oid: object.oid,
                op,
                by_lock: self.requester.is_admin(),
            });
        }
        self
    }

    /// Grants the request if every item passed.
    pub fn check(self) -> Result<(), AuthDenied> {
        if self.denials.is_empty() {
            Ok(())
        } else {
            Err(AuthDenied {
                denials: self.denials,
            })
        }
    }
}

/// Why an authorisation-level request was refused (the server answers these with its
/// AUTHORIZATION error code).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// The permission or lock check failed.
    #[error(transparent)]
    Denied(#[from] AuthDenied),
    /// A non-admin changes an OTHER bit while oned.conf has `ENABLE_OTHER_PERMISSIONS=NO`.
    /// Text: `src/rm/api/SharedAPI.cc`, `chmod`.
    #[error("'other' permissions is disabled in oned.conf")]
    OtherPermissionsDisabled,
}

/// Checks `oneimage chmod` of `object` to `to` in the server's order: the OTHER-bits rule
/// first, then the permission check with MANAGE, or ADMIN when an ADMIN bit changes.
pub fn check_chmod(
    requester: &Requester,
    object: &ObjectAuth,
    to: Permissions,
    enable_other: bool,
) -> Result<Operation, AuthError> {
    let op = object.perms.chmod_operation(to);
    if object.perms.chmod_changes_other(to) && !enable_other && !requester.is_admin() {
        return Err(AuthError::OtherPermissionsDisabled);
    }
    AuthRequest::new(requester).add(op, object).check()?;
    Ok(op)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Permissions {
        s.parse().unwrap()
    }

    #[test]
    fn octal_masks_and_symbolic() {
        let perms = p("640");
        assert_eq!(perms.bits(), 0o640);
        assert_eq!(perms.to_string(), "640");
        assert_eq!(perms.mask(Class::Owner), "um-");
        assert_eq!(perms.mask(Class::Group), "u--");
        assert_eq!(perms.mask(Class::Other), "---");
        assert_eq!(perms.to_symbolic(), "u=rw,g=r,o=");
        assert_eq!(Permissions::parse_symbolic("u=rw,g=r,o="), Ok(perms));
        assert_eq!(Permissions::parse_symbolic("g=r,u=w,u=r"), Ok(perms));
        assert_eq!(Permissions::parse_octet(" 640\n"), Ok(perms));
        assert_eq!(Permissions::parse_octet("u=rw,g=r"), Ok(perms));
        assert_eq!(p("777").mask(Class::Other), "uma");
        assert_eq!(serde_json::to_string(&perms).unwrap(), "\"640\"");
        assert_eq!(
            serde_json::from_str::<Permissions>("\"640\"").unwrap(),
            perms
        );
        assert!(serde_json::from_str::<Permissions>("\"0640\"").is_err());
    }

    #[test]
    fn refusals() {
        let err = Permissions::parse_symbolic("u=,g=").unwrap_err();
        assert_eq!(
            err,
            PermissionsError::Format {
                value: "u=,g=".into()
            }
        );
        assert_eq!(err.to_string(), "Error in permissions format");
        let err = Permissions::parse_octet("0640").unwrap_err();
        assert_eq!(
            err,
            PermissionsError::Octal {
                value: "0640".into()
            }
        );
        assert_eq!(
            err.to_string(),
            "Error in permissions format: \"0640\" is not three octal digits such as 640"
        );
        let err = Permissions::parse_octet("u=rr").unwrap_err();
        assert_eq!(
            err,
            PermissionsError::Symbolic {
                value: "u=rr".into(),
                clause: "u=rr".into()
            }
        );
        assert_eq!(
            err.to_string(),
            "Error in permissions format: bad clause \"u=rr\" in \"u=rr\""
        );
        assert!(matches!(
            Permissions::parse_symbolic("a=r"),
            Err(PermissionsError::Symbolic { clause, .. }) if clause == "a=r"
        ));
        assert!(matches!(
            Permissions::parse_symbolic("u"),
            Err(PermissionsError::Symbolic { clause, .. }) if clause == "u"
        ));
        assert_eq!(
            Permissions::from_bits(0o1000),
            Err(PermissionsError::Bits { bits: 0o1000 })
        );
        assert_eq!(
            Permissions::from_bits(0o1000).unwrap_err().to_string(),
            "Permission bits 0o1000 are out of range"
        );
    }

    #[test]
    fn defaults_of_new_objects() {
        assert_eq!(
            Permissions::for_new_object(DEFAULT_UMASK, 5, 1, false),
            p("600")
        );
        assert_eq!(
            Permissions::for_new_object(DEFAULT_UMASK, 5, 1, true),
            p("600")
        );
        assert_eq!(Permissions::for_new_object(0o022, 5, 1, true), p("644"));
        assert_eq!(Permissions::for_new_object(0o022, 5, 1, false), p("640"));
        assert_eq!(Permissions::for_new_object(0, 0, 0, false), p("777"));
        assert_eq!(
            Permissions::for_new_object(BOOTSTRAP_DATASTORE_UMASK, 0, 0, false),
            p("640")
        );
    }

    #[test]
    fn operations() {
        assert_eq!(Action::Show.operation(), Operation::UseNoLock);
        assert_eq!(
            Action::Delete { locked_state: true }.operation(),
            Operation::Admin
        );
        assert_eq!(
            Action::Delete {
                locked_state: false
            }
            .operation(),
            Operation::Manage
        );
        assert_eq!(p("600").chmod_operation(p("640")), Operation::Manage);
        assert_eq!(p("600").chmod_operation(p("700")), Operation::Admin);
        assert_eq!(Operation::ManageNoLock.to_string(), "MANAGE");
        assert!(!Operation::ManageNoLock.lockable() && Operation::Use.lockable());
    }
}
