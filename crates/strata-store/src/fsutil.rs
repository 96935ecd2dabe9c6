//! File-system helpers the stores share: directory fsync, `access(W_OK)`, streaming sha256, and
//! the clone-or-sparse-copy of a file (FICLONE, else SEEK_DATA/SEEK_HOLE + `copy_file_range`).

use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::FileExt;
use std::path::Path;

use sha2::{Digest as _, Sha256};
use strata_model::digest::Digest;

use crate::error::{IoContext, Result};

/// The read size for hashing and copying: large enough for sequential throughput, small enough
/// to bound memory (one buffer per operation).
pub(crate) const CHUNK: usize = 1 << 20;

/// Flushes a directory's entries (after a rename, link, unlink or mkdir in it) to stable storage.
pub(crate) fn fsync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .at("fsync directory", dir)
}

/// Whether the calling process may write to `path` (`access(path, W_OK)`, as pcocc's `repo
/// list` WRITABLE column and `Cache.__init__` check). Root passes every permission check except
/// a read-only filesystem (`EROFS`).
pub fn is_writable(path: &Path) -> bool {
    rustix::fs::access(path, rustix::fs::Access::WRITE_OK).is_ok()
}

/// Whether the calling process runs as root (permission bits are then not enforced).
pub fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// The process umask, read from `/proc/self/status` once (setting it to read it back would race
/// with other threads creating files); `022` where that is not available.
pub(crate) fn umask() -> u32 {
    static UMASK: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    *UMASK.get_or_init(|| {
        std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|status| {
                let line = status.lines().find(|l| l.starts_with("Umask:"))?;
                u32::from_str_radix(line.trim_start_matches("Umask:").trim(), 8).ok()
            })
            .unwrap_or(0o022)
    })
}

/// Creates directory `path`; an existing one is fine. Returns whether it was created.
pub(crate) fn mkdir_if_missing(path: &Path) -> io::Result<bool> {
    match std::fs::create_dir(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(e),
    }
}

/// Seconds since the epoch, as Python's `time.time()`.
pub(crate) fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// A sha256 that is fed incrementally.
#[derive(Default)]
pub(crate) struct Hasher(Sha256);

impl std::fmt::Debug for Hasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Hasher")
    }
}

impl Hasher {
    /// Feeds bytes.
    pub(crate) fn update(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    /// Feeds `len` zero bytes without a buffer of that size.
    pub(crate) fn update_zeros(&mut self, mut len: u64) {
        static ZEROS: [u8; 64 << 10] = [0; 64 << 10];
        while len > 0 {
            let n = usize::try_from(len).map_or(ZEROS.len(), |l| l.min(ZEROS.len()));
            self.0.update(&ZEROS[..n]);
            len -= n as u64;
        }
    }

    /// The digest of everything fed.
    pub(crate) fn finish(self) -> Digest {
        Digest::from_bytes(self.0.finalize().into())
    }
}

/// The sha256 of a file's contents and its length, streamed in 1 MiB reads (holes are hashed as
/// zeros without being read).
pub fn hash_file(path: &Path) -> Result<(Digest, u64)> {
    let file = File::open(path).at("open", path)?;
    hash_open_file(&file).at("read", path)
}

/// [`hash_file`] on an open file, from offset 0, skipping the reads of holes.
pub(crate) fn hash_open_file(file: &File) -> io::Result<(Digest, u64)> {
    let len = file.metadata()?.len();
    let mut hasher = Hasher::default();
    let mut buf = vec![0u8; CHUNK];
    let mut offset = 0u64;
    for (start, end) in data_extents(file, len)? {
        hasher.update_zeros(start - offset);
        let mut pos = start;
        while pos < end {
            let n = usize::try_from(end - pos).map_or(CHUNK, |n| n.min(CHUNK));
            file.read_exact_at(&mut buf[..n], pos)?;
            hasher.update(&buf[..n]);
            pos += n as u64;
        }
        offset = end;
    }
    hasher.update_zeros(len - offset);
    Ok((hasher.finish(), len))
}

/// The sha256 of everything `reader` yields, and its length.
pub fn hash_reader(mut reader: impl Read) -> io::Result<(Digest, u64)> {
    let mut hasher = Hasher::default();
    let mut buf = vec![0u8; CHUNK];
    let mut len = 0u64;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        hasher.update(&buf[..n]);
        len += n as u64;
    }
    Ok((hasher.finish(), len))
}

