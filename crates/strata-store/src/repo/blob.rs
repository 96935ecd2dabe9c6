//! Blobs: `data/<h[0:2]>/<h>`, content-addressed, 0444, written through `.tmp/` and renamed in.

use std::fs::{self, File};
use std::io::{self, Read};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use strata_disk::{Output, Writeback};
use strata_model::digest::Digest;
use tempfile::NamedTempFile;

use super::{Repository, Writer};
use crate::error::{IoContext, Result, StoreError};
use crate::fsutil::{self, CHUNK, CopyMethod, Hasher};

/// The mode of every blob: read-only for everyone (pcocc's `chmod 0o444`).
pub(crate) const BLOB_MODE: u32 = 0o444;

/// Runs of zeros at least this long, aligned in the stream, are left as holes by
/// [`Writer::put_blob`].
const ZERO_BLOCK: usize = 64 << 10;

impl Repository {
    /// Where the blob `digest` lives (or would): `<repo>/data/<h[0:2]>/<h>`.
    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.data_dir().join(digest.fan_out()).join(digest.hex())
    }

    /// Whether the blob `digest` is in the repository.
    pub fn has_blob(&self, digest: &Digest) -> bool {
        self.blob_path(digest).exists()
    }

    /// pcocc's relative path to a blob from another blob's directory, `../../data/<h[0:2]>/<h>`:
    /// what a qcow2 layer stores as its backing file, so that chains survive a moved repository.
    pub fn relative_blob_path(digest: &Digest) -> PathBuf {
        Path::new("../../data")
            .join(digest.fan_out())
            .join(digest.hex())
    }

    /// [`Writer::put_blob`] in a write session of its own.
    pub fn put_blob(&self, reader: impl Read, expected: Option<&Digest>) -> Result<Digest> {
        self.writer()?.put_blob(reader, expected)
    }

    /// [`Writer::put_blob_file`] in a write session of its own.
    pub fn put_blob_file(&self, path: &Path, known: Option<&Digest>) -> Result<Digest> {
        self.writer()?
            .put_blob_file(path, known)
            .map(|(digest, _)| digest)
    }
}

