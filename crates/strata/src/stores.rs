//! The stores strata ships, each a [`Store`](crate::store::Store) over a layout of
//! strata-store:
//!
//! - [`RepositoryStore`]: a content-addressed repository with revisions (pcocc's v2 layout, so
//!   a pcocc repository opens as is), with the [`Revisions`](crate::store::Revisions),
//!   [`Containers`](crate::store::Containers) and [`Maintenance`](crate::store::Maintenance)
//!   capabilities.
//! - [`FlatStore`]: a directory of flattened qcow2 files, one per name (transient's backend
//!   layout), holding VM images only.
//! - [`RegistryStore`]: a repository kept in an OCI registry, read through a bounded local
//!   cache, with revisions and maintenance.
//!
//! Both open lazily: a store that no operation touches is never read or created.

mod flat;
pub mod registry;
mod repository;

pub use flat::FlatStore;
pub use registry::RegistryStore;
pub use repository::RepositoryStore;
