//! A repository written exactly as pcocc v0.7.5 writes one (`_init_repodir`, `put_data_blob`,
//! `put_meta` with `json.dump`) opens, lists and round-trips byte for byte.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use strata_model::kind::Kind;
use strata_store::Repository;

use crate::common::{entries, sha};

/// Writes a blob as `put_data_blob` does: a file in `data/<h[:2]>/<h>`, chmod 0444.
fn pcocc_blob(root: &Path, bytes: &[u8]) -> String {
    let h = sha(bytes).hex().to_owned();
    let dir = root.join("data").join(&h[..2]);
    fs::create_dir_all(&dir).unwrap();
    let path = dir.join(&h);
    fs::write(&path, bytes).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o444)).unwrap();
    h
}

/// A pcocc v2 repository with a VM image of two revisions and a container image.
fn pcocc_repo(root: &Path) -> Vec<(String, String)> {
    fs::create_dir_all(root.join("data")).unwrap();
    fs::create_dir_all(root.join("meta")).unwrap();
    fs::create_dir_all(root.join(".tmp")).unwrap();
    fs::write(root.join(".config"), "version: 2\n").unwrap();
    let h0 = pcocc_blob(root, b"qcow2 base layer");
    let h1 = pcocc_blob(root, b"qcow2 top layer");
    let layer = pcocc_blob(root, b"tar layer");
    let config_bytes =
        format!(r#"{{"rootfs": {{"type": "layers", "diff_ids": ["sha256:{layer}"]}}}}"#);
    let config = pcocc_blob(root, config_bytes.as_bytes());
    let manifest_bytes = format!(
        r#"{{"schemaVersion": 2, "config": {{"mediaType": "application/vnd.oci.image.config.v1+json", "digest": "sha256:{config}", "size": {}}}, "layers": [{{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": "sha256:{layer}", "size": 9}}]}}"#,
        config_bytes.len()
    );
    let manifest = pcocc_blob(root, manifest_bytes.as_bytes());
    let manifest_size = manifest_bytes.len();
    let records = vec![
        (
            "centos7-cloud@0".to_owned(),
            format!(
                r#"{{"name": "centos7-cloud", "revision": 0, "kind": "vm", "owner": "jdoe", "timestamp": 1533305394.12, "data_blobs": ["{h0}"], "custom_meta": {{}}}}"#
            ),
        ),
        (
            "centos7-cloud@1".to_owned(),
            format!(
                r#"{{"name": "centos7-cloud", "revision": 1, "kind": "vm", "owner": "jdoe", "timestamp": 1533309999.5, "data_blobs": ["{h0}", "{h1}"], "custom_meta": {{}}}}"#
            ),
        ),
        (
            "ubi8@0".to_owned(),
            format!(
                r#"{{"name": "ubi8", "revision": 0, "kind": "ctr", "owner": "root", "timestamp": 1600000000.0, "data_blobs": ["sha256:{manifest}", "sha256:{layer}", "sha256:{config}"], "custom_meta": {{"oci_index": {{"schemaVersion": 2, "manifests": [{{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": "sha256:{manifest}", "size": {manifest_size}, "annotations": {{"org.opencontainers.image.ref.name": "latest"}}}}]}}}}}}"#
            ),
        ),
    ];
    for (file, json) in &records {
        fs::write(root.join("meta").join(file), json).unwrap();
    }
    records
}

#[test]
fn pcocc_repository_opens_and_lists() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("images");
    pcocc_repo(&root);
    let repo = Repository::open("user", &root).unwrap();
    let index = repo.index().unwrap();
    assert_eq!(
        index.get("centos7-cloud").map(Vec::as_slice),
        Some(&[0, 1][..])
    );
    assert_eq!(index.get("ubi8").map(Vec::as_slice), Some(&[0][..]));
    let records = repo.records().unwrap();
    assert_eq!(records.len(), 3);
    let latest = repo.latest_record("centos7-cloud").unwrap();
    assert_eq!(
        (latest.revision, latest.kind, latest.data_blobs.len()),
        (1, Kind::Vm, 2)
    );
    let ctr = repo.record("ubi8", 0).unwrap();
    assert_eq!(ctr.kind, Kind::Ctr);
    assert!(ctr.oci_index().is_some());
    // The VM's top file is its last blob.
    let top = latest.top_blob().unwrap();
    assert_eq!(
        fs::read(repo.blob_path(top.digest())).unwrap(),
        b"qcow2 top layer"
    );
    let listed: Vec<_> = repo.index().unwrap().into_iter().collect();
    assert_eq!(
        listed,
        [
            ("centos7-cloud".to_owned(), vec![0, 1]),
            ("ubi8".to_owned(), vec![0])
        ]
    );
    let report = repo.verify().unwrap();
    assert!(report.is_clean(), "{report:?}");
    assert_eq!((report.blobs_checked, report.records_checked), (5, 3));
    // Opening changed nothing pcocc can see.
    assert_eq!(entries(&root), [".config", ".tmp", "data", "meta"]);
}

#[test]
fn records_round_trip_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("images");
    let written = pcocc_repo(&root);
    let repo = Repository::open("user", &root).unwrap();
    // Copy every image into another repository (blobs by link, records as they are).
    let copy = Repository::open("copy", &dir.path().join("copy")).unwrap();
    let writer = copy.writer().unwrap();
    for record in repo.records().unwrap() {
        for blob in &record.data_blobs {
            writer
                .put_blob_file(&repo.blob_path(blob.digest()), Some(blob.digest()))
                .unwrap();
        }
        writer.commit(&record).unwrap();
    }
    drop(writer);
    for (file, json) in &written {
        assert_eq!(
            &fs::read_to_string(copy.meta_dir().join(file)).unwrap(),
            json,
            "{file}"
        );
    }
    // Rewriting in place keeps the bytes too.
    let record = repo.record("ubi8", 0).unwrap();
    repo.replace_record(&record).unwrap();
    assert_eq!(
        fs::read_to_string(root.join("meta/ubi8@0")).unwrap(),
        written[2].1
    );
}

#[test]
fn what_strata_writes_is_what_pcocc_reads() {
    let dir = tempfile::tempdir().unwrap();
    let repo = Repository::open("user", &dir.path().join("r")).unwrap();
    assert_eq!(
        fs::read(repo.path().join(".config")).unwrap(),
        b"version: 2\n"
    );
    let d = repo.put_blob(&b"x"[..], None).unwrap();
    let record = crate::common::vm_record("img", 0, &[&d]);
    repo.commit(&record).unwrap();
    // pcocc's json.dump output for the same dict.
    assert_eq!(
        fs::read_to_string(repo.meta_dir().join("img@0")).unwrap(),
        format!(
            r#"{{"name": "img", "revision": 0, "kind": "vm", "owner": "jdoe", "timestamp": 1533305394.12, "data_blobs": ["{}"], "custom_meta": {{}}}}"#,
            d.hex()
        )
    );
    // pcocc globs meta/* and data/*/*: nothing else visible appears there.
    assert_eq!(entries(&repo.meta_dir()), ["img@0"]);
    assert_eq!(entries(&repo.data_dir()), [d.hex()[..2].to_owned()]);
}
