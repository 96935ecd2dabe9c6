//! Shared helpers: the committed qcow2 fixtures, the full set regenerated with qemu-img, and
//! calls to qemu-img for reference output.
#![allow(
    clippy::unwrap_used,
    clippy::print_stdout,
    reason = "test helpers: a failure is a test failure, and skips are reported on stdout"
)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The committed fixtures directory.
pub(crate) fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// Whether qemu-img and qemu-io are installed (see [`strata_testkit::peer`]).
pub(crate) fn have_qemu(test: &str) -> bool {
    strata_testkit::have(test, &["qemu-img", "qemu-io"])
}

/// All fixtures (with the large ones) generated once per test run into a temporary directory.
pub(crate) fn generated() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| {
        let tmp = tempfile::tempdir().unwrap();
        let status = Command::new("bash")
            .arg(dir().join("make-fixtures.sh"))
            .arg(tmp.path())
            .arg("--large")
            .status()
            .unwrap();
        assert!(status.success(), "make-fixtures.sh failed");
        tmp
    })
    .path()
}

/// Every qcow2 image in `root` and `root/chain`, sorted.
pub(crate) fn images(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for d in [root.to_path_buf(), root.join("chain")] {
        for e in std::fs::read_dir(d).unwrap() {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == "qcow2") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// Runs qemu-img with `args` in `cwd` and returns stdout (whatever the exit status: check
/// exits non-zero on leaks and corruptions but still prints its report).
pub(crate) fn qemu_img(cwd: &Path, args: &[&str]) -> String {
    let out = Command::new("qemu-img")
        .current_dir(cwd)
        .args(args)
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap()
}

/// qemu-img's JSON output for `args`.
pub(crate) fn qemu_json(cwd: &Path, args: &[&str]) -> serde_json::Value {
    let s = qemu_img(cwd, args);
    serde_json::from_str(&s).unwrap_or_else(|e| panic!("qemu-img {args:?}: {e}: {s}"))
}

/// Opens `path` with its chain, allowing the fixtures' own directory tree.
pub(crate) fn open(path: &Path) -> strata_disk::Opened {
    let opts = strata_disk::OpenOptions {
        allowed_dirs: vec![path.parent().unwrap().to_path_buf()],
        ..Default::default()
    };
    strata_disk::open(path, &opts).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Reads a whole image.
pub(crate) fn read_all(image: &dyn strata_disk::DiskImage) -> Vec<u8> {
    let mut buf = vec![0u8; image.virtual_size() as usize];
    image.read_at(&mut buf, 0).unwrap();
    buf
}

/// A minimal valid v3 qcow2 of 1 MiB with 4 KiB clusters and no data: header (naming
/// `backing` with format `backing_format`), refcount table, L1 table.
pub(crate) fn tiny_qcow2(backing: Option<&str>, backing_format: Option<&str>) -> Vec<u8> {
    let mut h = strata_disk::qcow2::Header::new_v3(1 << 20, 12);
    h.refcount_table_offset = 4096;
    h.refcount_table_clusters = 1;
    h.l1_table_offset = 8192;
    h.l1_size = 1;
    h.backing_file = backing.map(str::to_owned);
    h.backing_format = backing_format.map(str::to_owned);
    let mut bytes = h.to_bytes().unwrap();
    bytes.resize(3 * 4096, 0);
    bytes
}
