//! [`VmdkImage`]: a VMDK disk opened for reading, as qemu reads it: one sparse file
//! (monolithicSparse, streamOptimized), or a text descriptor naming flat, sparse and zero
//! extents laid end to end (monolithicFlat, twoGbMaxExtentSparse, twoGbMaxExtentFlat).
//!
//! A sparse extent maps a guest grain through the grain directory (kept in memory, at most
//! qemu's 32 Mi entries and never more than the file holds) to a grain table (read on demand,
//! [`GT_CACHE`] tables cached) to the grain's sector. Entry 0 is unallocated (reads as zeros:
//! we open no parents); entry 1 is a zeroed grain when the header's zeroed-grain flag is set.
//! Compressed grains start with a marker (guest sector, compressed size) and inflate into
//! at most one grain: a stream that would produce more is refused, so a hostile grain cannot
//! make us allocate or produce more than the grain size.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use strata_model::DiskFormat;
use strata_model::text::quote;

use crate::error::DiskError;
use crate::image::{DiskImage, Extent, ExtentKind};
use crate::io::ReadAt;
use crate::vmdk::descriptor::{Descriptor, ExtentType, MAX_DESCRIPTOR_BYTES};
use crate::vmdk::error::VmdkError;
use crate::vmdk::header::{
    COWD_MAGIC, FLAG_MARKERS, FLAG_ZERO_GRAIN, FOOTER_LEN, GD_AT_END, GRAIN_MARKER_LEN, GTE_ZEROED,
    MAGIC, MARKER_EOS, MARKER_FOOTER, SECTOR, SparseHeader, parse_marker,
};

/// Grain tables kept in memory per sparse extent (qemu keeps 16).
pub const GT_CACHE: usize = 64;
/// Largest grain qemu accepts: 0x200000 sectors (1 GiB).
pub const MAX_GRAIN_SECTORS: u64 = 0x20_0000;
/// Largest grain of a compressed extent we read: 1 MiB (VMware and qemu write 64 KiB). A
/// compressed grain is inflated into a buffer of this size, so this bounds the memory a
/// hostile header can ask for.
pub const MAX_COMPRESSED_GRAIN_SECTORS: u64 = 2048;
/// Most grain directory entries qemu accepts (32 Mi, "L1 size too big").
pub const MAX_GD_ENTRIES: u64 = 32 << 20;
/// Grains a single `map` call looks at before answering with a shorter extent, so that one
/// call stays cheap whatever `max_len` is.
const MAX_MAP_GRAINS: u64 = 1 << 16;

type Src = Arc<dyn ReadAt>;

/// One sparse (`KDMV`) extent.
struct Sparse {
    src: Src,
    file_len: u64,
    grain: u64,
    gtes: u64,
    gd: Vec<u32>,
    compressed: bool,
    markers: bool,
    zero_grain: bool,
    cache: Mutex<Vec<(u32, Arc<[u32]>)>>,
}

/// What a grain table entry says.
enum Grain {
    Unallocated,
    Zero,
    /// At this byte offset in the extent file.
    At(u64),
}

enum Body {
    Zero,
    Flat { src: Src, base: u64 },
    Sparse(Box<Sparse>),
}

struct Slot {
    start: u64,
    len: u64,
    body: Body,
}

/// A VMDK image opened for reading.
pub struct VmdkImage {
    path: Option<PathBuf>,
    create_type: String,
    cid: Option<u32>,
    size: u64,
    slots: Vec<Slot>,
}

impl std::fmt::Debug for VmdkImage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VmdkImage")
            .field("path", &self.path)
            .field("create_type", &self.create_type)
            .field("size", &self.size)
            .field("extents", &self.slots.len())
            .finish()
    }
}

fn read(src: &dyn ReadAt, buf: &mut [u8], offset: u64) -> Result<(), DiskError> {
    src.read_exact_at(buf, offset)
        .map_err(|e| DiskError::io(format!("read {} bytes at offset {offset}", buf.len()), e))
}

