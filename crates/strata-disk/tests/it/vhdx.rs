//! vhdx: reading qemu-img's dynamic and fixed images of several block sizes, compared with
//! qemu-img; a non-empty log and differencing disks refused; hostile headers, region tables,
//! metadata and BATs; writing dynamic and fixed images, checked with `qemu-img check`,
//! `compare` and `info`, against the layout of qemu-img's own, and read by libyal's libvhdi.

use std::io::Read;
use std::path::Path;
use std::process::Command;

use proptest::prelude::*;

use strata_disk::error::DiskErrorSource;
use strata_disk::vhdx::header::{checksum, guid_string};
use strata_disk::vhdx::metadata::{FILE_PARAMETERS, VIRTUAL_DISK_SIZE};
use strata_disk::vhdx::{Subformat, VhdxCreateOptions, VhdxError, VhdxImage, VhdxTarget};
use strata_disk::{DiskError, DiskImage, ErrorKind, ExtentKind, OpenOptions, RawImage, open_bytes};
use strata_model::DiskFormat;

use crate::blockfmt::{convert, make_raw, open, pattern_bytes, qemu_convert, writes};
use crate::fixtures;
use crate::write::{have_qemu_img, qemu_check_clean, qemu_compare};

/// A change to an image's bytes.
type Mutation = Box<dyn Fn(&mut Vec<u8>)>;

const COMMITTED: [&str; 4] = ["dynamic-1m", "dynamic-2m", "fixed-1m", "tiny"];

fn gunzip(path: &Path) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(std::fs::File::open(path).unwrap())
        .read_to_end(&mut out)
        .unwrap();
    out
}

fn committed(name: &str) -> Vec<u8> {
    gunzip(&fixtures::dir().join(format!("{name}.vhdx.gz")))
}

fn vhdx_error(e: &DiskError) -> &VhdxError {
    match &e.source {
        DiskErrorSource::Vhdx(v) => v,
        other => panic!("not a vhdx error: {other:?}"),
    }
}

fn err(bytes: Vec<u8>) -> DiskError {
    VhdxImage::from_bytes(bytes).expect_err("opened")
}

/// The guest bytes of the 4 MiB pattern (see make-fixtures.sh).
fn pattern() -> Vec<u8> {
    let mut v = vec![0u8; 4 << 20];
    for (at, len, b) in [
        (0, 12, 0x11),
        (100, 3, 0x22),
        (2300, 24, 0x33),
        (4092, 4, 0x44),
    ] {
        v[at << 10..(at + len) << 10].fill(b);
    }
    v
}

fn our_map(img: &dyn DiskImage) -> Vec<(u64, u64, ExtentKind)> {
    let mut out: Vec<(u64, u64, ExtentKind)> = Vec::new();
    let mut pos = 0;
    while pos < img.virtual_size() {
        let e = img.map(pos, u64::MAX).unwrap();
        assert_eq!(e.offset, pos);
        assert!(e.length > 0);
        match out.last_mut() {
            Some(last) if last.2 == e.kind => last.1 += e.length,
            _ => out.push((e.offset, e.length, e.kind)),
        }
        pos = e.end();
    }
    out
}

#[test]
fn committed_fixtures_read_the_pattern() {
    for name in COMMITTED {
        let opened = open_bytes(committed(name), &OpenOptions::default()).unwrap();
        assert_eq!(opened.format, DiskFormat::Vhdx, "{name}");
        let data = fixtures::read_all(&*opened.image);
        if name == "tiny" {
            assert_eq!(data.len(), 64 << 10);
            assert!(data[4096..5120].iter().all(|&b| b == 0x55));
            assert!(data[..4096].iter().chain(&data[5120..]).all(|&b| b == 0));
            continue;
        }
        assert!(data == pattern(), "{name}");
        let map = our_map(&*opened.image);
        let mib = 1u64 << 20;
        let expected = match name {
            "dynamic-1m" | "fixed-1m" => vec![
                (0, mib, ExtentKind::Data),
                // qemu-img convert marks a block with no data ZERO (block_state_zero=on).
                (mib, mib, ExtentKind::Zero),
                (2 * mib, 2 * mib, ExtentKind::Data),
            ],
            _ => vec![(0, 4 * mib, ExtentKind::Data)],
        };
        assert_eq!(map, expected, "{name}");
    }
    let img = VhdxImage::from_bytes(committed("fixed-1m")).unwrap();
    let m = img.metadata();
    assert!(m.leave_blocks_allocated && !m.has_parent);
    assert_eq!((m.block_size, m.logical_sector_size), (1 << 20, 512));
    assert_eq!(m.virtual_disk_size, 4 << 20);
}

