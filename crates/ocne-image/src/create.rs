//! `ocne image create` (cmd/image/create/create.go, pkg/commands/image/create/*.go of OCNE),
//! without a Kubernetes cluster: the checks in OCNE's order (`--arch`, the configuration, the
//! provider type, `-i`, `-K`), then
//!
//! - `-t oci` and `-t olvm`: the boot image ([`crate::boot`]) written to a temporary file
//!   beside the output, edited in place in strata's build VM ([`crate::guest`]), fsynced and
//!   renamed to `~/.ocne/images/boot.qcow2-<version>-<arch>.<type>` (mode 0600, as OCNE's
//!   `DefaultImagePath`). An interrupted run leaves no file under that name.
//! - `-t ostree`: the ostree archive image ([`crate::ostree`]).
//!
//! The log lines are OCNE's where OCNE has the step (`Creating Image`, `Getting local boot image
//! for architecture: …`, `New boot image was created successfully at …`), and OCNE's
//! waiting/ok lines for the step that replaces its pod: `Modifying boot image` (the build VM
//! started, the edits, the power-off), after a line that says when the VM runs without KVM.

use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use strata_build::vm::{Accel, Assets, VmConfig};

use crate::boot;
use crate::capability::Arch;
use crate::cli::CreateArgs;
use crate::config::Config;
use crate::copy::done_line;
use crate::edits::{self, EntryEdits};
use crate::error::Error;
use crate::guest::{Guest, Plan};
use crate::log::Level;
use crate::run::Env;

/// The provider types (`flags.ValidProviderTypes`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Oracle Cloud Infrastructure.
    Oci,
    /// An ostree archive image.
    Ostree,
    /// Oracle Linux Virtualization Manager (oVirt).
    Olvm,
}

impl Kind {
    /// The type as `-t` names it and the output file's extension.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Oci => "oci",
            Kind::Ostree => "ostree",
            Kind::Olvm => "olvm",
        }
    }

    /// The default ignition provider (create.go's `providers`).
    fn default_ignition(self) -> &'static str {
        match self {
            Kind::Oci => "oci",
            Kind::Ostree => "qemu",
            Kind::Olvm => "openstack",
        }
    }
}

/// Runs `create`.
pub fn create(args: &CreateArgs, env: &mut Env<'_>) -> Result<(), Error> {
    let arch = Arch::parse(&args.arch).ok_or(Error::BadArch)?;
    let config = Config::load(
        env.home.as_deref(),
        args.config.as_deref().map(Path::new),
        Some(&args.version),
    )?;
    env.log(Level::Info, "Creating Image")?;
    let kind = match args.provider.as_str() {
        "oci" => Kind::Oci,
        "ostree" => Kind::Ostree,
        "olvm" => Kind::Olvm,
        other => {
            return Err(Error::UnsupportedProvider {
                provider: other.to_owned(),
            });
        }
    };
    let ignition = if args.ignition_provider.is_empty() {
        kind.default_ignition().to_owned()
    } else {
        edits::check_provider(&args.ignition_provider)?;
        args.ignition_provider.clone()
    };
    edits::check_kargs(&args.kernel_args)?;
    let images = images_dir(env.home.as_deref())?;
    let arch = arch.name();
    match kind {
        Kind::Ostree => crate::ostree::create(&config, arch, &args.base, &images, env),
        Kind::Oci | Kind::Olvm => {
            let plan = Plan {
                entry: EntryEdits {
                    // OCNE's olvm script writes openstack whatever -i says.
                    provider: if kind == Kind::Olvm {
                        "openstack".to_owned()
                    } else {
                        ignition
                    },
                    console_tty0: kind == Kind::Olvm,
                    kargs: args.kernel_args.clone(),
                },
                oci_hooks: kind == Kind::Oci,
            };
            let out = images.join(format!(
                "boot.qcow2-{}-{arch}.{}",
                config.kube_version,
                kind.name()
            ));
            boot_image(&config, arch, &plan, &out, env)?;
            env.log(
                Level::Info,
                &format!(
                    "New boot image was created successfully at {}",
                    out.display()
                ),
            )
        }
    }
}

