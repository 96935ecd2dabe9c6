//! [`VmdkTarget`]: the convert engine's VMDK destination, writing what `qemu-img convert -O
//! vmdk` writes: monolithicSparse (the default) or streamOptimized; the sparse extents of a
//! twoGbMaxExtentSparse disk too (the multi-file subformats are in [`split`](super::split)).
//!
//! **Layout (both subformats, as qemu's `vmdk_init_extent`).** Sector 0 the header, sectors
//! 1–20 the embedded descriptor, then the redundant grain directory and its grain tables, the
//! grain directory and its grain tables (every table pre-allocated; tables with no data stay
//! holes), padded to a grain: the metadata overhead. 64 KiB grains (128 sectors), 512 entries
//! per grain table.
//!
//! **monolithicSparse.** The data grains are packed in guest order after the overhead, so the
//! whole layout is fixed in [`ConvertTarget::plan`] from the source's block status: the grain
//! tables are written there, and the engine writes the grains itself in parallel through a
//! [`Placement`] ([`Layout::Packed`]). A planned grain that turns out to be all zeros is not
//! written: its grain table entries (both copies) are set back to 0 when the conversion
//! finishes, and its place stays a hole.
//!
//! **streamOptimized.** Header version 3, compressed and marker flags, `compressAlgorithm` 1.
//! Each grain is deflated (zlib format, [`Compression::Deflate`], in parallel by the engine)
//! and appended after the overhead as qemu writes it: a 12-byte marker (guest sector, compressed
//! size), the data, zero padding to a sector. Grain tables are written in place as each fills;
//! the file ends with an end-of-stream marker (a zero sector). Like qemu, the header holds the
//! grain directory's offset (no footer, no table markers), which VMware and VirtualBox read.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};

use crate::compress::{ClusterCompressor, Compression};
use crate::convert::output::Output;
use crate::convert::{ConvertTarget, Finished, Layout, Placement, SourceMap, finish_at};
use crate::error::{DiskError, ErrorKind};
use crate::vmdk::descriptor::render;
use crate::vmdk::header::{
    CHECK_BYTES, COMPRESSION_DEFLATE, DEFAULT_GRAIN_SECTORS, FLAG_COMPRESSED, FLAG_MARKERS,
    FLAG_NL_DETECT, FLAG_RGD, GRAIN_MARKER_LEN, GTES_PER_GT, SECTOR, SparseHeader,
};

/// Sectors reserved for the embedded descriptor (qemu's 20).
pub const DESCRIPTOR_SECTORS: u64 = 20;
/// Grain size written: 64 KiB.
pub const GRAIN: u64 = DEFAULT_GRAIN_SECTORS * SECTOR;
/// Grain table entries hold 32-bit sector numbers: no grain may start past this sector.
pub const MAX_SECTOR: u64 = u32::MAX as u64;

/// Which VMDK variant to write (qemu-img's `-o subformat=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Subformat {
    /// One sparse file with uncompressed grains (qemu's default).
    #[default]
    MonolithicSparse,
    /// One sparse file with deflated grains and markers.
    StreamOptimized,
    /// A descriptor file and one flat extent (`NAME-flat.vmdk`) holding the guest bytes.
    MonolithicFlat,
    /// A descriptor file and sparse extents of 2 GiB each (`NAME-s001.vmdk`, ...).
    TwoGbMaxExtentSparse,
    /// A descriptor file and flat extents of 2 GiB each (`NAME-f001.vmdk`, ...).
    TwoGbMaxExtentFlat,
}

impl Subformat {
    /// The `createType` / qemu-img option name.
    pub fn name(self) -> &'static str {
        match self {
            Subformat::MonolithicSparse => "monolithicSparse",
            Subformat::StreamOptimized => "streamOptimized",
            Subformat::MonolithicFlat => "monolithicFlat",
            Subformat::TwoGbMaxExtentSparse => "twoGbMaxExtentSparse",
            Subformat::TwoGbMaxExtentFlat => "twoGbMaxExtentFlat",
        }
    }

    /// Whether the image is a descriptor file with extent files beside it (written by
    /// [`VmdkSplitTarget`](super::split::VmdkSplitTarget)).
    pub fn is_multi_file(self) -> bool {
        !matches!(
            self,
            Subformat::MonolithicSparse | Subformat::StreamOptimized
        )
    }
}

