//! Layer application: whiteouts, links, permissions, compression detection.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use strata_oci::image::Selector;
use strata_oci::{OciDir, unpack_image, unpack_layer};

use crate::common::*;

#[test]
fn two_layers_with_whiteouts_links_and_modes() {
    let t = tempfile::tempdir().unwrap();
    let image = make_image(&t.path().join("l"), "v1", &sample_layers());
    let layout = OciDir::open(t.path().join("l")).unwrap();
    let root = t.path().join("root");
    let stats = unpack_image(&layout, &image, &root, &opts()).unwrap();
    assert_eq!(std::fs::read(root.join("etc/hostname")).unwrap(), b"top\n");
    assert!(!root.join("etc/passwd").exists(), "whiteout");
    assert!(
        !root.join("var/cache/a").exists() && !root.join("var/cache/b").exists(),
        "opaque"
    );
    assert_eq!(std::fs::read(root.join("var/cache/c")).unwrap(), b"c");
    assert_eq!(
        std::fs::read_link(root.join("bin")).unwrap().to_str(),
        Some("usr/bin")
    );
    let m1 = std::fs::metadata(root.join("usr/bin/tool")).unwrap();
    let m2 = std::fs::metadata(root.join("usr/bin/tool2")).unwrap();
    assert_eq!(m1.ino(), m2.ino(), "hardlink");
    assert_eq!(m1.permissions().mode() & 0o7777, 0o755);
    assert_eq!(m1.mtime(), 1_600_000_000);
    let cache = std::fs::metadata(root.join("var/cache")).unwrap();
    assert_eq!(cache.permissions().mode() & 0o7777, 0o750);
    assert_eq!(cache.mtime(), 1_600_000_000);
    assert_eq!(
        std::fs::metadata(root.join("tmp"))
            .unwrap()
            .permissions()
            .mode()
            & 0o7777,
        0o1777
    );
    assert_eq!(stats.whiteouts, 3);
    assert!(!root.join("etc/.wh.passwd").exists());
}

#[test]
fn zstd_layer_and_write_through_an_inner_symlink() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("root");
    std::fs::create_dir(&root).unwrap();
    let layer = zst(tar(&[
        E::Dir("usr/", 0o755),
        E::Dir("usr/lib/", 0o755),
        E::Symlink("lib", "/usr/lib"),
        E::File("lib/libx.so", 0o644, b"x"),
        E::Fifo("pipe"),
        // A file replaced by a directory, then a directory replaced by a file.
        E::File("swap", 0o644, b"file"),
        E::Dir("swap/", 0o755),
        E::File("swap/inner", 0o644, b"i"),
        E::Dir("gone/", 0o755),
        E::File("gone/x", 0o644, b"x"),
        E::File("gone", 0o644, b"now a file"),
    ]));
    unpack_layer(&layer.stored[..], &root, &opts(), "layer").unwrap();
    // The absolute symlink resolves inside the root, as in the container.
    assert_eq!(std::fs::read(root.join("usr/lib/libx.so")).unwrap(), b"x");
    assert!(
        std::fs::symlink_metadata(root.join("pipe"))
            .unwrap()
            .file_type()
            .is_fifo_like()
    );
    assert_eq!(std::fs::read(root.join("swap/inner")).unwrap(), b"i");
    assert_eq!(std::fs::read(root.join("gone")).unwrap(), b"now a file");
}

trait FifoLike {
    fn is_fifo_like(&self) -> bool;
}

impl FifoLike for std::fs::FileType {
    fn is_fifo_like(&self) -> bool {
        std::os::unix::fs::FileTypeExt::is_fifo(self)
    }
}

#[test]
fn a_whiteout_does_not_remove_what_its_own_layer_adds() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("root");
    std::fs::create_dir(&root).unwrap();
    let base = tar(&[E::Dir("d/", 0o755), E::File("d/old", 0o644, b"o")]);
    unpack_layer(&base[..], &root, &opts(), "base").unwrap();
    // Opaque marker after this layer's own children: they stay, the older one goes.
    let top = tar(&[
        E::Dir("d/", 0o755),
        E::File("d/new", 0o644, b"n"),
        E::Dir("d/sub/", 0o755),
        E::File("d/sub/deep", 0o644, b"d"),
        E::File("d/.wh..wh..opq", 0o644, b""),
    ]);
    unpack_layer(&top[..], &root, &opts(), "top").unwrap();
    assert!(!root.join("d/old").exists());
    assert_eq!(std::fs::read(root.join("d/new")).unwrap(), b"n");
    assert_eq!(std::fs::read(root.join("d/sub/deep")).unwrap(), b"d");
}

#[test]
fn only_image_in_a_layout_resolves_without_a_name() {
    let t = tempfile::tempdir().unwrap();
    make_image(&t.path().join("l"), "v1", &sample_layers());
    let layout = OciDir::open(t.path().join("l")).unwrap();
    layout.resolve(&Selector::Only, &amd64()).unwrap();
}

#[test]
fn xattrs_are_applied() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("root");
    std::fs::create_dir(&root).unwrap();
    let mut b = tar::Builder::new(Vec::new());
    b.append_pax_extensions([("SCHILY.xattr.user.strata", &b"yes"[..])])
        .unwrap();
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(tar::EntryType::Regular);
    h.set_mode(0o644);
    h.set_size(1);
    b.append_data(&mut h, "x", &b"x"[..]).unwrap();
    let layer = b.into_inner().unwrap();
    unpack_layer(&layer[..], &root, &opts(), "layer").unwrap();
    let mut value = [0u8; 16];
    match rustix::fs::getxattr(root.join("x").as_path(), "user.strata", &mut value[..]) {
        Ok(n) => assert_eq!(&value[..n], b"yes"),
        Err(e) => eprintln!("user xattrs not supported here ({e}); not checked"),
    }
}