#[test]
fn reads_match_qemu_img_and_qemu_map_agrees() {
    if !fixtures::have_qemu("vhdx reads_match_qemu_img") {
        return;
    }
    let root = fixtures::generated();
    let tmp = tempfile::tempdir().unwrap();
    let mut n = 0;
    for e in std::fs::read_dir(root).unwrap() {
        let gz = e.unwrap().path();
        let Some(name) = gz
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .strip_suffix(".vhdx.gz")
        else {
            continue;
        };
        n += 1;
        let path = tmp.path().join(format!("{name}.vhdx"));
        std::fs::write(&path, gunzip(&gz)).unwrap();
        let raw = tmp.path().join("out.raw");
        let p = path.to_str().unwrap();
        fixtures::qemu_img(
            tmp.path(),
            &[
                "convert",
                "-f",
                "vhdx",
                "-O",
                "raw",
                p,
                raw.to_str().unwrap(),
            ],
        );
        let expected = std::fs::read(&raw).unwrap();
        let opened = strata_disk::open(&path, &OpenOptions::default()).unwrap();
        let ours = fixtures::read_all(&*opened.image);
        assert!(ours == expected, "{name}");
        let mut buf = vec![0u8; 12345];
        opened.image.read_at(&mut buf, 4093).unwrap();
        assert_eq!(buf, expected[4093..4093 + 12345], "{name}");
        // qemu's vhdx driver reports no block status (everything is data, at depth 0); ours
        // is finer: whatever we call zero or unallocated reads as zeros in qemu's output.
        let json = fixtures::qemu_json(tmp.path(), &["map", "--output=json", "-f", "vhdx", p]);
        let total: u64 = json
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["length"].as_u64().unwrap())
            .sum();
        assert_eq!(total, opened.image.virtual_size(), "{name}");
        for (start, len, kind) in our_map(&*opened.image) {
            if kind != ExtentKind::Data {
                assert!(
                    expected[start as usize..(start + len) as usize]
                        .iter()
                        .all(|&b| b == 0),
                    "{name}"
                );
            }
        }
        let info = fixtures::qemu_json(tmp.path(), &["info", "--output=json", p]);
        assert_eq!(
            info["virtual-size"].as_u64(),
            Some(opened.image.virtual_size()),
            "{name}"
        );
    }
    assert!(n >= 7, "only {n} vhdx fixtures generated");
}

// ---- hostile input ----

const H1: usize = 64 << 10;
const H2: usize = 128 << 10;
const RT: usize = 192 << 10;

fn le32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}

fn le64(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
}

fn set32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

fn set64(b: &mut [u8], at: usize, v: u64) {
    b[at..at + 8].copy_from_slice(&v.to_le_bytes());
}

/// Recomputes the CRC32C of the structure of `len` bytes at `at`.
fn fix_crc(b: &mut [u8], at: usize, len: usize) {
    let crc = checksum(&b[at..at + len], 4);
    set32(b, at + 4, crc);
}

/// The file offset of the region table entry whose region starts at `offset`.
fn region_entry(b: &[u8], offset: u64) -> usize {
    (0..le32(b, RT + 8) as usize)
        .map(|i| RT + 16 + i * 32)
        .find(|&at| le64(b, at + 16) == offset)
        .unwrap()
}

/// The file offset of metadata item `guid`.
fn metadata_item(b: &[u8], guid: [u8; 16]) -> usize {
    let img = VhdxImage::from_bytes(b.to_vec()).unwrap();
    let base = img.regions().metadata.offset as usize;
    let count = u16::from_le_bytes([b[base + 10], b[base + 11]]) as usize;
    (0..count)
        .map(|i| base + 32 + i * 32)
        .find(|&at| b[at..at + 16] == guid)
        .map(|at| base + le32(b, at + 16) as usize)
        .unwrap()
}

