//! Hostile qcow2 files: valid fixture bytes with one field changed, each refused with its exact
//! error variant (and before any allocation sized by the bad field).

use strata_disk::error::DiskErrorSource;
use strata_disk::qcow2::header::{HeaderError, MAX_L1_ENTRIES};
use strata_disk::qcow2::{Qcow2Error, Qcow2Image};
use strata_disk::{DiskError, DiskImage, ErrorKind};

use crate::fixtures;

fn base() -> Vec<u8> {
    std::fs::read(fixtures::dir().join("v3-4k.qcow2")).unwrap()
}

fn put32(b: &mut [u8], off: usize, v: u32) {
    b[off..off + 4].copy_from_slice(&v.to_be_bytes());
}

fn put64(b: &mut [u8], off: usize, v: u64) {
    b[off..off + 8].copy_from_slice(&v.to_be_bytes());
}

fn get64(b: &[u8], off: usize) -> u64 {
    u64::from_be_bytes(b[off..off + 8].try_into().unwrap())
}

fn open_err(bytes: Vec<u8>) -> DiskError {
    Qcow2Image::from_bytes(bytes).map(|_| ()).unwrap_err()
}

fn header_err(bytes: Vec<u8>) -> HeaderError {
    let e = open_err(bytes);
    match e.source {
        DiskErrorSource::Qcow2(Qcow2Error::Header(h)) => h,
        other => panic!("not a header error: {other:?}"),
    }
}

fn qcow2_err(e: DiskError) -> Qcow2Error {
    match e.source {
        DiskErrorSource::Qcow2(q) => q,
        other => panic!("not a qcow2 error: {other:?}"),
    }
}

#[test]
fn cluster_bits_out_of_range() {
    for bits in [8u32, 22, 0, u32::MAX] {
        let mut b = base();
        put32(&mut b, 20, bits);
        let e = header_err(b);
        assert_eq!(e, HeaderError::ClusterBits { cluster_bits: bits });
    }
    // Past qemu's 2 MiB limit is input over a limit: malformed, as below the spec's minimum.
    let mut b = base();
    put32(&mut b, 20, 22);
    assert_eq!(open_err(b).kind(), ErrorKind::InvalidFormat);
}

#[test]
fn l1_too_large_is_refused_by_the_size_check() {
    let mut b = base();
    put32(&mut b, 36, 1 << 31);
    // The error is the size check's: nothing was allocated from the field.
    assert_eq!(
        header_err(b),
        HeaderError::L1TooLarge {
            l1_size: 1 << 31,
            max: MAX_L1_ENTRIES
        }
    );
    // Under qemu's limit but larger than the file.
    let mut b = base();
    put32(&mut b, 36, MAX_L1_ENTRIES);
    assert!(matches!(
        header_err(b),
        HeaderError::TablePastEnd {
            table: "L1 table",
            ..
        }
    ));
}

#[test]
fn l1_offset_past_end_or_unaligned() {
    let mut b = base();
    put64(&mut b, 40, 1 << 40);
    let len = b.len() as u64;
    assert_eq!(
        header_err(b),
        HeaderError::TablePastEnd {
            table: "L1 table",
            offset: 1 << 40,
            len: 8,
            file_len: len
        }
    );
    let mut b = base();
    put64(&mut b, 40, 4096 + 8);
    assert_eq!(
        header_err(b),
        HeaderError::TableUnaligned {
            table: "L1 table",
            offset: 4104
        }
    );
    let mut b = base();
    put64(&mut b, 40, u64::MAX - 4095);
    assert!(matches!(header_err(b), HeaderError::TablePastEnd { .. }));
}

#[test]
fn l1_too_small_for_the_virtual_size() {
    let mut b = base();
    put64(&mut b, 24, 1 << 40);
    assert!(matches!(
        header_err(b),
        HeaderError::L1TooSmall { l1_size: 1, .. }
    ));
}

#[test]
fn refcount_table_offset_and_size() {
    let mut b = base();
    put64(&mut b, 48, 1 << 40);
    assert!(matches!(
        header_err(b),
        HeaderError::TablePastEnd {
            table: "refcount table",
            ..
        }
    ));
    let mut b = base();
    put32(&mut b, 56, u32::MAX);
    assert_eq!(
        header_err(b),
        HeaderError::RefcountTableTooLarge {
            clusters: u32::MAX,
            max_bytes: 8 << 20
        }
    );
    let mut b = base();
    put32(&mut b, 56, 0);
    assert_eq!(header_err(b), HeaderError::RefcountTableEmpty);
}

