//! Dispatch: one arm per command, each lowering its arguments, calling the core and writing the
//! rendered outcome. [`main`] is the binary; [`run_with`] is the same code with the terminal
//! facts and the settings injected.

use std::io::{self, Write};

use clap::Parser;
use jiff::tz::TimeZone;
use strata::{Env, StrataOptions};
use strata_cli::Line;
use strata_cli::{CliProgress, ProgressMode, Stream, Styler};

use crate::cli::{CacheCommand, Cli, Command, RepoCommand};
use crate::error::{Error, Failure, Pcocc};
use crate::lower;
use crate::render::{self, PcoccWording};
use crate::settings::Settings;

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
/// `--help`), sets up logging, resolves pcocc's configuration, then runs the command on
/// standard output. A command given `--json` ends with its error reported as JSON, a usage
/// error included (which exits 2 all the same).
pub fn main() -> Result<(), Failure> {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) if err.use_stderr() && strata_cli::json::on_command_line() => {
            return Err(Error::Usage {
                message: strata_cli::exit::usage_message(&err.render().to_string()),
            }
            .reported(true));
        }
        Err(err) => err.exit(),
    };
    let json = wants_json(&cli.command);
    run(cli).map_err(|error| error.reported(json))
}

/// Whether `command` was given `--json` (`list`, `show`, `repo list`).
fn wants_json(command: &Command) -> bool {
    match command {
        Command::List(args) => args.json,
        Command::Show(args) => args.json,
        Command::Repo(RepoCommand::List(args)) => args.json,
        _ => false,
    }
}

/// [`main`] once the command line parsed.
fn run(cli: Cli) -> Result<(), Error> {
    strata_cli::init_logging(cli.verbose)?;
    let terminal = Terminal::detect(cli.quiet);
    let options = StrataOptions {
        cancel: Some(strata_cli::interrupt::install().map_err(Error::Signals)?),
        ..StrataOptions::default()
    };
    let settings = Settings::open(Env::from_process(), None, options)?;
    run_with(cli, &settings, &terminal, &mut io::stdout())
}

/// Runs one parsed command line with `settings`, writing results to `out`. Progress lines and
/// warnings (which pcocc prints on standard output too) go to the process's own streams, so
/// in-process callers should pass [`ProgressMode::Quiet`].
pub fn run_with(
    cli: Cli,
    settings: &Settings,
    terminal: &Terminal,
    out: &mut dyn Write,
) -> Result<(), Error> {
    let strata = &settings.strata;
    let quiet_phases = || CliProgress::new(terminal.progress, PcoccWording::quiet_phases());
    let tz = &terminal.tz;
    match cli.command {
        Command::List(args) => {
            let mut outcome = strata.list(lower::list(&args)?)?;
            if args.json {
                json(out, &render::json::list(&outcome, tz))?;
            } else {
                write(out, &render::list(&outcome, tz, terminal.stdout))?;
            }
            // A repository that could not be listed is reported after the others, as `ls`
            // does; the last one's code is the exit code.
            let last = outcome.failed.pop();
            for failure in outcome.failed {
                let error = Error::Core(failure.error);
                let text = Pcocc::text(&error);
                let line = if args.json {
                    let code = Pcocc::code(&error);
                    Line::stderr(strata_cli::json::error_line(code, &text, code).trim_end())
                } else {
                    render::error_line(&text)
                };
                strata_cli::progress::print_line(&line);
            }
            match last {
                Some(failure) => Err(Error::Core(failure.error)),
                None => Ok(()),
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
            let lowered = lower::import(&args, settings)?;
            if lowered.assumed_raw {
                strata_cli::progress::print_line(&render::assumed_raw_warning());
            }
            let progress = CliProgress::new(terminal.progress, PcoccWording::with_phase_lines());
            strata
                .import(lowered.request, &progress)
                .map_err(|e| Error::about(e, lowered.subject))?;
            Ok(())
        }
        Command::Export(args) => {
            let lowered = lower::export(&args, settings)?;
            let progress = CliProgress::new(terminal.progress, PcoccWording::with_phase_lines());
            strata
                .export(lowered.request, &progress)
                .map_err(|e| Error::about(e, lowered.subject))?;
            Ok(())
        }
        Command::Copy(args) => {
            // pcocc prints this first, before it even parses the URIs.
            write(out, &render::copy_started())?;
            let request = lower::copy(&args, settings)?;
            strata.copy(request, &quiet_phases())?;
            write(out, &render::copy_finished(terminal.stdout))
        }
        Command::Delete(args) => {
            // pcocc removes the image's cache entries first, the image found as every lookup
            // finds it (which may not be the one deleted, see `lower::delete`).
            if settings.config.cache_def().is_some() {
                strata.cache_delete(lower::cache_delete(&args.image)?)?;
            }
            let outcome = strata.delete(lower::delete(&args, settings)?)?;
            tracing::info!(
                "deleted {}:{} revisions {:?}",
                outcome.store,
                outcome.name,
                outcome.revisions
            );
            Ok(())
        }
        Command::Resize(args) => {
            let outcome = strata.resize(lower::resize(&args)?, &quiet_phases())?;
            tracing::info!(
                "{} resized from {} to {} bytes",
                render::uri(&outcome.image),
                outcome.old_size,
                outcome.new_size
            );
            Ok(())
        }
        Command::Repo(RepoCommand::List(args)) => {
            let repos = render::RepoRow::rows(&settings.config, &strata.store_list());
            if args.json {
                json(out, &render::json::repo_list(&repos))
            } else {
                write(out, &render::repo_list(&repos))
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
            let problems: usize = outcome.stores.iter().map(|r| r.report.problems.len()).sum();
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
