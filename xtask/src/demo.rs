//! `cargo xtask demo`: the main job, end to end, with the real `pcocc-image` binary on a local
//! repository of the demo's own (`target/demo/repo`, configured by `target/demo/conf/repos.yaml`
//! through `PCOCC_USER_CONF_DIR`, with `PCOCC_SYSTEM_CONF_DIR` pointing at an empty directory),
//! so that the user's configured repositories and cache are never read or written. Each command
//! is printed as a user would type it, then run. The demo's images are named `strata-demo-*` and
//! are deleted at the end.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::cmd;

/// The demo disk's virtual size: 256 MiB, of which a few MiB hold data.
const DISK_SIZE: u64 = 256 << 20;

/// The names the demo creates (and removes, also when left over by an interrupted run).
const NAMES: [&str; 3] = ["strata-demo-disk", "strata-demo-back", "strata-demo-copy"];

pub(crate) fn run() -> Result<()> {
    let root = crate::project_root();
    let work = root.join("target/demo");
    std::fs::create_dir_all(&work).with_context(|| format!("cannot create {}", work.display()))?;
    let config = DemoConfig::write(&work)?;
    println!(
        "strata demo: building pcocc-image first (cargo's progress below; a few minutes on a \
         fresh clone), then importing, exporting, copying and resizing a sample disk with it \
         in a repository of its own, {} (configured in {}; your own repositories are not \
         touched)\n",
        config.repo.display(),
        config.repos_yaml().display()
    );
    cmd::run(&mut build(&root))?;
    let bin = crate::target_dir(&root).join("debug/pcocc-image");
    let pcocc = |args: &[&str]| -> Result<()> {
        let mut command = config.command(&bin);
        command.args(args);
        cmd::run(&mut command)
    };
    for name in NAMES {
        let mut show = config.command(&bin);
        show.args(["show", name]);
        if cmd::probe(&mut show).is_some_and(|out| out.status.success()) {
            println!("(removing {name}, left over by an earlier demo)");
            pcocc(&["delete", name])?;
        }
    }

    let disk = work.join("disk.raw");
    make_disk(&disk)?;
    println!(
        "\n# a {} MiB sparse raw disk with patterned data and holes: {}\n",
        DISK_SIZE >> 20,
        disk.display()
    );
    let disk_arg = path_arg(&disk)?;
    let vmdk = work.join("disk.vmdk");
    let _ = std::fs::remove_file(&vmdk);
    let back = work.join("back.raw");
    let _ = std::fs::remove_file(&back);

    pcocc(&["import", disk_arg, "strata-demo-disk"])?;
    pcocc(&["list", "strata-demo"])?;
    pcocc(&["show", "strata-demo-disk"])?;
    pcocc(&["export", "strata-demo-disk", path_arg(&vmdk)?])?;
    check_with_qemu_img(&vmdk, &disk)?;
    pcocc(&["import", path_arg(&vmdk)?, "strata-demo-back"])?;
    pcocc(&["export", "strata-demo-back", path_arg(&back)?])?;
    if std::fs::read(&disk)? != std::fs::read(&back)? {
        bail!("the round trip raw -> repository -> qcow2 -> repository -> raw changed the bytes");
    }
    println!("# the round trip raw -> repository -> vmdk -> repository -> raw kept every byte\n");
    pcocc(&["copy", "strata-demo-disk", "strata-demo-copy"])?;
    pcocc(&["resize", "strata-demo-copy", "512M"])?;
    pcocc(&["show", "strata-demo-copy"])?;
    pcocc(&["list", "strata-demo"])?;
    pcocc(&["repo", "verify"])?;
    for name in NAMES {
        pcocc(&["delete", name])?;
    }
    pcocc(&["repo", "gc"])?;
    pcocc(&["repo", "list"])?;
    println!(
        "\nNot in this demo yet: container images, and the transient, OpenNebula and OCNE front \
         ends."
    );
    Ok(())
}

/// The build of the demo's binary: cargo's own progress (bar on a terminal, `Compiling` lines
/// otherwise) shows on stderr, so that a fresh clone's first build is not minutes of silence.
/// The dev profile, as the tests build it: `cargo xtask ci` runs the demo after them.
fn build(root: &Path) -> Command {
    let mut build = cmd::cargo();
    build.args(["build", "-p", "pcocc-image"]).current_dir(root);
    build
}

/// The demo's own pcocc configuration: one repository, `demo`, under the demo's directory.
struct DemoConfig {
    /// The directory `PCOCC_USER_CONF_DIR` names, holding `repos.yaml`.
    user_conf: PathBuf,
    /// An empty directory for `PCOCC_SYSTEM_CONF_DIR`, so `/etc/pcocc` is not read either.
    system_conf: PathBuf,
    /// The repository.
    repo: PathBuf,
}

