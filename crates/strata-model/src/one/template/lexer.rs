//! The template scanner: OpenNebula's flex rules (`src/parsers/template_parser.l`) applied
//! with flex's semantics (longest match, earliest rule on a tie, one byte skipped when no rule
//! matches) and its location bookkeeping.
//!
//! Locations follow the generated scanner exactly: `YY_USER_ACTION` sets
//! `first_column = last_column; last_column += yyleng` for every lexeme (skipped ones included)
//! and never resets at a newline, starting from bison's initial column 1, so a column is one plus
//! the byte offset from the start of the input. The line is the scanner's `yylineno`: it counts
//! the newlines of every rule that can match one, except flex's default rule, from 1.
//!
//! (OpenNebula parses template strings with `yy_scan_string`, and the flex 2.6.4 skeleton it
//! was generated with never initialises `yylineno` on that path, so oned reports whatever the
//! allocator left there: 0 in a fresh process, arbitrary numbers later. strata reports the line
//! flex intends, the one OpenNebula reports when it parses a template file.)

use super::{Skipped, Token};

/// A token with its text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Tok<'a> {
    /// End of input.
    End,
    /// `=` with blanks, entering the value state.
    Equal,
    /// `=` followed by blanks and a newline: an empty value.
    EqualEmpty,
    /// `,` with blanks and newlines.
    Comma,
    /// `[` with blanks and newlines.
    OBracket,
    /// `]` with blanks and newlines.
    CBracket,
    /// A value line containing `]]>`.
    Cdata,
    /// A value: the text between the quotes, or the unquoted text (not yet unescaped).
    Str(&'a str),
    /// A name, as written.
    Var(&'a str),
}

impl Tok<'_> {
    pub(super) fn kind(&self) -> Token {
        match self {
            Tok::End => Token::End,
            Tok::Equal => Token::Equal,
            Tok::EqualEmpty => Token::EqualEmpty,
            Tok::Comma => Token::Comma,
            Tok::OBracket => Token::OBracket,
            Tok::CBracket => Token::CBracket,
            Tok::Cdata => Token::Cdata,
            Tok::Str(_) => Token::String,
            Tok::Var(_) => Token::Variable,
        }
    }
}

/// The location of the last lexeme (bison's `yylloc`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Loc {
    pub(super) line: usize,
    pub(super) first_column: usize,
    pub(super) last_column: usize,
}

/// The rules, in the order of `template_parser.l` (a tie goes to the earlier one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Rule {
    Comment,
    Blank,
    Variable,
    Equal,
    EqualEmpty,
    Comma,
    CBracket,
    OBracket,
    Cdata,
    Quoted,
    Unquoted,
}

impl Rule {
    /// Whether flex counts the newlines this rule matches into `yylineno`.
    fn counts_lines(self) -> bool {
        matches!(
            self,
            Rule::Comment
                | Rule::Blank
                | Rule::EqualEmpty
                | Rule::Comma
                | Rule::CBracket
                | Rule::OBracket
                | Rule::Quoted
        )
    }
}

