//! Tidy checks on the source tree: every `.rs` file's first line is a `//!` line saying what the
//! file owns (STYLE.md). `cargo xtask ci` calls [`files_without_doc_line`] first for a fast, clear
//! failure, and the unit test below runs the same check in `cargo test --workspace`.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// Directories that are never searched: build output and version control.
const SKIPPED_DIRS: [&str; 2] = ["target", ".git"];

/// Whether a Rust source file's text starts with a `//!` line (no blank line before it).
fn starts_with_doc_line(text: &[u8]) -> bool {
    text.starts_with(b"//!")
}

/// Every `.rs` file under `root` (skipping `target` and `.git` directories, not following
/// symbolic links) whose first line does not start with `//!`, relative to `root`, sorted; and the
/// number of `.rs` files checked.
pub(crate) fn files_without_doc_line(root: &Path) -> Result<(Vec<PathBuf>, usize)> {
    let mut missing = Vec::new();
    let mut checked = 0;
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        let entries =
            fs::read_dir(&dir).with_context(|| format!("cannot list {}", dir.display()))?;
        for entry in entries {
            let entry = entry.with_context(|| format!("cannot list {}", dir.display()))?;
            let path = entry.path();
            let file_type = entry
                .file_type()
                .with_context(|| format!("cannot stat {}", path.display()))?;
            if file_type.is_dir() {
                if !SKIPPED_DIRS
                    .iter()
                    .any(|skipped| entry.file_name() == *skipped)
                {
                    dirs.push(path);
                }
            } else if file_type.is_file() && path.extension().is_some_and(|ext| ext == "rs") {
                checked += 1;
                let text =
                    fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
                if !starts_with_doc_line(&text) {
                    missing.push(path.strip_prefix(root).unwrap_or(&path).to_path_buf());
                }
            }
        }
    }
    missing.sort();
    Ok((missing, checked))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rs_file_starts_with_a_doc_line() {
        let (missing, checked) = files_without_doc_line(&crate::project_root()).unwrap();
        assert!(
            checked > 0,
            "no .rs file found under {}",
            crate::project_root().display()
        );
        assert!(
            missing.is_empty(),
            "these files do not start with a `//!` line saying what they own: {missing:?}"
        );
    }

    #[test]
    fn first_line_must_be_the_doc_line() {
        assert!(starts_with_doc_line(b"//! Owns the qcow2 header.\n"));
        assert!(starts_with_doc_line(b"//!\n//! Text."));
        assert!(!starts_with_doc_line(b"\n//! A blank line first.\n"));
        assert!(!starts_with_doc_line(b"// A plain comment.\n"));
        assert!(!starts_with_doc_line(
            b"/// An outer doc comment.\nfn f() {}\n"
        ));
        assert!(!starts_with_doc_line(b""));
    }

    #[test]
    fn finds_offenders_and_skips_target_dirs() {
        let root = std::env::temp_dir().join(format!(
            "xtask-tidy-test-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = fs::remove_dir_all(&root);
        fs::create_dir_all(root.join("crates/a/src")).unwrap();
        fs::create_dir_all(root.join("target/debug")).unwrap();
        fs::create_dir_all(root.join("fuzz/target")).unwrap();
        fs::write(root.join("crates/a/src/lib.rs"), "//! Fine.\n").unwrap();
        fs::write(root.join("crates/a/src/bad.rs"), "fn main() {}\n").unwrap();
        fs::write(root.join("crates/a/src/empty.rs"), "").unwrap();
        fs::write(root.join("crates/a/src/notes.txt"), "not rust\n").unwrap();
        fs::write(root.join("target/debug/build.rs"), "fn main() {}\n").unwrap();
        fs::write(root.join("fuzz/target/gen.rs"), "fn main() {}\n").unwrap();

        let result = files_without_doc_line(&root);
        fs::remove_dir_all(&root).unwrap();
        let (missing, checked) = result.unwrap();
        assert_eq!(checked, 3);
        assert_eq!(
            missing,
            [
                PathBuf::from("crates/a/src/bad.rs"),
                PathBuf::from("crates/a/src/empty.rs")
            ]
        );
    }
}
