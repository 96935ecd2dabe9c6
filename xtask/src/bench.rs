//! `cargo xtask bench disk` (raw and qcow2) and `cargo xtask bench formats` (vmdk, vdi, vpc,
//! qed): converts generated images with qemu-img and with strata's
//! `strata-disk` example (release build) in the same invocation, and reports time ratios and
//! peak RSS on stdout and in `docs/benchmarks.md`.
//!
//! Test data (under `target/bench-data/`, generated once, deterministic) follows
//! `perf-anchors.md` Appendix B: a 4 GiB sparse raw image of 1–32 MiB extents, each data with
//! probability 0.5, filled with 4–256 KiB chunks: 25 % zeros (written, so allocated), 50 %
//! pseudo-random bytes (incompressible), 25 % "text" (random bytes mapped onto a 32-symbol
//! alphabet). The random stream is xoshiro256** rather than gen.py's AES-CTR keystream and
//! Python's Mersenne Twister: the same distributions, not the same bytes. Plus `src.qcow2`
//! (qemu-img's conversion of it) and a 100 GiB empty raw image.
//!
//! Timing: each command runs under `/usr/bin/time -f '%e %M'` (wall time, peak RSS of the
//! child) after `rm -f OUT; sync; sleep 1`, qemu-img and strata alternating run by run; the
//! median of the runs is reported, with the load average when each row started. strata runs
//! with `--no-sync`, matching qemu-img's default `cache=unsafe` (no fsync) so both measure the
//! same work; the durable row runs both followed by `sync`.

use std::fmt::Write as _;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail};

const SIZE_4G: u64 = 4 << 30;
const SEED: u64 = 20240601;
pub(crate) const ALPHA: &[u8; 32] = b"etaoinshrdlucmfwypvbgkjqxz .,\n-'";

/// xoshiro256**, seeded by splitmix64 (also the rootfs generator's of `bench oci`).
pub(crate) struct Rng([u64; 4]);

impl Rng {
    pub(crate) fn new(mut seed: u64) -> Self {
        let mut s = [0u64; 4];
        for x in &mut s {
            seed = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = seed;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            *x = z ^ (z >> 31);
        }
        Rng(s)
    }
    pub(crate) fn next(&mut self) -> u64 {
        let s = &mut self.0;
        let r = s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        r
    }
    /// Uniform in `lo..=hi`.
    pub(crate) fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }
    pub(crate) fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    pub(crate) fn fill(&mut self, buf: &mut [u8]) {
        for c in buf.chunks_mut(8) {
            let v = self.next().to_le_bytes();
            c.copy_from_slice(&v[..c.len()]);
        }
    }
}

/// Writes the chunk mixture into `[off, off+len)` of `f`; returns allocated bytes.
fn fill(f: &File, mut off: u64, len: u64, layout: &mut Rng, data: &mut Rng) -> Result<()> {
    let end = off + len;
    let mut buf = Vec::with_capacity(9 << 20);
    let mut start = off;
    while off < end {
        let sz = (layout.range(1, 64) * 4096).min(end - off) as usize;
        let r = layout.unit();
        let at = buf.len();
        buf.resize(at + sz, 0);
        if r >= 0.25 {
            data.fill(&mut buf[at..]);
            if r >= 0.75 {
                for b in &mut buf[at..] {
                    *b = ALPHA[(*b & 31) as usize];
                }
            }
        }
        off += sz as u64;
        if buf.len() >= 8 << 20 {
            f.write_all_at(&buf, start)?;
            start += buf.len() as u64;
            buf.clear();
        }
    }
    f.write_all_at(&buf, start)?;
    Ok(())
}

pub(crate) fn generate_image(path: &Path, size: u64, fraction: f64) -> Result<()> {
    let tmp = path.with_extension("partial");
    let f = File::create(&tmp).with_context(|| format!("create {}", tmp.display()))?;
    f.set_len(size)?;
    let mut layout = Rng::new(SEED);
    let mut data = Rng::new(SEED ^ 0xdead_beef);
    let mut off = 0;
    while off < size {
        let len = (layout.range(1, 32) << 20).min(size - off);
        if layout.unit() < fraction {
            fill(&f, off, len, &mut layout, &mut data)?;
        }
        off += len;
    }
    f.sync_all()?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}

