//! `cargo xtask bench build`: strata's `transient-image build` against transient 0.25's
//! `image build`, both under TCG, in the same invocation.
//!
//! - scratch: one Imagefile (DISK 64 MB GPT, an ext4 partition mounted at /, ADD of a busybox
//!   rootfs tar.gz, COPY of a file, a short RUN) built by each tool, alternating, each run into
//!   a fresh backend (so strata's step cache is cold). Goal: strata at most 0.5x transient.
//! - FROM: a build with one RUN step FROM a small base (the scratch result, 64 MiB) and FROM a
//!   4 GiB base with 1 GiB of data, each run into a fresh backend holding a hard link of the
//!   base. Besides the whole build, each run records when its RUN step line came (the FROM
//!   step plus the VM boot; the boot is the same for both bases, so the difference between
//!   the bases is what the FROM step costs), and transient's copy of the 4 GiB base is timed
//!   alone with its own function (`transient.utils.copy_with_progress`).
//! - rebuild: strata rebuilds the scratch image into the backend whose cache is warm, with
//!   `--force` (the name exists). Goal: under 1 s, no VM (its `-v` log says so).
//!
//! transient's build VM runs its own kernel; it hard-codes `-machine accel=kvm:tcg`, which on
//! these machines (KVM through PVM) hangs, so it runs with a `qemu-system-x86_64` wrapper
//! early on its PATH that rewrites that to `accel=tcg` (docs: ../shared/reference/build-vm.md).
//! If transient cannot run, strata's rows are still measured and the anchor cells say why.
//!
//! Results go to stdout and to the `build` section of `docs/benchmarks.md`.

use std::fmt::Write as _;
use std::fs;
use std::io::{BufRead, BufReader, Write as _};
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use strata_build::vm::assets::Assets;

use crate::bench::{Rng, load_average, quiet_gate};

/// Timed runs of each tool for the scratch build and for each FROM base.
const RUNS: usize = 3;
/// A run that takes longer than this is killed (`timeout`) and counts as failed.
const RUN_LIMIT_S: &str = "300";
/// How long the quiet gate waits before each timed run (the machine is shared: it may never
/// be quiet, and the whole bench should stay under ~10 minutes).
const GATE_WAIT: Duration = Duration::from_secs(5);
/// The big base: virtual size and the bytes of the file written into its file system.
const BIG_DISK: &str = "4 GB";
const BIG_DATA: u64 = 1 << 30;

const SCRATCH: &str = "FROM scratch\nDISK 64 MB GPT\nPARTITION 1 FORMAT ext4 MOUNT /\n\
                       ADD rootfs.tar.gz /\nCOPY hello.txt /etc/hello.txt\n\
                       RUN echo built > /etc/built\n";

/// The two tools.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Tool {
    Transient,
    Strata,
}

/// Where things are.
struct Env {
    /// The bench's work directory (removed at the end).
    work: PathBuf,
    /// The build directory of every Imagefile.
    build: PathBuf,
    /// strata's release `transient-image`.
    strata: PathBuf,
    /// transient's script in the peers' venv.
    transient: PathBuf,
    /// The directory of the `qemu-system-x86_64` wrapper (first on transient's PATH).
    wrap: PathBuf,
}

/// One finished run: wall time, and when its first `Step i/n : RUN` line came.
struct Timed {
    seconds: f64,
    run_step_at: Option<f64>,
    log: PathBuf,
}

