//! strata-dist: the man pages and shell completions of every front end, rendered from their
//! clap definitions (each front end's library exposes `command()`), so that no binary has to run
//! and none carries a hidden flag for it. `cargo xtask dist` runs the `strata-dist` binary.
//!
//! [`FRONT_ENDS`] lists the front ends, one line each. [`write_all`] writes their files under
//! a directory laid out as an install prefix, so that installing is copying the tree
//! ([`copy_binaries`] adds the binaries under `bin/`):
//! [`man`] one page per command and subcommand (`share/man/man1/pcocc-image-repo-gc.1`),
//! [`completion`] a script per shell in the directory where that shell looks for it
//! (`share/bash-completion/completions/pcocc-image`, zsh's `site-functions`, fish's
//! `vendor_completions.d`).

pub mod completion;
pub mod error;
pub mod front_ends;
pub mod man;
pub mod run;

use std::path::{Path, PathBuf};

pub use error::DistError;
pub use front_ends::{FRONT_ENDS, FrontEnd};
pub use run::main;

/// Writes the man pages (dated `date`, `YYYY-MM-DD`) and completions of every front end under
/// `prefix` (created if needed) and returns the files written, front end by front end.
pub fn write_all(prefix: &Path, date: &str) -> Result<Vec<PathBuf>, DistError> {
    let mut written = Vec::new();
    for front_end in FRONT_ENDS {
        written.extend(man::write_pages(
            (front_end.command)(),
            date,
            &prefix.join(man::DIR),
        )?);
        written.extend(completion::write_scripts(
            (front_end.command)(),
            front_end.bin,
            prefix,
        )?);
    }
    Ok(written)
}

/// Where the binaries go under an install prefix.
pub const BIN_DIR: &str = "bin";

/// Copies every front end's binary from `bin_dir` (cargo's `target/release`) into
/// `prefix/bin` (created if needed), and returns the copies.
pub fn copy_binaries(bin_dir: &Path, prefix: &Path) -> Result<Vec<PathBuf>, DistError> {
    let dest = prefix.join(BIN_DIR);
    error::create_dir(&dest)?;
    let mut copied = Vec::new();
    for front_end in FRONT_ENDS {
        let from = bin_dir.join(front_end.bin);
        let to = dest.join(front_end.bin);
        // `fs::copy` keeps the permissions: the copy stays executable.
        std::fs::copy(&from, &to).map_err(|source| DistError::Copy {
            from,
            to: to.clone(),
            source,
        })?;
        copied.push(to);
    }
    Ok(copied)
}
