//! [`Format`]: the format of an import source or export destination, either a VM disk format or
//! a [`ContainerFormat`] (a containers-transports(5) transport, or pcocc's own
//! `pcocc-docker-daemon`), each with its [`Kind`].

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::SpecError;
use crate::{DiskFormat, Kind};

/// A container image format: the name of a containers-transports(5) transport, or pcocc's
/// `pcocc-docker-daemon`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum ContainerFormat {
    /// `containers-storage`: the local containers/storage store (podman, buildah, CRI-O).
    ContainersStorage,
    /// `dir`: manifest, config and layers as files in a directory (non-standard).
    Dir,
    /// `docker`: a registry speaking the docker/OCI distribution API (`docker://`).
    Docker,
    /// `docker-archive`: a `docker save` tarball.
    DockerArchive,
    /// `docker-daemon`: the local docker daemon.
    DockerDaemon,
    /// `oci`: an OCI image layout directory.
    Oci,
    /// `oci-archive`: an OCI image layout in a tarball.
    OciArchive,
    /// `ostree`: an OSTree repository.
    Ostree,
    /// `pcocc-docker-daemon`: pcocc's name for the docker daemon of a pcocc virtual machine;
    /// it is `docker-daemon` with that daemon's host and certificates.
    PcoccDockerDaemon,
    /// `sif`: a Singularity image file.
    Sif,
}

impl ContainerFormat {
    /// Every container format strata names.
    pub const ALL: [ContainerFormat; 10] = [
        ContainerFormat::ContainersStorage,
        ContainerFormat::Dir,
        ContainerFormat::Docker,
        ContainerFormat::DockerArchive,
        ContainerFormat::DockerDaemon,
        ContainerFormat::Oci,
        ContainerFormat::OciArchive,
        ContainerFormat::Ostree,
        ContainerFormat::PcoccDockerDaemon,
        ContainerFormat::Sif,
    ];

    /// The container formats pcocc accepts for `-t`, a `FORMAT:` prefix or an extension, in its
    /// order (`ContImage.known_img_formats`, `lib/pcocc/Image.py`). There is no `oci-archive`,
    /// and no `simg` although pcocc's man page lists it.
    pub const PCOCC: [ContainerFormat; 9] = [
        ContainerFormat::ContainersStorage,
        ContainerFormat::Dir,
        ContainerFormat::Docker,
        ContainerFormat::DockerArchive,
        ContainerFormat::DockerDaemon,
        ContainerFormat::Oci,
        ContainerFormat::Ostree,
        ContainerFormat::PcoccDockerDaemon,
        ContainerFormat::Sif,
    ];

    /// The format's name, as a transport prefix and as pcocc's `-t` value.
    pub const fn name(self) -> &'static str {
        match self {
            ContainerFormat::ContainersStorage => "containers-storage",
            ContainerFormat::Dir => "dir",
            ContainerFormat::Docker => "docker",
            ContainerFormat::DockerArchive => "docker-archive",
            ContainerFormat::DockerDaemon => "docker-daemon",
            ContainerFormat::Oci => "oci",
            ContainerFormat::OciArchive => "oci-archive",
            ContainerFormat::Ostree => "ostree",
            ContainerFormat::PcoccDockerDaemon => "pcocc-docker-daemon",
            ContainerFormat::Sif => "sif",
        }
    }

    /// The container format a file extension (without the dot, any case) names: `sif` and
    /// `simg` (Singularity images) are the only container formats recognised by extension.
    pub fn from_extension(ext: &str) -> Option<ContainerFormat> {
        let ext = ext.to_ascii_lowercase();
        matches!(ext.as_str(), "sif" | "simg").then_some(ContainerFormat::Sif)
    }

    /// Whether the text after `FORMAT:` is a local file-system path (as opposed to a registry
    /// name, a daemon or store reference, or an ostree reference).
    pub const fn names_local_path(self) -> bool {
        match self {
            ContainerFormat::Dir
            | ContainerFormat::DockerArchive
            | ContainerFormat::Oci
            | ContainerFormat::OciArchive
            | ContainerFormat::Sif => true,
            ContainerFormat::ContainersStorage
            | ContainerFormat::Docker
            | ContainerFormat::DockerDaemon
            | ContainerFormat::Ostree
            | ContainerFormat::PcoccDockerDaemon => false,
        }
    }
}

impl FromStr for ContainerFormat {
    type Err = SpecError;

    /// Any name of [`ContainerFormat::ALL`], exactly (case matters).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ContainerFormat::ALL
            .into_iter()
            .find(|f| f.name() == s)
            .ok_or_else(|| SpecError::InvalidFormat {
                format: s.to_owned(),
            })
    }
}

