//! A column table with the semantics of OpenNebula's `CLIHelper::ShowTable`
//! (OpenNebula/one `src/cli/cli_helper.rb`), quirks included:
//!
//! - A cell is Ruby's `format("%-N.Ns")` (`%N.Ns` when right-aligned): cut to the column's
//!   size and padded to it, in characters; an `adjust` column is padded but never cut. Cells
//!   are joined by one space and the row is right-stripped; the header is not.
//! - `-l` names columns; one that is not a default column is inserted in the row layout one
//!   place after its position in `-l` (so a filter may name it, and `--adjust` measures the
//!   row cell at the column's position in `-l`, which is another column when `-l` reorders).
//! - `-f COL<op>VAL`: the first operator in the order `= != < <= > >= ~` that matches at the
//!   leftmost place wins, so `<=` and `>=` never match (`SIZE<=5` compares with `=5`). Values
//!   are compared as strings, bytewise; `~` is a substring test. `--operator OR` keeps a row
//!   when one filter matches, anything else when all do.
//! - `--adjust` and the `adjust` columns widen to the longest value; `--expand` (and the
//!   `expand` columns, NAME) share the terminal's spare width. Without a terminal
//!   (`terminal_width` `None`: no TTY on stdout and no controlling console) nothing expands:
//!   OpenNebula has no fixed default width, it leaves the sizes as configured.
//! - `--csv`: Ruby's `CSV.generate_line`: a field is quoted when it is empty or holds `"`, CR,
//!   LF or any character of the separator (Ruby builds a character class of it).
//! - On a TTY (`styled`) the header is bold and underlined and the STAT cell coloured.

use thiserror::Error;

use super::units::{pad, rstrip};

/// A bad `-l`, `-f`, `--adjust`, `--size` or `--expand` argument.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ListError {
    /// `-l` names a column the table does not have (`header_str`).
    #[error("Column {0} not defined.")]
    ColumnNotDefined(String),
    /// `-f` names a column the rows do not have (`filter_data!`).
    #[error("Column '{0}' not found")]
    FilterColumn(String),
    /// `-f` has no operator (`filter_data!`).
    #[error("Expression '{0}' incorrect")]
    FilterExpression(String),
    /// `--expand` or `--size` names a column the table does not have (`expand_columns`;
    /// OpenNebula fails with a Ruby `NoMethodError` for `--size`).
    #[error("Unknown column {0}")]
    UnknownColumn(String),
    /// `--adjust` names a column that is not shown: OpenNebula indexes the row with `nil` and
    /// fails with Ruby's `TypeError`, whose message this is.
    #[error("no implicit conversion from nil to integer")]
    AdjustNotShown(String),
}

/// One column: its configuration after `etc/<cmd>.yaml` is merged over the helper's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    /// The name (header text).
    pub name: &'static str,
    /// The helper's description (`--describe`).
    pub desc: &'static str,
    /// The width.
    pub size: usize,
    /// Left-aligned (`%-N.Ns`).
    pub left: bool,
    /// Never cut, widened to the longest value.
    pub adjust: bool,
    /// Widened to fill the terminal.
    pub expand: bool,
}

impl Column {
    /// A right-aligned column of this size.
    pub const fn new(name: &'static str, desc: &'static str, size: usize) -> Column {
        Column {
            name,
            desc,
            size,
            left: false,
            adjust: false,
            expand: false,
        }
    }

    /// Left-aligned.
    #[must_use]
    pub const fn left(mut self) -> Column {
        self.left = true;
        self
    }

    /// `adjust`.
    #[must_use]
    pub const fn adjust(mut self) -> Column {
        self.adjust = true;
        self
    }

    /// `expand`.
    #[must_use]
    pub const fn expand(mut self) -> Column {
        self.expand = true;
        self
    }
}

