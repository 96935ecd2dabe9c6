//! VMDK: every fixture variant reads as qemu reads it, images we write pass `qemu-img check`
//! and compare identical (the multi-file subformats too, named and laid out as qemu-img's
//! own), random round trips, and hostile files refused with their exact error.

use std::path::{Path, PathBuf};
use std::process::Command;

use proptest::prelude::*;
use strata_disk::error::DiskErrorSource;
use strata_disk::vmdk::{
    Subformat, VmdkCreateOptions, VmdkError, VmdkImage, VmdkSplitTarget, VmdkTarget, VmdkWriteError,
};
use strata_disk::{
    ConvertOptions, DiskError, DiskImage, Durability, ErrorKind, ExtentKind, OpenOptions, Output,
    OutputFile, RawImage,
};
use strata_model::DiskFormat;

use crate::fixtures;
use crate::recording::{Recording, convert_to};
use crate::write::{have_qemu_img, qemu_check_clean, qemu_compare};

fn vdir() -> PathBuf {
    fixtures::dir().join("vmdk")
}

const IMAGES: [&str; 7] = [
    "ms.vmdk",
    "so.vmdk",
    "zg.vmdk",
    "flat.vmdk",
    "split.vmdk",
    "splitflat.vmdk",
    "multi.vmdk",
];

fn vmdk_err(e: DiskError) -> VmdkError {
    match e.source {
        DiskErrorSource::Vmdk(v) => v,
        other => panic!("not a vmdk error: {other:?}"),
    }
}

fn qemu_raw(path: &Path, out: &Path) -> Vec<u8> {
    let st = Command::new("qemu-img")
        .args(["convert", "-f", "vmdk", "-O", "raw"])
        .arg(path)
        .arg(out)
        .status()
        .unwrap();
    assert!(st.success(), "qemu-img convert {}", path.display());
    std::fs::read(out).unwrap()
}

#[test]
fn fixtures_read_like_qemu() {
    let tmp = tempfile::tempdir().unwrap();
    let qemu = have_qemu_img("fixtures_read_like_qemu");
    for name in IMAGES {
        let path = vdir().join(name);
        let opened = fixtures::open(&path);
        assert_eq!(opened.format, DiskFormat::Vmdk, "{name}");
        let ours = fixtures::read_all(opened.image.as_ref());
        // Reads in odd pieces agree with the whole read.
        let mut piece = vec![0u8; 7000];
        opened.image.read_at(&mut piece, 60_000).unwrap();
        assert_eq!(piece, ours[60_000..67_000], "{name}");
        if qemu {
            let theirs = qemu_raw(&path, &tmp.path().join(format!("{name}.raw")));
            assert_eq!(ours.len(), theirs.len(), "{name}: virtual size");
            assert!(ours == theirs, "{name}: contents differ from qemu's");
        }
        // Past the virtual size is an invalid request.
        let size = opened.image.virtual_size();
        let e = opened.image.read_at(&mut [0u8; 2], size - 1).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidRequest);
    }
}

/// `(start, end, data)` runs of a map, adjacent runs of the same kind merged.
fn runs(items: impl IntoIterator<Item = (u64, u64, bool)>) -> Vec<(u64, u64, bool)> {
    let mut out: Vec<(u64, u64, bool)> = Vec::new();
    for (s, e, d) in items {
        match out.last_mut() {
            Some(last) if last.2 == d && last.1 == s => last.1 = e,
            _ => out.push((s, e, d)),
        }
    }
    out
}

#[test]
fn map_agrees_with_qemu() {
    if !have_qemu_img("map_agrees_with_qemu") {
        return;
    }
    // qemu reports holes of flat extents as `"data": true, "zero": true`: compare on `zero`.
    for name in IMAGES {
        let path = vdir().join(name);
        let image = fixtures::open(&path).image;
        let size = image.virtual_size();
        let mut ours = Vec::new();
        let mut pos = 0;
        while pos < size {
            let e = image.map(pos, size - pos).unwrap();
            assert!(e.length > 0 && e.offset == pos);
            ours.push((e.offset, e.end(), e.kind == ExtentKind::Data));
            pos = e.end();
        }
        let json = fixtures::qemu_json(&vdir(), &["map", "--output=json", name]);
        let theirs = json.as_array().unwrap().iter().map(|m| {
            let s = m["start"].as_u64().unwrap();
            (
                s,
                s + m["length"].as_u64().unwrap(),
                !m["zero"].as_bool().unwrap(),
            )
        });
        assert_eq!(runs(ours), runs(theirs), "{name}");
    }
    // Zeroed grains are Zero, unallocated ones Unallocated.
    let zg = fixtures::open(&vdir().join("zg.vmdk")).image;
    assert_eq!(zg.map(64 << 10, 1 << 20).unwrap().kind, ExtentKind::Zero);
    assert_eq!(zg.map(64 << 10, 1 << 20).unwrap().length, 128 << 10);
    assert_eq!(
        zg.map(256 << 10, 1 << 20).unwrap().kind,
        ExtentKind::Unallocated
    );
}

