//! `upload -t ostree`: an OCI archive made with umoci copied to a real registry (anonymous,
//! then behind htpasswd with the login retry) and to an `oci:` layout, checked with skopeo.

use std::path::{Path, PathBuf};
use std::process::Command;

use ocne_image::cli::Cli;
use ocne_image::log::Logrus;
use ocne_image::login::{Credentials, Login};
use ocne_image::{Env, Error};
use strata_testkit::LocalRegistry;

use crate::{is_logrus, ocne, sh, texts};

/// An OCI archive of one image with two layers, made with umoci; returns it.
fn archive(dir: &Path) -> PathBuf {
    let layout = dir.join("layout");
    let l = layout.to_str().unwrap();
    sh(Command::new("umoci").args(["init", "--layout", l]));
    sh(Command::new("umoci").args(["new", "--image", &format!("{l}:latest")]));
    for (i, text) in ["first layer\n", "second layer\n"].iter().enumerate() {
        let f = dir.join(format!("file{i}"));
        std::fs::write(&f, text).unwrap();
        sh(Command::new("umoci")
            .args(["insert", "--rootless", "--image", &format!("{l}:latest")])
            .arg(&f)
            .arg(format!("/etc/file{i}")));
    }
    let tar = dir.join("ock-1.33-amd64-ostree.tar");
    sh(Command::new("tar")
        .arg("-C")
        .arg(&layout)
        .arg("-cf")
        .arg(&tar)
        .arg("."));
    tar
}

fn sha256(bytes: &[u8]) -> String {
    let out = Command::new("sha256sum")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child.stdin.take().unwrap().write_all(bytes)?;
            child.wait_with_output()
        })
        .unwrap();
    String::from_utf8(out.stdout).unwrap()[..64].to_owned()
}

/// `skopeo inspect --raw` of `reference`.
fn raw(reference: &str) -> Vec<u8> {
    sh(Command::new("skopeo").args(["inspect", "--raw", "--tls-verify=false", reference]))
}

/// The lines containers/image prints for the archive's image.
fn progress_lines(source_manifest: &[u8]) -> String {
    let manifest: serde_json::Value = serde_json::from_slice(source_manifest).unwrap();
    let mut expected = String::from("Getting image source signatures\n");
    for layer in manifest["layers"].as_array().unwrap() {
        let d = layer["digest"].as_str().unwrap();
        expected.push_str(&format!("Copying blob {} done   | \n", &d[7..19]));
    }
    let c = manifest["config"]["digest"].as_str().unwrap();
    expected.push_str(&format!("Copying config {} done   | \n", &c[7..17]));
    expected.push_str("Writing manifest to image destination\n");
    expected
}

