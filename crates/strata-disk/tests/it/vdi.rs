//! vdi: reading qemu's images like qemu, writing images qemu accepts, round trips, and hostile
//! headers and block maps.

use std::path::Path;

use proptest::prelude::*;
use strata_disk::error::DiskErrorSource;
use strata_disk::vdi::{self, VdiError};
use strata_disk::{
    DiskError, DiskImage, ErrorKind, OpenOptions, RawImage, VdiCreateOptions, VdiImage, VdiTarget,
    open_bytes,
};
use strata_model::DiskFormat;

use crate::blockfmt::{
    assert_fixtures_read_like_qemu, assert_reads_like_qemu, convert, make_raw, open, pattern_bytes,
    qemu_convert, qemu_virtual_size, writes,
};
use crate::fixtures;
use crate::recording::Recording;
use crate::write::{have_qemu_img, qemu_check_clean, qemu_compare};

fn vdi_err(e: DiskError) -> VdiError {
    match e.source {
        DiskErrorSource::Vdi(v) => v,
        other => panic!("not a vdi error: {other:?}"),
    }
}

#[test]
fn fixtures_read_like_qemu() {
    assert_fixtures_read_like_qemu("vdi", DiskFormat::Vdi, 4);
}

#[test]
fn committed_fixtures_have_the_expected_layout() {
    let st = VdiImage::from_bytes(std::fs::read(fixtures::dir().join("vdi-static.vdi")).unwrap())
        .unwrap();
    assert_eq!(st.header().image_type, vdi::TYPE_STATIC);
    assert_eq!(st.virtual_size(), 1 << 20);
    assert_eq!(st.block_map(), &[0]);
    let dy = VdiImage::from_bytes(std::fs::read(fixtures::dir().join("vdi-dynamic.vdi")).unwrap())
        .unwrap();
    assert_eq!(dy.header().image_type, vdi::TYPE_DYNAMIC);
    assert_eq!(dy.header().blocks_allocated, 3);
    // qemu-io's zero write into block 1 came last: slot 2.
    assert_eq!(dy.block_map(), &[0, 2, 1]);
    let mut buf = vec![0u8; 4];
    dy.read_at(&mut buf, 0).unwrap();
    assert_eq!(buf, [0x11; 4]);
    // Reading past the end is a request error.
    let e = dy.read_at(&mut buf, (3 << 20) - 2).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidRequest);
}

/// Writes `writes` into a raw file of `size` bytes, converts it with our writer, and checks
/// the result with our reader and, if installed, with qemu-img against qemu's own output.
fn check_write(dir: &Path, size: u64, writes: &[(u64, usize, u8)], static_image: bool) {
    let src = dir.join("src.raw");
    make_raw(&src, size, writes);
    let dst = dir.join(if static_image { "s.vdi" } else { "d.vdi" });
    let source = open(&src);
    let opts = VdiCreateOptions {
        static_image,
        ..VdiCreateOptions::new(size)
    };
    convert(&*source, &dst, |out| {
        Ok(Box::new(VdiTarget::create(out, &opts)?))
    });
    let ours = open(&dst);
    assert_eq!(ours.format(), DiskFormat::Vdi);
    assert_eq!(ours.virtual_size(), size.next_multiple_of(512));
    let mut expected = fixtures::read_all(&*source);
    expected.resize(size.next_multiple_of(512) as usize, 0);
    assert!(fixtures::read_all(&*ours) == expected);
    if have_qemu_img("vdi check_write") {
        qemu_check_clean(&dst);
        qemu_compare(&src, "raw", &dst, "vdi");
        let theirs = dir.join("qemu.vdi");
        qemu_convert(
            &src,
            &theirs,
            "vdi",
            if static_image { "static=on" } else { "" },
        );
        assert_eq!(
            qemu_virtual_size(&dst, "vdi"),
            qemu_virtual_size(&theirs, "vdi")
        );
        assert_reads_like_qemu(&dst, DiskFormat::Vdi);
    }
}

