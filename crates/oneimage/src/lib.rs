//! `oneimage` and `onedatastore`: OpenNebula's image and datastore commands over a strata pool
//! ([`strata::pool::Pool`]).
//!
//! They speak OpenNebula's dialect: the same subcommands and options, ranges (`1,8..15`) and
//! names resolved as OpenNebula resolves them, OpenNebula's refusals word for word (the rules
//! are strata-model's `one` module, applied by the core), and the same output byte for byte
//! ([`render`]: list tables, `show` text, and the XML, JSON and YAML documents of `-x`, `-j`
//! and `-y`). Every failure prints its message on standard error, as OpenNebula's CLI does,
//! and exits with strata's code for its kind ([`error`], `docs/exit-codes.md`).
//!
//! The pool is a personal one, or a shared one served by the strata daemon (`strata-oned`,
//! [`daemon`]), whose clients the commands then are ([`client`], [`wire`]): see
//! [`settings::target`]. The flow is one way: [`cli`] parses,
//! [`settings`] finds the pool and the caller, [`resolve`] reads arguments against the pool,
//! [`run`] calls the core and prints with [`render`].
//!
//! The library exists so that tests drive whole commands in-process ([`run_image_with`],
//! [`run_datastore_with`]); the binaries only call [`main_oneimage`] and [`main_onedatastore`].

pub mod cli;
pub mod client;
pub mod daemon;
pub mod error;
pub mod render;
pub mod resolve;
pub mod run;
pub mod settings;
pub mod wire;
pub mod xmlrpc;

use std::ffi::OsString;
use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use clap::Parser;
use jiff::tz::TimeZone;
use strata_store::Env;

pub use error::{Error, One};
use run::Io;
use settings::Settings;

/// Parses a command line as clap does: a usage error exits 2, `--help` and `--version` 0.
fn parse<P: Parser>(args: impl IntoIterator<Item = OsString>) -> Result<P, ExitCode> {
    P::try_parse_from(args).map_err(|e| {
        let _ = e.print();
        ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(2))
    })
}

/// The io of a command run in this process, on its own terminal.
fn process_io<'a>(
    out: &'a mut dyn Write,
    err: &'a mut dyn Write,
    inputs: &'a mut dyn run::Inputs,
) -> Io<'a> {
    let tty = std::io::stdout().is_terminal();
    Io {
        out,
        err,
        inputs,
        cwd: std::env::current_dir().unwrap_or_else(|_| "/".into()),
        tty,
        width: if tty {
            strata_cli::term::terminal_width()
        } else {
            None
        },
        tz: TimeZone::system(),
    }
}

fn local_inputs() -> run::LocalInputs {
    let stdin = std::io::stdin();
    run::LocalInputs {
        stdin: (!stdin.is_terminal()).then_some(stdin),
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

/// Runs a command line through the daemon of a shared pool.
fn remote(bin: wire::Bin, socket: &std::path::Path) -> ExitCode {
    let argv: Option<Vec<String>> = std::env::args_os().map(|a| a.into_string().ok()).collect();
    let Some(argv) = argv else {
        let _ = writeln!(std::io::stderr(), "Arguments must be UTF-8 text");
        return ExitCode::from(2);
    };
    let mut code = 0;
    let exit = strata_cli::run_main(&One, || {
        code = client::run_remote(bin, argv, socket)?;
        Ok(())
    });
    if exit == ExitCode::SUCCESS {
        ExitCode::from(code)
    } else {
        exit
    }
}

/// `strata-oned`'s command line as clap holds it (for its man page and completions).
pub fn oned_command() -> clap::Command {
    <cli::StrataOned as clap::CommandFactory>::command()
}

/// A tool's body: its arguments, the settings, standard output and standard error.
type Runner<P> = fn(P, &Settings, &mut dyn Write, &mut dyn Write) -> Result<(), Error>;

/// The body of a tool's binary: its command line parsed, then run on the personal pool or sent
/// to the daemon of the shared one ([`settings::target`]).
fn main_tool<P: Parser>(bin: wire::Bin, run: Runner<P>) -> ExitCode {
    let args = match parse::<P>(std::env::args_os()) {
        Ok(args) => args,
        Err(code) => return code,
    };
    let env = Env::from_process();
    if let settings::Target::Shared(socket) = settings::target(&env) {
        return remote(bin, &socket);
    }
    strata_cli::run_main(&One, || {
        let settings = Settings::from_process(&env);
        run(
            args,
            &settings,
            &mut std::io::stdout(),
            &mut std::io::stderr(),
        )
    })
}

/// The body of the `oneimage` binary.
pub fn main_oneimage() -> ExitCode {
    main_tool(wire::Bin::Oneimage, run_image_with)
}

/// The body of the `onedatastore` binary.
pub fn main_onedatastore() -> ExitCode {
    main_tool(wire::Bin::Onedatastore, run_datastore_with)
}

/// The body of the `strata-oned` binary: serves the shared pool until SIGTERM or SIGINT.
pub fn main_oned() -> ExitCode {
    let args = match parse::<cli::StrataOned>(std::env::args_os()) {
        Ok(args) => args,
        Err(code) => return code,
    };
    strata_cli::run_main(&One, || daemon::run(&args))
}

/// Runs one `oneimage` command with these settings, writing to `out` and `err`; standard input
/// is read for a template when it is not a terminal.
pub fn run_image_with(
    args: cli::OneImage,
    settings: &Settings,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<(), Error> {
    run_local(args, settings, out, err, run::run_image)
}

/// Runs one `onedatastore` command with these settings, writing to `out` and `err`.
pub fn run_datastore_with(
    args: cli::OneDatastore,
    settings: &Settings,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<(), Error> {
    run_local(args, settings, out, err, run::run_datastore)
}

/// A tool's command on the personal pool of `settings`, with this process's inputs.
fn run_local<P>(
    args: P,
    settings: &Settings,
    out: &mut dyn Write,
    err: &mut dyn Write,
    run: fn(P, &strata::pool::Pool, &Settings, &mut Io<'_>) -> Result<(), Error>,
) -> Result<(), Error> {
    let pool = run::open_pool(settings)?;
    let mut inputs = local_inputs();
    run(
        args,
        &pool,
        settings,
        &mut process_io(out, err, &mut inputs),
    )
}
