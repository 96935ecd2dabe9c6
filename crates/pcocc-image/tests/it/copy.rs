//! `copy SOURCE DEST`: within and across repositories, and its errors.

use crate::sandbox::Sandbox;
use crate::snap;

#[test]
fn copy() {
    let sb = Sandbox::new(&["user", "global"]);
    let raw = sb.raw_disk("disk.raw", 1 << 20);
    sb.ok(&["import", &raw, "c7"]);
    sb.ok(&["resize", "c7", "2M"]);
    snap!("same_repo", sb, &["copy", "c7", "c8"]);
    snap!(
        "other_repo_revision",
        sb,
        &["copy", "user:c7@0", "global:old"]
    );
    snap!("name_elsewhere_warns", sb, &["copy", "c7", "global:c8"]);
    snap!("existing", sb, &["copy", "c7", "c8"]);
    snap!("unknown", sb, &["copy", "nope", "c9"]);
    snap!("bad_revision", sb, &["copy", "c7@x", "c9"]);
    sb.settle();
    snap!("after", sb, &["list"]);
    // Within one repository the blobs are shared; across, the two it needs are there.
    assert_eq!(sb.blobs("user").len(), 2);
    assert_eq!(sb.blobs("global").len(), 2);
}
