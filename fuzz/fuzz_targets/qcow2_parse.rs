//! Bytes -> `open_bytes` as each format (qcow2, qed, vdi, vmdk, vpc, vhdx) and through the probe:
//! never panics, hangs or allocates without bound. The body is `strata_disk::fuzzing`'s, which
//! `cargo test` also runs on every saved regression input.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| strata_disk::fuzzing::parse(data));
