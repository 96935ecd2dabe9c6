//! [`RepositoryStore`]: a [`strata_store::Repository`] as a [`Store`] with revisions, container
//! images and maintenance. A VM image revision is a chain of qcow2 blobs, each backed by the one
//! below through a relative path; a new VM image is one flattened qcow2 blob; a container image
//! is its OCI blobs. Every write goes through the repository's [`Writer`], whose shared lock
//! keeps gc out from the first blob to the record.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use strata_disk::{DiskImage, OpenOptions};
use strata_model::{DataBlob, Digest, DiskFormat, Kind, RevisionRecord};
use strata_oci::image::expected_of;
use strata_oci::{BlobRead, Expected, Image, OciError, Platform};
use strata_store::{
    ContainerSource, CopyMethod, DeleteMode, NewBlob, Qcow2Chains, Repository, StoreError, Writer,
};

use crate::app::now;
use crate::error::{Error, Result};
use crate::progress::{Phase, Progress, ProgressEvent};
use crate::store::{
    AddedLayer, Containers, CopiedRevision, DiskSink, ImageKey, ImageSummary, Layer, LayerCopy,
    Maintenance, NewImage, OnExisting, OnInUse, RevisionSummary, Revisions, Scratch, Store,
    StoredContainer, StoredDisk,
};

/// A content-addressed repository with revisions, opened (and created if its directory does
/// not exist) on first use.
#[derive(Debug)]
pub struct RepositoryStore {
    name: String,
    path: PathBuf,
    create_parents: bool,
    repo: OnceLock<Repository>,
}

impl RepositoryStore {
    /// The repository `name` at `path`. A missing directory is created on first use, if its
    /// parent exists.
    pub fn new(name: impl Into<String>, path: impl Into<PathBuf>) -> RepositoryStore {
        RepositoryStore {
            name: name.into(),
            path: path.into(),
            create_parents: false,
            repo: OnceLock::new(),
        }
    }

    /// This store, creating the missing parent directories of its path too on first use.
    pub fn creating_parents(mut self) -> RepositoryStore {
        self.create_parents = true;
        self
    }

    /// The repository, opened (and created) on the first call.
    pub fn repository(&self) -> Result<&Repository> {
        Ok(self.open()?)
    }

    /// [`RepositoryStore::repository`], with the store's error.
    fn open(&self) -> strata_store::Result<&Repository> {
        if let Some(repo) = self.repo.get() {
            return Ok(repo);
        }
        if self.create_parents
            && !self.path.exists()
            && let Some(parent) = self.path.parent()
        {
            std::fs::create_dir_all(parent).map_err(|source| StoreError::Io {
                op: "create directory",
                path: parent.to_owned(),
                source,
            })?;
        }
        let repo = Repository::open(&self.name, &self.path)?;
        Ok(self.repo.get_or_init(|| repo))
    }

    /// The record `image` names.
    fn record_of(&self, image: &ImageSummary) -> Result<RevisionRecord> {
        let repo = self.repository()?;
        let found = match image.revision {
            Some(revision) => repo.record(&image.name, revision),
            None => repo.latest_record(&image.name),
        };
        found.map_err(|e| not_found(e, image.key(), &self.name))
    }

    /// A write session, refused up front when the repository is not writable.
    fn writer(&self) -> Result<Writer<'_>> {
        let repo = self.repository()?;
        if !repo.is_writable() {
            return Err(Error::ReadOnlyStore {
                store: self.name.clone(),
                path: self.path.clone(),
            });
        }
        Ok(repo.writer()?)
    }

    /// The summary of `record`.
    fn summary(&self, record: &RevisionRecord) -> ImageSummary {
        ImageSummary {
            store: self.name.clone(),
            name: record.name.clone(),
            revision: Some(record.revision),
            kind: record.kind,
            owner: Some(record.owner.clone()),
            timestamp: Some(record.timestamp),
        }
    }

    /// The revision a new image of `name` takes: 0, or the next one when it replaces an image.
    fn next_revision(&self, name: &str, on_existing: OnExisting) -> Result<u64> {
        match on_existing {
            OnExisting::Refuse => Ok(0),
            OnExisting::Replace => match self.repository()?.revisions(name) {
                Ok(revisions) => Ok(revisions.last().map_or(0, |r| r + 1)),
                Err(StoreError::ImageNotFound { .. }) => Ok(0),
                Err(e) => Err(e.into()),
            },
        }
    }

    /// Commits `record` under `writer`: a record of that name and revision written meanwhile by
    /// someone else is [`Error::ImageExists`].
    fn commit(&self, writer: &Writer<'_>, record: &RevisionRecord) -> Result<()> {
        match writer.commit(record) {
            Err(StoreError::RecordExists { name, .. }) => Err(Error::ImageExists {
                name,
                store: self.name.clone(),
            }),
            other => Ok(other?),
        }
    }
}

