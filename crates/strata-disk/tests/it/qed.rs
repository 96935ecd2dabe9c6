//! qed: reading (plain, zero clusters, backing files of each kind, chains through qed) compared
//! with qemu-img; writing with QedTarget checked by `qemu-img check` and `compare`; a proptest
//! round trip; hostile headers and tables.

use std::os::unix::fs::FileExt;
use std::path::Path;

use proptest::prelude::*;
use strata_disk::error::DiskErrorSource;
use strata_disk::qed::header::{
    F_BACKING_FILE, F_BACKING_FORMAT_NO_PROBE, Header, MAX_TABLE_BYTES,
};
use strata_disk::qed::{QedCreateOptions, QedError, QedImage, QedTarget, QedWriteError};
use strata_disk::{
    ConvertOptions, DiskError, DiskImage, ErrorKind, ExtentKind, OpenError, OpenOptions, RawImage,
    open, open_bytes,
};
use strata_model::DiskFormat;

use crate::fixtures::{self, tiny_qcow2};
use crate::recording::{Recording, convert_to};
use crate::write::{have_qemu_img, qemu_check_clean, qemu_compare};

/// A change to an image's bytes.
type Mutation = Box<dyn Fn(&mut Vec<u8>)>;

const QED_FIXTURES: [&str; 4] = [
    "plain.qed",
    "chain/qedtop.qed",
    "chain/qedraw.qed",
    "chain/qedchain.qed",
];

fn qed_error(e: &DiskError) -> &QedError {
    match &e.source {
        DiskErrorSource::Qed(q) => q,
        other => panic!("not a qed error: {other:?}"),
    }
}

fn bytes_err(bytes: Vec<u8>) -> DiskError {
    QedImage::from_bytes(bytes).expect_err("opened")
}

#[test]
fn committed_fixtures_read_the_pattern_through_their_chains() {
    let dir = fixtures::dir();
    let plain = fixtures::open(&dir.join("plain.qed"));
    assert_eq!(plain.format, DiskFormat::Qed);
    let data = fixtures::read_all(&*plain.image);
    assert_eq!(data[0], 0x11);
    assert!(data[64 << 10..96 << 10].iter().all(|&b| b == 0));
    assert_eq!(data[316 << 10], 0x33);
    assert_eq!(data[(1 << 20) - 1], 0x44);
    // Zero clusters (L2 entry 1) map as zeros, unallocated ones as unallocated.
    assert_eq!(
        plain.image.map(64 << 10, 4096).unwrap().kind,
        ExtentKind::Zero
    );
    assert_eq!(
        plain.image.map(200 << 10, 4096).unwrap().kind,
        ExtentKind::Unallocated
    );

    // Over a qcow2, whose format is probed (qed records only raw).
    let top = fixtures::open(&dir.join("chain/qedtop.qed"));
    let backing = top.image.backing_file().unwrap();
    assert_eq!(
        (backing.name.as_str(), backing.format),
        ("base.qcow2", None)
    );
    assert_eq!(top.image.backing().unwrap().format(), DiskFormat::Qcow2);
    let data = fixtures::read_all(&*top.image);
    assert_eq!(data[0], 0, "zero cluster hides the base's data");
    assert_eq!(data[4096], 0x11, "from the base");
    assert_eq!(data[40 << 10], 0xa1);

    // Over raw, by the no-probe flag.
    let raw = fixtures::open(&dir.join("chain/qedraw.qed"));
    let backing = raw.image.backing_file().unwrap();
    assert_eq!(backing.format, Some(DiskFormat::Raw));
    assert_eq!(raw.image.backing().unwrap().format(), DiskFormat::Raw);
    let data = fixtures::read_all(&*raw.image);
    assert_eq!(data[0], 0xaa);
    assert_eq!(data[8 << 10], 0xa2);
    assert!(data[12 << 10..16 << 10].iter().all(|&b| b == 0));
    assert!(
        data[256 << 10..].iter().all(|&b| b == 0),
        "past the raw base's end"
    );

    // qed over qed over qcow2.
    let chain = fixtures::open(&dir.join("chain/qedchain.qed"));
    let mid = chain.image.backing().unwrap();
    assert_eq!(mid.format(), DiskFormat::Qed);
    assert_eq!(mid.backing().unwrap().format(), DiskFormat::Qcow2);
    let data = fixtures::read_all(&*chain.image);
    assert_eq!(data[44 << 10], 0xa3);
    assert_eq!(data[40 << 10], 0xa1);
    assert_eq!(data[4096], 0x11);
}

