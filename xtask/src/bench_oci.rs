//! `cargo xtask bench oci`: strata's container paths against skopeo, umoci and mksquashfs, in
//! the same invocation, on a generated rootfs; the results go to stdout and to the
//! `containers` section of `docs/benchmarks.md`.
//!
//! Test data (under `target/bench-data/oci/`, built once and kept while [`INPUTS_VERSION`]
//! holds): a rootfs shaped as perf-anchors.md's `mkrootfs.py` shapes it (25,000 files of
//! 64 B–64 KiB, log-uniform, in 1,500 directories: half text-like, 30 % random, 20 % repeated
//! lines; four large files of 48, 40, 32 and 24 MiB; 500 symlinks and 50 hard links; about
//! 384 MB of file data), from the disk bench's xoshiro256** generator with a fixed seed rather
//! than `mkrootfs.py`'s Mersenne Twister and AES-CTR: the same shape, not the same bytes.
//! Every mtime is then set to one fixed time. It is packed as perf-anchors.md packs it: `umoci
//! init`, `new`, `unpack`, the tree copied in, `umoci repack` (one gzip layer, `oci_A:v1`), and
//! `skopeo copy` of that to a docker-archive (`da.tar`, layer uncompressed).
//!
//! Each row times an anchor command and strata's command for the same work, 3 runs each,
//! alternating which goes first run by run; before each timed run an untimed preparation
//! (removing the previous output, restarting an empty registry), `sync` and a short quiet gate
//! (a 1 s window under 10 % CPU busy, waiting at most [`GATE_WAIT`]: the machine is shared, so
//! the gate only lets writeback settle when it can; the rows say how many runs found a quiet
//! window). The median wall time of each side, their ratio, and the largest peak RSS of each
//! (`/usr/bin/time`'s maximum resident set, of the largest process of a pipeline) are reported.
//! strata's side is the release build of `pcocc-image` (and, for the squashfs writer alone, the
//! `strata-oci` example), with a `repos.yaml` of its own.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::fs::{self, File};
use std::io::{BufRead as _, BufReader, BufWriter, Write as _};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::bench::{ALPHA, Rng};

/// The version of the inputs: cached inputs of another version are built again. Bump it when
/// the generator or the packing changes.
const INPUTS_VERSION: &str = "oci-inputs 1";

/// The generator's seed.
const SEED: u64 = 20_261_123;

/// The mtime of every generated entry (2023-11-14).
const MTIME: u64 = 1_700_000_000;

/// Timed runs per side and row.
const RUNS: usize = 3;

/// How long the quiet gate waits before each timed run.
const GATE_WAIT: Duration = Duration::from_secs(2);

/// Peak RSS every strata command must stay under, in KiB (256 MiB).
const RSS_GOAL_KIB: u64 = 256 * 1024;

/// What a generated file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fill {
    /// Random bytes mapped onto a 32-symbol alphabet (5 bits a byte).
    Text,
    /// Random bytes (incompressible).
    Random,
    /// The line `key_K = value V` repeated.
    Lines { key: u64, value: u64 },
    /// Zeros.
    Zeros,
}

/// One entry of the generated tree.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Node {
    Dir,
    File {
        size: u64,
        fill: Fill,
        seed: u64,
    },
    Symlink {
        target: String,
    },
    /// A hard link to the file at this path (relative to the root).
    Hardlink {
        to: String,
    },
}

/// The shape of a generated rootfs.
struct Shape {
    dirs: usize,
    files: usize,
    big: &'static [(&'static str, u64, Fill)],
    symlinks: usize,
    hardlinks: usize,
}

/// The directories the generated ones are spread under.
const TOPS: [&str; 6] = [
    "usr/lib",
    "usr/share",
    "usr/bin",
    "etc",
    "var/lib",
    "opt/app",
];

/// perf-anchors.md's rootfs.
const ROOTFS: Shape = Shape {
    dirs: 1500,
    files: 25_000,
    big: &[
        ("usr/lib/big_random.so", 48 << 20, Fill::Random),
        ("usr/share/big_text.db", 40 << 20, Fill::Text),
        ("opt/app/blob.bin", 32 << 20, Fill::Random),
        ("var/lib/sparse_zeroish.img", 24 << 20, Fill::Zeros),
    ],
    symlinks: 500,
    hardlinks: 50,
};

/// The path of `to` relative to the directory `from` (both relative to the same root).
fn relative(from: &str, to: &str) -> String {
    let from: Vec<&str> = from.split('/').collect();
    let to: Vec<&str> = to.split('/').collect();
    let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
    let ups = std::iter::repeat_n("..", from.len() - common);
    ups.chain(to[common..].iter().copied())
        .collect::<Vec<_>>()
        .join("/")
}

