//! Bytes -> an OCI image index, an image manifest, a config's diff_ids and a docker-archive
//! `manifest.json`: never panics or allocates without bound. The body is `strata_oci::fuzzing`'s,
//! which `cargo test` also runs on every saved regression input.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| strata_oci::fuzzing::parse_json(data));
