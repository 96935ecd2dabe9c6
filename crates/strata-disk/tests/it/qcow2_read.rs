//! qcow2 reading, map, check, info and snapshots, compared with qemu-img on every fixture.

use std::path::Path;

use serde_json::Value;
use strata_disk::qcow2::{Qcow2Image, check, info};
use strata_disk::{DiskImage, ExtentKind};

use crate::fixtures;

#[test]
fn committed_fixtures_read_the_written_pattern() {
    for path in fixtures::images(&fixtures::dir()) {
        let opened = fixtures::open(&path);
        assert_eq!(opened.format, strata_model::DiskFormat::Qcow2);
        let data = fixtures::read_all(&*opened.image);
        let name = path.file_name().unwrap().to_str().unwrap();
        if name.contains("rawtop") {
            assert_eq!(data[4096], 0xbb, "{name}");
            assert_eq!(data[0], 0xaa, "{name}");
            assert!(data[16 << 10..20 << 10].iter().all(|&b| b == 0), "{name}");
            assert!(data[256 << 10..].iter().all(|&b| b == 0), "{name}");
            continue;
        }
        let first = if name == "snap.qcow2" { 0x66 } else { 0x11 };
        assert_eq!(data[0], first, "{name}");
        assert!(data[64 << 10..96 << 10].iter().all(|&b| b == 0), "{name}");
        assert_eq!(data[316 << 10], 0x33, "{name}");
        let last = if name == "top.qcow2" { 0x00 } else { 0x44 };
        assert_eq!(data[(1 << 20) - 1], last, "{name}");
    }
}

#[test]
fn reads_match_qemu_img_convert() {
    if !fixtures::have_qemu("reads_match_qemu_img_convert") {
        return;
    }
    let root = fixtures::generated();
    let out = tempfile::tempdir().unwrap();
    for path in fixtures::images(root) {
        let raw = out.path().join("out.raw");
        let p = path.to_str().unwrap();
        fixtures::qemu_img(
            root,
            &[
                "convert",
                "-f",
                "qcow2",
                "-O",
                "raw",
                p,
                raw.to_str().unwrap(),
            ],
        );
        let expected = std::fs::read(&raw).unwrap();
        let opened = fixtures::open(&path);
        let ours = fixtures::read_all(&*opened.image);
        assert!(
            ours == expected,
            "{}: contents differ from qemu-img convert",
            path.display()
        );
        // Unaligned reads across cluster boundaries agree too.
        let mut buf = vec![0u8; 12345];
        opened.image.read_at(&mut buf, 4093).unwrap();
        assert_eq!(buf, expected[4093..4093 + 12345], "{}", path.display());
    }
}

/// Merged `(start, length, kind)` runs.
fn merge(runs: impl IntoIterator<Item = (u64, u64, ExtentKind)>) -> Vec<(u64, u64, ExtentKind)> {
    let mut out: Vec<(u64, u64, ExtentKind)> = Vec::new();
    for (start, len, kind) in runs {
        match out.last_mut() {
            Some(last) if last.2 == kind && last.0 + last.1 == start => last.1 += len,
            _ => out.push((start, len, kind)),
        }
    }
    out
}

fn our_map(image: &dyn DiskImage) -> Vec<(u64, u64, ExtentKind)> {
    let mut runs = Vec::new();
    let mut pos = 0;
    while pos < image.virtual_size() {
        let e = image.map(pos, u64::MAX).unwrap();
        assert_eq!(e.offset, pos);
        assert!(e.length > 0);
        runs.push((e.offset, e.length, e.kind));
        pos = e.end();
    }
    merge(runs)
}

#[test]
fn map_matches_qemu_img_map() {
    if !fixtures::have_qemu("map_matches_qemu_img_map") {
        return;
    }
    let root = fixtures::generated();
    for path in fixtures::images(root) {
        let json = fixtures::qemu_json(root, &["map", "--output=json", path.to_str().unwrap()]);
        let theirs = merge(json.as_array().unwrap().iter().map(|e| {
            let depth = e["depth"].as_u64().unwrap();
            let kind = if depth > 0 || !e["present"].as_bool().unwrap() {
                ExtentKind::Unallocated
            } else if e["data"].as_bool().unwrap() {
                ExtentKind::Data
            } else {
                ExtentKind::Zero
            };
            (
                e["start"].as_u64().unwrap(),
                e["length"].as_u64().unwrap(),
                kind,
            )
        }));
        let opened = fixtures::open(&path);
        assert_eq!(our_map(&*opened.image), theirs, "{}", path.display());
    }
}

fn check_json(path: &Path) -> (Value, Value) {
    let dir = path.parent().unwrap();
    let name = path.file_name().unwrap().to_str().unwrap();
    let theirs = fixtures::qemu_json(dir, &["check", "--output=json", "-f", "qcow2", name]);
    let img = Qcow2Image::open(Box::new(std::fs::File::open(path).unwrap())).unwrap();
    let ours = serde_json::to_value(check(&img, name).unwrap()).unwrap();
    (ours, theirs)
}

#[test]
fn check_matches_qemu_img_check_on_clean_images() {
    if !fixtures::have_qemu("check_matches_qemu_img_check_on_clean_images") {
        return;
    }
    for path in fixtures::images(fixtures::generated()) {
        let (ours, theirs) = check_json(&path);
        assert_eq!(ours, theirs, "{}", path.display());
    }
}

