//! OpenNebula's tables and `show` layout: `CLIHelper::ShowTable` (src/cli/cli_helper.rb) with
//! its list options, and the `'%-15s: %-20s'` lines and `'%-80s'` section headers of
//! `format_resource` (src/cli/one_helper/oneimage_helper.rb).
//!
//! The rules of [`render`], from cli_helper.rb (OpenNebula f847cf2e), checked by running it
//! under Ruby 3.1:
//!
//! - Each column has a size, an alignment (`:left`, else right) and two flags: `adjust` (never
//!   truncate) and `expand` (grow to fill the terminal). A cell is Ruby's `"%-N.Ns"` (left) or
//!   `"%N.Ns"` (right): padded *and truncated* to N characters; an `adjust` column drops the
//!   `.N`, so a longer value overflows. Cells are joined by one space; data rows are
//!   right-stripped, the header row is not.
//! - The header is the column names formatted like cells, so `PERSISTENT` at size 3 reads `PER`.
//!   On a terminal it is bold and underlined (`ESC[1mESC[4m...ESC[0m`); in the state column
//!   (`STAT`, or `--stat-column`) OK states (`rdy`, `on`, `runn` ...) are green, bad ones (`err`,
//!   `fail` ...) red, transitional ones yellow, the padded cell inside the colour.
//! - Sizes are settled before printing, in this order:
//!   1. adjust (skipped under a bare `--expand`): each `adjust` column, and each `--adjust`
//!      column, grows to its longest value (values only, not the name) and stops truncating;
//!   2. `-s/--size col=N` sets a size (Ruby `to_i`) and turns `adjust` off;
//!   3. expand (skipped under `--no-expand`): only when a terminal width is known. With `W` the
//!      width and `T` the sum of the shown sizes, `left = W - (columns - 1) - T`; if positive,
//!      each expanding column gets `round(left * share)` more (share: given as `col=0.4`, else
//!      its size over the sum of the expanding sizes) and stops adjusting; any space left goes
//!      to the last expanding column, and that column then gives back whatever overshoots `W`.
//!      The expanding columns are those of `--expand a,b`, or every shown column for a bare
//!      `--expand`, followed by those configured `expand` (a column may so appear twice, as in
//!      OpenNebula).
//!
//!   The terminal width is the caller's to find: OpenNebula uses standard output's, else the
//!   controlling terminal's, else none (no expansion); [`crate::term::terminal_width`] does the
//!   same.
//! - `-l/--list a,b` picks and orders the shown columns (any defined column, case-insensitive).
//!   A shown column that is not a default one is inserted in the row after its position in
//!   `-l` (past the end, Ruby pads the row with `nil`). Quirk kept: an `adjust` width is
//!   measured on the data column at the *shown* index, which is another column when `-l`
//!   reorders (`-l name,id` sizes ID by the USER values).
//! - `-f/--filter` keeps rows matching `COL<op>VALUE` (`=`, `!=`, `<`, `>`, `~` substring;
//!   strings compared bytewise), all of them (`--operator AND`, the default) or any (`OR`).
//!   Quirk kept: the pattern tries `<` before `<=`, so `ID<=5` compares `ID < "=5"`; its `^`
//!   and `$` anchor lines, so only the first line holding an operator counts.
//! - `--expand col=share` reads the share with Ruby's `split('=')` and `to_f`: `col=` has no
//!   share (trailing empty fields are dropped), `.5` is 0.5, `1_0` is 10.
//! - `--csv` prints the column names, then the full values, with Ruby's CSV quoting: a field is
//!   quoted (`"` doubled) when it is empty or contains `"`, CR, LF or any character of the
//!   separator (`,` or `--csv-del`; an empty one, which Ruby 3.1's csv 3.2.2 takes, joins the
//!   fields with nothing). `--no-header` drops the header in both forms.
//!
//! Errors (OpenNebula prints them and exits 255): an unknown `-l` or `-s` column is
//! `Column X not defined.`; an unknown `--expand` column `Unknown column X`; a bad filter
//! `Expression 'x' incorrect` or `Column 'x' not found`; an `--adjust` column that is not shown,
//! when there are rows, Ruby's `no implicit conversion from nil to integer`. Ruby 3.1 crashes
//! with a `NoMethodError` on an unknown `-l`, `-s` or `--expand` column instead, and elsewhere
//! where this engine goes on: a negative size (`-s col=-3`, or a share that overshoots) is 0
//! here, an `ArgumentError` there; expanding columns whose sizes sum to 0 grow by nothing
//! here, a `FloatDomainError` there; an `--adjust` column whose row cell is one of `-l`'s nil
//! gaps measures 0 here, a `NoMethodError` there.

use std::collections::HashMap;

use anstyle::{AnsiColor, Style};

use super::{cell, char_len};
use crate::term::Styler;

/// How a column takes part in `expand` by configuration (`:expand:` in oneimage.yaml).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ExpandConf {
    /// `:expand: true`: a share proportional to the column's size.
    Auto,
    /// `:expand: 0.4`: this share of the free width.
    Share(f64),
}