/// Every entry of the tree `shape` describes, parents before children, paths relative to the
/// root; the same `seed` gives the same entries.
fn plan(shape: &Shape, seed: u64) -> Vec<(String, Node)> {
    let mut rng = Rng::new(seed);
    let mut entries = Vec::new();
    let mut made = BTreeSet::new();
    let mut mkdirs = |entries: &mut Vec<(String, Node)>, dir: &str| {
        let mut at = 0;
        while at < dir.len() {
            let end = dir[at..].find('/').map_or(dir.len(), |i| at + i);
            let prefix = &dir[..end];
            if made.insert(prefix.to_owned()) {
                entries.push((prefix.to_owned(), Node::Dir));
            }
            at = end + 1;
        }
    };
    let pick = |rng: &mut Rng, len: usize| rng.range(0, len as u64 - 1) as usize;
    let mut dirs = Vec::with_capacity(shape.dirs);
    for i in 0..shape.dirs {
        let top = TOPS[pick(&mut rng, TOPS.len())];
        let dir = format!("{top}/d{:03}/sub{}", i / 10, i % 10);
        mkdirs(&mut entries, &dir);
        dirs.push(dir);
    }
    let mut files = Vec::with_capacity(shape.files);
    for i in 0..shape.files {
        let size = 2f64.powf(6.0 + 10.0 * rng.unit()) as u64;
        let dir = &dirs[pick(&mut rng, dirs.len())];
        let r = rng.unit();
        let fill = if r < 0.5 {
            Fill::Text
        } else if r < 0.8 {
            Fill::Random
        } else {
            Fill::Lines {
                key: rng.range(0, 99),
                value: rng.range(0, 9999),
            }
        };
        let path = format!("{dir}/f{i:05}.dat");
        let seed = rng.next();
        entries.push((path.clone(), Node::File { size, fill, seed }));
        files.push(path);
    }
    for &(path, size, fill) in shape.big {
        if let Some((dir, _)) = path.rsplit_once('/') {
            mkdirs(&mut entries, dir);
        }
        let seed = rng.next();
        entries.push((path.to_owned(), Node::File { size, fill, seed }));
    }
    mkdirs(&mut entries, "usr/bin");
    for i in 0..shape.symlinks {
        let target = relative("usr/bin", &files[pick(&mut rng, files.len())]);
        entries.push((format!("usr/bin/link{i:03}"), Node::Symlink { target }));
    }
    mkdirs(&mut entries, "hl");
    for i in 0..shape.hardlinks {
        let to = files[pick(&mut rng, files.len())].clone();
        entries.push((format!("hl/h{i:02}"), Node::Hardlink { to }));
    }
    entries
}

/// The bytes of file data the entries hold (hard links not counted again).
fn data_bytes(entries: &[(String, Node)]) -> u64 {
    entries
        .iter()
        .map(|(_, node)| match node {
            Node::File { size, .. } => *size,
            _ => 0,
        })
        .sum()
}

/// Writes `size` bytes of `fill` (from `seed`) to `out`.
fn write_content(out: &mut impl std::io::Write, size: u64, fill: Fill, seed: u64) -> Result<()> {
    let mut rng = Rng::new(seed);
    let line = match fill {
        Fill::Lines { key, value } => format!("key_{key} = value {value}\n").into_bytes(),
        _ => Vec::new(),
    };
    let mut buf = vec![0u8; 1 << 20];
    let mut left = size;
    let mut line_at = 0;
    while left > 0 {
        let n = left.min(buf.len() as u64) as usize;
        let chunk = &mut buf[..n];
        match fill {
            Fill::Random => rng.fill(chunk),
            Fill::Text => {
                rng.fill(chunk);
                for b in chunk.iter_mut() {
                    *b = ALPHA[(*b & 31) as usize];
                }
            }
            Fill::Lines { .. } => {
                for b in chunk.iter_mut() {
                    *b = line[line_at];
                    line_at = (line_at + 1) % line.len();
                }
            }
            Fill::Zeros => chunk.fill(0),
        }
        out.write_all(chunk)?;
        left -= n as u64;
    }
    Ok(())
}

/// Writes the entries under `root` (which must not exist), then sets every mtime to [`MTIME`].
fn write_tree(root: &Path, entries: &[(String, Node)]) -> Result<()> {
    fs::create_dir(root).with_context(|| format!("cannot create {}", root.display()))?;
    for (path, node) in entries {
        let at = root.join(path);
        let done = match node {
            Node::Dir => fs::create_dir(&at),
            Node::File { size, fill, seed } => {
                let mut out = BufWriter::new(File::create(&at)?);
                write_content(&mut out, *size, *fill, *seed)?;
                out.flush()
            }
            Node::Symlink { target } => std::os::unix::fs::symlink(target, &at),
            Node::Hardlink { to } => fs::hard_link(root.join(to), &at),
        };
        done.with_context(|| format!("cannot create {}", at.display()))?;
    }
    crate::cmd::run(Command::new("find").arg(root).args([
        "-exec",
        "touch",
        "-h",
        "-d",
        &format!("@{MTIME}"),
        "{}",
        "+",
    ]))
}

