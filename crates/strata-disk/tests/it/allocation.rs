//! Zero data is never stored as data: for every format strata writes, a source with data,
//! written zeros (zero bytes the file system holds as data) and holes, each at 4 KiB to MiB
//! scales, converted by strata and by `qemu-img convert`. What strata allocates must match
//! what qemu-img allocates: the guest data `qemu-img map` reports within 1 %, the file's
//! allocated size no more than 1 % above qemu-img's (below is fine: qemu-img allocates some
//! zeros, such as whole dynamic vdi blocks and the rest of a 2 MiB qcow2 cluster), and both
//! `qemu-img compare` equal to the source. qemu-img's write options are cases of their own
//! (qcow2 `extended_l2` and `preallocation`, vhdx, the multi-file vmdk subformats, whose
//! files are counted together).

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::Command;

use strata_disk::qcow2::{CreateOptions, Preallocation, Qcow2Target};
use strata_disk::qed::{QedCreateOptions, QedTarget};
use strata_disk::vmdk::{Subformat, VmdkCreateOptions, VmdkTarget};
use strata_disk::vpc::Subformat as VpcSubformat;
use strata_disk::{
    ConvertOptions, ConvertTarget, DiskError, Durability, OutputFile, RawTarget, VdiCreateOptions,
    VdiTarget, VhdxCreateOptions, VhdxTarget, VpcCreateOptions, VpcTarget, convert,
};

use crate::fixtures;
use crate::write::qemu_compare;

/// The source: 64 MiB, data at 4 KiB to 1 MiB, zeros written beside it and apart from it
/// (3 KiB of data in a 4 KiB block; 200 KiB, 3 MiB, 2 MiB and 5 MiB of zeros after data; 60
/// KiB of zeros that end a 64 KiB cluster), holes everywhere else.
const WRITES: &[&str] = &[
    "write -P 0x11 0 12k",
    "write -P 0 12k 200k",
    "write -P 0x22 300k 3k",
    "write -P 0 1M 3M",
    "write -P 0x33 4M 64k",
    "write -P 0 4160k 60k",
    "write -P 0x44 8M 4k",
    "write -P 0 8196k 2044k",
    "write -P 0x55 20M 1M",
    "write -P 0 21M 5M",
    "write -P 0x66 40M 4k",
    "write -P 0 40964k 100k",
    "write -P 0x77 63M 1M",
];

const SIZE: u64 = 64 << 20;

/// One output: its format, qemu-img's `-o` options and strata's target with the same.
struct Case {
    format: &'static str,
    options: &'static str,
    target: fn(&mut OutputFile) -> Result<Box<dyn ConvertTarget + '_>, DiskError>,
}

