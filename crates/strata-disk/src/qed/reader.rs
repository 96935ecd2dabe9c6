//! [`QedImage`]: a qed image opened for reading. Reads go through the L1 table and a small
//! bounded LRU of L2 tables, coalesce contiguous host clusters into one read, and read
//! through to the backing image for unallocated clusters (zeros past its end, as qemu does).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use strata_model::DiskFormat;

use crate::error::{DiskError, DiskErrorSource};
use crate::image::{
    BackingFile, DiskImage, Extent, ExtentKind, coalesce, read_mapped, read_unallocated,
};
use crate::io::ReadAt;
use crate::qed::QedError;
use crate::qed::header::{HEADER_LEN, Header};
use crate::table_cache::TableCache;

/// Memory the L2 cache may hold (qemu caches 512 tables; 8 MiB is 32 tables of the default
/// 256 KiB, which map 32 GiB of guest).
pub const L2_CACHE_BYTES: u64 = 8 << 20;
/// Most L2 tables cached, whatever their size.
pub const L2_CACHE_MAX_TABLES: usize = 256;

/// How one run of guest bytes is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mapping {
    /// Stored at this host offset (for the run's first byte).
    Data {
        /// Host offset of the run's first byte.
        host_offset: u64,
    },
    /// A zero cluster (L2 entry 1): reads as zeros, never from the backing file.
    Zero,
    /// Not allocated in this layer.
    Unallocated,
}

/// A qed image opened read-only.
pub struct QedImage {
    src: Box<dyn ReadAt>,
    path: Option<PathBuf>,
    header: Header,
    /// The file length rounded down to a cluster, as qemu validates offsets against it.
    file_len: u64,
    l1: Vec<u64>,
    backing_file: Option<BackingFile>,
    backing: Option<Box<dyn DiskImage>>,
    l2_cache: Mutex<TableCache>,
}

impl std::fmt::Debug for QedImage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QedImage")
            .field("path", &self.path)
            .field("header", &self.header)
            .field("backing_file", &self.backing_file)
            .finish_non_exhaustive()
    }
}

fn read_err(what: &str, offset: u64, e: std::io::Error) -> DiskError {
    DiskError::io(format!("read {what} at {offset:#x}"), e)
}

fn decode(bytes: &[u8]) -> Vec<u64> {
    bytes
        .chunks_exact(8)
        .map(|c| {
            let mut v = [0u8; 8];
            v.copy_from_slice(c);
            u64::from_le_bytes(v)
        })
        .collect()
}

impl QedImage {
    /// Opens the image in `src` (without its backing file: see [`QedImage::with_backing`]).
    /// Reads and validates the header, the backing file name and the L1 table.
    pub fn open(src: Box<dyn ReadAt>) -> Result<QedImage, DiskError> {
        let file_len = src.size().map_err(|e| DiskError::io("stat", e))?;
        if file_len < HEADER_LEN as u64 {
            return Err(QedError::TooShort { len: file_len }.into());
        }
        let mut fixed = [0u8; HEADER_LEN];
        src.read_exact_at(&mut fixed, 0)
            .map_err(|e| read_err("header", 0, e))?;
        let header = Header::parse(&fixed, file_len)?;
        let rounded = header.rounded_file_len(file_len);
        let backing_file = if header.has_backing_file() {
            // Bounded by the header checks: at most 4095 bytes, inside the header, which is
            // inside the file only if the name's bytes are (checked by the read).
            let mut name = vec![0u8; header.backing_filename_size as usize];
            let at = u64::from(header.backing_filename_offset);
            src.read_exact_at(&mut name, at)
                .map_err(|e| read_err("backing file name", at, e))?;
            let name = String::from_utf8(name).map_err(|_| QedError::BackingNameEncoding)?;
            Some(BackingFile {
                name,
                format: header.backing_is_raw().then_some(DiskFormat::Raw),
            })
        } else {
            None
        };
        // Bounded by the header checks: at most MAX_TABLE_BYTES and inside the file.
        let mut l1_bytes = vec![0u8; header.table_bytes() as usize];
        src.read_exact_at(&mut l1_bytes, header.l1_table_offset)
            .map_err(|e| read_err("L1 table", header.l1_table_offset, e))?;
        let l1 = decode(&l1_bytes);
        let capacity =
            ((L2_CACHE_BYTES / header.table_bytes()) as usize).clamp(2, L2_CACHE_MAX_TABLES);
        Ok(QedImage {
            src,
            path: None,
            header,
            file_len: rounded,
            l1,
            backing_file,
            backing: None,
            l2_cache: Mutex::new(TableCache::new(capacity)),
        })
    }

    /// Opens an image held in memory.
    pub fn from_bytes(bytes: Vec<u8>) -> Result<QedImage, DiskError> {
        QedImage::open(Box::new(bytes))
    }

    /// Sets the file name used in errors.
    #[must_use]
    pub fn with_path(mut self, path: impl Into<PathBuf>) -> Self {
        self.path = Some(path.into());
        self
    }

    /// Attaches the opened backing image; unallocated ranges then read from it.
    #[must_use]
    pub fn with_backing(mut self, backing: Box<dyn DiskImage>) -> Self {
        self.backing = Some(backing);
        self
    }

    /// The validated header.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// The L1 table.
    pub fn l1_table(&self) -> &[u64] {
        &self.l1
    }

