//! The strata application core: the one API that every front end and every embedding Rust
//! program calls. Each operation takes a request struct (and a [`Progress`] sink when it moves
//! image bytes) and returns an outcome struct; nothing here formats text for people, and nothing
//! here prints.
//!
//! The core works on [`store`]s through small capability traits and holds the invariants
//! (every digest recomputed, crash-safe writes, locks, hostile-input limits). It speaks no
//! tool's dialect: a front end settles its users' names, formats and defaults, and passes its
//! policy in as values ([`NamePolicy`], [`ImageLocator`], [`NewImageTarget`], [`OnInUse`]).
//!
//! # Guide
//!
//! Give the core its stores, in order (the first is the default), then call one method per
//! operation. The same operation imports a disk into a content-addressed repository with
//! revisions (pcocc's layout, so a pcocc repository opens as it is)...
//!
//! ```
//! use std::sync::Arc;
//! use strata::{DiskFormat, ImportRequest, NoProgress, RepositoryStore, Store, Strata};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let dir = tempfile::tempdir()?;
//! # let disk = dir.path().join("disk.raw");
//! # std::fs::File::create(&disk)?.set_len(64 << 20)?;
//! let repo = RepositoryStore::new("user", dir.path().join("images"));
//! let strata = Strata::new([Arc::new(repo) as Arc<dyn Store>], Default::default());
//! let request = ImportRequest::disk(&disk, DiskFormat::Raw, "centos7");
//! let outcome = strata.import(request, &NoProgress)?;
//! assert_eq!((outcome.image.store.as_str(), outcome.image.revision), ("user", Some(0)));
//! assert!(outcome.digest.is_some(), "the qcow2 layer is stored under its sha256");
//! # Ok(()) }
//! ```
//!
//! ...and into a flat directory of one qcow2 file per name (transient's backend layout, names
//! encoded as transient encodes them):
//!
//! ```
//! use std::sync::Arc;
//! use strata::{DiskFormat, FlatStore, ImportRequest, NoProgress, Store, Strata};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let dir = tempfile::tempdir()?;
//! # let disk = dir.path().join("disk.raw");
//! # std::fs::File::create(&disk)?.set_len(64 << 20)?;
//! let backend = FlatStore::new("backend", dir.path().join("backend"));
//! let strata = Strata::new([Arc::new(backend) as Arc<dyn Store>], Default::default());
//! let request = ImportRequest::disk(&disk, DiskFormat::Raw, "centos/7:2004.01");
//! let outcome = strata.import(request, &NoProgress)?;
//! assert_eq!(outcome.image.revision, None, "a flat store keeps no revisions");
//! assert!(dir.path().join("backend/centos%2F7%3A2004.01").is_file());
//! # Ok(()) }
//! ```
//!
//! The core speaks no tool's dialect: where a name goes, what an existing name means and which
//! store a lookup searches are values the caller passes. Here a second import replaces the
//! image (a revisioned store adds the next revision), and the image is exported as a vmdk:
//!
//! ```
//! use std::sync::Arc;
//! use strata::{Destination, DiskFormat, ExportRequest, ImageLocator, ImportRequest};
//! use strata::{NamePolicy, NoProgress, OnExisting, RepositoryStore, Store, Strata};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let dir = tempfile::tempdir()?;
//! # let disk = dir.path().join("disk.raw");
//! # std::fs::File::create(&disk)?.set_len(64 << 20)?;
//! let repo = Arc::new(RepositoryStore::new("user", dir.path().join("images")));
//! let strata = Strata::new([repo as Arc<dyn Store>], Default::default());
//! let replace = NamePolicy { on_existing: OnExisting::Replace, warn_if_elsewhere: false };
//! for _ in 0..2 {
//!     let request = ImportRequest { policy: replace, ..ImportRequest::disk(&disk, DiskFormat::Raw, "c7") };
//!     strata.import(request, &NoProgress)?;
//! }
//! let dest = Destination::Disk { path: dir.path().join("c7.vmdk"), format: DiskFormat::Vmdk };
//! let image = ImageLocator::named("c7");
//! let outcome = strata.export(ExportRequest { image, dest }, &NoProgress)?;
//! assert_eq!(outcome.image.revision, Some(1));
//! # Ok(()) }
//! ```
//!
//! Stores hold nothing in memory: a store opens what its directory holds when an operation
//! needs it, so a repository that an earlier run (or pcocc) filled opens as it is. List what the
//! stores hold, show one image with its revisions, and read a VM image's disk through its whole
//! chain of layers, without exporting it:
//!
//! ```
//! use std::sync::Arc;
//! use strata::{DiskImage, ImageLocator, ListRequest, RepositoryStore, ShowRequest, Store, Strata};
//! # use strata::{DiskFormat, ImportRequest, NoProgress};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let dir = tempfile::tempdir()?;
//! # let images = dir.path().join("images");
//! # let disk = dir.path().join("disk.raw");
//! # std::fs::write(&disk, b"boot sector")?;
//! # std::fs::File::options().write(true).open(&disk)?.set_len(64 << 20)?;
//! # let store = Arc::new(RepositoryStore::new("user", &images));
//! # let earlier = Strata::new([store as Arc<dyn Store>], Default::default());
//! # for name in ["centos7", "debian12"] {
//! #     earlier.import(ImportRequest::disk(&disk, DiskFormat::Raw, name), &NoProgress)?;
//! # }
//! // `images` is a repository an earlier run filled with `centos7` and `debian12`.
//! let repo = RepositoryStore::new("user", &images);
//! let strata = Strata::new([Arc::new(repo) as Arc<dyn Store>], Default::default());
//!
//! let filter = Some(regex::Regex::new("^cent")?);
//! let listed = strata.list(ListRequest { store: None, filter })?;
//! let images = listed.stores.iter().flat_map(|store| &store.images);
//! let names: Vec<&str> = images.map(|image| image.name.as_str()).collect();
//! assert_eq!(names, ["centos7"]);
//!
//! let shown = strata.show(ShowRequest { image: ImageLocator::named("debian12") })?;
//! assert_eq!((shown.image.revision, shown.revisions.len()), (Some(0), 1));
//!
//! let (store, image) = strata.find(&ImageLocator::named("centos7"))?;
//! let disk = store.open_disk(&image)?;
//! let mut head = [0u8; 11];
//! disk.read_at(&mut head, 0)?;
//! assert_eq!((&head, disk.virtual_size()), (b"boot sector", 64 << 20));
//! # Ok(()) }
//! ```
//!
//! # Errors
//!
//! Every operation fails with an [`Error`]: its `Display` is a plain-English sentence holding
//! the facts, its [`Error::kind`] a stable [`ErrorKind`] to act on, and what caused it is its
//! `source()`. A program prints the message and its causes, not the `Debug` form, which is what
//! `fn main() -> Result<(), E>` would print (strata's own front ends do this, and pick their exit
//! code from the kind, in `strata_cli::run_main`):
//!
//! ```
//! use std::error::Error as _;
//! use std::process::ExitCode;
//! use strata::{ErrorKind, ImageLocator, ShowRequest};
//! # use std::sync::Arc;
//! # use strata::{RepositoryStore, Store, Strata};
//!
//! /// What `main` does with an error: prints its message and each cause not already said in
//! /// it, and picks an exit code by its kind.
//! fn fail(error: &strata::Error) -> ExitCode {
//!     let mut message = error.to_string();
//!     let mut source = error.source();
//!     while let Some(cause) = source {
//!         let said = cause.to_string();
//!         if !message.contains(&said) {
//!             message = format!("{message}: {said}");
//!         }
//!         source = cause.source();
//!     }
//!     eprintln!("error: {message}");
//!     match error.kind() {
//!         ErrorKind::NotFound => ExitCode::from(66),
//!         ErrorKind::InvalidRequest => ExitCode::from(64),
//!         _ => ExitCode::FAILURE,
//!     }
//! }
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let dir = tempfile::tempdir()?;
//! # let repo = RepositoryStore::new("user", dir.path().join("images"));
//! # let strata = Strata::new([Arc::new(repo) as Arc<dyn Store>], Default::default());
//!
//! let Err(error) = strata.show(ShowRequest { image: ImageLocator::named("nope") }) else {
//!     panic!("there is no image nope");
//! };
//! assert_eq!(error.to_string(), "image nope not found in any store");
//! assert_eq!(error.kind(), ErrorKind::NotFound);
//! let _code = fail(&error);
//! # Ok(()) }
//! ```
//!
//! # Operations
//!
//! | method | what | request | outcome |
//! |---|---|---|---|
//! | [`Strata::list`] | images of one or every store | [`ListRequest`] | [`ListOutcome`] |
//! | [`Strata::show`] | one image, its layers and revisions | [`ShowRequest`] | [`ShowOutcome`] |
//! | [`Strata::sizes`] | a VM image's virtual size and the space its files take | [`SizesRequest`] | [`SizesOutcome`] |
//! | [`Strata::store_list`] | the stores | (none) | [`StoreListOutcome`] |
//! | [`Strata::import`] | a disk file or container image becomes an image | [`ImportRequest`] | [`ImportOutcome`] |
//! | [`Strata::export`] | an image becomes a disk file or container image | [`ExportRequest`] | [`ExportOutcome`] |
//! | [`Strata::copy`] | an image becomes another image | [`CopyRequest`] | [`CopyOutcome`] |
//! | [`Strata::delete`] | remove an image or a revision | [`DeleteRequest`] | [`DeleteOutcome`] |
//! | [`Strata::delete_all`] | remove several, all checked first | [`DeleteRequest`]s | [`DeleteOutcome`]s |
//! | [`Strata::resize`] | grow a VM image by a layer | [`ResizeRequest`] | [`ResizeOutcome`] |
//! | [`Strata::gc`] | collect a store's garbage | [`GcRequest`] | [`GcOutcome`] |
//! | [`Strata::verify`] | rehash and check stores | [`VerifyRequest`] | [`VerifyOutcome`] |
//! | [`Strata::cache_list`] | the container cache | (none) | [`CacheListOutcome`] |
//! | [`Strata::cache_delete`] | an image's cache entries | [`CacheDeleteRequest`] | [`CacheDeleteOutcome`] |
//! | [`Strata::cache_gc`] | trim the cache | [`CacheGcRequest`] | [`CacheGcOutcome`] |
//! | [`Strata::cache_hold`] | a bundle for a launcher | [`ImageLocator`] | [`strata_store::CacheHold`] |
//!
//! Modules:
//! - [`app`]: [`Strata`] and [`StrataOptions`]: the stores, lookups, name policy.
//! - [`store`]: the capability traits ([`Store`], [`Revisions`], [`Containers`],
//!   [`Maintenance`]) and the words requests name images with.
//! - [`stores`]: the stores strata ships ([`RepositoryStore`], [`FlatStore`]).
//! - [`ops`]: one module per operation, with its request and outcome types.
//! - [`error`]: [`Error`] and its stable [`ErrorKind`].
//! - [`progress`]: [`Progress`] events, as data.
//! - [`transport`]: the seam a registry client (`docker://`) plugs into.

