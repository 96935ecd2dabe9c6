//! Exit codes: the default table, pinned as JSON so that a change shows in review.

use std::collections::BTreeMap;

use strata::ErrorKind;
use strata_cli::exit;

#[test]
fn sysexits_table() {
    let kinds = [
        ErrorKind::InvalidRequest,
        ErrorKind::NotFound,
        ErrorKind::AlreadyExists,
        ErrorKind::InvalidFormat,
        ErrorKind::Unsupported,
        ErrorKind::Corrupt,
        ErrorKind::IntegrityMismatch,
        ErrorKind::Escape,
        ErrorKind::Busy,
        ErrorKind::PermissionDenied,
        ErrorKind::Config,
        ErrorKind::Io,
        ErrorKind::Interrupted,
    ];
    let mut table: BTreeMap<String, u8> = kinds
        .iter()
        .map(|kind| (format!("{kind:?}"), exit::sysexits(Some(*kind))))
        .collect();
    table.insert("(no kind)".to_owned(), exit::sysexits(None));
    insta::assert_json_snapshot!(table);
}

/// docs/exit-codes.md says which code each kind gets: every kind is in its table, with the code
/// `sysexits` gives it, so the documentation and the code cannot drift apart.
#[test]
fn the_documented_table_is_the_code() {
    let docs = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/exit-codes.md"),
    )
    .unwrap();
    let mut documented: BTreeMap<String, u8> = BTreeMap::new();
    for row in docs.lines().filter(|l| l.starts_with("| ")) {
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        let (Some(code), Some(kinds)) = (cells.get(1), cells.get(3)) else {
            continue;
        };
        let Ok(code) = code.parse::<u8>() else {
            continue;
        };
        for kind in kinds.split(',').map(|k| k.trim().trim_matches('`')) {
            if !kind.is_empty() && kind.chars().all(char::is_alphabetic) {
                documented.insert(kind.to_owned(), code);
            }
        }
    }
    for kind in [
        ErrorKind::InvalidRequest,
        ErrorKind::NotFound,
        ErrorKind::AlreadyExists,
        ErrorKind::InvalidFormat,
        ErrorKind::Unsupported,
        ErrorKind::Corrupt,
        ErrorKind::IntegrityMismatch,
        ErrorKind::Escape,
        ErrorKind::Busy,
        ErrorKind::PermissionDenied,
        ErrorKind::Config,
        ErrorKind::Io,
        ErrorKind::Interrupted,
    ] {
        let name = format!("{kind:?}");
        assert_eq!(
            documented.get(&name).copied(),
            Some(exit::sysexits(Some(kind))),
            "{name}: docs/exit-codes.md and strata_cli::exit::sysexits disagree"
        );
    }
}

/// docs/exit-codes.md's `kind` in JSON column is `strata_cli::exit::word` of each code, and
/// docs/json.md's table of kinds says the same.
#[test]
fn the_documented_json_kinds_are_the_code() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let exit_codes = std::fs::read_to_string(root.join("docs/exit-codes.md")).unwrap();
    let mut seen = 0;
    for row in exit_codes.lines().filter(|l| l.starts_with("| ")) {
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        let (Some(Ok(code)), Some(word)) = (cells.get(1).map(|c| c.parse::<u8>()), cells.get(4))
        else {
            continue;
        };
        if code == 0 {
            continue;
        }
        assert_eq!(
            word.trim_matches('`'),
            exit::word(code),
            "exit-codes.md, {code}"
        );
        seen += 1;
    }
    assert_eq!(seen, 12, "a row for 2 and for each sysexits code");
    let json = std::fs::read_to_string(root.join("docs/json.md")).unwrap();
    let section = json
        .split("`kind` is one word per class")
        .nth(1)
        .unwrap_or_default();
    let mut kinds = 0;
    for row in section
        .lines()
        .filter(|l| l.starts_with("| `") && !l.starts_with("| `kind`"))
    {
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        let word = cells[1].trim_matches('`');
        for code in cells[2].split(',').map(|c| c.trim().parse::<u8>().unwrap()) {
            assert_eq!(word, exit::word(code), "json.md, {code}");
        }
        kinds += 1;
    }
    assert_eq!(kinds, 12, "json.md lists every kind");
}