fn past_end(what: &'static str, offset: u64, len: u64, file_len: u64) -> VmdkError {
    VmdkError::PastEnd {
        what,
        offset,
        len,
        file_len,
    }
}

/// `offset + len <= file_len`, or the error for `what`.
fn fits(what: &'static str, offset: u64, len: u64, file_len: u64) -> Result<(), VmdkError> {
    match offset.checked_add(len) {
        Some(end) if end <= file_len => Ok(()),
        _ => Err(past_end(what, offset, len, file_len)),
    }
}

fn sectors_to_bytes(sectors: u64, what: &'static str, file_len: u64) -> Result<u64, VmdkError> {
    sectors
        .checked_mul(SECTOR)
        .ok_or_else(|| past_end(what, u64::MAX, 0, file_len))
}

impl Sparse {
    /// Opens a sparse extent; returns it with its capacity in bytes and its embedded
    /// descriptor, if any.
    fn open(src: Src) -> Result<(Sparse, u64, Option<Descriptor>), DiskError> {
        let file_len = src
            .size()
            .map_err(|e| DiskError::io("read the file length", e))?;
        fits("header", 0, SECTOR, file_len)?;
        let mut b = [0u8; 512];
        read(&*src, &mut b, 0)?;
        let magic = [b[0], b[1], b[2], b[3]];
        if &magic == COWD_MAGIC {
            return Err(VmdkError::Unsupported {
                feature: "COWD sparse extents (VMware 3 / ESX vmfsSparse)".into(),
            }
            .into());
        }
        if &magic != MAGIC {
            return Err(VmdkError::BadMagic { magic }.into());
        }
        let mut h = SparseHeader::from_bytes(&b);
        if h.capacity == 0 && h.descriptor_offset != 0 {
            return Err(VmdkError::Unsupported {
                feature: "a sparse header that carries only a descriptor (capacity 0)".into(),
            }
            .into());
        }
        if h.gd_offset == GD_AT_END {
            h = read_footer(&*src, file_len)?;
        }
        if h.version > 3 {
            return Err(VmdkError::Version { version: h.version }.into());
        }
        if !(1..=512).contains(&h.gtes_per_gt) {
            return Err(VmdkError::GtesPerGt {
                gtes: h.gtes_per_gt,
            }
            .into());
        }
        let compressed = h.compressed();
        let max_grain = if compressed {
            MAX_COMPRESSED_GRAIN_SECTORS
        } else {
            MAX_GRAIN_SECTORS
        };
        if !(1..=max_grain).contains(&h.grain_sectors) {
            return Err(VmdkError::GrainSize {
                sectors: h.grain_sectors,
                max: max_grain,
            }
            .into());
        }
        let gt_span = u64::from(h.gtes_per_gt) * h.grain_sectors;
        let gd_entries = h.capacity.div_ceil(gt_span);
        let capacity = h.capacity.checked_mul(SECTOR);
        let Some(capacity) = capacity.filter(|_| gd_entries <= MAX_GD_ENTRIES) else {
            return Err(VmdkError::Capacity {
                sectors: h.capacity,
                gd_entries,
                max: MAX_GD_ENTRIES,
            }
            .into());
        };
        let overhead = sectors_to_bytes(h.overhead, "overhead", file_len)?;
        fits("metadata overhead", 0, overhead, file_len)?;
        let gd_off = sectors_to_bytes(h.gd_offset, "grain directory", file_len)?;
        fits("grain directory", gd_off, gd_entries * 4, file_len)?;
        let mut raw = Vec::new();
        raw.try_reserve_exact(gd_entries as usize * 4)
            .map_err(|_| past_end("grain directory", gd_off, gd_entries * 4, file_len))?;
        raw.resize(gd_entries as usize * 4, 0);
        read(&*src, &mut raw, gd_off)?;
        let gd: Vec<u32> = raw
            .chunks_exact(4)
            .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        let descriptor = if h.descriptor_offset != 0 && h.descriptor_sectors != 0 {
            let len = h.descriptor_sectors.saturating_mul(SECTOR);
            if len > MAX_DESCRIPTOR_BYTES {
                return Err(VmdkError::DescriptorTooLarge {
                    size: len,
                    max: MAX_DESCRIPTOR_BYTES,
                }
                .into());
            }
            let off = sectors_to_bytes(h.descriptor_offset, "descriptor", file_len)?;
            fits("descriptor", off, len, file_len)?;
            let mut text = vec![0u8; len as usize];
            read(&*src, &mut text, off)?;
            Some(Descriptor::parse(&text)?)
        } else {
            None
        };
        let sparse = Sparse {
            src,
            file_len,
            grain: h.grain_sectors * SECTOR,
            gtes: u64::from(h.gtes_per_gt),
            gd,
            compressed,
            markers: h.flags & FLAG_MARKERS != 0,
            zero_grain: h.flags & FLAG_ZERO_GRAIN != 0,
            cache: Mutex::new(Vec::new()),
        };
        Ok((sparse, capacity, descriptor))
    }

