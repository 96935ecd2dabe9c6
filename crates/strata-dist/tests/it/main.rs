//! Integration tests of strata-dist: the files [`strata_dist::write_all`] writes for every front
//! end, loaded by the real peers (`man -l`, bash), and every subcommand found in them.

mod completion;
mod man;

use std::path::{Path, PathBuf};

use strata_dist::FrontEnd;

/// A fixed date for the pages.
const DATE: &str = "2026-01-02";

/// Everything written for every front end, under a temporary prefix removed when dropped.
struct Dist {
    prefix: tempfile::TempDir,
    written: Vec<PathBuf>,
}

impl Dist {
    fn write() -> Dist {
        let prefix = tempfile::tempdir().expect("temporary prefix");
        let written = strata_dist::write_all(prefix.path(), DATE).expect("write_all");
        Dist { prefix, written }
    }

    /// `<prefix>/<rel>`.
    fn path(&self, rel: &str) -> PathBuf {
        self.prefix.path().join(rel)
    }
}

/// Every command path of a front end, depth first, parents first: `[]`, `[list]`, ...,
/// `[repo]`, `[repo, gc]`, ... (hidden ones left out, as from help).
fn command_paths(cmd: &clap::Command) -> Vec<Vec<String>> {
    let mut paths = vec![Vec::new()];
    for sub in cmd.get_subcommands().filter(|sub| !sub.is_hide_set()) {
        for mut path in command_paths(sub) {
            path.insert(0, sub.get_name().to_owned());
            paths.push(path);
        }
    }
    paths
}

/// The command at `path` under `cmd`.
fn find<'a>(cmd: &'a clap::Command, path: &[String]) -> &'a clap::Command {
    path.iter().fold(cmd, |cmd, name| {
        cmd.find_subcommand(name).expect("a path of command_paths")
    })
}

/// `bin` and the words of `path`, as a user types them.
fn words(front_end: &FrontEnd, path: &[String]) -> Vec<String> {
    std::iter::once(front_end.bin.to_owned())
        .chain(path.iter().cloned())
        .collect()
}

/// Runs `command` and returns its stdout, failing with its stderr unless it exits with 0.
fn stdout_of(command: &mut std::process::Command, what: &Path) -> (String, String) {
    let output = command
        .stdin(std::process::Stdio::null())
        .output()
        .expect("the peer starts");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(
        output.status.success(),
        "{command:?} on {}: {}\n{stderr}",
        what.display(),
        output.status
    );
    (stdout, stderr)
}

/// Every file is where its kind goes under the prefix, one page per command path and one
/// script per shell and front end, and nothing else.
#[test]
fn writes_an_install_prefix_layout() {
    let dist = Dist::write();
    let mut expected = Vec::new();
    for front_end in strata_dist::FRONT_ENDS {
        for path in command_paths(&(front_end.command)()) {
            let page = words(front_end, &path).join("-");
            expected.push(dist.path(&format!("share/man/man1/{page}.1")));
        }
        expected.push(dist.path(&format!(
            "share/bash-completion/completions/{}",
            front_end.bin
        )));
        expected.push(dist.path(&format!("share/zsh/site-functions/_{}", front_end.bin)));
        expected.push(dist.path(&format!(
            "share/fish/vendor_completions.d/{}.fish",
            front_end.bin
        )));
    }
    let mut written = dist.written.clone();
    written.sort();
    expected.sort();
    assert_eq!(written, expected);
    assert!(
        written.contains(&dist.path("share/man/man1/pcocc-image-repo-gc.1")),
        "{written:?}"
    );
    for file in &written {
        assert!(file.is_file(), "{}", file.display());
    }
}

/// The binaries are copied from cargo's directory into `bin/`, still executable; a missing one
/// is an error that names it.
#[test]
fn copies_every_binary_executable() {
    use std::os::unix::fs::PermissionsExt;

    let release = tempfile::tempdir().expect("bin dir");
    let prefix = tempfile::tempdir().expect("prefix");
    let missing = strata_dist::copy_binaries(release.path(), prefix.path());
    assert!(
        matches!(&missing, Err(strata_dist::DistError::Copy { from, .. }) if from.starts_with(release.path())),
        "{missing:?}"
    );
    for front_end in strata_dist::FRONT_ENDS {
        let bin = release.path().join(front_end.bin);
        std::fs::write(&bin, "#!/bin/sh\n").expect("binary");
        std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).expect("mode");
    }
    let copied = strata_dist::copy_binaries(release.path(), prefix.path()).expect("copied");
    assert_eq!(copied.len(), strata_dist::FRONT_ENDS.len());
    for (copy, front_end) in copied.iter().zip(strata_dist::FRONT_ENDS) {
        assert_eq!(copy, &prefix.path().join("bin").join(front_end.bin));
        let mode = std::fs::metadata(copy).expect("copy").permissions().mode();
        assert_eq!(mode & 0o777, 0o755, "{}", copy.display());
    }
}
