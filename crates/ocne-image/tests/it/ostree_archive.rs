//! `create -t ostree`: an ostree image and an http server's base image made with umoci and
//! pushed to a real `docker-registry`; the archive strata writes is run with podman and its
//! repository pulled over http from 127.0.0.1 with the `ostree` command, then checked out and
//! compared with the image's files.

use std::fs;
use std::path::Path;
use std::process::Command;

use strata_testkit::LocalRegistry;

use crate::{is_logrus, ocne, sh, texts};

const TEST: &str = "an_ostree_archive_serves_its_repository_over_http";

/// Makes an image from the tree `root` (inserted at `/`) with umoci, sets `cmd`, and pushes
/// it to `reference`.
fn image(dir: &Path, root: &Path, cmd: &[&str], reference: &str) {
    let l = dir.join("layout");
    let l = l.to_str().unwrap();
    sh(Command::new("umoci").args(["init", "--layout", l]));
    sh(Command::new("umoci").args(["new", "--image", &format!("{l}:1")]));
    for entry in fs::read_dir(root).unwrap() {
        let entry = entry.unwrap();
        sh(Command::new("umoci")
            .args(["insert", "--image", &format!("{l}:1")])
            .arg(entry.path())
            .arg(format!("/{}", entry.file_name().to_string_lossy())));
    }
    let mut config = Command::new("umoci");
    config.args(["config", "--image", &format!("{l}:1")]);
    for c in cmd {
        config.arg(format!("--config.cmd={c}"));
    }
    sh(&mut config);
    sh(Command::new("skopeo").args([
        "copy",
        "--dest-tls-verify=false",
        &format!("oci:{l}:1"),
        reference,
    ]));
}

/// Stops and removes the container, and the image podman stored for it, on drop.
struct Container(String);

impl Drop for Container {
    fn drop(&mut self) {
        let image = Command::new("podman")
            .args(["inspect", "--format", "{{.Image}}", &self.0])
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned());
        let _ = Command::new("podman").args(["rm", "-f", &self.0]).output();
        if let Some(image) = image.filter(|i| !i.is_empty()) {
            let _ = Command::new("podman").args(["rmi", "-f", &image]).output();
        }
    }
}

