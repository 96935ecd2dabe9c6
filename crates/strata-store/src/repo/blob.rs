//! Blobs: `data/<h[0:2]>/<h>`, content-addressed, 0444, written through `.tmp/` and renamed in.

use std::fs::{self, File};
use std::io::{self, Read};
use std::os::unix::fs::{FileExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

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

    /// [`Writer::adopt_tmp`] in a write session of its own.
    pub fn adopt_tmp(&self, file_in_tmp: &Path, digest: &Digest) -> Result<Digest> {
        self.writer()?.adopt_tmp(file_in_tmp, digest)
    }
}

impl Writer<'_> {
    /// A new empty file in the repository's `.tmp/`, deleted when dropped unless adopted: where
    /// the convert engine writes an image so that an import writes its bytes once (then
    /// [`Writer::adopt_tmp_file`]). gc leaves it alone while this writer lives.
    pub fn tmp_file(&self) -> Result<NamedTempFile> {
        let tmp = self.repo.tmp_dir();
        tempfile::Builder::new()
            .prefix("import-")
            .tempfile_in(&tmp)
            .at("create a file in", &tmp)
    }

    /// Stores the bytes `reader` yields as a blob and returns their digest.
    ///
    /// The bytes go to a temporary file in `.tmp/`, hashed as they are written (aligned 64 KiB
    /// runs of zeros become holes), fsynced, checked against `expected` if given (a mismatch is
    /// [`StoreError::IntegrityMismatch`] naming both digests, and nothing is stored), made 0444
    /// and renamed into `data/<xx>/`, whose directory is then fsynced. A blob that is already
    /// there is not rewritten (deduplication).
    pub fn put_blob(&self, mut reader: impl Read, expected: Option<&Digest>) -> Result<Digest> {
        let tmp = self.new_blob_file()?;
        let path = tmp.path().to_owned();
        let file = tmp.as_file();
        let mut hasher = Hasher::default();
        let mut buf = vec![0u8; CHUNK];
        let mut pos = 0u64;
        loop {
            let n = match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(StoreError::io("read the source of", &path, e)),
            };
            hasher.update(&buf[..n]);
            for block in buf[..n].chunks(ZERO_BLOCK) {
                if block.len() < ZERO_BLOCK || block.iter().any(|&b| b != 0) {
                    file.write_all_at(block, pos).at("write", &path)?;
                }
                pos += block.len() as u64;
            }
        }
        file.set_len(pos).at("write", &path)?;
        file.sync_all().at("fsync", &path)?;
        let digest = hasher.finish();
        check_expected(expected, &digest)?;
        self.install(tmp, &digest, true)?;
        Ok(digest)
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
            .at("read the metadata of", &tmp_dir)?
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
                // Hard links can be refused (EPERM with protected_hardlinks, EMLINK): copy.
                Err(e) if matches!(e.raw_os_error(), Some(1 | 31)) => {}
                Err(e) => return Err(StoreError::io("link a file into", &tmp_dir, e)),
            }
        }
        let source = File::open(path).at("open", path)?;
        let tmp = self.new_blob_file()?;
        let method = fsutil::clone_or_copy(&source, tmp.as_file()).at("copy", path)?;
        tmp.as_file().sync_all().at("fsync", tmp.path())?;
        let (digest, _) = fsutil::hash_open_file(tmp.as_file()).at("read", tmp.path())?;
        check_expected(known, &digest)?;
        self.install(tmp, &digest, true)?;
        Ok((digest, method))
    }

    /// Moves a finished file from the repository's `.tmp/` into `data/` as the blob `digest`
    /// (no copy: an import that wrote its output there writes its bytes once).
    ///
    /// `digest` is trusted: it must have been computed by the caller over exactly these bytes
    /// (the convert engine hashes what it writes). Use [`fsutil::hash_file`] first otherwise.
    /// The file is fsynced, made 0444 and renamed; if the blob already exists, the file is
    /// removed instead.
    pub fn adopt_tmp(&self, file_in_tmp: &Path, digest: &Digest) -> Result<Digest> {
        let tmp_dir = self.repo.tmp_dir();
        let real_tmp = fs::canonicalize(&tmp_dir).at("resolve", &tmp_dir)?;
        let real_parent = file_in_tmp
            .parent()
            .map(fs::canonicalize)
            .transpose()
            .at("resolve", file_in_tmp)?;
        if real_parent.as_deref() != Some(real_tmp.as_path()) {
            return Err(StoreError::NotInTmp {
                path: file_in_tmp.to_owned(),
                tmp: tmp_dir,
            });
        }
        let meta = fs::symlink_metadata(file_in_tmp).at("read the metadata of", file_in_tmp)?;
        if !meta.is_file() {
            return Err(StoreError::NotRegularFile {
                path: file_in_tmp.to_owned(),
            });
        }
        let file = File::options()
            .read(true)
            .write(true)
            .open(file_in_tmp)
            .at("open", file_in_tmp)?;
        file.sync_all().at("fsync", file_in_tmp)?;
        let tmp_path = tempfile::TempPath::try_from_path(file_in_tmp).at("resolve", file_in_tmp)?;
        let tmp = NamedTempFile::from_parts(file, tmp_path);
        self.install(tmp, digest, true)?;
        Ok(digest.clone())
    }

    /// [`Writer::adopt_tmp`] for a file from [`Writer::tmp_file`].
    pub fn adopt_tmp_file(&self, file: NamedTempFile, digest: &Digest) -> Result<Digest> {
        file.as_file().sync_all().at("fsync", file.path())?;
        self.install(file, digest, true)?;
        Ok(digest.clone())
    }

    /// A new temporary file for a blob in `.tmp/`.
    fn new_blob_file(&self) -> Result<NamedTempFile> {
        let tmp = self.repo.tmp_dir();
        tempfile::Builder::new()
            .prefix("blob-")
            .tempfile_in(&tmp)
            .at("create a file in", &tmp)
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
                .at("chmod", tmp.path())?;
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
