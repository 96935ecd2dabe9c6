//! `cargo xtask bench registry`: a repository kept in a registry (strata's `RegistryStore`)
//! against `skopeo copy` of the same bytes as an OCI artifact, on the 4 GiB benchmark disk's
//! qcow2 (`target/bench-data/src.qcow2`, from `cargo xtask bench disk`), in the same
//! invocation; the results go to stdout and to the `registry` section of
//! `docs/benchmarks.md`.
//!
//! Untimed set-up: the disk is imported into a directory repository (`bench:disk`), and an
//! OCI layout is made holding that very blob as the one layer of an artifact with strata's
//! media types (the revision's record as its config), so both sides move the same bytes.
//! Rows (5 runs each, alternating, after `sync` and a short quiet gate, as `bench oci` runs
//! them):
//! - push, cold: `skopeo copy oci:art:v1 docker://…` against `pcocc-image copy bench:disk
//!   shared:disk` (the layer uploaded from the directory repository), the registry restarted
//!   empty before each run;
//! - pull, cold: `skopeo copy docker://… oci:pulled:v1` against `pcocc-image show
//!   shared:disk` (which downloads the layer into the store's local cache), the outputs
//!   removed before each run;
//! - push again, the blobs present: a new name each run (the previous one deleted, its blobs
//!   kept), against skopeo's same push again;
//! - pull again, the blobs present (strata's cache kept).

use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail};

use crate::bench_oci::{
    Registry, Row, RowResult, arg, nothing, remove, render, require_tools, side, time_row,
};

/// Timed runs of each side per row: the registry's ingest varies by ±20 % from run to run.
const RUNS: usize = 5;

/// strata's push of a revision whose blobs the registry has: at most this many seconds.
const SECOND_PUSH_GOAL_S: f64 = 0.1;

/// Runs `cargo xtask bench registry`.
pub(crate) fn run() -> Result<()> {
    let root = crate::project_root();
    require_tools(&["skopeo", "docker-registry", "/usr/bin/time"])?;
    let data = root.join("target/bench-data");
    let src = data.join("src.qcow2");
    if !src.exists() {
        bail!(
            "{} is missing: run `cargo xtask bench disk` first",
            src.display()
        );
    }
    println!("building pcocc-image (release)");
    crate::cmd::run(
        crate::cmd::cargo()
            .args(["build", "--release", "-p", "pcocc-image"])
            .current_dir(&root),
    )?;
    let pcocc = arg(&crate::target_dir(&root).join("release/pcocc-image"))?;
    let work = data.join("registry-run");
    remove(&work)?;
    fs::create_dir_all(&work)?;
    let started = Instant::now();
    let result = rows(&work, &src, &pcocc);
    let minutes = started.elapsed().as_secs_f64() / 60.0;
    let _ = remove(&work);
    let results = result?;

    let second = &results[2];
    let second_s = second.ours.median_s();
    let verdict = if second_s < SECOND_PUSH_GOAL_S {
        "met"
    } else {
        "**missed**"
    };
    let (push, pull) = (&results[0], &results[1]);
    let together = (push.ours.median_s() + pull.ours.median_s())
        / (push.anchor.median_s() + pull.anchor.median_s());
    let rendered = render(&results, "target/bench-data/registry-run/");
    println!("\n{rendered}");
    println!("cold push and pull together: ratio {together:.2}");
    println!(
        "push again with the blobs present: strata {second_s:.3} s (goal < {SECOND_PUSH_GOAL_S} s: {verdict})"
    );
    let body = format!(
        "Produced by `cargo xtask bench registry` (xtask/src/bench_registry.rs), {}: strata's \
repository kept in a registry against `skopeo copy` of the same bytes as an OCI artifact, in the same \
invocation, on `docker-registry` on 127.0.0.1 (plain http). Data: `target/bench-data/src.qcow2` from `cargo \
xtask bench disk` (4 GiB virtual, ~50 % allocated), imported untimed into a directory repository; its stored \
blob is the one layer of both sides' artifacts, so both move the same bytes. strata's push is `pcocc-image copy` \
from that repository into the registry store (`repos.yaml` `url:`); its pull is `pcocc-image show`, which \
downloads the layer into the store's local cache (verified as it streams, fsynced). Times are medians of \
whole-process wall times, the two sides alternating run by run, each after an untimed preparation (the cold \
push: the registry restarted empty; the cold pull: the outputs removed; the second push: the previous copy's \
name deleted, its blobs kept), `sync` and a quiet gate. Machine: 2 vCPUs shared with other work, so expect \
±30 % noise (see perf-anchors.md). The timed rows took {minutes:.1} minutes.\n\n{rendered}\n\
Push again with the blobs present: strata {second_s:.3} s (goal < {SECOND_PUSH_GOAL_S} s: {verdict}). \
Cold push and pull together (the sums of the medians): ratio {together:.2}.\n",
        crate::cmd::date_utc(),
    );
    crate::report::write_section(
        &root.join("docs/benchmarks.md"),
        "registry",
        "A repository in a registry against skopeo (`cargo xtask bench registry`)",
        &body,
    )?;
    println!("wrote the registry section of docs/benchmarks.md");
    Ok(())
}

