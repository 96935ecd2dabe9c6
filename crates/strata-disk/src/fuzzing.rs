//! The bodies of the fuzz targets in `fuzz/`, kept here so that `cargo test` replays every input
//! the fuzzers ever crashed on (`fuzz/regressions/`) through exactly the same code. Not part of
//! the supported API.

use strata_model::DiskFormat;

use crate::convert::output::{Durability, OutputFile};
use crate::convert::{ConvertOptions, ConvertTarget, convert};
use crate::image::DiskImage;
use crate::open::{OpenOptions, open_bytes};
use crate::qcow2::{Qcow2Image, check, info};
use crate::qed::QedImage;
use crate::raw::RawImage;
use crate::vdi::{VdiCreateOptions, VdiImage, VdiTarget};
use crate::vhdx::{self, VhdxCreateOptions, VhdxImage, VhdxTarget};
use crate::vmdk::{self, VmdkImage};
use crate::vpc::{Subformat, VpcCreateOptions, VpcImage, VpcTarget};

/// Guest bytes read per input by the `exercise_*` bodies, so that a huge virtual size cannot
/// make a run slow.
const MAX_READ: u64 = 8 << 20;

/// Map entries walked per input by the `exercise_*` bodies.
const MAX_MAP_STEPS: usize = 4096;

