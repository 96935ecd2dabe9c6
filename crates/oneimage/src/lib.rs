//! `oneimage` and `onedatastore`: OpenNebula's image and datastore commands over a strata pool
//! ([`strata::pool::Pool`]).
//!
//! They speak OpenNebula's dialect: the same subcommands and options, ranges (`1,8..15`) and
//! names resolved as OpenNebula resolves them, OpenNebula's refusals word for word (the rules
//! are strata-model's `one` module, applied by the core), and the same output byte for byte
//! ([`render`]: list tables, `show` text, and the XML, JSON and YAML documents of `-x`, `-j`
//! and `-y`). Every failure prints its message on standard error and exits with 255, as
//! OpenNebula's CLI does ([`error`]).
//!
//! The pool is a personal one: see [`settings`]. The flow is one way: [`cli`] parses,
//! [`settings`] finds the pool and the caller, [`resolve`] reads arguments against the pool,
//! [`run`] calls the core and prints with [`render`].
//!
//! The library exists so that tests drive whole commands in-process ([`run_image_with`],
//! [`run_datastore_with`]); the binaries only call [`main_oneimage`] and [`main_onedatastore`].

pub mod cli;
pub mod error;
pub mod render;
pub mod resolve;
pub mod run;
pub mod settings;
pub mod xmlrpc;

use std::ffi::OsString;
use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use clap::Parser;
use jiff::tz::TimeZone;
use strata_store::Env;

pub use error::{Error, FAILURE, One};
use run::Io;
use settings::Settings;

/// Parses a command line as clap does, with OpenNebula's exit status for a usage error (255)
/// and clap's for `--help` and `--version` (0).
fn parse<P: Parser>(args: impl IntoIterator<Item = OsString>) -> Result<P, ExitCode> {
    P::try_parse_from(args).map_err(|e| {
        let _ = e.print();
        if e.use_stderr() {
            ExitCode::from(FAILURE)
        } else {
            ExitCode::SUCCESS
        }
    })
}

fn process_io<'a>(
    out: &'a mut dyn Write,
    err: &'a mut dyn Write,
    stdin: Option<&'a mut dyn std::io::Read>,
) -> Io<'a> {
    Io {
        out,
        err,
        stdin,
        tty: std::io::stdout().is_terminal(),
        tz: TimeZone::system(),
    }
}

/// `oneimage`'s command line as clap holds it (for man pages and completions).
pub fn image_command() -> clap::Command {
    <cli::OneImage as clap::CommandFactory>::command()
}

/// `onedatastore`'s command line as clap holds it (for man pages and completions).
pub fn datastore_command() -> clap::Command {
    <cli::OneDatastore as clap::CommandFactory>::command()
}

/// The body of the `oneimage` binary.
pub fn main_oneimage() -> ExitCode {
    let args = match parse::<cli::OneImage>(std::env::args_os()) {
        Ok(args) => args,
        Err(code) => return code,
    };
    strata_cli::run_main(&One, || {
        let settings = Settings::from_process(&Env::from_process());
        run_image_with(
            args,
            &settings,
            &mut std::io::stdout(),
            &mut std::io::stderr(),
        )
    })
}

/// The body of the `onedatastore` binary.
pub fn main_onedatastore() -> ExitCode {
    let args = match parse::<cli::OneDatastore>(std::env::args_os()) {
        Ok(args) => args,
        Err(code) => return code,
    };
    strata_cli::run_main(&One, || {
        let settings = Settings::from_process(&Env::from_process());
        run_datastore_with(
            args,
            &settings,
            &mut std::io::stdout(),
            &mut std::io::stderr(),
        )
    })
}

/// Runs one `oneimage` command with these settings, writing to `out` and `err`; standard input
/// is read for a template when it is not a terminal.
pub fn run_image_with(
    args: cli::OneImage,
    settings: &Settings,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<(), Error> {
    let mut stdin = run::piped_stdin();
    let stdin = stdin.as_mut().map(|s| s as &mut dyn std::io::Read);
    run::run_image(args, settings, &mut process_io(out, err, stdin))
}

/// Runs one `onedatastore` command with these settings, writing to `out` and `err`.
pub fn run_datastore_with(
    args: cli::OneDatastore,
    settings: &Settings,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<(), Error> {
    let mut stdin = run::piped_stdin();
    let stdin = stdin.as_mut().map(|s| s as &mut dyn std::io::Read);
    run::run_datastore(args, settings, &mut process_io(out, err, stdin))
}
