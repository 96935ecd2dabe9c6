//! [`OutputFile`]: a file being written under a temporary name in its destination's directory,
//! optionally hashed (sha256) as it is written front to back, then fsynced and renamed into
//! place. Dropped before [`OutputFile::commit`], it removes itself: the destination never
//! holds a half-written image. Other threads may write it through a second
//! [`handle`](OutputFile::handle), the owner [`record`](OutputFile::record)ing those writes in
//! order so that the hash is still computed in the same pass.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::convert::WRITE_BLOCK;
use crate::error::DiskError;
use crate::io::ReadAt;

/// What [`OutputFile::commit`] reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Committed {
    /// The final path.
    pub path: PathBuf,
    /// The file's length.
    pub len: u64,
    /// Bytes actually written (holes are not counted).
    pub bytes_written: u64,
    /// The sha256 of the whole file (holes read as zeros), lowercase hex, when asked for.
    pub sha256: Option<String>,
    /// Whether the hash needed a read-back of the finished file (writes were not front to back).
    pub hash_read_back: bool,
}

/// A destination file written under a temporary name.
#[derive(Debug)]
pub struct OutputFile {
    tmp: tempfile::NamedTempFile,
    path: PathBuf,
    hasher: Option<Sha256>,
    /// Everything before this offset has been hashed.
    hashed_to: u64,
    /// A write went backwards: the hash must be computed by reading the file back.
    read_back: bool,
    bytes_written: u64,
    sync: bool,
    /// With `sync`: writeback of everything before this offset has been started.
    writeback_from: u64,
}

/// With `sync`, writeback of the written prefix is started every this many bytes, so that the
/// disk writes while the conversion goes on and the final fsync only waits for the tail (for a
/// 1.7 GB import on this project's machines, that takes the fsync from seconds to a fraction).
const WRITEBACK_STEP: u64 = 64 << 20;

/// Zeros fed to the hasher for holes.
static ZEROS: [u8; 64 * 1024] = [0; 64 * 1024];

