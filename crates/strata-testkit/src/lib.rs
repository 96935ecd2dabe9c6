//! Test support for strata's test suites, outside every library's API: a dev-dependency only
//! (`cargo xtask tidy` refuses it as a normal dependency).
//!
//! [`peers`] decides what a test does when a reference tool is missing (skip and say so on a
//! developer's machine, fail under `CI=true`); [`registry`] runs a real local registry;
//! [`squashfs`] and [`sif`] make and read sample images with the reference tools; [`venv`]
//! finds the Python peers `cargo xtask setup` installs from PyPI; [`fuzz`]
//! knows every fuzz target's body and saved inputs, which `tests/it/fuzz_replay.rs` replays.

pub mod fuzz;
pub mod peers;
pub mod registry;
pub mod sif;
pub mod squashfs;
pub mod venv;

pub use peers::{have, in_ci, peer, runs};
pub use registry::{LocalRegistry, REGISTRY_BIN, free_port};
pub use sif::{write_sif, write_simg};
pub use squashfs::{MKSQUASHFS_BIN, UNSQUASHFS_BIN, mksquashfs, tree_listing, unsquashfs};
