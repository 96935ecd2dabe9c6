//! Bytes -> open as qcow2, then map and read everything (up to a bound), then check and info: never
//! panics, hangs or allocates without bound. The body is `strata_disk::fuzzing`'s, which `cargo
//! test` also runs on every saved regression input.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| strata_disk::fuzzing::exercise_qcow2(data));
