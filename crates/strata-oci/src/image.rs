//! [`Image`]: one resolved container image (its manifest, config and layer descriptors), how one
//! is resolved from a descriptor through nested indexes with platform selection
//! ([`load_image`]), and how one is copied between blob stores ([`copy_image`]).
//!
//! Every JSON document is read through a verifying reader and under a size cap
//! ([`MAX_MANIFEST_SIZE`], [`MAX_CONFIG_SIZE`]) before it is parsed, and parsed into oci-spec's
//! types; of the config only `rootfs.diff_ids` is interpreted (Docker and OCI configs agree on
//! it, and a strict parse of the whole config would refuse images other tools accept).

use std::collections::HashMap;

use oci_spec::image::{Descriptor, ImageIndex, ImageManifest, MediaType};
use serde::Deserialize;
use strata_model::Digest;

use crate::blob::{BlobRead, BlobWrite, Expected};
use crate::error::{OciError, Result};
use crate::verify::{from_oci_digest, to_oci_digest};

/// Largest manifest or image index read, in bytes: containers/image's `MaxManifestBodySize`
/// (4 MiB); real manifests are a few KiB.
pub const MAX_MANIFEST_SIZE: u64 = 4 << 20;

/// Largest image config read, in bytes: containers/image's `MaxConfigBodySize` (4 MiB).
pub const MAX_CONFIG_SIZE: u64 = 4 << 20;

/// Deepest chain of indexes followed before a manifest (an index pointing to an index ...).
pub const MAX_INDEX_DEPTH: usize = 8;

/// The annotation that names an image in an OCI layout's `index.json`.
pub const REF_NAME_ANNOTATION: &str = "org.opencontainers.image.ref.name";

/// The OCI image index media type.
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// The OCI image manifest media type.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// The OCI image config media type.
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
/// Docker's manifest list media type (read as an index).
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// Docker's schema 2 manifest media type (read as a manifest).
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";

/// The platform to pick from an index, named as Go's GOOS/GOARCH name them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Platform {
    /// The operating system (`linux`).
    pub os: String,
    /// The CPU architecture (`amd64`, `arm64` ...).
    pub architecture: String,
    /// The CPU variant (`v8`), matched only when both sides name one.
    pub variant: Option<String>,
}

impl Platform {
    /// The platform this program runs on.
    pub fn host() -> Platform {
        let architecture = match std::env::consts::ARCH {
            "x86_64" => "amd64",
            "aarch64" => "arm64",
            "x86" => "386",
            "powerpc64" => "ppc64le",
            "riscv64" => "riscv64",
            "s390x" => "s390x",
            other => other,
        };
        Platform {
            os: std::env::consts::OS.to_owned(),
            architecture: architecture.to_owned(),
            variant: None,
        }
    }

    fn matches(&self, p: &oci_spec::image::Platform) -> bool {
        p.os().to_string() == self.os
            && p.architecture().to_string() == self.architecture
            && match (&self.variant, p.variant()) {
                (Some(want), Some(have)) => want == have,
                _ => true,
            }
    }
}

impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

/// Which image of a layout or archive to use, as containers-transports(5) selects them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selector {
    /// The only image (an error when there are several).
    Only,
    /// The image with this name (`oci:path:name`; a tag in a docker-archive).
    Name(String),
    /// The image at this 0-based position (`path:@N`).
    Index(u64),
}

impl Selector {
    /// The image an `oci:path[:name|:@N]` reference designates.
    pub fn for_oci(r: &strata_model::spec::OciRef) -> Selector {
        match (r.source_index(), r.image()) {
            (Some(i), _) => Selector::Index(i),
            (None, Some(name)) => Selector::Name(name.to_owned()),
            (None, None) => Selector::Only,
        }
    }

    /// The image an `oci-archive:path[:name]` reference designates.
    pub fn for_oci_archive(r: &strata_model::spec::OciArchiveRef) -> Selector {
        r.image()
            .map_or(Selector::Only, |name| Selector::Name(name.to_owned()))
    }

    /// The image a `docker-archive:path[:name:tag|:@N]` reference designates.
    pub fn for_docker_archive(r: &strata_model::spec::DockerArchiveRef) -> Selector {
        match (r.source_index(), r.reference()) {
            (Some(i), _) => Selector::Index(i),
            (None, Some(reference)) => Selector::Name(reference.to_string()),
            (None, None) => Selector::Only,
        }
    }
}