/// A table: its columns (in the helper's order) and the default selection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableSpec {
    /// Every column.
    pub columns: Vec<Column>,
    /// The columns shown without `-l`.
    pub default: Vec<&'static str>,
}

/// The list options of `cli_helper.rb` and `one_helper.rb`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ListOptions {
    /// `-l x,y,z`.
    pub list: Option<Vec<String>>,
    /// `-f COL<op>VAL,...`.
    pub filter: Vec<String>,
    /// `--operator AND|OR`.
    pub operator: Option<String>,
    /// `--csv`.
    pub csv: bool,
    /// `--csv-del del`.
    pub csv_del: Option<String>,
    /// `--no-header`.
    pub no_header: bool,
    /// `--adjust x,y`.
    pub adjust: Vec<String>,
    /// `-s x=N,y=N`.
    pub size: Vec<String>,
    /// `--expand [x=prop,...]`: `Some(vec![])` for `--expand` alone.
    pub expand: Option<Vec<String>>,
    /// `--no-expand`.
    pub no_expand: bool,
    /// `-n`: UID and GID instead of names.
    pub numeric: bool,
    /// The terminal's width when stdout is a TTY or the process has a console.
    pub terminal_width: Option<usize>,
    /// stdout is a TTY: bold underlined header, coloured states.
    pub styled: bool,
}

const BOLD: &str = "\x1b[1m";
const UNDERLINE: &str = "\x1b[4m";
const RESET: &str = "\x1b[0m";
const RED: &str = "\x1b[31m";
const GREEN: &str = "\x1b[32m";
const YELLOW: &str = "\x1b[33m";

/// `CLIHelper.print_header`: the text, bold (and underlined) on a TTY, then a newline.
pub fn header_line(text: &str, underline: bool, styled: bool) -> String {
    if styled {
        let u = if underline { UNDERLINE } else { "" };
        format!("{BOLD}{u}{text}{RESET}\n")
    } else {
        format!("{text}\n")
    }
}

/// `CLIHelper.color_state`.
fn color_state(cell: String) -> String {
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
    let state = cell.trim();
    let colour = if OK.contains(&state) {
        GREEN
    } else if BAD.contains(&state) {
        RED
    } else if REGULAR.contains(&state) {
        YELLOW
    } else {
        return cell;
    };
    format!("{colour}{cell}{RESET}")
}

/// Ruby's `String#to_i`: the leading integer, 0 when none.
pub fn ruby_to_i(s: &str) -> i64 {
    let t = s.trim_start();
    let (neg, digits) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let mut n: i64 = 0;
    for c in digits.chars() {
        if c == '_' {
            continue;
        }
        match c.to_digit(10) {
            Some(d) => n = n.saturating_mul(10).saturating_add(i64::from(d)),
            None => break,
        }
    }
    if neg { -n } else { n }
}

/// Ruby's `String#to_f`, for the proportions of `--expand name=0.4`.
fn ruby_to_f(s: &str) -> f64 {
    let t = s.trim_start();
    let mut end = 0;
    let bytes = t.as_bytes();
    let mut seen_dot = false;
    let mut seen_digit = false;
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            b'+' | b'-' if i == 0 => {}
            b'0'..=b'9' => seen_digit = true,
            b'.' if !seen_dot => seen_dot = true,
            _ => break,
        }
        end = i + 1;
    }
    if !seen_digit {
        return 0.0;
    }
    t[..end].trim_end_matches('.').parse().unwrap_or(0.0)
}

/// Ruby's `CSV.generate_line(fields, col_sep: del)`.
pub fn csv_line(fields: &[Option<&str>], del: &str) -> String {
    let mut out = String::new();
    for (i, f) in fields.iter().enumerate() {
        if i > 0 {
            out.push_str(del);
        }
        let Some(f) = f else { continue };
        let quote = f.is_empty()
            || f.chars()
                .any(|c| c == '"' || c == '\r' || c == '\n' || del.contains(c));
        if quote {
            out.push('"');
            out.push_str(&f.replace('"', "\"\""));
            out.push('"');
        } else {
            out.push_str(f);
        }
    }
    out.push('\n');
    out
}

