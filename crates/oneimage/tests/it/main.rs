//! Integration tests of `oneimage` and `onedatastore`: the real binaries on personal pools in
//! temporary directories, their output pinned by insta snapshots, every disk they write checked
//! by qemu-img, and every `-x` document read back by OpenNebula's own Python bindings (pyone).

#![allow(
    clippy::unwrap_used,
    reason = "test helpers outside #[test] functions panic on failure by design"
)]

mod sandbox;

mod crash;
mod daemon;
mod datastores;
mod images;
mod lifecycle;
mod pyone;
mod xmlrpc;
