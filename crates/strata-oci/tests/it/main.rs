//! Integration tests of strata-oci: one binary, one module per topic.
#![allow(
    clippy::unwrap_used,
    reason = "helpers outside #[test] functions unwrap too: a failure is a test failure"
)]
#![allow(
    clippy::print_stderr,
    reason = "tests say which reference tool is missing when they skip"
)]

mod common;
mod convert;
mod fuzz_bodies;
mod hostile;
mod hostile_registry;
mod registry;
mod resume;
mod sif;
mod tools;
mod unpack;