impl RepositoryStore {
    /// The revision of `name` given, or every one, each checked to exist
    /// ([`Error::ImageNotFound`]).
    fn revisions_named(&self, name: &str, revision: Option<u64>) -> Result<Vec<u64>> {
        let repo = self.repository()?;
        let key = ImageKey::Name {
            name: name.to_owned(),
            revision,
        };
        match revision {
            Some(revision) => {
                repo.record(name, revision)
                    .map_err(|e| not_found(e, key.clone(), &self.name))?;
                Ok(vec![revision])
            }
            None => repo
                .revisions(name)
                .map_err(|e| not_found(e, key.clone(), &self.name)),
        }
    }
}

/// A store's "not found" as the core's, for `key` in `store`.
fn not_found(e: StoreError, key: ImageKey, store: &str) -> Error {
    match e {
        StoreError::ImageNotFound { .. } => Error::ImageNotFound {
            key,
            store: Some(store.to_owned()),
        },
        other => other.into(),
    }
}

/// The layers of `record`, each with its size.
fn layers_of(repo: &Repository, record: &RevisionRecord) -> Result<Vec<Layer>> {
    record
        .data_blobs
        .iter()
        .map(|blob| {
            let path = repo.blob_path(blob.digest());
            let size = crate::app::file_len(&path)?;
            Ok(Layer {
                digest: Some(blob.digest().clone()),
                path,
                size,
            })
        })
        .collect()
}

/// The path of a revision's top blob (a record without blobs is bad metadata).
fn top_path(repo: &Repository, record: &RevisionRecord) -> Result<PathBuf> {
    match record.top_blob() {
        Some(top) => Ok(repo.blob_path(top.digest())),
        None => Err(StoreError::BadMetadata {
            name: record.name.clone(),
            path: repo.meta_dir().join(strata_store::record_file_name(
                &record.name,
                record.revision,
            )),
            message: "the revision has no data blob".to_owned(),
        }
        .into()),
    }
}

impl Store for RepositoryStore {
    fn name(&self) -> &str {
        &self.name
    }

    fn path(&self) -> &Path {
        &self.path
    }

    fn writable(&self) -> Option<bool> {
        self.path
            .exists()
            .then(|| strata_store::fsutil::is_writable(&self.path))
    }

    /// Only the latest record of each image is read; a record that does not parse fails the
    /// listing.
    fn list(&self, matches: &dyn Fn(&str) -> bool) -> Result<Vec<ImageSummary>> {
        let repo = self.repository()?;
        let mut images = Vec::new();
        for (name, revisions) in repo.index()? {
            if !matches(&name) {
                continue;
            }
            if let Some(&latest) = revisions.last() {
                images.push(self.summary(&repo.record(&name, latest)?));
            }
        }
        Ok(images)
    }

