//! Container images in a repository: the repository as a strata-oci blob store, and container
//! revision records exactly as pcocc writes them.
//!
//! [`Repository`] implements [`BlobRead`] (a blob `sha256:<h>` is `data/<h[0:2]>/<h>`, opened
//! without following a symlink and verified against its digest and size while it streams) and
//! [`Writer`] implements [`BlobWrite`] (bytes go to `.tmp/`, are hashed and counted as they are
//! written, checked, fsynced, made 0444 and renamed in; a blob already there is not written
//! again). An import that must leave the repository untouched when any blob fails stages every
//! blob first ([`Writer::stage_blob`]) and installs them only when all are verified
//! ([`Writer::install_staged`]).
//!
//! A container revision (pcocc's `ImageMgr.import_image`, `lib/pcocc/Image.py`, v0.7.5) has
//! kind `ctr`; `data_blobs` lists every blob as `sha256:<hex>` in the order of pcocc's
//! `OciImage.blobs_resolve` (the manifest, then its layers bottom first, then its config, each
//! once); `custom_meta.oci_index` is the `index.json` of the OCI layout skopeo wrote for pcocc
//! (`skopeo copy … oci:<tmp>:latest`): `{"schemaVersion": 2, "manifests": [{"mediaType": …,
//! "digest": …, "size": …, "annotations": {"org.opencontainers.image.ref.name": "latest"}}]}`.
//! pcocc's `ContainerLayoutView` rebuilds a layout from exactly that: `index.json` from
//! `oci_index`, `blobs/sha256/<h>` linked to `data/`, which [`Repository::container_image`]
//! mirrors without a temporary directory.

use std::fs;
use std::io::{self, Read, Write};

use oci_spec::image::ImageIndex;
use serde_json::{Value, json};
use strata_model::digest::Digest;
use strata_model::kind::Kind;
use strata_model::record::RevisionRecord;
use strata_oci::image::{
    DOCKER_MANIFEST, MAX_MANIFEST_SIZE, OCI_MANIFEST, REF_NAME_ANNOTATION, load_image, parse_index,
    select_platform,
};
use strata_oci::verify::HashingReader;
use strata_oci::{BlobRead, BlobWrite, Expected, Image, OciError, Platform};
use tempfile::NamedTempFile;

use super::{Repository, Writer};
use crate::error::{IoContext, Result, StoreError};

/// The image name pcocc gives the one image of the layout it stores (`:latest` in its
/// `skopeo copy` destination).
pub const PCOCC_REF_NAME: &str = "latest";

/// The blobs of `image` in the order pcocc lists them in `data_blobs`: the manifest, the
/// layers bottom first, then the config, each digest once.
pub fn container_blobs(image: &Image) -> std::result::Result<Vec<Digest>, OciError> {
    let mut blobs: Vec<Digest> = Vec::with_capacity(image.layers().len() + 2);
    let mut push = |d: Digest| {
        if !blobs.contains(&d) {
            blobs.push(d);
        }
    };
    push(image.manifest_digest()?);
    for layer in image.layers() {
        push(strata_oci::image::expected_of(layer, "layer")?.digest);
    }
    push(strata_oci::image::expected_of(image.config(), "config")?.digest);
    Ok(blobs)
}

/// The `oci_index` pcocc stores for `image`: the `index.json` skopeo writes for a layout with
/// that one image named `ref_name`, keys in skopeo's order.
pub fn oci_index_for(image: &Image, ref_name: &str) -> Value {
    let desc = &image.manifest_descriptor;
    json!({
        "schemaVersion": 2,
        "manifests": [{
            "mediaType": desc.media_type().to_string(),
            "digest": desc.digest().to_string(),
            "size": desc.size(),
            "annotations": { REF_NAME_ANNOTATION: ref_name },
        }],
    })
}

/// Revision `revision` of the container image `name`, as pcocc's `put_meta` records it:
/// kind `ctr`, [`container_blobs`] as `sha256:<hex>`, and `custom_meta.oci_index`
/// ([`oci_index_for`] with [`PCOCC_REF_NAME`]).
pub fn container_record(
    name: &str,
    revision: u64,
    owner: &str,
    timestamp: f64,
    image: &Image,
) -> std::result::Result<RevisionRecord, OciError> {
    let mut record = RevisionRecord::new(
        name,
        revision,
        Kind::Ctr,
        owner,
        timestamp,
        container_blobs(image)?,
    );
    record
        .custom_meta
        .get_or_insert_with(Default::default)
        .set_oci_index(oci_index_for(image, PCOCC_REF_NAME));
    Ok(record)
}

