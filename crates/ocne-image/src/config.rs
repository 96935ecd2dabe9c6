//! OCNE's configuration as `ocne image create` and `info` read it (pkg/config/config.go,
//! pkg/cmdutil/config.go): the defaults file (`$OCNE_DEFAULTS`, else `~/.ocne/defaults.yaml`),
//! then the cluster configuration `--config` names, then the flags; each later one wins for the
//! keys it sets. Only the keys these commands use are read — `bootVolumeContainerImage`,
//! `osRegistry`, `osTag`, `kubernetesVersion` — and the others are ignored, as OCNE ignores
//! what a command does not use.
//!
//! The boot image reference is then fixed up as OCNE fixes it: `docker://` prepended when it
//! names no transport, and tagged with the Kubernetes version unless it carries a custom tag or
//! a digest (a tag of the OCK form `<major>.<minor>` is replaced by the version asked for).

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::cli::DEFAULT_KUBE_VERSION;
use crate::error::Error;

/// OCNE's default boot image (`BootVolumeContainerImage`, pkg/constants/constants.go).
pub const DEFAULT_BOOT_IMAGE: &str = "docker://container-registry.oracle.com/olcne/ock";
/// OCNE's default ostree image registry (`OsRegistry`).
pub const DEFAULT_OS_REGISTRY: &str = "container-registry.oracle.com/olcne/ock-ostree";
/// The environment variable that names another defaults file
/// (`UserConfigDefaultsEnvironmentVariable`).
pub const DEFAULTS_VAR: &str = "OCNE_DEFAULTS";
/// The largest configuration file read (a cluster configuration is a few KiB).
const MAX_CONFIG_BYTES: u64 = 1 << 20;

/// The keys read from one file; absent keys are `None`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
struct FileKeys {
    boot_volume_container_image: Option<String>,
    os_registry: Option<String>,
    os_tag: Option<String>,
    kubernetes_version: Option<String>,
}

/// The configuration a command runs with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The boot image, as configured (not yet fixed up: see [`Config::boot_image`]).
    pub boot_volume_container_image: String,
    /// The registry of the ostree image.
    pub os_registry: String,
    /// The ostree image's tag.
    pub os_tag: String,
    /// The Kubernetes version.
    pub kube_version: String,
}

impl Config {
    /// Reads the defaults file (if it exists) and `cluster_config` (which must), then applies
    /// `version` (the `-v` flag, when given).
    pub fn load(
        home: Option<&Path>,
        cluster_config: Option<&Path>,
        version: Option<&str>,
    ) -> Result<Config, Error> {
        let defaults_path = match std::env::var_os(DEFAULTS_VAR).filter(|v| !v.is_empty()) {
            Some(path) => Some(PathBuf::from(path)),
            None => home.map(|h| h.join(".ocne/defaults.yaml")),
        };
        let mut keys = Vec::new();
        if let Some(path) = defaults_path.filter(|p| p.exists()) {
            keys.push(read_keys(&path)?);
        }
        if let Some(path) = cluster_config {
            keys.push(read_keys(path)?);
        }
        let mut config = Config {
            boot_volume_container_image: DEFAULT_BOOT_IMAGE.to_owned(),
            os_registry: DEFAULT_OS_REGISTRY.to_owned(),
            os_tag: DEFAULT_KUBE_VERSION.to_owned(),
            kube_version: DEFAULT_KUBE_VERSION.to_owned(),
        };
        for k in keys {
            let set = |slot: &mut String, value: Option<String>| {
                if let Some(v) = value.filter(|v| !v.is_empty()) {
                    *slot = v;
                }
            };
            set(
                &mut config.boot_volume_container_image,
                k.boot_volume_container_image,
            );
            set(&mut config.os_registry, k.os_registry);
            set(&mut config.os_tag, k.os_tag);
            set(&mut config.kube_version, k.kubernetes_version);
        }
        if let Some(v) = version.filter(|v| !v.is_empty()) {
            config.kube_version = v.to_owned();
        }
        // OCNE: an untouched osTag follows a Kubernetes version other than the default.
        if config.os_tag == DEFAULT_KUBE_VERSION && config.kube_version != DEFAULT_KUBE_VERSION {
            config.os_tag = config.kube_version.clone();
        }
        Ok(config)
    }

    /// The boot image reference as OCNE uses it: with a transport, and tagged for
    /// [`Config::kube_version`] (`EnsureBootImageVersion`).
    pub fn boot_image(&self) -> String {
        ensure_version(
            &with_transport(&self.boot_volume_container_image),
            &self.kube_version,
        )
    }

    /// The ostree image (`<osRegistry>:<osTag>`).
    pub fn ostree_image(&self) -> String {
        format!("{}:{}", self.os_registry, self.os_tag)
    }
}