#[test]
fn to_a_registry_and_an_oci_layout() {
    if !strata_testkit::peers::have("ostree_upload", &["umoci", "skopeo"]) {
        return;
    }
    let Some(registry) = LocalRegistry::start(None) else {
        strata_testkit::peers::peer("ostree_upload", "docker-registry", false);
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let tar = archive(tmp.path());
    let source = raw(&format!("oci-archive:{}", tar.display()));
    let dest = format!("docker://{}/ock-ostree:latest", registry.host());
    let output = ocne(tmp.path())
        .args(["upload", "--type", "ostree", "--arch", "amd64", "--file"])
        .arg(&tar)
        .args(["--destination", &dest])
        .output()
        .unwrap();
    let (out, err) = texts(&output);
    assert_eq!(output.status.code(), Some(0), "{err}");
    assert_eq!(err, "");
    assert_eq!(out, progress_lines(&source));
    assert_eq!(sha256(&raw(&dest)), sha256(&source));

    let layout = tmp.path().join("copy");
    let output = ocne(tmp.path())
        .args(["upload", "-t", "ostree", "-a", "amd64", "-f"])
        .arg(&tar)
        .arg("-d")
        .arg(format!("oci:{}:ock", layout.display()))
        .output()
        .unwrap();
    let (out, err) = texts(&output);
    assert_eq!(output.status.code(), Some(0), "{err}");
    assert_eq!(out, progress_lines(&source));
    assert_eq!(raw(&format!("oci:{}:ock", layout.display())), source);
}

#[test]
fn a_refusal_without_a_terminal_logs_in_to_the_domain_then_fails() {
    if !strata_testkit::peers::have("ostree_login", &["umoci", "skopeo"]) {
        return;
    }
    let htpasswd = strata_testkit::registry::htpasswd_line("ocne", "secret");
    let Some(registry) = LocalRegistry::start(Some(&htpasswd)) else {
        strata_testkit::peers::peer("ostree_login", "docker-registry", false);
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let tar = archive(tmp.path());
    let dest = format!("docker://{}/ock-ostree:latest", registry.host());
    let output = ocne(tmp.path())
        .args(["upload", "-t", "ostree", "-a", "amd64", "-f"])
        .arg(&tar)
        .args(["-d", &dest])
        .output()
        .unwrap();
    let (out, err) = texts(&output);
    assert_eq!(output.status.code(), Some(77), "{err}");
    assert_eq!(out, "Getting image source signatures\n");
    let lines: Vec<&str> = err.lines().collect();
    assert!(
        is_logrus(lines[0], "info", &format!("Log in to {}", registry.host())),
        "{err}"
    );
    assert!(
        lines[1].starts_with(&format!("Error: cannot export to {dest}")),
        "{err}"
    );
    assert!(lines[1].ends_with("cannot ask for a username and password: standard input is not a terminal (log in first, with podman login or skopeo login)"), "{err}");

    // With credentials in the auth file, no login is needed.
    let auth = tmp.path().join("auth.json");
    sh(Command::new("skopeo")
        .args([
            "login",
            "--tls-verify=false",
            "-u",
            "ocne",
            "-p",
            "secret",
            "--authfile",
        ])
        .arg(&auth)
        .arg(registry.host()));
    let output = ocne(tmp.path())
        .env("REGISTRY_AUTH_FILE", &auth)
        .args(["upload", "-t", "ostree", "-a", "amd64", "-f"])
        .arg(&tar)
        .args(["-d", &dest])
        .output()
        .unwrap();
    let (_, err) = texts(&output);
    assert_eq!(output.status.code(), Some(0), "{err}");
}

/// A login that answers with fixed credentials and counts the questions.
struct Fixed(std::cell::Cell<u32>);

impl Login for Fixed {
    fn ask(&self, _: &str, out: &mut dyn std::io::Write) -> Result<Option<Credentials>, Error> {
        self.0.set(self.0.get() + 1);
        out.write_all(b"Username: Password: \n").unwrap();
        Ok(Some(Credentials {
            user: "ocne".into(),
            password: "secret".into(),
        }))
    }
}

#[test]
fn a_refusal_is_retried_once_with_the_login() {
    if !strata_testkit::peers::have("ostree_retry", &["umoci", "skopeo"]) {
        return;
    }
    let htpasswd = strata_testkit::registry::htpasswd_line("ocne", "secret");
    let Some(registry) = LocalRegistry::start(Some(&htpasswd)) else {
        strata_testkit::peers::peer("ostree_retry", "docker-registry", false);
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let tar = archive(tmp.path());
    let source = raw(&format!("oci-archive:{}", tar.display()));
    let dest = format!("docker://{}/ock-ostree:retry", registry.host());
    let cli: Cli = clap::Parser::try_parse_from([
        "ocne-image",
        "upload",
        "-t",
        "ostree",
        "-a",
        "amd64",
        "-f",
        tar.to_str().unwrap(),
        "-d",
        &dest,
    ])
    .unwrap();
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let login = Fixed(std::cell::Cell::new(0));
    let mut env = Env {
        out: &mut out,
        err: &mut err,
        logrus: Logrus { colored: true },
        login: &login,
        home: None,
    };
    ocne_image::run_with(&cli, &mut env).unwrap();
    assert_eq!(login.0.get(), 1);
    let err = String::from_utf8(err).unwrap();
    let padded = format!("{:<44} \n", format!("Log in to {}", registry.host()));
    assert!(
        err.starts_with("\x1b[36mINFO\x1b[0m[") && err.ends_with(&padded),
        "{err:?}"
    );
    let out = String::from_utf8(out).unwrap();
    let lines = progress_lines(&source);
    assert_eq!(
        out,
        format!("Getting image source signatures\nUsername: Password: \n{lines}")
    );
    let creds = "--creds=ocne:secret";
    let pushed =
        sh(Command::new("skopeo").args(["inspect", "--raw", "--tls-verify=false", creds, &dest]));
    assert_eq!(sha256(&pushed), sha256(&source));
}
