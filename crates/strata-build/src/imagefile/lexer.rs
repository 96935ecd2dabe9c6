//! The tokenizer: transient's terminals (`IMAGEFILE_GRAMMAR`), matched as Lark 0.8's contextual
//! lexer matches them.
//!
//! Lark's LALR parser gives its lexer the terminals the parser state accepts, plus the ignored
//! ones (spaces and tabs, `#` comments, `\` line continuations), and takes the first that
//! matches at the current position, in an order where the free-text terminals come first:
//! where a path, an image spec, a filesystem or a command may start, a `#` is part of it, not a
//! comment, and RUN's command takes its leading blanks. The parser (`parser.rs`) calls
//! [`Lexer::skip`] with what its state accepts, then the matcher of its terminals; keywords are
//! not delimited (`RUNecho` is `RUN` and `echo`), as in Lark.

use strata_model::ImagefileUnit;

use super::error::{Expected, Found, MAX_FOUND_CHARS};
use super::instruction::{PartitionFlag, PartitionTable};

/// A keyword of the grammar (`"FROM"i` ...), matched in any case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Keyword {
    /// `FROM`
    From,
    /// `DISK`
    Disk,
    /// `PARTITION`
    Partition,
    /// `COPY`
    Copy,
    /// `ADD`
    Add,
    /// `RUN`
    Run,
    /// `INSPECT`
    Inspect,
    /// `SIZE` (of PARTITION)
    Size,
    /// `FORMAT` (of PARTITION)
    Format,
    /// `OPTIONS` (of PARTITION ... FORMAT)
    Options,
    /// `MOUNT` (of PARTITION)
    Mount,
    /// `FLAGS` (of PARTITION)
    Flags,
}

impl Keyword {
    /// The keyword in capitals.
    pub const fn as_str(self) -> &'static str {
        match self {
            Keyword::From => "FROM",
            Keyword::Disk => "DISK",
            Keyword::Partition => "PARTITION",
            Keyword::Copy => "COPY",
            Keyword::Add => "ADD",
            Keyword::Run => "RUN",
            Keyword::Inspect => "INSPECT",
            Keyword::Size => "SIZE",
            Keyword::Format => "FORMAT",
            Keyword::Options => "OPTIONS",
            Keyword::Mount => "MOUNT",
            Keyword::Flags => "FLAGS",
        }
    }
}

/// The instruction keywords.
pub(super) const INSTRUCTIONS: &[Keyword] = &[
    Keyword::From,
    Keyword::Disk,
    Keyword::Partition,
    Keyword::Copy,
    Keyword::Add,
    Keyword::Run,
    Keyword::Inspect,
];

/// A character as Python's `re.IGNORECASE` compares it with an ASCII letter: ASCII letters in
/// lower case, and the four other characters that Python's `re` lets stand for one (`İ` and
/// `ı` for `i`, the Kelvin sign for `k`, `ſ` for `s`).
fn fold(c: char) -> char {
    match c {
        '\u{130}' | '\u{131}' => 'i',
        '\u{212a}' => 'k',
        '\u{17f}' => 's',
        _ => c.to_ascii_lowercase(),
    }
}

/// The length in bytes of `word` (ASCII) at the start of `text`, compared as Python's
/// `re.IGNORECASE` compares; `None` if `text` does not start with it.
pub(super) fn fold_prefix(text: &str, word: &str) -> Option<usize> {
    let mut chars = text.char_indices();
    for w in word.chars() {
        let (_, c) = chars.next()?;
        if fold(c) != w.to_ascii_lowercase() {
            return None;
        }
    }
    Some(chars.next().map_or(text.len(), |(i, _)| i))
}

/// A position: line and column, both from 1, the column in characters (as Lark counts).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Pos {
    pub line: u32,
    pub column: u32,
}

/// Which free-text terminal a state accepts; it is tried before the ignored terminals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Text {
    /// None.
    None,
    /// `PATH`, `FROM_SPEC`, `PART_FORMAT`: `/[^ \t\n\\]+/`.
    Word,
    /// `RUN_CMD`: `/((\\[^ \t\n])|[^\\\n])+/`.
    Command,
}