#[test]
fn reads_and_maps_match_qemu_img() {
    if !fixtures::have_qemu("qed reads_and_maps_match_qemu_img") {
        return;
    }
    let root = fixtures::generated();
    let out = tempfile::tempdir().unwrap();
    for name in QED_FIXTURES {
        let path = root.join(name);
        let raw = out.path().join("out.raw");
        let p = path.to_str().unwrap();
        fixtures::qemu_img(root, &["convert", "-O", "raw", p, raw.to_str().unwrap()]);
        let expected = std::fs::read(&raw).unwrap();
        let opened = fixtures::open(&path);
        assert!(fixtures::read_all(&*opened.image) == expected, "{name}");
        let mut buf = vec![0u8; 12345];
        opened.image.read_at(&mut buf, 4093).unwrap();
        assert_eq!(buf, expected[4093..4093 + 12345], "{name}");
        // The chain's view: qemu's data/zero against our block status.
        let json = fixtures::qemu_json(root, &["map", "--output=json", p]);
        for e in json.as_array().unwrap() {
            let (start, len) = (e["start"].as_u64().unwrap(), e["length"].as_u64().unwrap());
            let want = if e["data"].as_bool().unwrap() {
                ExtentKind::Data
            } else {
                ExtentKind::Zero
            };
            let mut pos = start;
            while pos < start + len {
                let got = opened.image.block_status(pos, start + len - pos).unwrap();
                assert_eq!(got.kind, want, "{name} at {pos}");
                pos = got.end();
            }
        }
    }
}

fn make_source(path: &Path, size: u64, writes: &[(u64, usize, u8)]) -> Vec<u8> {
    let f = std::fs::File::create(path).unwrap();
    f.set_len(size).unwrap();
    let mut model = vec![0u8; size as usize];
    for &(off, len, fill) in writes {
        let len = len.min((size - off) as usize);
        let buf: Vec<u8> = (0..len).map(|i| fill.wrapping_mul(i as u8 | 1)).collect();
        f.write_all_at(&buf, off).unwrap();
        model[off as usize..off as usize + len].copy_from_slice(&buf);
    }
    model
}

fn roundtrip(dir: &Path, size: u64, writes: &[(u64, usize, u8)], opts: &QedCreateOptions) {
    let src = dir.join("src.raw");
    let model = make_source(&src, size, writes);
    let source = RawImage::from_file(std::fs::File::open(&src).unwrap()).unwrap();
    let dst = dir.join("out.qed");
    let options = ConvertOptions {
        chunk_size: 1 << 20,
        ..ConvertOptions::default()
    };
    let (summary, recorded) = convert_to(&source, &dst, &options, |out| {
        Ok(Box::new(QedTarget::create(out, opts)?))
    })
    .unwrap();
    recorded.assert_reproduces_the_file();
    assert_eq!(summary.file_len, std::fs::metadata(&dst).unwrap().len());
    let back = open(&dst, &OpenOptions::default()).unwrap();
    assert_eq!(back.format, DiskFormat::Qed);
    let all = fixtures::read_all(&*back.image);
    assert_eq!(all.len() as u64, size.next_multiple_of(512));
    assert!(all[..model.len()] == model[..], "reads back differently");
    assert!(all[model.len()..].iter().all(|&b| b == 0));
    if have_qemu_img("qed roundtrip") {
        qemu_check_clean(&dst);
        qemu_compare(&src, "raw", &dst, "qed");
        let info = fixtures::qemu_json(dir, &["info", "--output=json", dst.to_str().unwrap()]);
        assert_eq!(
            info["virtual-size"].as_u64(),
            Some(size.next_multiple_of(512))
        );
    }
    std::fs::remove_file(&dst).unwrap();
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 6, ..ProptestConfig::default() })]

    #[test]
    fn random_sparse_sources_roundtrip(
        w in prop::collection::vec((0u64..(6 << 20), 1usize..300_000, 1u8..255), 0..10),
        tail in 0u64..70_000,
        small in any::<bool>(),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let opts = if small {
            QedCreateOptions { cluster_size: 4096, table_size: 2, ..QedCreateOptions::new((6 << 20) + tail) }
        } else {
            QedCreateOptions::new((6 << 20) + tail)
        };
        roundtrip(dir.path(), (6 << 20) + tail, &w, &opts);
    }
}

