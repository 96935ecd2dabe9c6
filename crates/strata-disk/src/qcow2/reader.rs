//! [`Qcow2Image`]: a qcow2 image opened for reading. Reads go through the L1 and L2 tables
//! (a small bounded LRU of L2 tables behind a mutex), coalesce contiguous host clusters into one
//! read, decompress compressed clusters and read through to the backing image; `map` reports
//! data, zeros and unallocated ranges at subcluster granularity.
//!
//! **Compressed clusters of zeros are zeros.** qemu-img compresses every cluster it is given
//! (`convert -c -S 0`, `qemu-io write -c`), zeros included, and a cluster of zeros compresses to a
//! few bytes: a file of a few MiB can hold hundreds of GiB of such clusters. `map` reports a
//! compressed cluster whose data is that small ([`zero_check_limit`]) and decompresses to zeros
//! as [`ExtentKind::Zero`], so that a conversion plans no data for it and reads nothing: the
//! bytes that decompressed to zeros are remembered, and a cluster whose compressed bytes start
//! with them is known to be zeros without decompressing it again.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use strata_model::DiskFormat;

use crate::error::{DiskError, DiskErrorSource};
use crate::image::{
    BackingFile, DiskImage, Extent, ExtentKind, coalesce, read_mapped, read_unallocated,
};
use crate::io::ReadAt;
use crate::qcow2::Qcow2Error;
use crate::qcow2::decompress::decompress_cluster;
use crate::qcow2::header::{
    Header, MAX_CLUSTER_BITS, MIN_CLUSTER_BITS, OFFSET_MASK, RawHeader, V3_HEADER_LEN,
};
use crate::qcow2::snapshot::{Snapshot, read_snapshots};
use crate::qcow2::table::{
    CompressedDescriptor, SubclusterType, cluster_type, decode_entries, l1_l2_offset,
    subcluster_type,
};
use crate::table_cache::TableCache;
use crate::zero::is_zero;

/// Memory the L2 cache may hold (qemu's default L2 cache is 1 MiB, or 32 MiB on Linux;
/// 4 MiB covers 32 GiB of guest with 64 KiB clusters).
pub const L2_CACHE_BYTES: u64 = 4 << 20;
/// Most L2 tables cached, whatever the cluster size (bounds the LRU scan).
pub const L2_CACHE_MAX_TABLES: usize = 512;

/// Compressed streams remembered as decompressing to a cluster of zeros (one per compression
/// level and cluster size an image was written with, in practice one).
const ZERO_STREAMS: usize = 4;

/// The largest compressed size (a descriptor's sector-rounded length) of a cluster of
/// `cluster_size` bytes that `map` decompresses to see whether it holds only zeros: a 64th of
/// the cluster, plus the sector the rounding may add. A cluster of zeros compresses far below
/// that (zlib: about a thousandth; zstd: a few bytes), clusters of real data seldom do, so the
/// check costs little beside the read of the data itself.
pub fn zero_check_limit(cluster_size: u64) -> u64 {
    cluster_size / 64 + 512
}

/// How one run of guest bytes is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mapping {
    /// Stored uncompressed at this host offset (for the run's first byte).
    Data {
        /// Host offset of the run's first byte.
        host_offset: u64,
    },
    /// Reads as zeros.
    Zero,
    /// Not allocated in this layer.
    Unallocated,
    /// Inside a compressed cluster.
    Compressed(CompressedDescriptor),
}

/// A qcow2 image opened read-only.
pub struct Qcow2Image {
    src: Box<dyn ReadAt>,
    path: Option<PathBuf>,
    header: Header,
    file_len: u64,
    l1: Vec<u64>,
    snapshots: Vec<Snapshot>,
    snapshot_table_len: u64,
    backing_file: Option<BackingFile>,
    backing: Option<Box<dyn DiskImage>>,
    l2_cache: Mutex<TableCache>,
    last_compressed: Mutex<Option<(u64, Arc<Vec<u8>>)>>,
    /// Compressed streams known to decompress to a cluster of zeros (see the module overview).
    zero_streams: Mutex<Vec<Vec<u8>>>,
}

impl std::fmt::Debug for Qcow2Image {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Qcow2Image")
            .field("path", &self.path)
            .field("header", &self.header)
            .field("file_len", &self.file_len)
            .field("backing_file", &self.backing_file)
            .finish_non_exhaustive()
    }
}

fn read_err(what: &str, offset: u64, e: std::io::Error) -> DiskError {
    DiskError::io(format!("read {what} at {offset:#x}"), e)
}