#[test]
fn an_ostree_archive_serves_its_repository_over_http() {
    if !strata_testkit::peers::have(TEST, &["umoci", "skopeo", "podman", "runc", "ostree"]) {
        return;
    }
    // busybox has no --version.
    let busybox = Command::new("busybox")
        .arg("--help")
        .output()
        .is_ok_and(|o| o.status.success());
    if !strata_testkit::peers::peer(TEST, "busybox (busybox-static)", busybox) {
        return;
    }
    let Some(registry) = LocalRegistry::start(None) else {
        strata_testkit::peers::peer(TEST, "docker-registry", false);
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    fs::create_dir_all(home.join(".ocne")).unwrap();

    // The ostree image: an OS tree with /etc, and an encapsulated repository to leave out.
    let os = tmp.path().join("os");
    fs::create_dir_all(os.join("tree/usr/bin")).unwrap();
    fs::create_dir_all(os.join("tree/etc")).unwrap();
    fs::create_dir_all(os.join("tree/sysroot/ostree/repo")).unwrap();
    fs::write(
        os.join("tree/usr/bin/hello"),
        "#!/bin/sh\necho hello from ock\n",
    )
    .unwrap();
    fs::write(os.join("tree/etc/motd"), "welcome to ock\n").unwrap();
    fs::write(os.join("tree/sysroot/ostree/repo/config"), "[core]\n").unwrap();
    let host = registry.host();
    image(
        &os,
        &os.join("tree"),
        &["/usr/bin/hello"],
        &format!("docker://{host}/olcne/ock-ostree:1.33"),
    );

    // The base: busybox's httpd serving /usr/share/nginx/html on a free port.
    let port = strata_testkit::free_port();
    let base = tmp.path().join("base");
    fs::create_dir_all(base.join("tree/bin")).unwrap();
    fs::create_dir_all(base.join("tree/usr/share/nginx/html")).unwrap();
    fs::copy(
        String::from_utf8(sh(Command::new("sh").args(["-c", "command -v busybox"])))
            .unwrap()
            .trim(),
        base.join("tree/bin/busybox"),
    )
    .unwrap();
    let port_arg = port.to_string();
    image(
        &base,
        &base.join("tree"),
        &[
            "/bin/busybox",
            "httpd",
            "-f",
            "-p",
            &port_arg,
            "-h",
            "/usr/share/nginx/html",
        ],
        &format!("docker://{host}/base:1"),
    );

    fs::write(
        home.join(".ocne/defaults.yaml"),
        format!("osRegistry: {host}/olcne/ock-ostree\n"),
    )
    .unwrap();
    let out = ocne(&home)
        .args([
            "create",
            "-t",
            "ostree",
            "--base",
            &format!("{host}/base:1"),
        ])
        .output()
        .unwrap();
    let (_, stderr) = texts(&out);
    assert!(out.status.success(), "{stderr}");
    let archive = home.join(".ocne/images/ock-1.33-amd64-ostree.tar");
    let last = stderr.lines().last().unwrap();
    assert!(
        is_logrus(
            last,
            "info",
            &format!("Saved image to {}", archive.display())
        ),
        "{stderr}"
    );
    for step in ["Generating container image", "Saving container image"] {
        assert!(
            stderr.contains(&format!("msg=\"{step}: \\x1b[32mok\\x1b[0m\\x1b[K\"")),
            "{stderr}"
        );
    }

    // The archive is a valid OCI archive: the base's layers, then the repository's.
    let inspect = sh(Command::new("skopeo")
        .args(["inspect", "--config"])
        .arg(format!("oci-archive:{}", archive.display())));
    let config: serde_json::Value = serde_json::from_slice(&inspect).unwrap();
    assert_eq!(config["config"]["Cmd"][1], "httpd");
    assert!(config["config"]["ExposedPorts"]["80/tcp"].is_object());
    assert_eq!(config["rootfs"]["diff_ids"].as_array().unwrap().len(), 3);

    // podman runs it (runc: crun refuses these machines' hybrid cgroups), and ostree pulls the
    // ref over http.
    let name = format!("strata-ostree-{port}");
    let _container = Container(name.clone());
    sh(Command::new("podman").args([
        "--runtime",
        "runc",
        "run",
        "-d",
        "--name",
        &name,
        "--network",
        "host",
        "--ulimit",
        "nofile=1024:1024",
        "--ulimit",
        "nproc=1000:1000",
        &format!("oci-archive:{}", archive.display()),
    ]));
    let repo = tmp.path().join("pulled");
    let repo_arg = format!("--repo={}", repo.display());
    sh(Command::new("ostree").args([&repo_arg, "init", "--mode=archive"]));
    sh(Command::new("ostree").args([
        &repo_arg,
        "remote",
        "add",
        "--no-gpg-verify",
        "ock",
        &format!("http://127.0.0.1:{port}/ostree"),
    ]));
    let mut pulled = false;
    for _ in 0..50 {
        let out = Command::new("ostree")
            .args([&repo_arg, "pull", "ock", "ock"])
            .output()
            .unwrap();
        if out.status.success() {
            pulled = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    assert!(pulled, "ostree could not pull the ref over http");
    let checkout = tmp.path().join("checkout");
    sh(Command::new("ostree")
        .args([&repo_arg, "checkout", "ock:ock"])
        .arg(&checkout));
    assert_eq!(
        fs::read_to_string(checkout.join("usr/bin/hello")).unwrap(),
        "#!/bin/sh\necho hello from ock\n"
    );
    assert_eq!(
        fs::read_to_string(checkout.join("usr/etc/motd")).unwrap(),
        "welcome to ock\n"
    );
    assert!(!checkout.join("etc").exists(), "etc is usr/etc in a commit");
    assert!(
        !checkout.join("sysroot/ostree/repo/config").exists(),
        "the encapsulated repository is left out"
    );
}