    /// The grain table of grain directory entry `gdi`, if allocated.
    fn table(&self, gdi: usize) -> Result<Option<Arc<[u32]>>, DiskError> {
        let Some(&entry) = self.gd.get(gdi) else {
            return Err(DiskError::invalid_request(format!(
                "grain directory index {gdi} past {}",
                self.gd.len()
            )));
        };
        if entry == 0 {
            return Ok(None);
        }
        {
            let cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some((_, t)) = cache.iter().find(|(e, _)| *e == entry) {
                return Ok(Some(t.clone()));
            }
        }
        let off = u64::from(entry) * SECTOR;
        let len = self.gtes * 4;
        fits("grain table", off, len, self.file_len)?;
        let mut raw = vec![0u8; len as usize];
        read(&*self.src, &mut raw, off)?;
        let table: Arc<[u32]> = raw
            .chunks_exact(4)
            .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        let mut cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        if cache.len() >= GT_CACHE {
            cache.remove(0);
        }
        cache.push((entry, table.clone()));
        Ok(Some(table))
    }

    fn grain(&self, offset: u64) -> Result<Grain, DiskError> {
        let g = offset / self.grain;
        let gdi = usize::try_from(g / self.gtes).unwrap_or(usize::MAX);
        let Some(table) = self.table(gdi)? else {
            return Ok(Grain::Unallocated);
        };
        let gte = table[(g % self.gtes) as usize];
        Ok(match gte {
            0 => Grain::Unallocated,
            GTE_ZEROED if self.zero_grain => Grain::Zero,
            s => Grain::At(u64::from(s) * SECTOR),
        })
    }

    /// Reads `buf` from one grain, at `in_grain` bytes into it, stored at `host`.
    fn read_grain(&self, buf: &mut [u8], host: u64, in_grain: u64) -> Result<(), DiskError> {
        if !self.compressed {
            let at = host
                .checked_add(in_grain)
                .ok_or_else(|| past_end("grain", host, self.grain, self.file_len))?;
            fits("grain", at, buf.len() as u64, self.file_len)?;
            return read(&*self.src, buf, at);
        }
        let (data_at, size) = if self.markers {
            fits("grain marker", host, GRAIN_MARKER_LEN, self.file_len)?;
            let mut m = [0u8; GRAIN_MARKER_LEN as usize];
            read(&*self.src, &mut m, host)?;
            let size = u64::from(u32::from_le_bytes([m[8], m[9], m[10], m[11]]));
            let max = 2 * self.grain - GRAIN_MARKER_LEN;
            if size == 0 || size > max {
                return Err(VmdkError::CompressedSize {
                    host_offset: host,
                    size,
                    max,
                }
                .into());
            }
            (host + GRAIN_MARKER_LEN, size)
        } else {
            // No marker: qemu hands one grain of bytes to inflate.
            (host, self.grain.min(self.file_len.saturating_sub(host)))
        };
        fits("compressed grain", data_at, size, self.file_len)?;
        let mut input = vec![0u8; size as usize];
        read(&*self.src, &mut input, data_at)?;
        let mut out = vec![0u8; self.grain as usize];
        let produced = inflate(&input, &mut out).map_err(|reason| VmdkError::Decompress {
            host_offset: host,
            reason,
        })?;
        let end = in_grain as usize + buf.len();
        if end > produced {
            return Err(VmdkError::Decompress {
                host_offset: host,
                reason: format!("inflates to {produced} bytes, {end} needed"),
            }
            .into());
        }
        buf.copy_from_slice(&out[in_grain as usize..end]);
        Ok(())
    }
}

