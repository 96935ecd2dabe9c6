//! `strata-disk`: a thin command-line driver of the crate for tests and benchmarks
//! (`convert`, `info`, `check`, `compare`), with arguments parsed by hand in qemu-img's style.

#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "a command-line example: printing results is its job"
)]

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use strata_disk::qcow2::{Compat, CreateOptions, Preallocation, Qcow2Target};
use strata_disk::qed::{QedCreateOptions, QedTarget};
use strata_disk::vhdx::Subformat as VhdxSubformat;
use strata_disk::vmdk::{AdapterType, Subformat, VmdkCreateOptions, VmdkSplitTarget, VmdkTarget};
use strata_disk::vpc::Subformat as VpcSubformat;
use strata_disk::{
    Compression, ConvertOptions, ConvertTarget, DiskError, DiskImage, Durability, ExtentKind,
    OpenOptions, Output, OutputFile, RawTarget, VdiCreateOptions, VdiTarget, VhdxCreateOptions,
    VhdxTarget, VpcCreateOptions, VpcTarget,
};
use strata_model::DiskFormat;

const USAGE: &str = "\
usage: strata-disk convert [-f FMT] [-O raw|qcow2|qed|vdi|vmdk|vpc|vhdx] [-c] [-o OPTS] [--no-sync] [--progress]
                           [--workers N] [--chunk-size BYTES] SRC DST
       strata-disk info FILE
       strata-disk check FILE
       strata-disk compare A B

convert options (-o, comma-separated): compression_type=zlib|zstd, cluster_size=BYTES,
compat=0.10|1.1, refcount_bits=N, extended_l2=on|off, lazy_refcounts=on|off,
preallocation=off|metadata|falloc|full, level=N (compression level); for vmdk:
subformat=monolithicSparse|streamOptimized|monolithicFlat|twoGbMaxExtentSparse|twoGbMaxExtentFlat
(the last three: a descriptor and extent files beside it), adapter_type=ide|buslogic|lsilogic|legacyESX,
hwversion=N; vdi: static=on|off;
vpc: subformat=dynamic|fixed, force_size=on|off; qed: cluster_size=BYTES, table_size=N;
vhdx: subformat=dynamic|fixed, block_size=BYTES, log_size=BYTES, block_state_zero=on|off.
qemu-img flags -m N and -W are accepted and have no effect (strata always overlaps reads,
compression and writes) but print a warning. --workers: threads that read and write chunks
(0, the default: from the available parallelism); --chunk-size: bytes read at a time.";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(code) => code,
        Err(message) => {
            eprintln!("strata-disk: {message}");
            ExitCode::from(1)
        }
    }
}

fn run(args: &[String]) -> Result<ExitCode, String> {
    let Some((cmd, rest)) = args.split_first() else {
        return Err(USAGE.into());
    };
    match cmd.as_str() {
        "convert" => convert(rest),
        "info" => info(rest),
        "check" => check(rest),
        "compare" => compare(rest),
        "-h" | "--help" | "help" => {
            println!("{USAGE}");
            Ok(ExitCode::SUCCESS)
        }
        other => Err(format!("unknown command {other:?}\n{USAGE}")),
    }
}

fn open(path: &Path, format: Option<DiskFormat>) -> Result<Box<dyn DiskImage>, String> {
    let options = OpenOptions {
        format,
        ..OpenOptions::default()
    };
    strata_disk::open(path, &options)
        .map(|o| o.image)
        .map_err(|e| e.to_string())
}

fn parse_format(s: &str) -> Result<DiskFormat, String> {
    s.parse().map_err(|_| format!("unknown format {s:?}"))
}