pub mod app;
pub mod compression;
pub mod error;
mod log;
pub mod ops;
pub mod pool;
pub mod progress;
pub mod store;
pub mod stores;
pub mod transport;

pub use app::{CacheOptions, Strata, StrataOptions};
pub use compression::Compression;
pub use error::{Error, ErrorKind, Result};
pub use ops::cache::{
    CacheDeleteOutcome, CacheDeleteRequest, CacheGcOutcome, CacheGcRequest, CacheListOutcome,
    CacheRow,
};
pub use ops::copy::{CopyOutcome, CopyRequest};
pub use ops::delete::{DeleteOutcome, DeleteRequest};
pub use ops::export::{Destination, ExportOutcome, ExportRequest};
pub use ops::import::{ImportOutcome, ImportRequest, Source, probe};
pub use ops::maintain::{GcOutcome, GcRequest, StoreVerify, VerifyOutcome, VerifyRequest};
pub use ops::query::{
    ListOutcome, ListRequest, ShowOutcome, ShowRequest, SizesOutcome, SizesRequest, StoreFailure,
    StoreImages, StoreInfo, StoreListOutcome,
};
pub use ops::resize::{ResizeOutcome, ResizeRequest};
pub use progress::{NoProgress, Phase, Progress, ProgressEvent, Warning};
pub use store::{
    Containers, ImageKey, ImageLocator, ImageSummary, KnownSizes, Layer, LayerCopy, Maintenance,
    NamePolicy, NewImageTarget, OnExisting, OnInUse, RemoteLayers, RevisionSummary, Revisions,
    Store,
};
pub use stores::{FlatStore, RegistryStore, RepositoryStore};

/// Types of the crates below that appear in requests and outcomes, re-exported so that front
/// ends need no direct dependency for them.
pub use strata_disk::{Cancel, DiskImage};
pub use strata_model::{
    ByteSize, Digest, DiskFormat, Kind,
    spec::{ContainerTransport, Format, Probe},
};
pub use strata_oci::RegistryOptions;
pub use strata_store::{CopyMethod, Env, GcReport, ImageDriver, Problem, VerifyReport};
pub use transport::{NativeRegistry, RegistrySource, RemoteImage};