impl Env {
    /// The build command of `tool`: the Imagefile `file` (in the build directory), image
    /// `name`, into `backend` (with its vmstore beside it).
    fn command(&self, tool: Tool, file: &str, name: &str, backend: &Path) -> Command {
        let mut cmd = Command::new("timeout");
        cmd.arg(RUN_LIMIT_S);
        match tool {
            Tool::Transient => {
                let path = std::env::var_os("PATH").unwrap_or_default();
                let mut dirs = vec![self.wrap.clone()];
                dirs.extend(std::env::split_paths(&path));
                cmd.env(
                    "PATH",
                    std::env::join_paths(dirs).unwrap_or_else(|_| path.clone()),
                )
                // print() to a pipe is block-buffered: the Step lines would come at the end.
                .env("PYTHONUNBUFFERED", "1")
                .arg(&self.transient)
                .args(["image", "build"]);
            }
            Tool::Strata => {
                cmd.arg(&self.strata)
                    .args(["-v", "build", "--accel", "tcg"]);
            }
        }
        cmd.arg("--image-backend")
            .arg(backend)
            .arg("--vmstore")
            .arg(backend.with_extension("vmstore"))
            .arg("-f")
            .arg(self.build.join(file))
            .args(["--name", name])
            .arg(&self.build);
        cmd
    }

    /// A fresh backend directory for a run, with `base` (if any) hard-linked in as
    /// `base_name`.
    fn fresh_backend(&self, label: &str, base: Option<(&Path, &str)>) -> Result<PathBuf> {
        let backend = self.work.join("runs").join(label);
        let _ = fs::remove_dir_all(&backend);
        let _ = fs::remove_dir_all(backend.with_extension("vmstore"));
        fs::create_dir_all(&backend)?;
        fs::create_dir_all(backend.with_extension("vmstore"))?;
        if let Some((path, name)) = base {
            fs::hard_link(path, backend.join(name))
                .with_context(|| format!("link {} into {}", path.display(), backend.display()))?;
        }
        Ok(backend)
    }
}

/// Runs `cmd` (after `sync` and the quiet gate), its stdout and stderr into `log`, noting when
/// the first RUN step line comes on stdout. Fails with the end of the log unless it exits 0.
fn timed(mut cmd: Command, log: &Path) -> Result<Timed> {
    Command::new("sync").status()?;
    quiet_gate(GATE_WAIT);
    let mut out = fs::File::create(log)?;
    let err = out.try_clone()?;
    let start = Instant::now();
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(err)
        .spawn()
        .with_context(|| format!("cannot start `{}`", crate::cmd::display(&cmd)))?;
    let stdout = child.stdout.take().context("stdout not captured")?;
    let mut run_step_at = None;
    let mut reader = BufReader::new(stdout);
    let mut line = Vec::new();
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line)? == 0 {
            break;
        }
        let text = String::from_utf8_lossy(&line);
        if run_step_at.is_none() && text.starts_with("Step ") && text.contains(" : RUN") {
            run_step_at = Some(start.elapsed().as_secs_f64());
        }
        out.write_all(&line)?;
    }
    let status = child.wait()?;
    let seconds = start.elapsed().as_secs_f64();
    if !status.success() {
        let text = fs::read_to_string(log).unwrap_or_default();
        let tail: Vec<&str> = text
            .lines()
            .filter(|l| !l.contains("FutureWarning") && !l.trim().is_empty())
            .collect();
        let tail = tail[tail.len().saturating_sub(6)..].join(" / ");
        bail!("{status} after {seconds:.1} s: {tail}");
    }
    Ok(Timed {
        seconds,
        run_step_at,
        log: log.to_owned(),
    })
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// The bytes of `name` in the uncompressed newc cpio `cpio` (the build VM's initramfs).
fn cpio_file(cpio: &[u8], name: &str) -> Result<Vec<u8>> {
    let field = |at: usize| -> Result<usize> {
        let text = cpio
            .get(at..at + 8)
            .and_then(|b| std::str::from_utf8(b).ok())
            .context("truncated cpio header")?;
        Ok(usize::from_str_radix(text, 16)?)
    };
    let mut at = 0;
    while at + 110 <= cpio.len() {
        if &cpio[at..at + 6] != b"070701" {
            bail!("the initramfs is not a newc cpio (at byte {at})");
        }
        let size = field(at + 6 + 6 * 8)?;
        let name_size = field(at + 6 + 11 * 8)?;
        let entry = cpio
            .get(at + 110..at + 110 + name_size.saturating_sub(1))
            .context("truncated cpio name")?;
        let data = (at + 110 + name_size + 3) & !3;
        if entry == name.as_bytes() {
            return Ok(cpio
                .get(data..data + size)
                .context("truncated cpio data")?
                .to_vec());
        }
        at = (data + size + 3) & !3;
    }
    bail!("{name} is not in the build VM's initramfs")
}

