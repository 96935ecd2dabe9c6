//! `ocne-image`: a drop-in for OCNE's `ocne image upload` (Oracle Cloud Native Environment,
//! oracle-cne/ocne), on the strata core.
//!
//! It speaks OCNE's dialect: its flags and defaults ([`cli`]), its validation texts and
//! cobra's `Error: ` ([`error`]), logrus's lines on standard error ([`log`]) and
//! containers/image's progress lines on standard output ([`copy`]). `create` and `info` are
//! not implemented (`docs/ocne-image.md`).
//!
//! `upload` ([`upload`]) builds what OCNE would upload to OCI — the capability document
//! ([`capability`], OCI's variant, or the Private Cloud Appliance's with `--pca`) and the
//! custom image
//! tarball ([`tarball`]), written atomically ([`atomic`]) — and then says what it cannot do
//! (object storage, image import, oVirt). `-t ostree` copies an OCI archive to any
//! containers-transports destination strata writes, through the core, with OCNE's login
//! retry ([`login`]).
//!
//! The library exists so that tests drive the whole command in-process ([`run_with`]);
//! `main.rs` only calls [`main`].

pub mod atomic;
pub mod boot;
pub mod capability;
pub mod cli;
pub mod config;
pub mod copy;
pub mod create;
pub mod edits;
pub mod error;
pub mod guest;
pub mod info;
pub mod log;
pub mod login;
pub mod ostree;
pub mod run;
pub mod tarball;
pub mod upload;

pub use cli::command;
pub use error::{Error, Failure, Ocne};
pub use run::{Env, main, run_with};