/// The ranges `[start, end)` of `file` (of length `len`) that may hold data, in order, from
/// SEEK_DATA/SEEK_HOLE; the whole file when the filesystem cannot tell.
pub(crate) fn data_extents(file: &File, len: u64) -> io::Result<Vec<(u64, u64)>> {
    use rustix::fs::{SeekFrom, seek};
    let mut extents = Vec::new();
    let mut offset = 0u64;
    while offset < len {
        let start = match seek(file, SeekFrom::Data(offset)) {
            Ok(start) => start,
            Err(rustix::io::Errno::NXIO) => break,
            Err(rustix::io::Errno::INVAL | rustix::io::Errno::OPNOTSUPP) if offset == 0 => {
                return Ok(vec![(0, len)]);
            }
            Err(e) => return Err(e.into()),
        };
        if start >= len {
            break;
        }
        let end = seek(file, SeekFrom::Hole(start))
            .map_err(io::Error::from)?
            .min(len);
        if end <= start {
            // A filesystem that reports an empty extent: take the rest as data.
            extents.push((start, len));
            break;
        }
        extents.push((start, end));
        offset = end;
    }
    Ok(extents)
}

/// How a file was brought into a store: linked, cloned or copied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CopyMethod {
    /// The destination already had these bytes: nothing was read or written.
    Existing,
    /// The source and destination are one inode (hard link).
    HardLink,
    /// A copy-on-write clone (FICLONE): no data was copied.
    Reflink,
    /// An extent-by-extent copy that keeps holes (`copy_file_range`, else read/write).
    SparseCopy,
    /// A registry mounted the blob from another of its repositories: no data was sent.
    Mounted,
}

/// Makes `dst` (empty, open for writing) a copy of `src`: a FICLONE reflink where the
/// filesystem supports it, else a copy of the data extents only, so that holes stay holes.
pub fn clone_or_copy(src: &File, dst: &File) -> io::Result<CopyMethod> {
    if rustix::fs::ioctl_ficlone(dst, src).is_ok() {
        return Ok(CopyMethod::Reflink);
    }
    let len = src.metadata()?.len();
    dst.set_len(len)?;
    for (start, end) in data_extents(src, len)? {
        copy_range(src, dst, start, end - start)?;
    }
    Ok(CopyMethod::SparseCopy)
}

/// Copies `len` bytes at `offset` from `src` to the same offset of `dst`.
fn copy_range(src: &File, dst: &File, offset: u64, len: u64) -> io::Result<()> {
    let mut done = 0u64;
    while done < len {
        let mut off_in = offset + done;
        let mut off_out = off_in;
        let want = usize::try_from(len - done).map_or(1 << 30, |n| n.min(1 << 30));
        match rustix::fs::copy_file_range(src, Some(&mut off_in), dst, Some(&mut off_out), want) {
            Ok(0) => {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the source file shrank while it was copied",
                ));
            }
            Ok(n) => done += n as u64,
            Err(rustix::io::Errno::INTR) => {}
            Err(
                rustix::io::Errno::XDEV
                | rustix::io::Errno::NOSYS
                | rustix::io::Errno::INVAL
                | rustix::io::Errno::OPNOTSUPP,
            ) => return copy_range_rw(src, dst, offset + done, len - done),
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// [`copy_range`] with positional reads and writes, for filesystems without
/// `copy_file_range`.
fn copy_range_rw(src: &File, dst: &File, offset: u64, len: u64) -> io::Result<()> {
    let mut buf = vec![0u8; CHUNK];
    let mut done = 0u64;
    while done < len {
        let n = usize::try_from(len - done).map_or(CHUNK, |n| n.min(CHUNK));
        src.read_exact_at(&mut buf[..n], offset + done)?;
        dst.write_all_at(&buf[..n], offset + done)?;
        done += n as u64;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes() {
        let (d, len) = hash_reader(&b""[..]).unwrap();
        assert_eq!(
            d.hex(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(len, 0);
        let (d, _) = hash_reader(&b"abc"[..]).unwrap();
        assert_eq!(
            d.hex(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let mut zeros = Hasher::default();
        zeros.update_zeros(200_000);
        assert_eq!(
            zeros.finish(),
            hash_reader(&vec![0u8; 200_000][..]).unwrap().0
        );
    }

    #[test]
    fn sparse_copy_keeps_holes_and_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let src_path = dir.path().join("src");
        let src = File::create_new(&src_path).unwrap();
        src.set_len(64 << 20).unwrap();
        src.write_all_at(b"head", 0).unwrap();
        src.write_all_at(&[7u8; 1 << 20], 40 << 20).unwrap();
        let src = File::open(&src_path).unwrap();
        let dst_path = dir.path().join("dst");
        let dst = File::create_new(&dst_path).unwrap();
        let method = clone_or_copy(&src, &dst).unwrap();
        drop(dst);
        assert_eq!(hash_file(&dst_path).unwrap(), hash_file(&src_path).unwrap());
        assert_eq!(
            hash_file(&src_path).unwrap().0,
            hash_reader(File::open(&src_path).unwrap()).unwrap().0
        );
        use std::os::unix::fs::MetadataExt;
        let blocks = std::fs::metadata(&dst_path).unwrap().blocks() * 512;
        // Either a reflink (shares the source's extents) or a copy of ~1 MiB of data; never the
        // full 64 MiB.
        assert!(blocks < 8 << 20, "{method:?} allocated {blocks} bytes");
    }
}