/// One resolved image: its manifest as stored (bytes and parsed), and its config.
#[derive(Debug, Clone)]
pub struct Image {
    /// The manifest's descriptor (media type, digest, size), as an index would list it.
    pub manifest_descriptor: Descriptor,
    /// The manifest's bytes exactly as stored (its digest is theirs).
    pub manifest_bytes: Vec<u8>,
    /// The parsed manifest.
    pub manifest: ImageManifest,
    /// The config's bytes exactly as stored.
    pub config_bytes: Vec<u8>,
    /// The config's `rootfs.diff_ids`: the digests of the uncompressed layers, bottom first.
    pub diff_ids: Vec<Digest>,
}

impl Image {
    /// The manifest's digest.
    pub fn manifest_digest(&self) -> Result<Digest> {
        from_oci_digest(self.manifest_descriptor.digest(), "manifest")
    }

    /// The config's descriptor.
    pub fn config(&self) -> &Descriptor {
        self.manifest.config()
    }

    /// The layers' descriptors, bottom first.
    pub fn layers(&self) -> &[Descriptor] {
        self.manifest.layers()
    }

    /// Builds an image from a manifest held in memory and its config (used by writers that
    /// synthesise a manifest, such as the docker-archive reader).
    pub fn from_parts(manifest_bytes: Vec<u8>, config_bytes: Vec<u8>) -> Result<Image> {
        let manifest = parse_manifest(&manifest_bytes, "manifest")?;
        let digest = crate::verify::digest_bytes(&manifest_bytes);
        let media = manifest
            .media_type()
            .clone()
            .unwrap_or(MediaType::ImageManifest);
        let manifest_descriptor =
            Descriptor::new(media, manifest_bytes.len() as u64, to_oci_digest(&digest));
        let diff_ids = parse_diff_ids(&config_bytes, "config")?;
        let image = Image {
            manifest_descriptor,
            manifest_bytes,
            manifest,
            config_bytes,
            diff_ids,
        };
        image.check_layers_match_config()?;
        Ok(image)
    }

    fn check_layers_match_config(&self) -> Result<()> {
        if self.diff_ids.len() != self.layers().len() {
            return Err(OciError::invalid(
                format!("manifest {}", self.manifest_descriptor.digest()),
                format!(
                    "{} layers but the config lists {} diff_ids",
                    self.layers().len(),
                    self.diff_ids.len()
                ),
            ));
        }
        Ok(())
    }
}

/// The digest and size a descriptor records, checked to be sha256.
pub fn expected_of(desc: &Descriptor, what: &str) -> Result<Expected> {
    Ok(Expected {
        digest: from_oci_digest(desc.digest(), what)?,
        size: desc.size(),
    })
}

/// Parses an image index (or Docker manifest list), refusing more than [`MAX_MANIFEST_SIZE`]
/// bytes. `what` names the document in errors.
pub fn parse_index(bytes: &[u8], what: &str) -> Result<ImageIndex> {
    check_json_size(bytes, what, MAX_MANIFEST_SIZE)?;
    let index: ImageIndex =
        serde_json::from_slice(bytes).map_err(|e| OciError::invalid(what, e.to_string()))?;
    if index.schema_version() != 2 {
        return Err(OciError::invalid(
            what,
            format!("schemaVersion {} (expected 2)", index.schema_version()),
        ));
    }
    Ok(index)
}

/// Parses an image manifest (OCI or Docker schema 2), refusing more than [`MAX_MANIFEST_SIZE`]
/// bytes. `what` names the document in errors.
pub fn parse_manifest(bytes: &[u8], what: &str) -> Result<ImageManifest> {
    check_json_size(bytes, what, MAX_MANIFEST_SIZE)?;
    let manifest: ImageManifest =
        serde_json::from_slice(bytes).map_err(|e| OciError::invalid(what, e.to_string()))?;
    if manifest.schema_version() != 2 {
        return Err(OciError::invalid(
            what,
            format!("schemaVersion {} (expected 2)", manifest.schema_version()),
        ));
    }
    Ok(manifest)
}

#[derive(Deserialize)]
struct ConfigRootfs {
    rootfs: RootFs,
}

#[derive(Deserialize)]
struct RootFs {
    #[serde(default)]
    diff_ids: Vec<String>,
}

