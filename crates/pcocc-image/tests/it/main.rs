//! Integration tests of `pcocc-image`: the real binary against temporary repositories, every
//! command's standard output, standard error and exit code pinned by insta snapshots, and
//! pcocc's reference samples through the renderers.

mod sandbox;

mod cache;
mod container;
mod copy;
mod crash;
mod errors;
mod export;
mod help;
mod import;
mod json;
mod list;
mod maintain;
mod manage;
mod oci_fixture;
mod pcocc_repo;
mod progress;
mod remote;
mod repo;
mod samples;
mod schema;
mod show;
mod sif;
