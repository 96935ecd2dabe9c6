//! Bytes -> a sparse guest image and writer options -> convert to qcow2 (plain, zlib or zstd, any
//! cluster size and refcount width) -> reopen with our reader: what we write always reopens, reads
//! back the same bytes and checks clean.
#![no_main]

use libfuzzer_sys::fuzz_target;
use strata_disk::qcow2::{Compat, CreateOptions, Qcow2Image, Qcow2Target, check};
use strata_disk::{Compression, ConvertOptions, DiskImage, RawImage, convert};

fuzz_target!(|data: &[u8]| {
    let [a, b, c, d, rest @ ..] = data else {
        return;
    };
    let cluster_bits = 9 + u32::from(*a % 8); // 512 B .. 64 KiB
    let refcount_bits = 1u32 << (b % 7);
    let compression = match c % 3 {
        0 => None,
        1 => Some(Compression::ZLIB),
        _ => Some(Compression::ZSTD),
    };
    let size = (u64::from(*d) + 1) * 8192 + u64::from(a / 8);
    // The guest bytes: runs of (offset byte, length byte, value byte) triples.
    let mut guest = vec![0u8; size as usize];
    for t in rest.chunks_exact(3) {
        let off = (usize::from(t[0]) * 977) % guest.len();
        let len = (usize::from(t[1]) * 131).min(guest.len() - off);
        guest[off..off + len].fill(t[2]);
    }
    let source = RawImage::from_bytes(guest.clone());
    let path = std::env::temp_dir().join(format!(
        "strata-fuzz-roundtrip-{}.qcow2",
        std::process::id()
    ));
    let options = CreateOptions {
        cluster_size: 1 << cluster_bits,
        refcount_bits,
        compression,
        compat: Compat::V1_1,
        ..CreateOptions::new(size)
    };
    let target = Qcow2Target::create(&path, &options, false, false).expect("temp dir writable");
    let convert_options = ConvertOptions {
        compression,
        sync: false,
        ..ConvertOptions::default()
    };
    convert(&source, Box::new(target), &convert_options, &|_| {}).expect("conversion succeeds");
    let bytes = std::fs::read(&path).expect("output exists");
    let _ = std::fs::remove_file(&path);
    let img = Qcow2Image::from_bytes(bytes).expect("what we write reopens");
    let mut back = vec![0u8; size as usize];
    img.read_at(&mut back, 0).expect("reads back");
    assert!(back == guest, "content differs");
    let report = check(&img, "roundtrip").expect("check runs");
    assert!(report.is_clean(), "{report:?}");
});
