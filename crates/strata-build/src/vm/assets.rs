//! The build VM's kernel and initramfs: the recipe they are assembled from, and where they are.
//!
//! `cargo xtask setup` (`xtask/src/build_vm.rs`) assembles them from Debian packages only, as
//! this module's recipe says, into `$XDG_CACHE_HOME/strata/build-vm/<recipe>/` (else
//! `~/.cache/...`), where `<recipe>` is the start of [`recipe_hash`]: a change of the recipe
//! (a package, a tool, a module, the guest's scripts, or [`RECIPE_FORMAT`] for a change of the
//! assembly itself) makes a new directory, so that the host code always boots the initramfs
//! whose agent it speaks to, and setup knows when to assemble again. docs/build-vm.md
//! describes the recipe.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::error::VmError;

/// The version of the assembly procedure: bump it when xtask assembles differently from the
/// same recipe (layout, compression, links), so that every machine assembles again.
pub const RECIPE_FORMAT: u32 = 1;

/// The kernel: Debian's cloud kernel metapackage (its `Depends` names the versioned package,
/// which holds the kernel and its modules). Its virtio drivers, xfs and the serial console's
/// companions are modules; ext4, devtmpfs and the 8250 console are built in.
pub const KERNEL_PACKAGE: &str = "linux-image-cloud-amd64";

/// The Debian packages the guest's userland comes from: the tools, then the shared libraries
/// that the tools need (the assembly fails naming any library that none of them holds).
pub const PACKAGES: &[&str] = &[
    "busybox-static",
    "dash",
    "e2fsprogs",
    "xfsprogs",
    "fdisk",
    "util-linux",
    "mount",
    "libc6",
    "libblkid1",
    "libuuid1",
    "libcom-err2",
    "libext2fs2",
    "libinih1",
    "liburcu8",
    "libfdisk1",
    "libsmartcols1",
    "libreadline8",
    "libtinfo6",
    "libmount1",
    "libselinux1",
    "libpcre2-8-0",
    "libudev1",
    "libedit2",
    "libbsd0",
    "libmd0",
];

/// The programs copied from the packages (paths inside them), with the shared libraries they
/// need; every busybox applet whose name none of them has is a link to busybox.
///
/// `/bin/sh` is dash, not busybox's ash: Debian builds busybox so that its shell runs its own
/// applets before any program on `PATH` (`FEATURE_PREFER_APPLETS`), so under ash `mount` or
/// `mke2fs` would be busybox's, whatever the initramfs holds (busybox's mount, for one, cannot
/// load the xfs module).
pub const TOOLS: &[&str] = &[
    "bin/dash",
    "bin/sh",
    "bin/busybox",
    "sbin/mke2fs",
    "sbin/mkfs.ext2",
    "sbin/mkfs.ext3",
    "sbin/mkfs.ext4",
    "sbin/e2fsck",
    "sbin/fsck.ext4",
    "sbin/resize2fs",
    "sbin/tune2fs",
    "sbin/e2label",
    "sbin/mkfs.xfs",
    "sbin/xfs_repair",
    "usr/sbin/xfs_growfs",
    "usr/sbin/xfs_db",
    "usr/sbin/xfs_admin",
    "sbin/sfdisk",
    "sbin/blkid",
    "sbin/wipefs",
    "sbin/blockdev",
    "bin/lsblk",
    "bin/findmnt",
    "bin/mount",
    "bin/umount",
    "usr/bin/partx",
];

/// The kernel modules copied in, with the modules they depend on (from `modules.dep`).
pub const MODULES: &[&str] = &[
    "virtio_pci",
    "virtio_blk",
    "virtio_console",
    "xfs",
    "vfat",
    "nls_cp437",
    "nls_ascii",
];

/// The initramfs's `/init`.
pub const INIT_SCRIPT: &str = include_str!("guest/init.sh");

/// The agent, at [`AGENT_PATH`] in the initramfs.
pub const AGENT_SCRIPT: &str = include_str!("guest/agent.sh");

/// Where the agent is in the initramfs (no leading `/`).
pub const AGENT_PATH: &str = "bin/strata-agent";

/// The kernel's file name in the assets' directory.
pub const KERNEL_FILE: &str = "vmlinuz";
/// The initramfs's file name in the assets' directory.
pub const INITRAMFS_FILE: &str = "initramfs.img";
/// What the assets were made from (package versions, kernel release), for people.
pub const MANIFEST_FILE: &str = "manifest.txt";

/// How many hex digits of [`recipe_hash`] name the assets' directory.
const DIR_HASH_LEN: usize = 16;

