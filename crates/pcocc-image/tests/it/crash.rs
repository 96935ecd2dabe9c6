//! Crash safety and concurrency, with the real binary: imports, copies and gc runs killed with
//! SIGKILL at random instants leave a repository that `repo verify` finds clean, with every image
//! at its old or its new state; eight importers and a gc running at once lose nothing.
//!
//! The instants are drawn from a seed printed by each test (set `STRATA_CRASH_SEED` to replay).
#![allow(
    clippy::unwrap_used,
    clippy::print_stderr,
    reason = "test helpers: a failure is a test failure, and seeds and counts are reported on stderr"
)]

use std::fs;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::process::{Child, Output};
use std::time::{Duration, Instant};

use crate::sandbox::Sandbox;

/// Crash-test helpers on top of the shared [`Sandbox`].
trait CrashSandbox {
    fn output(&self, args: &[&str]) -> Output;
    fn must(&self, args: &[&str]);
    fn spawn(&self, args: &[&str]) -> Child;
    fn verify_clean(&self, context: &str);
    fn exists(&self, image: &str) -> bool;
    fn assert_content(&self, image: &str, expected: &Path);
}

impl CrashSandbox for Sandbox {
    fn output(&self, args: &[&str]) -> Output {
        self.process(args).output().unwrap()
    }

