//! The OpenNebula template language: the [`Template`] model (a multimap of single and vector
//! attributes), its parser with OpenNebula's exact acceptance and error texts, and the printer
//! of `template_like_str` (what `oneimage show` prints under IMAGE TEMPLATE).
//!
//! Facts from OpenNebula/one `src/parsers/template_parser.l` and `template_syntax.y` (and the
//! generated `template_syntax.cc`, bison 3.4.1, for the token names and the verbose messages),
//! `include/Attribute.h` (name rules, `trim`), `src/template/Template.cc` (`parse_str_or_xml`,
//! `set` in replace mode), `include/ImageTemplate.h` (image templates use replace mode) and
//! `src/oca/ruby/opennebula/xml_element.rb` (`template_like_str`, `attr_to_str`).
//!
//! # The language, as OpenNebula's scanner really reads it
//!
//! - `NAME = VALUE`, `NAME =` followed by a newline (empty value), `NAME = [ K = V, ... ]` and
//!   `NAME = []`. Names are `[A-Za-z0-9_]+`, upper-cased; a top-level name that starts with a
//!   digit, or whose first three characters as written are `XML` (upper-case only: `xml_a` is
//!   not prefixed and becomes `XML_A`), gets the prefix `ONE_`. Vector keys are only
//!   upper-cased. A repeated vector key keeps its first value.
//! - A value is either quoted, `"..."` across newlines with `\"` for `"` and no other escape,
//!   or unquoted, `[^=#[:blank:]\n,\[\]]+` (which may contain `"`). flex takes the longest
//!   match, so `"abc"def` is the unquoted value `"abc"def`, an unterminated `"abc` is the
//!   unquoted value `"abc`, and a backslash before a closing quote makes it reach for the next
//!   quote. There is no "unterminated string" error.
//! - A value whose line (from the value on) holds `]]>` is read as one CCDATA token, unless a
//!   quoted value that crosses the newline is longer: at top level it aborts the parse with
//!   `Parse error.` (no location, [`TemplateError::Cdata`]); inside a vector it is a syntax error
//!   (`unexpected CCDATA, expecting STRING`). `A = [ K = "x]]>" ]` is the top-level case, since
//!   the `[` is on the same line.
//! - `#` starts a comment only between attributes, and only if a newline follows; after `=` it
//!   is skipped and the value follows it (`A = # x` means `A = x`).
//! - Any byte that no rule matches is skipped (oned echoes it to its standard output):
//!   `A-B = 1` is `A` then `B = 1`, a syntax error; `Aé = 1` is `A = 1`. [`Parsed::skipped`]
//!   lists these bytes so a front end can warn.
//! - The input ends at its first NUL byte ([`Parsed::truncated_at`]); input starting with `<`
//!   is XML for OpenNebula, which strata does not parse ([`TemplateError::Xml`]).
//! - After a successful parse every value is trimmed of C white space.
//! - Errors read `Parse error: syntax error, unexpected X, expecting Y or Z at line L, columns
//!   A:B`. As in OpenNebula, columns are one plus the byte offset from the start of the input
//!   (they do not restart at each line), and at the end of the input the location is that of
//!   the last thing read, blanks and comments included. Lines count from 1, newlines skipped by
//!   the default rule (after `=`) excepted. OpenNebula's line number for a template sent as a
//!   string is uninitialised memory (a flex 2.6.4 bug on the `yy_scan_string` path): 0 in a
//!   fresh oned, anything later; strata gives the line flex means, as OpenNebula does for a
//!   template file.

mod lexer;
mod parser;

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The name of a top-level attribute, as OpenNebula stores it: `[A-Z_][A-Z0-9_]*`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct AttrName(String);

/// The key of a vector attribute, as OpenNebula stores it: `[A-Z0-9_]+`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct SubKey(String);

