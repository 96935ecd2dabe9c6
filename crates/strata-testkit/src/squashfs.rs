//! squashfs-tools as the reference for squashfs tests (`mksquashfs` makes images, `unsquashfs`
//! extracts ours), and [`tree_listing`], which compares two extracted trees entry by entry.
#![allow(
    clippy::unwrap_used,
    reason = "test support: a setup failure is a test failure"
)]

use std::path::Path;
use std::process::{Command, Stdio};

use sha2::{Digest as _, Sha256};

/// Where Debian installs squashfs-tools.
pub const MKSQUASHFS_BIN: &str = "/usr/bin/mksquashfs";

/// A squashfs image of the directory `src`, made by `mksquashfs` with `args` added; `None`
/// (with a message) when squashfs-tools is not installed.
pub fn mksquashfs(src: &Path, args: &[&str]) -> Option<Vec<u8>> {
    if !crate::peer(
        "mksquashfs",
        MKSQUASHFS_BIN,
        Path::new(MKSQUASHFS_BIN).exists(),
    ) {
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("fs.squashfs");
    let status = Command::new(MKSQUASHFS_BIN)
        .arg(src)
        .arg(&out)
        .args(["-noappend", "-quiet", "-no-progress"])
        .args(args)
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "mksquashfs failed");
    Some(std::fs::read(&out).unwrap())
}

/// Where Debian installs unsquashfs.
pub const UNSQUASHFS_BIN: &str = "/usr/bin/unsquashfs";

/// Extracts `squashfs` (a file) into `dest` (which must not exist) with `unsquashfs`.
pub fn unsquashfs(squashfs: &Path, dest: &Path) {
    let out = Command::new(UNSQUASHFS_BIN)
        .args(["-no-progress", "-quiet", "-d"])
        .arg(dest)
        .arg(squashfs)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "unsquashfs failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// One line per entry under `root` (not `root` itself), by relative path: type, mode, owner,
/// mtime (not for symlinks), and the sha256 of a file's bytes, a symlink's target or a
/// device's number; a path that is a hardlink to an earlier one says which.
pub fn tree_listing(root: &Path) -> std::collections::BTreeMap<String, String> {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let mut out = std::collections::BTreeMap::new();
    let mut inodes: std::collections::HashMap<u64, String> = std::collections::HashMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let mut entries: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        entries.sort();
        for path in entries {
            let rel = path.strip_prefix(root).unwrap().display().to_string();
            let m = std::fs::symlink_metadata(&path).unwrap();
            let t = m.file_type();
            let (kind, what) = if t.is_dir() {
                stack.push(path.clone());
                ("dir", String::new())
            } else if t.is_symlink() {
                let target = std::fs::read_link(&path).unwrap();
                ("symlink", target.display().to_string())
            } else if t.is_file() {
                if m.nlink() > 1 {
                    if let Some(first) = inodes.get(&m.ino()) {
                        out.insert(rel, format!("hardlink to {first}"));
                        continue;
                    }
                    inodes.insert(m.ino(), rel.clone());
                }
                let bytes = std::fs::read(&path).unwrap();
                ("file", hex::encode(Sha256::digest(&bytes)))
            } else if t.is_char_device() {
                ("char", format!("{:x}", m.rdev()))
            } else if t.is_block_device() {
                ("block", format!("{:x}", m.rdev()))
            } else if t.is_fifo() {
                ("fifo", String::new())
            } else {
                ("other", String::new())
            };
            let mtime = if t.is_symlink() {
                String::new()
            } else {
                m.mtime().to_string()
            };
            out.insert(
                rel,
                format!(
                    "{kind} {:o} {}:{} {mtime} {what}",
                    m.mode() & 0o7777,
                    m.uid(),
                    m.gid()
                ),
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tree_listing_names_type_mode_and_sha256() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("sub/hello");
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(&file, b"hello").unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o640)).unwrap();
        std::os::unix::fs::symlink("sub/hello", dir.path().join("link")).unwrap();
        let listing = tree_listing(dir.path());
        assert_eq!(
            listing.keys().collect::<Vec<_>>(),
            ["link", "sub", "sub/hello"]
        );
        let hello = &listing["sub/hello"];
        assert!(hello.starts_with("file 640 "), "{hello}");
        assert!(
            hello.ends_with(" 2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"),
            "{hello}"
        );
        assert!(listing["link"].ends_with(" sub/hello"));
    }
}
