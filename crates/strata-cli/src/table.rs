//! Table renderers, one per dialect: pure functions from rows of strings (plus per-column specs)
//! to the exact text the original tool writes to standard output, final newline included.
//!
//! | dialect | original | module |
//! |---|---|---|
//! | pcocc `image list`, `image show`, `image repo list` | Shine's `TextTable` (lib/pcocc/scripts/Shine/TextTable.py) | [`pcocc`] |
//! | transient `image ls`, `ps` | beautifultable 1.0 `STYLE_NONE` (transient/cli.py) | [`transient`] |
//! | OpenNebula `oneimage list`, `onedatastore list`, `show` | `CLIHelper::ShowTable` (src/cli/cli_helper.rb) | [`one`] |
//!
//! Rows are slices of cells (`&[Vec<String>]`, `&[[&str; 3]]` ...), one cell per column in the
//! order the columns are given; a missing cell is empty, an extra cell is ignored. Widths count
//! characters (Python's `len`, Ruby's `String#size`), except beautifultable's, which counts
//! terminal columns (`wcwidth`).

pub mod one;
pub mod pcocc;
pub mod transient;

/// The cell of `row` at `index`, or the empty string.
fn cell<'a, R, S>(row: &'a R, index: usize) -> &'a str
where
    R: AsRef<[S]>,
    S: AsRef<str> + 'a,
{
    row.as_ref().get(index).map_or("", AsRef::as_ref)
}

/// The length of `text` in characters, as Python's `len` and Ruby's `String#size` count it.
fn char_len(text: &str) -> usize {
    text.chars().count()
}
