//! [`Error`]: everything that can stop a `pcocc-image` command, each with the
//! [`ErrorKind`] that picks its exit code; [`Failure`], an error as the program ends with it
//! (and whether the command was given `--json`); and [`Pcocc`], the [`Dialect`] that reports it
//! as pcocc does, or as a JSON object (`docs/json.md`).

use std::io;

use strata::ErrorKind;
use strata_cli::LoggingError;
use strata_cli::Styler;
use strata_cli::exit::{self, Dialect, Reported, chain};
use strata_model::text::printable_lines;

use crate::{render, words};

/// Why a command failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The core refused or failed the operation; [`Pcocc`] words it as pcocc does
    /// ([`crate::words`]).
    #[error(transparent)]
    Core(#[from] strata::Error),
    /// The core failed on a source or destination that pcocc names as the user wrote it
    /// (`Failed to import ~/disk : …`).
    #[error("{error}")]
    About {
        /// What failed (boxed: it is large, and rare).
        error: Box<strata::Error>,
        /// The source or destination, as pcocc prints it.
        subject: String,
    },
    /// An argument could not be turned into a request (a bad URI, size or format name).
    #[error("{message}")]
    Request {
        /// What kind of failure, for the exit code.
        kind: ErrorKind,
        /// The message, pcocc's text where pcocc has one (`Bad revision: x`).
        message: String,
    },
    /// A pcocc command that strata does not implement yet.
    #[error("pcocc-image {command}: not supported yet ({why})")]
    NotSupported {
        /// The command, as typed (`cache list`).
        command: &'static str,
        /// Why, in a few words.
        why: &'static str,
    },
    /// `repo verify` found problems (each one is printed on standard output).
    #[error("Verification found {}", render::plural(*.problems, "problem"))]
    VerifyFailed {
        /// How many.
        problems: u64,
    },
    /// Standard output could not be written.
    #[error("cannot write to standard output")]
    Output(#[source] io::Error),
    /// Logging could not be set up (a bad `RUST_LOG`).
    #[error(transparent)]
    Logging(#[from] LoggingError),
    /// The SIGINT and SIGTERM handlers could not be installed.
    #[error("cannot install the signal handlers")]
    Signals(#[source] io::Error),
    /// The command line does not parse: clap's message, without the usage lines that follow
    /// it. Only under `--json`; otherwise clap prints its error and exits 2 itself.
    #[error("{message}")]
    Usage {
        /// clap's message (`unexpected argument '--x' found`).
        message: String,
    },
}

impl Error {
    /// A request error of `kind` with the message of `err`.
    pub fn request(kind: ErrorKind, err: impl std::fmt::Display) -> Error {
        Error::Request {
            kind,
            message: err.to_string(),
        }
    }

    /// `error`, about `subject` when there is one.
    pub fn about(error: strata::Error, subject: Option<String>) -> Error {
        match subject {
            Some(subject) => Error::About {
                error: Box::new(error),
                subject,
            },
            None => Error::Core(error),
        }
    }

    /// The kind of failure, which picks the exit code (`docs/exit-codes.md`).
    pub fn kind(&self) -> Option<ErrorKind> {
        match self {
            Error::Core(err) => Some(err.kind()),
            Error::About { error, .. } => Some(error.kind()),
            Error::Request { kind, .. } => Some(*kind),
            Error::NotSupported { .. } => Some(ErrorKind::Unsupported),
            Error::VerifyFailed { .. } => Some(ErrorKind::IntegrityMismatch),
            Error::Output(_) => Some(ErrorKind::Io),
            Error::Logging(_) => Some(ErrorKind::Config),
            Error::Signals(_) | Error::Usage { .. } => None,
        }
    }

    /// This error, reported as JSON if `json` ([`Failure`]).
    pub fn reported(self, json: bool) -> Failure {
        Reported::new(self, json)
    }
}

/// An error as [`crate::main`] ends with it: the error, and whether the command was given
/// `--json`, so that it is reported as a JSON object (`docs/json.md`).
pub type Failure = Reported<Error>;

/// pcocc's way of reporting errors: the message (and its causes) alone, red on a terminal, on
/// standard error. Exit codes are strata's (sysexits), not pcocc's 255: see
/// `docs/exit-codes.md`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Pcocc;

impl Pcocc {
    /// pcocc's text for `error`, causes included, printable
    /// ([`strata_model::text::printable_lines`]), unstyled.
    pub fn text(error: &Error) -> String {
        let text = match error {
            Error::Core(e) => words::report(e, None),
            Error::About { error, subject } => words::report(error, Some(subject)),
            other => chain(other),
        };
        printable_lines(&text)
    }

    /// The exit code of `error`: clap's 2 for a usage error, else [`exit::sysexits`] of its
    /// kind.
    pub fn code(error: &Error) -> u8 {
        match error {
            Error::Usage { .. } => exit::USAGE_ERROR,
            other => exit::sysexits(other.kind()),
        }
    }
}

impl Dialect for Pcocc {
    type Error = Failure;

    fn kind(&self, failure: &Failure) -> Option<ErrorKind> {
        failure.error.kind()
    }

    fn exit_code(&self, failure: &Failure) -> u8 {
        Pcocc::code(&failure.error)
    }

    fn class(&self, failure: &Failure) -> u8 {
        Pcocc::code(&failure.error)
    }

    fn message(&self, failure: &Failure) -> String {
        Pcocc::text(&failure.error)
    }

    fn report(&self, failure: &Failure, styler: Styler) -> String {
        render::error(&self.message(failure), styler)
    }

    fn json(&self, failure: &Failure) -> bool {
        failure.json
    }
}
