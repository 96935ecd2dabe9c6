//! Errors: pcocc's texts, red only on a terminal, and strata's exit codes.

use crate::sandbox::Sandbox;
use crate::snap;

#[test]
fn errors() {
    let sb = Sandbox::new(&["user", "global"]);
    let raw = sb.raw_disk("disk.raw", 1 << 20);
    sb.ok(&["import", &raw, "c7"]);
    snap!("unknown_image", sb, &["show", "nope"]);
    snap!("unknown_image_in_repo", sb, &["show", "global:c7"]);
    snap!("unknown_revision", sb, &["show", "c7@9"]);
    snap!("bad_revision", sb, &["show", "c7@x"]);
    snap!("extra_colon", sb, &["show", "user:c7:x"]);
    snap!("unknown_repo", sb, &["list", "-R", "nowhere"]);
    snap!("bad_regex", sb, &["list", "("]);
    snap!("cache_list", sb, &["cache", "list"]);
    snap!("cache_delete", sb, &["cache", "delete", "c7"]);
    snap!("cache_gc", sb, &["cache", "gc", "-c"]);
    snap!("usage", sb, &["show"]);
}

/// A container archive that is not a tar is bad input (65, not 74), said on one printable line
/// (the tar reader's message quotes raw header bytes).
#[test]
fn a_container_archive_that_is_not_a_tar() {
    let sb = Sandbox::new(&["user"]);
    let mut junk: Vec<u8> = (0u32..5000)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    junk[..12].copy_from_slice(b"hello\nworld\n");
    let path = sb.path("files/junk.tar");
    std::fs::write(&path, &junk).expect("junk");
    for transport in ["oci-archive", "docker-archive"] {
        let source = format!("{transport}:{}", path.display());
        let out = sb
            .cmd()
            .args(["import", &source, "x"])
            .output()
            .expect("run");
        assert_eq!(out.status.code(), Some(65), "{transport}: {out:?}");
        let stderr = String::from_utf8(out.stderr).expect("stderr is UTF-8");
        let last = stderr.lines().last().unwrap_or_default();
        assert_eq!(stderr.lines().count(), 1, "{transport}: {stderr}");
        assert!(
            last.contains("not a valid tar archive"),
            "{transport}: {last}"
        );
        assert!(
            last.chars().all(|c| !c.is_control() && c != '\u{FFFD}'),
            "{transport}: {last:?}"
        );
    }
}

#[test]
fn bad_config() {
    let sb = Sandbox::new(&["user"]);
    std::fs::write(sb.path("conf/user/repos.yaml"), "repos:\n  - name: x\n").expect("yaml");
    snap!("bad_config", sb, &["list"]);
}

/// `-v` with standard error a pipe nobody reads (the reader gone before the first log line):
/// the command still runs to its end and exits 0. tracing-subscriber reported a failed log
/// write with `eprintln!`, which panics on a broken pipe: exit 101, the operation lost.
#[test]
fn logging_to_a_closed_pipe_never_aborts() {
    let sb = Sandbox::new(&["user"]);
    let raw = sb.raw_disk("disk.raw", 1 << 20);
    let (reader, writer) = std::io::pipe().expect("a pipe");
    drop(reader);
    let output = sb
        .process(&["-vv", "import", &raw, "c7"])
        .stderr(writer)
        .output()
        .expect("pcocc-image runs");
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let (reader, writer) = std::io::pipe().expect("a pipe");
    drop(reader);
    let output = sb
        .process(&["-v", "repo", "gc"])
        .stderr(writer)
        .output()
        .expect("pcocc-image runs");
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    sb.ok(&["show", "c7"]);
}

/// A write the system refuses (here past a file-size limit, `EFBIG`; a full disk, `ENOSPC`,
/// reads alike) is reported on one line that says its cause once and names the repository or
/// the destination, never a scratch file in `.tmp/`. It said the cause three times, and the
/// scratch file's name, before.
#[test]
fn a_refused_write_says_its_cause_once() {
    let sb = Sandbox::new(&["user"]);
    let raw = sb.path("files/disk.raw");
    let data: Vec<u8> = (0u32..4 << 20)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(&raw, &data).expect("disk");
    let raw = raw.display().to_string();
    let repo = sb.path("user").display().to_string();
    let out = sb.path("files/out.raw").display().to_string();
    sb.ok(&["import", &raw, "c7"]);
    let limited = |args: &str| {
        // SIGXFSZ ignored, so that the write fails with EFBIG instead of killing the process;
        // 1024 blocks are 512 KiB or 1 MiB, depending on the shell.
        let script = format!("trap '' XFSZ; ulimit -f 1024; exec \"$0\" {args}");
        let sandboxed = sb.process(&[]);
        let result = std::process::Command::new("/bin/sh")
            .args(["-c", &script, env!("CARGO_BIN_EXE_pcocc-image")])
            .env_clear()
            .envs(sandboxed.get_envs().filter_map(|(k, v)| Some((k, v?))))
            .output()
            .expect("sh runs");
        let stderr = String::from_utf8(result.stderr).expect("UTF-8");
        (result.status.code(), stderr)
    };
    let too_large = std::io::Error::from_raw_os_error(27).to_string();
    for (args, names) in [
        (format!("-q import {raw} c8"), repo.as_str()),
        (format!("-q export c7 {out}"), out.as_str()),
    ] {
        let (code, stderr) = limited(&args);
        assert_eq!(code, Some(74), "{args}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{args}: {stderr}");
        assert_eq!(stderr.matches(&too_large).count(), 1, "{args}: {stderr}");
        assert!(stderr.contains(&format!("{names}: ")), "{args}: {stderr}");
        assert!(!stderr.contains("/.tmp/"), "{args}: {stderr}");
    }
}
