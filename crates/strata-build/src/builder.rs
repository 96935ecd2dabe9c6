//! The builder: runs an [`Imagefile`] in the build VM as a chain of qcow2 layers, one per
//! step, as transient's `ImageBuilder.build` runs it (the pcocc/transient reference, section
//! 2.8), with a step cache transient does not have.
//!
//! [`build`] takes a [`BuildPlan`]: the Imagefile, its build directory, its FROM resolved by the
//! front end ([`Base::Scratch`], or [`Base::Image`]: a backend image's file, which becomes the
//! backing file of the first layer, never copied and never written) and the step cache
//! ([`LayerDir`]; see [`crate::layers`] for keys and layers). It reuses the longest run of
//! cached steps from the start; if every step is cached it returns at once, with no VM.
//! Otherwise it boots one [`BuildVm`] on a new layer over the last cached one (a fresh qcow2
//! of DISK's size, written by strata-disk, for a scratch build with nothing cached), mounts what
//! the cached steps made (the Imagefile's partitions for scratch; for an image, the partition
//! holding `/etc/fstab`, then its `mount -a`, as transient does), and runs the rest, printing
//! `Step i/n : ...` through the progress callback before each instruction:
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
//! After each step from the last PARTITION on (from FROM, for an image), the guest syncs and
//! the disk moves to the next step's layer while the guest runs (QMP `blockdev-snapshot-sync`);
//! the finished layer is fsynced and made complete. After the last step everything under
//! `/mnt` is unmounted and synced, the VM powers off, and the last layer is made complete. The
//! caller flattens [`Built::image`] where the image belongs.
//!
//! **Nothing half made is left.** On any error the layer being written is removed (the VM is
//! stopped first); the complete layers of the steps that succeeded stay in the cache, so that
//! the next build resumes after them.
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
//! A directory as a COPY or ADD source is copied as `scp -r -p` copies it (into the
//! destination if that is a directory, else as it), owned by root, its symbolic links kept as
//! links rather than followed. INSPECT opens a shell in the chroot (`chroot /mnt /bin/sh -i`)
//! on [`BuildOptions::inspect`]'s input and output, through the VM's shell port
//! ([`BuildVm::shell`]), and the build goes on when it exits; without an `inspect` it is
//! refused before the VM boots ([`BuildError::InspectNotInteractive`]). Its key is never the
//! same twice: what a session changes is the user's.
//!
//! **Known debts.** A compressed ADD source is put whole into the guest's RAM-backed `/tmp` and
//! decompressed there by busybox (transient streams it into bsdtar): large tarballs need the
//! VM's memory. RUN is not in a new PID namespace (transient uses `unshare --fork --pid`). Each
//! step adds a layer to the chain, which strata-disk follows up to
//! `strata_disk::open::MAX_KNOWN_CHAIN_DEPTH` (512) deep.

use std::fs;
use std::io::{Read, Seek as _, Write};
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use strata_disk::qcow2::writer::{CreateOptions, create_file};
use strata_model::DiskFormat;

use crate::imagefile::{
    Action, BaseImage, Filesystem, Imagefile, Instruction, Partition, PartitionFlag, PartitionTable,
};
use crate::layers::{Base, LayerDir};
use crate::vm::{BuildVm, Disk, VmConfig, VmError, sh_quote};

/// The guest's view of the working disk.
const DEVICE: &str = "/dev/vda";

/// Where the compressed source of an ADD is put in the guest.
const ADD_TEMP: &str = "/tmp/strata-add";

/// How a build runs.
#[derive(Debug, Clone)]
pub struct BuildOptions {
    /// The build VM's configuration; its disks are replaced by the working file.
    pub vm: VmConfig,
    /// How long one guest request (a step, a file put, an INSPECT session) may take.
    pub step_timeout: Duration,
    /// Where an INSPECT session reads and writes; `None` refuses INSPECT before the VM boots.
    pub inspect: Option<InspectIo>,
}