/// A name or key that a template cannot hold.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateNameError {
    /// Not a name as written in template text (`[A-Za-z0-9_]+`).
    #[error("Invalid template attribute name {value:?}: expected letters, digits and _")]
    Source {
        /// The text that was given.
        value: String,
    },
    /// Not a stored attribute name (`[A-Z_][A-Z0-9_]*`).
    #[error(
        "Invalid template attribute name {value:?}: expected upper-case letters, digits and _, \
         not starting with a digit"
    )]
    Name {
        /// The text that was given.
        value: String,
    },
    /// Not a stored vector key (`[A-Z0-9_]+`).
    #[error("Invalid vector attribute key {value:?}: expected upper-case letters, digits and _")]
    Key {
        /// The text that was given.
        value: String,
    },
    /// A vector with the same key twice.
    #[error("Duplicate vector attribute key {key}")]
    DuplicateKey {
        /// The repeated key.
        key: String,
    },
}

fn is_source_name(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

impl AttrName {
    /// The name OpenNebula makes of `raw` as written in template text (`Attribute`'s
    /// constructor): upper-cased, with `ONE_` in front if `raw` starts with a digit or with
    /// upper-case `XML`.
    pub fn normalize(raw: &str) -> Result<AttrName, TemplateNameError> {
        if !is_source_name(raw) {
            return Err(TemplateNameError::Source {
                value: raw.to_owned(),
            });
        }
        Ok(AttrName::from_source(raw))
    }

    /// [`AttrName::normalize`] for text the scanner already matched.
    fn from_source(raw: &str) -> AttrName {
        let upper = raw.to_ascii_uppercase();
        let starts_ok = raw
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_');
        if !starts_ok || raw.starts_with("XML") {
            AttrName(format!("ONE_{upper}"))
        } else {
            AttrName(upper)
        }
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for AttrName {
    type Err = TemplateNameError;

    /// A stored name, as [`Display`](fmt::Display) prints it.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut bytes = s.bytes();
        let first_ok = bytes
            .next()
            .is_some_and(|b| b.is_ascii_uppercase() || b == b'_');
        if first_ok && bytes.all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_') {
            Ok(AttrName(s.to_owned()))
        } else {
            Err(TemplateNameError::Name {
                value: s.to_owned(),
            })
        }
    }
}

impl fmt::Display for AttrName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for AttrName {
    type Error = TemplateNameError;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<AttrName> for String {
    fn from(n: AttrName) -> String {
        n.0
    }
}

impl SubKey {
    /// The key OpenNebula makes of `raw` as written in template text: upper-cased.
    pub fn normalize(raw: &str) -> Result<SubKey, TemplateNameError> {
        if !is_source_name(raw) {
            return Err(TemplateNameError::Source {
                value: raw.to_owned(),
            });
        }
        Ok(SubKey::from_source(raw))
    }

    fn from_source(raw: &str) -> SubKey {
        SubKey(raw.to_ascii_uppercase())
    }

    /// The key.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for SubKey {
    type Err = TemplateNameError;

    /// A stored key, as [`Display`](fmt::Display) prints it.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
        {
            Ok(SubKey(s.to_owned()))
        } else {
            Err(TemplateNameError::Key {
                value: s.to_owned(),
            })
        }
    }
}

impl fmt::Display for SubKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for SubKey {
    type Error = TemplateNameError;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<SubKey> for String {
    fn from(k: SubKey) -> String {
        k.0
    }
}

/// A vector attribute's value: keys with string values, each key once, in insertion order.
#[derive(Clone, Default, Serialize, Deserialize)]
#[serde(try_from = "Vec<(SubKey, String)>", into = "Vec<(SubKey, String)>")]
pub struct Vector {
    entries: Vec<(SubKey, String)>,
    /// Position of each key in `entries`, so that a vector of many keys parses in
    /// `O(n log n)`.
    index: BTreeMap<String, usize>,
}

impl PartialEq for Vector {
    fn eq(&self, other: &Vector) -> bool {
        self.entries == other.entries
    }
}

impl Eq for Vector {}

impl fmt::Debug for Vector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.entries.iter().map(|(k, v)| (k.as_str(), v)))
            .finish()
    }
}

impl Vector {
    /// An empty vector (`NAME = []`).
    pub fn new() -> Vector {
        Vector::default()
    }

    /// Adds `key` = `value` unless `key` is present (OpenNebula's `map::insert`: the first value
    /// wins). Returns whether it was added.
    pub fn insert(&mut self, key: SubKey, value: impl Into<String>) -> bool {
        if self.index.contains_key(key.as_str()) {
            return false;
        }
        self.index
            .insert(key.as_str().to_owned(), self.entries.len());
        self.entries.push((key, value.into()));
        true
    }

