//! A pcocc v2 repository written as pcocc 0.7.5 writes it (`tests/fixtures/make-pcocc-repo.sh`,
//! with qemu-img: `import`, `resize`, `copy`) opens as is: listed, shown, exported, verified,
//! copied, deleted from and collected, and not a byte pcocc wrote changes on the way. The same
//! images in pcocc's version 1 layout (`--v1`) are read, and upgraded by `repo gc` to the bytes
//! of the version 2 repository.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::sandbox::Sandbox;
use crate::snap;

/// Whether the tools the fixture script needs are installed (see [`strata_testkit::peer`]).
fn have_qemu(test: &str) -> bool {
    strata_testkit::have(test, &["qemu-img", "qemu-io"])
}

/// Runs `make-pcocc-repo.sh` into `dir`.
fn make_pcocc_repo(dir: &Path) {
    run_script(&[], dir);
}

/// Runs `make-pcocc-repo.sh OPTIONS DIR`.
fn run_script(options: &[&str], dir: &Path) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/make-pcocc-repo.sh");
    let out = Command::new("bash")
        .arg(script)
        .args(options)
        .arg(dir)
        .output()
        .expect("run make-pcocc-repo.sh");
    assert!(
        out.status.success(),
        "make-pcocc-repo.sh failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Every blob of repository `repo` with its permission bits and bytes.
fn blob_state(sb: &Sandbox, repo: &str) -> BTreeMap<PathBuf, (u32, Vec<u8>)> {
    sb.blobs(repo)
        .into_iter()
        .map(|path| {
            let mode = std::fs::metadata(&path).expect("blob").permissions().mode() & 0o7777;
            let bytes = std::fs::read(&path).expect("blob bytes");
            (path, (mode, bytes))
        })
        .collect()
}

/// The record `meta/<file>` of repository `repo`, parsed.
fn record(sb: &Sandbox, repo: &str, file: &str) -> Value {
    let text = std::fs::read_to_string(sb.path(repo).join("meta").join(file)).expect("record");
    serde_json::from_str(&text).expect("record json")
}

/// The path of blob `hex` in repository `repo`.
fn blob_path(sb: &Sandbox, repo: &str, hex: &str) -> PathBuf {
    sb.path(repo).join("data").join(&hex[..2]).join(hex)
}

/// The blobs a record names, bottom first.
fn data_blobs(record: &Value) -> Vec<String> {
    record["data_blobs"]
        .as_array()
        .expect("data_blobs")
        .iter()
        .map(|b| b.as_str().expect("blob").to_owned())
        .collect()
}

/// `qemu-img convert -f qcow2 -O raw TOP OUT`: what pcocc's `export` does, qemu following the
/// relative backing chain from the blob's own directory.
fn qemu_export(top: &Path, out: &Path) -> Vec<u8> {
    let status = Command::new("qemu-img")
        .args(["convert", "-f", "qcow2", "-O", "raw"])
        .arg(top)
        .arg(out)
        .status()
        .expect("qemu-img convert");
    assert!(status.success(), "qemu-img convert {}", top.display());
    std::fs::read(out).expect("qemu-img output")
}

#[test]
fn pcocc_repository_opens_as_is() {
    if !have_qemu("pcocc_repository_opens_as_is") {
        return;
    }
    let sb = Sandbox::new(&["user"]);
    make_pcocc_repo(&sb.path("user"));
    let blobs_before = blob_state(&sb, "user");
    assert_eq!(blobs_before.len(), 2, "the script writes two layers");
    let base0_bytes = std::fs::read(sb.path("user/meta/base@0")).expect("base@0");
    let base1_bytes = std::fs::read(sb.path("user/meta/base@1")).expect("base@1");
    let base1 = record(&sb, "user", "base@1");
    let chain = data_blobs(&base1);
    assert_eq!(chain.len(), 2);

    // The records' times are pcocc's own (fixed by the script), so the listing is stable.
    snap!("list", sb, &["list"]);

    // `show`: revisions 0 and 1, each with the size of its top blob.
    let out = sb
        .cmd()
        .args(["show", "--json", "base"])
        .output()
        .expect("show");
    assert!(out.status.success(), "{out:?}");
    let shown: Value = serde_json::from_slice(&out.stdout).expect("show json");
    assert_eq!(shown["uri"], "user:base@1");
    assert_eq!(shown["layers"], 2);
    assert_eq!(shown["owner"], "jdoe");
    assert_eq!(shown["timestamp"], 1_722_945_371.043_110_8);
    let revisions = shown["revisions"].as_array().expect("revisions");
    assert_eq!(revisions.len(), 2, "{shown}");
    for (revision, top) in [(0, &chain[0]), (1, &chain[1])] {
        let size = std::fs::metadata(blob_path(&sb, "user", top))
            .expect("top blob")
            .len();
        assert_eq!(revisions[revision]["revision"], revision);
        assert_eq!(revisions[revision]["size"], size, "revision {revision}");
    }
    let out = sb.cmd().args(["show", "base"]).output().expect("show");
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).expect("show text");
    for (revision, date) in [(0, "2024-08-06 11:55:06"), (1, "2024-08-06 11:56:11")] {
        assert!(
            text.lines()
                .any(|l| l.starts_with(&format!("{revision} ")) && l.ends_with(date)),
            "revision {revision} at {date} in:\n{text}"
        );
    }

    // `export`: what qemu-img makes of the same chain, byte for byte, for both revisions.
    sb.ok(&["export", "base", &sb.file("out.raw")]);
    let exported = std::fs::read(sb.file("out.raw")).expect("exported");
    let reference = qemu_export(
        &blob_path(&sb, "user", &chain[1]),
        &sb.path("files/qemu.raw"),
    );
    assert_eq!(exported.len(), 8 << 20, "the resized size");
    assert!(exported == reference, "export differs from qemu-img's");
    // Both layers' data are there: the base's, the top's over it, and the top's past the old end.
    assert!(exported[1 << 20..1056 << 10].iter().all(|&b| b == 0xaa));
    assert!(exported[1056 << 10..1060 << 10].iter().all(|&b| b == 0xbb));
    assert!(exported[1060 << 10..1088 << 10].iter().all(|&b| b == 0xaa));
    assert!(
        exported[3 << 20..(3 << 20) + 4096]
            .iter()
            .all(|&b| b == 0x5a)
    );
    assert!(
        exported[6 << 20..(6 << 20) + (64 << 10)]
            .iter()
            .all(|&b| b == 0xcc)
    );
    sb.ok(&["export", "base@0", &sb.file("out0.raw")]);
    let reference0 = qemu_export(
        &blob_path(&sb, "user", &chain[0]),
        &sb.path("files/qemu0.raw"),
    );
    assert!(
        std::fs::read(sb.file("out0.raw")).expect("exported") == reference0,
        "export of revision 0 differs from qemu-img's"
    );

    // `repo verify`: every blob's digest and every chain as pcocc left them.
    let out = sb.run(&["repo", "verify"]);
    assert!(out.contains("exit: 0\n"), "{out}");
    assert!(
        out.contains("Repository 'user': 2 blobs (") && out.contains("3 records checked"),
        "{out}"
    );
    assert!(out.contains(": OK\n"), "{out}");

    // `copy` names the same blobs, and adds none.
    sb.ok(&["copy", "base", "other-name"]);
    let copied = record(&sb, "user", "other-name@0");
    assert_eq!(data_blobs(&copied), chain);
    assert_eq!(copied["revision"], 0);
    assert_eq!(copied["kind"], "vm");

    // `delete clone`, then `repo gc`: every blob is still referenced, so none goes.
    sb.ok(&["delete", "clone"]);
    assert!(!sb.path("user/meta/clone@0").exists());
    sb.ok(&["repo", "gc"]);
    let mut filters = sb.filters();
    filters.push((
        r"other-name    vm      0           user    \w+ +\d{4}-\d\d-\d\d \d\d:\d\d:\d\d".to_owned(),
        "other-name    vm      0           user    [OWNER]  [DATE]".to_owned(),
    ));
    let filters: Vec<(&str, &str)> = filters
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    insta::with_settings!({ filters => filters }, {
        insta::assert_snapshot!("list_after", sb.run(&["list"]));
    });

    // pcocc's blobs and records are untouched: same bytes, blobs still 0444.
    let blobs_after = blob_state(&sb, "user");
    assert_eq!(
        blobs_after.keys().collect::<Vec<_>>(),
        blobs_before.keys().collect::<Vec<_>>(),
        "gc removed or added a blob"
    );
    for (path, (mode, bytes)) in &blobs_after {
        assert_eq!(*mode, 0o444, "mode of {}", path.display());
        assert!(
            *bytes == blobs_before[path].1,
            "bytes of {} changed",
            path.display()
        );
    }
    assert_eq!(
        std::fs::read(sb.path("user/meta/base@0")).expect("base@0"),
        base0_bytes
    );
    assert_eq!(
        std::fs::read(sb.path("user/meta/base@1")).expect("base@1"),
        base1_bytes
    );
    assert_eq!(
        std::fs::read(sb.path("user/.config")).expect(".config"),
        b"version: 2\n"
    );
}