/// `~/.ocne/images`, made if missing (0700, as OCNE's `EnsureOcneImagesDir`).
pub fn images_dir(home: Option<&Path>) -> Result<PathBuf, Error> {
    let home = home.ok_or(Error::NoHome)?;
    let dir = home.join(".ocne/images");
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&dir)
        .map_err(|source| Error::Write {
            path: dir.clone(),
            source,
        })?;
    Ok(dir)
}

/// The boot image of `config` for `arch`, edited by `plan`, written atomically to `out`.
fn boot_image(
    config: &Config,
    arch: &str,
    plan: &Plan,
    out: &Path,
    env: &mut Env<'_>,
) -> Result<(), Error> {
    let dir = out.parent().unwrap_or(Path::new("."));
    let write_err = |source: std::io::Error| Error::Write {
        path: out.to_owned(),
        source,
    };
    remove_stale(dir, TMP_PREFIX);
    let mut tmp = tempfile::Builder::new()
        .prefix(TMP_PREFIX)
        .tempfile_in(dir)
        .map_err(write_err)?;
    // Held until the file is renamed or removed: a later run removes only unlocked leftovers.
    rustix::fs::flock(
        tmp.as_file(),
        rustix::fs::FlockOperation::NonBlockingLockExclusive,
    )
    .map_err(|e| write_err(e.into()))?;
    env.log(
        Level::Info,
        &format!("Getting local boot image for architecture: {arch}"),
    )?;
    let cache = boot::cache_dir(env.home.as_deref()).ok_or(Error::NoHome)?;
    let reference = config.boot_image();
    let fetched = boot::fetch(&reference, arch, &cache, tmp.as_file_mut())?;
    if fetched.pulled {
        let lines = format!(
            "Getting image source signatures\n{}{}Writing manifest to image destination\n",
            done_line("blob", &fetched.layer),
            done_line("config", &fetched.config)
        );
        env.print(&lines)?;
    }
    // No fsync yet: qemu reads the file through the page cache, and the one fsync after the
    // edits makes it durable (its writeback overlaps the VM's boot).

    let vm_config = vm_config()?;
    let accel = vm_config
        .accel
        .resolve(&strata_build::vm::HostKvm::probe())?;
    if accel.accel != Accel::Kvm {
        env.log(
            Level::Info,
            &format!(
                "The build VM runs without hardware acceleration ({}: {})",
                accel.accel, accel.reason
            ),
        )?;
    }
    let path = tmp.path().to_owned();
    // The VM is started, used and stopped on one thread: it dies with that thread.
    env.wait_for("Modifying boot image", move || {
        let mut guest = Guest::start(vm_config, &path, accel)?;
        guest.edit(plan)?;
        guest.shutdown()
    })?;

    let file = tmp.as_file();
    file.sync_all().map_err(write_err)?;
    tmp.persist(out).map_err(|e| write_err(e.error))?;
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(write_err)?;
    Ok(())
}

/// The prefix of the temporary files beside the outputs.
pub const TMP_PREFIX: &str = ".boot.qcow2-";

/// Removes the leftovers of runs that were killed: files (or directories) in `dir` named
/// `prefix…` that no running command holds locked. Best effort: what cannot be removed stays.
pub fn remove_stale(dir: &Path, prefix: &str) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        if !entry.file_name().to_string_lossy().starts_with(prefix) {
            continue;
        }
        let path = entry.path();
        let Ok(handle) = std::fs::File::open(&path) else {
            continue;
        };
        if rustix::fs::flock(
            &handle,
            rustix::fs::FlockOperation::NonBlockingLockExclusive,
        )
        .is_err()
        {
            continue; // a running command's
        }
        let _ = if path.is_dir() {
            std::fs::remove_dir_all(&path)
        } else {
            std::fs::remove_file(&path)
        };
    }
}

/// The build VM's configuration: its assets from the cache `cargo xtask setup` (or a
/// distribution's package) fills, the accelerator from `STRATA_BUILD_ACCEL` or the host.
fn vm_config() -> Result<VmConfig, Error> {
    let assets = Assets::locate().map_err(Error::BuildVm)?;
    let mut config = VmConfig::new(assets);
    config.accel = Accel::choose(None).map_err(Error::BuildVm)?;
    Ok(config)
}
