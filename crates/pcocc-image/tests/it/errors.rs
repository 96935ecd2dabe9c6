//! Errors: pcocc's texts, red only on a terminal, and strata's exit codes.

use crate::sandbox::Sandbox;
use crate::snap;

#[test]
fn errors() {
    let sb = Sandbox::new(&["user", "global"]);
    let raw = sb.raw_disk("disk.raw", 1 << 20);
    sb.ok(&["import", &raw, "c7"]);
    snap!("unknown_image", sb, &["show", "nope"]);
    snap!("unknown_image_in_repo", sb, &["show", "global:c7"]);
    snap!("unknown_revision", sb, &["show", "c7@9"]);
    snap!("bad_revision", sb, &["show", "c7@x"]);
    snap!("extra_colon", sb, &["show", "user:c7:x"]);
    snap!("unknown_repo", sb, &["list", "-R", "nowhere"]);
    snap!("bad_regex", sb, &["list", "("]);
    snap!("cache_list", sb, &["cache", "list"]);
    snap!("cache_delete", sb, &["cache", "delete", "c7"]);
    snap!("cache_gc", sb, &["cache", "gc", "-c"]);
    snap!("usage", sb, &["show"]);
}

#[test]
fn bad_config() {
    let sb = Sandbox::new(&["user"]);
    std::fs::write(sb.path("conf/user/repos.yaml"), "repos:\n  - name: x\n").expect("yaml");
    snap!("bad_config", sb, &["list"]);
}

#[test]
fn help() {
    let sb = Sandbox::new(&["user"]);
    snap!("help", sb, &["--help"]);
    snap!("import_help", sb, &["import", "--help"]);
    snap!("repo_help", sb, &["repo", "--help"]);
}

/// `-v` with standard error a pipe nobody reads (the reader gone before the first log line):
/// the command still runs to its end and exits 0. tracing-subscriber reported a failed log
/// write with `eprintln!`, which panics on a broken pipe: exit 101, the operation lost.
#[test]
fn logging_to_a_closed_pipe_never_aborts() {
    let sb = Sandbox::new(&["user"]);
    let raw = sb.raw_disk("disk.raw", 1 << 20);
    let (reader, writer) = std::io::pipe().expect("a pipe");
    drop(reader);
    let output = sb
        .process(&["-vv", "import", &raw, "c7"])
        .stderr(writer)
        .output()
        .expect("pcocc-image runs");
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let (reader, writer) = std::io::pipe().expect("a pipe");
    drop(reader);
    let output = sb
        .process(&["-v", "repo", "gc"])
        .stderr(writer)
        .output()
        .expect("pcocc-image runs");
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    sb.ok(&["show", "c7"]);
}