/// One column of an OpenNebula table, as defined by the helper and its YAML file.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Column<'a> {
    /// The column's name, upper case (`NAME`), which is also its header.
    pub name: &'a str,
    /// What `--describe` prints for it.
    pub desc: &'a str,
    /// Its width in characters.
    pub size: usize,
    /// Left-aligned (`:left`); otherwise right-aligned.
    pub left: bool,
    /// Never truncated, widened to its longest value (`:adjust`).
    pub adjust: bool,
    /// Grows with the terminal (`:expand`).
    pub expand: Option<ExpandConf>,
}

impl<'a> Column<'a> {
    /// A right-aligned column of this size, neither adjusting nor expanding.
    pub const fn new(name: &'a str, desc: &'a str, size: usize) -> Column<'a> {
        Column {
            name,
            desc,
            size,
            left: false,
            adjust: false,
            expand: None,
        }
    }

    /// The same column, left-aligned.
    pub const fn left(mut self) -> Column<'a> {
        self.left = true;
        self
    }

    /// The same column, adjusting.
    pub const fn adjust(mut self) -> Column<'a> {
        self.adjust = true;
        self
    }

    /// The same column, expanding.
    pub const fn expand(mut self, expand: ExpandConf) -> Column<'a> {
        self.expand = Some(expand);
        self
    }
}

/// A table definition: every column a command knows, and those shown by default.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Table<'a> {
    /// Every column, in the order of the cells of each row.
    pub columns: &'a [Column<'a>],
    /// The names of the columns shown without `-l`, in order.
    pub default: &'a [&'a str],
}

/// `--expand`, as given on the command line.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Expand {
    /// Not given: only the configured `expand` columns grow.
    #[default]
    Configured,
    /// A bare `--expand`: every shown column grows (and `adjust` is skipped).
    All,
    /// `--expand name,group=0.6`: these columns (`col` or `col=share`), then the configured ones.
    Columns(Vec<String>),
}

/// The list options of cli_helper.rb (`CLIHelper::OPTIONS`) that shape the text, as given.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ListOptions {
    /// `-l/--list`: the columns to show, in order (any case).
    pub list: Option<Vec<String>>,
    /// `--csv`.
    pub csv: bool,
    /// `--csv-del`: the CSV separator (default `,`).
    pub csv_del: Option<String>,
    /// `--no-header`.
    pub no_header: bool,
    /// `--adjust a,b`: more columns never truncated.
    pub adjust: Vec<String>,
    /// `-s/--size col=N,...`, as written.
    pub size: Vec<String>,
    /// `--expand`.
    pub expand: Expand,
    /// `--no-expand`.
    pub no_expand: bool,
    /// `-f/--filter COL<op>VALUE,...`, as written.
    pub filter: Vec<String>,
    /// `--operator AND|OR` (any case; default AND).
    pub operator: Option<String>,
    /// `-n/--numeric` (one_helper.rb): user and group ids instead of names. The renderer does not
    /// read it: it is for the caller, which words the cells.
    pub numeric: bool,
    /// The column painted by state (default `STAT`).
    pub stat_column: Option<String>,
    /// The terminal width for `expand`; `None` when there is no terminal (see
    /// [`crate::term::terminal_width`]).
    pub terminal_width: Option<usize>,
    /// Whether to style the header and colour states (standard output is a terminal, and
    /// `NO_COLOR` is not set).
    pub styler: Styler,
}

/// Why an OpenNebula table could not be rendered; each message is OpenNebula's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TableError {
    /// A `-l`, `-s` or `--adjust` column that the table does not define (`header_str`).
    #[error("Column {name} not defined.")]
    UnknownColumn {
        /// The name, upper-cased.
        name: String,
    },
    /// An `--expand` column that the table does not define (`expand_columns`).
    #[error("Unknown column {name}")]
    UnknownExpandColumn {
        /// The name, upper-cased.
        name: String,
    },
    /// A filter with no operator (`filter_data!`).
    #[error("Expression '{expression}' incorrect")]
    BadFilter {
        /// The filter as given.
        expression: String,
    },
    /// A filter on a column the rows do not have (`filter_data!`).
    #[error("Column '{name}' not found")]
    FilterColumn {
        /// The column as written in the filter.
        name: String,
    },
    /// An `--adjust` column that is not shown, while there are rows to measure: OpenNebula
    /// indexes each row with `nil` (`max_size`) and fails with Ruby's `TypeError`, whose message
    /// this is.
    #[error("no implicit conversion from nil to integer")]
    AdjustNotShown {
        /// The name, upper-cased.
        name: String,
    },
}

/// A column's size while the table is laid out.
#[derive(Debug, Clone, Copy)]
struct Size {
    size: i64,
    adjust: bool,
}

