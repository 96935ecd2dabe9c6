//! `ocne image create -t ostree` (ostree.go and make-archive.sh of OCNE): a container image
//! that serves an archive-mode ostree repository over http, for Anaconda's kickstart installs,
//! saved as an OCI archive at `~/.ocne/images/ock-<version>-<arch>-ostree.tar`.
//!
//! OCNE builds it with podman on its cluster node: `FROM oraclelinux:8-slim`, nginx and the
//! ostree tools installed from Oracle's yum, `ostree container unencapsulate` of the ostree image
//! (`<osRegistry>:<osTag>`) into a repository pulled into `/usr/share/nginx/html/ostree`.
//!
//! strata builds it without a container build:
//! 1. the ostree image is made local through the strata core ([`crate::boot::pull`]) and its
//!    layers unpacked (whiteouts applied, every path kept inside the tree);
//! 2. the tree is committed as the ref `ock` into a new archive-mode repository with Debian's
//!    `ostree` (the `etc` of the image moved to `usr/etc`, where an ostree commit keeps it, and
//!    the image's own `sysroot/ostree` left out, as unencapsulating leaves it);
//! 3. the repository becomes one layer (`usr/share/nginx/html/ostree/…`, written by strata)
//!    on top of the base image (`--base`: any image whose server serves
//!    `/usr/share/nginx/html`; by default Oracle's nginx image, which OCNE's sources name);
//!    the config keeps the base's command and exposes 80 and 443, as OCNE's Dockerfile does;
//! 4. the image is written as an OCI archive, atomically.
//!
//! One difference, said here and in docs/ocne-image.md: the commit is strata's commit of the
//! image's tree, so its checksum differs from the encapsulated commit's (`unencapsulate` keeps
//! the original commit and its metadata; Debian's ostree has no `container` command).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::process::Command;

use oci_spec::image::{Descriptor, ImageManifestBuilder, MediaType};
use strata_oci::{BlobWrite, OciDir};

use crate::boot::{self, Pulled};
use crate::config::{Config, with_transport};
use crate::error::Error;
use crate::log::Level;
use crate::run::Env;

/// The base image by default: Oracle's nginx image, as OCNE's sources name it.
pub const DEFAULT_BASE: &str = "docker://container-registry.oracle.com/olcne/nginx:1.17.7-1";
/// Where the repository is in the image (nginx's document root, then `ostree`).
pub const REPO_PATH: &str = "usr/share/nginx/html/ostree";
/// The ref the commit is written to (OCNE's `--write-ref ock`).
pub const REF: &str = "ock";
/// The prefix of the build's temporary directory beside the output.
const BUILD_PREFIX: &str = ".ostree-build-";
/// The name the image has in the archive.
pub const IMAGE_NAME: &str = "localhost/ock-ostree:latest";

/// Builds the ostree archive image and writes it under `images`.
pub fn create(
    config: &Config,
    arch: &str,
    base: &str,
    images: &Path,
    env: &mut Env<'_>,
) -> Result<(), Error> {
    let out = images.join(format!("ock-{}-{arch}-ostree.tar", config.kube_version));
    let cache = boot::cache_dir(env.home.as_deref()).ok_or(Error::NoHome)?;
    crate::create::remove_stale(images, BUILD_PREFIX);
    let work = tempfile::Builder::new()
        .prefix(BUILD_PREFIX)
        .tempdir_in(images)
        .map_err(Error::Scratch)?;
    // Held for the whole build: a later run removes only directories nobody holds.
    let lock = File::open(work.path()).map_err(Error::Scratch)?;
    rustix::fs::flock(&lock, rustix::fs::FlockOperation::NonBlockingLockExclusive)
        .map_err(|e| Error::Scratch(e.into()))?;
    let source = with_transport(&config.ostree_image());
    let base = with_transport(base);
    let work_path = work.path().to_owned();
    let layout = env.wait_for("Generating container image", || {
        let tree = boot::pull(&source, arch, &cache)?;
        let base = boot::pull(&base, arch, &cache)?;
        build(&tree, &base, &source, arch, &work_path)
    })?;
    let tmp_out = work.path().join("image.tar");
    env.wait_for("Saving container image", || {
        let file = File::create(&tmp_out).map_err(|source| Error::Write {
            path: tmp_out.clone(),
            source,
        })?;
        let mut w = BufWriter::with_capacity(1 << 16, file);
        strata_oci::archive::tar_layout(&layout, &mut w).map_err(strata::Error::from)?;
        let file = w.into_inner().map_err(|e| Error::Write {
            path: tmp_out.clone(),
            source: e.into_error(),
        })?;
        file.sync_all().map_err(|source| Error::Write {
            path: tmp_out.clone(),
            source,
        })?;
        std::fs::rename(&tmp_out, &out).map_err(|source| Error::Write {
            path: out.clone(),
            source,
        })?;
        File::open(images)
            .and_then(|d| d.sync_all())
            .map_err(|source| Error::Write {
                path: images.to_owned(),
                source,
            })
    })?;
    env.log(Level::Info, &format!("Saved image to {}", out.display()))
}

