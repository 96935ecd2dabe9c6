//! Peer tools: how a test decides to skip (developer's machine) or fail (`CI=true`) when a
//! reference tool it checks strata against is missing.
//!
//! Tests check strata against the real tools of the field (qemu-img, skopeo, umoci, a registry,
//! mksquashfs...). On a developer's machine a test whose peer is missing skips that check and
//! says so; under `CI=true` (or `1`), where `cargo xtask setup` has installed every peer, a
//! missing peer fails the test instead, so that a missing install step cannot pass as a skip.

use std::process::{Command, Stdio};

/// Whether `program --version` runs and succeeds.
pub fn runs(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .stdin(Stdio::null())
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Whether CI is running (`CI=true` or `CI=1`).
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// What `test` does about its peer `tool`: `true` when `present`; otherwise `false` after
/// saying on stderr that the check is skipped, or, under CI, a panic naming the missing peer.
///
/// # Panics
/// Under CI when the peer is not present.
#[allow(clippy::print_stderr, reason = "a skipped check is reported on stderr")]
pub fn peer(test: &str, tool: &str, present: bool) -> bool {
    if present {
        return true;
    }
    assert!(
        !in_ci(),
        "{test}: {tool} is not installed, and CI=true requires every peer \
         (`cargo xtask setup` installs it)"
    );
    eprintln!("skipping {test}: {tool} is not installed");
    false
}

/// [`peer`] for programs: whether every one of `tools` runs (`--version`).
pub fn have(test: &str, tools: &[&str]) -> bool {
    tools.iter().all(|tool| peer(test, tool, runs(tool)))
}
