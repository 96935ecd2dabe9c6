//! Round trips between layout, oci-archive and docker-archive, checking digests.

use strata_oci::image::{Selector, copy_image};
use strata_oci::layout::ref_name;
use strata_oci::{DockerArchive, OciArchive, OciDir, write_docker_archive, write_oci_archive};

use crate::common::*;

#[test]
fn layout_copy_tags_and_never_duplicates_blobs() {
    let t = tempfile::tempdir().unwrap();
    let a = t.path().join("a");
    let image = make_image(&a, "v1", &sample_layers());
    let src = OciDir::open(&a).unwrap();
    let b = OciDir::create(t.path().join("b")).unwrap();
    b.write_image(&src, &image, Some("one")).unwrap();
    b.write_image(&src, &image, Some("two")).unwrap();
    b.write_image(&src, &image, Some("one")).unwrap();
    assert_eq!(blob_names(&t.path().join("b")), blob_names(&a));
    assert_eq!(b.names().unwrap(), ["two", "one"]);
    let back = b.resolve(&Selector::Name("one".into()), &amd64()).unwrap();
    assert_eq!(back.manifest_bytes, image.manifest_bytes);
    assert_eq!(
        b.resolve(&Selector::Index(0), &amd64())
            .unwrap()
            .manifest_bytes,
        image.manifest_bytes
    );
    // Two images: the only-one selector is ambiguous.
    let e = b.resolve(&Selector::Only, &amd64()).unwrap_err();
    assert_eq!(e.kind(), strata_oci::ErrorKind::InvalidRequest, "{e}");
    let e = b
        .resolve(&Selector::Name("nope".into()), &amd64())
        .unwrap_err();
    assert_eq!(e.kind(), strata_oci::ErrorKind::NotFound, "{e}");
}

#[test]
fn nested_index_selects_the_platform() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join("l");
    let amd = vec![plain(tar(&[E::File("arch", 0o644, b"amd64")]))];
    let arm = vec![plain(tar(&[E::File("arch", 0o644, b"arm64")]))];
    let layout = OciDir::create(&dir).unwrap();
    use strata_oci::BlobWrite;
    let mut entries = Vec::new();
    for (layers, arch) in [(&amd, "amd64"), (&arm, "arm64")] {
        let (config, manifest) = image_docs(layers, arch);
        for l in layers.iter() {
            layout.put_bytes(&l.stored, None).unwrap();
        }
        layout.put_bytes(&config, None).unwrap();
        let m = layout.put_bytes(&manifest, None).unwrap();
        entries.push(serde_json::json!({
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": m.digest.prefixed(), "size": m.size,
            "platform": {"os": "linux", "architecture": arch},
        }));
    }
    let inner = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": entries,
    }))
    .unwrap();
    let i = layout.put_bytes(&inner, None).unwrap();
    let desc = oci_spec::image::Descriptor::new(
        oci_spec::image::MediaType::ImageIndex,
        i.size,
        i.digest
            .prefixed()
            .parse::<oci_spec::image::Digest>()
            .unwrap(),
    );
    layout.add_to_index(&desc, Some("multi")).unwrap();
    let arm64 = strata_oci::Platform {
        architecture: "arm64".into(),
        ..amd64()
    };
    for (platform, want) in [(amd64(), b"amd64"), (arm64, b"arm64")] {
        let image = layout
            .resolve(&Selector::Name("multi".into()), &platform)
            .unwrap();
        let root = t.path().join(format!("root-{}", platform.architecture));
        strata_oci::unpack_image(&layout, &image, &root, &opts()).unwrap();
        assert_eq!(std::fs::read(root.join("arch")).unwrap(), want);
    }
    let s390 = strata_oci::Platform {
        architecture: "s390x".into(),
        ..amd64()
    };
    let e = layout
        .resolve(&Selector::Name("multi".into()), &s390)
        .unwrap_err();
    assert_eq!(e.kind(), strata_oci::ErrorKind::NotFound, "{e}");
}