/// The virtual disk adapter recorded in the descriptor (qemu-img's `-o adapter_type=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum AdapterType {
    /// `ide` (qemu's default): 16 heads in the geometry.
    #[default]
    Ide,
    /// `buslogic`: 255 heads.
    Buslogic,
    /// `lsilogic`: 255 heads.
    Lsilogic,
    /// `legacyESX`: 255 heads.
    LegacyEsx,
}

impl AdapterType {
    /// The name written in the descriptor.
    pub fn name(self) -> &'static str {
        match self {
            AdapterType::Ide => "ide",
            AdapterType::Buslogic => "buslogic",
            AdapterType::Lsilogic => "lsilogic",
            AdapterType::LegacyEsx => "legacyESX",
        }
    }
}

/// How to create a VMDK image (qemu-img's `-o` options).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VmdkCreateOptions {
    /// Virtual size in bytes (rounded up to a sector, as qemu-img does).
    pub size: u64,
    /// The variant.
    pub subformat: Subformat,
    /// The adapter type.
    pub adapter_type: AdapterType,
    /// `ddb.virtualHWVersion` (qemu's default "4").
    pub hw_version: String,
    /// The content ID; `None` picks a random one, as qemu does.
    pub cid: Option<u32>,
    /// Deflate level of streamOptimized grains, 0–9: 6 by default, qemu's (zlib's default).
    /// With flate2's zlib-rs backend, level 6 gives output within about 2% of qemu's zlib at 6
    /// (256 MiB of binaries: 94.5 MB against 92.3 MB; level 4: 96.2 MB, level 1: 120.5 MB)
    /// in less than half its CPU time, so we keep qemu's level.
    pub level: u32,
}

impl VmdkCreateOptions {
    /// qemu-img's defaults for an image of `size` bytes: monolithicSparse, ide, hardware
    /// version 4, random CID, deflate level 6.
    pub fn new(size: u64) -> Self {
        VmdkCreateOptions {
            size,
            subformat: Subformat::MonolithicSparse,
            adapter_type: AdapterType::Ide,
            hw_version: "4".to_owned(),
            cid: None,
            level: 6,
        }
    }
}

/// A VMDK image that cannot be written as asked.
#[derive(Debug, thiserror::Error)]
pub enum VmdkWriteError {
    /// A virtual size whose grains cannot all be addressed by 32-bit grain table entries.
    #[error("virtual size {size} is above the largest VMDK sparse extent ({max} bytes)")]
    TooLarge {
        /// The size asked for.
        size: u64,
        /// The largest size.
        max: u64,
    },
    /// A descriptor that does not fit its 20 sectors.
    #[error("descriptor of {len} bytes does not fit in {max} bytes")]
    DescriptorTooLong {
        /// Its length.
        len: usize,
        /// The room.
        max: u64,
    },
    /// A deflate level above 9.
    #[error("deflate level {level} is out of range 0 to 9")]
    Level {
        /// The level.
        level: u32,
    },
    /// The compressed grains grew past what 32-bit grain table entries address.
    #[error("compressed data grows past sector {max}")]
    FileTooLarge {
        /// The limit.
        max: u64,
    },
    /// Writes that do not match the plan.
    #[error("writes did not match the planned layout: {detail}")]
    PlanMismatch {
        /// What differed.
        detail: String,
    },
    /// A subformat whose extents are files of their own, asked of the single-file writer, or
    /// extent outputs that do not match the files the subformat writes.
    #[error("{subformat} needs {needed} extent outputs beside its descriptor, {given} given")]
    Extents {
        /// The subformat.
        subformat: &'static str,
        /// Extent files it writes.
        needed: usize,
        /// Outputs given.
        given: usize,
    },
    /// A multi-file disk of no bytes: qemu-img writes a descriptor naming no extent, which
    /// neither qemu nor strata opens.
    #[error("a {subformat} disk needs at least one byte")]
    EmptyMultiFile {
        /// The subformat.
        subformat: &'static str,
    },
    /// A disk that needs more extent files than a descriptor names (its size over 2 GiB).
    #[error("a {subformat} disk of {size} bytes needs more than {max} extents")]
    TooManyExtents {
        /// The subformat.
        subformat: &'static str,
        /// The virtual size.
        size: u64,
        /// The limit.
        max: usize,
    },
}

