//! `TarGuard`: a reader that watches a tar stream's headers as they pass and refuses a
//! metadata entry (PAX `x`/`g`, GNU long name `L`/long link `K`) larger than a cap, before the
//! tar crate reads it whole into memory.
//!
//! It follows the stream block by block as the tar crate does: a header, then the entry's data
//! rounded up to 512 bytes (the size from a PAX `size` record when one precedes it, GNU sparse
//! extension blocks included). On anything it does not understand (a header whose checksum is
//! wrong, an unparsable size) it stops watching and lets the bytes through: the tar crate
//! reports those itself.

use std::io::{self, Read, Seek, SeekFrom};

use crate::error::OciError;

/// Largest tar metadata entry accepted: paths are at most 4 KiB and an extended attribute's
/// value at most 64 KiB on Linux, so 1 MiB leaves room for many of them.
pub const MAX_TAR_METADATA: u64 = 1 << 20;

const BLOCK: u64 = 512;

/// Watches a tar stream; see the module documentation.
pub(crate) struct TarGuard<R> {
    inner: R,
    what: String,
    header: [u8; 512],
    filled: usize,
    /// Bytes of data (and padding) still to pass before the next header.
    skip: u64,
    /// The data of a PAX `x` entry being collected (at most `MAX_TAR_METADATA` bytes).
    pax: Option<(Vec<u8>, u64)>,
    /// A PAX `size` record, for the next entry.
    pax_size: Option<u64>,
    /// GNU sparse extension blocks follow; the entry's data size waits.
    sparse_pending: Option<u64>,
    watching: bool,
}

impl<R: Read> TarGuard<R> {
    pub(crate) fn new(inner: R, what: &str) -> Self {
        TarGuard {
            inner,
            what: what.to_owned(),
            header: [0; 512],
            filled: 0,
            skip: 0,
            pax: None,
            pax_size: None,
            sparse_pending: None,
            watching: true,
        }
    }

    fn feed(&mut self, mut data: &[u8]) -> Result<(), OciError> {
        while self.watching && !data.is_empty() {
            if self.skip > 0 {
                let k = data
                    .len()
                    .min(usize::try_from(self.skip).unwrap_or(usize::MAX));
                if let Some((buf, left)) = &mut self.pax {
                    let real = k.min(usize::try_from(*left).unwrap_or(usize::MAX));
                    buf.extend_from_slice(&data[..real]);
                    *left -= real as u64;
                }
                self.skip -= k as u64;
                data = &data[k..];
                if self.skip == 0
                    && let Some((buf, _)) = self.pax.take()
                {
                    self.pax_size = pax_size(&buf);
                }
                continue;
            }
            let k = data.len().min(512 - self.filled);
            self.header[self.filled..self.filled + k].copy_from_slice(&data[..k]);
            self.filled += k;
            data = &data[k..];
            if self.filled == 512 {
                self.filled = 0;
                self.header_done()?;
            }
        }
        Ok(())
    }

    fn header_done(&mut self) -> Result<(), OciError> {
        let h = self.header;
        if let Some(size) = self.sparse_pending {
            // A GNU sparse extension block: byte 504 says whether another follows.
            if h[504] == 0 {
                self.sparse_pending = None;
                self.skip = padded(size);
            }
            return Ok(());
        }
        if h.iter().all(|b| *b == 0) {
            return Ok(());
        }
        let (Some(sum), Some(size)) = (octal(&h[148..156]), size_field(&h[124..136])) else {
            self.watching = false;
            return Ok(());
        };
        let computed: u64 = h
            .iter()
            .enumerate()
            .map(|(i, b)| {
                if (148..156).contains(&i) {
                    32
                } else {
                    u64::from(*b)
                }
            })
            .sum();
        if computed != sum {
            self.watching = false;
            return Ok(());
        }
        match h[156] {
            b'x' | b'g' | b'L' | b'K' => {
                if size > MAX_TAR_METADATA {
                    return Err(OciError::TooLarge {
                        what: format!("{}: tar metadata entry of {size} bytes", self.what),
                        limit: MAX_TAR_METADATA,
                    });
                }
                if h[156] == b'x' {
                    self.pax = Some((Vec::new(), size));
                }
                self.skip = padded(size);
                if self.skip == 0
                    && let Some((buf, _)) = self.pax.take()
                {
                    self.pax_size = pax_size(&buf);
                }
            }
            b'S' if h[482] != 0 => {
                self.sparse_pending = Some(self.pax_size.take().unwrap_or(size));
            }
            _ => {
                self.skip = padded(self.pax_size.take().unwrap_or(size));
            }
        }
        Ok(())
    }
}