    /// Sets `key` to `value`, replacing any value it had, in place.
    pub fn replace(&mut self, key: SubKey, value: impl Into<String>) {
        let value = value.into();
        match self
            .index
            .get(key.as_str())
            .and_then(|&i| self.entries.get_mut(i))
        {
            Some(entry) => entry.1 = value,
            None => {
                self.insert(key, value);
            }
        }
    }

    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        let i = *self.index.get(key)?;
        self.entries.get(i).map(|(_, v)| v.as_str())
    }

    /// Removes `key`; returns its value.
    pub fn remove(&mut self, key: &str) -> Option<String> {
        let at = self.index.remove(key)?;
        let (_, value) = self.entries.remove(at);
        self.reindex();
        Some(value)
    }

    /// The entries, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&SubKey, &str)> {
        self.entries.iter().map(|(k, v)| (k, v.as_str()))
    }

    /// The number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there is no entry.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn sort(&mut self) {
        self.entries.sort_by(|a, b| a.0.cmp(&b.0));
        self.reindex();
    }

    fn reindex(&mut self) {
        self.index = self
            .entries
            .iter()
            .enumerate()
            .map(|(i, (k, _))| (k.as_str().to_owned(), i))
            .collect();
    }
}

impl TryFrom<Vec<(SubKey, String)>> for Vector {
    type Error = TemplateNameError;

    fn try_from(entries: Vec<(SubKey, String)>) -> Result<Self, Self::Error> {
        let mut vector = Vector::new();
        for (key, value) in entries {
            let name = key.as_str().to_owned();
            if !vector.insert(key, value) {
                return Err(TemplateNameError::DuplicateKey { key: name });
            }
        }
        Ok(vector)
    }
}

impl From<Vector> for Vec<(SubKey, String)> {
    fn from(v: Vector) -> Self {
        v.entries
    }
}

/// An attribute's value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum AttrValue {
    /// `NAME = value`.
    Single(String),
    /// `NAME = [ K = v, ... ]`.
    Vector(Vector),
}

impl From<&str> for AttrValue {
    fn from(s: &str) -> AttrValue {
        AttrValue::Single(s.to_owned())
    }
}

impl From<String> for AttrValue {
    fn from(s: String) -> AttrValue {
        AttrValue::Single(s)
    }
}

impl From<Vector> for AttrValue {
    fn from(v: Vector) -> AttrValue {
        AttrValue::Vector(v)
    }
}

/// One attribute of a template.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attribute {
    /// Its name.
    pub name: AttrName,
    /// Its value.
    pub value: AttrValue,
}

/// What a repeated top-level name does while parsing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Duplicates {
    /// Every occurrence is kept (OpenNebula's generic `Template`, e.g. several `DISK`s of a VM
    /// template).
    #[default]
    Keep,
    /// A later occurrence replaces the earlier ones (`ImageTemplate`, which OpenNebula builds in
    /// replace mode: an image template with two `PATH`s keeps the last).
    Replace,
}

/// An OpenNebula template: attributes in order, names possibly repeated.
///
/// Order is insertion order; [`Template::sorted`] gives the server's order (a multimap sorted
/// by name, vector keys sorted), which is what `oneimage show` prints.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Template {
    attributes: Vec<Attribute>,
}

/// A byte the scanner skipped because no rule matched it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Skipped {
    /// Its offset in the input.
    pub offset: usize,
    /// The byte.
    pub byte: u8,
}

/// A parsed template with what the parse silently did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    /// The template.
    pub template: Template,
    /// The bytes OpenNebula's scanner skips (it echoes them to oned's standard output).
    pub skipped: Vec<Skipped>,
    /// The offset of a NUL byte, where the input ended for the scanner.
    pub truncated_at: Option<usize>,
}