#[test]
fn writes_images_qemu_accepts() {
    let dir = tempfile::tempdir().unwrap();
    let w = [
        (0, 12_288, 1),
        (100 << 10, 3000, 2),
        ((3 << 20) - 100, 5000, 3),
        (5 << 20, 1 << 20, 0),
    ];
    for static_image in [false, true] {
        check_write(dir.path(), (7 << 20) + 1000, &w, static_image);
        check_write(dir.path(), 1 << 20, &[(0, 512, 9)], static_image);
        check_write(dir.path(), 4096, &[], static_image);
    }
}

#[test]
fn zero_blocks_are_not_allocated_and_the_rest_stays_packed() {
    let dir = tempfile::tempdir().unwrap();
    // Block 1 and 3 hold explicit zeros (data to the file system): planned, then dropped.
    let w = [
        (0, 4096, 1),
        (1 << 20, 1 << 20, 0),
        (2 << 20, 4096, 2),
        (3 << 20, 1 << 20, 0),
        ((4 << 20) + 8192, 4096, 3),
    ];
    check_write(dir.path(), 5 << 20, &w, false);
    let img = VdiImage::open(Box::new(
        std::fs::File::open(dir.path().join("d.vdi")).unwrap(),
    ))
    .unwrap();
    assert_eq!(img.header().blocks_allocated, 3);
    let map = img.block_map();
    assert_eq!(map[1], vdi::UNALLOCATED);
    assert_eq!(map[3], vdi::UNALLOCATED);
    let mut slots = vec![map[0], map[2], map[4]];
    slots.sort_unstable();
    assert_eq!(slots, [0, 1, 2]);
    let len = std::fs::metadata(dir.path().join("d.vdi")).unwrap().len();
    assert_eq!(len, u64::from(img.header().offset_data) + (3 << 20));
}

#[test]
fn empty_huge_image_is_only_metadata() {
    let dir = tempfile::tempdir().unwrap();
    let src = RawImage::from_bytes(Vec::new());
    let _ = src;
    let path = dir.path().join("big.vdi");
    let big = 100u64 << 30;
    let mut out = Recording::create(&path);
    let target = VdiTarget::create(&mut out, &VdiCreateOptions::new(big)).unwrap();
    let empty = strata_disk::convert::SourceMap::empty(big, 1 << 16);
    let mut t: Box<dyn strata_disk::ConvertTarget> = Box::new(target);
    t.plan(&empty).unwrap();
    t.finish().unwrap();
    out.commit().assert_reproduces_the_file();
    let img = open(&path);
    assert_eq!(img.virtual_size(), big);
    let e = img.map(0, big).unwrap();
    assert_eq!((e.length, e.kind), (big, strata_disk::ExtentKind::Zero));
    if have_qemu_img("empty_huge_image_is_only_metadata") {
        qemu_check_clean(&path);
        assert_eq!(qemu_virtual_size(&path, "vdi"), big);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 6, ..ProptestConfig::default() })]

    #[test]
    fn random_sparse_sources_roundtrip(w in writes(), tail in 0u64..70_000, st in any::<bool>()) {
        let dir = tempfile::tempdir().unwrap();
        let size = (6 << 20) + tail;
        let source = RawImage::from_bytes(pattern_bytes(size, &w));
        let path = dir.path().join("p.vdi");
        let opts = VdiCreateOptions { static_image: st, ..VdiCreateOptions::new(size) };
        convert(&source, &path, |out| Ok(Box::new(VdiTarget::create(out, &opts)?)));
        let back = open(&path);
        let mut expected = pattern_bytes(size, &w);
        expected.resize(size.next_multiple_of(512) as usize, 0);
        prop_assert!(fixtures::read_all(&*back) == expected);
    }
}

// Hostile headers and block maps: one field of a valid image changed.

fn base() -> Vec<u8> {
    std::fs::read(fixtures::dir().join("vdi-dynamic.vdi")).unwrap()
}

fn put32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

fn err(bytes: Vec<u8>) -> VdiError {
    // Through the probe, as any file is opened.
    let e = open_bytes(bytes, &OpenOptions::default())
        .map(|_| ())
        .unwrap_err();
    vdi_err(e)
}

