//! Bytes -> a sparse guest image and writer options -> convert to qcow2 (plain, zlib or zstd, any
//! cluster size and refcount width) -> reopen with our reader: what we write always reopens, reads
//! back the same bytes and checks clean. The body is `strata_disk::fuzzing`'s, which `cargo test`
//! also runs on every saved regression input.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| strata_disk::fuzzing::roundtrip_qcow2(data));
