//! [`RegistryStore`]: a repository kept in an OCI distribution registry (Harbor, Quay, Zot,
//! `docker-registry`, a cloud registry), so that the images of a site are shared beyond one
//! machine without a server of strata's own.
//!
//! Layout (docs/registry-repository.md says it for other tools): the store is one registry
//! repository, `docker://host[:port]/namespace`. Each VM image revision is an OCI artifact
//! tagged `<name>_r<revision>` (the name escaped into the tag alphabet, [`tag_of`]): an image
//! manifest whose config is the revision's record (the pcocc v2 JSON a directory repository
//! keeps, media type [`RECORD_MEDIA_TYPE`]) and whose layers are the revision's qcow2 layers,
//! bottom first ([`LAYER_MEDIA_TYPE`]), so layers are shared between revisions and images as
//! blobs of one repository. The registry checks that every blob a manifest names is present
//! before it takes the manifest, so a tag never names a half-uploaded revision.
//!
//! Reads go through a local read-through cache, itself a directory repository (the same
//! layout, records and blobs): a layer is downloaded once, verified as it streams, and a VM
//! image opens from the cache's files; starting the same image twice downloads nothing the
//! second time. The cache is bounded ([`RegistryStore::with_cache_max`]): after each download
//! the least recently used revisions that no VM uses are dropped from it until it fits.
//!
//! Writes: a new revision's layers are pushed first (a blob the registry has is not sent
//! again: `HEAD`, then a mount or an upload), then its record, then its manifest under its tag.
//! A registry has no compare-and-swap on tags; clients that push the same name at once agree
//! on one winner through claims (`registry/claim.rs`): before a revision's tag is put, a tag that exists
//! is refused ([`OnExisting::Refuse`], [`Error::ImageExists`]) or the next revision is taken
//! ([`OnExisting::Replace`]), and of the clients racing for one tag exactly one puts it.
//!
//! What a registry cannot do: deleting needs the registry to allow it (`405` otherwise,
//! reported as such); a deleted revision's blobs are removed by the registry's own garbage
//! collection (`registry garbage-collect`), which no API starts, so [`Maintenance::gc`] here
//! trims the local cache.
//!
//! A container image revision is kept the same way, its record (kind `ctr`, every blob of
//! the image, its `oci_index`) as the config and the image's manifest, config and layers as
//! the artifact's blobs ([`CONTAINER_BLOB_MEDIA_TYPE`]), exactly as the image has them; its
//! manifest is also put by digest, so that any tool pulls the image as it is.

use std::collections::{BTreeMap, HashSet};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use strata_disk::DiskImage;
use strata_model::{DataBlob, Digest, DiskFormat, Kind, RevisionRecord};
use strata_oci::image::expected_of;
use strata_oci::registry::BlobPush;
use strata_oci::{
    BlobRead, Expected, OciError, Platform, Registry, RegistryBlobs, RegistryOptions, RegistryRef,
};
use strata_store::{CopyMethod, DeleteMode, NewBlob, Repository, StoreError, Writer};

use crate::app::now;
use crate::error::{Error, Result};
use crate::progress::{Phase, Progress, ProgressEvent};
use crate::store::{
    AddedLayer, Containers, CopiedRevision, DiskSink, ImageKey, ImageSummary, KnownSizes, Layer,
    LayerCopy, Maintenance, NewImage, OnExisting, OnInUse, RemoteLayers, RevisionSummary,
    Revisions, Scratch, Store, StoredContainer, StoredDisk,
};
use crate::stores::RepositoryStore;

mod claim;
mod containers;
mod revisions;
mod tag;

pub use claim::CLAIM_ARTIFACT_TYPE;
pub use tag::{parse_tag, tag_of};

/// The media type of a revision's config: its record, as a directory repository keeps it.
pub const RECORD_MEDIA_TYPE: &str = "application/vnd.strata.revision.v1+json";

/// The media type of a VM image layer: a qcow2 file whose backing file, if any, is the layer
/// below it, named as a directory repository names it (`../../data/<xx>/<hex>`).
pub const LAYER_MEDIA_TYPE: &str = "application/vnd.strata.disk.layer.v1.qcow2";

