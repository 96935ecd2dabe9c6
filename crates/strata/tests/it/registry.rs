//! A repository kept in a registry (`RegistryStore`) against a real `docker-registry` on
//! 127.0.0.1: every operation of a directory repository, several clients at once, and
//! authentication.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use strata::stores::RegistryStore;
use strata::{
    CopyRequest, DeleteRequest, DiskFormat, ErrorKind, ExportRequest, ListRequest, NamePolicy,
    OnExisting, RepositoryStore, Store, Strata, StrataOptions, VerifyRequest,
};
use strata_oci::RegistryOptions;
use strata_oci::registry::Credentials;
use strata_testkit::registry::LocalRegistry;

use crate::util::{image, import_request, make_raw, target};

/// A `Strata` with the directory repository `local` and the registry store `shared` (its cache
/// under `dir/<cache>`), owner `owner`.
fn strata(reg: &LocalRegistry, dir: &Path, cache: &str, owner: &str) -> Strata {
    strata_with(reg, dir, cache, owner, RegistryOptions::default())
}

fn strata_with(
    reg: &LocalRegistry,
    dir: &Path,
    cache: &str,
    owner: &str,
    options: RegistryOptions,
) -> Strata {
    let shared = RegistryStore::new(
        "shared",
        &format!("docker://{}/strata/vm", reg.host()),
        dir.join(cache),
        options,
    )
    .unwrap();
    let stores: Vec<Arc<dyn Store>> = vec![
        Arc::new(RepositoryStore::new("local", dir.join("local"))),
        Arc::new(shared),
    ];
    Strata::new(
        stores,
        StrataOptions {
            owner: Some(owner.into()),
            ..StrataOptions::default()
        },
    )
}

fn export(strata: &Strata, what: &str, to: &Path) {
    strata
        .export(
            ExportRequest {
                image: image(what),
                dest: strata::Destination::Disk {
                    path: to.to_owned(),
                    format: DiskFormat::Raw,
                },
            },
            &strata::NoProgress,
        )
        .unwrap();
}

fn names(strata: &Strata, store: &str) -> Vec<String> {
    let listed = strata
        .list(ListRequest {
            store: Some(store.into()),
            filter: None,
        })
        .unwrap();
    listed.stores[0]
        .images
        .iter()
        .map(|i| format!("{}@{}", i.name, i.revision.unwrap()))
        .collect()
}

/// The blobs of a directory repository's `data/`, with their inodes.
fn blob_inodes(repo: &Path) -> Vec<(String, u64)> {
    use std::os::unix::fs::MetadataExt;
    let mut out = Vec::new();
    let Ok(fans) = std::fs::read_dir(repo.join("data")) else {
        return out;
    };
    for fan in fans {
        for blob in std::fs::read_dir(fan.unwrap().path()).unwrap() {
            let blob = blob.unwrap();
            out.push((
                blob.file_name().to_string_lossy().into_owned(),
                blob.metadata().unwrap().ino(),
            ));
        }
    }
    out.sort();
    out
}

#[test]
fn a_registry_repository_imports_lists_exports_copies_and_deletes() {
    let Some(reg) = LocalRegistry::start(None) else {
        return;
    };
    lifecycle(&reg, &RegistryOptions::default());
}

#[test]
fn the_same_with_authentication() {
    let line = strata_testkit::registry::htpasswd_line("alice", "s3cret");
    let Some(reg) = LocalRegistry::start(Some(&line)) else {
        return;
    };
    lifecycle(
        &reg,
        &RegistryOptions {
            credentials: Credentials::Basic {
                user: "alice".into(),
                password: "s3cret".into(),
            },
            ..RegistryOptions::default()
        },
    );
}