    fn find(&self, key: &ImageKey) -> Result<Option<ImageSummary>> {
        let ImageKey::Name { name, revision } = key else {
            return Err(Error::KeyNotSupported {
                key: key.clone(),
                store: self.name.clone(),
            });
        };
        let repo = self.repository()?;
        let found = match revision {
            Some(revision) => repo.record(name, *revision),
            None => repo.latest_record(name),
        };
        match found {
            Ok(record) => Ok(Some(self.summary(&record))),
            Err(StoreError::ImageNotFound { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    fn layers(&self, image: &ImageSummary) -> Result<Vec<Layer>> {
        layers_of(self.repository()?, &self.record_of(image)?)
    }

    /// The chain is opened from the top blob with backing files allowed only under `data/`, and
    /// at most as deep as the record has layers.
    fn open_disk(&self, image: &ImageSummary) -> Result<Box<dyn DiskImage>> {
        let repo = self.repository()?;
        let record = self.record_of(image)?;
        let opened = strata_disk::open(
            &top_path(repo, &record)?,
            &OpenOptions {
                format: Some(DiskFormat::Qcow2),
                allowed_dirs: vec![repo.data_dir()],
                max_depth: record.data_blobs.len().saturating_sub(1),
                no_backing: false,
            },
        )?;
        Ok(opened.image)
    }

    /// One flattened qcow2 blob, recorded as revision 0 (the next revision under
    /// [`OnExisting::Replace`]) of a `vm` image.
    fn create_disk(&self, image: &NewImage) -> Result<Box<dyn DiskSink + '_>> {
        let writer = self.writer()?;
        let blob = writer.new_blob()?;
        Ok(Box::new(RepositoryDisk {
            store: self,
            writer,
            blob,
            image: image.clone(),
        }))
    }

    /// The instances recorded on `name`'s revisions (the one given, or every one).
    fn users(&self, name: &str, revision: Option<u64>) -> Result<Vec<String>> {
        let repo = self.repository()?;
        let mut users = Vec::new();
        for revision in self.revisions_named(name, revision)? {
            users.extend(
                repo.is_in_use(name, revision)?
                    .iter()
                    .map(|id| id.as_str().to_owned()),
            );
        }
        users.sort();
        users.dedup();
        Ok(users)
    }

    /// Every revision is checked first, so that an image in use loses none; several revisions
    /// go all at once ([`Writer::delete_records`]). Removed in use, the revisions' layers stay
    /// until their instances end (gc keeps what instances name).
    fn remove(&self, name: &str, revision: Option<u64>, on_in_use: OnInUse) -> Result<Vec<u64>> {
        let revisions = self.revisions_named(name, revision)?;
        let mode = match on_in_use {
            OnInUse::Refuse => DeleteMode::RefuseInUse,
            OnInUse::Remove => DeleteMode::Force,
        };
        self.writer()?.delete_records(name, &revisions, mode)?;
        Ok(revisions)
    }

    fn revisions(&self) -> Option<&dyn Revisions> {
        Some(self)
    }

    fn containers(&self) -> Option<&dyn Containers> {
        Some(self)
    }

    fn maintenance(&self) -> Option<&dyn Maintenance> {
        Some(self)
    }
}

/// A new VM image of a repository: a new blob, and the write session that commits its record.
#[derive(Debug)]
struct RepositoryDisk<'r> {
    store: &'r RepositoryStore,
    writer: Writer<'r>,
    blob: NewBlob<'r>,
    image: NewImage,
}

crate::store::output_through_blob!(RepositoryDisk);

impl DiskSink for RepositoryDisk<'_> {
    fn format(&self) -> DiskFormat {
        DiskFormat::Qcow2
    }

    fn commit(self: Box<Self>) -> Result<StoredDisk> {
        let RepositoryDisk {
            store,
            writer,
            blob,
            image,
        } = *self;
        let stored = blob.commit()?;
        let revision = store.next_revision(&image.name, image.on_existing)?;
        let record = RevisionRecord::new(
            &image.name,
            revision,
            Kind::Vm,
            &image.owner,
            now(),
            [stored.digest.clone()],
        );
        store.commit(&writer, &record)?;
        Ok(StoredDisk {
            image: store.summary(&record),
            digest: Some(stored.digest),
            file_len: stored.len,
            bytes_written: stored.bytes_written,
            deduplicated: stored.existed,
        })
    }
}

impl Revisions for RepositoryStore {
    fn revisions_of(&self, name: &str) -> Result<Vec<RevisionSummary>> {
        let repo = self.repository()?;
        let numbers = repo
            .revisions(name)
            .map_err(|e| not_found(e, ImageKey::name(name), &self.name))?;
        let mut revisions = Vec::with_capacity(numbers.len());
        for revision in numbers {
            let record = repo.record(name, revision)?;
            revisions.push(RevisionSummary {
                revision,
                timestamp: record.timestamp,
                layers: layers_of(repo, &record)?,
            });
        }
        Ok(revisions)
    }

    fn record(&self, image: &ImageSummary) -> Result<RevisionRecord> {
        self.record_of(image)
    }

    fn records(&self) -> Result<Vec<RevisionRecord>> {
        Ok(self.repository()?.records()?)
    }