    fn must(&self, args: &[&str]) {
        let out = self.output(args);
        assert!(
            out.status.success(),
            "pcocc-image {args:?} failed: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn spawn(&self, args: &[&str]) -> Child {
        self.process(args).spawn().unwrap()
    }

    /// `repo verify` is clean.
    fn verify_clean(&self, context: &str) {
        let out = self.output(&["repo", "verify"]);
        assert!(
            out.status.success(),
            "repo verify after {context}: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn exists(&self, image: &str) -> bool {
        self.output(&["show", image]).status.success()
    }

    /// The image exports to exactly `expected`'s bytes.
    fn assert_content(&self, image: &str, expected: &Path) {
        let out = self.path("files/export.raw");
        let _ = fs::remove_file(&out);
        self.must(&["export", image, out.to_str().unwrap()]);
        assert!(
            fs::read(&out).unwrap() == fs::read(expected).unwrap(),
            "{image} does not export to the bytes of {}",
            expected.display()
        );
        fs::remove_file(&out).unwrap();
    }
}

/// A small deterministic generator (xorshift64*), seeded per test.
struct Rng(u64);

impl Rng {
    fn seeded(test: &str) -> Rng {
        let seed = std::env::var("STRATA_CRASH_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_nanos() as u64
            });
        eprintln!("{test}: STRATA_CRASH_SEED={seed}");
        Rng(seed | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A duration uniformly drawn in `[0, max)`.
    fn below(&mut self, max: Duration) -> Duration {
        let nanos = max.as_nanos().max(1) as u64;
        Duration::from_nanos(self.next() % nanos)
    }
}

/// A sparse raw disk of `mib` MiB: data extents of varied bytes separated by holes.
fn make_disk(path: &Path, mib: u64, salt: u8) {
    let file = fs::File::create(path).unwrap();
    file.set_len(mib << 20).unwrap();
    let mut chunk = vec![0u8; 1 << 20];
    for (i, byte) in chunk.iter_mut().enumerate() {
        *byte = (i as u8).wrapping_mul(31).wrapping_add(salt) ^ ((i >> 9) as u8);
    }
    for mib_index in (0..mib).step_by(3) {
        chunk[0] = mib_index as u8;
        file.write_all_at(&chunk, mib_index << 20).unwrap();
    }
}

/// Runs `args`, kills it with SIGKILL after a random delay below `window`, and waits for it.
fn run_and_kill(sandbox: &Sandbox, args: &[&str], rng: &mut Rng, window: Duration) {
    let mut child = sandbox.spawn(args);
    std::thread::sleep(rng.below(window));
    let _ = child.kill();
    child.wait().unwrap();
}

/// How long `args` takes when not killed (to spread the kill instants over its whole run).
fn timed(sandbox: &Sandbox, args: &[&str]) -> Duration {
    let start = Instant::now();
    sandbox.must(args);
    start.elapsed()
}

#[test]
fn killed_imports_leave_old_or_new_state() {
    let sandbox = Sandbox::new(&["user"]);
    let mut rng = Rng::seeded("killed_imports");
    let disk = sandbox.path("files/disk.raw");
    make_disk(&disk, 48, 7);
    let disk_arg = disk.to_str().unwrap();
    let window = timed(&sandbox, &["import", disk_arg, "reference"]).mul_f64(1.3);
    let mut completed = 0;
    for i in 0..20 {
        let name = format!("img{i}");
        // Half the runs import fresh bytes, half import bytes the repository already holds.
        let source = if i % 2 == 0 {
            let fresh = sandbox.path(&format!("files/fresh{i}.raw"));
            make_disk(&fresh, 48, i as u8);
            fresh
        } else {
            disk.clone()
        };
        run_and_kill(
            &sandbox,
            &["import", source.to_str().unwrap(), &name],
            &mut rng,
            window,
        );
        sandbox.verify_clean(&format!("killed import {i}"));
        if sandbox.exists(&name) {
            completed += 1;
            sandbox.assert_content(&name, &source);
        }
        if source != disk {
            fs::remove_file(&source).unwrap();
        }
    }
    sandbox.assert_content("reference", &disk);
    eprintln!("killed imports: {completed} of 20 had completed when killed");
}

#[test]
fn killed_copies_and_gc_leave_old_or_new_state() {
    let sandbox = Sandbox::new(&["user"]);
    let mut rng = Rng::seeded("killed_copies_and_gc");
    let disk = sandbox.path("files/disk.raw");
    make_disk(&disk, 48, 3);
    sandbox.must(&["import", disk.to_str().unwrap(), "base"]);
    // Copies into a second repository move blob bytes, so there is something to interrupt.
    fs::write(
        sandbox.path("conf/user/repos.yaml"),
        format!(
            "repos:\n  - name: user\n    path: \"{}\"\n  - name: other\n    path: \"{}\"\n",
            sandbox.path("user").display(),
            sandbox.path("other").display()
        ),
    )
    .unwrap();
    let copy_window = timed(&sandbox, &["copy", "user:base", "other:probe"]).mul_f64(1.3);
    let mut copied = 0;
    for i in 0..15 {
        let dest = format!("other:copy{i}");
        run_and_kill(
            &sandbox,
            &["copy", "user:base", &dest],
            &mut rng,
            copy_window,
        );
        sandbox.verify_clean(&format!("killed copy {i}"));
        if sandbox.exists(&dest) {
            copied += 1;
            sandbox.assert_content(&dest, &disk);
        }
    }
    eprintln!("killed copies: {copied} of 15 had completed when killed");
    for i in 0..15 {
        // Make garbage: a fresh image, then delete it, so gc has blobs to remove.
        let garbage = sandbox.path("files/garbage.raw");
        make_disk(&garbage, 24, 100 + i as u8);
        sandbox.must(&["import", garbage.to_str().unwrap(), "garbage"]);
        sandbox.must(&["delete", "garbage"]);
        let window = if i == 0 {
            timed(&sandbox, &["repo", "gc", "user"])
                .mul_f64(1.5)
                .max(Duration::from_millis(5))
        } else {
            Duration::from_millis(40)
        };
        run_and_kill(&sandbox, &["repo", "gc", "user"], &mut rng, window);
        sandbox.verify_clean(&format!("killed gc {i}"));
        sandbox.assert_content("user:base", &disk);
    }
}

#[test]
fn eight_importers_and_gc_at_once() {
    let sandbox = Sandbox::new(&["user"]);
    let mut sources = Vec::new();
    for i in 0..8u8 {
        let path = sandbox.path(&format!("files/src{i}.raw"));
        // Two pairs share their bytes, so dedup races too.
        make_disk(&path, 32, i % 6);
        sources.push(path);
    }
    let done = std::sync::atomic::AtomicBool::new(false);
    let gc_runs = std::thread::scope(|scope| {
        let gc = scope.spawn(|| {
            let mut runs = 0;
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                sandbox.must(&["repo", "gc", "user"]);
                runs += 1;
            }
            runs
        });
        // Staggered starts, so that gc runs between, beside and after the importers.
        let importers: Vec<Child> = sources
            .iter()
            .enumerate()
            .map(|(i, src)| {
                std::thread::sleep(Duration::from_millis(25));
                sandbox.spawn(&["import", src.to_str().unwrap(), &format!("par{i}")])
            })
            .collect();
        for (i, child) in importers.into_iter().enumerate() {
            let out = child.wait_with_output().unwrap();
            assert!(
                out.status.success(),
                "importer {i} failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        gc.join().unwrap()
    });
    eprintln!("gc ran {gc_runs} times beside the importers");
    assert!(gc_runs >= 1);
    sandbox.verify_clean("parallel imports");
    for (i, src) in sources.iter().enumerate() {
        sandbox.assert_content(&format!("par{i}"), src);
    }
}

/// An OCI layout at `dir` holding one image of two layers of `mib` MiB each of varied bytes.
fn make_container(dir: &Path, mib: usize, salt: u8) {
    let mut data = vec![0u8; mib << 20];
    let mut x = 0x9e37_79b9_7f4a_7c15u64 ^ u64::from(salt);
    for byte in &mut data {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *byte = x as u8;
    }
    let half = data.len() / 2;
    let layers = vec![
        crate::oci_fixture::plain(crate::oci_fixture::tar(&[("a.bin", 0o644, &data[..half])])),
        crate::oci_fixture::plain(crate::oci_fixture::tar(&[("b.bin", 0o644, &data[half..])])),
    ];
    crate::oci_fixture::make_layout(dir, "v1", &layers);
}

#[test]
fn killed_container_imports_leave_a_clean_repository() {
    let sandbox = Sandbox::new(&["user"]);
    let mut rng = Rng::seeded("killed_container_imports");
    let reference = sandbox.path("files/reference");
    make_container(&reference, 16, 0);
    let source = format!("oci:{}:v1", reference.display());
    let window = timed(&sandbox, &["import", &source, "reference"]).mul_f64(1.3);
    let mut completed = 0;
    // Few runs: the CI machine has 2 cores. Half import fresh blobs, half blobs already there.
    for i in 0..6u8 {
        let name = format!("ctr{i}");
        let layout = if i % 2 == 0 {
            let fresh = sandbox.path(&format!("files/fresh{i}"));
            make_container(&fresh, 16, i + 1);
            fresh
        } else {
            reference.clone()
        };
        let src = format!("oci:{}:v1", layout.display());
        run_and_kill(&sandbox, &["import", &src, &name], &mut rng, window);
        sandbox.verify_clean(&format!("killed container import {i}"));
        if sandbox.exists(&name) {
            completed += 1;
            let out = sandbox.path(&format!("files/out{i}"));
            sandbox.must(&["export", &name, &format!("oci:{}:v1", out.display())]);
        }
        if layout != reference {
            fs::remove_dir_all(&layout).unwrap();
        }
    }
    sandbox.must(&["repo", "gc", "user"]);
    sandbox.verify_clean("gc after killed container imports");
    eprintln!("killed container imports: {completed} of 6 had completed when killed");
}

/// SIGINT and SIGTERM during an import: the import stops, removes what it staged (hundreds of
/// MB stayed in `.tmp/` when the signal killed the process) and exits 130 or 143; nothing is
/// recorded, and the repository verifies clean.
#[test]
fn a_signal_during_an_import_removes_what_it_staged() {
    let sb = Sandbox::new(&["user"]);
    let src = sb.path("files/big.raw");
    make_disk(&src, 512, 7);
    let src = src.to_str().unwrap().to_owned();
    for (signal, code) in [("INT", 130), ("TERM", 143)] {
        let mut child = sb.spawn(&["import", &src, "big"]);
        let tmp = sb.path("user/.tmp");
        let started = Instant::now();
        while fs::read_dir(&tmp).map_or(0, Iterator::count) == 0 {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "the import staged nothing"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        let sent = std::process::Command::new("kill")
            .args([&format!("-{signal}"), &child.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
        let status = child.wait().unwrap();
        assert_eq!(status.code(), Some(code), "SIG{signal}");
        assert_eq!(
            fs::read_dir(&tmp).unwrap().count(),
            0,
            "SIG{signal}: the staged blob is removed"
        );
        assert!(!sb.exists("big"), "SIG{signal}: nothing is recorded");
        sb.verify_clean(&format!("SIG{signal}"));
    }
}
