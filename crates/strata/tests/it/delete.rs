//! delete: one revision or all, in the store named or the first that has the image; instances
//! refuse it.

use strata::{DeleteRequest, Error, ErrorKind, ImageKey, NoProgress, OnInUse, ResizeRequest};
use strata_store::StoreError;

use crate::util::{Fixture, image, listing, make_raw};

fn delete(fx: &Fixture, img: &str) -> Result<strata::DeleteOutcome, Error> {
    fx.strata.delete(DeleteRequest::new(image(img)))
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

/// A flat store `backend` whose VMs live in `vms/`, holding `centos/7:2004.01`, `alpine` and
/// `debian`, and a VM `web-1` whose second disk is an overlay on `centos/7:2004.01`.
fn flat_with_vms() -> (tempfile::TempDir, strata::Strata) {
    let dir = tempfile::tempdir().unwrap();
    let backend = strata::FlatStore::new("backend", dir.path().join("backend"))
        .with_vm_store(dir.path().join("vms"));
    assert_eq!(backend.vm_store(), Some(dir.path().join("vms").as_path()));
    let strata = strata::Strata::new(
        [std::sync::Arc::new(backend) as std::sync::Arc<dyn strata::Store>],
        strata::StrataOptions::default(),
    );
    let raw = dir.path().join("disk.raw");
    make_raw(&raw, 16 << 20);
    for name in ["centos/7:2004.01", "alpine", "debian"] {
        strata
            .import(
                strata::ImportRequest::disk(&raw, strata::DiskFormat::Raw, name),
                &NoProgress,
            )
            .unwrap();
    }
    let vm = dir.path().join("vms/web%2D1");
    std::fs::create_dir_all(&vm).unwrap();
    let mut overlay = strata_disk::qcow2::CreateOptions::new(16 << 20);
    let image = dir.path().join("backend/centos%2F7%3A2004.01");
    overlay.backing = Some((image.display().to_string(), strata::DiskFormat::Qcow2));
    strata_disk::qcow2::create_file(&vm.join("web%2D1-1-centos%2F7%3A2004.01"), &overlay).unwrap();
    (dir, strata)
}

/// The names a flat store lists.
fn names(strata: &strata::Strata) -> Vec<String> {
    strata.list(strata::ListRequest::default()).unwrap().stores[0]
        .images
        .iter()
        .map(|i| i.name.clone())
        .collect()
}

#[test]
fn a_flat_store_refuses_images_its_vms_use_unless_forced() {
    let (_dir, strata) = flat_with_vms();
    let store = strata.store(None).unwrap();
    assert_eq!(store.users("centos/7:2004.01", None).unwrap(), ["web-1"]);
    assert!(store.users("alpine", None).unwrap().is_empty());
    let err = store.users("nope", None).unwrap_err();
    assert!(matches!(err, Error::ImageNotFound { .. }), "{err:?}");

    let centos = || image("centos/7:2004.01");
    let err = strata.delete(DeleteRequest::new(centos())).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Busy);
    assert!(
        matches!(&err, Error::ImageInUse { store, users, .. } if store == "backend" && users == &["web-1"]),
        "{err:?}"
    );
    assert_eq!(names(&strata), ["alpine", "centos/7:2004.01", "debian"]);

    let forced = DeleteRequest {
        on_in_use: OnInUse::Remove,
        ..DeleteRequest::new(centos())
    };
    let removed = strata.delete(forced).unwrap();
    assert_eq!(removed.users, ["web-1"]);
    assert_eq!(names(&strata), ["alpine", "debian"]);
}

#[test]
fn delete_all_checks_every_image_before_removing_any() {
    let (_dir, strata) = flat_with_vms();
    let requests = |names: &[&str], on_in_use| -> Vec<DeleteRequest> {
        names
            .iter()
            .map(|n| DeleteRequest {
                on_in_use,
                ..DeleteRequest::new(image(n))
            })
            .collect()
    };
    // A missing name, after one that exists: nothing is removed.
    let err = strata
        .delete_all(&requests(&["alpine", "nope"], OnInUse::Refuse), &NoProgress)
        .unwrap_err();
    assert!(matches!(err, Error::ImageNotFound { .. }), "{err:?}");
    // An image in use, after one that is not: nothing is removed.
    let err = strata
        .delete_all(
            &requests(&["alpine", "centos/7:2004.01"], OnInUse::Refuse),
            &NoProgress,
        )
        .unwrap_err();
    assert!(matches!(err, Error::ImageInUse { .. }), "{err:?}");
    assert_eq!(names(&strata), ["alpine", "centos/7:2004.01", "debian"]);

    // Forced: a warning before the image in use goes, and every one removed in order.
    let events = std::sync::Mutex::new(Vec::new());
    let progress = |event: &strata::ProgressEvent| events.lock().unwrap().push(event.clone());
    let outcomes = strata
        .delete_all(
            &requests(&["alpine", "centos/7:2004.01"], OnInUse::Remove),
            &progress,
        )
        .unwrap();
    let removed: Vec<(&str, usize)> = outcomes
        .iter()
        .map(|o| (o.name.as_str(), o.users.len()))
        .collect();
    assert_eq!(removed, [("alpine", 0), ("centos/7:2004.01", 1)]);
    assert_eq!(
        events.into_inner().unwrap(),
        [strata::ProgressEvent::Warning(
            strata::Warning::RemovingInUse {
                store: "backend".into(),
                name: "centos/7:2004.01".into(),
                users: vec!["web-1".into()],
            }
        )]
    );
    assert_eq!(names(&strata), ["debian"]);
}

#[test]
fn repository_images_in_use_go_when_forced_and_gc_keeps_their_layers() {
    let fx = setup();
    let repo = strata_store::Repository::open("user", &fx.repo_dir("user")).unwrap();
    let id: strata_store::InstanceId = "vm-1".parse().unwrap();
    repo.create_instance(&id, "vm", 0, &fx.path("overlay.qcow2"))
        .unwrap();
    let store = fx.strata.store(Some("user")).unwrap();
    assert_eq!(store.users("vm", None).unwrap(), ["vm-1"]);
    assert_eq!(store.users("vm", Some(0)).unwrap(), ["vm-1"]);
    assert!(store.users("vm", Some(1)).unwrap().is_empty());
    let err = fx
        .strata
        .delete_all(&[DeleteRequest::new(image("vm"))], &NoProgress)
        .unwrap_err();
    assert!(
        matches!(&err, Error::ImageInUse { users, .. } if users == &["vm-1"]),
        "{err:?}"
    );
    let forced = DeleteRequest {
        on_in_use: OnInUse::Remove,
        ..DeleteRequest::new(image("vm"))
    };
    let removed = fx.strata.delete(forced).unwrap();
    assert_eq!(
        (removed.revisions, removed.users),
        (vec![0, 1], vec!["vm-1".to_owned()])
    );
    // The instance's layer outlives the records: gc keeps it.
    let gc = fx
        .strata
        .gc(strata::GcRequest::default(), &NoProgress)
        .unwrap();
    assert_eq!(gc.report.blobs_removed, 1);
}
