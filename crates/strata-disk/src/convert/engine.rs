//! [`convert()`], the engine itself: the scheduler that hands out chunks of the source map with
//! their buffers, the workers that read them, find zeros, compress and write through a
//! [`Placement`], and the delivery of every granule to the target in guest order (the design is
//! in the [module overview](super)).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError, TryLockError, mpsc};

use rayon::prelude::*;

use super::error::ConvertError;
use super::target::{ConvertTarget, DataRanges, Layout, Placement, SourceMap};
use crate::compress::{ClusterCompressor, CompressError, Compression};
use crate::error::DiskError;
use crate::image::{DiskImage, ExtentKind};
use crate::zero::is_zero;

/// Default bytes read from the source at a time.
pub const DEFAULT_CHUNK: usize = 8 << 20;
/// Workers with a [`Placement`] go through each chunk in steps of this many bytes (or one
/// granule, if larger), each read, checked for zeros and written before the next, so that the
/// step is still in the CPU cache when it is written.
pub const STEP: usize = 256 << 10;
/// Most workers chosen when [`ConvertOptions::workers`] is 0 (the available parallelism,
/// at least 2 so that reads overlap writes, at most this).
pub const DEFAULT_MAX_WORKERS: usize = 4;
/// Most workers accepted (bounds memory whatever the caller asks).
pub const MAX_WORKERS: usize = 16;
/// Largest chunk accepted (bounds memory whatever the caller asks).
pub const MAX_CHUNK: usize = 64 << 20;

/// A flag another thread sets to stop a conversion (a front end's SIGINT handler): the engine
/// checks it after every chunk and fails with [`ConvertError::Cancelled`], and the output's
/// owner drops the output, which removes it. Clones share the flag.
#[derive(Debug, Clone, Default)]
pub struct Cancel(Arc<AtomicBool>);

impl Cancel {
    /// A new flag, not set.
    pub fn new() -> Cancel {
        Cancel::default()
    }

    /// The flag set by `flag` (a signal handler's).
    pub fn from_flag(flag: Arc<AtomicBool>) -> Cancel {
        Cancel(flag)
    }

