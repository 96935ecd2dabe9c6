//! `cargo xtask`: the project's automation, written in Rust (matklad's xtask pattern).
//!
//! `main` only dispatches; each command lives in its own module: [`ci`] (the single source of
//! truth for CI), [`setup`] (what the tests, benches and demo need on the machine, with
//! [`build_vm`], the build VM's kernel and initramfs), [`demo`], [`dist`] (release binaries,
//! man pages, completions, install) and [`tidy`]. [`cmd`] runs other programs and prints them
//! as a user would type them.

#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "xtask is a developer's command-line tool: printing progress and results is its job"
)]

mod bench;
mod bench_build;
mod bench_oci;
mod bench_ocne;
mod bench_one;
mod bench_registry;
mod bench_store;
mod build_vm;
mod ci;
mod cmd;
mod demo;
mod dist;
mod fuzz;
mod report;
mod setup;
mod tidy;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Result, bail};

const USAGE: &str = "\
usage: cargo xtask <command>

commands:
  ci [--skip-setup]  every check CI runs, in order, stopping at the first failure:
                     setup, fmt, tidy, clippy, test, demo, doc, deny, git
                     (see xtask/src/ci.rs)
  tidy               check the invariants of ARCHITECTURE.md that a machine can check
                     (see xtask/src/tidy.rs)
  setup              install what the tests, benches and demo need, only what is missing
  demo               the main job end to end: pcocc-image on a repository of its own
  dist [--install [--prefix DIR]]
                     release binaries, man pages and bash/zsh/fish completions of every
                     front end under target/dist (laid out as a prefix: bin/, share/...);
                     --install copies them into DIR (default ~/.local)
  bench disk         time strata against qemu-img on generated images; writes docs/benchmarks.md
  bench formats      the same for vmdk, vdi, vpc and qed output
  bench store        time pcocc-image import against pcocc's way (qemu-img, sha256sum, mv)
  bench oci          time pcocc-image's container imports, exports, cache, squashfs, push
                     and pull against skopeo, umoci and mksquashfs on a generated rootfs
  bench build        time transient-image build (scratch, FROM a 4 GiB base, a rebuild with
                     nothing changed) against transient 0.25's image build, both under TCG
  bench registry     time pushes to and pulls from a repository kept in a registry against
                     skopeo copy of the same bytes as an OCI artifact
  bench one          time oneimage create of the 4 GiB disk against OpenNebula's fs driver
                     (cat, fallocate -d, qemu-img info/convert), and oneimage list of 10,000
                     images
  bench ocne         time ocne-image create -t oci of a 1 GiB boot image (cold and cached)
                     against OCNE's documented run
  fuzz [--time S] [TARGET...]
                     run the fuzz targets of fuzz/ (cargo +nightly fuzz), S seconds each
  help               print this message";

fn main() -> ExitCode {
    match run(std::env::args().skip(1).collect()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("xtask: error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Vec<String>) -> Result<()> {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    match args.as_slice() {
        [] | ["help" | "--help" | "-h"] => {
            println!("{USAGE}");
            Ok(())
        }
        ["ci", flags @ ..] => {
            let mut options = ci::Options::default();
            for flag in flags {
                match *flag {
                    "--skip-setup" => options.skip_setup = true,
                    other => bail!("unknown option {other:?} for `ci`\n\n{USAGE}"),
                }
            }
            ci::run(options)
        }
        ["setup"] => setup::run(),
        ["tidy"] => tidy::run(),
        ["demo"] => demo::run(),
        ["bench", rest @ ..] => bench::run(rest),
        ["fuzz", rest @ ..] => fuzz::run(rest),
        ["dist", rest @ ..] => dist::run(rest),
        _ => bail!(
            "unknown command or arguments: {}\n\n{USAGE}",
            args.join(" ")
        ),
    }
}

/// Cargo's target directory (`CARGO_TARGET_DIR` or `<root>/target`).
fn target_dir(root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from)
}

/// The repository root: the parent of this crate's directory.
fn project_root() -> PathBuf {
    let xtask_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    xtask_dir.parent().unwrap_or(xtask_dir).to_path_buf()
}