/// The scanner's tokens, named as bison names them in its messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Token {
    /// `$end`: the end of the input.
    End,
    /// `EQUAL`: `=` before a value.
    Equal,
    /// `COMMA`: `,` between vector entries.
    Comma,
    /// `OBRACKET`: `[` opening a vector.
    OBracket,
    /// `CBRACKET`: `]` closing a vector.
    CBracket,
    /// `EQUAL_EMPTY`: `=` at the end of a line.
    EqualEmpty,
    /// `CCDATA`: a value line holding `]]>`.
    Cdata,
    /// `STRING`: a value.
    String,
    /// `VARIABLE`: a name.
    Variable,
}

impl Token {
    /// The name in bison's messages (`yytname`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Token::End => "$end",
            Token::Equal => "EQUAL",
            Token::Comma => "COMMA",
            Token::OBracket => "OBRACKET",
            Token::CBracket => "CBRACKET",
            Token::EqualEmpty => "EQUAL_EMPTY",
            Token::Cdata => "CCDATA",
            Token::String => "STRING",
            Token::Variable => "VARIABLE",
        }
    }
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Template text that OpenNebula refuses. The texts are `Template::parse_str_or_xml`'s
/// (`Parse error` + `: ` + the message of `template_error` in template_syntax.y, or `.`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    /// A syntax error, located as OpenNebula locates it (see the module documentation).
    #[error(
        "Parse error: {} at line {line}, columns {first_column}:{last_column}",
        syntax_message(*.unexpected, .expected)
    )]
    Syntax {
        /// The token found.
        unexpected: Token,
        /// The tokens the grammar accepts there, in bison's order.
        expected: &'static [Token],
        /// The line, counted from 1.
        line: usize,
        /// One plus the byte offset of the token's start.
        first_column: usize,
        /// One plus the byte offset of the token's end.
        last_column: usize,
    },
    /// A value holding `]]>`: the grammar aborts without a message (`YYABORT`).
    #[error("Parse error.")]
    Cdata {
        /// The line of the value, counted from 1.
        line: usize,
        /// One plus the byte offset of the value's start.
        first_column: usize,
        /// One plus the byte offset of the value's end.
        last_column: usize,
    },
    /// The input starts with `<`: OpenNebula would read it as an XML template, which strata
    /// does not (strata's text).
    #[error("Parse error: XML templates are not supported")]
    Xml,
}

fn syntax_message(unexpected: Token, expected: &[Token]) -> String {
    let mut msg = format!("syntax error, unexpected {unexpected}");
    for (i, t) in expected.iter().enumerate() {
        msg.push_str(if i == 0 { ", expecting " } else { " or " });
        msg.push_str(t.as_str());
    }
    msg
}

impl Template {
    /// An empty template.
    pub fn new() -> Template {
        Template::default()
    }

    /// Parses template text as OpenNebula's `Template::parse_str_or_xml` does, keeping
    /// repeated names ([`Duplicates::Keep`]).
    pub fn parse(text: &str) -> Result<Template, TemplateError> {
        Self::parse_with(text, Duplicates::Keep).map(|p| p.template)
    }

    /// Parses template text, with the given treatment of repeated names (image templates use
    /// [`Duplicates::Replace`]), and reports what the scanner silently skipped.
    pub fn parse_with(text: &str, duplicates: Duplicates) -> Result<Parsed, TemplateError> {
        parser::parse(text, duplicates)
    }

    /// The attributes, in order.
    pub fn attributes(&self) -> &[Attribute] {
        &self.attributes
    }