/// Builds the inputs under `data` unless they are there, of this [`INPUTS_VERSION`]: the
/// rootfs, the OCI layout `oci_A` (tag `v1`) and the docker-archive `da.tar`.
fn ensure_inputs(data: &Path) -> Result<()> {
    let stamp = data.join("READY");
    if fs::read_to_string(&stamp).is_ok_and(|s| s.trim() == INPUTS_VERSION) {
        println!("using the inputs cached in {}", data.display());
        return Ok(());
    }
    if data.exists() {
        fs::remove_dir_all(data).with_context(|| format!("cannot remove {}", data.display()))?;
    }
    fs::create_dir_all(data)?;
    let entries = plan(&ROOTFS, SEED);
    println!(
        "generating {}/rootfs ({} entries, {} MB of file data)",
        data.display(),
        entries.len(),
        data_bytes(&entries) / 1_000_000
    );
    write_tree(&data.join("rootfs"), &entries)?;
    let sh =
        |script: &str| crate::cmd::run(Command::new("sh").args(["-ec", script]).current_dir(data));
    println!("packing it with umoci (oci_A:v1) and skopeo (da.tar)");
    sh("umoci init --layout oci_A\n\
        umoci new --image oci_A:base\n\
        umoci unpack --image oci_A:base bundle0\n\
        cp -a rootfs/. bundle0/rootfs/\n\
        umoci repack --image oci_A:v1 bundle0\n\
        rm -rf bundle0\n\
        skopeo copy -q oci:oci_A:v1 docker-archive:da.tar:x:v1")?;
    fs::write(&stamp, format!("{INPUTS_VERSION}\n"))?;
    Ok(())
}

/// A `docker-registry` started by this bench on 127.0.0.1, stopped (by its own pid) when
/// dropped.
pub(crate) struct Registry {
    child: Option<Child>,
    port: u16,
    dir: PathBuf,
}

impl Registry {
    /// Starts an empty registry with its storage and configuration under `dir`.
    pub(crate) fn start(dir: &Path) -> Result<Registry> {
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let mut registry = Registry {
            child: None,
            port,
            dir: dir.to_owned(),
        };
        registry.restart()?;
        Ok(registry)
    }

    /// Stops the registry if it runs, empties its storage and starts it again on the same
    /// port.
    pub(crate) fn restart(&mut self) -> Result<()> {
        self.stop();
        let storage = self.dir.join("storage");
        if storage.exists() {
            fs::remove_dir_all(&storage)?;
        }
        fs::create_dir_all(&storage)?;
        let config = self.dir.join("config.yml");
        fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\n\
                 storage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\n\
                 http:\n  addr: 127.0.0.1:{}\n  secret: strata-bench-secret\n",
                storage.display(),
                self.port
            ),
        )?;
        let log = File::create(self.dir.join("registry.log"))?;
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("cannot start docker-registry (run `cargo xtask setup`)")?;
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if self.answers() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        bail!(
            "docker-registry did not answer on 127.0.0.1:{}; see {}",
            self.port,
            self.dir.join("registry.log").display()
        )
    }

    /// Whether `GET /v2/` gets an HTTP answer.
    fn answers(&self) -> bool {
        let Ok(mut s) = TcpStream::connect(("127.0.0.1", self.port)) else {
            return false;
        };
        let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
        let req = format!(
            "GET /v2/ HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nConnection: close\r\n\r\n",
            self.port
        );
        if s.write_all(req.as_bytes()).is_err() {
            return false;
        }
        let mut line = String::new();
        BufReader::new(s).read_line(&mut line).is_ok() && line.starts_with("HTTP/")
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// `127.0.0.1:PORT`.
    pub(crate) fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// `docker://127.0.0.1:PORT/bench/x:v1`.
    fn image(&self) -> String {
        format!("docker://127.0.0.1:{}/bench/x:v1", self.port)
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        self.stop();
    }
}

/// One side of a row: the command (run in the work directory, with `env`) and what is done,
/// untimed, before each of its runs.
pub(crate) struct Side<'a> {
    argv: Vec<String>,
    env: Vec<(&'static str, PathBuf)>,
    prepare: Box<dyn Fn() -> Result<()> + 'a>,
}

/// One row: an anchor command against strata's.
pub(crate) struct Row<'a> {
    pub(crate) name: &'static str,
    pub(crate) anchor: Side<'a>,
    pub(crate) ours: Side<'a>,
    /// strata's median at most this fraction of the anchor's; `None`: reported only.
    pub(crate) goal: Option<f64>,
}

