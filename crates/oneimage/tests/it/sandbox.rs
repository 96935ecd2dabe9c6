//! A personal pool in a temporary directory, and the commands that run on it.

use std::path::{Path, PathBuf};

use assert_cmd::Command;

/// A temporary directory holding a personal pool (`pool/`) and the files tests make.
pub(crate) struct Sandbox {
    dir: tempfile::TempDir,
}

/// What a command printed and how it exited.
#[derive(Debug)]
pub(crate) struct Run {
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
    /// The exit status.
    pub code: i32,
}

impl Sandbox {
    pub(crate) fn new() -> Sandbox {
        Sandbox {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    pub(crate) fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub(crate) fn pool(&self) -> PathBuf {
        self.path("pool")
    }

    /// `bin` with the sandbox's pool, UTC times, no editor, no terminal.
    pub(crate) fn cmd(&self, bin: &str) -> Command {
        let mut cmd = Command::cargo_bin(bin).unwrap();
        cmd.env("STRATA_ONE_POOL", self.pool())
            .env("TZ", "UTC")
            .env_remove("EDITOR")
            .current_dir(self.dir.path())
            .write_stdin("");
        cmd
    }

    /// `bin` as [`Sandbox::cmd`] has it, as a process to spawn and kill.
    pub(crate) fn spawnable(&self, bin: &str) -> std::process::Command {
        let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin(bin));
        cmd.env("STRATA_ONE_POOL", self.pool())
            .env("TZ", "UTC")
            .env_remove("EDITOR")
            .current_dir(self.dir.path())
            .stdin(std::process::Stdio::null());
        cmd
    }

    /// Runs `bin args`.
    pub(crate) fn run(&self, bin: &str, args: &[&str]) -> Run {
        let out = self.cmd(bin).args(args).output().unwrap();
        Run {
            stdout: String::from_utf8(out.stdout).unwrap(),
            stderr: String::from_utf8(out.stderr).unwrap(),
            code: out.status.code().unwrap_or(-1),
        }
    }

    /// Runs `bin args`, which must succeed; returns its standard output.
    pub(crate) fn ok(&self, bin: &str, args: &[&str]) -> String {
        let run = self.run(bin, args);
        assert_eq!(run.code, 0, "{bin} {args:?}: {run:?}");
        run.stdout
    }

    /// Runs `bin args`, which must fail (a code of strata's table, not a panic); returns its
    /// standard error.
    pub(crate) fn fails(&self, bin: &str, args: &[&str]) -> String {
        let run = self.run(bin, args);
        assert!(
            (2..=130).contains(&run.code) && run.code != 101,
            "{bin} {args:?}: {run:?}"
        );
        run.stderr
    }

    /// Runs `bin args`, which must fail with exit status `code`; returns its standard error.
    pub(crate) fn fails_with(&self, code: i32, bin: &str, args: &[&str]) -> String {
        let run = self.run(bin, args);
        assert_eq!(run.code, code, "{bin} {args:?}: {run:?}");
        run.stderr
    }

    /// `oneimage create ...`, returning the new id.
    pub(crate) fn create(&self, args: &[&str]) -> u32 {
        let out = self.ok("oneimage", &[&["create"], args].concat());
        out.trim()
            .strip_prefix("ID: ")
            .and_then(|id| id.parse().ok())
            .unwrap_or_else(|| panic!("no ID in {out:?}"))
    }

    /// Writes `text` to file `name` of the sandbox and returns its path.
    pub(crate) fn write(&self, name: &str, text: &str) -> String {
        let path = self.path(name);
        std::fs::write(&path, text).unwrap();
        path.to_string_lossy().into_owned()
    }

    /// A raw disk of `mib` MiB with a few bytes of data at its start.
    pub(crate) fn raw_disk(&self, name: &str, mib: u64) -> PathBuf {
        let path = self.path(name);
        std::fs::write(&path, b"a boot sector").unwrap();
        std::fs::File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_len(mib << 20)
            .unwrap();
        path
    }

    /// Replaces what varies between runs and machines: the pool's path, times, capacities.
    pub(crate) fn filters(&self) -> Vec<(String, String)> {
        let accounts = strata_store::Accounts::read();
        let me = (
            regex_escape(Path::new(&accounts.user_name(current_uid()))),
            regex_escape(Path::new(&accounts.group_name(current_gid()))),
        );
        vec![
            (regex_escape(&self.pool()), "[POOL]".to_owned()),
            (regex_escape(self.dir.path()), "[DIR]".to_owned()),
            (r"[0-9a-f]{32}".to_owned(), "[SOURCE]".to_owned()),
            (r"\d\d/\d\d \d\d:\d\d:\d\d".to_owned(), "[TIME]".to_owned()),
            (
                format!(r"(?m)^USER( +): {}( |$)", me.0),
                "USER$1: [USER]$2".to_owned(),
            ),
            (
                format!(r"(?m)^GROUP( +): {}( |$)", me.1),
                "GROUP$1: [GROUP]$2".to_owned(),
            ),
        ]
    }
}

fn current_uid() -> u32 {
    // The test process runs as the user the commands run as.
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    field(&status, "Uid:")
}

fn current_gid() -> u32 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    field(&status, "Gid:")
}

fn field(status: &str, name: &str) -> u32 {
    status
        .lines()
        .find_map(|l| l.strip_prefix(name))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap()
}

fn regex_escape(path: &Path) -> String {
    let text = path.to_string_lossy();
    let mut out = String::new();
    for c in text.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Asserts an insta snapshot of `text` with the sandbox's filters.
#[macro_export]
macro_rules! snap {
    ($name:expr, $sb:expr, $text:expr) => {{
        let filters = $sb.filters();
        let filters: Vec<(&str, &str)> = filters
            .iter()
            .map(|(a, b)| (a.as_str(), b.as_str()))
            .collect();
        insta::with_settings!({ filters => filters, prepend_module_to_snapshot => false }, {
            insta::assert_snapshot!($name, $text);
        });
    }};
}
