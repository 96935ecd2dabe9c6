//! `repo gc [REPO]` and `repo verify [REPO]`.

use std::os::unix::fs::PermissionsExt;

use crate::sandbox::Sandbox;
use crate::snap;

#[test]
fn gc() {
    let sb = Sandbox::new(&["user", "global"]);
    let raw = sb.raw_disk("disk.raw", 1 << 20);
    sb.ok(&["import", &raw, "c7"]);
    sb.ok(&["resize", "c7", "2M"]);
    sb.ok(&["delete", "c7@1"]);
    assert_eq!(sb.blobs("user").len(), 2);
    snap!("named", sb, &["repo", "gc", "user"]);
    assert_eq!(
        sb.blobs("user").len(),
        1,
        "the deleted revision's layer is gone"
    );
    sb.ok(&["delete", "c7"]);
    snap!("default_repo_verbose", sb, &["-v", "repo", "gc"]);
    assert!(sb.blobs("user").is_empty());
    snap!("unknown_repo", sb, &["repo", "gc", "nowhere"]);
}

#[test]
fn verify() {
    let sb = Sandbox::new(&["user", "global"]);
    let raw = sb.raw_disk("disk.raw", 1 << 20);
    sb.ok(&["import", &raw, "c7"]);
    sb.ok(&["resize", "c7", "2M"]);
    sb.ok(&["import", &raw, "global:c7"]);
    snap!("clean", sb, &["repo", "verify"]);
    snap!("one_repo", sb, &["repo", "verify", "global"]);
    // Damage the top layer of user:c7.
    let blobs = sb.blobs("user");
    let victim = blobs
        .iter()
        .max_by_key(|p| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0))
        .expect("a blob");
    std::fs::set_permissions(victim, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let mut bytes = std::fs::read(victim).expect("blob");
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(victim, bytes).expect("damage");
    std::fs::set_permissions(victim, std::fs::Permissions::from_mode(0o444)).expect("chmod");
    let out = sb.run(&["repo", "verify", "user"]);
    assert!(out.contains("exit: 65\n"), "{out}");
    let filters = sb.filters();
    let mut filters: Vec<(&str, &str)> = filters
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    // The digests depend on the layout of the blobs, not on what is checked.
    filters.push(("/data/[0-9a-f]{2}/", "/data/xx/"));
    filters.push(("[0-9a-f]{64}", "[SHA256]"));
    insta::with_settings!({ filters => filters }, {
        insta::assert_snapshot!("damaged", out);
    });
}

/// What a crash or a deletion leaves for gc (a blob no record names, an entry in `.tmp/`) is
/// reported by verify as garbage, not as a problem (exit 0), until gc removes it.
#[test]
fn verify_counts_what_gc_would_remove() {
    let sb = Sandbox::new(&["user"]);
    let raw = sb.raw_disk("disk.raw", 1 << 20);
    sb.ok(&["import", &raw, "c7"]);
    sb.ok(&["resize", "c7", "2M"]);
    sb.ok(&["delete", "c7@1"]);
    std::fs::write(sb.path("user/.tmp/tmpcut"), b"half an import").expect("leftover");
    let out = sb.run(&["repo", "verify", "user"]);
    assert!(out.contains("exit: 0\n") && out.contains(": OK\n"), "{out}");
    assert!(
        out.contains("not a problem: 1 unreferenced blob (")
            && out.contains(") and 1 temporary entry,"),
        "{out}"
    );
    sb.ok(&["repo", "gc", "user"]);
    let out = sb.run(&["repo", "verify", "user"]);
    assert!(!out.contains("not a problem"), "{out}");
}