/// The SHA-256 of the recipe (everything above and [`RECIPE_FORMAT`]), in hex.
pub fn recipe_hash() -> String {
    let mut hasher = Sha256::new();
    let mut field = |name: &str, value: &[u8]| {
        hasher.update(format!("{name} {}\n", value.len()).as_bytes());
        hasher.update(value);
        hasher.update(b"\n");
    };
    field("format", RECIPE_FORMAT.to_string().as_bytes());
    field("kernel", KERNEL_PACKAGE.as_bytes());
    for package in PACKAGES {
        field("package", package.as_bytes());
    }
    for tool in TOOLS {
        field("tool", tool.as_bytes());
    }
    for module in MODULES {
        field("module", module.as_bytes());
    }
    field("init", INIT_SCRIPT.as_bytes());
    field("agent-path", AGENT_PATH.as_bytes());
    field("agent", AGENT_SCRIPT.as_bytes());
    hex::encode(hasher.finalize())
}

/// The directory all recipes' assets go under: `$XDG_CACHE_HOME/strata/build-vm`, else
/// `$HOME/.cache/strata/build-vm`.
pub fn cache_root() -> Result<PathBuf, VmError> {
    let non_empty = |name| std::env::var_os(name).filter(|value| !value.is_empty());
    let cache = match non_empty("XDG_CACHE_HOME") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(non_empty("HOME").ok_or(VmError::NoCacheDir)?).join(".cache"),
    };
    Ok(cache.join("strata").join("build-vm"))
}

/// The paths of a build VM's kernel and initramfs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assets {
    /// The kernel (`-kernel`).
    pub kernel: PathBuf,
    /// The initramfs (`-initrd`).
    pub initramfs: PathBuf,
}

impl Assets {
    /// The directory of this recipe's assets: [`cache_root`]`/<recipe>`.
    pub fn default_dir() -> Result<PathBuf, VmError> {
        Ok(cache_root()?.join(&recipe_hash()[..DIR_HASH_LEN]))
    }

    /// The assets in `dir`, whether they are there or not.
    pub fn in_dir(dir: &Path) -> Assets {
        Assets {
            kernel: dir.join(KERNEL_FILE),
            initramfs: dir.join(INITRAMFS_FILE),
        }
    }

    /// This recipe's assets, which must be there.
    pub fn locate() -> Result<Assets, VmError> {
        let assets = Assets::in_dir(&Assets::default_dir()?);
        assets.check()?;
        Ok(assets)
    }

    /// Fails naming the first of the two files that is not there.
    pub fn check(&self) -> Result<(), VmError> {
        for (what, path) in [("kernel", &self.kernel), ("initramfs", &self.initramfs)] {
            if !path.is_file() {
                return Err(VmError::AssetsMissing {
                    what,
                    path: path.clone(),
                });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_recipe_hash_is_stable_hex_and_names_the_directory() {
        let hash = recipe_hash();
        assert_eq!(hash.len(), 64);
        assert!(hash.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(hash, recipe_hash());
        let dir = Assets::default_dir().unwrap();
        assert_eq!(
            dir.file_name().unwrap().to_str().unwrap(),
            &hash[..DIR_HASH_LEN]
        );
        assert!(dir.parent().unwrap().ends_with("strata/build-vm"));
    }

    #[test]
    fn check_names_the_missing_file() {
        let dir = tempfile::tempdir().unwrap();
        let assets = Assets::in_dir(dir.path());
        let err = assets.check().unwrap_err();
        assert!(
            matches!(&err, VmError::AssetsMissing { what: "kernel", path } if *path == dir.path().join(KERNEL_FILE)),
            "{err:?}"
        );
        std::fs::write(&assets.kernel, b"k").unwrap();
        let err = assets.check().unwrap_err();
        assert!(
            matches!(
                err,
                VmError::AssetsMissing {
                    what: "initramfs",
                    ..
                }
            ),
            "{err:?}"
        );
        std::fs::write(&assets.initramfs, b"i").unwrap();
        assets.check().unwrap();
    }

    #[test]
    fn the_scripts_are_the_guest_side_of_this_protocol() {
        let ready = format!(
            "STRATA-AGENT {} READY",
            super::super::protocol::PROTOCOL_VERSION
        );
        assert!(
            AGENT_SCRIPT.contains(&ready),
            "agent.sh does not print {ready:?}"
        );
        assert!(INIT_SCRIPT.contains(&format!("exec /{AGENT_PATH} ")));
        assert!(INIT_SCRIPT.contains(super::super::qemu::AGENT_PORT_NAME));
        for request in ["RUN)", "PUT)", "UNTAR)", "POWEROFF)"] {
            assert!(AGENT_SCRIPT.contains(request), "agent.sh lacks {request}");
        }
    }
}