/// The image's layout: the base's blobs, the repository's layer, the new config and manifest.
fn build(
    tree: &Pulled,
    base: &Pulled,
    source: &str,
    arch: &str,
    work: &Path,
) -> Result<OciDir, Error> {
    let rootfs = work.join("rootfs");
    strata_oci::unpack_image(
        tree.blobs()?,
        &tree.image,
        &rootfs,
        &strata_oci::UnpackOptions::default(),
    )
    .map_err(strata::Error::from)?;
    prepare_tree(&rootfs)?;

    let stage = work.join("stage");
    let repo = stage.join(REPO_PATH);
    std::fs::create_dir_all(&repo).map_err(|source| Error::Write {
        path: repo.clone(),
        source,
    })?;
    ostree(&repo, &["init", "--mode=archive"])?;
    let mut commit = vec![
        "commit".to_owned(),
        format!("--branch={REF}"),
        format!("--subject=ock from {source}"),
        format!("--tree=dir={}", rootfs.display()),
    ];
    if !rustix::process::geteuid().is_root() {
        // The unpack could not give files their owners: the OS tree is root's.
        commit.push("--owner-uid=0".to_owned());
        commit.push("--owner-gid=0".to_owned());
    }
    let args: Vec<&str> = commit.iter().map(String::as_str).collect();
    ostree(&repo, &args)?;
    ostree(&repo, &["summary", "--update"])?;
    remove_tree(&rootfs)?;
    let mut dir = stage.clone();
    for part in [
        "usr",
        "usr/share",
        "usr/share/nginx",
        "usr/share/nginx/html",
    ] {
        dir = stage.join(part);
        set_mode(&dir, 0o755)?;
    }
    let _ = dir;

    let layout = OciDir::create(work.join("layout")).map_err(strata::Error::from)?;
    let layer_path = work.join("layer.tar");
    {
        let file = File::create(&layer_path).map_err(|source| Error::Write {
            path: layer_path.clone(),
            source,
        })?;
        let mut w = BufWriter::with_capacity(1 << 16, file);
        strata_oci::ostree::tar_tree(&stage, &mut w).map_err(strata::Error::from)?;
        w.flush().map_err(|source| Error::Write {
            path: layer_path.clone(),
            source,
        })?;
    }
    remove_tree(&stage)?;
    let layer = {
        let mut f = File::open(&layer_path).map_err(|error| Error::Open {
            path: layer_path.clone(),
            error,
        })?;
        layout.put_blob(&mut f, None).map_err(strata::Error::from)?
    };
    std::fs::remove_file(&layer_path).map_err(|source| Error::Write {
        path: layer_path.clone(),
        source,
    })?;

    // The base's layers, copied and verified.
    let blobs = base.blobs()?;
    for d in base.image.layers() {
        let exp = strata_oci::image::expected_of(d, "layer").map_err(strata::Error::from)?;
        let mut r = blobs
            .open_blob(&exp.digest, exp.size)
            .map_err(strata::Error::from)?;
        layout
            .put_blob(&mut r, Some(&exp))
            .map_err(strata::Error::from)?;
    }
    let config = image_config(
        &base.image.config_bytes,
        &layer.digest.prefixed(),
        arch,
        source,
    )?;
    let config_exp = layout
        .put_bytes(&config, None)
        .map_err(strata::Error::from)?;
    let mut layers: Vec<Descriptor> = base.image.layers().to_vec();
    layers.push(Descriptor::new(
        MediaType::ImageLayer,
        layer.size,
        oci_digest(&layer.digest.prefixed())?,
    ));
    let manifest = ImageManifestBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageManifest)
        .config(Descriptor::new(
            MediaType::ImageConfig,
            config_exp.size,
            oci_digest(&config_exp.digest.prefixed())?,
        ))
        .layers(layers)
        .build()
        .map_err(|e| Error::Ostree(format!("cannot make the manifest: {e}")))?;
    let manifest_bytes = serde_json::to_vec(&manifest)
        .map_err(|e| Error::Ostree(format!("cannot make the manifest: {e}")))?;
    let manifest_exp = layout
        .put_bytes(&manifest_bytes, None)
        .map_err(strata::Error::from)?;
    let desc = Descriptor::new(
        MediaType::ImageManifest,
        manifest_exp.size,
        oci_digest(&manifest_exp.digest.prefixed())?,
    );
    layout
        .add_to_index(&desc, Some(IMAGE_NAME))
        .map_err(strata::Error::from)?;
    Ok(layout)
}