fn convert(args: &[String]) -> Result<ExitCode, String> {
    let mut src_format = None;
    let mut out_format = DiskFormat::Raw;
    let mut compress = false;
    let mut opts: Vec<(String, String)> = Vec::new();
    let mut options = ConvertOptions::default();
    let mut show_progress = false;
    let mut durability = Durability::Durable;
    let mut paths: Vec<PathBuf> = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = |flag: &str| {
            it.next()
                .cloned()
                .ok_or_else(|| format!("{flag} needs a value"))
        };
        match a.as_str() {
            "-f" => src_format = Some(parse_format(&value("-f")?)?),
            "-O" => out_format = parse_format(&value("-O")?)?,
            "-c" => compress = true,
            "-o" => {
                for kv in value("-o")?.split(',') {
                    let (k, v) = kv
                        .split_once('=')
                        .ok_or_else(|| format!("bad -o option {kv:?}"))?;
                    opts.push((k.to_owned(), v.to_owned()));
                }
            }
            "-m" => {
                value("-m")?;
                eprintln!("strata-disk: warning: -m has no effect");
            }
            "-W" => eprintln!("strata-disk: warning: -W has no effect"),
            "--workers" => {
                options.workers = value("--workers")?
                    .parse()
                    .map_err(|_| "bad --workers value".to_string())?
            }
            "--chunk-size" => {
                options.chunk_size = value("--chunk-size")?
                    .parse()
                    .map_err(|_| "bad --chunk-size value".to_string())?
            }
            "--no-sync" => durability = Durability::Volatile,
            "--progress" | "-p" => show_progress = true,
            s if s.starts_with('-') => return Err(format!("unknown option {s:?}\n{USAGE}")),
            _ => paths.push(PathBuf::from(a)),
        }
    }
    let [src, dst] = paths.as_slice() else {
        return Err(format!("convert needs SRC and DST\n{USAGE}"));
    };
    let source = open(src, src_format)?;
    let size = source.virtual_size();
    let mut create = CreateOptions::new(size);
    let mut vmdk = VmdkCreateOptions::new(size);
    let mut vdi = VdiCreateOptions::new(size);
    let mut vpc = VpcCreateOptions::new(size);
    let mut qed = QedCreateOptions::new(size);
    let mut vhdx = VhdxCreateOptions::new(size);
    let mut kind = "zlib".to_owned();
    let mut level: Option<i64> = None;
    for (k, v) in &opts {
        let num = || {
            v.parse::<u64>()
                .map_err(|_| format!("bad value {v:?} for {k}"))
        };
        let on = || match v.as_str() {
            "on" | "true" | "yes" => Ok(true),
            "off" | "false" | "no" => Ok(false),
            _ => Err(format!("bad value {v:?} for {k}")),
        };
        match (out_format, k.as_str()) {
            (DiskFormat::Vdi, "static") => vdi.static_image = on()?,
            (DiskFormat::Vpc, "force_size") => vpc.force_size = on()?,
            (DiskFormat::Vpc, "subformat") => {
                vpc.subformat = match v.as_str() {
                    "dynamic" => VpcSubformat::Dynamic,
                    "fixed" => VpcSubformat::Fixed,
                    _ => return Err(format!("bad subformat {v:?}")),
                }
            }
            (DiskFormat::Vhdx, "subformat") => {
                vhdx.subformat = match v.as_str() {
                    "dynamic" => VhdxSubformat::Dynamic,
                    "fixed" => VhdxSubformat::Fixed,
                    _ => return Err(format!("bad subformat {v:?}")),
                }
            }
            (DiskFormat::Vhdx, "block_size") => vhdx.block_size = Some(num()?),
            (DiskFormat::Vhdx, "log_size") => vhdx.log_size = num()?,
            (DiskFormat::Vhdx, "block_state_zero") => vhdx.block_state_zero = on()?,
            (DiskFormat::Vdi | DiskFormat::Vpc | DiskFormat::Vhdx, _) => {
                return Err(format!("unknown -o option {k:?} for {out_format}"));
            }
            _ => {}
        }
        if matches!(
            out_format,
            DiskFormat::Vdi | DiskFormat::Vpc | DiskFormat::Vhdx
        ) {
            continue;
        }
        match k.as_str() {
            "compression_type" => kind = v.clone(),
            "cluster_size" => {
                create.cluster_size = num()?;
                qed.cluster_size = u32::try_from(num()?).map_err(|e| e.to_string())?;
            }
            "table_size" if out_format == DiskFormat::Qed => {
                qed.table_size = u32::try_from(num()?).map_err(|e| e.to_string())?
            }
            "refcount_bits" => {
                create.refcount_bits = u32::try_from(num()?).map_err(|e| e.to_string())?
            }
            "level" => level = Some(i64::try_from(num()?).map_err(|e| e.to_string())?),
            "subformat" => {
                vmdk.subformat = match v.as_str() {
                    "monolithicSparse" => Subformat::MonolithicSparse,
                    "streamOptimized" => Subformat::StreamOptimized,
                    "monolithicFlat" => Subformat::MonolithicFlat,
                    "twoGbMaxExtentSparse" => Subformat::TwoGbMaxExtentSparse,
                    "twoGbMaxExtentFlat" => Subformat::TwoGbMaxExtentFlat,
                    _ => return Err(format!("unsupported vmdk subformat {v:?}")),
                }
            }
            "adapter_type" => {
                vmdk.adapter_type = match v.as_str() {
                    "ide" => AdapterType::Ide,
                    "buslogic" => AdapterType::Buslogic,
                    "lsilogic" => AdapterType::Lsilogic,
                    "legacyESX" => AdapterType::LegacyEsx,
                    _ => return Err(format!("bad adapter_type {v:?}")),
                }
            }
            "hwversion" => vmdk.hw_version = v.clone(),
            "extended_l2" => create.extended_l2 = on()?,
            "lazy_refcounts" => create.lazy_refcounts = on()?,
            "preallocation" => {
                create.preallocation = match v.as_str() {
                    "off" => Preallocation::Off,
                    "metadata" => Preallocation::Metadata,
                    "falloc" => Preallocation::Falloc,
                    "full" => Preallocation::Full,
                    _ => return Err(format!("bad preallocation {v:?}")),
                }
            }
            "compat" => {
                create.compat = match v.as_str() {
                    "0.10" => Compat::V0_10,
                    "1.1" | "v3" => Compat::V1_1,
                    _ => return Err(format!("bad compat {v:?}")),
                }
            }
            _ => return Err(format!("unknown -o option {k:?}")),
        }
    }
    if compress {
        let c = match kind.as_str() {
            "zlib" => Compression::Zlib {
                level: level.map_or(6, |l| l as u32),
            },
            "zstd" => Compression::Zstd {
                level: level.map_or(3, |l| l as i32),
            },
            other => return Err(format!("unknown compression type {other:?}")),
        };
        options.compression = Some(c);
        create.compression = Some(c);
    }
    let mut out = OutputFile::create(dst, durability).map_err(s)?;
    // A multi-file vmdk's extents, beside the descriptor, committed before it.
    let mut extents: Vec<OutputFile> = Vec::new();
    let target: Box<dyn ConvertTarget> = match out_format {
        DiskFormat::Raw if compress => return Err("raw output cannot be compressed".into()),
        DiskFormat::Raw => Box::new(RawTarget::create(&mut out, size).map_err(s)?),
        DiskFormat::Qcow2 => Box::new(Qcow2Target::create(&mut out, &create).map_err(s)?),
        DiskFormat::Vmdk if compress => {
            return Err("vmdk output is compressed with -o subformat=streamOptimized".into());
        }
        DiskFormat::Vmdk => {
            if let Some(l) = level {
                vmdk.level = u32::try_from(l).map_err(|e| e.to_string())?;
            }
            if vmdk.subformat == Subformat::StreamOptimized {
                options.compression = Some(Compression::Deflate { level: vmdk.level });
            }
            if vmdk.subformat.is_multi_file() {
                let name = dst.file_name().map(|n| n.to_string_lossy().into_owned());
                let files = vmdk
                    .extent_files(&name.unwrap_or_default())
                    .map_err(|e| e.to_string())?;
                for f in &files {
                    let path = dst.with_file_name(&f.name);
                    extents.push(OutputFile::create(&path, durability).map_err(s)?);
                }
                let outs: Vec<&mut dyn Output> =
                    extents.iter_mut().map(|o| o as &mut dyn Output).collect();
                Box::new(VmdkSplitTarget::create(&mut out, outs, &vmdk).map_err(s)?)
            } else {
                Box::new(VmdkTarget::create(&mut out, &vmdk).map_err(s)?)
            }
        }
        DiskFormat::Vdi | DiskFormat::Vpc | DiskFormat::Vhdx if compress => {
            return Err(format!("{out_format} output cannot be compressed"));
        }
        DiskFormat::Vdi => Box::new(VdiTarget::create(&mut out, &vdi).map_err(s)?),
        DiskFormat::Vpc => Box::new(VpcTarget::create(&mut out, &vpc).map_err(s)?),
        DiskFormat::Vhdx => Box::new(VhdxTarget::create(&mut out, &vhdx).map_err(s)?),
        DiskFormat::Qed if compress => return Err("qed output cannot be compressed".into()),
        DiskFormat::Qed => Box::new(QedTarget::create(&mut out, &qed).map_err(s)?),
    };
    let progress = |p: strata_disk::Progress| {
        if show_progress && p.total > 0 {
            eprint!("\r    ({:.2}/100%)", p.done as f64 * 100.0 / p.total as f64);
        }
    };
    strata_disk::convert(source.as_ref(), target, &options, &progress).map_err(s)?;
    if show_progress {
        eprintln!();
    }
    for extent in extents {
        extent.commit().map_err(s)?;
    }
    out.commit().map_err(s)?;
    Ok(ExitCode::SUCCESS)
}