#[derive(Debug, Clone)]
struct Live {
    size: i64,
    left: bool,
    adjust: bool,
    expand: bool,
}

#[derive(Debug)]
struct Stem {
    op: &'static str,
    right: String,
    index: usize,
}

fn parse_filter(expr: &str, layout: &[Option<String>]) -> Result<Stem, ListError> {
    const OPS: [&str; 7] = ["=", "!=", "<", "<=", ">", ">=", "~"];
    for (pos, _) in expr.char_indices() {
        let rest = &expr[pos..];
        if let Some(op) = OPS.into_iter().find(|op| rest.starts_with(op)) {
            let left = &expr[..pos];
            let wanted = left.to_uppercase();
            let index = layout
                .iter()
                .position(|c| c.as_deref() == Some(wanted.as_str()))
                .ok_or_else(|| ListError::FilterColumn(left.to_owned()))?;
            return Ok(Stem {
                op,
                right: rest[op.len()..].to_owned(),
                index,
            });
        }
    }
    Err(ListError::FilterExpression(expr.to_owned()))
}

fn stem_matches(stem: &Stem, row: &[Option<String>]) -> bool {
    let value = row.get(stem.index).and_then(Option::as_deref).unwrap_or("");
    let right = stem.right.as_str();
    match stem.op {
        "=" => value == right,
        "!=" => value != right,
        "<" => value < right,
        "<=" => value <= right,
        ">" => value > right,
        ">=" => value >= right,
        _ => value.contains(right),
    }
}

