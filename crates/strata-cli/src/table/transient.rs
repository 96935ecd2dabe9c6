//! transient's tables: beautifultable 1.0 with `STYLE_NONE`, as transient's `image ls` and `ps`
//! build them (transient/cli.py, which requires `beautifultable~=1.0.0`).
//!
//! The rules, from beautifultable 1.0.1 (beautifultable/beautifultable.py `_compute_width`,
//! helpers.py `BTRowHeader._get_string`), checked by running it:
//!
//! - Every cell is padded with 1 space on each side; `STYLE_NONE` draws no border, no column
//!   separator and no header rule, so cells simply follow each other.
//! - A column is as wide as its widest header or value, in terminal columns (`wcwidth`: `日` is
//!   2).
//! - Each column has an alignment (transient sets NAME left, VIRT SIZE and REAL SIZE right); the
//!   header cell takes its column's alignment too (`VIRT SIZE` is right-aligned over wider
//!   values). Centred text puts the odd space on the right.
//! - Lines are **not** stripped: every line ends with the right padding space. (transient's
//!   docs/cli/image.md shows the sample without it; its editor stripped it.)
//! - A value with line breaks spans several lines, the other cells of its row left empty.
//! - A table with no rows renders as the empty string, so `print(table)` writes one empty line.
//! - [`render`] returns what `print(table)` writes, final newline included.
//!
//! Not reproduced, on purpose:
//!
//! - beautifultable's `detect_numerics` (on by default) rewrites any cell that Python can parse
//!   as a number: an image named `007` would be listed as `7`, `1e3` as `1000.0`, `3.14159` as
//!   `3.142`. A listed name that cannot be given back to `image rm` is a bug; we print names as
//!   they are.
//! - transient caps the table at `max_width=1000` columns and wraps wider cells; we never wrap
//!   (that takes a name of about 970 characters).

use unicode_width::UnicodeWidthStr;

use super::cell;

/// Where a cell's text sits in its column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Align {
    /// Flush left (`ALIGN_LEFT`).
    Left,
    /// Centred, the odd space on the right (`ALIGN_CENTER`, beautifultable's default).
    Center,
    /// Flush right (`ALIGN_RIGHT`).
    Right,
}

/// One column of a beautifultable table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Column<'a> {
    /// The header text.
    pub header: &'a str,
    /// The alignment of the header and the values.
    pub align: Align,
}

impl<'a> Column<'a> {
    /// A column with this header and alignment.
    pub const fn new(header: &'a str, align: Align) -> Column<'a> {
        Column { header, align }
    }
}

/// The columns of `transient image ls`: NAME left, VIRT SIZE and REAL SIZE right.
pub const IMAGE_LS: [Column<'static>; 3] = [
    Column::new("NAME", Align::Left),
    Column::new("VIRT SIZE", Align::Right),
    Column::new("REAL SIZE", Align::Right),
];

/// Renders a table as `print(table)` writes it.
pub fn render<R, S>(columns: &[Column<'_>], rows: &[R]) -> String
where
    R: AsRef<[S]>,
    S: AsRef<str>,
{
    if rows.is_empty() {
        return "\n".to_owned();
    }
    let widths: Vec<usize> = columns
        .iter()
        .enumerate()
        .map(|(i, column)| {
            std::iter::once(column.header)
                .chain(rows.iter().map(|row| cell(row, i)))
                .flat_map(|text| text.split('\n'))
                .map(UnicodeWidthStr::width)
                .max()
                .unwrap_or(0)
        })
        .collect();

    let mut out = String::new();
    let mut push_row = |cells: Vec<&str>| {
        let split: Vec<Vec<&str>> = cells.iter().map(|c| c.split('\n').collect()).collect();
        let height = split.iter().map(Vec::len).max().unwrap_or(1);
        for line in 0..height {
            for (i, column) in columns.iter().enumerate() {
                let text = split[i].get(line).copied().unwrap_or("");
                let pad = widths[i].saturating_sub(text.width());
                let (left, right) = match column.align {
                    Align::Left => (0, pad),
                    Align::Right => (pad, 0),
                    Align::Center => (pad / 2, pad - pad / 2),
                };
                out.push(' ');
                out.extend(std::iter::repeat_n(' ', left));
                out.push_str(text);
                out.extend(std::iter::repeat_n(' ', right + 1));
            }
            out.push('\n');
        }
    };
    push_row(columns.iter().map(|c| c.header).collect());
    for row in rows {
        push_row((0..columns.len()).map(|i| cell(row, i)).collect());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_table_is_one_empty_line() {
        assert_eq!(render::<[&str; 3], &str>(&IMAGE_LS, &[]), "\n");
    }

    #[test]
    fn centre_puts_the_odd_space_right() {
        let columns = [Column::new("C", Align::Center)];
        assert_eq!(render(&columns, &[["xxxx"]]), "  C   \n xxxx \n");
    }

    #[test]
    fn wide_characters_count_two_columns() {
        let out = render(&IMAGE_LS, &[["é日本", "1.00 B", "1.00 B"]]);
        assert_eq!(
            out,
            " NAME   VIRT SIZE  REAL SIZE \n é日本     1.00 B     1.00 B \n"
        );
    }

    #[test]
    fn line_breaks_make_extra_lines() {
        let columns = [
            Column::new("NAME", Align::Left),
            Column::new("IMAGE", Align::Left),
        ];
        let out = render(&columns, &[["a\nb", "c"]]);
        assert_eq!(out, " NAME  IMAGE \n a     c     \n b           \n");
    }
}
