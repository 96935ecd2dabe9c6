//! Bytes -> an XML-RPC request, as oneimage's XML-RPC endpoint decodes it: never panics, stays
//! within its bounds, and a call that decodes re-encodes to the same call. The body is
//! `oneimage::xmlrpc::fuzzing`'s, which `cargo test` also runs on every saved regression input.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| oneimage::xmlrpc::fuzzing::request(data));
