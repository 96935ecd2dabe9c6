//! Writers, readers and gc at once, in threads and in processes: no torn record, and every
//! committed image keeps its blobs.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use strata_store::Repository;

use crate::common::vm_record;

/// Revisions each writer commits.
const ROUNDS: u64 = 12;

/// One writer's work: each round puts a blob every writer shares (dedup races), a blob of its
/// own, and commits a record naming both, in one write session; every other round it deletes
/// its previous revision, leaving garbage for gc.
fn write_images(repo: &Repository, worker: usize) {
    let name = format!("img-{worker}");
    for round in 0..ROUNDS {
        let writer = repo.writer().unwrap();
        let shared = writer
            .put_blob(format!("shared {round}").as_bytes(), None)
            .unwrap();
        let own_bytes = format!("worker {worker} round {round} ").repeat(1000);
        let own = writer.put_blob(own_bytes.as_bytes(), None).unwrap();
        writer
            .commit(&vm_record(&name, round, &[&shared, &own]))
            .unwrap();
        drop(writer);
        if round % 2 == 1 {
            repo.delete_record(&name, round - 1, strata_store::DeleteMode::RefuseInUse)
                .unwrap();
        }
    }
}

/// What must hold once the writers are done.
fn check(repo: &Repository, workers: usize) {
    repo.gc(Duration::ZERO).unwrap();
    let records = repo.records().unwrap();
    assert_eq!(records.len(), workers * (ROUNDS as usize) / 2);
    for record in &records {
        for blob in &record.data_blobs {
            assert!(
                repo.has_blob(blob.digest()),
                "{} lost {}",
                record.name,
                blob.digest()
            );
        }
    }
    let report = repo.verify().unwrap();
    assert!(report.is_clean(), "{report:?}");
    // Only referenced blobs are left.
    assert_eq!(
        report.blobs_checked,
        (workers as u64 * ROUNDS) / 2 + ROUNDS / 2
    );
}

/// Runs gc (no grace) and full listings in a loop until `done`.
fn churn(repo: Repository, done: Arc<AtomicBool>) -> std::thread::JoinHandle<(u64, u64)> {
    std::thread::spawn(move || {
        let (mut gcs, mut listings) = (0, 0);
        while !done.load(Ordering::Relaxed) {
            repo.gc(Duration::ZERO).unwrap();
            gcs += 1;
            // Readers take no lock and never see a partial record.
            for record in repo.records().unwrap() {
                assert!(!record.data_blobs.is_empty());
            }
            listings += 1;
        }
        (gcs, listings)
    })
}

#[test]
fn eight_threads_with_gc() {
    let (_dir, repo) = crate::common::new_repo();
    let done = Arc::new(AtomicBool::new(false));
    let churner = churn(repo.clone(), done.clone());
    let workers: Vec<_> = (0..8)
        .map(|worker| {
            let repo = repo.clone();
            std::thread::spawn(move || write_images(&repo, worker))
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    done.store(true, Ordering::Relaxed);
    let (gcs, _) = churner.join().unwrap();
    assert!(gcs > 0);
    check(&repo, 8);
}

/// The process-level worker: run by `eight_processes_with_gc` in child processes only.
#[test]
#[ignore = "run as a child process by eight_processes_with_gc"]
fn worker_process() {
    let (Ok(path), Ok(worker)) = (
        std::env::var("STRATA_TEST_REPO"),
        std::env::var("STRATA_TEST_WORKER"),
    ) else {
        return;
    };
    let repo = Repository::open("test", Path::new(&path))
        .unwrap()
        .with_owner("jdoe");
    write_images(&repo, worker.parse().unwrap());
}

#[test]
fn eight_processes_with_gc() {
    let (_dir, repo) = crate::common::new_repo();
    let done = Arc::new(AtomicBool::new(false));
    let churner = churn(repo.clone(), done.clone());
    let exe = std::env::current_exe().unwrap();
    let children: Vec<_> = (0..8)
        .map(|worker| {
            Command::new(&exe)
                .args([
                    "--exact",
                    "concurrency::worker_process",
                    "--ignored",
                    "--quiet",
                ])
                .env("STRATA_TEST_REPO", repo.path())
                .env("STRATA_TEST_WORKER", worker.to_string())
                .stdout(std::process::Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    for mut child in children {
        assert!(child.wait().unwrap().success());
    }
    done.store(true, Ordering::Relaxed);
    churner.join().unwrap();
    check(&repo, 8);
}
