//! Exit codes and error reports: [`sysexits`] maps each [`ErrorKind`] to a `sysexits.h` code,
//! a front end's [`Dialect`] words its errors (and may replace the codes), and [`run_main`] is
//! the body of every front end's `main`.
//!
//! The table, its reasons and each original tool's codes are in `docs/exit-codes.md`. In short:
//! 64 invalid request, 65 invalid/corrupt data (and [`ErrorKind::Escape`]), 66 not found,
//! 69 unsupported, 70 internal, 73 already exists, 74 I/O, 75 busy, 77 permission denied,
//! 78 configuration, 130 or 143 interrupted by SIGINT or SIGTERM. A broken pipe on standard
//! output is success (ripgrep's rule).
//!
//! A report never repeats a cause ([`chain`] leaves out a source whose text the message already
//! holds) and never writes a control character to the terminal ([`strata_model::text`]). With
//! `--json` ([`Dialect::json`]), the report is one line of JSON on standard error instead,
//! `{"error":{"kind":"not-found","message":"…","exit_code":66}}` ([`crate::json::error_line`]),
//! whose `kind` is the stable word of the exit code's class ([`word`]); `docs/json.md`
//! documents it.
//!
//! A front end implements [`Dialect`] once, and its `main.rs` is a few lines:
//!
//! ```no_run
//! use std::process::ExitCode;
//!
//! use strata_cli::anstyle::AnsiColor;
//! use strata_cli::{Dialect, Styler, run_main};
//!
//! /// pcocc's manner: the bare message, red on a terminal.
//! struct Pcocc;
//!
//! impl Dialect for Pcocc {
//!     type Error = std::io::Error;
//!
//!     fn kind(&self, _error: &std::io::Error) -> Option<strata::ErrorKind> {
//!         Some(strata::ErrorKind::Io)
//!     }
//!
//!     fn report(&self, error: &std::io::Error, styler: Styler) -> String {
//!         format!("{}\n", styler.click(&error.to_string(), Some(AnsiColor::Red), false))
//!     }
//! }
//!
//! fn run() -> Result<(), std::io::Error> {
//!     strata_cli::print_stdout("hello\n")
//! }
//!
//! fn main() -> ExitCode {
//!     run_main(&Pcocc, run)
//! }
//! ```

use std::error::Error;
use std::io::{self, Write};
use std::process::ExitCode;

use anstyle::AnsiColor;
use strata::ErrorKind;
use strata_model::text::printable_lines;

use crate::term::{Stream, Styler};

/// `EX_USAGE`: the request is wrong ([`ErrorKind::InvalidRequest`]).
pub const USAGE: u8 = 64;
/// `EX_DATAERR`: the input data is wrong ([`ErrorKind::InvalidFormat`], [`ErrorKind::Corrupt`],
/// [`ErrorKind::IntegrityMismatch`], [`ErrorKind::Escape`]).
pub const DATA_ERR: u8 = 65;
/// `EX_NOINPUT`: something named does not exist ([`ErrorKind::NotFound`]).
pub const NO_INPUT: u8 = 66;
/// `EX_UNAVAILABLE`: a feature strata does not implement ([`ErrorKind::Unsupported`]).
pub const UNAVAILABLE: u8 = 69;
/// `EX_SOFTWARE`: an internal error, or an error with no kind.
pub const SOFTWARE: u8 = 70;
/// `EX_CANTCREAT`: the destination exists ([`ErrorKind::AlreadyExists`]).
pub const CANT_CREATE: u8 = 73;
/// `EX_IOERR`: an I/O failure ([`ErrorKind::Io`]).
pub const IO_ERR: u8 = 74;
/// `EX_TEMPFAIL`: in use or locked, try again later ([`ErrorKind::Busy`]).
pub const TEMP_FAIL: u8 = 75;
/// `EX_NOPERM`: the system denied access ([`ErrorKind::PermissionDenied`]).
pub const NO_PERM: u8 = 77;
/// `EX_CONFIG`: the configuration is wrong ([`ErrorKind::Config`]).
pub const CONFIG: u8 = 78;
/// 128 + SIGINT, the shells' code for a command stopped by Ctrl-C ([`ErrorKind::Interrupted`];
/// [`run_main`] gives 143 when SIGTERM stopped it).
pub const INTERRUPTED: u8 = 130;
/// 128 + SIGTERM, the shells' code for a command stopped by SIGTERM ([`ErrorKind::Interrupted`]).
pub const TERMINATED: u8 = 143;