#[test]
fn single_files_open_from_memory_descriptors_do_not() {
    let opts = OpenOptions::default();
    for name in ["ms.vmdk", "so.vmdk"] {
        let bytes = std::fs::read(vdir().join(name)).unwrap();
        let from_mem = strata_disk::open_bytes(bytes, &opts).unwrap();
        let from_file = fixtures::open(&vdir().join(name));
        assert_eq!(
            fixtures::read_all(from_mem.image.as_ref()),
            fixtures::read_all(from_file.image.as_ref())
        );
    }
    let so = VmdkImage::from_bytes(std::fs::read(vdir().join("so.vmdk")).unwrap()).unwrap();
    assert_eq!(so.create_type(), "streamOptimized");
    let desc = std::fs::read(vdir().join("flat.vmdk")).unwrap();
    let e = strata_disk::open_bytes(desc, &opts).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidRequest);
    assert!(matches!(vmdk_err(e), VmdkError::DescriptorInMemory));
}

/// The descriptor file of a flat or split image, opened without its extent files beside it
/// (copied or imported alone), says that it is one and which extent it needs, about the file
/// given: not an I/O error about a file the user never named.
#[test]
fn a_descriptor_opened_alone_says_it_is_one() {
    for (name, create_type, extent) in [
        ("flat.vmdk", "monolithicFlat", "flat-flat.vmdk"),
        ("split.vmdk", "twoGbMaxExtentSparse", "split-s001.vmdk"),
        (
            "splitflat.vmdk",
            "twoGbMaxExtentFlat",
            "splitflat-f001.vmdk",
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let alone = dir.path().join(name);
        std::fs::copy(vdir().join(name), &alone).unwrap();
        let e = strata_disk::open(&alone, &OpenOptions::default()).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
        assert_eq!(e.path.as_deref(), Some(alone.as_path()), "{e}");
        let text = e.to_string();
        assert!(
            text.contains(&format!("VMDK descriptor file ({create_type})"))
                && text.contains(extent),
            "{text}"
        );
        match vmdk_err(e) {
            VmdkError::DescriptorExtent {
                create_type: c,
                name: n,
                ..
            } => assert_eq!((c, n.as_str()), (create_type, extent)),
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn multi_extent_read_only_and_zero_extents() {
    // RDONLY and ZERO lines (qemu skips both; we read them).
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(vdir().join("multi-a.raw"), dir.path().join("a.raw")).unwrap();
    std::fs::copy(vdir().join("ms.vmdk"), dir.path().join("s.vmdk")).unwrap();
    let desc = "# Disk DescriptorFile\nversion=1\nCID=1\nparentCID=ffffffff\n\
                createType=\"twoGbMaxExtentFlat\"\nRDONLY 8 FLAT \"a.raw\" 2\nRW 16 ZERO\n\
                RW 2048 SPARSE \"s.vmdk\"\n";
    let path = dir.path().join("d.vmdk");
    std::fs::write(&path, desc).unwrap();
    let img = fixtures::open(&path).image;
    assert_eq!(img.virtual_size(), (8 + 16 + 2048) * 512);
    let all = fixtures::read_all(img.as_ref());
    assert!(all[..4096].iter().all(|&b| b == 0o167));
    assert!(all[4096..12288].iter().all(|&b| b == 0));
    let sparse = fixtures::read_all(fixtures::open(&vdir().join("ms.vmdk")).image.as_ref());
    assert!(all[12288..] == sparse[..]);
    assert_eq!(img.map(4096, 1 << 20).unwrap().kind, ExtentKind::Zero);
}

fn pattern_source(size: u64, writes: &[(u64, u64, u8)]) -> Vec<u8> {
    let mut data = vec![0u8; size as usize];
    for &(off, len, seed) in writes {
        let end = (off + len).min(size) as usize;
        for (i, b) in data[off as usize..end].iter_mut().enumerate() {
            *b = match seed {
                0 => 0,
                1 => 0xa5,
                _ => (i as u8).wrapping_mul(seed).wrapping_add(i as u8 >> 3),
            };
        }
    }
    data
}

fn write_vmdk(dir: &Path, name: &str, src: &dyn DiskImage, sub: Subformat) -> PathBuf {
    let path = dir.join(name);
    let mut opts = VmdkCreateOptions::new(src.virtual_size());
    opts.subformat = sub;
    opts.cid = Some(0x1234abcd);
    let options = ConvertOptions {
        chunk_size: 1 << 20,
        ..ConvertOptions::default()
    };
    let (summary, recorded) = convert_to(src, &path, &options, |out| {
        Ok(Box::new(VmdkTarget::create(out, &opts)?))
    })
    .unwrap();
    recorded.assert_reproduces_the_file();
    assert_eq!(summary.file_len, recorded.committed.len, "{name}");
    path
}

fn check_roundtrip(dir: &Path, size: u64, writes: &[(u64, u64, u8)], qemu: bool) {
    let data = pattern_source(size, writes);
    let raw_path = dir.join("src.raw");
    std::fs::write(&raw_path, &data).unwrap();
    let src = RawImage::from_bytes(data.clone());
    for sub in [Subformat::MonolithicSparse, Subformat::StreamOptimized] {
        let path = write_vmdk(dir, &format!("{}.vmdk", sub.name()), &src, sub);
        let back =
            VmdkImage::open(Box::new(std::fs::File::open(&path).unwrap()), Some(&path)).unwrap();
        assert_eq!(back.create_type(), sub.name());
        assert_eq!(back.virtual_size(), size.next_multiple_of(512));
        let all = fixtures::read_all(&back);
        assert!(all[..size as usize] == data[..], "{sub:?} reads back");
        if qemu {
            qemu_check_clean(&path);
            qemu_compare(&raw_path, "raw", &path, "vmdk");
            let info = fixtures::qemu_json(dir, &["info", "--output=json", path.to_str().unwrap()]);
            assert_eq!(
                info["virtual-size"].as_u64(),
                Some(size.next_multiple_of(512))
            );
        }
    }
}

#[test]
fn writes_pass_qemu_check_and_compare() {
    let dir = tempfile::tempdir().unwrap();
    let qemu = have_qemu_img("writes_pass_qemu_check_and_compare");
    // Data in several grain tables (one maps 32 MiB), zero grains inside data, a partial
    // last sector and grain.
    let w = [
        (0, 5000, 2),
        (65536, 65536, 0),
        (33 << 20, 300_000, 3),
        ((70 << 20) - 10, 10, 1),
    ];
    check_roundtrip(dir.path(), (70 << 20) - 3, &w, qemu);
}

#[test]
fn written_layout_matches_qemu() {
    // The 1 MiB fixture written by us and by qemu: same header, same grain tables.
    let dir = tempfile::tempdir().unwrap();
    let src = fixtures::open(&vdir().join("ms.vmdk")).image;
    let ours = std::fs::read(write_vmdk(
        dir.path(),
        "o.vmdk",
        src.as_ref(),
        Subformat::MonolithicSparse,
    ))
    .unwrap();
    let theirs = std::fs::read(vdir().join("ms.vmdk")).unwrap();
    assert_eq!(ours[..512], theirs[..512], "header");
    assert_eq!(
        ours[0x2a00..0x10000],
        theirs[0x2a00..0x10000],
        "grain directories and tables"
    );
    assert_eq!(ours.len(), theirs.len());
    let text = String::from_utf8_lossy(&ours[512..1024]);
    assert!(text.contains("createType=\"monolithicSparse\""), "{text}");
    assert!(text.contains("RW 2048 SPARSE \"o.vmdk\""), "{text}");
    assert!(text.contains("ddb.geometry.cylinders = \"2\""), "{text}");
    let so = std::fs::read(write_vmdk(
        dir.path(),
        "s.vmdk",
        src.as_ref(),
        Subformat::StreamOptimized,
    ))
    .unwrap();
    let qso = std::fs::read(vdir().join("so.vmdk")).unwrap();
    assert_eq!(so[..512], qso[..512], "stream header");
}

#[test]
fn empty_huge_vmdk_writes_instantly() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("e.raw");
    std::fs::File::create(&src)
        .unwrap()
        .set_len(100 << 30)
        .unwrap();
    let img = strata_disk::open(&src, &OpenOptions::default())
        .unwrap()
        .image;
    let t = std::time::Instant::now();
    for sub in [Subformat::MonolithicSparse, Subformat::StreamOptimized] {
        let path = write_vmdk(
            dir.path(),
            &format!("{}.vmdk", sub.name()),
            img.as_ref(),
            sub,
        );
        let back =
            VmdkImage::open(Box::new(std::fs::File::open(&path).unwrap()), Some(&path)).unwrap();
        assert_eq!(back.virtual_size(), 100 << 30);
        assert_eq!(
            back.map(0, 100 << 30).unwrap().kind,
            ExtentKind::Unallocated
        );
    }
    assert!(t.elapsed().as_secs() < 20, "{:?}", t.elapsed());
}

fn writes() -> impl Strategy<Value = Vec<(u64, u64, u8)>> {
    prop::collection::vec((0u64..(3 << 20), 1u64..200_000, 0u8..4), 0..6)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 6, ..ProptestConfig::default() })]

    #[test]
    fn random_sparse_roundtrip(w in writes(), tail in 0u64..70_000) {
        let dir = tempfile::tempdir().unwrap();
        check_roundtrip(dir.path(), (3 << 20) + tail, &w, false);
    }
}