impl VmdkWriteError {
    /// The stable category of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            VmdkWriteError::PlanMismatch { .. } => ErrorKind::IntegrityMismatch,
            _ => ErrorKind::InvalidRequest,
        }
    }
}

/// Where the metadata goes (sectors), as qemu lays it out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Geometry {
    /// Capacity in sectors.
    pub capacity: u64,
    /// Grain tables.
    pub gt_count: u64,
    /// Sectors of one grain directory.
    pub gd_sectors: u64,
    /// Redundant grain directory.
    pub rgd: u64,
    /// Grain directory.
    pub gd: u64,
    /// First grain.
    pub overhead: u64,
}

/// Sectors of one grain table.
const GT_SECTORS: u64 = GTES_PER_GT as u64 * 4 / SECTOR;

impl Geometry {
    /// The layout of a disk of `capacity` sectors.
    pub fn new(capacity: u64) -> Geometry {
        let grains = capacity.div_ceil(DEFAULT_GRAIN_SECTORS);
        let gt_count = grains.div_ceil(u64::from(GTES_PER_GT));
        let gd_sectors = (gt_count * 4).div_ceil(SECTOR);
        let rgd = 1 + DESCRIPTOR_SECTORS;
        let gd = rgd + gd_sectors + GT_SECTORS * gt_count;
        let overhead =
            (gd + gd_sectors + GT_SECTORS * gt_count).next_multiple_of(DEFAULT_GRAIN_SECTORS);
        Geometry {
            capacity,
            gt_count,
            gd_sectors,
            rgd,
            gd,
            overhead,
        }
    }

    /// Byte offsets of grain table `i`: (primary, redundant).
    fn gt_at(&self, i: u64) -> (u64, u64) {
        (
            (self.gd + self.gd_sectors + GT_SECTORS * i) * SECTOR,
            (self.rgd + self.gd_sectors + GT_SECTORS * i) * SECTOR,
        )
    }

    fn header(&self, stream: bool) -> SparseHeader {
        SparseHeader {
            version: if stream { 3 } else { 1 },
            flags: FLAG_RGD
                | FLAG_NL_DETECT
                | if stream {
                    FLAG_COMPRESSED | FLAG_MARKERS
                } else {
                    0
                },
            capacity: self.capacity,
            grain_sectors: DEFAULT_GRAIN_SECTORS,
            descriptor_offset: 1,
            descriptor_sectors: DESCRIPTOR_SECTORS,
            gtes_per_gt: GTES_PER_GT,
            rgd_offset: self.rgd,
            gd_offset: self.gd,
            overhead: self.overhead,
            unclean_shutdown: 0,
            check_bytes: CHECK_BYTES,
            compress_algorithm: if stream { COMPRESSION_DEFLATE } else { 0 },
        }
    }
}

/// The grain table being filled: its index and entries.
#[derive(Debug)]
struct OpenTable {
    index: u64,
    entries: Vec<u32>,
}

#[derive(Debug)]
enum Mode {
    Sparse {
        /// Planned data bytes accounted for so far.
        next: u64,
        /// Planned data bytes.
        planned: u64,
        /// Guest offsets of planned grains that turned out to be zeros.
        zero_grains: Vec<u64>,
        was_planned: bool,
    },
    Stream {
        /// Next free byte.
        pos: u64,
        level: u32,
        compressor: Option<ClusterCompressor>,
    },
}

/// The convert engine's VMDK destination.
#[derive(Debug)]
pub struct VmdkTarget<'o> {
    out: &'o mut dyn Output,
    size: u64,
    /// The guest offset of this file's first byte (a twoGbMaxExtentSparse extent's).
    base: u64,
    g: Geometry,
    table: Option<OpenTable>,
    mode: Mode,
}

pub(crate) fn random_cid() -> u32 {
    let mut h = RandomState::new().build_hasher();
    h.write_u64(std::process::id().into());
    h.finish() as u32
}

impl<'o> VmdkTarget<'o> {
    /// Starts writing a VMDK image into `out`: header, descriptor and grain directories are
    /// written at once.
    pub fn create(out: &'o mut dyn Output, options: &VmdkCreateOptions) -> Result<Self, DiskError> {
        if options.subformat.is_multi_file() {
            let files = options
                .extent_files("x.vmdk")
                .map_or(0, |files| files.len());
            return Err(DiskError::from(VmdkWriteError::Extents {
                subformat: options.subformat.name(),
                needed: files,
                given: 0,
            })
            .with_path(out.path()));
        }
        Self::new(out, options, 0, true)
    }

