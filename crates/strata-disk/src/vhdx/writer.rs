//! [`VhdxTarget`], the convert engine's vhdx destination, and how to create one
//! ([`VhdxCreateOptions`], [`Subformat`]): the layout `qemu-img create -f vhdx` and
//! `qemu-img convert -O vhdx` give (qemu's `block/vhdx.c`, `vhdx_co_create` and what it calls).
//!
//! **Layout (front to back).** The file identifier (`vhdxfile` and the creator, UTF-16) at 0;
//! the two headers at 64 KiB and 128 KiB (sequence numbers `n` and `n + 1`, the same file and
//! data write GUIDs, an empty log: log GUID zero, the log's offset 1 MiB and its length);
//! the region table at 192 KiB and its copy at 256 KiB (the BAT and metadata regions, not
//! marked required, as qemu writes them); the log (`log_size`, 1 MiB by default, left a hole:
//! an empty log is all zeros); the BAT at `1 MiB + log_size`, its region rounded up to whole
//! MiB; the metadata region (1 MiB) right after it: the 64 KiB table then the five items
//! qemu writes (file parameters, virtual disk size, page 83 identifier, logical and physical
//! sector sizes, both 512); the payload from 5 MiB past the end of the BAT region (qemu keeps
//! 4 MiB of room after the metadata). Every structure with a checksum (headers, region
//! tables) carries its CRC32C.
//!
//! The BAT has one entry per payload block and, after every `chunk ratio` of them (2^23
//! sectors over the block size), one sector bitmap entry, which stays 0 (not present: only
//! differencing disks use sector bitmaps). The block size is qemu's choice by virtual size
//! unless given (8 MiB up to 1 GiB, 16 MiB up to 100 GiB, 32 MiB up to 32 TiB, 64 MiB above).
//!
//! **Dynamic** (the default): the blocks that hold data are stored whole, in guest order, one
//! after the other from the payload offset (where qemu-img convert appends them); the file
//! ends after the last one. The others are in the `ZERO` state (qemu's default,
//! `block_state_zero=on`) or `NOT_PRESENT` (`block_state_zero=off`), with file offset 0. The
//! layout is fixed in [`ConvertTarget::plan`] from the source's block status, and the engine
//! writes the blocks in parallel ([`Layout::Blocks`]); a planned block that turns out to hold
//! only zeros is given back at the end (the blocks after it move down), as the vdi and dynamic
//! vpc writers do.
//!
//! **Fixed**: every payload block is fully present at `payload offset + block × block size`
//! (the guest bytes in order, [`Layout::Shifted`]) and the file ends at `payload offset +
//! virtual size` (the last block may be partial, as qemu-img creates it); the file parameters
//! say "leave blocks allocated". qemu-img's own `subformat=fixed` with its default
//! `block_state_zero=on` marks every block `ZERO` and appends the data it converts after the
//! preallocated area; strata writes what `subformat=fixed,block_state_zero=off` writes, a disk
//! whose blocks are all where the BAT says (`block_state_zero` has no effect on fixed disks).
//!
//! Memory: the BAT is written in pieces, never held whole; the plan grows with the number of
//! data blocks (16 bytes each), not with the virtual size.

use super::error::VhdxError;
use super::header::{
    BAT_GUID, FILE_SIGNATURE, FIXED_END, Guid, HEADER_LEN, HEADER_OFFSETS, METADATA_GUID,
    REGION_ALIGN, REGION_TABLE_LEN, REGION_TABLE_OFFSET, checksum,
};
use super::metadata::{
    FILE_PARAMETERS, LOGICAL_SECTOR_SIZE, MAX_BLOCK_SIZE, MAX_VIRTUAL_SIZE, MIN_BLOCK_SIZE, PAGE83,
    PHYSICAL_SECTOR_SIZE, TABLE_LEN, VIRTUAL_DISK_SIZE,
};
use super::reader::{MAX_BAT_BYTES, state};
use crate::convert::output::Output;
use crate::convert::plan::{BlockPlan, move_block, random_uuid};
use crate::convert::{ConvertTarget, Finished, Layout, Placement, SourceMap, finish_at};
use crate::error::DiskError;

