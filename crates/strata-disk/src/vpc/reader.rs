//! [`VpcImage`]: a vpc image opened for reading, fixed or dynamic (the rules, and where they
//! differ from qemu's, are in the [module overview](super)).

use std::path::{Path, PathBuf};

use strata_model::DiskFormat;

use super::error::VpcError;
use super::footer::{
    DYN_HEADER_LEN, DynHeader, FOOTER_LEN, Footer, SECTOR, TYPE_DIFFERENCING, TYPE_DYNAMIC,
    TYPE_FIXED, UNALLOCATED,
};
use super::geometry::MAX_SECTORS;
use crate::error::DiskError;
use crate::image::{DiskImage, Extent, ExtentKind};
use crate::io::{ReadAt, read_u32_table};

/// Most BAT entries read: 64 MiB of table, 16 Mi blocks (qemu's own limit, `INT_MAX / 4`
/// entries, is 2 GiB of table, beyond the memory budget). Blocks of 2 MiB need 1 Mi entries
/// for the largest disk qemu reads.
pub const MAX_BAT_ENTRIES: u64 = 16 << 20;

/// How a vpc image stores its blocks.
#[derive(Debug)]
enum Kind {
    Fixed,
    Dynamic {
        block_size: u64,
        bitmap_size: u64,
        bat: Vec<u32>,
    },
}

/// A vpc image opened for reading.
pub struct VpcImage {
    src: Box<dyn ReadAt>,
    path: Option<PathBuf>,
    footer: Footer,
    size: u64,
    kind: Kind,
}

impl std::fmt::Debug for VpcImage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VpcImage")
            .field("path", &self.path)
            .field("footer", &self.footer)
            .field("size", &self.size)
            .finish_non_exhaustive()
    }
}

fn io_err(op: String, e: std::io::Error) -> DiskError {
    DiskError::io(op, e)
}

impl VpcImage {
    /// Opens a vpc image from `src`: finds and verifies the footer, and for dynamic images the
    /// dynamic header and the BAT.
    pub fn open(src: Box<dyn ReadAt>) -> Result<Self, DiskError> {
        let file_len = src.size().map_err(|e| io_err("size".into(), e))?;
        if file_len < FOOTER_LEN as u64 {
            return Err(VpcError::TooShort { len: file_len }.into());
        }
        let read_footer = |at: u64, what: &str| -> Result<[u8; FOOTER_LEN], DiskError> {
            let mut fb = [0u8; FOOTER_LEN];
            src.read_exact_at(&mut fb, at)
                .map_err(|e| io_err(format!("read the {what}"), e))?;
            Ok(fb)
        };
        let end = file_len - FOOTER_LEN as u64;
        let head = read_footer(0, "footer copy")?;
        let tail = read_footer(end, "footer")?;
        // A valid fixed footer at the end makes a fixed image, whatever its first sector holds:
        // a fixed image's guest data may begin with anything, a footer included (qemu, which
        // looks at the start first, then misreads it as dynamic). Otherwise a footer at the
        // start is a dynamic image's copy, as qemu takes it.
        let tail_footer = tail.starts_with(b"conectix").then(|| Footer::parse(&tail));
        let (at_start, footer) = match (tail_footer, head.starts_with(b"conectix")) {
            (Some(Ok(f)), _) if f.disk_type == TYPE_FIXED => (false, f),
            (_, true) => (true, Footer::parse(&head)?),
            (Some(tail), false) => (false, tail?),
            (None, false) => return Err(VpcError::NoFooter.into()),
        };
        let sectors = footer.virtual_sectors();
        if sectors > MAX_SECTORS {
            return Err(VpcError::TooLarge { sectors }.into());
        }
        let size = sectors * SECTOR;
        let kind = match (at_start, footer.disk_type) {
            (_, TYPE_DIFFERENCING) => return Err(VpcError::Differencing.into()),
            (false, TYPE_FIXED) => {
                if size + FOOTER_LEN as u64 > file_len {
                    return Err(VpcError::FixedTruncated { size, file_len }.into());
                }
                Kind::Fixed
            }
            (true, TYPE_DYNAMIC) => Self::open_dynamic(&*src, &footer, size, file_len)?,
            (at_start, disk_type) => {
                return Err(VpcError::DiskType {
                    disk_type,
                    where_found: if at_start {
                        "at the start"
                    } else {
                        "only at the end"
                    },
                }
                .into());
            }
        };
        Ok(VpcImage {
            src,
            path: None,
            footer,
            size,
            kind,
        })
    }

