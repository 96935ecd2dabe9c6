//! What a VM import or export tells off a terminal: `-v` logs each phase (probe, convert,
//! store, export) with its sizes and rate, on standard error.

use std::process::Stdio;

use crate::sandbox::Sandbox;

/// Runs `pcocc-image ARGS` with standard error to a file (not a terminal), and returns its exit
/// code and what it wrote there.
fn stderr_to_file(sb: &Sandbox, args: &[&str], env: &[(&str, &str)]) -> (Option<i32>, String) {
    let log = sb.path("files/stderr.log");
    let file = std::fs::File::create(&log).expect("log file");
    let mut cmd = sb.process(args);
    cmd.stdout(Stdio::null()).stderr(file);
    for (key, value) in env {
        cmd.env(key, value);
    }
    let status = cmd.status().expect("pcocc-image runs");
    (
        status.code(),
        std::fs::read_to_string(&log).expect("UTF-8 log"),
    )
}

/// The log lines of `phase` (`probe`, `convert`, ...) in `stderr`, from the phase's name on
/// (after the time and the level).
fn phase_lines<'a>(stderr: &'a str, phase: &str) -> Vec<&'a str> {
    let prefix = format!("{phase}: ");
    stderr
        .lines()
        .filter_map(|line| line.split_once(" INFO ").map(|(_, rest)| rest))
        .filter(|rest| rest.starts_with(&prefix))
        .collect()
}

#[test]
fn verbose_logs_the_phases_of_vm_imports_and_exports() {
    let sb = Sandbox::new(&["user"]);
    let raw = sb.raw_disk("disk.raw", 64 << 20);
    let (code, stderr) = stderr_to_file(&sb, &["-v", "import", &raw, "c7"], &[]);
    assert_eq!(code, Some(0), "{stderr}");
    let probe = phase_lines(&stderr, "probe");
    assert_eq!(probe.len(), 1, "{stderr}");
    assert!(
        probe[0].starts_with(&format!(
            "probe: {raw} is raw, 64.0 MiB virtual, opened in "
        )),
        "{stderr}"
    );
    let convert = phase_lines(&stderr, "convert");
    assert_eq!(convert.len(), 1, "{stderr}");
    assert!(
        convert[0]
            .starts_with("convert: converted raw to qcow2, 64.0 MiB virtual: 68.0 KiB read, "),
        "{stderr}"
    );
    assert!(convert[0].contains(" written in "), "{stderr}");
    assert!(
        convert[0].ends_with("/s read)") || convert[0].ends_with("(too quick to time read)"),
        "{stderr}"
    );
    let store = phase_lines(&stderr, "store");
    assert_eq!(store.len(), 1, "{stderr}");
    assert!(
        store[0].starts_with("store: c7 in store user as sha256:"),
        "{stderr}"
    );
    assert!(
        store[0].contains("(hashed, made durable and named) in "),
        "{stderr}"
    );

    let out = sb.file("c7.vmdk");
    let (code, stderr) = stderr_to_file(&sb, &["-v", "export", "-t", "vmdk", "c7", &out], &[]);
    assert_eq!(code, Some(0), "{stderr}");
    let probe = phase_lines(&stderr, "probe");
    assert_eq!(probe.len(), 1, "{stderr}");
    assert!(
        probe[0].starts_with("probe: image c7 revision 0 of store user is qcow2, 64.0 MiB virtual"),
        "{stderr}"
    );
    let convert = phase_lines(&stderr, "convert");
    assert!(
        convert[0].starts_with("convert: converted qcow2 to vmdk, 64.0 MiB virtual: "),
        "{stderr}"
    );
    let export = phase_lines(&stderr, "export");
    assert_eq!(export.len(), 1, "{stderr}");
    assert!(
        export[0].starts_with(&format!("export: {out} written as vmdk, ")),
        "{stderr}"
    );

    // Without -v, none of them.
    let (code, stderr) = stderr_to_file(&sb, &["import", &raw, "c8"], &[]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(!stderr.contains("INFO"), "{stderr}");
}

/// A sparse qcow2 disk: 256 MiB, data in its first MiB only, made by importing a raw file and
/// exporting it as qcow2.
fn sparse_qcow2(sb: &Sandbox) -> String {
    let raw = sb.path("files/sparse.raw");
    let data: Vec<u8> = (0u32..1 << 20).map(|i| (i % 251) as u8 + 1).collect();
    std::fs::write(&raw, &data).expect("data");
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(&raw)
        .expect("raw");
    file.set_len(256 << 20).expect("length");
    let raw = raw.display().to_string();
    sb.ok(&["-q", "import", &raw, "sparse-src"]);
    let qcow2 = sb.file("sparse.qcow2");
    sb.ok(&["-q", "export", "-t", "qcow2", "sparse-src", &qcow2]);
    qcow2
}

/// Off a terminal, a long phase's heartbeat lines end at 100% when it completes, although the
/// last data of a sparse disk is far from its end (holes are never read, so no progress comes
/// from them): here every change is a line (`STRATA_PROGRESS_INTERVAL=0`). With the default
/// interval a quick import prints none, as pcocc prints none.
#[test]
fn progress_lines_of_a_sparse_import_end_at_100_percent() {
    let sb = Sandbox::new(&["user"]);
    let qcow2 = sparse_qcow2(&sb);
    let (code, stderr) = stderr_to_file(
        &sb,
        &["import", &qcow2, "c7"],
        &[("STRATA_PROGRESS_INTERVAL", "0")],
    );
    assert_eq!(code, Some(0), "{stderr}");
    let figures: Vec<u64> = stderr
        .lines()
        .filter_map(|line| line.strip_prefix("Copying image... "))
        .map(|figure| {
            figure
                .strip_suffix('%')
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("a percentage: {figure:?} in {stderr}"))
        })
        .collect();
    assert!(!figures.is_empty(), "{stderr}");
    assert_eq!(figures.last(), Some(&100), "{stderr}");
    assert!(figures.windows(2).all(|w| w[0] < w[1]), "{stderr}");

    let (code, stderr) = stderr_to_file(&sb, &["import", &qcow2, "c8"], &[]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        !stderr.contains('%'),
        "a quick import prints no heartbeat: {stderr}"
    );
}