#[test]
fn oci_archive_round_trip_keeps_every_digest_and_other_images() {
    let t = tempfile::tempdir().unwrap();
    let a = t.path().join("a");
    let image = make_image(&a, "v1", &sample_layers());
    let src = OciDir::open(&a).unwrap();
    let x = t.path().join("x.tar");
    write_oci_archive(&x, &src, &image, Some("v1")).unwrap();
    let other = make_image(
        &t.path().join("o"),
        "o",
        &[plain(tar(&[E::File("o", 0o644, b"o")]))],
    );
    write_oci_archive(
        &x,
        &OciDir::open(t.path().join("o")).unwrap(),
        &other,
        Some("o"),
    )
    .unwrap();
    let archive = OciArchive::open(&x).unwrap();
    let back = archive
        .resolve(&Selector::Name("v1".into()), &amd64())
        .unwrap();
    assert_eq!(back.manifest_bytes, image.manifest_bytes);
    assert_eq!(archive.layout().names().unwrap(), ["v1", "o"]);
    // Nothing but the archive is left beside it.
    let left: Vec<_> = std::fs::read_dir(t.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn layout_to_archive_to_docker_archive_to_layout() {
    let t = tempfile::tempdir().unwrap();
    let a = t.path().join("a");
    let layers = sample_layers(); // plain + gzip
    let image = make_image(&a, "v1", &layers);
    let x = t.path().join("x.tar");
    write_oci_archive(&x, &OciDir::open(&a).unwrap(), &image, Some("v1")).unwrap();
    let archive = OciArchive::open(&x).unwrap();
    let from_archive = archive
        .resolve(&Selector::Name("v1".into()), &amd64())
        .unwrap();
    let d = t.path().join("d.tar");
    write_docker_archive(
        &d,
        &archive,
        &from_archive,
        &["example/img:v1", "busybox:latest"],
    )
    .unwrap();
    let docker = DockerArchive::open(&d).unwrap();
    assert_eq!(
        docker.items()[0].repo_tags,
        ["example/img:v1", "busybox:latest"]
    );
    for sel in [
        Selector::Only,
        Selector::Index(0),
        Selector::Name("docker.io/library/busybox:latest".into()),
        Selector::Name("example/img:v1".into()),
    ] {
        docker.resolve(&sel, &amd64()).unwrap();
    }
    let di = docker.resolve(&Selector::Only, &amd64()).unwrap();
    let c = OciDir::create(t.path().join("c")).unwrap();
    c.write_image(&di, &di.image, Some("back")).unwrap();
    let back = c.resolve(&Selector::Name("back".into()), &amd64()).unwrap();
    // The config keeps its bytes; the plain layer keeps its digest; the gzip layer became
    // its uncompressed tar, named by its diff_id.
    assert_eq!(back.config_bytes, image.config_bytes);
    assert_eq!(digest_of(back.config()), digest_of(image.config()));
    assert_eq!(digest_of(&back.layers()[0]), digest_of(&image.layers()[0]));
    assert_eq!(digest_of(&back.layers()[1]), image.diff_ids[1]);
    assert_ne!(digest_of(&back.layers()[1]), digest_of(&image.layers()[1]));
    assert_eq!(back.diff_ids, image.diff_ids);
    // Same tree either way.
    let r1 = t.path().join("r1");
    let r2 = t.path().join("r2");
    strata_oci::unpack_image(&OciDir::open(&a).unwrap(), &image, &r1, &opts()).unwrap();
    strata_oci::unpack_image(&c, &back, &r2, &opts()).unwrap();
    assert_eq!(tree(&r1), tree(&r2));
    // An uncompressed image survives docker-archive with every digest except the manifest's.
    let u = t.path().join("u");
    let plain_image = make_image(
        &u,
        "p",
        &[plain(layers[0].tar.clone()), plain(layers[1].tar.clone())],
    );
    let d2 = t.path().join("d2.tar");
    write_docker_archive(&d2, &OciDir::open(&u).unwrap(), &plain_image, &["p:1"]).unwrap();
    let docker2 = DockerArchive::open(&d2).unwrap();
    let di2 = docker2
        .resolve(&Selector::Name("p:1".into()), &amd64())
        .unwrap();
    assert_eq!(di2.image.layers(), plain_image.layers());
    assert_eq!(di2.image.config(), plain_image.config());
    let l = OciDir::create(t.path().join("l")).unwrap();
    copy_image(&di2, &di2.image, &l).unwrap();
    assert_eq!(blob_names(&t.path().join("l")).len(), 4);
    // The manifest of a docker-archive image is synthesised, and reads back identically.
    assert!(ref_name(&di2.image.manifest_descriptor).is_none());
}

#[test]
fn docker_archive_gzip_compressed_and_symlinked_members() {
    let t = tempfile::tempdir().unwrap();
    let layer = tar(&[E::File("f", 0o644, b"hello")]);
    let layers = vec![plain(layer.clone()), plain(layer.clone())];
    let (config, _) = image_docs(&layers, "amd64");
    // The legacy `docker save` form: <id>/layer.tar, the second a symlink to the first.
    let mut b = tar::Builder::new(Vec::new());
    let mut add = |name: &str, data: &[u8]| {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::Regular);
        b.append_data(&mut h, name, data).unwrap();
    };
    add("cfg.json", &config);
    add("aaa/layer.tar", &layer);
    let manifest = serde_json::to_vec(&serde_json::json!([{
        "Config": "cfg.json", "RepoTags": null, "Layers": ["aaa/layer.tar", "bbb/layer.tar"]
    }]))
    .unwrap();
    add("manifest.json", &manifest);
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Symlink);
    h.set_size(0);
    b.append_link(&mut h, "bbb/layer.tar", "../aaa/layer.tar")
        .unwrap();
    let bytes = b.into_inner().unwrap();
    let p = t.path().join("legacy.tar.gz");
    std::fs::write(&p, gzip(&bytes)).unwrap();
    let docker = DockerArchive::open(&p).unwrap();
    let di = docker.resolve(&Selector::Only, &amd64()).unwrap();
    let root = t.path().join("root");
    strata_oci::unpack_image(&di, &di.image, &root, &opts()).unwrap();
    assert_eq!(std::fs::read(root.join("f")).unwrap(), b"hello");
}

