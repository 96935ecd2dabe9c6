//! Bytes -> open as vdi, map everything, read up to 8 MiB: never panics, hangs or allocates without
//! bound, and every extent keeps the map contract. The body is `strata_disk::fuzzing`'s, which
//! `cargo test` also runs on every saved regression input.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| strata_disk::fuzzing::exercise_vdi(data));
