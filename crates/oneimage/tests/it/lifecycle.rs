//! Images in use and their snapshots: instances drive USED/USED_PERS and RVMS, a persistent
//! image gets its instance's changes when the instance stops, and snapshots form OpenNebula's
//! tree (ACTIVE, PARENT, CHILDREN) through create, revert, delete and flatten.

use crate::sandbox::Sandbox;

/// Writes `byte` over the first 64 KiB of the instance overlay at `path`, as a VM would.
fn write_through(path: &str, byte: u8) {
    let out = std::process::Command::new("qemu-io")
        .args(["-f", "qcow2", "-c", &format!("write -P {byte} 0 64k"), path])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
}

fn first_bytes(path: &str) -> Vec<u8> {
    std::fs::read(path).unwrap()[..4].to_vec()
}

fn field<'a>(shown: &'a str, name: &str) -> &'a str {
    shown
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{name:<15}: ")))
        .unwrap_or_else(|| panic!("no {name} in {shown}"))
        .trim_end()
}

fn started(out: &str) -> (String, String) {
    let mut lines = out.lines();
    let id = lines
        .next()
        .unwrap()
        .strip_prefix("ID: ")
        .unwrap()
        .to_owned();
    let path = lines
        .next()
        .unwrap()
        .strip_prefix("PATH: ")
        .unwrap()
        .to_owned();
    (id, path)
}

#[test]
fn instances_use_images_and_persistent_ones_keep_their_changes() {
    let sb = Sandbox::new();
    if !strata_testkit::peers::have("instances", &["qemu-io"]) {
        return;
    }
    sb.raw_disk("disk.raw", 4);
    sb.create(&[
        "-d",
        "1",
        "--name",
        "pers",
        "--path",
        "disk.raw",
        "--persistent",
    ]);
    sb.create(&["-d", "1", "--name", "shared", "--path", "disk.raw"]);
    let source = field(&sb.ok("oneimage", &["show", "pers"]), "SOURCE").to_owned();
    let shared_source = field(&sb.ok("oneimage", &["show", "shared"]), "SOURCE").to_owned();

    // A persistent image serves one instance; a non-persistent one several.
    let (one, overlay) = started(&sb.ok("oneimage", &["instance-start", "pers"]));
    let shown = sb.ok("oneimage", &["show", "pers"]);
    assert_eq!(
        (field(&shown, "STATE"), field(&shown, "RUNNING_VMS")),
        ("used", "1")
    );
    assert_eq!(
        sb.fails("oneimage", &["instance-start", "pers"]),
        "Cannot acquire image 0, it is persistent and already in use\n"
    );
    let (a, overlay_a) = started(&sb.ok("oneimage", &["instance-start", "shared"]));
    let (b, _) = started(&sb.ok("oneimage", &["instance-start", "shared"]));
    assert_eq!(
        field(&sb.ok("oneimage", &["show", "shared"]), "RUNNING_VMS"),
        "2"
    );
    assert!(
        sb.ok("oneimage", &["show", "shared", "-x"])
            .contains(&format!(
                "<VMS>\n    <ID>{a}</ID>\n    <ID>{b}</ID>\n  </VMS>"
            ))
    );
    // In use, an image cannot go.
    assert_eq!(
        sb.fails("oneimage", &["delete", "shared"]),
        "[one.image.delete] Cannot delete IMAGE. There are 2 VMs using it.\n"
    );

    write_through(&overlay, 0x5a);
    write_through(&overlay_a, 0x77);
    sb.ok("oneimage", &["instance-stop", &one]);
    sb.ok("oneimage", &["instance-stop", &a]);
    sb.ok("oneimage", &["instance-stop", &b]);
    // The persistent image has its instance's bytes; the other is as it was.
    assert_eq!(first_bytes(&source), [0x5a; 4]);
    assert_eq!(first_bytes(&shared_source), *b"a bo");
    let shown = sb.ok("oneimage", &["show", "pers"]);
    assert_eq!(
        (field(&shown, "STATE"), field(&shown, "RUNNING_VMS")),
        ("rdy", "0")
    );
    assert_ne!(field(&shown, "LAST MODIFIED"), "-");
    assert!(!std::path::Path::new(&overlay).exists());

    // A failed VM leaves a persistent image in ERROR, without its changes.
    let (id, overlay) = started(&sb.ok("oneimage", &["instance-start", "pers"]));
    write_through(&overlay, 0x11);
    sb.ok("oneimage", &["instance-stop", &id, "--failed"]);
    assert_eq!(field(&sb.ok("oneimage", &["show", "pers"]), "STATE"), "err");
    assert_eq!(first_bytes(&source), [0x5a; 4]);
    sb.ok("oneimage", &["enable", "pers"]);
    assert!(sb.ok("oneimage", &["verify"]).ends_with("is consistent\n"));
}

