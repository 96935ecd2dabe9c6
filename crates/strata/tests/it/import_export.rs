//! Import and export round trips, into repositories and a flat store, deduplication, the name
//! policy, progress, and a 1 TiB empty disk.

use std::time::Instant;

use strata::{
    Destination, DiskFormat, Error, ExportRequest, Kind, NamePolicy, NoProgress, OnExisting, Phase,
    ProgressEvent, Warning,
};

use crate::util::{
    Fixture, Recorder, image, import_request, make_qcow2, make_raw, qemu_img, read_at, run_qemu_img,
};

const SIZE: u64 = 24 * 1024 * 1024;

fn export(
    fx: &Fixture,
    src: &str,
    dest: &std::path::Path,
    format: DiskFormat,
) -> strata::ExportOutcome {
    fx.strata
        .export(
            ExportRequest {
                image: image(src),
                dest: Destination::Disk {
                    path: dest.to_owned(),
                    format,
                },
            },
            &NoProgress,
        )
        .unwrap()
}

fn blob_count(fx: &Fixture, repo: &str) -> usize {
    walkdir_files(&fx.repo_dir(repo).join("data"))
}

fn walkdir_files(dir: &std::path::Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .map(|e| {
            let p = e.unwrap().path();
            if p.is_dir() { walkdir_files(&p) } else { 1 }
        })
        .sum()
}

#[test]
fn raw_round_trip() {
    let fx = Fixture::new();
    let src = fx.path("disk.raw");
    make_raw(&src, SIZE);
    let recorder = Recorder::default();
    let outcome = fx
        .strata
        .import(import_request(&src, "centos"), &recorder)
        .unwrap();
    assert_eq!(outcome.source_format, strata::Format::Disk(DiskFormat::Raw));
    assert_eq!(outcome.image.store, "user");
    assert_eq!(outcome.image.name, "centos");
    assert_eq!(outcome.image.revision, Some(0));
    assert_eq!(outcome.image.kind, Kind::Vm);
    assert_eq!(outcome.image.owner.as_deref(), Some("tester"));
    assert_eq!(outcome.virtual_size, SIZE);
    assert!(!outcome.deduplicated);
    assert!(outcome.warnings.is_empty());
    // The source is read once: only its data.
    let data: u64 = crate::util::data_runs(SIZE).iter().map(|r| r.1).sum();
    assert!(
        outcome.bytes_read < data + 4 * 65536,
        "{}",
        outcome.bytes_read
    );

    let digest = outcome.digest.clone().unwrap();
    let blob = fx
        .repo_dir("user")
        .join("data")
        .join(digest.fan_out())
        .join(digest.hex());
    assert!(blob.is_file());
    let record = std::fs::read_to_string(fx.repo_dir("user").join("meta/centos@0")).unwrap();
    assert!(
        record.contains(&format!("\"data_blobs\": [\"{}\"]", digest.hex())),
        "{record}"
    );
    // Nothing left in .tmp/.
    assert_eq!(
        std::fs::read_dir(fx.repo_dir("user").join(".tmp"))
            .unwrap()
            .count(),
        0
    );

    let events = recorder.0.lock().unwrap().clone();
    assert_eq!(
        events[0],
        ProgressEvent::Started {
            phase: Phase::Storing {
                store: "user".into(),
                name: "centos".into()
            },
            total: None
        }
    );
    assert_eq!(
        events[1],
        ProgressEvent::Started {
            phase: Phase::Converting {
                from: DiskFormat::Raw,
                to: DiskFormat::Qcow2
            },
            total: Some(SIZE)
        }
    );
    assert!(matches!(events[2], ProgressEvent::Advanced { .. }));
    assert_eq!(events[events.len() - 1], ProgressEvent::Finished);
    assert_eq!(events[events.len() - 2], ProgressEvent::Finished);

    let out = fx.path("out.raw");
    let exported = export(&fx, "centos", &out, DiskFormat::Raw);
    assert_eq!(exported.format, strata::Format::Disk(DiskFormat::Raw));
    assert_eq!(exported.virtual_size, SIZE);
    assert_eq!(std::fs::read(&out).unwrap(), std::fs::read(&src).unwrap());
    if qemu_img().is_some() {
        let check = run_qemu_img(&["check", "-f", "qcow2", blob.to_str().unwrap()]);
        assert!(check.contains("No errors were found"), "{check}");
        run_qemu_img(&[
            "compare",
            "-f",
            "raw",
            "-F",
            "qcow2",
            src.to_str().unwrap(),
            blob.to_str().unwrap(),
        ]);
    }
}