// Hostile inputs.

fn ms() -> Vec<u8> {
    std::fs::read(vdir().join("ms.vmdk")).unwrap()
}

fn put32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

fn put64(b: &mut [u8], at: usize, v: u64) {
    b[at..at + 8].copy_from_slice(&v.to_le_bytes());
}

fn open_err(bytes: Vec<u8>) -> VmdkError {
    vmdk_err(VmdkImage::from_bytes(bytes).map(|_| ()).unwrap_err())
}

/// Opens, then reads everything: the first error.
fn read_err(bytes: Vec<u8>) -> VmdkError {
    let img = VmdkImage::from_bytes(bytes).unwrap();
    let mut buf = vec![0u8; img.virtual_size() as usize];
    vmdk_err(img.read_at(&mut buf, 0).unwrap_err())
}

#[test]
fn header_field_mutations() {
    let mut b = ms();
    b[0] = b'X';
    assert!(matches!(open_err(b), VmdkError::BadMagic { .. }));
    let mut b = ms();
    b[..4].copy_from_slice(b"COWD");
    let e = open_err(b);
    assert!(
        matches!(&e, VmdkError::Unsupported { feature } if feature.contains("COWD")),
        "{e}"
    );
    let mut b = ms();
    put32(&mut b, 4, 4);
    assert!(matches!(open_err(b), VmdkError::Version { version: 4 }));
    for gtes in [0, 513, u32::MAX] {
        let mut b = ms();
        put32(&mut b, 44, gtes);
        assert!(matches!(open_err(b), VmdkError::GtesPerGt { gtes: g } if g == gtes));
    }
    for grain in [0, 0x20_0001, u64::MAX] {
        let mut b = ms();
        put64(&mut b, 20, grain);
        assert!(matches!(open_err(b), VmdkError::GrainSize { sectors, .. } if sectors == grain));
    }
    // A capacity needing more grain directory entries than qemu allows: refused before
    // anything is allocated.
    let mut b = ms();
    put64(&mut b, 12, u64::MAX / 2);
    put64(&mut b, 20, 1);
    put32(&mut b, 44, 1);
    assert!(matches!(open_err(b), VmdkError::Capacity { .. }));
    // Under the limit but larger than the file.
    let mut b = ms();
    put64(&mut b, 12, 1 << 40);
    assert!(matches!(
        open_err(b),
        VmdkError::PastEnd {
            what: "grain directory",
            ..
        }
    ));
    let mut b = ms();
    put64(&mut b, 56, 1 << 40);
    assert!(matches!(
        open_err(b),
        VmdkError::PastEnd {
            what: "grain directory",
            ..
        }
    ));
    let mut b = ms();
    put64(&mut b, 64, 1 << 20);
    assert!(matches!(
        open_err(b),
        VmdkError::PastEnd {
            what: "metadata overhead",
            ..
        }
    ));
    // Oversized embedded descriptor.
    let mut b = ms();
    put64(&mut b, 36, 1 << 20);
    assert!(matches!(open_err(b), VmdkError::DescriptorTooLarge { .. }));
    // A parent link in the embedded descriptor.
    let mut b = ms();
    let text =
        String::from_utf8_lossy(&b[512..1024]).replace("parentCID=ffffffff", "parentCID=12345678");
    b[512..512 + text.len()].copy_from_slice(text.as_bytes());
    let e = open_err(b);
    assert!(
        matches!(&e, VmdkError::Unsupported { feature } if feature.contains("parentCID")),
        "{e}"
    );
    // GD_AT_END without a footer.
    let mut b = ms();
    put64(&mut b, 56, u64::MAX);
    assert!(matches!(open_err(b), VmdkError::Footer { .. }));
    assert_eq!(vmdk_err_kind(ms(), 4, 9), ErrorKind::Unsupported);
}

