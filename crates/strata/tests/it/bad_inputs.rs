//! Bad inputs: each gives a clear error with its exact variant and kind, and leaves every
//! repository exactly as it was.

use std::path::Path;

use strata::DiskFormat;
use strata::{Error, ErrorKind, ImportRequest, NoProgress};
use strata_disk::error::DiskErrorSource;
use strata_disk::open::OpenError;
use strata_model::NameError;
use strata_model::spec::SpecError;
use strata_store::StoreError;

use crate::util::{Fixture, image, listing, make_qcow2, make_raw};

/// A fixture whose two repositories exist and hold one image each.
fn populated() -> Fixture {
    let fx = Fixture::new();
    let raw = fx.path("seed.raw");
    make_raw(&raw, 12 * 1024 * 1024);
    fx.import(&raw, "seed");
    fx.import(&raw, "global:seed");
    fx
}

/// Imports `source` (with `-t format`) as `dest`, expecting an error; checks that neither
/// repository changed.
fn import_err(fx: &Fixture, source: &Path, format: Option<&str>, dest: &str) -> Error {
    import_text_err(fx, source.to_str().unwrap(), format, dest)
}

fn import_text_err(fx: &Fixture, source: &str, format: Option<&str>, dest: &str) -> Error {
    let before = (
        listing(&fx.repo_dir("user")),
        listing(&fx.repo_dir("global")),
    );
    let err = fx
        .strata
        .import(
            ImportRequest {
                source: source.to_owned(),
                format: format.map(str::to_owned),
                dest: image(dest),
                arch: None,
            },
            &NoProgress,
        )
        .unwrap_err();
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

    let err = import_err(&fx, &b.join("top.qcow2"), None, "escape");
    assert_eq!(err.kind(), ErrorKind::Escape);
    let Error::ImportFailed { path, error } = &err else {
        panic!("{err:?}");
    };
    assert_eq!(path, b.join("top.qcow2").to_str().unwrap());
    assert!(
        matches!(
            &error.source,
            DiskErrorSource::Open(OpenError::OutsideAllowedDirs { name, .. }) if name == "../a/base.qcow2"
        ),
        "{error:?}"
    );
    assert!(
        err.to_string()
            .starts_with(&format!("Failed to import {path} : ")),
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
    let err = import_err(&fx, &q, None, "truncated");
    assert!(matches!(err, Error::ImportFailed { .. }), "{err:?}");
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
    let err = import_err(&fx, &q, None, "truncated");
    assert!(matches!(err, Error::ImportFailed { .. }), "{err:?}");
    assert_eq!(err.kind(), ErrorKind::InvalidFormat, "{err}");
}

#[test]
fn unknown_formats() {
    let fx = populated();
    let raw = fx.path("u.raw");
    make_raw(&raw, 1024 * 1024);
    let err = import_err(&fx, &raw, Some("foo"), "u");
    assert!(
        matches!(&err, Error::Spec(SpecError::InvalidFormat { format }) if format == "foo"),
        "{err:?}"
    );
    assert_eq!(err.to_string(), "foo is not a valid image format");
    assert_eq!(err.kind(), ErrorKind::InvalidRequest);

    // A vmdk magic on a broken header: refused, naming the file and the problem.
    let vmdk = fx.path("u.vmdk");
    let mut bytes = b"KDMV".to_vec();
    bytes.resize(4096, 0);
    std::fs::write(&vmdk, bytes).unwrap();
    let err = import_err(&fx, &vmdk, None, "u");
    assert_eq!(err.kind(), ErrorKind::InvalidFormat, "{err}");
    assert!(err.to_string().contains(&*vmdk.to_string_lossy()), "{err}");

    // The extension says qcow2, the content says raw (pcocc ignores raw detections: no
    // mismatch, and the qcow2 open fails); the prefix says raw, the content qcow2: mismatch.
    let q = fx.path("u.qcow2");
    make_qcow2(&raw, &q);
    let err = import_text_err(&fx, &format!("raw:{}", q.display()), None, "u");
    assert!(
        matches!(err, Error::Spec(SpecError::DetectedMismatch { .. })),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "Mismatch between specified format raw and detected image type qcow2"
    );
    let err = import_text_err(&fx, &format!("raw:{}", q.display()), Some("qcow2"), "u");
    assert_eq!(
        err.to_string(),
        "Mismatch between specified image format qcow2 and import URI prefix raw"
    );

    // Nothing there.
    let err = import_err(&fx, &fx.path("missing"), None, "u");
    assert!(
        matches!(err, Error::Spec(SpecError::CouldNotDetect { .. })),
        "{err:?}"
    );
    assert_eq!(err.to_string(), "Could not detect image format");
    let missing = fx.path("missing");
    let err = import_text_err(&fx, &format!("raw:{}", missing.display()), None, "u");
    assert!(
        matches!(err, Error::NotAnImageFile { exists: false, .. }),
        "{err:?}"
    );
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert_eq!(
        err.to_string(),
        format!("Failed to import {} : not an image file", missing.display())
    );

    // An OCI layout is a container image: one with a bad `oci-layout` is refused.
    let oci = fx.path("layout");
    std::fs::create_dir(&oci).unwrap();
    std::fs::write(oci.join("oci-layout"), "{}").unwrap();
    let err = import_err(&fx, &oci, None, "u");
    assert!(
        matches!(err, Error::ContainerImportFailed { .. }),
        "{err:?}"
    );
    assert_eq!(err.kind(), ErrorKind::InvalidFormat);
}

#[test]
fn invalid_name_missing_repository_and_existing_image() {
    let fx = populated();
    let raw = fx.path("n.raw");
    make_raw(&raw, 1024 * 1024);
    let err = import_err(&fx, &raw, None, "bad name!");
    assert!(
        matches!(err, Error::Name(NameError::PcoccInvalidChars { .. })),
        "{err:?}"
    );
    assert_eq!(err.to_string(), "Object name contains invalid characters");
    assert_eq!(err.kind(), ErrorKind::InvalidRequest);

    let err = import_err(&fx, &raw, None, "nope:img");
    assert!(
        matches!(err, Error::Store(StoreError::UnknownRepository { .. })),
        "{err:?}"
    );
    assert_eq!(err.to_string(), "Unknown repository nope");
    assert_eq!(err.kind(), ErrorKind::Config);

    let err = import_err(&fx, &raw, None, "seed");
    assert!(
        matches!(err, Error::Store(StoreError::ImageExists { .. })),
        "{err:?}"
    );
    assert_eq!(err.to_string(), "Image seed already exists in repo user");
    assert_eq!(err.kind(), ErrorKind::AlreadyExists);
    let err = import_err(&fx, &raw, None, "global:seed");
    assert_eq!(err.to_string(), "Image seed already exists in repo global");
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
    let err = import_err(&fx, &raw, None, "global:ro");
    assert!(
        matches!(&err, Error::ReadOnlyRepository { repo, .. } if repo == "global"),
        "{err:?}"
    );
    assert_eq!(err.kind(), ErrorKind::PermissionDenied);
    // Reading still works, and repo list says it is not writable.
    let repos = fx.strata.repo_list().unwrap();
    assert_eq!(repos.repos[1].writable, Some(false));
    assert_eq!(repos.repos[0].writable, Some(true));
    fx.strata
        .show(strata::ShowRequest {
            image: image("global:seed"),
        })
        .unwrap();
    let err = fx
        .strata
        .delete(strata::DeleteRequest {
            image: image("global:seed"),
        })
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PermissionDenied);
}