/// A container record's `oci_index`, parsed, and how to name it in errors.
fn index_of(record: &RevisionRecord) -> std::result::Result<(ImageIndex, String), OciError> {
    let what = format!("oci_index of {}@{}", record.name, record.revision);
    let Some(value) = record.oci_index() else {
        return Err(OciError::NotFound { what });
    };
    let bytes = serde_json::to_vec(value).map_err(|e| OciError::InvalidFormat {
        what: what.clone(),
        reason: e.to_string(),
    })?;
    Ok((parse_index(&bytes, &what)?, what))
}

impl Repository {
    /// The image a container revision holds, rebuilt as pcocc's `ContainerLayoutView` does
    /// from `custom_meta.oci_index` and the blobs under `data/`: the index's only manifest, or
    /// the one for `platform` when it lists several. The manifest and config are read and
    /// verified; layers are verified when they are read.
    pub fn container_image(&self, record: &RevisionRecord, platform: &Platform) -> Result<Image> {
        if record.kind != Kind::Ctr {
            return Err(OciError::InvalidRequest(format!(
                "{} is not a container image",
                record.name
            ))
            .into());
        }
        let (index, what) = index_of(record)?;
        let manifests: Vec<_> = index
            .manifests()
            .iter()
            .filter(|d| {
                let m = d.media_type().to_string();
                m == OCI_MANIFEST || m == DOCKER_MANIFEST
            })
            .collect();
        let desc = match manifests.as_slice() {
            [only] => (*only).clone(),
            _ => select_platform(&index, platform, &what)?.clone(),
        };
        Ok(load_image(self, &desc, platform)?)
    }

    /// The digests a container revision references beyond its `data_blobs` list: those of
    /// its `oci_index`, and of the config and layers of every manifest of it that is present
    /// and parses. Problems met on the way are returned as sentences.
    pub(crate) fn container_references(
        &self,
        record: &RevisionRecord,
    ) -> (Vec<Digest>, Vec<String>) {
        let mut digests = Vec::new();
        let mut problems = Vec::new();
        let (index, index_what) = match index_of(record) {
            Ok(p) => p,
            Err(e) => {
                problems.push(e.to_string());
                return (digests, problems);
            }
        };
        for desc in index.manifests() {
            let exp = match strata_oci::image::expected_of(desc, &index_what) {
                Ok(e) => e,
                Err(e) => {
                    problems.push(e.to_string());
                    continue;
                }
            };
            digests.push(exp.digest.clone());
            if !self.has_blob(&exp.digest) {
                continue;
            }
            let what = format!("manifest {}", exp.digest);
            let manifest = self
                .read_blob(&exp.digest, exp.size, MAX_MANIFEST_SIZE)
                .and_then(|bytes| strata_oci::image::parse_manifest(&bytes, &what));
            match manifest {
                Ok(m) => {
                    for d in std::iter::once(m.config()).chain(m.layers()) {
                        match strata_oci::image::expected_of(d, &what) {
                            Ok(e) => digests.push(e.digest),
                            Err(e) => problems.push(e.to_string()),
                        }
                    }
                }
                // A manifest that is an index (a multi-platform image stored whole) names
                // manifests, not layers: those are in `data_blobs`, which is checked anyway.
                Err(_) if desc.media_type().to_string() != OCI_MANIFEST => {}
                Err(e) => problems.push(e.to_string()),
            }
        }
        (digests, problems)
    }
}

/// Where the container cache reads a container revision from: a store of blobs that can
/// rebuild a revision's image from its record. [`Repository`] is one.
pub trait ContainerSource: BlobRead {
    /// The name the cache keys entries with (pcocc adds the repository's name to the record).
    fn source_name(&self) -> &str;

    /// The image `record` holds (see [`Repository::container_image`]).
    fn image_of(&self, record: &RevisionRecord, platform: &Platform) -> Result<Image>;
}

impl ContainerSource for Repository {
    fn source_name(&self) -> &str {
        self.name()
    }

    fn image_of(&self, record: &RevisionRecord, platform: &Platform) -> Result<Image> {
        self.container_image(record, platform)
    }
}

