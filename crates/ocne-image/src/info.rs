//! `ocne image info` (cmd/image/info/info.go, pkg/commands/image/info/info.go of OCNE): the
//! boot image's partition table, or the contents of a path on its partitions.
//!
//! The image is `--file`, or the boot qcow2 of `--image` (else the configured boot image),
//! fetched as `create` fetches it ([`crate::boot`]) into a temporary file under `~/.ocne/tmp`.
//! The table is read by strata-disk ([`strata_disk::gpt`]), through the qcow2 codec, and printed
//! in OCNE's logrus lines: GUIDs upper-case as go-diskfs prints them, partitions numbered from 0
//! among the used entries, sizes in OCNE's `HumanReadableSize` (which has no MiB step: 300 MiB
//! prints as `307200.00 KiB`), and 512-byte blocks.
//!
//! `--path` reads a file system. OCNE reads FAT and XFS with Go libraries; strata mounts the
//! partition read-only in its build VM, which reads every file system the kernel knows (XFS,
//! ext4, FAT). A file prints its contents; a directory its entries (`-r`: every entry below,
//! depth first), one path per line, as OCNE prints them. A partition that holds no readable file
//! system gets OCNE's warning.

use std::path::{Path, PathBuf};
use std::time::Duration;

use strata_build::vm::{BuildVm, Disk, VmConfig, sh_quote};
use strata_disk::gpt::{GptPartition, read_gpt};

use crate::boot;
use crate::capability::Arch;
use crate::cli::InfoArgs;
use crate::config::{Config, ensure_version, with_transport};
use crate::error::Error;
use crate::log::Level;
use crate::run::Env;

/// The sector size go-diskfs reads a file with.
const SECTOR: u64 = 512;
/// How long one read in the build VM may take.
const STEP: Duration = Duration::from_secs(120);

/// Runs `info`.
pub fn info(args: &InfoArgs, env: &mut Env<'_>) -> Result<(), Error> {
    let arch = Arch::parse(&args.arch).ok_or(Error::BadArch)?;
    let config = Config::load(env.home.as_deref(), None, Some(&args.version))?;
    let reference = if args.image.is_empty() {
        config.boot_image()
    } else {
        ensure_version(&with_transport(&args.image), &config.kube_version)
    };
    // The fetched image's directory, removed when `info` returns.
    let _scratch: tempfile::TempDir;
    let (path, shown) = if args.file.is_empty() {
        let home = env.home.clone().ok_or(Error::NoHome)?;
        let tmp_root = home.join(".ocne/tmp");
        std::fs::create_dir_all(&tmp_root).map_err(|source| Error::Write {
            path: tmp_root.clone(),
            source,
        })?;
        let dir = tempfile::Builder::new()
            .prefix("image-info")
            .tempdir_in(&tmp_root)
            .map_err(Error::Scratch)?;
        let path = dir.path().join("boot.qcow2");
        let mut file = std::fs::File::create(&path).map_err(|source| Error::Write {
            path: path.clone(),
            source,
        })?;
        let cache = boot::cache_dir(Some(&home)).ok_or(Error::NoHome)?;
        boot::fetch(&reference, arch.name(), &cache, &mut file)?;
        _scratch = dir;
        (path, reference)
    } else {
        (PathBuf::from(&args.file), args.file.clone())
    };
    inspect(&path, &shown, args, env)
}

/// Prints the table of `path` (shown as `shown`), or the contents of `--path`.
fn inspect(path: &Path, shown: &str, args: &InfoArgs, env: &mut Env<'_>) -> Result<(), Error> {
    let opened = strata_disk::open(path, &strata_disk::OpenOptions::default())
        .map_err(|e| Error::Copy(strata::Error::from(e)))?;
    let image = opened.image;
    let table = read_gpt(image.as_ref(), SECTOR).map_err(|e| Error::Table {
        path: path.to_owned(),
        reason: e.to_string(),
    })?;
    let summary = args.path.is_empty() && args.label.is_empty();
    let indent = if summary { "\t" } else { "" };
    if summary {
        env.log(Level::Info, &format!("Image: {shown}"))?;
        env.log(
            Level::Info,
            &format!("Size: {}", human_size(image.virtual_size())),
        )?;
        env.log(Level::Info, &format!("Logical Block Size: {SECTOR}"))?;
        env.log(Level::Info, &format!("PhysicalBlockSize: {SECTOR}"))?;
        env.log(
            Level::Info,
            &format!("Partition Table: {}", upper(&table.disk_guid)),
        )?;
    }
    let mut vm: Option<BuildVm> = None;
    for (i, part) in table.partitions.iter().enumerate() {
        if !(args.label.is_empty() || args.label == part.name) {
            continue;
        }
        if args.path.is_empty() {
            for line in partition_lines(i, part, indent) {
                env.log(Level::Info, &line)?;
            }
            continue;
        }
        if vm.is_none() {
            let mut config = VmConfig::new(strata_build::vm::Assets::locate()?);
            config.accel = strata_build::vm::Accel::choose(None)?;
            config.disks = vec![Disk::new(path, opened.format).read_only()];
            vm = Some(BuildVm::start(&config)?);
        }
        let Some(vm) = vm.as_mut() else { continue };
        match read_path(vm, part, &args.path, args.recursive)? {
            Ok(bytes) => {
                env.out.write_all(&bytes).map_err(Error::Output)?;
            }
            Err(reason) => env.log(
                Level::Warn,
                &format!(
                    "EFI partition {} was not a valid filesystem: {reason}",
                    part.name
                ),
            )?,
        }
    }
    if let Some(vm) = vm {
        vm.shutdown()?;
    }
    env.out.flush().map_err(Error::Output)
}

