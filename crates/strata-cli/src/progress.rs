//! [`CliProgress`]: the [`strata::Progress`] sink of every front end, worded by the front end.
//!
//! Three modes ([`ProgressMode`]):
//!
//! - **Bar** (standard error is a terminal): the dialect's phase lines, and while a phase moves
//!   bytes, an indicatif bar on standard error with bytes done, total, rate and ETA (a spinner
//!   with bytes and rate when the total is unknown). The bar appears with the phase's first
//!   progress, so phases that move no bytes (`Storing`) never show one, and it is cleared when
//!   the phase ends.
//! - **Lines** (standard error is not a terminal: logs, CI): the dialect's phase lines, and for
//!   a long phase a heartbeat on standard error, `<label> 25%` (or `<label> 1.50 GiB` without a
//!   total), at most every [`HEARTBEAT`] and only when the figure changed. A phase shorter than
//!   that prints no heartbeat, so a quick command reads exactly as the original tool's.
//! - **Quiet** (`--quiet`): no bars, no phase lines. Warnings still print: they are not
//!   progress.
//!
//! The dialect's words come from a [`Wording`] the front end passes (pcocc:
//! `Storing image in repository 'user' as 'centos' ... `, then `Converting image...`, on
//! standard output as pcocc prints them); [`DefaultWording`] is neutral English. Bars and
//! heartbeats always go to standard error, so they never mix with what a script reads.
//!
//! Cost: an `Advanced` event takes one uncontended mutex and, for a bar, one atomic store and
//! a clock read inside indicatif (which redraws at most 20 times a second). Quiet takes no lock.
//! The sink is `Send + Sync`; phases nest (a `Started` inside a phase pushes, `Finished` pops).

use std::io::Write;
use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use anstyle::{AnsiColor, Style};
use indicatif::{HumanBytes, MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use strata::{Phase, Progress, ProgressEvent, Warning};

use crate::term::Stream;

/// The least time between two heartbeat lines of [`ProgressMode::Lines`].
pub const HEARTBEAT: Duration = Duration::from_secs(5);

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProgressMode {
    /// Bars on standard error, which is a terminal.
    Bar,
    /// Plain lines, for standard error that is not a terminal.
    Lines,
    /// Nothing but warnings.
    Quiet,
}

impl ProgressMode {
    /// The mode for this process: [`ProgressMode::Quiet`] if `quiet`, else
    /// [`ProgressMode::Bar`] when standard error is a terminal, else [`ProgressMode::Lines`].
    pub fn detect(quiet: bool) -> ProgressMode {
        if quiet {
            ProgressMode::Quiet
        } else if Stream::Stderr.is_terminal() {
            ProgressMode::Bar
        } else {
            ProgressMode::Lines
        }
    }
}

/// A line of text for people, with where it goes and how it looks on a terminal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// The text, without its newline.
    pub text: String,
    /// The stream it is written to.
    pub stream: Stream,
    /// Its colour when that stream shows colours; the plain text otherwise.
    pub style: Style,
}

impl Line {
    /// A plain line on standard error.
    pub fn stderr(text: impl Into<String>) -> Line {
        Line {
            text: text.into(),
            stream: Stream::Stderr,
            style: Style::new(),
        }
    }

    /// A plain line on standard output.
    pub fn stdout(text: impl Into<String>) -> Line {
        Line {
            text: text.into(),
            stream: Stream::Stdout,
            style: Style::new(),
        }
    }

    /// The same line in `style`.
    pub fn styled(mut self, style: Style) -> Line {
        self.style = style;
        self
    }
}

/// How a front end words progress: the dialect's text for each phase and warning.
pub trait Wording: Send + Sync {
    /// The line printed when `phase` starts, if any.
    fn started(&self, phase: &Phase) -> Option<Line>;

    /// The line printed when `phase` ends, if any. None by default.
    fn finished(&self, phase: &Phase) -> Option<Line> {
        let _ = phase;
        None
    }

    /// The short label of a moving phase, shown before its bar and in heartbeat lines
    /// (`Converting image...` gives `Converting image... 25%`). By default the start line's
    /// text, trimmed, or [`DefaultWording`]'s.
    fn label(&self, phase: &Phase) -> String {
        match self.started(phase) {
            Some(line) => line.text.trim().to_owned(),
            None => DefaultWording.label(phase),
        }
    }

    /// The line for a warning.
    fn warning(&self, warning: &Warning) -> Line;
}

/// Neutral English wording, on standard error, for front ends (and embedders) without a dialect
/// of their own.
#[derive(Debug, Clone, Copy, Default)]
pub struct DefaultWording;

