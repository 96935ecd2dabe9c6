//! The reference samples of pcocc's output (shared/reference/pcocc-transient.md §1.6), byte
//! for byte, through the renderers.

use std::path::PathBuf;

use jiff::tz::TimeZone;
use pcocc_image::render;
use pcocc_image::render::RepoRow;
use strata::{ImageSummary, Kind, Layer, ListOutcome, RevisionSummary, ShowOutcome, StoreImages};
use strata_cli::Styler;
use strata_store::Scope;

/// `time.localtime` of these gives the sample's dates in UTC.
const T_CENTOS: f64 = 1_535_143_595.12;
const T_UBUNTU: f64 = 1_535_143_520.0;

fn summary(name: &str, kind: Kind, revision: u64, timestamp: f64) -> ImageSummary {
    ImageSummary {
        store: "user".into(),
        name: name.into(),
        kind,
        revision: Some(revision),
        owner: Some("jdoe".into()),
        timestamp: Some(timestamp),
    }
}

/// A layer of `size` bytes.
fn layer(size: u64) -> Layer {
    Layer {
        digest: None,
        path: PathBuf::from("/r/data/ab/abcd"),
        size,
    }
}

#[test]
fn image_list() {
    let outcome = ListOutcome {
        stores: vec![StoreImages {
            store: "user".into(),
            images: vec![
                summary("centos7-cloud", Kind::Vm, 0, T_CENTOS),
                summary("ubuntu", Kind::Ctr, 12, T_UBUNTU),
            ],
        }],
        failed: vec![],
    };
    assert_eq!(
        render::list(&outcome, &TimeZone::UTC, Styler::plain()),
        "\
User images:
NAME             TYPE    REVISION    REPO    OWNER    DATE
----             ----    --------    ----    -----    ----
centos7-cloud    vm      0           user    jdoe     2018-08-24 20:46:35
ubuntu           ctr     12          user    jdoe     2018-08-24 20:45:20

"
    );
}

#[test]
fn image_show() {
    let outcome = ShowOutcome {
        image: summary("centos7-cloud", Kind::Vm, 1, T_CENTOS),
        layers: vec![layer(958 * 1024 * 1024), layer(44 * 1024 * 1024 + 5)],
        revisions: vec![
            RevisionSummary {
                revision: 0,
                layers: vec![layer(958 * 1024 * 1024)],
                timestamp: 1_533_312_252.0,
            },
            RevisionSummary {
                revision: 1,
                layers: vec![layer(958 * 1024 * 1024), layer(44 * 1024 * 1024 + 5)],
                timestamp: 1_533_312_594.0,
            },
        ],
    };
    assert_eq!(
        render::show(&outcome, &TimeZone::UTC),
        "\
------------------------------
Repo:                     user
Name:            centos7-cloud
Type:                       vm
------------------------------
URI:      user:centos7-cloud@1
Layers:                      2
------------------------------
Owner:                    jdoe
Date:      2018-08-24 20:46:35
------------------------------

REVISION    SIZE        CREATION DATE
--------    ----        -------- ----
0           958.0 MB    2018-08-03 16:04:12
1           44.0 MB     2018-08-03 16:09:54
"
    );
}

#[test]
fn repo_list() {
    let repo = |name: &str, path: &str, writable| RepoRow {
        name: name.into(),
        path: PathBuf::from(path),
        writable: Some(writable),
        scope: Scope::User,
    };
    let outcome = vec![
        repo("user", "/home/jdoe/.pcocc/images", true),
        repo("global", "/var/lib/pcocc/images", false),
    ];
    assert_eq!(
        render::repo_list(&outcome),
        "\
NAME      PATH                        WRITABLE
----      ----                        --------
user      /home/jdoe/.pcocc/images    True
global    /var/lib/pcocc/images       False
"
    );
}
