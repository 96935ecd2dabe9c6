//! The edits of a boot image in strata's build VM, where OCNE uses a privileged pod with
//! `qemu-nbd`: the qcow2 is the VM's only disk (`/dev/vda`), written in place, with the OCK
//! layout — the boot partition (XFS) second, the root partition (XFS, the ostree sysroot)
//! third.
//!
//! In order, as OCNE's modify-image.sh:
//! 1. the old root UUID is read; both XFS partitions get new UUIDs (`xfs_admin -U generate`);
//! 2. on the boot partition, the loader entry is edited ([`crate::edits::edit_entry`]);
//! 3. on the root partition, the deployment's fstab mounts the new UUIDs, every `machine-id`
//!    of the deployments is removed, and (`-t oci`) the network hooks are installed.
//!
//! The files are read out (bounded), edited on the host and written back through the agent.
//! Paths taken from the image (the entry's `ostree=`) are resolved in the guest and must stay
//! on the partition they belong to: a hostile image can only ever edit itself.

use std::path::Path;
use std::time::Duration;

use strata_build::vm::{BuildVm, Disk, Resolved, VmConfig, VmError, sh_quote};
use strata_model::DiskFormat;

use crate::edits::{self, EntryEdits, LOADER_ENTRY};
use crate::error::Error;

/// How long one step in the guest may take (TCG on a loaded host included).
const STEP: Duration = Duration::from_secs(120);
/// The largest loader entry read (real ones are under 1 KiB).
const MAX_ENTRY: u64 = 64 << 10;
/// The largest fstab read.
const MAX_FSTAB: u64 = 1 << 20;

/// The boot partition.
const BOOT: &str = "/dev/vda2";
/// The root partition.
const ROOT: &str = "/dev/vda3";
/// Where the boot partition is mounted in the guest.
const BOOT_MNT: &str = "/mnt/boot";
/// Where the root partition is mounted in the guest.
const ROOT_MNT: &str = "/mnt/root";

/// What the edits are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// The loader entry's edits.
    pub entry: EntryEdits,
    /// Whether the OCI network hooks are installed.
    pub oci_hooks: bool,
}

/// What was done, for the log and the tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Done {
    /// The boot partition's new UUID.
    pub boot_uuid: String,
    /// The root partition's new UUID.
    pub root_uuid: String,
    /// The deployment whose fstab was edited.
    pub deployment: String,
    /// How many machine-id files were removed.
    pub machine_ids: usize,
}

/// A started build VM with the image attached.
pub struct Guest {
    vm: BuildVm,
}

impl Guest {
    /// Starts the build VM with `image` (qcow2) as its disk, with the accelerator resolved.
    /// The VM is killed when the calling thread ends.
    pub fn start(mut config: VmConfig, image: &Path, accel: Resolved) -> Result<Guest, Error> {
        config.disks = vec![Disk::new(image, DiskFormat::Qcow2)];
        let vm = BuildVm::start_with(&config, accel).map_err(Error::BuildVm)?;
        Ok(Guest { vm })
    }

    /// Makes the edits of `plan`.
    pub fn edit(&mut self, plan: &Plan) -> Result<Done, Error> {
        self.check_layout()?;
        let old_root = self.uuid(ROOT)?;
        self.step(
            "give the XFS partitions new UUIDs",
            &format!(
                "xfs_admin -U generate {BOOT} >/dev/null && xfs_admin -U generate {ROOT} >/dev/null"
            ),
        )?;
        let boot_uuid = self.uuid(BOOT)?;
        let root_uuid = self.uuid(ROOT)?;

        self.step(
            "mount the boot partition",
            &format!("mkdir -p {BOOT_MNT} && mount -t xfs {BOOT} {BOOT_MNT}"),
        )?;
        let entry_path = format!("{BOOT_MNT}/{LOADER_ENTRY}");
        let entry = self.read(&entry_path, BOOT_MNT, MAX_ENTRY)?;
        let edited = edits::edit_entry(&entry.text, &plan.entry, &old_root, &root_uuid);
        let deployment = edits::deployment(&edited)
            .ok_or_else(|| Error::Modify {
                step: "find the deployment".into(),
                reason: format!("{LOADER_ENTRY} has no ostree= argument"),
            })?
            .to_owned();
        self.write(&entry.resolved, entry.mode, edited.as_bytes())?;
        self.step("unmount the boot partition", &format!("umount {BOOT_MNT}"))?;

        self.step(
            "mount the root partition",
            &format!("mkdir -p {ROOT_MNT} && mount -t xfs {ROOT} {ROOT_MNT}"),
        )?;
        let deploy_dir = self.resolve(&format!("{ROOT_MNT}{deployment}"), ROOT_MNT)?;
        let fstab = self.read(&format!("{deploy_dir}/etc/fstab"), ROOT_MNT, MAX_FSTAB)?;
        let edited = edits::edit_fstab(&fstab.text, &root_uuid, &boot_uuid);
        self.write(&fstab.resolved, fstab.mode, edited.as_bytes())?;
        let removed = self.step(
            "remove the machine-id files",
            &format!(
                "d={ROOT_MNT}/ostree/deploy/ock/deploy; [ -d \"$d\" ] || exit 0; find \"$d\" -type f -iname machine-id -print -exec rm -f {{}} +"
            ),
        )?;
        let machine_ids = removed.lines().filter(|l| !l.is_empty()).count();
        if plan.oci_hooks {
            for hook in edits::OCI_HOOKS {
                let (dir, name) = hook.path.rsplit_once('/').unwrap_or(("", hook.path));
                let dir = format!("{deploy_dir}/{dir}");
                self.step(
                    &format!("make the directory of {}", hook.path),
                    &format!("mkdir -p {}", sh_quote(&dir)),
                )?;
                let dir = self.resolve(&dir, ROOT_MNT)?;
                let target = format!("{dir}/{name}");
                // A link in the image's place would be followed by the write: remove it.
                self.step(
                    &format!("install {}", hook.path),
                    &format!("if [ -L {0} ]; then rm -f {0}; fi", sh_quote(&target)),
                )?;
                self.write(&target, 0o755, hook.text.as_bytes())?;
            }
        }
        self.step(
            "unmount the root partition",
            &format!("umount {ROOT_MNT} && sync"),
        )?;
        Ok(Done {
            boot_uuid,
            root_uuid,
            deployment,
            machine_ids,
        })
    }