    /// A sparse extent of a twoGbMaxExtentSparse disk: `options.size` bytes from guest offset
    /// `base`, laid out as monolithicSparse with the descriptor area left empty (qemu's).
    pub(crate) fn extent(
        out: &'o mut dyn Output,
        options: &VmdkCreateOptions,
        base: u64,
    ) -> Result<Self, DiskError> {
        Self::new(out, options, base, false)
    }

    fn new(
        out: &'o mut dyn Output,
        options: &VmdkCreateOptions,
        base: u64,
        embedded_descriptor: bool,
    ) -> Result<Self, DiskError> {
        let path = out.path().to_path_buf();
        let path = path.as_path();
        let err = |e: VmdkWriteError| DiskError::from(e).with_path(path);
        let size = options.size.next_multiple_of(SECTOR);
        let g = Geometry::new(size / SECTOR);
        let data_end = g.overhead + g.capacity.next_multiple_of(DEFAULT_GRAIN_SECTORS);
        if data_end > MAX_SECTOR {
            // The largest size whose grains all fit below sector 2^32.
            return Err(err(VmdkWriteError::TooLarge {
                size: options.size,
                max: (MAX_SECTOR - Geometry::new(MAX_SECTOR).overhead) / DEFAULT_GRAIN_SECTORS
                    * GRAIN,
            }));
        }
        if options.level > 9 {
            return Err(err(VmdkWriteError::Level {
                level: options.level,
            }));
        }
        let stream = options.subformat == Subformat::StreamOptimized;
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let desc = render(
            options.cid.unwrap_or_else(random_cid),
            options.subformat.name(),
            g.capacity,
            &name,
            &options.hw_version,
            options.adapter_type.name(),
        );
        if desc.len() as u64 > DESCRIPTOR_SECTORS * SECTOR {
            return Err(err(VmdkWriteError::DescriptorTooLong {
                len: desc.len(),
                max: DESCRIPTOR_SECTORS * SECTOR,
            }));
        }
        out.write_at(&g.header(stream).to_bytes(), 0)?;
        if embedded_descriptor {
            out.write_at(desc.as_bytes(), SECTOR)?;
        }
        // Both grain directories point at their pre-allocated grain tables.
        for (dir, tables) in [(g.rgd, g.rgd + g.gd_sectors), (g.gd, g.gd + g.gd_sectors)] {
            let mut gd = vec![0u8; (g.gd_sectors * SECTOR) as usize];
            for i in 0..g.gt_count {
                let entry = (tables + GT_SECTORS * i) as u32;
                gd[i as usize * 4..i as usize * 4 + 4].copy_from_slice(&entry.to_le_bytes());
            }
            out.write_at(&gd, dir * SECTOR)?;
        }
        let mode = if stream {
            Mode::Stream {
                pos: g.overhead * SECTOR,
                level: options.level,
                compressor: None,
            }
        } else {
            Mode::Sparse {
                next: 0,
                planned: 0,
                zero_grains: Vec::new(),
                was_planned: false,
            }
        };
        Ok(VmdkTarget {
            out,
            size,
            base,
            g,
            table: None,
            mode,
        })
    }

    fn err(&self, e: VmdkWriteError) -> DiskError {
        DiskError::from(e).with_path(self.out.path())
    }

    /// Sets the grain table entry of the grain at guest `offset` to `sector`, writing out the
    /// table being filled when `offset` belongs to another.
    fn set_entry(&mut self, offset: u64, sector: u64) -> Result<(), DiskError> {
        let grain = offset / GRAIN;
        let index = grain / u64::from(GTES_PER_GT);
        if self.table.as_ref().is_some_and(|t| t.index != index) {
            self.flush_table()?;
        }
        let t = self.table.get_or_insert_with(|| OpenTable {
            index,
            entries: vec![0; GTES_PER_GT as usize],
        });
        t.entries[(grain % u64::from(GTES_PER_GT)) as usize] = sector as u32;
        Ok(())
    }