#[test]
fn data_across_many_l2_tables_roundtrips() {
    let dir = tempfile::tempdir().unwrap();
    // 4 KiB clusters and 2-cluster tables: one L2 table maps 4 MiB.
    let size = 20 << 20;
    let opts = QedCreateOptions {
        cluster_size: 4096,
        table_size: 2,
        ..QedCreateOptions::new(size)
    };
    let writes: Vec<(u64, usize, u8)> = (0..10)
        .map(|i| (i * (2 << 20) + 4095, 9000, 3 + i as u8))
        .collect();
    roundtrip(dir.path(), size, &writes, &opts);
}

#[test]
fn create_with_backing_records_the_name_and_raw_flag() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("base.raw"), vec![0x5au8; 1 << 20]).unwrap();
    let dst = dir.path().join("top.qed");
    let opts = QedCreateOptions {
        backing: Some(("base.raw".into(), DiskFormat::Raw)),
        ..QedCreateOptions::new(2 << 20)
    };
    strata_disk::qed::writer::create_file(&dst, &opts).unwrap();
    let img = QedImage::from_bytes(std::fs::read(&dst).unwrap()).unwrap();
    assert_eq!(
        img.header().features,
        F_BACKING_FILE | F_BACKING_FORMAT_NO_PROBE
    );
    let opened = fixtures::open(&dst);
    let data = fixtures::read_all(&*opened.image);
    assert!(data[..1 << 20].iter().all(|&b| b == 0x5a));
    assert!(data[1 << 20..].iter().all(|&b| b == 0));
    if have_qemu_img("create_with_backing") {
        qemu_check_clean(&dst);
        let info = fixtures::qemu_json(dir.path(), &["info", "--output=json", "top.qed"]);
        assert_eq!(info["backing-filename"].as_str(), Some("base.raw"));
        assert_eq!(info["backing-filename-format"].as_str(), Some("raw"));
    }
    // A qcow2 backing format is not recorded: probed on open.
    let dst2 = dir.path().join("top2.qed");
    let opts = QedCreateOptions {
        backing: Some(("top.qed".into(), DiskFormat::Qed)),
        ..QedCreateOptions::new(2 << 20)
    };
    strata_disk::qed::writer::create_file(&dst2, &opts).unwrap();
    let opened = fixtures::open(&dst2);
    assert_eq!(opened.image.backing().unwrap().format(), DiskFormat::Qed);
    assert_eq!(fixtures::read_all(&*opened.image)[0], 0x5a);
}

