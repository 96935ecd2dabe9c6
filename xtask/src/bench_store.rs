//! `cargo xtask bench store`: the repository import path against the pcocc way of doing it, in
//! the same invocation, on the 4 GiB benchmark disk of `bench disk` (`target/bench-data/src.raw`).
//!
//! - import: `pcocc-image import src.raw NAME` (release build: native conversion to qcow2,
//!   hashed while written, fsynced, renamed into the repository) against what pcocc runs:
//!   `qemu-img convert -O qcow2` into the repository's `.tmp`, `sha256sum`, `mv` into `data/`.
//!   pcocc does not fsync; strata does: the rows say so.
//! - re-import of the same disk: the repository's blob bytes must not grow.
//! - copy within a repository: no blob bytes copied.
//! - a 1 TiB empty raw disk imports and exports in under a second.
//! - peak RSS of every strata command under 256 MiB.
//!
//! Results go to stdout and to the `store` section of `docs/benchmarks.md`.

use std::fmt::Write as _;
use std::fs::File;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail};

/// One timed run: wall seconds and the child's peak RSS in KiB.
struct Run {
    seconds: f64,
    rss_kib: u64,
}

/// Runs `program args` under `/usr/bin/time` with `env`, after `sync`.
fn timed(program: &Path, args: &[&str], env: &[(&str, PathBuf)], dir: &Path) -> Result<Run> {
    let stats = dir.join("time.out");
    Command::new("sync").status()?;
    let mut cmd = Command::new("/usr/bin/time");
    cmd.args(["-f", "%M", "-o"])
        .arg(&stats)
        .arg(program)
        .args(args)
        .current_dir(dir);
    for (key, value) in env {
        cmd.env(key, value);
    }
    let start = Instant::now();
    let out = cmd
        .output()
        .with_context(|| format!("run {}", program.display()))?;
    let seconds = start.elapsed().as_secs_f64();
    if !out.status.success() {
        bail!(
            "`{} {}` failed: {}",
            program.display(),
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let rss_kib = std::fs::read_to_string(&stats)?
        .split_whitespace()
        .last()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    Ok(Run { seconds, rss_kib })
}

/// Allocated bytes of every file under `dir` (blob bytes actually stored).
fn allocated(dir: &Path) -> Result<u64> {
    let mut total = 0;
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(0);
    };
    for entry in entries {
        let entry = entry?;
        let meta = entry.metadata()?;
        if meta.is_dir() {
            total += allocated(&entry.path())?;
        } else {
            total += meta.blocks() * 512;
        }
    }
    Ok(total)
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

pub(crate) fn run() -> Result<()> {
    let root = crate::project_root();
    let data = root.join("target/bench-data");
    let src = data.join("src.raw");
    if !src.exists() {
        bail!(
            "{} is missing: run `cargo xtask bench disk` first (it generates it)",
            src.display()
        );
    }
    let work = data.join("store");
    let _ = std::fs::remove_dir_all(&work);
    for sub in [
        "conf",
        "sysconf",
        "home",
        "repo",
        "anchor/.tmp",
        "anchor/data",
    ] {
        std::fs::create_dir_all(work.join(sub))?;
    }
    let repo = work.join("repo");
    std::fs::write(
        work.join("conf/repos.yaml"),
        format!(
            "repos:\n  - name: bench\n    path: \"{}\"\n",
            repo.display()
        ),
    )?;
    println!("building pcocc-image (release)");
    crate::cmd::run(
        crate::cmd::cargo()
            .args(["build", "--release", "-p", "pcocc-image"])
            .current_dir(&root),
    )?;
    let target_dir =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from);
    let pcocc = target_dir.join("release/pcocc-image");
    let env = [
        ("PCOCC_USER_CONF_DIR", work.join("conf")),
        ("PCOCC_SYSTEM_CONF_DIR", work.join("sysconf")),
        ("HOME", work.join("home")),
    ];
    let src_arg = src.to_str().context("bench path is not UTF-8")?;
    let _ = Command::new("sh")
        .args(["-c", "cat src.raw > /dev/null"])
        .current_dir(&data)
        .status();

    // Import, alternating with the anchor, 3 runs each.
    let mut ours = Vec::new();
    let mut anchor = Vec::new();
    let mut rss = 0;
    let anchor_script = "qemu-img convert -f raw -O qcow2 src.raw store/anchor/.tmp/img && \
         h=$(sha256sum store/anchor/.tmp/img | cut -c1-64) && \
         mkdir -p store/anchor/data/$(echo $h | cut -c1-2) && \
         mv store/anchor/.tmp/img store/anchor/data/$(echo $h | cut -c1-2)/$h";
    for round in 0..3 {
        let _ = std::fs::remove_dir_all(work.join("anchor/data"));
        std::fs::create_dir_all(work.join("anchor/data"))?;
        let a = timed(Path::new("/bin/sh"), &["-c", anchor_script], &[], &data)?;
        anchor.push(a.seconds);
        // A fresh repository each round, so that nothing is deduplicated.
        let _ = std::fs::remove_dir_all(&repo);
        let name = format!("img{round}");
        let r = timed(&pcocc, &["-q", "import", src_arg, &name], &env, &data)?;
        rss = rss.max(r.rss_kib);
        ours.push(r.seconds);
    }
    let import_ours = median(ours);
    let import_anchor = median(anchor);

    // Re-import of the same disk under another name: no new blob bytes.
    let before = allocated(&repo.join("data"))?;
    let reimport = timed(&pcocc, &["-q", "import", src_arg, "again"], &env, &data)?;
    rss = rss.max(reimport.rss_kib);
    let reimport_growth = allocated(&repo.join("data"))? - before;

    // Copy within the repository: no blob bytes copied.
    let before = allocated(&repo.join("data"))?;
    let copy = timed(&pcocc, &["-q", "copy", "again", "copied"], &env, &data)?;
    rss = rss.max(copy.rss_kib);
    let copy_growth = allocated(&repo.join("data"))? - before;

    // A 1 TiB empty disk: import and export.
    let empty = work.join("empty1t.raw");
    File::create(&empty)?.set_len(1 << 40)?;
    let empty_arg = empty.to_str().context("bench path is not UTF-8")?;
    let empty_import = timed(&pcocc, &["-q", "import", empty_arg, "empty"], &env, &data)?;
    let exported = work.join("empty-out.raw");
    let exported_arg = exported.to_str().context("bench path is not UTF-8")?;
    let empty_export = timed(
        &pcocc,
        &["-q", "export", "empty", exported_arg],
        &env,
        &data,
    )?;
    rss = rss.max(empty_import.rss_kib).max(empty_export.rss_kib);

    let ratio = import_ours / import_anchor;
    let mut report = String::new();
    let _ = writeln!(report, "| case | anchor | strata | result | goal |");
    let _ = writeln!(report, "|---|---|---|---|---|");
    let _ = writeln!(
        report,
        "| import 4 GiB raw (median of 3) | qemu-img convert + sha256sum + mv: {import_anchor:.2} s | \
         {import_ours:.2} s (fsynced) | ratio {ratio:.2} | ≤ 0.40 {} |",
        if ratio <= 0.4 { "met" } else { "**missed**" }
    );
    let _ = writeln!(
        report,
        "| re-import of the same disk | — | {:.2} s | {reimport_growth} new blob bytes | 0 {} |",
        reimport.seconds,
        if reimport_growth == 0 {
            "met"
        } else {
            "**missed**"
        }
    );
    let _ = writeln!(
        report,
        "| copy within the repository | — | {:.3} s | {copy_growth} blob bytes copied | 0 {} |",
        copy.seconds,
        if copy_growth == 0 {
            "met"
        } else {
            "**missed**"
        }
    );
    let _ = writeln!(
        report,
        "| 1 TiB empty raw: import / export | — | {:.3} s / {:.3} s | | < 1 s each {} |",
        empty_import.seconds,
        empty_export.seconds,
        if empty_import.seconds < 1.0 && empty_export.seconds < 1.0 {
            "met"
        } else {
            "**missed**"
        }
    );
    let _ = writeln!(
        report,
        "| peak RSS of any strata command | — | {} MiB | | < 256 MiB {} |",
        rss / 1024,
        if rss < 256 * 1024 {
            "met"
        } else {
            "**missed**"
        }
    );
    println!("\n{report}");
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let section = format!(
        "Command: `cargo xtask bench store` (release build), {}; load average at the end: {}.\n\
         Data: `target/bench-data/src.raw` from `cargo xtask bench disk` (4 GiB, ~50 % allocated).\n\
         strata's import fsyncs the blob and the record; the anchor (what pcocc runs) does not.\n\n{report}",
        crate::cmd::date_utc(),
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
    let docs = root.join("docs/benchmarks.md");
    crate::report::write_section(
        &docs,
        "store",
        "Repository store (`cargo xtask bench store`)",
        &section,
    )?;
    let _ = std::fs::remove_dir_all(&work);
    Ok(())
}