impl Wording for DefaultWording {
    fn started(&self, phase: &Phase) -> Option<Line> {
        Some(Line::stderr(default_label(phase)))
    }

    fn label(&self, phase: &Phase) -> String {
        default_label(phase)
    }

    fn warning(&self, warning: &Warning) -> Line {
        let text = match warning {
            Warning::NameExistsElsewhere { name, store } => {
                format!("warning: an image named '{name}' also exists in store '{store}'")
            }
            other => format!("warning: {other:?}"),
        };
        Line::stderr(text).styled(AnsiColor::Yellow.on_default())
    }
}

/// [`DefaultWording`]'s text for a phase.
fn default_label(phase: &Phase) -> String {
    match phase {
        Phase::Storing { store, name } => format!("Storing image '{name}' in store '{store}'..."),
        Phase::Converting { from, to } => format!("Converting image from {from} to {to}..."),
        Phase::Copying => "Copying image...".to_owned(),
        Phase::Blob {
            digest: Some(digest),
            ..
        } => {
            let hex = digest.hex();
            format!("Copying blob {}...", hex.get(..12).unwrap_or(hex))
        }
        Phase::Blob { digest: None, .. } => "Copying blob...".to_owned(),
        Phase::Verifying => "Verifying...".to_owned(),
        Phase::Collecting => "Removing unreferenced data...".to_owned(),
        Phase::Writing { path } => format!("Writing {}...", path.display()),
        other => format!("{other:?}"),
    }
}

/// The process-wide indicatif group on standard error. Every bar joins it, and log lines and
/// standard-output lines are written through [`suspend`], so they never tear a bar.
fn multi() -> &'static MultiProgress {
    static MULTI: OnceLock<MultiProgress> = OnceLock::new();
    MULTI.get_or_init(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr()))
}

/// Prints a front end's own line (a warning of its dialect that is not the core's) where
/// warnings go: through the bars, whatever the mode (a warning is not progress).
pub fn print_line(line: &Line) {
    emit(line);
}

/// Runs `f` with every progress bar of the process hidden, then redraws them. Write anything
/// meant for a terminal that may show a bar inside it.
pub fn suspend<T>(f: impl FnOnce() -> T) -> T {
    multi().suspend(f)
}

/// A phase being reported.
#[derive(Debug)]
struct Open {
    phase: Phase,
    total: Option<u64>,
    bar: Option<ProgressBar>,
    started: Instant,
    last_beat: Option<(Instant, String)>,
}

/// The [`strata::Progress`] sink of the front ends; see the [module docs](self).
pub struct CliProgress<W> {
    mode: ProgressMode,
    wording: W,
    open: Mutex<Vec<Open>>,
}

impl<W: Wording> CliProgress<W> {
    /// A sink in `mode`, worded by `wording`.
    pub fn new(mode: ProgressMode, wording: W) -> CliProgress<W> {
        CliProgress {
            mode,
            wording,
            open: Mutex::new(Vec::new()),
        }
    }

    /// The mode.
    pub fn mode(&self) -> ProgressMode {
        self.mode
    }

    fn started(&self, phase: &Phase, total: Option<u64>) {
        let line = self.wording.started(phase);
        if let Some(line) = line {
            emit(&line);
        }
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        open.push(Open {
            phase: phase.clone(),
            total,
            bar: None,
            started: Instant::now(),
            last_beat: None,
        });
    }

    fn advanced(&self, done: u64) {
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(top) = open.last_mut() else {
            return;
        };
        match self.mode {
            ProgressMode::Bar => {
                let bar = top
                    .bar
                    .get_or_insert_with(|| new_bar(self.wording.label(&top.phase), top.total));
                bar.set_position(done);
            }
            ProgressMode::Lines => {
                let now = Instant::now();
                let since = top.last_beat.as_ref().map_or(top.started, |(at, _)| *at);
                if now.duration_since(since) < HEARTBEAT {
                    return;
                }
                let figure = match top.total {
                    Some(total) if total > 0 => {
                        format!("{}%", done.saturating_mul(100) / total)
                    }
                    _ => HumanBytes(done).to_string(),
                };
                if top
                    .last_beat
                    .as_ref()
                    .is_some_and(|(_, last)| *last == figure)
                {
                    return;
                }
                let label = self.wording.label(&top.phase);
                emit(&Line::stderr(format!("{label} {figure}")));
                top.last_beat = Some((now, figure));
            }
            ProgressMode::Quiet => {}
        }
    }