/// The log size qemu-img writes by default (`log_size`).
pub const DEFAULT_LOG_SIZE: u64 = 1 << 20;
/// Where the log starts: right after the fixed structures.
pub const LOG_OFFSET: u64 = FIXED_END;
/// The metadata region's length (qemu: "min size, and more than enough").
pub const METADATA_REGION_LEN: u64 = 1 << 20;
/// How far past the end of the BAT region the payload starts (the 1 MiB metadata region and
/// 4 MiB of room, qemu's `data_file_offset`).
pub const PAYLOAD_GAP: u64 = 5 << 20;
/// The sector size qemu writes (logical and physical).
pub const SECTOR: u64 = 512;
/// Granule of zero detection when writing.
const GRANULE: u64 = 64 << 10;
/// Bits per sector bitmap block: a chunk covers 2^23 sectors.
const SECTORS_PER_CHUNK: u64 = 1 << 23;
/// BAT entries written at a time.
const BAT_PIECE: u64 = 64 << 10;
/// Metadata flags: the item is required (bit 2) and describes the virtual disk (bit 1).
const META_REQUIRED: u32 = 4;
const META_VIRTUAL_DISK: u32 = 2;

/// How a vhdx image stores its data (qemu-img's `subformat`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Subformat {
    /// Blocks allocated as data arrives (qemu's default).
    #[default]
    Dynamic,
    /// Every block allocated, in guest order.
    Fixed,
}

impl Subformat {
    /// qemu-img's name.
    pub fn name(self) -> &'static str {
        match self {
            Subformat::Dynamic => "dynamic",
            Subformat::Fixed => "fixed",
        }
    }
}

/// How to create a vhdx image (qemu-img's `-o` options).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VhdxCreateOptions {
    /// Virtual size in bytes (rounded up to a multiple of 512, as qemu-img does).
    pub size: u64,
    /// `subformat=dynamic|fixed`.
    pub subformat: Subformat,
    /// `block_size`: a power of two from 1 MiB to 256 MiB; `None` picks qemu's by size.
    pub block_size: Option<u64>,
    /// `log_size`: a multiple of 1 MiB below 4 GiB.
    pub log_size: u64,
    /// `block_state_zero`: blocks of a dynamic disk without data are `ZERO` (on) or
    /// `NOT_PRESENT` (off).
    pub block_state_zero: bool,
}

impl VhdxCreateOptions {
    /// qemu-img's defaults for an image of `size` bytes: dynamic, block size by size, 1 MiB
    /// log, `block_state_zero=on`.
    pub fn new(size: u64) -> Self {
        VhdxCreateOptions {
            size,
            subformat: Subformat::Dynamic,
            block_size: None,
            log_size: DEFAULT_LOG_SIZE,
            block_state_zero: true,
        }
    }
}

/// The block size qemu-img picks for a disk of `size` bytes ("pretty arbitrary, and mainly
/// designed to keep the BAT size reasonable to load into RAM").
pub fn default_block_size(size: u64) -> u64 {
    const MIB: u64 = 1 << 20;
    const GIB: u64 = 1 << 30;
    if size > 32 << 40 {
        64 * MIB
    } else if size > 100 * GIB {
        32 * MIB
    } else if size > GIB {
        16 * MIB
    } else {
        8 * MIB
    }
}

/// Where everything goes in a new image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Geometry {
    /// Virtual size (a multiple of 512).
    pub size: u64,
    /// Payload block size.
    pub block_size: u64,
    /// Payload blocks per sector bitmap entry.
    pub chunk_ratio: u64,
    /// Payload blocks.
    pub blocks: u64,
    /// BAT entries (payload and sector bitmap).
    pub bat_entries: u64,
    /// The log's length.
    pub log_size: u64,
    /// The BAT region's offset.
    pub bat_offset: u64,
    /// The BAT region's length (whole MiB).
    pub bat_len: u64,
    /// The metadata region's offset.
    pub metadata_offset: u64,
    /// Where the payload starts.
    pub payload_offset: u64,
}

