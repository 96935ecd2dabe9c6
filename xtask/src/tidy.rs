//! Tidy rules: the invariants of ARCHITECTURE.md and STYLE.md that a machine can check, as
//! rust-analyzer's `xtask/src/tidy.rs` does. Each rule is a function of the repository root that
//! returns its offences (one sentence each, naming the file or crate); a `#[test]` fails on any,
//! so `cargo test --workspace` checks them, and `cargo xtask tidy` (a step of `cargo xtask ci`)
//! runs [`RULES`] for a fast, clear failure.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use toml_edit::{DocumentMut, Item, TableLike};

/// A rule: the offences found under the repository root.
type Rule = fn(&Path) -> Result<Vec<String>>;

/// Every rule, with what it checks.
pub(crate) const RULES: [(&str, Rule); 6] = [
    ("every .rs file starts with a `//!` line", doc_lines),
    (
        "clap only in front ends and tooling (xtask, strata-dist)",
        clap_outside_front_ends,
    ),
    ("strata-model does no I/O", io_in_model),
    ("dependencies point one way", dependency_direction),
    ("a binary's main.rs has fewer than 20 lines", long_mains),
    (
        "the core names no dialect outside its comments",
        dialects_in_core,
    ),
];

/// `cargo xtask tidy`: runs every rule and fails listing every offence.
pub(crate) fn run() -> Result<()> {
    let root = crate::project_root();
    let mut broken = Vec::new();
    for (what, rule) in RULES {
        let offences = rule(&root)?;
        if !offences.is_empty() {
            broken.push(format!("{what}:\n  {}", offences.join("\n  ")));
        }
    }
    if !broken.is_empty() {
        bail!(
            "tidy rules are broken (xtask/src/tidy.rs):\n{}",
            broken.join("\n")
        );
    }
    eprintln!("tidy: {} rules hold", RULES.len());
    Ok(())
}

/// Directories that are never searched: build output and version control.
const SKIPPED_DIRS: [&str; 2] = ["target", ".git"];

/// Every `.rs` file under `dir` (skipping `target` and `.git` directories, not following
/// symbolic links), sorted.
fn rs_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    let mut dirs = vec![dir.to_path_buf()];
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
                files.push(path);
            }
        }
    }
    files.sort();
    Ok(files)
}

fn read(path: &Path) -> Result<String> {
    fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
}

/// `path` relative to `root`, for messages.
fn rel(root: &Path, path: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .display()
        .to_string()
}

// ---- Rule: a `//!` first line --------------------------------------------------------------

/// Whether a Rust source file's text starts with a `//!` line (no blank line before it).
fn starts_with_doc_line(text: &[u8]) -> bool {
    text.starts_with(b"//!")
}

/// Every `.rs` file under `root` whose first line does not start with `//!`, relative to
/// `root`, sorted; and the number of `.rs` files checked.
fn files_without_doc_line(root: &Path) -> Result<(Vec<PathBuf>, usize)> {
    let files = rs_files(root)?;
    let mut missing = Vec::new();
    for path in &files {
        let text = fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        if !starts_with_doc_line(&text) {
            missing.push(path.strip_prefix(root).unwrap_or(path).to_path_buf());
        }
    }
    Ok((missing, files.len()))
}

/// Rule: every `.rs` file starts with a `//!` line saying what it owns (STYLE.md).
fn doc_lines(root: &Path) -> Result<Vec<String>> {
    let (missing, checked) = files_without_doc_line(root)?;
    if checked == 0 {
        bail!("no .rs file found under {}", root.display());
    }
    Ok(missing
        .iter()
        .map(|path| {
            format!(
                "{}: does not start with a `//!` line saying what it owns",
                path.display()
            )
        })
        .collect())
}

// ---- Workspace crates and their manifests ---------------------------------------------------