/// Import, list, show, export from another cache, copy both ways, verify and delete.
fn lifecycle(reg: &LocalRegistry, options: &RegistryOptions) {
    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("disk.raw");
    make_raw(&raw, 64 << 20);
    let strata = |_: &LocalRegistry, dir: &Path, cache: &str, owner: &str| {
        strata_with(reg, dir, cache, owner, options.clone())
    };
    let a = strata(reg, dir.path(), "cache-a", "alice");

    // Import straight into the registry, under a name a tag cannot hold as it is.
    let imported = a
        .import(
            import_request(&raw, "shared:centos/7:2004.01"),
            &strata::NoProgress,
        )
        .unwrap();
    assert_eq!(imported.image.store, "shared");
    assert_eq!(imported.image.revision, Some(0));
    assert_eq!(names(&a, "shared"), ["centos/7:2004.01@0"]);
    let listed = a
        .list(ListRequest {
            store: Some("shared".into()),
            filter: None,
        })
        .unwrap();
    assert_eq!(listed.stores[0].images[0].owner.as_deref(), Some("alice"));

    // The same name again is refused; with Replace it is the next revision.
    let e = a
        .import(
            import_request(&raw, "shared:centos/7:2004.01"),
            &strata::NoProgress,
        )
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::AlreadyExists, "{e}");
    let mut again = import_request(&raw, "shared:centos/7:2004.01");
    again.policy = NamePolicy {
        on_existing: OnExisting::Replace,
        warn_if_elsewhere: false,
    };
    let second = a.import(again, &strata::NoProgress).unwrap();
    assert_eq!(second.image.revision, Some(1));
    assert!(second.deduplicated, "the same layer is not uploaded twice");

    // Another machine (another cache) reads it back byte for byte.
    let b = strata(reg, dir.path(), "cache-b", "bob");
    let out = dir.path().join("out.raw");
    export(&b, "shared:centos/7:2004.01@0", &out);
    assert!(std::fs::read(&out).unwrap() == std::fs::read(&raw).unwrap());
    // A second read downloads nothing: the cached layer is the same file.
    let cached = blob_inodes(&dir.path().join("cache-b"));
    assert_eq!(cached.len(), 1);
    export(&b, "shared:centos/7:2004.01", &out);
    assert_eq!(blob_inodes(&dir.path().join("cache-b")), cached);

    // Copies both ways between the directory repository and the registry.
    a.import(import_request(&raw, "local:base"), &strata::NoProgress)
        .unwrap();
    a.copy(
        CopyRequest {
            src: image("local:base"),
            dest: target("shared:base-copy"),
            policy: NamePolicy::default(),
        },
        &strata::NoProgress,
    )
    .unwrap();
    b.copy(
        CopyRequest {
            src: image("shared:base-copy"),
            dest: target("local:back"),
            policy: NamePolicy::default(),
        },
        &strata::NoProgress,
    )
    .unwrap();
    export(&b, "local:back", &out);
    assert!(std::fs::read(&out).unwrap() == std::fs::read(&raw).unwrap());
    assert_eq!(names(&b, "shared"), ["base-copy@0", "centos/7:2004.01@1"]);

    // Other tools see valid OCI manifests with strata's media types.
    if strata_testkit::have("the skopeo check", &["skopeo"]) {
        let out = Command::new("skopeo")
            .args(["inspect", "--raw", "--tls-verify=false"])
            .args(match &options.credentials {
                Credentials::Basic { user, password } => {
                    vec!["--creds".to_owned(), format!("{user}:{password}")]
                }
                _ => vec![],
            })
            .arg(format!("docker://{}/strata/vm:base-copy_r0", reg.host()))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let manifest: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(
            manifest["config"]["mediaType"],
            strata::stores::registry::RECORD_MEDIA_TYPE
        );
        assert_eq!(
            manifest["layers"][0]["mediaType"],
            strata::stores::registry::LAYER_MEDIA_TYPE
        );
        assert_eq!(manifest["annotations"]["org.strata.image.owner"], "alice");
    }

    // Verify reads every revision back; delete removes one revision, then the rest.
    let verified = b
        .verify(
            VerifyRequest {
                store: Some("shared".into()),
            },
            &strata::NoProgress,
        )
        .unwrap();
    assert!(verified.is_clean(), "{verified:?}");
    b.delete(DeleteRequest::new(image("shared:centos/7:2004.01@0")))
        .unwrap();
    assert_eq!(names(&a, "shared"), ["base-copy@0", "centos/7:2004.01@1"]);
    a.delete(DeleteRequest::new(image("shared:centos/7:2004.01")))
        .unwrap();
    assert_eq!(names(&a, "shared"), ["base-copy@0"]);
    let e = a
        .delete(DeleteRequest::new(image("shared:centos/7:2004.01")))
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
}

