//! Container transports that are not files, against real peers: `export docker://` to
//! Debian's docker-registry (checked with skopeo), `docker-daemon:` both ways through podman's
//! Docker-compatible API, `ostree:` imports from a repository made with the `ostree` CLI.
//! Each test skips, saying why, when its peer is not installed.

use std::process::Command;

use serde_json::json;

use crate::oci_fixture::{digests, have, make_layout, sample_layers};
use crate::sandbox::Sandbox;

fn oci_arg(dir: &std::path::Path, name: &str) -> String {
    format!("oci:{}:{name}", dir.display())
}

/// The record `file` (`name@rev`) of repository `repo`, parsed.
fn record(sb: &Sandbox, repo: &str, file: &str) -> serde_json::Value {
    let text = std::fs::read_to_string(sb.path(repo).join("meta").join(file)).expect("record");
    serde_json::from_str(&text).expect("record json")
}

fn copying_lines(stdout: &[u8]) -> usize {
    String::from_utf8_lossy(stdout)
        .lines()
        .filter(|l| l.starts_with("Copying blob sha256:"))
        .count()
}

/// `export IMAGE docker://HOST/REPO:TAG` pushes the stored image (a loopback registry is
/// spoken to over plain http): skopeo sees the manifest digest the image has in the
/// repository; a second export uploads nothing (no `Copying blob` line); importing it back
/// stores the same blobs.
#[test]
fn export_to_a_registry() {
    let Some(registry) = strata_testkit::LocalRegistry::start(None) else {
        return;
    };
    let sb = Sandbox::new(&["user"]);
    let layout = sb.path("files/layout");
    let image = make_layout(&layout, "v1", &sample_layers());
    let (manifest, config, layers) = digests(&image);
    sb.ok(&["import", &oci_arg(&layout, "v1"), "alpine"]);

    let reference = format!("{}/strata/pushed:v1", registry.host());
    let dest = format!("docker://{reference}");
    let run = |args: &[&str]| sb.cmd().args(args).output().expect("run pcocc-image");
    let out = run(&["export", "alpine", &dest]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        copying_lines(&out.stdout),
        3,
        "config and two layers: {out:?}"
    );

    if have("skopeo", "export_to_a_registry (skopeo inspect)") {
        let inspect = Command::new("skopeo")
            .args(["inspect", "--tls-verify=false", &dest])
            .output()
            .expect("skopeo");
        assert!(inspect.status.success(), "{inspect:?}");
        let v: serde_json::Value = serde_json::from_slice(&inspect.stdout).expect("json");
        assert_eq!(v["Digest"], json!(manifest));
        assert_eq!(v["Layers"], json!(layers));
    }

    let again = run(&["export", "alpine", &dest]);
    assert!(again.status.success(), "{again:?}");
    assert_eq!(
        copying_lines(&again.stdout),
        0,
        "every blob skipped: {again:?}"
    );

    let back = run(&["import", &dest, "back"]);
    assert!(back.status.success(), "{back:?}");
    assert_eq!(
        record(&sb, "user", "back@0")["data_blobs"],
        json!([manifest, layers[0], layers[1], config])
    );

    // A registry that does not answer: an I/O failure (74), named.
    let dead = format!("docker://127.0.0.1:{}/x/y:z", strata_testkit::free_port());
    let failed = run(&["export", "alpine", &dead]);
    assert_eq!(failed.status.code(), Some(74), "{failed:?}");
    assert!(
        String::from_utf8_lossy(&failed.stderr).contains("Failed to export to docker://"),
        "{failed:?}"
    );
}

/// podman's Docker-compatible API service on a unix socket, with its storage (vfs) in a
/// temporary directory so the machine's is not touched; killed by its own pid when dropped.
struct Podman {
    child: std::process::Child,
    dir: tempfile::TempDir,
}

