//! The writer contract every convert target writes through ([`Output`]), and [`OutputFile`], the
//! output for a destination outside any store: a file written under a temporary name beside its
//! destination, made durable and renamed into place by [`OutputFile::commit`]. Dropped before
//! that, it removes itself, so the destination never holds a half-written image.
//!
//! Targets never open, name or rename files themselves: the owner of an output creates it, hands
//! it to a target (`&mut dyn Output`), runs the conversion, and commits it. The store has its own
//! output (a new blob, hashed while written and renamed under its digest); strata-disk knows
//! nothing of it.

use std::fmt;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use crate::error::DiskError;
use crate::zero::non_zero_runs;

/// Data writes are cut at file offsets that are multiples of this, so no write is larger and
/// full-size writes are aligned.
///
/// A buffered write's length and offset set the largest page-cache folio the kernel allocates
/// for it (ext4 has large folios since Linux 6.16). Folios of up to 8 pages (order 3, the
/// kernel's `PAGE_ALLOC_COSTLY_ORDER`) can be made of any free memory, including the small
/// pieces that recently freed memory leaves; larger ones need free blocks at least as large,
/// and when those are short they are cut from the large free blocks that a balloon with free
/// page reporting (Firecracker, the benchmark machine) has handed back to the host: each of
/// their pages then faults on the host when the copy first writes it. Measured there with
/// qemu-img and the variants interleaved run by run (6 rounds, 1.4–1.6 GB written), in such a
/// state: raw -> qcow2 took 0.45–0.50 s with 32 KiB writes and 0.43–5.2 s with 256 KiB ones
/// (qemu-img `-m 8 -W` 0.62–0.72 s); raw -> raw 0.44–0.50 s against 0.38–3.3 s. In a good
/// state, 256 KiB writes are 10–20 % faster (fewer folios): qcow2 -> raw 0.36–0.39 s against
/// 0.42–0.45 s. 64 and 128 KiB writes swung like 256 KiB; 16 KiB ones were as steady as
/// 32 KiB but slower; 1 MiB and 8 MiB writes, tried earlier, were slower still. Cutting at
/// aligned offsets rather than every 32 KiB from where a run of data starts (raw output starts
/// runs at any 4 KiB boundary) keeps the folios whole: qcow2 -> raw 0.42–0.45 s against
/// 0.44–0.50 s. Choosing the size from the measured cost of each during the run was tried and
/// dropped: when free memory runs short late in a run, both sizes turn slow together.
pub const WRITE_BLOCK: usize = 32 << 10;

/// Where a convert target writes its file.
///
/// Writes are positional. A target writes through [`write_at`](Output::write_at); when the
/// engine's workers write data in parallel through a [`handle`](Output::handle), the target
/// [`record`](Output::record)s each of those writes, in guest order, so that an output that
/// observes its bytes (a store hashing a new blob) sees every write once.
pub trait Output: Send + fmt::Debug {
    /// The open file (targets may read back what they wrote).
    fn file(&self) -> &File;

    /// The path errors name: the destination, not a temporary name.
    fn path(&self) -> &Path;

    /// Accounts for `data`, written at `offset` of [`file`](Output::file) (by
    /// [`write_at`](Output::write_at) or through a [`handle`](Output::handle)).
    fn record(&mut self, data: &[u8], offset: u64);

    /// Bytes written so far (holes not counted).
    fn bytes_written(&self) -> u64;

    /// Told by a target, before its first data, that it will write again before what it has
    /// written (tables at the start of the file, filled in last): an output that observes its
    /// bytes in file order (a store hashing a new blob as it is written) can stop at once
    /// instead of finding out at the end.
    fn expect_rewrites(&mut self) {}

    /// Writes `data` at `offset`, cut at file offsets that are multiples of [`WRITE_BLOCK`], and
    /// records it.
    fn write_at(&mut self, data: &[u8], offset: u64) -> Result<(), DiskError> {
        write_in_blocks(self.file(), data, offset).map_err(|(at, n, e)| {
            DiskError::io(format!("write {n} bytes at offset {at}"), e).with_path(self.path())
        })?;
        self.record(data, offset);
        Ok(())
    }

    /// A second handle on the file, for the engine's writers on other threads.
    fn handle(&self) -> Result<File, DiskError> {
        self.file()
            .try_clone()
            .map_err(|e| DiskError::io("duplicate the file handle", e).with_path(self.path()))
    }

    /// Sets the file's length (a longer file reads as zeros there: a hole).
    fn set_len(&mut self, len: u64) -> Result<(), DiskError> {
        self.file().set_len(len).map_err(|e| {
            DiskError::io(format!("set the length to {len}"), e).with_path(self.path())
        })
    }