impl<'r> Writer<'r> {
    /// Starts a new blob: an [`Output`] in `.tmp/` that the convert engine (or anyone writing
    /// positionally) writes into, hashed as it is written; [`NewBlob::commit`] stores it. gc
    /// leaves it alone while this writer lives; dropped uncommitted, it is removed.
    pub fn new_blob(&self) -> Result<NewBlob<'r>> {
        Ok(NewBlob {
            writer: self.clone(),
            tmp: self.new_blob_file()?,
            hasher: Hasher::default(),
            hashed_to: 0,
            read_back: false,
            bytes_written: 0,
            writeback: Writeback::default(),
        })
    }

    /// Stores the bytes `reader` yields as a blob and returns their digest.
    ///
    /// The bytes go to a temporary file in `.tmp/`, hashed as they are written (aligned 64 KiB
    /// runs of zeros become holes), fsynced, checked against `expected` if given (a mismatch is
    /// [`StoreError::IntegrityMismatch`] naming both digests, and nothing is stored), made 0444
    /// and renamed into `data/<xx>/`, whose directory is then fsynced. A blob that is already
    /// there is not rewritten (deduplication).
    pub fn put_blob(&self, mut reader: impl Read, expected: Option<&Digest>) -> Result<Digest> {
        let mut blob = self.new_blob()?;
        let mut buf = vec![0u8; CHUNK];
        let mut pos = 0u64;
        loop {
            let n = match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    return Err(StoreError::io(
                        "read the source of a blob for",
                        blob.path(),
                        e,
                    ));
                }
            };
            for block in buf[..n].chunks(ZERO_BLOCK) {
                if block.len() < ZERO_BLOCK || block.iter().any(|&b| b != 0) {
                    blob.write_at(block, pos)?;
                }
                pos += block.len() as u64;
            }
        }
        blob.set_len(pos)?;
        Ok(blob.commit_expecting(expected)?.digest)
    }

    /// Stores the file at `path` as a blob and returns its digest and how it was brought in.
    ///
    /// - `path` must be a regular file (`{p} is not a regular file`).
    /// - With `known` given and that blob already present, nothing is read (deduplication).
    /// - With `known` given, a source on the repository's filesystem and without any write
    ///   permission bit (a blob of another repository: immutable by contract) is **hard
    ///   linked**; its mode is left as it is.
    /// - Otherwise the file is **reflinked** (FICLONE) where the filesystem can, else copied
    ///   extent by extent so that holes stay holes.
    ///
    /// The stored bytes are then hashed (the source could change under us; what is hashed is
    /// what is stored) and checked against `known`.
    pub fn put_blob_file(
        &self,
        path: &Path,
        known: Option<&Digest>,
    ) -> Result<(Digest, CopyMethod)> {
        let meta = fs::metadata(path).at("read the metadata of", path)?;
        if !meta.is_file() {
            return Err(StoreError::NotRegularFile {
                path: path.to_owned(),
            });
        }
        if let Some(digest) = known
            && self.repo.has_blob(digest)
        {
            return Ok((digest.clone(), CopyMethod::Existing));
        }
        let tmp_dir = self.repo.tmp_dir();
        let same_fs = fs::metadata(&tmp_dir)
            .at("read the metadata of", self.repo.path())?
            .dev()
            == meta.dev();
        if known.is_some() && same_fs && meta.mode() & 0o222 == 0 {
            let linked = tempfile::Builder::new()
                .prefix("link-")
                .make_in(&tmp_dir, |p| fs::hard_link(path, p));
            match linked {
                Ok(linked) => {
                    let (digest, _) = fsutil::hash_file(linked.path())?;
                    check_expected(known, &digest)?;
                    let linked = NamedTempFile::from_parts(
                        File::open(linked.path()).at("open", linked.path())?,
                        linked.into_temp_path(),
                    );
                    self.install(linked, &digest, false)?;
                    return Ok((digest, CopyMethod::HardLink));
                }
                // A link can be refused where a copy works: copy then.
                Err(e) if link_refused(&e) => {}
                Err(e) => return Err(StoreError::io("link a new blob into", self.repo.path(), e)),
            }
        }
        let source = File::open(path).at("open", path)?;
        let tmp = self.new_blob_file()?;
        let method = fsutil::clone_or_copy(&source, tmp.as_file()).at("copy", path)?;
        let shown = self.repo.path();
        tmp.as_file().sync_all().at("fsync a new blob in", shown)?;
        let (digest, _) =
            fsutil::hash_open_file(tmp.as_file()).at("read back a new blob in", shown)?;
        check_expected(known, &digest)?;
        self.install(tmp, &digest, true)?;
        Ok((digest, method))
    }

    /// A new temporary file for a blob in `.tmp/` (its errors, as all of a new blob's, name
    /// the repository: the scratch file's name means nothing to a user).
    fn new_blob_file(&self) -> Result<NamedTempFile> {
        tempfile::Builder::new()
            .prefix("blob-")
            .tempfile_in(self.repo.tmp_dir())
            .at("create a new blob in", self.repo.path())
    }

    /// Renames a complete, fsynced temporary file into place as blob `digest` (see the
    /// module's crash-safety argument); an existing blob wins and the file is removed.
    pub(super) fn install(&self, tmp: NamedTempFile, digest: &Digest, chmod: bool) -> Result<()> {
        let target = self.repo.blob_path(digest);
        if target.exists() {
            return Ok(());
        }
        if chmod {
            tmp.as_file()
                .set_permissions(fs::Permissions::from_mode(BLOB_MODE))
                .at("chmod a new blob in", self.repo.path())?;
        }
        let data = self.repo.data_dir();
        fsutil::mkdir_if_missing(&data).at("create directory", &data)?;
        let fan_out = data.join(digest.fan_out());
        let created = fsutil::mkdir_if_missing(&fan_out).at("create directory", &fan_out)?;
        if created {
            fsutil::fsync_dir(&data)?;
        }
        let (_, tmp_path) = tmp.into_parts();
        match tmp_path.persist_noclobber(&target) {
            Ok(()) => {}
            // A concurrent put of the same bytes won: same content, nothing to do.
            Err(e) if e.error.kind() == io::ErrorKind::AlreadyExists => return Ok(()),
            Err(e) => return Err(StoreError::io("rename into", &target, e.error)),
        }
        fsutil::fsync_dir(&fan_out)
    }
}

/// A blob being written into the repository's `.tmp/` (see [`Writer::new_blob`]): writes may
/// come in any order (the convert engine's workers write in parallel and the target records
/// them in guest order); while they come in file order, they are hashed as they are recorded,
/// and a write behind the hashed part (a compressed qcow2's header, written last), or a
/// target's word that such writes will come ([`Output::expect_rewrites`]: tables before the
/// data), makes [`NewBlob::commit`] hash the file by reading it back instead, while the fsync
/// runs.
#[derive(Debug)]
pub struct NewBlob<'r> {
    /// A clone of the writer that started it: the repository's write lock is held while the
    /// blob exists.
    writer: Writer<'r>,
    tmp: NamedTempFile,
    hasher: Hasher,
    /// Everything before this offset has been hashed.
    hashed_to: u64,
    /// A write went backwards: hash by reading the file back.
    read_back: bool,
    bytes_written: u64,
    writeback: Writeback,
}

