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
