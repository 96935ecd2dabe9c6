//! Container images in a repository: the repository as a strata-oci blob store (verified,
//! deduplicated, nothing left behind on a mismatch), container records as pcocc writes them,
//! verify of their references, and the container cache.

use std::fs;
use std::time::Duration;

use strata_model::kind::Kind;
use strata_oci::{BlobRead, BlobWrite, Expected, Image, OciError, Platform};
use strata_store::{Cache, ExtractPolicy, Problem, Repository, StoreError, container_record};

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
    put_layer(repo, layer_tar(content))
}

/// Puts a one-layer image with the tar `layer` into `repo` and returns the image.
fn put_layer(repo: &Repository, layer: Vec<u8>) -> Image {
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

/// A layer with directories, modes, a file over one squashfs block, an empty file, symlinks
/// and a FIFO.
fn rich_layer() -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let mut add = |path: &str, kind: tar::EntryType, mode: u32, data: &[u8], link: Option<&str>| {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_mode(mode);
        h.set_mtime(1_600_000_000);
        h.set_uid(1000);
        h.set_gid(1000);
        h.set_size(data.len() as u64);
        match link {
            Some(target) => b.append_link(&mut h, path, target).unwrap(),
            None => b.append_data(&mut h, path, data).unwrap(),
        }
    };
    let big: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
    add("etc", tar::EntryType::Directory, 0o755, &[], None);
    add("etc/motd", tar::EntryType::Regular, 0o644, b"hello\n", None);
    add("etc/empty", tar::EntryType::Regular, 0o600, &[], None);
    add("usr/bin", tar::EntryType::Directory, 0o755, &[], None);
    add("usr/bin/big", tar::EntryType::Regular, 0o4755, &big, None);
    add(
        "usr/bin/link",
        tar::EntryType::Symlink,
        0o777,
        &[],
        Some("../../etc/motd"),
    );
    add("abs", tar::EntryType::Symlink, 0o777, &[], Some("/nowhere"));
    add("fifo", tar::EntryType::Fifo, 0o644, &[], None);
    b.into_inner().unwrap()
}

#[test]
fn squashfs_entries_extract_with_unsquashfs_equal_to_the_bundle() {
    let (dir, repo) = new_repo();
    let image = put_layer(&repo, rich_layer());
    let record = container_record("sq", 0, "jdoe", 1.5, &image).unwrap();
    repo.commit(&record).unwrap();
    let cache = Cache::open(&dir.path().join("cache")).unwrap();
    let hold = cache.hold_squashfs(&repo, &record).unwrap();
    let hash = Cache::entry_hash(&record, "test", "cached_squashfs");
    assert_eq!(hold.path(), cache.entry_path(&hash));
    assert!(hold.path().is_file());
    // Both the bundle and the squashfs are entries; nothing is left half-built.
    let entries = cache.entries().unwrap();
    assert_eq!(entries.len(), 2, "{entries:?}");
    assert_eq!(entries.iter().filter(|e| !e.is_dir).count(), 1);
    let leftovers: Vec<_> = fs::read_dir(hold.path().parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|n| n.to_string_lossy().ends_with(".deleted"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    if !strata_testkit::peer(
        "the extraction check",
        strata_testkit::UNSQUASHFS_BIN,
        std::path::Path::new(strata_testkit::UNSQUASHFS_BIN).exists(),
    ) {
        return;
    }
    let out = dir.path().join("extracted");
    strata_testkit::unsquashfs(hold.path(), &out);
    let bundle = cache.entry_path(&Cache::entry_hash(&record, "test", "cached_bundle"));
    let mut want = strata_testkit::tree_listing(&bundle);
    let got = strata_testkit::tree_listing(&out);
    // -all-root: every owner is 0:0 in the squashfs, whatever the bundle has.
    let root_owned = regex_free_owner_reset(&mut want);
    assert!(root_owned > 0);
    assert_eq!(got, want);
    // Every block is stored uncompressed (mksquashfs -noD -noI -noF -noX): the data is there
    // as is.
    let bytes = fs::read(hold.path()).unwrap();
    let big: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
    assert!(bytes.windows(4096).any(|w| w == &big[..4096]));
    assert!(bytes.windows(6).any(|w| w == b"hello\n"));

    // A crashed build leaves a `.deleted` file: skipped by listings, purged by gc.
    let leftover = hold.path().with_extension("deleted");
    fs::write(&leftover, b"half a squashfs").unwrap();
    assert_eq!(cache.entries().unwrap().len(), 2);
    cache.clean_empty_dirs().unwrap();
    assert!(!leftover.exists());

    // A second hold reuses it; delete and gc remove it like a bundle.
    drop(hold);
    let again = cache.hold_squashfs(&repo, &record).unwrap();
    drop(again);
    let removal = cache.remove_image(&record, "test").unwrap();
    assert_eq!(removal.removed.len(), 2, "{removal:?}");
    assert!(cache.entries().unwrap().is_empty());
}

/// Sets the owner field of every listing line to 0:0; returns how many lines changed.
fn regex_free_owner_reset(listing: &mut std::collections::BTreeMap<String, String>) -> usize {
    let mut changed = 0;
    for line in listing.values_mut() {
        let mut parts: Vec<String> = line.splitn(4, ' ').map(str::to_owned).collect();
        if parts.len() >= 3 && parts[0] != "hardlink" && parts[2] != "0:0" {
            parts[2] = "0:0".to_owned();
            changed += 1;
        }
        *line = parts.join(" ");
    }
    changed
}

/// A layer with a character device, a block device, a setuid and a setgid binary: what an
/// untrusted image must not bring into a bundle.
fn privileged_layer() -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, kind, major, minor) in [
        ("dev/null", tar::EntryType::Char, 1, 3),
        ("dev/sda", tar::EntryType::Block, 8, 0),
    ] {
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(kind);
        h.set_mode(0o666);
        h.set_size(0);
        h.set_device_major(major).unwrap();
        h.set_device_minor(minor).unwrap();
        b.append_data(&mut h, name, std::io::empty()).unwrap();
    }
    for (name, mode) in [("bin/su", 0o4755), ("bin/wall", 0o2755)] {
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(tar::EntryType::Regular);
        h.set_mode(mode);
        h.set_size(2);
        b.append_data(&mut h, name, &b"#!"[..]).unwrap();
    }
    b.into_inner().unwrap()
}