impl DemoConfig {
    /// Writes `<work>/conf/repos.yaml` naming `<work>/repo`, and the empty system directory.
    fn write(work: &Path) -> Result<DemoConfig> {
        let config = DemoConfig {
            user_conf: work.join("conf"),
            system_conf: work.join("no-system-conf"),
            repo: work.join("repo"),
        };
        for dir in [&config.user_conf, &config.system_conf] {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
        }
        let yaml = format!(
            "repos:\n  - name: demo\n    path: \"{}\"\n",
            path_arg(&config.repo)?
        );
        std::fs::write(config.repos_yaml(), yaml)
            .with_context(|| format!("cannot write {}", config.repos_yaml().display()))?;
        Ok(config)
    }

    fn repos_yaml(&self) -> PathBuf {
        self.user_conf.join("repos.yaml")
    }

    /// `bin` with the demo's configuration in its environment.
    fn command(&self, bin: &Path) -> Command {
        let mut command = Command::new(bin);
        command
            .env("PCOCC_USER_CONF_DIR", &self.user_conf)
            .env("PCOCC_SYSTEM_CONF_DIR", &self.system_conf);
        command
    }
}

/// When qemu-img is installed (`cargo xtask setup` installs it), shows that it reads the
/// exported vmdk as the same disk: `qemu-img check`, then `qemu-img compare` with the source.
fn check_with_qemu_img(vmdk: &Path, disk: &Path) -> Result<()> {
    let mut version = Command::new("qemu-img");
    version.arg("--version");
    if cmd::probe(&mut version).is_none() {
        println!("(qemu-img is not installed: skipping its check of the vmdk)");
        return Ok(());
    }
    let mut check = Command::new("qemu-img");
    check.args(["check", "-f", "vmdk", path_arg(vmdk)?]);
    cmd::run(&mut check)?;
    let mut compare = Command::new("qemu-img");
    compare.args([
        "compare",
        "-f",
        "vmdk",
        "-F",
        "raw",
        path_arg(vmdk)?,
        path_arg(disk)?,
    ]);
    cmd::run(&mut compare)
}

fn path_arg(path: &Path) -> Result<&str> {
    path.to_str()
        .with_context(|| format!("{} is not UTF-8", path.display()))
}

/// A sparse raw disk: a data MiB every 16 MiB, each with a different pattern, holes between.
fn make_disk(path: &Path) -> Result<()> {
    let file = File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
    file.set_len(DISK_SIZE)?;
    let mut chunk = vec![0u8; 1 << 20];
    for (index, offset) in (0..DISK_SIZE).step_by(16 << 20).enumerate() {
        for (i, byte) in chunk.iter_mut().enumerate() {
            // Truncation is the point: a repeating byte pattern.
            *byte = (i as u8).wrapping_mul(7).wrapping_add(index as u8);
        }
        file.write_all_at(&chunk, offset)?;
    }
    file.sync_all()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The build shows cargo's progress: no `--quiet`, no `-q`.
    #[test]
    fn the_build_shows_its_progress() {
        let build = build(Path::new("/src"));
        let args: Vec<&str> = build.get_args().map(|arg| arg.to_str().unwrap()).collect();
        assert_eq!(args, ["build", "-p", "pcocc-image"]);
        assert_eq!(build.get_current_dir(), Some(Path::new("/src")));
    }

    /// The demo never reads or writes the user's repositories: its commands see a
    /// configuration of its own, whose only repository is under the demo's directory.
    #[test]
    fn the_demo_has_a_configuration_of_its_own() {
        let work = std::env::temp_dir().join(format!("xtask-demo-test-{}", std::process::id()));
        let config = DemoConfig::write(&work).unwrap();
        let command = config.command(Path::new("pcocc-image"));
        let envs: Vec<(String, String)> = command
            .get_envs()
            .map(|(k, v)| {
                (
                    k.to_string_lossy().into_owned(),
                    v.unwrap_or_default().to_string_lossy().into_owned(),
                )
            })
            .collect();
        let yaml = std::fs::read_to_string(config.repos_yaml()).unwrap();
        std::fs::remove_dir_all(&work).unwrap();
        for var in ["PCOCC_USER_CONF_DIR", "PCOCC_SYSTEM_CONF_DIR"] {
            let value = envs.iter().find(|(k, _)| k == var).map(|(_, v)| v);
            assert!(
                value.is_some_and(|v| Path::new(v).starts_with(&work)),
                "{var}: {envs:?}"
            );
        }
        assert_eq!(
            yaml,
            format!(
                "repos:\n  - name: demo\n    path: \"{}\"\n",
                work.join("repo").display()
            )
        );
    }
}