/// The build directory: a busybox rootfs tar.gz (the build VM's static busybox, `/bin/sh`, an
/// fstab, the mount points transient's chroot wants), `hello.txt` and the Imagefiles.
fn prepare_build_dir(work: &Path, build: &Path) -> Result<()> {
    let assets = Assets::locate().context("the build VM is missing (run `cargo xtask setup`)")?;
    let busybox = cpio_file(&fs::read(&assets.initramfs)?, "bin/busybox")?;
    let rootfs = work.join("rootfs");
    for dir in [
        "bin", "etc", "dev/pts", "dev/shm", "proc", "sys", "run", "tmp",
    ] {
        fs::create_dir_all(rootfs.join(dir))?;
    }
    fs::write(rootfs.join("bin/busybox"), &busybox)?;
    fs::set_permissions(
        rootfs.join("bin/busybox"),
        fs::Permissions::from_mode(0o755),
    )?;
    std::os::unix::fs::symlink("busybox", rootfs.join("bin/sh"))?;
    fs::write(rootfs.join("etc/fstab"), "/dev/vda1 / ext4 defaults 0 1\n")?;
    fs::write(rootfs.join("etc/resolv.conf"), "")?;
    fs::create_dir_all(build)?;
    crate::cmd::run(
        Command::new("tar")
            .args(["--owner=0", "--group=0", "--numeric-owner", "-C"])
            .arg(&rootfs)
            .arg("-czf")
            .arg(build.join("rootfs.tar.gz"))
            .args(["bin", "etc", "dev", "proc", "sys", "run", "tmp"]),
    )?;
    fs::write(build.join("hello.txt"), "copied by the bench\n")?;
    fs::write(build.join("Imagefile.scratch"), SCRATCH)?;
    fs::write(
        build.join("Imagefile.big"),
        format!(
            "FROM scratch\nDISK {BIG_DISK} GPT\nPARTITION 1 FORMAT ext4 MOUNT /\nADD rootfs.tar.gz /\n"
        ),
    )?;
    for base in ["basesmall", "basebig"] {
        fs::write(
            build.join(format!("Imagefile.{base}")),
            format!("FROM {base}\nRUN echo from > /etc/from\n"),
        )?;
    }
    Ok(())
}

/// The `qemu-system-x86_64` wrapper for transient: `accel=kvm:tcg` becomes `accel=tcg`.
fn write_wrapper(wrap: &Path) -> Result<()> {
    let qemu = crate::cmd::probe(Command::new("sh").args(["-c", "command -v qemu-system-x86_64"]))
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .context("qemu-system-x86_64 is not installed (run `cargo xtask setup`)")?;
    fs::create_dir_all(wrap)?;
    let script = format!(
        "#!/bin/sh\n# transient 0.25 hard-codes accel=kvm:tcg; KVM here is PVM, where its kernel hangs.\n\
         for a in \"$@\"; do\n  case \"$a\" in\n    *accel=kvm:tcg*) a=$(printf '%s' \"$a\" | sed 's/accel=kvm:tcg/accel=tcg/') ;;\n  esac\n\
         \x20 set -- \"$@\" \"$a\"\n  shift\ndone\nexec '{qemu}' \"$@\"\n"
    );
    let path = wrap.join("qemu-system-x86_64");
    fs::write(&path, script)?;
    fs::set_permissions(&path, fs::Permissions::from_mode(0o755))?;
    Ok(())
}