/// Opens an INSPECT session's input and output (the terminal: standard input and output).
pub type InspectIo = fn() -> (Box<dyn Read + Send>, Box<dyn Write + Send>);

/// [`InspectIo`] on this process's standard input and output, as transient's `ssh -t` uses the
/// terminal (when standard input is not a terminal, the shell reads commands from it).
pub fn stdio() -> (Box<dyn Read + Send>, Box<dyn Write + Send>) {
    (Box::new(std::io::stdin()), Box::new(std::io::stdout()))
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
    /// The instruction just announced by [`BuildEvent::Step`] is taken from the step cache.
    Cached {
        /// Its position, from 1.
        index: usize,
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
            BuildEvent::Cached { .. } | BuildEvent::RunOutput { .. } => None,
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
    /// INSPECT in a build given no input and output for its shell.
    #[error("line {line}: INSPECT opens an interactive shell, and this build is not interactive")]
    InspectNotInteractive {
        /// The instruction's line.
        line: u32,
    },
    /// A scratch Imagefile without DISK (the parser never gives one).
    #[error("a FROM scratch build needs a DISK instruction")]
    NoDisk,
    /// The resolved base does not match the Imagefile's FROM (scratch for an image or the
    /// other way round): a caller's mistake.
    #[error("the base given to the builder does not match the Imagefile's FROM")]
    BaseMismatch,
    /// The step cache could not be used.
    #[error("cannot {action} {path} in the build cache: {source}")]
    Cache {
        /// What was being done.
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
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

/// What a build starts from and where its layers go.
#[derive(Debug, Clone)]
pub struct BuildPlan<'a> {
    /// The Imagefile.
    pub imagefile: &'a Imagefile,
    /// The directory COPY and ADD sources are relative to.
    pub build_dir: &'a Path,
    /// Its FROM, resolved by the front end (a backend image's file, or scratch).
    pub base: Base,
    /// The step cache ([`LayerDir`]).
    pub layers: &'a LayerDir,
    /// Where else the base image's backing chain may lie (a repository's data directory);
    /// the base's own directory always may.
    pub base_dirs: Vec<PathBuf>,
}

impl BuildPlan<'_> {
    /// Where the build's chain may have its files: the cache, the base image's directory and
    /// [`BuildPlan::base_dirs`].
    pub fn allowed_dirs(&self) -> Vec<PathBuf> {
        let mut dirs = vec![self.layers.path().to_path_buf()];
        if let Base::Image(image) = &self.base
            && let Some(parent) = image.parent()
        {
            dirs.push(parent.to_path_buf());
        }
        dirs.extend(self.base_dirs.iter().cloned());
        dirs
    }
}

/// What a build made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Built {
    /// The last step's layer: a complete qcow2 in the cache whose backing chain runs through
    /// the earlier layers to the base image. The caller flattens it where the image belongs.
    pub image: PathBuf,
    /// How many instructions (FROM included) were taken from the cache.
    pub cached: usize,
    /// Whether a VM was booted (not when every step was cached).
    pub booted: bool,
}

