//! copy: revision 0 of a new image, blobs shared within a repository, linked across.

use std::os::unix::fs::MetadataExt;

use strata::{ByteSize, CopyMethod, CopyRequest, ErrorKind, NoProgress, ResizeRequest, Warning};

use crate::util::{Fixture, image, make_raw};

fn copy(fx: &Fixture, src: &str, dest: &str) -> Result<strata::CopyOutcome, strata::Error> {
    fx.strata.copy(
        CopyRequest {
            src: image(src),
            dest: image(dest),
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
    let blob = fx
        .repo_dir("user")
        .join("data")
        .join(imported.digest.fan_out())
        .join(imported.digest.hex());
    let ino = std::fs::metadata(&blob).unwrap().ino();

    let same = copy(&fx, "orig", "clone").unwrap();
    assert_eq!(same.image.revision, 0);
    assert_eq!(same.image.repo, "user");
    assert_eq!(same.blobs.len(), 1);
    assert_eq!(same.blobs[0].method, CopyMethod::Existing);
    assert!(same.warnings.is_empty());
    // Still one file, the same inode.
    assert_eq!(std::fs::metadata(&blob).unwrap().ino(), ino);
    assert_eq!(
        std::fs::read_dir(blob.parent().unwrap()).unwrap().count(),
        1
    );

    // Across repositories on one filesystem: a hard link, no bytes copied.
    let across = copy(&fx, "user:orig", "global:orig").unwrap();
    assert_eq!(across.blobs[0].method, CopyMethod::HardLink);
    let other = fx
        .repo_dir("global")
        .join("data")
        .join(imported.digest.fan_out())
        .join(imported.digest.hex());
    assert_eq!(std::fs::metadata(&other).unwrap().ino(), ino);
    // The name exists in "user" too: a warning, not an error.
    assert_eq!(
        across.warnings,
        vec![Warning::NameExistsElsewhere {
            name: "orig".into(),
            repo: "user".into()
        }]
    );

    // A layered revision copies with all its layers, as revision 0.
    fx.strata
        .resize(
            ResizeRequest {
                image: image("orig"),
                new_size: ByteSize::new(16 * 1024 * 1024),
            },
            &NoProgress,
        )
        .unwrap();
    let layered = copy(&fx, "user:orig@1", "global:grown").unwrap();
    assert_eq!(layered.source.revision, 1);
    assert_eq!(layered.image.revision, 0);
    assert_eq!(layered.blobs.len(), 2);
    assert_eq!(layered.blobs[0].method, CopyMethod::Existing);
    let verify = fx
        .strata
        .verify(
            strata::VerifyRequest {
                repo: Some("global".into()),
            },
            &NoProgress,
        )
        .unwrap();
    assert!(verify.is_clean(), "{verify:?}");

    // check_overwrite.
    let before = crate::util::listing(&fx.repo_dir("user"));
    let err = copy(&fx, "orig", "clone").unwrap_err();
    assert_eq!(err.to_string(), "Image clone already exists in repo user");
    assert_eq!(err.kind(), ErrorKind::AlreadyExists);
    let err = copy(&fx, "nothing", "x").unwrap_err();
    assert_eq!(
        err.to_string(),
        "Object nothing not found in configured repositories"
    );
    let err = copy(&fx, "orig@7", "x").unwrap_err();
    assert_eq!(
        err.to_string(),
        "Object orig revision 7 not found in configured repositories"
    );
    assert_eq!(before, crate::util::listing(&fx.repo_dir("user")));
}
