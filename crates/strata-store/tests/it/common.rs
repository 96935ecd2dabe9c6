//! Helpers the topic modules share.

use std::path::Path;

use strata_model::digest::Digest;
use strata_model::kind::Kind;
use strata_model::record::RevisionRecord;
use strata_store::Repository;

/// The sha256 of `bytes`.
pub(crate) fn sha(bytes: &[u8]) -> Digest {
    strata_store::fsutil::hash_reader(bytes).unwrap().0
}

/// A new repository named `test` in a new temporary directory.
pub(crate) fn new_repo() -> (tempfile::TempDir, Repository) {
    let dir = tempfile::tempdir().unwrap();
    let repo = Repository::open("test", &dir.path().join("repo"))
        .unwrap()
        .with_owner("jdoe");
    (dir, repo)
}

/// A VM record as pcocc's `put_meta` writes one, with a fixed owner and timestamp.
pub(crate) fn vm_record(name: &str, revision: u64, blobs: &[&Digest]) -> RevisionRecord {
    RevisionRecord::new(
        name,
        revision,
        Kind::Vm,
        "jdoe",
        1533305394.12,
        blobs.iter().map(|d| (*d).clone()),
    )
}

/// The permission bits of `path`.
pub(crate) fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

/// The entries of a directory (empty if it does not exist).
pub(crate) fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}
