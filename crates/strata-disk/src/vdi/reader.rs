//! [`VdiImage`]: a vdi image opened for reading (the checks, and where they are stricter than
//! qemu's, are in the [module overview](super)).

use std::path::{Path, PathBuf};

use strata_model::DiskFormat;

use super::error::VdiError;
use super::header::{BLOCK_SIZE, DISCARDED, HEADER_LEN, Header, TYPE_STATIC};
use crate::error::DiskError;
use crate::image::{DiskImage, Extent, ExtentKind};
use crate::io::{ReadAt, read_u32_table};

/// A vdi image opened for reading.
pub struct VdiImage {
    src: Box<dyn ReadAt>,
    path: Option<PathBuf>,
    header: Header,
    bmap: Vec<u32>,
}

impl std::fmt::Debug for VdiImage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VdiImage")
            .field("path", &self.path)
            .field("header", &self.header)
            .finish_non_exhaustive()
    }
}

fn io_err(op: String, e: std::io::Error) -> DiskError {
    DiskError::io(op, e)
}

impl VdiImage {
    /// Opens a vdi image from `src`: validates the header and reads and checks the block map.
    pub fn open(src: Box<dyn ReadAt>) -> Result<Self, DiskError> {
        let file_len = src.size().map_err(|e| io_err("size".into(), e))?;
        if file_len < HEADER_LEN as u64 {
            return Err(VdiError::TooShort { len: file_len }.into());
        }
        let mut hb = [0u8; HEADER_LEN];
        src.read_exact_at(&mut hb, 0)
            .map_err(|e| io_err("read the header".into(), e))?;
        let header = Header::parse(&hb)?;
        let entries = u64::from(header.blocks_in_image);
        let offset = u64::from(header.offset_bmap);
        let len = entries * 4;
        if offset + len > file_len {
            return Err(VdiError::BlockMapPastEnd {
                offset,
                len,
                file_len,
            }
            .into());
        }
        let bmap = read_u32_table(&*src, offset, entries, u32::from_le_bytes, "block map")?;
        let data = u64::from(header.offset_data);
        for (block, &slot) in bmap.iter().enumerate() {
            if slot < DISCARDED {
                let end = data + (u64::from(slot) + 1) * BLOCK_SIZE;
                if end > file_len {
                    return Err(VdiError::BlockPastEnd {
                        block: block as u64,
                        slot,
                        end,
                        file_len,
                    }
                    .into());
                }
            }
        }
        Ok(VdiImage {
            src,
            path: None,
            header,
            bmap,
        })
    }

    /// Opens a vdi image held in memory.
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Self, DiskError> {
        Self::open(Box::new(bytes))
    }

    /// Names the file the image was read from (for errors).
    #[must_use]
    pub fn with_path(mut self, path: &Path) -> Self {
        self.path = Some(path.to_path_buf());
        self
    }

    /// The parsed header.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// The block map (one entry per block in the image).
    pub fn block_map(&self) -> &[u32] {
        &self.bmap
    }

    fn err(&self, e: DiskError) -> DiskError {
        match &self.path {
            Some(p) => e.with_path(p),
            None => e,
        }
    }

    /// The file offset of guest block `block`'s data, if allocated.
    fn host(&self, block: u64) -> Option<u64> {
        let slot = *self.bmap.get(usize::try_from(block).ok()?)?;
        (slot < DISCARDED)
            .then(|| u64::from(self.header.offset_data) + u64::from(slot) * BLOCK_SIZE)
    }

    fn check_range(&self, offset: u64, len: u64) -> Result<(), DiskError> {
        crate::image::check_range(offset, len, self.virtual_size()).map_err(|e| self.err(e))
    }
}

impl DiskImage for VdiImage {
    fn format(&self) -> DiskFormat {
        DiskFormat::Vdi
    }

    fn virtual_size(&self) -> u64 {
        self.header.size()
    }

    fn read_at(&self, buf: &mut [u8], offset: u64) -> Result<(), DiskError> {
        self.check_range(offset, buf.len() as u64)?;
        let mut done = 0usize;
        while done < buf.len() {
            let pos = offset + done as u64;
            let block = pos / BLOCK_SIZE;
            let within = pos % BLOCK_SIZE;
            let n = ((BLOCK_SIZE - within) as usize).min(buf.len() - done);
            let part = &mut buf[done..done + n];
            match self.host(block) {
                Some(host) => self.src.read_exact_at(part, host + within).map_err(|e| {
                    self.err(io_err(format!("read {n} bytes at {}", host + within), e))
                })?,
                None => part.fill(0),
            }
            done += n;
        }
        Ok(())
    }

    fn map(&self, offset: u64, max_len: u64) -> Result<Extent, DiskError> {
        self.check_range(offset, 1)?;
        let end = offset
            .saturating_add(max_len.max(1))
            .min(self.virtual_size());
        let first = self.host(offset / BLOCK_SIZE);
        let mut pos = (offset / BLOCK_SIZE + 1) * BLOCK_SIZE;
        // Consecutive blocks of the same kind (data blocks only when contiguous in the file).
        while pos < end {
            let next = self.host(pos / BLOCK_SIZE);
            let same = match (first, next) {
                (None, None) => true,
                (Some(a), Some(b)) => b == a + (pos - offset / BLOCK_SIZE * BLOCK_SIZE),
                _ => false,
            };
            if !same {
                break;
            }
            pos += BLOCK_SIZE;
        }
        let length = pos.min(end) - offset;
        let Some(block_host) = first else {
            return Ok(Extent {
                offset,
                length,
                kind: ExtentKind::Zero,
            });
        };
        let host = block_host + offset % BLOCK_SIZE;
        let (kind, length) = if self.header.image_type == TYPE_STATIC {
            // qemu's BDRV_BLOCK_RECURSE: the file's holes are zeros.
            match self
                .src
                .next_data(host)
                .map_err(|e| self.err(io_err(format!("find data at {host}"), e)))?
            {
                None => (ExtentKind::Zero, length),
                Some((s, _)) if s > host => (ExtentKind::Zero, length.min(s - host)),
                Some((_, e)) => (ExtentKind::Data, length.min(e.saturating_sub(host).max(1))),
            }
        } else {
            (ExtentKind::Data, length)
        };
        Ok(Extent {
            offset,
            length,
            kind,
        })
    }
}
