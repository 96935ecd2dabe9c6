//! Streaming integrity: readers that hash what passes through them ([`HashingReader`]), check a
//! digest and size when the stream ends ([`VerifyingReader`]), or refuse to yield more than a
//! limit ([`LimitedReader`]), plus conversions between oci-spec's digests and strata's
//! [`Digest`] (sha256 only).
//!
//! A failed check is returned from `read` as an [`io::Error`] carrying the precise
//! [`OciError`]; [`OciError::from_io`] recovers it.

use std::io::{self, Read};

use sha2::{Digest as _, Sha256};
use strata_model::Digest;

use crate::error::{OciError, Result};

/// strata's digest for an oci-spec digest; only sha256 is supported.
pub fn from_oci_digest(d: &oci_spec::image::Digest, what: &str) -> Result<Digest> {
    let text = d.to_string();
    if !text.starts_with("sha256:") {
        return Err(OciError::unsupported(
            what,
            format!("digest algorithm of {text} (only sha256 is supported)"),
        ));
    }
    text.parse::<Digest>()
        .map_err(|e| OciError::invalid(what, format!("digest {text}: {e}")))
}

/// oci-spec's digest for a strata digest.
pub fn to_oci_digest(d: &Digest) -> oci_spec::image::Digest {
    // A strata Digest is 64 lowercase hex digits, which oci-spec's sha256 validation accepts.
    d.prefixed()
        .parse()
        .expect("a strata sha256 digest is a valid OCI digest")
}

/// A reader that hashes every byte it yields and counts them.
#[derive(Debug)]
pub struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
    count: u64,
}

impl<R: Read> HashingReader<R> {
    /// Hashes what `inner` yields.
    pub fn new(inner: R) -> Self {
        HashingReader {
            inner,
            hasher: Sha256::new(),
            count: 0,
        }
    }

    /// The bytes read so far.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The digest and size of everything read.
    pub fn finish(self) -> (Digest, u64) {
        (
            Digest::from_bytes(self.hasher.finalize().into()),
            self.count,
        )
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }
}

/// A reader that yields exactly `size` bytes of `inner` and, at their end, checks that their
/// sha256 is `digest`: a longer or shorter stream, or other bytes, is an error from `read`.
#[derive(Debug)]
pub struct VerifyingReader<R> {
    inner: HashingReader<R>,
    what: String,
    digest: Digest,
    size: u64,
    verified: bool,
}

impl<R: Read> VerifyingReader<R> {
    /// Verifies `inner` against `digest` and `size`; `what` names it in errors.
    pub fn new(inner: R, what: impl Into<String>, digest: Digest, size: u64) -> Self {
        VerifyingReader {
            inner: HashingReader::new(inner),
            what: what.into(),
            digest,
            size,
            verified: false,
        }
    }

    fn check_end(&mut self) -> io::Result<()> {
        // One more byte past the declared size means the blob is longer than recorded.
        let mut probe = [0u8; 1];
        let extra = loop {
            match self.inner.inner.read(&mut probe) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        };
        if extra != 0 {
            return Err(OciError::SizeMismatch {
                what: self.what.clone(),
                expected: self.size,
                actual: self.size + 1,
            }
            .into_io());
        }
        let actual = Digest::from_bytes(self.inner.hasher.clone().finalize().into());
        if actual != self.digest {
            return Err(OciError::DigestMismatch {
                what: self.what.clone(),
                expected: self.digest.prefixed(),
                actual: actual.prefixed(),
            }
            .into_io());
        }
        self.verified = true;
        Ok(())
    }
}

impl<R: Read> Read for VerifyingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let remaining = self.size - self.inner.count();
        if remaining == 0 {
            if !self.verified {
                self.check_end()?;
            }
            return Ok(0);
        }
        let want = buf
            .len()
            .min(usize::try_from(remaining).unwrap_or(usize::MAX));
        if want == 0 {
            return Ok(0);
        }
        let n = self.inner.read(&mut buf[..want])?;
        if n == 0 {
            return Err(OciError::SizeMismatch {
                what: self.what.clone(),
                expected: self.size,
                actual: self.inner.count(),
            }
            .into_io());
        }
        Ok(n)
    }
}

