//! vpc (VHD): reading qemu's images like qemu, writing images qemu reads with the same virtual
//! size as its own, round trips, and hostile footers, dynamic headers and BATs.

use std::os::unix::fs::FileExt;
use std::path::Path;

use proptest::prelude::*;
use strata_disk::error::DiskErrorSource;
use strata_disk::vpc::{self, Subformat, VpcError, checksum};
use strata_disk::{
    DiskError, DiskImage, ErrorKind, ExtentKind, OpenOptions, RawImage, VpcCreateOptions, VpcImage,
    VpcTarget, open_bytes,
};
use strata_model::DiskFormat;

use crate::blockfmt::{
    assert_fixtures_read_like_qemu, assert_reads_like_qemu, convert, make_raw, open, open_as,
    pattern_bytes, qemu_convert, qemu_virtual_size, writes,
};
use crate::fixtures;
use crate::write::{have_qemu_img, qemu_compare};

fn vpc_err(e: DiskError) -> VpcError {
    match e.source {
        DiskErrorSource::Vpc(v) => v,
        other => panic!("not a vpc error: {other:?}"),
    }
}

#[test]
fn fixtures_read_like_qemu() {
    assert_fixtures_read_like_qemu("vpc", DiskFormat::Vpc, 5);
}

/// A raw guest disk whose last sector is a fixed VHD's footer (one claiming 1 MiB) is a raw
/// disk of its full 10 MiB: probing looks at the head of a file only, as qemu's does (qemu
/// probes a fixed VHD as raw too). Told vpc, it is the fixed VHD its footer describes.
#[test]
fn a_raw_disk_ending_in_a_vhd_footer_is_raw_at_its_full_size() {
    let dir = tempfile::tempdir().unwrap();
    let fixed = std::fs::read(fixtures::dir().join("vpc-fixed.vpc")).unwrap();
    let footer = &fixed[fixed.len() - 512..];
    let size = 10u64 << 20;
    let path = dir.path().join("disk.img");
    make_raw(&path, size, &[(0, 4096, 0x11), (5 << 20, 4096, 0x22)]);
    std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .write_all_at(footer, size - 512)
        .unwrap();
    let file = std::fs::File::open(&path).unwrap();
    assert_eq!(strata_disk::probe(&file).unwrap(), DiskFormat::Raw);
    let img = open(&path);
    assert_eq!(img.format(), DiskFormat::Raw);
    assert_eq!(img.virtual_size(), size);
    let vhd = open_as(&path, DiskFormat::Vpc);
    assert_eq!(vhd.virtual_size(), 2108 * 512);
    if have_qemu_img("a_raw_disk_ending_in_a_vhd_footer_is_raw_at_its_full_size") {
        // qemu agrees: probed, it is raw.
        let info = fixtures::qemu_json(dir.path(), &["info", "--output=json", "disk.img"]);
        assert_eq!(info["format"], "raw");
        assert_eq!(info["virtual-size"], size);
    }
}

#[test]
fn committed_fixtures_have_the_expected_layout() {
    let fixed = VpcImage::from_bytes(std::fs::read(fixtures::dir().join("vpc-fixed.vpc")).unwrap())
        .unwrap();
    assert!(fixed.is_fixed());
    // 1 MiB rounds up to the CHS geometry 31 × 4 × 17.
    assert_eq!(fixed.virtual_size(), 2108 * 512);
    let f = fixed.footer();
    assert_eq!((f.cylinders, f.heads, f.sectors), (31, 4, 17));
    assert_eq!(&f.creator_app, b"qemu");
    let dy = VpcImage::from_bytes(std::fs::read(fixtures::dir().join("vpc-dynamic.vpc")).unwrap())
        .unwrap();
    assert_eq!(dy.block_size(), Some(vpc::BLOCK_SIZE));
    assert_eq!(dy.map(0, u64::MAX).unwrap().kind, ExtentKind::Data);
    let e = dy.map(2 << 20, u64::MAX).unwrap();
    assert_eq!(e.kind, ExtentKind::Zero);
    assert_eq!(e.end(), dy.virtual_size());
}

