//! [`VpcTarget`], the convert engine's vpc destination, and how to create one
//! ([`VpcCreateOptions`], [`Subformat`]); the layouts are in the [module overview](super).

use super::error::VpcError;
use super::footer::{DynHeader, FOOTER_LEN, Footer, SECTOR, TYPE_DYNAMIC, TYPE_FIXED};
use super::geometry::{rounded_geometry, rounded_size};
use crate::convert::output::Output;
use crate::convert::plan::{BlockPlan, move_block, random_uuid};
use crate::convert::{ConvertTarget, Finished, Layout, Placement, SourceMap, finish_at};
use crate::error::DiskError;

/// The block size qemu writes.
pub const BLOCK_SIZE: u64 = 2 << 20;
/// Seconds from the Unix epoch to the VHD epoch (2000-01-01 00:00:00 UTC).
const TIMESTAMP_BASE: u64 = 946_684_800;
/// Granule of zero detection when writing.
const GRANULE: u64 = 64 << 10;

/// How a vpc image stores its data (qemu-img's `subformat`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Subformat {
    /// Blocks allocated on demand (qemu's default).
    #[default]
    Dynamic,
    /// The guest bytes as they are, then the footer.
    Fixed,
}

/// How to create a vpc image (qemu-img's `-o` options).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VpcCreateOptions {
    /// Virtual size asked for, in bytes; rounded as qemu-img rounds it (see the [`vpc`](super)
    /// module documentation and [`rounded_size`]).
    pub size: u64,
    /// `subformat=dynamic|fixed`.
    pub subformat: Subformat,
    /// `force_size=on`: keep the size as given (rounded to 512), creator `qem2`.
    pub force_size: bool,
}

impl VpcCreateOptions {
    /// qemu-img's defaults for an image of `size` bytes: dynamic, CHS rounding.
    pub fn new(size: u64) -> Self {
        VpcCreateOptions {
            size,
            subformat: Subformat::Dynamic,
            force_size: false,
        }
    }
}

/// The planned layout of a dynamic image.
#[derive(Debug)]
struct DynLayout {
    entries: u64,
    /// Offset of the first block (its bitmap).
    data_start: u64,
}

impl DynLayout {
    const BAT_OFFSET: u64 = 3 * SECTOR;
    const BITMAP: u64 = SECTOR;

    fn stride() -> u64 {
        Self::BITMAP + BLOCK_SIZE
    }

    /// Offset of the bitmap of the block in `slot`.
    fn slot(&self, slot: u64) -> u64 {
        self.data_start + slot * Self::stride()
    }
}

/// The convert engine's vpc destination; see the [`vpc`](super) module documentation for the
/// layouts.
#[derive(Debug)]
pub struct VpcTarget<'o> {
    out: &'o mut dyn Output,
    footer: Footer,
    size: u64,
    dynamic: Option<DynLayout>,
    plan: BlockPlan,
    planned: bool,
}

impl<'o> VpcTarget<'o> {
    /// Starts writing a vpc image into `out`.
    pub fn create(out: &'o mut dyn Output, options: &VpcCreateOptions) -> Result<Self, DiskError> {
        let path = out.path().to_path_buf();
        let path = path.as_path();
        let with_path = |e: VpcError| DiskError::from(e).with_path(path);
        let size = rounded_size(options.size, options.force_size).map_err(with_path)?;
        let ((c, h, s), sectors) = rounded_geometry(size, options.force_size).map_err(with_path)?;
        let total = sectors * SECTOR;
        let timestamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
            .saturating_sub(TIMESTAMP_BASE) as u32;
        let dynamic = options.subformat == Subformat::Dynamic;
        let footer = Footer {
            features: 2,
            version: 0x0001_0000,
            data_offset: if dynamic { SECTOR } else { u64::MAX },
            timestamp,
            creator_app: if options.force_size {
                *b"qem2"
            } else {
                *b"qemu"
            },
            creator_version: 0x0005_0003,
            creator_os: *b"Wi2k",
            original_size: total,
            current_size: total,
            cylinders: c as u16,
            heads: h as u8,
            sectors: s as u8,
            disk_type: if dynamic { TYPE_DYNAMIC } else { TYPE_FIXED },
            uuid: random_uuid(),
            saved_state: 0,
        };
        let dynamic = dynamic.then(|| {
            let entries = sectors.div_ceil(BLOCK_SIZE / SECTOR);
            DynLayout {
                entries,
                data_start: DynLayout::BAT_OFFSET + (entries * 4).next_multiple_of(SECTOR),
            }
        });
        Ok(VpcTarget {
            out,
            footer,
            size: total,
            dynamic,
            plan: BlockPlan::default(),
            planned: false,
        })
    }

    fn mismatch(&self, detail: String) -> DiskError {
        DiskError::from(VpcError::PlanMismatch { detail }).with_path(self.out.path())
    }

    /// The file offset of guest block `block`'s data.
    fn data_host(&self, block: u64) -> Option<u64> {
        let d = self.dynamic.as_ref()?;
        Some(d.slot(self.plan.slot(block)?) + DynLayout::BITMAP)
    }

    /// Writes the BAT: block `b` at the slot `slot(b)` gives, if any; padded with `0xff`.
    fn write_bat(&mut self, slot: impl Fn(u64) -> Option<u64>) -> Result<(), DiskError> {
        let Some(d) = &self.dynamic else {
            return Ok(());
        };
        let len = (d.entries * 4).next_multiple_of(SECTOR);
        let mut bat = vec![0xffu8; len as usize];
        for b in 0..d.entries {
            if let Some(s) = slot(b) {
                let sector = (d.slot(s) / SECTOR) as u32;
                bat[(b * 4) as usize..(b * 4 + 4) as usize].copy_from_slice(&sector.to_be_bytes());
            }
        }
        self.out.write_at(&bat, DynLayout::BAT_OFFSET)
    }

