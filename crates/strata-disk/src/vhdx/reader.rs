//! [`VhdxImage`]: a vhdx image opened for reading: the current header, the region table, the
//! metadata and the whole BAT (bounded by [`MAX_BAT_BYTES`]) are read and checked at open;
//! reads then go block by block through the BAT.

use std::path::{Path, PathBuf};

use strata_model::DiskFormat;

use crate::error::{DiskError, DiskErrorSource};
use crate::image::{DiskImage, Extent, ExtentKind, coalesce, read_mapped};
use crate::io::ReadAt;
use crate::vhdx::VhdxError;
use crate::vhdx::header::{
    FILE_SIGNATURE, FIXED_END, HEADER_LEN, HEADER_OFFSETS, Header, REGION_TABLE_LEN,
    REGION_TABLE_OFFSET, Regions, guid_string,
};
use crate::vhdx::metadata::Metadata;

/// Largest BAT strata reads into memory: 8 Mi entries, which with the default 32 MiB blocks
/// covers the spec's 64 TiB maximum, and with 1 MiB blocks 8 TiB.
pub const MAX_BAT_BYTES: u64 = 64 << 20;

/// Payload block states (the BAT entry's low 3 bits).
pub mod state {
    /// Never written: zeros, or the parent's data.
    pub const NOT_PRESENT: u8 = 0;
    /// Contents undefined (reads as zeros in qemu).
    pub const UNDEFINED: u8 = 1;
    /// Reads as zeros.
    pub const ZERO: u8 = 2;
    /// Unmapped (trimmed): reads as zeros in qemu.
    pub const UNMAPPED: u8 = 3;
    /// Unmapped, as an early version of the spec numbered it (qemu accepts it).
    pub const UNMAPPED_V095: u8 = 5;
    /// Stored in the file.
    pub const FULLY_PRESENT: u8 = 6;
    /// Partly stored, the rest from the parent (differencing disks).
    pub const PARTIALLY_PRESENT: u8 = 7;
}

/// A vhdx image opened read-only.
pub struct VhdxImage {
    src: Box<dyn ReadAt>,
    path: Option<PathBuf>,
    header: Header,
    regions: Regions,
    metadata: Metadata,
    bat: Vec<u64>,
    chunk_ratio: u64,
}

impl std::fmt::Debug for VhdxImage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VhdxImage")
            .field("path", &self.path)
            .field("header", &self.header)
            .field("metadata", &self.metadata)
            .finish_non_exhaustive()
    }
}

fn read_err(what: &str, offset: u64, e: std::io::Error) -> DiskError {
    DiskError::io(format!("read {what} at {offset:#x}"), e)
}

/// How a run of guest bytes is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mapping {
    Data { host_offset: u64 },
    Zero,
    Unallocated,
}

impl VhdxImage {
    /// Opens the image in `src`: file identifier, current header (log must be empty), region
    /// table, metadata (differencing disks refused), then the BAT, every present block's
    /// offset checked against the file.
    pub fn open(src: Box<dyn ReadAt>) -> Result<VhdxImage, DiskError> {
        let file_len = src.size().map_err(|e| DiskError::io("stat", e))?;
        if file_len < FIXED_END {
            return Err(VhdxError::TooShort { len: file_len }.into());
        }
        let mut sig = [0u8; 8];
        src.read_exact_at(&mut sig, 0)
            .map_err(|e| read_err("file identifier", 0, e))?;
        if &sig != FILE_SIGNATURE {
            return Err(VhdxError::BadSignature.into());
        }
        let mut headers = [vec![0u8; HEADER_LEN], vec![0u8; HEADER_LEN]];
        for (buf, at) in headers.iter_mut().zip(HEADER_OFFSETS) {
            src.read_exact_at(buf, at)
                .map_err(|e| read_err("header", at, e))?;
        }
        let header = Header::current(&headers[0], &headers[1])?;
        if header.log_guid != [0; 16] {
            return Err(VhdxError::LogNotEmpty {
                guid: guid_string(&header.log_guid),
            }
            .into());
        }
        let mut table = vec![0u8; REGION_TABLE_LEN];
        src.read_exact_at(&mut table, REGION_TABLE_OFFSET)
            .map_err(|e| read_err("region table", REGION_TABLE_OFFSET, e))?;
        let regions = Regions::parse(&table, file_len)?;
        drop(table);
        let metadata = Metadata::read(&*src, &regions.metadata)?;
        let chunk_ratio = metadata.chunk_ratio();
        let blocks = metadata
            .virtual_disk_size
            .div_ceil(u64::from(metadata.block_size));
        // Payload entries, with a sector bitmap entry after every `chunk_ratio` of them.
        let entries = if blocks == 0 {
            0
        } else {
            blocks + (blocks - 1) / chunk_ratio
        };
        let region_len = u64::from(regions.bat.length);
        let bytes = entries.saturating_mul(8);
        if bytes > region_len || bytes > MAX_BAT_BYTES {
            return Err(VhdxError::BatSize {
                entries,
                region_len,
                max: MAX_BAT_BYTES,
            }
            .into());
        }
        let mut raw = vec![0u8; bytes as usize];
        src.read_exact_at(&mut raw, regions.bat.offset)
            .map_err(|e| read_err("BAT", regions.bat.offset, e))?;
        let bat: Vec<u64> = raw
            .chunks_exact(8)
            .map(|c| {
                let mut v = [0u8; 8];
                v.copy_from_slice(c);
                u64::from_le_bytes(v)
            })
            .collect();
        drop(raw);
        let block_size = u64::from(metadata.block_size);
        for b in 0..blocks {
            let index = b + b / chunk_ratio;
            let entry = bat[index as usize];
            if (entry & 7) as u8 == state::FULLY_PRESENT {
                let offset = entry & !0xF_FFFF;
                // The last block may be stored only up to the virtual size: qemu-img creates
                // fixed images so, and qemu accepts them.
                let stored = block_size.min(metadata.virtual_disk_size - b * block_size);
                let inside = offset
                    .checked_add(stored)
                    .is_some_and(|end| end <= file_len);
                if offset < FIXED_END || !inside {
                    return Err(VhdxError::BlockOffset {
                        index,
                        offset,
                        file_len,
                    }
                    .into());
                }
            }
        }
        Ok(VhdxImage {
            src,
            path: None,
            header,
            regions,
            metadata,
            bat,
            chunk_ratio,
        })
    }