#[test]
fn qcow2_round_trip_and_dedup() {
    let fx = Fixture::new();
    let raw = fx.path("disk.raw");
    make_raw(&raw, SIZE);
    let qcow2 = fx.path("disk.qcow2");
    make_qcow2(&raw, &qcow2);
    let recorder = Recorder::default();
    let first = fx
        .strata
        .import(import_request(&qcow2, "user:a"), &recorder)
        .unwrap();
    assert_eq!(first.source_format, strata::Format::Disk(DiskFormat::Qcow2));
    assert!(
        recorder
            .0
            .lock()
            .unwrap()
            .contains(&ProgressEvent::Started {
                phase: Phase::Copying,
                total: Some(SIZE)
            })
    );
    assert_eq!(blob_count(&fx, "user"), 1);

    // The same disk, from raw this time: the same qcow2 layer, not stored twice.
    let second = fx.import(&raw, "b");
    assert_eq!(second.digest, first.digest);
    assert!(second.deduplicated);
    assert_eq!(second.bytes_written, 0);
    assert_eq!(blob_count(&fx, "user"), 1);
    assert_eq!(
        std::fs::read_dir(fx.repo_dir("user").join(".tmp"))
            .unwrap()
            .count(),
        0
    );

    // Export as qcow2, then back to raw.
    let out_q = fx.path("out.qcow2");
    let exported = export(&fx, "a", &out_q, DiskFormat::Qcow2);
    assert_eq!(exported.format, strata::Format::Disk(DiskFormat::Qcow2));
    let out_raw = fx.path("out.img");
    export(&fx, "b@0", &out_raw, DiskFormat::Raw);
    assert_eq!(
        std::fs::read(&out_raw).unwrap(),
        std::fs::read(&raw).unwrap()
    );
    if qemu_img().is_some() {
        let check = run_qemu_img(&["check", out_q.to_str().unwrap()]);
        assert!(check.contains("No errors were found"), "{check}");
        run_qemu_img(&[
            "compare",
            "-f",
            "raw",
            "-F",
            "qcow2",
            raw.to_str().unwrap(),
            out_q.to_str().unwrap(),
        ]);
    }
}

