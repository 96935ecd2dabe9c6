//! `hash.to_yaml(:indent => 4)` as the Ruby CLI prints `-y`.
//!
//! Written by hand rather than with serde_yaml_ng: Psych chooses each string's style by rules
//! of its own (`Psych::Visitors::YAMLTree#visit_String`: strings that would read back as
//! numbers, booleans, null, times or symbols are single-quoted, `'0'`; strings starting with a
//! non-word character and holding no `"` are double-quoted, `"/var/lib"`, `"-1"`; strings with
//! an inner newline are literal blocks, `|-`), which libyaml's emitter then overrides where the
//! text does not allow the style (`yaml_emitter_analyze_scalar`, `select_scalar_style`), and
//! serde_yaml_ng follows neither. Also:
//! - `:indent => 4` is not an option Psych knows (it reads `:indentation`), so the CLI's YAML is
//!   indented by libyaml's default, two spaces; a sequence that is a mapping's value is not
//!   indented (`KEY:` then `- item` in the same column).
//! - libyaml folds plain and quoted scalars at a space once the line passes 80 columns.
//! - Empty objects and arrays are written `{}` and `[]`.
//!
//! The input is the tree of [`super::xml::Element::to_hash`]: objects, arrays and strings.

use std::sync::LazyLock;

use regex::Regex;
use serde_json::Value;

const BEST_WIDTH: usize = 80;
const BEST_INDENT: usize = 2;

/// Psych's YAML of `value`, `---` first and a newline last.
pub fn ruby_yaml(value: &Value) -> String {
    let mut e = Emitter {
        out: String::from("---"),
        column: 3,
    };
    match value {
        Value::Object(m) if !m.is_empty() => e.mapping(value, 0, false),
        Value::Array(a) if !a.is_empty() => e.sequence(value, 0),
        other => {
            e.put(" ");
            e.node_inline(other, BEST_INDENT);
        }
    }
    if e.column != 0 {
        e.out.push('\n');
    }
    e.out
}

struct Emitter {
    out: String,
    column: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Style {
    Plain,
    Single,
    Double,
    Literal,
}

impl Emitter {
    fn put(&mut self, s: &str) {
        for c in s.chars() {
            self.put_char(c);
        }
    }

    fn put_char(&mut self, c: char) {
        self.out.push(c);
        if c == '\n' {
            self.column = 0;
        } else {
            self.column += 1;
        }
    }

    /// libyaml's `write_indent`: a line break unless at the start of a line, then spaces.
    fn new_line(&mut self, indent: usize) {
        if self.column != 0 {
            self.put_char('\n');
        }
        while self.column < indent {
            self.put_char(' ');
        }
    }

    /// A block mapping whose keys are at `indent`; `inline_first` when its first key follows a
    /// sequence's `- `.
    fn mapping(&mut self, value: &Value, indent: usize, inline_first: bool) {
        let Value::Object(map) = value else { return };
        for (i, (key, v)) in map.iter().enumerate() {
            if !(i == 0 && inline_first) {
                self.new_line(indent);
            }
            self.scalar(key, indent + BEST_INDENT, true);
            self.put(":");
            match v {
                Value::Object(m) if !m.is_empty() => self.mapping(v, indent + BEST_INDENT, false),
                // A sequence in a mapping is not indented (libyaml's indentless sequence).
                Value::Array(a) if !a.is_empty() => self.sequence(v, indent),
                other => {
                    self.put(" ");
                    self.node_inline(other, indent + BEST_INDENT);
                }
            }
        }
    }

    /// A block sequence whose dashes are at `indent`.
    fn sequence(&mut self, value: &Value, indent: usize) {
        let Value::Array(items) = value else { return };
        for item in items {
            self.new_line(indent);
            self.put("- ");
            match item {
                Value::Object(m) if !m.is_empty() => {
                    self.mapping(item, indent + BEST_INDENT, true);
                }
                Value::Array(a) if !a.is_empty() => {
                    // `- - x`: the inner sequence's first dash on the same line.
                    let Value::Array(inner) = item else { continue };
                    for (j, x) in inner.iter().enumerate() {
                        if j > 0 {
                            self.new_line(indent + BEST_INDENT);
                            self.put("- ");
                        } else {
                            self.put("- ");
                        }
                        self.node_inline(x, indent + 2 * BEST_INDENT);
                    }
                }
                other => self.node_inline(other, indent + BEST_INDENT),
            }
        }
    }

