//! The convert engine end to end: random sparse sources converted to raw and qcow2 (plain,
//! zlib, zstd), read back with our reader and compared and checked with qemu-img; the writes
//! recorded to the output reproduce the file; failures leave no destination; empty huge images
//! are instant.

use std::os::unix::fs::FileExt;
use std::path::Path;

use proptest::prelude::*;
use strata_disk::qcow2::{CreateOptions, Qcow2Target};
use strata_disk::{
    Compression, ConvertOptions, ConvertSummary, ConvertTarget, DiskError, DiskImage, Extent,
    ExtentKind, OpenOptions, Output, RawImage, RawTarget, convert,
};
use strata_model::DiskFormat;

use crate::fixtures;
use crate::recording::{Recorded, Recording};
use crate::write::{have_qemu_img, qemu_check_clean, qemu_compare};

#[derive(Debug, Clone, Copy, PartialEq)]
enum Out {
    Raw,
    Qcow2 { cluster: u64 },
    Zlib,
    Zstd,
}

/// The options of a conversion to `out` (compression for the compressed kinds).
fn options_for(out: Out) -> ConvertOptions {
    ConvertOptions {
        chunk_size: 1 << 20,
        compression: match out {
            Out::Zlib => Some(Compression::ZLIB),
            Out::Zstd => Some(Compression::ZSTD),
            Out::Raw | Out::Qcow2 { .. } => None,
        },
        ..ConvertOptions::default()
    }
}

/// A target of kind `out` writing into `output`.
fn target(output: &mut dyn Output, out: Out, size: u64) -> Box<dyn ConvertTarget + '_> {
    match out {
        Out::Raw => Box::new(RawTarget::create(output, size).unwrap()),
        Out::Qcow2 { cluster } => {
            let c = CreateOptions {
                cluster_size: cluster,
                ..CreateOptions::new(size)
            };
            Box::new(Qcow2Target::create(output, &c).unwrap())
        }
        Out::Zlib | Out::Zstd => {
            let c = CreateOptions {
                compression: options_for(out).compression,
                ..CreateOptions::new(size)
            };
            Box::new(Qcow2Target::create(output, &c).unwrap())
        }
    }
}

/// Converts `source` to `path` as `out` with `options`, reporting progress to `progress`, and
/// commits the output.
fn run(
    source: &dyn DiskImage,
    path: &Path,
    out: Out,
    size: u64,
    options: &ConvertOptions,
    progress: &dyn Fn(strata_disk::Progress),
) -> Result<(ConvertSummary, Recorded), DiskError> {
    let mut output = Recording::create(path);
    let summary = convert(source, target(&mut output, out, size), options, progress)?;
    Ok((summary, output.commit()))
}

fn read_all(img: &dyn DiskImage) -> Vec<u8> {
    let mut v = vec![0u8; img.virtual_size() as usize];
    img.read_at(&mut v, 0).unwrap();
    v
}

fn open(path: &Path) -> Box<dyn DiskImage> {
    strata_disk::open(path, &OpenOptions::default())
        .unwrap()
        .image
}

/// Writes a sparse raw source from `(offset, len, kind)`: kind 0 = explicit zeros, 1 = text,
/// 2 = noise.
fn make_source(path: &Path, size: u64, writes: &[(u64, usize, u8)]) -> Vec<u8> {
    let f = std::fs::File::create(path).unwrap();
    f.set_len(size).unwrap();
    let mut model = vec![0u8; size as usize];
    let mut x = 0x2545f4914f6cdd1du64;
    for &(off, len, kind) in writes {
        let len = len.min((size - off) as usize);
        let buf: Vec<u8> = (0..len)
            .map(|i| match kind {
                0 => 0,
                1 => b"the quick brown fox "[i % 20],
                _ => {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    x as u8
                }
            })
            .collect();
        f.write_all_at(&buf, off).unwrap();
        model[off as usize..off as usize + len].copy_from_slice(&buf);
    }
    model
}