    /// Sets the flag.
    pub fn cancel(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    /// Whether the flag is set.
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

impl PartialEq for Cancel {
    /// The same flag.
    fn eq(&self, other: &Cancel) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for Cancel {}

/// How to convert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConvertOptions {
    /// Compress the output (targets that cannot compress refuse).
    pub compression: Option<Compression>,
    /// Bytes read from the source at a time (rounded to the target's granularity, capped at
    /// [`MAX_CHUNK`]).
    pub chunk_size: usize,
    /// Worker threads that read chunks (and write them, for targets with a [`Placement`]); 0
    /// picks from the available parallelism. Compressed output always uses one (compression
    /// itself is parallel).
    pub workers: usize,
    /// Stops the conversion when set (checked after every chunk).
    pub cancel: Option<Cancel>,
}

impl Default for ConvertOptions {
    fn default() -> Self {
        ConvertOptions {
            compression: None,
            chunk_size: DEFAULT_CHUNK,
            workers: 0,
            cancel: None,
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
}

/// One granule (or run of granules) of a chunk, as the target must be told of it: guest
/// `offset`, and where its bytes are in the chunk's buffer.
enum Piece {
    /// Data for [`ConvertTarget::write`].
    Data {
        offset: u64,
        start: usize,
        end: usize,
    },
    /// Data a worker wrote through the placement: `len` bytes at file offset `host`.
    Written {
        offset: u64,
        start: usize,
        len: usize,
        host: u64,
    },
    /// Zero granules.
    Zero { offset: u64, len: u64 },
    /// One granule, compressed.
    Compressed { offset: u64, bytes: Vec<u8> },
}

/// A chunk to read: the `seq`-th of the walk, made of consecutive parts of the source map's
/// data ranges (`(guest offset, length)`, granule-aligned), packed one after the other in the
/// chunk's buffer, and starting `planned` bytes into the planned data. Small data ranges share
/// a chunk, so fragmented sources do not cost a hand-off per range.
#[derive(Debug, Clone)]
struct Job {
    seq: u64,
    planned: u64,
    segments: Vec<(u64, usize)>,
}

impl Job {
    fn len(&self) -> usize {
        self.segments.iter().map(|(_, len)| len).sum()
    }

    /// The guest offset just past the last segment.
    fn end(&self) -> u64 {
        self.segments.last().map_or(0, |(o, len)| o + *len as u64)
    }
}

/// A chunk read from the source (and written, with a placement), with what to tell the
/// target of each part.
struct Chunk {
    job: Job,
    buf: PageBuf,
    pieces: Vec<Piece>,
    bytes_read: u64,
}

/// Converts `source` into `target`: reads only the source's data, on worker threads that also
/// write it when the target has a [`Placement`]; tells the target of every granule in guest
/// order, calls `progress` after each chunk, and finishes the target.
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
    let placement = match compression {
        None => target.placement()?,
        Some(_) => None,
    };
    // Compression is parallel inside each chunk (rayon): one reader is enough.
    let workers = match (compression, options.workers) {
        (Some(_), _) => 1,
        (None, 0) => std::thread::available_parallelism()
            .map_or(2, |n| n.get())
            .clamp(2, DEFAULT_MAX_WORKERS),
        (None, n) => n.clamp(1, MAX_WORKERS),
    };
    let sched = Scheduler::new(map.ranges(0, u64::MAX), chunk, 2 * workers + 1);
    let write_lock = Mutex::new(());
    let (done_tx, done_rx) = mpsc::channel::<Result<Chunk, DiskError>>();
    let mut bytes_read = 0u64;
    let result: Result<(), DiskError> = std::thread::scope(|s| {
        // However this closure ends, workers waiting for a buffer must stop.
        let _stop = StopOnDrop {
            sched: &sched,
            always: true,
        };
        for _ in 0..workers {
            let worker = Worker {
                source,
                sched: &sched,
                placement: placement.as_ref(),
                write_lock: &write_lock,
                chunk,
                granularity: g_usize,
                compression,
            };
            let done = done_tx.clone();
            s.spawn(move || worker.run(&done));
        }
        drop(done_tx);
        // Chunks finish in any order; the target hears of them in guest order.
        let mut finished: BTreeMap<u64, Chunk> = BTreeMap::new();
        let mut next = 0u64;
        let cancelled = || options.cancel.as_ref().is_some_and(Cancel::is_cancelled);
        for received in done_rx.iter() {
            if cancelled() {
                return Err(ConvertError::Cancelled.into());
            }
            let c = received?;
            finished.insert(c.job.seq, c);
            while let Some(c) = finished.remove(&next) {
                deliver(&mut *target, &c)?;
                bytes_read += c.bytes_read;
                progress(Progress {
                    done: c.job.end().min(total),
                    total,
                });
                sched.give_back(c.buf);
                next += 1;
            }
        }
        // Every worker is gone: the walk must be complete.
        if !finished.is_empty() || !sched.exhausted() {
            return Err(ConvertError::ReaderLost.into());
        }
        Ok(())
    });
    result?;
    progress(Progress { done: total, total });
    let finished = target.finish()?;
    Ok(ConvertSummary {
        bytes_read,
        bytes_written: finished.bytes_written,
        file_len: finished.file_len,
    })
}

/// Tells the target what `c` holds, piece by piece.
fn deliver(target: &mut dyn ConvertTarget, c: &Chunk) -> Result<(), DiskError> {
    for piece in &c.pieces {
        match piece {
            Piece::Data { offset, start, end } => target.write(*offset, &c.buf[*start..*end])?,
            Piece::Written {
                offset,
                start,
                len,
                host,
            } => target.record(*offset, *host, &c.buf[*start..*start + *len])?,
            Piece::Zero { offset, len } => target.write_zeroes(*offset, *len)?,
            Piece::Compressed { offset, bytes } => target.write_compressed(*offset, bytes)?,
        }
    }
    Ok(())
}

/// A chunk's buffer, starting on a page boundary. The kernel copies page-cache pages to and
/// from it (`pread`, `pwrite`), and a copy between addresses at different offsets within a
/// cache line runs at a fraction of the speed. The allocator's 8 MiB blocks start 16 bytes into
/// a page; with them, `perf` put 4x qemu-img's time in `_copy_to_iter` for the same bytes read
/// (qemu-img's buffers are page-aligned), and raw -> raw of the 4 GiB benchmark disk took 1.9 s
/// of system time against 1.2 s with page-aligned buffers. Allocating a page more and starting
/// at the first page boundary keeps this safe code.
#[derive(Default)]
struct PageBuf {
    bytes: Vec<u8>,
    start: usize,
    len: usize,
}

impl PageBuf {
    const ALIGN: usize = 4096;

    /// Makes the buffer hold at least `len` bytes (zeroed when it grows).
    fn ensure(&mut self, len: usize) {
        if self.len >= len {
            return;
        }
        self.bytes = vec![0u8; len + Self::ALIGN];
        // `align_offset` on a byte pointer is always within one alignment (it never fails
        // for u8); the fallback keeps the slice in bounds if it ever did.
        self.start = match self.bytes.as_ptr().align_offset(Self::ALIGN) {
            off if off < Self::ALIGN => off,
            _ => 0,
        };
        self.len = len;
    }
}

impl std::ops::Deref for PageBuf {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &self.bytes[self.start..self.start + self.len]
    }
}

impl std::ops::DerefMut for PageBuf {
    fn deref_mut(&mut self) -> &mut [u8] {
        &mut self.bytes[self.start..self.start + self.len]
    }
}

/// Hands out chunks of the walk in order, each with a buffer: a worker gets a buffer before
/// it claims a chunk, so every claimed chunk can complete and the in-order consumer never
/// waits for a chunk that waits for a buffer.
struct Scheduler<'m> {
    state: Mutex<SchedState<'m>>,
    buffer_freed: Condvar,
}

struct SchedState<'m> {
    ranges: DataRanges<'m>,
    /// What is left of the current data range.
    range: Option<(u64, u64)>,
    chunk: usize,
    seq: u64,
    planned: u64,
    free: Vec<PageBuf>,
    /// The walk is complete.
    exhausted: bool,
    /// The conversion stopped (an error somewhere, or it is over).
    stopped: bool,
}