/// The measurements of one side.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Sample {
    /// The command line, as a user would type it.
    command: String,
    /// Wall seconds of each run, in run order.
    times: Vec<f64>,
    rss_kib: u64,
}

impl Sample {
    pub(crate) fn median_s(&self) -> f64 {
        median(self.times.clone())
    }

    /// The median, then every run: `1.234 (1.30, 1.23, 1.10)`.
    fn cell(&self) -> String {
        let runs: Vec<String> = self.times.iter().map(|t| format!("{t:.2}")).collect();
        format!("{:.3} ({})", self.median_s(), runs.join(", "))
    }
}

/// The measurements of one row.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RowResult {
    name: String,
    runs: usize,
    goal: Option<f64>,
    pub(crate) anchor: Sample,
    pub(crate) ours: Sample,
    /// The 1-minute load average when the row started.
    pub(crate) load: String,
    /// Timed runs that found a quiet window first, of all the row's timed runs.
    pub(crate) quiet: (usize, usize),
}

impl RowResult {
    pub(crate) fn ratio(&self) -> f64 {
        self.ours.median_s() / self.anchor.median_s()
    }
}

/// The command line of `argv` as a user would type it (the program's file name only).
fn display(argv: &[String]) -> String {
    let mut cmd = Command::new(argv.first().map_or("", String::as_str));
    cmd.args(argv.iter().skip(1));
    crate::cmd::display(&cmd)
}

/// Prepares and runs `side` once under `/usr/bin/time`: wall seconds, peak RSS in KiB, and
/// whether the quiet gate found a quiet window.
fn run_side(dir: &Path, side: &Side<'_>) -> Result<(f64, u64, bool)> {
    (side.prepare)()?;
    let stats = dir.join("time.out");
    Command::new("sync").status()?;
    let quiet = crate::bench::quiet_gate(GATE_WAIT);
    let mut cmd = Command::new("/usr/bin/time");
    cmd.args(["-f", "%M", "-o"])
        .arg(&stats)
        .args(&side.argv)
        .current_dir(dir)
        .stdin(Stdio::null());
    for (key, value) in &side.env {
        cmd.env(key, value);
    }
    let start = Instant::now();
    let out = cmd
        .output()
        .with_context(|| format!("cannot run {}", display(&side.argv)))?;
    let seconds = start.elapsed().as_secs_f64();
    if !out.status.success() {
        bail!(
            "`{}` failed ({}): {}",
            display(&side.argv),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let rss_kib = fs::read_to_string(&stats)?
        .split_whitespace()
        .last()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    Ok((seconds, rss_kib, quiet))
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
}

/// Runs both sides of `row` `runs` times each, alternating which goes first.
pub(crate) fn measure_n(dir: &Path, row: &Row<'_>, runs: usize) -> Result<RowResult> {
    let load = crate::bench::load_average();
    let mut times = [Vec::new(), Vec::new()];
    let mut rss = [0u64; 2];
    let mut quiet = 0;
    for run in 0..runs {
        let order = if run % 2 == 0 { [0, 1] } else { [1, 0] };
        for i in order {
            let side = if i == 0 { &row.anchor } else { &row.ours };
            let (t, kib, q) = run_side(dir, side)?;
            times[i].push(t);
            rss[i] = rss[i].max(kib);
            quiet += usize::from(q);
        }
    }
    let [anchor_times, ours_times] = times;
    Ok(RowResult {
        name: row.name.to_owned(),
        runs,
        goal: row.goal,
        anchor: Sample {
            command: display(&row.anchor.argv),
            times: anchor_times,
            rss_kib: rss[0],
        },
        ours: Sample {
            command: display(&row.ours.argv),
            times: ours_times,
            rss_kib: rss[1],
        },
        load,
        quiet: (quiet, 2 * runs),
    })
}

/// Fails, naming the first missing one, unless every tool in `tools` runs.
pub(crate) fn require_tools(tools: &[&str]) -> Result<()> {
    for tool in tools {
        if Command::new(tool)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_err()
        {
            bail!("{tool} is not installed (run `cargo xtask setup`)");
        }
    }
    Ok(())
}

/// Times `row` `runs` times a side (see [`measure_n`]), says how it went on stdout and adds it
/// to `results`.
pub(crate) fn time_row(
    dir: &Path,
    results: &mut Vec<RowResult>,
    row: Row<'_>,
    runs: usize,
) -> Result<()> {
    println!("timing: {}", row.name);
    let r = measure_n(dir, &row, runs)?;
    println!(
        "  anchor {:.3} s, strata {:.3} s: ratio {:.2} (load {}, quiet {}/{})",
        r.anchor.median_s(),
        r.ours.median_s(),
        r.ratio(),
        r.load,
        r.quiet.0,
        r.quiet.1
    );
    results.push(r);
    Ok(())
}

fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "**missed**" }
}