/// What comes after the ignored text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Next<'a> {
    /// The end of the text.
    End,
    /// One or more line ends (consumed).
    Newline,
    /// The free-text terminal the state accepts (consumed), and where it starts.
    Text(&'a str, Pos),
    /// Something else, not consumed: the caller tries its terminals.
    Here,
}

/// Where the text stops following the grammar: the position and what is there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Unexpected {
    pub pos: Pos,
    pub found: Found,
    pub expected: Expected,
}

/// The tokenizer over a text that ends with a line end (transient appends one).
pub(super) struct Lexer<'a> {
    text: &'a str,
    /// Byte offset of the next character.
    offset: usize,
    pos: Pos,
    /// Whether a token (anything but ignored text) was produced.
    produced: bool,
    /// The position of the text's last character: where the file ends, before the line end
    /// transient appends.
    last: Pos,
}

impl<'a> Lexer<'a> {
    /// A lexer at the start of `text`.
    pub(super) fn new(text: &'a str) -> Lexer<'a> {
        let body = text.strip_suffix('\n').unwrap_or(text);
        let (line, last_line) = match body.rfind('\n') {
            Some(i) => (body.matches('\n').count() + 1, &body[i + 1..]),
            None => (1, body),
        };
        let last = Pos {
            line: u32::try_from(line).unwrap_or(u32::MAX),
            column: u32::try_from(last_line.chars().count() + 1).unwrap_or(u32::MAX),
        };
        Lexer {
            text,
            offset: 0,
            pos: Pos { line: 1, column: 1 },
            produced: false,
            last,
        }
    }

    /// The position of the next character.
    #[cfg(test)]
    pub(super) fn pos(&self) -> Pos {
        self.pos
    }

    /// Whether a token was produced: Lark's start rule needs one.
    pub(super) fn produced(&self) -> bool {
        self.produced
    }

    fn rest(&self) -> &'a str {
        &self.text[self.offset..]
    }