/// Converts a raw file of `size` bytes holding `writes` with our writer and checks it with
/// our reader and, when installed, with qemu-img against qemu's own output for the source.
fn check_write(dir: &Path, size: u64, writes: &[(u64, usize, u8)], opts: &VpcCreateOptions) {
    let src = dir.join("src.raw");
    make_raw(&src, size, writes);
    let dst = dir.join("ours.vpc");
    let source = open(&src);
    let opts = VpcCreateOptions {
        size,
        ..opts.clone()
    };
    convert(&*source, &dst, |out| {
        Ok(Box::new(VpcTarget::create(out, &opts)?))
    });
    // A fixed VHD is vpc when the caller says so (probing reads only the head of a file).
    let ours = open_as(&dst, DiskFormat::Vpc);
    let expected_size = vpc::rounded_size(size, opts.force_size).unwrap();
    assert_eq!(ours.virtual_size(), expected_size);
    assert!(expected_size >= size);
    if size <= 16 << 20 {
        let mut expected = fixtures::read_all(&*source);
        expected.resize(expected_size as usize, 0);
        assert!(fixtures::read_all(&*ours) == expected);
    }
    if have_qemu_img("vpc check_write") {
        qemu_compare(&src, "raw", &dst, "vpc");
        let theirs = dir.join("qemu.vpc");
        let mut o = match opts.subformat {
            Subformat::Fixed => "subformat=fixed".to_owned(),
            Subformat::Dynamic => "subformat=dynamic".to_owned(),
        };
        if opts.force_size {
            o.push_str(",force_size=on");
        }
        qemu_convert(&src, &theirs, "vpc", &o);
        assert_eq!(
            qemu_virtual_size(&dst, "vpc"),
            qemu_virtual_size(&theirs, "vpc"),
            "size {size}"
        );
        assert_eq!(qemu_virtual_size(&dst, "vpc"), expected_size);
        if size <= 16 << 20 {
            assert_reads_like_qemu(&dst, DiskFormat::Vpc);
        }
    }
}

#[test]
fn writes_images_qemu_reads_with_its_own_virtual_size() {
    let dir = tempfile::tempdir().unwrap();
    let w = [
        (0, 12_288, 1),
        (100 << 10, 3000, 2),
        ((3 << 20) - 100, 5000, 3),
        (5 << 20, 1 << 20, 0),
    ];
    let sizes = [
        (1 << 20) + 512,
        10 << 20,
        (10 << 20) + 1,
        127 << 20,
        1000 << 20,
        4096,
    ];
    for subformat in [Subformat::Dynamic, Subformat::Fixed] {
        for force_size in [false, true] {
            let opts = VpcCreateOptions {
                subformat,
                force_size,
                ..VpcCreateOptions::new(0)
            };
            for &size in &sizes {
                check_write(dir.path(), size, &w, &opts);
            }
        }
    }
}

#[test]
fn zero_blocks_are_not_allocated() {
    let dir = tempfile::tempdir().unwrap();
    // Blocks 1 and 3 hold explicit zeros: planned from the block status, then dropped.
    let w = [
        (0, 4096, 1),
        (2 << 20, 2 << 20, 0),
        (4 << 20, 4096, 2),
        (6 << 20, 2 << 20, 0),
        ((8 << 20) + 8192, 4096, 3),
    ];
    check_write(dir.path(), 10 << 20, &w, &VpcCreateOptions::new(0));
    let img = open_as(&dir.path().join("ours.vpc"), DiskFormat::Vpc);
    let kinds: Vec<ExtentKind> = (0..5)
        .map(|b| img.map(b * (2 << 20), 1).unwrap().kind)
        .collect();
    use ExtentKind::{Data, Zero};
    assert_eq!(kinds, [Data, Zero, Data, Zero, Data]);
    // Three blocks and the metadata, nothing more.
    let len = std::fs::metadata(dir.path().join("ours.vpc"))
        .unwrap()
        .len();
    assert_eq!(len, 1536 + 512 + 3 * (512 + (2 << 20)) + 512);
}