    fn open_dynamic(
        src: &dyn ReadAt,
        footer: &Footer,
        size: u64,
        file_len: u64,
    ) -> Result<Kind, DiskError> {
        let offset = footer.data_offset;
        if offset
            .checked_add(DYN_HEADER_LEN as u64)
            .is_none_or(|e| e > file_len)
        {
            return Err(VpcError::DynHeaderPastEnd { offset, file_len }.into());
        }
        let mut hb = [0u8; DYN_HEADER_LEN];
        src.read_exact_at(&mut hb, offset)
            .map_err(|e| io_err("read the dynamic header".into(), e))?;
        let h = DynHeader::parse(&hb)?;
        let bs = h.block_size;
        if !bs.is_power_of_two() || u64::from(bs) < SECTOR {
            return Err(VpcError::BlockSize { block_size: bs }.into());
        }
        let block_size = u64::from(bs);
        let entries = u64::from(h.max_table_entries);
        if size / block_size > u64::from(u32::MAX) {
            return Err(VpcError::TooManyBlocks {
                entries: size / block_size,
                max: u32::MAX.into(),
            }
            .into());
        }
        if entries * block_size < size {
            return Err(VpcError::BatTooSmall {
                entries,
                block_size: bs,
                size,
            }
            .into());
        }
        if entries > MAX_BAT_ENTRIES {
            return Err(VpcError::TooManyBlocks {
                entries,
                max: MAX_BAT_ENTRIES,
            }
            .into());
        }
        let bat_offset = h.table_offset;
        let len = entries * 4;
        if bat_offset.checked_add(len).is_none_or(|e| e > file_len) {
            return Err(VpcError::BatPastEnd {
                offset: bat_offset,
                len,
                file_len,
            }
            .into());
        }
        let bat = read_u32_table(src, bat_offset, entries, u32::from_be_bytes, "BAT")?;
        let bitmap_size = h.bitmap_size();
        for (block, &sector) in bat.iter().enumerate() {
            if sector != UNALLOCATED {
                let end = u64::from(sector) * SECTOR + bitmap_size + block_size;
                if end > file_len {
                    return Err(VpcError::BlockPastEnd {
                        block: block as u64,
                        sector,
                        end,
                        file_len,
                    }
                    .into());
                }
            }
        }
        Ok(Kind::Dynamic {
            block_size,
            bitmap_size,
            bat,
        })
    }

    /// Opens a vpc image held in memory.
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Self, DiskError> {
        Self::open(Box::new(bytes))
    }

    /// Names the file the image was read from (for errors).
    #[must_use]
    pub fn with_path(mut self, path: &Path) -> Self {
        self.path = Some(path.to_path_buf());
        self
    }

    /// The footer.
    pub fn footer(&self) -> &Footer {
        &self.footer
    }

    /// Whether the image is fixed (else dynamic).
    pub fn is_fixed(&self) -> bool {
        matches!(self.kind, Kind::Fixed)
    }

    /// The block size of a dynamic image.
    pub fn block_size(&self) -> Option<u64> {
        match &self.kind {
            Kind::Fixed => None,
            Kind::Dynamic { block_size, .. } => Some(*block_size),
        }
    }

    fn err(&self, e: DiskError) -> DiskError {
        match &self.path {
            Some(p) => e.with_path(p),
            None => e,
        }
    }

    fn check_range(&self, offset: u64, len: u64) -> Result<(), DiskError> {
        crate::image::check_range(offset, len, self.size).map_err(|e| self.err(e))
    }

    fn read_file(&self, buf: &mut [u8], host: u64) -> Result<(), DiskError> {
        self.src
            .read_exact_at(buf, host)
            .map_err(|e| self.err(io_err(format!("read {} bytes at {host}", buf.len()), e)))
    }
}

impl DiskImage for VpcImage {
    fn format(&self) -> DiskFormat {
        DiskFormat::Vpc
    }

    fn virtual_size(&self) -> u64 {
        self.size
    }

    fn read_at(&self, buf: &mut [u8], offset: u64) -> Result<(), DiskError> {
        self.check_range(offset, buf.len() as u64)?;
        let Kind::Dynamic {
            block_size,
            bitmap_size,
            bat,
        } = &self.kind
        else {
            return self.read_file(buf, offset);
        };
        let mut done = 0usize;
        while done < buf.len() {
            let pos = offset + done as u64;
            let block = pos / block_size;
            let within = pos % block_size;
            let n = ((block_size - within) as usize).min(buf.len() - done);
            let part = &mut buf[done..done + n];
            match bat.get(block as usize) {
                Some(&s) if s != UNALLOCATED => {
                    self.read_file(part, u64::from(s) * SECTOR + bitmap_size + within)?;
                }
                _ => part.fill(0),
            }
            done += n;
        }
        Ok(())
    }

    fn map(&self, offset: u64, max_len: u64) -> Result<Extent, DiskError> {
        self.check_range(offset, 1)?;
        let end = offset.saturating_add(max_len.max(1)).min(self.size);
        let Kind::Dynamic {
            block_size, bat, ..
        } = &self.kind
        else {
            // qemu's BDRV_BLOCK_RECURSE: the file's holes are zeros.
            let (kind, to) = match self
                .src
                .next_data(offset)
                .map_err(|e| self.err(io_err(format!("find data at {offset}"), e)))?
            {
                None => (ExtentKind::Zero, end),
                Some((s, _)) if s > offset => (ExtentKind::Zero, s.min(end)),
                Some((_, e)) => (ExtentKind::Data, e.min(end).max(offset + 1)),
            };
            return Ok(Extent {
                offset,
                length: to - offset,
                kind,
            });
        };
        let allocated = |b: u64| bat.get(b as usize).is_some_and(|&s| s != UNALLOCATED);
        let first = offset / block_size;
        let mut pos = (first + 1) * block_size;
        if allocated(first) {
            // One block at most: its neighbour is behind a bitmap.
            return Ok(Extent {
                offset,
                length: pos.min(end) - offset,
                kind: ExtentKind::Data,
            });
        }
        while pos < end && !allocated(pos / block_size) {
            pos += block_size;
        }
        Ok(Extent {
            offset,
            length: pos.min(end) - offset,
            kind: ExtentKind::Zero,
        })
    }
}
