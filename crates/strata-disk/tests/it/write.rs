//! qcow2 creation and edits, checked with our reader and, when installed, `qemu-img check`
//! and `qemu-img info`; qemu-img's write options (`extended_l2`, `lazy_refcounts`,
//! `preallocation`) through the convert engine, checked with `qemu-img check`, `compare`,
//! `info` and `map` against qemu-img's own output for the same options.

use std::path::Path;
use std::process::Command;

use proptest::prelude::*;
use strata_disk::error::DiskErrorSource;
use strata_disk::qcow2::edit::{resize, set_backing};
use strata_disk::qcow2::{
    Compat, CreateOptions, Preallocation, Qcow2Target, Qcow2WriteError, create_file as create,
};
use strata_disk::{Compression, ConvertOptions, DiskImage, ErrorKind, RawImage};
use strata_model::DiskFormat;

/// Whether qemu-img is installed (see [`strata_testkit::peer`]).
pub(crate) fn have_qemu_img(test: &str) -> bool {
    strata_testkit::have(test, &["qemu-img"])
}

/// `qemu-img check` must find no errors and no leaks.
pub(crate) fn qemu_check_clean(path: &Path) {
    let out = Command::new("qemu-img")
        .arg("check")
        .arg(path)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains("No errors were found"),
        "{}: {text}{}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `qemu-img compare` must find the images identical.
pub(crate) fn qemu_compare(a: &Path, fa: &str, b: &Path, fb: &str) {
    let out = Command::new("qemu-img")
        .args(["compare", "-f", fa, "-F", fb])
        .arg(a)
        .arg(b)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "compare {} {}: {}{}",
        a.display(),
        b.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn qemu_info(path: &Path) -> serde_json::Value {
    let out = Command::new("qemu-img")
        .args(["info", "--output=json"])
        .arg(path)
        .output()
        .unwrap();
    serde_json::from_slice(&out.stdout).unwrap()
}

fn open_qcow2(path: &Path) -> strata_disk::Qcow2Image {
    let f = std::fs::File::open(path).unwrap();
    strata_disk::Qcow2Image::open(Box::new(f)).unwrap()
}

fn write_error(e: &strata_disk::DiskError) -> &Qcow2WriteError {
    match &e.source {
        DiskErrorSource::Qcow2Write(w) => w,
        other => panic!("not a write error: {other:?}"),
    }
}

#[test]
fn create_matches_qemu_layout_and_options() {
    let dir = tempfile::tempdir().unwrap();
    let qemu = have_qemu_img("create_matches_qemu_layout_and_options");
    let cases = [
        CreateOptions::new(1 << 30),
        CreateOptions {
            compat: Compat::V0_10,
            ..CreateOptions::new(10 << 20)
        },
        CreateOptions {
            cluster_size: 512,
            refcount_bits: 1,
            ..CreateOptions::new(100 << 20)
        },
        CreateOptions {
            cluster_size: 2 << 20,
            refcount_bits: 64,
            ..CreateOptions::new(3 << 40)
        },
        CreateOptions {
            compression: Some(strata_disk::Compression::ZSTD),
            ..CreateOptions::new(1 << 20)
        },
    ];
    for (i, opts) in cases.iter().enumerate() {
        let path = dir.path().join(format!("{i}.qcow2"));
        let done = create(&path, opts).unwrap();
        assert_eq!(done.path, path);
        let img = open_qcow2(&path);
        assert_eq!(img.virtual_size(), opts.size);
        assert_eq!(img.header().cluster_size(), opts.cluster_size);
        assert_eq!(img.header().refcount_bits(), opts.refcount_bits);
        assert_eq!(
            img.header().version,
            if opts.compat == Compat::V0_10 { 2 } else { 3 }
        );
        if qemu {
            qemu_check_clean(&path);
            let info = qemu_info(&path);
            assert_eq!(info["virtual-size"], opts.size);
            assert_eq!(info["cluster-size"], opts.cluster_size);
        }
    }
    // The default image has qemu's layout: header, refcount table, refcount block, L1.
    let img = open_qcow2(&dir.path().join("0.qcow2"));
    assert_eq!(img.header().refcount_table_offset, 0x10000);
    assert_eq!(img.header().l1_table_offset, 0x30000);
    assert_eq!(img.file_len(), 0x40000);
}

#[test]
fn create_with_backing_records_the_format() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("base.qcow2");
    create(&base, &CreateOptions::new(1 << 20)).unwrap();
    let top = dir.path().join("top.qcow2");
    let opts = CreateOptions {
        backing: Some(("base.qcow2".into(), DiskFormat::Qcow2)),
        ..CreateOptions::new(1 << 20)
    };
    create(&top, &opts).unwrap();
    let img = open_qcow2(&top);
    assert_eq!(img.header().backing_file.as_deref(), Some("base.qcow2"));
    assert_eq!(img.header().backing_format.as_deref(), Some("qcow2"));
    if have_qemu_img("create_with_backing_records_the_format") {
        qemu_check_clean(&top);
        let info = qemu_info(&top);
        assert_eq!(info["backing-filename"], "base.qcow2");
        assert_eq!(info["backing-filename-format"], "qcow2");
    }
}

#[test]
fn invalid_options_are_refused_and_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.qcow2");
    let bad = [
        CreateOptions {
            cluster_size: 1000,
            ..CreateOptions::new(1 << 20)
        },
        CreateOptions {
            cluster_size: 4 << 20,
            ..CreateOptions::new(1 << 20)
        },
        CreateOptions {
            refcount_bits: 3,
            ..CreateOptions::new(1 << 20)
        },
        CreateOptions {
            compat: Compat::V0_10,
            refcount_bits: 8,
            ..CreateOptions::new(1 << 20)
        },
        CreateOptions {
            compat: Compat::V0_10,
            compression: Some(strata_disk::Compression::ZSTD),
            ..CreateOptions::new(1 << 20)
        },
        CreateOptions {
            cluster_size: 512,
            ..CreateOptions::new(1 << 50)
        },
        CreateOptions {
            backing: Some(("x".repeat(2000), DiskFormat::Raw)),
            ..CreateOptions::new(1 << 20)
        },
    ];
    for opts in &bad {
        let e = create(&path, opts).expect_err(&format!("{opts:?}"));
        assert_eq!(e.kind(), ErrorKind::InvalidRequest, "{e}");
        assert_eq!(e.path.as_deref(), Some(path.as_path()), "{e}");
        assert!(e.to_string().contains("bad.qcow2"), "{e}");
        assert!(!path.exists());
    }
    let e = create(&path, &bad[4]).unwrap_err();
    assert!(matches!(write_error(&e), Qcow2WriteError::ZstdNeedsV3));
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "no temporary file left"
    );
}