/// The media type of a container image's blob (its manifest, config or a layer) inside a
/// container revision: the blob itself, as the image has it.
pub const CONTAINER_BLOB_MEDIA_TYPE: &str = "application/vnd.strata.container.blob.v1";

/// The OCI image manifest media type.
const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

/// Annotations of a revision's manifest: what listing needs without reading the record.
const ANNOTATION_NAME: &str = "org.strata.image.name";
const ANNOTATION_REVISION: &str = "org.strata.image.revision";
const ANNOTATION_KIND: &str = "org.strata.image.kind";
const ANNOTATION_OWNER: &str = "org.strata.image.owner";
const ANNOTATION_TIMESTAMP: &str = "org.strata.image.timestamp";
const ANNOTATION_VIRTUAL_SIZE: &str = "org.strata.image.virtual-size";

/// The longest tag the distribution specification allows.
const MAX_TAG: usize = 128;

/// The largest record read from a registry.
const MAX_RECORD: u64 = 1 << 20;

/// Default bound of the local cache: 20 GiB.
pub const DEFAULT_CACHE_MAX: u64 = 20 << 30;

/// How often a push that lost a race for a revision number tries the next one
/// ([`OnExisting::Replace`]): each round has a winner, so this many clients pushing one name
/// at the same moment all get a revision.
const REVISION_ATTEMPTS: u32 = 64;

/// A repository in an OCI registry, with a local read-through cache. See the
/// [module documentation](self).
#[derive(Debug)]
pub struct RegistryStore {
    name: String,
    remote: RegistryRef,
    url: String,
    registry: Arc<Registry>,
    /// The blobs of the registry repository, through `registry`.
    blobs: RegistryBlobs,
    /// How this client agrees with others on who puts a tag.
    claims: claim::Claims,
    cache: RepositoryStore,
    cache_max: u64,
}

impl RegistryStore {
    /// The store `name` kept in the registry repository `url` (`docker://host[:port]/path`),
    /// its blobs cached under `cache_dir` (created, with its parents, on first use). A
    /// loopback registry is spoken to over plain http when https does not answer, as the
    /// container transports do.
    pub fn new(
        name: impl Into<String>,
        url: &str,
        cache_dir: impl Into<PathBuf>,
        options: RegistryOptions,
    ) -> Result<RegistryStore> {
        let name = name.into();
        let bare = url.strip_prefix("docker://").unwrap_or(url);
        if bare.contains('@')
            || bare
                .rsplit('/')
                .next()
                .is_some_and(|last| last.contains(':'))
        {
            return Err(OciError::InvalidRequest(format!(
                "{url}: a registry repository is named without a tag or digest"
            ))
            .into());
        }
        let remote = RegistryRef::parse(bare)?;
        let options = if crate::transport::is_loopback(remote.registry()) {
            RegistryOptions {
                tls_verify: false,
                ..options
            }
        } else {
            options
        };
        let registry = Arc::new(Registry::new(options)?);
        let cache = RepositoryStore::new(name.clone(), cache_dir.into()).creating_parents();
        let blobs = RegistryBlobs::new(Arc::clone(&registry), remote.clone());
        Ok(RegistryStore {
            blobs,
            claims: claim::Claims::new(),
            url: format!("docker://{}/{}", remote.registry(), remote.repository()),
            name,
            remote,
            registry,
            cache,
            cache_max: DEFAULT_CACHE_MAX,
        })
    }

    /// The options a store's registry client is given by default: those of
    /// [`RegistryOptions::default`], uploads in chunks of
    /// [`MAX_CHUNK_SIZE`](strata_oci::registry::MAX_CHUNK_SIZE) (64 MiB), so that an upload
    /// cut by a dropped connection or a registry restarted goes on where the registry holds
    /// it. Large chunks because each `PATCH` waits for the registry's answer before the next
    /// goes: with 4 MiB chunks a 1.5 GB layer took 10.1 s to push to `docker-registry`
    /// against 8.4 s in one streamed `PATCH`.
    pub fn default_options() -> RegistryOptions {
        RegistryOptions {
            upload: strata_oci::registry::Upload::Chunked {
                chunk_size: strata_oci::registry::MAX_CHUNK_SIZE,
            },
            ..RegistryOptions::default()
        }
    }

