//! The template grammar (`src/parsers/template_syntax.y`), driven by hand through the states
//! of the LALR automaton bison builds for it, so that a syntax error names the same unexpected
//! token and the same expected tokens as bison's verbose message. The grammar is flat (a vector
//! is one level deep), so the parser is a loop, never a recursion.

use super::lexer::{Lexer, Loc, Tok};
use super::{
    AttrName, AttrValue, Duplicates, Parsed, SubKey, Template, TemplateError, Token, Vector,
};

fn syntax(tok: Tok<'_>, expected: &'static [Token], loc: Loc) -> TemplateError {
    TemplateError::Syntax {
        unexpected: tok.kind(),
        expected,
        line: loc.line,
        first_column: loc.first_column,
        last_column: loc.last_column,
    }
}

/// `unescape` of template_syntax.y: each `\"` becomes `"`, left to right.
fn unescape(raw: &str) -> String {
    raw.replace("\\\"", "\"")
}

/// C's `isspace` in the C locale, which `one_util::trim` uses.
fn is_c_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\x0b' | '\x0c' | '\r')
}

pub(super) fn trim(value: &str) -> &str {
    value.trim_matches(is_c_space)
}

pub(super) fn parse(text: &str, duplicates: Duplicates) -> Result<Parsed, TemplateError> {
    // `parse_str_or_xml`: a leading `<` means XML.
    if text.starts_with('<') {
        return Err(TemplateError::Xml);
    }
    // The scanner reads a C string: nothing after a NUL byte exists for it.
    let truncated_at = text.find('\0');
    let text = text.split_once('\0').map_or(text, |(head, _)| head);

    let mut lx = Lexer::new(text);
    let mut template = Template::new();
    loop {
        // States 0 and 3: an attribute starts, or the input ends. Any other token makes bison
        // reduce to `template_file` (state 2), which expects only the end.
        let name = match lx.next() {
            Tok::End => break,
            Tok::Var(name) => AttrName::from_source(name),
            tok => return Err(syntax(tok, &[Token::End], lx.loc())),
        };
        // State 1.
        match lx.next() {
            Tok::EqualEmpty => {
                add(
                    &mut template,
                    duplicates,
                    name,
                    AttrValue::Single(String::new()),
                );
                continue;
            }
            Tok::Equal => {}
            tok => return Err(syntax(tok, &[Token::Equal, Token::EqualEmpty], lx.loc())),
        }
        // State 5.
        match lx.next() {
            Tok::Str(raw) => {
                add(
                    &mut template,
                    duplicates,
                    name,
                    AttrValue::Single(unescape(raw)),
                );
                continue;
            }
            Tok::Cdata => {
                let loc = lx.loc();
                return Err(TemplateError::Cdata {
                    line: loc.line,
                    first_column: loc.first_column,
                    last_column: loc.last_column,
                });
            }
            Tok::OBracket => {}
            tok => {
                let expected = &[Token::OBracket, Token::Cdata, Token::String];
                return Err(syntax(tok, expected, lx.loc()));
            }
        }
        // State 9.
        let mut vector = Vector::new();
        let mut key = match lx.next() {
            Tok::CBracket => {
                add(&mut template, duplicates, name, AttrValue::Vector(vector));
                continue;
            }
            Tok::Var(key) => key,
            tok => return Err(syntax(tok, &[Token::CBracket, Token::Variable], lx.loc())),
        };
        loop {
            // States 13 and 19.
            match lx.next() {
                Tok::Equal => {}
                tok => return Err(syntax(tok, &[Token::Equal], lx.loc())),
            }
            // States 15 and 20.
            match lx.next() {
                Tok::Str(raw) => {
                    // `map::insert`: the first value of a key wins.
                    vector.insert(SubKey::from_source(key), unescape(raw));
                }
                tok => return Err(syntax(tok, &[Token::String], lx.loc())),
            }
            // State 14.
            match lx.next() {
                Tok::Comma => {}
                Tok::CBracket => break,
                tok => return Err(syntax(tok, &[Token::Comma, Token::CBracket], lx.loc())),
            }
            // State 16.
            key = match lx.next() {
                Tok::Var(key) => key,
                tok => return Err(syntax(tok, &[Token::Variable], lx.loc())),
            };
        }
        add(&mut template, duplicates, name, AttrValue::Vector(vector));
    }
    template.trim_values();
    Ok(Parsed {
        template,
        skipped: lx.into_skipped(),
        truncated_at,
    })
}

fn add(template: &mut Template, duplicates: Duplicates, name: AttrName, value: AttrValue) {
    match duplicates {
        Duplicates::Keep => template.push(name, value),
        Duplicates::Replace => template.set(name, value),
    }
}