impl<R: Read> Read for TarGuard<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.feed(&buf[..n]).map_err(OciError::into_io)?;
        Ok(n)
    }
}

/// The tar crate seeks only to skip an entry's data; a seek within the data keeps the guard in
/// step, any other stops it watching.
impl<R: Read + Seek> Seek for TarGuard<R> {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        match pos {
            SeekFrom::Current(n)
                if self.pax.is_none()
                    && self.filled == 0
                    && u64::try_from(n).is_ok_and(|n| n <= self.skip) =>
            {
                self.skip -= n.unsigned_abs();
            }
            _ => self.watching = false,
        }
        self.inner.seek(pos)
    }
}

fn padded(size: u64) -> u64 {
    size.div_ceil(BLOCK).saturating_mul(BLOCK)
}

fn octal(field: &[u8]) -> Option<u64> {
    let text: Vec<u8> = field
        .iter()
        .copied()
        .skip_while(|b| *b == b' ')
        .take_while(|b| *b != 0 && *b != b' ')
        .collect();
    if text.is_empty() {
        return Some(0);
    }
    u64::from_str_radix(std::str::from_utf8(&text).ok()?, 8).ok()
}

/// A size field: octal text, or GNU base-256 when the first byte's high bit is set.
fn size_field(field: &[u8]) -> Option<u64> {
    if field[0] & 0x80 != 0 {
        let mut v: u64 = u64::from(field[0] & 0x7f);
        for b in &field[1..] {
            v = v.checked_mul(256)?.checked_add(u64::from(*b))?;
        }
        return Some(v);
    }
    octal(field)
}

fn pax_size(records: &[u8]) -> Option<u64> {
    tar::PaxExtensions::new(records)
        .filter_map(Result::ok)
        .find(|e| e.key_bytes() == b"size")
        .and_then(|e| std::str::from_utf8(e.value_bytes()).ok()?.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pass(data: &[u8]) -> Result<(), OciError> {
        let mut g = TarGuard::new(data, "t");
        io::copy(&mut g, &mut io::sink()).map_err(|e| OciError::from_io("t", "read", e))?;
        Ok(())
    }

    #[test]
    fn big_pax_header_is_refused_small_ones_and_files_pass() {
        let mut b = tar::Builder::new(Vec::new());
        b.append_pax_extensions([("SCHILY.xattr.user.a", &b"v"[..])])
            .unwrap();
        let mut h = tar::Header::new_gnu();
        h.set_size(2000);
        b.append_data(&mut h, "f", &[7u8; 2000][..]).unwrap();
        let long = "d/".repeat(200) + "f";
        b.append_data(&mut h, long.as_str(), &[7u8; 2000][..])
            .unwrap();
        let ok = b.into_inner().unwrap();
        pass(&ok).unwrap();

        let mut b = tar::Builder::new(Vec::new());
        let value = vec![b'a'; (MAX_TAR_METADATA + 1) as usize];
        b.append_pax_extensions([("SCHILY.xattr.user.big", &value[..])])
            .unwrap();
        let bad = b.into_inner().unwrap();
        match pass(&bad) {
            Err(OciError::TooLarge { limit, what }) => {
                assert_eq!(limit, MAX_TAR_METADATA);
                assert!(what.contains("tar metadata entry"), "{what}");
            }
            other => panic!("{other:?}"),
        }
    }
}