/// Reads the keys of one YAML file, bounded in size.
fn read_keys(path: &Path) -> Result<FileKeys, Error> {
    use std::io::Read;
    let bad = |reason: String| Error::Config {
        path: path.to_owned(),
        reason,
    };
    let file = std::fs::File::open(path).map_err(|error| Error::Open {
        path: path.to_owned(),
        error,
    })?;
    let mut text = String::new();
    file.take(MAX_CONFIG_BYTES + 1)
        .read_to_string(&mut text)
        .map_err(|e| bad(e.to_string()))?;
    if text.len() as u64 > MAX_CONFIG_BYTES {
        return Err(bad(format!("larger than {MAX_CONFIG_BYTES} bytes")));
    }
    if text.trim().is_empty() {
        return Ok(FileKeys::default());
    }
    serde_yaml_ng::from_str(&text).map_err(|e| bad(e.to_string()))
}

/// The transports containers/image registers (`alltransports`, as vendored in OCNE), by the
/// name before the first `:` of a reference.
pub const TRANSPORTS: [&str; 12] = [
    "docker",
    "docker-archive",
    "docker-daemon",
    "oci",
    "oci-archive",
    "dir",
    "containers-storage",
    "ostree",
    "sif",
    "tarball",
    "atomic",
    "registry",
];

/// `reference` with `docker://` in front when it names no known transport
/// (`alltransports.TransportFromImageName` is nil). `strata:` is strata's own: an image in a
/// strata repository.
pub fn with_transport(reference: &str) -> String {
    match reference.split_once(':') {
        Some((t, _)) if TRANSPORTS.contains(&t) || t == "strata" => reference.to_owned(),
        _ => format!("docker://{reference}"),
    }
}

/// OCNE's `EnsureBootImageVersion`: a reference with a custom tag or a digest is kept; one with
/// an OCK tag (`<major>.<minor>`, optionally `v`-prefixed) or none is tagged with `version`
/// (its `v` dropped). Only `docker://` references carry tags this way; others are kept.
pub fn ensure_version(reference: &str, version: &str) -> String {
    let Some(rest) = reference.strip_prefix("docker://") else {
        return reference.to_owned();
    };
    if rest.contains('@') {
        return reference.to_owned();
    }
    let last = rest.rsplit('/').next().unwrap_or(rest);
    let (name, tag) = match last.rsplit_once(':') {
        Some((_, tag)) => (&reference[..reference.len() - tag.len() - 1], Some(tag)),
        None => (reference, None),
    };
    match tag {
        Some(tag) if !is_ock_tag(tag) => reference.to_owned(),
        _ => format!("{name}:{}", version.strip_prefix('v').unwrap_or(version)),
    }
}

/// Whether `tag` is a Kubernetes minor version as OCK images are tagged (`1.33`, `v1.31`).
fn is_ock_tag(tag: &str) -> bool {
    let tag = tag.strip_prefix('v').unwrap_or(tag);
    let mut parts = tag.split('.');
    let numeric =
        |p: Option<&str>| p.is_some_and(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    numeric(parts.next()) && numeric(parts.next()) && parts.next().is_none()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_get_a_transport_and_the_version_as_ocne_gives_them() {
        let v = "1.31";
        assert_eq!(
            ensure_version(
                &with_transport("container-registry.oracle.com/olcne/ock"),
                v
            ),
            "docker://container-registry.oracle.com/olcne/ock:1.31"
        );
        assert_eq!(
            ensure_version("docker://127.0.0.1:5000/olcne/ock:1.33", "v1.30"),
            "docker://127.0.0.1:5000/olcne/ock:1.30"
        );
        assert_eq!(
            ensure_version("docker://127.0.0.1:5000/olcne/ock:custom", v),
            "docker://127.0.0.1:5000/olcne/ock:custom"
        );
        let digest = "docker://r.example/ock@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
        assert_eq!(ensure_version(digest, v), digest);
        assert_eq!(
            ensure_version("oci-archive:/tmp/ock.tar", v),
            "oci-archive:/tmp/ock.tar"
        );
        assert_eq!(with_transport("oci:/x:1"), "oci:/x:1");
        assert_eq!(
            with_transport("localhost:5000/ock"),
            "docker://localhost:5000/ock"
        );
    }

    #[test]
    fn files_are_read_in_order_and_flags_win() {
        let dir = tempfile::tempdir().unwrap();
        let defaults = dir.path().join(".ocne/defaults.yaml");
        std::fs::create_dir_all(defaults.parent().unwrap()).unwrap();
        std::fs::write(
            &defaults,
            "bootVolumeContainerImage: r.example/ock\nkubernetesVersion: 1.31\nproviders: {}\n",
        )
        .unwrap();
        let cluster = dir.path().join("cluster.yaml");
        std::fs::write(&cluster, "kubernetesVersion: 1.32\n").unwrap();
        let c = Config::load(Some(dir.path()), Some(&cluster), None).unwrap();
        assert_eq!(c.boot_image(), "docker://r.example/ock:1.32");
        assert_eq!(c.ostree_image(), format!("{DEFAULT_OS_REGISTRY}:1.32"));
        let c = Config::load(Some(dir.path()), Some(&cluster), Some("1.30")).unwrap();
        assert_eq!(c.kube_version, "1.30");
        std::fs::write(&cluster, "kubernetesVersion: [1\n").unwrap();
        let e = Config::load(Some(dir.path()), Some(&cluster), None).unwrap_err();
        assert!(
            e.to_string()
                .starts_with(&format!("{}: ", cluster.display())),
            "{e}"
        );
    }
}
