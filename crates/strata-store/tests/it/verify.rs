//! verify: problems are reported as data, chains are checked with strata-disk.

use std::fs;
use std::os::unix::fs::PermissionsExt;

use strata_disk::qcow2::{CreateOptions, create_file as create};
use strata_model::format::DiskFormat;
use strata_store::{Problem, Qcow2Chains, Repository};

use crate::common::{new_repo, sha, vm_record};

#[test]
fn blob_and_record_problems() {
    let (_dir, repo) = new_repo();
    let good = repo.put_blob(&b"good"[..], None).unwrap();
    let bad = repo.put_blob(&b"will rot"[..], None).unwrap();
    let gone = repo.put_blob(&b"will vanish"[..], None).unwrap();
    repo.commit(&vm_record("img", 0, &[&good, &bad, &gone]))
        .unwrap();
    let bad_path = repo.blob_path(&bad);
    fs::set_permissions(&bad_path, fs::Permissions::from_mode(0o644)).unwrap();
    fs::write(&bad_path, b"rotten!!").unwrap();
    fs::remove_file(repo.blob_path(&gone)).unwrap();
    fs::write(repo.data_dir().join(good.fan_out()).join("junk"), b"").unwrap();

    let report = repo.verify().unwrap();
    assert!(!report.chains_checked);
    assert_eq!((report.blobs_checked, report.records_checked), (2, 1));
    let expected = [
        Problem::WritableBlob {
            path: bad_path.clone(),
            mode: 0o644,
        },
        Problem::BlobMismatch {
            path: bad_path.clone(),
            expected: bad.clone(),
            actual: sha(b"rotten!!"),
        },
        Problem::StrayData {
            path: repo.data_dir().join(good.fan_out()).join("junk"),
        },
        Problem::MissingBlob {
            name: "img".into(),
            revision: 0,
            digest: gone.clone(),
        },
    ];
    for problem in &expected {
        assert!(
            report.problems.contains(problem),
            "{problem:?} not in {:?}",
            report.problems
        );
    }
    assert_eq!(report.problems.len(), expected.len());
}

#[test]
fn qcow2_chains() {
    let (dir, repo) = new_repo();
    let base_file = dir.path().join("base");
    create(&base_file, &CreateOptions::new(4 << 20)).unwrap();
    let base = repo.put_blob_file(&base_file, None).unwrap();
    let top_file = dir.path().join("top");
    let mut options = CreateOptions::new(4 << 20);
    let relative = Repository::relative_blob_path(&base);
    options.backing = Some((relative.to_str().unwrap().to_owned(), DiskFormat::Qcow2));
    create(&top_file, &options).unwrap();
    let top = repo.put_blob_file(&top_file, None).unwrap();
    repo.commit(&vm_record("good", 0, &[&base])).unwrap();
    repo.commit(&vm_record("good", 1, &[&base, &top])).unwrap();
    let report = repo.verify_with(Some(&Qcow2Chains)).unwrap();
    assert!(report.chains_checked);
    assert!(report.is_clean(), "{report:?}");

    // A record that forgets the base layer, and one that claims a layer below a standalone one.
    repo.commit(&vm_record("no-base", 0, &[&top])).unwrap();
    repo.commit(&vm_record("extra", 0, &[&top, &base])).unwrap();
    let report = repo.verify_with(Some(&Qcow2Chains)).unwrap();
    let chains: Vec<_> = report
        .problems
        .iter()
        .map(|p| match p {
            Problem::Chain { name, message, .. } => (name.as_str(), message.clone()),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(chains.len(), 2, "{chains:?}");
    assert_eq!(chains[0].0, "extra");
    assert!(
        chains[0]
            .1
            .contains("has no backing file, but 1 layers lie below it"),
        "{chains:?}"
    );
    assert_eq!(chains[1].0, "no-base");
    assert!(chains[1].1.contains("the bottom layer"), "{chains:?}");
}
