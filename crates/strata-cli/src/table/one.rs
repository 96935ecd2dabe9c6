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
//!   Quirk kept: an `adjust` width is measured on the data column at the *shown* index, which is
//!   another column when `-l` reorders (`-l name,id` sizes ID by the USER values).
//! - `-f/--filter` keeps rows matching `COL<op>VALUE` (`=`, `!=`, `<`, `>`, `~` substring;
//!   strings compared bytewise), all of them (`--operator AND`, the default) or any (`OR`).
//!   Quirk kept: the pattern tries `<` before `<=`, so `ID<=5` compares `ID < "=5"`.
//! - `--csv` prints the column names, then the full values, with Ruby's CSV quoting: a field is
//!   quoted (`"` doubled) when it is empty or contains `"`, CR, LF or any character of the
//!   separator (`,` or `--csv-del`). `--no-header` drops the header in both forms.
//!
//! Errors (OpenNebula prints them and exits 255): an unknown `-l`, `-s` or `--adjust` column is
//! `Column X not defined.`; an unknown `--expand` column `Unknown column X`; a bad filter
//! `Expression 'x' incorrect` or `Column 'x' not found`. (Ruby crashes on some of these instead.)

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

/// The columns of `oneimage list` (oneimage_helper.rb, sizes and flags from oneimage.yaml),
/// in the order [`ONEIMAGE`]'s rows give their cells.
pub const ONEIMAGE_COLUMNS: [Column<'static>; 12] = [
    Column::new("ID", "ONE identifier for the Image", 4).adjust(),
    Column::new("USER", "Username of the Image owner", 8).left(),
    Column::new("GROUP", "Group of the Image", 8).left(),
    Column::new("NAME", "Name of the Image", 15)
        .left()
        .expand(ExpandConf::Auto),
    Column::new("DATASTORE", "Name of the Datastore", 10).left(),
    Column::new("SIZE", "Size of the Image", 7),
    Column::new("TYPE", "Type of the Image", 4).left(),
    Column::new("REGTIME", "Registration time of the Image", 15),
    Column::new("MODTIME", "Last modified", 15),
    Column::new("PERSISTENT", "Whether the Image is persistent or not", 3),
    Column::new("STAT", "State of the Image", 4).left(),
    Column::new("RVMS", "Number of VMs currently running from this Image", 4),
];

