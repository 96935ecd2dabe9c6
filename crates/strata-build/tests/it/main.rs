//! Integration tests of strata-build: one binary, one module per topic.
#![allow(
    clippy::unwrap_used,
    reason = "helpers outside #[test] functions unwrap too: a failure is a test failure"
)]

mod builder;
mod golden;
mod roundtrip;
mod vm;
