//! The strata application core: the one API that every front end and every embedding Rust
//! program calls. Each operation takes a request struct (and a [`Progress`] sink when it moves
//! image bytes) and returns an outcome struct; nothing here formats text for people, and nothing
//! here prints.
//!
//! Start with [`Strata::open`], then call one method per operation:
//!
//! | method | pcocc command | request | outcome |
//! |---|---|---|---|
//! | [`Strata::list`] | `image list [-R REPO] [REGEX]` | [`ListRequest`] | [`ListOutcome`] |
//! | [`Strata::show`] | `image show IMAGE` | [`ShowRequest`] | [`ShowOutcome`] |
//! | [`Strata::repo_list`] | `image repo list` | (none) | [`RepoListOutcome`] |
//! | [`Strata::import`] | `image import [-t FMT] SRC DST` | [`ImportRequest`] | [`ImportOutcome`] |
//! | [`Strata::export`] | `image export [-t FMT] SRC DST` | [`ExportRequest`] | [`ExportOutcome`] |
//! | [`Strata::copy`] | `image copy SRC DST` | [`CopyRequest`] | [`CopyOutcome`] |
//! | [`Strata::delete`] | `image delete IMAGE[@REV]` | [`DeleteRequest`] | [`DeleteOutcome`] |
//! | [`Strata::resize`] | `image resize IMAGE SIZE` | [`ResizeRequest`] | [`ResizeOutcome`] |
//! | [`Strata::gc`] | `image repo gc REPO` | [`GcRequest`] | [`GcOutcome`] |
//! | [`Strata::verify`] | (strata's own) | [`VerifyRequest`] | [`VerifyOutcome`] |
//! | [`Strata::cache_list`] | `image cache list` | (none) | [`CacheListOutcome`] |
//! | [`Strata::cache_delete`] | `image cache delete IMAGE` | [`CacheDeleteRequest`] | [`CacheDeleteOutcome`] |
//! | [`Strata::cache_gc`] | `image cache gc [-b N] [-c]` | [`CacheGcRequest`] | [`CacheGcOutcome`] |
//! | [`Strata::cache_hold`] | (launchers) | [`ImageRef`] | [`strata_store::CacheHold`] |
//!
//! The rules are pcocc's (`lib/pcocc/Image.py`, v0.7.5) unless an operation's documentation
//! says otherwise; every deliberate difference is listed there with its reason.
//!
//! Modules:
//! - [`app`]: [`Strata`] and [`StrataOptions`]; image lookup and pcocc's `check_overwrite`.
//! - [`ops`]: one module per operation, with its request and outcome types.
//! - [`error`]: [`Error`] and its stable [`ErrorKind`].
//! - [`progress`]: [`Progress`] events, as data.
//! - [`transport`]: the seam a registry client (`docker://`) plugs into.

pub mod app;
pub mod error;
pub mod ops;
pub mod progress;
pub mod transport;

pub use app::{Strata, StrataOptions};
pub use error::{Error, ErrorKind, Result};
pub use ops::cache::{
    CacheDeleteOutcome, CacheDeleteRequest, CacheGcOutcome, CacheGcRequest, CacheListOutcome,
    CacheRow,
};
pub use ops::copy::{BlobCopy, CopyOutcome, CopyRequest};
pub use ops::delete::{DeleteOutcome, DeleteRequest};
pub use ops::export::{ExportOutcome, ExportRequest};
pub use ops::import::{ImportOutcome, ImportRequest};
pub use ops::maintain::{GcOutcome, GcRequest, RepoVerify, VerifyOutcome, VerifyRequest};
pub use ops::query::{
    ImageSummary, ListOutcome, ListRequest, RepoImages, RepoInfo, RepoListOutcome, RevisionSummary,
    ShowOutcome, ShowRequest,
};
pub use ops::resize::{ResizeOutcome, ResizeRequest};
pub use progress::{NoProgress, Phase, Progress, ProgressEvent, Warning};

/// Types of the crates below that appear in requests and outcomes, re-exported so that front
/// ends need no direct dependency for them.
pub use strata_model::{
    ByteSize, Digest, DiskFormat, ImageRef, Kind,
    spec::{Format, Origin},
};
pub use strata_store::{CopyMethod, Env, GcReport, Problem, ReposConfig, Scope, VerifyReport};
pub use transport::{NativeRegistry, RegistrySource, RemoteImage};