    /// This store, its local cache bounded to `bytes` of layers (default
    /// [`DEFAULT_CACHE_MAX`]).
    pub fn with_cache_max(mut self, bytes: u64) -> RegistryStore {
        self.cache_max = bytes;
        self
    }

    /// The registry repository, `docker://host[:port]/path`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The local cache (a directory repository).
    pub fn cache(&self) -> &RepositoryStore {
        &self.cache
    }

    /// The reference of `tag` in the store's registry repository.
    fn at(&self, tag: &str) -> Result<RegistryRef> {
        Ok(self.remote.with_tag(tag)?)
    }

    /// The tag of `name`'s `revision`, or the error that the store cannot hold the name.
    fn tag(&self, name: &str, revision: u64) -> Result<String> {
        tag_of(name, revision).ok_or_else(|| Error::NameNotStorable {
            name: name.to_owned(),
            store: self.name.clone(),
            reason: format!(
                "its registry tag, with a claim's {} characters, would be longer than {MAX_TAG}",
                claim::CLAIM_SUFFIX_LEN
            ),
        })
    }

    /// Every image of the registry repository and its revisions, from the tag list alone
    /// (tags strata did not write are ignored).
    fn index(&self) -> Result<BTreeMap<String, Vec<u64>>> {
        let mut index: BTreeMap<String, Vec<u64>> = BTreeMap::new();
        for tag in self.registry.tags(&self.remote)? {
            if let Some((name, revision)) = parse_tag(&tag) {
                index.entry(name).or_default().push(revision);
            }
        }
        for revisions in index.values_mut() {
            revisions.sort_unstable();
        }
        Ok(index)
    }

    /// The revisions of `name`, ascending (empty when there is none).
    fn revision_numbers(&self, name: &str) -> Result<Vec<u64>> {
        Ok(self.index()?.remove(name).unwrap_or_default())
    }

    /// The revision `name`, `revision` names (the latest without one), if the registry has it.
    fn fetch(&self, name: &str, revision: Option<u64>) -> Result<Option<Remote>> {
        let revision = match revision {
            Some(r) => r,
            None => match self.revision_numbers(name)?.last() {
                Some(&r) => r,
                None => return Ok(None),
            },
        };
        let tag = self.tag(name, revision)?;
        let Some(manifest) = self.registry.find_manifest(&self.at(&tag)?)? else {
            return Ok(None);
        };
        let bad = |message: String| Error::BadRemoteRevision {
            store: self.name.clone(),
            tag: tag.clone(),
            message,
        };
        let parsed: ArtifactManifest =
            serde_json::from_slice(&manifest.bytes).map_err(|e| bad(format!("manifest: {e}")))?;
        if parsed.config.media_type != RECORD_MEDIA_TYPE {
            return Err(bad(format!(
                "not a strata revision (config media type {})",
                parsed.config.media_type
            )));
        }
        let config = expected(&parsed.config).map_err(|e| bad(e.to_string()))?;
        if config.size > MAX_RECORD {
            return Err(bad(format!("record of {} bytes", config.size)));
        }
        let blobs = RegistryBlobs::new(Arc::clone(&self.registry), self.at(&tag)?);
        let mut text = String::new();
        blobs
            .open_blob(&config.digest, config.size)?
            .read_to_string(&mut text)
            .map_err(|e| bad(format!("record: {e}")))?;
        let record = RevisionRecord::from_json(name, &text).map_err(|e| bad(e.to_string()))?;
        if record.name != name || record.revision != revision {
            return Err(bad(format!(
                "its record is {}@{}",
                record.name, record.revision
            )));
        }
        let mut layers = Vec::with_capacity(parsed.layers.len());
        for desc in &parsed.layers {
            layers.push(expected(desc).map_err(|e| bad(e.to_string()))?);
        }
        let named: Vec<&Digest> = record.data_blobs.iter().map(DataBlob::digest).collect();
        if named.len() != layers.len() || named.iter().zip(&layers).any(|(d, l)| **d != l.digest) {
            return Err(bad("its layers are not its record's blobs".to_owned()));
        }
        let virtual_size = parsed
            .annotations
            .get(ANNOTATION_VIRTUAL_SIZE)
            .and_then(|v| v.parse().ok());
        Ok(Some(Remote {
            record,
            layers,
            tag,
            virtual_size,
        }))
    }