/// Inflates a zlib stream into `out`, refusing one that does not end within it; returns the
/// bytes produced.
fn inflate(input: &[u8], out: &mut [u8]) -> Result<usize, String> {
    use flate2::{Decompress, FlushDecompress, Status};
    let mut d = Decompress::new(true);
    match d.decompress(input, out, FlushDecompress::Finish) {
        Ok(Status::StreamEnd) => Ok(d.total_out() as usize),
        Ok(_) if d.total_out() == out.len() as u64 => {
            Err("inflates to more than one grain".to_string())
        }
        Ok(_) => Err("truncated stream".to_string()),
        Err(e) => Err(e.to_string()),
    }
}

/// The header kept in the footer of a stream-optimized image whose header says `GD_AT_END`.
fn read_footer(src: &dyn ReadAt, file_len: u64) -> Result<SparseHeader, DiskError> {
    let at = file_len.checked_sub(FOOTER_LEN).ok_or(VmdkError::Footer {
        reason: "the file is shorter than a footer",
    })?;
    let mut b = [0u8; FOOTER_LEN as usize];
    read(src, &mut b, at)?;
    let mut sector = [0u8; 512];
    sector.copy_from_slice(&b[..512]);
    let (_, size, kind) = parse_marker(&sector);
    if size != 0 || kind != MARKER_FOOTER {
        return Err(VmdkError::Footer {
            reason: "no footer marker 1536 bytes before the end",
        }
        .into());
    }
    sector.copy_from_slice(&b[1024..]);
    let (val, size, kind) = parse_marker(&sector);
    if val != 0 || size != 0 || kind != MARKER_EOS {
        return Err(VmdkError::Footer {
            reason: "no end-of-stream marker in the last sector",
        }
        .into());
    }
    if &b[512..516] != MAGIC {
        return Err(VmdkError::Footer {
            reason: "the footer's header has no KDMV magic",
        }
        .into());
    }
    sector.copy_from_slice(&b[512..1024]);
    let h = SparseHeader::from_bytes(&sector);
    if h.gd_offset == GD_AT_END {
        return Err(VmdkError::Footer {
            reason: "the footer's header has no grain directory either",
        }
        .into());
    }
    Ok(h)
}

impl VmdkImage {
    /// Opens a single-file sparse image (monolithicSparse, streamOptimized) held in memory. A
    /// descriptor file is refused: its extents have no directory to be found in.
    pub fn from_bytes(bytes: Vec<u8>) -> Result<VmdkImage, DiskError> {
        Self::open(Box::new(bytes), None)
    }

    /// Opens an image from `src`. `path` is the file's path: a text descriptor's extents are
    /// opened relative to its directory, and must stay inside it; without a path a descriptor
    /// is refused ([`VmdkError::DescriptorInMemory`]).
    pub fn open(src: Box<dyn ReadAt>, path: Option<&Path>) -> Result<VmdkImage, DiskError> {
        let src: Src = Arc::from(src);
        let len = src
            .size()
            .map_err(|e| DiskError::io("read the file length", e))?;
        let mut head = [0u8; 4];
        if len >= 4 {
            read(&*src, &mut head, 0)?;
        }
        let image = if &head == MAGIC || &head == COWD_MAGIC {
            Self::open_sparse(src)?
        } else {
            Self::open_descriptor(&*src, len, path)?
        };
        Ok(VmdkImage {
            path: path.map(Path::to_path_buf),
            ..image
        })
    }

