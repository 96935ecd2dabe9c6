//! Dispatch: one function per command, each lowering its arguments, calling the core and
//! writing the rendered outcome. [`main`] is the binary; [`run_with`] is the same code with
//! the terminal facts and the core's options injected, for tests.

use std::io::{self, Write};

use clap::Parser;
use jiff::tz::TimeZone;
use strata::{Strata, StrataOptions};
use strata_cli::{CliProgress, ProgressMode, Stream, Styler};

use crate::cli::{CacheCommand, Cli, Command, RepoCommand};
use crate::error::Error;
use crate::lower;
use crate::render::{self, PcoccWording};

/// What a command needs to know about where its text goes.
#[derive(Debug, Clone)]
pub struct Terminal {
    /// The zone dates are printed in (pcocc's `time.localtime`: `TZ`, else `/etc/localtime`).
    pub tz: TimeZone,
    /// Paints standard output (the `"{Repo} images:"` titles, the copy message, warnings).
    pub stdout: Styler,
    /// How progress is shown: bars, lines or nothing.
    pub progress: ProgressMode,
}

impl Terminal {
    /// The facts of this process: the system zone, colours when standard output is a terminal
    /// (and `NO_COLOR` is unset), progress by [`ProgressMode::detect`].
    pub fn detect(quiet: bool) -> Terminal {
        Terminal {
            tz: TimeZone::system(),
            stdout: Stream::Stdout.styler(),
            progress: ProgressMode::detect(quiet),
        }
    }
}

/// The whole program: parses the command line (clap exits 2 on a usage error, 0 for
/// `--help`), sets up logging, then runs the command on standard output.
pub fn main() -> Result<(), Error> {
    let cli = Cli::parse();
    strata_cli::init_logging(cli.verbose)?;
    let terminal = Terminal::detect(cli.quiet);
    run_with(
        cli,
        StrataOptions::from_process(),
        &terminal,
        &mut io::stdout(),
    )
}

/// Runs one parsed command line against a core opened with `options`, writing results to
/// `out`. Progress lines and warnings (which pcocc prints on standard output too) go to the
/// process's own streams, so in-process callers should pass [`ProgressMode::Quiet`].
pub fn run_with(
    cli: Cli,
    options: StrataOptions,
    terminal: &Terminal,
    out: &mut dyn Write,
) -> Result<(), Error> {
    let strata = Strata::open(options)?;
    let quiet_phases = || CliProgress::new(terminal.progress, PcoccWording::quiet_phases());
    let tz = &terminal.tz;
    match cli.command {
        Command::List(args) => {
            let outcome = strata.list(lower::list(&args))?;
            if args.json {
                json(out, &render::json::list(&outcome, tz))
            } else {
                write(out, &render::list(&outcome, tz, terminal.stdout))
            }
        }
        Command::Show(args) => {
            let outcome = strata.show(lower::show(&args.image)?)?;
            if args.json {
                json(out, &render::json::show(&outcome, tz))
            } else {
                write(out, &render::show(&outcome, tz))
            }
        }
        Command::Import(args) => {
            let request = lower::import(&args)?;
            let progress = CliProgress::new(terminal.progress, PcoccWording::with_phase_lines());
            strata.import(request, &progress)?;
            Ok(())
        }
        Command::Export(args) => {
            let request = lower::export(&args)?;
            let progress = CliProgress::new(terminal.progress, PcoccWording::with_phase_lines());
            strata.export(request, &progress)?;
            Ok(())
        }
        Command::Copy(args) => {
            // pcocc prints this first, before it even parses the URIs.
            write(out, &render::copy_started())?;
            let request = lower::copy(&args)?;
            strata.copy(request, &quiet_phases())?;
            write(out, &render::copy_finished(terminal.stdout))
        }
        Command::Delete(args) => {
            let outcome = strata.delete(lower::delete(&args)?)?;
            tracing::info!(
                "deleted {}:{} revisions {:?}",
                outcome.repo,
                outcome.name,
                outcome.revisions
            );
            Ok(())
        }
        Command::Resize(args) => {
            let outcome = strata.resize(lower::resize(&args)?, &quiet_phases())?;
            tracing::info!(
                "{} resized from {} to {} bytes",
                outcome.image.uri(),
                outcome.old_size,
                outcome.new_size
            );
            Ok(())
        }
        Command::Repo(RepoCommand::List(args)) => {
            let outcome = strata.repo_list()?;
            if args.json {
                json(out, &render::json::repo_list(&outcome))
            } else {
                write(out, &render::repo_list(&outcome))
            }
        }
        Command::Repo(RepoCommand::Gc(args)) => {
            let outcome = strata.gc(lower::gc(&args), &quiet_phases())?;
            tracing::info!("{}", render::gc_summary(&outcome));
            Ok(())
        }
        Command::Repo(RepoCommand::Verify(args)) => {
            let outcome = strata.verify(lower::verify(&args), &quiet_phases())?;
            write(out, &render::verify(&outcome))?;
            let problems: usize = outcome.repos.iter().map(|r| r.report.problems.len()).sum();
            let problems = u64::try_from(problems).unwrap_or(u64::MAX);
            if problems == 0 {
                Ok(())
            } else {
                Err(Error::VerifyFailed { problems })
            }
        }
        Command::Cache(CacheCommand::List) => {
            let outcome = strata.cache_list()?;
            write(out, &render::cache_list(&outcome))
        }
        Command::Cache(CacheCommand::Delete { image }) => {
            let outcome = strata.cache_delete(lower::cache_delete(&image)?)?;
            tracing::info!("removed {} cache entries", outcome.removed.len());
            Ok(())
        }
        Command::Cache(CacheCommand::Gc {
            force_below,
            force_clear,
        }) => {
            let outcome = strata.cache_gc(lower::cache_gc(force_below, force_clear)?)?;
            write(out, &render::cache_gc(&outcome))?;
            for hash in &outcome.removal.held {
                tracing::warn!(
                    "cache blob {} kept: a running container holds it",
                    render::short_hash(hash)
                );
            }
            Ok(())
        }
    }
}

/// Writes `text` to `out` and flushes it, so that it comes before what the core prints next.
fn write(out: &mut dyn Write, text: &str) -> Result<(), Error> {
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(Error::Output)
}

/// Writes `value` as pretty JSON and a newline to `out`.
fn json<T: serde::Serialize>(out: &mut dyn Write, value: &T) -> Result<(), Error> {
    strata_cli::write_json(out, value)
        .and_then(|()| out.flush())
        .map_err(Error::Output)
}