#[test]
fn set_backing_rewrites_the_header_and_refuses_names_that_do_not_fit() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("layer.qcow2");
    create(
        &path,
        &CreateOptions {
            cluster_size: 1024,
            ..CreateOptions::new(1 << 20)
        },
    )
    .unwrap();
    set_backing(&path, Some(("../data/ab/abcdef", DiskFormat::Qcow2))).unwrap();
    let img = open_qcow2(&path);
    assert_eq!(
        img.header().backing_file.as_deref(),
        Some("../data/ab/abcdef")
    );
    assert_eq!(img.header().backing_format.as_deref(), Some("qcow2"));
    let before = std::fs::read(&path).unwrap();
    // 1 KiB clusters: the header, qemu's feature table and a 600-byte name do not fit.
    let e = set_backing(&path, Some((&"n".repeat(600), DiskFormat::Raw))).unwrap_err();
    assert!(
        matches!(write_error(&e), Qcow2WriteError::BackingDoesNotFit { .. }),
        "{e}"
    );
    assert!(e.to_string().contains("layer.qcow2"));
    assert_eq!(std::fs::read(&path).unwrap(), before, "file unchanged");
    set_backing(&path, None).unwrap();
    assert_eq!(open_qcow2(&path).header().backing_file, None);
    if have_qemu_img("set_backing") {
        qemu_check_clean(&path);
    }
}