impl Geometry {
    /// The layout of `options`, validated as qemu validates them.
    pub fn new(options: &VhdxCreateOptions) -> Result<Geometry, VhdxError> {
        if options.size > MAX_VIRTUAL_SIZE {
            return Err(VhdxError::CreateTooLarge {
                size: options.size,
                max: MAX_VIRTUAL_SIZE,
            });
        }
        let size = options.size.next_multiple_of(SECTOR);
        let block_size = options
            .block_size
            .unwrap_or_else(|| default_block_size(size));
        if !block_size.is_power_of_two()
            || !(u64::from(MIN_BLOCK_SIZE)..=u64::from(MAX_BLOCK_SIZE)).contains(&block_size)
        {
            return Err(VhdxError::CreateOption {
                option: "block_size",
                value: block_size,
            });
        }
        let log_size = options.log_size;
        if log_size < REGION_ALIGN
            || !log_size.is_multiple_of(REGION_ALIGN)
            || log_size > u64::from(u32::MAX)
        {
            return Err(VhdxError::CreateOption {
                option: "log_size",
                value: log_size,
            });
        }
        let chunk_ratio = SECTORS_PER_CHUNK * SECTOR / block_size;
        let blocks = size.div_ceil(block_size);
        let bat_entries = if blocks == 0 {
            0
        } else {
            blocks + (blocks - 1) / chunk_ratio
        };
        if bat_entries * 8 > MAX_BAT_BYTES {
            return Err(VhdxError::CreateBatTooLarge {
                entries: bat_entries,
                max: MAX_BAT_BYTES,
            });
        }
        let bat_offset = LOG_OFFSET + log_size;
        let bat_len = (bat_entries * 8)
            .next_multiple_of(REGION_ALIGN)
            .max(REGION_ALIGN);
        let metadata_offset = bat_offset + bat_len;
        let payload_offset = bat_offset + bat_len + PAYLOAD_GAP;
        Ok(Geometry {
            size,
            block_size,
            chunk_ratio,
            blocks,
            bat_entries,
            log_size,
            bat_offset,
            bat_len,
            metadata_offset,
            payload_offset,
        })
    }

    /// The payload block a BAT index describes, or `None` for a sector bitmap entry.
    pub fn payload_block(&self, index: u64) -> Option<u64> {
        let group = self.chunk_ratio + 1;
        (index % group != self.chunk_ratio).then(|| index - index / group)
    }

    /// The file offset of the block in `slot` of a dynamic image.
    fn slot(&self, slot: u64) -> u64 {
        self.payload_offset + slot * self.block_size
    }
}

/// The bytes of the file identifier, the headers, the region table and the metadata region's
/// table and items, at their offsets.
fn fixed_structures(
    g: &Geometry,
    fixed: bool,
    ids: &Ids,
) -> Result<Vec<(u64, Vec<u8>)>, VhdxError> {
    let mut out = Vec::new();
    // The file identifier: signature, then the creator in UTF-16 (at most 256 code units).
    let mut ident = FILE_SIGNATURE.to_vec();
    let creator = concat!("strata-disk ", env!("CARGO_PKG_VERSION"));
    ident.extend(creator.encode_utf16().take(256).flat_map(u16::to_le_bytes));
    out.push((0, ident));
    // The headers: the same GUIDs, sequence numbers n and n + 1, the log empty.
    for (i, at) in HEADER_OFFSETS.into_iter().enumerate() {
        let mut h = vec![0u8; HEADER_LEN];
        h[0..4].copy_from_slice(b"head");
        h[8..16].copy_from_slice(&(ids.sequence + i as u64).to_le_bytes());
        h[16..32].copy_from_slice(&ids.file_write);
        h[32..48].copy_from_slice(&ids.data_write);
        // 48..64: the log GUID, zero (no log to replay); 64..66: log version 0.
        h[66..68].copy_from_slice(&1u16.to_le_bytes());
        h[68..72].copy_from_slice(&(g.log_size as u32).to_le_bytes());
        h[72..80].copy_from_slice(&LOG_OFFSET.to_le_bytes());
        let crc = checksum(&h, 4);
        h[4..8].copy_from_slice(&crc.to_le_bytes());
        out.push((at, h));
    }
    // The region table and its copy.
    let mut rt = vec![0u8; REGION_TABLE_LEN];
    rt[0..4].copy_from_slice(b"regi");
    rt[8..12].copy_from_slice(&2u32.to_le_bytes());
    let metadata_len = u32::try_from(METADATA_REGION_LEN).unwrap_or(u32::MAX);
    let bat_len = u32::try_from(g.bat_len).map_err(|_| VhdxError::CreateBatTooLarge {
        entries: g.bat_entries,
        max: MAX_BAT_BYTES,
    })?;
    for (i, (guid, offset, len)) in [
        (BAT_GUID, g.bat_offset, bat_len),
        (METADATA_GUID, g.metadata_offset, metadata_len),
    ]
    .into_iter()
    .enumerate()
    {
        let at = 16 + 32 * i;
        rt[at..at + 16].copy_from_slice(&guid);
        rt[at + 16..at + 24].copy_from_slice(&offset.to_le_bytes());
        rt[at + 24..at + 28].copy_from_slice(&len.to_le_bytes());
    }
    let crc = checksum(&rt, 4);
    rt[4..8].copy_from_slice(&crc.to_le_bytes());
    out.push((REGION_TABLE_OFFSET, rt.clone()));
    out.push((REGION_TABLE_OFFSET + REGION_TABLE_LEN as u64, rt));
    // The metadata table, then its items right after it, in qemu's order.
    let mut params = (g.block_size as u32).to_le_bytes().to_vec();
    params.extend_from_slice(&u32::from(fixed).to_le_bytes());
    let sector = (SECTOR as u32).to_le_bytes().to_vec();
    let items: [(Guid, u32, Vec<u8>); 5] = [
        (FILE_PARAMETERS, META_REQUIRED, params),
        (
            VIRTUAL_DISK_SIZE,
            META_REQUIRED | META_VIRTUAL_DISK,
            g.size.to_le_bytes().to_vec(),
        ),
        (
            PAGE83,
            META_REQUIRED | META_VIRTUAL_DISK,
            ids.page83.to_vec(),
        ),
        (
            LOGICAL_SECTOR_SIZE,
            META_REQUIRED | META_VIRTUAL_DISK,
            sector.clone(),
        ),
        (
            PHYSICAL_SECTOR_SIZE,
            META_REQUIRED | META_VIRTUAL_DISK,
            sector,
        ),
    ];
    let mut table = vec![0u8; TABLE_LEN];
    table[0..8].copy_from_slice(b"metadata");
    table[10..12].copy_from_slice(&(items.len() as u16).to_le_bytes());
    let mut data = Vec::new();
    for (i, (guid, flags, bytes)) in items.iter().enumerate() {
        let at = 32 + 32 * i;
        table[at..at + 16].copy_from_slice(guid);
        let offset = (TABLE_LEN + data.len()) as u32;
        table[at + 16..at + 20].copy_from_slice(&offset.to_le_bytes());
        table[at + 20..at + 24].copy_from_slice(&(bytes.len() as u32).to_le_bytes());
        table[at + 24..at + 28].copy_from_slice(&flags.to_le_bytes());
        data.extend_from_slice(bytes);
    }
    table.extend_from_slice(&data);
    out.push((g.metadata_offset, table));
    Ok(out)
}

