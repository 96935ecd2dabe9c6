//! The format-neutral convert engine: walks a source's block status (never reading holes or
//! known zeros), reads the data in large chunks on a reader thread, finds zero blocks,
//! compresses in parallel (rayon) when the target compresses, and hands the target its writes
//! in guest order while the next chunk is being read.
//!
//! Targets implement [`ConvertTarget`]: they are told the source's data ranges first
//! ([`ConvertTarget::plan`], through a [`SourceMap`]) so that formats whose metadata precedes
//! their data (uncompressed qcow2) can write front to back, then receive every granule of those
//! ranges in order, as data, compressed data or zeros, and finally [`ConvertTarget::finish`].

use std::sync::mpsc;

use rayon::prelude::*;

use crate::error::{DiskError, DiskErrorSource, ErrorKind};
use crate::image::{DiskImage, ExtentKind};
use crate::output::Committed;
use crate::qcow2::compress::{ClusterCompressor, CompressError};
use crate::raw::is_zero;

pub use crate::qcow2::compress::Compression;

/// Default bytes read from the source at a time.
pub const DEFAULT_CHUNK: usize = 8 << 20;
/// Chunks in flight between the reader thread and the writer (memory: this many chunks plus
/// their compressed forms).
const CHUNKS_IN_FLIGHT: usize = 3;
/// Largest chunk accepted (bounds memory whatever the caller asks).
pub const MAX_CHUNK: usize = 64 << 20;

/// How to convert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConvertOptions {
    /// Compress the output (targets that cannot compress refuse).
    pub compression: Option<Compression>,
    /// Compute the sha256 of the output file.
    pub hash: bool,
    /// fsync the output before renaming it into place (qemu-img's default `cache=unsafe`
    /// does not; durable is our default).
    pub sync: bool,
    /// Bytes read from the source at a time (rounded to the target's granularity, capped at
    /// [`MAX_CHUNK`]).
    pub chunk_size: usize,
}

impl Default for ConvertOptions {
    fn default() -> Self {
        ConvertOptions {
            compression: None,
            hash: false,
            sync: true,
            chunk_size: DEFAULT_CHUNK,
        }
    }
}

/// Where the engine is, reported after each chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Guest bytes done (holes count as done as they are passed).
    pub done: u64,
    /// The virtual size.
    pub total: u64,
}

/// What a conversion did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConvertSummary {
    /// Bytes read from the source.
    pub bytes_read: u64,
    /// Bytes written to the output file (holes not counted).
    pub bytes_written: u64,
    /// The output file's length.
    pub file_len: u64,
    /// The sha256 of the output file, lowercase hex, when asked for.
    pub sha256: Option<String>,
    /// Whether the hash needed a read-back of the output (compressed qcow2 writes its metadata
    /// last).
    pub hash_read_back: bool,
}

/// A convert failure that is not an I/O or format error.
#[derive(Debug, thiserror::Error)]
pub enum ConvertError {
    /// The target is smaller than the source.
    #[error("target virtual size {target} is smaller than the source's {source_size}")]
    TargetTooSmall {
        /// The target's virtual size.
        target: u64,
        /// The source's virtual size.
        source_size: u64,
    },
    /// The target format cannot store compressed data.
    #[error("{format} output cannot be compressed")]
    CompressionUnsupported {
        /// The target format.
        format: &'static str,
    },
    /// The source's block status changed between the planning walk and the copy (the source
    /// was modified during the conversion).
    #[error("source changed during the conversion: {detail}")]
    SourceChanged {
        /// What differed.
        detail: String,
    },
    /// Compression failed.
    #[error("compression failed")]
    Compress(#[from] CompressError),
    /// The reader thread stopped unexpectedly.
    #[error("the reader thread stopped unexpectedly")]
    ReaderLost,
}

impl ConvertError {
    /// The stable category of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            ConvertError::TargetTooSmall { .. } | ConvertError::CompressionUnsupported { .. } => {
                ErrorKind::InvalidRequest
            }
            ConvertError::SourceChanged { .. } => ErrorKind::IntegrityMismatch,
            ConvertError::Compress(_) | ConvertError::ReaderLost => ErrorKind::Io,
        }
    }
}

impl From<ConvertError> for DiskError {
    fn from(e: ConvertError) -> Self {
        DiskErrorSource::Convert(e).into()
    }
}

/// The source's data as a target's planning sees it: ranges of whole granules that hold
/// data, in guest order, computed from block status only (metadata, cheap). Walk it as many
/// times as needed; memory stays constant.
pub struct SourceMap<'a> {
    source: Option<&'a dyn DiskImage>,
    size: u64,
    granularity: u64,
}