#[test]
fn qemu_img_made_qcow2_imports() {
    if qemu_img().is_none() {
        return;
    }
    let fx = Fixture::new();
    let raw = fx.path("disk.raw");
    make_raw(&raw, SIZE);
    // A compressed qcow2 with a backing file in the same directory.
    let base = fx.path("base.qcow2");
    run_qemu_img(&[
        "convert",
        "-c",
        "-f",
        "raw",
        "-O",
        "qcow2",
        raw.to_str().unwrap(),
        base.to_str().unwrap(),
    ]);
    let mut expected = std::fs::read(&raw).unwrap();
    expected[4096..4096 + 8192].fill(0x11);
    let modified = fx.path("modified.raw");
    std::fs::write(&modified, &expected).unwrap();
    let top = fx.path("top.qcow2");
    // Only the differences from base.qcow2 go into top.qcow2, which names it relatively.
    let out = std::process::Command::new("qemu-img")
        .current_dir(fx.dir.path())
        .args([
            "convert",
            "-f",
            "raw",
            "-O",
            "qcow2",
            "-F",
            "qcow2",
            "-B",
            "base.qcow2",
        ])
        .args(["modified.raw", "top.qcow2"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let outcome = fx.import(&top, "layered");
    assert_eq!(
        outcome.source_format,
        strata::Format::Disk(DiskFormat::Qcow2)
    );
    let out = fx.path("flat.raw");
    export(&fx, "layered", &out, DiskFormat::Raw);
    assert_eq!(std::fs::read(&out).unwrap(), expected);
    run_qemu_img(&[
        "compare",
        "-F",
        "qcow2",
        out.to_str().unwrap(),
        top.to_str().unwrap(),
    ]);
}

#[test]
fn name_policy_refuses_warns_and_replaces() {
    let fx = Fixture::new();
    let src = fx.path("disk.img");
    make_raw(&src, 1024 * 1024);
    fx.import(&src, "global:dup");
    let recorder = Recorder::default();
    let warn = NamePolicy {
        on_existing: OnExisting::Refuse,
        warn_if_elsewhere: true,
    };
    let outcome = fx
        .strata
        .import(
            strata::ImportRequest {
                policy: warn,
                ..import_request(&src, "dup")
            },
            &recorder,
        )
        .unwrap();
    let elsewhere = Warning::NameExistsElsewhere {
        name: "dup".into(),
        store: "global".into(),
    };
    assert_eq!(outcome.warnings, vec![elsewhere.clone()]);
    let events = recorder.0.lock().unwrap().clone();
    assert!(events.contains(&ProgressEvent::Warning(elsewhere)));
    // The store named wins over the order for lookups.
    let shown = fx
        .strata
        .show(strata::ShowRequest {
            image: image("global:dup"),
        })
        .unwrap();
    assert_eq!(shown.image.store, "global");
    // Refused in the destination store, before anything is read; no warning without asking.
    let e = fx
        .strata
        .import(import_request(&src, "dup"), &recorder)
        .unwrap_err();
    assert!(
        matches!(&e, Error::ImageExists { name, store } if name == "dup" && store == "user"),
        "{e:?}"
    );
    // Replaced: a revisioned store adds the next revision, a flat store swaps the file.
    let replace = NamePolicy {
        on_existing: OnExisting::Replace,
        warn_if_elsewhere: false,
    };
    for dest in ["dup", "flat:dup", "flat:dup"] {
        let outcome = fx
            .strata
            .import(
                strata::ImportRequest {
                    policy: replace,
                    ..import_request(&src, dest)
                },
                &NoProgress,
            )
            .unwrap();
        assert!(outcome.warnings.is_empty());
    }
    let shown = fx
        .strata
        .show(strata::ShowRequest {
            image: image("user:dup"),
        })
        .unwrap();
    assert_eq!(shown.image.revision, Some(1));
    assert_eq!(shown.revisions.len(), 2);
    let e = fx
        .strata
        .import(import_request(&src, "flat:dup"), &NoProgress)
        .unwrap_err();
    assert!(
        matches!(&e, Error::ImageExists { store, .. } if store == "flat"),
        "{e:?}"
    );
}

/// The same core operation imports into a repository and into a flat store; both export back to
/// the same bytes, and a flat store's image is one qcow2 file under its encoded name.
#[test]
fn a_flat_store_imports_and_exports_as_a_repository_does() {
    let fx = Fixture::new();
    let src = fx.path("disk.raw");
    make_raw(&src, SIZE);
    let outcome = fx.import(&src, "flat:centos/7:2004.01");
    assert_eq!(outcome.image.store, "flat");
    assert_eq!(outcome.image.revision, None);
    assert_eq!(outcome.digest, None);
    let file = fx.path("flat-store/centos%2F7%3A2004.01");
    assert!(file.is_file());
    assert_eq!(
        strata_disk::probe(&std::fs::File::open(&file).unwrap()).unwrap(),
        DiskFormat::Qcow2
    );
    assert_eq!(std::fs::metadata(&file).unwrap().len(), outcome.stored_size);
    let listed = fx
        .strata
        .list(strata::ListRequest {
            store: Some("flat".into()),
            filter: None,
        })
        .unwrap();
    assert_eq!(listed.stores[0].images[0].name, "centos/7:2004.01");
    let out = fx.path("back.raw");
    export(&fx, "flat:centos/7:2004.01", &out, DiskFormat::Raw);
    assert_eq!(std::fs::read(&out).unwrap(), std::fs::read(&src).unwrap());
    // Without a store, lookups go through the stores in order: the flat one comes last.
    fx.import(&src, "centos/7:2004.01");
    let (store, _) = fx.strata.find(&image("centos/7:2004.01")).unwrap();
    assert_eq!(store.name(), "user");
    // A flat store keeps no revisions and no IDs.
    assert!(matches!(
        fx.strata
            .find(&image("flat:centos/7:2004.01@0"))
            .unwrap_err(),
        Error::ImageNotFound { .. }
    ));
    let by_id = strata::ImageLocator {
        store: Some("flat".into()),
        key: strata::ImageKey::Id(1),
    };
    assert!(matches!(
        fx.strata.find(&by_id).unwrap_err(),
        Error::KeyNotSupported { .. }
    ));
    if qemu_img().is_some() {
        let check = run_qemu_img(&["check", file.to_str().unwrap()]);
        assert!(check.contains("No errors were found"), "{check}");
    }
}

#[test]
fn one_tib_empty_disk_in_under_a_second() {
    let fx = Fixture::new();
    let src = fx.path("huge.raw");
    let file = std::fs::File::create(&src).unwrap();
    file.set_len(1 << 40).unwrap();
    drop(file);
    let start = Instant::now();
    let outcome = fx.import(&src, "huge");
    let out = fx.path("huge-out.raw");
    let exported = export(&fx, "huge", &out, DiskFormat::Raw);
    let elapsed = start.elapsed();
    assert_eq!(outcome.virtual_size, 1 << 40);
    assert_eq!(exported.virtual_size, 1 << 40);
    assert_eq!(std::fs::metadata(&out).unwrap().len(), 1 << 40);
    assert!(outcome.stored_size < 1 << 20, "{}", outcome.stored_size);
    assert_eq!(read_at(&out, (1 << 40) - 512, 512), vec![0u8; 512]);
    assert!(elapsed.as_secs_f64() < 1.0, "took {elapsed:?}");
}

/// Every VM format strata writes: the file is the format asked for, qemu-img reads it as the
/// same disk (and checks it where it can), and it imports back to the same bytes.
#[test]
fn every_writable_format_exports_and_imports_back() {
    let fx = Fixture::new();
    let src = fx.path("disk.raw");
    make_raw(&src, SIZE);
    fx.import(&src, "disk");
    for (format, ext) in [
        (DiskFormat::Qcow2, "qcow2"),
        (DiskFormat::Qed, "qed"),
        (DiskFormat::Vdi, "vdi"),
        (DiskFormat::Vmdk, "vmdk"),
        (DiskFormat::Vpc, "vhd"),
    ] {
        let out = fx.path(&format!("out.{ext}"));
        let exported = export(&fx, "disk", &out, format);
        assert_eq!(exported.format, strata::Format::Disk(format));
        let probed = strata_disk::probe(&std::fs::File::open(&out).unwrap()).unwrap();
        assert_eq!(probed, format, "{}", out.display());
        let name = format.name();
        if qemu_img().is_some() {
            if format != DiskFormat::Vpc {
                let check = run_qemu_img(&["check", "-f", name, out.to_str().unwrap()]);
                assert!(check.contains("No errors were found"), "{name}: {check}");
            }
            // vpc rounds the virtual size up to its CHS geometry, as qemu-img does: compare
            // the source's bytes (the rest reads as zeros).
            run_qemu_img(&[
                "compare",
                "-f",
                "raw",
                "-F",
                name,
                src.to_str().unwrap(),
                out.to_str().unwrap(),
            ]);
        }
        let back_name = format!("back-{name}");
        fx.import(&out, &back_name);
        let back = fx.path(&format!("back-{name}.raw"));
        export(&fx, &back_name, &back, DiskFormat::Raw);
        let back_bytes = std::fs::read(&back).unwrap();
        let src_bytes = std::fs::read(&src).unwrap();
        assert_eq!(back_bytes[..src_bytes.len()], src_bytes[..], "{name}");
        assert!(
            back_bytes[src_bytes.len()..].iter().all(|&b| b == 0),
            "{name}"
        );
    }
}