    /// The attributes, in order.
    pub fn iter(&self) -> std::slice::Iter<'_, Attribute> {
        self.attributes.iter()
    }

    /// The number of attributes.
    pub fn len(&self) -> usize {
        self.attributes.len()
    }

    /// Whether there is no attribute.
    pub fn is_empty(&self) -> bool {
        self.attributes.is_empty()
    }

    /// Appends an attribute, keeping any of the same name.
    pub fn push(&mut self, name: AttrName, value: impl Into<AttrValue>) {
        self.attributes.push(Attribute {
            name,
            value: value.into(),
        });
    }

    /// Replaces every attribute named `name` by one at the end (`Template::set` in replace
    /// mode, `Template::replace`).
    pub fn set(&mut self, name: AttrName, value: impl Into<AttrValue>) {
        self.attributes.retain(|a| a.name != name);
        self.push(name, value);
    }

    /// The first value named `name`.
    pub fn get(&self, name: &str) -> Option<&AttrValue> {
        self.attributes
            .iter()
            .find(|a| a.name.as_str() == name)
            .map(|a| &a.value)
    }

    /// Every value named `name`, in order.
    pub fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a AttrValue> + 'a {
        self.attributes
            .iter()
            .filter(move |a| a.name.as_str() == name)
            .map(|a| &a.value)
    }

    /// The first single value named `name` (OpenNebula's `Template::get` for strings).
    pub fn get_single(&self, name: &str) -> Option<&str> {
        self.attributes.iter().find_map(|a| match &a.value {
            AttrValue::Single(s) if a.name.as_str() == name => Some(s.as_str()),
            _ => None,
        })
    }

    /// Removes every attribute named `name`; returns how many there were.
    pub fn remove(&mut self, name: &str) -> usize {
        let before = self.attributes.len();
        self.attributes.retain(|a| a.name.as_str() != name);
        before - self.attributes.len()
    }

    /// The template in the server's order: attributes sorted by name (stable, so repeated
    /// names keep their order), vector keys sorted.
    #[must_use]
    pub fn sorted(&self) -> Template {
        let mut t = self.clone();
        t.attributes.sort_by(|a, b| a.name.cmp(&b.name));
        for a in &mut t.attributes {
            if let AttrValue::Vector(v) = &mut a.value {
                v.sort();
            }
        }
        t
    }

    /// `template_like_str` with indentation, as `oneimage show` prints the template: one
    /// `KEY="value"` line per attribute, vectors as `KEY=[\n  A="x",\n  B="y" ]`, `"` written
    /// `\"`, lines joined by newlines (no final newline). Empty values and empty vectors are
    /// left out, as REXML's `has_text?` leaves them out. The order is this template's; print
    /// [`Template::sorted`] for the server's.
    pub fn like_str(&self) -> LikeStr<'_> {
        LikeStr {
            template: self,
            indent: true,
        }
    }

    /// `template_like_str` without indentation: vectors as `KEY=[ A="x", B="y" ]`.
    pub fn like_str_compact(&self) -> LikeStr<'_> {
        LikeStr {
            template: self,
            indent: false,
        }
    }

    /// Whether printing this template and parsing the text back gives it again. It does unless
    /// a value is empty, is not trimmed, ends with a backslash (which escapes the closing
    /// quote), holds `]]>` or a NUL byte, a vector is empty, or a name starts with `XML` (read
    /// back with a `ONE_` prefix). OpenNebula's own printer has the same limits.
    pub fn round_trips(&self) -> bool {
        fn value_ok(v: &str) -> bool {
            !v.is_empty()
                && parser::trim(v) == v
                && !v.ends_with('\\')
                && !v.contains("]]>")
                && !v.contains('\0')
        }
        self.attributes.iter().all(|a| {
            !a.name.as_str().starts_with("XML")
                && match &a.value {
                    AttrValue::Single(v) => value_ok(v),
                    AttrValue::Vector(v) => !v.is_empty() && v.iter().all(|(_, v)| value_ok(v)),
                }
        })
    }

    fn trim_values(&mut self) {
        for a in &mut self.attributes {
            match &mut a.value {
                AttrValue::Single(v) => trim_in_place(v),
                AttrValue::Vector(vector) => {
                    for (_, v) in &mut vector.entries {
                        trim_in_place(v);
                    }
                }
            }
        }
    }
}

fn trim_in_place(v: &mut String) {
    let t = parser::trim(v);
    if t.len() != v.len() {
        *v = t.to_owned();
    }
}

impl<'a> IntoIterator for &'a Template {
    type Item = &'a Attribute;
    type IntoIter = std::slice::Iter<'a, Attribute>;

    fn into_iter(self) -> Self::IntoIter {
        self.attributes.iter()
    }
}

impl FromStr for Template {
    type Err = TemplateError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Template::parse(s)
    }
}

impl fmt::Display for Template {
    /// [`Template::like_str`].
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.like_str().fmt(f)
    }
}

/// The printer of [`Template::like_str`] and [`Template::like_str_compact`].
#[derive(Debug, Clone, Copy)]
pub struct LikeStr<'a> {
    template: &'a Template,
    indent: bool,
}

