//! resize: a new revision whose top layer is an empty, larger qcow2 backed by the old top.

use strata::{
    Destination, DiskFormat, Error, ErrorKind, ExportRequest, Kind, NoProgress, ResizeRequest,
    VerifyRequest,
};

use crate::util::{Fixture, image, make_raw, qemu_img, run_qemu_img};

const SIZE: u64 = 16 * 1024 * 1024;

/// A raw file at `path`.
fn raw_file(path: &std::path::Path) -> Destination {
    Destination::Disk {
        path: path.to_owned(),
        format: DiskFormat::Raw,
    }
}

fn resize(fx: &Fixture, img: &str, size: u64) -> Result<strata::ResizeOutcome, Error> {
    fx.strata.resize(
        ResizeRequest {
            image: image(img),
            new_size: size,
        },
        &NoProgress,
    )
}

#[test]
fn grows_with_a_new_layer() {
    let fx = Fixture::new();
    let raw = fx.path("disk.raw");
    make_raw(&raw, SIZE);
    let imported = fx.import(&raw, "vm");
    let outcome = resize(&fx, "vm", 2 * SIZE).unwrap();
    let imported = imported.digest.unwrap();
    assert_eq!(outcome.image.revision, Some(1));
    assert_eq!(outcome.base.revision, Some(0));
    assert_eq!((outcome.old_size, outcome.new_size), (SIZE, 2 * SIZE));
    assert_eq!(outcome.layers, 2);
    let record = std::fs::read_to_string(fx.repo_dir("user").join("meta/vm@1")).unwrap();
    assert!(
        record.contains(&format!(
            "\"data_blobs\": [\"{}\", \"{}\"]",
            imported.hex(),
            outcome.digest.hex()
        )),
        "{record}"
    );
    let top = fx
        .repo_dir("user")
        .join("data")
        .join(outcome.digest.fan_out())
        .join(outcome.digest.hex());
    if qemu_img().is_some() {
        let check = run_qemu_img(&["check", top.to_str().unwrap()]);
        assert!(check.contains("No errors were found"), "{check}");
        let info = run_qemu_img(&["info", "--output=json", top.to_str().unwrap()]);
        assert!(
            info.contains(&format!(
                "\"backing-filename\": \"../../data/{}/{}\"",
                imported.fan_out(),
                imported.hex()
            )),
            "{info}"
        );
        assert!(
            info.contains(&format!("\"virtual-size\": {}", 2 * SIZE)),
            "{info}"
        );
    }
    // The old data, then zeros.
    let out = fx.path("grown.raw");
    fx.strata
        .export(
            ExportRequest {
                image: image("vm"),
                dest: raw_file(&out),
            },
            &NoProgress,
        )
        .unwrap();
    let mut expected = std::fs::read(&raw).unwrap();
    expected.resize(2 * SIZE as usize, 0);
    assert_eq!(std::fs::read(&out).unwrap(), expected);
    // Revision 0 is untouched.
    let out0 = fx.path("old.raw");
    fx.strata
        .export(
            ExportRequest {
                image: image("vm@0"),
                dest: raw_file(&out0),
            },
            &NoProgress,
        )
        .unwrap();
    assert_eq!(std::fs::read(&out0).unwrap(), std::fs::read(&raw).unwrap());
    // The repository verifies, chains included.
    let verify = fx
        .strata
        .verify(VerifyRequest::default(), &NoProgress)
        .unwrap();
    assert!(verify.is_clean(), "{verify:?}");
    assert!(verify.stores[0].report.chains_checked);

    // Resizing an older revision builds on it and writes latest+1.
    let again = resize(&fx, "vm@0", 3 * SIZE).unwrap();
    assert_eq!(
        (again.base.revision, again.image.revision),
        (Some(0), Some(2))
    );
    assert_eq!(again.layers, 2);
    // And a third layer on top of revision 1.
    let third = resize(&fx, "vm@1", 3 * SIZE).unwrap();
    assert_eq!((third.image.revision, third.layers), (Some(3), 3));
    let out3 = fx.path("third.raw");
    fx.strata
        .export(
            ExportRequest {
                image: image("vm"),
                dest: raw_file(&out3),
            },
            &NoProgress,
        )
        .unwrap();
    expected.resize(3 * SIZE as usize, 0);
    assert_eq!(std::fs::read(&out3).unwrap(), expected);
}

