//! Container images in a repository: the repository as a strata-oci blob store (verified,
//! deduplicated, nothing left behind on a mismatch), container records as pcocc writes them,
//! verify of their references, and the container cache.

use std::fs;
use std::time::Duration;

use strata_model::kind::Kind;
use strata_oci::{BlobRead, BlobWrite, Expected, Image, OciError, Platform};
use strata_store::{Cache, Problem, Repository, StoreError, container_record};

use crate::common::new_repo;

fn layer_tar(content: &[u8]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_ustar();
    h.set_mode(0o644);
    h.set_mtime(1_600_000_000);
    h.set_size(content.len() as u64);
    b.append_data(&mut h, "etc/motd", content).unwrap();
    b.into_inner().unwrap()
}

/// Puts a one-layer image's blobs into `repo` and returns the image.
fn put_image(repo: &Repository, content: &[u8]) -> Image {
    let layer = layer_tar(content);
    let layer_digest = strata_oci::verify::digest_bytes(&layer);
    let config = format!(
        r#"{{"architecture":"amd64","os":"linux","config":{{"Cmd":["sh"]}},"rootfs":{{"type":"layers","diff_ids":["{}"]}}}}"#,
        layer_digest.prefixed()
    );
    let manifest = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{}","size":{}}},"layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"{}","size":{}}}]}}"#,
        strata_oci::verify::digest_bytes(config.as_bytes()).prefixed(),
        config.len(),
        layer_digest.prefixed(),
        layer.len()
    );
    let writer = repo.writer().unwrap();
    for bytes in [&layer[..], config.as_bytes(), manifest.as_bytes()] {
        writer.put_bytes(bytes, None).unwrap();
    }
    Image::from_parts(manifest.into_bytes(), config.into_bytes()).unwrap()
}

#[test]
fn blob_store_verifies_and_deduplicates() {
    let (_dir, repo) = new_repo();
    let bytes = b"some blob";
    let digest = strata_oci::verify::digest_bytes(bytes);
    let good = Expected {
        digest: digest.clone(),
        size: bytes.len() as u64,
    };
    let writer = repo.writer().unwrap();
    // A wrong digest: refused, nothing stored, nothing left in .tmp.
    let wrong = Expected {
        digest: strata_oci::verify::digest_bytes(b"other"),
        size: bytes.len() as u64,
    };
    let err = writer.put_bytes(bytes, Some(&wrong)).unwrap_err();
    assert!(matches!(err, OciError::DigestMismatch { .. }), "{err:?}");
    let long = Expected {
        digest: digest.clone(),
        size: 3,
    };
    let err = writer.put_bytes(bytes, Some(&long)).unwrap_err();
    assert!(
        matches!(err, OciError::SizeMismatch { expected: 3, .. }),
        "{err:?}"
    );
    assert!(!repo.has_blob(&digest));
    assert_eq!(fs::read_dir(repo.tmp_dir()).unwrap().count(), 0);
    // A good one, then the same again: deduplicated.
    writer.put_bytes(bytes, Some(&good)).unwrap();
    assert!(BlobWrite::has_blob(&writer, &digest).unwrap());
    let before = fs::metadata(repo.blob_path(&digest)).unwrap();
    writer.put_bytes(bytes, Some(&good)).unwrap();
    let after = fs::metadata(repo.blob_path(&digest)).unwrap();
    assert_eq!(
        std::os::unix::fs::MetadataExt::ino(&before),
        std::os::unix::fs::MetadataExt::ino(&after)
    );
    drop(writer);
    // Reading verifies: a wrong size is caught at the end of the stream.
    let read = repo.read_blob(&digest, bytes.len() as u64, 1024).unwrap();
    assert_eq!(read, bytes);
    let err = repo.read_blob(&digest, 4, 1024).unwrap_err();
    assert!(matches!(err, OciError::SizeMismatch { .. }), "{err:?}");
    let missing = repo
        .open_blob(&strata_oci::verify::digest_bytes(b"nope"), 1)
        .err()
        .unwrap();
    assert!(matches!(missing, OciError::NotFound { .. }), "{missing:?}");
}

#[test]
fn container_records_rebuild_and_verify() {
    let (_dir, repo) = new_repo();
    let image = put_image(&repo, b"hello\n");
    let record = container_record("ctr", 0, "jdoe", 1.5, &image).unwrap();
    assert_eq!(record.kind, Kind::Ctr);
    let blobs: Vec<String> = record.data_blobs.iter().map(ToString::to_string).collect();
    assert_eq!(
        blobs,
        [
            image.manifest_descriptor.digest().to_string(),
            image.layers()[0].digest().to_string(),
            image.config().digest().to_string(),
        ]
    );
    repo.commit(&record).unwrap();
    let back = repo.container_image(&record, &Platform::host()).unwrap();
    assert_eq!(back.manifest_bytes, image.manifest_bytes);
    assert!(repo.verify().unwrap().is_clean());

    // A record that does not list a blob its manifest names is reported.
    let mut short = record.clone();
    short.name = "short".to_owned();
    short.data_blobs.truncate(2);
    repo.commit(&short).unwrap();
    let report = repo.verify().unwrap();
    assert!(
        report
            .problems
            .iter()
            .any(|p| matches!(p, Problem::Container { name, .. } if name == "short")),
        "{report:?}"
    );
    // gc keeps what records list; a missing layer is then reported by verify.
    repo.delete_record("short", 0, strata_store::DeleteMode::RefuseInUse)
        .unwrap();
    repo.gc(Duration::ZERO).unwrap();
    assert!(repo.verify().unwrap().is_clean());
}

#[test]
fn cache_builds_holds_and_removes() {
    let (dir, repo) = new_repo();
    let image = put_image(&repo, b"cached\n");
    let record = container_record("ctr", 0, "jdoe", 1.5, &image).unwrap();
    repo.commit(&record).unwrap();
    let cache = Cache::open(&dir.path().join("cache")).unwrap();
    let hold = cache.hold_bundle(&repo, &record).unwrap();
    assert_eq!(
        fs::read(hold.path().join("rootfs/etc/motd")).unwrap(),
        b"cached\n"
    );
    let hash = Cache::entry_hash(&record, "test", "cached_bundle");
    assert_eq!(hold.path(), cache.entry_path(&hash));
    assert_eq!(cache.entries().unwrap().len(), 1);
    // Held: gc leaves it.
    let removal = cache.clear().unwrap();
    assert_eq!((removal.removed.len(), removal.held.len()), (0, 1));
    drop(hold);
    // A leftover of a crashed build or removal is skipped, then purged.
    let leftover = cache.entry_path(&hash).with_extension("deleted");
    fs::create_dir_all(leftover.join("rootfs")).unwrap();
    assert_eq!(cache.entries().unwrap().len(), 1);
    let removal = cache.clear().unwrap();
    assert_eq!(removal.removed, [hash]);
    assert!(!leftover.exists());
    assert!(cache.entries().unwrap().is_empty());
    // The store's error for a non-container record.
    let vm = crate::common::vm_record("vm", 0, &[]);
    let err = cache.hold_bundle(&repo, &vm).unwrap_err();
    assert!(matches!(err, StoreError::Oci(_)), "{err:?}");
}