const fn is_blank(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

const fn is_space(b: u8) -> bool {
    is_blank(b) || b == b'\n'
}

const fn is_name(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// Bytes of an unquoted value: `[^=#[:blank:]\n,\[\]]`.
const fn is_unquoted(b: u8) -> bool {
    !matches!(b, b'=' | b'#' | b' ' | b'\t' | b'\n' | b',' | b'[' | b']')
}

/// A forward search whose start only grows, so that a whole scan costs linear time even when
/// every position asks for the next occurrence.
#[derive(Debug, Default)]
struct Forward {
    from: usize,
    found: Option<usize>,
    valid: bool,
}

impl Forward {
    fn find(&mut self, from: usize, search: impl Fn(usize) -> Option<usize>) -> Option<usize> {
        let stale = !self.valid || from < self.from || matches!(self.found, Some(f) if f < from);
        if stale {
            self.found = search(from);
            self.from = from;
            self.valid = true;
        }
        self.found
    }
}

pub(super) struct Lexer<'a> {
    text: &'a str,
    bytes: &'a [u8],
    pos: usize,
    in_value: bool,
    line: usize,
    last_column: usize,
    loc: Loc,
    skipped: Vec<Skipped>,
    next_newline: Forward,
    next_cdata: Forward,
    next_closing_quote: Forward,
    last_quote: Option<usize>,
    blank_run: Option<(usize, usize)>,
}

impl<'a> Lexer<'a> {
    pub(super) fn new(text: &'a str) -> Lexer<'a> {
        let bytes = text.as_bytes();
        Lexer {
            text,
            bytes,
            pos: 0,
            in_value: false,
            line: 1,
            last_column: 1,
            loc: Loc {
                line: 1,
                first_column: 1,
                last_column: 1,
            },
            skipped: Vec::new(),
            next_newline: Forward::default(),
            next_cdata: Forward::default(),
            next_closing_quote: Forward::default(),
            last_quote: bytes.iter().rposition(|&b| b == b'"'),
            blank_run: None,
        }
    }

    pub(super) fn loc(&self) -> Loc {
        self.loc
    }

    pub(super) fn into_skipped(self) -> Vec<Skipped> {
        self.skipped
    }

    fn count(&self, from: usize, pred: impl Fn(u8) -> bool) -> usize {
        self.bytes
            .get(from..)
            .map_or(0, |rest| rest.iter().take_while(|&&b| pred(b)).count())
    }

    fn byte(&self, at: usize) -> Option<u8> {
        self.bytes.get(at).copied()
    }

    fn newline_from(&mut self, from: usize) -> Option<usize> {
        let bytes = self.bytes;
        self.next_newline.find(from, |f| {
            bytes
                .get(f..)?
                .iter()
                .position(|&b| b == b'\n')
                .map(|i| f + i)
        })
    }

    /// `[[:blank:]]*#.*\n`
    fn comment_len(&mut self, p: usize) -> usize {
        let q = p + self.count(p, is_blank);
        if self.byte(q) != Some(b'#') {
            return 0;
        }
        self.newline_from(q).map_or(0, |nl| nl + 1 - p)
    }

    /// `[[:blank:]]*=[[:blank:]]*` and, with a newline after, the EQUAL_EMPTY rule.
    fn equal_lens(&self, p: usize) -> (usize, usize) {
        let q = p + self.count(p, is_blank);
        if self.byte(q) != Some(b'=') {
            return (0, 0);
        }
        let end = q + 1 + self.count(q + 1, is_blank);
        let empty = if self.byte(end) == Some(b'\n') {
            end + 1 - p
        } else {
            0
        };
        (end - p, empty)
    }

    /// `[[:blank:]\n]*X[[:blank:]\n]*` for X in `,` and `]`; `[[:blank:]]*\[[[:blank:]\n]*`.
    fn punct_len(&self, p: usize, lead: fn(u8) -> bool, punct: u8) -> usize {
        self.punct_len_from(p, p + self.count(p, lead), punct)
    }

    /// The punctuation rules once their leading blanks end at `q`.
    fn punct_len_from(&self, p: usize, q: usize, punct: u8) -> usize {
        if self.byte(q) != Some(punct) {
            return 0;
        }
        q + 1 + self.count(q + 1, is_space) - p
    }

    /// `[[:blank:]]*\[[[:blank:]\n]*`. In the value state the default rule skips blanks one by
    /// one, so the end of a run of blanks is remembered while the scan is inside it.
    fn obracket_len(&mut self, p: usize) -> usize {
        let end = match self.blank_run {
            Some((start, end)) if start <= p && p <= end => end,
            _ => {
                let end = p + self.count(p, is_blank);
                self.blank_run = Some((p, end));
                end
            }
        };
        self.punct_len_from(p, end, b'[')
    }

    /// `.*\]\]\>.*`: to the end of the line, if the rest of the line holds `]]>`.
    fn cdata_len(&mut self, p: usize) -> usize {
        let end = self.newline_from(p).unwrap_or(self.bytes.len());
        let bytes = self.bytes;
        let found = self.next_cdata.find(p, |f| {
            bytes
                .get(f..)?
                .windows(3)
                .position(|w| w == b"]]>")
                .map(|i| f + i)
        });
        match found {
            Some(start) if start + 3 <= end => end - p,
            _ => 0,
        }
    }

    /// `\"([^\"]|\\\")*\"`: the longest match ends at the first quote after the opening one
    /// that is not preceded by a backslash, or, if there is none, at the last quote of the input
    /// (an escaped quote can close the string when nothing else can).
    fn quoted_len(&mut self, p: usize) -> usize {
        if self.byte(p) != Some(b'"') {
            return 0;
        }
        let bytes = self.bytes;
        let closing = self.next_closing_quote.find(p + 1, |f| {
            (f..bytes.len()).find(|&i| bytes[i] == b'"' && bytes[i - 1] != b'\\')
        });
        match closing.or(self.last_quote) {
            Some(close) if close > p => close + 1 - p,
            _ => 0,
        }
    }

    fn longest(&mut self, p: usize) -> Option<(Rule, usize)> {
        let none = (Rule::Unquoted, 0);
        let candidates: [(Rule, usize); 7] = if self.in_value {
            [
                (Rule::OBracket, self.obracket_len(p)),
                (Rule::Cdata, self.cdata_len(p)),
                (Rule::Quoted, self.quoted_len(p)),
                (Rule::Unquoted, self.count(p, is_unquoted)),
                none,
                none,
                none,
            ]
        } else {
            let (equal, equal_empty) = self.equal_lens(p);
            [
                (Rule::Comment, self.comment_len(p)),
                (Rule::Blank, self.count(p, is_space)),
                (Rule::Variable, self.count(p, is_name)),
                (Rule::Equal, equal),
                (Rule::EqualEmpty, equal_empty),
                (Rule::Comma, self.punct_len(p, is_space, b',')),
                (Rule::CBracket, self.punct_len(p, is_space, b']')),
            ]
        };
        // The longest, and of equals the earliest rule.
        candidates
            .into_iter()
            .filter(|&(_, len)| len > 0)
            .min_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)))
    }

    fn advance(&mut self, len: usize, counts_lines: bool) -> &'a str {
        let start = self.pos;
        let end = start + len;
        if counts_lines {
            self.line += self.bytes[start..end]
                .iter()
                .filter(|&&b| b == b'\n')
                .count();
        }
        self.loc = Loc {
            line: self.line,
            first_column: self.last_column,
            last_column: self.last_column + len,
        };
        self.last_column += len;
        self.pos = end;
        // Every lexeme but a skipped byte starts and ends at an ASCII byte or at the end of the
        // input, so the slice falls on character boundaries.
        self.text.get(start..end).unwrap_or_default()
    }

    pub(super) fn next(&mut self) -> Tok<'a> {
        loop {
            if self.pos >= self.bytes.len() {
                return Tok::End;
            }
            let p = self.pos;
            let Some((rule, len)) = self.longest(p) else {
                // flex's default rule: ECHO one byte (oned's standard output) and go on, in
                // the same start condition, without counting a newline.
                self.skipped.push(Skipped {
                    offset: p,
                    byte: self.bytes[p],
                });
                self.advance(1, false);
                continue;
            };
            let text = self.advance(len, rule.counts_lines());
            match rule {
                Rule::Comment | Rule::Blank => {}
                Rule::Variable => return Tok::Var(text),
                Rule::Equal => {
                    self.in_value = true;
                    return Tok::Equal;
                }
                Rule::EqualEmpty => return Tok::EqualEmpty,
                Rule::Comma => return Tok::Comma,
                Rule::CBracket => return Tok::CBracket,
                Rule::OBracket => {
                    self.in_value = false;
                    return Tok::OBracket;
                }
                Rule::Cdata => {
                    self.in_value = false;
                    return Tok::Cdata;
                }
                Rule::Quoted => {
                    self.in_value = false;
                    return Tok::Str(text.get(1..text.len() - 1).unwrap_or_default());
                }
                Rule::Unquoted => {
                    self.in_value = false;
                    return Tok::Str(text);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(text: &str) -> Vec<Tok<'_>> {
        let mut lx = Lexer::new(text);
        let mut out = Vec::new();
        loop {
            let t = lx.next();
            out.push(t);
            if t == Tok::End {
                return out;
            }
        }
    }

    #[test]
    fn longest_match_between_value_rules() {
        use Tok::*;
        assert_eq!(
            tokens("A = \"abc\"def"),
            [Var("A"), Equal, Str("\"abc\"def"), End]
        );
        assert_eq!(tokens("A = \"a b\""), [Var("A"), Equal, Str("a b"), End]);
        assert_eq!(
            tokens("A = \"a\\\"b\" c"),
            [Var("A"), Equal, Str("a\\\"b"), Var("c"), End]
        );
        assert_eq!(tokens("A = \"a\\\""), [Var("A"), Equal, Str("a\\"), End]);
        assert_eq!(tokens("A = \"x]]>\""), [Var("A"), Equal, Cdata, End]);
        assert_eq!(
            tokens("A = \"x]]>\ny\""),
            [Var("A"), Equal, Str("x]]>\ny"), End]
        );
        assert_eq!(
            tokens("A = [ B = 1 ]"),
            [
                Var("A"),
                Equal,
                OBracket,
                Var("B"),
                Equal,
                Str("1"),
                CBracket,
                End
            ]
        );
        assert_eq!(
            tokens("A =  \nB=\n"),
            [Var("A"), EqualEmpty, Var("B"), EqualEmpty, End]
        );
    }

    #[test]
    fn locations() {
        let mut lx = Lexer::new("A = b\n  C");
        assert_eq!(lx.next(), Tok::Var("A"));
        assert_eq!(
            lx.loc(),
            Loc {
                line: 1,
                first_column: 1,
                last_column: 2
            }
        );
        lx.next();
        assert_eq!(
            lx.loc(),
            Loc {
                line: 1,
                first_column: 2,
                last_column: 5
            }
        );
        lx.next();
        assert_eq!(lx.next(), Tok::Var("C"));
        assert_eq!(
            lx.loc(),
            Loc {
                line: 2,
                first_column: 9,
                last_column: 10
            }
        );
    }
}