#[test]
fn invalid_create_options_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let dst = dir.path().join("x.qed");
    let cases = [
        QedCreateOptions {
            cluster_size: 1000,
            ..QedCreateOptions::new(1 << 20)
        },
        QedCreateOptions {
            cluster_size: 2048,
            ..QedCreateOptions::new(1 << 20)
        },
        QedCreateOptions {
            table_size: 1,
            ..QedCreateOptions::new(1 << 20)
        },
        QedCreateOptions {
            table_size: 32,
            ..QedCreateOptions::new(1 << 20)
        },
        QedCreateOptions {
            cluster_size: 4096,
            table_size: 2,
            ..QedCreateOptions::new(1 << 40)
        },
        QedCreateOptions {
            backing: Some(("x".repeat(5000), DiskFormat::Raw)),
            ..QedCreateOptions::new(1 << 20)
        },
    ];
    for (i, c) in cases.iter().enumerate() {
        let e = QedTarget::create(&mut Recording::create(&dst), c).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidRequest, "case {i}: {e}");
        let DiskErrorSource::QedWrite(w) = &e.source else {
            panic!("case {i}: {e}")
        };
        let expected = match i {
            0 | 1 => matches!(w, QedWriteError::ClusterSize { .. }),
            2 | 3 => matches!(w, QedWriteError::TableSize { .. }),
            4 => matches!(w, QedWriteError::TooLarge { .. }),
            _ => matches!(w, QedWriteError::BackingTooLong { .. }),
        };
        assert!(expected, "case {i}: {w}");
    }
    assert!(!dst.exists());
}

#[test]
fn empty_huge_image_is_instant() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("big.raw");
    std::fs::File::create(&src)
        .unwrap()
        .set_len(100 << 30)
        .unwrap();
    let source = RawImage::from_file(std::fs::File::open(&src).unwrap()).unwrap();
    let dst = dir.path().join("big.qed");
    let start = std::time::Instant::now();
    convert_to(&source, &dst, &ConvertOptions::default(), |out| {
        Ok(Box::new(QedTarget::create(
            out,
            &QedCreateOptions::new(100 << 30),
        )?))
    })
    .unwrap();
    assert!(start.elapsed().as_secs() < 5);
    let img = QedImage::from_bytes(std::fs::read(&dst).unwrap()).unwrap();
    assert_eq!(img.virtual_size(), 100 << 30);
    let e = img.map(0, u64::MAX).unwrap();
    assert_eq!((e.length, e.kind), (100 << 30, ExtentKind::Unallocated));
}

// ---- hostile input ----

/// A valid empty qed: 4 KiB clusters, 2-cluster tables, 1 MiB, L1 at 4096, file of 3 clusters.
fn tiny(backing: Option<&str>, raw: bool) -> Vec<u8> {
    let mut h = Header {
        cluster_size: 4096,
        table_size: 2,
        header_size: 1,
        features: 0,
        compat_features: 0,
        autoclear_features: 0,
        l1_table_offset: 4096,
        image_size: 1 << 20,
        backing_filename_offset: 0,
        backing_filename_size: 0,
    };
    if let Some(name) = backing {
        h.features |= F_BACKING_FILE;
        if raw {
            h.features |= F_BACKING_FORMAT_NO_PROBE;
        }
        h.backing_filename_offset = 64;
        h.backing_filename_size = name.len() as u32;
    }
    let mut bytes = h.to_bytes().to_vec();
    if let Some(name) = backing {
        bytes.extend_from_slice(name.as_bytes());
    }
    bytes.resize(3 * 4096, 0);
    bytes
}

fn set32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

fn set64(b: &mut [u8], at: usize, v: u64) {
    b[at..at + 8].copy_from_slice(&v.to_le_bytes());
}

