//! Layer decompression, bounded: the compression of a stream from its magic bytes
//! ([`Compression`]), and a decompressing reader ([`inflate`]) that refuses to expand past an
//! [`ExpansionLimit`] relative to the compressed size, so that a small decompression bomb
//! (a few MiB of gzip that expand to tens of GiB of zeros) stops early with
//! [`OciError::ExpansionTooLarge`], naming the layer.
//!
//! Every place strata-oci inflates a layer goes through here: applying layers ([`crate::unpack`]),
//! writing a docker-archive (which stores layers uncompressed and checks them against their
//! `diff_id`) and reading a compressed docker-archive ([`crate::docker`]).

use std::io::{self, BufRead, Read};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{OciError, Result};

/// The compression of a layer, from its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// A plain tar.
    None,
    /// gzip (`1f 8b`).
    Gzip,
    /// zstd (`28 b5 2f fd`).
    Zstd,
}

impl Compression {
    /// Detects the compression from a stream's first bytes; bzip2 and xz are refused.
    pub fn detect(head: &[u8], what: &str) -> Result<Compression> {
        if head.starts_with(&[0x1f, 0x8b]) {
            Ok(Compression::Gzip)
        } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Ok(Compression::Zstd)
        } else if head.starts_with(b"BZh") {
            Err(OciError::unsupported(what, "bzip2 compression"))
        } else if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
            Err(OciError::unsupported(what, "xz compression"))
        } else {
            Ok(Compression::None)
        }
    }
}

/// How far a compressed layer may expand: at most `ratio` times its compressed size, but
/// always at least `floor` bytes. A plain (uncompressed) layer is not limited by it.
///
/// The default, [`ExpansionLimit::DEFAULT`], is 100 times, at least 1 GiB. Real layers
/// compress 2 to 10 times (binaries and libraries), text-heavy ones up to about 20 times; a
/// layer of zeros compresses about 1000 times with gzip and more with zstd. 100 leaves five
/// times the margin over the most compressible real content and still stops a bomb within a
/// hundredth of what it would write. The floor lets small layers hold some very compressible
/// content (a preallocated file of zeros, a sparse database) without a ratio that would let a
/// large bomb through: 1 GiB is what any layer may cost on disk whatever its ratio. The
/// absolute cap on a layer ([`crate::UnpackOptions::max_layer_size`]) still applies above.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExpansionLimit {
    /// Decompressed bytes allowed per compressed byte.
    pub ratio: u64,
    /// Decompressed bytes always allowed, whatever the compressed size.
    pub floor: u64,
}

impl ExpansionLimit {
    /// 100 times the compressed size, at least 1 GiB (see the type's documentation).
    pub const DEFAULT: ExpansionLimit = ExpansionLimit {
        ratio: 100,
        floor: 1 << 30,
    };

    /// The most bytes `compressed` bytes may expand to.
    pub fn limit_for(&self, compressed: u64) -> u64 {
        compressed.saturating_mul(self.ratio).max(self.floor)
    }
}

impl Default for ExpansionLimit {
    fn default() -> Self {
        ExpansionLimit::DEFAULT
    }
}

/// A decompressing reader over `inner` (which starts at the stream's first byte), chosen by
/// `compression` and bounded by `limit`: the limit is taken of `compressed_size` when the
/// caller knows it (a blob's descriptor, which a verifying reader holds the stream to), and of
/// the compressed bytes consumed so far otherwise, which is stricter only for a layer whose
/// first bytes expand the most. Going past it is [`OciError::ExpansionTooLarge`] (inside an
/// [`io::Error`], see [`OciError::from_io`]). A plain stream is returned as it is.
pub fn inflate<'a, R: BufRead + 'a>(
    inner: R,
    compression: Compression,
    compressed_size: Option<u64>,
    limit: &ExpansionLimit,
    what: &str,
) -> Result<Box<dyn Read + 'a>> {
    let consumed = Arc::new(AtomicU64::new(0));
    let counted = Counted {
        inner,
        consumed: Arc::clone(&consumed),
    };
    let decoder: Box<dyn Read + 'a> = match compression {
        Compression::None => return Ok(Box::new(counted.inner)),
        Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(counted)),
        Compression::Zstd => Box::new(
            zstd::stream::read::Decoder::with_buffer(counted)
                .map_err(|e| OciError::from_io(what, "start zstd decoder", e))?,
        ),
    };
    Ok(Box::new(Bounded {
        inner: decoder,
        consumed,
        known: compressed_size,
        limit: *limit,
        out: 0,
        what: what.to_owned(),
    }))
}