/// Project tooling: crates that may have binaries but are not front ends. They may know clap
/// (xtask parses its own arguments; strata-dist renders the front ends' clap definitions into
/// man pages and completions) and sit outside the layers (see [`OUTSIDE_LAYERS`]).
const TOOLING: [&str; 2] = ["xtask", "strata-dist"];

/// A crate of the workspace.
struct Crate {
    name: String,
    dir: PathBuf,
    manifest: DocumentMut,
}

impl Crate {
    /// A front end: a binary crate with `[[bin]]` entries whose files exist (`src/main.rs`,
    /// or several binaries such as `src/bin/oneimage.rs` and `src/bin/onedatastore.rs`), not
    /// [`TOOLING`].
    fn is_front_end(&self) -> bool {
        !self.is_tooling()
            && self
                .manifest
                .get("bin")
                .and_then(Item::as_array_of_tables)
                .is_some_and(|bins| {
                    !bins.is_empty()
                        && bins.iter().all(|bin| {
                            let path = bin
                                .get("path")
                                .and_then(Item::as_str)
                                .unwrap_or("src/main.rs");
                            self.dir.join(path).is_file()
                        })
                })
    }

    /// Whether the crate is one of [`TOOLING`].
    fn is_tooling(&self) -> bool {
        TOOLING.contains(&self.name.as_str())
    }

    /// The crate names in its `[kind]` tables (`dependencies`, `dev-dependencies`,
    /// `build-dependencies`), target-specific ones included, renamed ones by their package.
    fn deps(&self, kind: &str) -> Vec<String> {
        let mut tables: Vec<&dyn TableLike> = Vec::new();
        tables.extend(self.manifest.get(kind).and_then(Item::as_table_like));
        if let Some(targets) = self.manifest.get("target").and_then(Item::as_table_like) {
            for (_, target) in targets.iter() {
                tables.extend(target.get(kind).and_then(Item::as_table_like));
            }
        }
        let mut names = Vec::new();
        for table in tables {
            for (key, dep) in table.iter() {
                let package = dep.get("package").and_then(Item::as_str);
                names.push(package.unwrap_or(key).to_owned());
            }
        }
        names
    }
}

/// The crates of the workspace at `root`, from its `[workspace] members` (a member ending in
/// `/*` names every directory under it that has a `Cargo.toml`), sorted by name.
fn workspace_crates(root: &Path) -> Result<Vec<Crate>> {
    let top = parse_manifest(&root.join("Cargo.toml"))?;
    let members = top
        .get("workspace")
        .and_then(|w| w.get("members"))
        .and_then(Item::as_array)
        .context("the root Cargo.toml has no [workspace] members")?;
    let mut dirs = Vec::new();
    for member in members.iter().filter_map(|m| m.as_str()) {
        if let Some(parent) = member.strip_suffix("/*") {
            let parent = root.join(parent);
            for entry in fs::read_dir(&parent)
                .with_context(|| format!("cannot list {}", parent.display()))?
            {
                let path = entry?.path();
                if path.join("Cargo.toml").is_file() {
                    dirs.push(path);
                }
            }
        } else {
            dirs.push(root.join(member));
        }
    }
    let mut crates = Vec::new();
    for dir in dirs {
        let path = dir.join("Cargo.toml");
        let manifest = parse_manifest(&path)?;
        let name = manifest
            .get("package")
            .and_then(|p| p.get("name"))
            .and_then(Item::as_str)
            .with_context(|| format!("{}: no package name", path.display()))?
            .to_owned();
        crates.push(Crate {
            name,
            dir,
            manifest,
        });
    }
    crates.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(crates)
}

fn parse_manifest(path: &Path) -> Result<DocumentMut> {
    read(path)?
        .parse()
        .with_context(|| format!("cannot parse {}", path.display()))
}

// ---- Searching source text -------------------------------------------------------------------

