//! transient's beautifultable `STYLE_NONE`: the docs sample, the goldens made by beautifultable
//! 1.0.1 itself, and snapshots.

use strata_cli::table::transient::{self, Align, Column};
use strata_model::ByteSize;

use crate::golden;

/// transient's docs/cli/image.md sample, verbatim (the docs lost each line's final space).
const DOCS_SAMPLE: &str = concat!(
    " NAME                     VIRT SIZE   REAL SIZE\n",
    " centos/7:2004.01         40.00 GiB    1.05 GiB\n",
    " generic/alpine38:v3.0.2  32.00 GiB   99.69 MiB\n",
    " alpine_rel3              20.00 GiB  131.44 MiB\n",
);

#[test]
fn image_ls_docs_sample() {
    let rows = [
        ["centos/7:2004.01", "40.00 GiB", "1.05 GiB"],
        ["generic/alpine38:v3.0.2", "32.00 GiB", "99.69 MiB"],
        ["alpine_rel3", "20.00 GiB", "131.44 MiB"],
    ];
    let out = transient::render(&transient::IMAGE_LS, &rows);
    // beautifultable keeps the right padding of the last cell: one space before each newline.
    let with_padding: String = DOCS_SAMPLE
        .lines()
        .map(|line| format!("{line} \n"))
        .collect();
    assert_eq!(out, with_padding);
    insta::assert_snapshot!(out);
}

#[test]
fn sizes_come_from_strata_model() {
    let gib = 1u64 << 30;
    let rows = [[
        "alpine_rel3".to_owned(),
        ByteSize(20 * gib).to_transient_string(),
        ByteSize(137_825_239).to_transient_string(),
    ]];
    let out = transient::render(&transient::IMAGE_LS, &rows);
    assert_eq!(
        out,
        " NAME         VIRT SIZE   REAL SIZE \n alpine_rel3  20.00 GiB  131.44 MiB \n"
    );
}

#[test]
fn goldens_from_beautifultable() {
    let cases = golden::cases();
    let transient_cases = cases["transient"].as_object().expect("transient cases");
    assert!(transient_cases.len() >= 4);
    for (name, case) in transient_cases {
        let pairs = golden::rows(&case["columns"]);
        let columns: Vec<Column<'_>> = pairs
            .iter()
            .map(|pair| {
                let align = match pair[1].as_str() {
                    "left" => Align::Left,
                    "right" => Align::Right,
                    _ => Align::Center,
                };
                Column::new(&pair[0], align)
            })
            .collect();
        let out = transient::render(&columns, &golden::rows(&case["rows"]));
        assert_eq!(out, golden::expected("transient", name), "case {name}");
    }
}
