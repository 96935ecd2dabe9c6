//! The raw format: a plain byte-for-byte disk. [`RawImage`] reads and writes a file (or bytes in
//! memory) sparse-aware: the map comes from SEEK_DATA/SEEK_HOLE, writes of zero blocks leave
//! holes, and zeroing punches holes.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::sync::Arc;

use strata_model::DiskFormat;

use crate::convert::output::Output;
use crate::convert::{ConvertTarget, Finished, Layout, Placement, SourceMap};
use crate::error::DiskError;
use crate::image::{DiskImage, DiskImageMut, Extent, ExtentKind};
use crate::io::ReadAt;
use crate::zero::is_zero;

/// The block size at which writes look for zeros to leave as holes (the usual filesystem block).
pub const RAW_ZERO_BLOCK: usize = 4096;

/// Where a [`RawImage`] keeps its bytes.
#[derive(Debug)]
enum Backend {
    /// A file, shared so that clones of the handle read it from several threads.
    File(Arc<File>),
    /// Bytes in memory (tests, fuzzers, small images).
    Bytes(Vec<u8>),
}

/// A raw disk image: its virtual size is its length.
#[derive(Debug)]
pub struct RawImage {
    backend: Backend,
    size: u64,
}

impl RawImage {
    /// Opens a raw image over `file`; its virtual size is the file's length.
    pub fn from_file(file: File) -> Result<Self, DiskError> {
        let size = file
            .metadata()
            .map_err(|e| DiskError::io("read file metadata", e))?
            .len();
        Ok(RawImage {
            backend: Backend::File(Arc::new(file)),
            size,
        })
    }

    /// A raw image held in memory.
    pub fn from_bytes(bytes: Vec<u8>) -> Self {
        let size = bytes.len() as u64;
        RawImage {
            backend: Backend::Bytes(bytes),
            size,
        }
    }

    /// The bytes of an in-memory image (`None` for a file).
    pub fn bytes(&self) -> Option<&[u8]> {
        match &self.backend {
            Backend::Bytes(b) => Some(b),
            Backend::File(_) => None,
        }
    }

    /// The file of a file-backed image (`None` in memory).
    pub fn file(&self) -> Option<&File> {
        match &self.backend {
            Backend::File(f) => Some(f),
            Backend::Bytes(_) => None,
        }
    }

    fn check_range(&self, offset: u64, len: u64) -> Result<(), DiskError> {
        crate::image::check_range(offset, len, self.size)
    }

    fn write_data(&mut self, buf: &[u8], offset: u64) -> Result<(), DiskError> {
        match &mut self.backend {
            Backend::File(f) => f.write_all_at(buf, offset).map_err(|e| {
                DiskError::io(format!("write {} bytes at offset {offset}", buf.len()), e)
            }),
            Backend::Bytes(b) => {
                let start = usize::try_from(offset).map_err(|_| too_big(offset))?;
                let dst = b
                    .get_mut(start..start + buf.len())
                    .ok_or_else(|| too_big(offset))?;
                dst.copy_from_slice(buf);
                Ok(())
            }
        }
    }
}

fn too_big(offset: u64) -> DiskError {
    DiskError::invalid_request(format!("offset {offset} does not fit in memory"))
}

impl DiskImage for RawImage {
    fn format(&self) -> DiskFormat {
        DiskFormat::Raw
    }

    fn virtual_size(&self) -> u64 {
        self.size
    }

    fn read_at(&self, buf: &mut [u8], offset: u64) -> Result<(), DiskError> {
        self.check_range(offset, buf.len() as u64)?;
        let result = match &self.backend {
            Backend::File(f) => ReadAt::read_exact_at(&**f, buf, offset),
            Backend::Bytes(b) => b.read_exact_at(buf, offset),
        };
        result.map_err(|e| DiskError::io(format!("read {} bytes at offset {offset}", buf.len()), e))
    }

