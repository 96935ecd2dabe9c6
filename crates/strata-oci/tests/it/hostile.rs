//! Hostile input: each case starts from valid bytes, changes one thing, and must be refused
//! with the exact variant, with nothing written outside the destination.

use std::path::{Path, PathBuf};

use strata_oci::blob::{BlobWrite, Expected};
use strata_oci::image::Selector;
use strata_oci::verify::digest_bytes;
use strata_oci::{
    DockerArchive, ErrorKind, ExpansionLimit, OciArchive, OciDir, OciError, UnpackOptions,
    unpack_image, unpack_layer, write_docker_archive, write_docker_archive_with,
};

use crate::common::*;

/// A temporary directory with an empty `root` and an `outside` holding one sentinel file.
struct Scene {
    t: tempfile::TempDir,
}

impl Scene {
    fn new() -> Scene {
        let t = tempfile::tempdir().unwrap();
        std::fs::create_dir(t.path().join("root")).unwrap();
        std::fs::create_dir(t.path().join("outside")).unwrap();
        std::fs::write(t.path().join("outside/sentinel"), b"keep").unwrap();
        Scene { t }
    }

    fn root(&self) -> PathBuf {
        self.t.path().join("root")
    }

    fn outside(&self) -> PathBuf {
        self.t.path().join("outside")
    }

    fn unpack(&self, layer: &[u8]) -> Result<strata_oci::UnpackStats, OciError> {
        unpack_layer(layer, &self.root(), &opts(), "layer")
    }

    /// Nothing changed outside `root`.
    fn check_contained(&self) {
        let mut top: Vec<String> = names(self.t.path());
        top.sort();
        assert_eq!(top, ["outside", "root"]);
        assert_eq!(names(&self.outside()), ["sentinel"]);
        assert_eq!(
            std::fs::read(self.outside().join("sentinel")).unwrap(),
            b"keep"
        );
        assert!(!Path::new("/evil-abs").exists());
    }
}

