//! Blobs: put, dedup, digest verification, linking, adoption, sparseness.

use std::fs;
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use strata_store::{CopyMethod, ErrorKind, Repository, StoreError};

use crate::common::{entries, mode, new_repo, sha};

#[test]
fn put_blob_stores_read_only_and_dedups() {
    let (_dir, repo) = new_repo();
    let d = repo.put_blob(&b"hello"[..], None).unwrap();
    assert_eq!(d, sha(b"hello"));
    let path = repo.blob_path(&d);
    assert_eq!(
        path,
        repo.path().join("data").join(&d.hex()[..2]).join(d.hex())
    );
    assert_eq!(fs::read(&path).unwrap(), b"hello");
    assert_eq!(mode(&path), 0o444);
    assert!(repo.has_blob(&d));
    let before = fs::metadata(&path).unwrap();
    // Same bytes again: not rewritten.
    assert_eq!(repo.put_blob(&b"hello"[..], Some(&d)).unwrap(), d);
    let after = fs::metadata(&path).unwrap();
    assert_eq!(
        (before.ino(), before.ctime_nsec()),
        (after.ino(), after.ctime_nsec())
    );
    assert!(
        entries(&repo.tmp_dir()).is_empty(),
        "no temporary file is left behind"
    );
}

#[test]
fn put_blob_refuses_a_digest_mismatch() {
    let (_dir, repo) = new_repo();
    let wrong = sha(b"something else");
    let e = repo.put_blob(&b"hello"[..], Some(&wrong)).unwrap_err();
    match &e {
        StoreError::IntegrityMismatch { expected, actual } => {
            assert_eq!((expected, actual), (&wrong, &sha(b"hello")));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(e.kind(), ErrorKind::IntegrityMismatch);
    assert_eq!(
        e.to_string(),
        format!("Digest mismatch: expected {wrong}, found {}", sha(b"hello"))
    );
    assert!(!repo.has_blob(&sha(b"hello")));
    assert!(entries(&repo.tmp_dir()).is_empty());
}

#[test]
fn put_blob_keeps_zero_runs_as_holes() {
    let (_dir, repo) = new_repo();
    let mut bytes = vec![0u8; 32 << 20];
    bytes[..5].copy_from_slice(b"start");
    let n = bytes.len();
    bytes[n - 3..].copy_from_slice(b"end");
    let d = repo.put_blob(&bytes[..], None).unwrap();
    assert_eq!(d, sha(&bytes));
    let meta = fs::metadata(repo.blob_path(&d)).unwrap();
    assert_eq!(meta.len(), 32 << 20);
    assert!(
        meta.blocks() * 512 < 1 << 20,
        "allocated {} bytes",
        meta.blocks() * 512
    );
    // A blob that ends in zeros keeps its length.
    let d = repo.put_blob(&vec![0u8; 3 << 20][..], None).unwrap();
    assert_eq!(fs::metadata(repo.blob_path(&d)).unwrap().len(), 3 << 20);
}

#[test]
fn put_blob_file_copies_and_leaves_the_source_alone() {
    let (dir, repo) = new_repo();
    let src = dir.path().join("disk.qcow2");
    fs::write(&src, b"layer bytes").unwrap();
    let src_mode = mode(&src);
    let d = repo.put_blob_file(&src, None).unwrap();
    assert_eq!(d, sha(b"layer bytes"));
    assert_eq!(mode(&src), src_mode);
    assert_ne!(
        fs::metadata(&src).unwrap().ino(),
        fs::metadata(repo.blob_path(&d)).unwrap().ino()
    );
    assert_eq!(mode(&repo.blob_path(&d)), 0o444);

    let e = repo.put_blob_file(dir.path(), None).unwrap_err();
    assert!(matches!(&e, StoreError::NotRegularFile { path } if path == dir.path()));
    assert_eq!(
        e.to_string(),
        format!("{} is not a regular file", dir.path().display())
    );

    let e = repo.put_blob_file(&src, Some(&sha(b"other"))).unwrap_err();
    assert!(matches!(e, StoreError::IntegrityMismatch { .. }));
}

#[test]
fn blobs_of_another_repository_are_hard_linked() {
    let (dir, repo) = new_repo();
    let other = Repository::open("other", &dir.path().join("other")).unwrap();
    let d = other.put_blob(&b"shared layer"[..], None).unwrap();
    let writer = repo.writer().unwrap();
    let (got, method) = writer
        .put_blob_file(&other.blob_path(&d), Some(&d))
        .unwrap();
    assert_eq!((got, method), (d.clone(), CopyMethod::HardLink));
    assert_eq!(
        fs::metadata(repo.blob_path(&d)).unwrap().ino(),
        fs::metadata(other.blob_path(&d)).unwrap().ino()
    );
    // Already there: nothing is read.
    let (_, method) = writer
        .put_blob_file(&other.blob_path(&d), Some(&d))
        .unwrap();
    assert_eq!(method, CopyMethod::Existing);
    // A wrong known digest is caught even for a link.
    let e = writer
        .put_blob_file(&other.blob_path(&d), Some(&sha(b"not it")))
        .unwrap_err();
    assert!(matches!(e, StoreError::IntegrityMismatch { .. }));
    assert!(entries(&repo.tmp_dir()).is_empty());
}

#[test]
fn adopt_tmp_moves_without_copying() {
    let (dir, repo) = new_repo();
    let writer = repo.writer().unwrap();
    let mut tmp = writer.tmp_file().unwrap();
    tmp.write_all(b"converted image").unwrap();
    let ino = tmp.as_file().metadata().unwrap().ino();
    let d = sha(b"converted image");
    writer.adopt_tmp_file(tmp, &d).unwrap();
    let blob = repo.blob_path(&d);
    assert_eq!(fs::metadata(&blob).unwrap().ino(), ino);
    assert_eq!(mode(&blob), 0o444);
    assert!(entries(&repo.tmp_dir()).is_empty());

    // By path.
    let path = repo.tmp_dir().join("engine-output");
    fs::write(&path, b"second").unwrap();
    writer.adopt_tmp(&path, &sha(b"second")).unwrap();
    assert!(!path.exists());
    // Already there: the file is just removed.
    fs::write(&path, b"second").unwrap();
    writer.adopt_tmp(&path, &sha(b"second")).unwrap();
    assert!(!path.exists());

    let outside = dir.path().join("outside");
    fs::write(&outside, b"x").unwrap();
    let e = writer.adopt_tmp(&outside, &sha(b"x")).unwrap_err();
    assert!(matches!(e, StoreError::NotInTmp { .. }), "{e:?}");
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
}

#[test]
fn relative_blob_path_is_pcoccs_relative_backing_path() {
    let d = sha(b"x");
    assert_eq!(
        Repository::relative_blob_path(&d),
        Path::new(&format!("../../data/{}/{}", &d.hex()[..2], d.hex()))
    );
    // It resolves from a blob's own directory.
    let (_dir, repo) = new_repo();
    let a = repo.put_blob(&b"x"[..], None).unwrap();
    let b = repo.put_blob(&b"y"[..], None).unwrap();
    let from_b = repo
        .blob_path(&b)
        .parent()
        .unwrap()
        .join(Repository::relative_blob_path(&a));
    assert_eq!(
        fs::canonicalize(from_b).unwrap(),
        fs::canonicalize(repo.blob_path(&a)).unwrap()
    );
}
