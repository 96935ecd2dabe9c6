//! Bytes -> a layer (plain, gzip or zstd tar) applied to a fresh root: never panics, never writes
//! outside the root, never inflates past the layer cap. The body is `strata_oci::fuzzing`'s, which
//! `cargo test` also runs on every saved regression input.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    strata_oci::fuzzing::unpack(data);
});