fn check_roundtrip(dir: &Path, size: u64, writes: &[(u64, usize, u8)], qemu: bool) {
    let src = dir.join("src.raw");
    let model = make_source(&src, size, writes);
    let source = RawImage::from_file(std::fs::File::open(&src).unwrap()).unwrap();
    for out in [
        Out::Raw,
        Out::Qcow2 { cluster: 65536 },
        Out::Qcow2 { cluster: 4096 },
        Out::Zlib,
        Out::Zstd,
    ] {
        let dst = dir.join(format!("out-{out:?}"));
        let (summary, recorded) =
            run(&source, &dst, out, size, &options_for(out), &|_| {}).unwrap();
        recorded.assert_reproduces_the_file();
        assert_eq!(summary.file_len, recorded.committed.len);
        let back = open(&dst);
        let all = read_all(back.as_ref());
        assert!(all.len() as u64 == size.next_multiple_of(512) || out == Out::Raw);
        assert!(all[model.len()..].iter().all(|&b| b == 0));
        assert!(
            all[..model.len()] == model[..],
            "{out:?} reads back differently"
        );
        if qemu {
            let fmt = if out == Out::Raw { "raw" } else { "qcow2" };
            qemu_compare(&src, "raw", &dst, fmt);
            if fmt == "qcow2" {
                qemu_check_clean(&dst);
            }
        }
        std::fs::remove_file(&dst).unwrap();
    }
}

fn writes() -> impl Strategy<Value = Vec<(u64, usize, u8)>> {
    prop::collection::vec((0u64..(6 << 20), 1usize..400_000, 0u8..3), 0..10)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 6, ..ProptestConfig::default() })]

    #[test]
    fn random_sparse_sources_roundtrip(w in writes(), tail in 0u64..70_000) {
        let dir = tempfile::tempdir().unwrap();
        let qemu = have_qemu_img("random_sparse_sources_roundtrip");
        // Sizes not aligned to the cluster exercise the last partial cluster.
        check_roundtrip(dir.path(), (6 << 20) + tail, &w, qemu);
    }
}

#[test]
fn fixed_pattern_roundtrips_across_regions() {
    // 4 KiB clusters: one L2 table maps 2 MiB, so data spans many L2 regions.
    let dir = tempfile::tempdir().unwrap();
    let qemu = have_qemu_img("fixed_pattern_roundtrips_across_regions");
    let w = [
        (0, 5000, 2),
        (2 << 20, 300_000, 1),
        ((2 << 20) + 65536, 65536, 0),
        ((9 << 20) - 10, 10, 2),
    ];
    check_roundtrip(dir.path(), 9 << 20, &w, qemu);
}

#[test]
fn empty_huge_image_is_instant_and_reads_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("empty.raw");
    std::fs::File::create(&src)
        .unwrap()
        .set_len(100 << 30)
        .unwrap();
    let source = RawImage::from_file(std::fs::File::open(&src).unwrap()).unwrap();
    let dst = dir.path().join("empty.qcow2");
    let start = std::time::Instant::now();
    let out = Out::Qcow2 { cluster: 65536 };
    let (s, _) = run(&source, &dst, out, 100 << 30, &options_for(out), &|_| {}).unwrap();
    assert!(start.elapsed().as_secs() < 5, "{:?}", start.elapsed());
    assert_eq!(s.bytes_read, 0);
    assert!(s.file_len <= 0x40000, "{}", s.file_len);
    if have_qemu_img("empty_huge_image") {
        qemu_check_clean(&dst);
        qemu_compare(&src, "raw", &dst, "qcow2");
    }
}

#[test]
fn progress_reaches_the_end_and_writes_are_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src.raw");
    make_source(&src, 4 << 20, &[(1 << 20, 100_000, 1)]);
    let source = RawImage::from_file(std::fs::File::open(&src).unwrap()).unwrap();
    let dst = dir.path().join("out.qcow2");
    let seen = std::cell::RefCell::new(Vec::new());
    let (s, recorded) = run(
        &source,
        &dst,
        Out::Zlib,
        4 << 20,
        &options_for(Out::Zlib),
        &|p| seen.borrow_mut().push(p),
    )
    .unwrap();
    let seen = seen.into_inner();
    assert_eq!(
        seen.last().map(|p| (p.done, p.total)),
        Some((4 << 20, 4 << 20))
    );
    assert!(seen.windows(2).all(|w| w[0].done <= w[1].done));
    recorded.assert_reproduces_the_file();
    assert!(
        !recorded.in_file_order(),
        "compressed qcow2 writes its header last"
    );
    assert_eq!(
        s.bytes_read, 102_400,
        "only the data extent is read (4 KiB-aligned by the filesystem)"
    );
}

/// A source that fails to read past `fail_at`.
struct Failing {
    inner: RawImage,
    fail_at: u64,
}

