//! Object locks (`oneimage lock`/`unlock`): [`LockLevel`], [`LockRequest`], the rule that a
//! lock blocks an operation, and the lock and unlock rules of [`ObjectLock`].
//!
//! Facts from OpenNebula/one `include/PoolObjectSQL.h` (`LockStates`), `src/pool/PoolObjectSQL.cc`
//! (`lock_db`, `unlock_db`), `src/acl/AclManager.cc` (`locked > 0 && locked <= op`),
//! `src/rm/api/SharedAPI.cc` (`lock`, `unlock`), `src/cli/oneimage` (`lock` flags) and
//! `src/cli/one_helper.rb` (`level_lock_to_str`).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::perms::Operation;

/// The lock level stored in an object (`LOCK/LOCKED`), as `oneimage show` prints it.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize,
)]
pub enum LockLevel {
    /// 0: not locked.
    #[default]
    None,
    /// 1 (`ST_USE`): blocks USE, MANAGE, ADMIN and CREATE.
    Use,
    /// 2 (`ST_MANAGE`): blocks MANAGE, ADMIN and CREATE.
    Manage,
    /// 3 (`ST_ADMIN`): blocks ADMIN and CREATE.
    Admin,
}

/// A lock level name that is not `None`, `Use`, `Manage` or `Admin`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Unknown lock level {value:?}: expected None, Use, Manage or Admin")]
pub struct LockLevelError {
    /// The text that was given.
    pub value: String,
}

impl LockLevel {
    /// The stored code.
    pub const fn code(self) -> u8 {
        match self {
            LockLevel::None => 0,
            LockLevel::Use => 1,
            LockLevel::Manage => 2,
            LockLevel::Admin => 3,
        }
    }

    /// `level_lock_to_str`, as `oneimage show` prints the LOCK line.
    pub const fn as_str(self) -> &'static str {
        match self {
            LockLevel::None => "None",
            LockLevel::Use => "Use",
            LockLevel::Manage => "Manage",
            LockLevel::Admin => "Admin",
        }
    }

    /// Whether this lock blocks `op` (`AclManager`: `locked > 0 && locked <= op`, skipped for
    /// the `*_NO_LCK` operations).
    pub const fn blocks(self, op: Operation) -> bool {
        op.lockable() && self.code() > 0 && self.code() <= op.right_bits()
    }
}

impl FromStr for LockLevel {
    type Err = LockLevelError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [
            LockLevel::None,
            LockLevel::Use,
            LockLevel::Manage,
            LockLevel::Admin,
        ]
        .into_iter()
        .find(|l| l.as_str() == s)
        .ok_or_else(|| LockLevelError {
            value: s.to_owned(),
        })
    }
}

impl fmt::Display for LockLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The level asked by `oneimage lock` (`--use` 1, the default; `--manage` 2; `--admin` 3;
/// `--all` 4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum LockRequest {
    /// `--use` (1).
    #[default]
    Use,
    /// `--manage` (2).
    Manage,
    /// `--admin` (3).
    Admin,
    /// `--all` (4): stored as [`LockLevel::Use`], which blocks everything anyway.
    All,
}

impl LockRequest {
    /// The level sent in `one.image.lock`.
    pub const fn code(self) -> u8 {
        match self {
            LockRequest::Use => 1,
            LockRequest::Manage => 2,
            LockRequest::Admin => 3,
            LockRequest::All => 4,
        }
    }

    /// The request with this level, refused with the server's text otherwise.
    pub fn from_code(code: i64) -> Result<LockRequest, LockError> {
        match code {
            1 => Ok(LockRequest::Use),
            2 => Ok(LockRequest::Manage),
            3 => Ok(LockRequest::Admin),
            4 => Ok(LockRequest::All),
            _ => Err(LockError::WrongLevel { level: code }),
        }
    }

    /// The level the server stores (`SharedAPI::lock`: 4 is stored as USE).
    pub const fn stored(self) -> LockLevel {
        match self {
            LockRequest::Use | LockRequest::All => LockLevel::Use,
            LockRequest::Manage => LockLevel::Manage,
            LockRequest::Admin => LockLevel::Admin,
        }
    }
}

