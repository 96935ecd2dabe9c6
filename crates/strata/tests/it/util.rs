//! Test fixtures: a temporary configuration with two repositories, image makers, and
//! directory listings to compare before and after an operation.

use std::fs::{self, File};
use std::os::unix::fs::{FileExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

use strata::{Env, ImageRef, ProgressEvent, Strata, StrataOptions};

/// A temporary home with `repos.yaml` naming `user` (default) and `global`.
pub(crate) struct Fixture {
    pub(crate) dir: tempfile::TempDir,
    pub(crate) strata: Strata,
}

impl Fixture {
    pub(crate) fn new() -> Fixture {
        Fixture::with_repos(&[("user", "user-repo"), ("global", "global-repo")])
    }

    /// A fixture whose `repos.yaml` lists `repos` (name, directory under the fixture).
    pub(crate) fn with_repos(repos: &[(&str, &str)]) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let conf = dir.path().join("conf");
        fs::create_dir(&conf).unwrap();
        let mut yaml = String::from("repos:\n");
        for (name, sub) in repos {
            yaml.push_str(&format!(
                "  - name: {name}\n    path: \"{}\"\n",
                dir.path().join(sub).display()
            ));
        }
        fs::write(conf.join("repos.yaml"), yaml).unwrap();
        let env = Env::new(dir.path(), "tester")
            .with_var("PCOCC_USER_CONF_DIR", conf.to_str().unwrap())
            .with_var(
                "PCOCC_SYSTEM_CONF_DIR",
                dir.path().join("no-etc").to_str().unwrap(),
            );
        let strata = Strata::open(StrataOptions::new(env)).unwrap();
        Fixture { dir, strata }
    }

    pub(crate) fn path(&self, sub: &str) -> PathBuf {
        self.dir.path().join(sub)
    }

    pub(crate) fn repo_dir(&self, name: &str) -> PathBuf {
        self.path(&format!("{name}-repo"))
    }

    /// Imports `source` as `dest` and returns the outcome.
    pub(crate) fn import(&self, source: &Path, dest: &str) -> strata::ImportOutcome {
        self.strata
            .import(
                strata::ImportRequest {
                    source: source.to_str().unwrap().to_owned(),
                    format: None,
                    dest: image(dest),
                    arch: None,
                },
                &strata::NoProgress,
            )
            .unwrap()
    }
}

pub(crate) fn image(text: &str) -> ImageRef {
    text.parse().unwrap()
}

/// The byte at `offset` of the test pattern.
pub(crate) fn pattern_byte(offset: u64) -> u8 {
    (offset % 251) as u8 ^ 0x5a
}

/// The data runs of [`make_raw`]: (offset, length).
pub(crate) fn data_runs(size: u64) -> Vec<(u64, u64)> {
    vec![
        (0, 70_000),
        (10 * 1024 * 1024 + 123, 300_000),
        (size - 4096, 4096),
    ]
}

/// A sparse raw image of `size` bytes with the pattern in [`data_runs`] and holes elsewhere.
pub(crate) fn make_raw(path: &Path, size: u64) {
    let file = File::create(path).unwrap();
    file.set_len(size).unwrap();
    for (offset, len) in data_runs(size) {
        let data: Vec<u8> = (offset..offset + len).map(pattern_byte).collect();
        file.write_all_at(&data, offset).unwrap();
    }
}

/// Converts `raw` to a qcow2 image at `path` with strata-disk (optionally with a backing
/// file name recorded).
pub(crate) fn make_qcow2(raw: &Path, path: &Path) {
    let src = strata_disk::open(raw, &strata_disk::OpenOptions::default()).unwrap();
    let size = src.image.virtual_size();
    let mut out = strata_disk::OutputFile::create(path, strata_disk::Durability::Volatile).unwrap();
    let target = strata_disk::qcow2::writer::Qcow2Target::create(
        &mut out,
        &strata_disk::qcow2::writer::CreateOptions::new(size),
    )
    .unwrap();
    strata_disk::convert(
        &*src.image,
        Box::new(target),
        &strata_disk::ConvertOptions::default(),
        &|_| {},
    )
    .unwrap();
    out.commit().unwrap();
}

/// `qemu-img`, if installed.
pub(crate) fn qemu_img() -> Option<&'static str> {
    strata_testkit::have("the qemu-img checks", &["qemu-img"]).then_some("qemu-img")
}

/// Runs qemu-img with `args`; panics with its output on failure.
pub(crate) fn run_qemu_img(args: &[&str]) -> String {
    let out = Command::new("qemu-img").args(args).output().unwrap();
    assert!(
        out.status.success(),
        "qemu-img {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Every entry under `dir` (relative path, kind, length, mode, inode), sorted: what a test
/// compares before and after an operation that must change nothing. `.lock` is left out (a
/// writer may create it).
pub(crate) fn listing(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries {
        let entry = entry.unwrap();
        let path = entry.path();
        let rel = path.strip_prefix(root).unwrap().display().to_string();
        if rel == ".lock" {
            continue;
        }
        let meta = fs::symlink_metadata(&path).unwrap();
        out.push(format!(
            "{rel} dir={} len={} mode={:o} ino={}",
            meta.is_dir(),
            if meta.is_dir() { 0 } else { meta.len() },
            meta.permissions().mode(),
            meta.ino()
        ));
        if meta.is_dir() {
            walk(root, &path, out);
        }
    }
}

/// A progress sink that records every event.
#[derive(Default)]
pub(crate) struct Recorder(pub(crate) Mutex<Vec<ProgressEvent>>);

impl strata::Progress for Recorder {
    fn event(&self, event: &ProgressEvent) {
        self.0.lock().unwrap().push(event.clone());
    }
}

/// Reads `len` bytes at `offset` of a file.
pub(crate) fn read_at(path: &Path, offset: u64, len: usize) -> Vec<u8> {
    let mut buf = vec![0u8; len];
    File::open(path)
        .unwrap()
        .read_exact_at(&mut buf, offset)
        .unwrap();
    buf
}