/// The exit code of every pcocc error (`handle_error` calls `sys.exit(-1)`), and of
/// OpenNebula's `CLIHelper.fail` (`exit(-1)`), for a front end that wants their codes.
pub const ALL_ERRORS_255: u8 = 255;
/// The exit code of every transient error (`sys.exit(1)` in `main`), and of OCNE's.
pub const ALL_ERRORS_1: u8 = 1;

/// The exit code of a command line that does not parse (clap's, click's and argparse's).
pub const USAGE_ERROR: u8 = 2;

/// The default exit code for an error of `kind` (`None`: an error with no kind, an internal
/// one). See `docs/exit-codes.md`.
pub const fn sysexits(kind: Option<ErrorKind>) -> u8 {
    match kind {
        Some(ErrorKind::InvalidRequest) => USAGE,
        Some(
            ErrorKind::InvalidFormat
            | ErrorKind::Corrupt
            | ErrorKind::IntegrityMismatch
            // An escaping path is bad input, not a lack of rights: running again as root must
            // not look like the fix.
            | ErrorKind::Escape,
        ) => DATA_ERR,
        Some(ErrorKind::NotFound) => NO_INPUT,
        Some(ErrorKind::Unsupported) => UNAVAILABLE,
        Some(ErrorKind::AlreadyExists) => CANT_CREATE,
        Some(ErrorKind::Io) => IO_ERR,
        Some(ErrorKind::Busy) => TEMP_FAIL,
        Some(ErrorKind::PermissionDenied) => NO_PERM,
        Some(ErrorKind::Config) => CONFIG,
        Some(ErrorKind::Interrupted) => INTERRUPTED,
        _ => SOFTWARE,
    }
}

/// The stable word of an exit code's class, the `kind` of a JSON error: `usage` (2),
/// `invalid-request` (64), `invalid-data` (65), `not-found` (66), `unsupported` (69),
/// `internal` (70, and any code without a class), `already-exists` (73), `io` (74), `busy`
/// (75), `permission-denied` (77), `config` (78), `interrupted` (130 and 143).
pub const fn word(code: u8) -> &'static str {
    match code {
        USAGE_ERROR => "usage",
        USAGE => "invalid-request",
        DATA_ERR => "invalid-data",
        NO_INPUT => "not-found",
        UNAVAILABLE => "unsupported",
        CANT_CREATE => "already-exists",
        IO_ERR => "io",
        TEMP_FAIL => "busy",
        NO_PERM => "permission-denied",
        CONFIG => "config",
        INTERRUPTED | TERMINATED => "interrupted",
        _ => "internal",
    }
}

/// How a front end reports its errors: implemented once per front end, passed to [`run_main`].
pub trait Dialect {
    /// The front end's error type.
    type Error: Error + 'static;

    /// The kind of `error`, if it has one.
    fn kind(&self, error: &Self::Error) -> Option<ErrorKind>;

    /// The exit code for `error`: [`sysexits`] of its kind unless the front end passes its own
    /// table (`|_| ALL_ERRORS_255` for pcocc's codes).
    fn exit_code(&self, error: &Self::Error) -> u8 {
        sysexits(self.kind(error))
    }

    /// The exit code's class of `error`, which picks the `kind` of a JSON error ([`word`]):
    /// [`sysexits`] of its kind, so that the word keeps its meaning where
    /// [`Dialect::exit_code`] gives every error one code. A front end overrides it for errors
    /// of its own codes (a usage error's 2).
    fn class(&self, error: &Self::Error) -> u8 {
        sysexits(self.kind(error))
    }

    /// The message of `error` in the dialect's words, causes included, printable
    /// ([`strata_model::text::printable_lines`]) and unstyled: the `message` of a JSON error
    /// and, by default, the text of [`Dialect::report`]. By default [`chain`].
    fn message(&self, error: &Self::Error) -> String {
        printable_lines(&chain(error))
    }

    /// The text written to standard error for `error`, newline included; `styler` paints only
    /// when standard error shows colours. By default `error: <message>`
    /// ([`Dialect::message`]) with `error:` in bold red. pcocc's is the message alone, in red
    /// (`click.secho(str(err), fg='red', err=True)`): `styler.click(&message,
    /// Some(AnsiColor::Red), false)`.
    fn report(&self, error: &Self::Error, styler: Styler) -> String {
        let prefix = styler.paint("error:", AnsiColor::Red.on_default().bold());
        format!("{prefix} {}\n", self.message(error))
    }

    /// Whether `error` is reported as JSON ([`crate::json::error_line`]) rather than by
    /// [`Dialect::report`]: when the command was given `--json`. No by default.
    fn json(&self, error: &Self::Error) -> bool {
        let _ = error;
        false
    }
}

