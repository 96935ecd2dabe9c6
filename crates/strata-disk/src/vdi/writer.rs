//! [`VdiTarget`], the convert engine's vdi destination, and how to create one
//! ([`VdiCreateOptions`]); the layout is in the [module overview](super).

use super::error::VdiError;
use super::header::{
    BLOCK_SIZE, HEADER_LEN, Header, MAX_DISK_SIZE, SECTOR, SIGNATURE, TYPE_DYNAMIC, TYPE_STATIC,
    UNALLOCATED, VERSION_1_1,
};
use crate::convert::output::Output;
use crate::convert::plan::{BlockPlan, move_block, random_uuid};
use crate::convert::{ConvertTarget, Finished, Placement, SourceMap, finish_at};
use crate::error::DiskError;

/// Granule of zero detection when writing (a power of two dividing the block size).
const GRANULE: u64 = 64 << 10;

/// How to create a vdi image (qemu-img's `-o` options).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VdiCreateOptions {
    /// Virtual size in bytes (rounded up to a multiple of 512, as qemu-img does).
    pub size: u64,
    /// `static=on`: every block preallocated in the file.
    pub static_image: bool,
}

impl VdiCreateOptions {
    /// qemu-img's defaults for an image of `size` bytes: dynamic.
    pub fn new(size: u64) -> Self {
        VdiCreateOptions {
            size,
            static_image: false,
        }
    }
}

/// The convert engine's vdi destination; see the [`vdi`](super) module documentation for the
/// layout.
#[derive(Debug)]
pub struct VdiTarget<'o> {
    out: &'o mut dyn Output,
    header: Header,
    plan: BlockPlan,
    planned: bool,
}

impl<'o> VdiTarget<'o> {
    /// Starts writing a vdi image into `out`.
    pub fn create(out: &'o mut dyn Output, options: &VdiCreateOptions) -> Result<Self, DiskError> {
        let path = out.path().to_path_buf();
        let path = path.as_path();
        let size = options.size.next_multiple_of(SECTOR);
        if size > MAX_DISK_SIZE {
            return Err(DiskError::from(VdiError::CreateTooLarge {
                size: options.size,
                max: MAX_DISK_SIZE,
            })
            .with_path(path));
        }
        let blocks = size.div_ceil(BLOCK_SIZE);
        let bmap_len = (blocks * 4).next_multiple_of(SECTOR);
        let offset_data = u32::try_from(HEADER_LEN as u64 + bmap_len).map_err(|_| {
            DiskError::from(VdiError::CreateTooLarge {
                size: options.size,
                max: MAX_DISK_SIZE,
            })
            .with_path(path)
        })?;
        let mut uuid_image = random_uuid();
        let mut uuid_last_snap = random_uuid();
        // VirtualBox stores the first three UUID fields little-endian.
        for u in [&mut uuid_image, &mut uuid_last_snap] {
            u[..4].reverse();
            u[4..6].reverse();
            u[6..8].reverse();
        }
        let header = Header {
            signature: SIGNATURE,
            version: VERSION_1_1,
            header_size: 0x180,
            image_type: if options.static_image {
                TYPE_STATIC
            } else {
                TYPE_DYNAMIC
            },
            image_flags: 0,
            offset_bmap: HEADER_LEN as u32,
            offset_data,
            sector_size: SECTOR as u32,
            disk_size: size,
            block_size: BLOCK_SIZE as u32,
            blocks_in_image: blocks as u32,
            blocks_allocated: if options.static_image {
                blocks as u32
            } else {
                0
            },
            uuid_image,
            uuid_last_snap,
            uuid_link: [0; 16],
            uuid_parent: [0; 16],
        };
        Ok(VdiTarget {
            out,
            header,
            plan: BlockPlan::default(),
            planned: false,
        })
    }

    fn is_static(&self) -> bool {
        self.header.image_type == TYPE_STATIC
    }

    fn data_offset(&self) -> u64 {
        u64::from(self.header.offset_data)
    }

    /// The file offset of the block in `slot` holding guest block `block`.
    fn slot_host(&self, slot: u64, block: u64) -> u64 {
        let i = if self.is_static() { block } else { slot };
        self.data_offset() + i * BLOCK_SIZE
    }

    /// The file's length: the data area's last slot.
    fn end(&self) -> u64 {
        self.data_offset() + u64::from(self.header.blocks_allocated) * BLOCK_SIZE
    }

    fn mismatch(&self, detail: String) -> DiskError {
        DiskError::from(VdiError::PlanMismatch { detail }).with_path(self.out.path())
    }

