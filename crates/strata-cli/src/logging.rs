//! Logging set-up: tracing events to standard error, filtered by `RUST_LOG` or the `-v` count.
//!
//! - `RUST_LOG`, when set and not empty, wins (tracing-subscriber's `EnvFilter` syntax:
//!   `strata_store=debug,info`). Otherwise the number of `-v` picks the level: none `warn`,
//!   `-v` `info`, `-vv` `debug`, `-vvv` and more `trace`.
//! - On a terminal lines have no timestamp and are coloured (unless `NO_COLOR`); off a terminal
//!   (a log file, CI) they carry one and no colours.
//! - Lines are written with progress bars hidden ([`crate::progress::suspend`]), so a log line
//!   never tears a bar.

use std::io::{self, Write};

use tracing_subscriber::EnvFilter;
use tracing_subscriber::filter::{LevelFilter, ParseError};
use tracing_subscriber::fmt::MakeWriter;

use crate::progress::suspend;
use crate::term::Stream;

/// Why logging could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum LoggingError {
    /// `RUST_LOG` is not a valid filter.
    #[error("invalid RUST_LOG value {value:?}")]
    InvalidFilter {
        /// The variable's value.
        value: String,
        /// What the filter parser said.
        #[source]
        source: ParseError,
    },
    /// A global subscriber was already installed.
    #[error("logging was already set up")]
    AlreadySet,
}

/// The level that `verbosity` `-v` flags ask for.
pub const fn level_for(verbosity: u8) -> LevelFilter {
    match verbosity {
        0 => LevelFilter::WARN,
        1 => LevelFilter::INFO,
        2 => LevelFilter::DEBUG,
        _ => LevelFilter::TRACE,
    }
}

/// The filter for `verbosity` and the value of `RUST_LOG` (which wins when set and not empty).
pub fn filter_for(verbosity: u8, rust_log: Option<&str>) -> Result<EnvFilter, LoggingError> {
    match rust_log.map(str::trim).filter(|value| !value.is_empty()) {
        Some(value) => EnvFilter::try_new(value).map_err(|source| LoggingError::InvalidFilter {
            value: value.to_owned(),
            source,
        }),
        None => Ok(EnvFilter::default().add_directive(level_for(verbosity).into())),
    }
}

/// Installs the global subscriber: see the [module docs](self). Call it once, early in `main`.
pub fn init_logging(verbosity: u8) -> Result<(), LoggingError> {
    let rust_log = std::env::var("RUST_LOG").ok();
    let filter = filter_for(verbosity, rust_log.as_deref())?;
    let terminal = Stream::Stderr.is_terminal();
    // A log line that cannot be written is dropped: tracing-subscriber would otherwise report
    // it with `eprintln!`, which panics when standard error is a closed pipe, and an operation
    // must never abort because nobody reads its log.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .log_internal_errors(false)
        .with_writer(SuspendingStderr)
        .with_ansi(Stream::Stderr.colors_enabled())
        .with_target(verbosity >= 2);
    let result = if terminal {
        builder.without_time().try_init()
    } else {
        builder.try_init()
    };
    result.map_err(|_| LoggingError::AlreadySet)
}

/// Standard error, written with progress bars hidden.
#[derive(Debug, Clone, Copy, Default)]
pub struct SuspendingStderr;

impl Write for SuspendingStderr {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        suspend(|| io::stderr().lock().write(buf))
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        suspend(|| io::stderr().lock().write_all(buf))
    }

    fn flush(&mut self) -> io::Result<()> {
        io::stderr().flush()
    }
}

impl<'a> MakeWriter<'a> for SuspendingStderr {
    type Writer = SuspendingStderr;

    fn make_writer(&'a self) -> Self::Writer {
        SuspendingStderr
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verbosity_levels() {
        assert_eq!(level_for(0), LevelFilter::WARN);
        assert_eq!(level_for(1), LevelFilter::INFO);
        assert_eq!(level_for(2), LevelFilter::DEBUG);
        assert_eq!(level_for(9), LevelFilter::TRACE);
    }

    #[test]
    fn rust_log_wins_unless_empty() {
        let filter = filter_for(0, Some("strata=trace")).map(|f| f.to_string());
        assert_eq!(filter.ok().as_deref(), Some("strata=trace"));
        let filter = filter_for(1, Some("  ")).map(|f| f.to_string());
        assert_eq!(filter.ok().as_deref(), Some("info"));
        assert!(matches!(
            filter_for(0, Some("strata=loud")),
            Err(LoggingError::InvalidFilter { .. })
        ));
    }
}
