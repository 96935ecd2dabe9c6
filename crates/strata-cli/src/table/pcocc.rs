//! pcocc's tables: Shine's `TextTable` as pcocc's `cmd.py` uses it (`image list`, `image show`,
//! `image repo list`, `image cache list`), and the small text helpers around them.
//!
//! The rules, from lib/pcocc/scripts/Shine/TextTable.py (pcocc v0.7.5):
//!
//! - pcocc builds each table from a format such as `"%name %type %revision"`. Every placeholder
//!   becomes its value left-justified to the column width, **followed by 3 spaces**, and the
//!   format's own single space separates placeholders: so columns are 4 spaces apart.
//! - A column is as wide as its widest value or its header label (characters, not bytes).
//! - The header row is the labels, upper-cased, right-stripped. The underline row is the header
//!   with every character that is not a space replaced by `-` (`CREATION DATE` gives
//!   `-------- ----`).
//! - Data rows are right-stripped.
//! - A table with no rows still prints its header, but made of the placeholder *keys*, not the
//!   labels (TextTable falls back to the key when it knows no width).
//! - `TextTable.color` would paint the header line (not the underline) `ESC[34m`...`ESC[0m`; pcocc
//!   never turns it on, so its tables carry no colour. The colour pcocc does print is click's:
//!   the `"{Repo} images:"` title in bold blue (see [`title`]), errors in red, warnings in
//!   magenta, each stripped by click when the stream is not a terminal.
//! - `print(tbl)` ends the text with one newline; so does [`render`].
//!
//! Not reproduced: fixed widths (`%20name`), right alignment (`%>name`), column wrapping and
//! optional columns, which pcocc's image commands do not use.

use anstyle::AnsiColor;

use super::{cell, char_len};
use crate::term::Styler;

/// One column of a pcocc table: the placeholder key and its header label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Column<'a> {
    /// The placeholder name in pcocc's format (`rev`), shown (upper-cased) when the table is
    /// empty.
    pub key: &'a str,
    /// The header label (`Creation Date`), upper-cased when shown.
    pub label: &'a str,
}

impl<'a> Column<'a> {
    /// A column whose label is its key (`%name` without a `header_labels` entry).
    pub const fn new(key: &'a str) -> Column<'a> {
        Column { key, label: key }
    }

    /// A column with its own label (`header_labels = {'rev': 'Revision'}`).
    pub const fn labelled(key: &'a str, label: &'a str) -> Column<'a> {
        Column { key, label }
    }
}

/// The columns of `pcocc image list`: `"%name %type %revision %repo %owner %date"`.
pub const IMAGE_LIST: [Column<'static>; 6] = [
    Column::new("name"),
    Column::new("type"),
    Column::new("revision"),
    Column::new("repo"),
    Column::new("owner"),
    Column::new("date"),
];

/// The revision table of `pcocc image show`: `"%rev %size %date"` labelled `Revision`, `Size`,
/// `Creation Date`.
pub const IMAGE_SHOW_REVISIONS: [Column<'static>; 3] = [
    Column::labelled("rev", "Revision"),
    Column::labelled("size", "Size"),
    Column::labelled("date", "Creation Date"),
];

/// The columns of `pcocc image repo list`: `"%name %path %writable"`.
pub const REPO_LIST: [Column<'static>; 3] = [
    Column::new("name"),
    Column::new("path"),
    Column::new("writable"),
];

/// The columns of `pcocc image cache list`: `"%repo %name %revision %type %hash"`.
pub const CACHE_LIST: [Column<'static>; 5] = [
    Column::new("repo"),
    Column::new("name"),
    Column::new("revision"),
    Column::new("type"),
    Column::new("hash"),
];