impl fmt::Display for ContainerFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl TryFrom<String> for ContainerFormat {
    type Error = SpecError;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<ContainerFormat> for String {
    fn from(f: ContainerFormat) -> String {
        f.name().to_owned()
    }
}

/// The format of an import source or export destination: a VM disk format (kind `vm`) or a
/// container format (kind `ctr`).
///
/// Names do not overlap between the two, so [`Display`](fmt::Display) prints the bare name and
/// [`FromStr`] takes any name of [`DiskFormat::ALL`] or [`ContainerFormat::ALL`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Format {
    /// A virtual machine disk format.
    Disk(DiskFormat),
    /// A container image format.
    Container(ContainerFormat),
}

impl Format {
    /// The kind of image this format holds.
    pub const fn kind(self) -> Kind {
        match self {
            Format::Disk(_) => Kind::Vm,
            Format::Container(_) => Kind::Ctr,
        }
    }

    /// The format's name.
    pub const fn name(self) -> &'static str {
        match self {
            Format::Disk(f) => f.name(),
            Format::Container(f) => f.name(),
        }
    }

    /// The format pcocc knows by this exact name (`VMImage.known_img_formats` then
    /// `ContImage.known_img_formats`), if any.
    pub fn from_pcocc_name(name: &str) -> Option<Format> {
        let disk = DiskFormat::PCOCC.into_iter().map(Format::Disk);
        let container = ContainerFormat::PCOCC.into_iter().map(Format::Container);
        disk.chain(container).find(|f| f.name() == name)
    }

    /// The format pcocc uses for an image of this kind when nothing else decides
    /// (`ImageType.default_format`): `raw` for vm, `docker-archive` for ctr.
    pub const fn default_for(kind: Kind) -> Format {
        match kind {
            Kind::Vm => Format::Disk(DiskFormat::Raw),
            Kind::Ctr => Format::Container(ContainerFormat::DockerArchive),
        }
    }

    /// Whether pcocc knows this format.
    pub fn is_pcocc(self) -> bool {
        Format::from_pcocc_name(self.name()) == Some(self)
    }
}

impl From<DiskFormat> for Format {
    fn from(f: DiskFormat) -> Format {
        Format::Disk(f)
    }
}

impl From<ContainerFormat> for Format {
    fn from(f: ContainerFormat) -> Format {
        Format::Container(f)
    }
}

impl FromStr for Format {
    type Err = SpecError;

    /// Any name of [`DiskFormat::ALL`] or [`ContainerFormat::ALL`], exactly; anything else is
    /// pcocc's `{name} is not a valid image format`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.parse::<DiskFormat>() {
            Ok(f) => Ok(Format::Disk(f)),
            Err(_) => s.parse().map(Format::Container),
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl TryFrom<String> for Format {
    type Error = SpecError;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<Format> for String {
    fn from(f: Format) -> String {
        f.name().to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_kinds() {
        for f in ContainerFormat::ALL {
            assert_eq!(f.name().parse::<ContainerFormat>(), Ok(f));
            assert_eq!(f.name().parse::<Format>(), Ok(Format::Container(f)));
            assert_eq!(Format::Container(f).kind(), Kind::Ctr);
        }
        for f in DiskFormat::ALL {
            assert_eq!(f.name().parse::<Format>(), Ok(Format::Disk(f)));
            assert_eq!(Format::Disk(f).kind(), Kind::Vm);
        }
    }

    #[test]
    fn extensions() {
        assert_eq!(
            ContainerFormat::from_extension("SIF"),
            Some(ContainerFormat::Sif)
        );
        assert_eq!(
            ContainerFormat::from_extension("simg"),
            Some(ContainerFormat::Sif)
        );
        assert_eq!(ContainerFormat::from_extension("tar"), None);
        assert_eq!(ContainerFormat::from_extension("oci"), None);
    }

    #[test]
    fn pcocc_names() {
        let names: Vec<&str> = DiskFormat::PCOCC
            .into_iter()
            .map(Format::Disk)
            .chain(ContainerFormat::PCOCC.into_iter().map(Format::Container))
            .map(Format::name)
            .collect();
        assert_eq!(
            names.join(" "),
            "raw qcow2 qed vdi vpc vmdk containers-storage dir docker docker-archive \
             docker-daemon oci ostree pcocc-docker-daemon sif"
        );
        for name in names {
            assert_eq!(Format::from_pcocc_name(name).map(Format::name), Some(name));
        }
        for name in ["vhdx", "oci-archive", "simg", "RAW", ""] {
            assert_eq!(Format::from_pcocc_name(name), None, "{name}");
        }
        assert!(!Format::Disk(DiskFormat::Vhdx).is_pcocc());
        assert!(Format::Container(ContainerFormat::Sif).is_pcocc());
    }

    #[test]
    fn defaults_and_unknown_names() {
        assert_eq!(Format::default_for(Kind::Vm), Format::Disk(DiskFormat::Raw));
        assert_eq!(
            Format::default_for(Kind::Ctr),
            Format::Container(ContainerFormat::DockerArchive)
        );
        let err = "qcow".parse::<Format>().unwrap_err();
        assert_eq!(
            err,
            SpecError::InvalidFormat {
                format: "qcow".into()
            }
        );
        assert_eq!(err.to_string(), "qcow is not a valid image format");
    }
}