impl OutputFile {
    /// Creates a temporary file beside `path` (which must not be a directory). With `hash`, the
    /// bytes are hashed as they are written; with `sync`, [`OutputFile::commit`] fsyncs the file
    /// before the rename and the directory after it.
    pub fn create(path: &Path, hash: bool, sync: bool) -> Result<Self, DiskError> {
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
            hasher: hash.then(Sha256::new),
            hashed_to: 0,
            read_back: false,
            bytes_written: 0,
            sync,
            writeback_from: 0,
        })
    }

    /// The destination path (not the temporary one).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The open file.
    pub fn file(&self) -> &File {
        self.tmp.as_file()
    }

    fn err(&self, op: String, e: std::io::Error) -> DiskError {
        DiskError::io(op, e).with_path(&self.path)
    }

    /// A second handle on the temporary file, for writers on other threads (see
    /// [`OutputFile::record`]).
    pub fn handle(&self) -> Result<File, DiskError> {
        self.file()
            .try_clone()
            .map_err(|e| self.err("duplicate the file handle".into(), e))
    }

    /// Writes `data` at `offset`. Writes at or after everything written so far keep the
    /// in-pass hash; the gap before them is a hole and hashes as zeros.
    pub fn write_at(&mut self, data: &[u8], offset: u64) -> Result<(), DiskError> {
        write_in_blocks(self.file(), data, offset)
            .map_err(|(at, n, e)| self.err(format!("write {n} bytes at offset {at}"), e))?;
        self.record(data, offset);
        Ok(())
    }

    /// Accounts for `data` already written at `offset` through another [`handle`](Self::handle):
    /// counts it and, in offset order, hashes it as [`write_at`](Self::write_at) would.
    pub fn record(&mut self, data: &[u8], offset: u64) {
        self.bytes_written += data.len() as u64;
        let end = offset + data.len() as u64;
        if self.sync && end >= self.writeback_from + WRITEBACK_STEP {
            // POSIX_FADV_DONTNEED starts writeback of the dirty pages in the range without
            // waiting for it (Linux), then drops the clean ones: nothing reads them again.
            // Advice is best effort: an error here changes nothing but speed.
            let len = end - self.writeback_from;
            let _ = rustix::fs::fadvise(
                self.file(),
                self.writeback_from,
                std::num::NonZeroU64::new(len),
                rustix::fs::Advice::DontNeed,
            );
            self.writeback_from = end;
        }
        if let Some(h) = &mut self.hasher {
            if offset < self.hashed_to {
                self.read_back = true;
            } else if !self.read_back {
                hash_zeros(h, offset - self.hashed_to);
                h.update(data);
                self.hashed_to = offset + data.len() as u64;
            }
        }
    }

    /// Sets the length, makes the file durable (if asked), renames it to the destination and
    /// returns what was written.
    pub fn commit(mut self, len: u64) -> Result<Committed, DiskError> {
        let file = self.file();
        file.set_len(len)
            .map_err(|e| self.err(format!("set the length to {len}"), e))?;
        let sha256 = match self.hasher.take() {
            None => None,
            Some(mut h) if !self.read_back && self.hashed_to <= len => {
                hash_zeros(&mut h, len - self.hashed_to);
                Some(hex::encode(h.finalize()))
            }
            Some(_) => {
                self.read_back = true;
                Some(self.hash_file(len)?)
            }
        };
        let sync = self.sync;
        if sync {
            self.file()
                .sync_all()
                .map_err(|e| self.err("fsync".into(), e))?;
        }
        // Readable by others, as qemu-img creates images (tempfile creates 0600).
        set_mode_644(self.file()).map_err(|e| self.err("set permissions".into(), e))?;
        let OutputFile {
            tmp,
            path,
            bytes_written,
            read_back,
            ..
        } = self;
        tmp.persist(&path).map_err(|e| {
            DiskError::io("rename the temporary file into place", e.error).with_path(&path)
        })?;
        if sync && let Some(dir) = path.parent() {
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
            sha256,
            hash_read_back: read_back,
        })
    }

    /// Hashes the first `len` bytes of the file by reading it back (holes skipped, as zeros).
    fn hash_file(&self, len: u64) -> Result<String, DiskError> {
        let file = self.file();
        let mut h = Sha256::new();
        let mut buf = vec![0u8; 1 << 20];
        let mut pos = 0u64;
        while pos < len {
            let (data_start, data_end) = match file.next_data(pos) {
                Ok(Some((s, e))) => (s.min(len), e.min(len)),
                Ok(None) => (len, len),
                Err(e) => return Err(self.err(format!("find data at offset {pos}"), e)),
            };
            hash_zeros(&mut h, data_start - pos);
            let mut p = data_start;
            while p < data_end {
                let n = (data_end - p).min(buf.len() as u64) as usize;
                FileExt::read_exact_at(file, &mut buf[..n], p)
                    .map_err(|e| self.err(format!("read back {n} bytes at offset {p}"), e))?;
                h.update(&buf[..n]);
                p += n as u64;
            }
            if data_end <= pos {
                // No progress (an empty data range): hash the rest as read.
                let n = (len - pos).min(buf.len() as u64) as usize;
                FileExt::read_exact_at(file, &mut buf[..n], pos)
                    .map_err(|e| self.err(format!("read back {n} bytes at offset {pos}"), e))?;
                h.update(&buf[..n]);
                pos += n as u64;
            } else {
                pos = data_end;
            }
        }
        Ok(hex::encode(h.finalize()))
    }
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

fn hash_zeros(h: &mut Sha256, mut n: u64) {
    while n > 0 {
        let k = n.min(ZEROS.len() as u64) as usize;
        h.update(&ZEROS[..k]);
        n -= k as u64;
    }
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
}
