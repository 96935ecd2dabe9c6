//! Bytes -> an Imagefile (transient's build language): never panics, and what parses is
//! written back and parses to the same instructions. The body is
//! `strata_build::imagefile::fuzzing`'s, which `cargo test` also runs on every saved
//! regression input.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| strata_build::imagefile::fuzzing::parse(data));