/// The identifiers of a new image.
#[derive(Debug, Clone, Copy)]
struct Ids {
    sequence: u64,
    file_write: Guid,
    data_write: Guid,
    page83: Guid,
}

impl Ids {
    fn random() -> Ids {
        let seq = random_uuid();
        Ids {
            // qemu starts from a random 32-bit number.
            sequence: u64::from(u32::from_le_bytes([seq[0], seq[1], seq[2], seq[3]])),
            file_write: random_uuid(),
            data_write: random_uuid(),
            page83: random_uuid(),
        }
    }
}

/// The convert engine's vhdx destination; see the [module documentation](self) for the
/// layout.
#[derive(Debug)]
pub struct VhdxTarget<'o> {
    out: &'o mut dyn Output,
    g: Geometry,
    fixed: bool,
    /// The state of a dynamic disk's blocks without data.
    empty_state: u8,
    ids: Ids,
    plan: BlockPlan,
    planned: bool,
}

impl<'o> VhdxTarget<'o> {
    /// Starts writing a vhdx image into `out`.
    pub fn create(out: &'o mut dyn Output, options: &VhdxCreateOptions) -> Result<Self, DiskError> {
        let g = Geometry::new(options).map_err(|e| DiskError::from(e).with_path(out.path()))?;
        Ok(VhdxTarget {
            out,
            g,
            fixed: options.subformat == Subformat::Fixed,
            empty_state: if options.block_state_zero {
                state::ZERO
            } else {
                state::NOT_PRESENT
            },
            ids: Ids::random(),
            plan: BlockPlan::default(),
            planned: false,
        })
    }

    /// The layout being written.
    pub fn geometry(&self) -> &Geometry {
        &self.g
    }

    fn mismatch(&self, detail: String) -> DiskError {
        DiskError::from(VhdxError::PlanMismatch { detail }).with_path(self.out.path())
    }

    /// The file's length once complete.
    fn end(&self, slots: u64) -> u64 {
        if self.fixed {
            self.g.payload_offset + self.g.size
        } else {
            self.g.slot(slots)
        }
    }