/// The `rootfs.diff_ids` of an image config (OCI or Docker), refusing more than
/// [`MAX_CONFIG_SIZE`] bytes.
pub fn parse_diff_ids(bytes: &[u8], what: &str) -> Result<Vec<Digest>> {
    check_json_size(bytes, what, MAX_CONFIG_SIZE)?;
    let config: ConfigRootfs =
        serde_json::from_slice(bytes).map_err(|e| OciError::invalid(what, e.to_string()))?;
    config
        .rootfs
        .diff_ids
        .iter()
        .map(|d| {
            d.parse::<Digest>()
                .map_err(|e| OciError::invalid(what, format!("diff_id {d}: {e}")))
        })
        .collect()
}

fn check_json_size(bytes: &[u8], what: &str, limit: u64) -> Result<()> {
    if bytes.len() as u64 > limit {
        return Err(OciError::TooLarge {
            what: what.to_owned(),
            limit,
        });
    }
    Ok(())
}

fn is_index(media: &MediaType) -> bool {
    let m = media.to_string();
    m == OCI_INDEX || m == DOCKER_MANIFEST_LIST
}

fn is_manifest(media: &MediaType) -> bool {
    let m = media.to_string();
    m == OCI_MANIFEST || m == DOCKER_MANIFEST
}

/// Resolves `desc` (a manifest, or an index whose entries are chosen by `platform`) into an
/// [`Image`], reading and verifying the manifest and config from `store`.
pub fn load_image(store: &dyn BlobRead, desc: &Descriptor, platform: &Platform) -> Result<Image> {
    let mut desc = desc.clone();
    for _ in 0..=MAX_INDEX_DEPTH {
        let expected = expected_of(&desc, "manifest descriptor")?;
        let what = format!("manifest {}", expected.digest);
        if is_index(desc.media_type()) {
            let bytes = store.read_blob(&expected.digest, expected.size, MAX_MANIFEST_SIZE)?;
            let index = parse_index(&bytes, &what)?;
            desc = select_platform(&index, platform, &what)?.clone();
            continue;
        }
        if !is_manifest(desc.media_type()) {
            return Err(OciError::unsupported(
                what,
                format!("media type {}", desc.media_type()),
            ));
        }
        let manifest_bytes = store.read_blob(&expected.digest, expected.size, MAX_MANIFEST_SIZE)?;
        let manifest = parse_manifest(&manifest_bytes, &what)?;
        let config = expected_of(manifest.config(), &what)?;
        let config_bytes = store.read_blob(&config.digest, config.size, MAX_CONFIG_SIZE)?;
        let diff_ids = parse_diff_ids(&config_bytes, &format!("config {}", config.digest))?;
        for layer in manifest.layers() {
            expected_of(layer, &what)?;
        }
        let image = Image {
            manifest_descriptor: desc,
            manifest_bytes,
            manifest,
            config_bytes,
            diff_ids,
        };
        image.check_layers_match_config()?;
        return Ok(image);
    }
    Err(OciError::invalid(
        format!("manifest {}", desc.digest()),
        format!("indexes nested more than {MAX_INDEX_DEPTH} deep"),
    ))
}

/// The first entry of `index` for `platform`; an index with a single entry without platform
/// yields that entry.
pub fn select_platform<'a>(
    index: &'a ImageIndex,
    platform: &Platform,
    what: &str,
) -> Result<&'a Descriptor> {
    if let Some(d) = index
        .manifests()
        .iter()
        .find(|d| d.platform().as_ref().is_some_and(|p| platform.matches(p)))
    {
        return Ok(d);
    }
    match index.manifests().as_slice() {
        [only] if only.platform().is_none() => Ok(only),
        _ => Err(OciError::not_found(format!(
            "{what}: no manifest for platform {platform} among {} entries",
            index.manifests().len()
        ))),
    }
}

/// Copies `image` (config, layers, then manifest) from `src` to `dst`, skipping blobs `dst`
/// already holds. Every blob is verified while it streams.
pub fn copy_image(src: &dyn BlobRead, image: &Image, dst: &dyn BlobWrite) -> Result<()> {
    let mut blobs = vec![image.config()];
    blobs.extend(image.layers());
    let mut done: HashMap<Digest, ()> = HashMap::new();
    for desc in blobs {
        let exp = expected_of(desc, "descriptor")?;
        if done.contains_key(&exp.digest) || dst.has_blob(&exp.digest)? {
            continue;
        }
        let mut reader = src.open_blob(&exp.digest, exp.size)?;
        dst.put_blob(&mut reader, Some(&exp))?;
        done.insert(exp.digest, ());
    }
    let exp = expected_of(&image.manifest_descriptor, "manifest")?;
    if !dst.has_blob(&exp.digest)? {
        dst.put_bytes(&image.manifest_bytes, Some(&exp))?;
    }
    Ok(())
}
