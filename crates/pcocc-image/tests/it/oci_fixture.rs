//! Small OCI images built in the test, deterministically (fixed times and owners), written
//! with strata-oci's own layout writer.

use std::io::Write;
use std::path::Path;

use serde_json::{Value, json};
use strata_oci::blob::BlobWrite;
use strata_oci::verify::digest_bytes;
use strata_oci::{Image, OciDir};

/// One file of a test layer: path, mode, content (a path ending in `/` is a directory).
pub(crate) type Entry<'a> = (&'a str, u32, &'a [u8]);

/// A plain tar of `entries`, owner root, mtime 1600000000, names (under 100 bytes) raw.
pub(crate) fn tar(entries: &[Entry<'_>]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, mode, data) in entries {
        let mut h = tar::Header::new_ustar();
        h.set_mtime(1_600_000_000);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mode(*mode);
        if name.ends_with('/') {
            h.set_entry_type(tar::EntryType::Directory);
            h.set_size(0);
        } else {
            h.set_entry_type(tar::EntryType::Regular);
            h.set_size(data.len() as u64);
        }
        // Names are written raw, so that hostile ones (`../x`) reach the reader.
        let field = &mut h.as_mut_bytes()[..100];
        field.fill(0);
        field[..name.len()].copy_from_slice(name.as_bytes());
        h.set_cksum();
        b.append(&h, *data).expect("tar entry");
    }
    b.into_inner().expect("tar")
}

/// `data` gzip-compressed (deterministic: no name, no time).
pub(crate) fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::GzBuilder::new()
        .mtime(0)
        .write(Vec::new(), flate2::Compression::default());
    e.write_all(data).expect("gzip");
    e.finish().expect("gzip")
}

/// A layer: its stored bytes, its uncompressed tar and its media type.
pub(crate) struct Layer {
    pub(crate) stored: Vec<u8>,
    pub(crate) tar: Vec<u8>,
    pub(crate) media: &'static str,
}

/// A plain tar layer.
pub(crate) fn plain(tar: Vec<u8>) -> Layer {
    Layer {
        stored: tar.clone(),
        tar,
        media: "application/vnd.oci.image.layer.v1.tar",
    }
}

/// A gzip layer.
pub(crate) fn gz(tar: Vec<u8>) -> Layer {
    Layer {
        stored: gzip(&tar),
        tar,
        media: "application/vnd.oci.image.layer.v1.tar+gzip",
    }
}

fn desc(media: &str, bytes: &[u8]) -> Value {
    json!({
        "mediaType": media,
        "digest": digest_bytes(bytes).prefixed(),
        "size": bytes.len(),
    })
}

/// The config and manifest of an amd64 image of `layers`.
pub(crate) fn docs(layers: &[Layer]) -> (Vec<u8>, Vec<u8>) {
    let config = serde_json::to_vec(&json!({
        "architecture": "amd64",
        "os": "linux",
        "config": {"Env": ["PATH=/usr/bin:/bin"], "Cmd": ["/bin/sh"], "WorkingDir": "/root"},
        "rootfs": {
            "type": "layers",
            "diff_ids": layers.iter().map(|l| digest_bytes(&l.tar).prefixed()).collect::<Vec<_>>(),
        },
    }))
    .expect("config");
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": desc("application/vnd.oci.image.config.v1+json", &config),
        "layers": layers.iter().map(|l| desc(l.media, &l.stored)).collect::<Vec<_>>(),
    }))
    .expect("manifest");
    (config, manifest)
}

/// Writes an image of `layers` into the layout at `dir` (created) under `name`.
pub(crate) fn make_layout(dir: &Path, name: &str, layers: &[Layer]) -> Image {
    let layout = OciDir::create(dir).expect("layout");
    let (config, manifest) = docs(layers);
    for l in layers {
        layout.put_bytes(&l.stored, None).expect("layer");
    }
    layout.put_bytes(&config, None).expect("config");
    layout.put_bytes(&manifest, None).expect("manifest");
    let image = Image::from_parts(manifest, config).expect("image");
    layout
        .add_to_index(&image.manifest_descriptor, Some(name))
        .expect("index");
    image
}

/// The small two-layer image of most tests: a plain base layer and a gzip layer on top.
pub(crate) fn sample_layers() -> Vec<Layer> {
    vec![
        plain(tar(&[
            ("etc/", 0o755, b""),
            ("etc/hostname", 0o644, b"base\n"),
            ("etc/os-release", 0o644, b"ID=strata-test\n"),
            ("bin/", 0o755, b""),
            ("bin/sh", 0o755, b"#!/bin/true\n"),
        ])),
        gz(tar(&[
            ("etc/", 0o755, b""),
            ("etc/hostname", 0o644, b"top\n"),
            ("etc/.wh.os-release", 0o644, b""),
            ("root/", 0o700, b""),
            ("root/hello", 0o600, b"hello\n"),
        ])),
    ]
}

/// The blob digests (`sha256:<hex>`) of the manifest, config and layers of `image`.
pub(crate) fn digests(image: &Image) -> (String, String, Vec<String>) {
    (
        image.manifest_descriptor.digest().to_string(),
        image.config().digest().to_string(),
        image
            .layers()
            .iter()
            .map(|l| l.digest().to_string())
            .collect(),
    )
}

/// The image named `name` (or the only one) in the layout at `dir`.
pub(crate) fn read_layout(dir: &Path, name: Option<&str>) -> Image {
    let layout = OciDir::open(dir).expect("open layout");
    let selector = match name {
        Some(n) => strata_oci::Selector::Name(n.to_owned()),
        None => strata_oci::Selector::Only,
    };
    layout
        .resolve(&selector, &strata_oci::Platform::host())
        .expect("resolve")
}

/// Whether `tool --version` runs (see [`strata_testkit::peer`]).
pub(crate) fn have(tool: &str, test: &str) -> bool {
    strata_testkit::have(test, &[tool])
}
