//! The one entry point: [`open`] detects (or is told) an image's format, opens it and its
//! backing chain, and returns the format beside the handle; [`open_bytes`] does the same for
//! bytes in memory.
//!
//! Backing chains: a backing name is a local file name; one that names a qemu protocol
//! (`json:{...}`, `nbd:...`, `http://...`: its first `:` comes before any `/`) is refused
//! as unsupported and never taken for a path (`file:NAME`, qemu's local file protocol, is
//! `NAME`). A relative backing name resolves against the directory of the image that
//! names it (never the working directory); the resolved file must lie inside one of the
//! caller's allowed directories (by default the top image's directory), the chain is at most
//! [`MAX_CHAIN_DEPTH`] backing files deep, and a file met twice (same device and inode) is a
//! loop. These rules apply to every layer that names a backing file (qcow2 and qed alike). A
//! backing file's format is the one its parent records (qcow2's backing format extension,
//! qed's `QED_F_BACKING_FORMAT_NO_PROBE` flag for raw); only when none is recorded is it probed
//! (see [`crate::probe`](mod@crate::probe)), as qemu does, and a probe never turns a
//! recognised header into raw.

use std::fs::File;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use strata_model::DiskFormat;

use crate::error::{DiskError, ErrorKind};
use crate::image::{BackingFile, DiskImage};
use crate::io::ReadAt;
use crate::probe::probe;
use crate::qcow2::Qcow2Image;
use crate::qed::QedImage;
use crate::raw::RawImage;
use crate::vdi::VdiImage;
use crate::vhdx::VhdxImage;
use crate::vmdk::VmdkImage;
use crate::vpc::VpcImage;

/// Deepest backing chain followed by default (backing files below the top image), as crosvm and
/// cloud-hypervisor limit it: the limit for images that come from outside.
pub const MAX_CHAIN_DEPTH: usize = 10;

/// Deepest chain a caller may ask for when it knows the chain's length from its own records (a
/// repository's revision lists every layer; each `resize` or save adds one). Each layer holds an
/// open file, so this stays well below the usual limit of 1024 descriptors.
pub const MAX_KNOWN_CHAIN_DEPTH: usize = 512;

/// How to open an image.
#[derive(Debug, Clone)]
pub struct OpenOptions {
    /// The top image's format; `None` probes it.
    pub format: Option<DiskFormat>,
    /// Directories backing files may lie in (canonicalised before use); empty means the top
    /// image's own directory only.
    pub allowed_dirs: Vec<PathBuf>,
    /// Deepest chain followed: [`MAX_CHAIN_DEPTH`] by default; a caller that knows the chain's
    /// length from its own records may raise it, up to [`MAX_KNOWN_CHAIN_DEPTH`].
    pub max_depth: usize,
    /// Open only the top layer: unallocated ranges then read as zeros (for inspection, fuzzing
    /// and `info`).
    pub no_backing: bool,
}

impl Default for OpenOptions {
    fn default() -> Self {
        OpenOptions {
            format: None,
            allowed_dirs: Vec::new(),
            max_depth: MAX_CHAIN_DEPTH,
            no_backing: false,
        }
    }
}

/// An opened image and its format.
pub struct Opened {
    /// The detected (or given) format of the top image.
    pub format: DiskFormat,
    /// The image, with its backing chain attached.
    pub image: Box<dyn DiskImage>,
}

impl std::fmt::Debug for Opened {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Opened")
            .field("format", &self.format)
            .finish_non_exhaustive()
    }
}

/// Why an image or its chain cannot be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// A backing file outside the allowed directories.
    #[error("backing file {name:?} resolves to {} outside the allowed directories", resolved.display())]
    OutsideAllowedDirs {
        /// The name as the image records it.
        name: String,
        /// Where it resolves.
        resolved: PathBuf,
    },
    /// A chain deeper than the limit.
    #[error("backing chain deeper than {max}")]
    TooDeep {
        /// The limit.
        max: usize,
    },
    /// A chain that comes back to a file already in it.
    #[error("backing chain loops back to {}", path.display())]
    Loop {
        /// The file met twice.
        path: PathBuf,
    },
    /// An image in memory names a backing file, which has no directory to resolve against.
    #[error("image in memory names backing file {name:?}")]
    BackingInMemory {
        /// The name.
        name: String,
    },
    /// A backing file named through a qemu protocol (`json:{...}`, `nbd:host:port`,
    /// `http://...`): strata opens local files only, and never takes such a name for a path.
    #[error("backing file {name:?} names the {protocol:?} protocol, which strata does not open")]
    Protocol {
        /// The name as the image records it.
        name: String,
        /// What precedes its first `:`.
        protocol: String,
    },
}

