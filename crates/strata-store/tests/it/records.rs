//! Revision records: commit, list, read, delete, file names, bad metadata.

use std::fs;

use strata_store::{DeleteMode, ErrorKind, StoreError};

use crate::common::{entries, new_repo, sha, vm_record};

#[test]
fn commit_and_read_back() {
    let (_dir, repo) = new_repo();
    let a = repo.put_blob(&b"layer 0"[..], None).unwrap();
    let b = repo.put_blob(&b"layer 1"[..], None).unwrap();
    let r0 = vm_record("centos7", 0, &[&a]);
    let r1 = vm_record("centos7", 1, &[&a, &b]);
    repo.commit(&r0).unwrap();
    repo.commit(&r1).unwrap();
    assert_eq!(entries(&repo.meta_dir()), ["centos7@0", "centos7@1"]);
    assert_eq!(
        fs::read_to_string(repo.meta_dir().join("centos7@1")).unwrap(),
        r1.to_pcocc_json()
    );
    assert_eq!(repo.record("centos7", 1).unwrap(), r1);
    assert_eq!(repo.latest_record("centos7").unwrap(), r1);
    assert_eq!(repo.revisions("centos7").unwrap(), [0, 1]);
    assert_eq!(repo.records().unwrap(), [r0, r1]);
    assert!(entries(&repo.tmp_dir()).is_empty());
}

#[test]
fn commit_needs_every_blob() {
    let (_dir, repo) = new_repo();
    let missing = sha(b"never stored");
    let e = repo.commit(&vm_record("x", 0, &[&missing])).unwrap_err();
    assert!(
        matches!(&e, StoreError::ObjectNotFound { hash, repo } if *hash == missing.hex() && repo == "test")
    );
    assert_eq!(
        e.to_string(),
        format!("Object {} not found in repository test", missing.hex())
    );
    assert_eq!(e.kind(), ErrorKind::NotFound);
    assert!(entries(&repo.meta_dir()).is_empty());
}

#[test]
fn commit_never_overwrites_replace_does() {
    let (_dir, repo) = new_repo();
    let a = repo.put_blob(&b"a"[..], None).unwrap();
    let mut r = vm_record("x", 0, &[&a]);
    repo.commit(&r).unwrap();
    let e = repo.commit(&r).unwrap_err();
    assert!(matches!(e, StoreError::RecordExists { revision: 0, .. }));
    assert_eq!(
        e.to_string(),
        "Image x revision 0 already exists in repository test"
    );
    r.owner = "other".to_owned();
    repo.replace_record(&r).unwrap();
    assert_eq!(repo.record("x", 0).unwrap().owner, "other");
}

#[test]
fn names_outside_pcoccs_alphabet_are_encoded_in_file_names_only() {
    let (_dir, repo) = new_repo();
    let a = repo.put_blob(&b"a"[..], None).unwrap();
    for name in ["centos/7:2004.01", "my image", "50%", "a@b", "é"] {
        repo.commit(&vm_record(name, 0, &[&a])).unwrap();
        assert_eq!(repo.record(name, 0).unwrap().name, name);
    }
    assert_eq!(
        entries(&repo.meta_dir()),
        [
            "%C3%A9@0",
            "50%25@0",
            "a%40b@0",
            "centos%2F7%3A2004.01@0",
            "my%20image@0"
        ]
    );
    let index = repo.index().unwrap();
    assert!(index.contains_key("centos/7:2004.01"));
    let e = repo.commit(&vm_record("", 0, &[&a])).unwrap_err();
    assert_eq!(e.to_string(), "Empty object name");
}

#[test]
fn not_found_texts() {
    let (_dir, repo) = new_repo();
    let e = repo.record("nope", 3).unwrap_err();
    assert!(matches!(
        &e,
        StoreError::ImageNotFound {
            revision: Some(3),
            ..
        }
    ));
    assert_eq!(
        e.to_string(),
        "Object nope revision 3 not found in repository test"
    );
    let e = repo.revisions("nope").unwrap_err();
    assert_eq!(e.to_string(), "Object nope not found in repository test");
    let e = repo
        .delete_record("nope", 0, DeleteMode::RefuseInUse)
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "Object nope revision 0 not found in repository test"
    );
}

#[test]
fn delete_removes_the_record_only() {
    let (_dir, repo) = new_repo();
    let a = repo.put_blob(&b"a"[..], None).unwrap();
    repo.commit(&vm_record("x", 0, &[&a])).unwrap();
    repo.commit(&vm_record("x", 1, &[&a])).unwrap();
    repo.delete_record("x", 0, DeleteMode::RefuseInUse).unwrap();
    assert_eq!(repo.revisions("x").unwrap(), [1]);
    assert!(repo.has_blob(&a));
}

#[test]
fn bad_metadata() {
    let (_dir, repo) = new_repo();
    fs::write(repo.meta_dir().join("broken@0"), "{not json").unwrap();
    let e = repo.record("broken", 0).unwrap_err();
    assert!(matches!(e, StoreError::BadRecord { .. }), "{e:?}");
    assert!(
        e.to_string().starts_with("Bad metadata for broken: "),
        "{e}"
    );
    assert_eq!(e.kind(), ErrorKind::Corrupt);
    // pcocc fails the whole listing on one bad record; so do we.
    assert!(repo.records().is_err());
    fs::remove_file(repo.meta_dir().join("broken@0")).unwrap();

    fs::write(
        repo.meta_dir().join("schema@0"),
        r#"{"name": "schema", "revision": 0, "kind": "vm", "owner": "jdoe", "timestamp": 1.0, "data_blobs": [], "custom_meta": {}, "extra": 1}"#,
    )
    .unwrap();
    let e = repo.record("schema", 0).unwrap_err();
    assert_eq!(
        e.to_string(),
        "Bad metadata for schema: Additional properties are not allowed ('extra' was unexpected)"
    );
    fs::remove_file(repo.meta_dir().join("schema@0")).unwrap();

    // A record whose file name names another image.
    let a = repo.put_blob(&b"a"[..], None).unwrap();
    fs::write(
        repo.meta_dir().join("y@0"),
        vm_record("x", 0, &[&a]).to_pcocc_json(),
    )
    .unwrap();
    let e = repo.record("y", 0).unwrap_err();
    assert!(matches!(e, StoreError::BadMetadata { .. }), "{e:?}");
    assert_eq!(
        e.to_string(),
        "Bad metadata for y: the file is named for y@0 but holds x@0"
    );
}

#[test]
fn files_that_are_not_records_are_not_listed() {
    let (_dir, repo) = new_repo();
    fs::write(repo.meta_dir().join("README"), "").unwrap();
    fs::write(repo.meta_dir().join("x@01"), "").unwrap();
    assert!(repo.index().unwrap().is_empty());
    let report = repo.verify().unwrap();
    assert_eq!(report.problems.len(), 2, "{report:?}");
}