    /// A scalar or an empty collection on the current line.
    fn node_inline(&mut self, value: &Value, indent: usize) {
        match value {
            Value::Object(_) => self.put("{}"),
            Value::Array(_) => self.put("[]"),
            Value::String(s) => self.scalar(s, indent, false),
            other => self.scalar(&other.to_string(), indent, false),
        }
    }

    /// A string scalar; continuation lines go at `indent`. A key is in libyaml's simple key
    /// context: never folded, never a block.
    fn scalar(&mut self, s: &str, indent: usize, simple_key: bool) {
        if s == "<<" {
            // Psych tags it, so that it does not read back as a merge key.
            self.put("!!str '<<'");
            return;
        }
        let a = analyze(s);
        let mut style = psych_style(s);
        if simple_key && a.multiline {
            style = Style::Double;
        }
        if style == Style::Plain && (!a.block_plain_allowed || (s.is_empty() && simple_key)) {
            style = Style::Single;
        }
        if style == Style::Single && !a.single_quoted_allowed {
            style = Style::Double;
        }
        if style == Style::Literal && (!a.block_allowed || simple_key) {
            style = Style::Double;
        }
        let allow_breaks = !simple_key;
        match style {
            Style::Plain => self.plain(s, indent, allow_breaks),
            Style::Single => self.single_quoted(s, indent, allow_breaks),
            Style::Double => self.double_quoted(s, indent, allow_breaks),
            Style::Literal => self.literal(s, indent),
        }
    }

    fn plain(&mut self, s: &str, indent: usize, allow_breaks: bool) {
        let chars: Vec<char> = s.chars().collect();
        let mut spaces = false;
        for (i, &c) in chars.iter().enumerate() {
            if c == ' ' {
                let next_space = chars.get(i + 1) == Some(&' ');
                if allow_breaks && !spaces && self.column > BEST_WIDTH && !next_space {
                    self.new_line(indent);
                } else {
                    self.put_char(c);
                }
                spaces = true;
            } else {
                self.put_char(c);
                spaces = false;
            }
        }
    }

    fn single_quoted(&mut self, s: &str, indent: usize, allow_breaks: bool) {
        let chars: Vec<char> = s.chars().collect();
        self.put_char('\'');
        let mut spaces = false;
        let mut breaks = false;
        for (i, &c) in chars.iter().enumerate() {
            if c == ' ' {
                let next_space = chars.get(i + 1) == Some(&' ');
                if allow_breaks
                    && !spaces
                    && self.column > BEST_WIDTH
                    && i != 0
                    && i + 1 != chars.len()
                    && !next_space
                {
                    self.new_line(indent);
                } else {
                    self.put_char(c);
                }
                spaces = true;
            } else if is_break(c) {
                if !breaks && c == '\n' {
                    self.put_char('\n');
                }
                self.put_char('\n');
                breaks = true;
            } else {
                if breaks {
                    self.new_line(indent);
                }
                if c == '\'' {
                    self.put_char('\'');
                }
                self.put_char(c);
                spaces = false;
                breaks = false;
            }
        }
        if breaks {
            self.new_line(indent);
        }
        self.put_char('\'');
    }

