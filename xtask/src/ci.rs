//! `cargo xtask ci`: the single source of truth for CI. `.ci/run` calls it, and a developer runs
//! it before handing in. The steps run in [`STEPS`] order and the first failure stops the run with
//! a message naming the step and its command.

use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::{cmd, setup, tidy};

/// Options of `cargo xtask ci`.
#[derive(Default)]
pub(crate) struct Options {
    /// Skip `setup` (for quick local runs on a machine that has everything).
    pub(crate) skip_setup: bool,
}

/// What the steps share.
struct Ctx {
    options: Options,
    /// The tracked files' state before any step ran, to compare with at the end.
    tree_before: TreeState,
    /// Sums of cargo test's `test result:` lines.
    tests: TestCounts,
}

/// One step of the run: its name, and what it does.
type Step = (&'static str, fn(&mut Ctx) -> Result<()>);

/// Every step, in the order they run.
const STEPS: [Step; 9] = [
    ("setup", setup_step),
    ("fmt", fmt),
    ("tidy", tidy_step),
    ("clippy", clippy),
    ("test", test),
    ("demo", demo_step),
    ("doc", doc),
    ("deny", deny),
    ("git", git_clean),
];

/// Runs every step in order; stops at the first failure.
pub(crate) fn run(options: Options) -> Result<()> {
    let root = crate::project_root();
    std::env::set_current_dir(&root)
        .with_context(|| format!("cannot change to the repository root {}", root.display()))?;
    let mut ctx = Ctx {
        options,
        tree_before: TreeState::read()
            .context("ci runs in a git checkout: its last step compares tracked files")?,
        tests: TestCounts::default(),
    };
    let mut timings: Vec<(&str, Option<Duration>)> = Vec::new();
    let total = Instant::now();
    for (i, (name, step)) in STEPS.iter().enumerate() {
        let number = i + 1;
        eprintln!("\n==> ci step {number}/{} {name}", STEPS.len());
        if *name == "setup" && ctx.options.skip_setup {
            eprintln!("skipped (--skip-setup)");
            timings.push((name, None));
            continue;
        }
        let started = Instant::now();
        if let Err(err) = step(&mut ctx) {
            print_timings(&timings);
            return Err(err.context(format!(
                "ci failed at step {number}/{} `{name}` (after {:.1?})",
                STEPS.len(),
                started.elapsed()
            )));
        }
        timings.push((name, Some(started.elapsed())));
    }
    print_timings(&timings);
    eprintln!(
        "\nci: all {} steps passed in {:.1?}",
        STEPS.len(),
        total.elapsed()
    );
    // A closing line in the plain form CI recognises, after the later steps' output.
    println!("ci: {}", ctx.tests.summary());
    Ok(())
}

fn print_timings(timings: &[(&str, Option<Duration>)]) {
    if timings.is_empty() {
        return;
    }
    eprintln!("\nci step timings:");
    for (name, elapsed) in timings {
        match elapsed {
            Some(elapsed) => eprintln!("  {name:<8} {:>7.1}s", elapsed.as_secs_f64()),
            None => eprintln!("  {name:<8} skipped"),
        }
    }
}

fn setup_step(_: &mut Ctx) -> Result<()> {
    setup::run()
}

fn fmt(_: &mut Ctx) -> Result<()> {
    cmd::run(cmd::cargo().args(["fmt", "--all", "--", "--check"]))
        .context("code is not formatted: run `cargo fmt --all`")
}

fn tidy_step(_: &mut Ctx) -> Result<()> {
    eprintln!(
        "checking the tidy rules of xtask/src/tidy.rs: `//!` first lines, clap only in front \
         ends, no I/O in strata-model, the dependency direction, short main.rs files"
    );
    tidy::run()
}

fn clippy(_: &mut Ctx) -> Result<()> {
    cmd::run(cmd::cargo().args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--locked",
        "--",
        "-D",
        "warnings",
    ]))
}

fn test(ctx: &mut Ctx) -> Result<()> {
    let tests = &mut ctx.tests;
    cmd::run_with_lines(
        cmd::cargo().args(["test", "--workspace", "--locked"]),
        |line| {
            if let Some(counts) = TestCounts::parse(line) {
                tests.add(counts);
            }
        },
    )?;
    if tests.passed + tests.failed == 0 {
        bail!("cargo test ran no test");
    }
    Ok(())
}

/// The README's first command must keep working: run it.
fn demo_step(_: &mut Ctx) -> Result<()> {
    crate::demo::run()
}

fn doc(_: &mut Ctx) -> Result<()> {
    cmd::run(cmd::cargo().env("RUSTDOCFLAGS", "-D warnings").args([
        "doc",
        "--workspace",
        "--no-deps",
        "--locked",
    ]))
}

