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
    ];
    let mut table: BTreeMap<String, u8> = kinds
        .iter()
        .map(|kind| (format!("{kind:?}"), exit::sysexits(Some(*kind))))
        .collect();
    table.insert("(no kind)".to_owned(), exit::sysexits(None));
    insta::assert_json_snapshot!(table);
}