impl<'m> Scheduler<'m> {
    fn new(ranges: DataRanges<'m>, chunk: usize, buffers: usize) -> Self {
        Scheduler {
            state: Mutex::new(SchedState {
                ranges,
                range: None,
                chunk,
                seq: 0,
                planned: 0,
                free: (0..buffers).map(|_| PageBuf::default()).collect(),
                exhausted: false,
                stopped: false,
            }),
            buffer_freed: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, SchedState<'m>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The next chunk to read and a buffer for it; `None` when the walk is complete or the
    /// conversion stopped.
    fn next(&self) -> Option<Result<(Job, PageBuf), DiskError>> {
        let mut st = self.lock();
        let buf = loop {
            if st.stopped || st.exhausted {
                return None;
            }
            if let Some(buf) = st.free.pop() {
                break buf;
            }
            st = self
                .buffer_freed
                .wait(st)
                .unwrap_or_else(PoisonError::into_inner);
        };
        match st.next_job() {
            Ok(Some(job)) => Some(Ok((job, buf))),
            Ok(None) => {
                st.exhausted = true;
                drop(st);
                self.buffer_freed.notify_all();
                None
            }
            Err(e) => {
                st.stopped = true;
                drop(st);
                self.buffer_freed.notify_all();
                Some(Err(e))
            }
        }
    }

    fn give_back(&self, buf: PageBuf) {
        self.lock().free.push(buf);
        self.buffer_freed.notify_one();
    }

    fn exhausted(&self) -> bool {
        self.lock().exhausted
    }

    fn stop(&self) {
        self.lock().stopped = true;
        self.buffer_freed.notify_all();
    }
}

impl SchedState<'_> {
    /// Up to a chunk of the data ranges, from where the last job ended.
    fn next_job(&mut self) -> Result<Option<Job>, DiskError> {
        let mut job = Job {
            seq: self.seq,
            planned: self.planned,
            segments: Vec::new(),
        };
        let mut room = self.chunk as u64;
        while room > 0 {
            let (pos, end) = match self.range {
                Some((pos, end)) if pos < end => (pos, end),
                _ => match self.ranges.next() {
                    None => break,
                    Some(r) => {
                        self.range = Some(r?);
                        continue;
                    }
                },
            };
            let len = (end - pos).min(room);
            job.segments.push((pos, len as usize));
            self.range = Some((pos + len, end));
            self.planned += len;
            room -= len;
        }
        if job.segments.is_empty() {
            return Ok(None);
        }
        self.seq += 1;
        Ok(Some(job))
    }
}

/// Stops the scheduler when dropped: always, or only while unwinding from a panic.
struct StopOnDrop<'s, 'm> {
    sched: &'s Scheduler<'m>,
    always: bool,
}

impl Drop for StopOnDrop<'_, '_> {
    fn drop(&mut self) {
        if self.always || std::thread::panicking() {
            self.sched.stop();
        }
    }
}

/// A worker thread: claims chunks, reads them, finds zeros (and compresses), writes the data
/// through the placement if there is one, and passes the chunk on.
struct Worker<'a> {
    source: &'a dyn DiskImage,
    sched: &'a Scheduler<'a>,
    placement: Option<&'a Placement>,
    /// Held while writing through the placement (see [`Worker::read_and_write`]).
    write_lock: &'a Mutex<()>,
    chunk: usize,
    granularity: usize,
    compression: Option<Compression>,
}