    /// [`RegistryStore::fetch`] for `image`, which must exist.
    fn remote_of(&self, image: &ImageSummary) -> Result<Remote> {
        self.fetch(&image.name, image.revision)?
            .ok_or_else(|| Error::ImageNotFound {
                key: image.key(),
                store: Some(self.name.clone()),
            })
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

    /// Makes `remote` local: its layers downloaded into the cache (those it lacks, each
    /// verified as it streams) and its record written there, marked as just used; then the
    /// cache is trimmed to its bound.
    fn mirror(&self, remote: &Remote) -> Result<()> {
        let repo = self.cache.repository()?;
        let writer = repo.writer()?;
        let blobs = RegistryBlobs::new(Arc::clone(&self.registry), self.at(&remote.tag)?);
        for layer in &remote.layers {
            if repo.has_blob(&layer.digest) {
                continue;
            }
            let reader = blobs.open_blob(&layer.digest, layer.size)?;
            writer.put_blob(reader, Some(&layer.digest))?;
        }
        let record = &remote.record;
        match repo.record(&record.name, record.revision) {
            Ok(cached) if cached == *record => {}
            Ok(_) => {
                writer.delete_records(&record.name, &[record.revision], DeleteMode::Force)?;
                commit_mirrored(repo, &writer, record)?;
            }
            Err(StoreError::ImageNotFound { .. }) => commit_mirrored(repo, &writer, record)?,
            Err(e) => return Err(e.into()),
        }
        drop(writer);
        touch(&self.record_file(repo, record));
        self.trim_cache(Some(record))
    }

    fn record_file(&self, repo: &Repository, record: &RevisionRecord) -> PathBuf {
        repo.meta_dir().join(strata_store::record_file_name(
            &record.name,
            record.revision,
        ))
    }

    /// Drops the least recently used revisions from the cache (never `keep`, never one a VM
    /// uses) until its layers fit the bound, then removes the blobs no revision names.
    fn trim_cache(&self, keep: Option<&RevisionRecord>) -> Result<()> {
        let repo = self.cache.repository()?;
        let records = repo.records()?;
        let mut sizes: BTreeMap<Digest, u64> = BTreeMap::new();
        for record in &records {
            for blob in &record.data_blobs {
                let len = std::fs::metadata(repo.blob_path(blob.digest())).map_or(0, |m| m.len());
                sizes.insert(blob.digest().clone(), len);
            }
        }
        let mut total: u64 = sizes.values().sum();
        if total <= self.cache_max {
            return Ok(());
        }
        let mut by_use: Vec<(std::time::SystemTime, &RevisionRecord)> = records
            .iter()
            .filter(|r| keep.is_none_or(|k| k.name != r.name || k.revision != r.revision))
            .map(|r| {
                let used = std::fs::metadata(self.record_file(repo, r))
                    .and_then(|m| m.modified())
                    .unwrap_or(std::time::UNIX_EPOCH);
                (used, r)
            })
            .collect();
        by_use.sort_by_key(|(used, _)| *used);
        let mut dropped: HashSet<(String, u64)> = HashSet::new();
        {
            let writer = repo.writer()?;
            for (_, record) in by_use {
                if total <= self.cache_max {
                    break;
                }
                match writer.delete_records(
                    &record.name,
                    &[record.revision],
                    DeleteMode::RefuseInUse,
                ) {
                    Ok(()) => {}
                    Err(StoreError::InUse { .. }) => continue,
                    Err(e) => return Err(e.into()),
                }
                dropped.insert((record.name.clone(), record.revision));
                let still_named: HashSet<&Digest> = records
                    .iter()
                    .filter(|r| !dropped.contains(&(r.name.clone(), r.revision)))
                    .flat_map(|r| r.data_blobs.iter().map(DataBlob::digest))
                    .collect();
                total = sizes
                    .iter()
                    .filter(|(d, _)| still_named.contains(d))
                    .map(|(_, len)| len)
                    .sum();
            }
        }
        match repo.try_gc(std::time::Duration::ZERO) {
            Ok(_) | Err(StoreError::Locked { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Pushes `record`'s manifest under its tag (the layers already in the registry), unless
    /// the tag exists or another client wins it (`registry/claim.rs`). `Ok(false)`: it lost.
    fn put_revision(
        &self,
        record: &RevisionRecord,
        layers: &[Expected],
        virtual_size: Option<u64>,
    ) -> Result<(bool, Digest)> {
        let tag = self.tag(&record.name, record.revision)?;
        let dest = self.at(&tag)?;
        let record_bytes = record.to_json().into_bytes();
        let config = Expected {
            digest: strata_oci::verify::digest_bytes(&record_bytes),
            size: record_bytes.len() as u64,
        };
        self.registry
            .push_blob(&dest, &BytesBlob(&record_bytes), &config, None)?;
        let manifest = artifact_manifest(record, &config, layers, virtual_size);
        let digest = strata_oci::verify::digest_bytes(&manifest);
        let won = self.claims.put_exclusive(
            &self.registry,
            &self.remote,
            &tag,
            &manifest,
            OCI_MANIFEST,
            &self.name,
        )?;
        Ok((won, digest))
    }

    /// Stores a revision of `image` made of `layers` (already in the registry), numbered as
    /// `image.on_existing` says, racing other clients as the module documentation tells.
    fn commit_revision(
        &self,
        image: &NewImage,
        make: &dyn Fn(u64) -> RevisionRecord,
        layers: &[Expected],
        virtual_size: Option<u64>,
    ) -> Result<RevisionRecord> {
        for _ in 0..REVISION_ATTEMPTS {
            let revisions = self.revision_numbers(&image.name)?;
            let revision = match (image.on_existing, revisions.last()) {
                (OnExisting::Refuse, Some(_)) => return Err(self.exists(&image.name)),
                (OnExisting::Refuse, None) => 0,
                (OnExisting::Replace, last) => last.map_or(0, |r| r + 1),
            };
            let record = make(revision);
            let (won, _) = self.put_revision(&record, layers, virtual_size)?;
            if won {
                return Ok(record);
            }
            if image.on_existing == OnExisting::Refuse {
                return Err(self.exists(&image.name));
            }
            tracing::info!(name = %image.name, revision, "revision taken by another client; trying the next");
            // Out of step with the other losers of this round, so they do not collide again.
            let jitter = u64::from(
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.subsec_nanos())
                    % 20,
            );
            std::thread::sleep(std::time::Duration::from_millis(5 + jitter));
        }
        Err(self.exists(&image.name))
    }

    fn exists(&self, name: &str) -> Error {
        Error::ImageExists {
            name: name.to_owned(),
            store: self.name.clone(),
        }
    }

    /// Pushes the cache's blob `digest` to the registry.
    fn push_cached(&self, digest: &Digest, size: u64) -> Result<BlobPush> {
        let exp = Expected {
            digest: digest.clone(),
            size,
        };
        Ok(self
            .registry
            .push_blob(&self.remote, self.cache.repository()?, &exp, None)?)
    }

    /// Records `record` in the cache as well (its blobs are there): the next read of it
    /// downloads nothing.
    fn cache_record(&self, record: &RevisionRecord) -> Result<()> {
        let repo = self.cache.repository()?;
        let writer = repo.writer()?;
        if repo.record(&record.name, record.revision).is_ok() {
            writer.delete_records(&record.name, &[record.revision], DeleteMode::Force)?;
        }
        writer.commit(record)?;
        Ok(())
    }
}

/// One revision as the registry holds it.
#[derive(Debug, Clone)]
struct Remote {
    record: RevisionRecord,
    layers: Vec<Expected>,
    tag: String,
    /// The virtual size its manifest records (VM revisions pushed by this version).
    virtual_size: Option<u64>,
}

/// The parts of an OCI image manifest a revision needs.
#[derive(Debug, Deserialize)]
struct ArtifactManifest {
    config: Descriptor,
    #[serde(default)]
    layers: Vec<Descriptor>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Descriptor {
    media_type: String,
    digest: String,
    size: u64,
}

fn expected(desc: &Descriptor) -> std::result::Result<Expected, String> {
    let digest = desc
        .digest
        .strip_prefix("sha256:")
        .and_then(|hex| hex.parse::<Digest>().ok())
        .ok_or_else(|| format!("digest {:?} is not sha256", desc.digest))?;
    Ok(Expected {
        digest,
        size: desc.size,
    })
}

/// The manifest of `record`'s revision: `config` its record, `layers` its qcow2 layers.
fn artifact_manifest(
    record: &RevisionRecord,
    config: &Expected,
    layers: &[Expected],
    virtual_size: Option<u64>,
) -> Vec<u8> {
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Manifest<'a> {
        schema_version: u32,
        media_type: &'a str,
        artifact_type: &'a str,
        config: Descriptor,
        layers: Vec<Descriptor>,
        annotations: BTreeMap<&'a str, String>,
    }
    let desc = |media_type: &str, e: &Expected| Descriptor {
        media_type: media_type.to_owned(),
        digest: e.digest.prefixed(),
        size: e.size,
    };
    let manifest = Manifest {
        schema_version: 2,
        media_type: OCI_MANIFEST,
        artifact_type: RECORD_MEDIA_TYPE,
        config: desc(RECORD_MEDIA_TYPE, config),
        layers: layers
            .iter()
            .map(|l| match record.kind {
                Kind::Vm => desc(LAYER_MEDIA_TYPE, l),
                Kind::Ctr => desc(CONTAINER_BLOB_MEDIA_TYPE, l),
            })
            .collect(),
        annotations: BTreeMap::from([
            (ANNOTATION_NAME, record.name.clone()),
            (ANNOTATION_REVISION, record.revision.to_string()),
            (ANNOTATION_KIND, record.kind.as_str().to_owned()),
            (ANNOTATION_OWNER, record.owner.clone()),
            (ANNOTATION_TIMESTAMP, record.timestamp.to_string()),
        ]),
    };
    let mut manifest = manifest;
    if let Some(size) = virtual_size {
        manifest
            .annotations
            .insert(ANNOTATION_VIRTUAL_SIZE, size.to_string());
    }
    // Serialising these plain types cannot fail.
    serde_json::to_vec(&manifest).unwrap_or_default()
}

/// A blob held in memory, as a [`BlobRead`] (the record).
struct BytesBlob<'a>(&'a [u8]);

impl BlobRead for BytesBlob<'_> {
    fn open_blob(&self, _: &Digest, _: u64) -> strata_oci::Result<Box<dyn Read + '_>> {
        Ok(Box::new(self.0))
    }
}

/// The blobs of another store's layers, read from their files.
struct LayerFiles<'a>(&'a dyn Revisions);