impl DiskImage for Failing {
    fn format(&self) -> DiskFormat {
        DiskFormat::Raw
    }
    fn virtual_size(&self) -> u64 {
        self.inner.virtual_size()
    }
    fn read_at(&self, buf: &mut [u8], offset: u64) -> Result<(), DiskError> {
        if offset + buf.len() as u64 > self.fail_at {
            return Err(DiskError::io("read", std::io::Error::other("injected")));
        }
        self.inner.read_at(buf, offset)
    }
    fn map(&self, offset: u64, max_len: u64) -> Result<Extent, DiskError> {
        Ok(Extent {
            offset,
            length: max_len.min(self.virtual_size() - offset),
            kind: ExtentKind::Data,
        })
    }
}

#[test]
fn failure_leaves_no_destination_and_no_temporary_file() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("out");
    std::fs::create_dir(&out_dir).unwrap();
    let source = Failing {
        inner: RawImage::from_bytes(vec![5u8; 8 << 20]),
        fail_at: 5 << 20,
    };
    for (out, workers) in [
        (Out::Raw, 0),
        (Out::Raw, 4),
        (Out::Qcow2 { cluster: 65536 }, 0),
        (Out::Qcow2 { cluster: 65536 }, 4),
        (Out::Zstd, 0),
    ] {
        let dst = out_dir.join("dst");
        // Small chunks: other workers are mid-chunk when one fails.
        let options = ConvertOptions {
            workers,
            chunk_size: 256 << 10,
            ..options_for(out)
        };
        let e = run(&source, &dst, out, 8 << 20, &options, &|_| {}).unwrap_err();
        assert!(e.to_string().contains("injected"), "{e}");
        assert!(!dst.exists());
        assert_eq!(
            std::fs::read_dir(&out_dir).unwrap().count(),
            0,
            "{out:?} with {workers} workers left a file"
        );
    }
}

#[test]
fn target_too_small_and_uncompressible_targets_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let source = RawImage::from_bytes(vec![1u8; 1 << 20]);
    let options = options_for(Out::Raw);
    let small = dir.path().join("small");
    let e = run(&source, &small, Out::Raw, 4096, &options, &|_| {}).unwrap_err();
    assert_eq!(e.kind(), strata_disk::ErrorKind::InvalidRequest);
    let options = ConvertOptions {
        compression: Some(Compression::ZLIB),
        ..options
    };
    let raw = dir.path().join("raw");
    assert!(run(&source, &raw, Out::Raw, 1 << 20, &options, &|_| {}).is_err());
}

/// A fragmented source: small data extents (explicit zeros among them) with holes between.
fn fragmented(path: &Path, size: u64) -> Vec<u8> {
    fragmented_with(path, size, true)
}

/// [`fragmented`], without extents of explicit zeros when `zeros` is false.
fn fragmented_with(path: &Path, size: u64, zeros: bool) -> Vec<u8> {
    let mut writes = Vec::new();
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let mut off = 0u64;
    while off < size {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let len = 512 + (x % 150_000) as usize;
        writes.push((off, len, (x % 3) as u8 + u8::from(!zeros)));
        off += len as u64 + (x >> 40) % 200_000;
    }
    writes.retain(|w| w.0 < size);
    make_source(path, size, &writes)
}

#[test]
fn parallel_workers_write_the_same_file_in_any_order() {
    let dir = tempfile::tempdir().unwrap();
    let qemu = have_qemu_img("parallel_workers_write_the_same_file_in_any_order");
    let size = (12 << 20) + 4608;
    let src = dir.path().join("src.raw");
    let model = fragmented(&src, size);
    let source = RawImage::from_file(std::fs::File::open(&src).unwrap()).unwrap();
    for out in [
        Out::Raw,
        Out::Qcow2 { cluster: 65536 },
        Out::Qcow2 { cluster: 4096 },
    ] {
        let mut first: Option<Vec<u8>> = None;
        // One worker, then many with chunks small enough that they finish out of order and
        // that one chunk gathers several data ranges.
        for (workers, chunk_size) in [(1, 8 << 20), (4, 1), (4, 300_000), (3, 1 << 20)] {
            let dst = dir
                .path()
                .join(format!("out-{out:?}-{workers}-{chunk_size}"));
            let options = ConvertOptions {
                workers,
                chunk_size,
                ..options_for(out)
            };
            let seen = std::cell::RefCell::new(Vec::new());
            let (_, recorded) = run(&source, &dst, out, size, &options, &|p| {
                seen.borrow_mut().push(p);
            })
            .unwrap();
            let seen = seen.into_inner();
            assert!(seen.windows(2).all(|w| w[0].done <= w[1].done));
            assert_eq!(seen.last().map(|p| p.done), Some(size));
            recorded.assert_reproduces_the_file();
            // Raw output is written in file order; qcow2 output drops the clusters of the
            // explicit zeros when the data is complete, rewriting tables before the data (see
            // qcow2_writes_come_in_file_order_when_no_planned_cluster_is_zeros).
            assert!(
                recorded.in_file_order() || out != Out::Raw,
                "{out:?} {workers} workers, chunk {chunk_size}: writes are recorded in file order"
            );
            let bytes = std::fs::read(&dst).unwrap();
            // Same layout whatever the order of the writes.
            match &first {
                None => first = Some(bytes),
                Some(f) => assert!(*f == bytes, "{out:?}: output depends on the workers"),
            }
            let all = read_all(open(&dst).as_ref());
            assert!(
                all[..model.len()] == model[..],
                "{out:?} reads back differently"
            );
            if qemu {
                let fmt = if out == Out::Raw { "raw" } else { "qcow2" };
                qemu_compare(&src, "raw", &dst, fmt);
                if fmt == "qcow2" {
                    qemu_check_clean(&dst);
                }
            }
            std::fs::remove_file(&dst).unwrap();
        }
    }
}

