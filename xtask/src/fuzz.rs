//! `cargo xtask fuzz [--time SECONDS] [TARGET...]`: runs each fuzz target of `fuzz/` (its own
//! cargo workspace) with cargo-fuzz on the nightly toolchain for a given time, seeded with the
//! committed test fixtures and Imagefile cases. The targets call the bodies of
//! `strata_disk::fuzzing`, `strata_oci::fuzzing`, `strata_model::fuzzing` and
//! `strata_build::imagefile::fuzzing`, which `fuzz/Cargo.toml` turns on with the crates'
//! `fuzzing` feature. A crash is copied into `fuzz/regressions/<target>/`, where strata-testkit's `fuzz_replay` test
//! runs it through the same body, and fails the command.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::cmd;

/// Default time per target, in seconds.
const DEFAULT_SECONDS: u64 = 60;

/// libFuzzer's memory limits: a parser that allocates more than this on any input is a bug
/// (every allocation sized by input is bounded before it is made).
const MALLOC_LIMIT_MB: &str = "512";
const RSS_LIMIT_MB: &str = "1024";

pub(crate) fn run(args: &[&str]) -> Result<()> {
    let (seconds, mut targets) = parse_args(args)?;
    let root = crate::project_root();
    let fuzz_dir = root.join("fuzz");
    ensure_cargo_fuzz()?;
    let available = list_targets(&fuzz_dir)?;
    if targets.is_empty() {
        targets = available.clone();
    }
    for target in &targets {
        if !available.contains(target) {
            bail!(
                "unknown fuzz target {target:?}; available: {}",
                available.join(", ")
            );
        }
    }
    let mut failed = Vec::new();
    for target in &targets {
        if !run_target(&fuzz_dir, target, seconds)? {
            failed.push(target.clone());
        }
    }
    if failed.is_empty() {
        println!(
            "fuzz: {} targets ran {seconds} s each without a crash",
            targets.len()
        );
        Ok(())
    } else {
        bail!(
            "fuzz targets found crashes: {} (inputs saved under fuzz/regressions/)",
            failed.join(", ")
        )
    }
}

fn parse_args(args: &[&str]) -> Result<(u64, Vec<String>)> {
    let mut seconds = DEFAULT_SECONDS;
    let mut targets = Vec::new();
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        match *arg {
            "--time" => {
                let value = rest.next().context("--time needs a number of seconds")?;
                seconds = value
                    .parse()
                    .with_context(|| format!("--time {value:?}: not a number of seconds"))?;
            }
            flag if flag.starts_with('-') => bail!("unknown option {flag:?} for `fuzz`"),
            target => targets.push(target.to_owned()),
        }
    }
    Ok((seconds, targets))
}

/// `cargo` of the nightly toolchain, through rustup: `cargo +nightly` works only through the
/// rustup proxy, and xtask runs under the pinned toolchain's own cargo (`$CARGO`).
fn nightly_cargo() -> Command {
    let mut command = Command::new("rustup");
    command.args(["run", "nightly", "cargo"]);
    command
}

/// Installs cargo-fuzz when `cargo +nightly fuzz` does not answer.
fn ensure_cargo_fuzz() -> Result<()> {
    let mut probe = nightly_cargo();
    probe.args(["fuzz", "--version"]);
    if cmd::probe(&mut probe).is_some_and(|out| out.status.success()) {
        return Ok(());
    }
    cmd::run(cmd::cargo().args(["install", "--locked", "cargo-fuzz"]))
}

fn list_targets(fuzz_dir: &Path) -> Result<Vec<String>> {
    let mut list = nightly_cargo();
    list.args(["fuzz", "list"]).current_dir(fuzz_dir);
    let out = cmd::probe(&mut list).context("cannot run `cargo +nightly fuzz list`")?;
    if !out.status.success() {
        bail!(
            "`cargo +nightly fuzz list` failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect())
}

/// Runs one target; returns whether it finished without a crash.
fn run_target(fuzz_dir: &Path, target: &str, seconds: u64) -> Result<bool> {
    let corpus = fuzz_dir.join("corpus").join(target);
    std::fs::create_dir_all(&corpus)
        .with_context(|| format!("cannot create {}", corpus.display()))?;
    let artifacts = fuzz_dir.join("artifacts").join(target);
    std::fs::create_dir_all(&artifacts)
        .with_context(|| format!("cannot create {}", artifacts.display()))?;
    let mut run = nightly_cargo();
    run.args(["fuzz", "run", "-O", target])
        .arg(&corpus)
        .args(seed_dirs(fuzz_dir))
        .arg("--")
        .arg(format!("-max_total_time={seconds}"))
        .arg(format!("-malloc_limit_mb={MALLOC_LIMIT_MB}"))
        .arg(format!("-rss_limit_mb={RSS_LIMIT_MB}"))
        .arg(format!("-artifact_prefix={}/", artifacts.display()))
        .current_dir(fuzz_dir);
    if cmd::run(&mut run).is_ok() {
        return Ok(true);
    }
    let saved = save_regressions(fuzz_dir, target, &artifacts)?;
    eprintln!("fuzz: {target} crashed; saved {saved} input(s) under fuzz/regressions/{target}/");
    Ok(false)
}

/// The committed disk fixtures and Imagefile cases (libFuzzer reads each directory without
/// descending), read-only seeds for every target (libFuzzer only adds to the first corpus
/// directory).
fn seed_dirs(fuzz_dir: &Path) -> Vec<PathBuf> {
    let fixtures = fuzz_dir.join("../crates/strata-disk/tests/fixtures");
    ["", "chain", "vmdk"]
        .iter()
        .map(|sub| fixtures.join(sub))
        .chain([fuzz_dir.join("../crates/strata-build/tests/golden/cases")])
        .filter(|dir| dir.is_dir())
        .collect()
}

/// Copies crash, leak, timeout and out-of-memory inputs into the regression directory.
fn save_regressions(fuzz_dir: &Path, target: &str, artifacts: &Path) -> Result<usize> {
    let dest = fuzz_dir.join("regressions").join(target);
    std::fs::create_dir_all(&dest).with_context(|| format!("cannot create {}", dest.display()))?;
    let mut saved = 0;
    for entry in std::fs::read_dir(artifacts)
        .with_context(|| format!("cannot read {}", artifacts.display()))?
    {
        let entry = entry?;
        std::fs::copy(entry.path(), dest.join(entry.file_name()))
            .with_context(|| format!("cannot copy {}", entry.path().display()))?;
        saved += 1;
    }
    Ok(saved)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments() {
        assert_eq!(parse_args(&[]).unwrap(), (DEFAULT_SECONDS, vec![]));
        assert_eq!(
            parse_args(&["--time", "5", "qcow2_parse"]).unwrap(),
            (5, vec!["qcow2_parse".to_owned()])
        );
        assert!(parse_args(&["--time", "x"]).is_err());
        assert!(parse_args(&["--bogus"]).is_err());
    }
}