/// Renders a table as `ShowTable#show` prints it, final newline included.
///
/// `rows` give one cell per column of `table.columns`, in that order (values already as
/// OpenNebula words them: `40M`, `rdy`, `Yes`).
pub fn render<R, S>(
    table: &Table<'_>,
    rows: &[R],
    options: &ListOptions,
) -> Result<String, TableError>
where
    R: AsRef<[S]>,
    S: AsRef<str>,
{
    let index_of = |name: &str| table.columns.iter().position(|c| c.name == name);

    // The shown columns (`@cli_columns`).
    let shown: Vec<String> = match &options.list {
        Some(list) => list.iter().map(|name| name.to_uppercase()).collect(),
        None => table
            .default
            .iter()
            .map(|name| (*name).to_owned())
            .collect(),
    };
    // The data columns (`@default_columns` after `data_array`): the defaults, with each shown
    // column that is not among them inserted after the position it has among the shown ones.
    // Past the end, Ruby's `Array#insert` pads with `nil`: a gap (`None`) holds empty cells.
    let mut data_columns: Vec<Option<String>> = table
        .default
        .iter()
        .map(|n| Some((*n).to_owned()))
        .collect();
    for (position, name) in shown.iter().enumerate() {
        if !data_columns.iter().any(|c| c.as_ref() == Some(name)) {
            let at = position + 1;
            if at > data_columns.len() {
                data_columns.resize(at, None);
            }
            data_columns.insert(at, Some(name.clone()));
        }
    }
    let data_index: Vec<Option<usize>> = data_columns
        .iter()
        .map(|name| name.as_deref().and_then(index_of))
        .collect();
    let mut data: Vec<Vec<&str>> = rows
        .iter()
        .map(|row| {
            data_index
                .iter()
                .map(|i| i.map_or("", |i| cell(row, i)))
                .collect()
        })
        .collect();

    if !options.filter.is_empty() {
        filter(&mut data, &data_columns, options)?;
    }
    // Checked after the filters, as OpenNebula reports a bad filter first (`data_array`).
    if let Some(name) = shown.iter().find(|name| index_of(name).is_none()) {
        return Err(TableError::UnknownColumn { name: name.clone() });
    }

    let mut sizes: HashMap<&str, Size> = table
        .columns
        .iter()
        .map(|c| {
            let size = Size {
                size: i64::try_from(c.size).unwrap_or(i64::MAX),
                adjust: c.adjust,
            };
            (c.name, size)
        })
        .collect();
    settle_sizes(table, &shown, &data, &mut sizes, options)?;

    let position_in_data =
        |name: &str| data_columns.iter().position(|n| n.as_deref() == Some(name));
    let mut out = String::new();
    if options.csv {
        // An empty `--csv-del` joins the fields with nothing, as Ruby 3.1's csv 3.2.2 does.
        let separator = options.csv_del.as_deref().unwrap_or(",");
        if !options.no_header {
            out.push_str(&csv_line(shown.iter().map(String::as_str), separator));
        }
        for row in &data {
            let values = shown
                .iter()
                .map(|name| position_in_data(name).and_then(|i| row.get(i).copied()));
            out.push_str(&csv_line(values.map(Option::unwrap_or_default), separator));
        }
        return Ok(out);
    }

    let format = |name: &str, value: &str| -> String {
        let (size, adjust) = sizes.get(name).map_or((0, false), |s| {
            (usize::try_from(s.size).unwrap_or(0), s.adjust)
        });
        let left = table.columns.iter().any(|c| c.name == name && c.left);
        ruby_format(value, size, left, !adjust)
    };
    if !options.no_header {
        let header: Vec<String> = shown.iter().map(|name| format(name, name)).collect();
        out.push_str(&header_line(&header.join(" "), true, options.styler));
    }
    let stat = options
        .stat_column
        .as_deref()
        .map_or_else(|| "STAT".to_owned(), str::to_uppercase);
    for row in &data {
        let cells: Vec<String> = shown
            .iter()
            .filter_map(|name| {
                let value = row.get(position_in_data(name)?)?;
                let text = format(name, value);
                Some(if *name == stat {
                    color_state(&text, options.styler)
                } else {
                    text
                })
            })
            .collect();
        let line = cells.join(" ");
        out.push_str(ruby_rstrip(&line));
        out.push('\n');
    }
    Ok(out)
}

/// `update_columns_size`: adjust, then `--size`, then expand.
fn settle_sizes(
    table: &Table<'_>,
    shown: &[String],
    data: &[Vec<&str>],
    sizes: &mut HashMap<&str, Size>,
    options: &ListOptions,
) -> Result<(), TableError> {
    let configured = |name: &str| table.columns.iter().find(|c| c.name == name);
    let expand_all = options.expand == Expand::All;

    if !expand_all {
        let configured_adjust = shown
            .iter()
            .filter(|name| configured(name).is_some_and(|c| c.adjust))
            .cloned();
        let adjust: Vec<String> = options
            .adjust
            .iter()
            .map(|name| name.to_uppercase())
            .chain(configured_adjust)
            .collect();
        for name in &adjust {
            // OpenNebula measures the data column at the *shown* index (`max_size`); a column
            // that is not shown (defined or not) has none, which fails unless there are no rows.
            let Some(index) = shown.iter().position(|n| n == name) else {
                if data.is_empty() {
                    continue;
                }
                return Err(TableError::AdjustNotShown { name: name.clone() });
            };
            let Some(key) = configured(name).map(|c| c.name) else {
                return Err(TableError::UnknownColumn { name: name.clone() });
            };
            let longest = data
                .iter()
                .filter_map(|row| row.get(index))
                .map(|value| char_len(value))
                .max();
            if let (Some(longest), Some(size)) = (longest, sizes.get_mut(key)) {
                let longest = i64::try_from(longest).unwrap_or(i64::MAX);
                if longest > size.size {
                    size.adjust = true;
                    size.size = longest;
                }
            }
        }
    }

    for entry in &options.size {
        let (name, value) = entry.split_once('=').unwrap_or((entry, ""));
        let name = name.to_uppercase();
        let Some(size) = configured(&name).and_then(|c| sizes.get_mut(c.name)) else {
            return Err(TableError::UnknownColumn { name });
        };
        size.adjust = false;
        size.size = ruby_to_i(value);
    }

    if options.no_expand {
        return Ok(());
    }
    let mut expanding: Vec<(String, Option<f64>)> = match &options.expand {
        Expand::Configured => Vec::new(),
        Expand::All => shown.iter().map(|name| (name.clone(), None)).collect(),
        Expand::Columns(columns) => columns.iter().map(|entry| expand_entry(entry)).collect(),
    };
    for name in shown {
        match configured(name).and_then(|c| c.expand) {
            Some(ExpandConf::Auto) => expanding.push((name.clone(), None)),
            Some(ExpandConf::Share(share)) => expanding.push((name.clone(), Some(share))),
            None => {}
        }
    }
    expand(shown, &expanding, sizes, options.terminal_width)
}

