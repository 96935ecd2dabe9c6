//! `--json`: every document (`list`, `show`, `repo list`) and errors as JSON, one snapshot each,
//! as docs/json.md describes them; every JSON error parses, and its `exit_code` is the
//! process's.

use serde_json::Value;

use crate::oci_fixture::{make_layout, sample_layers};
use crate::sandbox::Sandbox;
use crate::snap;

/// `user` holds a VM image of two revisions, `global` a container image; records settled.
fn vm_and_container() -> Sandbox {
    let sb = Sandbox::new(&["user", "global"]);
    let raw = sb.raw_disk("disk.raw", 1 << 20);
    sb.ok(&["import", &raw, "c7"]);
    sb.ok(&["resize", "c7", "2M"]);
    let layout = sb.path("files/layout");
    make_layout(&layout, "v1", &sample_layers());
    sb.ok(&[
        "import",
        &format!("oci:{}:v1", layout.display()),
        "global:alpine",
    ]);
    sb.settle();
    sb
}

#[test]
fn documents() {
    let sb = vm_and_container();
    snap!("list", sb, &["list", "--json"]);
    snap!("list_none", sb, &["list", "--json", "nothing-matches"]);
    snap!("show_vm", sb, &["show", "--json", "c7@0"]);
    snap!("show_container", sb, &["show", "--json", "alpine"]);
    snap!("repo_list", sb, &["repo", "list", "--json"]);
}

/// Without any repos.yaml, the default repository, `scope` `default`.
#[test]
fn repo_list_without_configuration() {
    let sb = Sandbox::new(&[]);
    std::fs::remove_file(sb.path("conf/user/repos.yaml")).expect("no repos.yaml");
    snap!("repo_list_default", sb, &["repo", "list", "--json"]);
}

#[test]
fn errors() {
    let sb = vm_and_container();
    snap!("error_not_found", sb, &["show", "--json", "nope"]);
    snap!("error_invalid_request", sb, &["show", "--json", "c7@x"]);
    snap!(
        "error_unknown_repo",
        sb,
        &["list", "--json", "-R", "nowhere"]
    );
    snap!("error_usage_missing", sb, &["show", "--json"]);
    snap!("error_usage_unknown", sb, &["list", "--json", "--bogus"]);
    // The same errors without --json are pcocc's text (errors.rs pins them).
    let text = sb.run(&["show", "nope"]);
    assert!(
        text.ends_with("--- stderr\nObject nope not found in configured repositories\n"),
        "{text}"
    );
}

#[test]
fn configuration_error() {
    let sb = Sandbox::new(&["user"]);
    std::fs::write(sb.path("conf/user/repos.yaml"), "repos:\n  - name: x\n").expect("yaml");
    snap!("error_config", sb, &["list", "--json"]);
}

/// A repository that cannot be listed: the others are printed as the document on standard
/// output, then one JSON error line per failed repository on standard error; the last one's
/// code is the exit code.
#[test]
fn a_broken_repository_among_others() {
    let sb = Sandbox::new(&["user", "global"]);
    let raw = sb.raw_disk("disk.raw", 1 << 20);
    sb.ok(&["import", &raw, "user:ubuntu"]);
    sb.settle();
    let file = sb.path("conf/user/repos.yaml");
    let mut yaml = std::fs::read_to_string(&file).expect("repos.yaml");
    for (name, parent) in [("broken", "missing-parent"), ("cracked", "gone")] {
        yaml.push_str(&format!(
            "  - name: {name}\n    path: \"{}\"\n",
            sb.path(&format!("{parent}/{name}")).display()
        ));
    }
    std::fs::write(&file, yaml).expect("repos.yaml");
    snap!("error_partial_list", sb, &["list", "--json"]);
}

/// Every JSON error is one line of JSON on standard error, nothing on standard output, with the
/// process's exit code and the word of its class.
#[test]
fn json_errors_parse_and_carry_the_exit_code() {
    let sb = vm_and_container();
    for (args, code, kind) in [
        (&["show", "--json", "nope"][..], 66, "not-found"),
        (&["show", "--json", "c7@x"][..], 64, "invalid-request"),
        (&["show", "--json"][..], 2, "usage"),
        (&["repo", "list", "--json", "--nope"][..], 2, "usage"),
    ] {
        let out = sb.cmd().args(args).output().expect("run");
        assert_eq!(out.status.code(), Some(code), "{args:?}");
        assert!(out.stdout.is_empty(), "{args:?}");
        let stderr = String::from_utf8(out.stderr).expect("UTF-8");
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
