//! Images strata recognises and refuses, each in its own words and with kind `Unsupported`
//! (exit 69), never taken for something else: fixtures made by qemu-img in `refused/` of the
//! generated set (see make-fixtures.sh).

use std::path::PathBuf;

use strata_disk::error::DiskErrorSource;
use strata_disk::probe::ProbeError;
use strata_disk::{DiskError, ErrorKind, OpenOptions};

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