/// An error as a front end's `main` ends with it: the error, and whether the command was given
/// `--json`, so that the front end's [`Dialect::json`] has it reported as one JSON line
/// (`docs/json.md`). A front end names it (`pub type Failure = Reported<Error>;`) and its
/// dialect's `Error` is that.
#[derive(Debug, thiserror::Error)]
#[error("{error}")]
pub struct Reported<E: Error + 'static> {
    /// The error (boxed: a front end's error is large, and `main` returns it once).
    #[source]
    pub error: Box<E>,
    /// Whether it is reported as JSON.
    pub json: bool,
}

impl<E: Error + 'static> Reported<E> {
    /// `error`, reported as JSON if `json`.
    pub fn new(error: E, json: bool) -> Reported<E> {
        Reported {
            error: Box::new(error),
            json,
        }
    }
}

impl<E: Error + 'static> From<E> for Reported<E> {
    fn from(error: E) -> Reported<E> {
        Reported::new(error, false)
    }
}

/// clap's rendered usage error without its `error: ` prefix and the usage lines and hint that
/// follow it: the message of a usage error reported as JSON (`unexpected argument '--x'
/// found`). `rendered` is `err.render().to_string()` (strata-cli does not depend on clap).
pub fn usage_message(rendered: &str) -> String {
    let text = rendered.strip_prefix("error: ").unwrap_or(rendered);
    let text = text.split("\n\nUsage:").next().unwrap_or(text);
    let text = text
        .split("\n\nFor more information")
        .next()
        .unwrap_or(text);
    text.trim_end().to_owned()
}

/// The messages of `error` and of each of its sources, joined by `": "`, each cause said once
/// ([`push_causes`]).
pub fn chain(error: &dyn Error) -> String {
    let mut text = error.to_string();
    push_causes(&mut text, error.source());
    text
}