/// A layer with a character device, a block device, a FIFO, a setuid binary, a setgid one and
/// a sticky directory.
fn privileged_layer() -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, kind, major, minor) in [
        ("null", tar::EntryType::Char, 1, 3),
        ("loop0", tar::EntryType::Block, 7, 0),
    ] {
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(kind);
        h.set_mode(0o666);
        h.set_size(0);
        h.set_device_major(major).unwrap();
        h.set_device_minor(minor).unwrap();
        b.append_data(&mut h, name, std::io::empty()).unwrap();
    }
    for (name, mode) in [("su", 0o4755), ("wall", 0o2755)] {
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(tar::EntryType::Regular);
        h.set_mode(mode);
        h.set_size(2);
        b.append_data(&mut h, name, &b"#!"[..]).unwrap();
    }
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(tar::EntryType::Fifo);
    h.set_mode(0o644);
    h.set_size(0);
    b.append_data(&mut h, "pipe", std::io::empty()).unwrap();
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(tar::EntryType::Directory);
    h.set_mode(0o1777);
    h.set_size(0);
    b.append_data(&mut h, "tmp", std::io::empty()).unwrap();
    b.into_inner().unwrap()
}

fn mode_of(root: &Path, name: &str) -> u32 {
    std::fs::symlink_metadata(root.join(name))
        .unwrap()
        .permissions()
        .mode()
        & 0o7777
}

#[test]
fn untrusted_layers_get_no_device_nodes_and_no_setid_bits() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("root");
    std::fs::create_dir(&root).unwrap();
    let stats = unpack_layer(&privileged_layer()[..], &root, &opts(), "layer").unwrap();
    assert!(!root.join("null").exists() && !root.join("loop0").exists());
    assert_eq!(stats.skipped, 2, "{stats:?}");
    assert_eq!(
        (mode_of(&root, "su"), mode_of(&root, "wall")),
        (0o755, 0o755)
    );
    assert_eq!(stats.setid_cleared, 2, "{stats:?}");
    // FIFOs and the sticky bit are harmless, and kept.
    use std::os::unix::fs::FileTypeExt;
    assert!(
        std::fs::symlink_metadata(root.join("pipe"))
            .unwrap()
            .file_type()
            .is_fifo()
    );
    assert_eq!(mode_of(&root, "tmp"), 0o1777);
}

#[test]
fn trusted_layers_get_device_nodes_and_setid_bits_as_root() {
    let is_root = rustix::process::geteuid().is_root();
    if !strata_testkit::peer("device nodes and setuid bits", "root privileges", is_root) {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("root");
    std::fs::create_dir(&root).unwrap();
    let stats = unpack_layer(&privileged_layer()[..], &root, &trusted(), "layer").unwrap();
    use std::os::unix::fs::FileTypeExt;
    let null = std::fs::symlink_metadata(root.join("null")).unwrap();
    assert!(null.file_type().is_char_device());
    assert_eq!(null.rdev(), rustix::fs::makedev(1, 3));
    let loop0 = std::fs::symlink_metadata(root.join("loop0")).unwrap();
    assert!(loop0.file_type().is_block_device());
    assert_eq!(loop0.rdev(), rustix::fs::makedev(7, 0));
    assert_eq!(
        (mode_of(&root, "su"), mode_of(&root, "wall")),
        (0o4755, 0o2755)
    );
    assert_eq!((stats.skipped, stats.setid_cleared), (0, 0), "{stats:?}");
}

#[test]
fn one_file_is_extracted_from_a_layer_and_its_digest_still_checked() {
    let t = tempfile::tempdir().unwrap();
    let layer = gz(tar(&[
        E::Dir("disk/", 0o755),
        E::File("./disk/boot.qcow2", 0o644, b"first"),
        E::File("other", 0o644, b"o"),
        // A later entry of the same path wins, as in an unpack.
        E::File("disk/boot.qcow2", 0o644, b"qcow2 bytes"),
        E::Symlink("link", "disk/boot.qcow2"),
    ]));
    let mut out = std::fs::File::create(t.path().join("out")).unwrap();
    let extract = |path: &str, out: &mut std::fs::File| {
        strata_oci::extract_file(&layer.stored[..], None, path, out, &opts(), "layer")
    };
    assert_eq!(extract("disk/boot.qcow2", &mut out).unwrap(), Some(11));
    assert_eq!(std::fs::read(t.path().join("out")).unwrap(), b"qcow2 bytes");
    assert_eq!(extract("missing", &mut out).unwrap(), None);
    let e = extract("link", &mut out).unwrap_err().to_string();
    assert!(e.contains("not a regular file"), "{e}");
    assert!(extract("../escape", &mut out).is_err());
    // Through a verifying reader, a layer whose bytes do not match its digest fails even
    // though the file was found.
    let layout = OciDir::create(t.path().join("l")).unwrap();
    use strata_oci::{BlobRead, BlobWrite};
    let stored = layout.put_bytes(&layer.stored, None).unwrap();
    let mut bytes = layer.stored.clone();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(layout.blob_path(&stored.digest), &bytes).unwrap();
    let reader = layout.open_blob(&stored.digest, stored.size).unwrap();
    let e = strata_oci::extract_file(
        reader,
        Some(stored.size),
        "disk/boot.qcow2",
        &mut out,
        &opts(),
        "layer",
    );
    assert!(e.is_err());
}
