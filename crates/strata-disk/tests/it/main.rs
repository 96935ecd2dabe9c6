//! Integration tests of strata-disk: one binary, one module per topic.
#![allow(
    clippy::unwrap_used,
    reason = "helpers outside #[test] functions unwrap too: a failure is a test failure"
)]

mod allocation;
mod blockfmt;
mod chain;
mod convert;
mod fixtures;
mod fuzz_bodies;
mod hostile;
mod qcow2_read;
mod qed;
mod raw;
mod recording;
mod refused;
mod vdi;
mod vhdx;
mod vmdk;
mod vpc;
mod write;