    fn copy_revision(
        &self,
        from: &dyn Revisions,
        record: &RevisionRecord,
        image: &NewImage,
        progress: &dyn Fn(u64),
    ) -> Result<CopiedRevision> {
        let writer = self.writer()?;
        let remote = from.remote_layers(record)?;
        let mut layers = Vec::with_capacity(record.data_blobs.len());
        let mut done = 0u64;
        for blob in &record.data_blobs {
            let path = from.layer_path(blob.digest());
            let streamed = match &remote {
                // A remote layer with no local file: streamed in, verified as it comes.
                Some(remote) if !path.exists() => remote
                    .layers
                    .iter()
                    .find(|l| l.digest == *blob.digest())
                    .map(|l| (remote.blobs, l)),
                _ => None,
            };
            if let Some((blobs, layer)) = streamed {
                let (digest, method) = if self.repository()?.has_blob(&layer.digest) {
                    (layer.digest.clone(), CopyMethod::Existing)
                } else {
                    let reader = blobs.open_blob(&layer.digest, layer.size)?;
                    (
                        writer.put_blob(reader, Some(&layer.digest))?,
                        CopyMethod::SparseCopy,
                    )
                };
                done += layer.size;
                progress(done);
                layers.push(LayerCopy {
                    digest,
                    size: layer.size,
                    method,
                });
                continue;
            }
            let size = crate::app::file_len(&path)?;
            let (digest, method) = writer.put_blob_file(&path, Some(blob.digest()))?;
            done += size;
            progress(done);
            layers.push(LayerCopy {
                digest,
                size,
                method,
            });
        }
        let copy = RevisionRecord {
            name: image.name.clone(),
            revision: self.next_revision(&image.name, image.on_existing)?,
            kind: record.kind,
            owner: image.owner.clone(),
            timestamp: now(),
            data_blobs: record.data_blobs.clone(),
            description: None,
            custom_meta: record.custom_meta.clone(),
        };
        self.commit(&writer, &copy)?;
        Ok(CopiedRevision {
            image: self.summary(&copy),
            layers,
        })
    }

    fn layer_path(&self, digest: &Digest) -> PathBuf {
        match self.repo.get() {
            Some(repo) => repo.blob_path(digest),
            None => self
                .path
                .join("data")
                .join(digest.fan_out())
                .join(digest.hex()),
        }
    }

    fn hold_name(&self, name: &str) -> Result<Box<dyn Send + '_>> {
        Ok(Box::new(self.repository()?.lock_image(name)?))
    }

    /// The new layer is an empty qcow2 whose backing file is the previous top blob by the
    /// relative path `../../data/<xx>/<h>` with format qcow2: created in the repository's
    /// `.tmp/` with that name directly (`.tmp/` and `data/<yy>/` are both one level below the
    /// repository's root, so the name resolves once the file is in `data/`), hashed while
    /// written and moved into `data/`. The new record is revision latest+1 with the base
    /// revision's blobs plus the new one, its kind and `custom_meta`.
    fn add_layer(&self, base: &ImageSummary, new_size: u64, owner: &str) -> Result<AddedLayer> {
        let repo = self.repository()?;
        let record = self.record_of(base)?;
        let Some(top) = record.top_blob() else {
            return Err(Error::io(
                "read",
                top_path(repo, &record).unwrap_or_default(),
                std::io::Error::other("the revision has no data blob"),
            ));
        };
        let writer = self.writer()?;
        let latest = repo
            .revisions(&record.name)?
            .last()
            .copied()
            .unwrap_or(record.revision);
        let backing = Repository::relative_blob_path(top.digest());
        let mut options = strata_disk::qcow2::CreateOptions::new(new_size);
        options.backing = Some((backing.to_string_lossy().into_owned(), DiskFormat::Qcow2));
        let mut blob = writer.new_blob()?;
        strata_disk::qcow2::create(&mut blob, &options)?;
        let digest = blob.commit()?.digest;
        let mut data_blobs = record.data_blobs.clone();
        data_blobs.push(DataBlob::bare(digest.clone()));
        let next = RevisionRecord {
            name: record.name.clone(),
            revision: latest + 1,
            kind: Kind::Vm,
            owner: owner.to_owned(),
            timestamp: now(),
            data_blobs,
            description: None,
            custom_meta: record.custom_meta.clone(),
        };
        self.commit(&writer, &next)?;
        Ok(AddedLayer {
            image: self.summary(&next),
            layers: next.data_blobs.len(),
            digest,
        })
    }
}

impl BlobRead for RepositoryStore {
    fn open_blob(&self, digest: &Digest, size: u64) -> strata_oci::Result<Box<dyn Read + '_>> {
        match self.open() {
            Ok(repo) => repo.open_blob(digest, size),
            Err(StoreError::Oci(e)) => Err(e),
            Err(e) => Err(OciError::Io {
                path: self.path.clone(),
                op: "open the repository",
                source: std::io::Error::other(e.to_string()),
            }),
        }
    }
}