/// One `--expand` entry, `col` or `col=share`, read as `columns_info` reads it: Ruby's
/// `split('=')`, which drops trailing empty fields, so `col=` (or `col==`) has no share and
/// takes one in proportion to its size, while `col==0.4` has the share of `""`, 0.
fn expand_entry(entry: &str) -> (String, Option<f64>) {
    let mut fields: Vec<&str> = entry.split('=').collect();
    while fields.last().is_some_and(|f| f.is_empty()) {
        fields.pop();
    }
    let name = fields.first().copied().unwrap_or("").to_uppercase();
    (name, fields.get(1).map(|share| ruby_to_f(share)))
}

/// `expand_columns`: grow the expanding columns to fill `width`.
fn expand(
    shown: &[String],
    expanding: &[(String, Option<f64>)],
    sizes: &mut HashMap<&str, Size>,
    width: Option<usize>,
) -> Result<(), TableError> {
    let (Some((last, _)), Some(width)) = (expanding.last(), width) else {
        return Ok(());
    };
    let mut keys: Vec<&str> = Vec::with_capacity(expanding.len());
    for (name, _) in expanding {
        let Some((key, _)) = sizes.get_key_value(name.as_str()) else {
            return Err(TableError::UnknownExpandColumn { name: name.clone() });
        };
        keys.push(key);
    }
    let total = |sizes: &HashMap<&str, Size>| -> i64 {
        shown
            .iter()
            .filter_map(|name| sizes.get(name.as_str()))
            .map(|s| s.size)
            .sum()
    };
    let shown_count = i64::try_from(shown.len()).unwrap_or(i64::MAX);
    let terminal = i64::try_from(width).unwrap_or(i64::MAX) - (shown_count - 1);
    let total_size = total(sizes);
    let expanding_size: i64 = keys
        .iter()
        .filter_map(|k| sizes.get(k))
        .map(|s| s.size)
        .sum();
    let left = terminal - total_size;
    if left <= 0 {
        return Ok(());
    }
    let mut remaining = left;
    for (key, (_, share)) in keys.iter().zip(expanding) {
        let Some(size) = sizes.get_mut(key) else {
            continue;
        };
        // The share of an unspecified column uses its size as it is now, so a column listed
        // twice is weighed with what it already gained, as in OpenNebula.
        let share = share.unwrap_or_else(|| size.size as f64 / expanding_size as f64);
        let grow = (left as f64 * share).round();
        let grow = if grow.is_finite() { grow as i64 } else { 0 };
        size.adjust = false;
        size.size += grow;
        remaining -= grow;
    }
    if remaining > 0
        && let Some(size) = sizes.get_mut(last.as_str())
    {
        size.size += remaining;
    }
    let after = total(sizes);
    if let Some(size) = sizes.get_mut(last.as_str()) {
        size.size -= after - terminal;
    }
    Ok(())
}

/// `filter_data!`: keeps the rows that match the filters.
fn filter(
    data: &mut Vec<Vec<&str>>,
    data_columns: &[Option<String>],
    options: &ListOptions,
) -> Result<(), TableError> {
    let mut stems = Vec::with_capacity(options.filter.len());
    for expression in &options.filter {
        let found = parse_filter(expression);
        let Some((name, op, value)) = found else {
            return Err(TableError::BadFilter {
                expression: expression.clone(),
            });
        };
        let upper = name.to_uppercase();
        let Some(index) = data_columns
            .iter()
            .position(|c| c.as_deref() == Some(upper.as_str()))
        else {
            return Err(TableError::FilterColumn {
                name: name.to_owned(),
            });
        };
        stems.push((index, op, value));
    }
    let any = options
        .operator
        .as_deref()
        .is_some_and(|op| op.eq_ignore_ascii_case("OR"));
    data.retain(|row| {
        let mut pass = true;
        for &(index, op, value) in &stems {
            let cell = row.get(index).copied().unwrap_or("");
            let matched = match op {
                "=" => cell == value,
                "!=" => cell != value,
                "<" => cell < value,
                "<=" => cell <= value,
                ">" => cell > value,
                ">=" => cell >= value,
                _ => cell.contains(value),
            };
            if matched {
                if any {
                    pass = true;
                    break;
                }
            } else {
                pass = false;
                if !any {
                    break;
                }
            }
        }
        pass
    });
    Ok(())
}