/// The table of the rows, the command lines of both sides, and the load and quiet windows of
/// each row.
pub(crate) fn render(rows: &[RowResult], dir: &str) -> String {
    let mut out = String::from(
        "| case | runs | anchor s: median (each run) | strata s: median (each run) | ratio | goal | anchor peak RSS MiB | strata peak RSS MiB (goal < 256) |\n\
         |---|---|---|---|---|---|---|---|\n",
    );
    for r in rows {
        let ratio = r.ratio();
        let goal = match r.goal {
            Some(g) => format!("≤ {g} {}", verdict(ratio <= g)),
            None => "—".to_owned(),
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {:.2} | {goal} | {:.1} | {:.1} {} |",
            r.name,
            r.runs,
            r.anchor.cell(),
            r.ours.cell(),
            ratio,
            r.anchor.rss_kib as f64 / 1024.0,
            r.ours.rss_kib as f64 / 1024.0,
            verdict(r.ours.rss_kib < RSS_GOAL_KIB),
        );
    }
    let _ = write!(out, "\nCommands, as timed (in `{dir}`):\n\n```\n");
    for r in rows {
        let _ = writeln!(
            out,
            "# {}\nanchor: {}\nstrata: {}",
            r.name, r.anchor.command, r.ours.command
        );
    }
    out.push_str("```\n\n1-minute load average when each row started, and how many of its timed runs found a quiet window (2 vCPUs; above ~1 the times are contended): ");
    let loads: Vec<String> = rows
        .iter()
        .map(|r| format!("{} {} ({}/{})", r.name, r.load, r.quiet.0, r.quiet.1))
        .collect();
    out.push_str(&loads.join("; "));
    out.push_str(".\n");
    out
}

/// Strings of the paths the commands name.
pub(crate) fn arg(path: &Path) -> Result<String> {
    path.to_str()
        .map(str::to_owned)
        .context("a bench path is not UTF-8")
}

/// Removes `path` (a file or a tree) if it exists.
pub(crate) fn remove(path: &Path) -> Result<()> {
    match fs::symlink_metadata(path) {
        Ok(meta) if meta.is_dir() => fs::remove_dir_all(path),
        Ok(_) => fs::remove_file(path),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
    .with_context(|| format!("cannot remove {}", path.display()))
}

/// A side: `argv` run with `env`, after `prepare`.
pub(crate) fn side<'a>(
    argv: Vec<String>,
    env: Vec<(&'static str, PathBuf)>,
    prepare: impl Fn() -> Result<()> + 'a,
) -> Side<'a> {
    Side {
        argv,
        env,
        prepare: Box::new(prepare),
    }
}

/// No preparation.
pub(crate) fn nothing() -> Result<()> {
    Ok(())
}

