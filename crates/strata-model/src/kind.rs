//! [`Kind`]: whether an image is a virtual machine disk or a container image.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The kind of an image, as pcocc records it in a revision's `kind` field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// A virtual machine image: a chain of qcow2 layers.
    Vm,
    /// A container image: OCI index, manifests, config and layers.
    Ctr,
}

impl Kind {
    /// The name pcocc writes in records and prints in the TYPE column.
    pub const fn as_str(self) -> &'static str {
        match self {
            Kind::Vm => "vm",
            Kind::Ctr => "ctr",
        }
    }
}

/// A kind that is neither `vm` nor `ctr`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Unknown image kind {value:?}: expected vm or ctr")]
pub struct KindError {
    /// The text that was given.
    pub value: String,
}

impl FromStr for Kind {
    type Err = KindError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "vm" => Ok(Kind::Vm),
            "ctr" => Ok(Kind::Ctr),
            _ => Err(KindError {
                value: s.to_owned(),
            }),
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_others() {
        for kind in [Kind::Vm, Kind::Ctr] {
            assert_eq!(kind.to_string().parse::<Kind>(), Ok(kind));
            let json = serde_json::to_string(&kind).unwrap();
            assert_eq!(serde_json::from_str::<Kind>(&json).unwrap(), kind);
        }
        assert_eq!(
            "cont".parse::<Kind>(),
            Err(KindError {
                value: "cont".into()
            })
        );
        assert!(serde_json::from_str::<Kind>("\"VM\"").is_err());
    }
}
