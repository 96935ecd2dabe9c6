//! Usage: `--help` of every command, usage errors (clap's exit code 2), `--version`.

use crate::sandbox::Sandbox;
use crate::snap;

#[test]
fn help_and_usage_errors() {
    let sb = Sandbox::new();
    snap!("help", sb, &["--help"]);
    snap!("ls_help", sb, &["ls", "--help"]);
    snap!("rm_help", sb, &["rm", "--help"]);
    snap!("no_command", sb, &[]);
    snap!("rm_without_name", sb, &["rm"]);
    snap!("build", sb, &["build", "--help"]);
    let version = sb.cmd().arg("--version").output().unwrap();
    assert!(version.status.success());
    assert!(String::from_utf8_lossy(&version.stdout).starts_with("transient-image "));
}