fn deny(_: &mut Ctx) -> Result<()> {
    // Advisories are left out: they need the advisory database from the network (deny.toml).
    cmd::run(cmd::cargo().args(["deny", "--locked", "check", "licenses", "bans", "sources"]))
}

fn git_clean(ctx: &mut Ctx) -> Result<()> {
    let after = TreeState::read()?;
    if after != ctx.tree_before {
        bail!(
            "the build modified tracked files; `git status --porcelain --untracked-files=no` was:\n\
             {}\nand is now:\n{}",
            ctx.tree_before.status_or_clean(),
            after.status_or_clean()
        );
    }
    if after.status.is_empty() {
        eprintln!("no tracked file is modified");
        return Ok(());
    }
    if std::env::var("CI").is_ok_and(|value| value == "true" || value == "1") {
        bail!(
            "CI must run on a clean checkout, but tracked files differ from HEAD:\n{}",
            after.status.trim_end()
        );
    }
    eprintln!(
        "the build left tracked files as they were; they differ from HEAD since before ci \
         started (fails under CI=true):\n{}",
        after.status.trim_end()
    );
    Ok(())
}

/// What git says about tracked files: the short status and the work tree's diff to the index
/// (so that a file already modified and modified again by the build is seen).
#[derive(Debug, PartialEq, Eq)]
struct TreeState {
    status: String,
    diff: Vec<u8>,
}

impl TreeState {
    fn read() -> Result<TreeState> {
        let status = git(&["status", "--porcelain", "--untracked-files=no"])?;
        let diff = git(&["diff", "--no-ext-diff", "--binary"])?;
        Ok(TreeState {
            status: String::from_utf8_lossy(&status).into_owned(),
            diff,
        })
    }

    /// The status, without its last newline, or `(clean)`.
    fn status_or_clean(&self) -> &str {
        if self.status.is_empty() {
            "  (clean)"
        } else {
            self.status.trim_end()
        }
    }
}

/// Runs `git ARGS` quietly and returns its stdout; fails if git fails.
fn git(args: &[&str]) -> Result<Vec<u8>> {
    let mut git = Command::new("git");
    git.args(args);
    let out = cmd::probe(&mut git)
        .with_context(|| format!("cannot run `{}`: is git installed?", cmd::display(&git)))?;
    if !out.status.success() {
        bail!(
            "`{}` failed ({}): {}",
            cmd::display(&git),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(out.stdout)
}

/// Test counts from cargo test's `test result: ok. 3 passed; 0 failed; 1 ignored; ...` lines.
#[derive(Debug, Default, PartialEq, Eq, Clone, Copy)]
struct TestCounts {
    passed: u64,
    failed: u64,
    ignored: u64,
}

impl TestCounts {
    fn parse(line: &str) -> Option<TestCounts> {
        let rest = line.trim().strip_prefix("test result: ")?;
        let (_, counts) = rest.split_once(". ")?;
        let mut result = TestCounts::default();
        for part in counts.split("; ") {
            let (number, what) = part.split_once(' ')?;
            let Ok(number) = number.parse::<u64>() else {
                continue;
            };
            match what {
                "passed" => result.passed = number,
                "failed" => result.failed = number,
                "ignored" => result.ignored = number,
                _ => {}
            }
        }
        Some(result)
    }

    fn add(&mut self, other: TestCounts) {
        self.passed += other.passed;
        self.failed += other.failed;
        self.ignored += other.ignored;
    }

    /// `N passed, N failed, N skipped`: the plain closing line CI reads.
    fn summary(&self) -> String {
        format!(
            "{} passed, {} failed, {} skipped",
            self.passed, self.failed, self.ignored
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_cargo_test_result_lines() {
        let line = "test result: ok. 12 passed; 0 failed; 2 ignored; 0 measured; 0 filtered out; \
                    finished in 0.03s";
        assert_eq!(
            TestCounts::parse(line),
            Some(TestCounts {
                passed: 12,
                failed: 0,
                ignored: 2
            })
        );
        let line = "test result: FAILED. 3 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out";
        assert_eq!(
            TestCounts::parse(line),
            Some(TestCounts {
                passed: 3,
                failed: 1,
                ignored: 0
            })
        );
        assert_eq!(TestCounts::parse("running 3 tests"), None);
    }

    #[test]
    fn summary_is_the_plain_closing_line() {
        let mut total = TestCounts::default();
        total.add(TestCounts {
            passed: 2,
            failed: 0,
            ignored: 1,
        });
        total.add(TestCounts {
            passed: 3,
            failed: 0,
            ignored: 0,
        });
        assert_eq!(total.summary(), "5 passed, 0 failed, 1 skipped");
    }

    #[test]
    fn steps_run_in_the_documented_order() {
        let names: Vec<&str> = STEPS.iter().map(|(name, _)| *name).collect();
        assert_eq!(
            names,
            [
                "setup", "fmt", "tidy", "clippy", "test", "demo", "doc", "deny", "git"
            ]
        );
    }
}
