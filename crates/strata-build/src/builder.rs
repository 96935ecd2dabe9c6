//! The builder: runs a `FROM scratch` [`Imagefile`] in the build VM into a working qcow2, as
//! transient's `ImageBuilder.build` does (the pcocc/transient reference, section 2.8).
//!
//! [`build`] creates the working qcow2 of DISK's size (written by strata-disk, never by
//! qemu-img), boots a [`BuildVm`] with it as `/dev/vda`, and then, printing `Step i/n : ...`
//! through the progress callback before each instruction:
//! - DISK writes an empty partition table (`label: gpt` or `label: dos` into `sfdisk`);
//! - each PARTITION appends a partition (`sfdisk -a`, transient's `size=`, `bootable` and
//!   `type=` fields) and makes its file system (`mkfs.<fs> <options>`); once they are all made,
//!   the mounted ones are mounted under `/mnt`, shallowest mount path first;
//! - COPY puts regular files of the build directory into `/mnt/<dst>` with their modes;
//! - ADD unpacks `*.tar.gz` and `*.tar.xz` sources into the directory `/mnt/<dst>` (numeric
//!   owners kept) and copies the others as COPY does;
//! - RUN runs `chroot /mnt /bin/sh -c <command>` with devtmpfs, proc and sysfs mounted in the
//!   chroot; a status other than 0 fails the build with the step's line and the command's
//!   stderr.
//!
//! Then everything is unmounted, synced, and the VM powers off.
//!
//! **The working file belongs to the builder.** [`build`] refuses a working path that exists,
//! and on any error after creating it, removes it (the VM is stopped first): a failed build
//! leaves nothing behind. On success the caller moves it where it belongs.
//!
//! **Hostile input.** COPY and ADD sources are relative to the build directory and must stay
//! in it: absolute paths, `..` and symbolic links that resolve outside it are refused before
//! the VM boots, as are COPY and ADD destinations and MOUNT paths with a `..` component
//! ([`BuildError::OutsideImage`]). Paths in the guest are quoted for its shell; RUN commands and
//! mkfs OPTIONS are shell text by definition, and run as root in the throwaway build VM.
//!
//! After each RUN that succeeds, [`BuildEvent::RunOutput`] carries what it wrote (transient
//! shows a RUN's output as it comes; the build VM returns it when the command ends).
//!
//! **Not yet** ([`BuildError::NotYet`]): FROM an image spec, the step cache, directories as
//! COPY or ADD sources. INSPECT needs an interactive build, which this builder is not
//! ([`BuildError::InspectNotInteractive`]); both are refused before the VM boots.
//!
//! **Known debts.** A compressed ADD source is put whole into the guest's RAM-backed `/tmp` and
//! decompressed there by busybox (transient streams it into bsdtar): large tarballs need the
//! VM's memory. RUN is not in a new PID namespace (transient uses `unshare --fork --pid`).

use std::fs;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use strata_disk::qcow2::writer::{CreateOptions, create_file};
use strata_model::DiskFormat;

use crate::imagefile::{
    Action, BaseImage, Filesystem, Imagefile, Instruction, Partition, PartitionFlag, PartitionTable,
};
use crate::vm::{BuildVm, Disk, VmConfig, VmError};

/// The guest's view of the working disk.
const DEVICE: &str = "/dev/vda";

/// Where the compressed source of an ADD is put in the guest.
const ADD_TEMP: &str = "/tmp/strata-add";

/// How a build runs.
#[derive(Debug, Clone)]
pub struct BuildOptions {
    /// The build VM's configuration; its disks are replaced by the working file.
    pub vm: VmConfig,
    /// How long one guest request (a step, a file put) may take.
    pub step_timeout: Duration,
}

/// What the builder reports as it goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BuildEvent {
    /// An instruction starts: [`BuildEvent::step_line`] gives transient's `Step i/n : <echo>`.
    Step {
        /// Its position, from 1.
        index: usize,
        /// How many instructions there are.
        total: usize,
        /// transient's echo of the instruction.
        echo: String,
    },
    /// A RUN's command has exited with status 0: what it wrote (capped by the VM's
    /// `output_cap`), for the caller to show as transient shows it.
    RunOutput {
        /// The step's line.
        line: u32,
        /// Its stdout.
        stdout: Vec<u8>,
        /// Its stderr.
        stderr: Vec<u8>,
    },
}

