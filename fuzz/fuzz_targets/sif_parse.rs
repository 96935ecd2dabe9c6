//! Bytes -> a SIF global header and descriptor table (and the old `.simg` launch header):
//! never panics, never allocates past the descriptor cap, never reads outside the file. The
//! body is `strata_oci::fuzzing`'s, which `cargo test` also runs on every saved regression
//! input.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| strata_oci::fuzzing::parse_sif(data));
