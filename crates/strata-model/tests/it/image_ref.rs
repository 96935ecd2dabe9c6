//! [`ImageRef`]: pcocc's `[REPO:]IMAGE[@REVISION]` grammar, round trips and every refusal.

use proptest::prelude::*;
use strata_model::{ImageRef, ImageRefError, NameError};

#[test]
fn parses_every_form() {
    let cases: [(&str, Option<&str>, &str, Option<u32>); 6] = [
        ("centos7", None, "centos7", None),
        ("centos7@3", None, "centos7", Some(3)),
        ("user:centos7", Some("user"), "centos7", None),
        ("user:centos7@0", Some("user"), "centos7", Some(0)),
        (
            "global:with space@4294967295",
            Some("global"),
            "with space",
            Some(u32::MAX),
        ),
        ("r:a/b", Some("r"), "a/b", None),
    ];
    for (uri, repo, name, revision) in cases {
        let r: ImageRef = uri.parse().unwrap();
        assert_eq!(
            (r.repo(), r.name(), r.revision()),
            (repo, name, revision),
            "{uri}"
        );
        assert_eq!(r.to_string(), uri);
        assert_eq!(ImageRef::new(repo, name, revision), Ok(r));
    }
}

#[test]
fn leading_zeros_in_a_revision_are_accepted_as_pcocc_does() {
    let r: ImageRef = "img@007".parse().unwrap();
    assert_eq!(r.revision(), Some(7));
    assert_eq!(r.to_string(), "img@7");
}

#[test]
fn every_refusal_has_its_variant_and_text() {
    let bad_revision = |t: &str| ImageRefError::BadRevision { text: t.into() };
    let cases: Vec<(&str, ImageRefError, &str)> = vec![
        ("img@latest", bad_revision("latest"), "Bad revision: latest"),
        ("img@", bad_revision(""), "Bad revision: "),
        ("img@-1", bad_revision("-1"), "Bad revision: -1"),
        ("img@+1", bad_revision("+1"), "Bad revision: +1"),
        ("img@ 1", bad_revision(" 1"), "Bad revision:  1"),
        ("img@1_0", bad_revision("1_0"), "Bad revision: 1_0"),
        (
            "img@4294967296",
            bad_revision("4294967296"),
            "Bad revision: 4294967296",
        ),
        ("r:img@1@x", bad_revision("x"), "Bad revision: x"),
        (
            "img@1@2",
            ImageRefError::ExtraAt {
                uri: "img@1@2".into(),
            },
            "Bad image URI \"img@1@2\": more than one '@' (expected [REPO:]IMAGE[@REVISION])",
        ),
        (
            "r:img:extra",
            ImageRefError::ExtraColon {
                uri: "r:img:extra".into(),
            },
            "Bad image URI \"r:img:extra\": more than one ':' (expected [REPO:]IMAGE[@REVISION])",
        ),
        (
            "r:img:@2",
            ImageRefError::ExtraColon {
                uri: "r:img:@2".into(),
            },
            "Bad image URI \"r:img:@2\": more than one ':' (expected [REPO:]IMAGE[@REVISION])",
        ),
        (
            "",
            ImageRefError::EmptyName { uri: "".into() },
            "Bad image URI \"\": empty image name",
        ),
        (
            "@1",
            ImageRefError::EmptyName { uri: "@1".into() },
            "Bad image URI \"@1\": empty image name",
        ),
        (
            "repo:",
            ImageRefError::EmptyName {
                uri: "repo:".into(),
            },
            "Bad image URI \"repo:\": empty image name",
        ),
        (
            ":",
            ImageRefError::EmptyName { uri: ":".into() },
            "Bad image URI \":\": empty image name",
        ),
        (
            ":img@1",
            ImageRefError::EmptyRepo {
                uri: ":img@1".into(),
            },
            "Bad image URI \":img@1\": empty repository name",
        ),
    ];
    for (uri, variant, text) in cases {
        let err = uri.parse::<ImageRef>().unwrap_err();
        assert_eq!(err, variant, "{uri:?}");
        assert_eq!(err.to_string(), text, "{uri:?}");
        let json = serde_json::to_string(uri).unwrap();
        let serde_err = serde_json::from_str::<ImageRef>(&json).unwrap_err();
        assert_eq!(serde_err.to_string(), text, "serde {uri:?}");
    }
}

#[test]
fn new_refuses_what_the_grammar_refuses() {
    /// Repository, image name and revision given to `new`, the error and its text.
    type Case<'a> = (
        Option<&'a str>,
        &'a str,
        Option<u32>,
        ImageRefError,
        &'a str,
    );
    let cases: Vec<Case<'_>> = vec![
        (
            None,
            "a:b",
            None,
            ImageRefError::Separator {
                component: "a:b".into(),
                ch: ':',
            },
            "Bad image URI component \"a:b\": it cannot contain ':'",
        ),
        (
            Some("r@1"),
            "a",
            Some(2),
            ImageRefError::Separator {
                component: "r@1".into(),
                ch: '@',
            },
            "Bad image URI component \"r@1\": it cannot contain '@'",
        ),
        (
            Some("r"),
            "",
            Some(2),
            ImageRefError::EmptyName { uri: "r:@2".into() },
            "Bad image URI \"r:@2\": empty image name",
        ),
        (
            Some(""),
            "a",
            None,
            ImageRefError::EmptyRepo { uri: ":a".into() },
            "Bad image URI \":a\": empty repository name",
        ),
    ];
    for (repo, name, revision, variant, text) in cases {
        let err = ImageRef::new(repo, name, revision).unwrap_err();
        assert_eq!(err, variant);
        assert_eq!(err.to_string(), text);
    }
}

#[test]
fn the_name_validates_as_a_pcocc_name_on_demand() {
    let r: ImageRef = "user:centos7-cloud@1".parse().unwrap();
    assert_eq!(r.pcocc_name().unwrap().as_str(), "centos7-cloud");
    assert_eq!(
        ImageRef::from_name(&r.pcocc_name().unwrap()).to_string(),
        "centos7-cloud"
    );
    assert_eq!(
        ImageRef::from_name(&r.pcocc_name().unwrap())
            .with_revision(Some(4))
            .to_string(),
        "centos7-cloud@4"
    );

    let err = "centos/7"
        .parse::<ImageRef>()
        .unwrap()
        .pcocc_name()
        .unwrap_err();
    assert_eq!(
        err,
        NameError::PcoccInvalidChars {
            name: "centos/7".into()
        }
    );
    assert_eq!(err.to_string(), "Object name contains invalid characters");
}

proptest! {
    #[test]
    fn display_and_serde_round_trip(
        repo in proptest::option::of("[^:@]{1,12}"),
        name in "[^:@]{1,24}",
        revision in proptest::option::of(any::<u32>()),
    ) {
        let r = ImageRef::new(repo.as_deref(), &name, revision).unwrap();
        prop_assert_eq!(r.to_string().parse::<ImageRef>().unwrap(), r.clone());
        let json = serde_json::to_string(&r).unwrap();
        prop_assert_eq!(serde_json::from_str::<ImageRef>(&json).unwrap(), r);
    }

    #[test]
    fn any_text_parses_to_a_value_that_round_trips_or_is_refused(uri in "\\PC{0,24}") {
        if let Ok(r) = uri.parse::<ImageRef>() {
            prop_assert_eq!(r.to_string().parse::<ImageRef>().unwrap(), r);
        }
    }
}