/// Ruby's `/^(.*?)(=|!=|<|<=|>|>=|~)(.*?)$/` on a filter: the shortest left side, the first
/// operator that matches there, in this order (so `<=` reads as `<` then `=...`). `^` and `$`
/// are line anchors and `.` stops at a newline, so the match is the first line that holds an
/// operator: `(left, operator, right)`.
fn parse_filter(expression: &str) -> Option<(&str, &'static str, &str)> {
    const OPERATORS: [&str; 7] = ["=", "!=", "<", "<=", ">", ">=", "~"];
    expression.split('\n').find_map(|line| {
        line.char_indices().find_map(|(at, _)| {
            let rest = &line[at..];
            OPERATORS
                .iter()
                .find(|op| rest.starts_with(*op))
                .map(|op| (&line[..at], *op, &rest[op.len()..]))
        })
    })
}

/// Ruby's `format("%-N.Ns")` family: `value` padded to `size` characters (left- or
/// right-aligned), cut to `size` characters first when `truncate`.
fn ruby_format(value: &str, size: usize, left: bool, truncate: bool) -> String {
    let value: String = if truncate {
        value.chars().take(size).collect()
    } else {
        value.to_owned()
    };
    if left {
        format!("{value:<size$}")
    } else {
        format!("{value:>size$}")
    }
}

/// Ruby's `String#rstrip`: trailing whitespace (`\t\n\v\f\r `) and NULs.
fn ruby_rstrip(text: &str) -> &str {
    text.trim_end_matches(|c| RUBY_SPACE.contains(&c) || c == '\0')
}

/// The whitespace Ruby's `to_i`, `to_f` and `strip` skip: space, `\t`, `\n`, `\v`, `\f`, `\r`
/// (not Unicode's, so a no-break space stops `" 12".to_i` at 0).
const RUBY_SPACE: [char; 6] = [' ', '\t', '\n', '\x0b', '\x0c', '\r'];

/// The end of the run of digits at `from` in `bytes`, with single underscores between digits
/// (Ruby's `1_000`); `from` when there is no digit there.
fn ruby_digits(bytes: &[u8], from: usize) -> usize {
    let mut end = from;
    let mut at = from;
    while let Some(&b) = bytes.get(at) {
        if b.is_ascii_digit() {
            at += 1;
            end = at;
        } else if b == b'_'
            && at > from
            && end == at
            && bytes.get(at + 1).is_some_and(u8::is_ascii_digit)
        {
            at += 1;
        } else {
            break;
        }
    }
    end
}

/// Ruby's `String#to_i`, for `-s col=N` and the caller's numbers (`LIMIT_MB`): leading
/// whitespace, a sign, then the longest run of digits (single underscores between them are
/// skipped); 0 when there is none. Beyond `i64`, where Ruby has a Bignum, it saturates.
pub fn ruby_to_i(text: &str) -> i64 {
    let text = text.trim_start_matches(RUBY_SPACE);
    let (negative, digits) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let end = ruby_digits(digits.as_bytes(), 0);
    let value = digits[..end]
        .bytes()
        .filter(u8::is_ascii_digit)
        .fold(0i64, |n, b| {
            n.saturating_mul(10).saturating_add(i64::from(b - b'0'))
        });
    if negative { -value } else { value }
}

/// Ruby's `String#to_f`, for the shares of `--expand col=share`: leading whitespace, then the
/// longest prefix of the form `[+-](digits[.digits] | .digits)[(e|E)[+-]digits]` (digits with
/// single underscores between them), 0.0 when there is none: `.5` is 0.5, `1e1x` 10.0, `1_0.5`
/// 10.5, `1.e1` 1.0.
fn ruby_to_f(text: &str) -> f64 {
    let text = text.trim_start_matches(RUBY_SPACE);
    let bytes = text.as_bytes();
    let start = usize::from(matches!(bytes.first(), Some(b'+' | b'-')));
    let int_end = ruby_digits(bytes, start);
    let mut end = int_end;
    if bytes.get(end) == Some(&b'.') {
        let frac_end = ruby_digits(bytes, end + 1);
        if frac_end > end + 1 {
            end = frac_end;
        }
    }
    if end == start {
        return 0.0;
    }
    if matches!(bytes.get(end), Some(b'e' | b'E')) {
        let sign = usize::from(matches!(bytes.get(end + 1), Some(b'+' | b'-')));
        let exp_end = ruby_digits(bytes, end + 1 + sign);
        if exp_end > end + 1 + sign {
            end = exp_end;
        }
    }
    let number: String = text[..end].chars().filter(|&c| c != '_').collect();
    // A leading `.` (`.5`, `-.5`) is Rust's float syntax too.
    number.parse().unwrap_or(0.0)
}

/// `CLIHelper.color_state`: the (padded) state cell in green, red or yellow.
fn color_state(text: &str, styler: Styler) -> String {
    const OK: [&str; 5] = ["runn", "rdy", "on", "SUCCESS", "RUNNING"];
    const BAD: [&str; 9] = [
        "fail",
        "err",
        "error",
        "ERROR",
        "FAILED_DEPLOYING",
        "FAILED_DEPLOYING_NETS",
        "FAILED_UNDEPLOYING",
        "FAILED_UNDEPLOYING_NETS",
        "FAILED_SCALING",
    ];
    const REGULAR: [&str; 7] = [
        "PENDING",
        "DEPLOYING",
        "DEPLOYING_NETS",
        "UNDEPLOYING",
        "UNDEPLOYING_NETS",
        "CONFIGURING",
        "WARNING",
    ];
    // Ruby's `strip`: its whitespace and NULs, nothing of Unicode's.
    let state = text.trim_matches(|c| RUBY_SPACE.contains(&c) || c == '\0');
    let color = if OK.contains(&state) {
        AnsiColor::Green
    } else if BAD.contains(&state) {
        AnsiColor::Red
    } else if REGULAR.contains(&state) {
        AnsiColor::Yellow
    } else {
        return text.to_owned();
    };
    styler.paint(text, color.on_default())
}