fn bat_offset(b: &[u8]) -> usize {
    VhdxImage::from_bytes(b.to_vec())
        .unwrap()
        .regions()
        .bat
        .offset as usize
}

#[test]
fn a_non_empty_log_is_refused() {
    let mut b = committed("tiny");
    for h in [H1, H2] {
        b[h + 48..h + 64].copy_from_slice(&[0x42; 16]);
        fix_crc(&mut b, h, 4096);
    }
    let e = err(b);
    assert!(
        matches!(vhdx_error(&e), VhdxError::LogNotEmpty { guid } if guid.starts_with("42424242-")),
        "{e}"
    );
    assert_eq!(e.kind(), ErrorKind::Unsupported);
    assert!(e.to_string().contains("log"), "{e}");
}

#[test]
fn the_current_header_is_the_valid_one_with_the_higher_sequence() {
    let b = committed("tiny");
    let img = VhdxImage::from_bytes(b.clone()).unwrap();
    let current = img.header().index;
    let (cur, other) = if current == 0 { (H1, H2) } else { (H2, H1) };
    // Give the other header a log GUID and a higher sequence number: it becomes current.
    let mut c = b.clone();
    let seq = le64(&c, cur + 8);
    set64(&mut c, other + 8, seq + 1);
    c[other + 48..other + 64].copy_from_slice(&[7; 16]);
    fix_crc(&mut c, other, 4096);
    assert!(matches!(
        vhdx_error(&err(c.clone())),
        VhdxError::LogNotEmpty { .. }
    ));
    // With a bad checksum it is ignored, and the old one is used.
    c[other + 100] ^= 1;
    assert!(VhdxImage::from_bytes(c).is_ok());
    // Both headers corrupt: refused, naming both problems.
    let mut c = b.clone();
    c[H1 + 200] ^= 1;
    c[H2] = b'x';
    let e = err(c);
    assert!(
        matches!(vhdx_error(&e), VhdxError::NoValidHeader { first, second }
        if first.contains("checksum") && second.contains("signature")),
        "{e}"
    );
    // Version 2: invalid.
    let mut c = b.clone();
    for h in [H1, H2] {
        c[h + 66] = 2;
        fix_crc(&mut c, h, 4096);
    }
    assert!(matches!(
        vhdx_error(&err(c)),
        VhdxError::NoValidHeader { .. }
    ));
}

#[test]
fn region_table_mutations_are_refused_with_the_exact_error() {
    let b = committed("dynamic-1m");
    let bat = bat_offset(&b) as u64;
    let bat_entry = region_entry(&b, bat);
    type Check = fn(&VhdxError) -> bool;
    let cases: Vec<(&str, Mutation, bool, Check, ErrorKind)> = vec![
        (
            "crc",
            Box::new(|b| b[RT + 1000] ^= 1),
            false,
            |e| {
                matches!(
                    e,
                    VhdxError::Checksum {
                        what: "region table",
                        ..
                    }
                )
            },
            ErrorKind::IntegrityMismatch,
        ),
        (
            "signature",
            Box::new(|b| b[RT] = b'x'),
            true,
            |e| matches!(e, VhdxError::RegionSignature),
            ErrorKind::InvalidFormat,
        ),
        (
            "count",
            Box::new(|b| set32(b, RT + 8, 5000)),
            true,
            |e| matches!(e, VhdxError::TooManyEntries { count: 5000, .. }),
            ErrorKind::InvalidFormat,
        ),
        (
            "BAT past end",
            Box::new(move |b| set64(b, bat_entry + 16, 1 << 40)),
            true,
            |e| matches!(e, VhdxError::Region { what: "BAT", .. }),
            ErrorKind::InvalidFormat,
        ),
        (
            "BAT unaligned",
            Box::new(move |b| set64(b, bat_entry + 16, bat + 4096)),
            true,
            |e| matches!(e, VhdxError::Region { what: "BAT", .. }),
            ErrorKind::InvalidFormat,
        ),
        (
            "BAT in headers",
            Box::new(move |b| set64(b, bat_entry + 16, 0)),
            true,
            |e| matches!(e, VhdxError::Region { what: "BAT", .. }),
            ErrorKind::InvalidFormat,
        ),
        (
            "BAT length overflows",
            Box::new(move |b| {
                set64(b, bat_entry + 16, u64::MAX - (1 << 20) + 1);
            }),
            true,
            |e| matches!(e, VhdxError::Region { .. }),
            ErrorKind::InvalidFormat,
        ),
        (
            "unknown required region",
            Box::new(move |b| {
                b[bat_entry] ^= 0xff;
                b[bat_entry + 28] = 1;
            }),
            true,
            |e| matches!(e, VhdxError::UnknownRequired { what: "region", .. }),
            ErrorKind::Unsupported,
        ),
        (
            "BAT missing",
            Box::new(move |b| {
                b[bat_entry] ^= 0xff;
                b[bat_entry + 28] = 0;
            }),
            true,
            |e| {
                matches!(
                    e,
                    VhdxError::Entry {
                        what: "BAT region",
                        problem: "missing"
                    }
                )
            },
            ErrorKind::InvalidFormat,
        ),
    ];
    for (name, mutate, crc, check, kind) in cases {
        let mut c = b.clone();
        mutate(&mut c);
        if crc {
            fix_crc(&mut c, RT, 64 << 10);
        }
        let e = err(c);
        assert!(check(vhdx_error(&e)), "{name}: {e}");
        assert_eq!(e.kind(), kind, "{name}");
    }
}

