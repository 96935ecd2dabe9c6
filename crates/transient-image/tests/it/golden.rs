//! transient-image against the real transient's output: the golden files of
//! `tests/golden/*.txt`, made by `tests/golden/make-goldens.sh` with transient 0.25 on the
//! fixture of `tests/golden/fixture.sh`, which this test makes again (it needs qemu-img) and
//! runs transient-image on. Standard output and standard error must be the same bytes (dates
//! of warning lines aside); exit codes are transient's 1 for every error and strata's sysexits
//! codes here (`docs/exit-codes.md`).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::sandbox::DATE_MARK;

/// One golden file: its name and, per command, the exit code transient-image gives.
struct Case {
    name: &'static str,
    codes: &'static [i32],
    /// Whether make-goldens.sh empties the backend first (its files, not its directories).
    empty: bool,
}

/// Every golden file whose commands transient-image answers exactly as transient does.
const SAME: [Case; 6] = [
    Case {
        name: "ls",
        codes: &[0],
        empty: false,
    },
    Case {
        name: "ls-empty",
        codes: &[0],
        empty: true,
    },
    Case {
        name: "rm-missing",
        codes: &[66],
        empty: false,
    },
    Case {
        name: "rm-in-use",
        codes: &[75, 75],
        empty: false,
    },
    Case {
        name: "rm-force",
        codes: &[0, 0],
        empty: false,
    },
    Case {
        name: "rm-several",
        codes: &[0, 0],
        empty: false,
    },
];

/// `tests/golden/`.
fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

/// One command of a golden file.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Run {
    /// The arguments after `transient image`.
    args: Vec<String>,
    code: i32,
    stdout: String,
    stderr: String,
}

/// The commands of golden file `name`.
fn golden(name: &str) -> Vec<Run> {
    let text = std::fs::read_to_string(golden_dir().join(format!("{name}.txt"))).unwrap();
    let mut runs = Vec::new();
    for block in text.split("$ transient image ").skip(1) {
        let (line, rest) = block.split_once('\n').unwrap();
        let (code, rest) = rest.split_once('\n').unwrap();
        let rest = rest.strip_prefix("--- stdout\n").unwrap();
        let (stdout, stderr) = rest.split_once("--- stderr\n").unwrap();
        runs.push(Run {
            args: split_args(line),
            code: code.strip_prefix("exit: ").unwrap().parse().unwrap(),
            stdout: stdout.to_owned(),
            stderr: stderr.to_owned(),
        });
    }
    assert!(!runs.is_empty(), "{name}.txt has no command");
    runs
}

/// The arguments of a golden command line: separated by spaces, `'...'` quoting one with
/// spaces.
fn split_args(line: &str) -> Vec<String> {
    let mut args = Vec::new();
    let mut rest = line;
    while !rest.is_empty() {
        if let Some(quoted) = rest.strip_prefix('\'') {
            let (arg, after) = quoted.split_once('\'').unwrap();
            args.push(arg.to_owned());
            rest = after.trim_start();
        } else {
            let (arg, after) = rest.split_once(' ').unwrap_or((rest, ""));
            args.push(arg.to_owned());
            rest = after;
        }
    }
    args
}

/// `text` with the date of each warning line replaced as make-goldens.sh replaces it.
fn normalise_dates(text: &str) -> String {
    let shape = "0000-00-00 00:00:00:";
    text.split_inclusive('\n')
        .map(|line| {
            let dated = line.len() >= shape.len()
                && line.bytes().zip(shape.bytes()).all(|(c, s)| {
                    if s == b'0' {
                        c.is_ascii_digit()
                    } else {
                        c == s
                    }
                });
            if dated {
                format!("{DATE_MARK}{}", &line[shape.len()..])
            } else {
                line.to_owned()
            }
        })
        .collect()
}

/// A fresh fixture in a temporary directory.
fn fixture() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let status = Command::new("sh")
        .arg(golden_dir().join("fixture.sh"))
        .arg(dir.path().join("fx"))
        .status()
        .unwrap();
    assert!(status.success(), "fixture.sh failed");
    dir
}

/// Runs transient-image with `args` on the fixture in `dir`, as make-goldens.sh runs transient.
fn run(dir: &Path, args: &[String]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_transient-image"))
        .env_clear()
        .env("HOME", dir)
        .env("TZ", "UTC")
        .args(args)
        .arg("--image-backend")
        .arg(dir.join("fx/backend"))
        .arg("--vmstore")
        .arg(dir.join("fx/vmstore"))
        .output()
        .unwrap();
    Run {
        args: args.to_vec(),
        code: out.status.code().unwrap(),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: normalise_dates(&String::from_utf8(out.stderr).unwrap()),
    }
}

/// Whether the fixture can be made here (under CI it must).
fn can_make_fixture() -> bool {
    strata_testkit::have("the transient goldens", &["qemu-img"])
}

#[test]
fn outputs_are_transients() {
    if !can_make_fixture() {
        return;
    }
    for case in SAME {
        let dir = fixture();
        if case.empty {
            for entry in std::fs::read_dir(dir.path().join("fx/backend")).unwrap() {
                let path = entry.unwrap().path();
                if path.is_file() {
                    std::fs::remove_file(path).unwrap();
                }
            }
        }
        let runs = golden(case.name);
        assert_eq!(runs.len(), case.codes.len(), "{}", case.name);
        for (expected, code) in runs.iter().zip(case.codes) {
            let ours = run(dir.path(), &expected.args);
            let what = format!("{}: transient image {:?}", case.name, expected.args);
            assert_eq!(ours.stdout, expected.stdout, "{what}: stdout");
            assert_eq!(ours.stderr, expected.stderr, "{what}: stderr");
            assert_eq!(ours.code, *code, "{what}: exit code");
            assert_eq!(
                expected.code,
                i32::from(*code != 0),
                "{what}: transient's code"
            );
        }
    }
}

/// transient removes the names before a missing one and then fails; transient-image checks
/// every name first and removes none: the same message, and the backend as it was.
#[test]
fn a_missing_name_removes_nothing_unlike_transient() {
    if !can_make_fixture() {
        return;
    }
    let dir = fixture();
    let runs = golden("rm-missing-after-one");
    let [rm, ls] = runs.as_slice() else {
        panic!("rm then ls")
    };
    let ours = run(dir.path(), &rm.args);
    assert_eq!((ours.code, rm.code), (66, 1));
    assert_eq!(
        (ours.stdout.as_str(), ours.stderr.as_str()),
        (rm.stdout.as_str(), rm.stderr.as_str())
    );
    let ours = run(dir.path(), &ls.args);
    let untouched = &golden("ls")[0];
    assert_eq!(ours.stdout, untouched.stdout);
    let tiny = |text: &str| text.lines().any(|l| l.starts_with(" tiny "));
    assert!(tiny(&ours.stdout) && !tiny(&ls.stdout), "{}", ls.stdout);
}

#[test]
fn golden_command_lines_split() {
    assert_eq!(
        split_args("rm tiny 'with space' .hidden"),
        ["rm", "tiny", "with space", ".hidden"]
    );
    assert_eq!(split_args("ls"), ["ls"]);
    assert_eq!(
        normalise_dates("2026-12-07 01:13:48:WARNING:x\nkept 2026-12-07\n"),
        format!("{DATE_MARK}WARNING:x\nkept 2026-12-07\n")
    );
}
