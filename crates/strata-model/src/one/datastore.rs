//! [`DatastoreType`]: OpenNebula's datastore types (IMAGE, SYSTEM, FILE, BACKUP) with their
//! codes and names.
//!
//! Facts from OpenNebula/one `include/Datastore.h` (enum, `type_to_str`) and
//! `src/oca/ruby/opennebula/datastore.rb` (`DATASTORE_TYPES`, `SHORT_DATASTORE_TYPES`).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::image_type::ruby_strip_upcase;

/// The type of an OpenNebula datastore.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DatastoreType {
    /// `IMAGE` (0), short `img`: disk images.
    Image,
    /// `SYSTEM` (1), short `sys`: disks of running VMs; images cannot be registered here.
    System,
    /// `FILE` (2), short `fil`: kernels, ramdisks and context files.
    File,
    /// `BACKUP` (3), short `bck`: VM backups.
    Backup,
}

/// A datastore type name or code that OpenNebula does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DatastoreTypeError {
    /// An unknown name.
    #[error("Unknown datastore type {value:?}: expected IMAGE, SYSTEM, FILE or BACKUP")]
    Name {
        /// The text that was given.
        value: String,
    },
    /// A numeric code outside 0..=3.
    #[error("Unknown datastore type code {code}")]
    Code {
        /// The code that was given.
        code: i64,
    },
}

impl DatastoreType {
    /// Every type, in code order.
    pub const ALL: [DatastoreType; 4] = [
        DatastoreType::Image,
        DatastoreType::System,
        DatastoreType::File,
        DatastoreType::Backup,
    ];

    /// The numeric code stored in the datastore XML `TYPE` element.
    pub const fn code(self) -> u8 {
        match self {
            DatastoreType::Image => 0,
            DatastoreType::System => 1,
            DatastoreType::File => 2,
            DatastoreType::Backup => 3,
        }
    }

    /// The type with this numeric code.
    pub fn from_code(code: i64) -> Result<DatastoreType, DatastoreTypeError> {
        usize::try_from(code)
            .ok()
            .and_then(|i| Self::ALL.get(i).copied())
            .ok_or(DatastoreTypeError::Code { code })
    }

    /// The CLI's long name (`DATASTORE_TYPES`): `IMAGE`, `SYSTEM`, `FILE`, `BACKUP`.
    pub const fn as_str(self) -> &'static str {
        match self {
            DatastoreType::Image => "IMAGE",
            DatastoreType::System => "SYSTEM",
            DatastoreType::File => "FILE",
            DatastoreType::Backup => "BACKUP",
        }
    }

    /// The short code of the `onedatastore list` TYPE column: `img`, `sys`, `fil`, `bck`.
    pub const fn short(self) -> &'static str {
        match self {
            DatastoreType::Image => "img",
            DatastoreType::System => "sys",
            DatastoreType::File => "fil",
            DatastoreType::Backup => "bck",
        }
    }

    /// The server's name, used in the datastore template `TYPE` attribute and in its messages:
    /// `IMAGE_DS`, `SYSTEM_DS`, `FILE_DS`, `BACKUP_DS`.
    pub const fn server_name(self) -> &'static str {
        match self {
            DatastoreType::Image => "IMAGE_DS",
            DatastoreType::System => "SYSTEM_DS",
            DatastoreType::File => "FILE_DS",
            DatastoreType::Backup => "BACKUP_DS",
        }
    }
}

impl FromStr for DatastoreType {
    type Err = DatastoreTypeError;

    /// Accepts the long name or the server name (`IMAGE` or `IMAGE_DS`), in any case.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = ruby_strip_upcase(s);
        Self::ALL
            .into_iter()
            .find(|t| t.as_str() == wanted || t.server_name() == wanted)
            .ok_or_else(|| DatastoreTypeError::Name {
                value: s.to_owned(),
            })
    }
}

impl fmt::Display for DatastoreType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_codes_and_round_trips() {
        let table = [
            (DatastoreType::Image, 0, "IMAGE", "img", "IMAGE_DS"),
            (DatastoreType::System, 1, "SYSTEM", "sys", "SYSTEM_DS"),
            (DatastoreType::File, 2, "FILE", "fil", "FILE_DS"),
            (DatastoreType::Backup, 3, "BACKUP", "bck", "BACKUP_DS"),
        ];
        for (t, code, long, short, server) in table {
            assert_eq!(t.code(), code);
            assert_eq!(DatastoreType::from_code(i64::from(code)), Ok(t));
            assert_eq!(t.to_string(), long);
            assert_eq!(t.short(), short);
            assert_eq!(t.server_name(), server);
            assert_eq!(long.parse(), Ok(t));
            assert_eq!(server.to_lowercase().parse(), Ok(t));
            let json = serde_json::to_string(&t).unwrap();
            assert_eq!(json, format!("\"{long}\""));
            assert_eq!(serde_json::from_str::<DatastoreType>(&json).unwrap(), t);
        }
        assert_eq!(
            "tmp".parse::<DatastoreType>(),
            Err(DatastoreTypeError::Name {
                value: "tmp".into()
            })
        );
        assert_eq!(
            DatastoreType::from_code(4),
            Err(DatastoreTypeError::Code { code: 4 })
        );
    }
}