fn s(e: DiskError) -> String {
    e.to_string()
}

fn single(args: &[String], cmd: &str) -> Result<PathBuf, String> {
    match args {
        [p] => Ok(PathBuf::from(p)),
        _ => Err(format!("{cmd} needs one FILE\n{USAGE}")),
    }
}

fn open_qcow2(path: &Path) -> Result<strata_disk::Qcow2Image, String> {
    let file = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    strata_disk::Qcow2Image::open(Box::new(file))
        .map(|i| i.with_path(path))
        .map_err(s)
}

fn probe_file(path: &Path) -> Result<DiskFormat, String> {
    let file = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    strata_disk::probe(&file).map_err(|e| format!("{}: {e}", path.display()))
}

/// The top layer alone, for `info` and `check` of formats other than qcow2.
fn open_top(path: &Path) -> Result<strata_disk::Opened, String> {
    let options = OpenOptions {
        no_backing: true,
        ..OpenOptions::default()
    };
    strata_disk::open(path, &options).map_err(s)
}

fn info(args: &[String]) -> Result<ExitCode, String> {
    let path = single(args, "info")?;
    if probe_file(&path)? != DiskFormat::Qcow2 {
        let opened = open_top(&path)?;
        println!("image: {}", path.display());
        println!("file format: {}", opened.format.name());
        println!("virtual size: {}", opened.image.virtual_size());
        if let Some(b) = opened.image.backing_file() {
            println!("backing file: {}", b.name);
            if let Some(f) = b.format {
                println!("backing file format: {}", f.name());
            }
        }
        return Ok(ExitCode::SUCCESS);
    }
    let image = open_qcow2(&path)?;
    let info = strata_disk::qcow2::info(&image, &path.to_string_lossy(), None);
    println!("{info:#?}");
    Ok(ExitCode::SUCCESS)
}

