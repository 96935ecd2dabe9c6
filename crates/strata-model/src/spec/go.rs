//! Go's text conventions that containers/image error messages embed: `strconv.Quote` (`%q`) and
//! `strconv.Atoi` with its error texts.

use std::fmt;

/// Quotes `s` the way Go's `strconv.Quote` (and so `fmt`'s `%q`) does.
///
/// Exact for ASCII. For other characters, strata escapes Unicode control characters and
/// whitespace other than U+0020 (Go's `unicode.IsPrint` also escapes a few format characters,
/// such as U+200B, which are kept here).
pub(crate) fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{07}' => out.push_str("\\a"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{0b}' => out.push_str("\\v"),
            c if c < ' ' || c == '\u{7f}' => out.push_str(&format!("\\x{:02x}", u32::from(c))),
            c if c.is_control() || (c.is_whitespace() && c != ' ') => {
                let code = u32::from(c);
                if code < 0x1_0000 {
                    out.push_str(&format!("\\u{code:04x}"));
                } else {
                    out.push_str(&format!("\\U{code:08x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Why Go's `strconv.Atoi` refused a text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AtoiFailure {
    /// Not an optional sign followed by decimal digits (`strconv.ErrSyntax`).
    Syntax,
    /// Outside the range of a 64-bit `int` (`strconv.ErrRange`).
    Range,
}

/// A text that Go's `strconv.Atoi` (64-bit `int`) refuses, with Go's message:
/// `strconv.Atoi: parsing "TEXT": invalid syntax` or `... value out of range`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AtoiError {
    /// The whole text given, sign included.
    pub input: String,
    /// Why it was refused.
    pub failure: AtoiFailure,
}

impl fmt::Display for AtoiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let why = match self.failure {
            AtoiFailure::Syntax => "invalid syntax",
            AtoiFailure::Range => "value out of range",
        };
        write!(f, "strconv.Atoi: parsing {}: {why}", quote(&self.input))
    }
}

impl std::error::Error for AtoiError {}

/// Parses `s` as Go's `strconv.Atoi` does on a 64-bit platform: an optional `+` or `-`, then one
/// or more ASCII digits, no underscores, no spaces.
///
/// Like Go, a digit run that overflows 64 unsigned bits is a range error even if a bad character
/// follows it, while a bad character met first is a syntax error.
pub(crate) fn atoi(s: &str) -> Result<i64, AtoiError> {
    let fail = |failure| AtoiError {
        input: s.to_owned(),
        failure,
    };
    let (negative, digits) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty() {
        return Err(fail(AtoiFailure::Syntax));
    }
    let mut value: u64 = 0;
    for b in digits.bytes() {
        if !b.is_ascii_digit() {
            return Err(fail(AtoiFailure::Syntax));
        }
        value = value
            .checked_mul(10)
            .and_then(|v| v.checked_add(u64::from(b - b'0')))
            .ok_or_else(|| fail(AtoiFailure::Range))?;
    }
    if negative {
        // i64::MIN's magnitude is one more than i64::MAX.
        match value.checked_sub(1).map(i64::try_from) {
            None => Ok(0),
            Some(Ok(m)) => Ok(-m - 1),
            Some(Err(_)) => Err(fail(AtoiFailure::Range)),
        }
    } else {
        i64::try_from(value).map_err(|_| fail(AtoiFailure::Range))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quote_matches_go() {
        for (input, quoted) in [
            ("", r#""""#),
            ("abc", r#""abc""#),
            ("a\"b\\c", r#""a\"b\\c""#),
            ("\n\t\r\u{7}\u{8}\u{b}\u{c}", r#""\n\t\r\a\b\v\f""#),
            ("\u{0}\u{1b}\u{7f}", r#""\x00\x1b\x7f""#),
            ("\u{85}\u{a0}", r#""\u0085\u00a0""#),
            ("é ü", "\"é ü\""),
        ] {
            assert_eq!(quote(input), quoted, "{input:?}");
        }
    }

    #[test]
    fn atoi_accepts_what_go_accepts() {
        for (input, value) in [
            ("0", 0),
            ("7", 7),
            ("+7", 7),
            ("-7", -7),
            ("-0", 0),
            ("007", 7),
            ("9223372036854775807", i64::MAX),
            ("-9223372036854775808", i64::MIN),
        ] {
            assert_eq!(atoi(input), Ok(value), "{input:?}");
        }
    }

    #[test]
    fn atoi_refuses_what_go_refuses() {
        let syntax = |s: &str| AtoiError {
            input: s.into(),
            failure: AtoiFailure::Syntax,
        };
        let range = |s: &str| AtoiError {
            input: s.into(),
            failure: AtoiFailure::Range,
        };
        for (input, error) in [
            ("", syntax("")),
            ("+", syntax("+")),
            ("-", syntax("-")),
            ("x", syntax("x")),
            ("1_000", syntax("1_000")),
            (" 1", syntax(" 1")),
            ("0x10", syntax("0x10")),
            ("9223372036854775808", range("9223372036854775808")),
            ("-9223372036854775809", range("-9223372036854775809")),
            ("99999999999999999999x", range("99999999999999999999x")),
            ("9999999999999999999x", syntax("9999999999999999999x")),
        ] {
            assert_eq!(atoi(input), Err(error), "{input:?}");
        }
        assert_eq!(
            atoi("x").unwrap_err().to_string(),
            r#"strconv.Atoi: parsing "x": invalid syntax"#
        );
        assert_eq!(
            atoi("9223372036854775808").unwrap_err().to_string(),
            r#"strconv.Atoi: parsing "9223372036854775808": value out of range"#
        );
    }
}
