//! Container images through the core: the registry seam (a fake `RegistrySource` serving an
//! OCI layout), per-blob progress, deduplication, and the refusal without a registry client.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use strata::{
    ContainerTransport, CopyMethod, Destination, Error, ErrorKind, ImportRequest, NamePolicy,
    Phase, ProgressEvent, RegistrySource, RemoteImage, Source, Strata, StrataOptions,
};
use strata_model::spec::RegistryRef;
use strata_oci::blob::BlobWrite;
use strata_oci::verify::digest_bytes;
use strata_oci::{BlobRead, Image, OciDir, OciError, Platform, Selector};

use crate::util::{Fixture, image, target};

/// A registry whose images are the named images of an OCI layout (the tag is the name).
#[derive(Debug)]
struct FakeRegistry {
    layout: PathBuf,
    /// Serve every blob one byte short.
    truncate: bool,
}

/// Blobs of a layout, maybe cut short.
struct Blobs {
    dir: OciDir,
    truncate: bool,
}

impl BlobRead for Blobs {
    fn open_blob(
        &self,
        digest: &strata::Digest,
        size: u64,
    ) -> Result<Box<dyn std::io::Read + '_>, OciError> {
        let path = self.dir.blob_path(digest);
        let mut bytes = std::fs::read(&path).map_err(|e| OciError::from_io(&path, "read", e))?;
        if self.truncate {
            bytes.pop();
        }
        Ok(Box::new(strata_oci::verify::VerifyingReader::new(
            std::io::Cursor::new(bytes),
            format!("blob {digest}"),
            digest.clone(),
            size,
        )))
    }
}

impl RegistrySource for FakeRegistry {
    fn resolve(
        &self,
        reference: &RegistryRef,
        platform: &Platform,
    ) -> Result<RemoteImage, OciError> {
        let dir = OciDir::open(&self.layout)?;
        let tag = reference.reference().tag().unwrap_or("latest").to_owned();
        let image = dir.resolve(&Selector::Name(tag), platform)?;
        Ok(RemoteImage {
            image,
            blobs: Box::new(Blobs {
                dir,
                truncate: self.truncate,
            }),
        })
    }
}

/// A layout at `dir` with one image `name` of one layer (bytes need not be a tar: import
/// does not unpack).
pub(crate) fn make_layout(dir: &Path, name: &str) -> Image {
    let layout = OciDir::create(dir).unwrap();
    let layer = b"layer bytes, stored verbatim".to_vec();
    let config = format!(
        r#"{{"architecture":"amd64","os":"linux","rootfs":{{"type":"layers","diff_ids":["{}"]}}}}"#,
        digest_bytes(&layer).prefixed()
    );
    let manifest = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{}","size":{}}},"layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"{}","size":{}}}]}}"#,
        digest_bytes(config.as_bytes()).prefixed(),
        config.len(),
        digest_bytes(&layer).prefixed(),
        layer.len()
    );
    for bytes in [&layer[..], config.as_bytes(), manifest.as_bytes()] {
        layout.put_bytes(bytes, None).unwrap();
    }
    let image = Image::from_parts(manifest.into_bytes(), config.into_bytes()).unwrap();
    layout
        .add_to_index(&image.manifest_descriptor, Some(name))
        .unwrap();
    image
}

/// The fixture's stores, with `registry` as the registry client.
fn with(fx: &Fixture, registry: Option<Arc<dyn RegistrySource>>) -> Strata {
    let options = StrataOptions {
        registry,
        ..StrataOptions::default()
    };
    Strata::new(fx.strata.stores().iter().cloned(), options)
}

fn with_registry(fx: &Fixture, layout: &Path, truncate: bool) -> Strata {
    with(
        fx,
        Some(Arc::new(FakeRegistry {
            layout: layout.to_owned(),
            truncate,
        })),
    )
}

fn transport(text: &str) -> ContainerTransport {
    text.parse().unwrap()
}

fn request(source: &str, dest: &str) -> ImportRequest {
    ImportRequest {
        source: Source::Container(transport(source)),
        dest: target(dest),
        policy: NamePolicy::default(),
        arch: None,
    }
}