/// Runs `cargo xtask bench oci`.
pub(crate) fn run() -> Result<()> {
    let root = crate::project_root();
    require_tools(&[
        "skopeo",
        "umoci",
        "mksquashfs",
        "docker-registry",
        "/usr/bin/time",
    ])?;
    println!("building pcocc-image and the strata-oci example (release)");
    crate::cmd::run(
        crate::cmd::cargo()
            .args([
                "build",
                "--release",
                "-p",
                "pcocc-image",
                "-p",
                "strata-oci",
                "--example",
                "strata-oci",
            ])
            .current_dir(&root),
    )?;
    let target = crate::target_dir(&root);
    let pcocc = arg(&target.join("release/pcocc-image"))?;
    let sqfs = arg(&target.join("release/examples/strata-oci"))?;

    let data = root.join("target/bench-data/oci");
    ensure_inputs(&data)?;
    let work = data.join("run");
    remove(&work)?;
    // Unpacked trees go to tmpfs on both sides (perf-anchors.md: on this ext4, small-file
    // creation slows down up to 8x after a few create/delete cycles).
    let shm = PathBuf::from("/dev/shm/strata-bench-oci");
    remove(&shm)?;
    for dir in [&work, &shm] {
        fs::create_dir_all(dir)?;
    }
    let started = Instant::now();
    let result = rows(&work, &shm, &pcocc, &sqfs);
    let minutes = started.elapsed().as_secs_f64() / 60.0;
    let _ = remove(&shm);
    let _ = remove(&work);
    let results = result?;

    let rendered = render(&results, "target/bench-data/oci/run/");
    println!("\n{rendered}");
    let body = format!(
        "Produced by `cargo xtask bench oci` (xtask/src/bench_oci.rs), {}, which builds its inputs \
under `target/bench-data/oci/` once and runs each anchor and strata's command (release builds) in the same \
invocation. Times are medians of whole-process wall times, anchor and strata alternating run by run, \
each after an untimed preparation (previous output removed; for the cold push, the registry restarted \
empty), `sync` and a quiet gate (a 1 s window under 10 % CPU busy, iowait counted, waiting at most {} s); \
inputs page-cached; peak RSS is `/usr/bin/time`'s maximum resident set (for `sh -c` pipelines, of their \
largest process).\n\n\
Data: a generated rootfs shaped as perf-anchors.md's (25,000 files of 64 B–64 KiB in 1,500 directories, \
four large files of 24–48 MiB, 500 symlinks, 50 hard links; {} MB of file data), packed by `umoci repack` \
into `oci_A:v1` (one gzip layer) and by `skopeo copy` into `da.tar` (docker-archive, layer uncompressed). \
strata's repository (`bench`, and `pull` for the pulls) is on the ext4 disk beside the anchors' outputs, \
except in the cache row, where both sides write to tmpfs (`/dev/shm`): skopeo's layout and umoci's bundle, \
strata's repository and cache. strata fsyncs what it stores (blobs, records, the bundle, the squashfs \
file); skopeo, umoci and mksquashfs do not. The registry is `docker-registry` on 127.0.0.1 (plain http). \
pcocc-image runs with `PCOCC_USER_CONF_DIR` naming the bench's own `repos.yaml` (`run/conf`; in the \
cache row `run/conf-cache`, which also configures the cache). \
Machine: 2 vCPUs shared with other work, so expect ±30 % noise (see perf-anchors.md). The timed rows \
took {minutes:.1} minutes.\n\n{rendered}",
        crate::cmd::date_utc(),
        GATE_WAIT.as_secs(),
        data_bytes(&plan(&ROOTFS, SEED)) / 1_000_000,
    );
    crate::report::write_section(
        &root.join("docs/benchmarks.md"),
        "containers",
        "Containers against skopeo, umoci and mksquashfs (`cargo xtask bench oci`)",
        &body,
    )?;
    println!("wrote the containers section of docs/benchmarks.md");
    Ok(())
}

