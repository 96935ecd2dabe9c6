//! `ocne-image`: a drop-in for OCNE's `ocne image` (Oracle Cloud Native Environment,
//! oracle-cne/ocne) on the strata core, without a Kubernetes cluster.
//!
//! It speaks OCNE's dialect: its flags and defaults ([`cli`]), its configuration files
//! ([`config`]), its validation texts and cobra's `Error: ` ([`error`]), logrus's lines on
//! standard error ([`log`], with OCNE's waiting/ok lines in [`run`]) and containers/image's
//! progress lines on standard output ([`copy`]).
//!
//! - `create` ([`create`]): the boot image of OCNE's ock container image ([`boot`]) edited for
//!   OCI or oVirt in strata's build VM ([`guest`], with the text edits in [`edits`]), or an
//!   ostree archive image ([`ostree`]).
//! - `upload` ([`upload`]): what OCNE would upload to OCI — the capability document
//!   ([`capability`]) and the custom image tarball ([`tarball`]), written atomically
//!   ([`atomic`]) — and then what it cannot do (object storage, image import, oVirt); `-t
//!   ostree` copies an OCI archive to any containers-transports destination strata writes,
//!   with OCNE's login retry ([`login`]).
//! - `info` ([`info`]): the boot image's partition table, or a path on its partitions.
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