/// One line of Ruby's `CSV.generate_line(fields, col_sep: separator)`, newline included.
pub fn csv_line<'s>(fields: impl IntoIterator<Item = &'s str>, separator: &str) -> String {
    let mut out = String::new();
    for (i, field) in fields.into_iter().enumerate() {
        if i > 0 {
            out.push_str(separator);
        }
        let quote = field.is_empty()
            || field
                .chars()
                .any(|c| matches!(c, '"' | '\r' | '\n') || separator.contains(c));
        if quote {
            out.push('"');
            out.push_str(&field.replace('"', "\"\""));
            out.push('"');
        } else {
            out.push_str(field);
        }
    }
    out.push('\n');
    out
}

/// One `show` line: `format('%-15s: %-20s', key, value)` and its newline. The value is padded
/// to 20 characters, so short values leave trailing spaces, as in OpenNebula.
pub fn show_line(key: &str, value: &str) -> String {
    format!("{key:<15}: {value:<20}\n")
}

/// `CLIHelper.print_header`: `text` and a newline; on a terminal bold, and underlined when
/// `underline` (`ESC[1mESC[4m...ESC[0m`). Table headers and `show` sections are printed so.
pub fn header_line(text: &str, underline: bool, styler: Styler) -> String {
    let style = if underline {
        Style::new().bold().underline()
    } else {
        Style::new().bold()
    };
    let mut out = styler.paint(text, style);
    out.push('\n');
    out
}

/// A `show` section header: `'%-80s' % title` through [`header_line`] (OpenNebula underlines
/// only the first section, `IMAGE <id> INFORMATION`; `PERMISSIONS`, `IMAGE TEMPLATE` ... are
/// bold only).
pub fn show_header(title: &str, underline: bool, styler: Styler) -> String {
    header_line(&format!("{title:<80}"), underline, styler)
}

