//! Cross-checks with the reference tools, skopeo and umoci; each test is skipped, saying so,
//! when its tool is not installed.

use std::path::Path;
use std::process::Command;

use strata_oci::image::Selector;
use strata_oci::{DockerArchive, OciDir, unpack_image, write_docker_archive};

use crate::common::*;

/// Whether `name` runs (see [`strata_testkit::peer`]).
fn tool(name: &str) -> bool {
    strata_testkit::have(name, &[name])
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn skopeo(args: &[&str]) -> String {
    run(Command::new("skopeo").arg("--insecure-policy").args(args))
}

/// `umoci unpack`, rootless when we are not root (as our own unpack then is).
fn umoci_unpack(image: &str, bundle: &Path) {
    let mut cmd = Command::new("umoci");
    cmd.arg("unpack");
    if !rustix::process::geteuid().is_root() {
        cmd.arg("--rootless");
    }
    run(cmd.args(["--image", image, &s(bundle)]));
}

fn s(p: &Path) -> String {
    p.display().to_string()
}

#[test]
fn skopeo_reads_and_converts_what_we_write_and_we_read_what_it_writes() {
    if !tool("skopeo") {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let ours = t.path().join("ours");
    let image = make_image(&ours, "v1", &sample_layers());
    let inspect: serde_json::Value =
        serde_json::from_str(&skopeo(&["inspect", &format!("oci:{}:v1", s(&ours))])).unwrap();
    assert_eq!(
        inspect["Digest"],
        image.manifest_digest().unwrap().prefixed()
    );
    assert_eq!(inspect["Layers"].as_array().unwrap().len(), 2);
    // skopeo: our layout -> docker-archive; we read it back.
    let x = t.path().join("x.tar");
    skopeo(&[
        "copy",
        &format!("oci:{}:v1", s(&ours)),
        &format!("docker-archive:{}:ex/img:v1", s(&x)),
    ]);
    let docker = DockerArchive::open(&x).unwrap();
    let di = docker
        .resolve(&Selector::Name("ex/img:v1".into()), &amd64())
        .unwrap();
    assert_eq!(di.image.diff_ids, image.diff_ids);
    let r1 = t.path().join("r1");
    let r2 = t.path().join("r2");
    unpack_image(&OciDir::open(&ours).unwrap(), &image, &r1, &opts()).unwrap();
    unpack_image(&di, &di.image, &r2, &opts()).unwrap();
    assert_eq!(tree(&r1), tree(&r2));
    // Our docker-archive -> skopeo -> OCI layout; we read that back.
    let d = t.path().join("d.tar");
    write_docker_archive(&d, &OciDir::open(&ours).unwrap(), &image, &["ex/img:v2"]).unwrap();
    let back = t.path().join("back");
    skopeo(&[
        "copy",
        &format!("docker-archive:{}", s(&d)),
        &format!("oci:{}:b", s(&back)),
    ]);
    let layout = OciDir::open(&back).unwrap();
    let b = layout
        .resolve(&Selector::Name("b".into()), &amd64())
        .unwrap();
    assert_eq!(b.diff_ids, image.diff_ids);
    let r3 = t.path().join("r3");
    unpack_image(&layout, &b, &r3, &opts()).unwrap();
    assert_eq!(tree(&r1), tree(&r3));
    // skopeo inspects our docker-archive too, and an oci-archive of ours.
    skopeo(&["inspect", &format!("docker-archive:{}", s(&d))]);
    let oa = t.path().join("o.tar");
    strata_oci::write_oci_archive(&oa, &OciDir::open(&ours).unwrap(), &image, Some("v1")).unwrap();
    let inspect: serde_json::Value =
        serde_json::from_str(&skopeo(&["inspect", &format!("oci-archive:{}:v1", s(&oa))])).unwrap();
    assert_eq!(
        inspect["Digest"],
        image.manifest_digest().unwrap().prefixed()
    );
    // skopeo's oci-archive, read by us.
    let so = t.path().join("so.tar");
    skopeo(&[
        "copy",
        &format!("oci:{}:v1", s(&ours)),
        &format!("oci-archive:{}:sk", s(&so)),
    ]);
    let archive = strata_oci::OciArchive::open(&so).unwrap();
    let a = archive
        .resolve(&Selector::Name("sk".into()), &amd64())
        .unwrap();
    // skopeo compresses the uncompressed layer on the way: same diff_ids, same tree.
    assert_eq!(a.diff_ids, image.diff_ids);
    let r4 = t.path().join("r4");
    unpack_image(&archive, &a, &r4, &opts()).unwrap();
    assert_eq!(tree(&r1), tree(&r4));
}

#[test]
fn umoci_layouts_read_by_us_and_umoci_unpack_equals_ours() {
    if !tool("umoci") {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    // umoci builds an image from files made here.
    let lay = t.path().join("umoci");
    run(Command::new("umoci").args(["init", "--layout", &s(&lay)]));
    run(Command::new("umoci").args(["new", "--image", &format!("{}:u", s(&lay))]));
    let files = t.path().join("files");
    std::fs::create_dir_all(files.join("etc/sub")).unwrap();
    std::fs::write(files.join("etc/hello"), b"hello\n").unwrap();
    std::fs::write(files.join("etc/sub/x"), b"x").unwrap();
    std::os::unix::fs::symlink("hello", files.join("etc/link")).unwrap();
    run(Command::new("umoci").args([
        "insert",
        "--image",
        &format!("{}:u", s(&lay)),
        &s(&files.join("etc")),
        "/etc",
    ]));
    let layout = OciDir::open(&lay).unwrap();
    let image = layout
        .resolve(&Selector::Name("u".into()), &amd64())
        .unwrap();
    let ours = t.path().join("ours-of-umoci");
    unpack_image(&layout, &image, &ours, &opts()).unwrap();
    assert_eq!(std::fs::read(ours.join("etc/sub/x")).unwrap(), b"x");
    // umoci unpacks a layout we wrote; the trees must be equal.
    let mine = t.path().join("mine");
    let mine_image = make_image(&mine, "v1", &sample_layers());
    let bundle = t.path().join("bundle");
    umoci_unpack(&format!("{}:v1", s(&mine)), &bundle);
    let root = t.path().join("root");
    unpack_image(&OciDir::open(&mine).unwrap(), &mine_image, &root, &opts()).unwrap();
    assert_eq!(tree(&bundle.join("rootfs")), tree(&root));
    // And umoci's unpack of its own image equals ours.
    let bundle2 = t.path().join("bundle2");
    umoci_unpack(&format!("{}:u", s(&lay)), &bundle2);
    assert_eq!(tree(&bundle2.join("rootfs")), tree(&ours));
}