/// Builds `plan.imagefile` as a chain of layers in `plan.layers`, reusing the longest run of
/// cached steps from the start (see [`crate::layers`]), and calling `progress` before each
/// instruction ([`BuildEvent::Step`], then [`BuildEvent::Cached`] for a reused one).
///
/// One VM runs every step that is not cached; after each one the guest syncs and the disk
/// moves to a new layer (QMP `blockdev-snapshot-sync`), and the finished layer is made
/// complete. On error the layer being written is removed: the cache keeps only complete
/// layers, and nothing else is left.
///
/// # Errors
/// [`BuildError::InspectNotInteractive`], [`BuildError::OutsideBuildDir`],
/// [`BuildError::OutsideImage`] and [`BuildError::Source`] before anything is made;
/// [`BuildError::Cache`] and [`BuildError::Create`] for the layers; then
/// [`BuildError::RunFailed`], [`BuildError::Step`] and [`BuildError::Vm`] as the build goes.
pub fn build(
    plan: &BuildPlan<'_>,
    options: &BuildOptions,
    progress: &mut dyn FnMut(&BuildEvent),
) -> Result<Built, BuildError> {
    let imagefile = plan.imagefile;
    let disk_size = match (&plan.base, imagefile.from.image()) {
        (Base::Scratch, BaseImage::Scratch) => Some(imagefile.disk.ok_or(BuildError::NoDisk)?.size),
        (Base::Image(_), BaseImage::Spec(_)) => None,
        _ => return Err(BuildError::BaseMismatch),
    };
    let sources = check_steps(imagefile, plan.build_dir, options.inspect.is_some())?;
    let layers = plan.layers;
    let keys = crate::layers::keys(imagefile, &plan.base, &sources)
        .map_err(cache_error("read the base and sources of", plan.build_dir))?;
    let _lock = layers.lock().map_err(cache_error("lock", layers.path()))?;
    let total = keys.len();
    // The first instruction after which the disk can be a layer: FROM for an image, the last
    // PARTITION for scratch (DISK and PARTITION make the disk together, and the partitions
    // are mounted after them).
    let first_point = 1 + usize::from(imagefile.disk.is_some()) + imagefile.partitions.len() - 1;
    // A cached layer counts only if its whole chain opens: a layer whose parent was removed
    // (by hand, from a cache anyone may clear) is a miss, not an error.
    let chain_opens = |top: &Path| {
        strata_disk::open(
            top,
            &strata_disk::OpenOptions {
                format: Some(DiskFormat::Qcow2),
                allowed_dirs: plan.allowed_dirs(),
                max_depth: strata_disk::open::MAX_KNOWN_CHAIN_DEPTH,
                ..strata_disk::OpenOptions::default()
            },
        )
        .is_ok()
    };
    let layer_of = |i: usize| -> Option<PathBuf> {
        match (&plan.base, i == first_point) {
            (Base::Image(path), true) => Some(path.clone()),
            _ => Some(layers.layer(&keys[i]))
                .filter(|layer| layers.is_complete(&keys[i]) && chain_opens(layer)),
        }
    };
    let cached = (first_point..total).rev().find(|&i| layer_of(i).is_some());
    let resume = cached.map_or(0, |i| i + 1);
    // Every layer this build stands on is used now (the cache prunes the least recently used).
    for key in keys.iter().take(resume).skip(first_point) {
        if layers.is_complete(key) {
            layers
                .touch(key)
                .map_err(cache_error("touch", &layers.layer(key)))?;
        }
    }
    for (i, instruction) in imagefile.instructions().enumerate().take(resume) {
        progress(&BuildEvent::Step {
            index: i + 1,
            total,
            echo: instruction.echo(),
        });
        progress(&BuildEvent::Cached { index: i + 1 });
    }
    if resume == total
        && let Some(image) = cached.and_then(layer_of)
    {
        // Every step cached (or an image with FROM alone: the base itself).
        layers
            .prune(&keys)
            .map_err(cache_error("prune", layers.path()))?;
        return Ok(Built {
            image,
            cached: total,
            booted: false,
        });
    }
    // The first layer written: fresh (scratch, nothing cached) or over the last cached one.
    let first = if resume == 0 { first_point } else { resume };
    layers
        .clear_partial(&keys[first])
        .map_err(cache_error("clear", &layers.layer(&keys[first])))?;
    let active = layers.layer(&keys[first]);
    let mut create = CreateOptions::new(0);
    match (cached.and_then(layer_of), disk_size) {
        (Some(parent), _) => {
            let format = parent_format(&parent)?;
            let size = strata_disk::open(
                &parent,
                &strata_disk::OpenOptions {
                    format: Some(format),
                    allowed_dirs: plan.allowed_dirs(),
                    max_depth: strata_disk::open::MAX_KNOWN_CHAIN_DEPTH,
                    ..strata_disk::OpenOptions::default()
                },
            )
            .map_err(|source| BuildError::Create {
                path: parent.clone(),
                source,
            })?
            .image
            .virtual_size();
            create.size = size;
            create.backing = Some((parent.display().to_string(), format));
        }
        (None, Some(size)) => create.size = size.disk_size().0,
        (None, None) => return Err(BuildError::NoDisk),
    }
    create_file(&active, &create).map_err(|source| BuildError::Create {
        path: active.clone(),
        source,
    })?;
    let mut run = Run {
        plan,
        sources: &sources,
        keys: &keys,
        options,
        first_point,
        active: Some(first),
    };
    let result = run.run_in_vm(&active, resume, progress);
    if result.is_err()
        && let Some(i) = run.active
    {
        // The VM is stopped by now; a failed removal leaves nothing more to report than the
        // build's own error.
        let _ = layers.clear_partial(&keys[i]);
    }
    result?;
    layers
        .prune(&keys)
        .map_err(cache_error("prune", layers.path()))?;
    Ok(Built {
        image: layers.layer(&keys[total - 1]),
        cached: resume,
        booted: true,
    })
}

