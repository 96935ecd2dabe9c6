//! Bytes -> an OpenNebula template: never panics, and what round-trips is printed and parses
//! back to itself. The body is `strata_model::fuzzing`'s, which `cargo test` also runs on every
//! saved regression input.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| strata_model::fuzzing::parse_one_template(data));