/// The base's config with the repository's layer added: its diff_id, a history entry, ports 80
/// and 443 exposed; the architecture is the one built for.
fn image_config(base: &[u8], diff_id: &str, arch: &str, source: &str) -> Result<Vec<u8>, Error> {
    let bad = |e: String| Error::Ostree(format!("the base image's config: {e}"));
    let mut config: serde_json::Value =
        serde_json::from_slice(base).map_err(|e| bad(e.to_string()))?;
    let obj = config
        .as_object_mut()
        .ok_or_else(|| bad("not a JSON object".into()))?;
    obj.insert("architecture".into(), arch.into());
    obj.insert("os".into(), "linux".into());
    let rootfs = obj
        .entry("rootfs")
        .or_insert_with(|| serde_json::json!({"type": "layers", "diff_ids": []}));
    rootfs
        .get_mut("diff_ids")
        .and_then(|d| d.as_array_mut())
        .ok_or_else(|| bad("rootfs.diff_ids is not a list".into()))?
        .push(diff_id.into());
    let history = obj
        .entry("history")
        .or_insert_with(|| serde_json::json!([]));
    if let Some(h) = history.as_array_mut() {
        h.push(serde_json::json!({
            "created_by": format!("strata: ostree archive of {source} at /{REPO_PATH}, ref {REF}"),
        }));
    }
    let inner = obj.entry("config").or_insert_with(|| serde_json::json!({}));
    let inner = inner
        .as_object_mut()
        .ok_or_else(|| bad("config is not a JSON object".into()))?;
    let ports = inner
        .entry("ExposedPorts")
        .or_insert_with(|| serde_json::json!({}));
    if let Some(p) = ports.as_object_mut() {
        p.insert("80/tcp".into(), serde_json::json!({}));
        p.insert("443/tcp".into(), serde_json::json!({}));
    }
    serde_json::to_vec(&config).map_err(|e| bad(e.to_string()))
}

/// An OCI digest from `sha256:<hex>`.
fn oci_digest(text: &str) -> Result<oci_spec::image::Digest, Error> {
    text.parse()
        .map_err(|e| Error::Ostree(format!("digest {text}: {e}")))
}

/// Readies the unpacked tree for a commit: `sysroot/ostree` (the encapsulated repository)
/// removed, `etc` moved to `usr/etc` unless the tree already has one.
fn prepare_tree(rootfs: &Path) -> Result<(), Error> {
    let encapsulated = rootfs.join("sysroot/ostree");
    if std::fs::symlink_metadata(&encapsulated).is_ok_and(|m| m.is_dir()) {
        remove_tree(&encapsulated)?;
    }
    let etc = rootfs.join("etc");
    let usr_etc = rootfs.join("usr/etc");
    let is_dir = |p: &Path| std::fs::symlink_metadata(p).is_ok_and(|m| m.is_dir());
    if is_dir(&etc) && !is_dir(&usr_etc) && is_dir(&rootfs.join("usr")) {
        std::fs::rename(&etc, &usr_etc).map_err(|source| Error::Write {
            path: usr_etc.clone(),
            source,
        })?;
    }
    Ok(())
}

/// Runs `ostree --repo=REPO ARGS`.
fn ostree(repo: &Path, args: &[&str]) -> Result<(), Error> {
    let out = Command::new("ostree")
        .arg(format!("--repo={}", repo.display()))
        .args(args)
        .output()
        .map_err(|e| Error::Ostree(format!("cannot run ostree (Debian's ostree package): {e}")))?;
    if !out.status.success() {
        return Err(Error::Ostree(format!(
            "ostree {} failed: {}",
            args.first().copied().unwrap_or_default(),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(())
}

/// Sets `path`'s mode.
fn set_mode(path: &Path, mode: u32) -> Result<(), Error> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).map_err(|source| {
        Error::Write {
            path: path.to_owned(),
            source,
        }
    })
}

/// Removes a tree, making its directories writable first (an unpacked OS tree has read-only
/// ones).
fn remove_tree(path: &Path) -> Result<(), Error> {
    fn writable(dir: &Path) -> std::io::Result<()> {
        use std::os::unix::fs::PermissionsExt;
        let meta = std::fs::symlink_metadata(dir)?;
        if !meta.is_dir() {
            return Ok(());
        }
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
        for entry in std::fs::read_dir(dir)? {
            let entry = entry?;
            if entry.file_type()?.is_dir() {
                writable(&entry.path())?;
            }
        }
        Ok(())
    }
    writable(path)
        .and_then(|()| std::fs::remove_dir_all(path))
        .map_err(|source| Error::Write {
            path: path.to_owned(),
            source,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_config_gains_the_layer_and_the_ports() {
        let base = br#"{"architecture":"amd64","os":"linux","config":{"Cmd":["nginx","-g","daemon off;"],"ExposedPorts":{"80/tcp":{}}},"rootfs":{"type":"layers","diff_ids":["sha256:aa"]},"history":[{"created_by":"base"}]}"#;
        let out = image_config(base, "sha256:bb", "arm64", "docker://r/ock-ostree:1.33").unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["architecture"], "arm64");
        assert_eq!(v["config"]["Cmd"][0], "nginx");
        assert_eq!(v["rootfs"]["diff_ids"][1], "sha256:bb");
        assert!(v["config"]["ExposedPorts"]["443/tcp"].is_object());
        assert_eq!(v["history"].as_array().unwrap().len(), 2);
        assert!(image_config(b"[]", "sha256:bb", "amd64", "x").is_err());
    }
}