impl BlobRead for LayerFiles<'_> {
    fn open_blob(&self, digest: &Digest, size: u64) -> strata_oci::Result<Box<dyn Read + '_>> {
        let path = self.0.layer_path(digest);
        let file = std::fs::File::open(&path).map_err(|e| OciError::from_io(&path, "open", e))?;
        Ok(Box::new(strata_oci::verify::VerifyingReader::new(
            file,
            path.display().to_string(),
            digest.clone(),
            size,
        )))
    }
}

/// Writes `record` into the cache, where another process (or thread) reading the same
/// revision may have written it first: the same record there is as good.
fn commit_mirrored(repo: &Repository, writer: &Writer<'_>, record: &RevisionRecord) -> Result<()> {
    match writer.commit(record) {
        Err(StoreError::RecordExists { .. })
            if repo.record(&record.name, record.revision).ok().as_ref() == Some(record) =>
        {
            Ok(())
        }
        other => Ok(other?),
    }
}

/// The virtual size the qcow2 file at `path` declares (its header only; `None` when it cannot
/// be read, and the size is then not recorded).
fn top_virtual_size(path: &Path) -> Option<u64> {
    let options = strata_disk::OpenOptions {
        format: Some(DiskFormat::Qcow2),
        no_backing: true,
        ..strata_disk::OpenOptions::default()
    };
    strata_disk::open(path, &options)
        .ok()
        .map(|opened| opened.image.virtual_size())
}