fn cases() -> Vec<Case> {
    fn qcow2(out: &mut OutputFile, cluster_size: u64) -> Box<dyn ConvertTarget + '_> {
        let options = CreateOptions {
            cluster_size,
            ..CreateOptions::new(SIZE)
        };
        Box::new(Qcow2Target::create(out, &options).unwrap())
    }
    fn qcow2_with(out: &mut OutputFile, options: CreateOptions) -> Box<dyn ConvertTarget + '_> {
        Box::new(Qcow2Target::create(out, &options).unwrap())
    }
    fn prealloc(preallocation: Preallocation) -> CreateOptions {
        CreateOptions {
            preallocation,
            ..CreateOptions::new(SIZE)
        }
    }
    fn vhdx(
        out: &mut OutputFile,
        subformat: strata_disk::vhdx::Subformat,
    ) -> Box<dyn ConvertTarget + '_> {
        let options = VhdxCreateOptions {
            subformat,
            ..VhdxCreateOptions::new(SIZE)
        };
        Box::new(VhdxTarget::create(out, &options).unwrap())
    }
    fn qed(out: &mut OutputFile, cluster_size: u32) -> Box<dyn ConvertTarget + '_> {
        let options = QedCreateOptions {
            cluster_size,
            ..QedCreateOptions::new(SIZE)
        };
        Box::new(QedTarget::create(out, &options).unwrap())
    }
    fn vdi(out: &mut OutputFile, static_image: bool) -> Box<dyn ConvertTarget + '_> {
        let options = VdiCreateOptions {
            static_image,
            ..VdiCreateOptions::new(SIZE)
        };
        Box::new(VdiTarget::create(out, &options).unwrap())
    }
    fn vpc(out: &mut OutputFile, subformat: VpcSubformat) -> Box<dyn ConvertTarget + '_> {
        let options = VpcCreateOptions {
            subformat,
            ..VpcCreateOptions::new(SIZE)
        };
        Box::new(VpcTarget::create(out, &options).unwrap())
    }
    vec![
        Case {
            format: "raw",
            options: "",
            target: |out| Ok(Box::new(RawTarget::create(out, SIZE)?)),
        },
        Case {
            format: "qcow2",
            options: "cluster_size=4k",
            target: |out| Ok(qcow2(out, 4 << 10)),
        },
        Case {
            format: "qcow2",
            options: "cluster_size=64k",
            target: |out| Ok(qcow2(out, 64 << 10)),
        },
        Case {
            format: "qcow2",
            options: "cluster_size=128k",
            target: |out| Ok(qcow2(out, 128 << 10)),
        },
        Case {
            format: "qcow2",
            options: "cluster_size=2M",
            target: |out| Ok(qcow2(out, 2 << 20)),
        },
        Case {
            format: "qcow2",
            options: "extended_l2=on",
            target: |out| {
                let options = CreateOptions {
                    extended_l2: true,
                    ..CreateOptions::new(SIZE)
                };
                Ok(qcow2_with(out, options))
            },
        },
        Case {
            format: "qcow2",
            options: "extended_l2=on,cluster_size=2M",
            target: |out| {
                let options = CreateOptions {
                    extended_l2: true,
                    cluster_size: 2 << 20,
                    ..CreateOptions::new(SIZE)
                };
                Ok(qcow2_with(out, options))
            },
        },
        Case {
            format: "qcow2",
            options: "preallocation=metadata",
            target: |out| Ok(qcow2_with(out, prealloc(Preallocation::Metadata))),
        },
        Case {
            format: "qcow2",
            options: "preallocation=falloc",
            target: |out| Ok(qcow2_with(out, prealloc(Preallocation::Falloc))),
        },
        Case {
            format: "qcow2",
            options: "preallocation=full",
            target: |out| Ok(qcow2_with(out, prealloc(Preallocation::Full))),
        },
        Case {
            format: "qed",
            options: "cluster_size=4k",
            target: |out| Ok(qed(out, 4 << 10)),
        },
        Case {
            format: "qed",
            options: "cluster_size=64k",
            target: |out| Ok(qed(out, 64 << 10)),
        },
        Case {
            format: "vdi",
            options: "static=off",
            target: |out| Ok(vdi(out, false)),
        },
        Case {
            format: "vdi",
            options: "static=on",
            target: |out| Ok(vdi(out, true)),
        },
        Case {
            format: "vpc",
            options: "subformat=dynamic",
            target: |out| Ok(vpc(out, VpcSubformat::Dynamic)),
        },
        Case {
            format: "vpc",
            options: "subformat=fixed",
            target: |out| Ok(vpc(out, VpcSubformat::Fixed)),
        },
        Case {
            format: "vmdk",
            options: "subformat=monolithicSparse",
            target: |out| {
                Ok(Box::new(VmdkTarget::create(
                    out,
                    &VmdkCreateOptions::new(SIZE),
                )?))
            },
        },
        Case {
            format: "vhdx",
            options: "subformat=dynamic",
            target: |out| Ok(vhdx(out, strata_disk::vhdx::Subformat::Dynamic)),
        },
        Case {
            format: "vhdx",
            options: "subformat=fixed",
            target: |out| Ok(vhdx(out, strata_disk::vhdx::Subformat::Fixed)),
        },
    ]
}

/// Guest bytes `qemu-img map` reports as data in `path` of `format`.
fn mapped_data(path: &Path, format: &str) -> u64 {
    let json = fixtures::qemu_json(
        path.parent().unwrap(),
        &["map", "--output=json", "-f", format, path.to_str().unwrap()],
    );
    json.as_array()
        .unwrap()
        .iter()
        .filter(|e| e["data"].as_bool().unwrap())
        .map(|e| e["length"].as_u64().unwrap())
        .sum()
}

/// The bytes the file system allocates to `path`.
fn allocated(path: &Path) -> u64 {
    std::fs::metadata(path).unwrap().blocks() * 512
}

/// The bytes the file system allocates to the files in `dir`.
fn allocated_in(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| allocated(&e.unwrap().path()))
        .sum()
}