/// Writes the image `top` (a layer chain whose files lie in `allowed_dirs`) flattened into a
/// new qcow2 at `dest`: a temporary file beside it, fsynced and renamed over it, then made
/// read-only as transient leaves its images (`--local` builds).
///
/// # Errors
/// [`BuildError::Create`] for any failure; nothing is left at `dest` but what was there.
pub fn flatten(top: &Path, allowed_dirs: &[PathBuf], dest: &Path) -> Result<(), BuildError> {
    let failed = |source| BuildError::Create {
        path: dest.to_path_buf(),
        source,
    };
    let source = strata_disk::open(
        top,
        &strata_disk::OpenOptions {
            format: Some(DiskFormat::Qcow2),
            allowed_dirs: allowed_dirs.to_vec(),
            max_depth: strata_disk::open::MAX_KNOWN_CHAIN_DEPTH,
            ..strata_disk::OpenOptions::default()
        },
    )
    .map_err(failed)?;
    let image = &*source.image;
    let mut out =
        strata_disk::OutputFile::create(dest, strata_disk::Durability::Durable).map_err(failed)?;
    let target = strata_disk::create_target(DiskFormat::Qcow2, &mut out, image.virtual_size())
        .map_err(failed)?;
    strata_disk::convert(
        image,
        target,
        &strata_disk::ConvertOptions::default(),
        &|_| {},
    )
    .map_err(failed)?;
    out.commit().map_err(failed)?;
    fs::set_permissions(dest, fs::Permissions::from_mode(0o444))
        .map_err(|e| failed(strata_disk::DiskError::io("make read-only", e).with_path(dest)))
}