fn vmdk_err_kind(mut b: Vec<u8>, at: usize, version: u32) -> ErrorKind {
    put32(&mut b, at, version);
    DiskError::from(open_err(b)).kind()
}

#[test]
fn tables_pointing_past_the_end() {
    // Grain directory entry (the GD is at sector 26, per qemu's layout) past the end.
    let mut b = ms();
    put32(&mut b, 26 * 512, 1 << 30);
    assert!(matches!(
        read_err(b),
        VmdkError::PastEnd {
            what: "grain table",
            ..
        }
    ));
    // First grain table entry (table at sector 27) past the end.
    let mut b = ms();
    put32(&mut b, 27 * 512, 1 << 30);
    let e = read_err(b);
    assert!(matches!(e, VmdkError::PastEnd { what: "grain", .. }), "{e}");
    assert_eq!(DiskError::from(e).kind(), ErrorKind::Corrupt);
}

/// Offset of the first grain marker of the stream fixture (its first grain table entry).
fn first_marker(b: &[u8]) -> usize {
    let gte = u32::from_le_bytes(b[27 * 512..27 * 512 + 4].try_into().unwrap());
    gte as usize * 512
}

#[test]
fn compressed_grains_are_bounded() {
    let so = std::fs::read(vdir().join("so.vmdk")).unwrap();
    let m = first_marker(&so);
    // Marker sizes: zero, above two grains, and past the end of the file.
    for (size, want_size_err) in [(0u32, true), (200_000, true), (100_000, false)] {
        let mut b = so.clone();
        put32(&mut b, m + 8, size);
        let e = read_err(b);
        if want_size_err {
            assert!(matches!(e, VmdkError::CompressedSize { .. }), "{size}: {e}");
        } else {
            let mut b2 = so.clone();
            put32(&mut b2, m + 8, size);
            b2.truncate(m + 4096);
            let e = read_err(b2);
            assert!(
                matches!(
                    e,
                    VmdkError::PastEnd {
                        what: "compressed grain",
                        ..
                    }
                ),
                "{e}"
            );
        }
    }
    // A decompression bomb: a grain that inflates to 1 MiB is cut at one grain and refused.
    let bomb = {
        use std::io::Write;
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
        z.write_all(&vec![0u8; 1 << 20]).unwrap();
        z.finish().unwrap()
    };
    let mut b = so.clone();
    put32(&mut b, m + 8, bomb.len() as u32);
    b[m + 12..m + 12 + bomb.len()].copy_from_slice(&bomb);
    let e = read_err(b);
    assert!(
        matches!(&e, VmdkError::Decompress { reason, .. } if reason.contains("more than one grain")),
        "{e}"
    );
    // Garbage instead of a zlib stream.
    let mut b = so.clone();
    b[m + 12..m + 40].fill(0xff);
    assert!(matches!(read_err(b), VmdkError::Decompress { .. }));
}

