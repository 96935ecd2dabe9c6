//! [`Error`]: everything that can stop a `transient-image` command, each with the
//! [`ErrorKind`] that picks its exit code, and [`Transient`], the [`Dialect`] that reports it as
//! transient does.

use std::io;

use strata::ErrorKind;
use strata_cli::exit::{Dialect, chain};
use strata_cli::{LoggingError, Styler};

use crate::words;

/// Why a command failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The core refused or failed the operation; [`Transient`] words it as transient does
    /// ([`crate::words`]).
    #[error(transparent)]
    Core(#[from] strata::Error),
    /// `rm` of a name that no backend file can hold (empty, `.`, `..`, with a NUL).
    #[error("{}", words::no_such_image(.name))]
    NoSuchImage {
        /// The name, as given.
        name: String,
    },
    /// `ls` listed every image, but some could not be read (each was reported on standard
    /// error); the exit code is the last one's.
    #[error("{}", words::unreadable_count(*.count))]
    Unreadable {
        /// How many.
        count: u64,
        /// The kind of the last failure.
        kind: ErrorKind,
    },
    /// Standard output or standard error could not be written.
    #[error("cannot write the output")]
    Output(#[source] io::Error),
    /// Logging could not be set up (a bad `RUST_LOG`).
    #[error(transparent)]
    Logging(#[from] LoggingError),
}

impl Error {
    /// The kind of failure, which picks the exit code (`docs/exit-codes.md`).
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Core(err) => err.kind(),
            Error::NoSuchImage { .. } => ErrorKind::NotFound,
            Error::Unreadable { kind, .. } => *kind,
            Error::Output(_) => ErrorKind::Io,
            Error::Logging(_) => ErrorKind::Config,
        }
    }
}

/// transient's way of reporting errors: `print(e, file=sys.stderr)`, the message alone, no
/// colour. Exit codes are strata's (sysexits), not transient's 1 for every error: see
/// `docs/exit-codes.md`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Transient;

impl Dialect for Transient {
    type Error = Error;

    fn kind(&self, error: &Error) -> Option<ErrorKind> {
        Some(error.kind())
    }

    fn report(&self, error: &Error, _styler: Styler) -> String {
        let text = match error {
            Error::Core(e) => words::report(e),
            other => chain(other),
        };
        format!("{text}\n")
    }
}

#[cfg(test)]
mod tests {
    use strata::ImageKey;
    use strata_cli::exit::sysexits;

    use super::*;

    #[test]
    fn reports_and_codes() {
        let cases = [
            (
                Error::Core(strata::Error::ImageNotFound {
                    key: ImageKey::name("a"),
                    store: Some("backend".into()),
                }),
                "No image in backend with name 'a'\n",
                66,
            ),
            (
                Error::Core(strata::Error::ImageInUse {
                    key: ImageKey::name("a"),
                    store: "backend".into(),
                    users: vec!["vm".into()],
                }),
                "Backend 'a' is in use by ['vm']\n",
                75,
            ),
            (
                Error::NoSuchImage { name: "..".into() },
                "No image in backend with name '..'\n",
                66,
            ),
            (
                Error::Unreadable {
                    count: 2,
                    kind: ErrorKind::InvalidFormat,
                },
                "2 images could not be read\n",
                65,
            ),
            (
                Error::Output(io::Error::other("disk full")),
                "cannot write the output: disk full\n",
                74,
            ),
        ];
        for (error, text, code) in cases {
            assert_eq!(Transient.report(&error, Styler::plain()), text);
            assert_eq!(Transient.exit_code(&error), code, "{error:?}");
            assert_eq!(sysexits(Some(error.kind())), code);
        }
    }
}