#[test]
fn concurrent_pushes_of_one_name_end_with_one_winner_and_lose_nothing() {
    let Some(reg) = LocalRegistry::start(None) else {
        return;
    };
    race(&reg);
}

/// The same where the registry refuses deletes: claims are withdrawn by marking them.
#[test]
fn the_same_race_on_a_registry_that_refuses_deletes() {
    let Some(reg) = LocalRegistry::start_without_deletes() else {
        return;
    };
    race(&reg);
}

/// Eight clients push one new name at once, then eight push revisions of another while eight
/// read the first.
fn race(reg: &LocalRegistry) {
    let dir = tempfile::tempdir().unwrap();
    let clients = 8;
    for i in 0..clients {
        make_raw(&dir.path().join(format!("{i}.raw")), (16 + i as u64) << 20);
    }
    // Refused names: one client wins, the others are told the name exists.
    let results: Vec<_> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..clients)
            .map(|i| {
                let dir = dir.path();
                s.spawn(move || {
                    let strata = strata(reg, dir, &format!("cache-{i}"), &format!("u{i}"));
                    strata.import(
                        import_request(&dir.join(format!("{i}.raw")), "shared:race"),
                        &strata::NoProgress,
                    )
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let winners: Vec<_> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
    assert_eq!(winners.len(), 1, "{results:?}");
    for e in results.iter().filter_map(|r| r.as_ref().err()) {
        assert_eq!(e.kind(), ErrorKind::AlreadyExists, "{e}");
    }
    let check = strata(reg, dir.path(), "cache-check", "checker");
    let shown = check
        .show(strata::ShowRequest {
            image: image("shared:race"),
        })
        .unwrap();
    assert_eq!(shown.image.owner, winners[0].image.owner);

    // Replacing: every client's image is stored, each under its own revision, while as many
    // clients read the first image, through one shared cache, and find the winner's bytes.
    let winner: usize = winners[0].image.owner.as_deref().unwrap()[1..]
        .parse()
        .unwrap();
    let winner_bytes = std::fs::read(dir.path().join(format!("{winner}.raw"))).unwrap();
    let results: Vec<_> = std::thread::scope(|s| {
        let readers: Vec<_> = (0..clients)
            .map(|i| {
                let (dir, winner_bytes) = (dir.path(), &winner_bytes);
                s.spawn(move || {
                    let strata = strata(reg, dir, "cache-readers", &format!("r{i}"));
                    let out = dir.join(format!("read-{i}.raw"));
                    export(&strata, "shared:race", &out);
                    assert!(std::fs::read(&out).unwrap() == *winner_bytes, "reader {i}");
                })
            })
            .collect();
        let handles: Vec<_> = (0..clients)
            .map(|i| {
                let dir = dir.path();
                s.spawn(move || {
                    let strata = strata(reg, dir, &format!("cache-{i}"), &format!("u{i}"));
                    let mut request = import_request(&dir.join(format!("{i}.raw")), "shared:many");
                    request.policy.on_existing = OnExisting::Replace;
                    strata.import(request, &strata::NoProgress).unwrap()
                })
            })
            .collect();
        for reader in readers {
            reader.join().unwrap();
        }
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut revisions: Vec<u64> = results.iter().map(|r| r.image.revision.unwrap()).collect();
    revisions.sort_unstable();
    assert_eq!(revisions, (0..clients as u64).collect::<Vec<_>>());
    for outcome in &results {
        let r = outcome.image.revision.unwrap();
        let shown = check
            .show(strata::ShowRequest {
                image: image(&format!("shared:many@{r}")),
            })
            .unwrap();
        assert_eq!(shown.image.owner, outcome.image.owner, "revision {r}");
        let i: usize = outcome.image.owner.as_deref().unwrap()[1..]
            .parse()
            .unwrap();
        let out = dir.path().join("out.raw");
        export(&check, &format!("shared:many@{r}"), &out);
        let (got, want) = (
            std::fs::read(&out).unwrap(),
            std::fs::read(dir.path().join(format!("{i}.raw"))).unwrap(),
        );
        assert!(
            got == want,
            "revision {r} is not client {i}'s image: {} bytes against {}, first difference at {:?}",
            got.len(),
            want.len(),
            got.iter().zip(&want).position(|(a, b)| a != b)
        );
    }
}

#[test]
fn an_authenticated_registry_takes_the_right_credentials_only() {
    let line = strata_testkit::registry::htpasswd_line("alice", "s3cret");
    let Some(reg) = LocalRegistry::start(Some(&line)) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("disk.raw");
    make_raw(&raw, 16 << 20);
    let basic = |password: &str| RegistryOptions {
        credentials: Credentials::Basic {
            user: "alice".into(),
            password: password.into(),
        },
        ..RegistryOptions::default()
    };
    let good = strata_with(&reg, dir.path(), "cache-good", "alice", basic("s3cret"));
    good.import(import_request(&raw, "shared:img"), &strata::NoProgress)
        .unwrap();
    assert_eq!(names(&good, "shared"), ["img@0"]);
    let bad = strata_with(&reg, dir.path(), "cache-bad", "mallory", basic("guess"));
    let e = bad
        .import(import_request(&raw, "shared:other"), &strata::NoProgress)
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::PermissionDenied, "{e}");
    let e = bad
        .show(strata::ShowRequest {
            image: image("shared:img"),
        })
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::PermissionDenied, "{e}");
    assert_eq!(names(&good, "shared"), ["img@0"]);
}

#[test]
fn container_images_are_kept_as_they_are() {
    let Some(reg) = LocalRegistry::start(None) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("layout");
    let oci = crate::container::make_layout(&layout, "v1");
    let manifest_digest = oci.manifest_descriptor.digest().to_string();
    let a = strata(&reg, dir.path(), "cache-a", "alice");
    let container = |s: &str| strata::Source::Container(s.parse().unwrap());
    let imported = a
        .import(
            strata::ImportRequest {
                source: container(&format!("oci:{}:v1", layout.display())),
                dest: target("shared:alpine"),
                policy: NamePolicy::default(),
                arch: None,
            },
            &strata::NoProgress,
        )
        .unwrap();
    assert_eq!(imported.image.kind, strata::Kind::Ctr);
    assert_eq!(names(&a, "shared"), ["alpine@0"]);

    // Another machine exports it: the same manifest, byte for byte.
    let b = strata(&reg, dir.path(), "cache-b", "bob");
    let out = dir.path().join("out");
    b.export(
        ExportRequest {
            image: image("shared:alpine"),
            dest: strata::Destination::Container {
                transport: format!("oci:{}:x", out.display()).parse().unwrap(),
                default_name: None,
            },
        },
        &strata::NoProgress,
    )
    .unwrap();
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("index.json")).unwrap()).unwrap();
    assert_eq!(index["manifests"][0]["digest"], manifest_digest.as_str());

    // Copies to and from a directory repository.
    b.copy(
        CopyRequest {
            src: image("shared:alpine"),
            dest: target("local:alpine"),
            policy: NamePolicy::default(),
        },
        &strata::NoProgress,
    )
    .unwrap();
    b.copy(
        CopyRequest {
            src: image("local:alpine"),
            dest: target("shared:alpine-copy"),
            policy: NamePolicy::default(),
        },
        &strata::NoProgress,
    )
    .unwrap();
    assert_eq!(names(&a, "shared"), ["alpine@0", "alpine-copy@0"]);

    // Any tool reads the image as it is, by its manifest's digest.
    if strata_testkit::have("the skopeo check", &["skopeo"]) {
        let out = Command::new("skopeo")
            .args(["inspect", "--raw", "--tls-verify=false"])
            .arg(format!(
                "docker://{}/strata/vm@{manifest_digest}",
                reg.host()
            ))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(out.stdout, oci.manifest_bytes);
    }
    let verified = a
        .verify(
            VerifyRequest {
                store: Some("shared".into()),
            },
            &strata::NoProgress,
        )
        .unwrap();
    assert!(verified.is_clean(), "{verified:?}");
}

#[test]
fn a_registry_that_refuses_deletes_says_so_and_keeps_the_image() {
    let Some(reg) = LocalRegistry::start_without_deletes() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("disk.raw");
    make_raw(&raw, 16 << 20);
    let a = strata(&reg, dir.path(), "cache", "alice");
    a.import(import_request(&raw, "shared:img"), &strata::NoProgress)
        .unwrap();
    let e = a
        .delete(DeleteRequest::new(image("shared:img")))
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unsupported, "{e}");
    assert!(e.to_string().contains("does not allow deleting"), "{e}");
    assert_eq!(names(&a, "shared"), ["img@0"]);
}