/// Prints `rows` as `ShowTable#show` does. Each row holds one value per column of
/// `spec.columns`, in that order.
pub fn render_table(
    spec: &TableSpec,
    rows: &[Vec<String>],
    opts: &ListOptions,
) -> Result<String, ListError> {
    let known = |name: &str| spec.columns.iter().position(|c| c.name == name);
    let cli: Vec<String> = match &opts.list {
        Some(list) => list.iter().map(|c| c.to_uppercase()).collect(),
        None => spec.default.iter().map(|c| (*c).to_owned()).collect(),
    };
    if let Some(bad) = cli.iter().find(|c| known(c).is_none()) {
        return Err(ListError::ColumnNotDefined(bad.clone()));
    }

    // `data_array`: the row layout is the default columns, with every `-l` column that is not
    // one of them inserted after its position in `-l` (Ruby's `Array#insert` pads with nil).
    let mut layout: Vec<Option<String>> =
        spec.default.iter().map(|c| Some((*c).to_owned())).collect();
    for (i, col) in cli.iter().enumerate() {
        if layout.iter().any(|c| c.as_deref() == Some(col.as_str())) {
            continue;
        }
        let at = cli.iter().position(|c| c == col).unwrap_or(i) + 1;
        if at > layout.len() {
            layout.resize(at, None);
        }
        layout.insert(at, Some(col.clone()));
    }
    let mut data: Vec<Vec<Option<String>>> = rows
        .iter()
        .map(|row| {
            layout
                .iter()
                .map(|c| {
                    c.as_deref()
                        .and_then(known)
                        .and_then(|i| row.get(i).cloned())
                })
                .collect()
        })
        .collect();

    if !opts.filter.is_empty() {
        let stems = opts
            .filter
            .iter()
            .map(|f| parse_filter(f, &layout))
            .collect::<Result<Vec<_>, _>>()?;
        let or = opts
            .operator
            .as_deref()
            .is_some_and(|o| o.to_uppercase() == "OR");
        let and = opts
            .operator
            .as_deref()
            .is_none_or(|o| o.to_uppercase() == "AND");
        data.retain(|row| {
            let mut pass = true;
            for stem in &stems {
                if stem_matches(stem, row) {
                    if or {
                        pass = true;
                        break;
                    }
                } else {
                    pass = false;
                    if and {
                        break;
                    }
                }
            }
            pass
        });
    }

    let mut live: Vec<Live> = spec
        .columns
        .iter()
        .map(|c| Live {
            size: i64::try_from(c.size).unwrap_or(i64::MAX),
            left: c.left,
            adjust: c.adjust,
            expand: c.expand,
        })
        .collect();
    let live_index = |name: &str| -> Result<usize, ListError> {
        known(&name.to_uppercase()).ok_or_else(|| ListError::UnknownColumn(name.to_uppercase()))
    };

    // `update_columns_size`.
    let mut adjust: Vec<String> = opts.adjust.clone();
    adjust.extend(
        cli.iter()
            .filter(|c| known(c).is_some_and(|i| live[i].adjust))
            .map(|c| c.to_lowercase()),
    );
    let expand_all = opts.expand.as_ref().is_some_and(Vec::is_empty);
    let mut expand_data: Vec<String> = if expand_all {
        cli.clone()
    } else {
        opts.expand.clone().unwrap_or_default()
    };
    expand_data.extend(
        cli.iter()
            .filter(|c| known(c).is_some_and(|i| live[i].expand))
            .map(|c| c.to_lowercase()),
    );
    if !expand_all {
        for column in &adjust {
            let upper = column.to_uppercase();
            let at = cli
                .iter()
                .position(|c| *c == upper)
                .ok_or_else(|| ListError::AdjustNotShown(upper.clone()))?;
            let li = live_index(&upper)?;
            let max = data
                .iter()
                .map(|row| {
                    row.get(at)
                        .and_then(Option::as_deref)
                        .map_or(0, |v| v.chars().count())
                })
                .max();
            if let Some(max) = max {
                let max = i64::try_from(max).unwrap_or(i64::MAX);
                if max > live[li].size {
                    live[li].adjust = true;
                    live[li].size = max;
                }
            }
        }
    }
    for s in &opts.size {
        let (name, size) = s.split_once('=').unwrap_or((s.as_str(), ""));
        let li = live_index(name)?;
        live[li].adjust = false;
        live[li].size = ruby_to_i(size);
    }
    if !opts.no_expand {
        expand_columns(
            &expand_data,
            &cli,
            &mut live,
            opts.terminal_width,
            &live_index,
        )?;
    }

    let format_cell = |li: usize, text: &str| -> String {
        let c = &live[li];
        let size = usize::try_from(c.size).unwrap_or(0);
        pad(text, size, (!c.adjust).then_some(size), c.left)
    };

    let mut out = String::new();
    let del = opts.csv_del.as_deref().unwrap_or(",");
    if !opts.no_header {
        if opts.csv {
            let names: Vec<Option<&str>> = cli.iter().map(|c| Some(c.as_str())).collect();
            out.push_str(&csv_line(&names, del));
        } else {
            let header: Vec<String> = cli
                .iter()
                .filter_map(|c| known(c).map(|li| format_cell(li, c)))
                .collect();
            out.push_str(&header_line(&header.join(" "), true, opts.styled));
        }
    }
    for row in &data {
        let cell = |col: &String| {
            layout
                .iter()
                .position(|c| c.as_ref() == Some(col))
                .and_then(|i| row.get(i).cloned().flatten())
        };
        if opts.csv {
            let values: Vec<Option<String>> = cli.iter().map(cell).collect();
            let fields: Vec<Option<&str>> = values.iter().map(Option::as_deref).collect();
            out.push_str(&csv_line(&fields, del));
        } else {
            let mut cells = Vec::new();
            for col in &cli {
                let Some(li) = known(col) else { continue };
                let text = format_cell(li, cell(col).as_deref().unwrap_or(""));
                cells.push(if opts.styled && col == "STAT" {
                    color_state(text)
                } else {
                    text
                });
            }
            out.push_str(rstrip(&cells.join(" ")));
            out.push('\n');
        }
    }
    Ok(out)
}

