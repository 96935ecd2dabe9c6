//! Backing chains: relative names, allowed directories, depth and loops.

use std::path::Path;

use strata_disk::{DiskError, ErrorKind, OpenError, OpenOptions, open};

use crate::fixtures::{self, tiny_qcow2};

fn open_err(path: &Path, opts: &OpenOptions) -> DiskError {
    match open(path, opts) {
        Ok(_) => panic!("{} opened", path.display()),
        Err(e) => e,
    }
}

fn open_error(e: &DiskError) -> &OpenError {
    match &e.source {
        strata_disk::error::DiskErrorSource::Open(o) => o,
        other => panic!("not an open error: {other:?}"),
    }
}

#[test]
fn three_levels_with_relative_names_from_another_working_directory() {
    // The process's working directory is the crate, not chain/: names resolve against the
    // image's own directory.
    let top = fixtures::dir().join("chain/top.qcow2");
    let opened = open(&top, &OpenOptions::default()).unwrap();
    let mid = opened.image.backing().unwrap();
    let base = mid.backing().unwrap();
    assert!(base.backing().is_none());
    assert_eq!(opened.image.backing_file().unwrap().name, "mid.qcow2");
    let data = fixtures::read_all(&*opened.image);
    assert_eq!(data[0], 0x11); // from base
    assert_eq!(data[32 << 10], 0x88); // from mid
    assert_eq!(data[36 << 10], 0x99); // from top
    assert_eq!(data[300 << 10], 0); // zeroed in mid over base's data
    // The chain's view never reports unallocated.
    let e = opened.image.block_status(0, 4096).unwrap();
    assert_eq!(e.kind, strata_disk::ExtentKind::Data);
}

#[test]
fn raw_backing_file_by_recorded_format() {
    let opened = open(
        &fixtures::dir().join("chain/rawtop.qcow2"),
        &OpenOptions::default(),
    )
    .unwrap();
    assert_eq!(
        opened.image.backing().unwrap().format(),
        strata_model::DiskFormat::Raw
    );
}

#[test]
fn loop_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(
        tmp.path().join("a.qcow2"),
        tiny_qcow2(Some("b.qcow2"), Some("qcow2")),
    )
    .unwrap();
    std::fs::write(
        tmp.path().join("b.qcow2"),
        tiny_qcow2(Some("a.qcow2"), Some("qcow2")),
    )
    .unwrap();
    let e = open_err(&tmp.path().join("a.qcow2"), &OpenOptions::default());
    assert!(
        matches!(open_error(&e), OpenError::Loop { path } if path.ends_with("a.qcow2")),
        "{e}"
    );
    assert_eq!(e.kind(), ErrorKind::Escape);
    // A self-loop through the probe (no recorded format) too.
    std::fs::write(
        tmp.path().join("c.qcow2"),
        tiny_qcow2(Some("./c.qcow2"), None),
    )
    .unwrap();
    let e = open_err(&tmp.path().join("c.qcow2"), &OpenOptions::default());
    assert!(matches!(open_error(&e), OpenError::Loop { .. }), "{e}");
}

#[test]
fn chain_deeper_than_ten_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    for i in 0..12 {
        let backing = (i < 11).then(|| format!("l{}.qcow2", i + 1));
        std::fs::write(
            tmp.path().join(format!("l{i}.qcow2")),
            tiny_qcow2(backing.as_deref(), Some("qcow2")),
        )
        .unwrap();
    }
    let e = open_err(&tmp.path().join("l0.qcow2"), &OpenOptions::default());
    assert!(
        matches!(open_error(&e), OpenError::TooDeep { max: 10 }),
        "{e}"
    );
    // Ten backing files below the top are fine.
    open(&tmp.path().join("l1.qcow2"), &OpenOptions::default()).unwrap();
    // A caller that knows the chain's length (a repository record) may allow more.
    let known = OpenOptions {
        max_depth: 11,
        ..OpenOptions::default()
    };
    open(&tmp.path().join("l0.qcow2"), &known).unwrap();
    // But never beyond the ceiling.
    let huge = OpenOptions {
        max_depth: usize::MAX,
        ..OpenOptions::default()
    };
    open(&tmp.path().join("l0.qcow2"), &huge).unwrap();
}

#[test]
fn escapes_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let inner = tmp.path().join("inner");
    let outside = tmp.path().join("outside");
    std::fs::create_dir_all(&inner).unwrap();
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(outside.join("base.qcow2"), tiny_qcow2(None, None)).unwrap();
    let deep_up = format!("{}etc/passwd", "../".repeat(40));
    let outside_abs = outside.join("base.qcow2");
    let names = [
        deep_up.as_str(),
        "/etc/passwd",
        "../outside/base.qcow2",
        outside_abs.to_str().unwrap(),
        "link.qcow2",
    ];
    std::os::unix::fs::symlink(outside.join("base.qcow2"), inner.join("link.qcow2")).unwrap();
    for name in names {
        let top = inner.join("top.qcow2");
        std::fs::write(&top, tiny_qcow2(Some(name), Some("qcow2"))).unwrap();
        let e = open_err(&top, &OpenOptions::default());
        assert!(
            matches!(open_error(&e), OpenError::OutsideAllowedDirs { .. }),
            "{name}: {e}"
        );
        assert_eq!(e.path.as_deref(), Some(top.as_path()));
        // Allowing the parent directory lets the in-tree ones through.
        let opts = OpenOptions {
            allowed_dirs: vec![tmp.path().to_path_buf()],
            ..Default::default()
        };
        if !name.contains("passwd") {
            open(&top, &opts).unwrap();
        }
    }
}

#[test]
fn missing_backing_file_is_not_found_and_names_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let top = tmp.path().join("top.qcow2");
    std::fs::write(&top, tiny_qcow2(Some("nope.qcow2"), Some("qcow2"))).unwrap();
    let e = open_err(&top, &OpenOptions::default());
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
}

#[test]
fn backing_without_recorded_format_is_probed_never_raw_for_a_qcow2() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("base.qcow2"), tiny_qcow2(None, None)).unwrap();
    std::fs::write(
        tmp.path().join("top.qcow2"),
        tiny_qcow2(Some("base.qcow2"), None),
    )
    .unwrap();
    let opened = open(&tmp.path().join("top.qcow2"), &OpenOptions::default()).unwrap();
    assert_eq!(
        opened.image.backing().unwrap().format(),
        strata_model::DiskFormat::Qcow2
    );
    // A backing file that looks like another format is opened as that format (here a qed
    // magic with a truncated header: refused as qed), never read raw.
    std::fs::write(tmp.path().join("base.qcow2"), b"QED\0 and then some").unwrap();
    let e = open_err(&tmp.path().join("top.qcow2"), &OpenOptions::default());
    assert!(
        matches!(
            &e.source,
            strata_disk::error::DiskErrorSource::Qed(strata_disk::qed::QedError::TooShort {
                len: 18
            })
        ),
        "{e}"
    );
    assert_eq!(e.kind(), ErrorKind::InvalidFormat);
}

#[test]
fn in_memory_images_cannot_follow_backing_names() {
    let bytes = tiny_qcow2(Some("base.qcow2"), Some("qcow2"));
    let e = strata_disk::open_bytes(bytes.clone(), &OpenOptions::default()).unwrap_err();
    assert!(matches!(open_error(&e), OpenError::BackingInMemory { .. }));
    let opts = OpenOptions {
        no_backing: true,
        ..Default::default()
    };
    let opened = strata_disk::open_bytes(bytes, &opts).unwrap();
    assert_eq!(opened.image.backing_file().unwrap().name, "base.qcow2");
}
