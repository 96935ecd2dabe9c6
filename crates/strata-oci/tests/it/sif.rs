//! SIF and `.simg`: fixtures made with mksquashfs and the crate's SIF writer (apptainer's
//! published layout), cross-read by the PyPI `sif` package where installed; the converted
//! layer unpacked equals what `unsquashfs` extracts; hostile headers, one field changed at a
//! time, give their exact error.

use std::path::Path;
use std::process::Command;

use strata_oci::sif::header::{MAX_DESCRIPTORS, Sif};
use strata_oci::sif::{SifError, SifImage};
use strata_oci::{OciError, unpack_image};
use strata_testkit::{mksquashfs, tree_listing, unsquashfs, write_sif, write_simg};

use crate::common::trusted;

fn sh(script: &str, dir: &Path) {
    let st = Command::new("sh")
        .arg("-ec")
        .arg(script)
        .current_dir(dir)
        .status()
        .unwrap();
    assert!(st.success(), "{script}");
}

fn is_root() -> bool {
    rustix_uid() == 0
}

fn rustix_uid() -> u32 {
    let out = Command::new("id").arg("-u").output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

/// A tree with every kind of node squashfs holds (devices only as root), odd modes, owners and
/// mtimes, a file over one squashfs block, and a hardlink pair.
pub(crate) fn fixture_tree(dir: &Path) {
    sh(
        "mkdir -p root/etc root/usr/bin root/empty root/deep/a/b/c
         printf 'hello\\n' > root/etc/hostname
         head -c 300000 /dev/urandom > root/usr/bin/big
         : > root/etc/empty-file
         printf 'x' > root/usr/bin/tool
         chmod 4755 root/usr/bin/tool
         chmod 0600 root/etc/hostname
         chmod 1777 root/empty
         ln root/usr/bin/tool root/usr/bin/tool-link
         ln -s ../etc/hostname root/usr/hostname-link
         ln -s /absolute/target root/abs-link
         mkfifo root/fifo
         printf 'deep' > root/deep/a/b/c/file
         touch -h -d '2001-02-03 04:05:06' root/etc/hostname root/usr/hostname-link root/deep/a/b/c/file",
        dir,
    );
    if is_root() {
        sh(
            "chown 1000:1001 root/etc/hostname
             chown -h 1234:5678 root/usr/hostname-link
             mknod root/null c 1 3
             mknod root/loop b 7 300",
            dir,
        );
    }
}

fn convert(file: &Path) -> strata_oci::Result<SifImage> {
    let tmp = tempfile::tempdir().unwrap();
    // The image keeps its temporary directory: leak the parent for the test's duration.
    let parent = tmp.keep();
    SifImage::open_in(file, &parent)
}

/// Unpacked as a trusted image (device nodes, setuid bits), to compare with unsquashfs.
fn unpacked(img: &SifImage, dest: &Path) {
    unpack_image(img, &img.image, dest, &trusted()).unwrap();
}

fn sif_package_reads(file: &Path) -> Option<serde_json::Value> {
    let script = "import json,sys,logging\n\
        from sif.main import SIFHeader\n\
        h = SIFHeader(sys.argv[1])\n\
        p = h.desc['partition']\n\
        print(json.dumps({'meta': h.meta, 'fstype': p['fstype'], 'partype': p['partype'],\n\
          'off': p['Fileoff'], 'len': p['Filelen'], 'datatype': p['Datatype'],\n\
          'def': h.desc['deffile']['content']}))";
    let installed = Command::new("python3")
        .args(["-c", "import sif.main"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !strata_testkit::peer(
        "the cross-read",
        "the PyPI sif package (pip install sif==0.0.11)",
        installed,
    ) {
        return None;
    }
    let out = Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "the PyPI sif package cannot read {}: {}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .rfind(|l| l.starts_with('{'))
        .unwrap_or_else(|| panic!("no JSON line in the sif package's output: {text}"));
    Some(serde_json::from_str(line).unwrap())
}

#[test]
fn sif_converts_to_a_layer_equal_to_unsquashfs_and_is_cross_read() {
    let dir = tempfile::tempdir().unwrap();
    fixture_tree(dir.path());
    let Some(squashfs) = mksquashfs(&dir.path().join("root"), &[]) else {
        return;
    };
    let sif = write_sif(&squashfs, b"Bootstrap: scratch\n", "02");
    let file = dir.path().join("img.sif");
    std::fs::write(&file, &sif).unwrap();

    let parsed = Sif::parse(&sif).unwrap();
    let part = parsed.primary_partition().unwrap();
    assert_eq!(parsed.header.version, "01");
    assert_eq!(parsed.header.arch, "02");
    assert_eq!(parsed.header.descriptors_total, 48);
    assert_eq!(part.id, 2);
    assert_eq!(part.size, squashfs.len() as u64);
    if let Some(py) = sif_package_reads(&file) {
        assert_eq!(py["meta"]["dtotal"], 48);
        assert_eq!(py["meta"]["descroff"], 4096);
        assert_eq!(py["meta"]["dataoff"], 32768);
        assert_eq!(py["meta"]["arch"], "02");
        assert_eq!(py["datatype"], 0x4004);
        assert_eq!(py["fstype"], 1);
        assert_eq!(py["partype"], 2);
        assert_eq!(py["off"], part.offset);
        assert_eq!(py["len"], part.size);
        assert_eq!(py["def"], "Bootstrap: scratch\n");
    }

    let img = convert(&file).unwrap();
    assert_eq!(img.image.layers().len(), 1);
    assert_eq!(img.image.diff_ids.len(), 1);
    assert_eq!(
        img.image.layers()[0].media_type().to_string(),
        strata_oci::sif::layer::LAYER_MEDIA_TYPE
    );
    let config: serde_json::Value = serde_json::from_slice(&img.image.config_bytes).unwrap();
    assert_eq!(config["architecture"], "amd64");
    assert_eq!(config["os"], "linux");

    let ours = dir.path().join("ours");
    unpacked(&img, &ours);
    let theirs = dir.path().join("theirs");
    let sq = dir.path().join("fs.squashfs");
    std::fs::write(&sq, &squashfs).unwrap();
    unsquashfs(&sq, &theirs);
    let (ours, theirs) = (tree_listing(&ours), tree_listing(&theirs));
    assert_eq!(ours, theirs);
    assert!(
        ours["usr/bin/tool-link"].starts_with("hardlink to usr/bin/tool"),
        "{ours:#?}"
    );
    assert!(ours.contains_key("fifo"));
    if is_root() {
        assert!(ours["etc/hostname"].contains(" 1000:1001 "), "{ours:#?}");
        assert!(ours["null"].starts_with("char "), "{ours:#?}");
    }

    // The conversion is reproducible: the same SIF gives the same image.
    let again = convert(&file).unwrap();
    assert_eq!(again.image.manifest_bytes, img.image.manifest_bytes);
}

#[test]
fn xz_and_zstd_squashfs_partitions_are_read() {
    let dir = tempfile::tempdir().unwrap();
    sh("mkdir root && printf 'a' > root/a", dir.path());
    for comp in ["xz", "zstd"] {
        let Some(squashfs) = mksquashfs(&dir.path().join("root"), &["-comp", comp]) else {
            return;
        };
        let file = dir.path().join(format!("{comp}.sif"));
        std::fs::write(&file, write_sif(&squashfs, b"", "04")).unwrap();
        let img = convert(&file).unwrap();
        let config: serde_json::Value = serde_json::from_slice(&img.image.config_bytes).unwrap();
        assert_eq!(config["architecture"], "arm64");
        let out = dir.path().join(format!("out-{comp}"));
        unpacked(&img, &out);
        assert_eq!(std::fs::read(out.join("a")).unwrap(), b"a");
    }
}

#[test]
fn simg_converts_like_sif() {
    let dir = tempfile::tempdir().unwrap();
    fixture_tree(dir.path());
    let Some(squashfs) = mksquashfs(&dir.path().join("root"), &[]) else {
        return;
    };
    let file = dir.path().join("img.simg");
    std::fs::write(&file, write_simg(&squashfs)).unwrap();
    let img = convert(&file).unwrap();
    let ours = dir.path().join("ours");
    unpacked(&img, &ours);
    let theirs = dir.path().join("theirs");
    let sq = dir.path().join("fs.squashfs");
    std::fs::write(&sq, &squashfs).unwrap();
    unsquashfs(&sq, &theirs);
    assert_eq!(tree_listing(&ours), tree_listing(&theirs));

    // The same squashfs inside a SIF gives the same layer.
    let sif = dir.path().join("img.sif");
    std::fs::write(&sif, write_sif(&squashfs, b"", "02")).unwrap();
    assert_eq!(convert(&sif).unwrap().image.diff_ids, img.image.diff_ids);
}

fn valid_sif() -> Vec<u8> {
    // A tiny valid squashfs is not needed to test the header: any bytes as the partition.
    write_sif(&[0x42; 100], b"def", "02")
}

fn set_i64(b: &mut [u8], at: usize, v: i64) {
    b[at..at + 8].copy_from_slice(&v.to_le_bytes());
}

/// Descriptor `i`'s field at `at` (offsets as in `rawDescriptor`).
fn descr(i: usize, at: usize) -> usize {
    4096 + 585 * i + at
}

#[test]
fn hostile_headers_one_field_each_give_their_exact_error() {
    let valid = valid_sif();
    let len = valid.len() as u64;
    let part_off = Sif::parse(&valid).unwrap().descriptors[1].offset;
    type Mutation = (&'static str, Box<dyn Fn(&mut Vec<u8>)>, SifError);
    let cases: Vec<Mutation> = vec![
        ("magic", Box::new(|b| b[32] = b'X'), SifError::BadMagic),
        (
            "version",
            Box::new(|b| b[42..44].copy_from_slice(b"99")),
            SifError::UnsupportedVersion {
                version: "99".into(),
            },
        ),
        (
            "descriptor count huge",
            Box::new(|b| set_i64(b, 88, i64::MAX)),
            SifError::TooManyDescriptors {
                count: i64::MAX as u64,
                max: MAX_DESCRIPTORS,
            },
        ),
        (
            "descriptor count negative",
            Box::new(|b| set_i64(b, 88, -1)),
            SifError::NegativeField {
                field: "descriptors_total",
                value: -1,
            },
        ),
        (
            "descriptor table past the end",
            Box::new(move |b| set_i64(b, 96, len as i64 - 100)),
            SifError::DescriptorTableOutOfBounds {
                offset: len - 100,
                len: 48 * 585,
                file_len: len,
            },
        ),
        (
            "descriptor table offset overflows",
            Box::new(|b| set_i64(b, 96, i64::MAX)),
            SifError::DescriptorTableOutOfBounds {
                offset: i64::MAX as u64,
                len: 48 * 585,
                file_len: len,
            },
        ),
        (
            "object offset past the end",
            Box::new(move |b| set_i64(b, descr(1, 17), len as i64)),
            SifError::ObjectOutOfBounds {
                id: 2,
                offset: len,
                size: 100,
                file_len: len,
            },
        ),
        (
            "object length past the end",
            Box::new(|b| set_i64(b, descr(1, 25), 101)),
            SifError::ObjectOutOfBounds {
                id: 2,
                offset: part_off,
                size: 101,
                file_len: len,
            },
        ),
        (
            "object offset + length overflows",
            Box::new(|b| set_i64(b, descr(1, 25), i64::MAX)),
            SifError::ObjectOutOfBounds {
                id: 2,
                offset: part_off,
                size: i64::MAX as u64,
                file_len: len,
            },
        ),
        (
            "objects overlap",
            Box::new(move |b| set_i64(b, descr(0, 25), (part_off - 32768 + 1) as i64)),
            SifError::ObjectsOverlap {
                first: 1,
                second: 2,
            },
        ),
        (
            "no primary partition",
            Box::new(|b| b[descr(1, 201 + 4)] = 3),
            SifError::NoPrimaryPartition,
        ),
        (
            "encrypted squashfs",
            Box::new(|b| b[descr(1, 201)] = 5),
            SifError::UnsupportedFilesystem { id: 2, fs_type: 5 },
        ),
        (
            "truncated",
            Box::new(|b| b.truncate(100)),
            SifError::Truncated {
                len: 100,
                need: 128,
            },
        ),
    ];
    for (name, mutate, want) in cases {
        let mut bytes = valid.clone();
        mutate(&mut bytes);
        let got = Sif::parse(&bytes).and_then(|s| s.primary_partition().cloned().map(|_| ()));
        assert_eq!(got, Err(want.clone()), "{name}");
        // Through the file reader too, with the error naming the file.
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("bad.sif");
        std::fs::write(&file, &bytes).unwrap();
        match convert(&file) {
            Err(OciError::Sif { error, path }) => {
                assert_eq!(path, file);
                // A truncated file is cut before the header is whole: not SIF at all.
                if name != "truncated" {
                    assert_eq!(error, want, "{name}");
                }
            }
            other => panic!("{name}: {other:?}"),
        }
    }
}

#[test]
fn not_sif_and_simg_without_squashfs_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("x.sif");
    std::fs::write(&file, b"just some text, long enough to not be truncated").unwrap();
    assert!(matches!(
        convert(&file),
        Err(OciError::Sif {
            error: SifError::NotSif,
            ..
        })
    ));
    std::fs::write(&file, b"#!/usr/bin/env run-singularity\nno squashfs here").unwrap();
    assert!(matches!(
        convert(&file),
        Err(OciError::Sif {
            error: SifError::NoSquashfs,
            ..
        })
    ));
    // A SIF whose partition is not squashfs at all.
    std::fs::write(&file, valid_sif()).unwrap();
    let err = convert(&file).unwrap_err();
    assert!(
        matches!(
            err,
            OciError::Sif {
                error: SifError::Squashfs { .. },
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(err.kind(), strata_oci::ErrorKind::InvalidFormat);
}

#[test]
fn hostile_squashfs_names_are_refused() {
    // mksquashfs cannot store a `..` name: make a file `ab` in an image whose directory table
    // is stored plain (-noI), then rename it in place to `..` (and to `/`).
    let dir = tempfile::tempdir().unwrap();
    sh(
        "mkdir root && printf 'a' > root/ab && printf 'b' > root/other",
        dir.path(),
    );
    let Some(plain) = mksquashfs(&dir.path().join("root"), &["-noI", "-noD", "-noF"]) else {
        return;
    };
    // A directory entry ends with name_size (length - 1, u16) and the name.
    let pos = plain
        .windows(4)
        .rposition(|w| w == [1, 0, b'a', b'b'])
        .expect("the directory entry of ab");
    for (name, evil) in [("dotdot", &b".."[..]), ("slash", &b"/x"[..])] {
        let mut bytes = plain.clone();
        bytes[pos + 2..pos + 4].copy_from_slice(evil);
        let file = dir.path().join(format!("{name}.simg"));
        std::fs::write(&file, write_simg(&bytes)).unwrap();
        match convert(&file) {
            Err(OciError::Sif {
                error: SifError::Squashfs { reason },
                ..
            }) => assert!(!reason.is_empty(), "{name}"),
            other => panic!("{name}: {other:?}"),
        }
    }
}

#[test]
fn fuzz_body_survives_mutated_headers() {
    let valid = valid_sif();
    for at in (0..valid.len().min(4096 + 2 * 585)).step_by(7) {
        for v in [0u8, 0xff, 0x7f, 0x80] {
            let mut b = valid.clone();
            b[at] = v;
            strata_oci::fuzzing::parse_sif(&b);
        }
    }
    strata_oci::fuzzing::parse_sif(&[]);
    strata_oci::fuzzing::parse_sif(b"#!/usr/bin/env run-singularity\nhsqs");
}
