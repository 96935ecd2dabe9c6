//! The boot image OCNE starts from (`EnsureBaseQcow2Image`, pkg/image/image.go): the ock
//! container image for an architecture, whose first layer holds the qcow2 at
//! `disk/boot.qcow2`.
//!
//! The image comes through the strata core from any containers-transports source strata reads
//! (`docker://`, `oci:`, `oci-archive:`, `docker-archive:`, ...), every blob verified, into a
//! cache repository (`$XDG_CACHE_HOME/strata/ocne`, else `~/.cache/strata/ocne`): as OCNE's own
//! cache, an image already there is used as it is, so a second `create` downloads nothing.
//! `strata:DIR:NAME` names an image in the strata repository at `DIR` instead, read in place.
//!
//! The qcow2 is streamed out of the layer (decompressed, bounded, the layer's digest checked
//! at its end) into the file the caller gives.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use strata::{
    ImageKey, ImportRequest, NamePolicy, NewImageTarget, NoProgress, RepositoryStore, Source,
    Store, Strata, StrataOptions,
};
use strata_model::spec::ContainerTransport;

use crate::error::Error;

/// Where the qcow2 is in the ock image's layer (`BootVolumeContainerImagePath`).
pub const BOOT_QCOW2: &str = "disk/boot.qcow2";

/// The cache repository's name (in messages).
const CACHE_STORE: &str = "ocne-cache";

/// Where the cache repository is.
pub fn cache_dir(home: Option<&Path>) -> Option<PathBuf> {
    match std::env::var_os("XDG_CACHE_HOME").filter(|v| !v.is_empty()) {
        Some(dir) => Some(PathBuf::from(dir).join("strata/ocne")),
        None => home.map(|h| h.join(".cache/strata/ocne")),
    }
}

/// What [`fetch`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    /// Whether the image was imported now (not found in the cache, or read from a strata
    /// repository).
    pub pulled: bool,
    /// The layer's digest and the config's, for containers/image's progress lines.
    pub layer: String,
    /// The config's digest.
    pub config: String,
    /// The qcow2's length.
    pub len: u64,
}

/// A container image made local: in the cache repository (or the strata repository named).
pub struct Pulled {
    /// The repository it is in.
    pub store: Arc<RepositoryStore>,
    /// The image, for the architecture asked for.
    pub image: strata_oci::Image,
    /// Whether it was imported now (not found in the cache).
    pub pulled: bool,
}

impl Pulled {
    /// Where its blobs are read from, each verified as it is read.
    pub fn blobs(&self) -> Result<&dyn strata::Containers, Error> {
        containers(&self.store)
    }
}

/// The container side of a repository.
fn containers(store: &RepositoryStore) -> Result<&dyn strata::Containers, Error> {
    store.containers().ok_or_else(|| {
        Error::Copy(strata::Error::NotCapable {
            store: store.name().to_owned(),
            what: "container images",
        })
    })
}

/// Makes the image `reference` (with its transport: see [`crate::config`]) for `arch` local:
/// from the cache if it is there, else imported into it through the strata core.
pub fn pull(reference: &str, arch: &str, cache: &Path) -> Result<Pulled, Error> {
    let (store, name, pulled) = match reference.strip_prefix("strata:") {
        Some(rest) => {
            let (dir, name) = rest.rsplit_once(':').ok_or_else(|| Error::BadImage {
                message: format!(
                    "Invalid image name {}: strata:DIR:NAME names an image in a strata repository",
                    crate::log::go_quote(reference)
                ),
            })?;
            let store = Arc::new(RepositoryStore::new("strata", PathBuf::from(dir)));
            (store, name.to_owned(), false)
        }
        None => {
            let transport: ContainerTransport = reference.parse().map_err(|e| Error::BadImage {
                message: format!(
                    "Invalid image name {}: {e}",
                    crate::log::go_quote(reference)
                ),
            })?;
            if let Some(parent) = cache.parent() {
                std::fs::create_dir_all(parent).map_err(|source| Error::Write {
                    path: parent.to_owned(),
                    source,
                })?;
            }
            let store = Arc::new(RepositoryStore::new(CACHE_STORE, cache.to_path_buf()));
            let name = cache_name(reference, arch);
            let cached = store.find(&ImageKey::name(name.clone()))?.is_some();
            if !cached {
                let stores: Vec<Arc<dyn Store>> = vec![store.clone()];
                Strata::new(stores, StrataOptions::default()).import(
                    ImportRequest {
                        source: Source::Container(transport),
                        dest: NewImageTarget::named(name.clone()),
                        policy: NamePolicy::default(),
                        arch: Some(arch.to_owned()),
                    },
                    &NoProgress,
                )?;
            }
            (store, name, !cached)
        }
    };
    let summary = store.find(&ImageKey::name(name.clone()))?.ok_or_else(|| {
        Error::Copy(strata::Error::ImageNotFound {
            key: ImageKey::name(name.clone()),
            store: Some(store.name().to_owned()),
        })
    })?;
    let platform = strata_oci::Platform {
        os: "linux".to_owned(),
        architecture: arch.to_owned(),
        variant: None,
    };
    let image = containers(&store)?.container_image(&summary, &platform)?;
    Ok(Pulled {
        store,
        image,
        pulled,
    })
}

/// Writes the boot qcow2 of `reference` for `arch` into `out`.
pub fn fetch(reference: &str, arch: &str, cache: &Path, out: &mut File) -> Result<Fetched, Error> {
    let pulled = pull(reference, arch, cache)?;
    let image = &pulled.image;
    // OCNE assumes one layer and takes the first.
    let layer = image.layers().first().ok_or_else(|| Error::NoBootImage {
        image: reference.to_owned(),
        reason: "the image has no layer".to_owned(),
    })?;
    let what = format!("layer {} of {reference}", layer.digest());
    let exp = strata_oci::image::expected_of(layer, "layer").map_err(strata::Error::from)?;
    let blob = pulled
        .blobs()?
        .open_blob(&exp.digest, exp.size)
        .map_err(strata::Error::from)?;
    let len = strata_oci::extract_file(
        blob,
        Some(layer.size()),
        BOOT_QCOW2,
        out,
        &strata_oci::UnpackOptions::default(),
        &what,
    )
    .map_err(strata::Error::from)?
    .ok_or_else(|| Error::NoBootImage {
        image: reference.to_owned(),
        reason: format!("its first layer has no {BOOT_QCOW2}"),
    })?;
    Ok(Fetched {
        pulled: pulled.pulled,
        layer: layer.digest().to_string(),
        config: image.config().digest().to_string(),
        len,
    })
}

/// The cached image's name: the reference and architecture, with every character a strata
/// image name does not take replaced.
fn cache_name(reference: &str, arch: &str) -> String {
    let mut name: String = reference
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect();
    name.push('-');
    name.push_str(arch);
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_names_keep_references_apart() {
        assert_eq!(
            cache_name("docker://127.0.0.1:5000/olcne/ock:1.33", "amd64"),
            "docker___127.0.0.1_5000_olcne_ock_1.33-amd64"
        );
        assert_ne!(
            cache_name("docker://r/ock:1.33", "amd64"),
            cache_name("docker://r/ock:1.33", "arm64")
        );
    }
}
