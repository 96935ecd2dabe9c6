//! [`DiskFormat`]: the virtual machine disk formats strata reads and writes, with their names
//! (as qemu-img spells them) and file extensions.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A virtual machine disk image format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum DiskFormat {
    /// A plain byte-for-byte disk.
    Raw,
    /// QEMU copy-on-write v2/v3.
    Qcow2,
    /// QEMU enhanced disk.
    Qed,
    /// VirtualBox disk image.
    Vdi,
    /// VMware virtual disk.
    Vmdk,
    /// Virtual PC / VHD (qemu calls it `vpc`).
    Vpc,
    /// Hyper-V VHDX.
    Vhdx,
}

impl DiskFormat {
    /// Every format, in probing order of their names (not of their magic numbers).
    pub const ALL: [DiskFormat; 7] = [
        DiskFormat::Raw,
        DiskFormat::Qcow2,
        DiskFormat::Qed,
        DiskFormat::Vdi,
        DiskFormat::Vmdk,
        DiskFormat::Vpc,
        DiskFormat::Vhdx,
    ];

    /// The VM formats pcocc accepts for `-t`, a `FORMAT:` prefix or an extension, in its order.
    pub const PCOCC: [DiskFormat; 6] = [
        DiskFormat::Raw,
        DiskFormat::Qcow2,
        DiskFormat::Qed,
        DiskFormat::Vdi,
        DiskFormat::Vpc,
        DiskFormat::Vmdk,
    ];

    /// The name qemu-img uses (`-f`/`-O`), which is also ours.
    pub const fn name(self) -> &'static str {
        match self {
            DiskFormat::Raw => "raw",
            DiskFormat::Qcow2 => "qcow2",
            DiskFormat::Qed => "qed",
            DiskFormat::Vdi => "vdi",
            DiskFormat::Vmdk => "vmdk",
            DiskFormat::Vpc => "vpc",
            DiskFormat::Vhdx => "vhdx",
        }
    }

    /// The extension strata gives files it writes in this format (without the dot).
    pub const fn extension(self) -> &'static str {
        match self {
            DiskFormat::Vpc => "vhd",
            other => other.name(),
        }
    }

    /// The format a file extension (without the dot, any case) names, if any.
    ///
    /// Each format's own name is its extension, plus `vhd` for vpc. `.img` is deliberately not
    /// mapped: cloud images named `.img` are often qcow2, so their content decides.
    pub fn from_extension(ext: &str) -> Option<DiskFormat> {
        let ext = ext.to_ascii_lowercase();
        match ext.as_str() {
            "vhd" => Some(DiskFormat::Vpc),
            _ => ext.parse().ok(),
        }
    }

    /// Whether strata can write this format (every one it names, today).
    pub const fn is_writable(self) -> bool {
        matches!(
            self,
            DiskFormat::Raw
                | DiskFormat::Qcow2
                | DiskFormat::Qed
                | DiskFormat::Vdi
                | DiskFormat::Vmdk
                | DiskFormat::Vpc
                | DiskFormat::Vhdx
        )
    }

    /// Whether this format can name a backing file.
    pub const fn has_backing(self) -> bool {
        matches!(self, DiskFormat::Qcow2 | DiskFormat::Qed | DiskFormat::Vmdk)
    }
}

/// A name that is not a disk format strata knows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Unknown disk format {name:?}: expected one of raw, qcow2, qed, vdi, vmdk, vpc, vhdx")]
pub struct FormatError {
    /// The name that was given.
    pub name: String,
}

impl FromStr for DiskFormat {
    type Err = FormatError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        DiskFormat::ALL
            .into_iter()
            .find(|f| f.name() == s)
            .ok_or_else(|| FormatError { name: s.to_owned() })
    }
}

impl TryFrom<String> for DiskFormat {
    type Error = FormatError;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<DiskFormat> for String {
    fn from(f: DiskFormat) -> String {
        f.name().to_owned()
    }
}

impl fmt::Display for DiskFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for f in DiskFormat::ALL {
            assert_eq!(f.name().parse::<DiskFormat>(), Ok(f));
            assert_eq!(DiskFormat::from_extension(f.extension()), Some(f));
            let json = serde_json::to_string(&f).unwrap();
            assert_eq!(serde_json::from_str::<DiskFormat>(&json).unwrap(), f);
        }
    }

    #[test]
    fn extensions() {
        assert_eq!(DiskFormat::from_extension("VHD"), Some(DiskFormat::Vpc));
        assert_eq!(DiskFormat::from_extension("vpc"), Some(DiskFormat::Vpc));
        assert_eq!(DiskFormat::from_extension("img"), None);
        assert_eq!(DiskFormat::Vpc.extension(), "vhd");
    }

    #[test]
    fn unknown_name_is_refused() {
        assert_eq!(
            "qcow".parse::<DiskFormat>(),
            Err(FormatError {
                name: "qcow".into()
            })
        );
        assert_eq!(
            "QCOW2".parse::<DiskFormat>(),
            Err(FormatError {
                name: "QCOW2".into()
            })
        );
    }
}