/// What [`NewBlob::commit`] stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredBlob {
    /// The blob's digest.
    pub digest: Digest,
    /// Its length in bytes.
    pub len: u64,
    /// Bytes written to make it (holes not counted); nothing is kept when `existed`.
    pub bytes_written: u64,
    /// Whether an identical blob was already in the repository (the new file was dropped).
    pub existed: bool,
    /// Whether the digest needed a read-back of the file (writes did not come in file order).
    pub read_back: bool,
}

impl NewBlob<'_> {
    /// Makes the blob durable and stores it under its digest (see the module's crash-safety
    /// argument): fsync, mode 0444, rename into `data/<xx>/` without replacing (an identical
    /// blob already there wins and this file is removed), fsync of the directory.
    pub fn commit(self) -> Result<StoredBlob> {
        self.commit_expecting(None)
    }

    /// [`NewBlob::commit`], refusing bytes that do not hash to `expected`
    /// ([`StoreError::IntegrityMismatch`], and nothing is stored).
    pub fn commit_expecting(mut self, expected: Option<&Digest>) -> Result<StoredBlob> {
        let path = self.writer.repo.path().to_owned();
        let file = self.tmp.as_file();
        let len = file
            .metadata()
            .at("read the metadata of a new blob in", &path)?
            .len();
        let (digest, read_back) = if self.read_back || self.hashed_to > len {
            // Reading the file back and waiting for its writes to reach the disk are
            // independent: both at once (the fsync mostly waits, the hash mostly computes).
            let (hashed, synced) = std::thread::scope(|s| {
                let sync = s.spawn(|| file.sync_all());
                let hashed = fsutil::hash_open_file(file);
                let synced = sync
                    .join()
                    .unwrap_or_else(|_| Err(io::Error::other("the fsync thread panicked")));
                (hashed, synced)
            });
            let digest = hashed.at("read back a new blob in", &path)?.0;
            synced.at("fsync a new blob in", &path)?;
            (digest, true)
        } else {
            let mut hasher = std::mem::take(&mut self.hasher);
            hasher.update_zeros(len - self.hashed_to);
            file.sync_all().at("fsync a new blob in", &path)?;
            (hasher.finish(), false)
        };
        check_expected(expected, &digest)?;
        let existed = self.writer.repo.has_blob(&digest);
        self.writer.install(self.tmp, &digest, true)?;
        Ok(StoredBlob {
            digest,
            len,
            bytes_written: if existed { 0 } else { self.bytes_written },
            existed,
            read_back,
        })
    }
}

impl Output for NewBlob<'_> {
    fn file(&self) -> &File {
        self.tmp.as_file()
    }

    /// The repository: a new blob has no name of its own until it is committed, and its
    /// scratch file's means nothing to a user.
    fn path(&self) -> &Path {
        self.writer.repo.path()
    }

    fn record(&mut self, data: &[u8], offset: u64) {
        self.bytes_written += data.len() as u64;
        let end = offset + data.len() as u64;
        if self.read_back {
            // No early writeback for a blob that will be read back: dropping its written
            // pages would make the read-back read the disk (4 GiB benchmark import: 3.1 s with
            // writeback, 2.0 s without; the fsync runs beside the read-back instead).
            return;
        }
        self.writeback.advance(self.tmp.as_file(), end);
        if offset < self.hashed_to {
            self.read_back = true;
        } else {
            self.hasher.update_zeros(offset - self.hashed_to);
            self.hasher.update(data);
            self.hashed_to = end;
        }
    }

    fn bytes_written(&self) -> u64 {
        self.bytes_written
    }

    fn expect_rewrites(&mut self) {
        self.read_back = true;
    }
}

/// Whether a failed `link(2)` leaves copying as the way: a source on another mount of the same
/// filesystem (a read-only bind mount of a repository: `EXDEV`), a read-only filesystem
/// (`EROFS`), links refused by `protected_hardlinks` or by permissions (`EPERM`, `EACCES`), or
/// too many links to the file (`EMLINK`).
fn link_refused(e: &io::Error) -> bool {
    use io::ErrorKind as K;
    matches!(
        e.kind(),
        K::CrossesDevices | K::ReadOnlyFilesystem | K::PermissionDenied | K::TooManyLinks
    )
}

/// Refuses `actual` if the caller expected another digest.
fn check_expected(expected: Option<&Digest>, actual: &Digest) -> Result<()> {
    match expected {
        Some(expected) if expected != actual => Err(StoreError::IntegrityMismatch {
            expected: expected.clone(),
            actual: actual.clone(),
        }),
        _ => Ok(()),
    }
}
