//! `delete IMAGE[@REV]` and `resize IMAGE NEW_SZ`.

use crate::sandbox::Sandbox;
use crate::snap;

#[test]
fn delete() {
    let sb = Sandbox::new(&["user", "global"]);
    let raw = sb.raw_disk("disk.raw", 1 << 20);
    sb.ok(&["import", &raw, "c7"]);
    sb.ok(&["resize", "c7", "2M"]);
    sb.ok(&["resize", "c7", "3M"]);
    sb.ok(&["import", &raw, "global:c8"]);
    snap!("one_revision", sb, &["delete", "c7@1"]);
    sb.settle();
    snap!("one_revision_show", sb, &["show", "c7"]);
    snap!("missing_revision", sb, &["delete", "c7@1"]);
    snap!("all_revisions", sb, &["delete", "c7"]);
    // Without a repository, only the default one is searched (pcocc's get_repo(None)).
    snap!("default_repo_only", sb, &["delete", "c8"]);
    snap!("with_repo", sb, &["delete", "global:c8"]);
    snap!("after", sb, &["list"]);
}

#[test]
fn resize() {
    let sb = Sandbox::new(&["user"]);
    let raw = sb.raw_disk("disk.raw", 1 << 20);
    sb.ok(&["import", &raw, "c7"]);
    snap!("grow", sb, &["resize", "c7", "20M"]);
    sb.settle();
    snap!("grow_show", sb, &["show", "c7"]);
    snap!("shrink", sb, &["resize", "c7", "1M"]);
    snap!("bad_size", sb, &["resize", "c7", "20X"]);
    snap!("unknown", sb, &["resize", "nope", "20M"]);
}