#[test]
fn registry_seam_progress_and_dedup() {
    let fx = Fixture::new();
    let layout = fx.path("layout");
    let img = make_layout(&layout, "1");
    let strata = with_registry(&fx, &layout, false);
    let events = Mutex::new(Vec::new());
    let sink = |e: &ProgressEvent| events.lock().unwrap().push(e.clone());
    let outcome = strata
        .import(request("docker://registry.example/x:1", "x"), &sink)
        .unwrap();
    assert_eq!(outcome.image.kind, strata::Kind::Ctr);
    assert_eq!(
        outcome.digest.unwrap().prefixed(),
        img.manifest_descriptor.digest().to_string()
    );
    assert_eq!(outcome.blobs.len(), 3);
    assert!(
        outcome
            .blobs
            .iter()
            .all(|b| b.method == CopyMethod::SparseCopy)
    );
    let events = events.into_inner().unwrap();
    let blob_phases: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            ProgressEvent::Started {
                phase: Phase::Blob { digest, size },
                total,
            } => Some((digest.clone(), *size, *total)),
            _ => None,
        })
        .collect();
    assert_eq!(blob_phases.len(), 3, "{events:?}");
    assert!(blob_phases.iter().all(|(d, s, t)| d.is_some() && s == t));
    // Every blob phase advances to its size, then finishes.
    let advanced = events
        .iter()
        .filter(|e| matches!(e, ProgressEvent::Advanced { .. }))
        .count();
    assert_eq!(advanced, 3, "{events:?}");
    let started = events
        .iter()
        .filter(|e| matches!(e, ProgressEvent::Started { .. }))
        .count();
    let finished = events
        .iter()
        .filter(|e| matches!(e, ProgressEvent::Finished))
        .count();
    assert_eq!(started, finished);

    // Again under another name: nothing is read or written.
    let events = Mutex::new(Vec::new());
    let sink = |e: &ProgressEvent| events.lock().unwrap().push(e.clone());
    let again = strata
        .import(request("docker://registry.example/x:1", "y"), &sink)
        .unwrap();
    assert!(again.deduplicated);
    assert!(again.blobs.iter().all(|b| b.method == CopyMethod::Existing));
    assert!(!events.into_inner().unwrap().iter().any(|e| matches!(
        e,
        ProgressEvent::Started {
            phase: Phase::Blob { .. },
            ..
        }
    )));
}

#[test]
fn registry_errors() {
    let fx = Fixture::new();
    let layout = fx.path("layout");
    make_layout(&layout, "1");
    // No registry client (an embedder passed none): refused before anything is written.
    let err = with(&fx, None)
        .import(
            request("docker://registry.example/x:1", "x"),
            &strata::NoProgress,
        )
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::TransportUnavailable {
                transport: "docker"
            }
        ),
        "{err:?}"
    );
    assert_eq!(err.kind(), ErrorKind::Unsupported);
    // A registry whose blobs are cut short: the size mismatch, and nothing stored.
    let strata = with_registry(&fx, &layout, true);
    let err = strata
        .import(
            request("docker://registry.example/x:1", "x"),
            &strata::NoProgress,
        )
        .unwrap_err();
    assert!(matches!(err, Error::ContainerSource { .. }), "{err:?}");
    assert_eq!(err.kind(), ErrorKind::IntegrityMismatch);
    let data = fx.repo_dir("user").join("data");
    assert_eq!(std::fs::read_dir(&data).map_or(0, Iterator::count), 0);
    // An unknown tag: not found.
    let strata = with_registry(&fx, &layout, false);
    let err = strata
        .import(
            request("docker://registry.example/x:2", "x"),
            &strata::NoProgress,
        )
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
}

/// A registry source that only pulls (the trait's provided `push`) refuses an export to
/// `docker://` as unsupported, naming the destination, and writes nothing.
#[test]
fn a_pull_only_registry_source_refuses_pushes() {
    let fx = Fixture::new();
    let layout = fx.path("layout");
    make_layout(&layout, "1");
    let strata = with_registry(&fx, &layout, false);
    strata
        .import(
            request("docker://registry.example/x:1", "x"),
            &strata::NoProgress,
        )
        .unwrap();
    let err = strata
        .export(
            strata::ExportRequest {
                image: image("x"),
                dest: Destination::Container {
                    transport: transport("docker://registry.example/y:1"),
                    default_name: None,
                },
            },
            &strata::NoProgress,
        )
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unsupported, "{err}");
    assert!(
        matches!(&err, Error::ContainerDestination { path, .. }
            if path.as_os_str() == "docker://registry.example/y:1"),
        "{err:?}"
    );
}

