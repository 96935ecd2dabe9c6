//! [`Sandbox`]: a temporary home whose XDG data directory holds transient's default backend and
//! VM store, the binary run inside it with a controlled environment, and image makers.

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use strata_disk::qcow2::writer::{CreateOptions, create_file};

/// The length of the random part of the sandbox's directory name.
const RANDOM_LEN: usize = 8;

/// A temporary directory holding `home/` (with `home/.local/share` as `XDG_DATA_HOME`, so the
/// default backend is `<sandbox>/home/.local/share/transient/backend`), removed when dropped.
pub(crate) struct Sandbox {
    dir: tempfile::TempDir,
}

impl Sandbox {
    pub(crate) fn new() -> Sandbox {
        // A fixed-length path, so the filter that hides the random part keeps widths.
        let dir = tempfile::Builder::new()
            .prefix("transient-it-")
            .rand_bytes(RANDOM_LEN)
            .tempdir_in("/tmp")
            .expect("temporary directory");
        let sandbox = Sandbox { dir };
        std::fs::create_dir_all(sandbox.path("home/.local/share")).expect("home");
        sandbox
    }

    /// `<sandbox>/<rel>`.
    pub(crate) fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// transient's default backend in this sandbox.
    pub(crate) fn backend(&self) -> PathBuf {
        self.path("home/.local/share/transient/backend")
    }

    /// transient's default VM store in this sandbox.
    pub(crate) fn vmstore(&self) -> PathBuf {
        self.path("home/.local/share/transient/vmstore")
    }

    /// The binary with a clean environment pointing at the sandbox.
    pub(crate) fn cmd(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_transient-image"));
        cmd.env_clear()
            .env("HOME", self.path("home"))
            .env("XDG_DATA_HOME", self.path("home/.local/share"))
            .env("TZ", "UTC");
        cmd
    }

    /// Runs `transient-image ARGS` and describes what it did: the command, the exit code,
    /// standard output and standard error.
    pub(crate) fn run(&self, args: &[&str]) -> String {
        let output = self.cmd().args(args).output().expect("run transient-image");
        let code = output
            .status
            .code()
            .map_or_else(|| "signal".to_owned(), |c| c.to_string());
        format!(
            "$ transient-image {}\nexit: {code}\n--- stdout\n{}--- stderr\n{}",
            args.join(" "),
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr),
        )
    }

    /// Runs `transient-image ARGS` and asserts that it succeeded.
    pub(crate) fn ok(&self, args: &[&str]) {
        self.cmd().args(args).assert().success();
    }

    /// insta filters that hide the sandbox's random name (keeping its length) and the dates of
    /// warning lines.
    pub(crate) fn filters(&self) -> Vec<(String, String)> {
        let root = self.dir.path().display().to_string();
        let hidden = format!(
            "{}{}",
            &root[..root.len() - RANDOM_LEN],
            "X".repeat(RANDOM_LEN)
        );
        vec![
            (regex_escape(&root), hidden),
            (DATE.to_owned(), DATE_MARK.to_owned()),
        ]
    }

    /// An empty qcow2 image `name` of `size` bytes in the default backend, its file named with
    /// transient's encoding, written by strata-disk as qemu-img lays it out.
    pub(crate) fn image(&self, name: &str, size: u64) -> PathBuf {
        self.image_with(name, &CreateOptions::new(size))
    }

    /// [`Sandbox::image`] with these options (2 MiB clusters reach sizes of an EiB).
    pub(crate) fn image_with(&self, name: &str, options: &CreateOptions) -> PathBuf {
        let path = self.backend().join(enc(name));
        std::fs::create_dir_all(self.backend()).expect("backend");
        create_file(&path, options).expect("qcow2 image");
        path
    }

    /// A VM `name` in the default VM store as `transient create` makes it: a config file and,
    /// for each of `images`, an overlay standing on that backend image.
    pub(crate) fn vm(&self, name: &str, images: &[&str]) {
        let dir = self.vmstore().join(enc(name));
        std::fs::create_dir_all(&dir).expect("VM directory");
        std::fs::write(dir.join("config"), format!("name = {name:?}\n")).expect("config");
        for (n, image) in images.iter().enumerate() {
            let backing = self.backend().join(enc(image));
            overlay(
                &dir.join(format!("{}-{n}-{}", enc(name), enc(image))),
                &backing,
            );
        }
    }
}

/// transient's file name for `name`.
pub(crate) fn enc(name: &str) -> String {
    name.parse::<strata_model::name::TransientName>()
        .expect("a transient name")
        .file_name()
}

/// A qcow2 overlay at `path` whose backing file is `backing`'s absolute path.
pub(crate) fn overlay(path: &Path, backing: &Path) {
    let mut options = CreateOptions::new(1 << 20);
    options.backing = Some((
        backing.display().to_string(),
        strata_model::DiskFormat::Qcow2,
    ));
    create_file(path, &options).expect("overlay");
}

/// A warning line's date, as a regular expression.
pub(crate) const DATE: &str = r"(?m)^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d:";

/// What [`DATE`] becomes in snapshots and goldens.
pub(crate) const DATE_MARK: &str = "YYYY-MM-DD HH:MM:SS:";

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