#[test]
fn metadata_mutations_are_refused_with_the_exact_error() {
    let b = committed("dynamic-1m");
    let params = metadata_item(&b, FILE_PARAMETERS);
    let size = metadata_item(&b, VIRTUAL_DISK_SIZE);
    type Check = fn(&VhdxError) -> bool;
    let cases: Vec<(&str, Mutation, Check, ErrorKind)> = vec![
        (
            "block size not pow2",
            Box::new(move |b| set32(b, params, 3 << 20)),
            |e| {
                matches!(
                    e,
                    VhdxError::Value {
                        what: "block size",
                        ..
                    }
                )
            },
            ErrorKind::InvalidFormat,
        ),
        (
            "block size small",
            Box::new(move |b| set32(b, params, 4096)),
            |e| {
                matches!(
                    e,
                    VhdxError::Value {
                        what: "block size",
                        ..
                    }
                )
            },
            ErrorKind::InvalidFormat,
        ),
        (
            "block size zero",
            Box::new(move |b| set32(b, params, 0)),
            |e| {
                matches!(
                    e,
                    VhdxError::Value {
                        what: "block size",
                        ..
                    }
                )
            },
            ErrorKind::InvalidFormat,
        ),
        (
            "has parent",
            Box::new(move |b| set32(b, params + 4, 2)),
            |e| matches!(e, VhdxError::Differencing),
            ErrorKind::Unsupported,
        ),
        (
            "size huge",
            Box::new(move |b| set64(b, size, u64::MAX)),
            |e| {
                matches!(
                    e,
                    VhdxError::Value {
                        what: "virtual disk size",
                        ..
                    }
                )
            },
            ErrorKind::InvalidFormat,
        ),
        // 64 TiB in 1 MiB blocks: 64 Mi entries do not fit the 1 MiB BAT region.
        (
            "BAT too large",
            Box::new(move |b| set64(b, size, 64 << 40)),
            |e| matches!(e, VhdxError::BatSize { .. }),
            // Input over a limit is malformed (docs/exit-codes.md).
            ErrorKind::InvalidFormat,
        ),
        (
            "BAT past its region",
            Box::new(move |b| set64(b, size, 200 << 30)),
            |e| matches!(e, VhdxError::BatSize { .. }),
            ErrorKind::InvalidFormat,
        ),
    ];
    for (name, mutate, check, kind) in cases {
        let mut c = b.clone();
        mutate(&mut c);
        let e = err(c);
        assert!(check(vhdx_error(&e)), "{name}: {e}");
        assert_eq!(e.kind(), kind, "{name}");
    }
    // The metadata table: signature, entry pointing outside the region, missing item.
    let img = VhdxImage::from_bytes(b.clone()).unwrap();
    let base = img.regions().metadata.offset as usize;
    let mut c = b.clone();
    c[base] = b'x';
    assert!(matches!(
        vhdx_error(&err(c)),
        VhdxError::Value {
            what: "metadata table signature",
            ..
        }
    ));
    let entry = (0..8)
        .map(|i| base + 32 + i * 32)
        .find(|&at| c_guid(&b, at) == FILE_PARAMETERS)
        .unwrap();
    let mut c = b.clone();
    set32(&mut c, entry + 16, 2 << 20);
    assert!(matches!(
        vhdx_error(&err(c)),
        VhdxError::MetadataItem {
            what: "file parameters",
            ..
        }
    ));
    let mut c = b.clone();
    c[entry] ^= 0xff;
    c[entry + 24] = 0; // not required any more
    assert!(matches!(
        vhdx_error(&err(c)),
        VhdxError::Entry {
            what: "file parameters",
            problem: "missing"
        }
    ));
    let mut c = b.clone();
    c[entry] ^= 0xff;
    c[entry + 24] = 4;
    assert!(matches!(
        vhdx_error(&err(c)),
        VhdxError::UnknownRequired {
            what: "metadata item",
            ..
        }
    ));
}