/// Appends `": "` and the message of `source`, then of each of its own sources, to `text`,
/// leaving out a cause whose message `text` already holds: an error that quotes its cause in its
/// own message and also returns it as its source (`write at offset 4096: No space left on
/// device`, then `No space left on device`) says it once.
pub fn push_causes(text: &mut String, source: Option<&(dyn Error + 'static)>) {
    let mut source = source;
    while let Some(cause) = source {
        let said = cause.to_string();
        if !said.is_empty() && !text.contains(&said) {
            text.push_str(": ");
            text.push_str(&said);
        }
        source = cause.source();
    }
}

/// Whether `error` or one of its sources is an I/O error of kind `BrokenPipe`.
pub fn is_broken_pipe(error: &(dyn Error + 'static)) -> bool {
    let mut current = Some(error);
    while let Some(err) = current {
        if err
            .downcast_ref::<io::Error>()
            .is_some_and(|io| io.kind() == io::ErrorKind::BrokenPipe)
        {
            return true;
        }
        current = err.source();
    }
    false
}

/// Runs a front end: calls `main`, flushes standard output, and turns the outcome into the exit
/// code. Success is 0, and so is a broken pipe anywhere in the error's chain or on the final
/// flush; any other error is reported on standard error, by `dialect` or as a JSON line when
/// [`Dialect::json`] says so, and exits with `dialect.exit_code` (an interruption with 130 or
/// 143, by the signal).
pub fn run_main<D, F>(dialect: &D, main: F) -> ExitCode
where
    D: Dialect,
    F: FnOnce() -> Result<(), D::Error>,
{
    let result = main();
    let flushed = io::stdout().flush();
    match result {
        Ok(()) => match flushed {
            Err(err) if err.kind() != io::ErrorKind::BrokenPipe => {
                write_stderr(&format!("error: {err}\n"));
                ExitCode::from(IO_ERR)
            }
            _ => ExitCode::SUCCESS,
        },
        Err(err) if is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            let code = if dialect.kind(&err) == Some(ErrorKind::Interrupted) {
                crate::interrupt::exit_code()
            } else {
                dialect.exit_code(&err)
            };
            let report = if dialect.json(&err) {
                crate::json::error_line(dialect.class(&err), &dialect.message(&err), code)
            } else {
                dialect.report(&err, Stream::Stderr.styler())
            };
            write_stderr(&report);
            ExitCode::from(code)
        }
    }
}

/// Writes `text` to standard error, ignoring failure: there is nowhere left to report it.
fn write_stderr(text: &str) {
    let _ = io::stderr().lock().write_all(text.as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("outer")]
    struct Outer(#[source] io::Error);

    #[test]
    fn every_kind_has_its_code() {
        let cases = [
            (ErrorKind::InvalidRequest, 64),
            (ErrorKind::InvalidFormat, 65),
            (ErrorKind::Corrupt, 65),
            (ErrorKind::IntegrityMismatch, 65),
            (ErrorKind::Escape, 65),
            (ErrorKind::NotFound, 66),
            (ErrorKind::Unsupported, 69),
            (ErrorKind::AlreadyExists, 73),
            (ErrorKind::Io, 74),
            (ErrorKind::Busy, 75),
            (ErrorKind::PermissionDenied, 77),
            (ErrorKind::Config, 78),
            (ErrorKind::Interrupted, 130),
        ];
        for (kind, code) in cases {
            assert_eq!(sysexits(Some(kind)), code, "{kind:?}");
        }
        assert_eq!(sysexits(None), 70);
    }

    #[test]
    fn broken_pipe_is_found_in_the_chain() {
        let err = Outer(io::ErrorKind::BrokenPipe.into());
        assert!(is_broken_pipe(&err));
        let err = Outer(io::ErrorKind::NotFound.into());
        assert!(!is_broken_pipe(&err));
    }

    #[test]
    fn usage_messages_lose_their_prefix_usage_and_hint() {
        let rendered = "error: unexpected argument '--x' found\n\n  tip: to pass '--x' as a value, use '-- --x'\n\nUsage: t ls [OPTIONS]\n\nFor more information, try '--help'.\n";
        assert_eq!(
            usage_message(rendered),
            "unexpected argument '--x' found\n\n  tip: to pass '--x' as a value, use '-- --x'"
        );
        assert_eq!(usage_message("no prefix\n"), "no prefix");
    }

    #[test]
    fn a_reported_error_says_its_message() {
        let failure = Reported::from(Outer(io::Error::other("disk on fire")));
        assert!(!failure.json);
        assert_eq!(chain(&failure), "outer: disk on fire");
    }

    #[test]
    fn chain_joins_sources() {
        let err = Outer(io::Error::other("disk on fire"));
        assert_eq!(chain(&err), "outer: disk on fire");
    }

    /// Input quoted in a message reaches the terminal escaped; the report's own colour stays.
    #[test]
    fn reports_are_printable_and_keep_their_colours() {
        struct Plain;
        impl Dialect for Plain {
            type Error = io::Error;
            fn kind(&self, _: &io::Error) -> Option<ErrorKind> {
                None
            }
        }
        let err = io::Error::other("bad entry \u{1b}[2J\u{FFFD}\r");
        let text = Plain.report(&err, Styler::new(true));
        assert!(text.starts_with("\x1b["), "{text:?}");
        assert!(text.ends_with("bad entry \\u{1b}[2J?\\r\n"), "{text:?}");
    }

    #[test]
    fn words_of_the_classes() {
        let words: Vec<&str> = [2, 64, 65, 66, 69, 70, 73, 74, 75, 77, 78, 130, 143, 1, 255]
            .into_iter()
            .map(word)
            .collect();
        assert_eq!(
            words,
            [
                "usage",
                "invalid-request",
                "invalid-data",
                "not-found",
                "unsupported",
                "internal",
                "already-exists",
                "io",
                "busy",
                "permission-denied",
                "config",
                "interrupted",
                "interrupted",
                "internal",
                "internal",
            ]
        );
        // Every kind's default code has a word of its own.
        assert_eq!(word(sysexits(Some(ErrorKind::Escape))), "invalid-data");
        assert_eq!(word(sysexits(None)), "internal");
    }

    /// strata-disk's I/O error says `<path>: <op>: <cause>` and returns the same text's parts as
    /// its sources: the report says the cause once, as the full disk of issue 14 showed it three
    /// times.
    #[test]
    fn chain_says_each_cause_once() {
        #[derive(Debug, thiserror::Error)]
        #[error("{op}: {source}")]
        struct Op {
            op: &'static str,
            #[source]
            source: io::Error,
        }
        #[derive(Debug, thiserror::Error)]
        #[error("/x/out.raw: {source}")]
        struct Top {
            #[source]
            source: Op,
        }
        let full = io::Error::from_raw_os_error(28);
        let err = Top {
            source: Op {
                op: "write 4096 bytes at offset 0",
                source: full,
            },
        };
        let said = io::Error::from_raw_os_error(28).to_string();
        assert_eq!(
            chain(&err),
            format!("/x/out.raw: write 4096 bytes at offset 0: {said}")
        );
        assert_eq!(chain(&err).matches(&said).count(), 1);
    }
}
