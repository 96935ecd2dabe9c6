//! list, show and the store list.

use strata::{Error, ErrorKind, Kind, ListRequest, ShowRequest};

use crate::util::{Fixture, image, make_raw};

#[test]
fn list_show_and_repos() {
    let fx = Fixture::new();
    let raw = fx.path("disk.raw");
    make_raw(&raw, 8 * 1024 * 1024);
    fx.import(&raw, "zeta");
    fx.import(&raw, "alpha");
    fx.import(&raw, "global:beta");
    fx.strata
        .resize(
            strata::ResizeRequest {
                image: image("alpha"),
                new_size: 16 * 1024 * 1024,
            },
            &strata::NoProgress,
        )
        .unwrap();

    let all = fx.strata.list(ListRequest::default()).unwrap();
    type Listed<'a> = Vec<(&'a str, Vec<(&'a str, Option<u64>)>)>;
    let names: Listed<'_> = all
        .stores
        .iter()
        .map(|r| {
            (
                r.store.as_str(),
                r.images
                    .iter()
                    .map(|i| (i.name.as_str(), i.revision))
                    .collect(),
            )
        })
        .collect();
    assert_eq!(
        names,
        vec![
            ("user", vec![("alpha", Some(1)), ("zeta", Some(0))]),
            ("global", vec![("beta", Some(0))]),
            ("flat", vec![])
        ]
    );
    assert_eq!(all.stores[0].images[0].kind, Kind::Vm);
    assert_eq!(all.stores[0].images[0].owner.as_deref(), Some("tester"));

    let filtered = fx
        .strata
        .list(ListRequest {
            store: None,
            filter: Some(regex::Regex::new("e.a$").unwrap()),
        })
        .unwrap();
    assert_eq!(filtered.stores[0].images.len(), 1);
    assert_eq!(filtered.stores[0].images[0].name, "zeta");
    assert_eq!(filtered.stores[1].images[0].name, "beta");
    let only = fx
        .strata
        .list(ListRequest {
            store: Some("global".into()),
            filter: None,
        })
        .unwrap();
    assert_eq!(only.stores.len(), 1);

    let err = fx
        .strata
        .list(ListRequest {
            store: Some("nope".into()),
            filter: None,
        })
        .unwrap_err();
    assert!(matches!(err, Error::UnknownStore { .. }), "{err:?}");
    assert_eq!(err.kind(), ErrorKind::NotFound);

    let show = fx
        .strata
        .show(ShowRequest {
            image: image("alpha"),
        })
        .unwrap();
    assert_eq!(
        (show.image.store.as_str(), show.image.revision),
        ("user", Some(1))
    );
    assert_eq!(show.layers.len(), 2);
    assert_eq!(show.revisions.len(), 2);
    let blob_len = |repo: &str, digest_of: usize| -> u64 {
        let record = std::fs::read_to_string(fx.repo_dir(repo).join("meta/alpha@1")).unwrap();
        let hex = record
            .split('"')
            .filter(|s| s.len() == 64)
            .nth(digest_of)
            .unwrap()
            .to_owned();
        std::fs::metadata(fx.repo_dir(repo).join("data").join(&hex[..2]).join(&hex))
            .unwrap()
            .len()
    };
    // Each revision's layers, bottom first, with their sizes.
    assert_eq!(show.revisions[0].layers.len(), 1);
    assert_eq!(show.revisions[0].layers[0].size, blob_len("user", 0));
    assert_eq!(show.revisions[1].layers[1].size, blob_len("user", 1));
    assert_eq!(show.layers, show.revisions[1].layers);
    let show0 = fx
        .strata
        .show(ShowRequest {
            image: image("alpha@0"),
        })
        .unwrap();
    assert_eq!((show0.image.revision, show0.layers.len()), (Some(0), 1));
    let err = fx
        .strata
        .show(ShowRequest {
            image: image("user:beta"),
        })
        .unwrap_err();
    assert!(
        matches!(&err, Error::ImageNotFound { store: Some(s), .. } if s == "user"),
        "{err:?}"
    );

    let stores = fx.strata.store_list();
    let rows: Vec<_> = stores
        .stores
        .iter()
        .map(|r| (r.name.as_str(), r.writable))
        .collect();
    assert_eq!(
        rows,
        vec![
            ("user", Some(true)),
            ("global", Some(true)),
            ("flat", Some(true))
        ],
        "every store was opened (and created) by the listing"
    );
}

#[test]
fn store_list_of_missing_paths_is_not_applicable() {
    let fx = Fixture::with_repos(&[("user", "user-repo"), ("later", "missing/deeper")]);
    let stores = fx.strata.store_list();
    assert_eq!(stores.stores[0].writable, None, "nothing created yet");
    assert_eq!(stores.stores[1].writable, None);
    assert_eq!(stores.stores[1].path, fx.path("missing/deeper"));
    assert!(
        !fx.path("user-repo").exists(),
        "the store list creates nothing"
    );
}

#[test]
fn sizes_of_vm_images_in_both_kinds_of_store() {
    use std::os::unix::fs::MetadataExt;

    let fx = Fixture::new();
    let raw = fx.path("disk.raw");
    make_raw(&raw, 16 << 20);
    fx.import(&raw, "flat:centos/7");
    fx.import(&raw, "alpha");
    fx.strata
        .resize(
            strata::ResizeRequest {
                image: image("alpha"),
                new_size: 32 << 20,
            },
            &strata::NoProgress,
        )
        .unwrap();
    let sizes = |text: &str| fx.strata.sizes(strata::SizesRequest { image: image(text) });

    let flat = sizes("centos/7").unwrap();
    assert_eq!(
        (flat.image.store.as_str(), flat.virtual_size),
        ("flat", 16 << 20)
    );
    let meta = std::fs::metadata(fx.path("flat-store/centos%2F7")).unwrap();
    assert_eq!(
        (flat.allocated, flat.file_len),
        (meta.blocks() * 512, meta.len())
    );
    assert!(flat.allocated > 0 && flat.allocated < 16 << 20, "{flat:?}");

    // Every layer of a revision counts; the latest revision by default.
    let alpha = sizes("alpha").unwrap();
    assert_eq!(
        (alpha.image.revision, alpha.virtual_size),
        (Some(1), 32 << 20)
    );
    let first = sizes("alpha@0").unwrap();
    assert_eq!(first.virtual_size, 16 << 20);
    assert!(alpha.file_len > first.file_len && alpha.allocated > first.allocated);

    let err = sizes("nope").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    // A file that is not a qcow2 image in the flat store: its header is the error.
    std::fs::write(fx.path("flat-store/junk"), b"not an image").unwrap();
    let err = sizes("flat:junk").unwrap_err();
    assert!(matches!(err, Error::Disk(_)), "{err:?}");
    assert_eq!(err.kind(), ErrorKind::InvalidFormat);
}
