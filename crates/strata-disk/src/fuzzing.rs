//! The bodies of the fuzz targets in `fuzz/`, kept here so that `cargo test` replays every input
//! the fuzzers ever crashed on (`fuzz/regressions/`) through exactly the same code. Not part of
//! the supported API.

use strata_model::DiskFormat;

use crate::image::DiskImage;
use crate::open::{OpenOptions, open_bytes};
use crate::qcow2::{Qcow2Image, check, info};
use crate::qed::QedImage;
use crate::vhdx::VhdxImage;

/// Guest bytes read per input by the `exercise_*` bodies, so that a huge virtual size cannot make a
/// run slow.
const MAX_READ: u64 = 8 << 20;

/// Map entries walked per input by the `exercise_*` bodies.
const MAX_MAP_STEPS: usize = 4096;

/// Bytes -> open as qcow2, qed and vhdx, and through the probe as any file would be opened.
/// Never panics.
pub fn parse(data: &[u8]) {
    for format in [DiskFormat::Qcow2, DiskFormat::Qed, DiskFormat::Vhdx] {
        let options = OpenOptions {
            format: Some(format),
            no_backing: true,
            ..OpenOptions::default()
        };
        let _ = open_bytes(data.to_vec(), &options);
    }
    let _ = open_bytes(
        data.to_vec(),
        &OpenOptions {
            no_backing: true,
            ..OpenOptions::default()
        },
    );
}

/// Bytes -> open as qcow2, map everything, read up to `MAX_READ` (8 MiB) bytes, check and info.
/// Panics only if an extent breaks the map contract.
pub fn exercise_qcow2(data: &[u8]) {
    let Ok(img) = Qcow2Image::from_bytes(data.to_vec()) else {
        return;
    };
    exercise(&img);
    let _ = check(&img, "fuzz.qcow2");
    let _ = info(&img, "fuzz.qcow2", None);
}

/// Bytes -> open as qed, map everything, read up to `MAX_READ` bytes.
pub fn exercise_qed(data: &[u8]) {
    if let Ok(img) = QedImage::from_bytes(data.to_vec()) {
        exercise(&img);
    }
}

/// Bytes -> open as vhdx, map everything, read up to `MAX_READ` bytes.
pub fn exercise_vhdx(data: &[u8]) {
    if let Ok(img) = VhdxImage::from_bytes(data.to_vec()) {
        exercise(&img);
    }
}

/// Bytes -> a raw source of at most 1 MiB (the bytes, then a copy of them 512 KiB further in
/// when short, leaving a hole) -> qed through the convert engine -> reopened: reads back equal.
/// Panics if what we wrote does not reopen or reads back differently.
pub fn roundtrip_qed(data: &[u8]) {
    use crate::convert::{ConvertOptions, convert};
    use crate::qed::{QedCreateOptions, QedTarget};
    use crate::raw::RawImage;

    let head = &data[..data.len().min(512 << 10)];
    let mut bytes = head.to_vec();
    if !head.is_empty() {
        bytes.resize(512 << 10, 0);
        bytes.extend_from_slice(head);
    }
    let size = bytes.len() as u64;
    let source = RawImage::from_bytes(bytes.clone());
    let Ok(dir) = tempfile::tempdir() else {
        return;
    };
    let path = dir.path().join("fuzz.qed");
    let options = QedCreateOptions {
        cluster_size: 4096,
        table_size: 2,
        ..QedCreateOptions::new(size.max(512))
    };
    let Ok(target) = QedTarget::create(&path, &options, false, false) else {
        return;
    };
    let convert_options = ConvertOptions {
        sync: false,
        ..ConvertOptions::default()
    };
    if let Err(e) = convert(&source, Box::new(target), &convert_options, &|_| {}) {
        panic!("convert to qed failed: {e}");
    }
    let written = match std::fs::read(&path) {
        Ok(w) => w,
        Err(e) => panic!("cannot read what was written: {e}"),
    };
    let img = match QedImage::from_bytes(written) {
        Ok(img) => img,
        Err(e) => panic!("what we wrote does not reopen: {e}"),
    };
    let mut back = vec![0u8; bytes.len()];
    if let Err(e) = img.read_at(&mut back, 0) {
        panic!("what we wrote does not read back: {e}");
    }
    assert!(back == bytes, "qed round trip reads back differently");
}

/// Maps the whole image (at most `MAX_MAP_STEPS` extents) and reads its first `MAX_READ`
/// bytes. Panics only if an extent breaks the map contract.
fn exercise(img: &dyn DiskImage) {
    let size = img.virtual_size();
    let mut pos = 0;
    for _ in 0..MAX_MAP_STEPS {
        if pos >= size {
            break;
        }
        match img.map(pos, size - pos) {
            Ok(extent) => {
                assert!(
                    extent.length > 0 && extent.offset == pos && extent.end() <= size,
                    "bad extent {extent:?}"
                );
                pos = extent.end();
            }
            Err(_) => break,
        }
    }
    let mut buf = vec![0u8; 64 << 10];
    let mut pos = 0;
    while pos < size.min(MAX_READ) {
        let n = (size - pos).min(buf.len() as u64);
        let n = usize::try_from(n).unwrap_or(buf.len());
        let _ = img.read_at(&mut buf[..n], pos);
        pos += n as u64;
    }
}
