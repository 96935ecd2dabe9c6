//! `strata-oci`: a thin command-line driver of the crate for benchmarks. `squashfs ROOT OUT`
//! writes the tree at `ROOT` as the container cache's squashfs entry is written
//! ([`strata_oci::squashfs::write_tree`]: all-root, uncompressed, fsynced), so that
//! `cargo xtask bench oci` can time it against `mksquashfs` on the same tree.

#![allow(
    clippy::print_stderr,
    reason = "a command-line example: printing its usage and errors is its job"
)]

use std::path::Path;
use std::process::ExitCode;

const USAGE: &str = "usage: strata-oci squashfs ROOT OUT";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [cmd, root, out] if cmd == "squashfs" => {
            match strata_oci::squashfs::write_tree(Path::new(root), Path::new(out)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("strata-oci: {e}");
                    ExitCode::from(1)
                }
            }
        }
        _ => {
            eprintln!("{USAGE}");
            ExitCode::from(2)
        }
    }
}
