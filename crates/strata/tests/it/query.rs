//! list, show and repo list.

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
                new_size: strata::ByteSize::new(16 * 1024 * 1024),
            },
            &strata::NoProgress,
        )
        .unwrap();

    let all = fx.strata.list(ListRequest::default()).unwrap();
    let names: Vec<(&str, Vec<(&str, u64)>)> = all
        .repos
        .iter()
        .map(|r| {
            (
                r.repo.as_str(),
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
            ("user", vec![("alpha", 1), ("zeta", 0)]),
            ("global", vec![("beta", 0)])
        ]
    );
    assert_eq!(all.repos[0].images[0].kind, Kind::Vm);
    assert_eq!(all.repos[0].images[0].owner, "tester");

    let filtered = fx
        .strata
        .list(ListRequest {
            repo: None,
            regex: Some("e.a$".into()),
        })
        .unwrap();
    assert_eq!(filtered.repos[0].images.len(), 1);
    assert_eq!(filtered.repos[0].images[0].name, "zeta");
    assert_eq!(filtered.repos[1].images[0].name, "beta");
    let only = fx
        .strata
        .list(ListRequest {
            repo: Some("global".into()),
            regex: None,
        })
        .unwrap();
    assert_eq!(only.repos.len(), 1);

    let err = fx
        .strata
        .list(ListRequest {
            repo: None,
            regex: Some("(".into()),
        })
        .unwrap_err();
    assert!(matches!(err, Error::BadRegex { .. }), "{err:?}");
    assert!(
        err.to_string()
            .starts_with("Could not parse regular expression :"),
        "{err}"
    );
    assert_eq!(err.kind(), ErrorKind::InvalidRequest);
    let err = fx
        .strata
        .list(ListRequest {
            repo: Some("nope".into()),
            regex: None,
        })
        .unwrap_err();
    assert_eq!(err.to_string(), "Unknown repository nope");

    let show = fx
        .strata
        .show(ShowRequest {
            image: image("alpha"),
        })
        .unwrap();
    assert_eq!(show.image.uri(), "user:alpha@1");
    assert_eq!(show.layers, 2);
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
    // Each revision's size is its top blob's only.
    assert_eq!(show.revisions[0].size, blob_len("user", 0));
    assert_eq!(show.revisions[1].size, blob_len("user", 1));
    let show0 = fx
        .strata
        .show(ShowRequest {
            image: image("alpha@0"),
        })
        .unwrap();
    assert_eq!((show0.image.revision, show0.layers), (0, 1));
    let err = fx
        .strata
        .show(ShowRequest {
            image: image("user:beta"),
        })
        .unwrap_err();
    assert_eq!(err.to_string(), "Object beta not found in repository user");

    let repos = fx.strata.repo_list().unwrap();
    let rows: Vec<_> = repos
        .repos
        .iter()
        .map(|r| (r.name.as_str(), r.writable))
        .collect();
    assert_eq!(rows, vec![("user", Some(true)), ("global", Some(true))]);
}

#[test]
fn repo_list_of_missing_paths_is_not_applicable() {
    let fx = Fixture::with_repos(&[("user", "user-repo"), ("later", "missing/deeper")]);
    let repos = fx.strata.repo_list().unwrap();
    assert_eq!(repos.repos[0].writable, None, "nothing created yet");
    assert_eq!(repos.repos[1].writable, None);
    assert_eq!(repos.repos[1].path, fx.path("missing/deeper"));
    assert!(!fx.path("user-repo").exists(), "repo list creates nothing");
}