    /// Writes the header and the block map, whose entries `entry(block)` gives (streamed in
    /// pieces: the map of a huge disk is never held whole).
    fn write_metadata(&mut self, entry: impl Fn(u64) -> u32) -> Result<(), DiskError> {
        let header = self.header.to_bytes();
        self.out.write_at(&header, 0)?;
        let blocks = u64::from(self.header.blocks_in_image);
        let bmap_len = (blocks * 4).next_multiple_of(SECTOR);
        const PER_WRITE: u64 = 64 << 10;
        let mut buf = Vec::with_capacity((PER_WRITE * 4) as usize);
        let mut b = 0u64;
        while b * 4 < bmap_len {
            buf.clear();
            let last = (b + PER_WRITE).min(bmap_len / 4);
            for i in b..last {
                let e = if i < blocks { entry(i) } else { 0 };
                buf.extend_from_slice(&e.to_le_bytes());
            }
            self.out.write_at(&buf, HEADER_LEN as u64 + b * 4)?;
            b = last;
        }
        Ok(())
    }
}

impl ConvertTarget for VdiTarget<'_> {
    fn format_name(&self) -> &'static str {
        "vdi"
    }

    fn virtual_size(&self) -> u64 {
        self.header.disk_size
    }

    fn granularity(&self) -> u64 {
        GRANULE
    }

    fn plan(&mut self, map: &SourceMap<'_>) -> Result<(), DiskError> {
        self.plan = BlockPlan::new(map, BLOCK_SIZE).map_err(|e| e.with_path(self.out.path()))?;
        if self.is_static() {
            self.write_metadata(|b| b as u32)?;
        } else {
            // The block map is filled in last, before the data.
            self.out.expect_rewrites();
            self.header.blocks_allocated = self.plan.len() as u32;
            let plan = std::mem::take(&mut self.plan);
            let result = self.write_metadata(|b| plan.slot(b).map_or(UNALLOCATED, |s| s as u32));
            self.plan = plan;
            result?;
        }
        self.out.set_len(self.end())?;
        self.planned = true;
        Ok(())
    }

    fn placement(&mut self) -> Result<Option<Placement>, DiskError> {
        let layout = self.plan.layout(|slot, block| self.slot_host(slot, block));
        Ok(Some(Placement {
            file: self.out.handle()?,
            path: self.out.path().to_path_buf(),
            layout,
            end: self.end(),
        }))
    }

    fn write(&mut self, offset: u64, data: &[u8]) -> Result<(), DiskError> {
        let mut done = 0usize;
        while done < data.len() {
            let pos = offset + done as u64;
            let block = pos / BLOCK_SIZE;
            let within = pos % BLOCK_SIZE;
            let n = ((BLOCK_SIZE - within) as usize).min(data.len() - done);
            let slot = self
                .plan
                .slot(block)
                .ok_or_else(|| self.mismatch(format!("data in unplanned block {block}")))?;
            let host = self.slot_host(slot, block) + within;
            self.out.write_at(&data[done..done + n], host)?;
            self.plan.mark(pos, n as u64);
            done += n;
        }
        Ok(())
    }

    fn record(&mut self, offset: u64, host: u64, data: &[u8]) -> Result<(), DiskError> {
        if self.plan.mark(offset, data.len() as u64).is_none() {
            return Err(self.mismatch(format!("data at guest offset {offset} in no planned block")));
        }
        self.out.record(data, host);
        Ok(())
    }

    fn write_zeroes(&mut self, _offset: u64, _len: u64) -> Result<(), DiskError> {
        // Planned granules that are zeros stay holes; unplanned blocks stay unallocated.
        Ok(())
    }

    fn finish(mut self: Box<Self>) -> Result<Finished, DiskError> {
        if !self.planned {
            return Err(
                DiskError::invalid_request("vdi target finished before planning")
                    .with_path(self.out.path()),
            );
        }
        if !self.is_static() {
            let (finals, moves) = self.plan.compact();
            if finals.len() as u64 != self.plan.len() {
                for &(from, to) in &moves {
                    let (from, to) = (self.slot_host(from, 0), self.slot_host(to, 0));
                    move_block(&mut *self.out, from, to, BLOCK_SIZE)?;
                }
                self.header.blocks_allocated = finals.len() as u32;
                let lookup = |b: u64| {
                    finals
                        .binary_search_by_key(&b, |&(g, _)| g)
                        .map_or(UNALLOCATED, |i| finals[i].1 as u32)
                };
                self.write_metadata(lookup)?;
            }
        }
        let end = self.end();
        finish_at(self.out, end)
    }
}
