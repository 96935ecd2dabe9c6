//! The bodies of the fuzz targets of `fuzz/`, kept here so that
//! `cargo test` can replay crashing inputs through exactly the same code. Not part of the
//! supported API. They panic only on a bug: [`unpack`] when an entry escaped its root.

use crate::unpack::{UnpackOptions, unpack_layer};

/// Decompressed bytes one fuzz input may unpack to.
const FUZZ_MAX_LAYER: u64 = 16 << 20;

/// Bytes -> an image index, a manifest, a docker `manifest.json` and a config's diff_ids.
pub fn parse_json(data: &[u8]) {
    let _ = crate::image::parse_index(data, "fuzz");
    let _ = crate::image::parse_manifest(data, "fuzz");
    let _ = crate::image::parse_diff_ids(data, "fuzz");
    let _ = crate::docker::parse_docker_manifest(data, "fuzz");
}

/// Bytes -> what a registry answers besides images: a page of its tag list, a `Link` header's
/// next page, a manifest's media type.
pub fn registry_answers(data: &[u8]) {
    let _ = crate::registry::manage::parse_tag_page(data, "fuzz");
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = crate::registry::manage::next_link(text);
    }
    let _ = crate::registry::manifest_media_type(data, "fuzz");
}

/// Bytes -> a layer (plain, gzip or zstd tar) unpacked into a fresh temporary directory, which
/// nothing may leave. Returns whether the layer applied.
pub fn unpack(data: &[u8]) -> bool {
    let Ok(dir) = tempfile::tempdir() else {
        return false;
    };
    let root = dir.path().join("root");
    if std::fs::create_dir(&root).is_err() {
        return false;
    }
    let opts = UnpackOptions {
        max_layer_size: FUZZ_MAX_LAYER,
        same_owner: false,
        ..UnpackOptions::default()
    };
    let ok = unpack_layer(data, &root, &opts, "fuzz").is_ok();
    // Everything the layer wrote must be inside root: the temporary directory holds root only.
    let outside = std::fs::read_dir(dir.path()).map_or(0, |d| d.count());
    assert_eq!(outside, 1, "an entry escaped the root");
    ok
}

/// Bytes -> a layer (plain, gzip or zstd tar) searched for `disk/boot.qcow2` and that file
/// copied out, as `ocne-image` takes a boot image out of an ock image's layer: never panics,
/// never inflates past the layer cap, and a file reported found has the length reported.
/// Returns whether it was found.
pub fn extract(data: &[u8]) -> bool {
    let Ok(mut out) = tempfile::tempfile() else {
        return false;
    };
    let opts = UnpackOptions {
        max_layer_size: FUZZ_MAX_LAYER,
        ..UnpackOptions::default()
    };
    let found = crate::unpack::extract_file(
        data,
        Some(data.len() as u64),
        "disk/boot.qcow2",
        &mut out,
        &opts,
        "fuzz",
    );
    match found {
        Ok(Some(len)) => {
            let written = out.metadata().map_or(len, |m| m.len());
            assert_eq!(written, len, "the copy's length is not the one reported");
            true
        }
        _ => false,
    }
}

/// Bytes -> a SIF header and descriptor table, then the primary partition and, for bytes that
/// are not SIF, the `.simg` squashfs search.
pub fn parse_sif(data: &[u8]) {
    if let Ok(sif) = crate::sif::Sif::parse(data) {
        for d in &sif.descriptors {
            // Every descriptor handed out lies inside the input.
            assert!(
                d.offset + d.size <= data.len() as u64,
                "object outside the file"
            );
        }
        let _ = sif.primary_partition();
    }
    let mut cursor = std::io::Cursor::new(data);
    let _ = crate::sif::locate_squashfs(&mut cursor, data.len() as u64);
}