impl Qcow2Image {
    /// Opens the image in `src` (without its backing file: see [`Qcow2Image::with_backing`]).
    /// Reads and validates the header, the active L1 table and the snapshot table; the dirty
    /// bit and the corrupt bit are accepted, as qemu accepts them for read-only opens.
    pub fn open(src: Box<dyn ReadAt>) -> Result<Qcow2Image, DiskError> {
        let file_len = src.size().map_err(|e| DiskError::io("stat", e))?;
        // The fixed header first, then the whole first cluster (or the file, when shorter).
        let mut first = vec![0u8; file_len.min(u64::from(V3_HEADER_LEN) + 8) as usize];
        src.read_exact_at(&mut first, 0)
            .map_err(|e| read_err("header", 0, e))?;
        let raw = RawHeader::read(&first).map_err(Qcow2Error::from)?;
        if (MIN_CLUSTER_BITS..=MAX_CLUSTER_BITS).contains(&raw.cluster_bits) {
            let len = file_len.min(1u64 << raw.cluster_bits) as usize;
            if len > first.len() {
                first.resize(len, 0);
                src.read_exact_at(&mut first, 0)
                    .map_err(|e| read_err("header", 0, e))?;
            }
        }
        let header = Header::parse(&first, file_len).map_err(Qcow2Error::from)?;
        let backing_format = header.backing_disk_format().map_err(Qcow2Error::from)?;
        // Bounded by the header checks: at most 32 MiB and inside the file.
        let mut l1_bytes = vec![0u8; header.l1_size as usize * 8];
        src.read_exact_at(&mut l1_bytes, header.l1_table_offset)
            .map_err(|e| read_err("L1 table", header.l1_table_offset, e))?;
        let mut l1 = Vec::new();
        decode_entries(&l1_bytes, &mut l1);
        let (snapshots, snapshot_table_len) = read_snapshots(&*src, &header, file_len)?;
        let capacity =
            ((L2_CACHE_BYTES >> header.cluster_bits) as usize).clamp(4, L2_CACHE_MAX_TABLES);
        let backing_file = header.backing_file.clone().map(|name| BackingFile {
            name,
            format: backing_format,
        });
        Ok(Qcow2Image {
            src,
            path: None,
            header,
            file_len,
            l1,
            snapshots,
            snapshot_table_len,
            backing_file,
            backing: None,
            l2_cache: Mutex::new(TableCache::new(capacity)),
            last_compressed: Mutex::new(None),
            zero_streams: Mutex::new(Vec::new()),
        })
    }