/// An output that hashes what is recorded does it in one pass when the writes come in file
/// order: uncompressed qcow2 output does, whatever the workers, when every cluster the source's
/// block status promised holds data (no cluster to drop at the end).
#[test]
fn qcow2_writes_come_in_file_order_when_no_planned_cluster_is_zeros() {
    let dir = tempfile::tempdir().unwrap();
    let size = (6 << 20) + 4608;
    let src = dir.path().join("src.raw");
    let model = fragmented_with(&src, size, false);
    let source = RawImage::from_file(std::fs::File::open(&src).unwrap()).unwrap();
    for out in [Out::Qcow2 { cluster: 65536 }, Out::Qcow2 { cluster: 4096 }] {
        for (workers, chunk_size) in [(1, 8 << 20), (4, 300_000)] {
            let dst = dir.path().join(format!("out-{workers}"));
            let options = ConvertOptions {
                workers,
                chunk_size,
                ..options_for(out)
            };
            let (_, recorded) = run(&source, &dst, out, size, &options, &|_| {}).unwrap();
            recorded.assert_reproduces_the_file();
            assert!(recorded.in_file_order(), "{out:?} {workers} workers");
            let all = read_all(open(&dst).as_ref());
            assert!(
                all[..model.len()] == model[..],
                "{out:?} reads back differently"
            );
            std::fs::remove_file(&dst).unwrap();
        }
    }
}

#[test]
fn qcow2_source_converts_in_parallel() {
    // A qcow2 source fragmented at cluster granularity: many small data ranges per chunk.
    let dir = tempfile::tempdir().unwrap();
    let size = 9 << 20;
    let src = dir.path().join("src.raw");
    let model = fragmented(&src, size);
    let source = RawImage::from_file(std::fs::File::open(&src).unwrap()).unwrap();
    let mid = dir.path().join("mid.qcow2");
    let out = Out::Qcow2 { cluster: 4096 };
    run(&source, &mid, out, size, &options_for(out), &|_| {}).unwrap();
    let qsource = open(&mid);
    for out in [Out::Raw, Out::Qcow2 { cluster: 65536 }, Out::Zstd] {
        let dst = dir.path().join(format!("out-{out:?}"));
        let options = ConvertOptions {
            workers: 4,
            chunk_size: 200_000,
            ..options_for(out)
        };
        let (_, recorded) = run(qsource.as_ref(), &dst, out, size, &options, &|_| {}).unwrap();
        recorded.assert_reproduces_the_file();
        let all = read_all(open(&dst).as_ref());
        assert!(
            all[..model.len()] == model[..],
            "{out:?} reads back differently"
        );
        assert!(all[model.len()..].iter().all(|&b| b == 0));
    }
}

/// A raw target whose placement writes through a read-only handle: every write of the
/// workers fails.
struct ReadOnlyPlacement<'o>(RawTarget<'o>, std::path::PathBuf);