/// `oneimage list`: [`ONEIMAGE_COLUMNS`], showing ID USER GROUP NAME DATASTORE SIZE TYPE
/// PERSISTENT STAT RVMS by default.
pub const ONEIMAGE: Table<'static> = Table {
    columns: &ONEIMAGE_COLUMNS,
    default: &[
        "ID",
        "USER",
        "GROUP",
        "NAME",
        "DATASTORE",
        "SIZE",
        "TYPE",
        "PERSISTENT",
        "STAT",
        "RVMS",
    ],
};

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
    /// `--csv-del ''` (Ruby's CSV refuses it).
    #[error(":col_sep must be 1 or more characters: \"\"")]
    EmptyCsvDelimiter,
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
    if let Some(name) = shown.iter().find(|name| index_of(name).is_none()) {
        return Err(TableError::UnknownColumn { name: name.clone() });
    }

    // The data columns (`@default_columns` after `data_array`): the defaults, with each shown
    // column that is not among them inserted after the position it has among the shown ones.
    let mut data_columns: Vec<String> = table.default.iter().map(|n| (*n).to_owned()).collect();
    for (position, name) in shown.iter().enumerate() {
        if !data_columns.contains(name) {
            let at = (position + 1).min(data_columns.len());
            data_columns.insert(at, name.clone());
        }
    }
    let data_index: Vec<usize> = data_columns
        .iter()
        .filter_map(|name| index_of(name))
        .collect();
    let mut data: Vec<Vec<&str>> = rows
        .iter()
        .map(|row| data_index.iter().map(|&i| cell(row, i)).collect())
        .collect();

    if !options.filter.is_empty() {
        filter(&mut data, &data_columns, options)?;
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

    let position_in_data = |name: &str| data_columns.iter().position(|n| n == name);
    let mut out = String::new();
    if options.csv {
        let separator = options.csv_del.as_deref().unwrap_or(",");
        if separator.is_empty() {
            return Err(TableError::EmptyCsvDelimiter);
        }
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
        let header = header.join(" ");
        out.push_str(
            &options
                .styler
                .paint(&header, Style::new().bold().underline()),
        );
        out.push('\n');
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
            let Some(key) = configured(name).map(|c| c.name) else {
                return Err(TableError::UnknownColumn { name: name.clone() });
            };
            // OpenNebula measures the data column at the *shown* index (`max_size`).
            let Some(index) = shown.iter().position(|n| n == name) else {
                continue;
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
        Expand::Columns(columns) => columns
            .iter()
            .map(|entry| match entry.split_once('=') {
                Some((name, share)) => (name.to_uppercase(), Some(ruby_to_f(share))),
                None => (entry.to_uppercase(), None),
            })
            .collect(),
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
    data_columns: &[String],
    options: &ListOptions,
) -> Result<(), TableError> {
    // Ruby's `/^(.*?)(=|!=|<|<=|>|>=|~)(.*?)$/`: the shortest left side, the first operator
    // that matches there, in this order.
    const OPERATORS: [&str; 7] = ["=", "!=", "<", "<=", ">", ">=", "~"];
    let mut stems = Vec::with_capacity(options.filter.len());
    for expression in &options.filter {
        let found = expression.char_indices().find_map(|(at, _)| {
            let rest = &expression[at..];
            OPERATORS
                .iter()
                .find(|op| rest.starts_with(*op))
                .map(|op| (&expression[..at], *op, &rest[op.len()..]))
        });
        let Some((name, op, value)) = found else {
            return Err(TableError::BadFilter {
                expression: expression.clone(),
            });
        };
        let upper = name.to_uppercase();
        let Some(index) = data_columns.iter().position(|c| *c == upper) else {
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
    text.trim_end_matches(['\t', '\n', '\x0b', '\x0c', '\r', ' ', '\0'])
}

/// Ruby's `String#to_i`: leading whitespace, a sign, then the longest run of digits (with single
/// underscores between them); 0 when there is none.
fn ruby_to_i(text: &str) -> i64 {
    let text = text.trim_start_matches([' ', '\t', '\n', '\x0b', '\x0c', '\r']);
    let (negative, digits) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let mut value: i64 = 0;
    let mut previous_underscore = true;
    for b in digits.bytes() {
        match b {
            b'0'..=b'9' => {
                value = value.saturating_mul(10).saturating_add(i64::from(b - b'0'));
                previous_underscore = false;
            }
            b'_' if !previous_underscore => previous_underscore = true,
            _ => break,
        }
    }
    if negative { -value } else { value }
}

/// Ruby's `String#to_f`, for the shares of `--expand col=share`: the longest prefix that reads as
/// a decimal number, 0.0 when there is none.
fn ruby_to_f(text: &str) -> f64 {
    let text = text.trim_start_matches([' ', '\t', '\n', '\x0b', '\x0c', '\r']);
    let bytes = text.as_bytes();
    let mut end = 0;
    if matches!(bytes.first(), Some(b'+' | b'-')) {
        end = 1;
    }
    let digits = |from: usize| {
        let mut at = from;
        while bytes.get(at).is_some_and(u8::is_ascii_digit) {
            at += 1;
        }
        at
    };
    let int_end = digits(end);
    if int_end == end {
        return 0.0;
    }
    end = int_end;
    if bytes.get(end) == Some(&b'.') && bytes.get(end + 1).is_some_and(u8::is_ascii_digit) {
        end = digits(end + 1);
    }
    if matches!(bytes.get(end), Some(b'e' | b'E')) {
        let sign = usize::from(matches!(bytes.get(end + 1), Some(b'+' | b'-')));
        let exp_end = digits(end + 1 + sign);
        if exp_end > end + 1 + sign {
            end = exp_end;
        }
    }
    text[..end].parse().unwrap_or(0.0)
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
    let state = text.trim_matches([' ', '\t', '\n', '\x0b', '\x0c', '\r', '\0']);
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

/// A `show` section header: `'%-80s' % title`, then a newline; on a terminal bold, and
/// underlined when `underline` (OpenNebula underlines only the first section, `IMAGE <id>
/// INFORMATION`; `PERMISSIONS`, `IMAGE TEMPLATE` ... are bold only).
pub fn show_header(title: &str, underline: bool, styler: Styler) -> String {
    let style = if underline {
        Style::new().bold().underline()
    } else {
        Style::new().bold()
    };
    let mut out = styler.paint(&format!("{title:<80}"), style);
    out.push('\n');
    out
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

    #[test]
    fn ruby_numbers() {
        assert_eq!(ruby_to_i("20"), 20);
        assert_eq!(ruby_to_i(" 2_0x"), 20);
        assert_eq!(ruby_to_i("abc"), 0);
        assert_eq!(ruby_to_i("-3"), -3);
        assert_eq!(ruby_to_f("0.4"), 0.4);
        assert_eq!(ruby_to_f("1e1x"), 10.0);
        assert_eq!(ruby_to_f(".5"), 0.0);
        assert_eq!(ruby_to_f("3."), 3.0);
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
    }

    #[test]
    fn cells_truncate_unless_adjusting() {
        assert_eq!(ruby_format("PERSISTENT", 3, false, true), "PER");
        assert_eq!(ruby_format("123456", 4, false, false), "123456");
        assert_eq!(ruby_format("ab", 4, true, true), "ab  ");
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