    /// Opens an image held in memory.
    pub fn from_bytes(bytes: Vec<u8>) -> Result<VhdxImage, DiskError> {
        VhdxImage::open(Box::new(bytes))
    }

    /// Sets the file name used in errors.
    #[must_use]
    pub fn with_path(mut self, path: impl Into<PathBuf>) -> Self {
        self.path = Some(path.into());
        self
    }

    /// The file name used in errors, if set.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// The current header.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// The BAT and metadata regions.
    pub fn regions(&self) -> &Regions {
        &self.regions
    }

    /// The metadata.
    pub fn metadata(&self) -> &Metadata {
        &self.metadata
    }

    fn err(&self, e: impl Into<DiskError>) -> DiskError {
        let e = e.into();
        match &self.path {
            Some(p) => e.with_path(p),
            None => e,
        }
    }

    /// How payload block `block` is stored (`block` below the block count).
    fn block(&self, block: u64) -> Result<Mapping, DiskError> {
        let entry = self
            .bat
            .get((block + block / self.chunk_ratio) as usize)
            .copied()
            .unwrap_or(0);
        let st = (entry & 7) as u8;
        match st {
            state::NOT_PRESENT => Ok(Mapping::Unallocated),
            state::UNDEFINED | state::ZERO | state::UNMAPPED | state::UNMAPPED_V095 => {
                Ok(Mapping::Zero)
            }
            // Checked at open.
            state::FULLY_PRESENT => Ok(Mapping::Data {
                host_offset: entry & !0xF_FFFF,
            }),
            _ => Err(self.err(VhdxError::BlockState { block, state: st })),
        }
    }

    /// One run of guest bytes from `offset` of one kind, at most `max_len` long; data runs
    /// are host-contiguous.
    fn mapping(&self, offset: u64, max_len: u64) -> Result<(Mapping, u64), DiskError> {
        let bs = u64::from(self.metadata.block_size);
        let end = offset.saturating_add(max_len);
        let mut first: Option<Mapping> = None;
        let mut pos = offset;
        while pos < end {
            let here = match self.block(pos / bs)? {
                Mapping::Data { host_offset } => Mapping::Data {
                    host_offset: host_offset + pos % bs,
                },
                m => m,
            };
            match (first, here) {
                (None, _) => first = Some(here),
                (Some(Mapping::Data { host_offset }), Mapping::Data { host_offset: h2 })
                    if host_offset + (pos - offset) == h2 => {}
                (Some(a), b) if a == b => {}
                _ => break,
            }
            pos = ((pos / bs + 1) * bs).min(end);
        }
        Ok((
            first.unwrap_or(Mapping::Unallocated),
            pos.max(offset + 1).min(end) - offset,
        ))
    }

    fn check_range(&self, offset: u64, len: u64) -> Result<(), DiskError> {
        crate::image::check_range(offset, len, self.metadata.virtual_disk_size)
            .map_err(|e| self.err(e))
    }
}

impl DiskImage for VhdxImage {
    fn format(&self) -> DiskFormat {
        DiskFormat::Vhdx
    }

    fn virtual_size(&self) -> u64 {
        self.metadata.virtual_disk_size
    }

    fn read_at(&self, buf: &mut [u8], offset: u64) -> Result<(), DiskError> {
        self.check_range(offset, buf.len() as u64)?;
        read_mapped(
            buf,
            offset,
            |pos, max| self.mapping(pos, max),
            |chunk, _, mapping| match mapping {
                // Present blocks lie inside the file (checked at open).
                Mapping::Data { host_offset } => self
                    .src
                    .read_exact_at(chunk, host_offset)
                    .map_err(|e| self.err(read_err("data", host_offset, e))),
                Mapping::Zero | Mapping::Unallocated => {
                    chunk.fill(0);
                    Ok(())
                }
            },
        )
    }

    fn map(&self, offset: u64, max_len: u64) -> Result<Extent, DiskError> {
        let size = self.metadata.virtual_disk_size;
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
}
