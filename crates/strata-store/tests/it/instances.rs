//! VM instances pin the revisions their overlays stand on.

use std::fs;
use std::path::Path;
use std::time::Duration;

use strata_model::format::DiskFormat;
use strata_store::{DeleteMode, ErrorKind, InstanceId, OverlayCreator, StoreError};

use crate::common::{new_repo, vm_record};

fn id(s: &str) -> InstanceId {
    s.parse().unwrap()
}

#[test]
fn an_instance_blocks_delete_and_pins_blobs() {
    let (dir, repo) = new_repo();
    let base = repo.put_blob(&b"base"[..], None).unwrap();
    let top = repo.put_blob(&b"top"[..], None).unwrap();
    repo.commit(&vm_record("centos", 0, &[&base, &top]))
        .unwrap();
    let overlay = dir.path().join("vm1.qcow2");
    let instance = repo
        .create_instance(&id("vm1"), "centos", 0, &overlay)
        .unwrap();
    assert_eq!(
        (instance.top.clone(), instance.blobs.len()),
        (top.clone(), 2)
    );
    assert!(repo.instance_path(&id("vm1")).is_file());
    assert_eq!(repo.instance(&id("vm1")).unwrap(), instance);
    assert_eq!(repo.is_in_use("centos", 0).unwrap(), [id("vm1")]);

    let e = repo
        .delete_record("centos", 0, DeleteMode::RefuseInUse)
        .unwrap_err();
    assert!(matches!(&e, StoreError::InUse { instances, .. } if instances == &["vm1"]));
    assert_eq!(e.to_string(), "Image centos revision 0 is in use by vm1");
    assert_eq!(e.kind(), ErrorKind::InUse);

    repo.delete_record("centos", 0, DeleteMode::Force).unwrap();
    repo.gc(Duration::ZERO).unwrap();
    assert!(
        repo.has_blob(&base) && repo.has_blob(&top),
        "gc keeps what instances use"
    );

    // The overlay is gone (never created here): prune forgets the instance, gc collects.
    assert_eq!(repo.prune_instances().unwrap(), [id("vm1")]);
    repo.gc(Duration::ZERO).unwrap();
    assert!(!repo.has_blob(&top));
}

#[test]
fn ids_and_duplicates() {
    let (dir, repo) = new_repo();
    let d = repo.put_blob(&b"x"[..], None).unwrap();
    repo.commit(&vm_record("img", 0, &[&d])).unwrap();
    let overlay = dir.path().join("o");
    repo.create_instance(&id("a"), "img", 0, &overlay).unwrap();
    let e = repo
        .create_instance(&id("a"), "img", 0, &overlay)
        .unwrap_err();
    assert!(matches!(e, StoreError::InstanceExists { .. }));
    assert_eq!(
        e.to_string(),
        "Instance a already exists in repository test"
    );
    for bad in ["", ".hidden", "a/b", "a b"] {
        let e = bad.parse::<InstanceId>().unwrap_err();
        assert!(matches!(e, StoreError::InvalidInstanceId { .. }), "{bad:?}");
    }
    let e = repo
        .create_instance(&id("b"), "img", 7, &overlay)
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound);
    repo.remove_instance(&id("a")).unwrap();
    let e = repo.remove_instance(&id("a")).unwrap_err();
    assert_eq!(e.to_string(), "Instance a not found in repository test");
}

/// Writes a placeholder file where a qcow2 overlay would be (qcow2 writing is strata-disk's).
struct FakeCreator {
    fail: bool,
}

impl OverlayCreator for FakeCreator {
    fn create_overlay(
        &self,
        overlay: &Path,
        backing: &Path,
        backing_format: DiskFormat,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        if self.fail {
            return Err("no space left".into());
        }
        assert!(backing.is_absolute() && backing.is_file());
        assert_eq!(backing_format, DiskFormat::Qcow2);
        fs::write(overlay, backing.to_string_lossy().as_bytes())?;
        Ok(())
    }
}

#[test]
fn overlays_are_created_after_the_instance_record() {
    let (dir, repo) = new_repo();
    let d = repo.put_blob(&b"top"[..], None).unwrap();
    repo.commit(&vm_record("img", 0, &[&d])).unwrap();
    let overlay = dir.path().join("vm.qcow2");
    let instance = repo
        .create_instance_with(&id("vm"), "img", 0, &overlay, &FakeCreator { fail: false })
        .unwrap();
    let backing = fs::read_to_string(&overlay).unwrap();
    assert_eq!(
        Path::new(&backing),
        fs::canonicalize(repo.blob_path(&d)).unwrap()
    );
    assert_eq!(instance.overlay, overlay);
    assert!(
        repo.prune_instances().unwrap().is_empty(),
        "its overlay exists"
    );

    let other = dir.path().join("vm2.qcow2");
    let e = repo
        .create_instance_with(&id("vm2"), "img", 0, &other, &FakeCreator { fail: true })
        .unwrap_err();
    assert!(matches!(e, StoreError::Overlay { .. }), "{e:?}");
    assert!(
        repo.instance(&id("vm2")).is_err(),
        "a failed overlay leaves no instance"
    );
}

#[test]
fn qcow2_overlays_with_strata_disk() {
    let (dir, repo) = new_repo();
    let base = dir.path().join("base.qcow2");
    strata_disk::qcow2::create_file(&base, &strata_disk::qcow2::CreateOptions::new(8 << 20))
        .unwrap();
    let top = repo.put_blob_file(&base, None).unwrap();
    repo.commit(&vm_record("img", 0, &[&top])).unwrap();
    let overlay = dir.path().join("vm.qcow2");
    repo.create_instance_with(&id("vm"), "img", 0, &overlay, &strata_store::Qcow2Overlays)
        .unwrap();
    let opened = strata_disk::open(
        &overlay,
        &strata_disk::OpenOptions {
            allowed_dirs: vec![repo.data_dir()],
            ..strata_disk::OpenOptions::default()
        },
    )
    .unwrap();
    assert_eq!(opened.format, DiskFormat::Qcow2);
    assert_eq!(opened.image.virtual_size(), 8 << 20);
    let backing = opened.image.backing_file().unwrap();
    let expected = fs::canonicalize(repo.blob_path(&top)).unwrap();
    assert_eq!(Path::new(&backing.name), expected);
    assert_eq!(backing.format, Some(DiskFormat::Qcow2));
    // qemu-img, where installed, agrees.
    match std::process::Command::new("qemu-img")
        .arg("check")
        .arg(&overlay)
        .output()
    {
        Ok(out) => assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stdout)
        ),
        Err(e) => eprintln!("qemu-img not run: {e}"),
    }
}