#[test]
fn a_revision_grows_by_a_layer_pushed_to_the_registry() {
    let Some(reg) = LocalRegistry::start(None) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("disk.raw");
    make_raw(&raw, 16 << 20);
    let a = strata(&reg, dir.path(), "cache-a", "alice");
    a.import(import_request(&raw, "shared:img"), &strata::NoProgress)
        .unwrap();
    let grown = a
        .resize(
            strata::ResizeRequest {
                image: image("shared:img"),
                new_size: 32 << 20,
            },
            &strata::NoProgress,
        )
        .unwrap();
    assert_eq!((grown.image.revision, grown.layers), (Some(1), 2));
    // Another machine reads the two-layer chain back.
    let b = strata(&reg, dir.path(), "cache-b", "bob");
    let out = dir.path().join("out.raw");
    export(&b, "shared:img", &out);
    let bytes = std::fs::read(&out).unwrap();
    assert_eq!(bytes.len(), 32 << 20);
    assert!(bytes[..16 << 20] == std::fs::read(&raw).unwrap()[..]);
    assert!(bytes[16 << 20..].iter().all(|&b| b == 0));
}

#[test]
fn a_registry_restarted_in_the_middle_of_a_push_loses_nothing_and_the_push_resumes() {
    let Some(mut reg) = LocalRegistry::start(None) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let small = dir.path().join("small.raw");
    make_raw(&small, 16 << 20);
    // Incompressible data, so the upload takes a while.
    let big = dir.path().join("big.raw");
    {
        use std::io::Write;
        let mut f = std::fs::File::create(&big).unwrap();
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let mut buf = vec![0u8; 1 << 20];
        for _ in 0..160 {
            for chunk in buf.chunks_mut(8) {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                chunk.copy_from_slice(&state.to_le_bytes());
            }
            f.write_all(&buf).unwrap();
        }
    }
    let options = RegistryOptions {
        upload: strata_oci::registry::Upload::Chunked {
            chunk_size: 1 << 20,
        },
        retry: strata_oci::registry::Retry {
            attempts: 8,
            initial_backoff: std::time::Duration::from_millis(200),
            max_backoff: std::time::Duration::from_secs(2),
        },
        ..RegistryOptions::default()
    };
    let host = reg.host();
    let uploads = reg.data_dir();
    let a = strata_with(&reg, dir.path(), "cache", "alice", options.clone());
    a.import(import_request(&small, "shared:before"), &strata::NoProgress)
        .unwrap();
    let pushed = std::thread::scope(|s| {
        let push = s.spawn(|| {
            let shared = RegistryStore::new(
                "shared",
                &format!("docker://{host}/strata/vm"),
                dir.path().join("cache"),
                options.clone(),
            )
            .unwrap();
            let strata = Strata::new(
                vec![Arc::new(shared) as Arc<dyn Store>],
                StrataOptions {
                    owner: Some("alice".into()),
                    ..StrataOptions::default()
                },
            );
            strata.import(import_request(&big, "shared:big"), &strata::NoProgress)
        });
        // Restart once the registry holds part of the upload.
        let start = std::time::Instant::now();
        while !upload_in_progress(&uploads) {
            assert!(start.elapsed().as_secs() < 60, "no upload seen");
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        reg.restart();
        push.join().unwrap()
    });
    pushed.unwrap();
    let b = strata(&reg, dir.path(), "cache-b", "bob");
    assert_eq!(names(&b, "shared"), ["before@0", "big@0"]);
    let out = dir.path().join("out.raw");
    export(&b, "shared:big", &out);
    assert!(std::fs::read(&out).unwrap() == std::fs::read(&big).unwrap());
    export(&b, "shared:before", &out);
    assert!(std::fs::read(&out).unwrap() == std::fs::read(&small).unwrap());
}

/// Whether an upload under the registry's storage holds some bytes of a blob.
fn upload_in_progress(data: &Path) -> bool {
    fn walk(dir: &Path) -> bool {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return false;
        };
        entries.flatten().any(|e| {
            let path = e.path();
            if path.is_dir() {
                walk(&path)
            } else {
                path.file_name().is_some_and(|n| n == "data")
                    && path.to_string_lossy().contains("_uploads")
                    && e.metadata().is_ok_and(|m| m.len() > 4 << 20)
            }
        })
    }
    walk(data)
}

