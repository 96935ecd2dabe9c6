//! `rm`: transient's messages for a missing name and an image in use, `--force`, and every name
//! checked before any is removed.

use crate::sandbox::{Sandbox, overlay};
use crate::snap;

/// Four images; VM `test-vm` stands on `my-img`, VM `web` on `alpine_rel3` (disk 0) and
/// `centos/7:2004.01` (disk 1), VM `it's "db"` on `centos/7:2004.01` too.
fn with_vms() -> Sandbox {
    let sb = Sandbox::new();
    for name in ["centos/7:2004.01", "alpine_rel3", "my-img", "free"] {
        sb.image(name, 1 << 30);
    }
    sb.vm("test-vm", &["my-img"]);
    sb.vm("web", &["alpine_rel3", "centos/7:2004.01"]);
    sb.vm("it's \"db\"", &["centos/7:2004.01"]);
    sb
}

/// The names `ls` lists.
fn names(sb: &Sandbox) -> Vec<String> {
    let out = sb.cmd().args(["ls", "--json"]).output().unwrap();
    let images: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    images
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn a_missing_name() {
    let sb = with_vms();
    snap!("missing", sb, &["rm", "nope"]);
    snap!("dot_dot", sb, &["rm", ".."]);
    assert_eq!(names(&sb).len(), 4);
}

#[test]
fn an_image_in_use_is_refused() {
    let sb = with_vms();
    snap!("in_use", sb, &["rm", "my-img"]);
    // Two VMs, sorted, in Python's repr (the quote chosen as Python chooses it).
    snap!("in_use_by_two", sb, &["rm", "centos/7:2004.01"]);
    assert_eq!(names(&sb).len(), 4);
}

#[test]
fn every_name_is_checked_before_any_is_removed() {
    let sb = with_vms();
    // transient removes `free` and then fails on `nope`; nothing is removed here.
    snap!("missing_after_one", sb, &["rm", "free", "nope"]);
    snap!("in_use_after_one", sb, &["rm", "free", "my-img"]);
    assert_eq!(names(&sb).len(), 4);
    snap!("several", sb, &["rm", "free", "alpine_rel3", "free", "-f"]);
    assert_eq!(names(&sb), ["centos/7:2004.01", "my-img"]);
}

#[test]
fn force_warns_as_transient_logs_and_removes() {
    let sb = with_vms();
    snap!(
        "force",
        sb,
        &["rm", "--force", "my-img", "centos/7:2004.01"]
    );
    assert_eq!(names(&sb), ["alpine_rel3", "free"]);
    // The VMs' overlays are left without their backing file, as transient leaves them.
    assert!(
        sb.vmstore()
            .join("test%2Dvm/test%2Dvm-0-my%2Dimg")
            .is_file()
    );
}

/// The VM store is the flag's, else `$TRANSIENT_VMSTORE`'s, else the default; VMs elsewhere
/// are not seen (as transient does not see them).
#[test]
fn the_vm_store_searched() {
    let sb = with_vms();
    let other = sb.path("other-vms");
    std::fs::create_dir_all(other.join("far")).unwrap();
    overlay(&other.join("far/far-0-free"), &sb.backend().join("free"));
    let code = |cmd: &mut assert_cmd::Command| cmd.output().unwrap().status.code();
    let other_text = other.to_str().unwrap();
    // The default store does not see `far`; the variable and the flag do.
    assert_eq!(
        code(
            sb.cmd()
                .env("TRANSIENT_VMSTORE", other_text)
                .args(["rm", "free"])
        ),
        Some(75)
    );
    assert_eq!(
        code(sb.cmd().args(["rm", "--vmstore", other_text, "free"])),
        Some(75)
    );
    // With the other store, `my-img`'s VM is not seen: removed.
    assert_eq!(
        code(sb.cmd().args(["rm", "--vmstore", other_text, "my-img"])),
        Some(0)
    );
    assert_eq!(code(sb.cmd().args(["rm", "free"])), Some(0));
    assert_eq!(names(&sb), ["alpine_rel3", "centos/7:2004.01"]);
}

/// A backend reached through a symbolic link still sees the VMs that name its real path
/// (transient compares the paths as text and would remove the image).
#[test]
fn a_linked_backend_hides_no_vm() {
    let sb = with_vms();
    let link = sb.path("link");
    std::os::unix::fs::symlink(sb.backend(), &link).unwrap();
    let out = sb
        .cmd()
        .args(["rm", "--image-backend", link.to_str().unwrap(), "my-img"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(75));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "Backend 'my-img' is in use by ['test-vm']\n"
    );
}
