//! `info -f` on a raw disk partitioned on the host with sfdisk (fixed GUIDs), without a VM:
//! OCNE's lines, as a snapshot (the times filtered), and the same table seen by sfdisk.

use std::process::Command;

use crate::{ocne, texts};

const TEST: &str = "info_prints_ocne_s_table";

/// A 300 MiB disk: an EFI partition and two Linux ones, GUIDs fixed so the output is stable.
const TABLE: &str = "label: gpt
label-id: 3B8E4F7A-1C2D-4E5F-8A9B-0C1D2E3F4A5B
size=127MiB, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B, uuid=11111111-2222-4333-8444-555555555555, name=EFI-SYSTEM
size=1GiB, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4, uuid=66666666-7777-4888-9999-AAAAAAAAAAAA, name=boot
type=0FC63DAF-8483-4772-8E79-3D69D8477DE4, uuid=BBBBBBBB-CCCC-4DDD-AEEE-FFFFFFFFFFFF, name=root
";

#[test]
fn info_prints_ocne_s_table() {
    if !strata_testkit::peers::have(TEST, &["sfdisk"]) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let disk = tmp.path().join("disk.raw");
    std::fs::File::create(&disk)
        .unwrap()
        .set_len(3 << 30)
        .unwrap();
    let mut child = Command::new("sfdisk")
        .arg("-q")
        .arg(&disk)
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(TABLE.as_bytes())
            .unwrap();
    }
    assert!(child.wait().unwrap().success());

    let out = ocne(tmp.path())
        .args(["info", "-f"])
        .arg(&disk)
        .output()
        .unwrap();
    let (stdout, stderr) = texts(&out);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(stdout, "");
    let shown = stderr.replace(&disk.display().to_string(), "DISK");
    insta::with_settings!({
        filters => vec![(r#"time="[^"]+""#, r#"time="TIME""#)],
        prepend_module_to_snapshot => false,
    }, {
        insta::assert_snapshot!("info_table", shown);
    });

    // A label keeps that partition, without the header lines.
    let out = ocne(tmp.path())
        .args(["info", "-L", "boot", "-f"])
        .arg(&disk)
        .output()
        .unwrap();
    let (_, stderr) = texts(&out);
    assert!(out.status.success(), "{stderr}");
    let shown = stderr.replace(&disk.display().to_string(), "DISK");
    insta::with_settings!({
        filters => vec![(r#"time="[^"]+""#, r#"time="TIME""#)],
        prepend_module_to_snapshot => false,
    }, {
        insta::assert_snapshot!("info_label", shown);
    });
}
