//! Bytes -> a raw disk -> the GUID partition table reader (`strata_disk::gpt::read_gpt`, which
//! `ocne-image info` runs on untrusted images): never panics, hangs or allocates without bound,
//! and every partition it returns is numbered from 1. The body is `strata_disk::fuzzing`'s,
//! which `cargo test` also runs on every saved regression input.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| strata_disk::fuzzing::read_gpt(data));