    fn open_sparse(src: Src) -> Result<VmdkImage, DiskError> {
        let (sparse, capacity, descriptor) = Sparse::open(src)?;
        let d = descriptor.unwrap_or_default();
        if let Some(link) = d.parent_link() {
            return Err(VmdkError::Unsupported {
                feature: format!("parent links ({})", quote(&link)),
            }
            .into());
        }
        let create_type = if sparse.compressed {
            "streamOptimized".to_owned()
        } else {
            "monolithicSparse".to_owned()
        };
        Ok(VmdkImage {
            path: None,
            create_type,
            cid: d.cid,
            size: capacity,
            slots: vec![Slot {
                start: 0,
                len: capacity,
                body: Body::Sparse(Box::new(sparse)),
            }],
        })
    }

    fn open_descriptor(
        src: &dyn ReadAt,
        len: u64,
        path: Option<&Path>,
    ) -> Result<VmdkImage, DiskError> {
        if len > MAX_DESCRIPTOR_BYTES {
            // Text has no NUL in its first sector; a damaged binary header does.
            let mut first = [0u8; 512];
            read(src, &mut first, 0)?;
            if first.contains(&0) {
                let magic = [first[0], first[1], first[2], first[3]];
                return Err(VmdkError::BadMagic { magic }.into());
            }
            return Err(VmdkError::DescriptorTooLarge {
                size: len,
                max: MAX_DESCRIPTOR_BYTES,
            }
            .into());
        }
        let mut text = vec![0u8; len as usize];
        read(src, &mut text, 0)?;
        let d = Descriptor::parse(&text)?;
        let Some(create_type) = d.create_type.clone() else {
            let mut magic = [0u8; 4];
            for (m, b) in magic.iter_mut().zip(&text) {
                *m = *b;
            }
            return Err(VmdkError::BadMagic { magic }.into());
        };
        let Some(path) = path else {
            return Err(VmdkError::DescriptorInMemory.into());
        };
        let with_extents = match create_type.as_str() {
            "monolithicFlat" => "monolithicFlat",
            "twoGbMaxExtentSparse" => "twoGbMaxExtentSparse",
            "twoGbMaxExtentFlat" => "twoGbMaxExtentFlat",
            other => {
                return Err(VmdkError::Unsupported {
                    feature: format!("createType \"{}\" in a descriptor file", quote(other)),
                }
                .into());
            }
        };
        if let Some(link) = d.parent_link() {
            return Err(VmdkError::Unsupported {
                feature: format!("parent links ({})", quote(&link)),
            }
            .into());
        }
        if d.extents.is_empty() {
            return Err(VmdkError::DescriptorIncomplete {
                what: "extent lines",
            }
            .into());
        }
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        let canon_dir = dir
            .canonicalize()
            .map_err(|e| DiskError::io("resolve the descriptor's directory", e).with_path(dir))?;
        let mut slots = Vec::with_capacity(d.extents.len());
        let mut start = 0u64;
        const MAX: u64 = u64::MAX / 2;
        for e in &d.extents {
            let (len, body) = match e.kind {
                ExtentType::Zero => (e.sectors.saturating_mul(SECTOR), Body::Zero),
                ExtentType::Flat => {
                    let (file, _) = open_extent(&canon_dir, &e.file, with_extents)?;
                    let base = e
                        .offset
                        .checked_mul(SECTOR)
                        .ok_or(VmdkError::SizeOverflow { max: MAX })?;
                    let src: Src = Arc::new(file);
                    (e.sectors.saturating_mul(SECTOR), Body::Flat { src, base })
                }
                ExtentType::Sparse => {
                    let (file, resolved) = open_extent(&canon_dir, &e.file, with_extents)?;
                    let (sparse, capacity, _) =
                        Sparse::open(Arc::new(file)).map_err(|err| err.with_path(&resolved))?;
                    // As qemu: a sparse extent's size is its header's capacity.
                    (capacity, Body::Sparse(Box::new(sparse)))
                }
            };
            if len == 0 {
                continue;
            }
            slots.push(Slot { start, len, body });
            start = start
                .checked_add(len)
                .filter(|s| *s <= MAX)
                .ok_or(VmdkError::SizeOverflow { max: MAX })?;
        }
        Ok(VmdkImage {
            path: None,
            create_type,
            cid: d.cid,
            size: start,
            slots,
        })
    }

