//! Bytes -> a page of a registry's tag list, a `Link` header's next page and a manifest's
//! media type: never panics or allocates without bound. The body is `strata_oci::fuzzing`'s,
//! which `cargo test` also runs on every saved regression input.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| strata_oci::fuzzing::registry_answers(data));