/// `layers` as the files the cache keeps them in (or will, once they are downloaded).
fn cached_layers(repo: &Repository, layers: &[Expected]) -> Vec<Layer> {
    layers
        .iter()
        .map(|l| Layer {
            digest: Some(l.digest.clone()),
            path: repo.blob_path(&l.digest),
            size: l.size,
        })
        .collect()
}

/// How a blob reached the registry, in the words of copies.
fn copy_method(pushed: BlobPush) -> CopyMethod {
    match pushed {
        BlobPush::Uploaded => CopyMethod::SparseCopy,
        BlobPush::Mounted => CopyMethod::Mounted,
        BlobPush::Present => CopyMethod::Existing,
    }
}

/// Marks `path` used now (its mtime), for the cache's least-recently-used order.
fn touch(path: &Path) {
    if let Ok(file) = std::fs::File::open(path) {
        // Best effort: a cache entry that keeps an old time is only dropped sooner.
        let _ = file.set_modified(std::time::SystemTime::now());
    }
}

impl Store for RegistryStore {
    fn name(&self) -> &str {
        &self.name
    }

    /// The local cache's directory.
    fn path(&self) -> &Path {
        self.cache.path()
    }

    /// Whether the cache may be written; the registry's permissions show at the first push.
    fn writable(&self) -> Option<bool> {
        Some(self.cache.writable().unwrap_or(true))
    }