/// Whether `c` can be part of an identifier.
fn is_ident(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Whether `line` holds `needle` as whole words: not preceded by an identifier character when
/// `needle` starts with one, not followed by one when it ends with one (`fs::` is found in
/// `std::fs::read`, not in `myfs::read`; `std::os` not in `std::ops`).
fn mentions(line: &str, needle: &str) -> bool {
    let starts_ident = needle.starts_with(is_ident);
    let ends_ident = needle.ends_with(is_ident);
    line.match_indices(needle).any(|(at, _)| {
        let before = line[..at].chars().next_back();
        let after = line[at + needle.len()..].chars().next();
        !(starts_ident && before.is_some_and(is_ident) || ends_ident && after.is_some_and(is_ident))
    })
}

/// The lines of `text` that are code, numbered from 1: comment lines (`//`, `//!`, `///`) are
/// left out, since a comment does no I/O and knows no crate.
fn code_lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines()
        .enumerate()
        .map(|(i, line)| (i + 1, line))
        .filter(|(_, line)| !line.trim_start().starts_with("//"))
}

/// `file:line: text` for every code line of every `.rs` file under `dir` that mentions one of
/// `needles` (see [`mentions`]).
fn find_in_sources(root: &Path, dir: &Path, needles: &[&str], why: &str) -> Result<Vec<String>> {
    let mut found = Vec::new();
    for path in rs_files(dir)? {
        let text = read(&path)?;
        for (number, line) in code_lines(&text) {
            if let Some(needle) = needles.iter().find(|n| mentions(line, n)) {
                found.push(format!("{}:{number}: `{needle}`: {why}", rel(root, &path)));
            }
        }
    }
    Ok(found)
}

// ---- Rule: clap only in front ends -----------------------------------------------------------

/// Rule: only front ends and [`TOOLING`] have clap in their manifests (any kind of dependency)
/// or name it in their sources (ARCHITECTURE.md: only front ends know clap).
fn clap_outside_front_ends(root: &Path) -> Result<Vec<String>> {
    let mut offences = Vec::new();
    for krate in workspace_crates(root)? {
        if krate.is_tooling() || krate.is_front_end() {
            continue;
        }
        for kind in ["dependencies", "dev-dependencies", "build-dependencies"] {
            for dep in krate.deps(kind) {
                if dep == "clap" || dep.starts_with("clap_") {
                    offences.push(format!(
                        "{}: {dep} in [{kind}]; only front ends (a [[bin]] and its file) and \
                         tooling (xtask, strata-dist) know clap",
                        krate.name
                    ));
                }
            }
        }
        offences.extend(find_in_sources(
            root,
            &krate.dir,
            &["use clap", "clap::", "extern crate clap"],
            "only front ends and tooling (xtask, strata-dist) know clap",
        )?);
    }
    Ok(offences)
}

// ---- Rule: the core names no dialect ---------------------------------------------------------

/// The tools whose dialects the front ends speak, lowercase.
const DIALECTS: [&str; 4] = ["pcocc", "transient", "opennebula", "ocne"];

/// Rule: no code line of `crates/strata/src` names a dialect, in any case and inside any word
/// (`pcocc_name`, `PCOCC_REF_NAME`, a message string): the core holds invariants, the front
/// ends hold policy (ARCHITECTURE.md). Comments may compare with the original tools.
fn dialects_in_core(root: &Path) -> Result<Vec<String>> {
    let mut offences = Vec::new();
    for path in rs_files(&root.join("crates/strata/src"))? {
        let text = read(&path)?;
        for (number, line) in code_lines(&text) {
            let lower = line.to_lowercase();
            if let Some(dialect) = DIALECTS.iter().find(|d| lower.contains(*d)) {
                offences.push(format!(
                    "{}:{number}: `{dialect}`: the core speaks no dialect; policy and words \
                     belong to the front end",
                    rel(root, &path)
                ));
            }
        }
    }
    Ok(offences)
}

// ---- Rule: strata-model does no I/O ----------------------------------------------------------