#[test]
fn stream_footer_is_read_like_qemu() {
    // A VMware-style stream: header with GD_AT_END, the real header in the footer.
    let mut b = std::fs::read(vdir().join("so.vmdk")).unwrap();
    let header: [u8; 512] = b[..512].try_into().unwrap();
    put64(&mut b, 56, u64::MAX);
    b.resize(b.len().next_multiple_of(512), 0);
    let mut footer = vec![0u8; 1536];
    put32(&mut footer, 12, 3);
    footer[512..1024].copy_from_slice(&header);
    b.extend_from_slice(&footer);
    let img = VmdkImage::from_bytes(b.clone()).unwrap();
    let want = fixtures::read_all(
        &VmdkImage::from_bytes(std::fs::read(vdir().join("so.vmdk")).unwrap()).unwrap(),
    );
    assert!(fixtures::read_all(&img) == want);
    // A footer without its marker.
    let n = b.len();
    put32(&mut b, n - 1536 + 12, 1);
    assert!(matches!(open_err(b), VmdkError::Footer { .. }));
}

fn descriptor_err(dir: &Path, text: &str) -> DiskError {
    let path = dir.join("d.vmdk");
    std::fs::write(&path, text).unwrap();
    let f = std::fs::File::open(&path).unwrap();
    VmdkImage::open(Box::new(f), Some(&path))
        .map(|_| ())
        .unwrap_err()
}

#[test]
fn extents_stay_in_the_descriptor_directory() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("d");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(root.path().join("x"), vec![7u8; 4096]).unwrap();
    std::os::unix::fs::symlink(root.path().join("x"), dir.join("link")).unwrap();
    let head = "createType=\"monolithicFlat\"\n";
    for name in ["../x", "/etc/passwd", "link"] {
        let e = descriptor_err(&dir, &format!("{head}RW 8 FLAT \"{name}\" 0\n"));
        assert_eq!(e.kind(), ErrorKind::Escape, "{name}: {e}");
        assert!(matches!(vmdk_err(e), VmdkError::ExtentOutside { name: n, .. } if n == name));
    }
    // Not a regular file.
    std::fs::create_dir(dir.join("sub")).unwrap();
    let e = descriptor_err(&dir, &format!("{head}RW 8 FLAT \"sub\" 0\n"));
    assert!(
        matches!(vmdk_err(e), VmdkError::Unsupported { feature } if feature.contains("regular file"))
    );
    // A missing extent is NotFound; extents resolve against the descriptor's directory, not
    // the working directory.
    let e = descriptor_err(&dir, &format!("{head}RW 8 FLAT \"nope\" 0\n"));
    assert_eq!(e.kind(), ErrorKind::NotFound);
    std::fs::write(dir.join("ok.raw"), vec![9u8; 4096]).unwrap();
    let path = dir.join("good.vmdk");
    std::fs::write(&path, format!("{head}RW 8 FLAT \"ok.raw\" 0\n")).unwrap();
    let img = VmdkImage::open(Box::new(std::fs::File::open(&path).unwrap()), Some(&path)).unwrap();
    assert!(fixtures::read_all(&img).iter().all(|&b| b == 9));
}

