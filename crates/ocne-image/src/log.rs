//! OCNE's log lines, as logrus's `TextFormatter{FullTimestamp: true}` (OCNE's main.go) writes
//! them to standard error.
//!
//! - When standard error is a terminal, logrus colours its lines:
//!   `ESC[36mINFO ESC[0m[<time>] <message padded to 44 characters> ` and a newline. The level is
//!   upper case and cut to four letters (`INFO`, `WARN`, `ERRO`), in cyan (36), yellow (33)
//!   or red (31); the message, its one trailing newline dropped, is padded with spaces to 44
//!   characters (Go's `%-44s`, counting characters), then one space follows. That padding is
//!   why OCNE's documented lines end with blanks.
//! - Otherwise it writes `time="<time>" level=info msg="<message>"`: each value bare when it
//!   holds only `[A-Za-z0-9-._/@^+]`, else quoted as Go's `%q` does ([`go_quote`]). The level
//!   is logrus's lower-case name (`info`, `warning`, `error`); an empty message drops `msg`.
//!
//! The time is RFC 3339 to the second in the local time zone, as Go's `time.RFC3339` formats
//! `time.Now()`: `2024-07-05T15:57:23Z` in UTC, `2024-07-05T17:57:23+02:00` elsewhere.

use std::io::{self, IsTerminal, Write};

/// A logrus level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// `INFO`, `info`.
    Info,
    /// `WARN`, `warning`.
    Warn,
    /// `ERRO`, `error`.
    Error,
}

impl Level {
    /// The coloured form's four letters.
    fn short(self) -> &'static str {
        match self {
            Level::Info => "INFO",
            Level::Warn => "WARN",
            Level::Error => "ERRO",
        }
    }

    /// logrus's `Level.String()`.
    fn name(self) -> &'static str {
        match self {
            Level::Info => "info",
            Level::Warn => "warning",
            Level::Error => "error",
        }
    }

    /// The ANSI colour logrus gives the level.
    fn color(self) -> u8 {
        match self {
            Level::Info => 36,
            Level::Warn => 33,
            Level::Error => 31,
        }
    }
}

/// How lines are formatted: coloured (a terminal) or key=value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Logrus {
    /// Whether the coloured form is used.
    pub colored: bool,
}

impl Logrus {
    /// The form logrus picks for standard error: coloured on a terminal.
    pub fn for_stderr() -> Logrus {
        Logrus {
            colored: io::stderr().is_terminal(),
        }
    }

    /// One line (newline included) for `message` at `level`, logged at `time`.
    pub fn line(self, level: Level, time: &jiff::Zoned, message: &str) -> String {
        let time = rfc3339(time);
        if self.colored {
            let message = message.strip_suffix('\n').unwrap_or(message);
            format!(
                "\x1b[{}m{}\x1b[0m[{time}] {message:<44} \n",
                level.color(),
                level.short()
            )
        } else {
            let mut line = format!("time={} level={}", value(&time), level.name());
            if !message.is_empty() {
                line.push_str(" msg=");
                line.push_str(&value(message));
            }
            line.push('\n');
            line
        }
    }

    /// Writes one line for `message` at `level`, now, to `out`.
    pub fn log(self, out: &mut dyn Write, level: Level, message: &str) -> io::Result<()> {
        out.write_all(self.line(level, &jiff::Zoned::now(), message).as_bytes())?;
        out.flush()
    }
}

/// Go's `time.RFC3339` (`2006-01-02T15:04:05Z07:00`): `Z` for UTC, else `+hh:mm`.
pub fn rfc3339(time: &jiff::Zoned) -> String {
    let offset = time.offset().seconds();
    let zone = if offset == 0 {
        "Z".to_owned()
    } else {
        let sign = if offset < 0 { '-' } else { '+' };
        let minutes = offset.unsigned_abs() / 60;
        format!("{sign}{:02}:{:02}", minutes / 60, minutes % 60)
    };
    format!("{}{zone}", time.strftime("%Y-%m-%dT%H:%M:%S"))
}

/// A key=value value: bare, or quoted when logrus's `needsQuoting` says so.
fn value(text: &str) -> String {
    let bare = !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-._/@^+".contains(c));
    // logrus leaves an empty value bare unless QuoteEmptyFields, which OCNE does not set.
    if bare || text.is_empty() {
        text.to_owned()
    } else {
        go_quote(text)
    }
}

/// Go's `%q` of a string (`strconv.Quote`): double quotes; `\"` and `\\`; `\a \b \f \n \r \t
/// \v`; other ASCII controls and DEL as `\xNN`; printable characters as they are, other
/// non-printable ones as `\uNNNN` or `\UNNNNNNNN`. Go's `IsPrint` is approximated: a
/// character is printable unless it is a control or a space other than U+0020.
pub fn go_quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\x07' => out.push_str("\\a"),
            '\x08' => out.push_str("\\b"),
            '\x0c' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\x0b' => out.push_str("\\v"),
            c if c.is_ascii_control() => out.push_str(&format!("\\x{:02x}", c as u32)),
            ' ' => out.push(' '),
            c if c.is_control() || c.is_whitespace() => {
                if (c as u32) < 0x10000 {
                    out.push_str(&format!("\\u{:04x}", c as u32));
                } else {
                    out.push_str(&format!("\\U{:08x}", c as u32));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> jiff::Zoned {
        text.parse().expect("a valid zoned time")
    }

    #[test]
    fn coloured_lines_pad_the_message_to_44() {
        let t = at("2024-07-05T15:57:23Z[UTC]");
        let line = Logrus { colored: true }.line(Level::Info, &t, "Creating Image");
        assert_eq!(
            line,
            "\x1b[36mINFO\x1b[0m[2024-07-05T15:57:23Z] Creating Image                               \n"
        );
        let long = "Created file /home/opc/.ocne/images/boot.qcow2-1.33-amd64.oci.json";
        let line = Logrus { colored: true }.line(Level::Warn, &t, long);
        assert_eq!(
            line,
            format!("\x1b[33mWARN\x1b[0m[2024-07-05T15:57:23Z] {long} \n")
        );
    }

    #[test]
    fn plain_lines_quote_as_logrus() {
        let t = at("2024-07-05T17:57:23+02:00[Europe/Paris]");
        let plain = Logrus { colored: false };
        assert_eq!(
            plain.line(Level::Info, &t, "Log in to myregistry.com"),
            "time=\"2024-07-05T17:57:23+02:00\" level=info msg=\"Log in to myregistry.com\"\n"
        );
        assert_eq!(
            plain.line(Level::Warn, &t, "bare/text-1.0"),
            "time=\"2024-07-05T17:57:23+02:00\" level=warning msg=bare/text-1.0\n"
        );
        assert_eq!(
            plain.line(Level::Error, &t, ""),
            "time=\"2024-07-05T17:57:23+02:00\" level=error\n"
        );
    }

    #[test]
    fn go_quoting() {
        assert_eq!(
            go_quote("a\"b\\c\n\x1b\u{7f}é\u{a0}"),
            "\"a\\\"b\\\\c\\n\\x1b\\x7fé\\u00a0\""
        );
    }
}
