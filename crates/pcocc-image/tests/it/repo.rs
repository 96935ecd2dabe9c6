//! `repo list` (WRITABLE True, False, N/A) and `repo list --json`.

use crate::sandbox::Sandbox;
use crate::snap;

#[test]
fn repo_list() {
    let sb = Sandbox::new(&["user", "global", "unused"]);
    // `user` and `global` exist once used; `unused` does not (N/A).
    sb.ok(&["list", "-R", "user"]);
    sb.ok(&["list", "-R", "global"]);
    snap!("list", sb, &["repo", "list"]);
    snap!("json", sb, &["repo", "list", "--json"]);
}

/// `False` needs a directory this process may not write to, which root always may: checked
/// only when not root (the renderer's unit tests pin the text).
#[test]
fn repo_list_read_only() {
    use std::os::unix::fs::PermissionsExt;
    let sb = Sandbox::new(&["ro"]);
    sb.ok(&["list"]);
    let ro = sb.path("ro");
    std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o555)).expect("chmod");
    let out = sb.run(&["repo", "list"]);
    std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    if is_root() {
        assert!(out.contains("    True\n"), "{out}");
    } else {
        assert!(out.contains("    False\n"), "{out}");
    }
}

/// Whether this process runs as root (from `/proc/self/status`, no extra dependency).
fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(2) == Some("0"))
        })
        .unwrap_or(false)
}
