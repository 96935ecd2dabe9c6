//! pcocc's TextTable: the reference samples, the goldens made by pcocc's own TextTable.py, and
//! snapshots.

use strata_cli::table::pcocc::{self, Column};
use strata_cli::term::Styler;

use crate::golden;

/// `pcocc image list`, as in the reference (§1.6), with `print`'s final newline.
const IMAGE_LIST_SAMPLE: &str = "\
NAME             TYPE    REVISION    REPO    OWNER    DATE
----             ----    --------    ----    -----    ----
centos7-cloud    vm      0           user    jdoe     2018-08-24 20:46:35
ubuntu           ctr     12          user    jdoe     2018-08-24 20:45:20
";

#[test]
fn image_list_sample() {
    let rows = [
        [
            "centos7-cloud",
            "vm",
            "0",
            "user",
            "jdoe",
            "2018-08-24 20:46:35",
        ],
        ["ubuntu", "ctr", "12", "user", "jdoe", "2018-08-24 20:45:20"],
    ];
    let out = pcocc::render(&pcocc::IMAGE_LIST, &rows);
    assert_eq!(out, IMAGE_LIST_SAMPLE);
    // The whole `image list` block for one repository: title, table, empty line.
    let block = format!("{}{out}\n", pcocc::title("user", Styler::plain()));
    insta::assert_snapshot!(block);
}

#[test]
fn image_show_revision_sample() {
    let rows = [
        ["0", "958.0 MB", "2018-08-03 16:04:12"],
        ["1", "44.0 MB", "2018-08-03 16:09:54"],
    ];
    let out = pcocc::render(&pcocc::IMAGE_SHOW_REVISIONS, &rows);
    assert_eq!(
        out,
        "\
REVISION    SIZE        CREATION DATE
--------    ----        -------- ----
0           958.0 MB    2018-08-03 16:04:12
1           44.0 MB     2018-08-03 16:09:54
"
    );
}

#[test]
fn repo_list_sample() {
    let rows = [
        ["user", "/home/jdoe/.pcocc/images", "True"],
        ["global", "/var/lib/pcocc/images", "False"],
    ];
    let out = pcocc::render(&pcocc::REPO_LIST, &rows);
    assert_eq!(
        out,
        "\
NAME      PATH                        WRITABLE
----      ----                        --------
user      /home/jdoe/.pcocc/images    True
global    /var/lib/pcocc/images       False
"
    );
    insta::assert_snapshot!(out);
}

#[test]
fn goldens_from_textable() {
    let cases = golden::cases();
    let pcocc_cases = cases["pcocc"].as_object().expect("pcocc cases");
    assert!(pcocc_cases.len() >= 6);
    for (name, case) in pcocc_cases {
        let pairs: Vec<Vec<String>> = golden::rows(&case["columns"]);
        let columns: Vec<Column<'_>> = pairs
            .iter()
            .map(|pair| Column::labelled(&pair[0], &pair[1]))
            .collect();
        let out = pcocc::render(&columns, &golden::rows(&case["rows"]));
        assert_eq!(out, golden::expected("pcocc", name), "case {name}");
    }
}

#[test]
fn title_on_a_terminal_is_clicks_bold_blue() {
    insta::assert_snapshot!(
        format!("{:?}", pcocc::title("user", Styler::new(true))),
        @r#""\u{1b}[34m\u{1b}[1mUser images:\u{1b}[0m\n""#
    );
}