/// Bytes -> open as qcow2, qed, vdi, vmdk, vpc and vhdx, and through the probe as any file would be
/// opened. Never panics.
pub fn parse(data: &[u8]) {
    for format in [
        DiskFormat::Qcow2,
        DiskFormat::Vmdk,
        DiskFormat::Vdi,
        DiskFormat::Vpc,
        DiskFormat::Qed,
        DiskFormat::Vhdx,
    ] {
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

/// Bytes -> a sparse guest image and qcow2 writer options -> convert to qcow2 (plain, zlib or
/// zstd, any cluster size and refcount width) -> reopened with our reader. The first four bytes
/// choose the cluster size (512 B to 64 KiB), refcount width, compression and virtual size; the
/// rest are (offset, length, value) triples of guest data. Panics if what we write does not
/// reopen, read back the same bytes or check clean.
pub fn roundtrip_qcow2(data: &[u8]) {
    use crate::convert::Compression;
    use crate::qcow2::{Compat, CreateOptions, Qcow2Target};

    let [a, b, c, d, rest @ ..] = data else {
        return;
    };
    let cluster_bits = 9 + u32::from(*a % 8);
    let refcount_bits = 1u32 << (b % 7);
    let compression = match c % 3 {
        0 => None,
        1 => Some(Compression::ZLIB),
        _ => Some(Compression::ZSTD),
    };
    let size = (u64::from(*d) + 1) * 8192 + u64::from(a / 8);
    let mut guest = vec![0u8; usize::try_from(size).unwrap_or(0)];
    for t in rest.chunks_exact(3) {
        let off = (usize::from(t[0]) * 977) % guest.len();
        let len = (usize::from(t[1]) * 131).min(guest.len() - off);
        guest[off..off + len].fill(t[2]);
    }
    let source = RawImage::from_bytes(guest.clone());
    let Ok(dir) = tempfile::tempdir() else {
        return;
    };
    let path = dir.path().join("fuzz.qcow2");
    let options = CreateOptions {
        cluster_size: 1 << cluster_bits,
        refcount_bits,
        compression,
        compat: Compat::V1_1,
        ..CreateOptions::new(size)
    };
    let mut out = match OutputFile::create(&path, Durability::Volatile) {
        Ok(out) => out,
        Err(e) => panic!("create: {e}"),
    };
    let target = match Qcow2Target::create(&mut out, &options) {
        Ok(t) => t,
        Err(e) => panic!("create: {e}"),
    };
    let convert_options = ConvertOptions {
        compression,
        ..ConvertOptions::default()
    };
    if let Err(e) = convert(&source, Box::new(target), &convert_options, &|_| {}) {
        panic!("convert to qcow2: {e}");
    }
    if let Err(e) = out.commit() {
        panic!("commit: {e}");
    }
    let img = match std::fs::read(&path).map(Qcow2Image::from_bytes) {
        Ok(Ok(img)) => img,
        Ok(Err(e)) => panic!("what we wrote does not reopen: {e}"),
        Err(e) => panic!("read back: {e}"),
    };
    let mut back = vec![0u8; guest.len()];
    if let Err(e) = img.read_at(&mut back, 0) {
        panic!("what we wrote does not read back: {e}");
    }
    assert!(back == guest, "qcow2 round trip reads back differently");
    match check(&img, "fuzz.qcow2") {
        Ok(report) => assert!(report.is_clean(), "{report:?}"),
        Err(e) => panic!("check: {e}"),
    }
}

/// Bytes -> open as qcow2, map everything, read up to `MAX_READ` (8 MiB) bytes, check and info.
/// Panics only if an extent breaks the map contract.
pub fn exercise_qcow2(data: &[u8]) {
    let Ok(img) = Qcow2Image::from_bytes(data.to_vec()) else {
        return;
    };
    exercise_image(&img);
    let _ = check(&img, "fuzz.qcow2");
    let _ = info(&img, "fuzz.qcow2", None);
}

/// Bytes -> open as a single-file vmdk, map everything, read up to `MAX_READ` (8 MiB) bytes.
/// Panics only if an extent breaks the map contract.
pub fn exercise_vmdk(data: &[u8]) {
    if let Ok(img) = VmdkImage::from_bytes(data.to_vec()) {
        exercise_image(&img);
    }
}

/// Bytes -> a raw disk of those bytes, written as monolithicSparse and as streamOptimized
/// vmdk, read back: panics if what we write does not reopen with the same contents.
///
/// An empty input is skipped: a sparse header of capacity 0 means "descriptor only" to every
/// reader (qemu 10 cannot open the empty vmdk its own `qemu-img create` writes, and neither
/// do we), so an empty disk has no readable vmdk form.
pub fn roundtrip_vmdk(data: &[u8]) {
    use crate::convert::{ConvertOptions, convert};
    use crate::raw::RawImage;
    use crate::vmdk::{Subformat, VmdkCreateOptions, VmdkTarget};
    if data.is_empty() {
        return;
    }
    let Ok(dir) = tempfile::tempdir() else {
        return;
    };
    let src = RawImage::from_bytes(data.to_vec());
    for sub in [Subformat::MonolithicSparse, Subformat::StreamOptimized] {
        let path = dir.path().join("fuzz.vmdk");
        let mut opts = VmdkCreateOptions::new(src.virtual_size());
        opts.subformat = sub;
        let mut out = match OutputFile::create(&path, Durability::Volatile) {
            Ok(out) => out,
            Err(e) => panic!("create: {e}"),
        };
        let target = match VmdkTarget::create(&mut out, &opts) {
            Ok(t) => Box::new(t),
            Err(e) => panic!("create: {e}"),
        };
        if let Err(e) = convert(&src, target, &ConvertOptions::default(), &|_| {}) {
            panic!("convert: {e}");
        }
        if let Err(e) = out.commit() {
            panic!("commit: {e}");
        }
        let back = match std::fs::read(&path).map(VmdkImage::from_bytes) {
            Ok(Ok(b)) => b,
            Ok(Err(e)) => panic!("reopen: {e}"),
            Err(e) => panic!("read back: {e}"),
        };
        let mut buf = vec![0u8; data.len()];
        if let Err(e) = back.read_at(&mut buf, 0) {
            panic!("read: {e}");
        }
        assert!(buf == data, "{sub:?} round trip differs");
    }
}

/// Bytes -> a raw disk -> [`crate::gpt::read_gpt`] with 512-byte sectors: never panics, hangs or
/// allocates without bound (the entry array must lie inside the input), and every partition
/// returned has its 1-based entry number, increasing in table order.
pub fn read_gpt(data: &[u8]) {
    let image = RawImage::from_bytes(data.to_vec());
    if let Ok(table) = crate::gpt::read_gpt(&image, 512) {
        let mut last = 0;
        for part in &table.partitions {
            assert!(
                part.number >= 1 && part.number > last,
                "partition number {} after {last}",
                part.number
            );
            last = part.number;
            let _ = part.size(table.sector);
        }
    }
}

/// Bytes -> open as vdi, map everything, read up to `MAX_READ` bytes. Panics only if an
/// extent breaks the map contract.
pub fn exercise_vdi(data: &[u8]) {
    if let Ok(img) = VdiImage::from_bytes(data.to_vec()) {
        exercise_image(&img);
    }
}

/// Bytes -> open as vpc, map everything, read up to `MAX_READ` bytes. Panics only if an
/// extent breaks the map contract.
pub fn exercise_vpc(data: &[u8]) {
    if let Ok(img) = VpcImage::from_bytes(data.to_vec()) {
        exercise_image(&img);
    }
}

/// Bytes -> a raw disk (at most 4 MiB of them) written as vdi (dynamic and static) and vpc
/// (dynamic and fixed) in a temporary directory, each reopened and read back. Panics if what
/// we write does not reopen or does not read back the same bytes.
pub fn roundtrip_vdi_vpc(data: &[u8]) {
    let data = &data[..data.len().min(4 << 20)];
    let Ok(dir) = tempfile::tempdir() else {
        return;
    };
    let source = RawImage::from_bytes(data.to_vec());
    let size = data.len() as u64;
    let options = ConvertOptions::default();
    for (i, name) in ["d.vdi", "s.vdi", "d.vpc", "f.vpc"].into_iter().enumerate() {
        let path = dir.path().join(name);
        let Ok(mut out) = OutputFile::create(&path, Durability::Volatile) else {
            return;
        };
        let target: Box<dyn ConvertTarget> = match i {
            0 | 1 => {
                let opts = VdiCreateOptions {
                    static_image: i == 1,
                    ..VdiCreateOptions::new(size)
                };
                match VdiTarget::create(&mut out, &opts) {
                    Ok(t) => Box::new(t),
                    Err(_) => return,
                }
            }
            _ => {
                let opts = VpcCreateOptions {
                    subformat: if i == 2 {
                        Subformat::Dynamic
                    } else {
                        Subformat::Fixed
                    },
                    ..VpcCreateOptions::new(size)
                };
                match VpcTarget::create(&mut out, &opts) {
                    Ok(t) => Box::new(t),
                    Err(_) => return,
                }
            }
        };
        if convert(&source, target, &options, &|_| {}).is_err() || out.commit().is_err() {
            return;
        }
        let Ok(bytes) = std::fs::read(&path) else {
            return;
        };
        // Opened as the format written: a fixed vpc starts with guest data, which may carry
        // another format's magic (a probe would rightly see that format, as for raw).
        let format = if i < 2 {
            DiskFormat::Vdi
        } else {
            DiskFormat::Vpc
        };
        let options = OpenOptions {
            format: Some(format),
            ..OpenOptions::default()
        };
        let reopened = match open_bytes(bytes, &options) {
            Ok(o) => o.image,
            Err(e) => panic!("{name} does not reopen: {e}"),
        };
        let mut back = vec![0u8; reopened.virtual_size() as usize];
        if let Err(e) = reopened.read_at(&mut back, 0) {
            panic!("{name} does not read back: {e}");
        }
        assert!(
            back[..data.len()] == *data && back[data.len()..].iter().all(|&b| b == 0),
            "{name} reads back other bytes"
        );
    }
}

/// Bytes -> open as qed, map everything, read up to `MAX_READ` bytes.
pub fn exercise_qed(data: &[u8]) {
    if let Ok(img) = QedImage::from_bytes(data.to_vec()) {
        exercise_image(&img);
    }
}

/// Bytes -> open as vhdx, map everything, read up to `MAX_READ` bytes.
pub fn exercise_vhdx(data: &[u8]) {
    if let Ok(img) = VhdxImage::from_bytes(data.to_vec()) {
        exercise_image(&img);
    }
}

/// Bytes -> a raw disk (at most 4 MiB of them, the first byte choosing the options) written as
/// vhdx, dynamic and fixed, through the convert engine in a temporary directory, each reopened
/// and read back. Panics if what we write does not reopen as vhdx or reads back other bytes.
pub fn roundtrip_vhdx(data: &[u8]) {
    let Some((&choice, data)) = data.split_first() else {
        return;
    };
    let data = &data[..data.len().min(4 << 20)];
    let Ok(dir) = tempfile::tempdir() else {
        return;
    };
    let source = RawImage::from_bytes(data.to_vec());
    let size = data.len() as u64;
    for subformat in [vhdx::Subformat::Dynamic, vhdx::Subformat::Fixed] {
        let path = dir.path().join(format!("{}.vhdx", subformat.name()));
        let Ok(mut out) = OutputFile::create(&path, Durability::Volatile) else {
            return;
        };
        let opts = VhdxCreateOptions {
            subformat,
            block_size: (choice & 1 != 0).then_some(1 << 20),
            block_state_zero: choice & 2 != 0,
            log_size: if choice & 4 != 0 { 2 << 20 } else { 1 << 20 },
            ..VhdxCreateOptions::new(size)
        };
        let target = match VhdxTarget::create(&mut out, &opts) {
            Ok(t) => Box::new(t),
            Err(_) => return,
        };
        if convert(&source, target, &ConvertOptions::default(), &|_| {}).is_err()
            || out.commit().is_err()
        {
            return;
        }
        let Ok(bytes) = std::fs::read(&path) else {
            return;
        };
        let reopened = match VhdxImage::from_bytes(bytes) {
            Ok(i) => i,
            Err(e) => panic!("{} vhdx does not reopen: {e}", subformat.name()),
        };
        let mut back = vec![0u8; reopened.virtual_size() as usize];
        if let Err(e) = reopened.read_at(&mut back, 0) {
            panic!("{} vhdx does not read back: {e}", subformat.name());
        }
        assert!(
            back[..data.len()] == *data && back[data.len()..].iter().all(|&b| b == 0),
            "{} vhdx reads back other bytes",
            subformat.name()
        );
    }
}

/// Bytes -> a raw disk (at most 4 MiB of them, the first byte choosing the subformat) written
/// as a multi-file VMDK (monolithicFlat, twoGbMaxExtentFlat or twoGbMaxExtentSparse: a
/// descriptor and extent files beside it) through the convert engine in a temporary
/// directory, reopened from the descriptor and read back. Panics if what we write does not
/// reopen or reads back other bytes.
pub fn roundtrip_vmdk_split(data: &[u8]) {
    use crate::convert::output::Output;
    let Some((&choice, data)) = data.split_first() else {
        return;
    };
    let data = &data[..data.len().min(4 << 20)];
    let Ok(dir) = tempfile::tempdir() else {
        return;
    };
    let subformat = [
        vmdk::Subformat::MonolithicFlat,
        vmdk::Subformat::TwoGbMaxExtentFlat,
        vmdk::Subformat::TwoGbMaxExtentSparse,
    ][usize::from(choice % 3)];
    let source = RawImage::from_bytes(data.to_vec());
    let opts = vmdk::VmdkCreateOptions {
        subformat,
        ..vmdk::VmdkCreateOptions::new(data.len() as u64)
    };
    let path = dir.path().join("d.vmdk");
    let Ok(files) = opts.extent_files("d.vmdk") else {
        return;
    };
    let Ok(mut out) = OutputFile::create(&path, Durability::Volatile) else {
        return;
    };
    let mut extents = Vec::new();
    for f in &files {
        match OutputFile::create(&dir.path().join(&f.name), Durability::Volatile) {
            Ok(o) => extents.push(o),
            Err(_) => return,
        }
    }
    let outs: Vec<&mut dyn Output> = extents.iter_mut().map(|o| o as &mut dyn Output).collect();
    let target = match vmdk::VmdkSplitTarget::create(&mut out, outs, &opts) {
        Ok(t) => Box::new(t),
        Err(_) => return,
    };
    if convert(&source, target, &ConvertOptions::default(), &|_| {}).is_err() {
        return;
    }
    for e in extents {
        if e.commit().is_err() {
            return;
        }
    }
    if out.commit().is_err() {
        return;
    }
    let reopened = match crate::open::open(&path, &OpenOptions::default()) {
        Ok(o) => o.image,
        Err(e) => panic!("{} does not reopen: {e}", subformat.name()),
    };
    let mut back = vec![0u8; reopened.virtual_size() as usize];
    if let Err(e) = reopened.read_at(&mut back, 0) {
        panic!("{} does not read back: {e}", subformat.name());
    }
    assert!(
        back.len() >= data.len()
            && back[..data.len()] == *data
            && back[data.len()..].iter().all(|&b| b == 0),
        "{} reads back other bytes",
        subformat.name()
    );
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
    let Ok(mut out) = OutputFile::create(&path, Durability::Volatile) else {
        return;
    };
    let Ok(target) = QedTarget::create(&mut out, &options) else {
        return;
    };
    if let Err(e) = convert(
        &source,
        Box::new(target),
        &ConvertOptions::default(),
        &|_| {},
    ) {
        panic!("convert to qed failed: {e}");
    }
    if let Err(e) = out.commit() {
        panic!("commit of the qed output failed: {e}");
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

/// Maps all of `img` and reads up to `MAX_READ` bytes of it.
fn exercise_image(img: &dyn DiskImage) {
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
