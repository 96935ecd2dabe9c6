//! `sif:PATH`: Singularity and apptainer images, read only (pcocc imports them and exports none).
//!
//! Two kinds of file are read. A SIF file (Singularity 3+, `.sif`): a global header with the
//! magic `SIF_MAGIC`, a descriptor table and data objects ([`header`]); its root file system is
//! the squashfs object of the primary system partition. An old `.simg` (Singularity 2.4+): a
//! squashfs image behind a `#!/usr/bin/env run-singularity` launch script, found at the squashfs
//! magic `hsqs` right after the script's first line.
//!
//! The squashfs is read with backhand through a window that ends where its object ends, and
//! turned into a one-layer OCI image in a temporary layout ([`layer`]), which the caller copies
//! from like any other [`BlobRead`]. The layer is gzip-compressed: that is what `skopeo copy sif:`
//! puts into a pcocc repository, and it keeps the stored layer near the size of the compressed
//! squashfs it came from (a plain tar of a typical image is 2-3 times larger); the diff_id is
//! hashed from the same stream, so the squashfs is read once.

pub mod header;
pub mod layer;

use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::Path;

use strata_model::Digest;

use crate::blob::BlobRead;
use crate::error::{OciError, Result};
use crate::image::Image;
use crate::layout::OciDir;

pub use header::{Sif, SifDescriptor, SifHeader};

/// The squashfs magic, `hsqs` (little-endian v4).
pub const SQUASHFS_MAGIC: &[u8; 4] = b"hsqs";

/// The longest launch script an old `.simg` may have before its squashfs: the script is one
/// line, but singularity 2.x padded nothing, so look a little further than the line.
pub const MAX_SIMG_SCRIPT: usize = 4096;

/// Why a SIF or `.simg` file was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SifError {
    /// Fewer bytes than a structure needs.
    #[error("truncated: {len} bytes where {need} are needed")]
    Truncated {
        /// The bytes there are.
        len: u64,
        /// The bytes needed.
        need: u64,
    },
    /// No `SIF_MAGIC` at offset 32.
    #[error("no SIF_MAGIC at offset 32")]
    BadMagic,
    /// A SIF version other than `01`.
    #[error("SIF version {version:?} (only \"01\" is defined)")]
    UnsupportedVersion {
        /// The version the header names.
        version: String,
    },
    /// A header or descriptor field that must not be negative.
    #[error("{field} is negative ({value})")]
    NegativeField {
        /// The field.
        field: &'static str,
        /// Its value.
        value: i64,
    },
    /// More descriptors than [`header::MAX_DESCRIPTORS`].
    #[error("{count} descriptors (at most {max} are read)")]
    TooManyDescriptors {
        /// The count the header gives.
        count: u64,
        /// The cap.
        max: u64,
    },
    /// A descriptor table that does not fit in the file.
    #[error(
        "descriptor table at {offset} ({len} bytes) ends past the end of the file ({file_len} bytes)"
    )]
    DescriptorTableOutOfBounds {
        /// Where it starts.
        offset: u64,
        /// Its length.
        len: u64,
        /// The file's length.
        file_len: u64,
    },
    /// A data object that does not fit in the file.
    #[error(
        "object {id} at {offset} ({size} bytes) ends past the end of the file ({file_len} bytes)"
    )]
    ObjectOutOfBounds {
        /// The descriptor's ID.
        id: u32,
        /// Where the object starts.
        offset: u64,
        /// Its length.
        size: u64,
        /// The file's length.
        file_len: u64,
    },
    /// Two data objects that share bytes.
    #[error("objects {first} and {second} overlap")]
    ObjectsOverlap {
        /// The ID of the object that starts first.
        first: u32,
        /// The ID of the other.
        second: u32,
    },
    /// No primary system partition.
    #[error("no primary system partition")]
    NoPrimaryPartition,
    /// More than one primary system partition.
    #[error("primary system partitions {first} and {second} (one is allowed)")]
    MultiplePrimaryPartitions {
        /// The first one's ID.
        first: u32,
        /// The second one's ID.
        second: u32,
    },
    /// A primary partition that is not plain squashfs (ext3, raw, encrypted squashfs ...).
    #[error("primary partition {id} has file system type {fs_type} (only squashfs, 1, is read)")]
    UnsupportedFilesystem {
        /// The partition's ID.
        id: u32,
        /// Its `Fstype`.
        fs_type: i32,
    },
    /// A `.simg` without squashfs magic after its launch script.
    #[error("no squashfs image after the launch script")]
    NoSquashfs,
    /// Neither SIF magic nor a `.simg` launch script.
    #[error("neither a SIF file nor a Singularity .simg image")]
    NotSif,
    /// backhand refused the squashfs.
    #[error("squashfs: {reason}")]
    Squashfs {
        /// backhand's message.
        reason: String,
    },
}

impl SifError {
    /// Whether this is valid input strata does not read (rather than invalid input).
    pub fn is_unsupported(&self) -> bool {
        matches!(
            self,
            SifError::UnsupportedVersion { .. } | SifError::UnsupportedFilesystem { .. }
        )
    }
}

/// Where the root file system of a SIF or `.simg` file lies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SquashfsSpan {
    /// Its first byte.
    pub offset: u64,
    /// Its length.
    pub size: u64,
    /// The architecture code the SIF header gives (`None` for a `.simg`).
    pub arch: Option<String>,
}

