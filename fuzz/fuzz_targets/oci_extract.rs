//! Bytes -> a layer (plain, gzip or zstd tar) searched for `disk/boot.qcow2`, which is copied
//! out, as ocne-image takes a boot image out of an ock image: never panics, never inflates past
//! the layer cap. The body is `strata_oci::fuzzing`'s, which `cargo test` also runs on every
//! saved regression input.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    strata_oci::fuzzing::extract(data);
});