#[test]
fn header_field_mutations_are_refused_with_the_exact_error() {
    assert!(QedImage::from_bytes(tiny(None, false)).is_ok());
    type Check = fn(&QedError) -> bool;
    let cases: Vec<(&str, Mutation, Check, ErrorKind)> = vec![
        (
            "magic",
            Box::new(|b| b[3] = b'X'),
            |e| matches!(e, QedError::BadMagic { .. }),
            ErrorKind::InvalidFormat,
        ),
        (
            "features",
            Box::new(|b| set64(b, 16, 0x18)),
            |e| matches!(e, QedError::UnknownFeatures { bits: 0x18 }),
            ErrorKind::Unsupported,
        ),
        (
            "cluster not pow2",
            Box::new(|b| set32(b, 4, 5000)),
            |e| matches!(e, QedError::ClusterSize { .. }),
            ErrorKind::InvalidFormat,
        ),
        (
            "cluster too small",
            Box::new(|b| set32(b, 4, 2048)),
            |e| matches!(e, QedError::ClusterSize { .. }),
            ErrorKind::InvalidFormat,
        ),
        (
            "table size",
            Box::new(|b| set32(b, 8, 3)),
            |e| matches!(e, QedError::TableSize { .. }),
            ErrorKind::InvalidFormat,
        ),
        (
            "table size 0",
            Box::new(|b| set32(b, 8, 0)),
            |e| matches!(e, QedError::TableSize { .. }),
            ErrorKind::InvalidFormat,
        ),
        (
            "huge tables",
            Box::new(|b| {
                set32(b, 4, 64 << 20);
                set32(b, 8, 16);
            }),
            |e| {
                matches!(
                    e,
                    QedError::TableTooLarge {
                        max: MAX_TABLE_BYTES,
                        ..
                    }
                )
            },
            // Input over a limit is malformed (docs/exit-codes.md).
            ErrorKind::InvalidFormat,
        ),
        (
            "header size 0",
            Box::new(|b| set32(b, 12, 0)),
            |e| matches!(e, QedError::HeaderSize { .. }),
            ErrorKind::InvalidFormat,
        ),
        (
            "size unaligned",
            Box::new(|b| set64(b, 48, 1000)),
            |e| matches!(e, QedError::ImageSize { .. }),
            ErrorKind::InvalidFormat,
        ),
        (
            "size too large",
            Box::new(|b| set64(b, 48, 1 << 50)),
            |e| matches!(e, QedError::ImageSize { .. }),
            ErrorKind::InvalidFormat,
        ),
        (
            "L1 past end",
            Box::new(|b| set64(b, 40, 1 << 40)),
            |e| matches!(e, QedError::L1Offset { .. }),
            ErrorKind::InvalidFormat,
        ),
        (
            "L1 unaligned",
            Box::new(|b| set64(b, 40, 4097)),
            |e| matches!(e, QedError::L1Offset { .. }),
            ErrorKind::InvalidFormat,
        ),
        (
            "L1 in header",
            Box::new(|b| set64(b, 40, 0)),
            |e| matches!(e, QedError::L1Offset { .. }),
            ErrorKind::InvalidFormat,
        ),
        (
            "L1 overflows",
            Box::new(|b| set64(b, 40, u64::MAX - 4095)),
            |e| matches!(e, QedError::L1Offset { .. }),
            ErrorKind::InvalidFormat,
        ),
        (
            "L1 straddles end",
            Box::new(|b| b.truncate(2 * 4096 + 100)),
            |e| matches!(e, QedError::L1Offset { .. }),
            ErrorKind::InvalidFormat,
        ),
        (
            "backing name past header",
            Box::new(|b| {
                set64(b, 16, F_BACKING_FILE);
                set32(b, 56, 4000);
                set32(b, 60, 200);
            }),
            |e| matches!(e, QedError::BackingNameOutside { .. }),
            ErrorKind::InvalidFormat,
        ),
        (
            "backing name offset huge",
            Box::new(|b| {
                set64(b, 16, F_BACKING_FILE);
                set32(b, 56, u32::MAX);
                set32(b, 60, u32::MAX);
            }),
            |e| matches!(e, QedError::BackingNameOutside { .. }),
            ErrorKind::InvalidFormat,
        ),
        (
            "backing name too long",
            Box::new(|b| {
                set64(b, 16, F_BACKING_FILE);
                set32(b, 12, 4);
                b.resize(8 * 4096, 0);
                set64(b, 40, 4 * 4096);
                set32(b, 56, 64);
                set32(b, 60, 5000);
            }),
            |e| matches!(e, QedError::BackingNameTooLong { .. }),
            ErrorKind::InvalidFormat,
        ),
        (
            "backing name not utf-8",
            Box::new(|b| {
                set64(b, 16, F_BACKING_FILE);
                set32(b, 56, 64);
                set32(b, 60, 2);
                b[64] = 0xff;
                b[65] = 0xfe;
            }),
            |e| matches!(e, QedError::BackingNameEncoding),
            ErrorKind::InvalidFormat,
        ),
        (
            "too short",
            Box::new(|b| b.truncate(40)),
            |e| matches!(e, QedError::TooShort { .. }),
            ErrorKind::InvalidFormat,
        ),
    ];
    for (name, mutate, check, kind) in cases {
        let mut b = tiny(None, false);
        mutate(&mut b);
        let e = bytes_err(b);
        assert!(check(qed_error(&e)), "{name}: {e}");
        assert_eq!(e.kind(), kind, "{name}");
    }
    // The need-check flag is read as qemu reads it for read-only opens: accepted.
    let mut b = tiny(None, false);
    set64(&mut b, 16, 0x02);
    assert!(QedImage::from_bytes(b).is_ok());
    // Unknown compat and autoclear bits are ignored, as in qemu.
    let mut b = tiny(None, false);
    set64(&mut b, 24, 0xff);
    set64(&mut b, 32, 0xff);
    assert!(QedImage::from_bytes(b).is_ok());
}

