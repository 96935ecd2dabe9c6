//! Integration tests of `transient-image`: the real binary against temporary backends and VM
//! stores, every command's standard output, standard error and exit code pinned by insta
//! snapshots; golden files made by the real transient 0.25 (`tests/golden/make-goldens.sh`);
//! and interop with transient itself.

#![allow(
    clippy::unwrap_used,
    reason = "test helpers outside #[test] functions panic on failure by design"
)]

mod sandbox;

mod build;
mod golden;
mod help;
mod interop;
mod json;
mod ls;
mod registry;
mod retrieve;
mod rm;