    fn map(&self, offset: u64, max_len: u64) -> Result<Extent, DiskError> {
        if offset >= self.size || max_len == 0 {
            return Err(DiskError::invalid_request(format!(
                "map at offset {offset} (length {max_len}) outside the virtual size {}",
                self.size
            )));
        }
        let end = offset.saturating_add(max_len).min(self.size);
        let next = match &self.backend {
            Backend::File(f) => f.next_data(offset),
            Backend::Bytes(b) => b.next_data(offset),
        }
        .map_err(|e| DiskError::io(format!("find data at offset {offset}"), e))?;
        let (kind, ext_end) = match next {
            Some((start, data_end)) if start <= offset => (ExtentKind::Data, data_end),
            Some((start, _)) => (ExtentKind::Zero, start),
            None => (ExtentKind::Zero, self.size),
        };
        let ext_end = ext_end.clamp(offset + 1, end);
        Ok(Extent {
            offset,
            length: ext_end - offset,
            kind,
        })
    }
}

impl DiskImageMut for RawImage {
    /// Writes `buf`, leaving holes where whole aligned 4 KiB blocks are zero and the file has
    /// none there yet (zero blocks are skipped, so they keep reading as zeros only over holes:
    /// blocks that already hold data are written).
    fn write_at(&mut self, buf: &[u8], offset: u64) -> Result<(), DiskError> {
        self.check_range(offset, buf.len() as u64)?;
        if matches!(self.backend, Backend::Bytes(_)) {
            return self.write_data(buf, offset);
        }
        // Split into runs of non-zero blocks and runs of zero blocks; zero runs over existing
        // data are punched rather than skipped, so the result reads as `buf` either way.
        let mut pos = 0usize;
        while pos < buf.len() {
            let block_end = block_end(offset, pos, buf.len());
            let zero = is_zero(&buf[pos..block_end]);
            let mut run_end = block_end;
            while run_end < buf.len() {
                let next_end = block_end_at(offset, run_end, buf.len());
                if is_zero(&buf[run_end..next_end]) != zero {
                    break;
                }
                run_end = next_end;
            }
            let run_off = offset + pos as u64;
            if zero {
                self.write_zeroes(run_off, (run_end - pos) as u64)?;
            } else {
                self.write_data(&buf[pos..run_end], run_off)?;
            }
            pos = run_end;
        }
        Ok(())
    }

    fn write_zeroes(&mut self, offset: u64, len: u64) -> Result<(), DiskError> {
        self.check_range(offset, len)?;
        if len == 0 {
            return Ok(());
        }
        match &mut self.backend {
            Backend::Bytes(b) => {
                let start = usize::try_from(offset).map_err(|_| too_big(offset))?;
                let end = start + usize::try_from(len).map_err(|_| too_big(offset))?;
                b[start..end].fill(0);
                Ok(())
            }
            Backend::File(f) => {
                // Nothing to do over a hole; punching is cheap, but skip the syscall when the
                // whole range is already a hole.
                match f.next_data(offset) {
                    Ok(Some((start, _))) if start >= offset + len => return Ok(()),
                    Ok(None) => return Ok(()),
                    _ => {}
                }
                punch_or_write_zeroes(f, offset, len)
            }
        }
    }

    fn flush(&mut self) -> Result<(), DiskError> {
        match &self.backend {
            Backend::File(f) => f.sync_all().map_err(|e| DiskError::io("fsync", e)),
            Backend::Bytes(_) => Ok(()),
        }
    }

    fn resize(&mut self, new_size: u64) -> Result<(), DiskError> {
        match &mut self.backend {
            Backend::File(f) => f
                .set_len(new_size)
                .map_err(|e| DiskError::io(format!("resize to {new_size} bytes"), e))?,
            Backend::Bytes(b) => {
                let n = usize::try_from(new_size).map_err(|_| too_big(new_size))?;
                b.resize(n, 0);
            }
        }
        self.size = new_size;
        Ok(())
    }
}

