//! The golden cases: `golden/cases.json` (inputs) and `golden/<tool>/<case>.txt` (what the
//! original tool printed for them, made by `golden/generate.py` and `golden/one_harness.rb`).

use std::path::PathBuf;

use serde_json::Value;

/// The directory of the golden files.
pub(crate) fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/it/golden")
}

/// `golden/cases.json`.
pub(crate) fn cases() -> Value {
    let text = std::fs::read_to_string(dir().join("cases.json")).expect("golden/cases.json");
    serde_json::from_str(&text).expect("golden/cases.json is JSON")
}

/// The expected output of `tool`'s `case`.
pub(crate) fn expected(tool: &str, case: &str) -> String {
    let path = dir().join(tool).join(format!("{case}.txt"));
    std::fs::read_to_string(&path).unwrap_or_else(|err| panic!("{}: {err}", path.display()))
}

/// The strings of a JSON array.
pub(crate) fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .map(|items| {
            items
                .iter()
                .map(|item| item.as_str().unwrap_or_default().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// The rows of a case: arrays of strings.
pub(crate) fn rows(value: &Value) -> Vec<Vec<String>> {
    value
        .as_array()
        .map(|rows| rows.iter().map(strings).collect())
        .unwrap_or_default()
}