impl Worker<'_> {
    fn run(&self, done: &mpsc::Sender<Result<Chunk, DiskError>>) {
        // A panic here must not leave the others waiting for buffers that never come back.
        let _stop = StopOnDrop {
            sched: self.sched,
            always: false,
        };
        while let Some(claimed) = self.sched.next() {
            let result = claimed.and_then(|(job, buf)| self.process(job, buf));
            let failed = result.is_err();
            // The consumer stopped (error): stop quietly, it reports.
            if done.send(result).is_err() || failed {
                return;
            }
        }
    }

    fn process(&self, job: Job, mut buf: PageBuf) -> Result<Chunk, DiskError> {
        buf.ensure(self.chunk);
        let data = &mut buf[..job.len()];
        let mut pieces = Vec::new();
        let mut bytes_read = 0;
        match (self.placement, self.compression) {
            (Some(p), _) => bytes_read = self.read_and_write(&job, data, p, &mut pieces)?,
            (None, compression) => {
                let mut at = 0;
                for &(offset, len) in &job.segments {
                    bytes_read += self.read(offset, &mut data[at..at + len])?;
                    if compression.is_none() {
                        self.split_plain(&data[at..at + len], at, offset, &mut pieces);
                    }
                    at += len;
                }
                if let Some(c) = compression {
                    pieces = self.split_compressed(data, &job.segments, c)?;
                }
            }
        }
        Ok(Chunk {
            job,
            buf,
            pieces,
            bytes_read,
        })
    }

    /// Reads, splits and writes through the placement, step by step (see [`STEP`]);
    /// returns the bytes read. Writes to one file serialize in the kernel (a waiting writer
    /// spins on the inode lock), so a step's data is written only when no other worker is
    /// writing; otherwise the worker reads on and writes what is pending later, waiting only
    /// at the end of the chunk.
    fn read_and_write(
        &self,
        job: &Job,
        data: &mut [u8],
        placement: &Placement,
        pieces: &mut Vec<Piece>,
    ) -> Result<u64, DiskError> {
        let step = STEP.max(self.granularity);
        // Steps of every segment: (guest offset, start in the buffer, end in the buffer).
        let mut steps = Vec::new();
        let mut at = 0;
        for &(offset, len) in &job.segments {
            for s in (0..len).step_by(step) {
                steps.push((offset + s as u64, at + s, at + (s + step).min(len)));
            }
            at += len;
        }
        let mut bytes_read = 0;
        // Pieces before this index are written.
        let mut written = 0;
        for (i, &(offset, start, end)) in steps.iter().enumerate() {
            bytes_read += self.read(offset, &mut data[start..end])?;
            self.split_plain(&data[start..end], start, offset, pieces);
            let guard = if i + 1 == steps.len() {
                self.write_lock
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
            } else {
                match self.write_lock.try_lock() {
                    Ok(g) => g,
                    Err(TryLockError::Poisoned(p)) => p.into_inner(),
                    Err(TryLockError::WouldBlock) => continue,
                }
            };
            let mut i = written;
            while i < pieces.len() {
                let Piece::Data { offset, start, end } = pieces[i] else {
                    i += 1;
                    continue;
                };
                // The buffer is the planned data of the job, packed.
                let planned = job.planned + start as u64;
                let (host, len) = placement.locate(offset, planned, end - start)?;
                if len > 0 {
                    placement.write(&data[start..start + len], host)?;
                }
                pieces[i] = Piece::Written {
                    offset,
                    start,
                    len,
                    host,
                };
                i += 1;
                // A run that crosses a block boundary goes on elsewhere (Layout::Blocks);
                // past the Identity (or Shifted) end, the rest is dropped.
                let cut = matches!(placement.layout, Layout::Identity | Layout::Shifted { .. });
                if len > 0 && start + len < end && !cut {
                    pieces.insert(
                        i,
                        Piece::Data {
                            offset: offset + len as u64,
                            start: start + len,
                            end,
                        },
                    );
                }
            }
            written = pieces.len();
            drop(guard);
        }
        Ok(bytes_read)
    }

    /// Reads the guest bytes at `offset` into `buf`, zero-filling known zeros and the part past
    /// the virtual size; returns the bytes actually read.
    fn read(&self, offset: u64, buf: &mut [u8]) -> Result<u64, DiskError> {
        let size = self.source.virtual_size();
        let mut bytes_read = 0u64;
        let mut pos = offset;
        let end = offset + buf.len() as u64;
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
        buf[(readable_end.max(offset) - offset) as usize..].fill(0);
        Ok(bytes_read)
    }

    /// Appends the runs of data granules and runs of zero granules of `buf`, the guest bytes at
    /// `offset`, which starts at index `base` of the chunk's buffer.
    fn split_plain(&self, buf: &[u8], base: usize, offset: u64, pieces: &mut Vec<Piece>) {
        let g = self.granularity;
        let first = pieces.len();
        for (i, granule) in buf.chunks(g).enumerate() {
            let (start, end) = (base + i * g, base + i * g + granule.len());
            let at = offset + (i * g) as u64;
            let zero = is_zero(granule);
            match (pieces[first..].last_mut(), zero) {
                (Some(Piece::Zero { len, .. }), true) => *len += granule.len() as u64,
                (Some(Piece::Data { end: e, .. }), false) => *e = end,
                (_, true) => pieces.push(Piece::Zero {
                    offset: at,
                    len: granule.len() as u64,
                }),
                (_, false) => pieces.push(Piece::Data {
                    offset: at,
                    start,
                    end,
                }),
            }
        }
    }

    /// Each granule of the chunk compressed in parallel: compressed, stored as is, or zero.
    fn split_compressed(
        &self,
        buf: &[u8],
        segments: &[(u64, usize)],
        compression: Compression,
    ) -> Result<Vec<Piece>, DiskError> {
        let g = self.granularity;
        // The guest offset of every granule of the buffer (segments are granule-aligned).
        let offsets: Vec<u64> = segments
            .iter()
            .flat_map(|&(offset, len)| (0..len).step_by(g).map(move |s| offset + s as u64))
            .collect();
        // Each rayon task compresses a run of granules with one compressor (its state is
        // reused), bounding memory to the chunk's compressed form.
        let per_task = (buf.len() / g)
            .div_ceil(rayon::current_num_threads().max(1) * 4)
            .max(1);
        let groups: Vec<Result<Vec<Piece>, CompressError>> = buf
            .par_chunks(per_task * g)
            .zip(offsets.par_chunks(per_task))
            .enumerate()
            .map(|(gi, (group, offsets))| {
                let mut compressor: Option<ClusterCompressor> = None;
                let mut out = Vec::with_capacity(group.len() / g + 1);
                for (i, (granule, &offset)) in group.chunks(g).zip(offsets).enumerate() {
                    let start = gi * per_task * g + i * g;
                    let end = start + granule.len();
                    if is_zero(granule) {
                        out.push(Piece::Zero {
                            offset,
                            len: granule.len() as u64,
                        });
                        continue;
                    }
                    let comp = match &mut compressor {
                        Some(c) => c,
                        None => compressor.insert(compression.compressor()?),
                    };
                    let mut bytes = Vec::new();
                    if comp.compress(granule, &mut bytes)? {
                        out.push(Piece::Compressed { offset, bytes });
                    } else {
                        out.push(Piece::Data { offset, start, end });
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_buffers_start_on_a_page_and_keep_their_bytes() {
        let mut buf = PageBuf::default();
        assert!(buf.is_empty());
        buf.ensure(3 * 4096 + 100);
        assert_eq!(buf.len(), 3 * 4096 + 100);
        assert_eq!(buf.as_ptr().align_offset(PageBuf::ALIGN), 0);
        assert!(buf.iter().all(|&b| b == 0));
        buf[5] = 7;
        // A smaller chunk reuses the buffer as it is.
        buf.ensure(4096);
        assert_eq!(buf[5], 7);
        assert_eq!(buf.len(), 3 * 4096 + 100);
        buf.ensure(8 * 4096);
        assert_eq!(buf.len(), 8 * 4096);
        assert_eq!(buf.as_ptr().align_offset(PageBuf::ALIGN), 0);
    }
}