fn c_guid(b: &[u8], at: usize) -> [u8; 16] {
    b[at..at + 16].try_into().unwrap()
}

#[test]
fn bat_entries_are_checked_and_states_read_as_qemu_reads_them() {
    let b = committed("dynamic-1m");
    let bat = bat_offset(&b);
    // Block 0 past the end of the file.
    let mut c = b.clone();
    set64(&mut c, bat, (1u64 << 40) | 6);
    let e = err(c);
    assert!(
        matches!(vhdx_error(&e), VhdxError::BlockOffset { index: 0, .. }),
        "{e}"
    );
    assert_eq!(e.kind(), ErrorKind::Corrupt);
    // Block 0 inside the fixed structures.
    let mut c = b.clone();
    set64(&mut c, bat, 6);
    assert!(matches!(vhdx_error(&err(c)), VhdxError::BlockOffset { .. }));
    // States: zero, unmapped, undefined read as zeros and map as zero; not present is
    // unallocated; partially present and reserved states cannot be read.
    for (state, kind) in [
        (2u64, ExtentKind::Zero),
        (3, ExtentKind::Zero),
        (1, ExtentKind::Zero),
        (5, ExtentKind::Zero),
        (0, ExtentKind::Unallocated),
    ] {
        let mut c = b.clone();
        let entry = le64(&c, bat);
        set64(&mut c, bat, (entry & !7) | state);
        let img = VhdxImage::from_bytes(c).unwrap();
        assert_eq!(img.map(0, 4096).unwrap().kind, kind, "state {state}");
        let mut buf = vec![1u8; 8192];
        img.read_at(&mut buf, 0).unwrap();
        assert!(buf.iter().all(|&x| x == 0), "state {state}");
    }
    for state in [7u64, 4] {
        let mut c = b.clone();
        let entry = le64(&c, bat);
        set64(&mut c, bat, (entry & !7) | state);
        let img = VhdxImage::from_bytes(c).unwrap();
        let mut buf = [0u8; 512];
        let e = img.read_at(&mut buf, 0).unwrap_err();
        assert!(
            matches!(vhdx_error(&e), VhdxError::BlockState { block: 0, .. }),
            "{e}"
        );
    }
    // Reads past the virtual size are invalid requests.
    let img = VhdxImage::from_bytes(b.clone()).unwrap();
    let mut buf = [0u8; 2];
    assert_eq!(
        img.read_at(&mut buf, (4 << 20) - 1).unwrap_err().kind(),
        ErrorKind::InvalidRequest
    );
    assert_eq!(
        img.map(4 << 20, 1).unwrap_err().kind(),
        ErrorKind::InvalidRequest
    );
}

