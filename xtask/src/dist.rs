//! `cargo xtask dist [--install [--prefix DIR]]`: the release binaries of every front end, with
//! their man pages and shell completions, under `<target>/dist` (`target/dist` unless
//! `CARGO_TARGET_DIR` says otherwise), laid out as an install prefix:
//!
//! ```text
//! bin/pcocc-image
//! share/man/man1/pcocc-image.1, pcocc-image-import.1, pcocc-image-repo-gc.1, ...
//! share/bash-completion/completions/pcocc-image
//! share/zsh/site-functions/_pcocc-image
//! share/fish/vendor_completions.d/pcocc-image.fish
//! ```
//!
//! The pages and scripts come from the `strata-dist` binary, which renders the front ends'
//! clap definitions (its `FRONT_ENDS` lists them); the pages are dated with the last commit's
//! date. `--install` then copies that tree into a prefix (`~/.local` by default).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::cmd;

/// What `cargo xtask dist` was asked to do.
#[derive(Debug, PartialEq, Eq)]
struct Options {
    /// Where to install the tree, if `--install` was given.
    install: Option<PathBuf>,
}

pub(crate) fn run(args: &[&str]) -> Result<()> {
    let options = parse(args, home()?)?;
    let root = crate::project_root();
    let target = crate::target_dir(&root);
    let release = target.join("release");
    let dist = target.join("dist");
    eprintln!(
        "strata dist: building the release binaries (cargo build --release), then writing them \
         with their man pages and completions under {}",
        dist.display()
    );
    cmd::run(
        cmd::cargo()
            .args(["build", "--release", "--locked", "--bins"])
            .current_dir(&root),
    )?;
    if dist.exists() {
        fs::remove_dir_all(&dist)
            .with_context(|| format!("cannot remove the old {}", dist.display()))?;
    }
    let mut render = Command::new(release.join("strata-dist"));
    render
        .args(["--date", &commit_date(&root)?, "--bin-dir"])
        .args([&release, &dist]);
    cmd::run(&mut render)?;
    let Some(prefix) = options.install else {
        eprintln!(
            "\nto install them: cargo xtask dist --install (into ~/.local), or \
             cargo xtask dist --install --prefix DIR"
        );
        return Ok(());
    };
    let installed = install(&dist, &prefix)?;
    eprintln!(
        "\ninstalled {} files under {}: bin/, share/man/man1/, and the bash, zsh and fish \
         completions under share/",
        installed.len(),
        prefix.display()
    );
    eprintln!(
        "man finds the pages when {}/bin is in PATH; zsh needs {}/share/zsh/site-functions in \
         fpath",
        prefix.display(),
        prefix.display()
    );
    Ok(())
}

/// `[--install [--prefix DIR]]`; the default prefix is `<home>/.local`.
fn parse(args: &[&str], home: PathBuf) -> Result<Options> {
    match args {
        [] => Ok(Options { install: None }),
        ["--install"] => Ok(Options {
            install: Some(home.join(".local")),
        }),
        ["--install", "--prefix", prefix] | ["--prefix", prefix, "--install"] => Ok(Options {
            install: Some(PathBuf::from(prefix)),
        }),
        _ => bail!(
            "unknown arguments for `dist`: {}\n\nusage: cargo xtask dist [--install [--prefix DIR]]",
            args.join(" ")
        ),
    }
}

fn home() -> Result<PathBuf> {
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .context("HOME is not set: give the install prefix with --prefix")
}

/// The date of the last commit, `YYYY-MM-DD`, for the man pages (the same pages on every build
/// of a commit).
fn commit_date(root: &Path) -> Result<String> {
    let mut git = Command::new("git");
    git.args(["log", "-1", "--format=%cs"]).current_dir(root);
    let out = cmd::probe(&mut git)
        .filter(|out| out.status.success())
        .with_context(|| format!("`{}` failed: is this a git checkout?", cmd::display(&git)))?;
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// Copies every file under `tree` to the same place under `prefix` (directories created,
/// files replaced, permissions kept) and returns the copies, sorted.
fn install(tree: &Path, prefix: &Path) -> Result<Vec<PathBuf>> {
    let mut installed = Vec::new();
    let mut dirs = vec![tree.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in fs::read_dir(&dir).with_context(|| format!("cannot list {}", dir.display()))? {
            let path = entry
                .with_context(|| format!("cannot list {}", dir.display()))?
                .path();
            if path.is_dir() {
                dirs.push(path);
                continue;
            }
            let rel = path.strip_prefix(tree).unwrap_or(&path);
            let to = prefix.join(rel);
            if let Some(parent) = to.parent() {
                fs::create_dir_all(parent)
                    .with_context(|| format!("cannot create {}", parent.display()))?;
            }
            // A new file rather than writing through the old one: a running binary is not
            // changed under its feet ("text file busy").
            let _ = fs::remove_file(&to);
            fs::copy(&path, &to)
                .with_context(|| format!("cannot copy {} to {}", path.display(), to.display()))?;
            installed.push(to);
        }
    }
    installed.sort();
    Ok(installed)
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn options() {
        let home = PathBuf::from("/home/u");
        assert_eq!(parse(&[], home.clone()).unwrap(), Options { install: None });
        assert_eq!(
            parse(&["--install"], home.clone()).unwrap().install,
            Some(PathBuf::from("/home/u/.local"))
        );
        assert_eq!(
            parse(&["--install", "--prefix", "/usr/local"], home.clone())
                .unwrap()
                .install,
            Some(PathBuf::from("/usr/local"))
        );
        assert!(parse(&["--prefix", "/usr/local"], home.clone()).is_err());
        assert!(parse(&["--instal"], home).is_err());
    }

    /// Installing copies the tree as it is: same relative paths, executables stay executable,
    /// an older file is replaced.
    #[test]
    fn install_copies_the_tree_into_the_prefix() {
        let work = std::env::temp_dir().join(format!("xtask-dist-test-{}", std::process::id()));
        let tree = work.join("dist");
        let prefix = work.join("prefix");
        fs::create_dir_all(tree.join("bin")).unwrap();
        fs::create_dir_all(tree.join("share/man/man1")).unwrap();
        fs::write(tree.join("bin/tool"), "#!/bin/sh\n").unwrap();
        fs::set_permissions(tree.join("bin/tool"), fs::Permissions::from_mode(0o755)).unwrap();
        fs::write(tree.join("share/man/man1/tool.1"), ".TH tool 1\n").unwrap();
        fs::create_dir_all(prefix.join("bin")).unwrap();
        fs::write(prefix.join("bin/tool"), "old").unwrap();

        let installed = install(&tree, &prefix).unwrap();
        let mode = fs::metadata(prefix.join("bin/tool"))
            .unwrap()
            .permissions()
            .mode();
        let page = fs::read_to_string(prefix.join("share/man/man1/tool.1")).unwrap();
        let tool = fs::read_to_string(prefix.join("bin/tool")).unwrap();
        fs::remove_dir_all(&work).unwrap();
        assert_eq!(
            installed,
            [
                prefix.join("bin/tool"),
                prefix.join("share/man/man1/tool.1")
            ]
        );
        assert_eq!(mode & 0o777, 0o755);
        assert_eq!(page, ".TH tool 1\n");
        assert_eq!(tool, "#!/bin/sh\n");
    }
}