#[test]
fn the_local_cache_keeps_to_its_bound_and_gc_trims_it() {
    let Some(reg) = LocalRegistry::start(None) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (one, two) = (dir.path().join("one.raw"), dir.path().join("two.raw"));
    make_raw(&one, 16 << 20);
    make_raw(&two, 17 << 20);
    let writer = strata(&reg, dir.path(), "cache-w", "alice");
    for (raw, name) in [(&one, "shared:one"), (&two, "shared:two")] {
        writer
            .import(import_request(raw, name), &strata::NoProgress)
            .unwrap();
    }
    // A reader whose cache holds one layer at most: reading `two` drops `one`.
    let small = RegistryStore::new(
        "shared",
        &format!("docker://{}/strata/vm", reg.host()),
        dir.path().join("cache-r"),
        RegistryOptions::default(),
    )
    .unwrap()
    .with_cache_max(1);
    let reader = Strata::new(
        vec![Arc::new(small) as Arc<dyn Store>],
        StrataOptions::default(),
    );
    let out = dir.path().join("out.raw");
    export(&reader, "shared:one", &out);
    assert_eq!(blob_inodes(&dir.path().join("cache-r")).len(), 1);
    export(&reader, "shared:two", &out);
    assert!(std::fs::read(&out).unwrap() == std::fs::read(&two).unwrap());
    let cached = blob_inodes(&dir.path().join("cache-r"));
    assert_eq!(cached.len(), 1, "{cached:?}");
    // `one` comes back from the registry.
    export(&reader, "shared:one", &out);
    assert!(std::fs::read(&out).unwrap() == std::fs::read(&one).unwrap());
    // gc trims the cache to its bound too: the writer's cache (20 GiB) keeps both.
    writer
        .gc(
            strata::GcRequest {
                store: Some("shared".into()),
                ..strata::GcRequest::default()
            },
            &strata::NoProgress,
        )
        .unwrap();
    assert_eq!(blob_inodes(&dir.path().join("cache-w")).len(), 2);
}