/// Sets the 16-bit refcount of host cluster `k` in a 4 KiB-cluster image with one refblock.
fn set_refcount16(bytes: &mut [u8], k: usize, value: u16) {
    let rt = u64::from_be_bytes(bytes[48..56].try_into().unwrap()) as usize;
    let rb = u64::from_be_bytes(bytes[rt..rt + 8].try_into().unwrap()) as usize;
    bytes[rb + 2 * k..rb + 2 * k + 2].copy_from_slice(&value.to_be_bytes());
}

#[test]
fn check_matches_qemu_img_check_on_damaged_images() {
    if !fixtures::have_qemu("check_matches_qemu_img_check_on_damaged_images") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let src = std::fs::read(fixtures::dir().join("v3-4k.qcow2")).unwrap();
    let img = Qcow2Image::from_bytes(src.clone()).unwrap();
    let (mapping, _) = img.mapping(0, 4096).unwrap();
    let strata_disk::qcow2::reader::Mapping::Data { host_offset } = mapping else {
        panic!()
    };
    let data_cluster = (host_offset / 4096) as usize;
    let mut cases: Vec<(&str, Vec<u8>)> = Vec::new();
    // A leak: one more cluster at the end of the file with refcount 1.
    let mut leak = src.clone();
    let k = leak.len() / 4096;
    leak.extend_from_slice(&[0u8; 4096]);
    set_refcount16(&mut leak, k, 1);
    cases.push(("leak.qcow2", leak));
    // A data cluster's refcount bumped to 2: a leak and a wrong copied flag.
    let mut bumped = src.clone();
    set_refcount16(&mut bumped, data_cluster, 2);
    cases.push(("bumped.qcow2", bumped));
    // A data cluster's refcount zeroed: a refcount error and a wrong copied flag.
    let mut zeroed = src.clone();
    set_refcount16(&mut zeroed, data_cluster, 0);
    cases.push(("zeroed.qcow2", zeroed));
    for (name, bytes) in cases {
        let path = tmp.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        let (ours, theirs) = check_json(&path);
        assert_eq!(ours, theirs, "{name}");
        assert!(
            ours.get("leaks").is_some() || ours.get("corruptions").is_some(),
            "{name}"
        );
    }
}

#[test]
fn info_matches_qemu_img_info() {
    if !fixtures::have_qemu("info_matches_qemu_img_info") {
        return;
    }
    let root = fixtures::generated();
    for path in fixtures::images(root) {
        let rel = path.strip_prefix(root).unwrap().to_str().unwrap();
        let mut theirs = fixtures::qemu_json(root, &["info", "--output=json", "-U", rel]);
        let obj = theirs.as_object_mut().unwrap();
        obj.remove("children");
        obj.remove("actual-size");
        let img = Qcow2Image::open(Box::new(std::fs::File::open(&path).unwrap())).unwrap();
        let ours = serde_json::to_value(info(&img, rel, None)).unwrap();
        assert_eq!(ours, theirs, "{rel}");
    }
}

#[test]
fn snapshots_match_qemu_img_snapshot_list() {
    if !fixtures::have_qemu("snapshots_match_qemu_img_snapshot_list") {
        return;
    }
    let path = fixtures::generated().join("snap.qcow2");
    let out = fixtures::qemu_img(
        fixtures::generated(),
        &["snapshot", "-l", path.to_str().unwrap()],
    );
    // "ID  TAG  VM_SIZE  DATE  VM_CLOCK  ICOUNT" rows after two header lines.
    let theirs: Vec<(String, String)> = out
        .lines()
        .skip(2)
        .map(|l| {
            let mut w = l.split_whitespace();
            (w.next().unwrap().to_owned(), w.next().unwrap().to_owned())
        })
        .collect();
    let img = Qcow2Image::open(Box::new(std::fs::File::open(&path).unwrap())).unwrap();
    let ours: Vec<(String, String)> = img
        .snapshots()
        .iter()
        .map(|s| (s.id.clone(), s.name.clone()))
        .collect();
    assert_eq!(ours, theirs);
    assert_eq!(ours.len(), 2);
}

#[test]
fn dirty_and_corrupt_bits_open_read_only() {
    let mut bytes = std::fs::read(fixtures::dir().join("v3-4k.qcow2")).unwrap();
    let clean = fixtures::read_all(&Qcow2Image::from_bytes(bytes.clone()).unwrap());
    bytes[79] |= 0b11;
    let img = Qcow2Image::from_bytes(bytes).unwrap();
    assert!(img.header().dirty() && img.header().corrupt());
    assert_eq!(fixtures::read_all(&img), clean);
    let dirty = Qcow2Image::open(Box::new(
        std::fs::File::open(fixtures::dir().join("dirty.qcow2")).unwrap(),
    ))
    .unwrap();
    assert!(info(&dirty, "dirty.qcow2", None).dirty_flag);
}

#[test]
fn reads_from_many_threads_agree() {
    let opened = fixtures::open(&fixtures::dir().join("zstd.qcow2"));
    let whole = fixtures::read_all(&*opened.image);
    std::thread::scope(|s| {
        for t in 0..4u64 {
            let image = &opened.image;
            let whole = &whole;
            s.spawn(move || {
                let mut buf = vec![0u8; 3000];
                for i in 0..200u64 {
                    let off = (i * 7919 + t * 131) % (whole.len() as u64 - 3000);
                    image.read_at(&mut buf, off).unwrap();
                    assert_eq!(buf, whole[off as usize..off as usize + 3000]);
                }
            });
        }
    });
}
