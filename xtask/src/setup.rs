//! `cargo xtask setup`: installs what the project's tests, benches and demo need, only what is
//! missing, without asking anything (CI runs it with `CI=true`, no stdin, as root).
//!
//! [`REQUIREMENTS`] is the list: one row per tool, with how to check it, how to install it and
//! why the project needs it. Later work adds rows there. Debian packages are installed with
//! `apt-get` (with `sudo -n` when not root), cargo tools with `cargo install --locked`.

use std::fs;
use std::path::Path;
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::cmd;

/// One thing the project needs on the machine.
struct Requirement {
    /// What the row is about, as a user would name it (usually the command).
    name: &'static str,
    /// How to tell that it is there.
    check: Check,
    /// How to install it when it is not.
    install: Install,
    /// Which part of the project needs it.
    why: &'static str,
}

/// How to tell whether a requirement is met.
enum Check {
    /// This command (program and arguments) starts and exits with status 0.
    Runs(&'static [&'static str]),
    /// `qemu-img --version` reports at least this major version.
    QemuImgMajor(u32),
    /// This Python module imports in the peers' virtual environment (see [`peer_venv`]).
    VenvImports(&'static str),
    /// The build VM's kernel and initramfs of the current recipe are in the cache
    /// (see [`crate::build_vm`]).
    BuildVm,
}