#[test]
fn snapshot_table_offset_and_count() {
    let mut b = base();
    put32(&mut b, 60, 70_000);
    assert_eq!(
        header_err(b),
        HeaderError::TooManySnapshots {
            nb_snapshots: 70_000
        }
    );
    let mut b = base();
    put32(&mut b, 60, 1);
    put64(&mut b, 64, 1 << 40);
    assert!(matches!(
        header_err(b),
        HeaderError::TablePastEnd {
            table: "snapshot table",
            ..
        }
    ));
    // Entries that claim more extra data than qemu allows.
    let mut b = std::fs::read(fixtures::dir().join("snap.qcow2")).unwrap();
    let sn = get64(&b, 64) as usize;
    put32(&mut b, sn + 36, 1 << 30);
    let e = qcow2_err(open_err(b));
    assert!(
        matches!(
            e,
            Qcow2Error::SnapshotTable {
                index: 0,
                problem: strata_disk::qcow2::error::SnapshotProblem::ExtraDataTooLarge { .. },
                ..
            }
        ),
        "{e:?}"
    );
    // The second entry's L1 table past the end of the file.
    let mut b = std::fs::read(fixtures::dir().join("snap.qcow2")).unwrap();
    put64(&mut b, sn, 1 << 40);
    let e = qcow2_err(open_err(b));
    assert!(
        matches!(e, Qcow2Error::SnapshotTable { index: 0, .. }),
        "{e:?}"
    );
}

fn with_backing(off: u64, len: u32) -> Vec<u8> {
    let mut b = base();
    put64(&mut b, 8, off);
    put32(&mut b, 16, len);
    b
}

#[test]
fn backing_name_offset_and_length() {
    for (off, len) in [
        (1 << 40, 10u32),
        (4000, 1024),
        (4000, 200),
        (u64::MAX, 1),
        (50, 10),
    ] {
        assert_eq!(
            header_err(with_backing(off, len)),
            HeaderError::BackingName { offset: off, len },
            "{off} {len}"
        );
    }
}

#[test]
fn extension_length_past_the_end() {
    let mut b = base();
    let hl = u32::from_be_bytes(b[100..104].try_into().unwrap()) as usize;
    // An extension that claims more than the first cluster.
    put32(&mut b, hl, 0x1234_5678);
    put32(&mut b, hl + 4, 1 << 20);
    assert!(matches!(
        header_err(b),
        HeaderError::ExtensionPastEnd {
            len: 1048576,
            end: 4096,
            ..
        }
    ));
}

#[test]
fn unknown_incompatible_bit_and_unsupported_features() {
    let mut b = base();
    b[79] |= 1 << 5;
    let e = header_err(b);
    assert_eq!(
        e,
        HeaderError::UnknownIncompatibleFeatures {
            bits: 1 << 5,
            names: vec!["bit 5".into()]
        }
    );
    // A named one: qemu's table names bit 2 "external data file"; bit 2 is known and refused
    // as unsupported, in its own words, with the data file's name.
    let mut b = base();
    b[79] |= 1 << 2;
    let e = qcow2_err(open_err(b));
    assert!(
        matches!(e, Qcow2Error::ExternalDataFile { name: None }),
        "{e:?}"
    );
    assert_eq!(e.kind(), ErrorKind::Unsupported);
    // Encryption, AES (1) or LUKS (2), in its own words: not "invalid qcow2 header".
    for (method, name) in [(1, "AES"), (2, "LUKS")] {
        let mut b = base();
        put32(&mut b, 32, method);
        let e = open_err(b);
        assert_eq!(e.kind(), ErrorKind::Unsupported);
        let text = e.to_string();
        assert!(text.contains(name) && !text.contains("invalid"), "{text}");
        let e = qcow2_err(e);
        assert!(
            matches!(e, Qcow2Error::Encrypted { crypt_method } if crypt_method == method),
            "{e:?}"
        );
    }
    let mut b = base();
    put32(&mut b, 4, 4);
    assert_eq!(
        header_err(b),
        HeaderError::UnsupportedVersion { version: 4 }
    );
    let mut b = base();
    b[0] = b'X';
    assert!(matches!(header_err(b), HeaderError::BadMagic { .. }));
    assert!(matches!(
        header_err(base()[..50].to_vec()),
        HeaderError::Truncated { .. }
    ));
}