#[test]
fn resize_grows_in_place_and_by_moving_the_l1_table() {
    let dir = tempfile::tempdir().unwrap();
    let qemu = have_qemu_img("resize_grows");
    // 64 KiB clusters: one L1 cluster covers 4 TiB, growing stays in place.
    let a = dir.path().join("a.qcow2");
    create(&a, &CreateOptions::new(1 << 30)).unwrap();
    resize(&a, 100 << 30).unwrap();
    assert_eq!(open_qcow2(&a).virtual_size(), 100 << 30);
    // 512-byte clusters: 64 L1 entries per cluster of 32 KiB each: growing moves the L1.
    let b = dir.path().join("b.qcow2");
    create(
        &b,
        &CreateOptions {
            cluster_size: 512,
            ..CreateOptions::new(1 << 20)
        },
    )
    .unwrap();
    resize(&b, 64 << 20).unwrap();
    let img = open_qcow2(&b);
    assert_eq!(img.virtual_size(), 64 << 20);
    assert_eq!(img.header().l1_size, 2048);
    let e = resize(&b, 1 << 20).unwrap_err();
    assert!(matches!(write_error(&e), Qcow2WriteError::Shrink { .. }));
    if qemu {
        qemu_check_clean(&a);
        qemu_check_clean(&b);
        assert_eq!(qemu_info(&b)["virtual-size"], 64u64 << 20);
    }
}

// ---- qemu-img's write options ----

/// The guest bytes of the options' source: 4 MiB with data at 0, 100 KiB, 1 MiB and 3000 KiB.
const OPTION_WRITES: [(u64, usize, u8); 4] = [
    (0, 12 << 10, 1),
    (100 << 10, 3 << 10, 2),
    (1 << 20, 128 << 10, 3),
    (3000 << 10, 4 << 10, 4),
];