/// `expand_columns`: the spare width of the terminal shared among `expand` (each `name` or
/// `name=proportion`), in proportion to their sizes unless given; what rounding leaves goes to
/// the last, and the last gives back any excess.
fn expand_columns(
    expand: &[String],
    cli: &[String],
    live: &mut [Live],
    terminal_width: Option<usize>,
    live_index: &dyn Fn(&str) -> Result<usize, ListError>,
) -> Result<(), ListError> {
    if expand.is_empty() {
        return Ok(());
    }
    let Some(terminal) = terminal_width else {
        return Ok(());
    };
    let terminal = i64::try_from(terminal).unwrap_or(i64::MAX);
    let cli_index: Vec<usize> = cli
        .iter()
        .map(|c| live_index(c))
        .collect::<Result<_, _>>()?;
    let mut expanding: Vec<(usize, Option<String>)> = Vec::new();
    for e in expand {
        let mut parts = e.split('=');
        let name = parts.next().unwrap_or("");
        expanding.push((live_index(name)?, parts.next().map(str::to_owned)));
    }
    let total = |live: &[Live]| cli_index.iter().map(|&i| live[i].size).sum::<i64>();
    let total_size = total(live);
    let columns_size: i64 = expanding.iter().map(|(i, _)| live[*i].size).sum();
    let terminal = terminal - (i64::try_from(cli.len()).unwrap_or(0) - 1);
    let left_size = terminal - total_size;
    let mut remaining = left_size;
    if left_size <= 0 {
        return Ok(());
    }
    #[expect(
        clippy::cast_precision_loss,
        clippy::cast_possible_truncation,
        reason = "Ruby's Float arithmetic, which this reproduces, on column widths"
    )]
    for (i, prop) in &expanding {
        let prop = match prop {
            Some(p) => ruby_to_f(p),
            None => live[*i].size as f64 / columns_size as f64,
        };
        let size = (left_size as f64 * prop).round() as i64;
        live[*i].adjust = false;
        live[*i].size += size;
        remaining -= size;
    }
    let Some(&(last, _)) = expanding.last() else {
        return Ok(());
    };
    if remaining > 0 {
        live[last].size += remaining;
    }
    let now = total(live);
    if terminal != now {
        live[last].size -= now - terminal;
    }
    Ok(())
}