/// Sets up and measures every row.
fn rows(work: &Path, src: &Path, pcocc: &str) -> Result<Vec<RowResult>> {
    for dir in ["conf", "sysconf", "home"] {
        fs::create_dir_all(work.join(dir))?;
    }
    let registry = std::cell::RefCell::new(Registry::start(&work.join("registry"))?);
    let host = registry.borrow().host();
    let (repo, cache) = (work.join("repo"), work.join("cache"));
    fs::write(
        work.join("conf/repos.yaml"),
        format!(
            "repos:\n  - name: bench\n    path: \"{}\"\n  - name: shared\n    url: \"docker://{host}/bench/vm\"\n    path: \"{}\"\n",
            repo.display(),
            cache.display()
        ),
    )?;
    let env = || {
        vec![
            ("PCOCC_USER_CONF_DIR", work.join("conf")),
            ("PCOCC_SYSTEM_CONF_DIR", work.join("sysconf")),
            ("HOME", work.join("home")),
        ]
    };
    let tool = |line: &str| -> Vec<String> { line.split_whitespace().map(str::to_owned).collect() };
    let strata = |line: &str| {
        let mut argv = vec![pcocc.to_owned(), "-q".to_owned()];
        argv.extend(tool(line));
        argv
    };
    let pcocc_image = |line: &str| -> Result<()> {
        let mut cmd = Command::new(pcocc);
        cmd.args(tool(line)).current_dir(work).envs(env());
        crate::cmd::run(&mut cmd)
    };
    println!("importing {} into the directory repository", src.display());
    pcocc_image(&format!("import {} bench:disk", arg(src)?))?;
    let blob = layer_of(&repo)?;
    make_artifact(&work.join("art"), &blob)?;
    // Warm the page cache with the layer.
    crate::cmd::run(
        Command::new("cat")
            .arg(&blob)
            .stdout(std::process::Stdio::null()),
    )?;

    let anchor_ref = format!("docker://{host}/anchor/vm:v1");
    let push = format!("skopeo copy -q --dest-tls-verify=false oci:art:v1 {anchor_ref}");
    let pull = format!("skopeo copy -q --src-tls-verify=false {anchor_ref} oci:pulled:v1");
    let restart = || registry.borrow_mut().restart();
    let pulled = work.join("pulled");

    let mut results = Vec::new();
    let mut record = |name: &'static str, goal: Option<f64>, anchor, ours| {
        time_row(
            work,
            &mut results,
            Row {
                name,
                anchor,
                ours,
                goal,
            },
            RUNS,
        )
    };
    record(
        "push, cold",
        Some(0.8),
        side(tool(&push), vec![], restart),
        side(strata("copy bench:disk shared:disk"), env(), restart),
    )?;
    // The push row's last run may have emptied the registry after the anchor's push: both
    // images are pushed again, untimed, for the pulls.
    registry.borrow_mut().restart()?;
    crate::cmd::run(
        Command::new("skopeo")
            .args(tool(&push)[1..].iter())
            .current_dir(work),
    )?;
    pcocc_image("-q copy bench:disk shared:disk")?;
    record(
        "pull, cold",
        Some(0.8),
        side(tool(&pull), vec![], || remove(&pulled)),
        side(strata("show shared:disk"), env(), || remove(&cache)),
    )?;
    let delete_again = || {
        // The name goes, the blobs stay.
        let _ = pcocc_image("-q delete shared:again");
        Ok(())
    };
    record(
        "push again (blobs present)",
        None,
        side(tool(&push), vec![], nothing),
        side(strata("copy bench:disk shared:again"), env(), delete_again),
    )?;
    record(
        "pull again (blobs present)",
        None,
        side(tool(&pull), vec![], nothing),
        side(strata("show shared:disk"), env(), nothing),
    )?;
    drop(registry);
    Ok(results)
}

