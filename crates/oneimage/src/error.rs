//! [`Error`]: what `oneimage` and `onedatastore` fail with, and [`One`], how they report it:
//! the message alone on standard error, as OpenNebula's CLI prints it, and strata's sysexits
//! code for its kind (`docs/exit-codes.md`: OpenNebula exits 255 for everything; its callers
//! test non-zero, which every code is).

use std::path::PathBuf;

use strata::ErrorKind;
use strata::pool::PoolError;
use strata_cli::{Dialect, Styler};
use strata_model::one::TemplateError;

use crate::render::TableError;

/// Why a command failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The pool refused the request, or its files failed: OpenNebula's framed answer
    /// (`[one.image.delete] ...`) or the store's error.
    #[error(transparent)]
    Pool(#[from] PoolError),
    /// An argument the CLI reads itself: a name that resolves to several objects, a bad
    /// range, size or permission.
    #[error("{message}")]
    Argument {
        /// OpenNebula's text.
        message: String,
    },
    /// A name that resolves to nothing (`IMAGE named x not found.`), or a file the client
    /// could not open.
    #[error("{message}")]
    NotFound {
        /// OpenNebula's text.
        message: String,
    },
    /// The image was made, but its data could not be put in: it is in ERROR with this reason.
    #[error("{message}")]
    Fill {
        /// Why.
        message: String,
    },
    /// A template the server cannot parse (`[one.image.allocate] Parse error: ...`).
    #[error("[{method}] {error}")]
    Template {
        /// The request that carried it.
        method: &'static str,
        /// The parse error.
        #[source]
        error: TemplateError,
    },
    /// A list option OpenNebula refuses (`-l`, `-f`, `-s`).
    #[error(transparent)]
    List(#[from] TableError),
    /// A file named on the command line cannot be read.
    #[error("Cannot read {}: {source}", .path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// The editor of `update` could not run or failed.
    #[error("{message}")]
    Editor {
        /// What happened.
        message: String,
    },
    /// A command run for a client needs the client's editor on this template text (the
    /// daemon answers with it; the client edits and asks again).
    #[error("the template must be edited by the client")]
    NeedsEditor {
        /// The template to edit.
        text: String,
    },
    /// The strata daemon could not be reached or answered badly.
    #[error("Cannot reach the strata daemon at {}: {source}", .socket.display())]
    Daemon {
        /// Its socket.
        socket: PathBuf,
        /// What failed.
        #[source]
        source: crate::wire::WireError,
    },
    /// Writing to standard output failed.
    #[error("Cannot write the output: {0}")]
    Output(#[from] std::io::Error),
    /// The failures were already printed (one line per object of a range); only the exit
    /// status is left to give: that of the last failure's kind.
    #[error("")]
    Reported {
        /// The last failure's kind.
        kind: Option<ErrorKind>,
    },
}

impl Error {
    /// The core's classification of the error, where it has one.
    pub fn kind(&self) -> Option<ErrorKind> {
        match self {
            Error::Pool(e) => Some(e.kind()),
            Error::Argument { .. } | Error::Template { .. } | Error::List(_) => {
                Some(ErrorKind::InvalidRequest)
            }
            Error::NotFound { .. } => Some(ErrorKind::NotFound),
            Error::Fill { .. } => Some(ErrorKind::InvalidFormat),
            Error::Reported { kind } => *kind,
            Error::Read { .. } | Error::Output(_) => Some(ErrorKind::Io),
            Error::Daemon { .. } => Some(ErrorKind::Io),
            Error::Editor { .. } | Error::NeedsEditor { .. } => None,
        }
    }
}

/// The OpenNebula dialect of error reports.
#[derive(Debug, Clone, Copy, Default)]
pub struct One;

impl Dialect for One {
    type Error = Error;

    fn kind(&self, error: &Error) -> Option<ErrorKind> {
        error.kind()
    }

    fn message(&self, error: &Error) -> String {
        error.to_string()
    }

    fn report(&self, error: &Error, _styler: Styler) -> String {
        match error {
            Error::Reported { .. } => String::new(),
            e => format!("{}\n", self.message(e)),
        }
    }
}
