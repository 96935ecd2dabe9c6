//! What the strata front ends share, and nothing else: text for people in each dialect's style.
//!
//! strata-cli holds no business logic and knows no clap. Every front end (`pcocc-image`,
//! `transient-image`, `oneimage`/`onedatastore`, `ocne-image`) calls the core (`strata`), then
//! renders outcomes with the pieces below:
//!
//! - [`table`]: pure renderers, rows of strings in, the exact text the original tool prints out
//!   (pcocc's TextTable, transient's beautifultable `STYLE_NONE`, OpenNebula's `cli_helper.rb`).
//! - [`term`]: is a stream a terminal, may it have colours (`NO_COLOR`), how wide is it, and a
//!   [`Styler`] that paints only when it may.
//! - [`progress`]: a [`strata::Progress`] sink: an indicatif bar on a terminal, plain lines
//!   otherwise, nothing when quiet; the front end words each phase.
//! - [`logging`]: tracing set-up from `-v` and `RUST_LOG`.
//! - [`exit`]: exit codes for [`strata::ErrorKind`] (sysexits), error reports in the dialect's
//!   style, and [`run_main`], the body of every front end's `main`.
//! - [`interrupt`]: SIGINT and SIGTERM stop the operation in progress cleanly.
//! - [`output`] and [`json`]: writing to stdout, where a closed pipe is not an error.

pub mod exit;
pub mod interrupt;
pub mod json;
pub mod logging;
pub mod output;
pub mod progress;
pub mod table;
pub mod term;

pub use anstyle;
pub use exit::{Dialect, Reported, run_main};
pub use json::{print_json, write_json};
pub use logging::{LoggingError, init_logging};
pub use output::print_stdout;
pub use progress::{CliProgress, DefaultWording, Line, ProgressMode, Wording};
pub use term::{Stream, Styler};
