//! strata's Imagefile parser against transient 0.25's own: every case of
//! `tests/golden/transient-0.25.json`, which `tests/golden/make-goldens.sh` makes by running
//! transient's parser, validation and `Step i/n` printing on `tests/golden/cases/` and on
//! generated Imagefiles.

use std::path::Path;

use serde_json::{Map, Value};
use strata_build::imagefile::{Found, Imagefile, ImagefileError, Rule, SpecError};

const GOLDEN: &str = include_str!("../golden/transient-0.25.json");

/// Whether an error is the one strata gives instead of reading a case.
type Refusal = fn(&ImagefileError) -> bool;

/// Where strata refuses what transient reads (see the module documentation of `imagefile`):
/// the case and the error strata gives instead.
const DEVIATIONS: &[(&str, Refusal)] = &[
    // Python's `\d` takes Arabic-Indic digits; strata reads ASCII digits only.
    ("deviation-unicode-digits", |e| {
        matches!(
            e,
            ImagefileError::Syntax {
                line: 2,
                column: 6,
                ..
            }
        )
    }),
    // Python's int() has no bound; qemu-img refuses this size later.
    ("deviation-huge-size", |e| {
        matches!(
            e,
            ImagefileError::SizeOutOfRange {
                line: 2,
                column: 6,
                ..
            }
        )
    }),
    ("deviation-huge-partition-number", |e| {
        matches!(
            e,
            ImagefileError::PartitionNumberOutOfRange {
                line: 3,
                column: 11,
                ..
            }
        )
    }),
    // `EFİ` lowers to `efi̇`, which transient then ignores as an unknown flag.
    ("deviation-folded-flag", |e| {
        matches!(
            e,
            ImagefileError::Syntax {
                line: 3,
                column: 27,
                ..
            }
        )
    }),
];

fn cases() -> Map<String, Value> {
    let golden: Value = serde_json::from_str(GOLDEN).expect("the goldens are JSON");
    assert_eq!(golden["transient"], "0.25");
    golden["cases"]
        .as_object()
        .expect("cases is an object")
        .clone()
}

fn text<'a>(case: &'a Value, key: &str) -> &'a str {
    case[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} is not a string in {case}"))
}

/// The message of `e` without its `FILE:LINE[:COLUMN]: ` prefix.
fn message(e: &ImagefileError) -> String {
    let display = e.to_string();
    match display.split_once(": ") {
        Some((_, message)) => message.to_owned(),
        None => display,
    }
}

/// Why strata's result for `case` differs from transient's, if it does.
fn compare(case: &Value) -> Result<(), String> {
    let ours = Imagefile::parse("Imagefile", text(case, "input"));
    match text(case, "outcome") {
        "ok" => match (&case["spec_error"], ours) {
            (Value::Null, Ok(imagefile)) => {
                let steps: Vec<String> = imagefile.step_lines().collect();
                let theirs: Vec<&str> = case["steps"]
                    .as_array()
                    .expect("steps")
                    .iter()
                    .filter_map(Value::as_str)
                    .collect();
                if steps == theirs {
                    Ok(())
                } else {
                    Err(format!("steps {steps:?}, transient's {theirs:?}"))
                }
            }
            (Value::String(theirs), Err(e @ ImagefileError::Spec { .. }))
                if message(&e) == *theirs =>
            {
                Ok(())
            }
            (theirs, ours) => Err(format!("{ours:?}; transient: spec error {theirs}")),
        },
        "error" => {
            match ours {
                Err(
                    e @ (ImagefileError::Rule { .. } | ImagefileError::UnsupportedFormat { .. }),
                ) if message(&e) == text(case, "message") => Ok(()),
                ours => Err(format!("{ours:?}; transient: {}", text(case, "message"))),
            }
        }
        "syntax" => {
            let Err(ImagefileError::Syntax {
                line,
                column,
                found,
                ..
            }) = &ours
            else {
                return Err(format!("{ours:?}; transient: a syntax error"));
            };
            let theirs = text(case, "found");
            if case["token_type"] == "$END" {
                // Lark puts the end of the file on the last token; strata where the file ends.
                return match found {
                    Found::EndOfFile => Ok(()),
                    _ => Err(format!("{ours:?}; transient: the end of the file")),
                };
            }
            let position = (case["line"].as_u64(), case["column"].as_u64());
            if position != (Some(u64::from(*line)), Some(u64::from(*column))) {
                return Err(format!("{ours:?}; transient: at {position:?}"));
            }
            // Lark names a whole token (to the end of the line) or one character; strata the
            // text up to the next blank.
            let same = match found {
                Found::EndOfLine => theirs.starts_with('\n'),
                Found::Text(ours) => theirs.starts_with(ours.as_str()) || ours.starts_with(theirs),
                Found::EndOfFile => false,
            };
            if same {
                Ok(())
            } else {
                Err(format!("{ours:?}; transient found {theirs:?}"))
            }
        }
        other => Err(format!("transient: {other} {case}")),
    }
}

#[test]
fn strata_reads_every_imagefile_as_transient_does() {
    let cases = cases();
    assert!(cases.len() > 300, "{} cases", cases.len());
    let mut failures = Vec::new();
    for (name, case) in &cases {
        if let Some((_, expected)) = DEVIATIONS.iter().find(|(d, _)| d == name) {
            match Imagefile::parse("Imagefile", text(case, "input")) {
                Err(e) if expected(&e) => {}
                ours => failures.push(format!("{name}: {ours:?} is not the deviation expected")),
            }
            continue;
        }
        if let Err(why) = compare(case) {
            failures.push(format!("{name} {:?}: {why}", text(case, "input")));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_deviation_is_a_case_transient_reads() {
    let cases = cases();
    for (name, _) in DEVIATIONS {
        assert_eq!(cases[*name]["outcome"], "ok", "{name}");
    }
}

#[test]
fn every_rule_and_spec_error_is_checked_against_transient() {
    let messages: Vec<String> = cases()
        .values()
        .flat_map(|case| [&case["message"], &case["spec_error"]])
        .filter_map(|m| m.as_str().map(str::to_owned))
        .collect();
    let rules = [
        Rule::OneFrom,
        Rule::OneDisk,
        Rule::ScratchNeedsDisk,
        Rule::ScratchNeedsPartition,
        Rule::ScratchNeedsRoot,
        Rule::ScratchOnly,
        Rule::FromFirst,
        Rule::DiskAfterFrom,
        Rule::PartitionAfterDisk,
    ];
    let specs = [
        SpecError::Invalid { spec: "a,b".into() },
        SpecError::UnknownProtocol {
            protocol: "ftp".into(),
        },
    ];
    for text in rules
        .iter()
        .map(ToString::to_string)
        .chain(specs.iter().map(ToString::to_string))
        .chain(["Unsupported partition format 'btrfs'".to_owned()])
    {
        assert!(messages.contains(&text), "no golden case says {text:?}");
    }
}

#[test]
fn every_case_file_is_in_the_goldens_as_it_is() {
    let cases = cases();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/cases");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).expect("cases/") {
        let path = entry.expect("an entry").path();
        let Some(name) = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".Imagefile"))
        else {
            continue;
        };
        let input = std::fs::read_to_string(&path).expect("UTF-8");
        let case = cases
            .get(name)
            .unwrap_or_else(|| panic!("{name} is not in the goldens: run make-goldens.sh"));
        assert_eq!(
            text(case, "input"),
            input,
            "{name} changed: run make-goldens.sh"
        );
        seen += 1;
    }
    assert!(seen > 50, "{seen} case files");
}
