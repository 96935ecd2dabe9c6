//! `show IMAGE[@REV]` and `show --json`.

use crate::sandbox::Sandbox;
use crate::snap;

#[test]
fn show() {
    let sb = Sandbox::new(&["user", "global"]);
    let raw = sb.raw_disk("disk.raw", 1 << 20);
    sb.ok(&["import", &raw, "centos7-cloud"]);
    sb.ok(&["resize", "centos7-cloud", "20M"]);
    sb.ok(&["import", &raw, "global:centos7-cloud"]);
    sb.settle();
    snap!("latest", sb, &["show", "centos7-cloud"]);
    snap!("revision", sb, &["show", "user:centos7-cloud@0"]);
    snap!("other_repo", sb, &["show", "global:centos7-cloud"]);
    snap!("json", sb, &["show", "--json", "centos7-cloud"]);
}
