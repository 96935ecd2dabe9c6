//! Images strata recognises and refuses, each in its own words and with kind `Unsupported`
//! (exit 69), never taken for something else: fixtures made by qemu-img in `refused/` of the
//! generated set (see make-fixtures.sh).

use std::path::PathBuf;

use strata_disk::error::DiskErrorSource;
use strata_disk::probe::ProbeError;
use strata_disk::qcow2::Qcow2Error;
use strata_disk::{DiskError, ErrorKind, OpenError, OpenOptions};

use crate::fixtures;

/// `refused/<name>` of the generated fixtures, if qemu-img can make them.
fn fixture(test: &str, name: &str) -> Option<PathBuf> {
    fixtures::have_qemu(test).then(|| fixtures::generated().join("refused").join(name))
}

fn open_err(path: &std::path::Path, options: &OpenOptions) -> DiskError {
    match strata_disk::open(path, options) {
        Ok(o) => panic!("{} opened as {}", path.display(), o.format),
        Err(e) => e,
    }
}

/// Asserts `e` is unsupported and says `words`, naming the file.
fn assert_refused(e: &DiskError, words: &str) {
    assert_eq!(e.kind(), ErrorKind::Unsupported, "{e}");
    let text = e.to_string();
    assert!(text.contains(words), "{text}");
    assert!(e.path.is_some(), "{text}");
}

/// A LUKS container is not a raw disk: the probe recognises it and refuses it.
#[test]
fn a_luks_container_is_refused_not_stored_as_raw() {
    let Some(path) = fixture(
        "a_luks_container_is_refused_not_stored_as_raw",
        "container.luks",
    ) else {
        return;
    };
    let file = std::fs::File::open(&path).unwrap();
    let e = strata_disk::probe(&file).unwrap_err();
    assert!(
        matches!(
            e.source,
            DiskErrorSource::Probe(ProbeError::Luks { version: 1 })
        ),
        "{e:?}"
    );
    let e = open_err(&path, &OpenOptions::default());
    assert_refused(&e, "LUKS encrypted container");
}

/// Backing files named through qemu protocols are refused as unsupported, never looked for
/// as files (before, `json:{...}` was resolved as a relative path); the image itself opens
/// without its backing chain.
#[test]
fn protocol_backing_names_are_refused_never_opened_as_paths() {
    for (name, protocol) in [("json-backing.qcow2", "json"), ("nbd-backing.qcow2", "nbd")] {
        let Some(path) = fixture(
            "protocol_backing_names_are_refused_never_opened_as_paths",
            name,
        ) else {
            return;
        };
        let e = open_err(&path, &OpenOptions::default());
        match &e.source {
            DiskErrorSource::Open(OpenError::Protocol { protocol: p, .. }) => {
                assert_eq!(p, protocol);
            }
            other => panic!("{name}: {other:?}"),
        }
        assert_refused(&e, &format!("names the \"{protocol}\" protocol"));
        let top = OpenOptions {
            no_backing: true,
            ..OpenOptions::default()
        };
        assert!(strata_disk::open(&path, &top).is_ok(), "{name}");
    }
}

/// `file:NAME` is qemu's protocol for a local file: the file `NAME`, under the usual rules.
#[test]
fn a_file_protocol_backing_name_is_the_file() {
    if !fixtures::have_qemu("a_file_protocol_backing_name_is_the_file") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        fixtures::dir().join("chain/rawbase.raw"),
        dir.path().join("base.raw"),
    )
    .unwrap();
    let st = std::process::Command::new("qemu-img")
        .current_dir(dir.path())
        .args([
            "create",
            "-q",
            "-f",
            "qcow2",
            "-u",
            "-b",
            "file:base.raw",
            "-F",
            "raw",
        ])
        .args(["top.qcow2", "256k"])
        .status()
        .unwrap();
    assert!(st.success());
    let opened = strata_disk::open(&dir.path().join("top.qcow2"), &OpenOptions::default())
        .unwrap_or_else(|e| panic!("{e}"));
    let mut buf = [0u8; 4];
    opened.image.read_at(&mut buf, 0).unwrap();
    assert_eq!(buf, [0xaa; 4]);
}

/// qcow2 images encrypted by qemu-img (LUKS, and the old AES) are refused in their own words:
/// not "invalid qcow2 header".
#[test]
fn encrypted_qcow2_is_refused_in_its_own_words() {
    for (name, method, words) in [("luks.qcow2", 2, "LUKS"), ("aes.qcow2", 1, "AES")] {
        let Some(path) = fixture("encrypted_qcow2_is_refused_in_its_own_words", name) else {
            return;
        };
        let e = open_err(&path, &OpenOptions::default());
        assert!(
            matches!(
                e.source,
                DiskErrorSource::Qcow2(Qcow2Error::Encrypted { crypt_method }) if crypt_method == method
            ),
            "{name}: {e:?}"
        );
        assert_refused(&e, &format!("qcow2 image encrypted with {words}"));
        assert!(!e.to_string().contains("invalid"), "{e}");
    }
}

/// A qcow2 image whose data lives in an external data file is refused in its own words,
/// naming the data file.
#[test]
fn an_external_data_file_is_refused_in_its_own_words() {
    let Some(path) = fixture(
        "an_external_data_file_is_refused_in_its_own_words",
        "data-file.qcow2",
    ) else {
        return;
    };
    let e = open_err(&path, &OpenOptions::default());
    match &e.source {
        DiskErrorSource::Qcow2(Qcow2Error::ExternalDataFile { name }) => {
            assert_eq!(name.as_deref(), Some("data-file.raw"));
        }
        other => panic!("{other:?}"),
    }
    assert_refused(&e, "external data file (\"data-file.raw\")");
    assert!(!e.to_string().contains("invalid"), "{e}");
}