/// The first partition of the GPT disk `image` (any format qemu-img reads), as a raw file
/// `raw` and debugfs's `raw?offset=N` name of its file system.
fn partition(image: &Path, raw: &Path) -> Result<String> {
    crate::cmd::run(
        Command::new("qemu-img")
            .args(["convert", "-O", "raw"])
            .arg(image)
            .arg(raw),
    )?;
    let mut head = vec![0u8; 64 << 10];
    let file = fs::File::open(raw)?;
    std::os::unix::fs::FileExt::read_exact_at(&file, &mut head, 0)?;
    if &head[512..520] != b"EFI PART" {
        bail!("{}: no GPT header", image.display());
    }
    let u64_at = |at: usize| u64::from_le_bytes(head[at..at + 8].try_into().unwrap_or([0; 8]));
    let entries = usize::try_from(u64_at(512 + 72))? * 512;
    let mut first = [0u8; 8];
    std::os::unix::fs::FileExt::read_exact_at(&file, &mut first, entries as u64 + 32)?;
    Ok(format!(
        "{}?offset={}",
        raw.display(),
        u64::from_le_bytes(first) * 512
    ))
}

/// `path` in the ext4 file system of `image`'s first partition, read by debugfs.
fn read_back(work: &Path, image: &Path, path: &str) -> Result<String> {
    let raw = work.join("check.raw");
    let fs_at = partition(image, &raw)?;
    let out = Command::new("debugfs")
        .args(["-R", &format!("cat {path}"), &fs_at])
        .stderr(Stdio::null())
        .output()?;
    let _ = fs::remove_file(&raw);
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The big base: strata's scratch build of a 4 GiB disk with the busybox rootfs, then, on the
/// host, a 1 GiB file of pseudo-random bytes written into its file system with debugfs and the
/// disk converted back to qcow2 (zeros left out). Returns the qcow2 and how long each part took.
fn make_big_base(env: &Env) -> Result<(PathBuf, String)> {
    let backend = env.fresh_backend("big-base", None)?;
    let started = Instant::now();
    let t = timed(
        env.command(Tool::Strata, "Imagefile.big", "big", &backend),
        &env.work.join("big-base.log"),
    )
    .context("strata's scratch build of the 4 GiB base")?;
    let data = env.work.join("data.bin");
    {
        let mut rng = Rng::new(0x62_7569_6c64);
        let mut out = std::io::BufWriter::new(fs::File::create(&data)?);
        let mut buf = vec![0u8; 1 << 20];
        for _ in 0..BIG_DATA >> 20 {
            rng.fill(&mut buf);
            out.write_all(&buf)?;
        }
        out.flush()?;
    }
    let raw = env.work.join("basebig.raw");
    let fs_at = partition(&backend.join("big"), &raw)?;
    crate::cmd::run(
        Command::new("debugfs")
            .args(["-w", "-R"])
            .arg(format!("write {} /data.bin", data.display()))
            .arg(&fs_at),
    )?;
    let base = env.work.join("basebig.qcow2");
    crate::cmd::run(
        Command::new("qemu-img")
            .args(["convert", "-f", "raw", "-O", "qcow2"])
            .arg(&raw)
            .arg(&base),
    )?;
    let _ = fs::remove_file(&raw);
    let _ = fs::remove_file(&data);
    fs::set_permissions(&base, fs::Permissions::from_mode(0o444))?;
    let size = fs::metadata(&base)?.len();
    let note = format!(
        "made in {:.1} s (strata's scratch build {:.1} s, then debugfs and qemu-img on the host); \
         its qcow2 file is {:.2} GB",
        started.elapsed().as_secs_f64(),
        t.seconds,
        size as f64 / 1e9
    );
    let _ = fs::remove_dir_all(&backend);
    Ok((base, note))
}

/// What one tool's rows hold: the median seconds, or why it could not be measured.
type Outcome = Result<f64, String>;

fn cell(outcome: &Outcome) -> String {
    match outcome {
        Ok(s) => format!("{s:.2} s"),
        Err(e) => format!("failed: {e}"),
    }
}

fn ratio(ours: &Outcome, anchor: &Outcome) -> Option<f64> {
    match (ours, anchor) {
        (Ok(o), Ok(a)) if *a > 0.0 => Some(o / a),
        _ => None,
    }
}

/// One tool's medians of a case: whole build and time until its RUN step began.
struct Case {
    total: Outcome,
    until_run: Outcome,
}

/// Runs a case for both tools, alternating (which goes first flips every run). `make` gives
/// each run's backend; `check` (the image built, the tool) is applied to the last run's image.
fn measure(
    env: &Env,
    label: &str,
    file: &str,
    base: Option<(&Path, &str)>,
    transient_ok: &mut Result<(), String>,
    check: &dyn Fn(&Path, Tool) -> Result<()>,
) -> Result<(Case, Case, PathBuf)> {
    let mut times = [(Vec::new(), Vec::new()), (Vec::new(), Vec::new())];
    let mut failure: [Option<String>; 2] = [None, None];
    let mut last_strata_backend = PathBuf::new();
    for run in 0..RUNS {
        let order = if run % 2 == 0 {
            [Tool::Transient, Tool::Strata]
        } else {
            [Tool::Strata, Tool::Transient]
        };
        for tool in order {
            let i = usize::from(tool == Tool::Strata);
            if tool == Tool::Transient
                && let Err(e) = transient_ok
            {
                failure[0].get_or_insert_with(|| e.clone());
                continue;
            }
            let name = format!("{label}-{tool:?}-{run}").to_lowercase();
            let backend = env.fresh_backend(&name, base)?;
            let result = timed(
                env.command(tool, file, "built", &backend),
                &env.work.join(format!("{name}.log")),
            );
            match result {
                Ok(t) => {
                    println!(
                        "  {label} {tool:?} run {}: {:.2} s (RUN step at {})",
                        run + 1,
                        t.seconds,
                        t.run_step_at
                            .map_or_else(|| "?".to_owned(), |s| format!("{s:.2} s"))
                    );
                    if run == RUNS - 1 {
                        check(&backend.join("built"), tool)
                            .with_context(|| format!("{label}: {tool:?}'s image"))?;
                    }
                    times[i].0.push(t.seconds);
                    if let Some(s) = t.run_step_at {
                        times[i].1.push(s);
                    }
                }
                Err(e) => {
                    let e = format!("{e:#}");
                    println!("  {label} {tool:?} run {}: FAILED: {e}", run + 1);
                    if tool == Tool::Transient {
                        *transient_ok = Err(e.clone());
                    } else {
                        bail!("strata's {label} build failed: {e}");
                    }
                    failure[i].get_or_insert(e);
                }
            }
            if tool == Tool::Strata {
                last_strata_backend = backend;
            } else {
                let _ = fs::remove_dir_all(&backend);
                let _ = fs::remove_dir_all(backend.with_extension("vmstore"));
            }
        }
    }
    let [t, s] = times;
    let case = |(total, until): (Vec<f64>, Vec<f64>), failure: &Option<String>| Case {
        total: if total.is_empty() {
            Err(failure.clone().unwrap_or_else(|| "no run".into()))
        } else {
            Ok(median(total))
        },
        until_run: if until.is_empty() {
            Err(failure.clone().unwrap_or_else(|| "no RUN step line".into()))
        } else {
            Ok(median(until))
        },
    };
    Ok((
        case(t, &failure[0]),
        case(s, &failure[1]),
        last_strata_backend,
    ))
}

/// transient's copy of `base` into a working file, with its own function, timed alone.
fn transient_copy(env: &Env, base: &Path) -> Outcome {
    let python = env
        .transient
        .parent()
        .map(|d| d.join("python3"))
        .ok_or("no venv")?;
    let dest = env.work.join("copy.working");
    let script = "import os, sys\nfrom transient import utils\n\
                  with open(sys.argv[1], 'rb') as s, open(sys.argv[2], 'wb') as d:\n\
                  \x20   size = s.seek(0, os.SEEK_END); s.seek(0)\n\
                  \x20   utils.copy_with_progress(s, d, size)\n";
    let mut times = Vec::new();
    for _ in 0..RUNS {
        let mut cmd = Command::new(&python);
        cmd.args(["-c", script]).arg(base).arg(&dest);
        let t = timed(cmd, &env.work.join("copy.log")).map_err(|e| format!("{e:#}"))?;
        times.push(t.seconds);
        let _ = fs::remove_file(&dest);
    }
    Ok(median(times))
}

fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "**missed**" }
}