/// `--describe`: `%-20s: %-20s` for each column, in the helper's order, with the helper's
/// descriptions (the YAML's are merged only when a table is shown).
pub fn describe(spec: &TableSpec) -> String {
    let mut out = String::new();
    for c in &spec.columns {
        out.push_str(&pad(c.name, 20, None, true));
        out.push_str(": ");
        out.push_str(&pad(c.desc, 20, None, true));
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> TableSpec {
        TableSpec {
            columns: vec![
                Column::new("ID", "id", 4).adjust(),
                Column::new("NAME", "name", 6).left().expand(),
                Column::new("SIZE", "size", 5),
                Column::new("EXTRA", "extra", 5).left(),
                Column::new("STAT", "stat", 4).left(),
            ],
            default: vec!["ID", "NAME", "SIZE", "STAT"],
        }
    }

    fn rows() -> Vec<Vec<String>> {
        [
            ["0", "alpha-long-name", "40M", "x", "rdy"],
            ["12345", "b", "2.2G", "y,z", "err"],
        ]
        .iter()
        .map(|r| r.iter().map(|s| (*s).to_owned()).collect())
        .collect()
    }

    #[test]
    fn plain_table() {
        let out = render_table(&spec(), &rows(), &ListOptions::default()).unwrap();
        assert_eq!(
            out,
            "   ID NAME    SIZE STAT\n    0 alpha-   40M rdy\n12345 b       2.2G err\n"
        );
    }

    #[test]
    fn expand_fills_the_terminal() {
        let opts = ListOptions {
            terminal_width: Some(40),
            ..ListOptions::default()
        };
        let out = render_table(&spec(), &rows(), &opts).unwrap();
        let first = out.lines().next().unwrap();
        assert_eq!(first.chars().count(), 40);
        assert_eq!(
            out.lines().nth(1).unwrap(),
            "    0 alpha-long-name           40M rdy"
        );
    }

    #[test]
    fn filters_keep_ruby_quirks() {
        let opts = ListOptions {
            filter: vec!["SIZE<=5".into()],
            no_header: true,
            ..ListOptions::default()
        };
        // `<` against "=5": "40M" < "=5" and "2.2G" < "=5" bytewise.
        assert_eq!(
            render_table(&spec(), &rows(), &opts)
                .unwrap()
                .lines()
                .count(),
            2
        );
        let opts = ListOptions {
            filter: vec!["name~alpha".into(), "STAT=err".into()],
            operator: Some("or".into()),
            no_header: true,
            ..ListOptions::default()
        };
        assert_eq!(
            render_table(&spec(), &rows(), &opts)
                .unwrap()
                .lines()
                .count(),
            2
        );
        let opts = ListOptions {
            filter: vec!["nope=1".into()],
            ..ListOptions::default()
        };
        assert_eq!(
            render_table(&spec(), &rows(), &opts)
                .unwrap_err()
                .to_string(),
            "Column 'nope' not found"
        );
        let opts = ListOptions {
            filter: vec!["NAME".into()],
            ..ListOptions::default()
        };
        assert_eq!(
            render_table(&spec(), &rows(), &opts)
                .unwrap_err()
                .to_string(),
            "Expression 'NAME' incorrect"
        );
    }

    #[test]
    fn list_inserts_columns_and_csv_quotes() {
        let opts = ListOptions {
            list: Some(vec!["name".into(), "extra".into()]),
            csv: true,
            ..ListOptions::default()
        };
        assert_eq!(
            render_table(&spec(), &rows(), &opts).unwrap(),
            "NAME,EXTRA\nalpha-long-name,x\nb,\"y,z\"\n"
        );
        let opts = ListOptions {
            list: Some(vec!["bogus".into()]),
            ..ListOptions::default()
        };
        assert_eq!(
            render_table(&spec(), &rows(), &opts)
                .unwrap_err()
                .to_string(),
            "Column BOGUS not defined."
        );
    }

    #[test]
    fn csv_like_ruby() {
        let fields = [
            Some("a"),
            Some(""),
            Some("b c"),
            Some("x,y"),
            Some("q\""),
            Some(" s"),
            None,
            Some("é"),
        ];
        assert_eq!(
            csv_line(&fields, ","),
            "a,\"\",b c,\"x,y\",\"q\"\"\", s,,é\n"
        );
        assert_eq!(
            csv_line(&[Some("ab"), Some("c"), Some("xa")], "ab"),
            "\"ab\"abcab\"xa\"\n"
        );
    }

    #[test]
    fn styled_header_and_states() {
        let opts = ListOptions {
            styled: true,
            ..ListOptions::default()
        };
        let out = render_table(&spec(), &rows(), &opts).unwrap();
        assert!(out.starts_with("\x1b[1m\x1b[4m   ID NAME    SIZE STAT\x1b[0m\n"));
        assert!(out.contains("\x1b[32mrdy \x1b[0m\n"));
    }

    #[test]
    fn ruby_numbers() {
        assert_eq!(ruby_to_i("12abc"), 12);
        assert_eq!(ruby_to_i("-3"), -3);
        assert_eq!(ruby_to_i("x"), 0);
        assert!((ruby_to_f("0.4") - 0.4).abs() < 1e-12);
        assert!(ruby_to_f("abc").abs() < 1e-12);
    }
}