/// The [`BuildError::Cache`] of a failure to `action` `path`.
fn cache_error(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> BuildError {
    let path = path.to_path_buf();
    move |source| BuildError::Cache {
        action,
        path,
        source,
    }
}

/// The format of a layer's parent: qcow2 for a layer, what its header says for a base image.
fn parent_format(path: &Path) -> Result<DiskFormat, BuildError> {
    let file = fs::File::open(path).map_err(|e| BuildError::Create {
        path: path.to_path_buf(),
        source: strata_disk::DiskError::io("open", e).with_path(path),
    })?;
    strata_disk::probe(&file).map_err(|source| BuildError::Create {
        path: path.to_path_buf(),
        source,
    })
}

/// The host path of each COPY and ADD source, by step, checked to stay in `build_dir` and to
/// be regular files or directories; INSPECT refused unless `inspect`.
fn check_steps(
    imagefile: &Imagefile,
    build_dir: &Path,
    inspect: bool,
) -> Result<Vec<Vec<PathBuf>>, BuildError> {
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
            Action::Inspect if !inspect => {
                return Err(BuildError::InspectNotInteractive { line });
            }
            Action::Run { .. } | Action::Inspect => {}
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
    if !resolved.is_file() && !resolved.is_dir() {
        return Err(BuildError::NotYet {
            line,
            what: "a COPY or ADD source that is neither a regular file nor a directory",
        });
    }
    Ok(resolved)
}

/// A build's run in the VM, and the layer it is writing.
struct Run<'p, 'a> {
    plan: &'p BuildPlan<'a>,
    sources: &'p [Vec<PathBuf>],
    keys: &'p [String],
    options: &'p BuildOptions,
    first_point: usize,
    /// The instruction whose layer is being written (removed if the build fails).
    active: Option<usize>,
}

impl Run<'_, '_> {
    /// Boots the VM on `disk` and runs instructions `resume..`: from the start (DISK and
    /// PARTITION included) when `resume` is 0, else after mounting what the cached layers made.
    fn run_in_vm(
        &mut self,
        disk: &Path,
        resume: usize,
        progress: &mut dyn FnMut(&BuildEvent),
    ) -> Result<(), BuildError> {
        let imagefile = self.plan.imagefile;
        let layers = self.plan.layers;
        let mut config = self.options.vm.clone();
        config.disks = vec![Disk::new(disk, DiskFormat::Qcow2)];
        let mut vm = BuildVm::start(&config)?;
        let timeout = self.options.step_timeout;
        let total = self.keys.len();
        let mut chroot_ready = false;
        let steps_start = 1 + usize::from(imagefile.disk.is_some()) + imagefile.partitions.len();
        if resume > 0 {
            let line = imagefile.from.line();
            let script = match self.plan.base {
                Base::Scratch => mount_script(&imagefile.partitions),
                Base::Image(_) => MOUNT_GUEST.to_owned(),
            };
            vm.run_checked(&script, timeout)
                .map_err(|source| BuildError::Step { line, source })?;
        }
        for (i, instruction) in imagefile.instructions().enumerate().skip(resume) {
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
                    let paths = self
                        .sources
                        .get(i - steps_start)
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
                            let script = format!("chroot /mnt /bin/sh -c {}", sh_quote(command));
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
                        Action::Inspect => {
                            // Refused by `check_steps` when there is nowhere to hold it.
                            let open = self
                                .options
                                .inspect
                                .ok_or(BuildError::InspectNotInteractive { line })?;
                            if !chroot_ready {
                                vm.run_checked(CHROOT_MOUNTS, timeout).map_err(at)?;
                                chroot_ready = true;
                            }
                            let (input, mut output) = open();
                            // The shell's status is the user's last command's: the build goes
                            // on whatever it is, as transient's does after its ssh session.
                            vm.shell("chroot /mnt /bin/sh -i", input, &mut *output, timeout)
                                .map_err(at)?;
                        }
                    }
                }
            }
            if i + 1 == steps_start && resume == 0 {
                vm.run_checked(&mount_script(&imagefile.partitions), timeout)
                    .map_err(at)?;
            }
            // Past the first layer point, every instruction but the last ends a layer: the
            // guest syncs, the disk moves to the next layer, and this one is complete.
            if i >= self.first_point && i + 1 < total {
                let next = i + 1;
                layers
                    .clear_partial(&self.keys[next])
                    .map_err(cache_error("clear", &layers.layer(&self.keys[next])))?;
                vm.run_checked("sync", timeout).map_err(at)?;
                vm.snapshot(0, &layers.layer(&self.keys[next]), timeout)
                    .map_err(at)?;
                self.active = Some(next);
                layers
                    .complete(&self.keys[i])
                    .map_err(cache_error("complete", &layers.layer(&self.keys[i])))?;
            }
        }
        vm.run_checked(UNMOUNT_ALL, timeout)?;
        vm.shutdown()?;
        let last = total - 1;
        layers
            .complete(&self.keys[last])
            .map_err(cache_error("complete", &layers.layer(&self.keys[last])))?;
        self.active = None;
        Ok(())
    }
}