#[test]
fn truncated_and_foreign_files_are_refused() {
    let b = committed("tiny");
    let e = err(b[..100_000].to_vec());
    assert!(matches!(vhdx_error(&e), VhdxError::TooShort { .. }), "{e}");
    let mut c = b.clone();
    c[0] = b'V';
    assert!(matches!(vhdx_error(&err(c)), VhdxError::BadSignature));
    // Cut inside the BAT's region: the region no longer fits the file.
    let bat = bat_offset(&b);
    let e = err(b[..bat + 4096].to_vec());
    assert!(matches!(vhdx_error(&e), VhdxError::Region { .. }), "{e}");
    assert_eq!(
        guid_string(&[0; 16]),
        "00000000-0000-0000-0000-000000000000"
    );
}

// ---- writing ----

/// The BAT of a vhdx file, entry by entry (`count` entries).
fn bat_entries(b: &[u8], count: usize) -> Vec<u64> {
    let at = bat_offset(b);
    (0..count).map(|i| le64(b, at + 8 * i)).collect()
}

/// libyal's libvhdi (`pyvhdi`, installed by `cargo xtask setup` in the peers' virtual
/// environment) reads `path`: returns its media size, disk type (2 fixed, 3 dynamic) and the
/// guest bytes it reads, or `None` when the peer is missing (see [`strata_testkit::peer`]).
fn libvhdi_read(test: &str, path: &Path) -> Option<(u64, u64, Vec<u8>)> {
    let present = strata_testkit::venv::imports("pyvhdi");
    if !strata_testkit::peer(test, "libvhdi (pyvhdi, `cargo xtask setup`)", present) {
        return None;
    }
    let raw = path.with_extension("libvhdi.raw");
    let script = "import pyvhdi, sys\n\
                  f = pyvhdi.file()\n\
                  f.open(sys.argv[1])\n\
                  n = f.get_media_size()\n\
                  with open(sys.argv[2], 'wb') as out:\n\
                  \x20   left = n\n\
                  \x20   while left:\n\
                  \x20       chunk = f.read_buffer(min(left, 1 << 20))\n\
                  \x20       out.write(chunk)\n\
                  \x20       left -= len(chunk)\n\
                  print(n, f.get_disk_type())\n";
    let out = Command::new(strata_testkit::venv::python())
        .args(["-c", script])
        .arg(path)
        .arg(&raw)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "libvhdi {}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let mut words = text.split_whitespace().map(|w| w.parse::<u64>().unwrap());
    let (size, kind) = (words.next().unwrap(), words.next().unwrap());
    Some((size, kind, std::fs::read(&raw).unwrap()))
}

/// Writes `writes` over `size` bytes as vhdx with `opts`; checks our reading, qemu-img's check,
/// compare, info and map, and libvhdi's reading; returns the file's bytes.
fn check_write(
    dir: &Path,
    size: u64,
    writes: &[(u64, usize, u8)],
    opts: &VhdxCreateOptions,
) -> Vec<u8> {
    let src = dir.join("src.raw");
    make_raw(&src, size, writes);
    let dst = dir.join("ours.vhdx");
    let source = open(&src);
    let opts = VhdxCreateOptions {
        size,
        ..opts.clone()
    };
    convert(&*source, &dst, |out| {
        Ok(Box::new(VhdxTarget::create(out, &opts)?))
    });
    let img = VhdxImage::from_bytes(std::fs::read(&dst).unwrap()).unwrap();
    let expected_size = size.next_multiple_of(512);
    assert_eq!(img.virtual_size(), expected_size);
    let fixed = opts.subformat == Subformat::Fixed;
    assert_eq!(img.metadata().leave_blocks_allocated, fixed);
    let mut expected = fixtures::read_all(&*source);
    expected.resize(expected_size as usize, 0);
    assert!(fixtures::read_all(&img) == expected, "size {size}");
    // Blocks without data: zero (or unallocated with block_state_zero=off) in a dynamic disk.
    for (start, len, kind) in our_map(&img) {
        if kind != ExtentKind::Data {
            assert!(!fixed, "a fixed disk is all data");
            let want = if opts.block_state_zero {
                ExtentKind::Zero
            } else {
                ExtentKind::Unallocated
            };
            assert_eq!(kind, want);
            assert!(
                expected[start as usize..(start + len) as usize]
                    .iter()
                    .all(|&b| b == 0)
            );
        }
    }
    if have_qemu_img("vhdx check_write") {
        qemu_check_clean(&dst);
        qemu_compare(&src, "raw", &dst, "vhdx");
        let info = fixtures::qemu_json(
            dir,
            &["info", "--output=json", "-f", "vhdx", dst.to_str().unwrap()],
        );
        assert_eq!(info["virtual-size"].as_u64(), Some(expected_size));
        assert_eq!(info["format"].as_str(), Some("vhdx"));
        assert_eq!(
            info["cluster-size"].as_u64(),
            Some(
                VhdxImage::from_bytes(std::fs::read(&dst).unwrap())
                    .unwrap()
                    .metadata()
                    .block_size
                    .into()
            )
        );
    }
    if let Some((media, kind, data)) = libvhdi_read("vhdx check_write", &dst) {
        assert_eq!(media, expected_size);
        assert_eq!(kind, if fixed { 2 } else { 3 }, "libvhdi's disk type");
        assert!(data == expected, "libvhdi reads other bytes");
    }
    std::fs::read(&dst).unwrap()
}