/// Deallocates `[offset, offset+len)` of `file` (the size is kept); where the filesystem cannot
/// punch holes, writes zeros instead.
pub(crate) fn punch_or_write_zeroes(file: &File, offset: u64, len: u64) -> Result<(), DiskError> {
    use rustix::fs::{FallocateFlags, fallocate};
    match fallocate(
        file,
        FallocateFlags::PUNCH_HOLE | FallocateFlags::KEEP_SIZE,
        offset,
        len,
    ) {
        Ok(()) => Ok(()),
        Err(rustix::io::Errno::OPNOTSUPP | rustix::io::Errno::NOSYS) => {
            let zeros = vec![0u8; (len.min(1 << 20)) as usize];
            let mut pos = offset;
            let end = offset + len;
            while pos < end {
                let n = (end - pos).min(zeros.len() as u64) as usize;
                file.write_all_at(&zeros[..n], pos)
                    .map_err(|e| DiskError::io(format!("write zeros at offset {pos}"), e))?;
                pos += n as u64;
            }
            Ok(())
        }
        Err(e) => Err(DiskError::io(
            format!("punch a hole of {len} bytes at offset {offset}"),
            e.into(),
        )),
    }
}

/// The end (index into the buffer) of the zero-detection block that starts at `pos`.
fn block_end_at(offset: u64, pos: usize, len: usize) -> usize {
    let abs = offset + pos as u64;
    let next = (abs / RAW_ZERO_BLOCK as u64 + 1) * RAW_ZERO_BLOCK as u64;
    let n = (next - abs) as usize;
    (pos + n).min(len)
}

fn block_end(offset: u64, pos: usize, len: usize) -> usize {
    block_end_at(offset, pos, len)
}

/// A raw image written by the convert engine into an [`Output`]: data at its guest offset (by
/// the engine's workers, through a [`Placement`]), zero blocks left as holes.
#[derive(Debug)]
pub struct RawTarget<'o> {
    out: &'o mut dyn Output,
    size: u64,
}

impl<'o> RawTarget<'o> {
    /// Starts writing a raw image of `size` bytes into `out`.
    pub fn create(out: &'o mut dyn Output, size: u64) -> Result<Self, DiskError> {
        out.set_len(size)?;
        Ok(RawTarget { out, size })
    }
}

impl ConvertTarget for RawTarget<'_> {
    fn format_name(&self) -> &'static str {
        "raw"
    }

    fn virtual_size(&self) -> u64 {
        self.size
    }

    fn granularity(&self) -> u64 {
        RAW_ZERO_BLOCK as u64
    }

    fn plan(&mut self, _map: &SourceMap<'_>) -> Result<(), DiskError> {
        Ok(())
    }

    fn placement(&mut self) -> Result<Option<Placement>, DiskError> {
        Ok(Some(Placement {
            file: self.out.handle()?,
            path: self.out.path().to_path_buf(),
            layout: Layout::Identity,
            end: self.size,
        }))
    }

    fn write(&mut self, offset: u64, data: &[u8]) -> Result<(), DiskError> {
        let len = (data.len() as u64).min(self.size.saturating_sub(offset)) as usize;
        self.out.write_at(&data[..len], offset)
    }

    fn record(&mut self, _offset: u64, host: u64, data: &[u8]) -> Result<(), DiskError> {
        self.out.record(data, host);
        Ok(())
    }

    fn write_zeroes(&mut self, _offset: u64, _len: u64) -> Result<(), DiskError> {
        // The file was created sparse at its full length: zeros are already holes.
        Ok(())
    }

    fn finish(self: Box<Self>) -> Result<Finished, DiskError> {
        Ok(Finished {
            file_len: self.size,
            bytes_written: self.out.bytes_written(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_image_map_is_all_data() {
        let img = RawImage::from_bytes(vec![0u8; 8192]);
        let e = img.map(0, 1 << 20).unwrap();
        assert_eq!((e.offset, e.length, e.kind), (0, 8192, ExtentKind::Data));
    }
}