struct Measure {
    median_s: f64,
    rss_kib: u64,
}

/// Runs `args` once under /usr/bin/time after `rm -f out; sync; sleep 1` (writeback of the
/// previous output settles); wall time and peak RSS.
fn run_once(dir: &Path, args: &[String], out: &Path) -> Result<(f64, u64)> {
    let stats = dir.join("time.out");
    let _ = std::fs::remove_file(out);
    Command::new("sync").status()?;
    quiet_gate(GATE_WAIT);
    let start = Instant::now();
    let status = Command::new("/usr/bin/time")
        .args(["-f", "%e %M", "-o"])
        .arg(&stats)
        .args(args)
        .current_dir(dir)
        .status()
        .with_context(|| format!("run {}", args.join(" ")))?;
    let elapsed = start.elapsed().as_secs_f64();
    if !status.success() {
        bail!("`{}` failed: {status}", args.join(" "));
    }
    let text = std::fs::read_to_string(&stats)?;
    let kib: u64 = text
        .split_whitespace()
        .last()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    Ok((elapsed, kib))
}

/// How long the disk bench's quiet gate waits for a quiet window.
const GATE_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

/// CPU time counters from `/proc/stat`: (busy, total), where iowait counts as busy (a disk
/// still writing back the previous run's output is not a quiet machine).
fn cpu_counters() -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let fields: Vec<u64> = stat
        .lines()
        .next()?
        .split_whitespace()
        .skip(1)
        .filter_map(|f| f.parse().ok())
        .collect();
    let total: u64 = fields.iter().sum();
    let idle = *fields.get(3)?;
    Some((total - idle, total))
}

/// Waits (at most `max_wait`) for a one-second window in which the machine is less than 10 %
/// busy, as perf-anchors.md's quiet gate does, so that neither tool is timed while the kernel
/// still flushes or discards what the previous run wrote. Whether such a window came (`true`
/// also when `/proc/stat` cannot be read).
pub(crate) fn quiet_gate(max_wait: std::time::Duration) -> bool {
    let deadline = Instant::now() + max_wait;
    while Instant::now() < deadline {
        let Some((busy0, total0)) = cpu_counters() else {
            return true;
        };
        std::thread::sleep(std::time::Duration::from_secs(1));
        let Some((busy1, total1)) = cpu_counters() else {
            return true;
        };
        let (busy, total) = (busy1 - busy0, (total1 - total0).max(1));
        if busy * 10 < total {
            return true;
        }
    }
    false
}

/// Runs the two commands `runs` times each, alternating (which goes first flips every run, so
/// that a change of load hits both); the median wall time and largest peak RSS of each.
fn measure_pair(
    dir: &Path,
    a: &[String],
    b: &[String],
    out: &Path,
    runs: usize,
) -> Result<(Measure, Measure)> {
    let mut results = [(Vec::new(), 0u64), (Vec::new(), 0u64)];
    for run in 0..runs {
        let order = if run % 2 == 0 { [0, 1] } else { [1, 0] };
        for i in order {
            let (t, kib) = run_once(dir, if i == 0 { a } else { b }, out)?;
            results[i].0.push(t);
            results[i].1 = results[i].1.max(kib);
        }
    }
    let [ra, rb] = results.map(|(mut times, rss_kib)| {
        times.sort_by(f64::total_cmp);
        Measure {
            median_s: times[times.len() / 2],
            rss_kib,
        }
    });
    Ok((ra, rb))
}

/// The 1-minute load average (other work on the machine skews the times).
pub(crate) fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "?".into())
}

/// What a row must show.
enum Goal {
    /// strata's time at most this fraction of qemu-img's.
    Ratio(f64),
    /// strata under 50 ms.
    Under50ms,
    /// Reported only.
    None,
}