fn names(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

fn assert_escape(r: Result<strata_oci::UnpackStats, OciError>, needle: &str) {
    match r {
        Err(OciError::Escape { entry, reason }) => {
            assert!(
                entry.contains(needle),
                "entry {entry:?} should name {needle:?} ({reason})"
            );
        }
        other => panic!("expected Escape for {needle}, got {other:?}"),
    }
}

#[test]
fn dotdot_and_absolute_entries_are_refused() {
    for name in ["../evil", "a/../../evil", "/evil-abs", "./../evil"] {
        let s = Scene::new();
        assert_escape(s.unpack(&tar(&[E::File(name, 0o644, b"x")])), name);
        s.check_contained();
    }
}

#[test]
fn symlink_then_write_through_is_refused() {
    let s = Scene::new();
    let r = s.unpack(&tar(&[
        E::Symlink("link", "../outside"),
        E::File("link/evil", 0o644, b"x"),
    ]));
    assert_escape(r, "link/evil");
    s.check_contained();
    // A chain of symlinks climbing out is refused too.
    let s = Scene::new();
    let r = s.unpack(&tar(&[
        E::Dir("a/", 0o755),
        E::Symlink("a/up", ".."),
        E::Symlink("a/up2", "up/.."),
        E::File("a/up2/evil", 0o644, b"x"),
    ]));
    assert_escape(r, "a/up2/evil");
    s.check_contained();
}

#[test]
fn absolute_symlink_resolves_inside_the_root() {
    let s = Scene::new();
    let target = s.outside().display().to_string();
    s.unpack(&tar(&[
        E::Symlink("link", &target),
        E::File("link/evil", 0o644, b"x"),
    ]))
    .unwrap();
    s.check_contained();
    let inside = s.root().join(target.trim_start_matches('/')).join("evil");
    assert_eq!(std::fs::read(inside).unwrap(), b"x");
}

#[test]
fn a_symlink_as_last_component_is_replaced_not_followed() {
    let s = Scene::new();
    s.unpack(&tar(&[
        E::Symlink("f", "../outside/sentinel"),
        E::File("f", 0o644, b"replaced"),
    ]))
    .unwrap();
    s.check_contained();
    assert_eq!(std::fs::read(s.root().join("f")).unwrap(), b"replaced");
}

#[test]
fn hardlinks_to_outside_are_refused() {
    for target in [
        "../outside/sentinel",
        "/etc/passwd",
        "x/../../outside/sentinel",
    ] {
        let s = Scene::new();
        assert_escape(s.unpack(&tar(&[E::Hardlink("h", target)])), "h");
        s.check_contained();
    }
    let s = Scene::new();
    let r = s.unpack(&tar(&[
        E::Symlink("l", "../outside"),
        E::Hardlink("h", "l/sentinel"),
    ]));
    assert_escape(r, "h");
    s.check_contained();
}

#[test]
fn gzip_bomb_is_capped() {
    let s = Scene::new();
    let big = vec![0u8; 8 << 20];
    let bomb = gzip(&tar(&[E::File("zeros", 0o644, &big)]));
    assert!(bomb.len() < 64 << 10, "{}", bomb.len());
    let opts = UnpackOptions {
        max_layer_size: 1 << 20,
        ..opts()
    };
    match unpack_layer(&bomb[..], &s.root(), &opts, "bomb layer") {
        Err(OciError::TooLarge { what, limit }) => {
            assert_eq!(limit, 1 << 20);
            assert!(what.contains("bomb layer"), "{what}");
        }
        other => panic!("expected TooLarge, got {other:?}"),
    }
    s.check_contained();
}

/// A tar of 1 MiB of zeros, and its gzip (about a thousand times smaller).
fn zero_bomb() -> Layer {
    gz(tar(&[E::File("zeros", 0o644, &vec![0u8; 1 << 20])]))
}

/// An expansion limit the bomb exceeds: 20 times, at least 64 KiB.
const SMALL: ExpansionLimit = ExpansionLimit {
    ratio: 20,
    floor: 64 << 10,
};

fn assert_expansion_refused(r: Result<impl std::fmt::Debug, OciError>, needle: &str) {
    match r {
        Err(e @ OciError::ExpansionTooLarge { .. }) => {
            let OciError::ExpansionTooLarge {
                what, limit, ratio, ..
            } = &e
            else {
                unreachable!()
            };
            assert!(what.contains(needle), "{what} should name {needle}");
            assert_eq!((*limit, *ratio), (SMALL.floor, SMALL.ratio));
            assert_eq!(e.kind(), ErrorKind::TooLarge, "exit 65 in the core");
            assert!(e.to_string().contains(needle), "{e}");
        }
        other => panic!("expected ExpansionTooLarge, got {other:?}"),
    }
}

#[test]
fn a_decompression_bomb_stops_at_its_expansion_limit_naming_the_layer() {
    let bomb = zero_bomb();
    assert!(bomb.stored.len() < 8 << 10, "{}", bomb.stored.len());
    let small = UnpackOptions {
        expansion: SMALL,
        ..opts()
    };
    // From a store: the limit is taken of the layer's size in its descriptor.
    let t = tempfile::tempdir().unwrap();
    let image = make_image(&t.path().join("src"), "v1", std::slice::from_ref(&bomb));
    let layout = OciDir::open(t.path().join("src")).unwrap();
    let layer = digest_bytes(&bomb.stored).prefixed();
    let root = t.path().join("root");
    assert_expansion_refused(unpack_image(&layout, &image, &root, &small), &layer);
    // The file stopped near the limit, far from the megabyte the bomb holds.
    let written = std::fs::metadata(root.join("zeros")).map_or(0, |m| m.len());
    assert!(written <= SMALL.floor, "{written}");
    // A stream of unknown size: the limit is taken of the compressed bytes read so far.
    let s = Scene::new();
    assert_expansion_refused(
        unpack_layer(&bomb.stored[..], &s.root(), &small, "bomb layer"),
        "bomb layer",
    );
    s.check_contained();
    // zstd bombs too.
    let s = Scene::new();
    let zbomb = zst(bomb.tar.clone());
    assert_expansion_refused(
        unpack_layer(&zbomb.stored[..], &s.root(), &small, "zstd layer"),
        "zstd layer",
    );
    // The default limit (1 GiB at least) lets a real layer of this size through.
    let s = Scene::new();
    unpack_layer(&bomb.stored[..], &s.root(), &opts(), "bomb layer").unwrap();
}

#[test]
fn docker_archives_stop_a_decompression_bomb_at_the_expansion_limit() {
    let t = tempfile::tempdir().unwrap();
    let bomb = zero_bomb();
    let image = make_image(&t.path().join("src"), "v1", std::slice::from_ref(&bomb));
    let layout = OciDir::open(t.path().join("src")).unwrap();
    let layer = digest_bytes(&bomb.stored).prefixed();
    // Writing one decompresses the layer (to store it plain, checked against its diff_id).
    let out = t.path().join("out.tar");
    assert_expansion_refused(
        write_docker_archive_with(&out, &layout, &image, &["x:v1"], &SMALL),
        &layer,
    );
    assert!(!out.exists());
    assert_eq!(names(t.path()), ["src"], "no temporary file left");
    // Reading a compressed one decompresses the archive first.
    write_docker_archive(&out, &layout, &image, &["x:v1"]).unwrap();
    let packed = t.path().join("out.tar.gz");
    std::fs::write(&packed, gzip(&std::fs::read(&out).unwrap())).unwrap();
    assert_expansion_refused(
        DockerArchive::open_with(&packed, &SMALL),
        &packed.display().to_string(),
    );
    DockerArchive::open(&packed).unwrap();
}

#[test]
fn oversized_pax_header_is_refused_before_it_is_read() {
    let s = Scene::new();
    let mut b = tar::Builder::new(Vec::new());
    let value = vec![b'a'; 2 << 20];
    b.append_pax_extensions([("SCHILY.xattr.user.big", &value[..])])
        .unwrap();
    let mut h = tar::Header::new_gnu();
    h.set_size(1);
    b.append_data(&mut h, "f", &b"x"[..]).unwrap();
    let layer = gzip(&b.into_inner().unwrap());
    match s.unpack(&layer) {
        Err(OciError::TooLarge { limit, what }) => {
            assert_eq!(limit, strata_oci::targuard::MAX_TAR_METADATA);
            assert!(what.contains("tar metadata entry of"), "{what}");
        }
        other => panic!("expected TooLarge, got {other:?}"),
    }
    s.check_contained();
}

#[test]
fn archives_with_an_oversized_pax_header_are_refused() {
    let t = tempfile::tempdir().unwrap();
    let mut b = tar::Builder::new(Vec::new());
    let value = vec![b'a'; 2 << 20];
    b.append_pax_extensions([("comment", &value[..])]).unwrap();
    let mut h = tar::Header::new_gnu();
    h.set_size(2);
    b.append_data(&mut h, "manifest.json", &b"[]"[..]).unwrap();
    let p = t.path().join("a.tar");
    std::fs::write(&p, b.into_inner().unwrap()).unwrap();
    let r = DockerArchive::open(&p);
    assert!(
        matches!(r, Err(OciError::TooLarge { limit: 1048576, .. })),
        "{r:?}"
    );
    let r = OciArchive::open_in(&p, t.path());
    assert!(
        matches!(r, Err(OciError::TooLarge { limit: 1048576, .. })),
        "{r:?}"
    );
}

#[test]
fn a_blob_that_is_a_symlink_is_not_followed() {
    let t = tempfile::tempdir().unwrap();
    let (layout, image) = layout_with_image(t.path());
    let config = digest_of(image.config());
    let path = layout.blob_path(&config);
    let real = t.path().join("real-config");
    std::fs::write(&real, &image.config_bytes).unwrap();
    std::fs::remove_file(&path).unwrap();
    std::os::unix::fs::symlink(&real, &path).unwrap();
    let r = layout.resolve(&Selector::Name("v1".into()), &amd64());
    assert!(matches!(r, Err(OciError::Io { .. })), "{r:?}");
}

fn layout_with_image(t: &Path) -> (OciDir, strata_oci::Image) {
    let image = make_image(&t.join("l"), "v1", &sample_layers());
    (OciDir::open(t.join("l")).unwrap(), image)
}

fn overwrite(path: &Path, bytes: &[u8]) {
    let mut p = std::fs::metadata(path).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut p, 0o644);
    std::fs::set_permissions(path, p).unwrap();
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn manifest_whose_bytes_do_not_match_its_digest_is_refused() {
    let t = tempfile::tempdir().unwrap();
    let (layout, image) = layout_with_image(t.path());
    let path = layout.blob_path(&image.manifest_digest().unwrap());
    let mut bytes = image.manifest_bytes.clone();
    let i = bytes.iter().position(|b| *b == b'2').unwrap();
    bytes[i] = b'3'; // schemaVersion 2 -> 3, same length
    overwrite(&path, &bytes);
    match layout.resolve(&Selector::Name("v1".into()), &amd64()) {
        Err(OciError::DigestMismatch {
            what,
            expected,
            actual,
        }) => {
            assert!(what.contains("blob sha256:"), "{what}");
            assert_eq!(expected, image.manifest_digest().unwrap().prefixed());
            assert_eq!(actual, digest_bytes(&bytes).prefixed());
        }
        other => panic!("expected DigestMismatch, got {other:?}"),
    }
}

#[test]
fn layer_whose_bytes_do_not_match_its_digest_is_refused() {
    let t = tempfile::tempdir().unwrap();
    let (layout, image) = layout_with_image(t.path());
    let layer = &image.layers()[0];
    let path = layout.blob_path(&digest_of(layer));
    let mut bytes = std::fs::read(&path).unwrap();
    let n = bytes.len();
    bytes[n / 2] ^= 1;
    overwrite(&path, &bytes);
    let r = unpack_image(&layout, &image, &t.path().join("root"), &opts());
    assert!(matches!(r, Err(OciError::DigestMismatch { .. })), "{r:?}");
    // Truncated: a size mismatch.
    overwrite(&path, &bytes[..n - 1]);
    let r = unpack_image(&layout, &image, &t.path().join("root2"), &opts());
    assert!(matches!(r, Err(OciError::SizeMismatch { .. })), "{r:?}");
    // Copying verifies too, and stores nothing.
    let dst = OciDir::create(t.path().join("dst")).unwrap();
    let r = dst.write_image(&layout, &image, Some("x"));
    assert!(matches!(r, Err(OciError::SizeMismatch { .. })), "{r:?}");
    assert!(!dst.has_blob(&digest_of(layer)).unwrap());
    assert!(dst.names().unwrap().is_empty());
}

#[test]
fn put_blob_with_wrong_digest_stores_nothing() {
    let t = tempfile::tempdir().unwrap();
    let dir = OciDir::create(t.path().join("l")).unwrap();
    let exp = Expected {
        digest: digest_bytes(b"other"),
        size: 5,
    };
    let r = dir.put_bytes(b"bytes", Some(&exp));
    assert!(matches!(r, Err(OciError::DigestMismatch { .. })), "{r:?}");
    let r = dir.put_bytes(b"longer bytes", Some(&exp));
    assert!(
        matches!(r, Err(OciError::SizeMismatch { expected: 5, .. })),
        "{r:?}"
    );
    assert!(blob_names(&t.path().join("l")).is_empty());
}

#[test]
fn oversized_index_and_manifest_are_refused_with_the_numbers() {
    let t = tempfile::tempdir().unwrap();
    let (layout, image) = layout_with_image(t.path());
    let index = t.path().join("l/index.json");
    let mut big = std::fs::read(&index).unwrap();
    big.extend(std::iter::repeat_n(b' ', 5 << 20));
    std::fs::write(&index, &big).unwrap();
    match layout.resolve(&Selector::Name("v1".into()), &amd64()) {
        Err(e @ OciError::TooLarge { limit: 4194304, .. }) => {
            assert!(e.to_string().contains("index.json"), "{e}");
            assert!(e.to_string().contains("4194304 bytes"), "{e}");
        }
        other => panic!("expected TooLarge, got {other:?}"),
    }
    // A descriptor announcing a 5 MiB manifest is refused before anything is read.
    let layout = OciDir::create(t.path().join("m")).unwrap();
    let mut desc = image.manifest_descriptor.clone();
    desc.set_size(5 << 20);
    layout.add_to_index(&desc, Some("big")).unwrap();
    let r = layout.resolve(&Selector::Name("big".into()), &amd64());
    assert!(
        matches!(r, Err(OciError::TooLarge { limit: 4194304, .. })),
        "{r:?}"
    );
}

#[test]
fn oci_archive_blob_not_matching_its_name_and_escaping_entries_are_refused() {
    let t = tempfile::tempdir().unwrap();
    let wrong = digest_bytes(b"something else");
    let mut b = tar::Builder::new(Vec::new());
    let mut add = |name: &str, data: &[u8]| {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::Regular);
        b.append_data(&mut h, name, data).unwrap();
    };
    add("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#);
    add(&format!("blobs/sha256/{}", wrong.hex()), b"these bytes");
    add("index.json", br#"{"schemaVersion":2,"manifests":[]}"#);
    let p = t.path().join("a.tar");
    std::fs::write(&p, b.into_inner().unwrap()).unwrap();
    let r = OciArchive::open_in(&p, t.path());
    assert!(
        matches!(
            r,
            Err(OciError::SizeMismatch { .. }) | Err(OciError::DigestMismatch { .. })
        ),
        "{r:?}"
    );
    // Same size, other bytes.
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(14);
    h.set_mode(0o644);
    b.append_data(
        &mut h,
        format!("blobs/sha256/{}", wrong.hex()),
        &b"something elsE"[..],
    )
    .unwrap();
    std::fs::write(&p, b.into_inner().unwrap()).unwrap();
    let r = OciArchive::open_in(&p, t.path());
    assert!(matches!(r, Err(OciError::DigestMismatch { .. })), "{r:?}");
    // A `..` entry.
    std::fs::write(&p, tar(&[E::File("../evil", 0o644, b"x")])).unwrap();
    let r = OciArchive::open_in(&p, t.path());
    assert!(matches!(r, Err(OciError::Escape { .. })), "{r:?}");
    assert!(!t.path().parent().unwrap().join("evil").exists());
    // No temporary directory is left behind.
    assert_eq!(names(t.path()), ["a.tar"]);
}

#[test]
fn docker_archive_oversized_manifest_and_wrong_layer_are_refused() {
    let t = tempfile::tempdir().unwrap();
    let p = t.path().join("d.tar");
    let big = vec![b' '; 2 << 20];
    std::fs::write(&p, tar(&[E::File("manifest.json", 0o644, &big)])).unwrap();
    let r = DockerArchive::open(&p);
    assert!(
        matches!(r, Err(OciError::TooLarge { limit: 1048576, .. })),
        "{r:?}"
    );
    // A layer whose bytes are not its config's diff_id.
    let layers = vec![plain(tar(&[E::File("f", 0o644, b"right")]))];
    let (config, _) = image_docs(&layers, "amd64");
    let manifest = serde_json::to_vec(&serde_json::json!([
        {"Config": "c.json", "RepoTags": ["x:1"], "Layers": ["l.tar"]}
    ]))
    .unwrap();
    let wrong = tar(&[E::File("f", 0o644, b"wrong")]);
    std::fs::write(
        &p,
        tar(&[
            E::File("c.json", 0o644, &config),
            E::File("l.tar", 0o644, &wrong),
            E::File("manifest.json", 0o644, &manifest),
        ]),
    )
    .unwrap();
    let docker = DockerArchive::open(&p).unwrap();
    let di = docker
        .resolve(&Selector::Name("x:1".into()), &amd64())
        .unwrap();
    let dst = OciDir::create(t.path().join("dst")).unwrap();
    let r = dst.write_image(&di, &di.image, Some("x"));
    assert!(matches!(r, Err(OciError::DigestMismatch { .. })), "{r:?}");
    assert!(dst.names().unwrap().is_empty());
}

#[test]
fn docker_archive_member_links_stay_in_the_archive_and_loops_end() {
    let t = tempfile::tempdir().unwrap();
    let p = t.path().join("d.tar");
    let manifest = serde_json::to_vec(&serde_json::json!([
        {"Config": "c.json", "RepoTags": [], "Layers": ["a/layer.tar"]}
    ]))
    .unwrap();
    std::fs::write(
        &p,
        tar(&[
            E::Symlink("c.json", "../../../../etc/passwd"),
            E::Symlink("a/layer.tar", "../b/layer.tar"),
            E::Symlink("b/layer.tar", "../a/layer.tar"),
            E::File("manifest.json", 0o644, &manifest),
        ]),
    )
    .unwrap();
    let docker = DockerArchive::open(&p).unwrap();
    // `../../etc/passwd` is looked up as the member `etc/passwd`, which does not exist.
    let r = docker.resolve(&Selector::Only, &amd64());
    assert!(matches!(r, Err(OciError::NotFound { .. })), "{r:?}");
    let r = docker.member("a/layer.tar");
    assert!(matches!(r, Err(OciError::InvalidFormat { .. })), "{r:?}");
}

#[test]
fn fuzz_bodies_survive_garbage() {
    strata_oci::fuzzing::parse_json(b"{\"schemaVersion\":2,\"manifests\":[{}]}");
    strata_oci::fuzzing::parse_json(&[0xff; 64]);
    assert!(!strata_oci::fuzzing::unpack(&[0x1f, 0x8b, 0, 1, 2]));
    assert!(!strata_oci::fuzzing::unpack(&tar(&[E::File(
        "../x", 0o644, b"x"
    )])));
    assert!(strata_oci::fuzzing::unpack(&tar(&[E::File(
        "ok", 0o644, b"x"
    )])));
}
