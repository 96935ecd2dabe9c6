//! pcocc's import/export specs, `[FORMAT:]PATH` with `-t FMT`: its format guessing
//! (`ImageMgr.guess_format`, `lib/pcocc/Image.py`) split into a step on text alone
//! ([`Guess::from_text`]) and a step that takes the caller's look at the file ([`Guess::resolve`]),
//! giving an [`ImageSpec`].

use std::fmt;

use serde::{Deserialize, Serialize};

use super::{ContainerFormat, ContainerTransport, Format, TransportError};
use crate::{DiskFormat, Kind};

/// The warning pcocc logs when it imports a regular file of unknown content as a raw disk
/// (`guess_format`, through `logging.warning`). Front ends print it for
/// [`Origin::AssumedRaw`].
pub const ASSUMED_RAW_WARNING: &str = "Could not detect image format, assuming raw VM";

/// Why pcocc cannot settle the format of an import source or export destination.
///
/// Every text is pcocc's own (`lib/pcocc/Image.py`, v0.7.5), raised as a `PcoccError` whose
/// message is the text alone.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpecError {
    /// `-t` and a known `FORMAT:` prefix disagree.
    // ImageMgr.guess_format.
    #[error("Mismatch between specified image format {specified} and import URI prefix {prefix}")]
    PrefixMismatch {
        /// The `-t` value, lowercased.
        specified: String,
        /// The prefix, lowercased.
        prefix: String,
    },
    /// The format given (by prefix, `-t` or extension) is not what the content shows.
    // ImageMgr.guess_format.
    #[error("Mismatch between specified format {specified} and detected image type {detected}")]
    DetectedMismatch {
        /// The format given, as written (lowercased if it came from `-t` or a prefix).
        specified: String,
        /// The format the content shows.
        detected: Format,
    },
    /// Nothing names the format, the kind is unknown, and the path is not a regular file.
    // ImageMgr.guess_format.
    #[error("Could not detect image format")]
    CouldNotDetect {
        /// The path, prefix removed.
        path: String,
    },
    /// A format name pcocc does not know (from `-t`, or a detected format outside its lists).
    // ImageType.infer_from_format.
    #[error("{format} is not a valid image format")]
    InvalidFormat {
        /// The name.
        format: String,
    },
    /// A known format of the other kind than the image's (export only, where the kind is known).
    // ImageMgr.guess_format.
    #[error("{format} is not a valid {kind} format")]
    WrongKind {
        /// The format.
        format: Format,
        /// The image's kind.
        kind: Kind,
    },
}

/// What settled the format of a spec, in pcocc's order of precedence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Origin {
    /// A `FORMAT:` prefix (alone, or equal to `-t`).
    Prefix,
    /// The `-t` option.
    TypeOption,
    /// The file name's extension.
    Extension,
    /// The content: a disk image's header, or a directory holding `oci-layout`.
    Content,
    /// The image's kind (export): `raw` for vm, `docker-archive` for ctr.
    KindDefault,
    /// Nothing: a regular file of unknown content is taken as a raw VM disk, with
    /// [`ASSUMED_RAW_WARNING`].
    AssumedRaw,
}

/// What the caller found at the spec's path, for [`Guess::resolve`]; finding it is I/O, so
/// strata-model leaves it to the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Probe {
    /// A regular file (symlinks followed), with the disk format its content shows, if any.
    /// `File(Some(DiskFormat::Raw))` counts as `File(None)`: pcocc ignores a `raw` detection.
    File(Option<DiskFormat>),
    /// A directory that contains a regular file named `oci-layout`.
    OciLayout,
    /// Nothing at all at that path (counts as [`Probe::Other`] for the format decision; a
    /// caller may say the path is missing rather than of an unknown format).
    Missing,
    /// Anything else: no such path, a directory without `oci-layout`, a device, or a path that
    /// was not probed because [`Guess::needs_probe`] said so.
    Other,
}

/// A settled import source or export destination: a format and the text after `FORMAT:`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ImageSpec {
    /// The format.
    pub format: Format,
    /// The path (or transport details) with any `FORMAT:` prefix removed. A leading `~` is not
    /// expanded here: pcocc expands it (`os.path.expanduser`), which needs the environment.
    pub path: String,
}