/// Sets up and measures every row.
fn rows(work: &Path, shm: &Path, pcocc: &str, sqfs: &str) -> Result<Vec<RowResult>> {
    // pcocc-image's configuration: `bench` (the default) and `pull` on ext4, no cache; and, for
    // the cache row, a repository and a cache on tmpfs.
    for dir in ["conf", "conf-cache", "sysconf", "home"] {
        fs::create_dir_all(work.join(dir))?;
    }
    let (repo, pull_repo) = (work.join("repo"), work.join("pull-repo"));
    fs::write(
        work.join("conf/repos.yaml"),
        format!(
            "repos:\n  - name: bench\n    path: \"{}\"\n  - name: pull\n    path: \"{}\"\n",
            repo.display(),
            pull_repo.display()
        ),
    )?;
    let (shm_repo, shm_cache) = (shm.join("repo"), shm.join("cache"));
    fs::write(
        work.join("conf-cache/repos.yaml"),
        format!(
            "repos:\n  - name: bench\n    path: \"{}\"\ncache:\n  path: \"{}\"\n",
            shm_repo.display(),
            shm_cache.display()
        ),
    )?;
    let env = |conf: &str| {
        vec![
            ("PCOCC_USER_CONF_DIR", work.join(conf)),
            ("PCOCC_SYSTEM_CONF_DIR", work.join("sysconf")),
            ("HOME", work.join("home")),
        ]
    };
    // Anchors: the words of `line`; strata: `pcocc-image -q` and those of `line`. Every
    // command runs in `work` and names the inputs relative to it.
    let tool = |line: &str| -> Vec<String> { line.split_whitespace().map(str::to_owned).collect() };
    let strata = |line: &str| {
        let mut argv = vec![pcocc.to_owned(), "-q".to_owned()];
        argv.extend(tool(line));
        argv
    };
    let (oci_a, da, rootfs) = ("oci:../oci_A:v1", "docker-archive:../da.tar", "../rootfs");
    let (out_oci, out_tar, sqfs_out) = (
        work.join("out_oci"),
        work.join("out.tar"),
        work.join("r.sqfs"),
    );
    let pulled = work.join("pulled");
    let (shm_oci, shm_bundle) = (shm.join("out_oci"), shm.join("bundle"));
    let pcocc_image = |line: &str| -> Result<()> {
        let mut cmd = Command::new(pcocc);
        cmd.args(tool(line)).current_dir(work).envs(env("conf"));
        crate::cmd::run(&mut cmd)
    };
    // Warm the page cache with the inputs.
    crate::cmd::run(Command::new("sh").current_dir(work).args([
        "-c",
        "cat ../oci_A/blobs/sha256/* ../da.tar > /dev/null; tar -cf - ../rootfs | cat > /dev/null",
    ]))?;

    let mut results = Vec::new();
    let mut record = |name: &'static str, goal: Option<f64>, anchor: Side<'_>, ours: Side<'_>| {
        time_row(
            work,
            &mut results,
            Row {
                name,
                anchor,
                ours,
                goal,
            },
            RUNS,
        )
    };

    record(
        "docker-archive -> repository",
        Some(0.5),
        side(
            tool(&format!("skopeo copy -q {da} oci:out_oci:v1")),
            vec![],
            || remove(&out_oci),
        ),
        side(
            strata(&format!("import {da} bench:img")),
            env("conf"),
            || remove(&repo),
        ),
    )?;
    record(
        "OCI layout -> repository",
        Some(0.7),
        side(
            tool(&format!("skopeo copy -q {oci_a} oci:out_oci:v1")),
            vec![],
            || remove(&out_oci),
        ),
        side(
            strata(&format!("import {oci_a} bench:img")),
            env("conf"),
            || remove(&repo),
        ),
    )?;
    remove(&out_oci)?;
    // `bench:img`, for the export and the pushes.
    remove(&repo)?;
    pcocc_image(&format!("-q import {oci_a} bench:img"))?;
    record(
        "repository -> docker-archive",
        Some(0.7),
        side(
            tool(&format!(
                "skopeo copy -q {oci_a} docker-archive:out.tar:x:v1"
            )),
            vec![],
            || remove(&out_tar),
        ),
        side(
            strata("export bench:img docker-archive:out.tar:x:v1"),
            env("conf"),
            || remove(&out_tar),
        ),
    )?;
    remove(&out_tar)?;
    let (so, sb) = (shm_oci.display(), shm_bundle.display());
    record(
        "import, bundle extracted into the cache (tmpfs)",
        Some(0.4),
        Side {
            argv: vec![
                "sh".to_owned(),
                "-c".to_owned(),
                format!("skopeo copy -q {oci_a} oci:{so}:v1 && umoci unpack --image {so}:v1 {sb}"),
            ],
            env: vec![],
            prepare: Box::new(|| remove(&shm_oci).and_then(|()| remove(&shm_bundle))),
        },
        side(
            strata(&format!("import {oci_a} bench:img")),
            env("conf-cache"),
            || remove(&shm_repo).and_then(|()| remove(&shm_cache)),
        ),
    )?;
    for dir in [&shm_oci, &shm_bundle, &shm_repo, &shm_cache] {
        remove(dir)?;
    }
    let strata_squashfs = || Side {
        argv: vec![
            sqfs.to_owned(),
            "squashfs".to_owned(),
            rootfs.to_owned(),
            "r.sqfs".to_owned(),
        ],
        env: vec![],
        prepare: Box::new(|| remove(&sqfs_out)),
    };
    record(
        "squashfs of the rootfs (strata's cache writer)",
        Some(1.0),
        side(
            tool(&format!(
                "mksquashfs {rootfs} r.sqfs -comp gzip -processors 2 -noappend -no-progress -quiet"
            )),
            vec![],
            || remove(&sqfs_out),
        ),
        strata_squashfs(),
    )?;
    record(
        "squashfs, against mksquashfs with pcocc's flags (uncompressed)",
        None,
        side(
            tool(&format!(
                "mksquashfs {rootfs} r.sqfs -noappend -all-root -noDataCompression \
                 -noInodeCompression -noFragmentCompression -noXattrCompression -processors 2 \
                 -no-progress -quiet"
            )),
            vec![],
            || remove(&sqfs_out),
        ),
        strata_squashfs(),
    )?;
    remove(&sqfs_out)?;

    let registry = std::cell::RefCell::new(Registry::start(&work.join("registry"))?);
    let image = registry.borrow().image();
    let restart = || registry.borrow_mut().restart();
    let push = format!("skopeo copy -q --dest-tls-verify=false {oci_a} {image}");
    let pull = format!("skopeo copy -q --src-tls-verify=false {image} oci:pulled:v1");
    record(
        "push to the registry, cold",
        Some(0.8),
        side(tool(&push), vec![], restart),
        side(
            strata(&format!("export bench:img {image}")),
            env("conf"),
            restart,
        ),
    )?;
    record(
        "push again (blobs present)",
        Some(1.0),
        side(tool(&push), vec![], nothing),
        side(
            strata(&format!("export bench:img {image}")),
            env("conf"),
            nothing,
        ),
    )?;
    record(
        "pull from the registry, cold",
        Some(0.8),
        side(tool(&pull), vec![], || remove(&pulled)),
        side(
            strata(&format!("import {image} pull:pulled")),
            env("conf"),
            || remove(&pull_repo),
        ),
    )?;
    // The record goes, the blobs stay: the import finds them all.
    let delete_record = || pcocc_image("-q delete pull:pulled");
    record(
        "pull again (blobs present)",
        Some(1.0),
        side(tool(&pull), vec![], nothing),
        side(
            strata(&format!("import {image} pull:pulled")),
            env("conf"),
            delete_record,
        ),
    )?;
    drop(registry);
    Ok(results)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rootfs_plan_is_deterministic_and_shaped_as_perf_anchors() {
        let a = plan(&ROOTFS, SEED);
        assert_eq!(a, plan(&ROOTFS, SEED));
        assert_ne!(a, plan(&ROOTFS, SEED + 1));
        let count = |f: fn(&Node) -> bool| a.iter().filter(|(_, n)| f(n)).count();
        assert_eq!(count(|n| matches!(n, Node::File { .. })), 25_004);
        assert_eq!(count(|n| matches!(n, Node::Symlink { .. })), 500);
        assert_eq!(count(|n| matches!(n, Node::Hardlink { .. })), 50);
        // A few hundred MB, as mkrootfs.py's 384 MB.
        let bytes = data_bytes(&a);
        assert!((330_000_000..440_000_000).contains(&bytes), "{bytes}");
        // Parents come before their children, and no path repeats.
        let mut seen = BTreeSet::new();
        for (path, _) in &a {
            if let Some((parent, _)) = path.rsplit_once('/') {
                assert!(seen.contains(parent), "{path} before {parent}");
            }
            assert!(seen.insert(path.clone()), "{path} twice");
        }
    }

    #[test]
    fn contents_are_deterministic_and_filled_as_asked() {
        let bytes = |size, fill, seed| {
            let mut v = Vec::new();
            write_content(&mut v, size, fill, seed).map(|()| v)
        };
        let text = bytes(3000, Fill::Text, 7).ok();
        assert_eq!(text, bytes(3000, Fill::Text, 7).ok());
        assert!(text.is_some_and(|t| t.len() == 3000 && t.iter().all(|b| ALPHA.contains(b))));
        let lines = bytes(30, Fill::Lines { key: 4, value: 56 }, 0).ok();
        assert_eq!(
            lines.as_deref(),
            Some(&b"key_4 = value 56\nkey_4 = value"[..])
        );
        let zeros = bytes(5, Fill::Zeros, 1).ok();
        assert_eq!(zeros.as_deref(), Some(&[0u8; 5][..]));
        let random = bytes((1 << 20) + 3, Fill::Random, 9).ok();
        assert_eq!(random.as_ref().map(Vec::len), Some((1 << 20) + 3));
    }

    #[test]
    fn symlinks_are_relative_to_their_directory() {
        assert_eq!(
            relative("usr/bin", "usr/lib/d001/sub2/f1.dat"),
            "../lib/d001/sub2/f1.dat"
        );
        assert_eq!(
            relative("usr/bin", "etc/d000/sub0/f0.dat"),
            "../../etc/d000/sub0/f0.dat"
        );
        assert_eq!(
            relative("usr/bin", "usr/bin/d003/sub1/f2.dat"),
            "d003/sub1/f2.dat"
        );
    }

    #[test]
    fn the_table_shows_ratios_goals_and_memory() {
        let sample = |command: &str, median_s: f64, rss_kib| Sample {
            command: command.to_owned(),
            times: vec![median_s + 0.5, median_s, median_s - 0.25],
            rss_kib,
        };
        let row = |name: &str, goal, ours_s, ours_rss| RowResult {
            name: name.to_owned(),
            runs: 3,
            goal,
            anchor: sample("skopeo copy a b", 2.0, 51_200),
            ours: sample("pcocc-image -q import a img", ours_s, ours_rss),
            load: "7.90".to_owned(),
            quiet: (1, 6),
        };
        let text = render(
            &[
                row("met", Some(0.5), 0.5, 40 * 1024),
                row("missed", Some(0.7), 1.6, 300 * 1024),
                row("reported", None, 1.0, 1024),
            ],
            "run/",
        );
        let anchor = "2.000 (2.50, 2.00, 1.75)";
        assert!(text.contains(&format!(
            "| met | 3 | {anchor} | 0.500 (1.00, 0.50, 0.25) | 0.25 | ≤ 0.5 met | 50.0 | 40.0 met |"
        )));
        assert!(text.contains(&format!(
            "| missed | 3 | {anchor} | 1.600 (2.10, 1.60, 1.35) | 0.80 | ≤ 0.7 **missed** | 50.0 | 300.0 **missed** |"
        )));
        assert!(text.contains("| 0.50 | — |"));
        assert!(
            text.contains("# met\nanchor: skopeo copy a b\nstrata: pcocc-image -q import a img\n")
        );
        assert!(text.contains("met 7.90 (1/6); missed 7.90 (1/6)"));
    }
}