impl Podman {
    /// Starts the service; `None` (the test skips, saying why) without podman or root.
    #[allow(clippy::print_stderr, reason = "a skipped test says why")]
    fn start(test: &str) -> Option<Podman> {
        if !have("podman", test) {
            return None;
        }
        // `/proc/self` belongs to the effective user.
        let root = std::os::unix::fs::MetadataExt::uid(
            &std::fs::metadata("/proc/self").expect("/proc/self"),
        ) == 0;
        if !root {
            eprintln!("skipping {test}: podman's service with a private --root needs root here");
            return None;
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let sock = dir.path().join("docker.sock");
        let log = std::fs::File::create(dir.path().join("podman.log")).expect("log");
        let child = Command::new("podman")
            .arg("--root")
            .arg(dir.path().join("root"))
            .arg("--runroot")
            .arg(dir.path().join("run"))
            .args(["--storage-driver", "vfs", "system", "service", "--time=0"])
            .arg(format!("unix://{}", sock.display()))
            .stdin(std::process::Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("spawn podman");
        let mut podman = Podman { child, dir };
        let start = std::time::Instant::now();
        while std::os::unix::net::UnixStream::connect(&sock).is_err() {
            let exited = podman.child.try_wait().expect("wait");
            if exited.is_some() || start.elapsed() > std::time::Duration::from_secs(60) {
                let log = std::fs::read_to_string(podman.dir.path().join("podman.log"))
                    .unwrap_or_default();
                panic!("podman system service did not start ({exited:?}): {log}");
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        Some(podman)
    }

    fn host(&self) -> String {
        format!("unix://{}", self.dir.path().join("docker.sock").display())
    }
}

impl Drop for Podman {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `export IMAGE docker-daemon:NAME:TAG` loads a docker-archive written by strata-oci into
/// podman (its own client sees the image, config digest as its ID); `import docker-daemon:`
/// (and `pcocc-docker-daemon:`) reads it back: the same config, and every layer as its
/// `diff_id` (a daemon keeps layers uncompressed), so the same tree.
#[test]
fn docker_daemon_both_ways_with_podman() {
    let Some(podman) = Podman::start("docker_daemon_both_ways_with_podman") else {
        return;
    };
    let sb = Sandbox::new(&["user"]);
    let layout = sb.path("files/layout");
    let image = make_layout(&layout, "v1", &sample_layers());
    let (_, config, _) = digests(&image);
    let diff_ids: Vec<String> = image.diff_ids.iter().map(|d| d.prefixed()).collect();
    sb.ok(&["import", &oci_arg(&layout, "v1"), "alpine"]);
    let run = |args: &[&str]| {
        sb.cmd()
            .env("DOCKER_HOST", podman.host())
            .args(args)
            .output()
            .expect("run pcocc-image")
    };

    let out = run(&["export", "alpine", "docker-daemon:strata/alpine:v1"]);
    assert!(out.status.success(), "{out:?}");
    let inspect = Command::new("podman")
        .args(["--remote", "--url", &podman.host(), "image", "inspect"])
        .arg("localhost/strata/alpine:v1")
        .output()
        .expect("podman inspect");
    assert!(inspect.status.success(), "{inspect:?}");
    let v: serde_json::Value = serde_json::from_slice(&inspect.stdout).expect("json");
    assert_eq!(v[0]["Id"], json!(config.trim_start_matches("sha256:")));
    assert_eq!(v[0]["RootFS"]["Layers"], json!(diff_ids));

    for (source, name) in [
        ("docker-daemon:strata/alpine:v1", "back"),
        ("pcocc-docker-daemon:strata/alpine:v1", "back2"),
    ] {
        let out = run(&["import", source, name]);
        assert!(out.status.success(), "{out:?}");
        let blobs = record(&sb, "user", &format!("{name}@0"))["data_blobs"].clone();
        let blobs = blobs.as_array().expect("data_blobs");
        assert_eq!(blobs.len(), 4, "{blobs:?}");
        assert_eq!(
            &blobs[1..],
            &[json!(diff_ids[0]), json!(diff_ids[1]), json!(config)]
        );
    }

    // A name the daemon does not have: not found (66), with the daemon's words.
    let missing = run(&["import", "docker-daemon:strata/nope:v1", "nope"]);
    assert_eq!(missing.status.code(), Some(66), "{missing:?}");
    assert!(
        String::from_utf8_lossy(&missing.stderr).contains("strata/nope"),
        "{missing:?}"
    );
    // A destination must be name:tag.
    let digest = format!("docker-daemon:strata/x@sha256:{}", "a".repeat(64));
    let refused = run(&["export", "alpine", &digest]);
    assert_eq!(refused.status.code(), Some(64), "{refused:?}");
    // A daemon over TCP is refused as unsupported (69).
    let tcp = sb
        .cmd()
        .env("DOCKER_HOST", "tcp://127.0.0.1:2376")
        .args(["import", "docker-daemon:busybox:latest", "bb"])
        .output()
        .expect("run");
    assert_eq!(tcp.status.code(), Some(69), "{tcp:?}");
}

/// `import ostree:REF@/repo`: a commit made with the `ostree` CLI becomes a one-layer image
/// whose tar holds the tree (modes, contents, symlinks); a missing ref is 66; exporting to
/// OSTree is refused (69).
#[test]
fn import_from_ostree() {
    if !have("ostree", "import_from_ostree") {
        return;
    }
    let sb = Sandbox::new(&["user"]);
    let repo = sb.path("files/ostree-repo");
    let tree = sb.path("files/tree");
    std::fs::create_dir_all(tree.join("etc")).expect("tree");
    std::fs::create_dir_all(tree.join("usr/bin")).expect("tree");
    std::fs::create_dir_all(tree.join("var/empty")).expect("tree");
    std::fs::write(tree.join("etc/hostname"), "ostree\n").expect("file");
    std::fs::write(tree.join("usr/bin/tool"), "#!/bin/true\n").expect("file");
    std::fs::set_permissions(
        tree.join("usr/bin/tool"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .expect("chmod");
    std::os::unix::fs::symlink("usr/bin", tree.join("bin")).expect("symlink");
    std::os::unix::fs::symlink("/etc/hostname", tree.join("etc/name")).expect("symlink");
    let ostree = |args: &[&str]| {
        let out = Command::new("ostree")
            .arg(format!("--repo={}", repo.display()))
            .args(args)
            .output()
            .expect("ostree");
        assert!(out.status.success(), "ostree {args:?}: {out:?}");
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    };
    ostree(&["init", "--mode=archive"]);
    let tree_arg = format!("--tree=dir={}", tree.display());
    ostree(&[
        "commit",
        "-b",
        "strata/os",
        "--owner-uid=0",
        "--owner-gid=0",
        &tree_arg,
    ]);
    let commit = ostree(&["rev-parse", "strata/os"]);

    let src = format!("ostree:strata/os@{}", repo.display());
    sb.ok(&["import", &src, "os"]);
    let rec = record(&sb, "user", "os@0");
    assert_eq!(rec["kind"], "ctr");
    let blobs = rec["data_blobs"].as_array().expect("blobs").clone();
    assert_eq!(blobs.len(), 3, "manifest, one layer, config: {blobs:?}");
    let blob = |d: &serde_json::Value| {
        let hex = d
            .as_str()
            .expect("digest")
            .trim_start_matches("sha256:")
            .to_owned();
        std::fs::read(sb.path("user/data").join(&hex[..2]).join(&hex)).expect("blob")
    };
    let config: serde_json::Value = serde_json::from_slice(&blob(&blobs[2])).expect("config");
    assert_eq!(config["config"]["Labels"]["ostree.commit"], json!(commit));
    assert_eq!(config["rootfs"]["diff_ids"], json!([blobs[1]]));

    // The layer holds the tree: every entry, its kind, mode, content or target.
    let layer = blob(&blobs[1]);
    let mut got = Vec::new();
    for entry in tar::Archive::new(&layer[..]).entries().expect("tar") {
        let mut entry = entry.expect("entry");
        let path = entry.path().expect("path").display().to_string();
        let mode = entry.header().mode().expect("mode");
        let what = match entry.header().entry_type() {
            tar::EntryType::Directory => "dir".to_owned(),
            tar::EntryType::Symlink => format!(
                "-> {}",
                entry.link_name().expect("link").expect("target").display()
            ),
            _ => {
                let mut s = String::new();
                std::io::Read::read_to_string(&mut entry, &mut s).expect("content");
                s
            }
        };
        got.push((path, mode & 0o777, what));
    }
    let want: Vec<(String, u32, String)> = [
        ("bin", 0o777, "-> usr/bin"),
        ("etc", 0o755, "dir"),
        ("etc/hostname", 0o644, "ostree\n"),
        ("etc/name", 0o777, "-> /etc/hostname"),
        ("usr", 0o755, "dir"),
        ("usr/bin", 0o755, "dir"),
        ("usr/bin/tool", 0o755, "#!/bin/true\n"),
        ("var", 0o755, "dir"),
        ("var/empty", 0o755, "dir"),
    ]
    .iter()
    .map(|(p, m, w)| ((*p).to_owned(), *m, (*w).to_owned()))
    .collect();
    assert_eq!(got, want);

    let run = |args: &[&str]| sb.cmd().args(args).output().expect("run pcocc-image");
    let missing = run(&[
        "import",
        &format!("ostree:strata/nope@{}", repo.display()),
        "n",
    ]);
    assert_eq!(missing.status.code(), Some(66), "{missing:?}");
    let export = run(&[
        "export",
        "os",
        &format!("ostree:strata/os@{}", repo.display()),
    ]);
    assert_eq!(export.status.code(), Some(69), "{export:?}");
    assert!(
        String::from_utf8_lossy(&export.stderr).contains("strata only imports from it"),
        "{export:?}"
    );
}

/// A repository whose `repos.yaml` entry names a registry (`url:`, strata's extension):
/// import, list, show, export and delete work on it as on a directory, and a second sandbox
/// (another machine, its own cache) sees the same images.
#[test]
fn a_repository_kept_in_a_registry() {
    let Some(registry) = strata_testkit::LocalRegistry::start(None) else {
        return;
    };
    let sandboxes: Vec<Sandbox> = (0..2)
        .map(|_| {
            let sb = Sandbox::new(&["user"]);
            let file = sb.path("conf/user/repos.yaml");
            let mut yaml = std::fs::read_to_string(&file).expect("repos.yaml");
            yaml.push_str(&format!(
                "  - name: shared\n    url: \"docker://{}/site/images\"\n    path: \"{}\"\n",
                registry.host(),
                sb.path("shared-cache").display()
            ));
            std::fs::write(&file, yaml).expect("repos.yaml");
            sb
        })
        .collect();
    let (a, b) = (&sandboxes[0], &sandboxes[1]);
    let disk = a.raw_disk("disk.raw", 8 << 20);
    a.ok(&["import", &disk, "shared:centos"]);
    let listed = b.run(&["list", "-R", "shared"]);
    assert!(
        listed.contains("centos") && listed.contains("exit: 0"),
        "{listed}"
    );
    let shown = b.run(&["show", "shared:centos"]);
    assert!(shown.contains("exit: 0"), "{shown}");
    let out = b.file("out.raw");
    b.ok(&["export", "shared:centos", &out]);
    assert!(std::fs::read(&out).expect("export") == std::fs::read(&disk).expect("disk"));
    let again = a.run(&["import", &disk, "shared:centos"]);
    assert!(again.contains("exit: 73"), "{again}");
    b.ok(&["delete", "shared:centos"]);
    let listed = a.run(&["list", "-R", "shared"]);
    assert!(!listed.contains("centos"), "{listed}");
}