/// Mounts an existing image's root at `/mnt` as transient finds it: the first partition (or
/// the whole disk) whose file system holds `/etc/fstab`; then the chroot's special file systems
/// and the image's own `mount -a` (which may fail for entries the build VM cannot mount, as
/// the root it finds already mounted: transient ignores its status too).
const MOUNT_GUEST: &str = "set -e
found=
for dev in /dev/vda[0-9]* /dev/vda; do
  [ -b \"$dev\" ] || continue
  mount \"$dev\" /mnt 2>/dev/null || continue
  if [ -f /mnt/etc/fstab ]; then found=$dev; break; fi
  umount /mnt
done
if [ -z \"$found\" ]; then echo 'Unable to locate /etc/fstab' >&2; exit 1; fi
mkdir -p /mnt/dev /mnt/proc /mnt/sys
mount -t devtmpfs devtmpfs /mnt/dev
mount -t proc proc /mnt/proc
mount -t sysfs -o ro sysfs /mnt/sys
chroot /mnt mount -a 2>/dev/null || true
umount /mnt/sys /mnt/proc /mnt/dev";

/// Unmounts everything under `/mnt`, deepest first, and syncs.
const UNMOUNT_ALL: &str = "set -e
for m in $(awk '$2 == \"/mnt\" || $2 ~ /^\\/mnt\\// {print $2}' /proc/mounts | sort -r); do
  umount \"$m\"
done
sync";

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
        sh_quote(&fields.join(", "))
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
            let dir = sh_quote(&guest_mnt(mount));
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
            .run(&format!("test -d {}", sh_quote(&dst)), timeout)?
            .success();
    if !into_dir {
        return Ok(dst);
    }
    vm.run_checked(&format!("mkdir -p {}", sh_quote(&dst)), timeout)?;
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
        if path.is_dir() {
            copy_dir(vm, path, &target, timeout)?;
            continue;
        }
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

/// Copies the directory `dir` of the host to `target` in the guest (made if missing), as
/// `scp -r -p` copies it: its tree with modes and modification times, owned by root. Symbolic
/// links are copied as links, never followed (scp follows them, which would let a link in the
/// build directory copy a host file from outside it).
fn copy_dir(vm: &mut BuildVm, dir: &Path, target: &str, timeout: Duration) -> Result<(), VmError> {
    let io = |action, path: &Path| {
        let path = path.to_path_buf();
        move |source| VmError::Io {
            action,
            path,
            source,
        }
    };
    let tar = tempfile::tempfile().map_err(io("create a temporary file for", dir))?;
    let mut builder = tar::Builder::new(tar);
    builder.follow_symlinks(false);
    let entries = crate::layers::tree(dir).map_err(io("read the directory", dir))?;
    for (name, path, meta) in entries {
        let mut header = tar::Header::new_gnu();
        header.set_metadata_in_mode(&meta, tar::HeaderMode::Complete);
        header.set_uid(0);
        header.set_gid(0);
        let appended = if meta.is_dir() {
            builder.append_data(&mut header, &name, std::io::empty())
        } else if meta.file_type().is_symlink() {
            let link = fs::read_link(&path).map_err(io("read the link", &path))?;
            builder.append_link(&mut header, &name, &link)
        } else if meta.is_file() {
            let file = fs::File::open(&path).map_err(io("open", &path))?;
            builder.append_data(&mut header, &name, file)
        } else {
            // Sockets, fifos and devices are not copied (scp skips them too).
            continue;
        };
        appended.map_err(io("archive", &path))?;
    }
    let mut tar = builder.into_inner().map_err(io("archive", dir))?;
    let len = tar.stream_position().map_err(io("archive", dir))?;
    tar.rewind().map_err(io("archive", dir))?;
    vm.run_checked(&format!("mkdir -p {}", sh_quote(target)), timeout)?;
    vm.untar(&mut tar, len, target, timeout)
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
        let dst = sh_quote(&guest_mnt(destination));
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

#[cfg(test)]
mod tests;