    /// Writes the table being filled to both its places.
    fn flush_table(&mut self) -> Result<(), DiskError> {
        if let Some(t) = self.table.take() {
            let bytes: Vec<u8> = t.entries.iter().flat_map(|e| e.to_le_bytes()).collect();
            let (primary, redundant) = self.g.gt_at(t.index);
            self.out.write_at(&bytes, redundant)?;
            self.out.write_at(&bytes, primary)?;
        }
        Ok(())
    }

    /// Appends one compressed grain (marker, data, padding) and records it.
    fn append_grain(&mut self, offset: u64, compressed: &[u8]) -> Result<(), DiskError> {
        let Mode::Stream { pos, .. } = &mut self.mode else {
            return Err(DiskError::invalid_request(
                "compressed write to a monolithicSparse VMDK",
            ));
        };
        let at = *pos;
        let len = (GRAIN_MARKER_LEN + compressed.len() as u64).next_multiple_of(SECTOR);
        let mut buf = Vec::with_capacity(len as usize);
        buf.extend_from_slice(&(offset / SECTOR).to_le_bytes());
        buf.extend_from_slice(&(compressed.len() as u32).to_le_bytes());
        buf.extend_from_slice(compressed);
        buf.resize(len as usize, 0);
        *pos += len;
        if *pos / SECTOR > MAX_SECTOR {
            return Err(self.err(VmdkWriteError::FileTooLarge { max: MAX_SECTOR }));
        }
        self.out.write_at(&buf, at)?;
        self.set_entry(offset, at / SECTOR)
    }

    /// Accounts for `len` planned data bytes; returns their file offset.
    fn advance(&mut self, len: u64) -> Result<u64, DiskError> {
        let base = self.g.overhead * SECTOR;
        let Mode::Sparse { next, planned, .. } = &mut self.mode else {
            return Err(DiskError::invalid_request(
                "planned write to a streamOptimized VMDK",
            ));
        };
        let host = base + *next;
        *next += len;
        if *next > *planned {
            let detail = format!("data past the {planned} planned bytes");
            return Err(self.err(VmdkWriteError::PlanMismatch { detail }));
        }
        Ok(host)
    }

    /// Clears the grain table entries (both copies) of planned grains that were zeros.
    fn unmap_zero_grains(&mut self, grains: &[u64]) -> Result<(), DiskError> {
        let per = u64::from(GTES_PER_GT);
        let mut i = 0;
        while i < grains.len() {
            let index = grains[i] / GRAIN / per;
            let (primary, redundant) = self.g.gt_at(index);
            let mut table = vec![0u8; (GT_SECTORS * SECTOR) as usize];
            crate::io::ReadAt::read_exact_at(self.out.file(), &mut table, primary)
                .map_err(|e| DiskError::io(format!("read back grain table at {primary}"), e))?;
            while i < grains.len() && grains[i] / GRAIN / per == index {
                let e = ((grains[i] / GRAIN) % per) as usize * 4;
                table[e..e + 4].fill(0);
                i += 1;
            }
            self.out.write_at(&table, redundant)?;
            self.out.write_at(&table, primary)?;
        }
        Ok(())
    }
}