    /// Attaches the path errors name (kept if already set).
    #[must_use]
    pub fn with_path(mut self, path: impl Into<PathBuf>) -> Self {
        if self.path.is_none() {
            self.path = Some(path.into());
        }
        self
    }

    /// The `createType` (for a single sparse file: `streamOptimized` when its grains are
    /// compressed, `monolithicSparse` otherwise, as qemu reports it).
    pub fn create_type(&self) -> &str {
        &self.create_type
    }

    /// The descriptor's content ID, if it has one.
    pub fn cid(&self) -> Option<u32> {
        self.cid
    }

    /// The number of extents.
    pub fn extent_count(&self) -> usize {
        self.slots.len()
    }

    fn err(&self, e: DiskError) -> DiskError {
        match &self.path {
            Some(p) => e.with_path(p),
            None => e,
        }
    }

    fn slot(&self, offset: u64) -> Result<&Slot, DiskError> {
        let i = self.slots.partition_point(|s| s.start + s.len <= offset);
        self.slots
            .get(i)
            .ok_or_else(|| DiskError::invalid_request(format!("offset {offset} has no extent")))
    }

    fn check_range(&self, offset: u64, len: u64) -> Result<(), DiskError> {
        crate::image::check_range(offset, len, self.size).map_err(|e| self.err(e))
    }

    fn read_inner(&self, buf: &mut [u8], offset: u64) -> Result<(), DiskError> {
        let mut done = 0usize;
        while done < buf.len() {
            let pos = offset + done as u64;
            let slot = self.slot(pos)?;
            let rel = pos - slot.start;
            let in_slot = (slot.len - rel).min((buf.len() - done) as u64) as usize;
            let out = &mut buf[done..done + in_slot];
            match &slot.body {
                Body::Zero => out.fill(0),
                Body::Flat { src, base } => {
                    let at = base.saturating_add(rel);
                    let file_len = src
                        .size()
                        .map_err(|e| DiskError::io("read the file length", e))?;
                    // Past the end of a flat file reads as zeros, as qemu reads it.
                    let avail = file_len.saturating_sub(at).min(out.len() as u64) as usize;
                    read(&**src, &mut out[..avail], at)?;
                    out[avail..].fill(0);
                }
                Body::Sparse(s) => {
                    let mut p = 0usize;
                    while p < out.len() {
                        let r = rel + p as u64;
                        let in_grain = r % s.grain;
                        let n = ((s.grain - in_grain) as usize).min(out.len() - p);
                        match s.grain(r)? {
                            Grain::Unallocated | Grain::Zero => out[p..p + n].fill(0),
                            Grain::At(host) => s.read_grain(&mut out[p..p + n], host, in_grain)?,
                        }
                        p += n;
                    }
                }
            }
            done += in_slot;
        }
        Ok(())
    }

