//! OpenNebula's `CLIHelper::ShowTable`: a hand-checked `oneimage list`, the goldens made by
//! cli_helper.rb itself under Ruby, the `show` layout, and snapshots.

use serde_json::Value;
use strata_cli::table::one::{self, Column, Expand, ExpandConf, ListOptions, Table, TableError};
use strata_cli::term::Styler;
use strata_model::ByteSize;

use crate::golden;

/// A table shaped like `oneimage list` (sizes and flags of oneimage.yaml), as a fixture: the
/// real column set, in the helper's order, is oneimage's (`oneimage::render::lists`).
const ONEIMAGE_COLUMNS: [Column<'static>; 12] = [
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

/// The fixture's table, showing ID USER GROUP NAME DATASTORE SIZE TYPE
/// PERSISTENT STAT RVMS by default.
const ONEIMAGE: Table<'static> = Table {
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

fn oneimage_rows() -> Vec<Vec<String>> {
    let mib = 1u64 << 20;
    let row = |id: &str, user: &str, name: &str, bytes: u64, ty: &str, per: &str, stat: &str| {
        [
            id,
            user,
            user,
            name,
            "default",
            &ByteSize(bytes).to_one_string(),
            ty,
            "08/24 20:46:35",
            "-",
            per,
            stat,
            "0",
        ]
        .map(str::to_owned)
        .to_vec()
    };
    vec![
        row("0", "oneadmin", "ttylinux", 40 * mib, "OS", "No", "rdy"),
        row(
            "7",
            "jdoe",
            "centos7-cloud-base",
            2253 * mib,
            "DB",
            "Yes",
            "err",
        ),
    ]
}

#[test]
fn oneimage_list_by_hand() {
    let out = one::render(&ONEIMAGE, &oneimage_rows(), &ListOptions::default());
    // Widths 4 8 8 15 10 7 4 3 4 4, one space apart; NAME cut at 15; PERSISTENT heads `PER`.
    assert_eq!(
        out.as_deref(),
        Ok(
            "  ID USER     GROUP    NAME            DATASTORE     SIZE TYPE PER STAT RVMS
   0 oneadmin oneadmin ttylinux        default        40M OS    No rdy     0
   7 jdoe     jdoe     centos7-cloud-b default       2.2G DB   Yes err     0
"
        )
    );
}

#[test]
fn oneimage_list_on_a_terminal() {
    let options = ListOptions {
        terminal_width: Some(90),
        styler: Styler::new(true),
        ..ListOptions::default()
    };
    let out = one::render(&ONEIMAGE, &oneimage_rows(), &options).expect("renders");
    insta::assert_snapshot!(out.replace('\x1b', "<ESC>"));
}

#[test]
fn oneimage_list_csv() {
    let options = ListOptions {
        csv: true,
        list: Some(vec!["id".into(), "name".into(), "size".into()]),
        ..ListOptions::default()
    };
    let out = one::render(&ONEIMAGE, &oneimage_rows(), &options).expect("renders");
    insta::assert_snapshot!(out, @r"
    ID,NAME,SIZE
    0,ttylinux,40M
    7,centos7-cloud-base,2.2G
    ");
}

#[test]
fn errors_are_opennebulas() {
    let rows = oneimage_rows();
    let render = |options: ListOptions| {
        one::render(&ONEIMAGE, &rows, &options)
            .err()
            .map(|err| err.to_string())
    };
    let list = |names: &[&str]| Some(names.iter().map(|n| (*n).to_owned()).collect());
    assert_eq!(
        render(ListOptions {
            list: list(&["id", "foo"]),
            ..ListOptions::default()
        })
        .as_deref(),
        Some("Column FOO not defined.")
    );
    assert_eq!(
        render(ListOptions {
            expand: Expand::Columns(vec!["bar".into()]),
            terminal_width: Some(200),
            ..ListOptions::default()
        })
        .as_deref(),
        Some("Unknown column BAR")
    );
    assert_eq!(
        render(ListOptions {
            filter: vec!["NAME".into()],
            ..ListOptions::default()
        })
        .as_deref(),
        Some("Expression 'NAME' incorrect")
    );
    assert_eq!(
        render(ListOptions {
            filter: vec!["nope=1".into()],
            ..ListOptions::default()
        })
        .as_deref(),
        Some("Column 'nope' not found")
    );
    // Ruby crashes on `--adjust` of a column not shown (a TypeError, whose message this is).
    assert_eq!(
        render(ListOptions {
            adjust: vec!["regtime".into()],
            ..ListOptions::default()
        })
        .as_deref(),
        Some("no implicit conversion from nil to integer")
    );
    // Ruby 3.1's csv 3.2.2 takes an empty `--csv-del`: no error, the fields joined by nothing.
    assert_eq!(
        one::render(
            &ONEIMAGE,
            &rows,
            &ListOptions {
                csv: true,
                csv_del: Some(String::new()),
                list: list(&["id", "name"]),
                ..ListOptions::default()
            }
        ),
        Ok("IDNAME\n0ttylinux\n7centos7-cloud-base\n".to_owned())
    );
}

#[test]
fn show_layout() {
    let mut out = one::show_header("IMAGE 0 INFORMATION", true, Styler::plain());
    for (key, value) in [
        ("ID", "0"),
        ("NAME", "ttylinux"),
        ("USER", "oneadmin"),
        ("PERSISTENT", "No"),
        (
            "SOURCE",
            "/var/lib/one//datastores/1/4d6a1b2fd33bd5e8f3c6e4f6e9f4a5b2",
        ),
    ] {
        out.push_str(&one::show_line(key, value));
    }
    out.push('\n');
    out.push_str(&one::show_header("PERMISSIONS", false, Styler::plain()));
    out.push_str(&one::show_line("OWNER", "um-"));
    // Trailing spaces matter here: make them visible in the snapshot.
    insta::assert_snapshot!(out.replace(' ', "·"));
}

#[test]
fn describe_lists_every_column() {
    let out = one::describe(&ONEIMAGE_COLUMNS[..2]);
    assert_eq!(
        out,
        "ID                  : ONE identifier for the Image\n\
         USER                : Username of the Image owner\n"
    );
}

/// Renders one case of `golden/cases.json` "one".
fn render_case(base: &Value, case: &Value) -> Result<String, TableError> {
    let field = |name: &str| {
        if case.get(name).is_some() {
            &case[name]
        } else {
            &base[name]
        }
    };
    let specs = field("columns").as_array().cloned().unwrap_or_default();
    let names: Vec<String> = specs
        .iter()
        .map(|c| c["name"].as_str().unwrap_or_default().to_owned())
        .collect();
    let columns: Vec<Column<'_>> = specs
        .iter()
        .zip(&names)
        .map(|(spec, name)| {
            let size = usize::try_from(spec["size"].as_u64().unwrap_or(0)).unwrap_or(0);
            let mut column = Column::new(name, "", size);
            column.left = spec["left"].as_bool().unwrap_or(false);
            column.adjust = spec["adjust"].as_bool().unwrap_or(false);
            column.expand = match &spec["expand"] {
                Value::Bool(true) => Some(ExpandConf::Auto),
                Value::Number(share) => share.as_f64().map(ExpandConf::Share),
                _ => None,
            };
            column
        })
        .collect();
    let default = golden::strings(field("default"));
    let default: Vec<&str> = default.iter().map(String::as_str).collect();
    let table = Table {
        columns: &columns,
        default: &default,
    };
    let o = &case["options"];
    let tty = case["tty"].as_bool().unwrap_or(false);
    let options = ListOptions {
        list: o.get("list").map(golden::strings),
        csv: o["csv"].as_bool().unwrap_or(false),
        csv_del: o["csv_del"].as_str().map(str::to_owned),
        no_header: o["no_header"].as_bool().unwrap_or(false),
        adjust: golden::strings(&o["adjust"]),
        size: golden::strings(&o["size"]),
        expand: match o.get("expand") {
            None => Expand::Configured,
            Some(Value::Null) => Expand::All,
            Some(columns) => Expand::Columns(golden::strings(columns)),
        },
        no_expand: o["no_expand"].as_bool().unwrap_or(false),
        filter: golden::strings(&o["filter"]),
        operator: o["operator"].as_str().map(str::to_owned),
        numeric: false,
        stat_column: None,
        terminal_width: if tty {
            case["width"].as_u64().and_then(|w| usize::try_from(w).ok())
        } else {
            None
        },
        styler: Styler::new(tty),
    };
    one::render(&table, &golden::rows(field("rows")), &options)
}

#[test]
fn goldens_from_cli_helper() {
    let cases = golden::cases();
    let one_cases = &cases["one"];
    let list = one_cases["cases"].as_object().expect("one cases");
    assert!(list.len() >= 20);
    for (name, case) in list {
        let out = render_case(&one_cases["base"], case);
        assert_eq!(
            out.as_deref(),
            Ok(golden::expected("one", name).as_str()),
            "case {name}"
        );
    }
}