#[test]
fn snapshots_form_a_tree_and_revert_delete_and_flatten_as_opennebula_does() {
    let sb = Sandbox::new();
    if !strata_testkit::peers::have("snapshots", &["qemu-io"]) {
        return;
    }
    sb.raw_disk("disk.raw", 4);
    sb.create(&[
        "-d",
        "1",
        "--name",
        "p",
        "--path",
        "disk.raw",
        "--persistent",
    ]);
    sb.create(&["-d", "1", "--name", "np", "--path", "disk.raw"]);
    let source = field(&sb.ok("oneimage", &["show", "p"]), "SOURCE").to_owned();
    assert_eq!(
        sb.fails("oneimage", &["snapshot-create", "np"]),
        "Snapshots are taken of persistent images only\n"
    );

    assert_eq!(
        sb.ok("oneimage", &["snapshot-create", "p", "first"]),
        "ID: 0\n"
    );
    let (id, overlay) = started(&sb.ok("oneimage", &["instance-start", "p"]));
    assert_eq!(
        sb.fails("oneimage", &["snapshot-create", "p"]),
        "Cannot take a snapshot in state USED\n"
    );
    write_through(&overlay, 0x22);
    sb.ok("oneimage", &["instance-stop", &id]);
    assert_eq!(
        sb.ok("oneimage", &["snapshot-create", "p", "second"]),
        "ID: 1\n"
    );
    let xml = sb.ok("oneimage", &["show", "p", "-x"]);
    assert!(xml.contains("<CHILDREN><![CDATA[1]]></CHILDREN>"), "{xml}");
    assert!(
        xml.contains("<NEXT_SNAPSHOT><![CDATA[2]]></NEXT_SNAPSHOT>"),
        "{xml}"
    );
    // A snapshot with children, or the active one, cannot go (DENY).
    assert_eq!(
        sb.fails("oneimage", &["snapshot-delete", "p", "first"]),
        "[one.image.snapshotdelete] Cannot delete snapshot with children\n"
    );
    assert_eq!(
        sb.fails("oneimage", &["snapshot-delete", "p", "1"]),
        "[one.image.snapshotdelete] Cannot delete the active snapshot\n"
    );
    assert_eq!(
        sb.fails("oneimage", &["snapshot-revert", "p", "third"]),
        "third not found or duplicated\n"
    );
    assert_eq!(
        sb.fails("oneimage", &["nonpersistent", "p"]),
        "[one.image.persistent] Could not make image non-persistent: Image has snapshots.\n"
    );

    // Revert brings the bytes back and moves ACTIVE; a younger snapshot may then go.
    assert_eq!(
        sb.ok("oneimage", &["-v", "snapshot-revert", "p", "first"]),
        "IMAGE 0: reverting image state\n"
    );
    assert_eq!(first_bytes(&source), *b"a bo");
    let shown = sb.ok("oneimage", &["show", "p"]);
    assert!(shown.contains("=>   0     -1"), "{shown}");
    sb.ok("oneimage", &["snapshot-delete", "p", "second"]);
    assert!(!std::path::Path::new(&format!("{source}.snap/1")).exists());
    // Flatten: the image is the snapshot, and no snapshot is left.
    sb.ok("oneimage", &["snapshot-flatten", "p", "0"]);
    let xml = sb.ok("oneimage", &["show", "p", "-x"]);
    assert!(!xml.contains("<SNAPSHOT>"), "{xml}");
    assert!(!std::path::Path::new(&format!("{source}.snap")).exists());
    sb.ok("oneimage", &["nonpersistent", "p"]);
    assert!(sb.ok("oneimage", &["verify"]).ends_with("is consistent\n"));
}
