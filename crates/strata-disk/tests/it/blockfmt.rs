//! Helpers shared by the vdi and vpc tests: patterned sparse sources, converting with our
//! writers, and comparing with qemu-img's reading, map and output.
#![allow(
    clippy::unwrap_used,
    reason = "test helpers: a failure is a test failure"
)]

use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use strata_disk::{ConvertOptions, ConvertTarget, DiskError, DiskImage, ExtentKind, OpenOptions};
use strata_model::DiskFormat;

use crate::fixtures;
use crate::recording::{Recording, convert_to};

/// A sparse raw file of `size` bytes with `writes` of `(offset, len, byte)` (byte 0 writes
/// explicit zeros, which are data to the file system, not a hole).
pub(crate) fn make_raw(path: &Path, size: u64, writes: &[(u64, usize, u8)]) {
    let f = std::fs::File::create(path).unwrap();
    f.set_len(size).unwrap();
    for &(offset, len, byte) in writes {
        let len = len.min(size.saturating_sub(offset) as usize);
        let buf: Vec<u8> = (0..len)
            .map(|i| if byte == 0 { 0 } else { byte ^ (i / 512) as u8 })
            .collect();
        f.write_all_at(&buf, offset).unwrap();
    }
}

/// The same pattern in memory.
pub(crate) fn pattern_bytes(size: u64, writes: &[(u64, usize, u8)]) -> Vec<u8> {
    let mut v = vec![0u8; size as usize];
    for &(offset, len, byte) in writes {
        let len = len.min(size.saturating_sub(offset) as usize);
        for i in 0..len {
            v[offset as usize + i] = if byte == 0 { 0 } else { byte ^ (i / 512) as u8 };
        }
    }
    v
}

/// Opens `path` (format probed, no backing).
pub(crate) fn open(path: &Path) -> Box<dyn DiskImage> {
    open_with(path, None)
}

/// Opens `path` in `format`, as `qemu-img -f FORMAT` does (no backing): how a fixed VHD is
/// opened, since probing sees only the head of a file and a fixed VHD's footer is at its end.
pub(crate) fn open_as(path: &Path, format: DiskFormat) -> Box<dyn DiskImage> {
    open_with(path, Some(format))
}

fn open_with(path: &Path, format: Option<DiskFormat>) -> Box<dyn DiskImage> {
    let opts = OpenOptions {
        format,
        no_backing: true,
        ..OpenOptions::default()
    };
    strata_disk::open(path, &opts)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .image
}

/// Converts `source` with default options into the target `make` builds on a new output at
/// `path`, and checks that the writes recorded to the output reproduce the file.
pub(crate) fn convert(
    source: &dyn DiskImage,
    path: &Path,
    make: impl FnOnce(&mut Recording) -> Result<Box<dyn ConvertTarget + '_>, DiskError>,
) {
    let (summary, recorded) = convert_to(source, path, &ConvertOptions::default(), make).unwrap();
    recorded.assert_reproduces_the_file();
    assert_eq!(summary.file_len, recorded.committed.len);
}

/// Every file in `root` with extension `ext`, sorted.
pub(crate) fn files(root: &Path, ext: &str) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == ext))
        .collect();
    out.sort();
    out
}

/// Asserts that every fixture with the extension `ext` (committed and generated, at least
/// `at_least` of them) reads like qemu (see [`assert_reads_like_qemu`]).
pub(crate) fn assert_fixtures_read_like_qemu(ext: &str, format: DiskFormat, at_least: usize) {
    if !fixtures::have_qemu(&format!("{ext} fixtures_read_like_qemu")) {
        return;
    }
    let mut all = files(&fixtures::dir(), ext);
    all.extend(files(fixtures::generated(), ext));
    assert!(all.len() >= at_least, "{all:?}");
    for path in all {
        assert_reads_like_qemu(&path, format);
    }
}

/// Asserts our reading of `path` equals `qemu-img convert -O raw` of it, and our map equals
/// `qemu-img map` (both told the format, as a fixed VHD must be).
pub(crate) fn assert_reads_like_qemu(path: &Path, format: DiskFormat) {
    let img = open_as(path, format);
    assert_eq!(img.format(), format);
    let ours = fixtures::read_all(&*img);
    let tmp = tempfile::tempdir().unwrap();
    let raw = tmp.path().join("out.raw");
    let st = Command::new("qemu-img")
        .args(["convert", "-f", format.name(), "-O", "raw"])
        .arg(path)
        .arg(&raw)
        .status()
        .unwrap();
    assert!(st.success());
    let theirs = std::fs::read(&raw).unwrap();
    assert_eq!(ours.len(), theirs.len(), "{}", path.display());
    assert!(ours == theirs, "{}: contents differ", path.display());
    let json = fixtures::qemu_json(
        path.parent().unwrap(),
        &[
            "map",
            "--output=json",
            "-f",
            format.name(),
            path.to_str().unwrap(),
        ],
    );
    let theirs = merge(json.as_array().unwrap().iter().map(|e| {
        // Holes of a fixed image are zero and data (BDRV_BLOCK_RECURSE): zeros to us.
        let kind = if e["zero"].as_bool().unwrap() || !e["data"].as_bool().unwrap() {
            ExtentKind::Zero
        } else {
            ExtentKind::Data
        };
        (
            e["start"].as_u64().unwrap(),
            e["length"].as_u64().unwrap(),
            kind,
        )
    }));
    let mut runs = Vec::new();
    let mut pos = 0;
    while pos < img.virtual_size() {
        let e = img.map(pos, u64::MAX).unwrap();
        assert_eq!(e.offset, pos);
        assert!(e.length > 0);
        runs.push((e.offset, e.length, e.kind));
        pos = e.end();
    }
    assert_eq!(merge(runs), theirs, "{}", path.display());
}

fn merge(runs: impl IntoIterator<Item = (u64, u64, ExtentKind)>) -> Vec<(u64, u64, ExtentKind)> {
    let mut out: Vec<(u64, u64, ExtentKind)> = Vec::new();
    for (o, l, k) in runs {
        match out.last_mut() {
            Some(last) if last.2 == k && last.0 + last.1 == o => last.1 += l,
            _ => out.push((o, l, k)),
        }
    }
    out
}

/// `qemu-img info -f format`'s virtual size (qemu probes fixed vpc images as raw: it looks
/// for the footer at the start only).
pub(crate) fn qemu_virtual_size(path: &Path, format: &str) -> u64 {
    let json = fixtures::qemu_json(
        path.parent().unwrap(),
        &[
            "info",
            "--output=json",
            "-f",
            format,
            path.to_str().unwrap(),
        ],
    );
    json["virtual-size"].as_u64().unwrap()
}

/// Converts `src` with qemu-img into `dst` (`-O format -o options`).
pub(crate) fn qemu_convert(src: &Path, dst: &Path, format: &str, options: &str) {
    let mut cmd = Command::new("qemu-img");
    cmd.args(["convert", "-f", "raw", "-O", format]);
    if !options.is_empty() {
        cmd.args(["-o", options]);
    }
    let st = cmd.arg(src).arg(dst).status().unwrap();
    assert!(st.success());
}

/// Random sparse writes for property tests: `(offset, len, byte)` within 6 MiB.
pub(crate) fn writes() -> impl proptest::strategy::Strategy<Value = Vec<(u64, usize, u8)>> {
    proptest::collection::vec((0u64..(6 << 20), 1usize..300_000, 0u8..4), 0..8)
}