impl std::fmt::Debug for SourceMap<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SourceMap")
            .field("virtual_size", &self.size)
            .field("granularity", &self.granularity)
            .finish()
    }
}

impl<'a> SourceMap<'a> {
    /// A map of `source` at `granularity` (a power of two).
    pub fn new(source: &'a dyn DiskImage, granularity: u64) -> Self {
        SourceMap {
            source: Some(source),
            size: source.virtual_size(),
            granularity,
        }
    }

    /// The map of a source of `size` bytes that holds no data (creating an empty image).
    pub fn empty(size: u64, granularity: u64) -> Self {
        SourceMap {
            source: None,
            size,
            granularity,
        }
    }

    /// The source's virtual size.
    pub fn virtual_size(&self) -> u64 {
        self.size
    }

    /// The granule size.
    pub fn granularity(&self) -> u64 {
        self.granularity
    }

    /// Data ranges `[start, end)` within `[from, to)`, widened to whole granules (`end` may
    /// pass the virtual size in the last granule), merged when adjacent.
    pub fn ranges(&self, from: u64, to: u64) -> DataRanges<'_> {
        DataRanges {
            map: self,
            pos: from,
            to: to.min(self.size),
            pending: None,
        }
    }
}

/// Iterator over data ranges; see [`SourceMap::ranges`].
#[derive(Debug)]
pub struct DataRanges<'m> {
    map: &'m SourceMap<'m>,
    pos: u64,
    to: u64,
    pending: Option<(u64, u64)>,
}

impl DataRanges<'_> {
    fn next_data(&mut self) -> Result<Option<(u64, u64)>, DiskError> {
        let g = self.map.granularity;
        let Some(source) = self.map.source else {
            return Ok(None);
        };
        while self.pos < self.to {
            let e = source.block_status(self.pos, self.to - self.pos)?;
            if e.length == 0 || e.offset != self.pos {
                return Err(ConvertError::SourceChanged {
                    detail: format!("block status at {} returned {e:?}", self.pos),
                }
                .into());
            }
            self.pos = e.end();
            if e.kind == ExtentKind::Data {
                let start = e.offset / g * g;
                let end = e.end().div_ceil(g) * g;
                return Ok(Some((start, end)));
            }
        }
        Ok(None)
    }
}

impl Iterator for DataRanges<'_> {
    type Item = Result<(u64, u64), DiskError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let next = match self.next_data() {
                Ok(n) => n,
                Err(e) => return Some(Err(e)),
            };
            match (self.pending, next) {
                (None, None) => return None,
                (None, Some(r)) => self.pending = Some(r),
                (Some(p), None) => {
                    self.pending = None;
                    return Some(Ok(p));
                }
                (Some(p), Some(r)) if r.0 <= p.1 => self.pending = Some((p.0, p.1.max(r.1))),
                (Some(p), Some(r)) => {
                    self.pending = Some(r);
                    return Some(Ok(p));
                }
            }
        }
    }
}

/// A destination the engine writes. Calls come in this order: [`plan`](Self::plan) once,
/// then for every granule of every planned data range, in guest order, exactly one of
/// [`write`](Self::write), [`write_compressed`](Self::write_compressed) or
/// [`write_zeroes`](Self::write_zeroes) (runs of granules may be passed together), then
/// [`finish`](Self::finish).
pub trait ConvertTarget {
    /// The format written.
    fn format_name(&self) -> &'static str;

    /// The virtual size of the image being written.
    fn virtual_size(&self) -> u64;

    /// The unit of allocation and zero detection (a power of two: the cluster size, or 4 KiB).
    fn granularity(&self) -> u64;

    /// The compression this target applies to each granule, if any.
    fn compression(&self) -> Option<Compression> {
        None
    }