#[test]
fn selectors_follow_containers_transports_references() {
    use strata_model::ContainerTransport;
    let sel = |text: &str| match text.parse::<ContainerTransport>().unwrap() {
        ContainerTransport::Oci(r) => Selector::for_oci(&r),
        ContainerTransport::OciArchive(r) => Selector::for_oci_archive(&r),
        ContainerTransport::DockerArchive(r) => Selector::for_docker_archive(&r),
        other => panic!("{other:?}"),
    };
    assert_eq!(sel("oci:/d:v1"), Selector::Name("v1".into()));
    assert_eq!(sel("oci:/d"), Selector::Only);
    assert_eq!(sel("oci-archive:/a.tar:x"), Selector::Name("x".into()));
    assert_eq!(sel("docker-archive:/a.tar:@1"), Selector::Index(1));
    assert_eq!(sel("docker-archive:/a.tar"), Selector::Only);
    let Selector::Name(n) = sel("docker-archive:/a.tar:busybox:latest") else {
        panic!()
    };
    // The archive matches it against RepoTags as a normalised reference.
    let t = tempfile::tempdir().unwrap();
    let image = make_image(
        &t.path().join("l"),
        "v1",
        &[plain(tar(&[E::File("f", 0o644, b"f")]))],
    );
    let d = t.path().join("d.tar");
    write_docker_archive(
        &d,
        &OciDir::open(t.path().join("l")).unwrap(),
        &image,
        &["busybox:latest"],
    )
    .unwrap();
    DockerArchive::open(&d)
        .unwrap()
        .resolve(&Selector::Name(n), &amd64())
        .unwrap();
}

#[test]
fn docker_archive_with_only_an_oci_layout_inside_reads_through_index_json() {
    let t = tempfile::tempdir().unwrap();
    let a = t.path().join("a");
    let image = make_image(&a, "v1", &sample_layers());
    let p = t.path().join("d.tar");
    let mut f = std::fs::File::create(&p).unwrap();
    strata_oci::archive::tar_layout(&OciDir::open(&a).unwrap(), &mut f).unwrap();
    drop(f);
    let docker = DockerArchive::open(&p).unwrap();
    assert!(docker.items().is_empty());
    let di = docker
        .resolve(&Selector::Name("v1".into()), &amd64())
        .unwrap();
    assert_eq!(di.image.manifest_bytes, image.manifest_bytes);
    let c = OciDir::create(t.path().join("c")).unwrap();
    c.write_image(&di, &di.image, None).unwrap();
    assert_eq!(blob_names(&t.path().join("c")), blob_names(&a));
}