    /// Consumes `len` bytes (a character boundary), counting lines and columns.
    fn advance(&mut self, len: usize) -> &'a str {
        let taken = &self.text[self.offset..self.offset + len];
        for c in taken.chars() {
            if c == '\n' {
                self.pos.line = self.pos.line.saturating_add(1);
                self.pos.column = 1;
            } else {
                self.pos.column = self.pos.column.saturating_add(1);
            }
        }
        self.offset += len;
        taken
    }

    /// Consumes a token of `len` bytes.
    fn token(&mut self, len: usize) -> &'a str {
        self.produced = true;
        self.advance(len)
    }

    /// Skips what Lark ignores, in a state that accepts `text` and, if `newline`, line ends.
    pub(super) fn skip(&mut self, text: Text, newline: bool) -> Next<'a> {
        loop {
            let rest = self.rest();
            let Some(c) = rest.chars().next() else {
                return Next::End;
            };
            let len = match text {
                Text::None => 0,
                Text::Word => word_len(rest),
                Text::Command => command_len(rest),
            };
            if len > 0 {
                let pos = self.pos;
                return Next::Text(self.token(len), pos);
            }
            match c {
                ' ' | '\t' => {
                    let len = rest.len() - rest.trim_start_matches([' ', '\t']).len();
                    self.advance(len);
                }
                '\n' if newline => {
                    let len = rest.len() - rest.trim_start_matches('\n').len();
                    self.token(len);
                    return Next::Newline;
                }
                '\\' => match continuation_len(rest) {
                    Some(len) => {
                        self.advance(len);
                    }
                    None => return Next::Here,
                },
                '#' => {
                    self.advance(rest.find('\n').unwrap_or(rest.len()));
                }
                _ => return Next::Here,
            }
        }
    }

    /// The first of `keywords` at this position, consumed, with its position.
    pub(super) fn keyword(&mut self, keywords: &[Keyword]) -> Option<(Keyword, Pos)> {
        let pos = self.pos;
        let rest = self.rest();
        let (keyword, len) = keywords
            .iter()
            .find_map(|k| fold_prefix(rest, k.as_str()).map(|len| (*k, len)))?;
        self.token(len);
        Some((keyword, pos))
    }

    /// ASCII digits at this position, consumed (`/\d+/`, ASCII only: see the module
    /// documentation of `imagefile`).
    pub(super) fn digits(&mut self) -> Option<(&'a str, Pos)> {
        let pos = self.pos;
        let rest = self.rest();
        let len = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        (len > 0).then(|| (self.token(len), pos))
    }

    /// `DISK_UNITS: /[MG]b/i`, consumed.
    pub(super) fn unit(&mut self) -> Option<ImagefileUnit> {
        let unit = match self.rest().as_bytes() {
            [b'm' | b'M', b'b' | b'B', ..] => ImagefileUnit::Mb,
            [b'g' | b'G', b'b' | b'B', ..] => ImagefileUnit::Gb,
            _ => return None,
        };
        self.token(2);
        Some(unit)
    }

    /// `DISK_TYPE: "GPT"i | "MBR"i`, consumed.
    pub(super) fn table(&mut self) -> Option<PartitionTable> {
        let rest = self.rest();
        let (table, len) = [("GPT", PartitionTable::Gpt), ("MBR", PartitionTable::Mbr)]
            .into_iter()
            .find_map(|(word, table)| fold_prefix(rest, word).map(|len| (table, len)))?;
        self.token(len);
        Some(table)
    }

    /// `PART_STRING: /".*?"/`, consumed; the text between the quotes.
    pub(super) fn quoted(&mut self) -> Option<&'a str> {
        let inner = self.rest().strip_prefix('"')?;
        let end = inner.find(['"', '\n'])?;
        if inner[end..].starts_with('\n') {
            return None;
        }
        let token = self.token(end + 2);
        Some(&token[1..token.len() - 1])
    }

    /// `PART_FLAG: "BOOT"i | "EFI"i | "BIOS_GRUB"i`, consumed; ASCII letters only (see the
    /// module documentation of `imagefile`).
    pub(super) fn flag(&mut self) -> Option<PartitionFlag> {
        let rest = self.rest();
        let (flag, len) = [
            ("boot", PartitionFlag::Boot),
            ("efi", PartitionFlag::Efi),
            ("bios_grub", PartitionFlag::BiosGrub),
        ]
        .into_iter()
        .find(|(word, _)| {
            rest.get(..word.len())
                .is_some_and(|start| start.eq_ignore_ascii_case(word))
        })
        .map(|(word, flag)| (flag, word.len()))?;
        self.token(len);
        Some(flag)
    }

    /// A `,`, consumed.
    pub(super) fn comma(&mut self) -> bool {
        let found = self.rest().starts_with(',');
        if found {
            self.token(1);
        }
        found
    }

    /// What is at this position, for an error: `expected` was not found.
    pub(super) fn unexpected(&self, expected: Expected) -> Unexpected {
        let rest = self.rest();
        if rest.is_empty() {
            return Unexpected {
                pos: self.last,
                found: Found::EndOfFile,
                expected,
            };
        }
        let found = if rest.starts_with('\n') {
            Found::EndOfLine
        } else {
            let first = rest.chars().next().map_or(0, char::len_utf8);
            let end = rest[first..]
                .find([' ', '\t', '\n'])
                .map_or(rest.len(), |i| i + first);
            Found::Text(rest[..end].chars().take(MAX_FOUND_CHARS).collect())
        };
        Unexpected {
            pos: self.pos,
            found,
            expected,
        }
    }
}

/// The length of `/[^ \t\n\\]+/` at the start of `text` (0 if none).
fn word_len(text: &str) -> usize {
    text.find([' ', '\t', '\n', '\\']).unwrap_or(text.len())
}

/// The length of `/((\\[^ \t\n])|[^\\\n])+/` at the start of `text` (0 if none).
fn command_len(text: &str) -> usize {
    let mut chars = text.char_indices().peekable();
    while let Some(&(i, c)) = chars.peek() {
        match c {
            '\n' => return i,
            '\\' => {
                chars.next();
                match chars.peek() {
                    Some(&(_, ' ' | '\t' | '\n')) | None => return i,
                    Some(_) => {
                        chars.next();
                    }
                }
            }
            _ => {
                chars.next();
            }
        }
    }
    text.len()
}