/// The one blob of the directory repository at `repo` (the imported disk).
fn layer_of(repo: &Path) -> Result<std::path::PathBuf> {
    let mut found = Vec::new();
    for fan in fs::read_dir(repo.join("data"))? {
        for blob in fs::read_dir(fan?.path())? {
            found.push(blob?.path());
        }
    }
    match found.as_slice() {
        [one] => Ok(one.clone()),
        _ => bail!(
            "expected one blob in {}, found {}",
            repo.display(),
            found.len()
        ),
    }
}

/// An OCI layout at `dir` whose image `v1` is an artifact with strata's media types: `blob`
/// (hard-linked) its one layer, a small record its config.
fn make_artifact(dir: &Path, blob: &Path) -> Result<()> {
    let blobs = dir.join("blobs/sha256");
    fs::create_dir_all(&blobs)?;
    let layer_hex = blob
        .file_name()
        .and_then(|n| n.to_str())
        .context("blob name")?
        .to_owned();
    let layer_size = fs::metadata(blob)?.len();
    if fs::hard_link(blob, blobs.join(&layer_hex)).is_err() {
        fs::copy(blob, blobs.join(&layer_hex))?;
    }
    let put = |bytes: &[u8]| -> Result<(String, u64)> {
        let hex = sha256_hex(bytes);
        fs::write(blobs.join(&hex), bytes)?;
        Ok((hex, bytes.len() as u64))
    };
    let (config_hex, config_size) = put(
        format!(
            "{{\"name\": \"disk\", \"revision\": 0, \"kind\": \"vm\", \"owner\": \"bench\", \"timestamp\": 0.0, \"data_blobs\": [\"{layer_hex}\"]}}"
        )
        .as_bytes(),
    )?;
    let manifest = format!(
        "{{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\
\"artifactType\":\"application/vnd.strata.revision.v1+json\",\
\"config\":{{\"mediaType\":\"application/vnd.strata.revision.v1+json\",\"digest\":\"sha256:{config_hex}\",\"size\":{config_size}}},\
\"layers\":[{{\"mediaType\":\"application/vnd.strata.disk.layer.v1.qcow2\",\"digest\":\"sha256:{layer_hex}\",\"size\":{layer_size}}}]}}"
    );
    let (manifest_hex, manifest_size) = put(manifest.as_bytes())?;
    fs::write(
        dir.join("index.json"),
        format!(
            "{{\"schemaVersion\":2,\"manifests\":[{{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\
\"digest\":\"sha256:{manifest_hex}\",\"size\":{manifest_size},\
\"annotations\":{{\"org.opencontainers.image.ref.name\":\"v1\"}}}}]}}"
        ),
    )?;
    fs::write(dir.join("oci-layout"), "{\"imageLayoutVersion\":\"1.0.0\"}")?;
    Ok(())
}

/// The lowercase hex sha256 of `bytes`.
fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