    /// Writes the bitmaps of `slots` (all ones, as qemu writes them).
    fn write_bitmaps(&mut self, slots: &[u64]) -> Result<(), DiskError> {
        if let Some(d) = &self.dynamic {
            let hosts: Vec<u64> = slots.iter().map(|&s| d.slot(s)).collect();
            for host in hosts {
                self.out
                    .write_at(&[0xff; DynLayout::BITMAP as usize], host)?;
            }
        }
        Ok(())
    }
}

impl ConvertTarget for VpcTarget<'_> {
    fn format_name(&self) -> &'static str {
        "vpc"
    }

    fn virtual_size(&self) -> u64 {
        self.size
    }

    fn granularity(&self) -> u64 {
        GRANULE
    }

    fn plan(&mut self, map: &SourceMap<'_>) -> Result<(), DiskError> {
        if self.dynamic.is_some() {
            // The block allocation table is filled in last, before the data.
            self.out.expect_rewrites();
            self.plan =
                BlockPlan::new(map, BLOCK_SIZE).map_err(|e| e.with_path(self.out.path()))?;
            let footer = self.footer.to_bytes();
            self.out.write_at(&footer, 0)?;
            let entries = self.dynamic.as_ref().map_or(0, |d| d.entries);
            let header = DynHeader {
                table_offset: DynLayout::BAT_OFFSET,
                max_table_entries: entries as u32,
                block_size: BLOCK_SIZE as u32,
            };
            self.out.write_at(&header.to_bytes(), SECTOR)?;
            let plan = std::mem::take(&mut self.plan);
            let result = self.write_bat(|b| plan.slot(b));
            self.plan = plan;
            result?;
            let end = self.dynamic.as_ref().map_or(0, |d| d.slot(self.plan.len()));
            self.out.set_len(end)?;
        }
        self.planned = true;
        Ok(())
    }

    fn placement(&mut self) -> Result<Option<Placement>, DiskError> {
        let (layout, end) = match &self.dynamic {
            None => (Layout::Identity, self.size),
            Some(d) => (
                self.plan.layout(|slot, _| d.slot(slot) + DynLayout::BITMAP),
                d.slot(self.plan.len()),
            ),
        };
        Ok(Some(Placement {
            file: self.out.handle()?,
            path: self.out.path().to_path_buf(),
            layout,
            end,
        }))
    }

    fn write(&mut self, offset: u64, data: &[u8]) -> Result<(), DiskError> {
        if self.dynamic.is_none() {
            let len = (data.len() as u64).min(self.size.saturating_sub(offset)) as usize;
            return self.out.write_at(&data[..len], offset);
        }
        let mut done = 0usize;
        while done < data.len() {
            let pos = offset + done as u64;
            let block = pos / BLOCK_SIZE;
            let within = pos % BLOCK_SIZE;
            let n = ((BLOCK_SIZE - within) as usize).min(data.len() - done);
            let host = self
                .data_host(block)
                .ok_or_else(|| self.mismatch(format!("data in unplanned block {block}")))?;
            let first = self.plan.mark(pos, n as u64).unwrap_or_default();
            self.write_bitmaps(&first)?;
            self.out.write_at(&data[done..done + n], host + within)?;
            done += n;
        }
        Ok(())
    }

    fn record(&mut self, offset: u64, host: u64, data: &[u8]) -> Result<(), DiskError> {
        if self.dynamic.is_some() {
            let Some(first) = self.plan.mark(offset, data.len() as u64) else {
                return Err(
                    self.mismatch(format!("data at guest offset {offset} in no planned block"))
                );
            };
            // A block's bitmap goes before its first data, in file order (the hash goes on).
            self.write_bitmaps(&first)?;
        }
        self.out.record(data, host);
        Ok(())
    }

    fn write_zeroes(&mut self, _offset: u64, _len: u64) -> Result<(), DiskError> {
        // Zero granules stay holes; blocks without data stay unallocated.
        Ok(())
    }

    fn finish(mut self: Box<Self>) -> Result<Finished, DiskError> {
        if !self.planned {
            return Err(
                DiskError::invalid_request("vpc target finished before planning")
                    .with_path(self.out.path()),
            );
        }
        let footer = self.footer.to_bytes();
        let end = match &self.dynamic {
            None => self.size,
            Some(_) => {
                let (finals, moves) = self.plan.compact();
                if finals.len() as u64 != self.plan.len() {
                    let Some(d) = &self.dynamic else {
                        return Err(DiskError::invalid_request("no dynamic layout"));
                    };
                    let hosts: Vec<(u64, u64, u64)> = moves
                        .iter()
                        .map(|&(from, to)| (d.slot(from), d.slot(to), to))
                        .collect();
                    for (from, to, slot) in hosts {
                        move_block(
                            &mut *self.out,
                            from + DynLayout::BITMAP,
                            to + DynLayout::BITMAP,
                            BLOCK_SIZE,
                        )?;
                        self.write_bitmaps(&[slot])?;
                    }
                    self.write_bat(|b| {
                        finals
                            .binary_search_by_key(&b, |&(g, _)| g)
                            .ok()
                            .map(|i| finals[i].1)
                    })?;
                }
                self.dynamic
                    .as_ref()
                    .map_or(0, |d| d.slot(finals.len() as u64))
            }
        };
        self.out.write_at(&footer, end)?;
        finish_at(self.out, end + FOOTER_LEN as u64)
    }
}