/// Renders a table as `print(tbl)` writes it, header colour off (as pcocc leaves it).
pub fn render<R, S>(columns: &[Column<'_>], rows: &[R]) -> String
where
    R: AsRef<[S]>,
    S: AsRef<str>,
{
    render_styled(columns, rows, Styler::plain())
}

/// Renders a table as `print(tbl)` writes it, with TextTable's header colour (`ESC[34m`) when
/// `styler` paints. pcocc itself never colours its tables; this is for a front end that wants to.
pub fn render_styled<R, S>(columns: &[Column<'_>], rows: &[R], styler: Styler) -> String
where
    R: AsRef<[S]>,
    S: AsRef<str>,
{
    // With no rows TextTable has no widths, and falls back to the key, at its own width.
    let headers: Vec<&str> = if rows.is_empty() {
        columns.iter().map(|c| c.key).collect()
    } else {
        columns.iter().map(|c| c.label).collect()
    };
    let widths: Vec<usize> = headers
        .iter()
        .enumerate()
        .map(|(i, header)| {
            rows.iter()
                .map(|row| char_len(cell(row, i)))
                .fold(char_len(header), usize::max)
        })
        .collect();

    let line = |cells: &mut dyn Iterator<Item = &str>| -> String {
        let mut out = String::new();
        for (i, (value, width)) in cells.zip(&widths).enumerate() {
            if i > 0 {
                out.push(' ');
            }
            out.push_str(value);
            out.extend(std::iter::repeat_n(' ', width - char_len(value) + 3));
        }
        out.truncate(out.trim_end().len());
        out
    };

    let header = line(&mut headers.iter().copied()).to_uppercase();
    let header = header.trim_end();
    let underline: String = header
        .chars()
        .map(|c| if c == ' ' { ' ' } else { '-' })
        .collect();

    let mut out = styler.click(header, Some(AnsiColor::Blue), false);
    out.push('\n');
    if !underline.is_empty() {
        out.push_str(&underline);
        out.push('\n');
    }
    for row in rows {
        out.push_str(&line(&mut (0..columns.len()).map(|i| cell(row, i))));
        out.push('\n');
    }
    out
}

/// The title pcocc prints above each repository's `image list` table:
/// `"{repo.capitalize()} images:"` in bold blue (`click.secho(..., fg='blue', bold=True)`), with
/// its newline. Plain when `styler` is off, as click strips styles off a terminal.
pub fn title(repo: &str, styler: Styler) -> String {
    let mut out = styler.click(
        &format!("{} images:", capitalize(repo)),
        Some(AnsiColor::Blue),
        true,
    );
    out.push('\n');
    out
}

/// Python's `str.capitalize`: the first character upper-cased (title-cased), the rest
/// lower-cased: `user` gives `User`, `myRepo` gives `Myrepo`.
pub fn capitalize(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first
            .to_uppercase()
            .chain(chars.flat_map(char::to_lowercase))
            .collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_are_four_spaces_apart() {
        let out = render(&[Column::new("a"), Column::new("b")], &[["xy", "z"]]);
        assert_eq!(out, "A     B\n-     -\nxy    z\n");
    }

    #[test]
    fn empty_table_prints_keys() {
        let out = render::<[&str; 3], &str>(&IMAGE_SHOW_REVISIONS, &[]);
        assert_eq!(out, "REV    SIZE    DATE\n---    ----    ----\n");
    }

    #[test]
    fn header_colour_is_textable_blue_without_underline() {
        let out = render_styled(&[Column::new("a")], &[["b"]], Styler::new(true));
        assert_eq!(out, "\x1b[34mA\x1b[0m\n-\nb\n");
    }

    #[test]
    fn capitalize_is_pythons() {
        assert_eq!(capitalize("user"), "User");
        assert_eq!(capitalize("myRepo"), "Myrepo");
        assert_eq!(capitalize(""), "");
    }

    #[test]
    fn title_is_bold_blue_on_a_terminal_only() {
        assert_eq!(title("user", Styler::plain()), "User images:\n");
        assert_eq!(
            title("global", Styler::new(true)),
            "\x1b[34m\x1b[1mGlobal images:\x1b[0m\n"
        );
    }
}