/// What I/O looks like in source: std's I/O modules (also as `fs::` after `use std::{fs, ...}`),
/// the types and calls that open files, sockets and processes, the standard streams and the
/// printing macros. `Command` alone is left out: strata-model has an OpenNebula `Command` enum.
const IO_IN_SOURCE: [&str; 27] = [
    "std::fs",
    "std::process",
    "std::net",
    "std::os",
    "std::env",
    "std::io::stdin",
    "std::io::stdout",
    "std::io::stderr",
    "fs::",
    "process::",
    "net::",
    "os::",
    "env::",
    "File::",
    "OpenOptions::",
    "Command::new(",
    "TcpStream",
    "TcpListener",
    "UdpSocket",
    "UnixStream",
    "UnixListener",
    "stdin()",
    "stdout()",
    "stderr()",
    "println!",
    "eprintln!",
    "print!",
];

/// Crates whose use is I/O: system calls, temporary files, async runtimes, HTTP.
const IO_CRATES: [&str; 7] = [
    "libc", "nix", "rustix", "tempfile", "tokio", "reqwest", "memmap2",
];

/// Rule: `crates/strata-model/src` mentions no I/O (see [`IO_IN_SOURCE`]), and strata-model
/// depends on no I/O crate (see [`IO_CRATES`]).
fn io_in_model(root: &Path) -> Result<Vec<String>> {
    let model = root.join("crates/strata-model");
    let mut offences = find_in_sources(
        root,
        &model.join("src"),
        &IO_IN_SOURCE,
        "strata-model does no I/O",
    )?;
    if let Some(krate) = workspace_crates(root)?
        .into_iter()
        .find(|c| c.name == "strata-model")
    {
        for dep in krate.deps("dependencies") {
            if IO_CRATES.contains(&dep.as_str()) {
                offences.push(format!(
                    "strata-model: depends on {dep}, an I/O crate; strata-model does no I/O"
                ));
            }
        }
    }
    Ok(offences)
}

// ---- Rule: dependencies point one way --------------------------------------------------------

/// The layers, lowest first: `model <- disk, oci <- store <- build <- strata <- cli <- front
/// ends`. A crate may depend (normally) only on crates of a lower rank.
const RANKS: [(&str, u8); 7] = [
    ("strata-model", 0),
    ("strata-disk", 1),
    ("strata-oci", 1),
    ("strata-store", 2),
    ("strata-build", 3),
    ("strata", 4),
    ("strata-cli", 5),
];

/// The rank of every front end (see [`Crate::is_front_end`]).
const FRONT_END_RANK: u8 = 6;

/// Tooling and test support: not in the layers (their own dependencies are free: strata-dist
/// depends on the front ends), and no crate may have them as a normal dependency.
const OUTSIDE_LAYERS: [&str; 3] = ["xtask", "strata-dist", "strata-testkit"];

/// Rule: every normal dependency (`[dependencies]`, target-specific ones included) between
/// workspace crates goes to a lower rank (see [`RANKS`]); none goes to xtask or strata-testkit;
/// every workspace crate has a rank. Dev-dependencies may point anywhere.
fn dependency_direction(root: &Path) -> Result<Vec<String>> {
    let crates = workspace_crates(root)?;
    let rank = |krate: &Crate| {
        RANKS
            .iter()
            .find(|(name, _)| *name == krate.name)
            .map(|(_, rank)| *rank)
            .or_else(|| krate.is_front_end().then_some(FRONT_END_RANK))
    };
    let mut offences = Vec::new();
    for krate in &crates {
        if OUTSIDE_LAYERS.contains(&krate.name.as_str()) {
            continue;
        }
        let Some(from) = rank(krate) else {
            offences.push(format!(
                "{}: not ranked; give it its layer in RANKS of xtask/src/tidy.rs (model 0; \
                 disk, oci 1; store 2; build 3; strata 4; cli 5) or make it a front end (6)",
                krate.name
            ));
            continue;
        };
        for dep in krate.deps("dependencies") {
            if OUTSIDE_LAYERS.contains(&dep.as_str()) {
                offences.push(format!(
                    "{} -> {dep}: {dep} may only be a dev-dependency",
                    krate.name
                ));
                continue;
            }
            let Some(to) = crates.iter().find(|c| c.name == dep).and_then(rank) else {
                continue; // not a workspace crate, or unranked (reported as itself)
            };
            if to >= from {
                offences.push(format!(
                    "{} (rank {from}) -> {dep} (rank {to}): dependencies point one way, \
                     model <- disk, oci <- store <- build <- strata <- cli <- front ends",
                    krate.name
                ));
            }
        }
    }
    Ok(offences)
}

