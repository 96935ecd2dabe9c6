//! Integration tests of the strata application core: real repositories in temporary
//! directories, `repos.yaml` written by each test, the environment injected.

#![allow(
    clippy::unwrap_used,
    reason = "test helpers outside #[test] functions panic on failure by design"
)]

mod bad_inputs;
mod container;
mod copy;
mod delete;
mod import_export;
mod pool;
mod query;
mod registry;
mod resize;
mod util;