#[test]
fn writes_dynamic_and_fixed_images_qemu_and_libvhdi_read() {
    let dir = tempfile::tempdir().unwrap();
    let mib = 1u64 << 20;
    let w = [
        (0, 12_288, 1),
        (100 << 10, 3000, 2),
        ((9 * mib) - 100, 5000, 3),
        // Explicit zeros: data to the file system, a planned block that stays empty.
        (17 * mib, 1 << 20, 0),
        ((40 * mib) - 4096, 4096, 4),
    ];
    let cases = [
        (40 * mib, VhdxCreateOptions::new(0)),
        (
            (40 * mib) - 1000,
            VhdxCreateOptions {
                block_state_zero: false,
                ..VhdxCreateOptions::new(0)
            },
        ),
        (
            40 * mib,
            VhdxCreateOptions {
                block_size: Some(mib),
                log_size: 4 * mib,
                ..VhdxCreateOptions::new(0)
            },
        ),
        (
            40 * mib,
            VhdxCreateOptions {
                subformat: Subformat::Fixed,
                ..VhdxCreateOptions::new(0)
            },
        ),
        (
            (40 * mib) - 1000,
            VhdxCreateOptions {
                subformat: Subformat::Fixed,
                block_size: Some(32 * mib),
                ..VhdxCreateOptions::new(0)
            },
        ),
        (4096, VhdxCreateOptions::new(0)),
        (
            4096,
            VhdxCreateOptions {
                subformat: Subformat::Fixed,
                ..VhdxCreateOptions::new(0)
            },
        ),
    ];
    for (size, opts) in cases {
        check_write(dir.path(), size, &w, &opts);
    }
}

