//! Bad inputs: each gives a clear error with its exact variant and kind, and leaves every
//! repository exactly as it was.

use std::path::Path;

use strata::{DiskFormat, Error, ErrorKind, ImportRequest, NamePolicy, NoProgress, Source};
use strata_disk::error::DiskErrorSource;
use strata_disk::open::OpenError;

use crate::util::{Fixture, image, import_request, listing, make_qcow2, make_raw, target};

/// A fixture whose two repositories exist and hold one image each.
fn populated() -> Fixture {
    let fx = Fixture::new();
    let raw = fx.path("seed.raw");
    make_raw(&raw, 12 * 1024 * 1024);
    fx.import(&raw, "seed");
    fx.import(&raw, "global:seed");
    fx
}

/// Imports `source` (its format probed) as `dest`, expecting an error; checks that neither
/// repository changed.
fn import_err(fx: &Fixture, source: &Path, dest: &str) -> Error {
    import_request_err(fx, import_request(source, dest))
}

/// Imports `source` in `format` as `dest`, expecting an error (see [`import_err`]).
fn import_as_err(fx: &Fixture, source: &Path, format: DiskFormat, dest: &str) -> Error {
    let request = ImportRequest {
        source: Source::Disk {
            path: source.to_owned(),
            format,
        },
        dest: target(dest),
        policy: NamePolicy::default(),
        arch: None,
    };
    import_request_err(fx, request)
}

fn import_request_err(fx: &Fixture, request: ImportRequest) -> Error {
    let before = (
        listing(&fx.repo_dir("user")),
        listing(&fx.repo_dir("global")),
    );
    let err = fx.strata.import(request, &NoProgress).unwrap_err();
    let after = (
        listing(&fx.repo_dir("user")),
        listing(&fx.repo_dir("global")),
    );
    assert_eq!(before, after, "{err}");
    err
}

#[test]
fn backing_file_outside_the_source_directory() {
    let fx = populated();
    let a = fx.path("a");
    let b = fx.path("b");
    std::fs::create_dir_all(&a).unwrap();
    std::fs::create_dir_all(&b).unwrap();
    make_raw(&a.join("base.raw"), 4 * 1024 * 1024);
    make_qcow2(&a.join("base.raw"), &a.join("base.qcow2"));
    let mut options = strata_disk::qcow2::writer::CreateOptions::new(4 * 1024 * 1024);
    options.backing = Some(("../a/base.qcow2".into(), DiskFormat::Qcow2));
    strata_disk::qcow2::writer::create_file(&b.join("top.qcow2"), &options).unwrap();

    let err = import_err(&fx, &b.join("top.qcow2"), "escape");
    assert_eq!(err.kind(), ErrorKind::Escape);
    let Error::DiskSource { path, error } = &err else {
        panic!("{err:?}");
    };
    assert_eq!(*path, b.join("top.qcow2"));
    assert!(
        matches!(
            &error.source,
            DiskErrorSource::Open(OpenError::OutsideAllowedDirs { name, .. }) if name == "../a/base.qcow2"
        ),
        "{error:?}"
    );
    assert!(
        err.to_string()
            .starts_with(&format!("cannot import {}: ", path.display())),
        "{err}"
    );
}

#[test]
fn truncated_image() {
    let fx = populated();
    let raw = fx.path("t.raw");
    make_raw(&raw, 4 * 1024 * 1024);
    let q = fx.path("t.qcow2");
    make_qcow2(&raw, &q);
    let len = std::fs::metadata(&q).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&q)
        .unwrap()
        .set_len(len / 2)
        .unwrap();
    let err = import_err(&fx, &q, "truncated");
    assert!(matches!(err, Error::DiskSource { .. }), "{err:?}");
    assert!(
        matches!(err.kind(), ErrorKind::Corrupt | ErrorKind::InvalidFormat),
        "{:?}: {err}",
        err.kind()
    );
    // Cut inside the header: still a qcow2 by its magic, never read as raw.
    std::fs::OpenOptions::new()
        .write(true)
        .open(&q)
        .unwrap()
        .set_len(40)
        .unwrap();
    let err = import_err(&fx, &q, "truncated");
    assert!(matches!(err, Error::DiskSource { .. }), "{err:?}");
    assert_eq!(err.kind(), ErrorKind::InvalidFormat, "{err}");
}

