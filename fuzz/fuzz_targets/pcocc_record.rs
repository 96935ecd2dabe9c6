//! Bytes -> a pcocc revision record, as version 2 JSON and version 1 YAML, written back and
//! read again: never panics, and what parses round-trips. The body is
//! `strata_model::fuzzing`'s, which `cargo test` also runs on every saved regression input.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| strata_model::fuzzing::parse_record(data));