    /// Reserves disk space for `len` bytes at `offset` without changing what they read (holes
    /// there still read as zeros, as `fallocate(2)` with no flags leaves them), growing the
    /// file if it ends before: qcow2's `preallocation=falloc`. Nothing is written, so nothing
    /// is [`record`](Output::record)ed.
    fn allocate(&mut self, offset: u64, len: u64) -> Result<(), DiskError> {
        if len == 0 {
            return Ok(());
        }
        rustix::fs::fallocate(
            self.file(),
            rustix::fs::FallocateFlags::empty(),
            offset,
            len,
        )
        .map_err(|e| {
            DiskError::io(
                format!("allocate {len} bytes at offset {offset}"),
                std::io::Error::from(e),
            )
            .with_path(self.path())
        })
    }
}

/// Whether [`OutputFile::commit`] makes the file durable before it appears.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// fsync the file before the rename and the directory after it (the default: a crash
    /// leaves the old destination or the whole new one).
    #[default]
    Durable,
    /// Leave it to the kernel, as qemu-img's default `cache=unsafe` does (benchmarks, scratch
    /// files).
    Volatile,
}

/// Starts writeback of a file's written prefix every [`Writeback::STEP`] bytes, so that the disk
/// writes while a conversion goes on and the final fsync only waits for the tail (for a 1.7 GB
/// import on this project's machines, that takes the fsync from seconds to a fraction). For
/// outputs that fsync at the end.
#[derive(Debug, Default)]
pub struct Writeback {
    /// Writeback of everything before this offset has been started.
    from: u64,
}

impl Writeback {
    /// How much written data starts a writeback.
    pub const STEP: u64 = 64 << 20;

    /// Notes that `file` has been written up to `end`, starting writeback when a step is full.
    pub fn advance(&mut self, file: &File, end: u64) {
        if end < self.from.saturating_add(Self::STEP) {
            return;
        }
        // POSIX_FADV_DONTNEED starts writeback of the dirty pages in the range without waiting
        // for it (Linux), then drops the clean ones: nothing reads them again. Advice is best
        // effort: an error here changes nothing but speed.
        let _ = rustix::fs::fadvise(
            file,
            self.from,
            std::num::NonZeroU64::new(end - self.from),
            rustix::fs::Advice::DontNeed,
        );
        self.from = end;
    }
}

/// What [`OutputFile::commit`] reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Committed {
    /// The final path.
    pub path: PathBuf,
    /// The file's length.
    pub len: u64,
    /// Bytes actually written (holes are not counted).
    pub bytes_written: u64,
}

/// A destination file written under a temporary name beside it.
#[derive(Debug)]
pub struct OutputFile {
    tmp: tempfile::NamedTempFile,
    path: PathBuf,
    bytes_written: u64,
    durability: Durability,
    writeback: Writeback,
}

impl OutputFile {
    /// Creates a temporary file beside `path`, which must name a file.
    pub fn create(path: &Path, durability: Durability) -> Result<Self, DiskError> {
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        let name = path.file_name().ok_or_else(|| {
            DiskError::invalid_request("the destination names no file".to_string()).with_path(path)
        })?;
        let mut prefix = std::ffi::OsString::from(".");
        prefix.push(name);
        prefix.push(".");
        let tmp = tempfile::Builder::new()
            .prefix(&prefix)
            .suffix(".tmp")
            .tempfile_in(dir)
            .map_err(|e| DiskError::io("create a temporary file", e).with_path(path))?;
        Ok(OutputFile {
            tmp,
            path: path.to_path_buf(),
            bytes_written: 0,
            durability,
            writeback: Writeback::default(),
        })
    }

    fn err(&self, op: &str, e: std::io::Error) -> DiskError {
        DiskError::io(op.to_owned(), e).with_path(&self.path)
    }

    /// Makes the file durable (unless [`Durability::Volatile`]), renames it to the destination
    /// (replacing what was there) and reports it.
    pub fn commit(self) -> Result<Committed, DiskError> {
        let durable = self.durability == Durability::Durable;
        if durable {
            self.file().sync_all().map_err(|e| self.err("fsync", e))?;
        }
        // Readable by others, as qemu-img creates images (tempfile creates 0600).
        set_mode_644(self.file()).map_err(|e| self.err("set permissions of", e))?;
        let len = self
            .file()
            .metadata()
            .map_err(|e| self.err("read the metadata of", e))?
            .len();
        let OutputFile {
            tmp,
            path,
            bytes_written,
            ..
        } = self;
        tmp.persist(&path).map_err(|e| {
            DiskError::io("rename the temporary file into place", e.error).with_path(&path)
        })?;
        if durable && let Some(dir) = path.parent() {
            let dir = if dir.as_os_str().is_empty() {
                Path::new(".")
            } else {
                dir
            };
            if let Ok(d) = File::open(dir) {
                let _ = d.sync_all();
            }
        }
        Ok(Committed {
            path,
            len,
            bytes_written,
        })
    }
}

