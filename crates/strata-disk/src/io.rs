//! [`ReadAt`]: positional reads from a file or from bytes in memory, so that every parser works
//! on both (fuzzers and tests need no temporary files).

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

use crate::error::DiskError;

/// A source of bytes read at explicit offsets, shareable between threads.
pub trait ReadAt: Send + Sync {
    /// Fills `buf` from `offset`; reading past the end is an `UnexpectedEof` error.
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()>;

    /// The current length in bytes.
    fn size(&self) -> io::Result<u64>;

    /// The first range at or after `offset` that may hold data, as `(start, end)`; `None` when
    /// only a hole remains. Sources without hole information report everything as data.
    fn next_data(&self, offset: u64) -> io::Result<Option<(u64, u64)>> {
        let size = self.size()?;
        Ok((offset < size).then_some((offset, size)))
    }
}

/// Reads a table of `entries` 32-bit entries at `offset` of `src` (the caller has checked that
/// it fits in the file), `decode` turning each 4 bytes into an entry in the format's byte
/// order. The table's memory is reserved first (a failure is refused, not an abort) and the
/// bytes go through a buffer of at most 1 MiB. `what` names the table in errors.
pub(crate) fn read_u32_table(
    src: &dyn ReadAt,
    offset: u64,
    entries: u64,
    decode: fn([u8; 4]) -> u32,
    what: &str,
) -> Result<Vec<u32>, DiskError> {
    let len = entries * 4;
    let mut table: Vec<u32> = Vec::new();
    table
        .try_reserve_exact(usize::try_from(entries).unwrap_or(usize::MAX))
        .map_err(|_| DiskError::invalid_request(format!("no memory for the {what}")))?;
    let mut buf = vec![0u8; len.min(1 << 20) as usize];
    let mut at = 0u64;
    while at < len {
        let n = (len - at).min(buf.len() as u64) as usize;
        src.read_exact_at(&mut buf[..n], offset + at)
            .map_err(|e| DiskError::io(format!("read the {what} at {}", offset + at), e))?;
        table.extend(
            buf[..n]
                .chunks_exact(4)
                .map(|c| decode([c[0], c[1], c[2], c[3]])),
        );
        at += n as u64;
    }
    Ok(table)
}

impl ReadAt for File {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        FileExt::read_exact_at(self, buf, offset)
    }

    fn size(&self) -> io::Result<u64> {
        Ok(self.metadata()?.len())
    }

    fn next_data(&self, offset: u64) -> io::Result<Option<(u64, u64)>> {
        use rustix::fs::{SeekFrom, seek};
        let size = self.size()?;
        if offset >= size {
            return Ok(None);
        }
        let start = match seek(self, SeekFrom::Data(offset)) {
            Ok(start) => start,
            // ENXIO: no data at or after `offset`.
            Err(rustix::io::Errno::NXIO) => return Ok(None),
            // Filesystems without SEEK_DATA: everything is data.
            Err(rustix::io::Errno::INVAL | rustix::io::Errno::OPNOTSUPP) => {
                return Ok(Some((offset, size)));
            }
            Err(e) => return Err(e.into()),
        };
        let end = match seek(self, SeekFrom::Hole(start)) {
            Ok(end) => end.min(size),
            Err(rustix::io::Errno::NXIO) => size,
            Err(e) => return Err(e.into()),
        };
        Ok(Some((start, end)))
    }
}

impl ReadAt for [u8] {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        let start = usize::try_from(offset).map_err(|_| eof())?;
        let end = start.checked_add(buf.len()).ok_or_else(eof)?;
        let src = self.get(start..end).ok_or_else(eof)?;
        buf.copy_from_slice(src);
        Ok(())
    }

    fn size(&self) -> io::Result<u64> {
        Ok(self.len() as u64)
    }
}

impl ReadAt for Vec<u8> {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        self.as_slice().read_exact_at(buf, offset)
    }

    fn size(&self) -> io::Result<u64> {
        Ok(self.len() as u64)
    }
}

impl<T: ReadAt + ?Sized> ReadAt for std::sync::Arc<T> {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        (**self).read_exact_at(buf, offset)
    }

    fn size(&self) -> io::Result<u64> {
        (**self).size()
    }

    fn next_data(&self, offset: u64) -> io::Result<Option<(u64, u64)>> {
        (**self).next_data(offset)
    }
}

fn eof() -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        "read past the end of the data",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_read_exact_and_refuse_past_end() {
        let data: Vec<u8> = (0..16).collect();
        let mut buf = [0u8; 4];
        data.read_exact_at(&mut buf, 12).unwrap();
        assert_eq!(buf, [12, 13, 14, 15]);
        let err = data.read_exact_at(&mut buf, 13).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
        let err = data.read_exact_at(&mut buf, u64::MAX).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
        assert_eq!(data.next_data(0).unwrap(), Some((0, 16)));
        assert_eq!(data.next_data(16).unwrap(), None);
    }

    #[test]
    fn file_reports_holes() {
        use std::io::Write;
        let mut f = tempfile::tempfile().unwrap();
        f.set_len(8 << 20).unwrap();
        let f2 = f.try_clone().unwrap();
        FileExt::write_all_at(&f2, &[1u8; 4096], 4 << 20).unwrap();
        f.flush().unwrap();
        let (start, end) = f.next_data(0).unwrap().unwrap();
        // Filesystems may round to their block size, but the data must be inside.
        assert!(
            start <= 4 << 20 && end >= (4 << 20) + 4096,
            "{start}..{end}"
        );
    }
}