impl OpenError {
    /// The stable category of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            OpenError::OutsideAllowedDirs { .. }
            | OpenError::TooDeep { .. }
            | OpenError::Loop { .. } => ErrorKind::Escape,
            OpenError::BackingInMemory { .. } => ErrorKind::InvalidRequest,
            OpenError::Protocol { .. } => ErrorKind::Unsupported,
        }
    }
}

/// One opened layer before the chain is assembled: the formats that can name a backing file
/// keep their concrete type so that the opened backing image can be attached.
enum Layer {
    Qcow2(Box<Qcow2Image>),
    Qed(Box<QedImage>),
    Other(Box<dyn DiskImage>),
}

impl Layer {
    fn image(&self) -> &dyn DiskImage {
        match self {
            Layer::Qcow2(q) => &**q,
            Layer::Qed(q) => &**q,
            Layer::Other(i) => &**i,
        }
    }

    /// The backing file this layer names, with its recorded format (`None`: probe it).
    fn backing_file(&self) -> Option<&BackingFile> {
        self.image().backing_file()
    }

    /// The layer as an image, with `below` attached as its backing image when it has one.
    fn attach(self, below: Option<Box<dyn DiskImage>>) -> Box<dyn DiskImage> {
        match (self, below) {
            (Layer::Qcow2(q), Some(b)) => Box::new(q.with_backing(b)),
            (Layer::Qed(q), Some(b)) => Box::new(q.with_backing(b)),
            (Layer::Qcow2(q), None) => q,
            (Layer::Qed(q), None) => q,
            (Layer::Other(i), _) => i,
        }
    }
}

/// Opens one layer from `src` in `format` (`None`: probe).
fn open_layer(
    src: Box<dyn ReadAt>,
    format: Option<DiskFormat>,
    path: Option<&Path>,
    raw_from: impl FnOnce() -> Result<RawImage, DiskError>,
) -> Result<(DiskFormat, Layer), DiskError> {
    let format = match format {
        Some(f) => f,
        None => probe(&*src)?,
    };
    let layer = match format {
        DiskFormat::Qcow2 => {
            let q = Qcow2Image::open(src)?;
            Layer::Qcow2(Box::new(match path {
                Some(p) => q.with_path(p),
                None => q,
            }))
        }
        DiskFormat::Qed => {
            let q = QedImage::open(src)?;
            Layer::Qed(Box::new(match path {
                Some(p) => q.with_path(p),
                None => q,
            }))
        }
        DiskFormat::Vhdx => {
            let v = VhdxImage::open(src)?;
            Layer::Other(Box::new(match path {
                Some(p) => v.with_path(p),
                None => v,
            }))
        }
        DiskFormat::Raw => Layer::Other(Box::new(raw_from()?)),
        DiskFormat::Vmdk => Layer::Other(Box::new(VmdkImage::open(src, path)?)),
        DiskFormat::Vdi => {
            let v = VdiImage::open(src)?;
            Layer::Other(Box::new(match path {
                Some(p) => v.with_path(p),
                None => v,
            }))
        }
        DiskFormat::Vpc => {
            let v = VpcImage::open(src)?;
            Layer::Other(Box::new(match path {
                Some(p) => v.with_path(p),
                None => v,
            }))
        }
    };
    Ok((format, layer))
}

fn open_file_layer(
    path: &Path,
    format: Option<DiskFormat>,
) -> Result<(DiskFormat, Layer), DiskError> {
    let file = File::open(path).map_err(|e| DiskError::io("open", e).with_path(path))?;
    let raw_file = file
        .try_clone()
        .map_err(|e| DiskError::io("open", e).with_path(path))?;
    open_layer(Box::new(file), format, Some(path), || {
        RawImage::from_file(raw_file)
    })
    .map_err(|e| e.with_path(path))
}