    /// One tag list, then one manifest per image listed (its annotations).
    fn list(&self, matches: &dyn Fn(&str) -> bool) -> Result<Vec<ImageSummary>> {
        let mut images = Vec::new();
        for (name, revisions) in self.index()? {
            if !matches(&name) {
                continue;
            }
            let Some(&latest) = revisions.last() else {
                continue;
            };
            let tag = self.tag(&name, latest)?;
            let Some(manifest) = self.registry.find_manifest(&self.at(&tag)?)? else {
                continue; // deleted since the tag list was read
            };
            let parsed: ArtifactManifest =
                serde_json::from_slice(&manifest.bytes).map_err(|e| Error::BadRemoteRevision {
                    store: self.name.clone(),
                    tag: tag.clone(),
                    message: format!("manifest: {e}"),
                })?;
            let a = &parsed.annotations;
            images.push(ImageSummary {
                store: self.name.clone(),
                name,
                revision: Some(latest),
                kind: match a.get(ANNOTATION_KIND).map(String::as_str) {
                    Some("ctr") => Kind::Ctr,
                    _ => Kind::Vm,
                },
                owner: a.get(ANNOTATION_OWNER).cloned(),
                timestamp: a.get(ANNOTATION_TIMESTAMP).and_then(|t| t.parse().ok()),
            });
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
        Ok(self
            .fetch(name, *revision)?
            .map(|remote| self.summary(&remote.record)))
    }

    /// From the revision's manifest: the virtual size recorded when it was pushed, and its
    /// layers' sizes in the registry.
    fn known_sizes(&self, image: &ImageSummary) -> Result<Option<KnownSizes>> {
        let remote = self.remote_of(image)?;
        Ok(remote.virtual_size.map(|virtual_size| KnownSizes {
            virtual_size,
            stored: remote.layers.iter().map(|l| l.size).sum(),
        }))
    }

    /// The layers are downloaded into the cache (those it lacks) and named there.
    fn layers(&self, image: &ImageSummary) -> Result<Vec<Layer>> {
        let remote = self.remote_of(image)?;
        self.mirror(&remote)?;
        Ok(cached_layers(self.cache.repository()?, &remote.layers))
    }

    /// Opened from the cache, after the layers it lacks are downloaded.
    fn open_disk(&self, image: &ImageSummary) -> Result<Box<dyn DiskImage>> {
        let remote = self.remote_of(image)?;
        self.mirror(&remote)?;
        self.cache.open_disk(&self.summary(&remote.record))
    }

    /// Written into the cache as one flattened qcow2 blob, then pushed on commit.
    fn create_disk(&self, image: &NewImage) -> Result<Box<dyn DiskSink + '_>> {
        self.tag(&image.name, 0)?;
        if image.on_existing == OnExisting::Refuse
            && !self.revision_numbers(&image.name)?.is_empty()
        {
            return Err(self.exists(&image.name));
        }
        let repo = self.cache.repository()?;
        let writer = repo.writer()?;
        let blob = writer.new_blob()?;
        Ok(Box::new(RegistryDisk {
            store: self,
            _writer: writer,
            blob,
            image: image.clone(),
        }))
    }