#[test]
fn the_size_rule_follows_the_creator_as_in_qemu() {
    let bytes = std::fs::read(fixtures::dir().join("vpc-fixed.vpc")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let qemu = have_qemu_img("the_size_rule_follows_the_creator_as_in_qemu");
    for app in [
        b"qemu", b"vpc ", b"qem2", b"win ", b"d2v ", b"tap\0", b"xyz1",
    ] {
        let mut b = bytes.clone();
        let at = b.len() - 512;
        b[at + 28..at + 32].copy_from_slice(app);
        // A current size smaller than the geometry's, so that the two rules differ.
        b[at + 48..at + 56].copy_from_slice(&(1u64 << 20).to_be_bytes());
        refresh_footer(&mut b, at);
        let img = VpcImage::from_bytes(b.clone()).unwrap();
        let expected = if app == b"qemu" || app == b"vpc " {
            2108 * 512
        } else {
            1 << 20
        };
        assert_eq!(img.virtual_size(), expected, "{app:?}");
        if qemu {
            let p = dir.path().join("x.vpc");
            std::fs::write(&p, &b).unwrap();
            assert_eq!(qemu_virtual_size(&p, "vpc"), expected, "{app:?}");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 6, ..ProptestConfig::default() })]

    #[test]
    fn random_sparse_sources_roundtrip(w in writes(), tail in 0u64..70_000, fixed in any::<bool>()) {
        let dir = tempfile::tempdir().unwrap();
        let size = (6 << 20) + tail;
        let source = RawImage::from_bytes(pattern_bytes(size, &w));
        let path = dir.path().join("p.vpc");
        let opts = VpcCreateOptions {
            subformat: if fixed { Subformat::Fixed } else { Subformat::Dynamic },
            ..VpcCreateOptions::new(size)
        };
        convert(&source, &path, |out| Ok(Box::new(VpcTarget::create(out, &opts)?)));
        let back = open_as(&path, DiskFormat::Vpc);
        let mut expected = pattern_bytes(size, &w);
        expected.resize(back.virtual_size() as usize, 0);
        prop_assert!(fixtures::read_all(&*back) == expected);
    }
}

// Hostile footers, dynamic headers and BATs: one field of a valid image changed.

fn base() -> Vec<u8> {
    std::fs::read(fixtures::dir().join("vpc-dynamic.vpc")).unwrap()
}

fn put32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_be_bytes());
}

fn refresh_footer(b: &mut [u8], at: usize) {
    let sum = checksum(&b[at..at + 512], 64);
    put32(b, at + 64, sum);
}

fn refresh_dyn(b: &mut [u8]) {
    let sum = checksum(&b[512..1536], 36);
    put32(b, 512 + 36, sum);
}

/// The error of opening `bytes` as vpc (as `qemu-img -f vpc`: a fixed VHD is not probed).
fn err(bytes: Vec<u8>) -> VpcError {
    let options = OpenOptions {
        format: Some(DiskFormat::Vpc),
        ..OpenOptions::default()
    };
    let e = open_bytes(bytes, &options).map(|_| ()).unwrap_err();
    vpc_err(e)
}

#[test]
fn hostile_footers() {
    // A bad checksum names the computed and the stored value.
    let mut b = base();
    b[40] ^= 1;
    let expected = checksum(&b[..512], 64);
    let found = u32::from_be_bytes(b[64..68].try_into().unwrap());
    match err(b) {
        VpcError::FooterChecksum {
            expected: e,
            found: f,
        } => assert_eq!((e, f), (expected, found)),
        other => panic!("{other:?}"),
    }
    // Differencing and contradictory types.
    let mut b = base();
    put32(&mut b, 60, vpc::TYPE_DIFFERENCING);
    refresh_footer(&mut b, 0);
    assert!(matches!(err(b), VpcError::Differencing));
    let mut b = base();
    put32(&mut b, 60, vpc::TYPE_FIXED);
    refresh_footer(&mut b, 0);
    // A start footer that says fixed, without a fixed footer at the end.
    assert!(matches!(
        err(b),
        VpcError::DiskType {
            disk_type: 2,
            where_found: "at the start"
        }
    ));
    // A fixed image whose size passes its file.
    let mut f = std::fs::read(fixtures::dir().join("vpc-fixed.vpc")).unwrap();
    let at = f.len() - 512;
    f[at + 56..at + 58].copy_from_slice(&40u16.to_be_bytes());
    refresh_footer(&mut f, at);
    assert!(matches!(err(f), VpcError::FixedTruncated { .. }));
    // Above 2040 GiB.
    let mut b = base();
    b[28..32].copy_from_slice(b"qem2");
    b[48..56].copy_from_slice(&u64::MAX.to_be_bytes());
    refresh_footer(&mut b, 0);
    assert!(matches!(err(b), VpcError::TooLarge { .. }));
    // No footer at all: not vpc to the probe; opened as vpc, it is named.
    let mut b = base();
    b[..8].copy_from_slice(b"XXXXXXXX");
    let n = b.len();
    b[n - 512..n - 504].copy_from_slice(b"XXXXXXXX");
    let e = vpc_err(VpcImage::from_bytes(b).unwrap_err());
    assert!(matches!(e, VpcError::NoFooter));
    assert_eq!(e.kind(), ErrorKind::InvalidFormat);
    // A fixed image whose guest data starts with a (fixed) footer is read through its end
    // footer (qemu mistakes it for a dynamic image and fails).
    let mut f = std::fs::read(fixtures::dir().join("vpc-fixed.vpc")).unwrap();
    let n = f.len();
    let tail = f[n - 512..].to_vec();
    f[..512].copy_from_slice(&tail);
    let img = VpcImage::from_bytes(f).unwrap();
    assert!(img.is_fixed());
    let mut buf = [0u8; 8];
    img.read_at(&mut buf, 0).unwrap();
    assert_eq!(&buf, b"conectix");
    let e = vpc_err(VpcImage::from_bytes(vec![0; 100]).unwrap_err());
    assert!(matches!(e, VpcError::TooShort { len: 100 }));
}