/// Opens the image at `path` and its backing chain.
pub fn open(path: &Path, options: &OpenOptions) -> Result<Opened, DiskError> {
    let canon = |p: &Path| {
        p.canonicalize()
            .map_err(|e| DiskError::io("resolve", e).with_path(p))
    };
    let top_dir = path
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    let top_dir = if top_dir.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        top_dir
    };
    let allowed: Vec<PathBuf> = if options.allowed_dirs.is_empty() {
        vec![canon(&top_dir)?]
    } else {
        options
            .allowed_dirs
            .iter()
            .map(|d| canon(d))
            .collect::<Result<_, _>>()?
    };
    let (format, top) = open_file_layer(path, options.format)?;
    let mut seen = vec![file_id(path)?];
    let mut layers = vec![top];
    let mut current = path.to_path_buf();
    // Every layer that names a backing file is followed by the same rules, whatever its
    // format; the format recorded beside the name (None: probe) is the one opened.
    while let Some(layer) = layers.last()
        && !options.no_backing
    {
        let Some(BackingFile {
            name: backing,
            format: recorded,
        }) = layer.backing_file().cloned()
        else {
            break;
        };
        let max_depth = options.max_depth.min(MAX_KNOWN_CHAIN_DEPTH);
        if layers.len() > max_depth {
            return Err(DiskError::from(OpenError::TooDeep { max: max_depth }).with_path(&current));
        }
        let named =
            Path::new(local_name(&backing).map_err(|e| DiskError::from(e).with_path(&current))?);
        let joined = if named.is_absolute() {
            named.to_path_buf()
        } else {
            let dir = current.parent().unwrap_or(Path::new("."));
            let dir = if dir.as_os_str().is_empty() {
                Path::new(".")
            } else {
                dir
            };
            dir.join(named)
        };
        let resolved = canon(&joined).map_err(|e| e.with_path(&current))?;
        if !allowed.iter().any(|d| resolved.starts_with(d)) {
            return Err(DiskError::from(OpenError::OutsideAllowedDirs {
                name: backing,
                resolved,
            })
            .with_path(&current));
        }
        let id = file_id(&resolved)?;
        if seen.contains(&id) {
            return Err(DiskError::from(OpenError::Loop { path: resolved }).with_path(&current));
        }
        seen.push(id);
        let (_, layer) = open_file_layer(&resolved, recorded)?;
        layers.push(layer);
        current = resolved;
    }
    // Assemble bottom-up, without recursion.
    let mut below: Option<Box<dyn DiskImage>> = None;
    while let Some(layer) = layers.pop() {
        below = Some(layer.attach(below.take()));
    }
    let image = below.ok_or_else(|| {
        DiskError::from(crate::error::DiskErrorSource::InvalidRequest(
            "no layer opened".into(),
        ))
    })?;
    Ok(Opened { format, image })
}

/// Opens an image held in memory. It cannot have a backing chain: an image that names a
/// backing file is refused unless `options.no_backing` is set. A VMDK descriptor file (which
/// names extent files) is refused; single-file VMDK images open.
pub fn open_bytes(bytes: Vec<u8>, options: &OpenOptions) -> Result<Opened, DiskError> {
    let format = match options.format {
        Some(f) => f,
        None => probe(&bytes)?,
    };
    let layer = match format {
        DiskFormat::Qcow2 => Layer::Qcow2(Box::new(Qcow2Image::from_bytes(bytes)?)),
        DiskFormat::Qed => Layer::Qed(Box::new(QedImage::from_bytes(bytes)?)),
        DiskFormat::Vhdx => Layer::Other(Box::new(VhdxImage::from_bytes(bytes)?)),
        DiskFormat::Raw => Layer::Other(Box::new(RawImage::from_bytes(bytes))),
        DiskFormat::Vmdk => Layer::Other(Box::new(VmdkImage::from_bytes(bytes)?)),
        DiskFormat::Vdi => Layer::Other(Box::new(VdiImage::from_bytes(bytes)?)),
        DiskFormat::Vpc => Layer::Other(Box::new(VpcImage::from_bytes(bytes)?)),
    };
    if let Some(b) = layer.backing_file()
        && !options.no_backing
    {
        return Err(OpenError::BackingInMemory {
            name: b.name.clone(),
        }
        .into());
    }
    Ok(Opened {
        format,
        image: layer.attach(None),
    })
}

/// The local file a backing name names, as qemu reads it (`path_has_protocol`): a name whose
/// first `:` comes before any `/` names a protocol; `file:` is qemu's local file protocol (the
/// rest is the path), any other protocol is refused ([`OpenError::Protocol`]) rather than taken
/// for a file name.
fn local_name(name: &str) -> Result<&str, OpenError> {
    match name.split_once(':') {
        Some((protocol, _)) if protocol.contains('/') => Ok(name),
        Some(("file", path)) => Ok(path),
        Some((protocol, _)) => Err(OpenError::Protocol {
            name: name.to_owned(),
            protocol: protocol.to_owned(),
        }),
        None => Ok(name),
    }
}

/// A file's identity (device, inode), to detect loops whatever the path.
fn file_id(path: &Path) -> Result<(u64, u64), DiskError> {
    let m = std::fs::metadata(path).map_err(|e| DiskError::io("stat", e).with_path(path))?;
    Ok((m.dev(), m.ino()))
}
