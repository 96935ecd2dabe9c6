//! Blobs: put, new blobs written positionally, dedup, digest verification, linking,
//! sparseness.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use strata_disk::Output;
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

/// A read-only bind mount of `dir` at `at`, undone when dropped.
struct ReadOnlyView(std::path::PathBuf);

impl ReadOnlyView {
    /// Mounts it; `None` where this process may not mount (not root, no mount namespace).
    fn mount(dir: &Path, at: &Path) -> Option<ReadOnlyView> {
        let run = |args: &[&str]| {
            std::process::Command::new("mount")
                .args(args)
                .output()
                .is_ok_and(|o| o.status.success())
        };
        fs::create_dir_all(at).unwrap();
        let (d, a) = (dir.to_str().unwrap(), at.to_str().unwrap());
        if !run(&["--bind", d, a]) {
            return None;
        }
        let view = ReadOnlyView(at.to_owned());
        run(&["-o", "remount,bind,ro", a]).then_some(view)
    }
}

impl Drop for ReadOnlyView {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

/// A repository seen through a read-only bind mount of the same filesystem: `link(2)` fails
/// with EXDEV there, and the blob is copied instead (the copy failed with "Cannot link a file
/// into ...").
#[test]
fn blobs_behind_a_read_only_bind_mount_are_copied() {
    let (dir, repo) = new_repo();
    let other = Repository::open("other", &dir.path().join("other")).unwrap();
    let d = other.put_blob(&b"shared layer"[..], None).unwrap();
    let Some(_view) = ReadOnlyView::mount(other.path(), &dir.path().join("ro-view")) else {
        assert!(
            !strata_testkit::in_ci() || !strata_store::fsutil::is_root(),
            "CI runs as root and may mount: the read-only bind mount must work"
        );
        eprintln!("cannot mount a read-only bind mount here: skipped");
        return;
    };
    let seen = Repository::open("other", &dir.path().join("ro-view")).unwrap();
    let writer = repo.writer().unwrap();
    let (got, method) = writer.put_blob_file(&seen.blob_path(&d), Some(&d)).unwrap();
    assert_eq!(got, d);
    assert_ne!(method, CopyMethod::HardLink);
    assert_eq!(fs::read(repo.blob_path(&d)).unwrap(), b"shared layer");
    assert!(entries(&repo.tmp_dir()).is_empty());
}

#[test]
fn a_new_blob_is_hashed_as_written_and_moved_without_copying() {
    let (_dir, repo) = new_repo();
    let writer = repo.writer().unwrap();
    let mut blob = writer.new_blob().unwrap();
    blob.write_at(b"converted", 0).unwrap();
    blob.write_at(b" image", 9).unwrap();
    let ino = blob.file().metadata().unwrap().ino();
    let stored = blob.commit().unwrap();
    assert_eq!(stored.digest, sha(b"converted image"));
    assert_eq!((stored.len, stored.bytes_written), (15, 15));
    assert!(!stored.existed && !stored.read_back);
    let path = repo.blob_path(&stored.digest);
    assert_eq!(
        fs::metadata(&path).unwrap().ino(),
        ino,
        "renamed, not copied"
    );
    assert_eq!(mode(&path), 0o444);
    assert!(entries(&repo.tmp_dir()).is_empty());

    // Holes before and after the data hash as zeros; a write behind what was hashed (a header
    // written last) is hashed by reading the file back.
    let mut blob = writer.new_blob().unwrap();
    blob.write_at(b"tail", 8).unwrap();
    blob.write_at(b"head", 0).unwrap();
    blob.set_len(16).unwrap();
    let stored = blob.commit().unwrap();
    assert!(stored.read_back);
    assert_eq!(stored.digest, sha(b"head\0\0\0\0tail\0\0\0\0"));
    let mut blob = writer.new_blob().unwrap();
    blob.write_at(b"tail", 8).unwrap();
    blob.set_len(16).unwrap();
    let stored = blob.commit().unwrap();
    assert!(!stored.read_back);
    assert_eq!(stored.digest, sha(b"\0\0\0\0\0\0\0\0tail\0\0\0\0"));
    // A target that says it will write behind its data is read back from the start, and
    // the digest is the same.
    let mut blob = writer.new_blob().unwrap();
    blob.expect_rewrites();
    blob.write_at(b"tail", 8).unwrap();
    blob.set_len(16).unwrap();
    let stored = blob.commit().unwrap();
    assert!(stored.read_back);
    assert_eq!(stored.digest, sha(b"\0\0\0\0\0\0\0\0tail\0\0\0\0"));

    // The same bytes again: the blob is kept, the new file dropped, nothing counted.
    let mut blob = writer.new_blob().unwrap();
    blob.write_at(b"converted image", 0).unwrap();
    let stored = blob.commit().unwrap();
    assert!(stored.existed);
    assert_eq!(stored.bytes_written, 0);
    assert!(entries(&repo.tmp_dir()).is_empty());

    // An expected digest that does not match stores nothing; a dropped blob leaves nothing.
    let mut blob = writer.new_blob().unwrap();
    blob.write_at(b"other", 0).unwrap();
    let e = blob.commit_expecting(Some(&sha(b"not it"))).unwrap_err();
    assert!(matches!(e, StoreError::IntegrityMismatch { .. }), "{e:?}");
    assert_eq!(e.kind(), ErrorKind::IntegrityMismatch);
    assert!(!repo.has_blob(&sha(b"other")));
    let mut blob = writer.new_blob().unwrap();
    blob.write_at(b"dropped", 0).unwrap();
    drop(blob);
    assert!(entries(&repo.tmp_dir()).is_empty());
}

/// A new blob's errors (a full disk while the convert engine writes it) name the repository, not
/// the scratch file in `.tmp/` whose name means nothing to a user.
#[test]
fn a_new_blobs_errors_name_the_repository() {
    let (_dir, repo) = new_repo();
    let writer = repo.writer().unwrap();
    let mut blob = writer.new_blob().unwrap();
    assert_eq!(blob.path(), repo.path());
    let e = blob.set_len(u64::MAX).unwrap_err();
    let text = e.to_string();
    assert!(
        text.starts_with(&format!("{}: set the length", repo.path().display())),
        "{text}"
    );
    let scratch = repo.tmp_dir().display().to_string();
    assert!(!text.contains(&scratch), "{text}");
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

/// Every format the convert engine writes, into a new blob: the digest computed while the
/// engine's workers write in parallel (or by read-back, for formats whose metadata comes last)
/// is the sha256 of the stored bytes.
#[test]
fn every_writable_format_converted_into_a_blob_hashes_to_its_bytes() {
    use strata_disk::qcow2::{CreateOptions, Qcow2Target};
    use strata_disk::{Compression, ConvertOptions, RawImage, convert, create_target};
    use strata_model::DiskFormat;

    let size = (6 << 20) + 4608;
    let mut bytes = vec![0u8; size];
    for (offset, len) in [
        (0usize, 70_000usize),
        (2 << 20, 300_000),
        (size - 4096, 4096),
    ] {
        for (i, b) in bytes[offset..offset + len].iter_mut().enumerate() {
            *b = (i % 251) as u8 ^ 0x5a;
        }
    }
    let source = RawImage::from_bytes(bytes);
    let (_dir, repo) = new_repo();
    let writer = repo.writer().unwrap();
    let options = ConvertOptions {
        workers: 4,
        chunk_size: 300_000,
        ..ConvertOptions::default()
    };
    let formats = DiskFormat::ALL
        .into_iter()
        .filter(|f| strata_disk::is_writable(*f));
    for format in formats {
        let mut blob = writer.new_blob().unwrap();
        let target = create_target(format, &mut blob, size as u64).unwrap();
        convert(&source, target, &options, &|_| {}).unwrap();
        let stored = blob.commit().unwrap();
        let on_disk = fs::read(repo.blob_path(&stored.digest)).unwrap();
        assert_eq!(stored.digest, sha(&on_disk), "{format:?}");
        // Formats with tables before their data say so up front: the blob is read back.
        if matches!(format, DiskFormat::Qcow2 | DiskFormat::Qed) {
            assert!(stored.read_back, "{format:?}");
        }
        assert_eq!(stored.len, on_disk.len() as u64, "{format:?}");
    }
    let mut blob = writer.new_blob().unwrap();
    let create = CreateOptions {
        compression: Some(Compression::ZSTD),
        ..CreateOptions::new(size as u64)
    };
    let target = Qcow2Target::create(&mut blob, &create).unwrap();
    let options = ConvertOptions {
        compression: Some(Compression::ZSTD),
        ..options
    };
    convert(&source, Box::new(target), &options, &|_| {}).unwrap();
    let stored = blob.commit().unwrap();
    assert!(stored.read_back, "compressed qcow2 writes its header last");
    let on_disk = fs::read(repo.blob_path(&stored.digest)).unwrap();
    assert_eq!(stored.digest, sha(&on_disk));
}