pub(crate) fn run() -> Result<()> {
    let started = Instant::now();
    let root = crate::project_root();
    for tool in ["qemu-img", "debugfs", "tar", "timeout"] {
        if !Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
        {
            bail!("{tool} is not installed (run `cargo xtask setup`)");
        }
    }
    println!("building transient-image (release)");
    crate::cmd::run(
        crate::cmd::cargo()
            .args(["build", "--release", "-p", "transient-image"])
            .current_dir(&root),
    )?;
    let target = crate::target_dir(&root);
    let work = target.join("bench-build");
    let _ = fs::remove_dir_all(&work);
    fs::create_dir_all(work.join("runs"))?;
    let env = Env {
        build: work.join("build"),
        strata: target.join("release/transient-image"),
        transient: crate::setup::peer_venv().join("bin/transient"),
        wrap: work.join("wrap"),
        work,
    };
    prepare_build_dir(&env.work, &env.build)?;
    write_wrapper(&env.wrap)?;
    // transient's build needs its script, ssh and scp; without them its rows say so.
    let mut transient_ok: Result<(), String> = if !env.transient.exists() {
        Err(format!(
            "{} is missing (run `cargo xtask setup`)",
            env.transient.display()
        ))
    } else if let Some(missing) = ["ssh", "scp"].into_iter().find(|p| {
        !Command::new("sh")
            .args(["-c", &format!("command -v {p}")])
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }) {
        Err(format!("{missing} is not on the PATH (openssh-client)"))
    } else {
        Ok(())
    };
    let mut loads = Vec::new();

    // 1. Scratch builds.
    println!("scratch builds ({RUNS} runs each, alternating)");
    loads.push(format!("scratch {}", load_average()));
    let check_scratch = |image: &Path, _: Tool| -> Result<()> {
        let got = read_back(&env.work, image, "/etc/built")?;
        if got != "built\n" {
            bail!("/etc/built reads {got:?}");
        }
        Ok(())
    };
    let (t_scratch, s_scratch, warm) = measure(
        &env,
        "scratch",
        "Imagefile.scratch",
        None,
        &mut transient_ok,
        &check_scratch,
    )?;
    let small_base = env.work.join("basesmall.qcow2");
    fs::copy(warm.join("built"), &small_base)?;

    // 2. Rebuild with nothing changed, into the backend whose cache is warm.
    println!("rebuilds with nothing changed (strata, --force)");
    loads.push(format!("rebuild {}", load_average()));
    let mut rebuilds = Vec::new();
    let mut rebuild_without_vm = true;
    for run in 0..RUNS {
        let mut cmd = env.command(Tool::Strata, "Imagefile.scratch", "built", &warm);
        cmd.arg("--force");
        let t =
            timed(cmd, &env.work.join(format!("rebuild-{run}.log"))).context("strata's rebuild")?;
        let log = fs::read_to_string(&t.log)?;
        let cached = log.lines().filter(|l| *l == " ---> Using cache").count();
        let no_vm = log.contains("no VM") && cached == 6;
        rebuild_without_vm &= no_vm;
        println!(
            "  rebuild run {}: {:.3} s, {cached} steps from the cache, {}",
            run + 1,
            t.seconds,
            if no_vm { "no VM" } else { "a VM?" }
        );
        rebuilds.push(t.seconds);
    }
    let rebuild = median(rebuilds);

    // 3. FROM builds on a small and a 4 GiB base.
    println!("making the 4 GiB base");
    let (big_base, big_note) = make_big_base(&env)?;
    println!("  {big_note}");
    let check_from = |image: &Path, _: Tool| -> Result<()> {
        let got = read_back(&env.work, image, "/etc/from")?;
        if got != "from\n" {
            bail!("/etc/from reads {got:?}");
        }
        Ok(())
    };
    let no_check = |_: &Path, _: Tool| -> Result<()> { Ok(()) };
    println!("FROM builds on the small base");
    loads.push(format!("FROM small {}", load_average()));
    let (t_small, s_small, _) = measure(
        &env,
        "fromsmall",
        "Imagefile.basesmall",
        Some((&small_base, "basesmall")),
        &mut transient_ok,
        &check_from,
    )?;
    println!("FROM builds on the 4 GiB base");
    loads.push(format!("FROM 4 GiB {}", load_average()));
    let (t_big, s_big, _) = measure(
        &env,
        "frombig",
        "Imagefile.basebig",
        Some((&big_base, "basebig")),
        &mut transient_ok,
        &no_check,
    )?;
    println!("transient's copy of the 4 GiB base, alone");
    loads.push(format!("copy {}", load_average()));
    let copy = match &transient_ok {
        Ok(()) => transient_copy(&env, &big_base),
        Err(e) => Err(e.clone()),
    };
    let big_size = fs::metadata(&big_base)?.len();

    // The report.
    let mut table = String::from("| case | anchor: transient 0.25 | strata | ratio | goal |\n");
    table.push_str("|---|---|---|---|---|\n");
    let scratch_ratio = ratio(&s_scratch.total, &t_scratch.total);
    let _ = writeln!(
        table,
        "| scratch build (DISK 64 MB GPT, ext4 partition, ADD 1 MB busybox rootfs, COPY, RUN), median of {RUNS} | {} | {} | {} | ≤ 0.5 {} |",
        cell(&t_scratch.total),
        cell(&s_scratch.total),
        scratch_ratio.map_or_else(|| "—".into(), |r| format!("{r:.2}")),
        scratch_ratio.map_or("not measured", |r| verdict(r <= 0.5)),
    );
    for (what, t, s) in [
        (
            "FROM small base (64 MiB, 3 MB qcow2) + RUN",
            &t_small,
            &s_small,
        ),
        ("FROM 4 GiB base (1 GiB of data) + RUN", &t_big, &s_big),
    ] {
        let r = ratio(&s.total, &t.total);
        let _ = writeln!(
            table,
            "| {what}: whole build, median of {RUNS} | {} | {} | {} | reported |",
            cell(&t.total),
            cell(&s.total),
            r.map_or_else(|| "—".into(), |r| format!("{r:.2}")),
        );
        let _ = writeln!(
            table,
            "| {what}: until its RUN step starts (FROM step and VM boot) | {} | {} | {} | reported |",
            cell(&t.until_run),
            cell(&s.until_run),
            ratio(&s.until_run, &t.until_run).map_or_else(|| "—".into(), |r| format!("{r:.2}")),
        );
    }
    let growth = |big: &Outcome, small: &Outcome| -> Outcome {
        match (big, small) {
            (Ok(b), Ok(s)) => Ok(b - s),
            (Err(e), _) | (_, Err(e)) => Err(e.clone()),
        }
    };
    let s_step = growth(&s_big.until_run, &s_small.until_run);
    let _ = writeln!(
        table,
        "| FROM step: 4 GiB base − small base, until the RUN step | {} | {} | — | strata constant (< 1 s) {} |",
        cell(&growth(&t_big.until_run, &t_small.until_run)),
        cell(&s_step),
        match &s_step {
            Ok(d) => verdict(*d < 1.0),
            Err(_) => "not measured",
        }
    );
    let _ = writeln!(
        table,
        "| 4 GiB base − small base, whole build | {} | {} | — | reported |",
        cell(&growth(&t_big.total, &t_small.total)),
        cell(&growth(&s_big.total, &s_small.total)),
    );
    let _ = writeln!(
        table,
        "| transient's copy of the 4 GiB base ({:.2} GB qcow2) alone, median of {RUNS} | {} | — | — | reported |",
        big_size as f64 / 1e9,
        cell(&copy),
    );
    let rebuild_ratio = ratio(&Ok(rebuild), &t_scratch.total);
    let _ = writeln!(
        table,
        "| rebuild, no step changed (`--force`), median of {RUNS}; anchor: transient's full build (it has no cache) | {} | {rebuild:.3} s{} | {} | < 1 s, no VM {} |",
        cell(&t_scratch.total),
        if rebuild_without_vm {
            ", no VM"
        } else {
            ", **a VM booted**"
        },
        rebuild_ratio.map_or_else(|| "—".into(), |r| format!("{r:.3}")),
        verdict(rebuild < 1.0 && rebuild_without_vm),
    );
    let anchor_note = match &transient_ok {
        Ok(()) => String::new(),
        Err(e) => format!("\n\ntransient could not be measured: {e}\n"),
    };
    println!("\n{table}{anchor_note}");
    let section = format!(
        "Command: `cargo xtask bench build` (xtask/src/bench_build.rs; strata's `transient-image` \
release build), {}, {:.0} s in all (its release build included). Both tools build under TCG: strata with `--accel tcg` and its \
Debian-kernel build VM, transient 0.25 (PyPI, in the peers' venv) with its own 5.7 kernel, through \
a `qemu-system-x86_64` wrapper early on its PATH that rewrites its hard-coded `accel=kvm:tcg` to \
`accel=tcg` (KVM here is PVM, on which its kernel hangs). Each timed run builds into a fresh \
backend (`--image-backend`; strata's step cache is cold), the tools alternating run by run, each \
after `sync` and a quiet gate of at most {} s; times are whole-process wall times, medians. \
\"Until its RUN step starts\" is when the build printed its `Step 2/2 : RUN` line: the FROM step \
and the VM's boot, which is the same for both bases, so the difference between the bases is the \
FROM step's cost (transient copies the base into its working file; strata makes a qcow2 layer \
over it). A whole FROM build also includes storing the result: transient renames its working \
copy, strata writes the flattened result into the backend (fsynced), which reads and writes the \
base's data once.\n\n\
Data: the rootfs is the build VM's static busybox (1.9 MB, 1 MB as tar.gz) with `/bin/sh`, \
`/etc/fstab` and empty mount points. The small base is strata's scratch result (64 MiB virtual). \
The 4 GiB base is a strata scratch build of `DISK {BIG_DISK} GPT` with one ext4 partition of the \
whole disk and the rootfs, into whose file system the host then wrote a 1 GiB file of \
pseudo-random bytes (debugfs `write`), converted back to qcow2: 4 GiB virtual, about 1.1 GB \
allocated, so that a copy has real data to move; {big_note}. Results were read back with \
debugfs (`/etc/built`, `/etc/from`) from the last run of each tool.\n\n{table}{anchor_note}\n\
1-minute load average when each part started (2 vCPUs, shared with other builds; above ~1 the \
times are contended): {}.\n",
        crate::cmd::date_utc(),
        started.elapsed().as_secs_f64(),
        GATE_WAIT.as_secs(),
        loads.join("; ")
    );
    crate::report::write_section(
        &root.join("docs/benchmarks.md"),
        "build",
        "Image builds against transient 0.25 (`cargo xtask bench build`)",
        &section,
    )?;
    println!("wrote the build section of docs/benchmarks.md");
    let _ = fs::remove_dir_all(&env.work);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpio_files_are_found_by_name() {
        let mut cpio = Vec::new();
        for (name, data) in [("a", &b"xyz"[..]), ("bin/busybox", &b"BB"[..])] {
            let header = format!(
                "070701{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}",
                1,
                0o100644,
                0,
                0,
                1,
                0,
                data.len(),
                0,
                0,
                0,
                0,
                name.len() + 1,
                0
            );
            cpio.extend_from_slice(header.as_bytes());
            cpio.extend_from_slice(name.as_bytes());
            cpio.push(0);
            while cpio.len() % 4 != 0 {
                cpio.push(0);
            }
            cpio.extend_from_slice(data);
            while cpio.len() % 4 != 0 {
                cpio.push(0);
            }
        }
        assert_eq!(cpio_file(&cpio, "bin/busybox").unwrap(), b"BB");
        assert!(cpio_file(&cpio, "missing").is_err());
    }
}
