//! `transient-image`: a drop-in for transient's `image` commands (`ls`, `rm`, `build`) on transient's own
//! backend and VM store, on the strata core.
//!
//! It speaks transient 0.25's dialect: the same directories (`--image-backend`,
//! `$TRANSIENT_BACKEND`, `--vmstore`, `$TRANSIENT_VMSTORE`, the XDG defaults), the same name
//! encoding on disk, the same table and messages. It adds `ls --json`, lists what transient
//! cannot (an unreadable image, sizes of a PiB and more) and checks every name of `rm` before
//! removing any. The flow is one way: [`cli`] parses, [`settings`] resolves the directories once
//! into the core's [`strata::FlatStore`], [`lower`] turns raw flags into core requests,
//! [`run`] calls the core ([`strata::Strata`]) and [`render`] turns outcomes into transient's
//! text, with [`words`] for every message. Errors ([`Error`]) keep the core's
//! [`strata::ErrorKind`] for the exit code (`docs/exit-codes.md`) and print as transient prints
//! them: the bare message on standard error, or one JSON line for a command given `--json`
//! ([`Failure`], `docs/json.md`).
//!
//! `build` ([`build`]) runs an Imagefile with strata-build, its steps cached as layers, and
//! stores the result through the core. Its FROM image is fetched into the backend by
//! [`retrieve()`] (a `file=` or `http=` source, gzip, bzip2 or xz decompressed), as transient's
//! `retrieve_image` does.
//!
//! The library exists so that tests drive the whole command in-process ([`run_with`]);
//! `main.rs` only calls [`main`].

pub mod build;
pub mod cli;
pub mod error;
pub mod lower;
pub mod render;
pub mod retrieve;
pub mod run;
pub mod settings;
pub mod words;

pub use cli::command;
pub use error::{Error, Failure, Transient};
pub use retrieve::retrieve;
pub use run::{main, run_with};
