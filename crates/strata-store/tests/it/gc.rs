//! gc: what it removes, what it keeps, and how it waits for writers.

use std::fs;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use strata_store::{ErrorKind, GcReport, StoreError};

use crate::common::{entries, new_repo, sha, vm_record};

#[test]
fn removes_only_unreferenced_blobs_and_empty_dirs() {
    let (_dir, repo) = new_repo();
    let kept = repo.put_blob(&b"kept"[..], None).unwrap();
    let shared = repo.put_blob(&b"shared"[..], None).unwrap();
    let dropped = repo.put_blob(&b"dropped!"[..], None).unwrap();
    let ctr = repo.put_blob(&b"container layer"[..], None).unwrap();
    repo.commit(&vm_record("a", 0, &[&kept, &shared])).unwrap();
    repo.commit(&vm_record("b", 0, &[&shared, &dropped]))
        .unwrap();
    let mut c = vm_record("c", 0, &[]);
    c.kind = strata_model::kind::Kind::Ctr;
    c.data_blobs = vec![strata_model::record::DataBlob::prefixed(ctr.clone())];
    repo.commit(&c).unwrap();
    repo.delete_record("b", 0, strata_store::DeleteMode::RefuseInUse)
        .unwrap();

    let report = repo.gc(Duration::ZERO).unwrap();
    assert_eq!(report.blobs_removed, 1);
    assert_eq!(report.blob_bytes_removed, 8);
    assert_eq!(report.blobs_kept, 3);
    assert!(!repo.has_blob(&dropped));
    for d in [&kept, &shared, &ctr] {
        assert!(repo.has_blob(d));
    }
    for fan_out in entries(&repo.data_dir()) {
        assert!(
            !entries(&repo.data_dir().join(fan_out)).is_empty(),
            "empty fan-out dirs go"
        );
    }
    if ![&kept, &shared, &ctr]
        .iter()
        .any(|d| d.fan_out() == dropped.fan_out())
    {
        assert!(!repo.data_dir().join(dropped.fan_out()).exists());
        assert_eq!(report.dirs_removed, 1);
    }
    // The container record has no `oci_index`: verify says so, and nothing else.
    let report = repo.verify().unwrap();
    assert!(
        report
            .problems
            .iter()
            .all(|p| matches!(p, strata_store::Problem::Container { name, .. } if name == "c"))
            && !report.problems.is_empty(),
        "{report:?}"
    );
}

#[test]
fn tmp_entries_older_than_the_grace_period_go() {
    let (_dir, repo) = new_repo();
    let old_file = repo.tmp_dir().join("old-file");
    fs::write(&old_file, b"12345").unwrap();
    let old_dir = repo.tmp_dir().join("old-dir");
    fs::create_dir_all(old_dir.join("sub")).unwrap();
    fs::write(old_dir.join("sub/f"), b"abc").unwrap();
    let unreferenced = repo.put_blob(&b"orphan"[..], None).unwrap();
    std::thread::sleep(Duration::from_millis(1200));
    let young = repo.tmp_dir().join("young");
    fs::write(&young, b"in progress").unwrap();
    let young_blob = repo.put_blob(&b"young orphan"[..], None).unwrap();

    let report = repo.gc(Duration::from_secs(1)).unwrap();
    assert_eq!(entries(&repo.tmp_dir()), ["young"]);
    assert_eq!((report.tmp_removed, report.tmp_bytes_removed), (2, 8));
    assert!(!repo.has_blob(&unreferenced));
    assert!(
        repo.has_blob(&young_blob),
        "young unreferenced blobs are kept"
    );
    assert_eq!(report.young_kept, 2);

    // pcocc's behaviour with no grace.
    let report = repo.gc(Duration::ZERO).unwrap();
    assert_eq!(report.tmp_removed, 1);
    assert!(!repo.has_blob(&young_blob));
    assert!(entries(&repo.tmp_dir()).is_empty());
    assert_eq!(repo.gc(Duration::ZERO).unwrap(), GcReport::default());
}

#[test]
fn waits_for_a_writer_and_keeps_its_blobs() {
    let (_dir, repo) = new_repo();
    let writer = repo.writer().unwrap();
    let d = writer.put_blob(&b"import in progress"[..], None).unwrap();

    let e = repo.try_gc(Duration::ZERO).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Locked);
    assert!(matches!(e, StoreError::Locked { .. }));

    let (tx, rx) = mpsc::channel();
    let gc_repo = repo.clone();
    let gc = std::thread::spawn(move || {
        let started = Instant::now();
        let report = gc_repo.gc(Duration::ZERO).unwrap();
        tx.send(started.elapsed()).unwrap();
        report
    });
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        rx.try_recv().is_err(),
        "gc ran while a writer held the lock"
    );
    writer.commit(&vm_record("img", 0, &[&d])).unwrap();
    drop(writer);
    let waited = rx.recv().unwrap();
    assert!(waited >= Duration::from_millis(250), "{waited:?}");
    let report = gc.join().unwrap();
    assert_eq!(report.blobs_removed, 0);
    assert!(repo.has_blob(&d));

    // And a writer waits for gc: try_writer fails while gc holds the lock.
    let lock =
        strata_store::FileLock::acquire(&repo.lock_path(), strata_store::LockMode::Exclusive)
            .unwrap();
    assert_eq!(repo.try_writer().unwrap_err().kind(), ErrorKind::Locked);
    drop(lock);
    repo.try_writer().unwrap();
}

#[test]
fn a_bad_record_stops_gc_before_it_removes_anything() {
    let (_dir, repo) = new_repo();
    let d = repo.put_blob(&b"maybe referenced"[..], None).unwrap();
    fs::write(repo.meta_dir().join("x@0"), "{").unwrap();
    let e = repo.gc(Duration::ZERO).unwrap_err();
    assert!(matches!(e, StoreError::BadRecord { .. }), "{e:?}");
    assert!(repo.has_blob(&d));
}

#[test]
fn records_pcocc_would_read_keep_their_blobs() {
    let (_dir, repo) = new_repo();
    let d = repo
        .put_blob(&b"referenced by a hand-made name"[..], None)
        .unwrap();
    // `x@01` is not a name strata writes, but pcocc reads every meta/* file.
    fs::write(
        repo.meta_dir().join("x@01"),
        vm_record("x", 1, &[&d]).to_pcocc_json(),
    )
    .unwrap();
    repo.gc(Duration::ZERO).unwrap();
    assert!(repo.has_blob(&d));
    assert_eq!(sha(b"referenced by a hand-made name"), d);
}
