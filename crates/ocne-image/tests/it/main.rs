//! Integration tests of `ocne-image`: the real binary (and, for the login retry, the library
//! in-process) against temporary files, a real `docker-registry` and skopeo.

#![allow(
    clippy::unwrap_used,
    reason = "test helpers outside #[test] functions panic on failure by design"
)]

mod capability;
mod create;
mod info;

mod messages;
mod ostree;
mod ostree_archive;
mod sed_oracle;
mod tarball;

use std::path::Path;
use std::process::Output;

use assert_cmd::Command;

/// The binary with a clean environment: `HOME` in `home` (so `~/.oci/config` is the test's),
/// no registry auth file of the developer's.
pub fn ocne(home: &Path) -> Command {
    let mut cmd = Command::cargo_bin("ocne-image").unwrap();
    cmd.env_clear()
        .env("HOME", home)
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("TZ", "UTC")
        .env("REGISTRY_AUTH_FILE", home.join("no-auth.json"));
    cmd
}

/// Runs a peer tool and returns its standard output; panics with its stderr if it fails.
pub fn sh(cmd: &mut std::process::Command) -> Vec<u8> {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Standard output and standard error as text.
pub fn texts(output: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Whether `line` is logrus's key=value line at `level` for `msg` (any RFC 3339 time).
pub fn is_logrus(line: &str, level: &str, msg: &str) -> bool {
    let Some(rest) = line.strip_prefix("time=\"") else {
        return false;
    };
    let Some((time, rest)) = rest.split_once("\" ") else {
        return false;
    };
    let time_ok = time.len() == 20
        && time.ends_with('Z')
        && time.as_bytes()[10] == b'T'
        && time[..19].parse::<jiff::civil::DateTime>().is_ok();
    let quoted = format!("\"{}\"", msg.replace('\\', "\\\\").replace('"', "\\\""));
    time_ok && rest == format!("level={level} msg={quoted}")
}