    fn double_quoted(&mut self, s: &str, indent: usize, allow_breaks: bool) {
        let chars: Vec<char> = s.chars().collect();
        self.put_char('"');
        let mut spaces = false;
        for (i, &c) in chars.iter().enumerate() {
            if !is_printable(c) || c == '\u{feff}' || is_break(c) || c == '"' || c == '\\' {
                let esc = match c {
                    '\0' => "\\0".to_owned(),
                    '\x07' => "\\a".to_owned(),
                    '\x08' => "\\b".to_owned(),
                    '\t' => "\\t".to_owned(),
                    '\n' => "\\n".to_owned(),
                    '\x0b' => "\\v".to_owned(),
                    '\x0c' => "\\f".to_owned(),
                    '\r' => "\\r".to_owned(),
                    '\x1b' => "\\e".to_owned(),
                    '"' => "\\\"".to_owned(),
                    '\\' => "\\\\".to_owned(),
                    '\u{85}' => "\\N".to_owned(),
                    '\u{a0}' => "\\_".to_owned(),
                    '\u{2028}' => "\\L".to_owned(),
                    '\u{2029}' => "\\P".to_owned(),
                    c if u32::from(c) <= 0xff => format!("\\x{:02X}", u32::from(c)),
                    c if u32::from(c) <= 0xffff => format!("\\u{:04X}", u32::from(c)),
                    c => format!("\\U{:08X}", u32::from(c)),
                };
                self.put(&esc);
                spaces = false;
            } else if c == ' ' {
                if allow_breaks
                    && !spaces
                    && self.column > BEST_WIDTH
                    && i != 0
                    && i + 1 != chars.len()
                {
                    self.new_line(indent);
                    if chars.get(i + 1) == Some(&' ') {
                        self.put_char('\\');
                    }
                } else {
                    self.put_char(c);
                }
                spaces = true;
            } else {
                self.put_char(c);
                spaces = false;
            }
        }
        self.put_char('"');
    }

