//! The same front-end code drives both stores through `&dyn ImageStore`.

use std::fs;
use std::io::Write;

use strata_store::{ErrorKind, FlatStore, ImageStore, LockMode, Repository};

/// What a front end does: import from a scratch file, import a file in place, list, find,
/// lock, delete.
fn exercise(store: &dyn ImageStore, outside: &std::path::Path) {
    let mut scratch = store.scratch_file().unwrap();
    scratch.write_all(b"flattened qcow2").unwrap();
    let put = store.put_image("alpine", scratch.path()).unwrap();
    assert!(!scratch.path().exists(), "a scratch file is moved in");
    assert_eq!(fs::read(&put.path).unwrap(), b"flattened qcow2");

    fs::write(outside, b"another").unwrap();
    store.put_image("centos/7:2004.01", outside).unwrap();
    assert!(outside.exists(), "other files are copied");

    let names: Vec<String> = store.list().unwrap().into_iter().map(|i| i.name).collect();
    assert_eq!(names, ["alpine", "centos/7:2004.01"]);
    assert_eq!(store.top_path("alpine").unwrap(), put.path);
    let e = store.put_image("alpine", outside).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::AlreadyExists);

    let lock = store.lock("alpine").unwrap();
    assert_eq!(lock.mode(), LockMode::Exclusive);
    let again = strata_store::FileLock::try_acquire(lock.path(), LockMode::Exclusive);
    assert_eq!(again.unwrap_err().kind(), ErrorKind::Locked);
    drop(lock);

    store.delete("alpine").unwrap();
    assert_eq!(
        store.top_path("alpine").unwrap_err().kind(),
        ErrorKind::NotFound
    );
    assert_eq!(
        store.delete("alpine").unwrap_err().kind(),
        ErrorKind::NotFound
    );
}

#[test]
fn flat_store() {
    let dir = tempfile::tempdir().unwrap();
    let store = FlatStore::open(&dir.path().join("backend")).unwrap();
    exercise(&store, &dir.path().join("src"));
    assert!(store.path().join("centos%2F7%3A2004.01").is_file());
}

#[test]
fn repository() {
    let dir = tempfile::tempdir().unwrap();
    let repo = Repository::open("user", &dir.path().join("repo"))
        .unwrap()
        .with_owner("jdoe");
    exercise(&repo, &dir.path().join("src"));
    let record = repo.record("centos/7:2004.01", 0).unwrap();
    assert_eq!(
        (record.owner.as_str(), record.kind),
        ("jdoe", strata_model::kind::Kind::Vm)
    );
    let e = repo
        .put_image("centos/7:2004.01", &dir.path().join("src"))
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "Image centos/7:2004.01 already exists in repo user"
    );
}
