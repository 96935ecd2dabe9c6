//! [`Sandbox`]: a temporary home with a `repos.yaml` naming temporary repositories, and the
//! binary run inside it with a controlled environment.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use serde_json::Value;
use strata_disk::qcow2::writer::{CreateOptions, create_file};

/// The length of the random part of the sandbox's directory name.
const RANDOM_LEN: usize = 8;

/// The owner every record gets after [`Sandbox::settle`] (as root, the core writes `root`).
pub(crate) const OWNER: &str = "jdoe";

/// 2018-08-24 20:46:35 UTC: revision 0's time after [`Sandbox::settle`]; revision `n` is
/// `n` minutes later.
pub(crate) const T0: f64 = 1_535_143_595.25;

/// A temporary directory holding `home/`, `conf/user/repos.yaml`, `conf/system/` and one
/// directory per repository, removed when dropped.
pub(crate) struct Sandbox {
    dir: tempfile::TempDir,
}

impl Sandbox {
    /// A sandbox whose user `repos.yaml` lists `repos` in that priority order, each at
    /// `<sandbox>/<name>` (created on first use).
    pub(crate) fn new(repos: &[&str]) -> Sandbox {
        // A fixed-length path, so the filter that hides the random part keeps widths.
        let dir = tempfile::Builder::new()
            .prefix("pcocc-it-")
            .rand_bytes(RANDOM_LEN)
            .tempdir_in("/tmp")
            .expect("temporary directory");
        let sandbox = Sandbox { dir };
        for sub in ["home", "conf/user", "conf/system", "files"] {
            std::fs::create_dir_all(sandbox.path(sub)).expect("sandbox directories");
        }
        let mut yaml = String::from("repos:\n");
        for repo in repos {
            let _ = writeln!(
                yaml,
                "  - name: {repo}\n    path: \"{}\"",
                sandbox.path(repo).display()
            );
        }
        std::fs::write(sandbox.path("conf/user/repos.yaml"), yaml).expect("repos.yaml");
        sandbox
    }

    /// [`Sandbox::new`] with a container cache at `<sandbox>/cache` (repos.yaml `cache`).
    pub(crate) fn with_cache(repos: &[&str]) -> Sandbox {
        let sandbox = Sandbox::new(repos);
        let file = sandbox.path("conf/user/repos.yaml");
        let mut yaml = std::fs::read_to_string(&file).expect("repos.yaml");
        let _ = writeln!(
            yaml,
            "cache:\n  path: \"{}\"",
            sandbox.path("cache").display()
        );
        std::fs::write(&file, yaml).expect("repos.yaml");
        sandbox
    }

    /// `<sandbox>/<rel>`.
    pub(crate) fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// `<sandbox>/files/<name>` as text, for command lines.
    pub(crate) fn file(&self, name: &str) -> String {
        self.path("files").join(name).display().to_string()
    }

    /// The binary with a clean environment pointing at the sandbox.
    pub(crate) fn cmd(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_pcocc-image"));
        cmd.env_clear()
            .env("HOME", self.path("home"))
            .env("XDG_DATA_HOME", self.path("home/.local/share"))
            .env("PCOCC_USER_CONF_DIR", self.path("conf/user"))
            .env("PCOCC_SYSTEM_CONF_DIR", self.path("conf/system"))
            .env("TZ", "UTC")
            .env("USER", OWNER)
            .env("LOGNAME", OWNER);
        cmd
    }

    /// The binary as a plain process (for tests that spawn, wait and kill it), with the same
    /// environment as [`Sandbox::cmd`] and its output captured.
    pub(crate) fn process(&self, args: &[&str]) -> std::process::Command {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_pcocc-image"));
        cmd.args(args)
            .env_clear()
            .env("HOME", self.path("home"))
            .env("XDG_DATA_HOME", self.path("home/.local/share"))
            .env("PCOCC_USER_CONF_DIR", self.path("conf/user"))
            .env("PCOCC_SYSTEM_CONF_DIR", self.path("conf/system"))
            .env("TZ", "UTC")
            .env("USER", OWNER)
            .env("LOGNAME", OWNER)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        cmd
    }