#[test]
fn the_layout_is_qemu_imgs() {
    let dir = tempfile::tempdir().unwrap();
    let mib = 1u64 << 20;
    // Data in blocks 0 and 3 of 8 MiB, explicit zeros in block 2.
    let w = [(0, 12_288, 1), (16 * mib, 4096, 0), (24 * mib, 24_576, 3)];
    let size = 40 * mib;
    let ours = check_write(dir.path(), size, &w, &VhdxCreateOptions::new(size));
    // qemu-img convert's dynamic image: data blocks appended in guest order from 8 MiB, the
    // others ZERO; region tables byte for byte; the same file length.
    let expected_bat = [(8 * mib) | 6, 2, 2, (16 * mib) | 6, 2];
    assert_eq!(bat_entries(&ours, 5), expected_bat);
    assert_eq!(ours.len() as u64, 24 * mib);
    assert_eq!(&ours[..8], b"vhdxfile");
    let img = VhdxImage::from_bytes(ours.clone()).unwrap();
    assert_eq!(img.header().log_guid, [0; 16]);
    assert_eq!(
        (img.header().log_offset, img.header().log_length),
        (mib, mib as u32)
    );
    assert_eq!(
        (img.regions().bat.offset, img.regions().metadata.offset),
        (2 * mib, 3 * mib)
    );
    assert_eq!(ours[RT..RT + 0x10000], ours[RT + 0x10000..RT + 0x20000]);
    // Fixed: every block fully present at 8 MiB + b × 8 MiB, the file ends at 8 MiB + size.
    let fixed = check_write(
        dir.path(),
        size,
        &w,
        &VhdxCreateOptions {
            subformat: Subformat::Fixed,
            ..VhdxCreateOptions::new(size)
        },
    );
    let fixed_bat: Vec<u64> = (0..5).map(|b| ((8 + 8 * b) * mib) | 6).collect();
    assert_eq!(bat_entries(&fixed, 5), fixed_bat);
    assert_eq!(fixed.len() as u64, 8 * mib + size);
    if !have_qemu_img("vhdx the_layout_is_qemu_imgs") {
        return;
    }
    let src = dir.path().join("src.raw");
    make_raw(&src, size, &w);
    for (name, opts, ours) in [
        ("qemu-d.vhdx", "", &ours),
        (
            "qemu-f.vhdx",
            "subformat=fixed,block_state_zero=off",
            &fixed,
        ),
    ] {
        let theirs_path = dir.path().join(name);
        qemu_convert(&src, &theirs_path, "vhdx", opts);
        let theirs = std::fs::read(&theirs_path).unwrap();
        assert_eq!(theirs.len(), ours.len(), "{name}");
        assert_eq!(bat_entries(&theirs, 5), bat_entries(ours, 5), "{name}");
        assert_eq!(
            theirs[RT..RT + 0x20000],
            ours[RT..RT + 0x20000],
            "{name}: region tables"
        );
        // The metadata table and items, but for the page 83 identifier (random).
        let md = img.regions().metadata.offset as usize;
        assert_eq!(
            theirs[md..md + 0x10000],
            ours[md..md + 0x10000],
            "{name}: metadata table"
        );
        let items = md + 0x10000;
        assert_eq!(
            theirs[items..items + 16],
            ours[items..items + 16],
            "{name}: parameters, size"
        );
        assert_eq!(
            theirs[items + 32..items + 40],
            ours[items + 32..items + 40],
            "{name}: sectors"
        );
    }
}

#[test]
fn hostile_sizes_are_refused_before_anything_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.vhdx");
    let mut out =
        strata_disk::OutputFile::create(&path, strata_disk::Durability::Volatile).unwrap();
    let e = VhdxTarget::create(&mut out, &VhdxCreateOptions::new(u64::MAX)).unwrap_err();
    assert!(
        matches!(vhdx_error(&e), VhdxError::CreateTooLarge { .. }),
        "{e}"
    );
    assert_eq!(e.kind(), ErrorKind::InvalidRequest);
    let opts = VhdxCreateOptions {
        block_size: Some(1000),
        ..VhdxCreateOptions::new(1 << 20)
    };
    let e = VhdxTarget::create(&mut out, &opts).unwrap_err();
    assert!(
        matches!(
            vhdx_error(&e),
            VhdxError::CreateOption {
                option: "block_size",
                ..
            }
        ),
        "{e}"
    );
    assert_eq!(strata_disk::Output::bytes_written(&out), 0);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 6, ..ProptestConfig::default() })]

    #[test]
    fn random_sparse_sources_roundtrip(
        w in writes(),
        tail in 0u64..70_000,
        fixed in any::<bool>(),
        zero in any::<bool>(),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let size = (6 << 20) + tail;
        let source = RawImage::from_bytes(pattern_bytes(size, &w));
        let path = dir.path().join("p.vhdx");
        let opts = VhdxCreateOptions {
            subformat: if fixed { Subformat::Fixed } else { Subformat::Dynamic },
            block_size: Some(1 << 20),
            block_state_zero: zero,
            ..VhdxCreateOptions::new(size)
        };
        convert(&source, &path, |out| Ok(Box::new(VhdxTarget::create(out, &opts)?)));
        let back = open(&path);
        let mut expected = pattern_bytes(size, &w);
        expected.resize(back.virtual_size() as usize, 0);
        prop_assert!(fixtures::read_all(&*back) == expected);
    }
}