/// `--describe`: one `'%-20s: %-20s'` line per column, name and description.
pub fn describe(columns: &[Column<'_>]) -> String {
    columns
        .iter()
        .map(|c| format!("{:<20}: {:<20}\n", c.name, c.desc))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each expectation is what Ruby 3.1 prints for `s.to_i` or `s.to_f`.
    #[test]
    fn ruby_numbers() {
        for (text, value) in [
            ("20", 20),
            (" 2_0x", 20),
            ("12abc", 12),
            ("abc", 0),
            ("x", 0),
            ("-3", -3),
            ("_12", 0),
            ("1__2", 1),
            ("+_1", 0),
            ("\x0b12", 12),
            ("\u{a0}12", 0),
            ("+ 5", 0),
            ("1e3", 1),
            ("99999999999999999999999", i64::MAX),
        ] {
            assert_eq!(ruby_to_i(text), value, "{text:?}.to_i");
        }
        for (text, value) in [
            ("0.4", 0.4),
            ("1e1x", 10.0),
            (".5", 0.5),
            ("-.5", -0.5),
            ("+.5", 0.5),
            ("3.", 3.0),
            ("1.e1", 1.0),
            ("1_0.5", 10.5),
            ("1__0", 1.0),
            ("1._5", 1.0),
            ("1.5_5", 1.55),
            ("_1", 0.0),
            ("1e1_0", 1e10),
            ("1e_1", 1.0),
            ("1e", 1.0),
            (".e1", 0.0),
            ("..5", 0.0),
            ("1.2.3", 1.2),
            ("\t-1.5e-1x", -0.15),
            ("0.4=1", 0.4),
            ("0x1A", 0.0),
            ("-", 0.0),
            ("abc", 0.0),
        ] {
            assert_eq!(ruby_to_f(text), value, "{text:?}.to_f");
        }
        assert_eq!(ruby_to_f("1e400"), f64::INFINITY);
    }

    /// Ruby's `split('=')` drops trailing empty fields: `user=` has no share.
    #[test]
    fn expand_entries_split_like_ruby() {
        assert_eq!(expand_entry("name"), ("NAME".to_owned(), None));
        assert_eq!(expand_entry("name="), ("NAME".to_owned(), None));
        assert_eq!(expand_entry("name=="), ("NAME".to_owned(), None));
        assert_eq!(expand_entry("name=0.4"), ("NAME".to_owned(), Some(0.4)));
        assert_eq!(expand_entry("name=0.4=9"), ("NAME".to_owned(), Some(0.4)));
        assert_eq!(expand_entry("name==0.4"), ("NAME".to_owned(), Some(0.0)));
    }

    /// The regex's `^...$` are line anchors: the first line holding an operator is the match.
    #[test]
    fn filters_parse_like_the_regex() {
        assert_eq!(parse_filter("SIZE<=5"), Some(("SIZE", "<", "=5")));
        assert_eq!(parse_filter("ID!=3"), Some(("ID", "!=", "3")));
        assert_eq!(parse_filter("a=b=c"), Some(("a", "=", "b=c")));
        assert_eq!(parse_filter("=x"), Some(("", "=", "x")));
        assert_eq!(parse_filter("ID\n=5"), Some(("", "=", "5")));
        assert_eq!(parse_filter("ID=5\nx"), Some(("ID", "=", "5")));
        assert_eq!(parse_filter("NAME"), None);
    }

    const SMALL_COLUMNS: [Column<'static>; 5] = [
        Column::new("ID", "id", 4).adjust(),
        Column::new("NAME", "name", 6)
            .left()
            .expand(ExpandConf::Auto),
        Column::new("SIZE", "size", 5),
        Column::new("EXTRA", "extra", 5).left(),
        Column::new("STAT", "stat", 4).left(),
    ];

    /// A small table; every expectation below is what cli_helper.rb prints for it under Ruby 3.1.
    const SMALL: Table<'static> = Table {
        columns: &SMALL_COLUMNS,
        default: &["ID", "NAME", "SIZE", "STAT"],
    };

    const ROWS: [[&str; 5]; 2] = [
        ["0", "alpha-long-name", "40M", "x", "rdy"],
        ["12345", "b", "2.2G", "y,z", "err"],
    ];

    fn small(options: &ListOptions) -> Result<String, TableError> {
        render(&SMALL, &ROWS, options)
    }

    fn names(names: &[&str]) -> Vec<String> {
        names.iter().map(|n| (*n).to_owned()).collect()
    }

    #[test]
    fn plain_table() {
        assert_eq!(
            small(&ListOptions::default()).as_deref(),
            Ok("   ID NAME    SIZE STAT\n    0 alpha-   40M rdy\n12345 b       2.2G err\n")
        );
    }

    #[test]
    fn expand_fills_the_terminal() {
        let options = ListOptions {
            terminal_width: Some(40),
            styler: Styler::new(true),
            ..ListOptions::default()
        };
        assert_eq!(
            small(&options).as_deref(),
            Ok(
                "\x1b[1m\x1b[4m   ID NAME                     SIZE STAT\x1b[0m\n\
                \x20   0 alpha-long-name           40M \x1b[32mrdy \x1b[0m\n\
                12345 b                        2.2G \x1b[31merr \x1b[0m\n"
            )
        );
    }

    #[test]
    fn expand_shares_split_like_ruby() {
        let expand = |share: &str| {
            let options = ListOptions {
                list: Some(names(&["id", "stat", "size", "name"])),
                expand: Expand::Columns(vec![share.to_owned()]),
                terminal_width: Some(40),
                ..ListOptions::default()
            };
            small(&options).map(|out| out.lines().next().unwrap_or_default().to_owned())
        };
        // `stat=`: no share, a part in proportion to its size.
        assert_eq!(
            expand("stat=").as_deref(),
            Ok("   ID STAT         SIZE NAME            ")
        );
        // `stat==1`: the share of "", nothing.
        assert_eq!(
            expand("stat==1").as_deref(),
            Ok("   ID STAT  SIZE NAME                   ")
        );
        assert_eq!(
            expand("stat=.25").as_deref(),
            Ok("   ID STAT      SIZE NAME               ")
        );
    }

    #[test]
    fn filters_keep_ruby_quirks() {
        // `<` against "=5": "40M" < "=5" and "2.2G" < "=5" bytewise.
        let options = ListOptions {
            filter: names(&["SIZE<=5"]),
            no_header: true,
            ..ListOptions::default()
        };
        assert_eq!(
            small(&options).as_deref(),
            Ok("    0 alpha-   40M rdy\n12345 b       2.2G err\n")
        );
        let options = ListOptions {
            filter: names(&["name~alpha", "STAT=err"]),
            operator: Some("or".into()),
            no_header: true,
            ..ListOptions::default()
        };
        assert_eq!(small(&options).map(|out| out.lines().count()), Ok(2));
        let options = ListOptions {
            filter: names(&["nope=1"]),
            ..ListOptions::default()
        };
        assert_eq!(
            small(&options).map_err(|err| err.to_string()),
            Err("Column 'nope' not found".to_owned())
        );
        let options = ListOptions {
            filter: names(&["NAME"]),
            ..ListOptions::default()
        };
        assert_eq!(
            small(&options).map_err(|err| err.to_string()),
            Err("Expression 'NAME' incorrect".to_owned())
        );
    }

    #[test]
    fn list_inserts_columns_and_csv_quotes() {
        let options = ListOptions {
            list: Some(names(&["name", "extra"])),
            csv: true,
            ..ListOptions::default()
        };
        assert_eq!(
            small(&options).as_deref(),
            Ok("NAME,EXTRA\nalpha-long-name,x\nb,\"y,z\"\n")
        );
        let options = ListOptions {
            list: Some(names(&["bogus"])),
            ..ListOptions::default()
        };
        assert_eq!(
            small(&options).map_err(|err| err.to_string()),
            Err("Column BOGUS not defined.".to_owned())
        );
        // A bad filter is reported first, as in OpenNebula.
        let options = ListOptions {
            list: Some(names(&["id", "bogus"])),
            filter: names(&["bar=1"]),
            ..ListOptions::default()
        };
        assert_eq!(
            small(&options).map_err(|err| err.to_string()),
            Err("Column 'bar' not found".to_owned())
        );
    }

    /// `-l stat,stat,stat,extra` over the default `ID`: Ruby inserts EXTRA at 4 in a row of 2,
    /// padding with nil; the shown cells are found by name all the same.
    #[test]
    fn list_past_the_end_pads() {
        let table = Table {
            columns: &SMALL_COLUMNS,
            default: &["ID"],
        };
        let options = ListOptions {
            list: Some(names(&["stat", "stat", "stat", "extra"])),
            ..ListOptions::default()
        };
        assert_eq!(
            render(&table, &ROWS, &options).as_deref(),
            Ok("STAT STAT STAT EXTRA\nrdy  rdy  rdy  x\nerr  err  err  y,z\n")
        );
    }

    /// `--adjust` on a column that is not shown fails with Ruby's TypeError, unless no row is
    /// left to measure.
    #[test]
    fn adjusting_a_hidden_column() {
        let options = ListOptions {
            adjust: names(&["extra"]),
            ..ListOptions::default()
        };
        assert_eq!(
            small(&options),
            Err(TableError::AdjustNotShown {
                name: "EXTRA".into()
            })
        );
        assert_eq!(
            small(&options).map_err(|err| err.to_string()),
            Err("no implicit conversion from nil to integer".to_owned())
        );
        let options = ListOptions {
            adjust: names(&["extra", "nope"]),
            filter: names(&["ID=nothing"]),
            ..ListOptions::default()
        };
        assert_eq!(small(&options).as_deref(), Ok("  ID NAME    SIZE STAT\n"));
    }

    #[test]
    fn empty_csv_separator_joins() {
        let options = ListOptions {
            csv: true,
            csv_del: Some(String::new()),
            ..ListOptions::default()
        };
        assert_eq!(
            small(&options).as_deref(),
            Ok("IDNAMESIZESTAT\n0alpha-long-name40Mrdy\n12345b2.2Gerr\n")
        );
    }

    #[test]
    fn styled_header_and_states() {
        let options = ListOptions {
            styler: Styler::new(true),
            ..ListOptions::default()
        };
        let out = small(&options).unwrap_or_default();
        assert!(out.starts_with("\x1b[1m\x1b[4m   ID NAME    SIZE STAT\x1b[0m\n"));
        assert!(out.contains("\x1b[32mrdy \x1b[0m\n"));
    }

    #[test]
    fn csv_quotes_like_ruby() {
        assert_eq!(
            csv_line(["a b", " x", "", "a\rb", "tab\tx"], ","),
            "a b, x,\"\",\"a\rb\",tab\tx\n"
        );
        assert_eq!(
            csv_line(["a:b", "x", "a::b"], "::"),
            "\"a:b\"::x::\"a::b\"\n"
        );
        assert_eq!(csv_line(["a,\"b\""], ","), "\"a,\"\"b\"\"\"\n");
        assert_eq!(
            csv_line(["a", "", "b c", "x,y", "q\"", " s", "é"], ","),
            "a,\"\",b c,\"x,y\",\"q\"\"\", s,é\n"
        );
        // Any character of the separator quotes: Ruby builds a character class of it.
        assert_eq!(csv_line(["ab", "c", "xa"], "ab"), "\"ab\"abcab\"xa\"\n");
        // csv 3.2.2 (Ruby 3.1) takes an empty separator and joins the fields with nothing.
        assert_eq!(csv_line(["a", "", "\"b\""], ""), "a\"\"\"\"\"b\"\"\"\n");
    }

    #[test]
    fn cells_truncate_unless_adjusting() {
        assert_eq!(ruby_format("PERSISTENT", 3, false, true), "PER");
        assert_eq!(ruby_format("123456", 4, false, false), "123456");
        assert_eq!(ruby_format("ab", 4, true, true), "ab  ");
        assert_eq!(ruby_format("ab", 4, false, true), "  ab");
        // Characters, not display columns.
        assert_eq!(ruby_format("日本語テキスト", 5, true, true), "日本語テキ");
        assert_eq!(ruby_format("é", 3, false, true), "  é");
        assert_eq!(ruby_rstrip("a \0\t "), "a");
        assert_eq!(ruby_rstrip("a\u{3000}"), "a\u{3000}");
    }

    #[test]
    fn states_are_stripped_like_ruby() {
        let on = Styler::new(true);
        assert_eq!(color_state("rdy ", on), "\x1b[32mrdy \x1b[0m");
        assert_eq!(color_state("err\0", on), "\x1b[31merr\0\x1b[0m");
        // Ruby's `strip` leaves an ideographic space: no colour.
        assert_eq!(color_state("rdy\u{3000}", on), "rdy\u{3000}");
        assert_eq!(color_state("rdy", Styler::plain()), "rdy");
    }

    #[test]
    fn show_lines_keep_their_padding() {
        assert_eq!(
            show_line("FORMAT", "raw"),
            "FORMAT         : raw                 \n"
        );
        assert_eq!(show_header("PERMISSIONS", false, Styler::plain()).len(), 81);
        assert_eq!(
            show_header("X", true, Styler::new(true)),
            format!("\x1b[1m\x1b[4mX{}\x1b[0m\n", " ".repeat(79))
        );
    }
}