#[test]
fn copies_between_registry_repositories_mount_and_copies_out_stream() {
    let Some(reg) = LocalRegistry::start(None) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("disk.raw");
    make_raw(&raw, 16 << 20);
    let registry_store = |name: &str, namespace: &str, cache: &str| {
        Arc::new(
            RegistryStore::new(
                name,
                &format!("docker://{}/{namespace}", reg.host()),
                dir.path().join(cache),
                RegistryOptions::default(),
            )
            .unwrap(),
        ) as Arc<dyn Store>
    };
    let strata = Strata::new(
        vec![
            Arc::new(RepositoryStore::new("local", dir.path().join("local"))) as Arc<dyn Store>,
            registry_store("a", "site/a", "cache-a"),
            registry_store("b", "site/b", "cache-b"),
        ],
        StrataOptions::default(),
    );
    strata
        .import(import_request(&raw, "a:img"), &strata::NoProgress)
        .unwrap();
    // Into another repository of the same registry: mounted, nothing sent.
    let copied = strata
        .copy(
            CopyRequest {
                src: image("a:img"),
                dest: target("b:img"),
                policy: NamePolicy::default(),
            },
            &strata::NoProgress,
        )
        .unwrap();
    assert_eq!(copied.layers[0].method, strata::CopyMethod::Mounted);
    // Out of the registry into a directory repository: streamed, nothing cached on the way.
    let out_of = strata
        .copy(
            CopyRequest {
                src: image("b:img"),
                dest: target("local:img"),
                policy: NamePolicy::default(),
            },
            &strata::NoProgress,
        )
        .unwrap();
    assert_eq!(out_of.layers[0].method, strata::CopyMethod::SparseCopy);
    assert!(blob_inodes(&dir.path().join("cache-b")).is_empty());
    let out = dir.path().join("out.raw");
    export(&strata, "local:img", &out);
    assert!(std::fs::read(&out).unwrap() == std::fs::read(&raw).unwrap());
    export(&strata, "b:img", &out);
    assert!(std::fs::read(&out).unwrap() == std::fs::read(&raw).unwrap());
}