/// `attr_to_str`: the value in double quotes, `"` written `\"`.
fn write_quoted(f: &mut fmt::Formatter<'_>, value: &str) -> fmt::Result {
    f.write_str("\"")?;
    f.write_str(&value.replace('"', "\\\""))?;
    f.write_str("\"")
}

impl fmt::Display for LikeStr<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (enter, tab) = if self.indent { ("\n", "  ") } else { ("", " ") };
        let mut first = true;
        for attr in &self.template.attributes {
            let shown = match &attr.value {
                AttrValue::Single(v) => !v.is_empty(),
                AttrValue::Vector(v) => !v.is_empty(),
            };
            if !shown {
                continue;
            }
            if !first {
                f.write_str("\n")?;
            }
            first = false;
            write!(f, "{}=", attr.name)?;
            match &attr.value {
                AttrValue::Single(v) => write_quoted(f, v)?,
                AttrValue::Vector(v) => {
                    write!(f, "[{enter}")?;
                    let mut first_entry = true;
                    for (key, value) in v.iter().filter(|(_, value)| !value.is_empty()) {
                        if !first_entry {
                            write!(f, ",{enter}")?;
                        }
                        first_entry = false;
                        write!(f, "{tab}{key}=")?;
                        write_quoted(f, value)?;
                    }
                    f.write_str(" ]")?;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(s: &str) -> AttrName {
        s.parse().unwrap()
    }

    #[test]
    fn names() {
        assert_eq!(AttrName::normalize("disk").unwrap().as_str(), "DISK");
        assert_eq!(AttrName::normalize("1a").unwrap().as_str(), "ONE_1A");
        assert_eq!(AttrName::normalize("XMLb").unwrap().as_str(), "ONE_XMLB");
        assert_eq!(AttrName::normalize("xml_a").unwrap().as_str(), "XML_A");
        assert_eq!(AttrName::normalize("_x").unwrap().as_str(), "_X");
        assert_eq!(
            AttrName::normalize("a-b"),
            Err(TemplateNameError::Source {
                value: "a-b".into()
            })
        );
        assert_eq!(
            "disk".parse::<AttrName>(),
            Err(TemplateNameError::Name {
                value: "disk".into()
            })
        );
        assert_eq!(
            "1A".parse::<AttrName>(),
            Err(TemplateNameError::Name { value: "1A".into() })
        );
        assert_eq!(SubKey::normalize("image_id").unwrap().as_str(), "IMAGE_ID");
        assert_eq!(SubKey::normalize("1x").unwrap().as_str(), "1X");
    }

    #[test]
    fn prints_like_oneimage_show() {
        let mut t = Template::new();
        t.push(name("PATH"), "/tmp/a \"b\"");
        t.push(name("EMPTY"), "");
        let mut disk = Vector::new();
        disk.insert("IMAGE_ID".parse().unwrap(), "7");
        disk.insert("DEV".parse().unwrap(), "");
        disk.insert("A".parse().unwrap(), "x");
        t.push(name("DISK"), disk);
        t.push(name("NONE"), Vector::new());
        t.push(name("DESCRIPTION"), "two\nlines");
        assert_eq!(
            t.to_string(),
            "PATH=\"/tmp/a \\\"b\\\"\"\nDISK=[\n  IMAGE_ID=\"7\",\n  A=\"x\" ]\n\
             DESCRIPTION=\"two\nlines\""
        );
        assert_eq!(
            t.sorted().like_str_compact().to_string(),
            "DESCRIPTION=\"two\nlines\"\nDISK=[ A=\"x\", IMAGE_ID=\"7\" ]\nPATH=\"/tmp/a \\\"b\\\"\""
        );
    }

    #[test]
    fn replace_mode_keeps_the_last() {
        let text = "PATH = a\nNAME = n\nPATH = b\n";
        let keep = Template::parse(text).unwrap();
        assert_eq!(keep.get_all("PATH").count(), 2);
        let replace = Template::parse_with(text, Duplicates::Replace)
            .unwrap()
            .template;
        assert_eq!(
            replace.get_all("PATH").collect::<Vec<_>>(),
            [&AttrValue::from("b")]
        );
        assert_eq!(replace.to_string(), "NAME=\"n\"\nPATH=\"b\"");
    }
}