impl ContainerSource for RepositoryStore {
    fn source_name(&self) -> &str {
        &self.name
    }

    fn image_of(
        &self,
        record: &RevisionRecord,
        platform: &Platform,
    ) -> strata_store::Result<Image> {
        self.open()?.container_image(record, platform)
    }
}

impl Containers for RepositoryStore {
    fn container_image(&self, image: &ImageSummary, platform: &Platform) -> Result<Image> {
        let record = self.record_of(image)?;
        Ok(self.repository()?.container_image(&record, platform)?)
    }

    /// Records a `ctr` image: every blob as `sha256:<hex>` and the layout's `oci_index`.
    fn put_container(
        &self,
        image: &NewImage,
        src: &dyn BlobRead,
        oci: &Image,
        progress: &dyn Progress,
    ) -> Result<StoredContainer> {
        let repo = self.repository()?;
        let writer = self.writer()?;
        let manifest = expected_of(&oci.manifest_descriptor, "manifest")?;
        let mut wanted: Vec<Expected> = Vec::new();
        for desc in std::iter::once(oci.config()).chain(oci.layers()) {
            let exp = expected_of(desc, "descriptor")?;
            if !wanted.iter().any(|w| w.digest == exp.digest) {
                wanted.push(exp);
            }
        }
        if !wanted.iter().any(|w| w.digest == manifest.digest) {
            wanted.push(manifest.clone());
        }
        let mut staged = Vec::new();
        let mut blobs = Vec::new();
        let mut bytes_written = 0u64;
        for exp in &wanted {
            if repo.has_blob(&exp.digest) {
                blobs.push(LayerCopy {
                    digest: exp.digest.clone(),
                    size: exp.size,
                    method: CopyMethod::Existing,
                });
                continue;
            }
            let phase = Phase::Blob {
                digest: Some(exp.digest.clone()),
                size: Some(exp.size),
            };
            progress.event(&ProgressEvent::Started {
                phase,
                total: Some(exp.size),
            });
            let result = (|| {
                let reader: Box<dyn Read + '_> = if exp.digest == manifest.digest {
                    // A docker-archive's manifest is made in memory: take the bytes held.
                    Box::new(&oci.manifest_bytes[..])
                } else {
                    src.open_blob(&exp.digest, exp.size)?
                };
                let mut counting = crate::ops::container::Counting::new(reader, progress);
                Ok::<_, Error>(writer.stage_blob(&mut counting, Some(exp))?)
            })();
            progress.event(&ProgressEvent::Finished);
            let blob = result?;
            bytes_written += blob.size();
            blobs.push(LayerCopy {
                digest: exp.digest.clone(),
                size: exp.size,
                method: CopyMethod::SparseCopy,
            });
            staged.push(blob);
        }
        for blob in staged {
            writer.install_staged(blob)?;
        }
        let revision = self.next_revision(&image.name, image.on_existing)?;
        let record =
            strata_store::container_record(&image.name, revision, &image.owner, now(), oci)?;
        self.commit(&writer, &record)?;
        Ok(StoredContainer {
            image: self.summary(&record),
            manifest: manifest.digest,
            blobs,
            bytes_written,
        })
    }

    /// The repository's `.tmp/`, under its write lock (which [`Repository::writer`] creates).
    fn scratch(&self) -> Result<Scratch<'_>> {
        let writer = self.repository()?.writer()?;
        Ok(Scratch {
            path: writer.repository().tmp_dir(),
            hold: Box::new(writer),
        })
    }
}

impl Maintenance for RepositoryStore {
    /// Removes every blob no record names, empty fan-out directories and everything in `.tmp/`
    /// (as pcocc's `garbage_collect` does), under the repository's exclusive lock, keeping blobs
    /// that VM instances use and entries younger than `grace`.
    fn gc(&self, grace: std::time::Duration) -> Result<strata_store::GcReport> {
        let repo = self.repository()?;
        if !repo.is_writable() {
            return Err(Error::ReadOnlyStore {
                store: self.name.clone(),
                path: self.path.clone(),
            });
        }
        Ok(repo.gc(grace)?)
    }

    /// Every blob rehashed, every record and every VM revision's qcow2 chain checked (each layer
    /// backed by the blob below it through the relative path). Takes no lock.
    fn verify(&self) -> Result<strata_store::VerifyReport> {
        Ok(self.repository()?.verify_with(Some(&Qcow2Chains))?)
    }
}
