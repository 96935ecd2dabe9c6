//! Integration tests of strata-store: one binary, one module per topic.

#![allow(
    clippy::unwrap_used,
    reason = "test helpers outside #[test] functions panic on failure by design"
)]

mod blobs;
mod common;
mod concurrency;
mod config;
mod containers;
mod gc;
mod instances;
mod pcocc_fixture;
mod readonly;
mod records;
mod verify;