impl Output for OutputFile {
    fn file(&self) -> &File {
        self.tmp.as_file()
    }

    fn path(&self) -> &Path {
        &self.path
    }

    fn record(&mut self, data: &[u8], offset: u64) {
        self.bytes_written += data.len() as u64;
        if self.durability == Durability::Durable {
            self.writeback
                .advance(self.tmp.as_file(), offset + data.len() as u64);
        }
    }

    fn bytes_written(&self) -> u64 {
        self.bytes_written
    }
}

/// Writes `data` at `offset` of `out`, a range of the file never written before (a hole),
/// leaving out its blocks of zeros ([`non_zero_runs`]): they stay holes and read as zeros.
/// Records what it writes. For the metadata a target lays out before any data (tables that
/// are mostly zeros while the image is new); never for a rewrite, where zeros must replace
/// what was there.
pub(crate) fn write_new(out: &mut dyn Output, data: &[u8], offset: u64) -> Result<(), DiskError> {
    for (start, end) in non_zero_runs(data, offset) {
        out.write_at(&data[start..end], offset + start as u64)?;
    }
    Ok(())
}

/// [`write_in_blocks`] of the non-zero blocks of `data` only ([`non_zero_runs`]), for data
/// written into a hole.
pub(crate) fn write_new_in_blocks(
    file: &File,
    data: &[u8],
    offset: u64,
) -> Result<(), (u64, usize, std::io::Error)> {
    for (start, end) in non_zero_runs(data, offset) {
        write_in_blocks(file, &data[start..end], offset + start as u64)?;
    }
    Ok(())
}

/// Writes `data` at `offset` of `file`, one system call per piece between file offsets that are
/// multiples of [`WRITE_BLOCK`] (see there why); a failure reports the offset and length of the
/// write that failed.
pub(crate) fn write_in_blocks(
    file: &File,
    data: &[u8],
    offset: u64,
) -> Result<(), (u64, usize, std::io::Error)> {
    let mut at = offset;
    let mut rest = data;
    while !rest.is_empty() {
        let n = (WRITE_BLOCK - (at % WRITE_BLOCK as u64) as usize).min(rest.len());
        let (block, tail) = rest.split_at(n);
        file.write_all_at(block, at)
            .map_err(|e| (at, block.len(), e))?;
        at += n as u64;
        rest = tail;
    }
    Ok(())
}

fn set_mode_644(file: &File) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    file.set_permissions(std::fs::Permissions::from_mode(0o644))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_in_blocks_writes_every_byte_across_aligned_cuts() {
        let dir = tempfile::tempdir().unwrap();
        let file = File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(dir.path().join("out"))
            .unwrap();
        // Starts 4 KiB past an aligned offset and ends mid-block: three kinds of piece.
        let offset = (WRITE_BLOCK + 4096) as u64;
        let data: Vec<u8> = (0..3 * WRITE_BLOCK + 1000)
            .map(|i| (i % 251) as u8)
            .collect();
        write_in_blocks(&file, &data, offset).unwrap();
        let mut back = vec![0u8; data.len()];
        FileExt::read_exact_at(&file, &mut back, offset).unwrap();
        assert_eq!(back, data);
        assert_eq!(file.metadata().unwrap().len(), offset + data.len() as u64);
    }

    #[test]
    fn allocate_reserves_space_and_reads_zeros() {
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().unwrap();
        let mut out = OutputFile::create(&dir.path().join("a"), Durability::Volatile).unwrap();
        out.allocate(0, 0).unwrap();
        out.allocate(4096, 1 << 20).unwrap();
        let meta = out.file().metadata().unwrap();
        assert_eq!(meta.len(), 4096 + (1 << 20));
        assert!(meta.blocks() * 512 >= 1 << 20, "{} blocks", meta.blocks());
        assert_eq!(out.bytes_written(), 0);
        let mut back = vec![1u8; 4096];
        FileExt::read_exact_at(out.file(), &mut back, 8192).unwrap();
        assert!(back.iter().all(|&b| b == 0));
    }

    #[test]
    fn commit_renames_and_drop_removes() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("disk.img");
        let mut out = OutputFile::create(&dest, Durability::Durable).unwrap();
        out.write_at(b"hello", 4096).unwrap();
        out.set_len(8192).unwrap();
        let committed = out.commit().unwrap();
        assert_eq!(committed.len, 8192);
        assert_eq!(committed.bytes_written, 5);
        assert_eq!(std::fs::read(&dest).unwrap()[4096..4101], *b"hello");
        let dropped = OutputFile::create(&dest, Durability::Volatile).unwrap();
        drop(dropped);
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1, "only the committed file is left");
    }
}