#[test]
fn hostile_header_fields() {
    let mut b = base();
    put32(&mut b, 68, 0x0001_0000);
    assert!(matches!(err(b), VdiError::Version { major: 1, minor: 0 }));
    let mut b = base();
    put32(&mut b, 376, 2 << 20);
    assert!(matches!(err(b), VdiError::BlockSize { size: 0x20_0000 }));
    let mut b = base();
    put32(&mut b, 340, 513);
    assert!(matches!(
        err(b),
        VdiError::Unaligned {
            what: "block map",
            offset: 513
        }
    ));
    let mut b = base();
    put32(&mut b, 344, 1000);
    assert!(matches!(err(b), VdiError::Unaligned { what: "data", .. }));
    let mut b = base();
    put32(&mut b, 360, 4096);
    assert!(matches!(err(b), VdiError::SectorSize { size: 4096 }));
    let mut b = base();
    b[440] = 1;
    assert!(matches!(err(b), VdiError::HasParent { which: "parent" }));
    let mut b = base();
    put32(&mut b, 76, 4);
    assert!(matches!(err(b), VdiError::ImageType { image_type: 4 }));
    let mut b = base();
    b[368..376].copy_from_slice(&(4u64 << 20).to_le_bytes());
    assert!(matches!(err(b), VdiError::BlockMapTooSmall { .. }));
    let mut b = base();
    b[368..376].copy_from_slice(&u64::MAX.to_le_bytes());
    let e = err(b);
    assert!(matches!(e, VdiError::DiskTooLarge { .. }));
    // Input over a limit is malformed (docs/exit-codes.md).
    assert_eq!(e.kind(), ErrorKind::InvalidFormat);
    // A bad signature is not probed as vdi: opened as vdi, it is named.
    let mut b = base();
    put32(&mut b, 64, 0x1234_5678);
    let e = vdi_err(VdiImage::from_bytes(b).unwrap_err());
    assert!(matches!(e, VdiError::BadSignature { found: 0x1234_5678 }));
    assert_eq!(e.kind(), ErrorKind::InvalidFormat);
    let e = vdi_err(VdiImage::from_bytes(base()[..300].to_vec()).unwrap_err());
    assert!(matches!(e, VdiError::TooShort { len: 300 }));
}

#[test]
fn hostile_block_maps() {
    // Huge block counts are refused before the map is allocated or read.
    let mut b = base();
    put32(&mut b, 384, vdi::MAX_BLOCKS_IN_IMAGE);
    assert!(matches!(err(b), VdiError::TooManyBlocks { .. }));
    let mut b = base();
    put32(&mut b, 384, vdi::MAX_BLOCKS_IN_IMAGE + 1);
    assert!(matches!(err(b), VdiError::TooManyBlocks { .. }));
    // Within the cap but past the end of the file.
    let mut b = base();
    put32(&mut b, 384, 1 << 20);
    let e = err(b);
    assert!(matches!(e, VdiError::BlockMapPastEnd { .. }));
    assert_eq!(e.kind(), ErrorKind::Corrupt);
    // An entry naming a slot past the end of the file.
    let mut b = base();
    put32(&mut b, 512 + 4, 3);
    assert!(matches!(
        err(b),
        VdiError::BlockPastEnd {
            block: 1,
            slot: 3,
            ..
        }
    ));
    let mut b = base();
    put32(&mut b, 512, 0xffff_fffd);
    assert!(matches!(err(b), VdiError::BlockPastEnd { block: 0, .. }));
    // A truncated file: the last slot is cut.
    let mut b = base();
    b.truncate(b.len() - 1);
    assert!(matches!(err(b), VdiError::BlockPastEnd { .. }));
    // Discarded and unallocated entries read as zeros; two entries on one slot are accepted
    // (as qemu's open accepts them).
    let mut b = base();
    put32(&mut b, 512, vdi::DISCARDED);
    put32(&mut b, 512 + 8, 2);
    let img = VdiImage::from_bytes(b.clone()).unwrap();
    let mut buf = vec![1u8; 4096];
    img.read_at(&mut buf, 0).unwrap();
    assert!(buf.iter().all(|&x| x == 0));
    assert_eq!(img.map(0, 1).unwrap().kind, strata_disk::ExtentKind::Zero);
    if fixtures::have_qemu("hostile_block_maps") {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("odd.vdi");
        std::fs::write(&p, &b).unwrap();
        assert_reads_like_qemu(&p, DiskFormat::Vdi);
    }
}