#[test]
fn descriptor_files_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut big = String::from("# Disk DescriptorFile\ncreateType=\"monolithicFlat\"\n");
    big.push_str(&"#".repeat(65 << 10));
    assert!(matches!(
        vmdk_err(descriptor_err(d, &big)),
        VmdkError::DescriptorTooLarge { .. }
    ));
    let cases: [(&str, &str); 6] = [
        (
            "createType=\"vmfs\"\nRW 8 FLAT \"f\" 0\n",
            "createType \"vmfs\"",
        ),
        ("createType=\"vmfs\"\nRW 8 VMFS \"f\"\n", "VMFS extents"),
        (
            "createType=\"monolithicFlat\"\nRW 8 VMFSSPARSE \"f\"\n",
            "VMFSSPARSE",
        ),
        (
            "createType=\"monolithicFlat\"\nparentFileNameHint=\"p.vmdk\"\nRW 8 FLAT \"f\" 0\n",
            "parentFileNameHint",
        ),
        (
            "createType=\"monolithicFlat\"\nparentCID=00000001\nRW 8 FLAT \"f\" 0\n",
            "parentCID",
        ),
        (
            "createType=\"monolithicFlat\"\nNOACCESS 8 FLAT \"f\" 0\n",
            "NOACCESS",
        ),
    ];
    for (text, feature) in cases {
        let e = descriptor_err(d, text);
        assert_eq!(e.kind(), ErrorKind::Unsupported, "{text}");
        assert!(
            matches!(vmdk_err(e), VmdkError::Unsupported { feature: f } if f.contains(feature)),
            "{text}"
        );
    }
    assert!(matches!(
        vmdk_err(descriptor_err(d, "createType=\"monolithicFlat\"\n")),
        VmdkError::DescriptorIncomplete { .. }
    ));
    assert!(matches!(
        vmdk_err(descriptor_err(
            d,
            "createType=\"monolithicFlat\"\nRW 8 FLAT \"f\"\n"
        )),
        VmdkError::DescriptorSyntax { line: 2, .. }
    ));
    let many = format!(
        "createType=\"monolithicFlat\"\n{}",
        "RW 1 ZERO\n".repeat(1025)
    );
    assert!(matches!(
        vmdk_err(descriptor_err(d, &many)),
        VmdkError::TooManyExtents { .. }
    ));
}

#[test]
fn qcow2_refuses_vmdk_deflate() {
    let dir = tempfile::tempdir().unwrap();
    let opts = strata_disk::qcow2::CreateOptions {
        compression: Some(strata_disk::Compression::DEFLATE),
        ..strata_disk::qcow2::CreateOptions::new(1 << 20)
    };
    let e = strata_disk::qcow2::Qcow2Target::create(
        &mut Recording::create(&dir.path().join("x.qcow2")),
        &opts,
    )
    .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unsupported);
    assert!(e.to_string().contains("deflate"), "{e}");
}

/// A descriptor that does not start with `# Disk DescriptorFile` (written by hand, or by a
/// tool that puts other comments first) is still a VMDK descriptor, found as qemu finds it:
/// not a raw disk of a few hundred bytes.
#[test]
fn a_descriptor_without_its_usual_first_line_is_probed_as_vmdk() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        vdir().join("flat-flat.vmdk"),
        dir.path().join("flat-flat.vmdk"),
    )
    .unwrap();
    let text = std::fs::read_to_string(vdir().join("flat.vmdk")).unwrap();
    for first in ["", "# written by hand\n", "  \n"] {
        let body = text.replacen("# Disk DescriptorFile\n", first, 1);
        let path = dir.path().join("flat.vmdk");
        std::fs::write(&path, &body).unwrap();
        let opened = strata_disk::open(&path, &OpenOptions::default()).unwrap();
        assert_eq!(opened.format, DiskFormat::Vmdk, "{first:?}");
        assert_eq!(opened.image.virtual_size(), 256 << 10, "{first:?}");
        if have_qemu_img("a_descriptor_without_its_usual_first_line_is_probed_as_vmdk") {
            let info = fixtures::qemu_json(dir.path(), &["info", "--output=json", "flat.vmdk"]);
            assert_eq!(info["format"], "vmdk", "{first:?}");
        }
    }
}