    /// The file name used in errors, if set.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    fn err(&self, e: impl Into<DiskError>) -> DiskError {
        let e = e.into();
        match &self.path {
            Some(p) => e.with_path(p),
            None => e,
        }
    }

    /// The L2 table of L1 entry `l1_index`, validated and cached; `None` when unallocated.
    fn l2_table(&self, l1_index: u64) -> Result<Option<Arc<Vec<u64>>>, DiskError> {
        let offset = self.l1.get(l1_index as usize).copied().unwrap_or(0);
        if offset == 0 {
            return Ok(None);
        }
        if !self.header.table_offset_valid(offset, self.file_len) {
            return Err(self.err(QedError::L2Offset {
                l1_index,
                offset,
                file_len: self.file_len,
            }));
        }
        if let Some(t) = self
            .l2_cache
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(offset)
        {
            return Ok(Some(t));
        }
        let mut bytes = vec![0u8; self.header.table_bytes() as usize];
        self.src
            .read_exact_at(&mut bytes, offset)
            .map_err(|e| self.err(read_err("L2 table", offset, e)))?;
        let table = Arc::new(decode(&bytes));
        self.l2_cache
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(offset, Arc::clone(&table));
        Ok(Some(table))
    }

    /// How the guest bytes from `offset` are stored, as one run of at most `max_len` bytes
    /// (`offset` below the virtual size, `max_len` non-zero). Data runs are host-contiguous.
    pub fn mapping(&self, offset: u64, max_len: u64) -> Result<(Mapping, u64), DiskError> {
        let cs = u64::from(self.header.cluster_size);
        let span = self.header.l2_span();
        let end = offset.saturating_add(max_len);
        let mut first: Option<Mapping> = None;
        let mut pos = offset;
        let mut current: Option<(u64, Option<Arc<Vec<u64>>>)> = None;
        while pos < end {
            let l1_index = pos / span;
            let table = match &current {
                Some((i, t)) if *i == l1_index => t.clone(),
                _ => {
                    let t = self.l2_table(l1_index)?;
                    current = Some((l1_index, t.clone()));
                    t
                }
            };
            let Some(table) = table else {
                match first {
                    None => first = Some(Mapping::Unallocated),
                    Some(Mapping::Unallocated) => {}
                    Some(_) => break,
                }
                pos = ((l1_index + 1) * span).min(end);
                continue;
            };
            // Below the table's length: pos % span < entries * cs.
            let entry = table[((pos % span) / cs) as usize];
            let here = match entry {
                0 => Mapping::Unallocated,
                1 => Mapping::Zero,
                host => {
                    if !self.header.cluster_offset_valid(host, self.file_len) {
                        return Err(self.err(QedError::DataOffset {
                            guest_offset: pos,
                            host_offset: host,
                            file_len: self.file_len,
                        }));
                    }
                    Mapping::Data {
                        host_offset: host + pos % cs,
                    }
                }
            };
            match (first, here) {
                (None, _) => first = Some(here),
                (Some(Mapping::Data { host_offset }), Mapping::Data { host_offset: h2 })
                    if host_offset + (pos - offset) == h2 => {}
                (Some(Mapping::Zero), Mapping::Zero)
                | (Some(Mapping::Unallocated), Mapping::Unallocated) => {}
                _ => break,
            }
            pos = ((pos / cs + 1) * cs).min(end);
        }
        let mapping = first.unwrap_or(Mapping::Unallocated);
        Ok((mapping, pos.max(offset + 1).min(end) - offset))
    }

    fn check_range(&self, offset: u64, len: u64) -> Result<(), DiskError> {
        crate::image::check_range(offset, len, self.header.image_size).map_err(|e| self.err(e))
    }
}

impl DiskImage for QedImage {
    fn format(&self) -> DiskFormat {
        DiskFormat::Qed
    }

    fn virtual_size(&self) -> u64 {
        self.header.image_size
    }

    fn read_at(&self, buf: &mut [u8], offset: u64) -> Result<(), DiskError> {
        self.check_range(offset, buf.len() as u64)?;
        read_mapped(
            buf,
            offset,
            |pos, max| self.mapping(pos, max),
            |chunk, pos, mapping| match mapping {
                // Valid data clusters lie wholly inside the file (checked against its length
                // rounded down to a cluster).
                Mapping::Data { host_offset } => self
                    .src
                    .read_exact_at(chunk, host_offset)
                    .map_err(|e| self.err(read_err("data", host_offset, e))),
                Mapping::Zero => {
                    chunk.fill(0);
                    Ok(())
                }
                Mapping::Unallocated => read_unallocated(self.backing.as_deref(), chunk, pos),
            },
        )
    }

    fn map(&self, offset: u64, max_len: u64) -> Result<Extent, DiskError> {
        let size = self.header.image_size;
        if offset >= size || max_len == 0 {
            return Err(self.err(DiskErrorSource::InvalidRequest(format!(
                "map at {offset:#x} of {max_len} bytes outside the virtual size {size}"
            ))));
        }
        let len = max_len.min(size - offset);
        coalesce(offset, len, |pos, max| {
            let (mapping, l) = self.mapping(pos, max)?;
            let kind = match mapping {
                Mapping::Data { .. } => ExtentKind::Data,
                Mapping::Zero => ExtentKind::Zero,
                Mapping::Unallocated => ExtentKind::Unallocated,
            };
            Ok((kind, l))
        })
    }

    fn backing_file(&self) -> Option<&BackingFile> {
        self.backing_file.as_ref()
    }

    fn backing(&self) -> Option<&dyn DiskImage> {
        self.backing.as_deref()
    }
}