// ---- Rule: thin binaries ---------------------------------------------------------------------

/// Lines a binary's main file must stay under.
const MAIN_MAX_LINES: usize = 20;

/// Rule: every binary's main file (`src/main.rs`, `src/bin/*.rs` and each `[[bin]]` path) of
/// every crate but xtask has fewer than [`MAIN_MAX_LINES`] lines: it only calls its crate's `run`.
fn long_mains(root: &Path) -> Result<Vec<String>> {
    let mut offences = Vec::new();
    for krate in workspace_crates(root)? {
        if krate.name == "xtask" {
            continue;
        }
        let mut mains = vec![krate.dir.join("src/main.rs")];
        if let Ok(entries) = fs::read_dir(krate.dir.join("src/bin")) {
            for entry in entries {
                mains.push(entry?.path());
            }
        }
        if let Some(bins) = krate.manifest.get("bin").and_then(Item::as_array_of_tables) {
            for bin in bins {
                if let Some(path) = bin.get("path").and_then(Item::as_str) {
                    mains.push(krate.dir.join(path));
                }
            }
        }
        mains.sort();
        mains.dedup();
        for main in mains {
            if !main.is_file() || main.extension().is_none_or(|ext| ext != "rs") {
                continue;
            }
            let lines = read(&main)?.lines().count();
            if lines >= MAIN_MAX_LINES {
                offences.push(format!(
                    "{}: {lines} lines; a binary's main only calls its crate's run (fewer than \
                     {MAIN_MAX_LINES} lines)",
                    rel(root, &main)
                ));
            }
        }
    }
    Ok(offences)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Fails listing the offences of `rule` on this repository.
    fn holds(rule: Rule) {
        let offences = rule(&crate::project_root()).unwrap();
        assert!(offences.is_empty(), "\n  {}", offences.join("\n  "));
    }

    #[test]
    fn every_rs_file_starts_with_a_doc_line() {
        holds(doc_lines);
    }

    #[test]
    fn clap_is_only_in_front_ends() {
        holds(clap_outside_front_ends);
    }

    #[test]
    fn strata_model_does_no_io() {
        holds(io_in_model);
    }

    #[test]
    fn dependencies_point_one_way() {
        holds(dependency_direction);
    }

    #[test]
    fn mains_are_short() {
        holds(long_mains);
    }

    #[test]
    fn the_core_names_no_dialect() {
        holds(dialects_in_core);
    }

    #[test]
    fn a_dialect_in_core_code_is_found_and_a_comment_is_not() {
        let tree = Tree::new(
            "dialects",
            &[(
                "crates/strata/src/lib.rs",
                "//! As pcocc does.\n/// pcocc's rule.\nfn f() {}\nconst X: &str = \"PCOCC_x\";\nfn transient_name() {}\n",
            )],
        );
        let offences = dialects_in_core(&tree.0).unwrap();
        assert_eq!(offences.len(), 2, "{offences:?}");
        assert!(offences[0].starts_with("crates/strata/src/lib.rs:4: `pcocc`"));
        assert!(offences[1].starts_with("crates/strata/src/lib.rs:5: `transient`"));
    }

    #[test]
    fn every_rule_sees_this_workspace() {
        let crates = workspace_crates(&crate::project_root()).unwrap();
        let names: Vec<&str> = crates.iter().map(|c| c.name.as_str()).collect();
        for name in ["strata-model", "pcocc-image", "strata-testkit", "xtask"] {
            assert!(names.contains(&name), "{name} not found in {names:?}");
        }
        let front_ends: Vec<&str> = crates
            .iter()
            .filter(|c| c.is_front_end())
            .map(|c| c.name.as_str())
            .collect();
        assert_eq!(
            front_ends,
            ["ocne-image", "oneimage", "pcocc-image", "transient-image"]
        );
    }

    /// A directory tree under the system's temporary directory, removed when dropped.
    struct Tree(PathBuf);

    impl Tree {
        /// A workspace of `crates/*` (and `xtask` if `files` has its manifest) holding `files`
        /// (path, text).
        fn new(name: &str, files: &[(&str, &str)]) -> Tree {
            let root = std::env::temp_dir().join(format!(
                "xtask-tidy-{name}-{}-{:?}",
                std::process::id(),
                std::thread::current().id()
            ));
            let _ = fs::remove_dir_all(&root);
            let xtask = files.iter().any(|(path, _)| *path == "xtask/Cargo.toml");
            let top = if xtask {
                "[workspace]\nmembers = [\"crates/*\", \"xtask\"]\n"
            } else {
                "[workspace]\nmembers = [\"crates/*\"]\n"
            };
            for (path, text) in [("Cargo.toml", top)].iter().chain(files) {
                let path = root.join(path);
                fs::create_dir_all(path.parent().unwrap()).unwrap();
                fs::write(path, text).unwrap();
            }
            Tree(root)
        }

        /// The offences `rule` finds, sorted.
        fn offences(&self, rule: Rule) -> Vec<String> {
            let mut offences = rule(&self.0).unwrap();
            offences.sort();
            offences
        }
    }

    impl Drop for Tree {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    /// A manifest of package `name` with `rest` appended.
    fn manifest(name: &str, rest: &str) -> String {
        format!("[package]\nname = \"{name}\"\n{rest}")
    }

    const FRONT_END_BIN: &str = "[[bin]]\nname = \"fe\"\npath = \"src/main.rs\"\n";

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
        let tree = Tree::new(
            "doc",
            &[
                ("crates/a/src/lib.rs", "//! Fine.\n"),
                ("crates/a/src/bad.rs", "fn main() {}\n"),
                ("crates/a/src/empty.rs", ""),
                ("crates/a/src/notes.txt", "not rust\n"),
                ("target/debug/build.rs", "fn main() {}\n"),
                ("fuzz/target/gen.rs", "fn main() {}\n"),
            ],
        );
        let (missing, checked) = files_without_doc_line(&tree.0).unwrap();
        assert_eq!(checked, 3);
        assert_eq!(
            missing,
            [
                PathBuf::from("crates/a/src/bad.rs"),
                PathBuf::from("crates/a/src/empty.rs")
            ]
        );
        assert_eq!(tree.offences(doc_lines).len(), 2);
    }

    #[test]
    fn words_are_matched_whole() {
        assert!(mentions("use std::fs;", "std::fs"));
        assert!(mentions("    fs::read(path)", "fs::"));
        assert!(!mentions("myfs::read(path)", "fs::"));
        assert!(!mentions("use std::ops::Range;", "std::os"));
        assert!(mentions("let c = Command::new(\"ls\");", "Command::new("));
        assert!(!mentions("Command::Start => {}", "Command::new("));
        assert!(!mentions("eprint!(\"x\")", "print!"));
    }

    #[test]
    fn clap_outside_front_ends_is_found() {
        let tree = Tree::new(
            "clap",
            &[
                (
                    "crates/fe/Cargo.toml",
                    &manifest(
                        "fe",
                        &format!("{FRONT_END_BIN}[dependencies]\nclap = \"4\"\n"),
                    ),
                ),
                ("crates/fe/src/main.rs", "//! Fe.\nuse clap::Parser;\n"),
                (
                    "crates/lib/Cargo.toml",
                    &manifest("lib", "[dev-dependencies]\nclap.workspace = true\n"),
                ),
                (
                    "crates/lib/src/lib.rs",
                    "//! Knows no clap::Parser (a comment).\nuse clap::Parser;\nfn f() { myclap::x(); }\n",
                ),
                (
                    "crates/bin-no-manifest-bin/Cargo.toml",
                    &manifest(
                        "nobin",
                        "[dependencies]\nc = { package = \"clap\", version = \"4\" }\n",
                    ),
                ),
                ("crates/bin-no-manifest-bin/src/main.rs", "//! Main.\n"),
                (
                    "xtask/Cargo.toml",
                    &manifest("xtask", "[dependencies]\nclap = \"4\"\n"),
                ),
                (
                    "crates/strata-dist/Cargo.toml",
                    &manifest(
                        "strata-dist",
                        "[dependencies]\nclap = \"4\"\nclap_mangen = \"0.3\"\n",
                    ),
                ),
                (
                    "crates/strata-dist/src/lib.rs",
                    "//! Renders.\nfn f(_: clap::Command) {}\n",
                ),
            ],
        );
        let offences = tree.offences(clap_outside_front_ends);
        assert_eq!(offences.len(), 3, "{offences:#?}");
        assert!(offences[0].starts_with("crates/lib/src/lib.rs:2: `use clap`"));
        assert!(offences[1].starts_with("lib: clap in [dev-dependencies]"));
        assert!(offences[2].starts_with("nobin: clap in [dependencies]"));
    }

    #[test]
    fn io_in_model_is_found() {
        let tree = Tree::new(
            "io",
            &[
                (
                    "crates/strata-model/Cargo.toml",
                    &manifest(
                        "strata-model",
                        "[dependencies]\nserde = \"1\"\nrustix = \"1\"\n",
                    ),
                ),
                (
                    "crates/strata-model/src/lib.rs",
                    "//! No I/O: no std::fs here.\nuse std::{fmt, fs};\nfn f() { let _ = fs::read(\"x\"); }\n",
                ),
                (
                    "crates/strata-model/src/one.rs",
                    "//! Commands.\nenum Command { Start }\nfn g(c: Command) { if let Command::Start = c {} }\nuse std::process::Command as P;\nfn h() { println!(\"hi\"); }\n",
                ),
                (
                    "crates/strata-model/tests/it.rs",
                    "//! Tests may read files.\nuse std::fs;\n",
                ),
            ],
        );
        let offences = tree.offences(io_in_model);
        assert_eq!(
            offences,
            [
                "crates/strata-model/src/lib.rs:3: `fs::`: strata-model does no I/O",
                "crates/strata-model/src/one.rs:4: `std::process`: strata-model does no I/O",
                "crates/strata-model/src/one.rs:5: `println!`: strata-model does no I/O",
                "strata-model: depends on rustix, an I/O crate; strata-model does no I/O",
            ]
        );
    }

    #[test]
    fn dependencies_against_the_direction_are_found() {
        let deps = |names: &[&str]| {
            let mut text = String::from("[dependencies]\n");
            for name in names {
                text.push_str(&format!("{name}.workspace = true\n"));
            }
            text
        };
        let tree = Tree::new(
            "deps",
            &[
                (
                    "crates/strata-model/Cargo.toml",
                    &manifest("strata-model", &deps(&["serde"])),
                ),
                (
                    "crates/strata-disk/Cargo.toml",
                    &manifest("strata-disk", &deps(&["strata-model", "strata-oci"])),
                ),
                (
                    "crates/strata-oci/Cargo.toml",
                    &manifest(
                        "strata-oci",
                        &format!(
                            "{}[dev-dependencies]\nstrata-testkit.workspace = true\nstrata.workspace = true\n",
                            deps(&["strata-model"])
                        ),
                    ),
                ),
                (
                    "crates/strata-store/Cargo.toml",
                    &manifest(
                        "strata-store",
                        "[target.'cfg(unix)'.dependencies]\nstrata-testkit.workspace = true\n",
                    ),
                ),
                (
                    "crates/strata/Cargo.toml",
                    &manifest("strata", &deps(&["strata-store", "strata-disk"])),
                ),
                (
                    "crates/strata-cli/Cargo.toml",
                    &manifest("strata-cli", &deps(&["strata", "fe"])),
                ),
                (
                    "crates/fe/Cargo.toml",
                    &manifest("fe", &format!("{FRONT_END_BIN}{}", deps(&["strata-cli"]))),
                ),
                ("crates/fe/src/main.rs", "//! Fe.\n"),
                (
                    "crates/strata-extra/Cargo.toml",
                    &manifest("strata-extra", &deps(&["strata-model"])),
                ),
                (
                    "crates/strata-testkit/Cargo.toml",
                    &manifest("strata-testkit", &deps(&["strata-oci", "strata"])),
                ),
                (
                    "xtask/Cargo.toml",
                    &manifest("xtask", &deps(&["strata-cli"])),
                ),
                (
                    "crates/strata-dist/Cargo.toml",
                    &manifest(
                        "strata-dist",
                        &format!("{FRONT_END_BIN}{}", deps(&["fe", "strata-cli"])),
                    ),
                ),
                ("crates/strata-dist/src/main.rs", "//! Dist.\n"),
                (
                    "crates/fe2/Cargo.toml",
                    &manifest("fe2", &format!("{FRONT_END_BIN}{}", deps(&["strata-dist"]))),
                ),
                ("crates/fe2/src/main.rs", "//! Fe2.\n"),
            ],
        );
        let offences = tree.offences(dependency_direction);
        assert_eq!(offences.len(), 5, "{offences:#?}");
        assert!(offences[0].starts_with("fe2 -> strata-dist: strata-dist may only"));
        assert!(offences[1].starts_with("strata-cli (rank 5) -> fe (rank 6)"));
        assert!(offences[2].starts_with("strata-disk (rank 1) -> strata-oci (rank 1)"));
        assert!(offences[3].starts_with("strata-extra: not ranked"));
        assert!(offences[4].starts_with("strata-store -> strata-testkit: strata-testkit may only"));
    }

    #[test]
    fn long_mains_are_found() {
        let long = format!("//! Too long.\n{}", "fn f() {}\n".repeat(19));
        let short = "//! Short.\nfn main() {}\n";
        let tree = Tree::new(
            "main",
            &[
                (
                    "crates/fe/Cargo.toml",
                    &manifest(
                        "fe",
                        "[[bin]]\nname = \"fe\"\npath = \"src/main.rs\"\n\n[[bin]]\nname = \"other\"\npath = \"src/other_main.rs\"\n",
                    ),
                ),
                ("crates/fe/src/main.rs", short),
                ("crates/fe/src/other_main.rs", &long),
                ("crates/fe/src/bin/tool.rs", &long),
                ("crates/fe/src/bin/small.rs", short),
                ("crates/fe/src/lib.rs", &long),
                ("xtask/Cargo.toml", &manifest("xtask", "")),
                ("xtask/src/main.rs", &long),
            ],
        );
        let offences = tree.offences(long_mains);
        assert_eq!(
            offences,
            [
                "crates/fe/src/bin/tool.rs: 20 lines; a binary's main only calls its crate's run (fewer than 20 lines)",
                "crates/fe/src/other_main.rs: 20 lines; a binary's main only calls its crate's run (fewer than 20 lines)",
            ]
        );
    }
}
