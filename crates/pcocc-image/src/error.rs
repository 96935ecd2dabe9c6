//! [`Error`]: everything that can stop a `pcocc-image` command, each with the
//! [`ErrorKind`] that picks its exit code, and [`Pcocc`], the [`Dialect`] that reports it as
//! pcocc does.

use std::io;

use strata::ErrorKind;
use strata_cli::LoggingError;
use strata_cli::Styler;
use strata_cli::exit::{Dialect, chain};
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
            Error::Signals(_) => None,
        }
    }
}

/// pcocc's way of reporting errors: the message (and its causes) alone, red on a terminal, on
/// standard error. Exit codes are strata's (sysexits), not pcocc's 255: see
/// `docs/exit-codes.md`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Pcocc;

impl Dialect for Pcocc {
    type Error = Error;

    fn kind(&self, error: &Error) -> Option<ErrorKind> {
        error.kind()
    }

    fn report(&self, error: &Error, styler: Styler) -> String {
        let text = match error {
            Error::Core(e) => words::report(e, None),
            Error::About { error, subject } => words::report(error, Some(subject)),
            other => chain(other),
        };
        render::error(&printable_lines(&text), styler)
    }
}