    /// Writes the BAT: payload block `b` at the file offset `host(b)` gives (fully present),
    /// or in the empty state; sector bitmap entries 0. Streamed in pieces.
    fn write_bat(&mut self, host: impl Fn(u64) -> Option<u64>) -> Result<(), DiskError> {
        let mut buf = Vec::with_capacity((BAT_PIECE * 8) as usize);
        let mut i = 0u64;
        while i < self.g.bat_entries {
            buf.clear();
            let last = (i + BAT_PIECE).min(self.g.bat_entries);
            for index in i..last {
                let entry = match self.g.payload_block(index) {
                    None => 0,
                    Some(b) => match host(b) {
                        Some(offset) => offset | u64::from(state::FULLY_PRESENT),
                        None => u64::from(self.empty_state),
                    },
                };
                buf.extend_from_slice(&entry.to_le_bytes());
            }
            self.out.write_at(&buf, self.g.bat_offset + i * 8)?;
            i = last;
        }
        Ok(())
    }

    /// The file offset of guest `offset` and how many bytes from there stay in its block.
    fn host(&self, offset: u64) -> Option<(u64, u64)> {
        let bs = self.g.block_size;
        let within = offset % bs;
        let host = if self.fixed {
            self.g.payload_offset + offset
        } else {
            self.g.slot(self.plan.slot(offset / bs)?) + within
        };
        Some((host, bs - within))
    }
}