/// pcocc's version 1 layout: `list`, `show` and `export` read it with pcocc's warning, a write is
/// refused with the way out, and `repo gc` upgrades it to exactly the records pcocc writes in
/// version 2 (the same images made directly in version 2), keeping the old records in
/// `meta.old/` as pcocc does.
#[test]
fn pcocc_v1_repository_is_read_then_upgraded_by_gc() {
    let test = "pcocc_v1_repository_is_read_then_upgraded_by_gc";
    if !have_qemu(test) || !strata_testkit::have(test, &["python3"]) {
        return;
    }
    let sb = Sandbox::new(&["user", "v2"]);
    run_script(&["--v1"], &sb.path("user"));
    make_pcocc_repo(&sb.path("v2"));
    assert_eq!(
        std::fs::read(sb.path("user/.config")).expect(".config"),
        b"version: 1\n"
    );

    snap!("v1_list", sb, &["list", "-R", "user"]);
    let out = sb
        .cmd()
        .args(["show", "--json", "user:base"])
        .output()
        .expect("show");
    assert!(out.status.success(), "{out:?}");
    let shown: Value = serde_json::from_slice(&out.stdout).expect("show json");
    assert_eq!(shown["uri"], "user:base@1");
    assert_eq!(shown["revisions"].as_array().map(Vec::len), Some(2));
    sb.ok(&["export", "user:base", &sb.file("v1.raw")]);
    sb.ok(&["export", "v2:base", &sb.file("v2.raw")]);
    assert!(
        std::fs::read(sb.file("v1.raw")).expect("v1 export")
            == std::fs::read(sb.file("v2.raw")).expect("v2 export"),
        "the version 1 repository exports another disk"
    );

    // Writing is refused, and the message says how to upgrade; nothing changed.
    let disk = sb.raw_disk("disk.raw", 1 << 20);
    snap!("v1_import_refused", sb, &["import", &disk, "user:new"]);
    assert!(!sb.path("user/meta/new@0").exists());
    let staged = std::fs::read_dir(sb.path("user/.tmp"))
        .expect(".tmp")
        .count();
    assert_eq!(staged, 0, "the refused import staged nothing");

    snap!("v1_gc", sb, &["repo", "gc", "user"]);
    assert_eq!(
        std::fs::read(sb.path("user/.config")).expect(".config"),
        b"version: 2\n"
    );
    for file in ["base@0", "base@1", "clone@0"] {
        assert_eq!(
            std::fs::read(sb.path(&format!("user/meta/{file}"))).expect("upgraded record"),
            std::fs::read(sb.path(&format!("v2/meta/{file}"))).expect("pcocc's record"),
            "{file}"
        );
    }
    let meta: Vec<_> = std::fs::read_dir(sb.path("user/meta"))
        .expect("meta")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert_eq!(meta.len(), 3, "only the version 2 records: {meta:?}");
    let backup = std::fs::read_dir(sb.path("user/meta.old")).expect("meta.old");
    assert_eq!(backup.count(), 3, "the version 1 directories");
    assert_eq!(blob_state(&sb, "user").len(), 2);
    let verified = sb.run(&["repo", "verify", "user"]);
    assert!(
        verified.contains("exit: 0\n") && verified.contains(": OK\n"),
        "{verified}"
    );
    sb.ok(&["import", &disk, "user:new"]);
}