/// `qemu-img map --output=json` of `path`.
fn qemu_map(path: &Path) -> serde_json::Value {
    let out = Command::new("qemu-img")
        .args(["map", "--output=json", "-f", "qcow2"])
        .arg(path)
        .output()
        .unwrap();
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The guest ranges `map` (`qemu-img map --output=json`) says hold data, adjacent ones merged.
fn data_ranges(map: &serde_json::Value) -> Vec<(u64, u64)> {
    let mut ranges: Vec<(u64, u64)> = Vec::new();
    for range in map.as_array().unwrap() {
        if !range["data"].as_bool().unwrap() {
            continue;
        }
        let start = range["start"].as_u64().unwrap();
        let end = start + range["length"].as_u64().unwrap();
        match ranges.last_mut() {
            Some((_, e)) if *e == start => *e = end,
            _ => ranges.push((start, end)),
        }
    }
    ranges
}

/// The `-o` text of `opts`' write options, in qemu-img's spelling.
fn qemu_options(opts: &CreateOptions) -> String {
    format!(
        "cluster_size={},extended_l2={},lazy_refcounts={},preallocation={}",
        opts.cluster_size,
        if opts.extended_l2 { "on" } else { "off" },
        if opts.lazy_refcounts { "on" } else { "off" },
        opts.preallocation.name()
    )
}

#[test]
fn write_options_are_qemu_imgs() {
    let dir = tempfile::tempdir().unwrap();
    let size = 4u64 << 20;
    let base = CreateOptions::new(size);
    let cases = [
        CreateOptions {
            extended_l2: true,
            ..base.clone()
        },
        CreateOptions {
            extended_l2: true,
            cluster_size: 16 << 10,
            ..base.clone()
        },
        CreateOptions {
            lazy_refcounts: true,
            ..base.clone()
        },
        CreateOptions {
            preallocation: Preallocation::Metadata,
            ..base.clone()
        },
        CreateOptions {
            preallocation: Preallocation::Falloc,
            ..base.clone()
        },
        CreateOptions {
            preallocation: Preallocation::Full,
            ..base.clone()
        },
        CreateOptions {
            preallocation: Preallocation::Metadata,
            extended_l2: true,
            lazy_refcounts: true,
            ..base.clone()
        },
        CreateOptions {
            preallocation: Preallocation::Full,
            cluster_size: 4096,
            ..CreateOptions::new(size - 1000)
        },
        CreateOptions {
            extended_l2: true,
            compression: Some(Compression::ZLIB),
            ..base.clone()
        },
    ];
    let qemu = have_qemu_img("write_options_are_qemu_imgs");
    for (i, opts) in cases.iter().enumerate() {
        // A source of the image's size (the engine refuses a target smaller than its source).
        let src = dir.path().join(format!("src-{i}.raw"));
        crate::blockfmt::make_raw(&src, opts.size, &OPTION_WRITES);
        let source = crate::blockfmt::open(&src);
        let expected = crate::fixtures::read_all(&*source);
        let path = dir.path().join(format!("{i}.qcow2"));
        let options = ConvertOptions {
            compression: opts.compression,
            ..ConvertOptions::default()
        };
        let (_, recorded) = crate::recording::convert_to(&*source, &path, &options, |out| {
            Ok(Box::new(Qcow2Target::create(out, opts)?))
        })
        .unwrap();
        recorded.assert_reproduces_the_file();
        let img = open_qcow2(&path);
        let h = img.header();
        assert_eq!(
            (h.extended_l2(), h.lazy_refcounts(), h.dirty()),
            (opts.extended_l2, opts.lazy_refcounts, false)
        );
        let back = crate::fixtures::read_all(&img);
        assert!(back[..expected.len()] == expected[..], "{i}");
        assert!(back[expected.len()..].iter().all(|&b| b == 0), "{i}");
        let clusters = opts.size.div_ceil(opts.cluster_size) * opts.cluster_size;
        let blocks =
            std::os::unix::fs::MetadataExt::blocks(&std::fs::metadata(&path).unwrap()) * 512;
        match opts.preallocation {
            Preallocation::Falloc | Preallocation::Full => {
                assert!(blocks >= clusters, "{i}: {blocks}")
            }
            _ => assert!(blocks < clusters, "{i}: {blocks} bytes allocated"),
        }
        if !qemu {
            continue;
        }
        qemu_check_clean(&path);
        qemu_compare(&src, "raw", &path, "qcow2");
        let info = qemu_info(&path);
        let specific = &info["format-specific"]["data"];
        assert_eq!(specific["extended-l2"], opts.extended_l2, "{i}");
        assert_eq!(specific["lazy-refcounts"], opts.lazy_refcounts, "{i}");
        assert_eq!(info["virtual-size"], opts.size.next_multiple_of(512), "{i}");
        if opts.compression.is_some() {
            continue;
        }
        // qemu-img convert with the same options allocates what we allocate: the same map
        // (every cluster allocated with preallocation, the subclusters holding data allocated
        // with extended L2 entries). With one L2 table the host offsets are the same too; with
        // several, qemu puts the tables where its allocator finds room (between the regions'
        // data with preallocation=metadata, in the first refcount table's place and after the
        // data with falloc and full), we all of them before the data.
        let theirs = dir.path().join(format!("qemu-{i}.qcow2"));
        let st = Command::new("qemu-img")
            .args([
                "convert",
                "-f",
                "raw",
                "-O",
                "qcow2",
                "-o",
                &qemu_options(opts),
            ])
            .arg(&src)
            .arg(&theirs)
            .status()
            .unwrap();
        assert!(st.success());
        // qemu-img convert finds zeros in 4 KiB units (its default `-S 4k`), we in
        // subclusters: below 4 KiB subclusters, we leave more of them unallocated.
        let subcluster = opts.cluster_size / 32;
        let one_table = opts.size
            <= opts.cluster_size * opts.cluster_size / if opts.extended_l2 { 16 } else { 8 };
        let map = |path: &Path| {
            let mut map = qemu_map(path);
            if !one_table {
                for range in map.as_array_mut().unwrap() {
                    range.as_object_mut().unwrap().remove("offset");
                }
            }
            map
        };
        if opts.extended_l2 && subcluster < 4096 {
            continue;
        }
        if opts.preallocation == Preallocation::Off {
            // Without preallocation, qemu-img writes a data cluster whole where we leave its
            // 4 KiB blocks of zeros holes; finding more referenced clusters than allocated
            // space, qemu then reports those holes as zeros (its metadata preallocation
            // guess), and dropping clusters of zeros moves others: the same guest data,
            // compared without the zero flag and the host offsets.
            assert_eq!(
                data_ranges(&qemu_map(&path)),
                data_ranges(&qemu_map(&theirs)),
                "{i}: {}",
                qemu_options(opts)
            );
        } else {
            assert_eq!(map(&path), map(&theirs), "{i}: {}", qemu_options(opts));
        }
    }
}

#[test]
fn write_options_are_refused_as_qemu_refuses_them() {
    let dir = tempfile::tempdir().unwrap();
    let mut out = crate::recording::Recording::create(&dir.path().join("x.qcow2"));
    let refused = |opts: CreateOptions, out: &mut crate::recording::Recording| {
        let e = Qcow2Target::create(out, &opts).map(|_| ()).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidRequest, "{e}");
        write_error(&e).to_string()
    };
    let base = CreateOptions::new(1 << 20);
    assert_eq!(
        refused(
            CreateOptions {
                extended_l2: true,
                cluster_size: 4096,
                ..base.clone()
            },
            &mut out
        ),
        "extended_l2 needs clusters of 16 KiB or more, not 4096"
    );
    assert_eq!(
        refused(
            CreateOptions {
                lazy_refcounts: true,
                compat: Compat::V0_10,
                ..base.clone()
            },
            &mut out
        ),
        "lazy_refcounts needs compat 1.1"
    );
    assert_eq!(
        refused(
            CreateOptions {
                extended_l2: true,
                compat: Compat::V0_10,
                ..base.clone()
            },
            &mut out
        ),
        "extended_l2 needs compat 1.1"
    );
    assert_eq!(
        refused(
            CreateOptions {
                preallocation: Preallocation::Full,
                compression: Some(Compression::ZLIB),
                ..base.clone()
            },
            &mut out
        ),
        "preallocation=full and compression are not supported together"
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 8, ..ProptestConfig::default() })]

    #[test]
    fn write_options_roundtrip(
        w in crate::blockfmt::writes(),
        tail in 0u64..70_000,
        extended_l2 in any::<bool>(),
        lazy_refcounts in any::<bool>(),
        prealloc in 0u8..4,
        compress in any::<bool>(),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let size = (6 << 20) + tail;
        let source = RawImage::from_bytes(crate::blockfmt::pattern_bytes(size, &w));
        let preallocation = [
            Preallocation::Off,
            Preallocation::Metadata,
            Preallocation::Falloc,
            Preallocation::Full,
        ][prealloc as usize];
        let compression = (compress && preallocation == Preallocation::Off)
            .then_some(Compression::ZLIB);
        let opts = CreateOptions {
            cluster_size: 16 << 10,
            extended_l2,
            lazy_refcounts,
            preallocation,
            compression,
            ..CreateOptions::new(size)
        };
        let path = dir.path().join("p.qcow2");
        let options = ConvertOptions { compression, ..ConvertOptions::default() };
        let (_, recorded) = crate::recording::convert_to(&source, &path, &options, |out| {
            Ok(Box::new(Qcow2Target::create(out, &opts)?))
        })
        .unwrap();
        recorded.assert_reproduces_the_file();
        let back = crate::blockfmt::open(&path);
        let mut expected = crate::blockfmt::pattern_bytes(size, &w);
        expected.resize(back.virtual_size() as usize, 0);
        prop_assert!(crate::fixtures::read_all(&*back) == expected);
        let report = strata_disk::qcow2::check(&open_qcow2(&path), "p.qcow2").unwrap();
        prop_assert!(report.is_clean(), "{report:?}");
    }
}
