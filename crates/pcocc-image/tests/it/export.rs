//! `export [-t FMT] SOURCE DEST`: flattened to raw or qcow2, by extension, `-t` or prefix.

use crate::sandbox::Sandbox;
use crate::snap;

#[test]
fn export() {
    let sb = Sandbox::new(&["user"]);
    let raw = sb.raw_disk("disk.raw", 1 << 20);
    sb.ok(&["import", &raw, "c7"]);
    sb.ok(&["resize", "c7", "2M"]);
    snap!(
        "raw_by_extension",
        sb,
        &["export", "c7@0", &sb.file("out.raw")]
    );
    // The export of revision 0 is the source, byte for byte.
    let exported = std::fs::read(sb.file("out.raw")).expect("exported");
    assert_eq!(exported, std::fs::read(&raw).expect("source"));
    snap!(
        "qcow2_by_type",
        sb,
        &["export", "-t", "qcow2", "c7", &sb.file("out")]
    );
    snap!(
        "raw_by_prefix",
        sb,
        &["export", "c7", &format!("raw:{}", sb.file("big"))]
    );
    let len = std::fs::metadata(sb.file("big")).expect("big").len();
    assert_eq!(len, 2 << 20, "the resized revision exports at its new size");
    snap!("default_raw", sb, &["export", "c7", &sb.file("plain")]);
    snap!("unknown_image", sb, &["export", "c8", &sb.file("x.raw")]);
    snap!(
        "container_format",
        sb,
        &["export", "-t", "docker-archive", "c7", &sb.file("x.tar")]
    );
}
