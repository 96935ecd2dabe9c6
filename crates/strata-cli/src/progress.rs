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
//!   total), at most every [`HEARTBEAT`] (or every `STRATA_PROGRESS_INTERVAL` seconds, from the
//!   environment) and only when the figure changed, then, when the phase ends, its last figure
//!   if that was not printed yet: `100%` for a phase that completed, where the last heartbeat
//!   may have been far behind (a sparse disk's last data, then holes, which are never read). A
//!   phase shorter than the interval prints no heartbeat, so a quick command reads exactly as
//!   the original tool's.
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

/// The least time between two heartbeat lines of [`ProgressMode::Lines`], by default.
pub const HEARTBEAT: Duration = Duration::from_secs(5);

/// The environment variable that sets the heartbeat's interval, in seconds (a fraction allowed;
/// a value that is not a number of seconds leaves [`HEARTBEAT`]).
pub const INTERVAL_VAR: &str = "STRATA_PROGRESS_INTERVAL";

/// The heartbeat's interval: [`INTERVAL_VAR`] when it holds a number of seconds, else
/// [`HEARTBEAT`].
pub fn heartbeat_interval() -> Duration {
    std::env::var(INTERVAL_VAR)
        .ok()
        .and_then(|v| v.trim().parse::<f64>().ok())
        .and_then(|secs| Duration::try_from_secs_f64(secs).ok())
        .unwrap_or(HEARTBEAT)
}

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
            Warning::CacheNotPopulated { name, message } => format!(
                "warning: image '{name}' was stored but not extracted into the cache: {message}"
            ),
            // A warning newer than this wording: its fields, rather than nothing.
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
    beat: Heartbeat,
}

/// The heartbeat of one phase in [`ProgressMode::Lines`]: which figures are printed, and when.
#[derive(Debug)]
struct Heartbeat {
    /// The least time between two lines.
    interval: Duration,
    /// When the last line was printed, or the phase started.
    since: Instant,
    /// The last figure printed.
    printed: Option<String>,
    /// The last figure reached.
    reached: Option<String>,
}

impl Heartbeat {
    fn new(started: Instant, interval: Duration) -> Heartbeat {
        Heartbeat {
            interval,
            since: started,
            printed: None,
            reached: None,
        }
    }

    /// The phase reached `figure` at `now`: the figure to print, if a line is due (an interval
    /// since the last one, or since the start) and the figure changed.
    fn reach(&mut self, now: Instant, figure: String) -> Option<String> {
        let due = now.saturating_duration_since(self.since) >= self.interval;
        let changed = self.printed.as_ref() != Some(&figure);
        self.reached = Some(figure);
        if due && changed {
            self.since = now;
            self.printed.clone_from(&self.reached);
            self.printed.clone()
        } else {
            None
        }
    }

    /// The phase ended: its last figure, if lines were printed and that one was not (so that
    /// the lines of a completed phase end at `100%`).
    fn finish(&mut self) -> Option<String> {
        if self.printed.is_some() && self.reached != self.printed {
            self.printed = self.reached.take();
            self.printed.clone()
        } else {
            None
        }
    }
}

/// The figure of a heartbeat line: the percentage of `total`, or the bytes done without one.
fn figure(done: u64, total: Option<u64>) -> String {
    match total {
        Some(total) if total > 0 => format!("{}%", done.min(total).saturating_mul(100) / total),
        _ => HumanBytes(done).to_string(),
    }
}

/// The [`strata::Progress`] sink of the front ends; see the [module docs](self).
pub struct CliProgress<W> {
    mode: ProgressMode,
    wording: W,
    interval: Duration,
    open: Mutex<Vec<Open>>,
}

impl<W: Wording> CliProgress<W> {
    /// A sink in `mode`, worded by `wording`, its heartbeat every [`heartbeat_interval`].
    pub fn new(mode: ProgressMode, wording: W) -> CliProgress<W> {
        CliProgress {
            mode,
            wording,
            interval: heartbeat_interval(),
            open: Mutex::new(Vec::new()),
        }
    }

    /// The same sink with its heartbeat every `interval` ([`ProgressMode::Lines`]).
    #[must_use]
    pub fn with_interval(mut self, interval: Duration) -> CliProgress<W> {
        self.interval = interval;
        self
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
            beat: Heartbeat::new(Instant::now(), self.interval),
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
                if let Some(figure) = top.beat.reach(Instant::now(), figure(done, top.total)) {
                    let label = self.wording.label(&top.phase);
                    emit(&Line::stderr(format!("{label} {figure}")));
                }
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
        let Some(mut closed) = closed else {
            return;
        };
        if let Some(figure) = closed.beat.finish() {
            let label = self.wording.label(&closed.phase);
            emit(&Line::stderr(format!("{label} {figure}")));
        }
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

    /// Lines come at most once an interval, only when the figure changed, and end with the
    /// last figure reached: a sparse disk reports its last data at 40%, then 100% at once as
    /// the holes that follow are never read, within the interval; the phase's lines end at
    /// 100% all the same.
    #[test]
    fn heartbeats_are_steady_and_end_at_the_last_figure() {
        let start = Instant::now();
        let at = |ms: u64| start + Duration::from_millis(ms);
        let mut beat = Heartbeat::new(start, Duration::from_secs(5));
        let total = Some(1000);
        assert_eq!(beat.reach(at(1_000), figure(100, total)), None, "too soon");
        assert_eq!(
            beat.reach(at(5_000), figure(200, total)).as_deref(),
            Some("20%")
        );
        assert_eq!(beat.reach(at(6_000), figure(300, total)), None);
        assert_eq!(
            beat.reach(at(10_000), figure(400, total)).as_deref(),
            Some("40%")
        );
        assert_eq!(
            beat.reach(at(12_000), figure(1000, total)),
            None,
            "too soon"
        );
        assert_eq!(beat.finish().as_deref(), Some("100%"));
        assert_eq!(beat.finish(), None);

        // A figure that did not change is not said again, however long it took.
        let mut stalled = Heartbeat::new(start, Duration::from_secs(5));
        assert_eq!(
            stalled.reach(at(5_000), figure(400, total)).as_deref(),
            Some("40%")
        );
        assert_eq!(stalled.reach(at(60_000), figure(401, total)), None);
        assert_eq!(stalled.finish(), None);

        // A phase that printed nothing prints nothing when it ends (a quick command reads as
        // the original tool's), nor one whose last figure was printed.
        let mut quick = Heartbeat::new(start, Duration::from_secs(5));
        assert_eq!(quick.reach(at(10), figure(1000, total)), None);
        assert_eq!(quick.finish(), None);
        let mut exact = Heartbeat::new(start, Duration::ZERO);
        assert_eq!(
            exact.reach(at(1), figure(1000, total)).as_deref(),
            Some("100%")
        );
        assert_eq!(exact.finish(), None);
    }

    #[test]
    fn figures() {
        assert_eq!(figure(1, Some(3)), "33%");
        assert_eq!(figure(5, Some(3)), "100%");
        assert_eq!(figure(1536, None), "1.50 KiB");
        assert_eq!(figure(0, Some(0)), "0 B");
    }

    #[test]
    fn sink_is_send_and_sync() {
        fn assert_progress<P: Progress>() {}
        assert_progress::<CliProgress<DefaultWording>>();
    }
}