impl ImageSpec {
    /// The kind of image the spec holds.
    pub const fn kind(&self) -> Kind {
        self.format.kind()
    }

    /// The containers-transports(5) reference pcocc hands to skopeo for a container spec,
    /// `FORMAT:PATH` (`pcocc-docker-daemon` becomes `docker-daemon`, whose host and
    /// certificates the caller supplies); `None` for a disk spec. `docker://` names without a
    /// registry domain are looked up in `default_registry` (pcocc's
    /// `runtime.default_registry`), if given.
    pub fn to_transport(
        &self,
        default_registry: Option<&str>,
    ) -> Result<Option<ContainerTransport>, TransportError> {
        let Format::Container(format) = self.format else {
            return Ok(None);
        };
        let transport = match format {
            ContainerFormat::PcoccDockerDaemon => ContainerFormat::DockerDaemon,
            other => other,
        };
        let text = format!("{transport}:{}", self.path);
        ContainerTransport::parse_with_default_registry(&text, default_registry).map(Some)
    }
}

impl fmt::Display for ImageSpec {
    /// `FORMAT:PATH`, which [`Guess::from_text`] (without `-t`) maps back to this spec when
    /// the format is one pcocc knows.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.format, self.path)
    }
}

/// The result of [`Guess::resolve`]: the spec and what settled its format.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Resolved {
    /// The settled spec.
    pub spec: ImageSpec,
    /// What settled the format.
    pub origin: Origin,
}

impl Resolved {
    /// The warning a front end prints for this outcome, if any.
    pub fn warning(&self) -> Option<&'static str> {
        (self.origin == Origin::AssumedRaw).then_some(ASSUMED_RAW_WARNING)
    }
}

/// pcocc's format guess after the steps that need only text: the `FORMAT:` prefix, `-t`, and
/// the extension. [`Guess::resolve`] finishes it with what the caller found at the path.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Guess {
    path: String,
    requested: Option<(String, Origin)>,
    kind: Option<Kind>,
    added: &'static [Format],
}

impl Guess {
    /// The steps of `guess_format` that need no I/O, in pcocc's order:
    ///
    /// 1. `-t` is lowercased; an empty `-t` counts as none.
    /// 2. If `text` has a `:`, the part before the first one, lowercased, is a prefix if it names
    ///    a format pcocc knows (so `C:foo` and `./a:b` are plain paths). A prefix that differs
    ///    from `-t` is [`SpecError::PrefixMismatch`]; otherwise it is the format and the rest of
    ///    the text is the path.
    /// 3. Otherwise `-t`, as given, even if pcocc does not know it (that is found later, after
    ///    content detection, as pcocc does).
    /// 4. Otherwise the extension: the text after the last `.` of the path's last `/`-component
    ///    (the whole component if it has no `.`), case-sensitive, if it names a format pcocc
    ///    knows. strata also maps `simg` to `sif`: pcocc's man page promises `.simg` but its
    ///    code knows only `sif`, and would take a `.simg` file for a raw disk. And `vhd` to
    ///    `vpc`: pcocc maps extensions through its format names only (`vpc` is one, `vhd` is
    ///    not), and leaves a `.vhd` file to content detection; but a fixed VHD has no header,
    ///    only a footer in its last sector, which content detection (qemu's, and strata's)
    ///    never reads, so a fixed VHD is vpc only when the user names it, and `.vhd` is the
    ///    name VHD files carry.
    ///
    /// `kind` is the image's kind when known: pcocc knows it on export, never on import.
    pub fn from_text(
        text: &str,
        type_option: Option<&str>,
        kind: Option<Kind>,
    ) -> Result<Guess, SpecError> {
        Guess::from_text_adding(text, type_option, kind, &[])
    }