    fn literal(&mut self, s: &str, indent: usize) {
        self.put_char('|');
        let chars: Vec<char> = s.chars().collect();
        if chars.first().is_some_and(|&c| c == ' ' || is_break(c)) {
            self.put(&BEST_INDENT.to_string());
        }
        let last_break = chars.last().is_some_and(|&c| is_break(c));
        let before_last_break = chars.len() >= 2 && is_break(chars[chars.len() - 2]);
        if !last_break {
            self.put_char('-');
        } else if chars.len() == 1 || before_last_break {
            self.put_char('+');
        }
        self.put_char('\n');
        let mut breaks = true;
        for c in chars {
            if is_break(c) {
                self.put_char('\n');
                breaks = true;
            } else {
                if breaks {
                    self.new_line(indent);
                }
                self.put_char(c);
                breaks = false;
            }
        }
    }
}

fn is_break(c: char) -> bool {
    matches!(c, '\r' | '\n' | '\u{85}' | '\u{2028}' | '\u{2029}')
}

/// libyaml's `IS_PRINTABLE` (which leaves out characters beyond the BMP).
fn is_printable(c: char) -> bool {
    let u = u32::from(c);
    u == 0x0a
        || (0x20..=0x7e).contains(&u)
        || (0xa0..=0xd7ff).contains(&u)
        || ((0xe000..=0xfffd).contains(&u) && u != 0xfeff)
}

fn is_blankz(c: Option<char>) -> bool {
    match c {
        None => true,
        Some(c) => c == ' ' || c == '\t' || c == '\0' || is_break(c),
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct Analysis {
    multiline: bool,
    block_plain_allowed: bool,
    single_quoted_allowed: bool,
    block_allowed: bool,
}

/// `yaml_emitter_analyze_scalar`, for block context.
fn analyze(s: &str) -> Analysis {
    if s.is_empty() {
        return Analysis {
            multiline: false,
            block_plain_allowed: true,
            single_quoted_allowed: true,
            block_allowed: false,
        };
    }
    let chars: Vec<char> = s.chars().collect();
    let mut block_indicators = s.starts_with("---") || s.starts_with("...");
    let (mut leading_space, mut leading_break, mut trailing_space, mut trailing_break) =
        (false, false, false, false);
    let (mut break_space, mut space_break, mut previous_space, mut previous_break) =
        (false, false, false, false);
    let (mut line_breaks, mut special) = (false, false);
    let mut preceded_by_whitespace = true;
    for (i, &c) in chars.iter().enumerate() {
        let followed_by_whitespace = is_blankz(chars.get(i + 1).copied());
        if i == 0 {
            if "#,[]{}&*!|>'\"%@`".contains(c) {
                block_indicators = true;
            }
            if (c == '?' || c == ':' || c == '-') && followed_by_whitespace {
                block_indicators = true;
            }
        } else if (c == ':' && followed_by_whitespace) || (c == '#' && preceded_by_whitespace) {
            block_indicators = true;
        }
        if !is_printable(c) {
            special = true;
        }
        if is_break(c) {
            line_breaks = true;
        }
        let last = i + 1 == chars.len();
        if c == ' ' {
            leading_space |= i == 0;
            trailing_space |= last;
            break_space |= previous_break;
            previous_space = true;
            previous_break = false;
        } else if is_break(c) {
            leading_break |= i == 0;
            trailing_break |= last;
            space_break |= previous_space;
            previous_space = false;
            previous_break = true;
        } else {
            previous_space = false;
            previous_break = false;
        }
        preceded_by_whitespace = is_blankz(Some(c));
    }
    let mut a = Analysis {
        multiline: line_breaks,
        block_plain_allowed: true,
        single_quoted_allowed: true,
        block_allowed: true,
    };
    if leading_space || leading_break || trailing_space || trailing_break {
        a.block_plain_allowed = false;
    }
    if trailing_space {
        a.block_allowed = false;
    }
    if break_space {
        a.block_plain_allowed = false;
        a.single_quoted_allowed = false;
    }
    if space_break || special {
        a.block_plain_allowed = false;
        a.single_quoted_allowed = false;
        a.block_allowed = false;
    }
    if line_breaks || block_indicators {
        a.block_plain_allowed = false;
    }
    a
}

/// The patterns are constants of this file, every one compiled by the tests.
fn re(pattern: &str) -> Regex {
    Regex::new(pattern).expect("a valid constant pattern")
}

static INNER_NEWLINE: LazyLock<Regex> = LazyLock::new(|| re(r"(?s)\n(?:[^\n]|\n.)"));
static NON_WORD_START: LazyLock<Regex> = LazyLock::new(|| re(r#"(?m)^[^\w][^"]*$"#));
static OCTAL_LOOKING: LazyLock<Regex> = LazyLock::new(|| re(r"\A0[0-7]*[89]"));
static STRINGY: LazyLock<Regex> =
    LazyLock::new(|| re(r"(?m)^[^\d.:-]?[\p{Alphabetic}_\s!@#$%\^&*(){}<>|/\\~;=]+"));
static NOT_YTONF: LazyLock<Regex> = LazyLock::new(|| re(r"(?mi)^[^ytonf~]"));
static NULL: LazyLock<Regex> = LazyLock::new(|| re(r"(?mi)^null$"));
static BOOL: LazyLock<Regex> = LazyLock::new(|| re(r"(?mi)^(yes|true|on|no|false|off)$"));
static TIME: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?m)^-?\d{4}-\d{1,2}-\d{1,2}(?:[Tt]|\s+)\d{1,2}:\d\d:\d\d(?:\.\d*)?(?:\s*(?:Z|[-+]\d{1,2}:?(?:\d\d)?))?$",
    )
});
static DATE: LazyLock<Regex> =
    LazyLock::new(|| re(r"(?m)^\d{4}-(?:1[012]|0\d|\d)-(?:[12]\d|3[01]|0\d|\d)$"));
static SPECIAL_FLOAT: LazyLock<Regex> = LazyLock::new(|| re(r"(?mi)^(?:\+?\.inf|-\.inf|\.nan)$"));
static SYMBOL: LazyLock<Regex> = LazyLock::new(|| re(r"(?m)^:."));
static SEXAGESIMAL: LazyLock<Regex> =
    LazyLock::new(|| re(r"(?m)^[-+]?[0-9][0-9_]*(:[0-5]?[0-9]){1,2}(?:\.[0-9_]*)?$"));
static FLOAT: LazyLock<Regex> =
    LazyLock::new(|| re(r"(?m)^(?:[-+]?([0-9][0-9_,]*)?\.[0-9]*([eE][-+][0-9]+)?)$"));
static LONE_DOT: LazyLock<Regex> = LazyLock::new(|| re(r"\A[-+]?\.\z"));
static INTEGER: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?m)^(?:[-+]?0b[0-1_,]+|[-+]?0[0-7_,]+|[-+]?(?:0|[1-9](?:[0-9]|,[0-9]|_[0-9])*)|[-+]?0x[0-9a-fA-F_,]+)$",
    )
});