impl BuildEvent {
    /// The line transient prints for a [`BuildEvent::Step`]; `None` for other events.
    pub fn step_line(&self) -> Option<String> {
        match self {
            BuildEvent::Step { index, total, echo } => {
                Some(format!("Step {index}/{total} : {echo}"))
            }
            BuildEvent::RunOutput { .. } => None,
        }
    }
}

/// An error of a build; nothing is left at the working path.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// Something this builder does not do yet.
    #[error("line {line}: {what} is not supported by the builder yet")]
    NotYet {
        /// The instruction's line.
        line: u32,
        /// What (`FROM an image`, `a directory as a COPY source`...).
        what: &'static str,
    },
    /// INSPECT in a build that is not interactive.
    #[error("line {line}: INSPECT opens an interactive shell, and this build is not interactive")]
    InspectNotInteractive {
        /// The instruction's line.
        line: u32,
    },
    /// A scratch Imagefile without DISK (the parser never gives one).
    #[error("a FROM scratch build needs a DISK instruction")]
    NoDisk,
    /// The working path already exists.
    #[error("the working image {path} already exists")]
    WorkingExists {
        /// The working path.
        path: PathBuf,
    },
    /// The working qcow2 could not be created.
    #[error("cannot create the working image {path}: {source}")]
    Create {
        /// The working path.
        path: PathBuf,
        /// strata-disk's error.
        source: strata_disk::DiskError,
    },
    /// A COPY or ADD source that is absolute, goes through `..` or resolves outside the build
    /// directory.
    #[error("line {line}: {path:?} is outside the build directory")]
    OutsideBuildDir {
        /// The instruction's line.
        line: u32,
        /// The source as written.
        path: String,
    },
    /// A COPY or ADD destination or a MOUNT path with a `..` component, which would leave the
    /// image's tree in the build VM.
    #[error("line {line}: {path:?} goes outside the image (`..`)")]
    OutsideImage {
        /// The instruction's line.
        line: u32,
        /// The path as written.
        path: String,
    },
    /// A COPY or ADD source that cannot be read.
    #[error("line {line}: cannot read {path:?} in the build directory: {source}")]
    Source {
        /// The instruction's line.
        line: u32,
        /// The source as written.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// RUN's command exited with a status other than 0.
    #[error("line {line}: RUN{command} exited with status {status}: {stderr}")]
    RunFailed {
        /// The instruction's line.
        line: u32,
        /// The command as written.
        command: String,
        /// Its exit status.
        status: i32,
        /// Its stderr, trimmed.
        stderr: String,
    },
    /// The build VM failed during an instruction.
    #[error("line {line}: {source}")]
    Step {
        /// The instruction's line.
        line: u32,
        /// The VM's error.
        source: VmError,
    },
    /// The build VM failed to start or to stop.
    #[error(transparent)]
    Vm(#[from] VmError),
}

/// Builds `imagefile` (whose COPY and ADD sources are relative to `build_dir`) into a new qcow2
/// at `working`, calling `progress` before each instruction. On error nothing is left at
/// `working`.
///
/// # Errors
/// [`BuildError::NotYet`] and [`BuildError::InspectNotInteractive`] for what this builder does
/// not run, [`BuildError::OutsideBuildDir`] and [`BuildError::Source`] for bad sources (all
/// before the VM boots); [`BuildError::WorkingExists`], [`BuildError::Create`], then
/// [`BuildError::RunFailed`], [`BuildError::Step`] and [`BuildError::Vm`] as the build goes.
pub fn build(
    imagefile: &Imagefile,
    build_dir: &Path,
    working: &Path,
    options: &BuildOptions,
    progress: &mut dyn FnMut(&BuildEvent),
) -> Result<(), BuildError> {
    let disk = match imagefile.from.image() {
        BaseImage::Scratch => imagefile.disk.ok_or(BuildError::NoDisk)?,
        BaseImage::Spec(_) => {
            return Err(BuildError::NotYet {
                line: imagefile.from.line(),
                what: "FROM an image",
            });
        }
    };
    let sources = check_steps(imagefile, build_dir)?;
    if working.symlink_metadata().is_ok() {
        return Err(BuildError::WorkingExists {
            path: working.to_path_buf(),
        });
    }
    create_file(working, &CreateOptions::new(disk.size.disk_size().0)).map_err(|source| {
        BuildError::Create {
            path: working.to_path_buf(),
            source,
        }
    })?;
    let result = run_in_vm(imagefile, &sources, working, options, progress);
    if result.is_err() {
        // The VM is stopped (shut down or dropped) by now; a failed removal leaves nothing
        // more to report than the build's own error.
        let _ = fs::remove_file(working);
    }
    result
}

/// The host path of each COPY and ADD source, by step, checked to stay in `build_dir` and to
/// be regular files; INSPECT refused.
fn check_steps(imagefile: &Imagefile, build_dir: &Path) -> Result<Vec<Vec<PathBuf>>, BuildError> {
    let root = build_dir
        .canonicalize()
        .map_err(|source| BuildError::Source {
            line: imagefile.from.line(),
            path: build_dir.display().to_string(),
            source,
        })?;
    for partition in &imagefile.partitions {
        if let Some(mount) = &partition.mount {
            check_destination(partition.line, mount)?;
        }
    }
    let mut all = Vec::new();
    for step in &imagefile.steps {
        let line = step.line;
        let mut paths = Vec::new();
        match &step.action {
            Action::Copy {
                sources,
                destination,
            }
            | Action::Add {
                sources,
                destination,
            } => {
                check_destination(line, destination)?;
                for source in sources {
                    paths.push(check_source(&root, line, source)?);
                }
            }
            Action::Run { .. } => {}
            Action::Inspect => return Err(BuildError::InspectNotInteractive { line }),
        }
        all.push(paths);
    }
    Ok(all)
}

fn check_destination(line: u32, path: &str) -> Result<(), BuildError> {
    if Path::new(path)
        .components()
        .any(|c| c == Component::ParentDir)
    {
        return Err(BuildError::OutsideImage {
            line,
            path: path.to_owned(),
        });
    }
    Ok(())
}

fn check_source(root: &Path, line: u32, source: &str) -> Result<PathBuf, BuildError> {
    let outside = || BuildError::OutsideBuildDir {
        line,
        path: source.to_owned(),
    };
    let relative = Path::new(source);
    if !relative
        .components()
        .all(|c| matches!(c, Component::Normal(_) | Component::CurDir))
    {
        return Err(outside());
    }
    let resolved = root
        .join(relative)
        .canonicalize()
        .map_err(|e| BuildError::Source {
            line,
            path: source.to_owned(),
            source: e,
        })?;
    if !resolved.starts_with(root) {
        return Err(outside());
    }
    if !resolved.is_file() {
        return Err(BuildError::NotYet {
            line,
            what: "a COPY or ADD source that is not a regular file",
        });
    }
    Ok(resolved)
}

fn run_in_vm(
    imagefile: &Imagefile,
    sources: &[Vec<PathBuf>],
    working: &Path,
    options: &BuildOptions,
    progress: &mut dyn FnMut(&BuildEvent),
) -> Result<(), BuildError> {
    let mut config = options.vm.clone();
    config.disks = vec![Disk::new(working, DiskFormat::Qcow2)];
    let mut vm = BuildVm::start(&config)?;
    let timeout = options.step_timeout;
    let total = imagefile.instruction_count();
    let mut chroot_ready = false;
    let partitions_end = 1 + usize::from(imagefile.disk.is_some()) + imagefile.partitions.len();
    for (i, instruction) in imagefile.instructions().enumerate() {
        progress(&BuildEvent::Step {
            index: i + 1,
            total,
            echo: instruction.echo(),
        });
        let line = instruction.line();
        let at = |source| BuildError::Step { line, source };
        match instruction {
            Instruction::From(_) => {}
            Instruction::Disk(disk) => {
                let label = match disk.table {
                    PartitionTable::Gpt => "gpt",
                    PartitionTable::Mbr => "dos",
                };
                vm.run_checked(
                    &format!("echo 'label: {label}' | sfdisk -q {DEVICE}"),
                    timeout,
                )
                .map_err(at)?;
            }
            Instruction::Partition(partition) => {
                vm.run_checked(&partition_script(partition), timeout)
                    .map_err(at)?;
            }
            Instruction::Step(step) => {
                let paths = sources
                    .get(i - partitions_end)
                    .map_or(&[][..], Vec::as_slice);
                match &step.action {
                    Action::Copy {
                        sources,
                        destination,
                    } => copy(&mut vm, sources, paths, destination, timeout).map_err(at)?,
                    Action::Add {
                        sources,
                        destination,
                    } => add(&mut vm, sources, paths, destination, timeout).map_err(at)?,
                    Action::Run { command } => {
                        if !chroot_ready {
                            vm.run_checked(CHROOT_MOUNTS, timeout).map_err(at)?;
                            chroot_ready = true;
                        }
                        let script = format!("chroot /mnt /bin/sh -c {}", quote(command));
                        let out = vm.run(&script, timeout).map_err(at)?;
                        if !out.success() {
                            return Err(BuildError::RunFailed {
                                line,
                                command: command.clone(),
                                status: out.status,
                                stderr: out.stderr_text().trim().to_owned(),
                            });
                        }
                        progress(&BuildEvent::RunOutput {
                            line,
                            stdout: out.stdout,
                            stderr: out.stderr,
                        });
                    }
                    // Refused by `check_steps`.
                    Action::Inspect => return Err(BuildError::InspectNotInteractive { line }),
                }
            }
        }
        if i + 1 == partitions_end {
            vm.run_checked(&mount_script(&imagefile.partitions), timeout)
                .map_err(at)?;
        }
    }
    let mut unmount = String::from("set -e\n");
    if chroot_ready {
        unmount.push_str("umount /mnt/sys /mnt/proc /mnt/dev\n");
    }
    for partition in mounted_by_depth(&imagefile.partitions).iter().rev() {
        if let Some(mount) = &partition.mount {
            unmount.push_str(&format!("umount {}\n", quote(&guest_mnt(mount))));
        }
    }
    unmount.push_str("sync\n");
    vm.run_checked(&unmount, timeout)?;
    vm.shutdown()?;
    Ok(())
}

/// The chroot's special file systems, mounted before the first RUN.
const CHROOT_MOUNTS: &str = "set -e
mkdir -p /mnt/dev /mnt/proc /mnt/sys
mount -t devtmpfs devtmpfs /mnt/dev
mount -t proc proc /mnt/proc
mount -t sysfs -o ro sysfs /mnt/sys";

/// sfdisk's line for `partition` (transient's fields), appended, then its file system made.
fn partition_script(partition: &Partition) -> String {
    let mut fields = Vec::new();
    if let Some(size) = partition.size {
        // In 512-byte sectors: sfdisk reads a bare number as sectors, and transient's decimal
        // megabytes are whole sectors.
        fields.push(format!("size={}", size.partition_size().0 / 512));
    }
    let mut typ = "type=L".to_owned();
    for flag in &partition.flags {
        match flag {
            PartitionFlag::Boot => fields.push("bootable".to_owned()),
            PartitionFlag::Efi => typ = "type=U".to_owned(),
            PartitionFlag::BiosGrub => {
                typ = "type=21686148-6449-6E6F-744E-656564454649".to_owned();
            }
        }
    }
    fields.push(typ);
    let mut script = format!(
        "set -e\necho {} | sfdisk -q -a {DEVICE}\n",
        quote(&fields.join(", "))
    );
    if let Some(format) = &partition.format {
        let fs = match format.filesystem {
            Filesystem::Ext2 => "ext2",
            Filesystem::Ext3 => "ext3",
            Filesystem::Ext4 => "ext4",
            Filesystem::Xfs => "xfs",
        };
        // transient passes OPTIONS to the shell as they are written.
        script.push_str(&format!(
            "mkfs.{fs} {} {DEVICE}{}\n",
            format.options, partition.number
        ));
    }
    script
}

/// The mounted partitions, shallowest mount path first (stable among equals).
fn mounted_by_depth(partitions: &[Partition]) -> Vec<&Partition> {
    let mut mounted: Vec<&Partition> = partitions.iter().filter(|p| p.mount.is_some()).collect();
    mounted.sort_by_key(|p| {
        p.mount
            .as_deref()
            .map_or(0, |m| m.split('/').filter(|c| !c.is_empty()).count())
    });
    mounted
}

fn mount_script(partitions: &[Partition]) -> String {
    let mut script = String::from("set -e\n");
    for partition in mounted_by_depth(partitions) {
        if let Some(mount) = &partition.mount {
            let dir = quote(&guest_mnt(mount));
            script.push_str(&format!(
                "mkdir -p {dir}\nmount {DEVICE}{} {dir}\n",
                partition.number
            ));
        }
    }
    script
}

/// `/mnt` joined with a path of the image.
fn guest_mnt(path: &str) -> String {
    let path = path.trim_start_matches('/');
    if path.is_empty() {
        "/mnt".to_owned()
    } else {
        format!("/mnt/{path}")
    }
}

/// The guest file a source goes to: into `destination` if it is a directory in the guest (or
/// ends with `/`, when it is made), else `destination` itself.
fn copy_target(
    vm: &mut BuildVm,
    source: &str,
    destination: &str,
    timeout: Duration,
) -> Result<String, VmError> {
    let dst = guest_mnt(destination);
    let into_dir = destination.ends_with('/')
        || vm
            .run(&format!("test -d {}", quote(&dst)), timeout)?
            .success();
    if !into_dir {
        return Ok(dst);
    }
    vm.run_checked(&format!("mkdir -p {}", quote(&dst)), timeout)?;
    let name = Path::new(source)
        .file_name()
        .map_or_else(|| source.to_owned(), |n| n.to_string_lossy().into_owned());
    Ok(format!("{}/{name}", dst.trim_end_matches('/')))
}

fn copy(
    vm: &mut BuildVm,
    sources: &[String],
    paths: &[PathBuf],
    destination: &str,
    timeout: Duration,
) -> Result<(), VmError> {
    for (source, path) in sources.iter().zip(paths) {
        let target = copy_target(vm, source, destination, timeout)?;
        let mode = fs::metadata(path)
            .map_err(|source| VmError::Io {
                action: "read the COPY source",
                path: path.clone(),
                source,
            })?
            .permissions()
            .mode()
            & 0o7777;
        vm.put_file(path, &target, mode, timeout)?;
    }
    Ok(())
}

fn add(
    vm: &mut BuildVm,
    sources: &[String],
    paths: &[PathBuf],
    destination: &str,
    timeout: Duration,
) -> Result<(), VmError> {
    for (source, path) in sources.iter().zip(paths) {
        if !Action::add_unpacks(source) {
            copy(
                vm,
                std::slice::from_ref(source),
                std::slice::from_ref(path),
                destination,
                timeout,
            )?;
            continue;
        }
        let decompress = if source.ends_with(".tar.xz") {
            "xz"
        } else {
            "gzip"
        };
        vm.put_file(path, ADD_TEMP, 0o600, timeout)?;
        let dst = quote(&guest_mnt(destination));
        // The guest's sh (dash) has no `pipefail`: the archive is tested first, so that a
        // corrupt one fails the step rather than being half extracted by a tar that saw an
        // early end.
        vm.run_checked(
            &format!(
                "set -e\n{decompress} -t {ADD_TEMP}\nmkdir -p {dst}\n{decompress} -dc {ADD_TEMP} | tar -x -f - -C {dst} --numeric-owner\nrm -f {ADD_TEMP}"
            ),
            timeout,
        )?;
    }
    Ok(())
}

/// `text` quoted for sh: in single quotes, each `'` written `'\''`.
fn quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests;
