//! `sif:` with the real binary: a SIF made from a mksquashfs image by strata-oci's SIF writer
//! (apptainer's published layout) and an old `.simg` import as one-layer container images, by
//! prefix and by extension; the cached bundle's tree equals what `unsquashfs` extracts; export
//! to sif is refused; hostile SIF headers leave the repository unchanged.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use strata_model::RevisionRecord;
use strata_store::Cache;
use strata_testkit::{mksquashfs, tree_listing, unsquashfs, write_sif, write_simg};

use crate::sandbox::Sandbox;
use crate::snap;

fn record(sb: &Sandbox, name: &str) -> Value {
    let text = std::fs::read_to_string(sb.path("user").join("meta").join(format!("{name}@0")))
        .expect("record");
    serde_json::from_str(&text).expect("record json")
}

fn bundle(sb: &Sandbox, name: &str) -> PathBuf {
    let text = std::fs::read_to_string(sb.path("user").join("meta").join(format!("{name}@0")))
        .expect("record");
    let rec = RevisionRecord::from_pcocc_json(name, &text).expect("record");
    let hash = Cache::entry_hash(&rec, "user", "cached_bundle");
    sb.path("cache").join(&hash[..2]).join(hash)
}

/// A small tree (files, a hardlink, a symlink, modes) as squashfs; `None` without mksquashfs.
fn squashfs(dir: &Path) -> Option<Vec<u8>> {
    let root = dir.join("tree");
    let st = Command::new("sh")
        .arg("-ec")
        .arg(
            "mkdir -p tree/etc tree/bin
             printf 'sif\\n' > tree/etc/hostname
             printf 'x' > tree/bin/tool && chmod 0755 tree/bin/tool
             ln tree/bin/tool tree/bin/tool2
             ln -s ../etc/hostname tree/bin/link",
        )
        .current_dir(dir)
        .status()
        .expect("sh");
    assert!(st.success());
    // Owners and times fixed, so the digests in the snapshots do not depend on who runs this.
    mksquashfs(
        &root,
        &[
            "-mkfs-time",
            "1600000000",
            "-all-time",
            "1600000000",
            "-all-root",
        ],
    )
}

fn contents(sb: &Sandbox) -> (usize, usize, usize) {
    let count = |p: &Path| std::fs::read_dir(p).map_or(0, Iterator::count);
    (
        sb.blobs("user").len(),
        count(&sb.path("user").join("meta")),
        count(&sb.path("user").join(".tmp")),
    )
}

#[test]
fn sif_and_simg_import_as_container_images() {
    let sb = Sandbox::with_cache(&["user"]);
    let files = sb.path("files");
    std::fs::create_dir_all(&files).expect("files");
    let Some(sq) = squashfs(&files) else {
        return;
    };
    let sif = files.join("img.sif");
    std::fs::write(&sif, write_sif(&sq, b"Bootstrap: scratch\n", "02")).expect("sif");
    snap!(
        "sif_import",
        sb,
        &["import", &format!("sif:{}", sif.display()), "fromsif"]
    );
    let rec = record(&sb, "fromsif");
    assert_eq!(rec["kind"], "ctr");
    let blobs = rec["data_blobs"].as_array().expect("blobs");
    assert_eq!(blobs.len(), 3, "manifest, one layer, config: {rec}");
    let index = &rec["custom_meta"]["oci_index"];
    assert_eq!(index["manifests"][0]["digest"], blobs[0]);

    // The cached bundle's rootfs is the squashfs tree, as unsquashfs extracts it.
    let sq_file = files.join("fs.squashfs");
    std::fs::write(&sq_file, &sq).expect("squashfs");
    let theirs = files.join("unsquashfs");
    unsquashfs(&sq_file, &theirs);
    let ours = bundle(&sb, "fromsif").join("rootfs");
    assert_eq!(tree_listing(&ours), tree_listing(&theirs));

    // By extension (pcocc's rule): `.sif`, and `.simg` (an old image: script + squashfs).
    sb.ok(&["import", &sif.display().to_string(), "byext"]);
    assert_eq!(record(&sb, "byext")["data_blobs"], rec["data_blobs"]);
    let simg = files.join("old.simg");
    std::fs::write(&simg, write_simg(&sq)).expect("simg");
    snap!(
        "simg_import",
        sb,
        &["import", &simg.display().to_string(), "fromsimg"]
    );
    // The same squashfs gives the same layer and config, hence the same blobs.
    assert_eq!(record(&sb, "fromsimg")["data_blobs"], rec["data_blobs"]);

    // Export to sif is refused (pcocc imports sif only); nothing is written.
    let out = files.join("out.sif");
    snap!(
        "sif_export_refused",
        sb,
        &["export", "fromsif", &format!("sif:{}", out.display())]
    );
    assert!(!out.exists());
}