/// Whether Psych's `ScalarScanner#tokenize` reads `s` back as a String (rather than nil, a
/// boolean, a number, a time, a date or a symbol).
fn tokenizes_as_string(s: &str) -> bool {
    if s.is_empty() {
        return false;
    }
    if STRINGY.is_match(s) || s.contains('\n') {
        if s.chars().count() > 5 || NOT_YTONF.is_match(s) {
            return true;
        }
        return !(s == "~" || NULL.is_match(s) || BOOL.is_match(s));
    }
    if TIME.is_match(s)
        || DATE.is_match(s)
        || SPECIAL_FLOAT.is_match(s)
        || SYMBOL.is_match(s)
        || SEXAGESIMAL.is_match(s)
    {
        return false;
    }
    if FLOAT.is_match(s) {
        return LONE_DOT.is_match(s);
    }
    !INTEGER.is_match(s)
}

/// The style `visit_String` asks for.
fn psych_style(s: &str) -> Style {
    // `o =~ /\n(?!\Z)/`: a newline that is neither last nor before a final newline.
    if INNER_NEWLINE.is_match(s) {
        Style::Literal
    } else if s == "<<" {
        Style::Single
    } else if s == "y" || s == "n" || NON_WORD_START.is_match(s) {
        Style::Double
    } else if !tokenizes_as_string(s) || OCTAL_LOOKING.is_match(s) {
        Style::Single
    } else {
        Style::Plain
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn y(s: &str) -> String {
        let mut map = serde_json::Map::new();
        map.insert("K".into(), Value::String(s.into()));
        let out = ruby_yaml(&Value::Object(map));
        out.strip_prefix("---\nK: ")
            .unwrap()
            .trim_end_matches('\n')
            .to_owned()
    }

    #[test]
    fn styles_as_psych_chooses() {
        // Checked against Ruby 3.1 / Psych 4.0.3 / libyaml 0.2.5.
        assert_eq!(y("0"), "'0'");
        assert_eq!(y(""), "''");
        assert_eq!(y("ubuntu"), "ubuntu");
        assert_eq!(y("/var/x"), "\"/var/x\"");
        assert_eq!(y("YES"), "'YES'");
        assert_eq!(y("NO"), "'NO'");
        assert_eq!(y("two\nlines"), "|-\n  two\n  lines");
        assert_eq!(y("a \"q\" <&"), "a \"q\" <&");
        assert_eq!(y("a: b"), "'a: b'");
        assert_eq!(y("#x"), "\"#x\"");
        assert_eq!(y("x#y"), "x#y");
        assert_eq!(y("-1"), "\"-1\"");
        assert_eq!(y("1.5"), "'1.5'");
        assert_eq!(y("2.2G"), "2.2G");
        assert_eq!(y("qcow2"), "qcow2");
        assert_eq!(y("y"), "\"y\"");
        assert_eq!(y("a\tb"), "\"a\\tb\"");
        assert_eq!(y("2026-01-02"), "'2026-01-02'");
        assert_eq!(y("09"), "'09'");
        assert_eq!(y(":sym"), "\":sym\"");
        assert_eq!(y("<<"), "!!str '<<'");
    }

    #[test]
    fn collections() {
        let v: Value = serde_json::from_str(
            r#"{"A":{"E":{},"L":["1","2"],"S":[{"A":"1","B":"x"},{"A":"2"}],"Z":[]}}"#,
        )
        .unwrap();
        assert_eq!(
            ruby_yaml(&v),
            "---\nA:\n  E: {}\n  L:\n  - '1'\n  - '2'\n  S:\n  - A: '1'\n    B: x\n  - A: '2'\n  Z: []\n"
        );
    }
}
