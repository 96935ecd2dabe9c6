//! `pcocc-image`: a drop-in for pcocc's `image` commands on VM and container images, on the
//! strata core.
//!
//! It speaks pcocc's dialect (commands, flags, help, output byte for byte) and adds what pcocc
//! lacks: `repo verify`, `--json` on `list`, `show` and `repo list`, `-q`, `-v` and progress
//! bars. The flow is one way: [`cli`] parses, [`settings`] resolves pcocc's configuration once
//! (its repositories as the core's stores) and holds pcocc's policy values, [`lower`] turns raw
//! flags into core requests with pcocc's rules (URIs, names, format guessing, `~`), [`run`]
//! calls the core ([`strata::Strata`]) and [`render`] turns outcomes into pcocc's text.
//! Errors ([`Error`]) keep the core's [`strata::ErrorKind`] for the exit code
//! (`docs/exit-codes.md`) and print as pcocc prints them ([`words`]), red on a terminal; under
//! `--json` as one JSON line on standard error instead ([`Failure`], `docs/json.md`).
//!
//! The library exists so that tests drive the whole command in-process ([`run_with`]) and
//! tools render its man pages and completions from its definition ([`command`]); `main.rs`
//! only calls [`main`].

pub mod cli;
pub mod error;
pub mod lower;
pub mod render;
pub mod run;
pub mod settings;
pub mod words;

pub use cli::command;
pub use error::{Error, Failure, Pcocc};
pub use run::{main, run_with};