    /// [`Guess::from_text`] for a front end that accepts the formats `added` besides pcocc's:
    /// each is then known at every step, as pcocc's own are (a prefix, `-t`, the extension,
    /// and in [`Guess::resolve`] the content and the validity check). Which formats a dialect
    /// adds is the front end's policy, handed in as a value; the order of the steps stays
    /// pcocc's.
    pub fn from_text_adding(
        text: &str,
        type_option: Option<&str>,
        kind: Option<Kind>,
        added: &'static [Format],
    ) -> Result<Guess, SpecError> {
        let type_option = type_option.filter(|t| !t.is_empty()).map(str::to_lowercase);
        let mut path = text;
        let mut requested = type_option.clone().map(|t| (t, Origin::TypeOption));
        if let Some((prefix, rest)) = text.split_once(':') {
            let prefix = prefix.to_lowercase();
            if known(&prefix, added).is_some() {
                if let Some(specified) = type_option.filter(|t| *t != prefix) {
                    return Err(SpecError::PrefixMismatch { specified, prefix });
                }
                requested = Some((prefix, Origin::Prefix));
                path = rest;
            }
        }
        if requested.is_none() {
            requested =
                extension_format(path, added).map(|f| (f.name().to_owned(), Origin::Extension));
        }
        Ok(Guess {
            path: path.to_owned(),
            requested,
            kind,
            added,
        })
    }

    /// The path (or transport details), prefix removed, `~` not expanded.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The image's kind, if the caller knew it.
    pub fn kind(&self) -> Option<Kind> {
        self.kind
    }

    /// The format name the text gave so far and where it came from, if any; the name may be
    /// one pcocc does not know (from `-t`).
    pub fn requested(&self) -> Option<(&str, Origin)> {
        self.requested
            .as_ref()
            .map(|(name, origin)| (name.as_str(), *origin))
    }

    /// The format the text gave so far, if it is one pcocc knows (or one added to its).
    pub fn format(&self) -> Option<Format> {
        self.requested
            .as_ref()
            .and_then(|(name, _)| known(name, self.added))
    }

    /// Whether the caller should look at the path before [`Guess::resolve`].
    ///
    /// pcocc stats every path, even the `//busybox` of `docker://busybox`; strata skips formats
    /// whose text names no local file (`docker`, `docker-daemon`, `pcocc-docker-daemon`,
    /// `containers-storage`, `ostree`), for which the caller passes [`Probe::Other`]: a file of
    /// that name on the host could only produce a spurious mismatch.
    pub fn needs_probe(&self) -> bool {
        match self.format() {
            Some(Format::Container(format)) => format.names_local_path(),
            Some(Format::Disk(_)) | None => true,
        }
    }

    /// The rest of `guess_format`, given what the caller found at the path:
    ///
    /// 1. A format given by the text must equal the one the content shows, if it shows one
    ///    ([`SpecError::DetectedMismatch`]).
    /// 2. Without one: the content's format; else the kind's default; else `raw` for a regular
    ///    file ([`Origin::AssumedRaw`]); else [`SpecError::CouldNotDetect`].
    /// 3. The format must be one pcocc knows ([`SpecError::InvalidFormat`]) and, if the kind is
    ///    known, of that kind ([`SpecError::WrongKind`]).
    pub fn resolve(self, probe: Probe) -> Result<Resolved, SpecError> {
        let detected = match probe {
            Probe::File(Some(DiskFormat::Raw) | None) | Probe::Other | Probe::Missing => None,
            Probe::File(Some(format)) => Some(Format::Disk(format)),
            Probe::OciLayout => Some(Format::Container(ContainerFormat::Oci)),
        };
        let (name, origin) = match (self.requested, detected) {
            (Some((specified, _)), Some(detected)) if specified != detected.name() => {
                return Err(SpecError::DetectedMismatch {
                    specified,
                    detected,
                });
            }
            (Some(requested), _) => requested,
            (None, Some(detected)) => (detected.name().to_owned(), Origin::Content),
            (None, None) => match (self.kind, probe) {
                (Some(kind), _) => (
                    Format::default_for(kind).name().to_owned(),
                    Origin::KindDefault,
                ),
                (None, Probe::File(_)) => (DiskFormat::Raw.name().to_owned(), Origin::AssumedRaw),
                (None, _) => return Err(SpecError::CouldNotDetect { path: self.path }),
            },
        };
        let format = known(&name, self.added).ok_or(SpecError::InvalidFormat { format: name })?;
        if let Some(kind) = self.kind.filter(|k| *k != format.kind()) {
            return Err(SpecError::WrongKind { format, kind });
        }
        Ok(Resolved {
            spec: ImageSpec {
                format,
                path: self.path,
            },
            origin,
        })
    }
}

