//! [`ImageStore`]: what a front end needs from any store of VM images, implemented by the
//! content-addressed [`Repository`] and by transient's [`FlatStore`](crate::FlatStore).
//!
//! The trait is deliberately small: list, find an image's top file, get scratch space, put a
//! finished image, delete, lock a name. Revisions, records, blobs, gc and instances exist only
//! for content-addressed repositories and stay on [`Repository`].

use std::path::{Path, PathBuf};

use strata_model::kind::Kind;
use strata_model::record::RevisionRecord;
use tempfile::NamedTempFile;

use crate::error::{IoContext, Result, StoreError};
use crate::fsutil;
use crate::lock::{FileLock, LockMode};
use crate::repo::Repository;

/// One image as a store lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredImage {
    /// The image name (decoded: `centos/7:2004.01`, not its file name).
    pub name: String,
    /// The revision, for stores that have revisions (the latest one).
    pub revision: Option<u64>,
    /// The image's top file: the file a VM's overlay is backed by.
    pub path: PathBuf,
}

/// A store of VM images, as a front end sees it.
pub trait ImageStore {
    /// Every image, sorted by name (for a repository, each image's latest revision).
    fn list(&self) -> Result<Vec<StoredImage>>;

    /// The top file of image `name` (not found: the store's own text).
    fn top_path(&self, name: &str) -> Result<PathBuf>;

    /// A new temporary file on the store's filesystem, deleted when dropped: write an image
    /// there and [`ImageStore::put_image`] moves it in without copying.
    fn scratch_file(&self) -> Result<NamedTempFile>;

    /// Adds image `name` from a finished, standalone image file (no backing file: the caller
    /// flattens). A file from [`ImageStore::scratch_file`] is moved; any other file is cloned
    /// or copied and left alone. An existing name is refused.
    fn put_image(&self, name: &str, file: &Path) -> Result<StoredImage>;

    /// Removes image `name` (for a repository, every revision; refused while VM instances use
    /// one).
    fn delete(&self, name: &str) -> Result<()>;

    /// Waits for the exclusive lock on image `name`, which serialises processes creating,
    /// converting or removing that image. Dropping the lock releases it.
    fn lock(&self, name: &str) -> Result<FileLock>;
}

/// Per-image locks of a repository: `<repo>/.locks/` (invisible to pcocc).
const LOCKS_DIR: &str = ".locks";

impl ImageStore for Repository {
    fn list(&self) -> Result<Vec<StoredImage>> {
        let mut images = Vec::new();
        for (name, revisions) in self.index()? {
            let Some(&revision) = revisions.last() else {
                continue;
            };
            let path = self.top_path_of(&self.record(&name, revision)?)?;
            images.push(StoredImage {
                name,
                revision: Some(revision),
                path,
            });
        }
        Ok(images)
    }

    fn top_path(&self, name: &str) -> Result<PathBuf> {
        self.top_path_of(&self.latest_record(name)?)
    }

    fn scratch_file(&self) -> Result<NamedTempFile> {
        let tmp = self.tmp_dir();
        fsutil::mkdir_if_missing(&tmp).at("create directory", &tmp)?;
        tempfile::Builder::new()
            .prefix("import-")
            .tempfile_in(&tmp)
            .at("create a file in", &tmp)
    }

    /// Stores the file as one blob and commits revision 0 of a `vm` image owned by
    /// [`Repository::owner`] (`Image {name} already exists in repo {repo}` if the name has a
    /// revision).
    fn put_image(&self, name: &str, file: &Path) -> Result<StoredImage> {
        if self.index()?.contains_key(name) {
            return Err(StoreError::ImageExists {
                name: name.to_owned(),
                repo: self.name().to_owned(),
            });
        }
        let writer = self.writer()?;
        let in_tmp = file
            .parent()
            .and_then(|p| std::fs::canonicalize(p).ok())
            .zip(std::fs::canonicalize(self.tmp_dir()).ok())
            .is_some_and(|(parent, tmp)| parent == tmp);
        let digest = if in_tmp {
            let (digest, _) = fsutil::hash_file(file)?;
            writer.adopt_tmp(file, &digest)?
        } else {
            writer.put_blob_file(file, None)?.0
        };
        let record = RevisionRecord::new(name, 0, Kind::Vm, self.owner(), now(), [digest.clone()]);
        writer.commit(&record)?;
        Ok(StoredImage {
            name: name.to_owned(),
            revision: Some(0),
            path: self.blob_path(&digest),
        })
    }

    fn delete(&self, name: &str) -> Result<()> {
        let revisions = self.revisions(name)?;
        // Check them all first, so that an image in use loses no revision.
        for &revision in &revisions {
            let users = self.is_in_use(name, revision)?;
            if !users.is_empty() {
                return Err(StoreError::InUse {
                    name: name.to_owned(),
                    revision,
                    instances: users.into_iter().map(|id| id.to_string()).collect(),
                });
            }
        }
        let writer = self.writer()?;
        for revision in revisions {
            writer.delete_record(name, revision, crate::repo::DeleteMode::RefuseInUse)?;
        }
        Ok(())
    }

    fn lock(&self, name: &str) -> Result<FileLock> {
        let dir = self.path().join(LOCKS_DIR);
        fsutil::mkdir_if_missing(&dir).at("create directory", &dir)?;
        FileLock::acquire(
            &dir.join(crate::repo::encode_name(name)),
            LockMode::Exclusive,
        )
    }
}

impl Repository {
    /// The path of a record's top blob.
    fn top_path_of(&self, record: &RevisionRecord) -> Result<PathBuf> {
        match record.top_blob() {
            Some(top) => Ok(self.blob_path(top.digest())),
            None => Err(StoreError::BadMetadata {
                name: record.name.clone(),
                path: self
                    .meta_dir()
                    .join(crate::repo::record_file_name(&record.name, record.revision)),
                message: "the revision has no data blob".to_owned(),
            }),
        }
    }
}

/// Seconds since the epoch, as Python's `time.time()`.
pub(crate) fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}