/// The L2 table offset of L1 entry 0 and the first L2 entry of `b`.
fn first_l2_entry(b: &[u8]) -> usize {
    let l1 = get64(b, 40) as usize;
    (get64(b, l1) & 0x00ff_ffff_ffff_fe00) as usize
}

#[test]
fn l2_entry_past_the_end() {
    let mut b = base();
    let l2 = first_l2_entry(&b);
    put64(&mut b, l2, (1u64 << 63) | (1 << 40));
    let img = Qcow2Image::from_bytes(b).unwrap();
    let mut buf = [0u8; 512];
    let e = qcow2_err(img.read_at(&mut buf, 0).unwrap_err());
    assert!(
        matches!(
            e,
            Qcow2Error::DataPastEnd {
                guest_offset: 0,
                host_offset: 0x100_0000_0000,
                ..
            }
        ),
        "{e:?}"
    );
    // An unaligned one.
    let mut b = base();
    let l2 = first_l2_entry(&b);
    let v = get64(&b, l2) + 512;
    put64(&mut b, l2, v);
    let img = Qcow2Image::from_bytes(b).unwrap();
    let e = qcow2_err(img.read_at(&mut buf, 0).unwrap_err());
    assert!(matches!(e, Qcow2Error::DataUnaligned { .. }), "{e:?}");
    // L1 entry pointing past the end.
    let mut b = base();
    let l1 = get64(&b, 40) as usize;
    put64(&mut b, l1, 1 << 40);
    let img = Qcow2Image::from_bytes(b).unwrap();
    let e = qcow2_err(img.read_at(&mut buf, 0).unwrap_err());
    assert!(
        matches!(e, Qcow2Error::L2PastEnd { l1_index: 0, .. }),
        "{e:?}"
    );
}

#[test]
fn compressed_descriptor_past_the_end_or_garbage() {
    let b = std::fs::read(fixtures::dir().join("zlib.qcow2")).unwrap();
    let l2 = first_l2_entry(&b);
    let entry = get64(&b, l2);
    assert_ne!(
        entry & (1 << 62),
        0,
        "fixture's first cluster is compressed"
    );
    // Offset field (bits 0..54 for 4 KiB clusters) beyond the file.
    let mut past = b.clone();
    put64(&mut past, l2, (1 << 62) | (1 << 40));
    let img = Qcow2Image::from_bytes(past).unwrap();
    let mut buf = [0u8; 512];
    let e = qcow2_err(img.read_at(&mut buf, 0).unwrap_err());
    assert!(
        matches!(
            e,
            Qcow2Error::DataPastEnd {
                host_offset: 0x100_0000_0000,
                ..
            }
        ),
        "{e:?}"
    );
    // Pointing at the header: not deflate data.
    let mut garbage = b.clone();
    put64(&mut garbage, l2, 1 << 62);
    let img = Qcow2Image::from_bytes(garbage).unwrap();
    let e = qcow2_err(img.read_at(&mut buf, 0).unwrap_err());
    assert!(
        matches!(
            e,
            Qcow2Error::Decompress {
                compression: "zlib",
                ..
            }
        ),
        "{e:?}"
    );
    assert_eq!(e.kind(), ErrorKind::Corrupt);
}

#[test]
fn errors_name_the_file_structure_and_value() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("bad.qcow2");
    let mut b = base();
    put32(&mut b, 36, 1 << 31);
    std::fs::write(&path, b).unwrap();
    let e = strata_disk::open(&path, &Default::default()).unwrap_err();
    assert_eq!(e.path.as_deref(), Some(path.as_path()));
    assert_eq!(e.kind(), ErrorKind::InvalidFormat);
    let mut chain = String::new();
    let mut err: Option<&dyn std::error::Error> = Some(&e);
    while let Some(x) = err {
        chain.push_str(&format!("{x}; "));
        err = x.source();
    }
    assert!(
        chain.contains("bad.qcow2") && chain.contains("2147483648"),
        "{chain}"
    );
}