/// Refusals of `one.image.lock` and `one.image.unlock` (the server's ACTION code). Texts:
/// `src/rm/api/SharedAPI.cc`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LockError {
    /// The object is locked by another user and the requester is not an admin.
    #[error("Error trying to lock the resource.")]
    HeldByOther {
        /// The uid that holds the lock.
        owner: Option<u32>,
    },
    /// A level outside 1..=4.
    #[error("Wrong lock level specified")]
    WrongLevel {
        /// The level that was given.
        level: i64,
    },
    /// A non-admin unlocks a lock taken by someone else.
    #[error("Cannot unlock: Lock is owned by another user")]
    NotOwner {
        /// The uid that holds the lock.
        owner: Option<u32>,
    },
}

/// The lock of an object: its level and who took it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct ObjectLock {
    /// The stored level.
    pub level: LockLevel,
    /// The uid that took the lock; `None` when unlocked, or when the server itself locked.
    pub owner: Option<u32>,
}

impl ObjectLock {
    /// `oneimage lock` by `uid` (`PoolObjectSQL::lock_db`): refused when the object is already
    /// locked by another user, unless the requester is an admin, who takes the lock over. The
    /// authorisation check (MANAGE_NO_LCK) comes first and is not part of this function.
    pub fn lock(self, uid: u32, is_admin: bool, request: LockRequest) -> Result<Self, LockError> {
        if self.level != LockLevel::None && self.owner != Some(uid) && !is_admin {
            return Err(LockError::HeldByOther { owner: self.owner });
        }
        Ok(ObjectLock {
            level: request.stored(),
            owner: Some(uid),
        })
    }

    /// `oneimage unlock` by `uid` (`PoolObjectSQL::unlock_db`): an admin always may; another
    /// user only if the lock is theirs.
    ///
    /// Deviation: OpenNebula also refuses a non-admin who unlocks an object that is not locked
    /// at all (the stored owner is then -1, which is not theirs), with the misleading text
    /// `Cannot unlock: Lock is owned by another user`. strata treats that as a no-op.
    pub fn unlock(self, uid: u32, is_admin: bool) -> Result<Self, LockError> {
        if self.level == LockLevel::None || is_admin || self.owner == Some(uid) {
            return Ok(ObjectLock::default());
        }
        Err(LockError::NotOwner { owner: self.owner })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocking_rule() {
        use Operation::*;
        let ops = [Use, Manage, Admin, Create];
        let expect = |lock: LockLevel| ops.map(|op| lock.blocks(op));
        assert_eq!(expect(LockLevel::None), [false; 4]);
        assert_eq!(expect(LockLevel::Use), [true; 4]);
        assert_eq!(expect(LockLevel::Manage), [false, true, true, true]);
        assert_eq!(expect(LockLevel::Admin), [false, false, true, true]);
        assert!(!LockLevel::Use.blocks(ManageNoLock) && !LockLevel::Use.blocks(UseNoLock));
    }

    #[test]
    fn lock_and_unlock() {
        let free = ObjectLock::default();
        let mine = free.lock(5, false, LockRequest::All).unwrap();
        assert_eq!(
            mine,
            ObjectLock {
                level: LockLevel::Use,
                owner: Some(5)
            }
        );
        let err = mine.lock(6, false, LockRequest::Admin).unwrap_err();
        assert_eq!(err, LockError::HeldByOther { owner: Some(5) });
        assert_eq!(err.to_string(), "Error trying to lock the resource.");
        assert_eq!(
            mine.lock(0, true, LockRequest::Admin).unwrap().owner,
            Some(0)
        );
        let err = mine.unlock(6, false).unwrap_err();
        assert_eq!(err, LockError::NotOwner { owner: Some(5) });
        assert_eq!(
            err.to_string(),
            "Cannot unlock: Lock is owned by another user"
        );
        assert_eq!(mine.unlock(5, false), Ok(free));
        assert_eq!(mine.unlock(0, true), Ok(free));
        assert_eq!(free.unlock(6, false), Ok(free));
        let err = LockRequest::from_code(5).unwrap_err();
        assert_eq!(err, LockError::WrongLevel { level: 5 });
        assert_eq!(err.to_string(), "Wrong lock level specified");
        for l in [
            LockLevel::None,
            LockLevel::Use,
            LockLevel::Manage,
            LockLevel::Admin,
        ] {
            assert_eq!(l.to_string().parse(), Ok(l));
        }
    }
}
