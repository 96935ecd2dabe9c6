//! The blob store abstraction: [`BlobRead`] opens a blob by digest as a stream that verifies
//! itself, [`BlobWrite`] streams a blob in, hashing while writing. An OCI layout directory
//! implements both ([`crate::OciDir`]); the repository store (`data/xx/<sha256>`) can implement
//! them the same way with [`put_file_atomically`].
//!
//! Writes go to a temporary file in the destination directory, are hashed and counted as they
//! are copied, fsynced, checked against the expected digest and size, and only then renamed to
//! their content-addressed name, so a reader never sees a partial or wrong blob.

use std::fs::{self, File};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use strata_model::Digest;

use crate::error::{OciError, Result};
use crate::verify::{HashingReader, VerifyingReader, read_capped};

/// The digest and size a blob must have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expected {
    /// The sha256 the bytes must hash to.
    pub digest: Digest,
    /// The number of bytes.
    pub size: u64,
}

/// A store blobs are read from by digest.
pub trait BlobRead {
    /// Opens the blob `digest`, which must be `size` bytes long. The returned reader fails with
    /// [`OciError::DigestMismatch`] or [`OciError::SizeMismatch`] (inside an [`std::io::Error`], see
    /// [`OciError::from_io`]) when the stream does not match, at the latest when it ends: read it
    /// to the end before trusting what it yielded.
    fn open_blob(&self, digest: &Digest, size: u64) -> Result<Box<dyn Read + '_>>;

    /// Reads a small blob (a manifest, a config) into memory, verified, refusing more than
    /// `limit` bytes before reading any.
    fn read_blob(&self, digest: &Digest, size: u64, limit: u64) -> Result<Vec<u8>> {
        if size > limit {
            return Err(OciError::TooLarge {
                what: format!("blob {digest}"),
                limit,
            });
        }
        read_capped(
            self.open_blob(digest, size)?,
            &format!("blob {digest}"),
            limit,
        )
    }
}

/// A store blobs are written to.
pub trait BlobWrite {
    /// Whether the store already holds the blob `digest` (so a copy can skip it).
    fn has_blob(&self, digest: &Digest) -> Result<bool>;

    /// Streams `reader` into the store. With `expected`, the bytes must hash to its digest and
    /// have its size, or nothing is stored and the mismatch is returned. Returns the stored
    /// blob's digest and size.
    fn put_blob(&self, reader: &mut dyn Read, expected: Option<&Expected>) -> Result<Expected>;

    /// Stores bytes held in memory.
    fn put_bytes(&self, bytes: &[u8], expected: Option<&Expected>) -> Result<Expected> {
        self.put_blob(&mut &bytes[..], expected)
    }
}

/// Opens the blob file `path` for [`BlobRead::open_blob`]: not following a symlink in its
/// place (a blob is a regular file), buffered, and verified against `digest` and `size` as it
/// is read. A missing file is the error `missing` makes.
pub fn open_blob_file(
    path: &Path,
    digest: &Digest,
    size: u64,
    missing: impl FnOnce() -> OciError,
) -> Result<Box<dyn Read>> {
    use rustix::fs::{Mode, OFlags};
    let file = rustix::fs::open(
        path,
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map(File::from)
    .map_err(std::io::Error::from)
    .map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => missing(),
        _ => OciError::from_io(path, "open", e),
    })?;
    Ok(Box::new(VerifyingReader::new(
        std::io::BufReader::with_capacity(1 << 16, file),
        format!("blob {digest}"),
        digest.clone(),
        size,
    )))
}

/// Writes `reader` to a temporary file in `tmp_dir`, hashing it; checks it against `expected`;
/// fsyncs it; and renames it to the path `dest(digest)` returns (creating its parent), making it
/// read-only. The temporary file is removed on any failure. `what` names the blob in errors.
pub fn put_file_atomically(
    tmp_dir: &Path,
    reader: &mut dyn Read,
    expected: Option<&Expected>,
    dest: &dyn Fn(&Digest) -> PathBuf,
) -> Result<Expected> {
    let mut tmp = tempfile::Builder::new()
        .prefix(".tmp-blob-")
        .tempfile_in(tmp_dir)
        .map_err(|e| OciError::from_io(tmp_dir, "create temporary file", e))?;
    let what = |d: Option<&Expected>| match d {
        Some(e) => format!("blob {}", e.digest),
        None => "blob".to_owned(),
    };
    // Refuse a stream longer than expected as soon as it passes the size, not after writing it.
    let limit = expected.map_or(u64::MAX, |e| e.size.saturating_add(1));
    let mut hashing = HashingReader::new(reader.take(limit));
    crate::verify::copy(&mut hashing, tmp.as_file_mut())
        .map_err(|e| OciError::from_io(tmp.path(), "write", e))?;
    let (digest, size) = hashing.finish();
    if let Some(exp) = expected {
        if size != exp.size {
            return Err(OciError::SizeMismatch {
                what: what(expected),
                expected: exp.size,
                actual: size,
            });
        }
        if digest != exp.digest {
            return Err(OciError::DigestMismatch {
                what: what(expected),
                expected: exp.digest.prefixed(),
                actual: digest.prefixed(),
            });
        }
    }
    let file = tmp.as_file();
    let mut perms = file
        .metadata()
        .map_err(|e| OciError::from_io(tmp.path(), "stat", e))?
        .permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o444);
    file.set_permissions(perms)
        .map_err(|e| OciError::from_io(tmp.path(), "chmod", e))?;
    file.sync_all()
        .map_err(|e| OciError::from_io(tmp.path(), "fsync", e))?;
    let path = dest(&digest);
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).map_err(|e| OciError::from_io(parent, "create directory", e))?;
    }
    tmp.persist(&path)
        .map_err(|e| OciError::from_io(&path, "rename", e.error))?;
    if let Some(parent) = path.parent() {
        sync_dir(parent)?;
    }
    Ok(Expected { digest, size })
}

/// Writes a small file atomically: temporary file beside it, fsync, rename, fsync the directory.
pub(crate) fn write_file_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::Builder::new()
        .prefix(".tmp-")
        .tempfile_in(dir)
        .map_err(|e| OciError::from_io(dir, "create temporary file", e))?;
    tmp.write_all(bytes)
        .map_err(|e| OciError::from_io(tmp.path(), "write", e))?;
    let mut perms = tmp
        .as_file()
        .metadata()
        .map_err(|e| OciError::from_io(tmp.path(), "stat", e))?
        .permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o644);
    tmp.as_file()
        .set_permissions(perms)
        .map_err(|e| OciError::from_io(tmp.path(), "chmod", e))?;
    tmp.as_file()
        .sync_all()
        .map_err(|e| OciError::from_io(tmp.path(), "fsync", e))?;
    tmp.persist(path)
        .map_err(|e| OciError::from_io(path, "rename", e.error))?;
    sync_dir(dir)
}

fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| OciError::from_io(dir, "fsync directory", e))
}