fn mode(path: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    fs::symlink_metadata(path).unwrap().permissions().mode() & 0o7777
}

#[test]
fn the_cache_trusts_no_image_by_default() {
    let (dir, repo) = new_repo();
    let image = put_layer(&repo, privileged_layer());
    let record = container_record("priv", 0, "jdoe", 1.5, &image).unwrap();
    repo.commit(&record).unwrap();
    let cache = Cache::open(&dir.path().join("cache")).unwrap();
    assert_eq!(*cache.policy(), ExtractPolicy::default());
    let hold = cache.hold_bundle(&repo, &record).unwrap();
    let rootfs = hold.path().join("rootfs");
    assert!(rootfs.join("dev").is_dir());
    assert!(
        fs::symlink_metadata(rootfs.join("dev/null")).is_err(),
        "no device node"
    );
    assert!(
        fs::symlink_metadata(rootfs.join("dev/sda")).is_err(),
        "no device node"
    );
    assert_eq!(mode(&rootfs.join("bin/su")), 0o755, "setuid cleared");
    assert_eq!(mode(&rootfs.join("bin/wall")), 0o755, "setgid cleared");
}

#[test]
fn the_cache_keeps_device_nodes_and_setid_bits_when_asked() {
    let is_root = rustix::process::geteuid().is_root();
    if !strata_testkit::peer("the trusted cache check", "root privileges", is_root) {
        return;
    }
    let (dir, repo) = new_repo();
    let image = put_layer(&repo, privileged_layer());
    let record = container_record("priv", 0, "jdoe", 1.5, &image).unwrap();
    repo.commit(&record).unwrap();
    let cache = Cache::open(&dir.path().join("cache"))
        .unwrap()
        .with_policy(ExtractPolicy {
            device_nodes: true,
            setid_bits: true,
            ..ExtractPolicy::default()
        });
    let hold = cache.hold_bundle(&repo, &record).unwrap();
    let rootfs = hold.path().join("rootfs");
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let null = fs::symlink_metadata(rootfs.join("dev/null")).unwrap();
    assert!(null.file_type().is_char_device());
    assert_eq!(null.rdev(), rustix::fs::makedev(1, 3));
    let sda = fs::symlink_metadata(rootfs.join("dev/sda")).unwrap();
    assert!(sda.file_type().is_block_device());
    assert_eq!(mode(&rootfs.join("bin/su")), 0o4755);
    assert_eq!(mode(&rootfs.join("bin/wall")), 0o2755);
}

#[test]
fn a_decompression_bomb_stops_at_the_caches_expansion_limit() {
    use std::io::{Read as _, Write as _};
    let (dir, repo) = new_repo();
    // 8 MiB of zeros in a file: about 8 KiB of gzip, a thousand times smaller.
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_ustar();
    h.set_mode(0o644);
    h.set_size(8 << 20);
    b.append_data(&mut h, "zeros", std::io::repeat(0).take(8 << 20))
        .unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&b.into_inner().unwrap()).unwrap();
    let bomb = gz.finish().unwrap();
    assert!(bomb.len() < 64 << 10, "{}", bomb.len());
    let bomb_digest = strata_oci::verify::digest_bytes(&bomb);
    let image = put_layer(&repo, bomb);
    let record = container_record("bomb", 0, "jdoe", 1.5, &image).unwrap();
    repo.commit(&record).unwrap();
    let small = ExtractPolicy {
        expansion: strata_oci::ExpansionLimit {
            ratio: 20,
            floor: 1 << 20,
        },
        ..ExtractPolicy::default()
    };
    let cache = Cache::open(&dir.path().join("cache"))
        .unwrap()
        .with_policy(small);
    let err = cache.hold_bundle(&repo, &record).unwrap_err();
    match &err {
        StoreError::Oci(OciError::ExpansionTooLarge {
            what, limit, ratio, ..
        }) => {
            assert!(what.contains(&bomb_digest.prefixed()), "{what}");
            assert_eq!((*limit, *ratio), (1 << 20, 20));
        }
        other => panic!("expected ExpansionTooLarge, got {other:?}"),
    }
    assert_eq!(
        err.kind(),
        strata_store::ErrorKind::InvalidFormat,
        "exit 65"
    );
    assert!(err.to_string().contains(&bomb_digest.prefixed()), "{err}");
    // Nothing of it stays in the cache.
    assert!(cache.entries().unwrap().is_empty());
    cache.clean_empty_dirs().unwrap();
    assert_eq!(
        fs::read_dir(cache.path())
            .unwrap()
            .filter(|e| !e
                .as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with('.'))
            .count(),
        0
    );
    // The default limit lets this one through (8 MiB is under its 1 GiB floor).
    let cache = Cache::open(&dir.path().join("cache")).unwrap();
    let hold = cache.hold_bundle(&repo, &record).unwrap();
    assert_eq!(
        fs::metadata(hold.path().join("rootfs/zeros"))
            .unwrap()
            .len(),
        8 << 20
    );
}