/// A partition's lines (`Partition <i>`, then its label, GUID, type, size and extents).
fn partition_lines(i: usize, part: &GptPartition, indent: &str) -> Vec<String> {
    vec![
        format!("{indent}Partition {i}"),
        format!("{indent}\tLabel: {}", part.name),
        format!("{indent}\tGUID: {}", upper(&part.guid)),
        format!("{indent}\tType: {}", upper(&part.type_guid)),
        format!("{indent}\tSize: {}", human_size(part.size(SECTOR))),
        format!("{indent}\tExtents: {} to {}", part.first_lba, part.last_lba),
    ]
}

/// A GUID as go-diskfs prints it: upper case.
fn upper(guid: &strata_disk::gpt::Guid) -> String {
    guid.to_string().to_uppercase()
}

/// OCNE's `HumanReadableSize`: two decimals of TiB, GiB, KiB or bytes — it has no MiB step.
pub fn human_size(size: u64) -> String {
    const KIB: u64 = 1 << 10;
    const GIB: u64 = 1 << 30;
    const TIB: u64 = 1 << 40;
    let (base, suffix) = if size >= TIB {
        (TIB, "TiB")
    } else if size >= GIB {
        (GIB, "GiB")
    } else if size >= KIB {
        (KIB, "KiB")
    } else {
        (1, "B")
    };
    format!("{:.2} {suffix}", size as f64 / base as f64)
}

/// Mounts `part` read-only in the VM and reads `path` on it: a file's bytes, or a directory's
/// entries one per line. `Ok(Err(reason))`: the partition has no file system the VM can mount.
fn read_path(
    vm: &mut BuildVm,
    part: &GptPartition,
    path: &str,
    recursive: bool,
) -> Result<Result<Vec<u8>, String>, Error> {
    let dev = format!("/dev/vda{}", part.number);
    let mnt = format!("/mnt/p{}", part.number);
    let mount = vm.run(
        &format!(
            "mkdir -p {mnt} && {{ mount -o ro,norecovery {dev} {mnt} 2>/dev/null || mount -o ro {dev} {mnt}; }}"
        ),
        STEP,
    )?;
    if !mount.success() {
        return Ok(Err(mount.stderr_text().trim().to_owned()));
    }
    let clean = clean_path(path);
    let target = format!("{mnt}{}", if clean == "/" { "" } else { clean.as_str() });
    let depth = if recursive { "" } else { "-maxdepth 1" };
    let q = sh_quote(&target);
    // Links resolve inside the partition only; a missing path prints nothing, as in OCNE.
    let script = format!(
        "r=$(readlink -f {q}) || exit 0; case \"$r\" in {mnt}|{mnt}/*) ;; *) exit 0;; esac; \
         if [ -d \"$r\" ]; then echo D; find \"$r\" -mindepth 1 {depth}; elif [ -f \"$r\" ]; then echo F; cat \"$r\"; fi"
    );
    let out = vm.run(&script, STEP)?;
    vm.run(&format!("umount {mnt}"), STEP)?;
    if !out.success() {
        return Ok(Err(out.stderr_text().trim().to_owned()));
    }
    // The first line says what the path is: D, a directory; F, a file; nothing, no such path.
    let (kind, body) = match out.stdout.split_first() {
        Some((kind, rest)) => (*kind, rest.get(1..).unwrap_or_default()),
        None => return Ok(Ok(Vec::new())),
    };
    if kind != b'D' {
        return Ok(Ok(body.to_vec()));
    }
    // `find` prints the mount point's paths; OCNE prints paths on the file system.
    let mut lines = Vec::new();
    for line in String::from_utf8_lossy(body).lines() {
        let inner = line.strip_prefix(&mnt).unwrap_or(line);
        let shown = inner.strip_prefix(&target[mnt.len()..]).unwrap_or(inner);
        let base = if clean == "/" { "" } else { clean.as_str() };
        lines.extend_from_slice(format!("{base}{shown}\n").as_bytes());
    }
    Ok(Ok(lines))
}

/// `path` cleaned as Go's `filepath.Join` cleans it: absolute, no empty, `.` or trailing parts,
/// `..` resolved without going above `/`.
fn clean_path(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for p in path.split('/') {
        match p {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    format!("/{}", parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_ocne_s_with_no_mib_step() {
        assert_eq!(human_size(0), "0.00 B");
        assert_eq!(human_size(1023), "1023.00 B");
        assert_eq!(human_size(300 << 20), "307200.00 KiB");
        assert_eq!(human_size(1 << 30), "1.00 GiB");
        assert_eq!(human_size(3 << 40), "3.00 TiB");
    }

    #[test]
    fn paths_are_cleaned_as_go_cleans_them() {
        assert_eq!(clean_path("/"), "/");
        assert_eq!(clean_path("loader/entries/"), "/loader/entries");
        assert_eq!(clean_path("/../a/./b//c"), "/a/b/c");
    }
}
