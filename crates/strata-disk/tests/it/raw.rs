//! Raw images: sparse-aware map, writes that keep holes, zeroing that punches holes, resize,
//! and random sparse patterns written and read back.

use std::fs::OpenOptions;

use proptest::prelude::*;
use strata_disk::{DiskImage, DiskImageMut, ExtentKind, RawImage};

fn sparse_file(len: u64) -> (tempfile::TempDir, std::path::PathBuf, RawImage) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("disk.raw");
    let f = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(&path)
        .unwrap();
    f.set_len(len).unwrap();
    let img = RawImage::from_file(f).unwrap();
    (dir, path, img)
}

/// The data extents of an image, merged.
fn data_extents(img: &dyn DiskImage) -> Vec<(u64, u64)> {
    let mut out: Vec<(u64, u64)> = Vec::new();
    let mut pos = 0;
    while pos < img.virtual_size() {
        let e = img.map(pos, u64::MAX).unwrap();
        assert_eq!(e.offset, pos);
        if e.kind == ExtentKind::Data {
            match out.last_mut() {
                Some(last) if last.1 == e.offset => last.1 = e.end(),
                _ => out.push((e.offset, e.end())),
            }
        }
        pos = e.end();
    }
    out
}

fn allocated_blocks(path: &std::path::Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).unwrap().blocks()
}

#[test]
fn write_keeps_holes_for_zero_blocks() {
    let (_d, path, mut img) = sparse_file(1 << 20);
    let mut buf = vec![0u8; 256 * 1024];
    buf[..4096].fill(7);
    buf[200 * 1024..204 * 1024].fill(9);
    img.write_at(&buf, 64 * 1024).unwrap();
    // Two 4 KiB blocks of data: at most a few filesystem blocks allocated.
    assert!(
        allocated_blocks(&path) * 512 <= 64 * 1024,
        "{} blocks",
        allocated_blocks(&path)
    );
    let mut back = vec![0u8; buf.len()];
    img.read_at(&mut back, 64 * 1024).unwrap();
    assert_eq!(back, buf);
    let extents = data_extents(&img);
    assert!(
        extents
            .iter()
            .all(|(s, e)| *s >= 64 * 1024 && *e <= 64 * 1024 + 256 * 1024),
        "{extents:?}"
    );
}

#[test]
fn write_zeroes_punches_holes_and_zero_writes_over_data_clear_it() {
    let (_d, path, mut img) = sparse_file(1 << 20);
    img.write_at(&vec![1u8; 512 * 1024], 0).unwrap();
    let before = allocated_blocks(&path);
    img.write_zeroes(0, 256 * 1024).unwrap();
    assert!(allocated_blocks(&path) < before);
    // A zero buffer written over data must read back as zeros (punched, not skipped).
    img.write_at(&vec![0u8; 128 * 1024], 256 * 1024).unwrap();
    let mut back = vec![9u8; 512 * 1024];
    img.read_at(&mut back, 0).unwrap();
    assert!(back[..384 * 1024].iter().all(|&b| b == 0));
    assert!(back[384 * 1024..].iter().all(|&b| b == 1));
    assert_eq!(img.map(0, 4096).unwrap().kind, ExtentKind::Zero);
}

#[test]
fn resize_and_range_checks() {
    let (_d, _p, mut img) = sparse_file(4096);
    img.resize(1 << 30).unwrap();
    assert_eq!(img.virtual_size(), 1 << 30);
    assert_eq!(img.map(0, u64::MAX).unwrap().kind, ExtentKind::Zero);
    let err = img.write_at(&[1], 1 << 30).unwrap_err();
    assert_eq!(err.kind(), strata_disk::ErrorKind::InvalidRequest);
    let mut b = [0u8; 2];
    assert!(img.read_at(&mut b, (1 << 30) - 1).is_err());
}

/// A random sparse pattern: (offset, length, fill byte) writes, 0 meaning zeros.
fn pattern() -> impl Strategy<Value = Vec<(u64, usize, u8)>> {
    prop::collection::vec(
        (
            0u64..(4 << 20),
            1usize..300_000,
            prop_oneof![Just(0u8), 1u8..=255],
        ),
        1..12,
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn random_sparse_writes_read_back(writes in pattern()) {
        let size = 5u64 << 20;
        let (_d, _p, mut img) = sparse_file(size);
        let mut model = vec![0u8; size as usize];
        let mut mem = RawImage::from_bytes(vec![0u8; size as usize]);
        for (off, len, byte) in writes {
            let len = len.min((size - off) as usize);
            let buf = vec![byte; len];
            img.write_at(&buf, off).unwrap();
            mem.write_at(&buf, off).unwrap();
            model[off as usize..off as usize + len].copy_from_slice(&buf);
        }
        let mut back = vec![0u8; size as usize];
        img.read_at(&mut back, 0).unwrap();
        prop_assert!(back == model);
        prop_assert!(mem.bytes().unwrap() == model.as_slice());
        // Every non-zero byte lies in a data extent.
        let extents = data_extents(&img);
        for (i, b) in model.iter().enumerate() {
            if *b != 0 {
                let i = i as u64;
                prop_assert!(extents.iter().any(|(s, e)| *s <= i && i < *e), "byte {i} not in {extents:?}");
            }
        }
    }
}
