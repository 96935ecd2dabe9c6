//! Dispatch: one arm per command, each lowering its arguments, calling the core and writing the
//! rendered outcome. [`main`] is the binary; [`run_with`] is the same code with the terminal
//! facts and the settings injected.

use std::io::{self, Write};
use std::sync::Mutex;

use clap::Parser;
use jiff::Timestamp;
use jiff::tz::TimeZone;
use strata::{Env, ErrorKind, ProgressEvent, StrataOptions, Warning};

use crate::cli::{Cli, Command};
use crate::error::{Error, Failure, Transient};
use crate::render::{self, Row, Sizes, Unreadable};
use crate::settings::Settings;
use crate::{lower, words};

/// What a command needs to know about its surroundings.
#[derive(Debug, Clone)]
pub struct Terminal {
    /// The zone of the dates of warning lines (Python's `time.localtime`: `TZ`, else
    /// `/etc/localtime`).
    pub tz: TimeZone,
}

impl Terminal {
    /// The facts of this process: the system zone.
    pub fn detect() -> Terminal {
        Terminal {
            tz: TimeZone::system(),
        }
    }

    /// A warning line as transient's `logging.warning` writes it, dated now.
    fn warning(&self, message: &str) -> String {
        words::log_line("WARNING", message, Timestamp::now(), &self.tz)
    }
}

/// The whole program: parses the command line (clap exits 2 on a usage error, 0 for
/// `--help`), sets up logging, resolves the directories, then runs the command on standard
/// output and standard error. A command given `--json` ends with its error reported as JSON, a
/// usage error included (which exits 2 all the same).
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

/// Whether `command` was given `--json` (`ls`).
fn wants_json(command: &Command) -> bool {
    match command {
        Command::Ls(args) => args.json,
        Command::Rm(_) | Command::Build(_) => false,
    }
}

/// [`main`] once the command line parsed.
fn run(cli: Cli) -> Result<(), Error> {
    strata_cli::init_logging(cli.verbose)?;
    let stores = match &cli.command {
        Command::Ls(args) => &args.stores,
        Command::Rm(args) => &args.stores,
        Command::Build(args) => &args.stores,
    };
    let settings = Settings::open(&Env::from_process(), stores, StrataOptions::default())?;
    run_with(
        cli,
        &settings,
        &Terminal::detect(),
        &mut io::stdout(),
        &mut io::stderr(),
    )
}

/// Runs one parsed command line with `settings`, writing results to `out` and warnings to
/// `err`.
pub fn run_with(
    cli: Cli,
    settings: &Settings,
    terminal: &Terminal,
    out: &mut dyn Write,
    err: &mut (dyn Write + Send),
) -> Result<(), Error> {
    match cli.command {
        Command::Ls(args) => {
            let rows = ls_rows(settings)?;
            if args.json {
                strata_cli::write_json(out, &render::json::ls(&rows)).map_err(Error::Output)?;
            } else {
                write(out, &render::ls(&rows))?;
            }
            out.flush().map_err(Error::Output)?;
            // One unreadable image does not hide the others: it is listed with its mark, its
            // reason is a warning, and the command fails at the end with the last one's kind,
            // as `ls` does with an unreadable entry. Under `--json` each is a JSON error line
            // instead, the last one the command's error, as pcocc-image's `list --json` reports
            // its failed repositories (`docs/json.md`).
            let mut unreadable: Vec<(Error, ErrorKind)> = rows
                .iter()
                .filter_map(|row| {
                    let failure = row.sizes.as_ref().err()?;
                    let error = Error::UnreadableImage {
                        name: row.name.clone(),
                        reason: failure.reason.clone(),
                        kind: failure.kind,
                    };
                    Some((error, failure.kind))
                })
                .collect();
            let count = u64::try_from(unreadable.len()).unwrap_or(u64::MAX);
            let Some((last, kind)) = unreadable.pop() else {
                return Ok(());
            };
            if args.json {
                for (error, _) in &unreadable {
                    write(err, &Transient::json_line(error))?;
                }
                return Err(last);
            }
            for error in unreadable.iter().map(|(error, _)| error).chain([&last]) {
                write(err, &terminal.warning(&error.to_string()))?;
            }
            Err(Error::Unreadable { count, kind })
        }
        Command::Rm(args) => {
            let requests = lower::rm(&args)?;
            // transient logs the warning just before it removes an image that VMs use.
            let warnings = Mutex::new((err, Ok(())));
            let progress = |event: &ProgressEvent| {
                if let ProgressEvent::Warning(Warning::RemovingInUse { name, users, .. }) = event
                    && let Ok(mut guard) = warnings.lock()
                {
                    let line = terminal.warning(&words::in_use(name, users));
                    let (err, written) = &mut *guard;
                    if written.is_ok() {
                        *written = err.write_all(line.as_bytes()).and_then(|()| err.flush());
                    }
                }
            };
            let removed = settings.strata.delete_all(&requests, &progress);
            let written = warnings.into_inner().map_or(Ok(()), |(_, written)| written);
            for outcome in removed? {
                tracing::info!(
                    "removed {} from {}",
                    outcome.name,
                    settings.backend.display()
                );
            }
            written.map_err(Error::Output)
        }
        Command::Build(args) => crate::build::run(&args, settings, out),
    }
}

/// Every image of the backend with its sizes, or why they could not be read, sorted by name.
fn ls_rows(settings: &Settings) -> Result<Vec<Row>, Error> {
    let strata = &settings.strata;
    let listing = strata.list(lower::ls())?;
    let mut rows = Vec::new();
    for image in listing.stores.into_iter().flat_map(|store| store.images) {
        // In a registry, the image's reference (reading its layers' files would download them).
        let file = match &settings.registry {
            Some(url) => image
                .revision
                .and_then(|r| strata::stores::registry::tag_of(&image.name, r))
                .map(|tag| format!("{url}:{tag}")),
            None => strata
                .show(lower::show(&image.name))
                .ok()
                .and_then(|shown| shown.layers.last().map(|l| l.path.display().to_string())),
        };
        let sizes = strata.sizes(lower::sizes(&image.name));
        rows.push(Row {
            name: image.name,
            file,
            sizes: sizes
                .map(|s| Sizes {
                    virtual_size: s.virtual_size,
                    actual_size: s.allocated,
                })
                .map_err(|e| Unreadable {
                    reason: words::report(&e),
                    kind: e.kind(),
                }),
        });
    }
    Ok(rows)
}

/// Writes `text` to `out` and flushes it.
fn write(out: &mut dyn Write, text: &str) -> Result<(), Error> {
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(Error::Output)
}