#[test]
fn hostile_dynamic_headers_and_bats() {
    let mut b = base();
    b[600] ^= 1;
    let e = err(b);
    assert!(matches!(e, VpcError::DynHeaderChecksum { .. }));
    assert_eq!(e.kind(), ErrorKind::Corrupt);
    let mut b = base();
    b[512..520].copy_from_slice(b"cxsparsX");
    refresh_dyn(&mut b);
    assert!(matches!(err(b), VpcError::BadDynCookie));
    for bs in [0u32, 256, 3 << 20] {
        let mut b = base();
        put32(&mut b, 512 + 32, bs);
        refresh_dyn(&mut b);
        assert!(matches!(err(b), VpcError::BlockSize { block_size } if block_size == bs));
    }
    // The dynamic header's offset past the end.
    let mut b = base();
    b[16..24].copy_from_slice(&(1u64 << 40).to_be_bytes());
    refresh_footer(&mut b, 0);
    assert!(matches!(err(b), VpcError::DynHeaderPastEnd { .. }));
    // A BAT too small for the size, too large to read, or past the end of the file.
    let mut b = base();
    put32(&mut b, 512 + 28, 1);
    refresh_dyn(&mut b);
    assert!(matches!(err(b), VpcError::BatTooSmall { entries: 1, .. }));
    let mut b = base();
    put32(&mut b, 512 + 28, u32::MAX);
    refresh_dyn(&mut b);
    assert!(matches!(err(b), VpcError::TooManyBlocks { .. }));
    let mut b = base();
    put32(&mut b, 512 + 28, 1 << 20);
    refresh_dyn(&mut b);
    assert!(matches!(err(b), VpcError::BatPastEnd { .. }));
    // A BAT entry past the end of the file.
    let mut b = base();
    put32(&mut b, 1536 + 4, 0x0100_0000);
    let e = err(b);
    assert!(matches!(e, VpcError::BlockPastEnd { block: 1, .. }));
    assert_eq!(e.kind(), ErrorKind::Corrupt);
    // A truncated file.
    let mut b = base();
    let n = b.len();
    b.truncate(n - 1024);
    assert!(matches!(err(b), VpcError::BlockPastEnd { block: 0, .. }));
}

#[test]
fn sector_bitmaps_are_not_read_as_in_qemu() {
    // Clear block 0's bitmap: qemu still reads the block's sectors from the file, and so do we.
    let mut b = base();
    let sector = u32::from_be_bytes(b[1536..1540].try_into().unwrap()) as usize;
    b[sector * 512..sector * 512 + 512].fill(0);
    let img = VpcImage::from_bytes(b.clone()).unwrap();
    let mut buf = [0u8; 4];
    img.read_at(&mut buf, 0).unwrap();
    assert_eq!(buf, [0x11; 4]);
    assert_eq!(img.map(0, 1).unwrap().kind, ExtentKind::Data);
    if fixtures::have_qemu("sector_bitmaps_are_not_read_as_in_qemu") {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("nobitmap.vpc");
        std::fs::write(&p, &b).unwrap();
        assert_reads_like_qemu(&p, DiskFormat::Vpc);
    }
}
