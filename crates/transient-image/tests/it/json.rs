//! `--json` errors: with `--json` on the command line, an error is one JSON line on standard
//! error (kind, message, exit code), a usage error included, as docs/json.md describes them;
//! every one parses, and its `exit_code` is the process's.

use serde_json::Value;

use crate::sandbox::Sandbox;
use crate::snap;

/// A backend with one good image and two that cannot be read.
fn two_unreadable() -> Sandbox {
    let sb = Sandbox::new();
    sb.image("good", 1 << 30);
    std::fs::write(sb.backend().join("broken"), b"this is not a qcow2 image").unwrap();
    std::fs::write(sb.backend().join("empty"), b"").unwrap();
    sb
}

/// A file where the backend should be: it cannot be created.
fn backend_is_a_file(sb: &Sandbox) -> String {
    let file = sb.path("not-a-dir");
    std::fs::write(&file, b"").unwrap();
    file.display().to_string()
}

#[test]
fn errors() {
    let sb = Sandbox::new();
    snap!("error_usage_unknown", sb, &["ls", "--json", "--bogus"]);
    snap!("error_usage_rm", sb, &["rm", "--json", "x"]);
    let file = backend_is_a_file(&sb);
    snap!(
        "error_backend",
        sb,
        &["ls", "--json", "--image-backend", &file]
    );
    // The same error without --json is the bare text.
    let text = sb.run(&["ls", "--image-backend", &file]);
    assert!(!text.contains("{\"error\""), "{text}");
}

#[test]
fn logging_error() {
    let sb = Sandbox::new();
    let filters = sb.filters();
    let filters: Vec<(&str, &str)> = filters
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    let out = sb
        .cmd()
        .env("RUST_LOG", "=[")
        .args(["ls", "--json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(78));
    insta::with_settings!({ filters => filters }, {
        insta::assert_snapshot!("error_config", String::from_utf8_lossy(&out.stderr));
    });
}

/// Unreadable images under `--json`: the document on standard output (each image with its
/// `error`), then one JSON error line per unreadable image on standard error; the last one's
/// code is the exit code. No warning lines, no count. (`ls.rs`'s `unreadable_json` snapshot
/// shows it.)
#[test]
fn unreadable_images_are_one_error_line_each() {
    let sb = two_unreadable();
    let out = sb.cmd().args(["ls", "--json"]).output().unwrap();
    assert_eq!(out.status.code(), Some(65));
    let document: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(document.as_array().map(Vec::len), Some(3));
    let stderr = String::from_utf8(out.stderr).unwrap();
    let lines: Vec<Value> = stderr
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(lines.len(), 2, "{stderr}");
    for (line, name) in lines.iter().zip(["broken", "empty"]) {
        assert_eq!(line["error"]["kind"], "invalid-data");
        assert_eq!(line["error"]["exit_code"], 65);
        let message = line["error"]["message"].as_str().unwrap();
        assert!(
            message.starts_with(&format!("Unable to read image '{name}': ")),
            "{message}"
        );
    }
}

/// Every JSON error is one line of JSON on standard error, nothing on standard output, with the
/// process's exit code and the word of its class.
#[test]
fn json_errors_parse_and_carry_the_exit_code() {
    let sb = Sandbox::new();
    let file = backend_is_a_file(&sb);
    for (args, code, kind) in [
        (&["ls", "--json", "--bogus"][..], 2, "usage"),
        (&["ls", "--json", "extra"][..], 2, "usage"),
        (&["rm", "--json", "x"][..], 2, "usage"),
        (&["--json"][..], 2, "usage"),
        (&["ls", "--json", "--image-backend", &file][..], 74, "io"),
    ] {
        let out = sb.cmd().args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(code), "{args:?}");
        assert!(out.stdout.is_empty(), "{args:?}");
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
        let value: Value = serde_json::from_str(&stderr).expect("one JSON object");
        assert_eq!(value["error"]["exit_code"], code, "{args:?}");
        assert_eq!(value["error"]["kind"], kind, "{args:?}");
        assert!(
            value["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty())
        );
    }
}