#[test]
fn tables_pointing_past_the_end_or_unaligned_are_corrupt() {
    // L1 entry 0 -> an L2 table past the end, then unaligned, then a 1-entry (not a table).
    for l2 in [1u64 << 40, 4096 + 17, 1, 8192 + 4096] {
        let mut b = tiny(None, false);
        set64(&mut b, 4096, l2);
        let img = QedImage::from_bytes(b).unwrap();
        let mut buf = [0u8; 512];
        let e = img.read_at(&mut buf, 0).unwrap_err();
        assert!(
            matches!(qed_error(&e), QedError::L2Offset { l1_index: 0, .. }),
            "{l2}: {e}"
        );
        assert_eq!(e.kind(), ErrorKind::Corrupt);
        assert!(img.map(0, 4096).is_err());
    }
    // A valid L2 table at 12288 whose entry points past the end, unaligned, at the end.
    for data in [1u64 << 40, 12800, 24576] {
        let mut b = tiny(None, false);
        b.resize(6 * 4096, 0);
        set64(&mut b, 4096, 3 * 4096);
        set64(&mut b, 3 * 4096, data);
        let img = QedImage::from_bytes(b).unwrap();
        let mut buf = [0u8; 512];
        let e = img.read_at(&mut buf, 0).unwrap_err();
        assert!(
            matches!(
                qed_error(&e),
                QedError::DataOffset {
                    guest_offset: 0,
                    ..
                }
            ),
            "{data}: {e}"
        );
        assert_eq!(e.kind(), ErrorKind::Corrupt);
    }
}

#[test]
fn reads_past_the_virtual_size_are_invalid_requests() {
    let img = QedImage::from_bytes(tiny(None, false)).unwrap();
    let mut buf = [0u8; 2];
    assert_eq!(
        img.read_at(&mut buf, (1 << 20) - 1).unwrap_err().kind(),
        ErrorKind::InvalidRequest
    );
    assert_eq!(
        img.map(1 << 20, 1).unwrap_err().kind(),
        ErrorKind::InvalidRequest
    );
}

#[test]
fn in_memory_images_with_a_backing_file_are_refused_unless_no_backing() {
    let e = open_bytes(tiny(Some("base.raw"), true), &OpenOptions::default()).unwrap_err();
    assert!(
        matches!(&e.source, DiskErrorSource::Open(OpenError::BackingInMemory { name }) if name == "base.raw"),
        "{e}"
    );
    let opts = OpenOptions {
        no_backing: true,
        ..OpenOptions::default()
    };
    let opened = open_bytes(tiny(Some("base.raw"), true), &opts).unwrap();
    assert_eq!(opened.format, DiskFormat::Qed);
}