    /// The VMs that run on the cache's copy of the image.
    fn users(&self, name: &str, revision: Option<u64>) -> Result<Vec<String>> {
        let revisions = self.revisions_named(name, revision)?;
        let repo = self.cache.repository()?;
        let mut users = Vec::new();
        for revision in revisions {
            if repo.record(name, revision).is_ok() {
                users.extend(
                    repo.is_in_use(name, revision)?
                        .iter()
                        .map(|id| id.as_str().to_owned()),
                );
            }
        }
        users.sort();
        users.dedup();
        Ok(users)
    }

    /// Each revision's manifest is deleted (and with it its tag), one after the other: a
    /// registry deletes one manifest per request, so an error part way leaves the revisions
    /// before it deleted, and says which failed.
    fn remove(&self, name: &str, revision: Option<u64>, on_in_use: OnInUse) -> Result<Vec<u64>> {
        let revisions = self.revisions_named(name, revision)?;
        if on_in_use == OnInUse::Refuse {
            let users = self.users(name, revision)?;
            if !users.is_empty() {
                return Err(Error::ImageInUse {
                    key: ImageKey::Name {
                        name: name.to_owned(),
                        revision,
                    },
                    store: self.name.clone(),
                    users,
                });
            }
        }
        for &r in &revisions {
            let tag = self.tag(name, r)?;
            let at = self.at(&tag)?;
            if let Some(manifest) = self.registry.find_manifest(&at)? {
                self.registry.delete_manifest(&at, &manifest.digest)?;
            }
        }
        let repo = self.cache.repository()?;
        let cached: Vec<u64> = revisions
            .iter()
            .copied()
            .filter(|&r| repo.record(name, r).is_ok())
            .collect();
        if !cached.is_empty() {
            repo.writer()?
                .delete_records(name, &cached, DeleteMode::Force)?;
        }
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

impl RegistryStore {
    /// The revision of `name` given, or every one, each checked to exist.
    fn revisions_named(&self, name: &str, revision: Option<u64>) -> Result<Vec<u64>> {
        let all = self.revision_numbers(name)?;
        let found: Vec<u64> = match revision {
            Some(r) => all.into_iter().filter(|&x| x == r).collect(),
            None => all,
        };
        if found.is_empty() {
            return Err(Error::ImageNotFound {
                key: ImageKey::Name {
                    name: name.to_owned(),
                    revision,
                },
                store: Some(self.name.clone()),
            });
        }
        Ok(found)
    }
}

/// A new VM image of a registry store: a blob in the cache, pushed with its revision on
/// commit.
#[derive(Debug)]
struct RegistryDisk<'r> {
    store: &'r RegistryStore,
    /// Keeps the cache's gc away until the blob is committed and pushed.
    _writer: Writer<'r>,
    blob: NewBlob<'r>,
    image: NewImage,
}

crate::store::output_through_blob!(RegistryDisk);

impl DiskSink for RegistryDisk<'_> {
    fn format(&self) -> DiskFormat {
        DiskFormat::Qcow2
    }

    fn commit(self: Box<Self>) -> Result<StoredDisk> {
        let RegistryDisk {
            store,
            _writer,
            blob,
            image,
        } = *self;
        let stored = blob.commit()?;
        let virtual_size = top_virtual_size(&store.cache.layer_path(&stored.digest));
        let pushed = store.push_cached(&stored.digest, stored.len)?;
        let layer = Expected {
            digest: stored.digest.clone(),
            size: stored.len,
        };
        let timestamp = now();
        let record = store.commit_revision(
            &image,
            &|revision| {
                RevisionRecord::new(
                    &image.name,
                    revision,
                    Kind::Vm,
                    &image.owner,
                    timestamp,
                    [stored.digest.clone()],
                )
            },
            std::slice::from_ref(&layer),
            virtual_size,
        )?;
        drop(_writer);
        store.cache_record(&record)?;
        store.trim_cache(Some(&record))?;
        Ok(StoredDisk {
            image: store.summary(&record),
            digest: Some(stored.digest),
            file_len: stored.len,
            bytes_written: if pushed == BlobPush::Uploaded {
                stored.len
            } else {
                0
            },
            deduplicated: pushed != BlobPush::Uploaded,
        })
    }
}