struct Case {
    name: &'static str,
    qemu: Vec<&'static str>,
    ours: Vec<&'static str>,
    out: &'static str,
    runs: usize,
    goal: Goal,
    /// Both commands run as `sh -c '… && sync'` (the durable cost).
    then_sync: bool,
}

/// A convert case, 5 runs, goal 0.8: `route` is `[FROM, TO, SOURCE, OUTPUT]`; both tools get
/// `shared` options; qemu-img also gets `qemu_only` (`-m 8 -W`), strata `--no-sync` (qemu-img's
/// default `cache=unsafe` does not fsync either).
fn case(
    name: &'static str,
    [from, to, src, out]: [&'static str; 4],
    shared: &[&'static str],
    qemu_only: &[&'static str],
) -> Case {
    let tail = ["-f", from, "-O", to, src, out];
    let qemu = ["convert"]
        .iter()
        .chain(shared)
        .chain(qemu_only)
        .chain(&tail);
    let ours = ["convert", "--no-sync"].iter().chain(shared).chain(&tail);
    Case {
        name,
        qemu: qemu.copied().collect(),
        ours: ours.copied().collect(),
        out,
        runs: 5,
        goal: Goal::Ratio(0.8),
        then_sync: false,
    }
}

/// The command line of `program args` for the case: as is, or in `sh -c '… && sync'`.
fn command(program: &str, args: &[&str], then_sync: bool) -> Vec<String> {
    let argv = std::iter::once(program).chain(args.iter().copied());
    if !then_sync {
        return argv.map(str::to_owned).collect();
    }
    let quoted: Vec<String> = argv
        .map(|a| format!("'{}'", a.replace('\'', r"'\''")))
        .collect();
    vec![
        "sh".into(),
        "-c".into(),
        format!("{} && sync", quoted.join(" ")),
    ]
}

/// Runs `cargo xtask bench disk|formats|store|oci|build`.
pub(crate) fn run(args: &[&str]) -> Result<()> {
    match args {
        ["disk"] | [] => disk(Group::Qcow2),
        ["formats"] => disk(Group::Formats),
        ["store"] => crate::bench_store::run(),
        ["oci"] => crate::bench_oci::run(),
        ["build"] => crate::bench_build::run(),
        ["registry"] => crate::bench_registry::run(),
        ["one"] => crate::bench_one::run(),
        ["ocne"] => crate::bench_ocne::run(),
        other => {
            bail!(
                "unknown bench {other:?}; available: disk, formats, store, oci, build, registry, one, ocne"
            )
        }
    }
}

/// Which conversions a disk bench run measures, and the section of `docs/benchmarks.md` it
/// writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Group {
    /// raw and qcow2 (issue "Disk codecs I"): `cargo xtask bench disk`.
    Qcow2,
    /// vmdk, vdi, vpc and qed (issue "Disk codecs II"): `cargo xtask bench formats`.
    Formats,
}

impl Group {
    /// The section's marker and title in `docs/benchmarks.md`.
    fn section(self) -> (&'static str, &'static str) {
        match self {
            Group::Qcow2 => (
                "disk",
                "Disk conversion against qemu-img (`cargo xtask bench disk`)",
            ),
            Group::Formats => (
                "formats",
                "vmdk, vdi, vpc and qed conversion against qemu-img (`cargo xtask bench formats`)",
            ),
        }
    }

    /// The rows.
    fn cases(self) -> Vec<Case> {
        const W: &[&str] = &["-m", "8", "-W"];
        const RAW_QCOW2: [&str; 4] = ["raw", "qcow2", "src.raw", "out.qcow2"];
        const QCOW2_RAW: [&str; 4] = ["qcow2", "raw", "src.qcow2", "out.raw"];
        const RAW_RAW: [&str; 4] = ["raw", "raw", "src.raw", "out.raw"];
        const RAW_VMDK: [&str; 4] = ["raw", "vmdk", "src.raw", "out.vmdk"];
        match self {
            Group::Qcow2 => vec![
                case("raw -> qcow2", RAW_QCOW2, &[], &[]),
                case("raw -> qcow2 (qemu-img -m 8 -W)", RAW_QCOW2, &[], W),
                case("qcow2 -> raw", QCOW2_RAW, &[], &[]),
                case("qcow2 -> raw (qemu-img -m 8 -W)", QCOW2_RAW, &[], W),
                case("raw -> raw", RAW_RAW, &[], &[]),
                case("raw -> raw (qemu-img -m 8 -W)", RAW_RAW, &[], W),
                Case {
                    runs: 3,
                    goal: Goal::None,
                    then_sync: true,
                    ..case("raw -> qcow2, then sync (both; durable)", RAW_QCOW2, &[], W)
                },
                Case {
                    runs: 1,
                    goal: Goal::Ratio(0.6),
                    ..case(
                        "raw -> qcow2 zlib (qemu-img -c -m 8 -W)",
                        RAW_QCOW2,
                        &["-c"],
                        W,
                    )
                },
                case(
                    "raw -> qcow2 zstd (qemu-img -c -m 8 -W)",
                    RAW_QCOW2,
                    &["-c", "-o", "compression_type=zstd"],
                    W,
                ),
                Case {
                    goal: Goal::Under50ms,
                    ..case(
                        "100 GiB empty raw -> qcow2",
                        ["raw", "qcow2", "sparse100g.raw", "out.qcow2"],
                        &[],
                        &[],
                    )
                },
            ],
            Group::Formats => vec![
                case(
                    "raw -> vmdk monolithicSparse",
                    RAW_VMDK,
                    &["-o", "subformat=monolithicSparse"],
                    &[],
                ),
                Case {
                    runs: 3,
                    goal: Goal::Ratio(0.5),
                    ..case(
                        "raw -> vmdk streamOptimized",
                        RAW_VMDK,
                        &["-o", "subformat=streamOptimized"],
                        &[],
                    )
                },
                case("raw -> vdi", ["raw", "vdi", "src.raw", "out.vdi"], &[], &[]),
                case("raw -> qed", ["raw", "qed", "src.raw", "out.qed"], &[], &[]),
                case(
                    "raw -> vpc (dynamic)",
                    ["raw", "vpc", "src.raw", "out.vhd"],
                    &[],
                    &[],
                ),
                Case {
                    goal: Goal::Under50ms,
                    ..case(
                        "100 GiB empty raw -> vmdk",
                        ["raw", "vmdk", "sparse100g.raw", "out.vmdk"],
                        &[],
                        &[],
                    )
                },
            ],
        }
    }
}

fn disk(group: Group) -> Result<()> {
    let root = crate::project_root();
    let data = root.join("target/bench-data");
    std::fs::create_dir_all(&data)?;
    for tool in ["qemu-img", "/usr/bin/time"] {
        if Command::new(tool).arg("--version").output().is_err() {
            bail!("{tool} is not installed (run `cargo xtask setup`)");
        }
    }
    println!("building the strata-disk example (release)");
    let status = crate::cmd::cargo()
        .args([
            "build",
            "--release",
            "-p",
            "strata-disk",
            "--example",
            "strata-disk",
        ])
        .current_dir(&root)
        .status()?;
    if !status.success() {
        bail!("cargo build failed");
    }
    let target_dir =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from);
    let ours = target_dir.join("release/examples/strata-disk");
    let src = data.join("src.raw");
    if !src.exists() {
        println!("generating {} (4 GiB, ~50 % allocated)", src.display());
        generate_image(&src, SIZE_4G, 0.5)?;
    }
    let qsrc = data.join("src.qcow2");
    if !qsrc.exists() {
        let ok = Command::new("qemu-img")
            .args([
                "convert",
                "-f",
                "raw",
                "-O",
                "qcow2",
                "src.raw",
                "src.qcow2",
            ])
            .current_dir(&data)
            .status()?;
        if !ok.success() {
            bail!("qemu-img convert to src.qcow2 failed");
        }
    }
    let empty = data.join("sparse100g.raw");
    if !empty.exists() {
        File::create(&empty)?.set_len(100 << 30)?;
    }
    let _ = Command::new("sh")
        .args(["-c", "cat src.raw src.qcow2 > /dev/null"])
        .current_dir(&data)
        .status();
    let o = ours.to_string_lossy().into_owned();
    let cases = group.cases();
    let mut table = String::from(
        "| case | runs | qemu-img s | strata s | ratio | goal | qemu-img peak RSS MiB | strata peak RSS MiB |\n|---|---|---|---|---|---|---|---|\n",
    );
    let mut loads = Vec::new();
    for c in &cases {
        let q = command("qemu-img", &c.qemu, c.then_sync);
        let s = command(&o, &c.ours, c.then_sync);
        let out = data.join(c.out);
        let load = load_average();
        let (mq, ms) = measure_pair(&data, &q, &s, &out, c.runs)?;
        let ratio = ms.median_s / mq.median_s;
        let verdict = |met: bool| if met { "met" } else { "**missed**" };
        let goal = match c.goal {
            Goal::Ratio(g) => format!("≤ {g} {}", verdict(ratio <= g)),
            Goal::Under50ms => format!("< 50 ms {}", verdict(ms.median_s < 0.05)),
            Goal::None => "—".to_owned(),
        };
        let line = format!(
            "| {} | {} | {:.3} | {:.3} | {:.2} | {} | {:.1} | {:.1} |",
            c.name,
            c.runs,
            mq.median_s,
            ms.median_s,
            ratio,
            goal,
            mq.rss_kib as f64 / 1024.0,
            ms.rss_kib as f64 / 1024.0
        );
        println!("{line}  (load {load})");
        let _ = writeln!(table, "{line}");
        loads.push(format!("{} {load}", c.name));
    }
    for c in &cases {
        let _ = std::fs::remove_file(data.join(c.out));
    }
    let doc = format!(
        "Produced by `cargo xtask bench disk` (xtask/src/bench.rs), which generates the test data \
under `target/bench-data/` and runs qemu-img and strata's `strata-disk` example (release) in the same \
invocation. Times are medians of whole-process wall times (the `runs` column), qemu-img \
and strata alternating run by run, each after `rm -f OUT; sync` and a quiet gate (a 1 s window under 10 % CPU busy, iowait counted, waiting at most 30 s), sources page-cached; peak RSS is \
`/usr/bin/time`'s maximum resident set. strata runs with `--no-sync`, like qemu-img's default \
`cache=unsafe`; the durable row runs both as `sh -c '… && sync'`.\n\n\
Data: `src.raw`, 4 GiB sparse raw, ~50 % allocated in 1–32 MiB extents of 4–256 KiB chunks (25 % zeros, \
50 % random, 25 % text-like), `src.qcow2` = `qemu-img convert -O qcow2 src.raw`, and a 100 GiB empty raw \
image. Machine: 2 vCPUs shared with other work, so expect ±30 % noise (see perf-anchors.md).\n\n{table}\n\
1-minute load average when each row started (2 vCPUs; above ~1 the times are contended): {}.\n",
        loads.join("; ")
    );
    let docs = root.join("docs");
    std::fs::create_dir_all(&docs)?;
    let (marker, title) = group.section();
    crate::report::write_section(&docs.join("benchmarks.md"), marker, title, &doc)?;
    println!("wrote the {marker} section of docs/benchmarks.md");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cases_give_both_tools_the_same_conversion() {
        let c = case(
            "zstd",
            ["raw", "qcow2", "src.raw", "out.qcow2"],
            &["-c", "-o", "compression_type=zstd"],
            &["-m", "8", "-W"],
        );
        assert_eq!(
            c.qemu,
            [
                "convert",
                "-c",
                "-o",
                "compression_type=zstd",
                "-m",
                "8",
                "-W",
                "-f",
                "raw",
                "-O",
                "qcow2",
                "src.raw",
                "out.qcow2"
            ]
        );
        assert_eq!(
            c.ours,
            [
                "convert",
                "--no-sync",
                "-c",
                "-o",
                "compression_type=zstd",
                "-f",
                "raw",
                "-O",
                "qcow2",
                "src.raw",
                "out.qcow2"
            ]
        );
        assert_eq!(c.out, "out.qcow2");
    }
}