    /// Told the source's data ranges before any write (walk `map` as often as needed).
    fn plan(&mut self, map: &SourceMap<'_>) -> Result<(), DiskError>;

    /// Writes granule-aligned data at guest `offset` (`data.len()` is a multiple of the
    /// granularity; bytes past the virtual size are zero). No granule of it is all zeros.
    fn write(&mut self, offset: u64, data: &[u8]) -> Result<(), DiskError>;

    /// Writes one granule at `offset` in compressed form (only for targets with a
    /// [`compression`](Self::compression)).
    fn write_compressed(&mut self, offset: u64, compressed: &[u8]) -> Result<(), DiskError> {
        let _ = (offset, compressed);
        Err(ConvertError::CompressionUnsupported {
            format: self.format_name(),
        }
        .into())
    }

    /// `len` bytes of planned data at `offset` turned out to be zeros.
    fn write_zeroes(&mut self, offset: u64, len: u64) -> Result<(), DiskError>;

    /// Completes the file (metadata, length, fsync, rename) and reports it.
    fn finish(self: Box<Self>) -> Result<Committed, DiskError>;
}

/// One granule (or run of granules) of a chunk, as the writer must pass it on.
enum Piece {
    Data { start: usize, end: usize },
    Zero { start: usize, end: usize },
    Compressed { start: usize, bytes: Vec<u8> },
}

/// A chunk read from the source, with what to do with each part.
struct Chunk {
    offset: u64,
    buf: Vec<u8>,
    pieces: Vec<Piece>,
    /// Guest position reached after this chunk (for progress).
    done: u64,
    bytes_read: u64,
}

/// Converts `source` into `target`: reads only the source's data, writes in guest order,
/// calls `progress` after each chunk, and finishes the target.
pub fn convert(
    source: &dyn DiskImage,
    mut target: Box<dyn ConvertTarget + '_>,
    options: &ConvertOptions,
    progress: &dyn Fn(Progress),
) -> Result<ConvertSummary, DiskError> {
    let total = source.virtual_size();
    if target.virtual_size() < total {
        return Err(ConvertError::TargetTooSmall {
            target: target.virtual_size(),
            source_size: total,
        }
        .into());
    }
    if options.compression.is_some() && target.compression().is_none() {
        return Err(ConvertError::CompressionUnsupported {
            format: target.format_name(),
        }
        .into());
    }
    let g = target.granularity();
    let g_usize =
        usize::try_from(g).map_err(|_| DiskError::invalid_request(format!("granularity {g}")))?;
    let chunk = (options.chunk_size.clamp(1, MAX_CHUNK).div_ceil(g_usize) * g_usize).max(g_usize);
    let map = SourceMap::new(source, g);
    target.plan(&map)?;
    let compression = target.compression();

    let (full_tx, full_rx) = mpsc::sync_channel::<Result<Chunk, DiskError>>(CHUNKS_IN_FLIGHT - 1);
    let (empty_tx, empty_rx) = mpsc::sync_channel::<Vec<u8>>(CHUNKS_IN_FLIGHT);
    for _ in 0..CHUNKS_IN_FLIGHT {
        // Cannot fail: the channel has room for every buffer and its receiver is alive.
        let _ = empty_tx.send(Vec::new());
    }
    let mut bytes_read = 0u64;
    let result: Result<(), DiskError> = std::thread::scope(|s| {
        // Owned by this closure so that an early return drops them and unblocks the reader.
        let (full_rx, empty_tx) = (full_rx, empty_tx);
        let map = &map;
        s.spawn(move || {
            let reader = Reader {
                source,
                map,
                chunk,
                granularity: g_usize,
                compression,
            };
            reader.run(&empty_rx, &full_tx);
        });
        for received in full_rx.iter() {
            let c = received?;
            for piece in &c.pieces {
                match piece {
                    Piece::Data { start, end } => {
                        target.write(c.offset + *start as u64, &c.buf[*start..*end])?
                    }
                    Piece::Zero { start, end } => {
                        target.write_zeroes(c.offset + *start as u64, (*end - *start) as u64)?
                    }
                    Piece::Compressed { start, bytes } => {
                        target.write_compressed(c.offset + *start as u64, bytes)?
                    }
                }
            }
            bytes_read += c.bytes_read;
            progress(Progress {
                done: c.done,
                total,
            });
            // The reader may have finished; a lost buffer only matters to it.
            let _ = empty_tx.send(c.buf);
        }
        Ok(())
    });
    result?;
    progress(Progress { done: total, total });
    let committed = target.finish()?;
    Ok(ConvertSummary {
        bytes_read,
        bytes_written: committed.bytes_written,
        file_len: committed.len,
        sha256: committed.sha256,
        hash_read_back: committed.hash_read_back,
    })
}

struct Reader<'a> {
    source: &'a dyn DiskImage,
    map: &'a SourceMap<'a>,
    chunk: usize,
    granularity: usize,
    compression: Option<Compression>,
}