/// Checks strata's image `ours` of `format` against qemu-img's `theirs`, each with the bytes
/// its files allocate: the data `qemu-img map` reports within 1 %, the allocation at most 1 %
/// above; returns the line of the report.
fn measure(name: &str, format: &str, theirs: (&Path, u64), ours: (&Path, u64)) -> String {
    let (map_q, map_s) = (mapped_data(theirs.0, format), mapped_data(ours.0, format));
    let (alloc_q, alloc_s) = (theirs.1, ours.1);
    assert!(
        map_s.abs_diff(map_q) * 100 <= map_q,
        "{name}: {map_s} bytes of data mapped, qemu-img {map_q}"
    );
    assert!(
        alloc_s * 100 <= alloc_q * 101,
        "{name}: {alloc_s} bytes allocated, qemu-img {alloc_q}"
    );
    format!("{name}: map {map_s} (qemu-img {map_q}), allocated {alloc_s} (qemu-img {alloc_q})")
}

fn qemu_img(args: &[&str]) {
    let out = Command::new("qemu-img").args(args).output().unwrap();
    assert!(
        out.status.success(),
        "qemu-img {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
#[allow(
    clippy::print_stdout,
    reason = "the measures are the test's report (run with --nocapture to see them)"
)]
fn every_format_allocates_what_qemu_img_allocates() {
    if !fixtures::have_qemu("every_format_allocates_what_qemu_img_allocates") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src.raw");
    let src_arg = src.to_str().unwrap();
    qemu_img(&["create", "-q", "-f", "raw", src_arg, "64M"]);
    let mut io = Command::new("qemu-io");
    io.args(["-f", "raw"]);
    for w in WRITES {
        io.args(["-c", w]);
    }
    assert!(io.arg(&src).output().unwrap().status.success());
    let source = strata_disk::RawImage::from_file(std::fs::File::open(&src).unwrap()).unwrap();
    let mut report = Vec::new();
    for case in cases() {
        let name = format!("{} {}", case.format, case.options);
        let theirs = dir.path().join(format!("qemu.{}", case.format));
        let mut args = vec!["convert", "-f", "raw", "-O", case.format];
        if !case.options.is_empty() {
            args.extend(["-o", case.options]);
        }
        args.extend([src_arg, theirs.to_str().unwrap()]);
        qemu_img(&args);
        let ours = dir.path().join(format!("strata.{}", case.format));
        let mut out = OutputFile::create(&ours, Durability::Volatile).unwrap();
        let target = (case.target)(&mut out).unwrap();
        convert(&source, target, &ConvertOptions::default(), &|_| {}).unwrap();
        out.commit().unwrap();
        qemu_compare(&src, "raw", &ours, case.format);
        if matches!(case.format, "qcow2" | "qed" | "vdi" | "vhdx") {
            crate::write::qemu_check_clean(&ours);
        }
        let (alloc_q, alloc_s) = (allocated(&theirs), allocated(&ours));
        report.push(measure(
            &name,
            case.format,
            (&theirs, alloc_q),
            (&ours, alloc_s),
        ));
    }
    // The multi-file vmdk subformats: a descriptor and its extents, in a directory each.
    for subformat in [
        Subformat::MonolithicFlat,
        Subformat::TwoGbMaxExtentFlat,
        Subformat::TwoGbMaxExtentSparse,
    ] {
        let name = format!("vmdk subformat={}", subformat.name());
        let (dir_q, dir_s) = (
            dir.path().join(format!("qemu-{}", subformat.name())),
            dir.path().join(format!("strata-{}", subformat.name())),
        );
        std::fs::create_dir(&dir_q).unwrap();
        std::fs::create_dir(&dir_s).unwrap();
        let (theirs, ours) = (dir_q.join("disk.vmdk"), dir_s.join("disk.vmdk"));
        let options = format!("subformat={}", subformat.name());
        qemu_img(&[
            "convert",
            "-f",
            "raw",
            "-O",
            "vmdk",
            "-o",
            &options,
            src_arg,
            theirs.to_str().unwrap(),
        ]);
        let opts = VmdkCreateOptions {
            subformat,
            ..VmdkCreateOptions::new(SIZE)
        };
        crate::vmdk::write_split(&source, &ours, &opts);
        qemu_compare(&src, "raw", &ours, "vmdk");
        let (alloc_q, alloc_s) = (allocated_in(&dir_q), allocated_in(&dir_s));
        report.push(measure(&name, "vmdk", (&theirs, alloc_q), (&ours, alloc_s)));
    }
    // On failure above, the cases before it; with --nocapture, all of them.
    println!("{}", report.join("\n"));
}
