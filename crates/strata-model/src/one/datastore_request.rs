//! Datastore requests as the server answers them: the `one.datastore.*` methods
//! ([`DatastoreMethod`]), why OpenNebula refuses one ([`DatastoreRefusal`], its exact texts),
//! and the framing of the answer ([`DatastoreRequestError`]).
//!
//! Facts from OpenNebula/one `src/datastore/Datastore.cc` (`insert`, `enable`),
//! `src/datastore/DatastorePool.cc` (`allocate`, `drop`), `src/rm/api/SharedAPI.cc` (`del`,
//! `rename`) and `src/rm/Request.cc` (`failure_message`).

use std::fmt;

use super::perms::AuthError;
use crate::name::NameError;

/// The XML-RPC method of a datastore request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DatastoreMethod {
    /// `one.datastore.allocate` (`create`).
    Allocate,
    /// `one.datastore.delete`.
    Delete,
    /// `one.datastore.info` (`show`).
    Info,
    /// `one.datastore.update`.
    Update,
    /// `one.datastore.rename`.
    Rename,
    /// `one.datastore.chown` (and `chgrp`).
    Chown,
    /// `one.datastore.chmod`.
    Chmod,
    /// `one.datastore.enable` (and `disable`).
    Enable,
}

impl DatastoreMethod {
    /// The method's name.
    pub const fn as_str(self) -> &'static str {
        match self {
            DatastoreMethod::Allocate => "one.datastore.allocate",
            DatastoreMethod::Delete => "one.datastore.delete",
            DatastoreMethod::Info => "one.datastore.info",
            DatastoreMethod::Update => "one.datastore.update",
            DatastoreMethod::Rename => "one.datastore.rename",
            DatastoreMethod::Chown => "one.datastore.chown",
            DatastoreMethod::Chmod => "one.datastore.chmod",
            DatastoreMethod::Enable => "one.datastore.enable",
        }
    }
}

impl fmt::Display for DatastoreMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why OpenNebula refuses a datastore request; `Display` is the server's message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DatastoreRefusal {
    /// The permission check failed.
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// No datastore has this id.
    #[error("Error getting datastore [{id}].")]
    NotFound {
        /// The id asked for.
        id: u32,
    },
    /// The name is not valid (`PoolObjectSQL::name_is_valid`); `allocating` for a create.
    #[error("{error}")]
    InvalidName {
        /// What is wrong with it.
        error: NameError,
        /// The request makes a datastore.
        allocating: bool,
    },
    /// Another datastore has the name (`DatastorePool::allocate`).
    #[error("NAME is already taken by DATASTORE {id}.")]
    NameTaken {
        /// The datastore that has it.
        id: u32,
    },
    /// `rename` to a name another datastore has.
    #[error("datastore cannot be renamed to {name} because it collides with datastore {id}")]
    RenameCollision {
        /// The name asked for.
        name: String,
        /// The datastore that has it.
        id: u32,
    },
    /// A SYSTEM datastore with DS_MAD (`Datastore::insert`).
    #[error("SYSTEM datastores cannot have DS_MAD defined.")]
    SystemDsMad,
    /// A non-system datastore without DS_MAD.
    #[error("No DS_MAD in template.")]
    NoDsMad,
    /// A DS_MAD the server does not have.
    #[error("DS_MAD named \"{mad}\" is not defined in oned.conf")]
    UnknownDsMad {
        /// The driver named.
        mad: String,
    },
    /// A datastore without TM_MAD.
    #[error("No TM_MAD in template.")]
    NoTmMad,
    /// A TM_MAD the server does not have.
    #[error("TM_MAD named \"{mad}\" is not defined in oned.conf")]
    UnknownTmMad {
        /// The driver named.
        mad: String,
    },
    /// `delete` of a datastore that holds images (`DatastorePool::drop`, framed by
    /// `SharedAPI::del`).
    #[error("Cannot delete datastore. Datastore {id} is not empty.")]
    NotEmpty {
        /// The datastore.
        id: u32,
    },
    /// `enable`/`disable` of a datastore that is not a SYSTEM one (`Datastore::enable`).
    #[error("Only SYSTEM_DS can be disabled or enabled")]
    OnlySystemEnable,
}

impl DatastoreRefusal {
    fn allocating(&self) -> bool {
        matches!(
            self,
            DatastoreRefusal::InvalidName {
                allocating: true,
                ..
            } | DatastoreRefusal::NameTaken { .. }
                | DatastoreRefusal::SystemDsMad
                | DatastoreRefusal::NoDsMad
                | DatastoreRefusal::UnknownDsMad { .. }
                | DatastoreRefusal::NoTmMad
                | DatastoreRefusal::UnknownTmMad { .. }
        )
    }
}

/// A datastore refusal framed as the server answers the request (`Request::failure_message`):
/// `[one.datastore.delete] Cannot delete datastore. Datastore 100 is not empty.`
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct DatastoreRequestError {
    /// The method.
    pub method: DatastoreMethod,
    /// The requester's uid (authorisation messages name it).
    pub uid: u32,
    /// Why.
    #[source]
    pub refusal: DatastoreRefusal,
}

impl fmt::Display for DatastoreRequestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}] ", self.method)?;
        match &self.refusal {
            DatastoreRefusal::Auth(e) => write!(f, "User [{}] : {e}.", self.uid),
            r if r.allocating() => write!(f, "Error allocating a new datastore. {r}"),
            r => write!(f, "{r}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_framed_as_the_server_frames_them() {
        let e = |method, refusal| DatastoreRequestError {
            method,
            uid: 3,
            refusal,
        };
        assert_eq!(
            e(
                DatastoreMethod::Delete,
                DatastoreRefusal::NotEmpty { id: 100 }
            )
            .to_string(),
            "[one.datastore.delete] Cannot delete datastore. Datastore 100 is not empty."
        );
        assert_eq!(
            e(
                DatastoreMethod::Allocate,
                DatastoreRefusal::NameTaken { id: 1 }
            )
            .to_string(),
            "[one.datastore.allocate] Error allocating a new datastore. NAME is already taken \
             by DATASTORE 1."
        );
        assert_eq!(
            e(DatastoreMethod::Info, DatastoreRefusal::NotFound { id: 7 }).to_string(),
            "[one.datastore.info] Error getting datastore [7]."
        );
        assert_eq!(
            e(DatastoreMethod::Enable, DatastoreRefusal::OnlySystemEnable).to_string(),
            "[one.datastore.enable] Only SYSTEM_DS can be disabled or enabled"
        );
    }
}