/// The length of a line continuation `/\\[\t \f]*\r?\n/` at the start of `text` (line ends
/// are `\n` alone by then).
fn continuation_len(text: &str) -> Option<usize> {
    let after = text.strip_prefix('\\')?;
    let blanks = after.len() - after.trim_start_matches(['\t', ' ', '\x0c']).len();
    after[blanks..].starts_with('\n').then_some(1 + blanks + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keywords_fold_as_pythons_ignorecase() {
        assert_eq!(fold_prefix("PARTITION 1", "PARTITION"), Some(9));
        assert_eq!(fold_prefix("partition", "PARTITION"), Some(9));
        // U+0131 (2 bytes) stands for the first `i`, U+017F for the `s` of DISK.
        assert_eq!(fold_prefix("part\u{131}tion", "PARTITION"), Some(10));
        assert_eq!(fold_prefix("DI\u{17f}K", "DISK"), Some(5));
        assert_eq!(fold_prefix("dis\u{212a}x", "DISK"), Some(6));
        assert_eq!(fold_prefix("DIS", "DISK"), None);
        assert_eq!(fold_prefix("\u{c9}FI", "EFI"), None);
    }

    #[test]
    fn a_command_keeps_backslashes_that_do_not_end_the_line() {
        assert_eq!(command_len(" echo a\\nb \\\\ c\n"), 15);
        // `\` then a blank is not part of a command: it may be a line continuation.
        assert_eq!(command_len(" a \\  \nb"), 3);
        assert_eq!(command_len(" a\\"), 2);
        assert_eq!(command_len("\\\tx"), 0);
    }

    #[test]
    fn a_continuation_allows_blanks_and_form_feeds_before_the_line_end() {
        assert_eq!(continuation_len("\\\nx"), Some(2));
        assert_eq!(continuation_len("\\ \t\x0c\nx"), Some(5));
        assert_eq!(continuation_len("\\ x\n"), None);
        assert_eq!(continuation_len("\\"), None);
    }

    #[test]
    fn free_text_comes_before_comments() {
        let mut lexer = Lexer::new("#a b # c\n");
        let at = |line, column| Pos { line, column };
        assert_eq!(lexer.skip(Text::Word, false), Next::Text("#a", at(1, 1)));
        assert_eq!(lexer.skip(Text::Word, true), Next::Text("b", at(1, 4)));
        assert_eq!(lexer.skip(Text::Word, true), Next::Text("#", at(1, 6)));
        let mut lexer = Lexer::new("  # c\n\n\nX");
        assert_eq!(lexer.skip(Text::None, true), Next::Newline);
        assert_eq!(lexer.pos(), Pos { line: 4, column: 1 });
        assert_eq!(lexer.skip(Text::None, true), Next::Here);
    }

    #[test]
    fn columns_count_characters() {
        let mut lexer = Lexer::new("\u{e9}\u{e9} x\n");
        let at = |line, column| Pos { line, column };
        assert_eq!(
            lexer.skip(Text::Word, false),
            Next::Text("\u{e9}\u{e9}", at(1, 1))
        );
        assert_eq!(lexer.skip(Text::Word, false), Next::Text("x", at(1, 4)));
        assert_eq!(lexer.pos(), at(1, 5));
    }

    #[test]
    fn the_offending_text_runs_to_the_next_blank() {
        let mut lexer = Lexer::new("DISK 1 XB GPT\n");
        assert!(lexer.keyword(INSTRUCTIONS).is_some());
        assert_eq!(lexer.skip(Text::None, false), Next::Here);
        assert!(lexer.digits().is_some());
        assert_eq!(lexer.skip(Text::None, false), Next::Here);
        assert_eq!(lexer.unit(), None);
        let unexpected = lexer.unexpected(Expected::Unit);
        assert_eq!(unexpected.pos, Pos { line: 1, column: 8 });
        assert_eq!(unexpected.found, Found::Text("XB".into()));
    }

    #[test]
    fn a_quoted_string_ends_at_the_first_quote_on_its_line() {
        let mut lexer = Lexer::new("\"-L root\" \"x\"\n");
        assert_eq!(lexer.quoted(), Some("-L root"));
        let mut lexer = Lexer::new("\"-L\nroot\"\n");
        assert_eq!(lexer.quoted(), None);
        let mut lexer = Lexer::new("\"\"\n");
        assert_eq!(lexer.quoted(), Some(""));
    }
}
