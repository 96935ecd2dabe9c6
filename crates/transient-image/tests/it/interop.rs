//! transient-image and the real transient 0.25 on the same directories: transient lists a
//! backend that strata wrote as transient-image does, and transient-image lists, refuses and
//! removes what transient wrote (a backend image and a VM made by `transient create`, which
//! needs no running VM). Needs transient in the peers' virtual environment (`cargo xtask
//! setup`) and qemu-img, which transient runs; under `CI=true` their absence fails the tests.

use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;

use strata::{DiskFormat, FlatStore, ImportRequest, NoProgress, Store, Strata, StrataOptions};

/// The real transient, if it is installed (under CI it must be).
fn transient(test: &str) -> Option<PathBuf> {
    let program = strata_testkit::venv::program("transient");
    let present = Command::new(&program)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    let ready = strata_testkit::peer(test, "transient 0.25 (cargo xtask setup)", present)
        && strata_testkit::have(test, &["qemu-img"]);
    ready.then_some(program)
}

/// A backend and a VM store in a temporary directory.
struct Dirs {
    dir: tempfile::TempDir,
}

impl Dirs {
    fn new() -> Dirs {
        Dirs {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn backend(&self) -> PathBuf {
        self.dir.path().join("backend")
    }

    fn vmstore(&self) -> PathBuf {
        self.dir.path().join("vmstore")
    }

    /// `PROGRAM ARGS` with this directory as home.
    fn command(&self, program: &Path, args: &[&str]) -> Output {
        Command::new(program)
            .env_clear()
            .env("HOME", self.dir.path())
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("TZ", "UTC")
            .args(args)
            .output()
            .unwrap()
    }

    /// `transient image ARGS` (or another transient command) on these directories.
    fn transient(&self, transient: &Path, args: &[&str]) -> Output {
        let mut all = args.to_vec();
        let backend = self.backend();
        let vmstore = self.vmstore();
        all.extend(["--image-backend", backend.to_str().unwrap()]);
        all.extend(["--vmstore", vmstore.to_str().unwrap()]);
        self.command(transient, &all)
    }

    /// `transient-image ARGS` on these directories.
    fn ours(&self, args: &[&str]) -> Output {
        self.transient(Path::new(env!("CARGO_BIN_EXE_transient-image")), args)
    }
}

/// An `ls` table with its rows sorted (transient prints them in directory order).
fn sorted_table(out: &Output) -> String {
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    let Some(header) = lines.next() else {
        return String::new();
    };
    let mut rows: Vec<&str> = lines.collect();
    rows.sort_unstable();
    std::iter::once(header)
        .chain(rows)
        .map(|l| format!("{l}\n"))
        .collect()
}

/// transient's standard error without the FutureWarning lines its table library prints.
fn transient_stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter(|l| !l.contains("FutureWarning") && !l.starts_with("  warnings.warn("))
        .map(|l| format!("{l}\n"))
        .collect()
}

/// A sparse raw disk of `size` bytes with data in its first and last MiB.
fn raw_disk(path: &Path, size: u64) {
    let file = std::fs::File::create(path).unwrap();
    file.set_len(size).unwrap();
    let data: Vec<u8> = (0..1u32 << 20).map(|i| (i % 251) as u8 + 1).collect();
    file.write_all_at(&data, 0).unwrap();
    file.write_all_at(&data, size - data.len() as u64).unwrap();
}

#[test]
fn transient_lists_a_backend_strata_wrote() {
    let Some(transient) = transient("transient_lists_a_backend_strata_wrote") else {
        return;
    };
    let dirs = Dirs::new();
    let store = FlatStore::new("backend", dirs.backend());
    let strata = Strata::new(
        [Arc::new(store) as Arc<dyn Store>],
        StrataOptions::default(),
    );
    for (name, size) in [
        ("centos/7:2004.01", 40u64 << 20),
        ("my-img", 3 << 20),
        ("with space", 2 << 30),
        ("日本", 8 << 20),
    ] {
        let raw = dirs.dir.path().join("disk.raw");
        raw_disk(&raw, size);
        strata
            .import(
                ImportRequest::disk(&raw, DiskFormat::Raw, name),
                &NoProgress,
            )
            .unwrap();
    }
    let theirs = dirs.transient(&transient, &["image", "ls"]);
    assert!(theirs.status.success(), "{}", transient_stderr(&theirs));
    let ours = dirs.ours(&["ls"]);
    assert!(ours.status.success());
    assert_eq!(String::from_utf8_lossy(&ours.stdout), sorted_table(&theirs));
    assert_eq!(sorted_table(&ours).lines().count(), 5);
}

#[test]
fn strata_lists_refuses_and_removes_what_transient_wrote() {
    let Some(transient) = transient("strata_lists_refuses_and_removes_what_transient_wrote") else {
        return;
    };
    let dirs = Dirs::new();
    let raw = dirs.dir.path().join("disk.raw");
    raw_disk(&raw, 16 << 20);
    // transient's retrieval converts the file into its backend; `create` makes the VM's
    // overlay on it without running anything.
    let spec = format!("alpine/3:x,file={}", raw.display());
    let created = dirs.transient(&transient, &["create", "--name", "vm-1", &spec]);
    assert!(created.status.success(), "{}", transient_stderr(&created));
    let theirs = dirs.transient(&transient, &["image", "ls"]);
    let ours = dirs.ours(&["ls"]);
    assert_eq!(String::from_utf8_lossy(&ours.stdout), sorted_table(&theirs));
    assert!(sorted_table(&ours).contains(" alpine/3:x "));

    // The same refusal, in the same words; strata's exit code is 75 (busy), transient's 1.
    let theirs = dirs.transient(&transient, &["image", "rm", "alpine/3:x"]);
    let ours = dirs.ours(&["rm", "alpine/3:x"]);
    assert_eq!(
        (ours.status.code(), theirs.status.code()),
        (Some(75), Some(1))
    );
    assert_eq!(
        String::from_utf8_lossy(&ours.stderr),
        transient_stderr(&theirs)
    );
    assert_eq!(
        String::from_utf8_lossy(&ours.stderr),
        "Backend 'alpine/3:x' is in use by ['vm-1']\n"
    );

    // Forced by strata, the image is gone for transient too.
    let ours = dirs.ours(&["rm", "-f", "alpine/3:x"]);
    assert!(ours.status.success());
    assert!(
        String::from_utf8_lossy(&ours.stderr)
            .ends_with(":WARNING:Backend 'alpine/3:x' is in use by ['vm-1']\n")
    );
    let theirs = dirs.transient(&transient, &["image", "ls"]);
    assert_eq!(String::from_utf8_lossy(&theirs.stdout), "\n");
}
