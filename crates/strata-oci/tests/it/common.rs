//! Helpers: layers built in memory with the tar crate (and raw headers for hostile names), and
//! images written into layouts through the crate's own blob store.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use strata_model::Digest;
use strata_oci::blob::BlobWrite;
use strata_oci::image::{Image, Platform, Selector};
use strata_oci::verify::digest_bytes;
use strata_oci::{OciDir, UnpackOptions};

/// One tar entry of a test layer.
pub(crate) enum E<'a> {
    Dir(&'a str, u32),
    File(&'a str, u32, &'a [u8]),
    Symlink(&'a str, &'a str),
    Hardlink(&'a str, &'a str),
    Fifo(&'a str),
}

/// A tar of `entries`. Names are written raw, so `..` and absolute names reach the unpacker.
pub(crate) fn tar(entries: &[E<'_>]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for e in entries {
        let mut h = tar::Header::new_gnu();
        h.set_mtime(1_600_000_000);
        h.set_uid(0);
        h.set_gid(0);
        let (name, data): (&str, &[u8]) = match e {
            E::Dir(n, mode) => {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_mode(*mode);
                (n, &[])
            }
            E::File(n, mode, data) => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_mode(*mode);
                (n, data)
            }
            E::Symlink(n, target) => {
                h.set_entry_type(tar::EntryType::Symlink);
                h.set_mode(0o777);
                set_raw(&mut h.as_mut_bytes()[157..257], target);
                (n, &[])
            }
            E::Hardlink(n, target) => {
                h.set_entry_type(tar::EntryType::Link);
                h.set_mode(0o644);
                set_raw(&mut h.as_mut_bytes()[157..257], target);
                (n, &[])
            }
            E::Fifo(n) => {
                h.set_entry_type(tar::EntryType::Fifo);
                h.set_mode(0o644);
                (n, &[])
            }
        };
        set_raw(&mut h.as_mut_bytes()[..100], name);
        h.set_size(data.len() as u64);
        h.set_cksum();
        b.append(&h, data).unwrap();
    }
    b.into_inner().unwrap()
}

fn set_raw(field: &mut [u8], s: &str) {
    field.fill(0);
    field[..s.len()].copy_from_slice(s.as_bytes());
}

pub(crate) fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

pub(crate) fn zstd(data: &[u8]) -> Vec<u8> {
    zstd::encode_all(data, 3).unwrap()
}

/// Layer bytes as stored, and the uncompressed tar they hold.
pub(crate) struct Layer {
    pub(crate) stored: Vec<u8>,
    pub(crate) tar: Vec<u8>,
    pub(crate) media: &'static str,
}

pub(crate) fn plain(tar: Vec<u8>) -> Layer {
    Layer {
        stored: tar.clone(),
        tar,
        media: "application/vnd.oci.image.layer.v1.tar",
    }
}

pub(crate) fn gz(tar: Vec<u8>) -> Layer {
    Layer {
        stored: gzip(&tar),
        tar,
        media: "application/vnd.oci.image.layer.v1.tar+gzip",
    }
}

pub(crate) fn zst(tar: Vec<u8>) -> Layer {
    Layer {
        stored: zstd(&tar),
        tar,
        media: "application/vnd.oci.image.layer.v1.tar+zstd",
    }
}

fn desc_json(media: &str, bytes: &[u8]) -> serde_json::Value {
    serde_json::json!({
        "mediaType": media,
        "digest": digest_bytes(bytes).prefixed(),
        "size": bytes.len(),
    })
}

/// Config and manifest bytes for `layers`, for `arch`.
pub(crate) fn image_docs(layers: &[Layer], arch: &str) -> (Vec<u8>, Vec<u8>) {
    let config = serde_json::to_vec(&serde_json::json!({
        "architecture": arch,
        "os": "linux",
        "config": {"Env": ["PATH=/usr/bin:/bin"], "Cmd": ["/bin/sh"]},
        "rootfs": {
            "type": "layers",
            "diff_ids": layers.iter().map(|l| digest_bytes(&l.tar).prefixed()).collect::<Vec<_>>(),
        },
        "history": layers.iter().map(|_| serde_json::json!({"created_by": "test"})).collect::<Vec<_>>(),
    }))
    .unwrap();
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": desc_json("application/vnd.oci.image.config.v1+json", &config),
        "layers": layers.iter().map(|l| desc_json(l.media, &l.stored)).collect::<Vec<_>>(),
    }))
    .unwrap();
    (config, manifest)
}