/// A reader that fails with [`OciError::TooLarge`] instead of yielding more than `limit` bytes.
#[derive(Debug)]
pub struct LimitedReader<R> {
    inner: R,
    what: String,
    limit: u64,
    count: u64,
}

impl<R: Read> LimitedReader<R> {
    /// Limits `inner` to `limit` bytes; `what` names it in errors.
    pub fn new(inner: R, what: impl Into<String>, limit: u64) -> Self {
        LimitedReader {
            inner,
            what: what.into(),
            limit,
            count: 0,
        }
    }

    /// The bytes yielded so far.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The wrapped reader.
    pub fn into_inner(self) -> R {
        self.inner
    }
}

impl<R: Read> Read for LimitedReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count += n as u64;
        if self.count > self.limit {
            return Err(OciError::TooLarge {
                what: self.what.clone(),
                limit: self.limit,
            }
            .into_io());
        }
        Ok(n)
    }
}

/// Size of the buffer [`copy`] moves data through: large enough that hashing and system calls,
/// not the loop, set the pace.
const COPY_BUFFER: usize = 256 << 10;

/// Copies `reader` to `writer` through a 256 KiB buffer (`std::io::copy` uses 8 KiB unless one
/// side is a `BufReader`/`BufWriter`); returns the bytes copied.
pub fn copy(
    reader: &mut (impl Read + ?Sized),
    writer: &mut (impl std::io::Write + ?Sized),
) -> io::Result<u64> {
    let mut buf = vec![0u8; COPY_BUFFER];
    let mut total = 0u64;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => return Ok(total),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        writer.write_all(&buf[..n])?;
        total += n as u64;
    }
}

/// Reads all of `reader` into memory, refusing more than `limit` bytes.
pub(crate) fn read_capped(mut reader: impl Read, what: &str, limit: u64) -> Result<Vec<u8>> {
    let mut buf = Vec::new();
    (&mut reader)
        .take(limit + 1)
        .read_to_end(&mut buf)
        .map_err(|e| OciError::from_io(what, "read", e))?;
    if buf.len() as u64 > limit {
        return Err(OciError::TooLarge {
            what: what.to_owned(),
            limit,
        });
    }
    Ok(buf)
}

/// The sha256 digest of bytes in memory.
pub fn digest_bytes(bytes: &[u8]) -> Digest {
    Digest::from_bytes(Sha256::digest(bytes).into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    fn read_all(r: impl Read) -> Result<Vec<u8>> {
        read_capped(r, "t", 1 << 20)
    }

    #[test]
    fn verifying_reader_accepts_exact_bytes() {
        let d = digest_bytes(b"hello");
        assert_eq!(
            read_all(VerifyingReader::new(&b"hello"[..], "b", d, 5)).unwrap(),
            b"hello"
        );
    }

    #[test]
    fn verifying_reader_refuses_other_bytes_and_sizes() {
        let d = digest_bytes(b"hello");
        let e = read_all(VerifyingReader::new(&b"hellO"[..], "b", d.clone(), 5)).unwrap_err();
        assert!(matches!(e, OciError::DigestMismatch { .. }), "{e}");
        let e = read_all(VerifyingReader::new(&b"hello!"[..], "b", d.clone(), 5)).unwrap_err();
        assert!(
            matches!(e, OciError::SizeMismatch { expected: 5, .. }),
            "{e}"
        );
        let e = read_all(VerifyingReader::new(&b"hell"[..], "b", d, 5)).unwrap_err();
        assert!(matches!(e, OciError::SizeMismatch { actual: 4, .. }), "{e}");
        assert_eq!(e.kind(), ErrorKind::IntegrityMismatch);
    }

    #[test]
    fn limited_reader_and_read_capped_refuse_over_limit() {
        let e = read_all(LimitedReader::new(&[0u8; 100][..], "x", 99)).unwrap_err();
        assert!(matches!(e, OciError::TooLarge { limit: 99, .. }), "{e}");
        let e = read_capped(&[0u8; 100][..], "x", 99).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::TooLarge);
        assert_eq!(read_capped(&[0u8; 99][..], "x", 99).unwrap().len(), 99);
    }
}