    /// Opens an image held in memory.
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Qcow2Image, DiskError> {
        Qcow2Image::open(Box::new(bytes))
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

    /// The internal snapshots.
    pub fn snapshots(&self) -> &[Snapshot] {
        &self.snapshots
    }

    /// The size of the snapshot table in bytes.
    pub fn snapshot_table_len(&self) -> u64 {
        self.snapshot_table_len
    }

    /// The active L1 table.
    pub fn l1_table(&self) -> &[u64] {
        &self.l1
    }

    /// The file's length when opened.
    pub fn file_len(&self) -> u64 {
        self.file_len
    }

    /// The file name used in errors, if set.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// The underlying bytes.
    pub fn source(&self) -> &dyn ReadAt {
        &*self.src
    }

    fn err(&self, e: impl Into<DiskError>) -> DiskError {
        let e = e.into();
        match &self.path {
            Some(p) => e.with_path(p),
            None => e,
        }
    }

    /// The L2 table `l1_entry` points to, validated and cached; `None` when unallocated.
    /// Entries are raw 64-bit words (two per guest cluster with extended L2 entries).
    pub fn l2_table(
        &self,
        l1_index: u64,
        l1_entry: u64,
    ) -> Result<Option<Arc<Vec<u64>>>, DiskError> {
        let offset = l1_l2_offset(l1_entry);
        if offset == 0 {
            return Ok(None);
        }
        let cluster = self.header.cluster_size();
        if !offset.is_multiple_of(cluster) {
            return Err(self.err(Qcow2Error::L2Unaligned { l1_index, offset }));
        }
        if offset
            .checked_add(cluster)
            .is_none_or(|end| end > self.file_len)
        {
            return Err(self.err(Qcow2Error::L2PastEnd {
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
        let mut bytes = vec![0u8; cluster as usize];
        self.src
            .read_exact_at(&mut bytes, offset)
            .map_err(|e| self.err(read_err("L2 table", offset, e)))?;
        let mut entries = Vec::new();
        decode_entries(&bytes, &mut entries);
        let table = Arc::new(entries);
        self.l2_cache
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(offset, Arc::clone(&table));
        Ok(Some(table))
    }

    /// How the guest bytes from `offset` are stored, as one run of at most `max_len` bytes
    /// (`offset` below the virtual size, `max_len` non-zero and within it). Runs of data are
    /// host-contiguous; compressed runs stay within one cluster.
    pub fn mapping(&self, offset: u64, max_len: u64) -> Result<(Mapping, u64), DiskError> {
        let h = &self.header;
        let cluster_bits = h.cluster_bits;
        let cluster = h.cluster_size();
        let ext = h.extended_l2();
        let unit_bits = if ext { cluster_bits - 5 } else { cluster_bits };
        let l2_bits = h.l2_bits();
        let span_bits = cluster_bits + l2_bits;
        let end = offset.saturating_add(max_len);
        let mut first: Option<Mapping> = None;
        let mut pos = offset;
        // The L2 table of the current L1 entry, looked up once per entry rather than once per
        // cluster (the cache is shared by every reading thread).
        let mut current: Option<(u64, Option<Arc<Vec<u64>>>)> = None;
        while pos < end {
            let l1_index = pos >> span_bits;
            let table = match &current {
                Some((i, t)) if *i == l1_index => t.clone(),
                _ => {
                    let l1_entry = self.l1.get(l1_index as usize).copied().unwrap_or(0);
                    let t = self.l2_table(l1_index, l1_entry)?;
                    current = Some((l1_index, t.clone()));
                    t
                }
            };
            let Some(table) = table else {
                // A whole L1 entry's span unallocated.
                let next = ((l1_index + 1) << span_bits).min(end);
                match first {
                    None => first = Some(Mapping::Unallocated),
                    Some(Mapping::Unallocated) => {}
                    Some(_) => break,
                }
                pos = next;
                continue;
            };
            let l2_index = ((pos >> cluster_bits) & ((1 << l2_bits) - 1)) as usize;
            let stride = if ext { 2 } else { 1 };
            // Indexes are below the table's length by construction (l2_bits).
            let entry = table[l2_index * stride];
            let bitmap = if ext { table[l2_index * stride + 1] } else { 0 };
            let sc = ((pos >> unit_bits) & 31) as u32;
            let ty = if ext {
                subcluster_type(entry, bitmap, sc)
            } else {
                cluster_type(entry)
            };
            let unit_end = (((pos >> unit_bits) + 1) << unit_bits).min(end);
            let here = match ty {
                SubclusterType::Normal => {
                    let host = entry & OFFSET_MASK;
                    if !host.is_multiple_of(cluster) {
                        return Err(self.err(Qcow2Error::DataUnaligned {
                            guest_offset: pos,
                            host_offset: host,
                        }));
                    }
                    if host >= self.file_len {
                        return Err(self.err(Qcow2Error::DataPastEnd {
                            guest_offset: pos,
                            host_offset: host,
                            file_len: self.file_len,
                        }));
                    }
                    Mapping::Data {
                        host_offset: host + (pos & (cluster - 1)),
                    }
                }
                SubclusterType::ZeroPlain | SubclusterType::ZeroAlloc => {
                    if h.version < 3 {
                        return Err(self.err(Qcow2Error::ZeroClusterInV2 { guest_offset: pos }));
                    }
                    Mapping::Zero
                }
                SubclusterType::UnallocatedPlain | SubclusterType::UnallocatedAlloc => {
                    Mapping::Unallocated
                }
                SubclusterType::Compressed => {
                    let d = CompressedDescriptor::decode(entry & !(3 << 62), cluster_bits);
                    if first.is_none() {
                        let len = ((((pos >> cluster_bits) + 1) << cluster_bits).min(end)) - pos;
                        return Ok((Mapping::Compressed(d), len));
                    }
                    break;
                }
                SubclusterType::Invalid => {
                    return Err(self.err(Qcow2Error::InvalidSubcluster {
                        guest_offset: pos,
                        bitmap,
                    }));
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
            pos = unit_end;
        }
        let mapping = first.unwrap_or(Mapping::Unallocated);
        Ok((mapping, pos.max(offset + 1).min(end) - offset))
    }

    fn check_range(&self, offset: u64, len: u64) -> Result<(), DiskError> {
        crate::image::check_range(offset, len, self.header.size).map_err(|e| self.err(e))
    }

    fn read_compressed(&self, d: CompressedDescriptor) -> Result<Arc<Vec<u8>>, DiskError> {
        {
            let cache = self
                .last_compressed
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if let Some((off, data)) = &*cache
                && *off == d.offset
            {
                return Ok(Arc::clone(data));
            }
        }
        if d.offset >= self.file_len {
            return Err(self.err(Qcow2Error::DataPastEnd {
                guest_offset: 0,
                host_offset: d.offset,
                file_len: self.file_len,
            }));
        }
        // At most two clusters (the sector count field has cluster_bits - 8 bits); the tail
        // past the end of the file reads as zeros, as in qemu.
        let len = d.len().min(self.file_len - d.offset);
        let mut input = vec![0u8; len as usize];
        self.src
            .read_exact_at(&mut input, d.offset)
            .map_err(|e| self.err(read_err("compressed cluster", d.offset, e)))?;
        let mut out = vec![0u8; self.header.cluster_size() as usize];
        decompress_cluster(self.header.compression_type, &input, &mut out, d.offset)
            .map_err(|e| self.err(e))?;
        let out = Arc::new(out);
        *self
            .last_compressed
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some((d.offset, Arc::clone(&out)));
        Ok(out)
    }

    /// Whether the compressed cluster `d` is small enough to check ([`zero_check_limit`]) and
    /// decompresses to zeros. A cluster that cannot be read or decompressed is not known to be
    /// zeros: reading it reports the error.
    fn compressed_is_zero(&self, d: CompressedDescriptor) -> Result<bool, DiskError> {
        let cluster = self.header.cluster_size();
        if d.len() > zero_check_limit(cluster) || d.offset >= self.file_len {
            return Ok(false);
        }
        let len = d.len().min(self.file_len - d.offset);
        let mut input = vec![0u8; len as usize];
        self.src
            .read_exact_at(&mut input, d.offset)
            .map_err(|e| self.err(read_err("compressed cluster", d.offset, e)))?;
        let streams = || {
            self.zero_streams
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
        };
        if streams().iter().any(|s| input.starts_with(s)) {
            return Ok(true);
        }
        let mut out = vec![0u8; cluster as usize];
        let Ok(consumed) =
            decompress_cluster(self.header.compression_type, &input, &mut out, d.offset)
        else {
            return Ok(false);
        };
        if !is_zero(&out) {
            return Ok(false);
        }
        if consumed == 0 {
            // Cannot happen (a cluster comes from some input); an empty prefix would match all.
            return Ok(true);
        }
        let mut streams = streams();
        if streams.len() == ZERO_STREAMS {
            streams.remove(0);
        }
        input.truncate(consumed);
        streams.push(input);
        Ok(true)
    }

    fn read_data(&self, buf: &mut [u8], host: u64) -> Result<(), DiskError> {
        // Bytes past the end of the file read as zeros, as in qemu's block layer.
        let avail = self.file_len.saturating_sub(host).min(buf.len() as u64) as usize;
        let (head, tail) = buf.split_at_mut(avail);
        self.src
            .read_exact_at(head, host)
            .map_err(|e| self.err(read_err("data", host, e)))?;
        tail.fill(0);
        Ok(())
    }
}

impl DiskImage for Qcow2Image {
    fn format(&self) -> DiskFormat {
        DiskFormat::Qcow2
    }

    fn virtual_size(&self) -> u64 {
        self.header.size
    }

    fn read_at(&self, buf: &mut [u8], offset: u64) -> Result<(), DiskError> {
        self.check_range(offset, buf.len() as u64)?;
        read_mapped(
            buf,
            offset,
            |pos, max| self.mapping(pos, max),
            |chunk, pos, mapping| match mapping {
                Mapping::Data { host_offset } => self.read_data(chunk, host_offset),
                Mapping::Zero => {
                    chunk.fill(0);
                    Ok(())
                }
                Mapping::Unallocated => read_unallocated(self.backing.as_deref(), chunk, pos),
                Mapping::Compressed(d) => {
                    let data = self.read_compressed(d)?;
                    let start = (pos & (self.header.cluster_size() - 1)) as usize;
                    chunk.copy_from_slice(&data[start..start + chunk.len()]);
                    Ok(())
                }
            },
        )
    }

    fn map(&self, offset: u64, max_len: u64) -> Result<Extent, DiskError> {
        if offset >= self.header.size || max_len == 0 {
            return Err(self.err(DiskErrorSource::InvalidRequest(format!(
                "map at {offset:#x} of {max_len} bytes outside the virtual size {}",
                self.header.size
            ))));
        }
        let len = max_len.min(self.header.size - offset);
        coalesce(offset, len, |pos, max| {
            let (mapping, l) = self.mapping(pos, max)?;
            let kind = match mapping {
                Mapping::Compressed(d) if self.compressed_is_zero(d)? => ExtentKind::Zero,
                Mapping::Data { .. } | Mapping::Compressed(_) => ExtentKind::Data,
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
