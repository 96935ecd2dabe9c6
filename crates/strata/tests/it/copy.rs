//! copy: revision 0 of a new image, layers shared within a repository, linked across, converted
//! into a flat store.

use std::os::unix::fs::MetadataExt;

use strata::{
    CopyMethod, CopyRequest, Error, ErrorKind, ImageKey, NamePolicy, NoProgress, OnExisting,
    ResizeRequest, Warning,
};

use crate::util::{Fixture, image, make_raw, target};

fn copy(fx: &Fixture, src: &str, dest: &str) -> Result<strata::CopyOutcome, strata::Error> {
    fx.strata.copy(
        CopyRequest {
            src: image(src),
            dest: target(dest),
            policy: NamePolicy {
                on_existing: OnExisting::Refuse,
                warn_if_elsewhere: true,
            },
        },
        &NoProgress,
    )
}

#[test]
fn within_and_across_repositories() {
    let fx = Fixture::new();
    let raw = fx.path("disk.raw");
    make_raw(&raw, 8 * 1024 * 1024);
    let imported = fx.import(&raw, "orig");
    let digest = imported.digest.unwrap();
    let blob = fx
        .repo_dir("user")
        .join("data")
        .join(digest.fan_out())
        .join(digest.hex());
    let ino = std::fs::metadata(&blob).unwrap().ino();

    let same = copy(&fx, "orig", "clone").unwrap();
    assert_eq!(same.image.revision, Some(0));
    assert_eq!(same.image.store, "user");
    assert_eq!(same.layers.len(), 1);
    assert_eq!(same.layers[0].method, CopyMethod::Existing);
    assert!(same.warnings.is_empty());
    // Still one file, the same inode.
    assert_eq!(std::fs::metadata(&blob).unwrap().ino(), ino);
    assert_eq!(
        std::fs::read_dir(blob.parent().unwrap()).unwrap().count(),
        1
    );

    // Across repositories on one filesystem: a hard link, no bytes copied.
    let across = copy(&fx, "user:orig", "global:orig").unwrap();
    assert_eq!(across.layers[0].method, CopyMethod::HardLink);
    let other = fx
        .repo_dir("global")
        .join("data")
        .join(digest.fan_out())
        .join(digest.hex());
    assert_eq!(std::fs::metadata(&other).unwrap().ino(), ino);
    // The name exists in "user" too: a warning, not an error.
    assert_eq!(
        across.warnings,
        vec![Warning::NameExistsElsewhere {
            name: "orig".into(),
            store: "user".into()
        }]
    );

    // A layered revision copies with all its layers, as revision 0.
    fx.strata
        .resize(
            ResizeRequest {
                image: image("orig"),
                new_size: 16 * 1024 * 1024,
            },
            &NoProgress,
        )
        .unwrap();
    let layered = copy(&fx, "user:orig@1", "global:grown").unwrap();
    assert_eq!(layered.source.revision, Some(1));
    assert_eq!(layered.image.revision, Some(0));
    assert_eq!(layered.layers.len(), 2);
    assert_eq!(layered.layers[0].method, CopyMethod::Existing);
    let verify = fx
        .strata
        .verify(
            strata::VerifyRequest {
                store: Some("global".into()),
            },
            &NoProgress,
        )
        .unwrap();
    assert!(verify.is_clean(), "{verify:?}");

    // The name policy.
    let before = crate::util::listing(&fx.repo_dir("user"));
    let err = copy(&fx, "orig", "clone").unwrap_err();
    assert!(
        matches!(&err, Error::ImageExists { name, store } if name == "clone" && store == "user"),
        "{err:?}"
    );
    assert_eq!(err.kind(), ErrorKind::AlreadyExists);
    let err = copy(&fx, "nothing", "x").unwrap_err();
    assert!(
        matches!(&err, Error::ImageNotFound { store: None, .. }),
        "{err:?}"
    );
    let err = copy(&fx, "orig@7", "x").unwrap_err();
    assert!(
        matches!(
            &err,
            Error::ImageNotFound {
                key: ImageKey::Name {
                    revision: Some(7),
                    ..
                },
                store: None
            }
        ),
        "{err:?}"
    );
    assert_eq!(before, crate::util::listing(&fx.repo_dir("user")));
}

/// Between a repository and a flat store, which share no layers, a VM image is converted: the
/// flattened chain, the same bytes.
#[test]
fn into_a_flat_store_the_image_is_flattened() {
    let fx = Fixture::new();
    let raw = fx.path("disk.raw");
    make_raw(&raw, 8 * 1024 * 1024);
    fx.import(&raw, "orig");
    fx.strata
        .resize(
            ResizeRequest {
                image: image("orig"),
                new_size: 16 * 1024 * 1024,
            },
            &NoProgress,
        )
        .unwrap();
    let flat = copy(&fx, "orig", "flat:orig").unwrap();
    assert!(flat.layers.is_empty());
    assert_eq!(flat.image.store, "flat");
    let back = copy(&fx, "flat:orig", "global:again").unwrap();
    assert_eq!(back.image.revision, Some(0));
    let out = fx.path("out.raw");
    fx.strata
        .export(
            strata::ExportRequest {
                image: image("global:again"),
                dest: strata::Destination::Disk {
                    path: out.clone(),
                    format: strata::DiskFormat::Raw,
                },
            },
            &NoProgress,
        )
        .unwrap();
    let mut expected = std::fs::read(&raw).unwrap();
    expected.resize(16 * 1024 * 1024, 0);
    assert_eq!(std::fs::read(&out).unwrap(), expected);
}
