//! Image repositories: where strata keeps VM disk images and container images.
//!
//! A **repository** ([`Repository`]) is pcocc's version 2 layout: immutable, content-addressed
//! blobs under `data/`, one JSON record per image revision under `meta/`, written through
//! `.tmp/` with fsync and rename so that a crash leaves every image at its old or its new state,
//! and a `.lock` that lets imports run together and gc run alone. A pcocc repository opens as
//! is, and pcocc opens the ones strata writes. A repository in pcocc's version 1 layout is read
//! and, by gc, upgraded.
//!
//! Which repositories exist comes from `repos.yaml` ([`ReposConfig`]), read exactly as pcocc
//! reads it; with no `repos.yaml` at all, strata uses one repository named `user` under
//! `$XDG_DATA_HOME/strata/images` (`~/.local/share/strata/images`), so it works out of the box.
//!
//! transient's flat backend ([`FlatBackend`]) keeps one flattened qcow2 file per image name;
//! its VM store ([`VmStore`]) says which VMs' overlays stand on one. VM instances ([`Instance`])
//! pin the image revisions their overlays stand on.
//!
//! The store is the only code that turns bytes into a stored image: a writer of image bytes
//! gets an [`Output`](strata_disk::Output) from it ([`Writer::new_blob`],
//! [`FlatBackend::new_image`]), which hashes (for a blob), fsyncs and renames on commit.
//!
//! Modules:
//! - [`cache`] is pcocc's container cache: extracted bundles, keyed as pcocc keys them.
//! - [`config`] reads `repos.yaml`: path templates, priority, the default repository.
//! - [`env`](mod@env) holds the user's environment that configuration depends on, injectable for tests.
//! - [`repo`] is the content-addressed repository: blobs, records, gc, verify.
//! - [`flat`] is transient's flat backend.
//! - [`vmstore`] is transient's VM store, read to find the VMs that use a backend image.
//! - [`instances`] records VM instances and creates their overlays.
//! - [`pool`] is an OpenNebula pool: its database of images and datastores, and their files.
//! - [`lock`] wraps the `flock`s.
//! - [`fsutil`] has streaming sha256, directory fsync, `access(W_OK)`, clone-or-sparse-copy.
//! - [`error`] defines [`StoreError`] and its stable [`ErrorKind`].

pub mod accounts;
pub mod cache;
pub mod config;
pub mod env;
pub mod error;
pub mod flat;
pub mod fsutil;
pub mod instances;
pub mod lock;
pub mod pool;
pub mod repo;
pub mod vmstore;

pub use accounts::Accounts;
pub use cache::{Cache, CacheEntry, CacheHold, CacheRemoval, ExtractPolicy};
pub use config::{
    CacheDef, ImageDriver, RepoDef, ReposConfig, RuntimeKeys, Scope, read_image_driver,
    read_runtime, read_strata_cache, resolve_path,
};
pub use env::{Cluster, Env};
pub use error::{ErrorKind, Result, StoreError};
pub use flat::{Existing, FlatBackend, NewFlatImage};
pub use fsutil::CopyMethod;
pub use instances::{Instance, InstanceId, OverlayCreator, Qcow2Overlays};
pub use lock::{FileLock, LockMode};
pub use pool::{Job, JobOp, PoolDb, PoolInstance, PoolStore};
pub use repo::{
    ChainCheck, ContainerSource, DeleteMode, GcReport, NewBlob, PCOCC_REF_NAME, Problem,
    Qcow2Chains, Repository, StagedBlob, StoredBlob, VerifyReport, Writer, container_blobs,
    container_record, oci_index_for, parse_record_file_name, record_file_name,
};
pub use vmstore::VmStore;
