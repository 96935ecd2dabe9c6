//! delete: one revision or all, in the store named or the first that has the image; instances
//! refuse it.

use strata::{DeleteRequest, Error, ErrorKind, ImageKey, NoProgress, ResizeRequest};
use strata_store::StoreError;

use crate::util::{Fixture, image, listing, make_raw};

fn delete(fx: &Fixture, img: &str) -> Result<strata::DeleteOutcome, Error> {
    fx.strata.delete(DeleteRequest { image: image(img) })
}

fn setup() -> Fixture {
    let fx = Fixture::new();
    let raw = fx.path("disk.raw");
    make_raw(&raw, 8 * 1024 * 1024);
    fx.import(&raw, "vm");
    fx.strata
        .resize(
            ResizeRequest {
                image: image("vm"),
                new_size: 16 * 1024 * 1024,
            },
            &NoProgress,
        )
        .unwrap();
    fx.import(&raw, "global:only-global");
    fx
}

#[test]
fn revisions_and_stores() {
    let fx = setup();
    // In the store named only.
    let before = listing(&fx.repo_dir("global"));
    let err = delete(&fx, "user:only-global").unwrap_err();
    assert!(
        matches!(&err, Error::ImageNotFound { store: Some(store), .. } if store == "user"),
        "{err:?}"
    );
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert_eq!(before, listing(&fx.repo_dir("global")));
    let err = delete(&fx, "user:vm@5").unwrap_err();
    assert!(
        matches!(
            &err,
            Error::ImageNotFound {
                key: ImageKey::Name {
                    revision: Some(5),
                    ..
                },
                store: Some(_)
            }
        ),
        "{err:?}"
    );
    let err = delete(&fx, "vm@5").unwrap_err();
    assert!(
        matches!(&err, Error::ImageNotFound { store: None, .. }),
        "{err:?}"
    );

    let one = delete(&fx, "vm@1").unwrap();
    assert_eq!(one.revisions, vec![1]);
    assert!(fx.repo_dir("user").join("meta/vm@0").is_file());
    assert!(!fx.repo_dir("user").join("meta/vm@1").exists());

    // Without a store, the first store that has the image.
    let all = delete(&fx, "only-global").unwrap();
    assert_eq!(
        (all.store.as_str(), all.revisions.as_slice()),
        ("global", &[0u64][..])
    );
    let all = delete(&fx, "vm").unwrap();
    assert_eq!(all.revisions, vec![0]);
    assert_eq!(
        std::fs::read_dir(fx.repo_dir("user").join("meta"))
            .unwrap()
            .count(),
        0
    );

    // Blobs stay until gc, which then removes them.
    let gc = fx
        .strata
        .gc(strata::GcRequest::default(), &NoProgress)
        .unwrap();
    assert_eq!(gc.store, "user");
    assert_eq!(gc.report.blobs_removed, 2);
}

#[test]
fn images_in_use_are_refused() {
    let fx = setup();
    let repo = strata_store::Repository::open("user", &fx.repo_dir("user")).unwrap();
    let id: strata_store::InstanceId = "vm-1".parse().unwrap();
    repo.create_instance(&id, "vm", 0, &fx.path("overlay.qcow2"))
        .unwrap();
    let before = listing(&fx.repo_dir("user"));
    let err = delete(&fx, "vm").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Busy);
    assert!(
        matches!(&err, Error::Store(StoreError::InUse { revision: 0, instances, .. }) if instances == &["vm-1"]),
        "{err:?}"
    );
    assert_eq!(err.to_string(), "Image vm revision 0 is in use by vm-1");
    // Nothing was removed, not even the revision nobody uses.
    assert_eq!(before, listing(&fx.repo_dir("user")));
    delete(&fx, "vm@1").unwrap();
}

#[test]
fn a_flat_store_removes_its_file() {
    let fx = setup();
    let raw = fx.path("disk.raw");
    fx.import(&raw, "flat:centos/7");
    let removed = delete(&fx, "flat:centos/7").unwrap();
    assert_eq!(
        (removed.store.as_str(), removed.revisions.len()),
        ("flat", 0)
    );
    assert!(!fx.path("flat-store/centos%2F7").exists());
    let err = delete(&fx, "flat:centos/7").unwrap_err();
    assert!(matches!(err, Error::ImageNotFound { .. }), "{err:?}");
}