/// A layout whose `multi` tag is an index of two single-layer images, one per architecture;
/// returns the manifest digests (amd64, arm64).
fn make_multi_platform_layout(dir: &Path) -> (String, String) {
    let layout = OciDir::create(dir).unwrap();
    let mut entries = Vec::new();
    let mut digests = Vec::new();
    let mut any_manifest = None;
    for arch in ["amd64", "arm64"] {
        let layer = format!("layer of {arch}").into_bytes();
        let config = format!(
            r#"{{"architecture":"{arch}","os":"linux","rootfs":{{"type":"layers","diff_ids":["{}"]}}}}"#,
            digest_bytes(&layer).prefixed()
        );
        let manifest = format!(
            r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{}","size":{}}},"layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"{}","size":{}}}]}}"#,
            digest_bytes(config.as_bytes()).prefixed(),
            config.len(),
            digest_bytes(&layer).prefixed(),
            layer.len()
        );
        for bytes in [&layer[..], config.as_bytes(), manifest.as_bytes()] {
            layout.put_bytes(bytes, None).unwrap();
        }
        let image = Image::from_parts(manifest.clone().into_bytes(), config.into_bytes()).unwrap();
        digests.push(digest_bytes(manifest.as_bytes()).prefixed());
        entries.push(format!(
            r#"{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{}","size":{},"platform":{{"os":"linux","architecture":"{arch}"}}}}"#,
            digest_bytes(manifest.as_bytes()).prefixed(),
            manifest.len()
        ));
        any_manifest = Some(image.manifest_descriptor);
    }
    let index = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{}]}}"#,
        entries.join(",")
    );
    layout.put_bytes(index.as_bytes(), None).unwrap();
    let mut desc = any_manifest.unwrap();
    desc.set_media_type(oci_spec::image::MediaType::ImageIndex);
    desc.set_digest(digest_bytes(index.as_bytes()).prefixed().parse().unwrap());
    desc.set_size(index.len() as u64);
    desc.set_platform(None);
    layout.add_to_index(&desc, Some("multi")).unwrap();
    (digests[0].clone(), digests[1].clone())
}

#[test]
fn arch_picks_the_image_of_a_multi_platform_layout() {
    let fx = Fixture::new();
    let layout = fx.path("multi");
    let (amd64, arm64) = make_multi_platform_layout(&layout);
    let source = format!("oci:{}:multi", layout.display());
    let import = |name: &str, arch: Option<&str>| {
        fx.strata.import(
            ImportRequest {
                arch: arch.map(str::to_owned),
                ..request(&source, name)
            },
            &strata::NoProgress,
        )
    };
    for (name, arch, want) in [("a", Some("amd64"), &amd64), ("b", Some("arm64"), &arm64)] {
        let outcome = import(name, arch).unwrap();
        let record =
            std::fs::read_to_string(fx.repo_dir("user").join(format!("meta/{name}@0"))).unwrap();
        assert!(record.contains(want.as_str()), "{arch:?}: {record}");
        assert_eq!(outcome.image.name, name);
    }
    let err = import("c", Some("s390x")).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    let err = import("d", Some("ARM64!")).unwrap_err();
    assert!(matches!(err, Error::BadArch { .. }), "{err:?}");
    assert_eq!(err.kind(), ErrorKind::InvalidRequest);
}

/// A flat store keeps VM images only: a container image is refused before anything is read.
#[test]
fn a_flat_store_refuses_container_images() {
    let fx = Fixture::new();
    let layout = fx.path("layout");
    make_layout(&layout, "1");
    let source = format!("oci:{}:1", layout.display());
    let err = fx
        .strata
        .import(request(&source, "flat:x"), &strata::NoProgress)
        .unwrap_err();
    assert!(
        matches!(&err, Error::NotCapable { store, .. } if store == "flat"),
        "{err:?}"
    );
    assert_eq!(err.kind(), ErrorKind::Unsupported);
    assert!(!fx.path("flat-store").join("x").exists());
}