impl BlobRead for Repository {
    fn open_blob(&self, digest: &Digest, size: u64) -> strata_oci::Result<Box<dyn Read + '_>> {
        strata_oci::blob::open_blob_file(&self.blob_path(digest), digest, size, || {
            OciError::NotFound {
                what: format!("blob {digest} in repository {}", self.name()),
            }
        })
    }
}

/// A verified blob in the repository's `.tmp/`, not yet in `data/`: dropped, it is removed.
#[derive(Debug)]
pub struct StagedBlob {
    file: NamedTempFile,
    digest: Digest,
    size: u64,
}

impl StagedBlob {
    /// The blob's digest.
    pub fn digest(&self) -> &Digest {
        &self.digest
    }

    /// Its size in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }
}

impl Writer<'_> {
    /// Streams `reader` into a new file in `.tmp/`, hashing and counting as it writes, and
    /// checks it against `expected` (refusing a stream longer than expected as soon as it
    /// passes the size); fsyncs it and makes it 0444. Nothing enters `data/` until
    /// [`Writer::install_staged`].
    pub fn stage_blob(
        &self,
        reader: &mut dyn Read,
        expected: Option<&Expected>,
    ) -> Result<StagedBlob> {
        // Errors name the repository: a scratch file's name means nothing to a user.
        let shown = self.repo.path();
        let mut file = tempfile::Builder::new()
            .prefix("blob-")
            .tempfile_in(self.repo.tmp_dir())
            .at("create a new blob in", shown)?;
        let limit = expected.map_or(u64::MAX, |e| e.size.saturating_add(1));
        let mut hashing = HashingReader::new(reader.take(limit));
        {
            let mut out = io::BufWriter::with_capacity(1 << 16, file.as_file_mut());
            strata_oci::verify::copy(&mut hashing, &mut out)
                .and_then(|_| out.flush())
                .map_err(|e| OciError::from_io(shown, "write a blob into", e))?;
        }
        let (digest, size) = hashing.finish();
        if let Some(exp) = expected {
            let what = format!("blob {}", exp.digest);
            if size != exp.size {
                return Err(OciError::SizeMismatch {
                    what,
                    expected: exp.size,
                    actual: size,
                }
                .into());
            }
            if digest != exp.digest {
                return Err(OciError::DigestMismatch {
                    what,
                    expected: exp.digest.prefixed(),
                    actual: digest.prefixed(),
                }
                .into());
            }
        }
        {
            use std::os::unix::fs::PermissionsExt;
            file.as_file()
                .set_permissions(fs::Permissions::from_mode(super::blob::BLOB_MODE))
                .at("chmod a new blob in", shown)?;
        }
        file.as_file().sync_all().at("fsync a new blob in", shown)?;
        Ok(StagedBlob { file, digest, size })
    }

    /// Renames a staged blob into `data/` (an identical blob already there wins, and the
    /// staged file is removed); returns its digest.
    pub fn install_staged(&self, staged: StagedBlob) -> Result<Digest> {
        self.install(staged.file, &staged.digest, false)?;
        Ok(staged.digest)
    }
}

impl BlobWrite for Writer<'_> {
    fn has_blob(&self, digest: &Digest) -> strata_oci::Result<bool> {
        let path = self.repo.blob_path(digest);
        match fs::symlink_metadata(&path) {
            Ok(m) => Ok(m.is_file()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(OciError::from_io(&path, "stat", e)),
        }
    }

    fn put_blob(
        &self,
        reader: &mut dyn Read,
        expected: Option<&Expected>,
    ) -> strata_oci::Result<Expected> {
        if let Some(exp) = expected
            && BlobWrite::has_blob(self, &exp.digest)?
        {
            return Ok(exp.clone());
        }
        let staged = self.stage_blob(reader, expected).map_err(into_oci)?;
        let size = staged.size;
        let digest = self.install_staged(staged).map_err(into_oci)?;
        Ok(Expected { digest, size })
    }
}

/// A store error as strata-oci's error (for [`BlobWrite`], whose errors are strata-oci's).
fn into_oci(e: StoreError) -> OciError {
    match e {
        StoreError::Oci(e) => e,
        StoreError::Io { op, path, source } => OciError::Io { path, op, source },
        other => OciError::InvalidRequest(other.to_string()),
    }
}