    /// Powers the VM off, every write on the disk.
    pub fn shutdown(self) -> Result<(), Error> {
        self.vm.shutdown().map_err(Error::BuildVm)
    }

    /// Checks that the disk has the OCK layout: partitions 2 and 3, both XFS.
    fn check_layout(&mut self) -> Result<(), Error> {
        for dev in [BOOT, ROOT] {
            let kind = self.step(
                "read the partition table",
                &format!(
                    "[ -b {dev} ] || {{ echo 'the image has no partition {dev}' >&2; exit 1; }}; blkid -p -o value -s TYPE {dev} || true"
                ),
            )?;
            if kind.trim() != "xfs" {
                return Err(Error::Modify {
                    step: "read the partition table".into(),
                    reason: format!(
                        "partition {} is {}, not XFS: not an OCK boot image",
                        &dev[dev.len() - 1..],
                        if kind.trim().is_empty() {
                            "unformatted"
                        } else {
                            kind.trim()
                        }
                    ),
                });
            }
        }
        Ok(())
    }

    /// A partition's file system UUID, read from the device (not blkid's cache).
    fn uuid(&mut self, dev: &str) -> Result<String, Error> {
        let out = self.step(
            "read a file system UUID",
            &format!("blkid -p -o value -s UUID {dev}"),
        )?;
        let uuid = out.trim().to_owned();
        if uuid.is_empty() || !uuid.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-') {
            return Err(Error::Modify {
                step: "read a file system UUID".into(),
                reason: format!("{dev} has no UUID"),
            });
        }
        Ok(uuid)
    }

    /// `path` with every link resolved, refused unless it stays under `mount`.
    fn resolve(&mut self, path: &str, mount: &str) -> Result<String, Error> {
        let out = self.step(
            &format!("resolve {path}"),
            &format!("readlink -f {}", sh_quote(path)),
        )?;
        let resolved = out.trim_end_matches('\n').to_owned();
        if resolved != mount && !resolved.starts_with(&format!("{mount}/")) {
            return Err(Error::Modify {
                step: format!("resolve {}", &path[mount.len()..]),
                reason: "it leads out of its partition".into(),
            });
        }
        Ok(resolved)
    }

    /// Reads the regular file `path` (under `mount`), at most `max` bytes.
    fn read(&mut self, path: &str, mount: &str, max: u64) -> Result<Read, Error> {
        let resolved = self.resolve(path, mount)?;
        let shown = &path[mount.len()..];
        let q = sh_quote(&resolved);
        let head = self.step(
            &format!("read {shown}"),
            &format!("[ -f {q} ] || {{ echo 'no such file' >&2; exit 1; }}; stat -c '%s %a' {q}"),
        )?;
        let (size, mode) = head.trim().split_once(' ').unwrap_or(("", ""));
        let size: u64 = size.parse().unwrap_or(u64::MAX);
        let mode = u32::from_str_radix(mode, 8).unwrap_or(0o644);
        if size > max {
            return Err(Error::Modify {
                step: format!("read {shown}"),
                reason: format!("{size} bytes, more than the {max} read"),
            });
        }
        let text = self.step(&format!("read {shown}"), &format!("cat {q}"))?;
        Ok(Read {
            resolved,
            mode,
            text,
        })
    }

    /// Replaces the file `path` (already resolved) with `bytes` and gives it `mode`.
    fn write(&mut self, path: &str, mode: u32, bytes: &[u8]) -> Result<(), Error> {
        self.vm
            .put_bytes(path, mode, bytes, STEP)
            .map_err(|e| vm_step(&format!("write {path}"), e))
    }

    /// Runs `script`; a failure is [`Error::Modify`] naming `step` with the guest's stderr.
    fn step(&mut self, step: &str, script: &str) -> Result<String, Error> {
        let out = self.vm.run(script, STEP).map_err(|e| vm_step(step, e))?;
        if !out.success() {
            return Err(Error::Modify {
                step: step.to_owned(),
                reason: out.stderr_text().trim().to_owned(),
            });
        }
        Ok(out.stdout_text())
    }
}

/// A file read from the image.
struct Read {
    /// Its path in the guest, links resolved.
    resolved: String,
    /// Its mode.
    mode: u32,
    /// Its text (lossily decoded: these files are text).
    text: String,
}

/// An error of the VM during `step`.
fn vm_step(step: &str, error: VmError) -> Error {
    match error {
        VmError::Failed { stderr, .. } => Error::Modify {
            step: step.to_owned(),
            reason: stderr,
        },
        other => Error::BuildVm(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_quoted_for_the_shell() {
        assert_eq!(sh_quote("/a b"), "'/a b'");
        assert_eq!(sh_quote("it's"), "'it'\\''s'");
    }
}