fn check(args: &[String]) -> Result<ExitCode, String> {
    let path = single(args, "check")?;
    if probe_file(&path)? != DiskFormat::Qcow2 {
        // Other formats: every table entry is validated while the whole image is mapped, and
        // every allocated block is read (for vmdk, as qemu's check: every grain found and,
        // compressed, inflated).
        let opened = open_top(&path)?;
        let image = &opened.image;
        let size = image.virtual_size();
        let mut buf = vec![0u8; 1 << 20];
        let mut pos = 0u64;
        while pos < size {
            let e = image.map(pos, size - pos).map_err(s)?;
            if e.kind == ExtentKind::Data {
                let mut p = e.offset;
                while p < e.end() {
                    let n = (e.end() - p).min(buf.len() as u64) as usize;
                    image.read_at(&mut buf[..n], p).map_err(s)?;
                    p += n as u64;
                }
            }
            pos = e.end();
        }
        println!("No errors were found on the image.");
        return Ok(ExitCode::SUCCESS);
    }
    let image = open_qcow2(&path)?;
    let report = strata_disk::qcow2::check(&image, &path.to_string_lossy()).map_err(s)?;
    if report.is_clean() {
        println!("No errors were found on the image.");
        Ok(ExitCode::SUCCESS)
    } else {
        println!("{report:#?}");
        Ok(ExitCode::from(2))
    }
}

/// Compares guest contents, skipping ranges both sides know to be zeros.
fn compare(args: &[String]) -> Result<ExitCode, String> {
    let [a, b] = args else {
        return Err(format!("compare needs two files\n{USAGE}"));
    };
    let (ia, ib) = (open(Path::new(a), None)?, open(Path::new(b), None)?);
    let size = ia.virtual_size().max(ib.virtual_size());
    let mut pos = 0u64;
    let mut ba = vec![0u8; 4 << 20];
    let mut bb = vec![0u8; 4 << 20];
    while pos < size {
        let status = |img: &dyn DiskImage, len: u64| -> Result<(ExtentKind, u64), String> {
            if pos >= img.virtual_size() {
                return Ok((ExtentKind::Zero, len));
            }
            let e = img
                .block_status(pos, len.min(img.virtual_size() - pos))
                .map_err(s)?;
            Ok((e.kind, e.length))
        };
        let (ka, la) = status(ia.as_ref(), size - pos)?;
        let (kb, lb) = status(ib.as_ref(), size - pos)?;
        let len = la.min(lb).min(ba.len() as u64);
        if ka != ExtentKind::Zero || kb != ExtentKind::Zero {
            let n = len as usize;
            for (img, buf) in [(ia.as_ref(), &mut ba), (ib.as_ref(), &mut bb)] {
                let avail = img.virtual_size().saturating_sub(pos).min(len) as usize;
                buf[..n].fill(0);
                if avail > 0 {
                    img.read_at(&mut buf[..avail], pos).map_err(s)?;
                }
            }
            if let Some(i) = ba[..n].iter().zip(&bb[..n]).position(|(x, y)| x != y) {
                println!("Content mismatch at offset {}!", pos + i as u64);
                return Ok(ExitCode::from(1));
            }
        }
        pos += len;
    }
    println!("Images are identical.");
    Ok(ExitCode::SUCCESS)
}