    fn finished(&self) {
        let closed = self
            .open
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        let Some(closed) = closed else {
            return;
        };
        if let Some(bar) = closed.bar {
            bar.finish_and_clear();
            multi().remove(&bar);
        }
        if let Some(line) = self.wording.finished(&closed.phase) {
            emit(&line);
        }
    }
}

impl<W: Wording> Progress for CliProgress<W> {
    fn event(&self, event: &ProgressEvent) {
        match event {
            ProgressEvent::Warning(warning) => emit(&self.wording.warning(warning)),
            _ if self.mode == ProgressMode::Quiet => {}
            ProgressEvent::Started { phase, total } => self.started(phase, *total),
            ProgressEvent::Advanced { done } => self.advanced(*done),
            ProgressEvent::Finished => self.finished(),
            _ => {}
        }
    }
}

impl<W> std::fmt::Debug for CliProgress<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CliProgress")
            .field("mode", &self.mode)
            .finish_non_exhaustive()
    }
}

/// A bar (with a total) or a spinner (without), labelled, in the process group.
fn new_bar(label: String, total: Option<u64>) -> ProgressBar {
    let (bar, template) = match total {
        Some(total) => (
            ProgressBar::new(total),
            "{msg} [{wide_bar}] {bytes}/{total_bytes} {binary_bytes_per_sec} ETA {eta}",
        ),
        None => (
            ProgressBar::new_spinner(),
            "{msg} {spinner} {bytes} {binary_bytes_per_sec}",
        ),
    };
    let style = ProgressStyle::with_template(template)
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
    let bar = multi().add(bar.with_style(style).with_message(label));
    if total.is_none() {
        bar.enable_steady_tick(Duration::from_millis(120));
    }
    bar
}

/// Writes `line` to its stream, painted if that stream shows colours, with bars hidden.
/// Write errors are ignored: progress never fails an operation.
fn emit(line: &Line) {
    let styler = line.stream.styler();
    let mut text = styler.paint(&line.text, line.style);
    text.push('\n');
    suspend(|| {
        let _ = match line.stream {
            Stream::Stdout => {
                let mut out = std::io::stdout().lock();
                out.write_all(text.as_bytes()).and_then(|()| out.flush())
            }
            Stream::Stderr => std::io::stderr().lock().write_all(text.as_bytes()),
        };
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use strata_model::DiskFormat;

    struct Pcocc;

    impl Wording for Pcocc {
        fn started(&self, phase: &Phase) -> Option<Line> {
            match phase {
                Phase::Storing { store, name } => Some(Line::stdout(format!(
                    "Storing image in repository '{store}' as '{name}' ... "
                ))),
                Phase::Converting { .. } => Some(Line::stdout("Converting image...")),
                _ => None,
            }
        }

        fn warning(&self, warning: &Warning) -> Line {
            Line::stdout(format!("{warning:?}"))
        }
    }

    #[test]
    fn label_defaults_to_the_trimmed_start_line() {
        let converting = Phase::Converting {
            from: DiskFormat::Raw,
            to: DiskFormat::Qcow2,
        };
        assert_eq!(Pcocc.label(&converting), "Converting image...");
        let storing = Phase::Storing {
            store: "user".into(),
            name: "c7".into(),
        };
        assert_eq!(
            Pcocc.label(&storing),
            "Storing image in repository 'user' as 'c7' ..."
        );
        assert_eq!(Pcocc.label(&Phase::Verifying), "Verifying...");
    }

    #[test]
    fn phases_nest_and_unbalanced_events_are_harmless() {
        let sink = CliProgress::new(ProgressMode::Quiet, DefaultWording);
        sink.event(&ProgressEvent::Finished);
        sink.event(&ProgressEvent::Advanced { done: 5 });
        let sink = CliProgress::new(ProgressMode::Lines, Pcocc);
        sink.event(&ProgressEvent::Started {
            phase: Phase::Verifying,
            total: Some(10),
        });
        sink.event(&ProgressEvent::Started {
            phase: Phase::Copying,
            total: None,
        });
        sink.event(&ProgressEvent::Advanced { done: 5 });
        assert_eq!(sink.open.lock().map(|o| o.len()).unwrap_or(0), 2);
        sink.event(&ProgressEvent::Finished);
        sink.event(&ProgressEvent::Finished);
        sink.event(&ProgressEvent::Finished);
        assert_eq!(sink.open.lock().map(|o| o.len()).unwrap_or(9), 0);
    }

    #[test]
    fn sink_is_send_and_sync() {
        fn assert_progress<P: Progress>() {}
        assert_progress::<CliProgress<DefaultWording>>();
    }
}