impl ConvertTarget for VhdxTarget<'_> {
    fn format_name(&self) -> &'static str {
        "vhdx"
    }

    fn virtual_size(&self) -> u64 {
        self.g.size
    }

    fn granularity(&self) -> u64 {
        GRANULE
    }

    fn plan(&mut self, map: &SourceMap<'_>) -> Result<(), DiskError> {
        if !self.fixed {
            // The block allocation table is filled in last, before the data.
            self.out.expect_rewrites();
            self.plan =
                BlockPlan::new(map, self.g.block_size).map_err(|e| e.with_path(self.out.path()))?;
        }
        let structures = fixed_structures(&self.g, self.fixed, &self.ids)
            .map_err(|e| DiskError::from(e).with_path(self.out.path()))?;
        for (at, bytes) in structures {
            self.out.write_at(&bytes, at)?;
        }
        let g = self.g;
        if self.fixed {
            self.write_bat(|b| Some(g.payload_offset + b * g.block_size))?;
        } else {
            let plan = std::mem::take(&mut self.plan);
            let result = self.write_bat(|b| plan.slot(b).map(|s| g.slot(s)));
            self.plan = plan;
            result?;
        }
        let end = self.end(self.plan.len());
        self.out.set_len(end)?;
        self.planned = true;
        Ok(())
    }

    fn placement(&mut self) -> Result<Option<Placement>, DiskError> {
        let g = self.g;
        let (layout, end) = if self.fixed {
            (
                Layout::Shifted {
                    base: g.payload_offset,
                },
                self.end(0),
            )
        } else {
            (
                self.plan.layout(|slot, _| g.slot(slot)),
                self.end(self.plan.len()),
            )
        };
        Ok(Some(Placement {
            file: self.out.handle()?,
            path: self.out.path().to_path_buf(),
            layout,
            end,
        }))
    }

    fn write(&mut self, offset: u64, data: &[u8]) -> Result<(), DiskError> {
        // The last granule may pass the virtual size: those bytes are zeros and not stored.
        let len = (data.len() as u64).min(self.g.size.saturating_sub(offset)) as usize;
        let mut done = 0usize;
        while done < len {
            let pos = offset + done as u64;
            let (host, room) = self
                .host(pos)
                .ok_or_else(|| self.mismatch(format!("data at guest offset {pos} unplanned")))?;
            let n = (room as usize).min(len - done);
            self.out.write_at(&data[done..done + n], host)?;
            if !self.fixed {
                self.plan.mark(pos, n as u64);
            }
            done += n;
        }
        Ok(())
    }

    fn record(&mut self, offset: u64, host: u64, data: &[u8]) -> Result<(), DiskError> {
        if data.is_empty() {
            return Ok(());
        }
        let expected = self.host(offset).map(|(h, _)| h);
        if expected != Some(host) {
            return Err(self.mismatch(format!(
                "data at guest offset {offset} written at {host}, planned at {expected:?}"
            )));
        }
        if !self.fixed && self.plan.mark(offset, data.len() as u64).is_none() {
            return Err(self.mismatch(format!("data at guest offset {offset} in no planned block")));
        }
        self.out.record(data, host);
        Ok(())
    }

    fn write_zeroes(&mut self, _offset: u64, _len: u64) -> Result<(), DiskError> {
        // Zero granules stay holes; blocks that receive no data are given back at the end.
        Ok(())
    }

    fn finish(mut self: Box<Self>) -> Result<Finished, DiskError> {
        if !self.planned {
            return Err(
                DiskError::invalid_request("vhdx target finished before planning")
                    .with_path(self.out.path()),
            );
        }
        if self.fixed {
            let end = self.end(0);
            return finish_at(self.out, end);
        }
        let (finals, moves) = self.plan.compact();
        if finals.len() as u64 != self.plan.len() {
            let g = self.g;
            for &(from, to) in &moves {
                move_block(&mut *self.out, g.slot(from), g.slot(to), g.block_size)?;
            }
            self.write_bat(|b| {
                finals
                    .binary_search_by_key(&b, |&(block, _)| block)
                    .ok()
                    .map(|i| g.slot(finals[i].1))
            })?;
        }
        let end = self.end(finals.len() as u64);
        finish_at(self.out, end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn geometry_is_qemus() {
        // qemu-img create -f vhdx 20M: 8 MiB blocks, BAT at 2 MiB, metadata at 3 MiB,
        // payload at 8 MiB.
        let g = Geometry::new(&VhdxCreateOptions::new(20 << 20)).unwrap();
        assert_eq!((g.block_size, g.blocks, g.bat_entries), (8 << 20, 3, 3));
        assert_eq!(
            (g.bat_offset, g.bat_len, g.metadata_offset, g.payload_offset),
            (2 << 20, 1 << 20, 3 << 20, 8 << 20)
        );
        // log_size=4M,block_size=1M 5G: the BAT at 5 MiB, a sector bitmap entry at 4096.
        let g = Geometry::new(&VhdxCreateOptions {
            log_size: 4 << 20,
            block_size: Some(1 << 20),
            ..VhdxCreateOptions::new(5 << 30)
        })
        .unwrap();
        assert_eq!(
            (g.bat_offset, g.chunk_ratio, g.bat_entries),
            (5 << 20, 4096, 5121)
        );
        assert_eq!(g.payload_block(4095), Some(4095));
        assert_eq!(g.payload_block(4096), None);
        assert_eq!(g.payload_block(4097), Some(4096));
        // Sizes round up to 512; block sizes by size as qemu picks them.
        assert_eq!(
            Geometry::new(&VhdxCreateOptions::new(1000)).unwrap().size,
            1024
        );
        for (size, bs) in [
            (1 << 30, 8),
            ((1 << 30) + 512, 16),
            (101 << 30, 32),
            (33 << 40, 64),
        ] {
            assert_eq!(default_block_size(size), bs << 20, "{size}");
        }
    }

    #[test]
    fn bad_options_are_refused_by_name() {
        let bad = |o: VhdxCreateOptions| Geometry::new(&o).unwrap_err();
        let size = 1 << 30;
        assert!(matches!(
            bad(VhdxCreateOptions {
                block_size: Some(3 << 20),
                ..VhdxCreateOptions::new(size)
            }),
            VhdxError::CreateOption {
                option: "block_size",
                ..
            }
        ));
        assert!(matches!(
            bad(VhdxCreateOptions {
                block_size: Some(512 << 20),
                ..VhdxCreateOptions::new(size)
            }),
            VhdxError::CreateOption { .. }
        ));
        assert!(matches!(
            bad(VhdxCreateOptions {
                log_size: 1000,
                ..VhdxCreateOptions::new(size)
            }),
            VhdxError::CreateOption {
                option: "log_size",
                ..
            }
        ));
        assert!(matches!(
            bad(VhdxCreateOptions::new((64 << 40) + 1)),
            VhdxError::CreateTooLarge { .. }
        ));
        // 64 TiB in 1 MiB blocks: a 512 MiB BAT, more than the reader takes.
        assert!(matches!(
            bad(VhdxCreateOptions {
                block_size: Some(1 << 20),
                ..VhdxCreateOptions::new(64 << 40)
            }),
            VhdxError::CreateBatTooLarge { .. }
        ));
    }
}