// ---- the multi-file subformats ----

/// Converts `source` into a multi-file VMDK at `descriptor` (extents beside it), committing the
/// extents then the descriptor as a caller must; returns the extent files' names.
pub(crate) fn write_split(
    source: &dyn DiskImage,
    descriptor: &Path,
    opts: &VmdkCreateOptions,
) -> Vec<String> {
    let name = descriptor.file_name().unwrap().to_str().unwrap();
    let files = opts.extent_files(name).unwrap();
    let mut out = OutputFile::create(descriptor, Durability::Volatile).unwrap();
    let mut extents: Vec<OutputFile> = files
        .iter()
        .map(|f| {
            OutputFile::create(&descriptor.with_file_name(&f.name), Durability::Volatile).unwrap()
        })
        .collect();
    let outs: Vec<&mut dyn Output> = extents.iter_mut().map(|o| o as &mut dyn Output).collect();
    let target = VmdkSplitTarget::create(&mut out, outs, opts).unwrap();
    strata_disk::convert(
        source,
        Box::new(target),
        &ConvertOptions::default(),
        &|_| {},
    )
    .unwrap();
    for e in extents {
        e.commit().unwrap();
    }
    out.commit().unwrap();
    files.into_iter().map(|f| f.name).collect()
}

/// The names of the files in `dir`, sorted.
fn names_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    v.sort();
    v
}

/// The descriptor text, without its `CID=` line (random) and its zero padding.
fn descriptor_text(path: &Path) -> String {
    let bytes = std::fs::read(path).unwrap();
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    String::from_utf8(bytes[..end].to_vec())
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with("CID="))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn multi_file_subformats_are_written_as_qemu_img_writes_them() {
    let tmp = tempfile::tempdir().unwrap();
    let gib = 1u64 << 30;
    // Data at the start, across the 2 GiB split and near the end.
    let writes: [(u64, usize, u8); 3] = [
        (0, 12 << 10, 1),
        ((2 * gib) - 4096, 8192, 2),
        ((4 * gib) + 100, 5000, 3),
    ];
    let qemu = have_qemu_img("multi_file_subformats");
    for (i, (subformat, size)) in [
        (Subformat::MonolithicFlat, (3 << 20) + 512),
        (Subformat::TwoGbMaxExtentFlat, 1 << 20),
        (Subformat::TwoGbMaxExtentSparse, 1 << 20),
        (Subformat::TwoGbMaxExtentFlat, (5 * gib) - 512),
        (Subformat::TwoGbMaxExtentSparse, (5 * gib) - 512),
    ]
    .into_iter()
    .enumerate()
    {
        let ours_dir = tmp.path().join(format!("ours{i}"));
        std::fs::create_dir(&ours_dir).unwrap();
        let src = tmp.path().join(format!("src{i}.raw"));
        crate::blockfmt::make_raw(&src, size, &writes);
        let source = crate::blockfmt::open(&src);
        let opts = VmdkCreateOptions {
            subformat,
            ..VmdkCreateOptions::new(size)
        };
        let descriptor = ours_dir.join("disk.vmdk");
        let extents = write_split(&*source, &descriptor, &opts);
        let mut expected_names = extents.clone();
        expected_names.push("disk.vmdk".to_owned());
        expected_names.sort();
        assert_eq!(names_in(&ours_dir), expected_names, "{}", subformat.name());
        // Our reader: the descriptor, its extents, the data where it was written.
        let opened = strata_disk::open(&descriptor, &OpenOptions::default()).unwrap();
        assert_eq!(opened.format, DiskFormat::Vmdk);
        assert_eq!(opened.image.virtual_size(), size);
        for &(offset, len, _) in &writes {
            if offset >= size {
                continue;
            }
            let len = (len as u64).min(size - offset) as usize;
            let mut ours = vec![0u8; len];
            opened.image.read_at(&mut ours, offset).unwrap();
            let mut theirs = vec![0u8; len];
            source.read_at(&mut theirs, offset).unwrap();
            assert!(ours == theirs, "{} at {offset}", subformat.name());
        }
        if !qemu {
            continue;
        }
        qemu_check_clean(&descriptor);
        qemu_compare(&src, "raw", &descriptor, "vmdk");
        let info = fixtures::qemu_json(&ours_dir, &["info", "--output=json", "disk.vmdk"]);
        assert_eq!(info["virtual-size"].as_u64(), Some(size));
        let specific = &info["format-specific"]["data"];
        assert_eq!(specific["create-type"].as_str(), Some(subformat.name()));
        assert_eq!(specific["extents"].as_array().unwrap().len(), extents.len());
        // qemu-img's own: the same files, of the same sizes, and the same descriptor but
        // for its random CID.
        let theirs_dir = tmp.path().join(format!("qemu{i}"));
        std::fs::create_dir(&theirs_dir).unwrap();
        let theirs = theirs_dir.join("disk.vmdk");
        let st = Command::new("qemu-img")
            .args(["convert", "-f", "raw", "-O", "vmdk", "-o"])
            .arg(format!("subformat={}", subformat.name()))
            .arg(&src)
            .arg(&theirs)
            .status()
            .unwrap();
        assert!(st.success());
        assert_eq!(
            names_in(&theirs_dir),
            names_in(&ours_dir),
            "{}",
            subformat.name()
        );
        for name in names_in(&ours_dir) {
            let len = |d: &Path| std::fs::metadata(d.join(&name)).unwrap().len();
            assert_eq!(len(&ours_dir), len(&theirs_dir), "{name}");
        }
        assert_eq!(descriptor_text(&descriptor), descriptor_text(&theirs));
        // The same layout: qemu-img map's extents, host offsets included (file names but
        // for their directory).
        let map = |dir: &Path| {
            let mut json = fixtures::qemu_json(dir, &["map", "--output=json", "disk.vmdk"]);
            for e in json.as_array_mut().unwrap() {
                if let Some(f) = e.get_mut("filename") {
                    let name = Path::new(f.as_str().unwrap()).file_name().unwrap();
                    *f = serde_json::Value::from(name.to_str().unwrap());
                }
            }
            json
        };
        assert_eq!(map(&ours_dir), map(&theirs_dir), "{}", subformat.name());
    }
}