#[test]
fn broken_sources() {
    let fx = populated();
    // A vmdk magic on a broken header: refused, naming the file and the problem.
    let vmdk = fx.path("u.vmdk");
    let mut bytes = b"KDMV".to_vec();
    bytes.resize(4096, 0);
    std::fs::write(&vmdk, bytes).unwrap();
    let err = import_as_err(&fx, &vmdk, DiskFormat::Vmdk, "u");
    assert_eq!(err.kind(), ErrorKind::InvalidFormat, "{err}");
    assert!(err.to_string().contains(&*vmdk.to_string_lossy()), "{err}");

    // A raw file taken for a qcow2: its open fails.
    let raw = fx.path("u.raw");
    make_raw(&raw, 1024 * 1024);
    let err = import_as_err(&fx, &raw, DiskFormat::Qcow2, "u");
    assert!(matches!(err, Error::DiskSource { .. }), "{err:?}");
    assert_eq!(err.kind(), ErrorKind::InvalidFormat, "{err}");

    // Nothing there, or not a file.
    let missing = fx.path("missing");
    let err = import_as_err(&fx, &missing, DiskFormat::Raw, "u");
    assert!(
        matches!(&err, Error::NotAFile { exists: false, path } if *path == missing),
        "{err:?}"
    );
    assert_eq!(err.kind(), ErrorKind::NotFound);
    let err = import_as_err(&fx, fx.dir.path(), DiskFormat::Raw, "u");
    assert!(
        matches!(err, Error::NotAFile { exists: true, .. }),
        "{err:?}"
    );
    assert_eq!(err.kind(), ErrorKind::InvalidRequest);

    // An OCI layout is a container image: one with a bad `oci-layout` is refused.
    let oci = fx.path("layout");
    std::fs::create_dir(&oci).unwrap();
    std::fs::write(oci.join("oci-layout"), "{}").unwrap();
    let transport = format!("oci:{}", oci.display()).parse().unwrap();
    let err = import_request_err(
        &fx,
        ImportRequest {
            source: Source::Container(transport),
            ..import_request(&raw, "u")
        },
    );
    assert!(matches!(err, Error::ContainerSource { .. }), "{err:?}");
    assert_eq!(err.kind(), ErrorKind::InvalidFormat);
}

#[test]
fn missing_store_empty_name_and_existing_image() {
    let fx = populated();
    let raw = fx.path("n.raw");
    make_raw(&raw, 1024 * 1024);
    let err = import_err(&fx, &raw, "nope:img");
    assert!(
        matches!(&err, Error::UnknownStore { name } if name == "nope"),
        "{err:?}"
    );
    assert_eq!(err.kind(), ErrorKind::NotFound);
    let err = import_err(&fx, &raw, "");
    assert!(matches!(err, Error::EmptyName), "{err:?}");
    assert_eq!(err.kind(), ErrorKind::InvalidRequest);
    // Any name a store can hold is a name: the core has no dialect's name rules.
    fx.import(&raw, "a name with spaces/and:colons");

    let err = import_err(&fx, &raw, "seed");
    assert!(
        matches!(&err, Error::ImageExists { name, store } if name == "seed" && store == "user"),
        "{err:?}"
    );
    assert_eq!(err.kind(), ErrorKind::AlreadyExists);
    let err = import_err(&fx, &raw, "global:seed");
    assert!(
        matches!(&err, Error::ImageExists { store, .. } if store == "global"),
        "{err:?}"
    );
}

/// Makes `dir` read-only for this process: permission bits for a normal user; for root (whom
/// permission bits do not stop), a read-only tmpfs mounted over it, if mounting is allowed.
/// Returns a guard that undoes it, or `None` if it cannot be done here.
fn make_read_only(dir: &Path) -> Option<ReadOnly> {
    use std::os::unix::fs::PermissionsExt;
    if !strata_store::fsutil::is_root() {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o555)).unwrap();
        return Some(ReadOnly::Chmod(dir.to_owned()));
    }
    // Copy the repository onto a tmpfs, remount it read-only over the original.
    let staging = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        std::process::Command::new(args[0])
            .args(&args[1..])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    let d = dir.to_str().unwrap();
    let s = staging.path().to_str().unwrap();
    if !run(&["cp", "-a", &format!("{d}/."), s]) || !run(&["mount", "-t", "tmpfs", "tmpfs", d]) {
        return None;
    }
    let ok = run(&["cp", "-a", &format!("{s}/."), d]) && run(&["mount", "-o", "remount,ro", d]);
    if !ok {
        run(&["umount", d]);
        return None;
    }
    Some(ReadOnly::Mount(dir.to_owned()))
}

enum ReadOnly {
    Chmod(std::path::PathBuf),
    Mount(std::path::PathBuf),
}

impl Drop for ReadOnly {
    fn drop(&mut self) {
        use std::os::unix::fs::PermissionsExt;
        match self {
            ReadOnly::Chmod(dir) => {
                let _ = std::fs::set_permissions(&*dir, std::fs::Permissions::from_mode(0o755));
            }
            ReadOnly::Mount(dir) => {
                let _ = std::process::Command::new("umount").arg(&*dir).status();
            }
        }
    }
}

#[test]
fn read_only_repository() {
    let fx = populated();
    let raw = fx.path("r.raw");
    make_raw(&raw, 1024 * 1024);
    let Some(_guard) = make_read_only(&fx.repo_dir("global")) else {
        eprintln!("cannot make a read-only directory here (root without mount): skipped");
        return;
    };
    let err = import_err(&fx, &raw, "global:ro");
    assert!(
        matches!(&err, Error::ReadOnlyStore { store, .. } if store == "global"),
        "{err:?}"
    );
    assert_eq!(err.kind(), ErrorKind::PermissionDenied);
    // Reading still works, and the store list says it is not writable.
    let stores = fx.strata.store_list();
    assert_eq!(stores.stores[1].writable, Some(false));
    assert_eq!(stores.stores[0].writable, Some(true));
    fx.strata
        .show(strata::ShowRequest {
            image: image("global:seed"),
        })
        .unwrap();
    let err = fx
        .strata
        .delete(strata::DeleteRequest::new(image("global:seed")))
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PermissionDenied);
}