    /// Runs `pcocc-image ARGS` and describes what it did: the command, the exit code,
    /// standard output and standard error.
    pub(crate) fn run(&self, args: &[&str]) -> String {
        let output = self.cmd().args(args).output().expect("run pcocc-image");
        let code = output
            .status
            .code()
            .map_or_else(|| "signal".to_owned(), |c| c.to_string());
        format!(
            "$ pcocc-image {}\nexit: {code}\n--- stdout\n{}--- stderr\n{}",
            args.join(" "),
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr),
        )
    }

    /// Runs `pcocc-image ARGS` and asserts that it succeeded.
    pub(crate) fn ok(&self, args: &[&str]) {
        self.cmd().args(args).assert().success();
    }

    /// insta filters that hide the sandbox's random name (keeping its length) and log times.
    pub(crate) fn filters(&self) -> Vec<(String, String)> {
        let root = self.dir.path().display().to_string();
        let hidden = format!(
            "{}{}",
            &root[..root.len() - RANDOM_LEN],
            "X".repeat(RANDOM_LEN)
        );
        vec![
            (regex_escape(&root), hidden),
            (
                r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z".to_owned(),
                "[LOG TIME]".to_owned(),
            ),
        ]
    }

    /// A raw disk file of `size` bytes whose first 64 KiB and last 4 KiB hold data.
    pub(crate) fn raw_disk(&self, name: &str, size: u64) -> String {
        let path = self.file(name);
        let file = std::fs::File::create(&path).expect("raw disk");
        file.set_len(size).expect("raw size");
        let head: Vec<u8> = (0..64 * 1024u32).map(|i| (i % 251) as u8 + 1).collect();
        write_at(&file, &head, 0);
        write_at(&file, &[0xab; 4096], size - 4096);
        path
    }

    /// An empty qcow2 disk of `size` bytes, written by strata-disk as qemu-img lays it out.
    pub(crate) fn qcow2_disk(&self, name: &str, size: u64) -> String {
        let path = self.file(name);
        create_file(Path::new(&path), &CreateOptions::new(size)).expect("qcow2 disk");
        path
    }

    /// Rewrites every record of every repository with owner [`OWNER`] and time [`T0`] plus
    /// one minute per revision, so that `list` and `show` print the same text on every run.
    pub(crate) fn settle(&self) {
        for entry in std::fs::read_dir(self.dir.path()).expect("sandbox") {
            let meta = entry.expect("entry").path().join("meta");
            let Ok(records) = std::fs::read_dir(&meta) else {
                continue;
            };
            for record in records {
                let path = record.expect("record").path();
                let text = std::fs::read_to_string(&path).expect("record text");
                let mut value: Value = serde_json::from_str(&text).expect("record json");
                let revision = value["revision"].as_f64().expect("revision");
                value["owner"] = Value::from(OWNER);
                value["timestamp"] = Value::from(T0 + 60.0 * revision);
                std::fs::write(&path, serde_json::to_string(&value).expect("json"))
                    .expect("write record");
            }
        }
    }

    /// The blob files of repository `repo`.
    pub(crate) fn blobs(&self, repo: &str) -> Vec<PathBuf> {
        let mut blobs = Vec::new();
        let Ok(fans) = std::fs::read_dir(self.path(repo).join("data")) else {
            return blobs;
        };
        for fan in fans {
            for blob in std::fs::read_dir(fan.expect("fan").path()).expect("fan dir") {
                blobs.push(blob.expect("blob").path());
            }
        }
        blobs.sort();
        blobs
    }
}

/// Writes `buf` at `offset` of `file`.
fn write_at(file: &std::fs::File, buf: &[u8], offset: u64) {
    use std::os::unix::fs::FileExt;
    file.write_all_at(buf, offset).expect("write disk");
}

/// `text` with regex metacharacters escaped.
fn regex_escape(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        if "\\.+*?()|[]{}^$#&-~".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Snapshots `$sandbox.run($args)` as `$name` (in the calling module) with the sandbox's
/// filters.
#[macro_export]
macro_rules! snap {
    ($name:literal, $sandbox:expr, $args:expr) => {{
        let filters = $sandbox.filters();
        let filters: Vec<(&str, &str)> = filters
            .iter()
            .map(|(a, b)| (a.as_str(), b.as_str()))
            .collect();
        insta::with_settings!({ filters => filters }, {
            insta::assert_snapshot!($name, $sandbox.run($args));
        });
    }};
}