impl ConvertTarget for VmdkTarget<'_> {
    fn format_name(&self) -> &'static str {
        "vmdk"
    }

    fn virtual_size(&self) -> u64 {
        self.size
    }

    fn granularity(&self) -> u64 {
        GRAIN
    }

    fn compression(&self) -> Option<Compression> {
        match self.mode {
            Mode::Stream { level, .. } => Some(Compression::Deflate { level }),
            Mode::Sparse { .. } => None,
        }
    }

    fn plan(&mut self, map: &SourceMap<'_>) -> Result<(), DiskError> {
        if !matches!(self.mode, Mode::Sparse { .. }) {
            return Ok(());
        }
        // The grain tables are filled in last, before the data.
        self.out.expect_rewrites();
        let base = self.g.overhead;
        let mut n = 0u64;
        for range in map.ranges(self.base, self.base + self.size) {
            let (start, end) = range?;
            let (start, end) = (
                start - self.base,
                end.min(self.base + self.size) - self.base,
            );
            for grain in start / GRAIN..end.div_ceil(GRAIN) {
                self.set_entry(grain * GRAIN, base + n * DEFAULT_GRAIN_SECTORS)?;
                n += 1;
            }
        }
        self.flush_table()?;
        if let Mode::Sparse {
            planned,
            was_planned,
            ..
        } = &mut self.mode
        {
            *planned = n * GRAIN;
            *was_planned = true;
        }
        Ok(())
    }

    fn placement(&mut self) -> Result<Option<Placement>, DiskError> {
        match self.mode {
            Mode::Sparse { planned, .. } => {
                let base = self.g.overhead * SECTOR;
                Ok(Some(Placement {
                    file: self.out.handle()?,
                    path: self.out.path().to_path_buf(),
                    layout: Layout::Packed { base },
                    end: base + planned,
                }))
            }
            Mode::Stream { .. } => Ok(None),
        }
    }

    fn record(&mut self, _offset: u64, host: u64, data: &[u8]) -> Result<(), DiskError> {
        let expected = self.advance(data.len() as u64)?;
        if host != expected {
            let detail = format!("data written at {host}, planned at {expected}");
            return Err(self.err(VmdkWriteError::PlanMismatch { detail }));
        }
        self.out.record(data, host);
        Ok(())
    }

    fn write(&mut self, offset: u64, data: &[u8]) -> Result<(), DiskError> {
        match &mut self.mode {
            Mode::Sparse { .. } => {
                let host = self.advance(data.len() as u64)?;
                self.out.write_at(data, host)
            }
            Mode::Stream {
                level, compressor, ..
            } => {
                // Not reached through the engine (every grain comes compressed): compress here.
                let mut c = match compressor.take() {
                    Some(c) => c,
                    None => Compression::Deflate { level: *level }
                        .compressor()
                        .map_err(crate::convert::ConvertError::from)?,
                };
                let mut bytes = Vec::new();
                let mut result = Ok(());
                for (i, grain) in data.chunks(GRAIN as usize).enumerate() {
                    result = c
                        .compress(grain, &mut bytes)
                        .map_err(|e| DiskError::from(crate::convert::ConvertError::from(e)))
                        .and_then(|_| self.append_grain(offset + i as u64 * GRAIN, &bytes));
                    if result.is_err() {
                        break;
                    }
                }
                if let Mode::Stream { compressor, .. } = &mut self.mode {
                    *compressor = Some(c);
                }
                result
            }
        }
    }

    fn write_compressed(&mut self, offset: u64, compressed: &[u8]) -> Result<(), DiskError> {
        self.append_grain(offset, compressed)
    }

    fn write_zeroes(&mut self, offset: u64, len: u64) -> Result<(), DiskError> {
        let offset = offset - self.base;
        match &mut self.mode {
            Mode::Sparse { zero_grains, .. } => {
                zero_grains.extend((0..len.div_ceil(GRAIN)).map(|i| offset + i * GRAIN));
                self.advance(len).map(|_| ())
            }
            // Never written: the entry stays 0, unallocated, reads as zeros.
            Mode::Stream { .. } => Ok(()),
        }
    }

    fn finish(mut self: Box<Self>) -> Result<Finished, DiskError> {
        self.flush_table()?;
        let len = match std::mem::replace(
            &mut self.mode,
            Mode::Stream {
                pos: 0,
                level: 0,
                compressor: None,
            },
        ) {
            Mode::Sparse {
                next,
                planned,
                zero_grains,
                was_planned,
            } => {
                if !was_planned || next != planned {
                    let detail = format!("{next} of {planned} planned bytes written");
                    return Err(self.err(VmdkWriteError::PlanMismatch { detail }));
                }
                self.unmap_zero_grains(&zero_grains)?;
                self.g.overhead * SECTOR + planned
            }
            // The end-of-stream marker is a zero sector: the file's tail.
            Mode::Stream { pos, .. } => pos + SECTOR,
        };
        finish_at(self.out, len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn geometry_matches_qemu() {
        // qemu-img convert -O vmdk of a 3 MiB disk: rgd 21, gd 26, overhead 128.
        let g = Geometry::new(6144);
        assert_eq!((g.rgd, g.gd, g.overhead, g.gt_count), (21, 26, 128, 1));
        assert_eq!(g.gt_at(0), (27 * 512, 22 * 512));
        // 4 GiB: 128 tables, 1 GD sector each.
        let g = Geometry::new(8 << 20);
        assert_eq!(g.gt_count, 128);
        assert_eq!(g.gd_sectors, 1);
        assert_eq!(g.gd, 21 + 1 + 512);
    }
}