/// Finds the squashfs root file system of the SIF or `.simg` file `reader` (of `file_len` bytes).
pub fn locate_squashfs(
    reader: &mut (impl Read + Seek),
    file_len: u64,
) -> Result<SquashfsSpan, SifError> {
    let io_err = |e: io::Error| SifError::Squashfs {
        reason: e.to_string(),
    };
    let mut head = vec![0u8; MAX_SIMG_SCRIPT.min(usize::try_from(file_len).unwrap_or(usize::MAX))];
    reader.seek(SeekFrom::Start(0)).map_err(io_err)?;
    reader.read_exact(&mut head).map_err(io_err)?;
    // A SIF pads its launch script with NULs to offset 32; a `.simg` goes on with its squashfs.
    let sif_padding = head.starts_with(header::LAUNCH_SCRIPT) && head.get(31) == Some(&0);
    if header::is_sif(&head) || sif_padding {
        let h = SifHeader::parse(&head, file_len)?;
        let mut table = vec![0u8; h.table_len()];
        reader
            .seek(SeekFrom::Start(h.descriptors_offset))
            .map_err(io_err)?;
        reader.read_exact(&mut table).map_err(io_err)?;
        let sif = Sif::parse_table(h, &table, file_len)?;
        let part = sif.primary_partition()?;
        let arch = part
            .partition
            .as_ref()
            .map(|(_, _, a)| a.clone())
            .filter(|a| !a.is_empty())
            .unwrap_or_else(|| sif.header.arch.clone());
        return Ok(SquashfsSpan {
            offset: part.offset,
            size: part.size,
            arch: Some(arch),
        });
    }
    simg_squashfs(&head, file_len)
}

/// The squashfs of an old `.simg`: its launch script's first line, then `hsqs`.
pub fn simg_squashfs(head: &[u8], file_len: u64) -> Result<SquashfsSpan, SifError> {
    if !head.starts_with(header::LAUNCH_SCRIPT.trim_ascii_end()) {
        return Err(SifError::NotSif);
    }
    let at = head
        .windows(4)
        .position(|w| w == SQUASHFS_MAGIC)
        .ok_or(SifError::NoSquashfs)? as u64;
    Ok(SquashfsSpan {
        offset: at,
        size: file_len - at,
        arch: None,
    })
}

/// A `Read + Seek` view of `len` bytes of `inner` from `start`: backhand sees a squashfs image
/// alone, and reads nothing outside its object.
#[derive(Debug)]
pub struct Window<R> {
    inner: R,
    start: u64,
    len: u64,
    pos: u64,
}

impl<R: Read + Seek> Window<R> {
    /// The window `[start, start + len)` of `inner`.
    pub fn new(inner: R, start: u64, len: u64) -> Window<R> {
        Window {
            inner,
            start,
            len,
            pos: 0,
        }
    }
}

impl<R: Read + Seek> Read for Window<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.len.saturating_sub(self.pos);
        if left == 0 || buf.is_empty() {
            return Ok(0);
        }
        let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        self.inner.seek(SeekFrom::Start(self.start + self.pos))?;
        let n = self.inner.read(&mut buf[..want])?;
        self.pos += n as u64;
        Ok(n)
    }
}

impl<R: Read + Seek> Seek for Window<R> {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let target = match to {
            SeekFrom::Start(n) => Some(n),
            SeekFrom::End(d) => self.len.checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        let target = target
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "seek before start"))?;
        self.pos = target;
        Ok(target)
    }
}

/// A SIF or `.simg` file converted into a one-layer OCI image in a temporary layout, removed
/// when this is dropped.
#[derive(Debug)]
pub struct SifImage {
    layout: OciDir,
    /// The converted image.
    pub image: Image,
    _dir: tempfile::TempDir,
}

impl SifImage {
    /// Reads the SIF or `.simg` file at `path` and converts it in a temporary directory under
    /// `tmp_parent` (a repository's `.tmp/`, so blobs move by rename).
    pub fn open_in(path: impl AsRef<Path>, tmp_parent: &Path) -> Result<SifImage> {
        let path = path.as_ref();
        let what = path.display().to_string();
        let sif_err = |error: SifError| OciError::Sif {
            path: path.to_path_buf(),
            error,
        };
        let mut f = File::open(path).map_err(|e| OciError::from_io(path, "open", e))?;
        let file_len = f
            .metadata()
            .map_err(|e| OciError::from_io(path, "stat", e))?
            .len();
        let span = locate_squashfs(&mut f, file_len).map_err(sif_err)?;
        let window = BufReader::with_capacity(1 << 16, Window::new(f, span.offset, span.size));
        let dir = tempfile::Builder::new()
            .prefix(".strata-sif-")
            .tempdir_in(tmp_parent)
            .map_err(|e| OciError::from_io(tmp_parent, "create temporary directory", e))?;
        let layout = OciDir::create(dir.path().join("layout"))?;
        let image = layer::squashfs_to_image(window, &layout, span.arch.as_deref(), &what)
            .map_err(|e| match e {
                layer::ConvertError::Sif(error) => sif_err(error),
                layer::ConvertError::Oci(e) => e,
            })?;
        Ok(SifImage {
            layout,
            image,
            _dir: dir,
        })
    }
}

impl BlobRead for SifImage {
    fn open_blob(&self, digest: &Digest, size: u64) -> Result<Box<dyn Read + '_>> {
        self.layout.open_blob(digest, size)
    }
}