/// A `BufRead` that counts the bytes its reader consumes.
struct Counted<R> {
    inner: R,
    consumed: Arc<AtomicU64>,
}

impl<R: BufRead> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.consumed.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

impl<R: BufRead> BufRead for Counted<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        self.inner.fill_buf()
    }

    fn consume(&mut self, amt: usize) {
        self.consumed.fetch_add(amt as u64, Ordering::Relaxed);
        self.inner.consume(amt);
    }
}

/// The decompressed stream, failing once it passes its limit.
struct Bounded<'a> {
    inner: Box<dyn Read + 'a>,
    consumed: Arc<AtomicU64>,
    known: Option<u64>,
    limit: ExpansionLimit,
    out: u64,
    what: String,
}

impl Read for Bounded<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.out += n as u64;
        let compressed = self
            .known
            .unwrap_or(0)
            .max(self.consumed.load(Ordering::Relaxed));
        let limit = self.limit.limit_for(compressed);
        if self.out > limit {
            return Err(OciError::ExpansionTooLarge {
                what: self.what.clone(),
                compressed,
                limit,
                ratio: self.limit.ratio,
            }
            .into_io());
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write as _;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).expect("in memory");
        e.finish().expect("in memory")
    }

    fn drain(mut r: impl Read) -> Result<u64> {
        crate::verify::copy(&mut r, &mut io::sink()).map_err(|e| OciError::from_io("t", "read", e))
    }

    #[test]
    fn limit_is_the_ratio_with_a_floor() {
        let l = ExpansionLimit {
            ratio: 100,
            floor: 1000,
        };
        assert_eq!(l.limit_for(0), 1000);
        assert_eq!(l.limit_for(5), 1000);
        assert_eq!(l.limit_for(50), 5000);
        assert_eq!(l.limit_for(u64::MAX), u64::MAX);
    }

    #[test]
    fn a_bomb_stops_at_its_limit_known_size_or_not() {
        let zeros = vec![0u8; 1 << 20];
        let bomb = gzip(&zeros);
        assert!(bomb.len() < 4 << 10, "{}", bomb.len());
        let limit = ExpansionLimit {
            ratio: 20,
            floor: 64 << 10,
        };
        for known in [Some(bomb.len() as u64), None] {
            let r = inflate(&bomb[..], Compression::Gzip, known, &limit, "layer x").expect("gzip");
            match drain(r) {
                Err(OciError::ExpansionTooLarge {
                    what,
                    limit: l,
                    ratio,
                    ..
                }) => {
                    assert_eq!(what, "layer x");
                    assert_eq!(ratio, 20);
                    assert_eq!(l, 64 << 10, "the floor, as 20 times the bomb is less");
                }
                other => panic!("{known:?}: expected ExpansionTooLarge, got {other:?}"),
            }
        }
        // Within the limit, and a plain stream, pass.
        let generous = ExpansionLimit {
            ratio: 2000,
            floor: 0,
        };
        let r = inflate(
            &bomb[..],
            Compression::Gzip,
            Some(bomb.len() as u64),
            &generous,
            "x",
        )
        .expect("gzip");
        assert_eq!(drain(r).expect("within the limit"), 1 << 20);
        let r = inflate(&zeros[..], Compression::None, None, &limit, "x").expect("plain");
        assert_eq!(drain(r).expect("plain is not limited"), 1 << 20);
    }
}