#[test]
fn hostile_sif_leaves_the_repository_unchanged() {
    let sb = Sandbox::new(&["user"]);
    let files = sb.path("files");
    std::fs::create_dir_all(&files).expect("files");
    let valid = write_sif(&[0x42; 64], b"", "02");
    let cases: [(&str, usize, i64); 3] = [
        ("count", 88, i64::MAX),
        ("table", 96, valid.len() as i64),
        ("object", 4096 + 585 + 25, i64::MAX),
    ];
    for (name, at, value) in cases {
        let mut bytes = valid.clone();
        bytes[at..at + 8].copy_from_slice(&value.to_le_bytes());
        let file = files.join(format!("{name}.sif"));
        std::fs::write(&file, &bytes).expect("write");
        let out = sb.run(&["import", &format!("sif:{}", file.display()), name]);
        assert!(out.contains("exit: 65"), "{name}: {out}");
        assert_eq!(contents(&sb), (0, 0, 0), "{name}");
    }
    let mut bad_magic = valid.clone();
    bad_magic[32] = b'X';
    let file = files.join("magic.sif");
    std::fs::write(&file, &bad_magic).expect("write");
    snap!(
        "sif_bad_magic",
        sb,
        &["import", &format!("sif:{}", file.display()), "magic"]
    );
    let file = files.join("count.sif");
    snap!(
        "sif_too_many_descriptors",
        sb,
        &["import", &format!("sif:{}", file.display()), "count"]
    );
    assert_eq!(contents(&sb), (0, 0, 0));
}

/// `containers.yaml` `runtime.image_driver: squashfs` (pcocc's switch): an import caches a
/// squashfs of the bundle beside it, which unsquashfs extracts equal to the bundle; `cache
/// list` lists it and `cache delete` removes it.
#[test]
fn squashfs_image_driver_caches_a_squashfs_entry() {
    let sb = Sandbox::with_cache(&["user"]);
    std::fs::write(
        sb.path("conf/user/containers.yaml"),
        "runtime:\n  image_driver: squashfs\n",
    )
    .expect("containers.yaml");
    let files = sb.path("files");
    let Some(sq) = squashfs(&files) else {
        return;
    };
    let sif = files.join("img.sif");
    std::fs::write(&sif, write_sif(&sq, b"", "02")).expect("sif");
    sb.ok(&["import", &format!("sif:{}", sif.display()), "sq"]);
    let text = std::fs::read_to_string(sb.path("user/meta/sq@0")).expect("record");
    let rec = RevisionRecord::from_pcocc_json("sq", &text).expect("record");
    let hash = Cache::entry_hash(&rec, "user", "cached_squashfs");
    let entry = sb.path("cache").join(&hash[..2]).join(&hash);
    assert!(entry.is_file(), "no cached_squashfs entry");
    let out = files.join("extracted");
    unsquashfs(&entry, &out);
    // backhand's writer has no hardlinks: a hardlink of the bundle is a file of its own
    // (same bytes) in the squashfs. Otherwise the trees are equal (the fixture is root-owned,
    // so -all-root changes nothing).
    let mut want = tree_listing(&bundle(&sb, "sq"));
    let firsts: Vec<(String, String)> = want
        .iter()
        .filter_map(|(k, v)| {
            v.strip_prefix("hardlink to ")
                .map(|f| (k.clone(), f.to_owned()))
        })
        .collect();
    assert_eq!(firsts.len(), 1, "{want:?}");
    for (path, first) in firsts {
        let line = want[&first].clone();
        want.insert(path, line);
    }
    assert_eq!(tree_listing(&out), want);
    let list = sb.run(&["cache", "list"]);
    assert_eq!(list.matches(" sq").count(), 2, "{list}");
    sb.ok(&["cache", "delete", "sq"]);
    assert!(!entry.exists() && !bundle(&sb, "sq").exists());
}