impl ConvertTarget for ReadOnlyPlacement<'_> {
    fn format_name(&self) -> &'static str {
        self.0.format_name()
    }
    fn virtual_size(&self) -> u64 {
        self.0.virtual_size()
    }
    fn granularity(&self) -> u64 {
        self.0.granularity()
    }
    fn plan(&mut self, map: &strata_disk::convert::SourceMap<'_>) -> Result<(), DiskError> {
        self.0.plan(map)
    }
    fn placement(&mut self) -> Result<Option<strata_disk::convert::Placement>, DiskError> {
        let mut p = self.0.placement()?.unwrap();
        p.file = std::fs::File::open(&self.1).unwrap();
        Ok(Some(p))
    }
    fn write(&mut self, offset: u64, data: &[u8]) -> Result<(), DiskError> {
        self.0.write(offset, data)
    }
    fn record(&mut self, offset: u64, host: u64, data: &[u8]) -> Result<(), DiskError> {
        self.0.record(offset, host, data)
    }
    fn write_zeroes(&mut self, offset: u64, len: u64) -> Result<(), DiskError> {
        self.0.write_zeroes(offset, len)
    }
    fn finish(self: Box<Self>) -> Result<strata_disk::Finished, DiskError> {
        Box::new(self.0).finish()
    }
}

#[test]
fn failed_worker_write_leaves_no_destination_and_no_temporary_file() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("out");
    std::fs::create_dir(&out_dir).unwrap();
    let other = dir.path().join("other");
    std::fs::write(&other, b"").unwrap();
    let source = RawImage::from_bytes(vec![7u8; 4 << 20]);
    let dst = out_dir.join("dst.raw");
    let mut output = Recording::create(&dst);
    let t = ReadOnlyPlacement(RawTarget::create(&mut output, 4 << 20).unwrap(), other);
    let options = ConvertOptions {
        workers: 3,
        chunk_size: 256 << 10,
        ..ConvertOptions::default()
    };
    let e = convert(&source, Box::new(t), &options, &|_| {}).unwrap_err();
    drop(output);
    assert_eq!(e.kind(), strata_disk::ErrorKind::Io, "{e}");
    assert!(e.to_string().contains("write"), "{e}");
    assert!(!dst.exists());
    assert_eq!(std::fs::read_dir(&out_dir).unwrap().count(), 0);
}

/// A compressed qcow2 whose clusters expand to zeros (qemu compresses every cluster it is
/// given, zeros included: a few MiB of file can hold hundreds of GiB of them) converts at once
/// into a small file: its map calls those clusters zeros, so the engine plans, reads and writes
/// none of them (before, it decompressed every one and planned a file as large as they are).
#[test]
fn compressed_clusters_of_zeros_cost_nothing() {
    if !fixtures::have_qemu("compressed_clusters_of_zeros_cost_nothing") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("zeros.qcow2");
    let run_ok = |program: &str, args: &[&str]| {
        let st = std::process::Command::new(program)
            .args(args)
            .stdout(std::process::Stdio::null())
            .status()
            .unwrap();
        assert!(st.success(), "{program} {args:?}");
    };
    let src_arg = src.to_str().unwrap();
    // 512 GiB, 2 MiB clusters, zstd: 512 MiB of compressed zeros, one cluster of data.
    let opts = "cluster_size=2M,compression_type=zstd";
    run_ok(
        "qemu-img",
        &["create", "-q", "-f", "qcow2", "-o", opts, src_arg, "512G"],
    );
    run_ok(
        "qemu-io",
        &[
            "-f",
            "qcow2",
            "-c",
            "write -c -P 0 0 256M",
            "-c",
            "write -c -P 0 100G 256M",
            "-c",
            "write -c -P 0x5a 200G 2M",
            src_arg,
        ],
    );
    let source = open(&src);
    assert_eq!(source.virtual_size(), 512 << 30);
    let zeros = source.block_status(0, 1 << 30).unwrap();
    assert_eq!(zeros.kind, ExtentKind::Zero);
    assert!(zeros.length >= 256 << 20, "{zeros:?}");
    let data = source.block_status(200 << 30, 4 << 20).unwrap();
    assert_eq!((data.kind, data.length), (ExtentKind::Data, 2 << 20));
    let dst = dir.path().join("out.qcow2");
    let size = source.virtual_size();
    let out = Out::Qcow2 { cluster: 65536 };
    let (summary, recorded) = run(&*source, &dst, out, size, &options_for(out), &|_| {}).unwrap();
    assert_eq!(summary.bytes_read, 2 << 20, "only the data cluster is read");
    assert!(summary.file_len < 3 << 20, "{summary:?}");
    recorded.assert_reproduces_the_file();
    qemu_compare(&src, "qcow2", &dst, "qcow2");
    qemu_check_clean(&dst);
}
