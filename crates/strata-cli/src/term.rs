//! The terminal: whether a stream is one, whether it may have colours, how wide it is, and a
//! [`Styler`] that paints text only when it may.
//!
//! Colours follow two rules: only on a terminal (`std::io::IsTerminal`), and never when the
//! `NO_COLOR` environment variable is set to anything but the empty string (no-color.org).
//! Bold and underline count as colour here: `NO_COLOR` turns every escape sequence off.

use std::fs::File;
use std::io::{self, IsTerminal};
use std::os::fd::AsFd;

use anstyle::{AnsiColor, Effects, Style};

/// One of the two output streams a command writes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stream {
    /// Standard output: results (tables, `--json`), and whatever a dialect prints there.
    Stdout,
    /// Standard error: progress, logs, warnings and errors.
    Stderr,
}

impl Stream {
    /// Whether the stream is a terminal.
    pub fn is_terminal(self) -> bool {
        match self {
            Stream::Stdout => io::stdout().is_terminal(),
            Stream::Stderr => io::stderr().is_terminal(),
        }
    }

    /// Whether text written to the stream may carry escape sequences: it is a terminal and
    /// `NO_COLOR` is unset or empty.
    pub fn colors_enabled(self) -> bool {
        self.is_terminal() && !no_color()
    }

    /// A [`Styler`] for this stream.
    pub fn styler(self) -> Styler {
        Styler::new(self.colors_enabled())
    }
}

/// Whether `NO_COLOR` asks for no colours (set, and not empty).
pub fn no_color() -> bool {
    std::env::var_os("NO_COLOR").is_some_and(|value| !value.is_empty())
}

/// Paints text with ANSI escape sequences, or leaves it alone when colours are off.
///
/// `paint` writes the style's sequences in anstyle's order (effects, then colours) and ends with
/// `ESC[0m`, which is what OpenNebula writes (`ESC[1mESC[4m...ESC[0m`, `ESC[32mrdyESC[0m`). For
/// click's order (colour first, then bold), see [`Styler::click`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Styler {
    enabled: bool,
}

impl Styler {
    /// A styler that paints when `enabled`.
    pub const fn new(enabled: bool) -> Styler {
        Styler { enabled }
    }

    /// A styler that never paints.
    pub const fn plain() -> Styler {
        Styler { enabled: false }
    }

    /// Whether this styler paints.
    pub const fn enabled(self) -> bool {
        self.enabled
    }

    /// `text` in `style`, or `text` unchanged when colours are off or the style is plain.
    pub fn paint(self, text: &str, style: Style) -> String {
        if !self.enabled || style == Style::new() {
            return text.to_owned();
        }
        format!("{}{text}{}", style.render(), anstyle::Reset.render())
    }

    /// `text` styled as Python click's `style(text, fg=color, bold=bold)` writes it:
    /// `ESC[<fg>m`, then `ESC[1m` if bold, the text, `ESC[0m` (click/termui.py). pcocc prints its
    /// titles, warnings and errors this way; click strips the sequences when the stream is not a
    /// terminal, as this styler does when it is off.
    pub fn click(self, text: &str, color: Option<AnsiColor>, bold: bool) -> String {
        if !self.enabled || (color.is_none() && !bold) {
            return text.to_owned();
        }
        let mut out = String::with_capacity(text.len() + 12);
        if let Some(color) = color {
            out.push_str(&color.render_fg().to_string());
        }
        if bold {
            out.push_str(&Effects::BOLD.render().to_string());
        }
        out.push_str(text);
        out.push_str(&anstyle::Reset.render().to_string());
        out
    }
}

/// The width in columns of the terminal that standard output shows on, found the way
/// OpenNebula's `expand_columns` does (src/cli/cli_helper.rb): standard output's own size if it
/// is a terminal, else the controlling terminal's (`/dev/tty`, Ruby's `IO.console`) if there is
/// one, else `None`. So `oneimage list | less` run from a terminal still expands to its width.
pub fn terminal_width() -> Option<usize> {
    let stdout = io::stdout();
    if stdout.is_terminal()
        && let Some(width) = width_of(stdout.as_fd())
    {
        return Some(width);
    }
    let tty = File::open("/dev/tty").ok()?;
    if !tty.is_terminal() {
        return None;
    }
    width_of(tty.as_fd())
}

/// The column count of the terminal behind `fd`, if it reports one.
fn width_of(fd: std::os::fd::BorrowedFd<'_>) -> Option<usize> {
    let size = rustix::termios::tcgetwinsize(fd).ok()?;
    (size.ws_col > 0).then_some(usize::from(size.ws_col))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_styler_leaves_text_alone() {
        let style = Style::new().bold().fg_color(Some(AnsiColor::Red.into()));
        assert_eq!(Styler::plain().paint("x", style), "x");
        assert_eq!(Styler::plain().click("x", Some(AnsiColor::Blue), true), "x");
    }

    #[test]
    fn paint_writes_effects_then_colour_then_reset() {
        let on = Styler::new(true);
        assert_eq!(
            on.paint("ID", Style::new().bold().underline()),
            "\x1b[1m\x1b[4mID\x1b[0m"
        );
        assert_eq!(
            on.paint("rdy", AnsiColor::Green.on_default()),
            "\x1b[32mrdy\x1b[0m"
        );
        assert_eq!(on.paint("x", Style::new()), "x");
    }

    #[test]
    fn click_writes_colour_then_bold() {
        let on = Styler::new(true);
        assert_eq!(
            on.click("User images:", Some(AnsiColor::Blue), true),
            "\x1b[34m\x1b[1mUser images:\x1b[0m"
        );
        assert_eq!(
            on.click("e", Some(AnsiColor::Red), false),
            "\x1b[31me\x1b[0m"
        );
    }
}