    fn map_inner(&self, offset: u64, max_len: u64) -> Result<Extent, DiskError> {
        let slot = self.slot(offset)?;
        let rel = offset - slot.start;
        let limit = (slot.len - rel).min(max_len);
        let (kind, length) = match &slot.body {
            Body::Zero => (ExtentKind::Zero, limit),
            Body::Flat { src, base } => {
                let at = base.saturating_add(rel);
                match src
                    .next_data(at)
                    .map_err(|e| DiskError::io(format!("find data at {at}"), e))?
                {
                    None => (ExtentKind::Zero, limit),
                    Some((start, _)) if start > at => (ExtentKind::Zero, (start - at).min(limit)),
                    Some((_, end)) => (ExtentKind::Data, (end - at).min(limit)),
                }
            }
            Body::Sparse(s) => {
                let kind_of = |g: Grain| match g {
                    Grain::Unallocated => ExtentKind::Unallocated,
                    Grain::Zero => ExtentKind::Zero,
                    Grain::At(_) => ExtentKind::Data,
                };
                let span = s.grain * s.gtes;
                let mut pos = rel;
                let end = rel + limit;
                let mut kind = None;
                let mut steps = 0u64;
                while pos < end && steps < MAX_MAP_GRAINS {
                    steps += 1;
                    let gdi = usize::try_from(pos / span).unwrap_or(usize::MAX);
                    // A whole unallocated grain table at once.
                    let (k, next) = if s.gd.get(gdi) == Some(&0) {
                        (ExtentKind::Unallocated, (pos / span + 1) * span)
                    } else {
                        (kind_of(s.grain(pos)?), (pos / s.grain + 1) * s.grain)
                    };
                    match kind {
                        None => kind = Some(k),
                        Some(prev) if prev != k => break,
                        _ => {}
                    }
                    pos = next;
                }
                (kind.unwrap_or(ExtentKind::Unallocated), pos.min(end) - rel)
            }
        };
        Ok(Extent {
            offset,
            length: length.max(1).min(limit),
            kind,
        })
    }
}

/// Opens extent file `name` inside `dir` (canonical), named by a descriptor file of
/// `create_type`: absolute names and names that resolve outside it (`..`, symbolic links) are
/// refused; one that cannot be opened is [`VmdkError::DescriptorExtent`], which says that the
/// file given is a descriptor.
fn open_extent(
    dir: &Path,
    name: &str,
    create_type: &'static str,
) -> Result<(File, PathBuf), DiskError> {
    let outside = |resolved| VmdkError::ExtentOutside {
        name: name.to_owned(),
        resolved,
    };
    let missing = |source| VmdkError::DescriptorExtent {
        create_type,
        name: name.to_owned(),
        source,
    };
    if Path::new(name).is_absolute() {
        return Err(outside(None).into());
    }
    let joined = dir.join(name);
    let resolved = joined.canonicalize().map_err(missing)?;
    if !resolved.starts_with(dir) {
        return Err(outside(Some(resolved)).into());
    }
    // A FIFO or device would block or never end.
    let meta = std::fs::metadata(&resolved)
        .map_err(|e| DiskError::io("stat extent", e).with_path(&resolved))?;
    if !meta.is_file() {
        return Err(DiskError::from(VmdkError::Unsupported {
            feature: format!("extent {name:?} that is not a regular file"),
        })
        .with_path(&resolved));
    }
    let file = File::open(&resolved).map_err(missing)?;
    Ok((file, resolved))
}

impl DiskImage for VmdkImage {
    fn format(&self) -> DiskFormat {
        DiskFormat::Vmdk
    }

    fn virtual_size(&self) -> u64 {
        self.size
    }

    fn read_at(&self, buf: &mut [u8], offset: u64) -> Result<(), DiskError> {
        self.check_range(offset, buf.len() as u64)?;
        self.read_inner(buf, offset).map_err(|e| self.err(e))
    }

    fn map(&self, offset: u64, max_len: u64) -> Result<Extent, DiskError> {
        if offset >= self.size || max_len == 0 {
            return Err(DiskError::invalid_request(format!(
                "map at {offset} (+{max_len}) outside the virtual size {}",
                self.size
            )));
        }
        self.map_inner(offset, max_len).map_err(|e| self.err(e))
    }
}