/// Writes an image of `layers` into the layout at `dir` under `name`; returns it.
pub(crate) fn make_image(dir: &Path, name: &str, layers: &[Layer]) -> Image {
    let layout = OciDir::create(dir).unwrap();
    let (config, manifest) = image_docs(layers, "amd64");
    for l in layers {
        layout.put_bytes(&l.stored, None).unwrap();
    }
    layout.put_bytes(&config, None).unwrap();
    layout.put_bytes(&manifest, None).unwrap();
    let image = Image::from_parts(manifest, config).unwrap();
    layout
        .add_to_index(&image.manifest_descriptor, Some(name))
        .unwrap();
    layout
        .resolve(&Selector::Name(name.to_owned()), &amd64())
        .unwrap()
}

pub(crate) fn amd64() -> Platform {
    Platform {
        os: "linux".into(),
        architecture: "amd64".into(),
        variant: None,
    }
}

pub(crate) fn opts() -> UnpackOptions {
    UnpackOptions::default()
}

/// Options for trusted images: device nodes created and setuid/setgid bits kept (as root), as
/// the reference tools (umoci, unsquashfs) extract them.
pub(crate) fn trusted() -> UnpackOptions {
    UnpackOptions {
        device_nodes: true,
        setid_bits: true,
        ..UnpackOptions::default()
    }
}

/// A small two-layer image: a base tree, then changes with whiteouts.
pub(crate) fn sample_layers() -> Vec<Layer> {
    let base = tar(&[
        E::Dir("etc/", 0o755),
        E::File("etc/hostname", 0o644, b"base\n"),
        E::File("etc/passwd", 0o644, b"root:x:0:0::/root:/bin/sh\n"),
        E::Dir("usr/", 0o755),
        E::Dir("usr/bin/", 0o755),
        E::File("usr/bin/tool", 0o755, b"#!/bin/sh\necho tool\n"),
        E::Symlink("bin", "usr/bin"),
        E::Hardlink("usr/bin/tool2", "usr/bin/tool"),
        E::Dir("var/", 0o755),
        E::Dir("var/cache/", 0o700),
        E::File("var/cache/a", 0o600, b"a"),
        E::File("var/cache/b", 0o600, b"b"),
        E::Dir("tmp/", 0o1777),
    ]);
    let top = tar(&[
        E::Dir("etc/", 0o755),
        E::File("etc/hostname", 0o644, b"top\n"),
        E::File("etc/.wh.passwd", 0o644, b""),
        E::Dir("var/", 0o755),
        E::Dir("var/cache/", 0o750),
        E::File("var/cache/.wh..wh..opq", 0o644, b""),
        E::File("var/cache/c", 0o640, b"c"),
        E::File("usr/bin/new", 0o755, b"new"),
    ]);
    vec![plain(base), gz(top)]
}

/// A summary of a tree for comparisons: path -> (type, permission bits, content or target).
pub(crate) fn tree(root: &Path) -> BTreeMap<String, String> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let e = e.unwrap();
            let p = e.path();
            let rel = p.strip_prefix(root).unwrap().display().to_string();
            let m = std::fs::symlink_metadata(&p).unwrap();
            let mode = m.permissions().mode() & 0o7777;
            let desc = if m.file_type().is_symlink() {
                format!("link -> {}", std::fs::read_link(&p).unwrap().display())
            } else if m.is_dir() {
                stack.push(p.clone());
                format!("dir {mode:o} {}:{}", m.uid(), m.gid())
            } else if m.is_file() {
                let data = std::fs::read(&p).unwrap();
                format!(
                    "file {mode:o} {}:{} {} mtime={}",
                    m.uid(),
                    m.gid(),
                    digest_bytes(&data).hex(),
                    m.mtime()
                )
            } else {
                format!("other {mode:o}")
            };
            out.insert(rel, desc);
        }
    }
    out
}

/// The blob files of a layout.
pub(crate) fn blob_names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir.join("blobs/sha256"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

pub(crate) fn digest_of(d: &oci_spec::image::Descriptor) -> Digest {
    d.digest().to_string().parse().unwrap()
}