#[test]
fn extent_files_are_named_as_qemu_names_them() {
    let gib = 1u64 << 30;
    let names = |subformat, size, name: &str| -> Vec<(String, u64)> {
        VmdkCreateOptions {
            subformat,
            ..VmdkCreateOptions::new(size)
        }
        .extent_files(name)
        .unwrap()
        .into_iter()
        .map(|f| (f.name, f.size))
        .collect()
    };
    assert_eq!(names(Subformat::MonolithicSparse, gib, "a.vmdk"), vec![]);
    assert_eq!(
        names(Subformat::MonolithicFlat, 1000, "a.b.vmdk"),
        vec![("a.b-flat.vmdk".to_owned(), 1024)]
    );
    assert_eq!(
        names(Subformat::TwoGbMaxExtentFlat, 5 * gib, "disk"),
        vec![
            ("disk-f001".to_owned(), 2 * gib),
            ("disk-f002".to_owned(), 2 * gib),
            ("disk-f003".to_owned(), gib)
        ]
    );
    assert_eq!(
        names(Subformat::TwoGbMaxExtentSparse, 2 * gib, "x.vmdk"),
        vec![("x-s001.vmdk".to_owned(), 2 * gib)]
    );
    let e = VmdkCreateOptions {
        subformat: Subformat::TwoGbMaxExtentFlat,
        ..VmdkCreateOptions::new(u64::MAX / 2)
    }
    .extent_files("x.vmdk")
    .unwrap_err();
    assert!(
        matches!(e, VmdkWriteError::TooManyExtents { max: 1024, .. }),
        "{e}"
    );
    // The single-file writer refuses them, naming what is missing.
    let dir = tempfile::tempdir().unwrap();
    let opts = VmdkCreateOptions {
        subformat: Subformat::MonolithicFlat,
        ..VmdkCreateOptions::new(1 << 20)
    };
    let e =
        VmdkTarget::create(&mut Recording::create(&dir.path().join("x.vmdk")), &opts).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidRequest);
    assert!(
        e.to_string()
            .contains("monolithicFlat needs 1 extent outputs"),
        "{e}"
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 6, ..ProptestConfig::default() })]

    #[test]
    fn multi_file_subformats_roundtrip(w in writes(), tail in 0u64..70_000, which in 0usize..3) {
        let dir = tempfile::tempdir().unwrap();
        let size = (3 << 20) + tail;
        let source = RawImage::from_bytes(pattern_source(size, &w));
        let subformat = [
            Subformat::MonolithicFlat,
            Subformat::TwoGbMaxExtentFlat,
            Subformat::TwoGbMaxExtentSparse,
        ][which];
        let opts = VmdkCreateOptions { subformat, ..VmdkCreateOptions::new(size) };
        let descriptor = dir.path().join("p.vmdk");
        write_split(&source, &descriptor, &opts);
        let back = strata_disk::open(&descriptor, &OpenOptions::default()).unwrap().image;
        let mut expected = pattern_source(size, &w);
        expected.resize(back.virtual_size() as usize, 0);
        prop_assert!(fixtures::read_all(&*back) == expected);
    }
}
