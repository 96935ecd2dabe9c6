//! Read-only repositories: reads work, writes fail with a permission error, nothing is created.
//!
//! Tests run as root on the project's machines, where permission bits are not enforced (a
//! `chmod 0555` directory is still writable by root). So:
//! - as an ordinary user, the repository's directories are made 0555;
//! - as root, the test re-runs itself in a private mount namespace (`unshare --mount`) where
//!   the repository is bind-mounted read-only on itself, so writes fail with `EROFS`; the mount
//!   disappears with the namespace, even if the test fails;
//! - as root without `unshare` (or where mounting is not allowed), it says so and checks only
//!   what needs no enforcement.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use strata_store::fsutil::is_root;
use strata_store::{ErrorKind, Repository};

use crate::common::{entries, sha, vm_record};

/// A repository with one image.
fn populated(root: &Path) -> Repository {
    let repo = Repository::open("system", root).unwrap();
    let d = repo.put_blob(&b"golden image"[..], None).unwrap();
    repo.commit(&vm_record("golden", 0, &[&d])).unwrap();
    // A lock file from an earlier writer, as a real repository has one.
    drop(repo.writer().unwrap());
    repo
}

/// What must hold for a repository the process may not write.
fn check_read_only(root: &Path) {
    let before = entries(root);
    let repo = Repository::open("system", root).unwrap();
    assert!(!repo.is_writable());
    assert_eq!(repo.latest_record("golden").unwrap().revision, 0);
    assert!(repo.verify().unwrap().is_clean());
    assert!(repo.has_blob(&sha(b"golden image")));

    let e = repo.put_blob(&b"new"[..], None).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::PermissionDenied, "{e:?}");
    let e = repo
        .commit(&vm_record("other", 0, &[&sha(b"golden image")]))
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::PermissionDenied, "{e:?}");
    let e = repo
        .delete_record("golden", 0, strata_store::DeleteMode::Force)
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::PermissionDenied, "{e:?}");
    // gc can take the lock (the lock file opens read-only) and finds nothing to remove.
    assert_eq!(repo.gc(Duration::ZERO).unwrap().blobs_removed, 0);
    assert_eq!(entries(root), before, "nothing was created");
}

fn set_tree_mode(root: &Path, mode: u32) {
    for dir in [
        root.to_owned(),
        root.join("data"),
        root.join("meta"),
        root.join(".tmp"),
    ] {
        fs::set_permissions(&dir, fs::Permissions::from_mode(mode)).unwrap();
    }
    for fan_out in entries(&root.join("data")) {
        fs::set_permissions(
            root.join("data").join(fan_out),
            fs::Permissions::from_mode(mode),
        )
        .unwrap();
    }
}

#[test]
fn read_only_repository() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("repo");
    populated(&root);
    if !is_root() {
        set_tree_mode(&root, 0o555);
        check_read_only(&root);
        set_tree_mode(&root, 0o755);
        return;
    }
    // Root: permission bits do not stop us, which `access(W_OK)` reports honestly.
    set_tree_mode(&root, 0o555);
    assert!(Repository::open("system", &root).unwrap().is_writable());
    set_tree_mode(&root, 0o755);

    let script = format!(
        "mount --bind '{0}' '{0}' && mount -o remount,ro,bind '{0}' && exec '{1}' --exact readonly::inside_read_only_mount --ignored --quiet",
        root.display(),
        std::env::current_exe().unwrap().display()
    );
    let output = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "sh", "-c", &script])
        .env("STRATA_TEST_RO_REPO", &root)
        .output();
    match output {
        Ok(out) if out.status.success() => {
            // Make sure the inner test ran rather than matched nothing.
            let stdout = String::from_utf8_lossy(&out.stdout);
            assert!(
                stdout.contains("1 passed"),
                "inner test did not run: {stdout}"
            );
        }
        Ok(out) if out.status.code() == Some(101) => panic!(
            "the read-only checks failed:\n{}",
            String::from_utf8_lossy(&out.stdout)
        ),
        other => eprintln!(
            "readonly: skipped the enforced part: cannot bind-mount read-only here ({other:?})"
        ),
    }
}

/// Runs inside the private mount namespace set up by `read_only_repository`.
#[test]
#[ignore = "run by read_only_repository inside a read-only bind mount"]
fn inside_read_only_mount() {
    let Ok(root) = std::env::var("STRATA_TEST_RO_REPO") else {
        return;
    };
    check_read_only(Path::new(&root));
    // The cache check uses the same access(W_OK) test.
    let mut config = strata_store::ReposConfig::new();
    config
        .add_str(
            &format!("repos: []\ncache: {{path: '{root}/data'}}"),
            Path::new("repos.yaml"),
            strata_store::Scope::Global,
            &strata_store::Env::new("/root", "root"),
        )
        .unwrap();
    let e = config.cache().unwrap().ensure_writable().unwrap_err();
    assert_eq!(
        e.to_string(),
        format!("Cache should be writable in {root}/data")
    );
}
