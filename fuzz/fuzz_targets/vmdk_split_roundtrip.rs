//! Bytes -> a raw disk written as a multi-file VMDK (monolithicFlat, twoGbMaxExtentFlat or
//! twoGbMaxExtentSparse, chosen by the first byte: a descriptor and extent files) through the
//! convert engine, reopened from the descriptor and read back: panics if what we write does
//! not reopen with the same contents. The body is `strata_disk::fuzzing`'s, which `cargo test`
//! also runs on every saved regression input.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| strata_disk::fuzzing::roundtrip_vmdk_split(data));