/// The format pcocc knows by `name`, or one of the formats `added` to its.
fn known(name: &str, added: &[Format]) -> Option<Format> {
    Format::from_pcocc_name(name).or_else(|| added.iter().copied().find(|f| f.name() == name))
}

/// The format pcocc reads from a path's extension (see [`Guess::from_text`], step 4), with
/// strata's two additions, `simg` and `vhd`, or one of the formats `added` to its.
fn extension_format(path: &str, added: &[Format]) -> Option<Format> {
    let base = path.rsplit('/').next().unwrap_or(path);
    let suffix = base.rsplit('.').next().unwrap_or(base);
    match suffix {
        "simg" => Some(Format::Container(ContainerFormat::Sif)),
        "vhd" => Some(Format::Disk(DiskFormat::Vpc)),
        other => known(other, added),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extension_rule() {
        for (path, format) in [
            ("a.qcow2", Some("qcow2")),
            ("dir.v1/a.vmdk", Some("vmdk")),
            ("a.tar.raw", Some("raw")),
            ("a.QCOW2", None),
            ("a.vhd", Some("vpc")),
            ("a.vpc", Some("vpc")),
            ("a.VHD", None),
            ("a.img", None),
            ("x.simg", Some("sif")),
            ("x.sif", Some("sif")),
            ("qcow2", Some("qcow2")),
            ("/srv/images/oci", Some("oci")),
            ("a.qcow2/", None),
            ("a.", None),
        ] {
            assert_eq!(
                extension_format(path, &[]).map(Format::name),
                format,
                "{path}"
            );
        }
        let vhdx = [Format::Disk(DiskFormat::Vhdx)];
        assert_eq!(extension_format("a.vhdx", &[]), None);
        assert_eq!(extension_format("a.vhdx", &vhdx), Some(vhdx[0]));
        assert_eq!(extension_format("a.VHDX", &vhdx), None);
        assert_eq!(
            extension_format("a.qcow2", &vhdx),
            Some(Format::Disk(DiskFormat::Qcow2))
        );
    }

    #[test]
    fn needs_probe_only_for_local_paths() {
        let probe = |text: &str| Guess::from_text(text, None, None).unwrap().needs_probe();
        assert!(probe("disk"));
        assert!(probe("qcow2:disk"));
        assert!(probe("oci:layout"));
        assert!(probe("docker-archive:a.tar"));
        assert!(!probe("docker://busybox"));
        assert!(!probe("ostree:busybox"));
        assert!(!probe("containers-storage:busybox"));
        assert!(
            Guess::from_text("x", Some("nonsense"), None)
                .unwrap()
                .needs_probe()
        );
    }

    #[test]
    fn to_transport() {
        let spec = |format: Format, path: &str| ImageSpec {
            format,
            path: path.into(),
        };
        let disk = spec(Format::Disk(DiskFormat::Qcow2), "a");
        assert_eq!(disk.to_transport(None), Ok(None));
        let daemon = spec(Format::Container(ContainerFormat::PcoccDockerDaemon), "x:1");
        assert_eq!(
            daemon.to_transport(None).unwrap().unwrap().to_string(),
            "docker-daemon:docker.io/library/x:1"
        );
        let hub = spec(Format::Container(ContainerFormat::Docker), "//busybox");
        assert_eq!(
            hub.to_transport(Some("reg.io"))
                .unwrap()
                .unwrap()
                .to_string(),
            "docker://reg.io/library/busybox:latest"
        );
        let bad = spec(Format::Container(ContainerFormat::Docker), "busybox");
        assert_eq!(
            bad.to_transport(None),
            Err(TransportError::DockerMissingSlashes {
                reference: "busybox".into()
            })
        );
        assert_eq!(disk.to_string(), "qcow2:a");
    }
}
