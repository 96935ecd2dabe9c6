//! `import [-t FMT] SOURCE DEST`: raw and qcow2 sources, `-t`, a `FORMAT:` prefix, the
//! extension, content detection, and pcocc's format errors and warnings.

use crate::sandbox::Sandbox;
use crate::snap;

#[test]
fn import_raw_by_extension() {
    let sb = Sandbox::new(&["user"]);
    let raw = sb.raw_disk("disk.raw", 1 << 20);
    snap!("raw_extension", sb, &["import", &raw, "c7"]);
    sb.settle();
    snap!("raw_extension_list", sb, &["list"]);
}

#[test]
fn import_qcow2_by_content_and_extension() {
    let sb = Sandbox::new(&["user"]);
    let qcow2 = sb.qcow2_disk("disk.qcow2", 2 << 20);
    snap!("qcow2_extension", sb, &["import", &qcow2, "user:c7"]);
    // No extension: the content says qcow2.
    std::fs::rename(&qcow2, sb.file("disk")).expect("rename");
    snap!("qcow2_content", sb, &["import", &sb.file("disk"), "c8"]);
}

#[test]
fn import_with_type_option_and_prefix() {
    let sb = Sandbox::new(&["user"]);
    let raw = sb.raw_disk("vmimage", 1 << 20);
    snap!("type_option", sb, &["import", "-t", "raw", &raw, "a"]);
    snap!("prefix", sb, &["import", &format!("raw:{raw}"), "b"]);
    snap!(
        "prefix_and_same_type",
        sb,
        &["import", "--fmt", "RAW", &format!("raw:{raw}"), "c"]
    );
    // Nothing names the format and raw content shows none: pcocc's warning.
    snap!("assumed_raw", sb, &["import", &raw, "d"]);
}

#[test]
fn import_format_errors() {
    let sb = Sandbox::new(&["user"]);
    let raw = sb.raw_disk("disk.raw", 1 << 20);
    let qcow2 = sb.qcow2_disk("disk.qcow2", 1 << 20);
    snap!(
        "prefix_mismatch",
        sb,
        &["import", "-t", "qcow2", &format!("raw:{raw}"), "a"]
    );
    snap!(
        "detected_mismatch",
        sb,
        &["import", "-t", "raw", &qcow2, "b"]
    );
    snap!("unknown_type", sb, &["import", "-t", "floppy", &raw, "c"]);
    // A missing source is said to be missing (66), with or without an extension to go by.
    snap!("missing_source", sb, &["import", &sb.file("nope.raw"), "d"]);
    snap!(
        "missing_source_no_extension",
        sb,
        &["import", &sb.file("nope"), "d"]
    );
    // Nothing was stored.
    snap!("nothing_stored", sb, &["list"]);
}

#[test]
fn import_name_rules() {
    let sb = Sandbox::new(&["user", "global"]);
    let raw = sb.raw_disk("disk.raw", 1 << 20);
    sb.ok(&["import", &raw, "c7"]);
    snap!("existing_name", sb, &["import", &raw, "c7"]);
    snap!(
        "existing_elsewhere_warns",
        sb,
        &["import", &raw, "global:c7"]
    );
    snap!("invalid_name", sb, &["import", &raw, "bad/name"]);
    snap!("unknown_repo", sb, &["import", &raw, "nowhere:c9"]);
    snap!("revision_ignored", sb, &["import", &raw, "c9@4"]);
    snap!("quiet", sb, &["import", "-q", &raw, "c10"]);
}
