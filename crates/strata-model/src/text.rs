//! Untrusted text made fit for a terminal: [`printable`] escapes what a message quotes from its
//! input (a tar entry's name, a header's bytes), so that reading something that is not what it
//! claims never writes control sequences or raw bytes to a user's terminal.

/// The most characters of untrusted text a message quotes by default ([`quote`]).
pub const MAX_QUOTED: usize = 160;

/// `text` as one printable line: control characters escaped as Rust writes them (`\n`, `\t`,
/// `\u{1b}`), the replacement character that stands for undecodable bytes
/// (`String::from_utf8_lossy`) shown as `?`, everything else as is.
pub fn printable(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    push_printable(&mut out, text, usize::MAX);
    out
}

/// [`printable`], cut to [`MAX_QUOTED`] characters with `…`: for input quoted inside a message.
pub fn quote(text: &str) -> String {
    let mut out = String::new();
    push_printable(&mut out, text, MAX_QUOTED);
    out
}

/// [`printable`] for a whole message of several lines: line feeds are kept (some messages are
/// laid out on several lines), every other control character is escaped.
pub fn printable_lines(text: &str) -> String {
    text.split('\n')
        .map(printable)
        .collect::<Vec<_>>()
        .join("\n")
}

/// Appends `text` to `out` as [`printable`] does, at most `max` characters of it (then `…`).
fn push_printable(out: &mut String, text: &str, max: usize) {
    for (i, c) in text.chars().enumerate() {
        if i == max {
            out.push('…');
            break;
        }
        match c {
            '\u{FFFD}' => out.push('?'),
            c if c.is_control() => out.extend(c.escape_default()),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_and_undecodable_bytes_are_shown_not_sent() {
        let raw = String::from_utf8_lossy(b"ustar\0\x1b[31m\xff\xfe\nnext\t\x07");
        assert_eq!(printable(&raw), "ustar\\u{0}\\u{1b}[31m??\\nnext\\t\\u{7}");
        assert_eq!(printable("école: ok"), "école: ok");
    }

    #[test]
    fn quoted_text_is_cut() {
        let long = "a".repeat(MAX_QUOTED + 10);
        let shown = quote(&long);
        assert_eq!(shown.chars().count(), MAX_QUOTED + 1);
        assert!(shown.ends_with('…'));
        assert_eq!(quote("short"), "short");
    }

    #[test]
    fn messages_keep_their_lines() {
        assert_eq!(
            printable_lines("regex parse error:\n    (\n    ^\x1b"),
            "regex parse error:\n    (\n    ^\\u{1b}"
        );
    }
}