/// How to install a missing requirement.
enum Install {
    /// A Debian package from the release's own suites.
    Apt(&'static str),
    /// A Debian package from [`BACKPORTS_SUITE`] on [`BACKPORTS_RELEASE`] (added to apt's sources
    /// if missing), for a newer version than the release has; from the release itself elsewhere.
    AptBackports(&'static str),
    /// A crate installed with `cargo install --locked`, as `name@version`.
    Cargo(&'static str),
    /// A PyPI package installed with `python3 -m pip install`, as `name==version`.
    Pip(&'static str),
    /// A PyPI package installed, as `name==version`, in the peers' virtual environment
    /// ([`peer_venv`], made with `python3 -m venv` if missing).
    PipVenv(&'static str),
    /// Assembled from Debian packages by [`crate::build_vm::assemble`], nothing installed.
    BuildVm,
}

/// Everything `cargo xtask setup` checks and installs, in order.
const REQUIREMENTS: &[Requirement] = &[
    Requirement {
        name: "skopeo",
        check: Check::Runs(&["skopeo", "--version"]),
        install: Install::Apt("skopeo"),
        why: "reference tool for containers-transports copies (golden files, end-to-end tests)",
    },
    Requirement {
        name: "umoci",
        check: Check::Runs(&["umoci", "--version"]),
        install: Install::Apt("umoci"),
        why: "reference OCI layout unpacker (strata-oci golden files and layer-apply tests)",
    },
    Requirement {
        name: "docker-registry",
        check: Check::Runs(&["docker-registry", "--version"]),
        install: Install::Apt("docker-registry"),
        why: "a distribution registry on loopback for the registry client's tests",
    },
    Requirement {
        name: "podman",
        check: Check::Runs(&["podman", "--version"]),
        install: Install::Apt("podman"),
        why: "the Docker Engine API (podman system service) for the docker-daemon transport's tests",
    },
    Requirement {
        name: "ostree",
        check: Check::Runs(&["ostree", "--version"]),
        install: Install::Apt("ostree"),
        why: "ostree: imports check the tree out with it; tests make repositories with it",
    },
    Requirement {
        name: "mksquashfs",
        check: Check::Runs(&["mksquashfs", "-version"]),
        install: Install::Apt("squashfs-tools"),
        why: "reference squashfs writer for the container cache tests",
    },
    Requirement {
        name: "python sif",
        check: Check::Runs(&["python3", "-c", "import sif.main"]),
        install: Install::Pip("sif==0.0.11"),
        why: "an independent SIF header reader that cross-reads the SIF fixtures (sif: tests)",
    },
    Requirement {
        name: "python libvhdi",
        check: Check::VenvImports("pyvhdi"),
        // The release with a manylinux wheel for CPython 3.11 (older ones are sources only).
        install: Install::PipVenv("libvhdi-python==20260901"),
        why: "libyal's vhdx reader (pyvhdi), an independent check of the vhdx images strata writes",
    },
    Requirement {
        name: "man",
        check: Check::Runs(&["man", "--version"]),
        install: Install::Apt("man-db"),
        why: "loads the man pages `cargo xtask dist` writes (strata-dist's tests: `man -l`)",
    },
    Requirement {
        name: "transient",
        check: Check::VenvImports("transient.cli"),
        install: Install::PipVenv("transient==0.25"),
        why: "the original `transient image ls|rm`: transient-image's goldens and interop tests",
    },
    Requirement {
        name: "pyone",
        check: Check::VenvImports("pyone.bindings"),
        install: Install::PipVenv("pyone==7.3.80"),
        why: "OpenNebula's Python client: parses every document oneimage/onedatastore print \
              with `-x` and talks to their daemon's XML-RPC endpoint (oneimage's tests)",
    },
    Requirement {
        name: "ssh",
        check: Check::Runs(&["ssh", "-V"]),
        install: Install::Apt("openssh-client"),
        why: "transient's `image build` reaches its build VM with ssh and scp (`bench build`)",
    },
    Requirement {
        name: "hyperfine",
        check: Check::Runs(&["hyperfine", "--version"]),
        install: Install::Apt("hyperfine"),
        why: "times whole commands for the benchmarks",
    },
    Requirement {
        name: "openssl",
        check: Check::Runs(&["openssl", "version"]),
        install: Install::Apt("openssl"),
        why: "makes the test certificate and signs the test tokens of the registry tests",
    },
    Requirement {
        name: "python3",
        check: Check::Runs(&["python3", "--version"]),
        install: Install::Apt("python3"),
        why: "runs the scripts that produce golden files with the reference tools",
    },
    Requirement {
        name: "python3-jsonschema",
        check: Check::Runs(&["/usr/bin/python3", "-c", "import jsonschema"]),
        install: Install::Apt("python3-jsonschema"),
        why: "validates the records strata writes with pcocc's own schema check",
    },
    Requirement {
        name: "python3-yaml",
        check: Check::Runs(&["/usr/bin/python3", "-c", "import yaml"]),
        install: Install::Apt("python3-yaml"),
        why: "reads the repository .config files strata writes as pcocc reads them",
    },
    Requirement {
        name: "qemu-img",
        check: Check::QemuImgMajor(10),
        install: Install::AptBackports("qemu-utils"),
        why: "reference for every disk format (golden images, `qemu-img compare`); pinned to 10.x",
    },
    Requirement {
        name: "qemu-system-x86_64",
        check: Check::Runs(&["qemu-system-x86_64", "--version"]),
        install: Install::AptBackports("qemu-system-x86"),
        why: "boots images in the demo and the VM executor's tests; same qemu 10 as qemu-img",
    },
    Requirement {
        name: "build VM",
        check: Check::BuildVm,
        install: Install::BuildVm,
        why: "kernel and initramfs of strata-build's build VM (RUN, COPY, mkfs in a guest)",
    },
    Requirement {
        name: "bzip2",
        check: Check::Runs(&["bzip2", "--version"]),
        install: Install::Apt("bzip2"),
        why: "makes the bzip2 files oneimage create decompresses (oneimage's tests)",
    },
    Requirement {
        name: "xz",
        check: Check::Runs(&["xz", "--version"]),
        install: Install::Apt("xz-utils"),
        why: "makes the xz files oneimage create decompresses (oneimage's tests)",
    },
    Requirement {
        name: "mkfs.xfs",
        check: Check::Runs(&["mkfs.xfs", "-V"]),
        install: Install::Apt("xfsprogs"),
        why: "oneimage create --fs xfs makes an empty datablock's file system on the host, as \
              OpenNebula's fs driver does (and xfs_db reads it back in the tests)",
    },
    Requirement {
        name: "runc",
        check: Check::Runs(&["runc", "--version"]),
        install: Install::Apt("runc"),
        why: "the runtime podman runs containers with in the tests: crun refuses the hybrid \
              cgroup hierarchy of these machines",
    },
    Requirement {
        name: "busybox",
        check: Check::Runs(&["busybox", "--help"]),
        install: Install::Apt("busybox-static"),
        why: "a static http server for the base image the ostree archive test runs under podman \
              (ocne-image's tests)",
    },
    Requirement {
        name: "sfdisk",
        check: Check::Runs(&["sfdisk", "--version"]),
        install: Install::Apt("fdisk"),
        why: "reads the partition tables of the boot images ocne-image create edits, without \
              trusting strata's own GPT reader (ocne-image's tests)",
    },
    Requirement {
        name: "debugfs",
        check: Check::Runs(&["debugfs", "-V"]),
        install: Install::Apt("e2fsprogs"),
        why: "reads files out of ext4 images the build VM made, without trusting the guest",
    },
    Requirement {
        name: "cargo-deny",
        check: Check::Runs(&["cargo", "deny", "--version"]),
        // Pinned: deny.toml is written for this version's configuration format.
        install: Install::Cargo("cargo-deny@0.20.2"),
        why: "licence, ban and source policy of `cargo xtask ci` (deny.toml)",
    },
];

/// The Debian release whose backports [`Install::AptBackports`] uses.
const BACKPORTS_RELEASE: &str = "bookworm";
/// The suite [`Install::AptBackports`] installs from.
const BACKPORTS_SUITE: &str = "bookworm-backports";
/// The apt source file setup writes when no source lists [`BACKPORTS_SUITE`].
const BACKPORTS_SOURCES_FILE: &str = "/etc/apt/sources.list.d/strata-backports.sources";
/// Where the release's own deb822 sources are, whose URIs and keyring the backports use.
const DEBIAN_SOURCES_FILE: &str = "/etc/apt/sources.list.d/debian.sources";
/// Used when [`DEBIAN_SOURCES_FILE`] names none.
const DEFAULT_DEBIAN_URI: &str = "http://deb.debian.org/debian";
/// Used when [`DEBIAN_SOURCES_FILE`] names none.
const DEFAULT_DEBIAN_KEYRING: &str = "/usr/share/keyrings/debian-archive-keyring.gpg";
/// How long setup waits for another `cargo install` to finish before it gives up.
const CARGO_INSTALL_WAIT: Duration = Duration::from_secs(60 * 60);

impl Check {
    /// Whether the requirement is met on this machine.
    fn passes(&self) -> bool {
        match self {
            Check::Runs(argv) => {
                let Some((program, args)) = argv.split_first() else {
                    return false;
                };
                cmd::probe(cmd::command(program).args(args)).is_some_and(|out| out.status.success())
            }
            Check::QemuImgMajor(min) => qemu_img_major().is_some_and(|major| major >= *min),
            Check::VenvImports(module) => {
                let python = peer_venv().join("bin").join("python3");
                cmd::probe(Command::new(python).args(["-c", &format!("import {module}")]))
                    .is_some_and(|out| out.status.success())
            }
            Check::BuildVm => crate::build_vm::present(),
        }
    }

    /// How the check is done, for people.
    fn describe(&self) -> String {
        match self {
            Check::Runs(argv) => format!("`{}` runs", argv.join(" ")),
            Check::QemuImgMajor(min) => format!("`qemu-img --version` is {min}.x or newer"),
            Check::VenvImports(module) => {
                format!("`import {module}` works in {}", peer_venv().display())
            }
            Check::BuildVm => crate::build_vm::describe(),
        }
    }
}

impl Install {
    /// How the requirement is installed, for people.
    fn describe(&self) -> String {
        match self {
            Install::Apt(package) => format!("Debian package {package}"),
            Install::AptBackports(package) => {
                format!("Debian package {package} from {BACKPORTS_SUITE}")
            }
            Install::Cargo(krate) => format!("`cargo install --locked {krate}`"),
            Install::Pip(package) => format!("`python3 -m pip install {package}`"),
            Install::PipVenv(package) => format!(
                "`pip install {package}` in the virtual environment {}",
                peer_venv().display()
            ),
            Install::BuildVm => {
                "assembled from Debian packages (apt-get download, dpkg-deb -x)".to_owned()
            }
        }
    }
}

/// The virtual environment of the Python peers that are PyPI packages only:
/// `$XDG_CACHE_HOME/strata/peer-venv`, else `~/.cache/strata/peer-venv`, shared by every
/// checkout. strata-testkit's `venv::venv_dir` finds it there: change both together.
pub(crate) fn peer_venv() -> std::path::PathBuf {
    let cache = match std::env::var_os("XDG_CACHE_HOME").filter(|v| !v.is_empty()) {
        Some(dir) => std::path::PathBuf::from(dir),
        None => {
            std::path::PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache")
        }
    };
    cache.join("strata").join("peer-venv")
}

/// The major version `qemu-img --version` reports (`qemu-img version 10.0.2 (Debian ...)`).
fn qemu_img_major() -> Option<u32> {
    let out = cmd::probe(Command::new("qemu-img").arg("--version"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    parse_qemu_img_major(&text)
}

fn parse_qemu_img_major(version_text: &str) -> Option<u32> {
    let mut words = version_text.split_whitespace();
    words.find(|word| *word == "version")?;
    words.next()?.split('.').next()?.parse().ok()
}

/// Checks every requirement, installs the missing ones, and checks them again.
pub(crate) fn run() -> Result<()> {
    let started = Instant::now();
    let mut missing = Vec::new();
    for req in REQUIREMENTS {
        if req.check.passes() {
            eprintln!("setup: ok       {:<20} {}", req.name, req.check.describe());
        } else {
            eprintln!("setup: missing  {:<20} {}", req.name, req.check.describe());
            missing.push(req);
        }
    }
    if missing.is_empty() {
        eprintln!(
            "setup: all {} requirements are present; nothing to install",
            REQUIREMENTS.len()
        );
        return Ok(());
    }
    for req in &missing {
        eprintln!(
            "setup: will install {} ({}): {}",
            req.name,
            req.install.describe(),
            req.why
        );
    }

    install_debian_packages(&missing)?;
    install_cargo_tools(&missing)?;
    install_pip_packages(&missing)?;
    install_venv_packages(&missing)?;
    install_build_vm(&missing)?;

    let still_missing: Vec<&str> = missing
        .iter()
        .filter(|req| !req.check.passes())
        .map(|req| req.name)
        .collect();
    if !still_missing.is_empty() {
        bail!(
            "still missing after installation: {} (see the output above)",
            still_missing.join(", ")
        );
    }
    eprintln!(
        "setup: installed {} in {:.0?}",
        missing
            .iter()
            .map(|req| req.name)
            .collect::<Vec<_>>()
            .join(", "),
        started.elapsed()
    );
    Ok(())
}

/// Installs the missing Debian packages: `apt-get update` once, the release's packages in one
/// `apt-get install`, the backported ones in another.
fn install_debian_packages(missing: &[&Requirement]) -> Result<()> {
    let mut plain = Vec::new();
    let mut backported = Vec::new();
    for req in missing {
        match req.install {
            Install::Apt(package) => plain.push(package),
            Install::AptBackports(package) => backported.push(package),
            Install::Cargo(_) | Install::Pip(_) | Install::PipVenv(_) | Install::BuildVm => {}
        }
    }
    if plain.is_empty() && backported.is_empty() {
        return Ok(());
    }
    let all = [plain.as_slice(), backported.as_slice()].concat().join(" ");
    if cmd::probe(Command::new("apt-get").arg("--version")).is_none() {
        bail!(
            "apt-get is not available on this machine: install these Debian packages by hand: {all}"
        );
    }
    let privilege =
        Privilege::detect().with_context(|| format!("cannot install the Debian packages {all}"))?;

    let use_backports = !backported.is_empty() && os_codename()? == BACKPORTS_RELEASE;
    if use_backports {
        ensure_backports_source(privilege)?;
    } else if !backported.is_empty() {
        eprintln!(
            "setup: this is not Debian {BACKPORTS_RELEASE}: installing {} from the release itself",
            backported.join(" ")
        );
    }

    cmd::run(privilege.apt_get().args(["update", "-q"]))?;
    if !plain.is_empty() {
        cmd::run(
            privilege
                .apt_get()
                .args(["install", "-y", "-q", "--no-install-recommends"])
                .args(&plain),
        )?;
    }
    if !backported.is_empty() {
        let mut install = privilege.apt_get();
        install.args(["install", "-y", "-q", "--no-install-recommends"]);
        if use_backports {
            install.args(["-t", BACKPORTS_SUITE]);
        }
        cmd::run(install.args(&backported))?;
    }
    Ok(())
}

/// Adds [`BACKPORTS_SOURCES_FILE`] unless some apt source already lists [`BACKPORTS_SUITE`].
fn ensure_backports_source(privilege: Privilege) -> Result<()> {
    if let Some(listed_in) = file_listing_backports()? {
        eprintln!("setup: {BACKPORTS_SUITE} is already an apt source ({listed_in})");
        return Ok(());
    }
    let (uris, keyring) = debian_source_uris_and_keyring()?;
    let text = format!(
        "# Written by `cargo xtask setup` (strata): qemu 10 (qemu-utils, qemu-system-x86) comes\n\
         # from {BACKPORTS_SUITE}. Same archive and keyring as {DEBIAN_SOURCES_FILE}.\n\
         Types: deb\n\
         URIs: {uris}\n\
         Suites: {BACKPORTS_SUITE}\n\
         Components: main\n\
         Signed-By: {keyring}\n"
    );
    eprintln!(
        "setup: adding {BACKPORTS_SOURCES_FILE} (for qemu 10 from {BACKPORTS_SUITE}):\n{text}"
    );
    privilege.write_file(Path::new(BACKPORTS_SOURCES_FILE), &text)
}

/// The apt source file that lists [`BACKPORTS_SUITE`] on a line that is not a comment, if any.
fn file_listing_backports() -> Result<Option<String>> {
    let mut files = vec![Path::new("/etc/apt/sources.list").to_path_buf()];
    let dir = Path::new("/etc/apt/sources.list.d");
    if dir.is_dir() {
        for entry in fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))? {
            let path = entry
                .with_context(|| format!("cannot list {}", dir.display()))?
                .path();
            if path
                .extension()
                .is_some_and(|ext| ext == "list" || ext == "sources")
            {
                files.push(path);
            }
        }
    }
    for path in files {
        let Ok(text) = fs::read_to_string(&path) else {
            continue;
        };
        let listed = text.lines().any(|line| {
            !line.trim_start().starts_with('#')
                && line.split_whitespace().any(|word| word == BACKPORTS_SUITE)
        });
        if listed {
            return Ok(Some(path.display().to_string()));
        }
    }
    Ok(None)
}

/// The `URIs` and `Signed-By` of the stanza of [`DEBIAN_SOURCES_FILE`] that lists the release
/// itself, or the Debian defaults when there is no such file or stanza.
fn debian_source_uris_and_keyring() -> Result<(String, String)> {
    let text = match fs::read_to_string(DEBIAN_SOURCES_FILE) {
        Ok(text) => text,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(err) => return Err(err).with_context(|| format!("cannot read {DEBIAN_SOURCES_FILE}")),
    };
    let found = parse_release_stanza(&text, BACKPORTS_RELEASE);
    if found.is_none() {
        eprintln!(
            "setup: no {BACKPORTS_RELEASE} stanza in {DEBIAN_SOURCES_FILE}: using Debian's defaults"
        );
    }
    let (uris, keyring) = found.unwrap_or_default();
    Ok((
        uris.unwrap_or_else(|| DEFAULT_DEBIAN_URI.to_owned()),
        keyring.unwrap_or_else(|| DEFAULT_DEBIAN_KEYRING.to_owned()),
    ))
}

/// In deb822 `text`, the `URIs` and one-line `Signed-By` of the first stanza whose `Suites` has
/// `release`; `None` if no stanza does.
fn parse_release_stanza(text: &str, release: &str) -> Option<(Option<String>, Option<String>)> {
    text.split("\n\n").find_map(|stanza| {
        let field = |name: &str| {
            stanza.lines().find_map(|line| {
                let (key, value) = line.split_once(':')?;
                let value = value.trim();
                (key.trim().eq_ignore_ascii_case(name) && !value.is_empty())
                    .then(|| value.to_owned())
            })
        };
        let suites = field("Suites")?;
        suites
            .split_whitespace()
            .any(|suite| suite == release)
            .then(|| (field("URIs"), field("Signed-By")))
    })
}

/// `VERSION_CODENAME` from `/etc/os-release` (empty if not set).
fn os_codename() -> Result<String> {
    let text = fs::read_to_string("/etc/os-release").context("cannot read /etc/os-release")?;
    Ok(text
        .lines()
        .find_map(|line| line.strip_prefix("VERSION_CODENAME="))
        .map(|value| value.trim_matches('"').to_owned())
        .unwrap_or_default())
}

/// How setup gets root for apt: it is root already, or `sudo -n` works without a password.
#[derive(Clone, Copy)]
enum Privilege {
    /// Running as root: run apt-get directly.
    Root,
    /// Not root: prefix privileged commands with `sudo -n`.
    Sudo,
}

impl Privilege {
    /// Root, or sudo without a password, or an error saying neither is there.
    fn detect() -> Result<Privilege> {
        if effective_uid() == Some(0) {
            return Ok(Privilege::Root);
        }
        if cmd::probe(Command::new("sudo").args(["-n", "true"]))
            .is_some_and(|out| out.status.success())
        {
            return Ok(Privilege::Sudo);
        }
        bail!("not running as root, and `sudo -n` (sudo without a password) is not available")
    }

    /// `apt-get`, as root and without questions.
    fn apt_get(self) -> Command {
        match self {
            Privilege::Root => {
                let mut apt = Command::new("apt-get");
                apt.env("DEBIAN_FRONTEND", "noninteractive");
                apt
            }
            Privilege::Sudo => {
                let mut apt = Command::new("sudo");
                apt.args(["-n", "env", "DEBIAN_FRONTEND=noninteractive", "apt-get"]);
                apt
            }
        }
    }

    /// Writes a file that only root may write, mode 0644.
    fn write_file(self, path: &Path, text: &str) -> Result<()> {
        match self {
            Privilege::Root => {
                fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
            }
            Privilege::Sudo => {
                let tmp = std::env::temp_dir().join(format!("xtask-setup-{}", std::process::id()));
                fs::write(&tmp, text).with_context(|| format!("cannot write {}", tmp.display()))?;
                let result = cmd::run(
                    Command::new("sudo")
                        .args(["-n", "install", "-m", "0644"])
                        .arg(&tmp)
                        .arg(path),
                );
                let _ = fs::remove_file(&tmp);
                result
            }
        }
    }
}

/// The effective user id, from `/proc/self/status` (Linux).
pub(crate) fn effective_uid() -> Option<u32> {
    let status = fs::read_to_string("/proc/self/status").ok()?;
    let uids = status.lines().find_map(|line| line.strip_prefix("Uid:"))?;
    uids.split_whitespace().nth(1)?.parse().ok()
}

/// Installs the missing cargo tools, after any `cargo install` already running has finished
/// (another session may be installing the same tool into `~/.cargo/bin`).
fn install_cargo_tools(missing: &[&Requirement]) -> Result<()> {
    for req in missing {
        let Install::Cargo(krate) = req.install else {
            continue;
        };
        wait_for_cargo_installs()?;
        if req.check.passes() {
            eprintln!(
                "setup: {} was installed meanwhile by another process",
                req.name
            );
            continue;
        }
        eprintln!("setup: building {krate} from source; this takes a few minutes");
        cmd::run(cmd::cargo().args(["install", "--locked", krate]))?;
    }
    Ok(())
}

/// Installs the missing PyPI packages for the `python3` on the PATH (the one the tests run).
/// Debian's own Python refuses pip installs outside a virtual environment (PEP 668):
/// `PIP_BREAK_SYSTEM_PACKAGES` lets a test-only package in, and older pips ignore it.
fn install_pip_packages(missing: &[&Requirement]) -> Result<()> {
    for req in missing {
        let Install::Pip(package) = req.install else {
            continue;
        };
        cmd::run(
            cmd::command("python3")
                .args(["-m", "pip", "install", "--quiet", package])
                .env("PIP_BREAK_SYSTEM_PACKAGES", "1"),
        )?;
    }
    Ok(())
}

/// Installs the missing PyPI packages of [`Install::PipVenv`] in [`peer_venv`], making the
/// virtual environment first if it has no interpreter (an existing one is kept: installing
/// again over it is idempotent).
fn install_venv_packages(missing: &[&Requirement]) -> Result<()> {
    let venv = peer_venv();
    let python = venv.join("bin").join("python3");
    for req in missing {
        let Install::PipVenv(package) = req.install else {
            continue;
        };
        if !python.exists() {
            if let Some(parent) = venv.parent() {
                fs::create_dir_all(parent)
                    .with_context(|| format!("cannot create {}", parent.display()))?;
            }
            cmd::run(cmd::command("python3").arg("-m").arg("venv").arg(&venv))?;
        }
        cmd::run(Command::new(&python).args(["-m", "pip", "install", "--quiet", package]))?;
    }
    Ok(())
}

/// Assembles the build VM's kernel and initramfs if that row is missing (after the Debian
/// packages, so that dpkg-deb and apt-get are there).
fn install_build_vm(missing: &[&Requirement]) -> Result<()> {
    if !missing
        .iter()
        .any(|req| matches!(req.install, Install::BuildVm))
    {
        return Ok(());
    }
    crate::build_vm::assemble(&|| {
        let privilege = Privilege::detect().context("cannot update apt's package lists")?;
        cmd::run(privilege.apt_get().args(["update", "-q"]))
    })
}

/// Waits, up to [`CARGO_INSTALL_WAIT`], until no other `cargo install` process runs.
fn wait_for_cargo_installs() -> Result<()> {
    let started = Instant::now();
    let mut reported = false;
    loop {
        let running = running_cargo_installs();
        if running.is_empty() {
            return Ok(());
        }
        if !reported {
            eprintln!(
                "setup: waiting for a running `cargo install` to finish: {}",
                running.join("; ")
            );
            reported = true;
        }
        if started.elapsed() > CARGO_INSTALL_WAIT {
            bail!(
                "a `cargo install` is still running after {CARGO_INSTALL_WAIT:?}: {}",
                running.join("; ")
            );
        }
        thread::sleep(Duration::from_secs(5));
    }
}

/// `pid: command line` of every other process that is a `cargo install` (read from `/proc`).
fn running_cargo_installs() -> Vec<String> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    let me = std::process::id().to_string();
    entries
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let pid = entry.file_name().into_string().ok()?;
            if pid == me || !pid.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            let raw = fs::read(entry.path().join("cmdline")).ok()?;
            let args: Vec<String> = raw
                .split(|b| *b == 0)
                .filter(|arg| !arg.is_empty())
                .map(|arg| String::from_utf8_lossy(arg).into_owned())
                .collect();
            let program = Path::new(args.first()?)
                .file_name()?
                .to_string_lossy()
                .into_owned();
            (program == "cargo" && args.iter().skip(1).any(|arg| arg == "install"))
                .then(|| format!("{pid}: {}", args.join(" ")))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_qemu_img_major_version() {
        let text = "qemu-img version 10.0.2 (Debian 1:10.0.2+ds-2+deb13u1~bpo12+1)\nCopyright (c) 2003-2025\n";
        assert_eq!(parse_qemu_img_major(text), Some(10));
        assert_eq!(
            parse_qemu_img_major("qemu-img version 7.2.15 (Debian 1:7.2+dfsg-7+deb12u18)"),
            Some(7)
        );
        assert_eq!(parse_qemu_img_major("something else"), None);
    }

    #[test]
    fn finds_the_release_stanza_in_deb822_sources() {
        let text = "Types: deb\n# a comment\nURIs: http://deb.debian.org/debian\nSuites: bookworm bookworm-updates\n\
                    Components: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n\n\
                    Types: deb\nURIs: http://deb.debian.org/debian-security\nSuites: bookworm-security\n\
                    Signed-By: /usr/share/keyrings/other.gpg\n";
        assert_eq!(
            parse_release_stanza(text, "bookworm"),
            Some((
                Some("http://deb.debian.org/debian".to_owned()),
                Some("/usr/share/keyrings/debian-archive-keyring.gpg".to_owned())
            ))
        );
        assert_eq!(parse_release_stanza(text, "trixie"), None);
    }

    #[test]
    fn every_row_is_named_and_explained() {
        for req in REQUIREMENTS {
            assert!(!req.name.is_empty() && !req.why.is_empty());
            if let Check::Runs(argv) = req.check {
                assert!(!argv.is_empty(), "{}: empty check command", req.name);
            }
        }
    }
}