impl Reader<'_> {
    fn run(
        &self,
        empty: &mpsc::Receiver<Vec<u8>>,
        full: &mpsc::SyncSender<Result<Chunk, DiskError>>,
    ) {
        if let Err(e) = self.walk(empty, full) {
            let _ = full.send(Err(e));
        }
    }

    fn walk(
        &self,
        empty: &mpsc::Receiver<Vec<u8>>,
        full: &mpsc::SyncSender<Result<Chunk, DiskError>>,
    ) -> Result<(), DiskError> {
        for range in self.map.ranges(0, u64::MAX) {
            let (start, end) = range?;
            let mut pos = start;
            while pos < end {
                let len = (end - pos).min(self.chunk as u64);
                // The writer stopped (error): stop quietly, it reports.
                let Ok(mut buf) = empty.recv() else {
                    return Ok(());
                };
                let c = self.read_chunk(pos, len as usize, &mut buf)?;
                let chunk = Chunk { buf, ..c };
                if full.send(Ok(chunk)).is_err() {
                    return Ok(());
                }
                pos += len;
            }
        }
        Ok(())
    }

    /// Reads `[offset, offset+len)` into `buf`, zero-filling known zeros and the part past the
    /// virtual size, and splits it into pieces.
    fn read_chunk(&self, offset: u64, len: usize, buf: &mut Vec<u8>) -> Result<Chunk, DiskError> {
        buf.resize(len, 0);
        let size = self.source.virtual_size();
        let mut bytes_read = 0u64;
        let mut pos = offset;
        let end = offset + len as u64;
        let readable_end = end.min(size);
        while pos < readable_end {
            let e = self.source.block_status(pos, readable_end - pos)?;
            let e_end = e.end().min(readable_end);
            if e.length == 0 || e.offset != pos {
                return Err(ConvertError::SourceChanged {
                    detail: format!("block status at {pos} returned {e:?}"),
                }
                .into());
            }
            let slice = &mut buf[(pos - offset) as usize..(e_end - offset) as usize];
            if e.kind == ExtentKind::Data {
                self.source.read_at(slice, pos)?;
                bytes_read += slice.len() as u64;
            } else {
                slice.fill(0);
            }
            pos = e_end;
        }
        buf[(readable_end - offset) as usize..].fill(0);
        let pieces = match self.compression {
            None => self.split_plain(buf),
            Some(c) => self.split_compressed(buf, c)?,
        };
        Ok(Chunk {
            offset,
            buf: Vec::new(),
            pieces,
            done: end.min(size),
            bytes_read,
        })
    }

    /// Runs of data granules and runs of zero granules.
    fn split_plain(&self, buf: &[u8]) -> Vec<Piece> {
        let g = self.granularity;
        let mut pieces: Vec<Piece> = Vec::new();
        for (i, granule) in buf.chunks(g).enumerate() {
            let (start, end) = (i * g, i * g + granule.len());
            let zero = is_zero(granule);
            match (pieces.last_mut(), zero) {
                (Some(Piece::Zero { end: e, .. }), true)
                | (Some(Piece::Data { end: e, .. }), false) => *e = end,
                (_, true) => pieces.push(Piece::Zero { start, end }),
                (_, false) => pieces.push(Piece::Data { start, end }),
            }
        }
        pieces
    }

    /// Each granule compressed in parallel: compressed, stored as is, or zero.
    fn split_compressed(
        &self,
        buf: &[u8],
        compression: Compression,
    ) -> Result<Vec<Piece>, DiskError> {
        let g = self.granularity;
        // Each rayon task compresses a run of granules with one compressor (its state is
        // reused), bounding memory to the chunk's compressed form.
        let per_task = (buf.len() / g)
            .div_ceil(rayon::current_num_threads().max(1) * 4)
            .max(1);
        let groups: Vec<Result<Vec<Piece>, CompressError>> = buf
            .par_chunks(per_task * g)
            .enumerate()
            .map(|(gi, group)| {
                let mut compressor: Option<ClusterCompressor> = None;
                let mut out = Vec::with_capacity(group.len() / g + 1);
                for (i, granule) in group.chunks(g).enumerate() {
                    let start = gi * per_task * g + i * g;
                    let end = start + granule.len();
                    if is_zero(granule) {
                        out.push(Piece::Zero { start, end });
                        continue;
                    }
                    let comp = match &mut compressor {
                        Some(c) => c,
                        None => compressor.insert(compression.compressor()?),
                    };
                    let mut bytes = Vec::new();
                    if comp.compress(granule, &mut bytes)? {
                        out.push(Piece::Compressed { start, bytes });
                    } else {
                        out.push(Piece::Data { start, end });
                    }
                }
                Ok(out)
            })
            .collect();
        let mut pieces = Vec::with_capacity(buf.len() / g);
        for group in groups {
            pieces.extend(group.map_err(ConvertError::from)?);
        }
        Ok(pieces)
    }
}