#[test]
fn refuses_shrinking_and_containers() {
    let fx = Fixture::new();
    let raw = fx.path("disk.raw");
    make_raw(&raw, SIZE);
    fx.import(&raw, "vm");
    let before = crate::util::listing(&fx.repo_dir("user"));
    let err = resize(&fx, "vm", SIZE - 1024 * 1024).unwrap_err();
    assert!(matches!(err, Error::Shrink { .. }), "{err:?}");
    assert_eq!(err.kind(), ErrorKind::InvalidRequest);
    assert_eq!(
        err.to_string(),
        format!(
            "Cannot shrink image vm from {SIZE} to {} bytes",
            SIZE - 1024 * 1024
        )
    );

    // A container record.
    let repo = strata_store::Repository::open("user", &fx.repo_dir("user")).unwrap();
    let digest = repo.put_blob(&b"{}"[..], None).unwrap();
    let record = strata_model::RevisionRecord::new("ctr", 0, Kind::Ctr, "tester", 1.0, [digest]);
    repo.commit(&record).unwrap();
    let before_ctr = crate::util::listing(&fx.repo_dir("user"));
    assert_ne!(before, before_ctr);
    let err = resize(&fx, "ctr", 2 * SIZE).unwrap_err();
    assert!(
        matches!(
            err,
            Error::NotVm {
                kind: Kind::Ctr,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "Image ctr is a ctr image: only VM images can be resized"
    );
    assert_eq!(before_ctr, crate::util::listing(&fx.repo_dir("user")));
    let err = resize(&fx, "missing", 2 * SIZE).unwrap_err();
    assert!(matches!(err, Error::ImageNotFound { .. }), "{err:?}");
    assert_eq!(err.kind(), ErrorKind::NotFound);
    // A flat store keeps no revisions to add a layer to.
    fx.import(&raw, "flat:vm2");
    let err = resize(&fx, "flat:vm2", 2 * SIZE).unwrap_err();
    assert!(matches!(err, Error::NotCapable { .. }), "{err:?}");
    assert_eq!(err.kind(), ErrorKind::Unsupported);
}

/// Two resizes of one image at once: the second waits for the first and builds on it, instead
/// of racing it for the same revision number ("revision already exists").
#[test]
fn concurrent_resizes_of_one_image_follow_each_other() {
    let fx = Fixture::new();
    let raw = fx.path("disk.raw");
    make_raw(&raw, SIZE);
    for round in 0..4 {
        let name = format!("vm{round}");
        fx.import(&raw, &name);
        let barrier = std::sync::Barrier::new(2);
        let outcomes: Vec<_> = std::thread::scope(|s| {
            let handles: Vec<_> = [2 * SIZE, 2 * SIZE]
                .into_iter()
                .map(|size| {
                    let strata = fx.strata.clone();
                    let (barrier, name) = (&barrier, &name);
                    s.spawn(move || {
                        barrier.wait();
                        strata.resize(
                            ResizeRequest {
                                image: image(name),
                                new_size: size,
                            },
                            &NoProgress,
                        )
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let mut revisions: Vec<(Option<u64>, usize)> = outcomes
            .into_iter()
            .map(|o| {
                let o = o.unwrap();
                (o.image.revision, o.layers)
            })
            .collect();
        revisions.sort();
        assert_eq!(revisions, [(Some(1), 2), (Some(2), 3)], "round {round}");
    }
}
