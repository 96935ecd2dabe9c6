//! Test fixtures: a temporary configuration with two repositories, image makers, and
//! directory listings to compare before and after an operation.

use std::fs::{self, File};
use std::os::unix::fs::{FileExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};

use strata::{
    DiskFormat, FlatStore, ImageKey, ImageLocator, NamePolicy, NewImageTarget, Probe,
    ProgressEvent, RepositoryStore, Source, Store, Strata, StrataOptions,
};

/// A temporary directory with two repositories, `user` (the default) and `global`, and a flat
/// store `flat`, in that order.
pub(crate) struct Fixture {
    pub(crate) dir: tempfile::TempDir,
    pub(crate) strata: Strata,
}

impl Fixture {
    pub(crate) fn new() -> Fixture {
        Fixture::with_repos(&[("user", "user-repo"), ("global", "global-repo")])
    }

    /// A fixture with the repositories `repos` (name, directory under the fixture), then the
    /// flat store `flat` (directory `flat-store`).
    pub(crate) fn with_repos(repos: &[(&str, &str)]) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let mut stores: Vec<Arc<dyn Store>> = repos
            .iter()
            .map(|(name, sub)| {
                Arc::new(RepositoryStore::new(*name, dir.path().join(sub))) as Arc<dyn Store>
            })
            .collect();
        stores.push(Arc::new(FlatStore::new(
            "flat",
            dir.path().join("flat-store"),
        )));
        let options = StrataOptions {
            owner: Some("tester".into()),
            ..StrataOptions::default()
        };
        Fixture {
            strata: Strata::new(stores, options),
            dir,
        }
    }

    pub(crate) fn path(&self, sub: &str) -> PathBuf {
        self.dir.path().join(sub)
    }

    pub(crate) fn repo_dir(&self, name: &str) -> PathBuf {
        self.path(&format!("{name}-repo"))
    }

    /// Imports `source` (its format probed, raw when unknown) as `dest` and returns the outcome.
    pub(crate) fn import(&self, source: &Path, dest: &str) -> strata::ImportOutcome {
        self.strata
            .import(import_request(source, dest), &strata::NoProgress)
            .unwrap()
    }
}

/// The request to import `source` (its format probed, raw when unknown) as `dest`
/// (`[STORE:]NAME`), refusing a name that is taken.
pub(crate) fn import_request(source: &Path, dest: &str) -> strata::ImportRequest {
    let format = match strata::probe(source).unwrap() {
        Probe::File(Some(format)) => format,
        _ => DiskFormat::Raw,
    };
    strata::ImportRequest {
        source: Source::Disk {
            path: source.to_owned(),
            format,
        },
        dest: target(dest),
        policy: NamePolicy::default(),
        arch: None,
    }
}

/// `[STORE:]NAME[@REV]` as a locator; `STORE` is lowercase letters only, so names such as
/// `centos/7:2004.01` need no store.
pub(crate) fn image(text: &str) -> ImageLocator {
    let (store, rest) = match text.split_once(':') {
        Some((store, rest)) if store.bytes().all(|b| b.is_ascii_lowercase()) => {
            (Some(store.to_owned()), rest)
        }
        _ => (None, text),
    };
    let (name, revision) = match rest.split_once('@') {
        Some((name, rev)) => (name, Some(rev.parse().unwrap())),
        None => (rest, None),
    };
    ImageLocator {
        store,
        key: ImageKey::Name {
            name: name.to_owned(),
            revision,
        },
    }
}

/// `[STORE:]NAME` as a new image's target.
pub(crate) fn target(text: &str) -> NewImageTarget {
    let locator = image(text);
    let ImageKey::Name { name, .. } = locator.key else {
        unreachable!("image() makes names")
    };
    NewImageTarget {
        store: locator.store,
        name,
    }
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

/// `qemu-img`, if installed (under CI, it must be).
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