#[test]
fn loops_through_qed_backing_files_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let write = |name: &str, bytes: Vec<u8>| std::fs::write(tmp.path().join(name), bytes).unwrap();
    // qed -> qed -> qed (a).
    write("a.qed", tiny(Some("b.qed"), false));
    write("b.qed", tiny(Some("a.qed"), false));
    let e = open(&tmp.path().join("a.qed"), &OpenOptions::default()).unwrap_err();
    assert!(
        matches!(&e.source, DiskErrorSource::Open(OpenError::Loop { path }) if path.ends_with("a.qed")),
        "{e}"
    );
    assert_eq!(e.kind(), ErrorKind::Escape);
    // Self-loop.
    write("c.qed", tiny(Some("./c.qed"), false));
    let e = open(&tmp.path().join("c.qed"), &OpenOptions::default()).unwrap_err();
    assert!(
        matches!(&e.source, DiskErrorSource::Open(OpenError::Loop { .. })),
        "{e}"
    );
    // Mixed: qcow2 -> qed -> qcow2 (the first).
    write("m.qcow2", tiny_qcow2(Some("n.qed"), Some("qed")));
    write("n.qed", tiny(Some("m.qcow2"), false));
    let e = open(&tmp.path().join("m.qcow2"), &OpenOptions::default()).unwrap_err();
    assert!(
        matches!(&e.source, DiskErrorSource::Open(OpenError::Loop { path }) if path.ends_with("m.qcow2")),
        "{e}"
    );
    // Outside the allowed directories, and too deep, by the same rules as qcow2.
    let sub = tmp.path().join("sub");
    std::fs::create_dir(&sub).unwrap();
    std::fs::write(sub.join("top.qed"), tiny(Some("../a.qed"), false)).unwrap();
    let e = open(&sub.join("top.qed"), &OpenOptions::default()).unwrap_err();
    assert!(
        matches!(
            &e.source,
            DiskErrorSource::Open(OpenError::OutsideAllowedDirs { .. })
        ),
        "{e}"
    );
    for i in 0..12 {
        write(
            &format!("d{i}.qed"),
            tiny(Some(&format!("d{}.qed", i + 1)), false),
        );
    }
    write("d12.qed", tiny(None, false));
    let e = open(&tmp.path().join("d0.qed"), &OpenOptions::default()).unwrap_err();
    assert!(
        matches!(
            &e.source,
            DiskErrorSource::Open(OpenError::TooDeep { max: 10 })
        ),
        "{e}"
    );
    // A missing backing file is NotFound.
    write("lost.qed", tiny(Some("nowhere.qcow2"), false));
    let e = open(&tmp.path().join("lost.qed"), &OpenOptions::default()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
}

#[test]
fn a_qcow2_over_a_qed_over_a_qcow2_reads_through_every_layer() {
    let tmp = tempfile::tempdir().unwrap();
    for name in ["base.qcow2", "qedtop.qed"] {
        std::fs::copy(
            fixtures::dir().join("chain").join(name),
            tmp.path().join(name),
        )
        .unwrap();
    }
    let top = tmp.path().join("top.qcow2");
    let opts = strata_disk::qcow2::CreateOptions {
        backing: Some(("qedtop.qed".into(), DiskFormat::Qed)),
        ..strata_disk::qcow2::CreateOptions::new(1 << 20)
    };
    strata_disk::qcow2::create_file(&top, &opts).unwrap();
    let opened = open(&top, &OpenOptions::default()).unwrap();
    let qed = opened.image.backing().unwrap();
    assert_eq!(qed.format(), DiskFormat::Qed);
    assert_eq!(qed.backing().unwrap().format(), DiskFormat::Qcow2);
    let data = fixtures::read_all(&*opened.image);
    assert_eq!((data[0], data[4096], data[40 << 10]), (0, 0x11, 0xa1));
    if fixtures::have_qemu("mixed chain") {
        let raw = tmp.path().join("out.raw");
        fixtures::qemu_img(
            tmp.path(),
            &["convert", "-O", "raw", "top.qcow2", "out.raw"],
        );
        assert!(std::fs::read(&raw).unwrap() == data);
    }
    // With the no-backing option only the top layer opens.
    let opts = OpenOptions {
        no_backing: true,
        ..OpenOptions::default()
    };
    assert!(open(&top, &opts).unwrap().image.backing().is_none());
}
