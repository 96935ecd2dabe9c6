//! Man pages (clap_mangen): one per command and per subcommand, at every depth, named as git
//! names its own (`pcocc-image.1`, `pcocc-image-import.1`, `pcocc-image-repo-gc.1`); a page
//! with subcommands lists theirs (`pcocc-image-repo-gc(1)`).

use std::path::{Path, PathBuf};

use clap_mangen::Man;

use crate::error::{DistError, create_dir, write_file};

/// Where the pages go under an install prefix.
pub const DIR: &str = "share/man/man1";

/// What every page says in its footer: where it comes from (`strata 0.1.0`).
const SOURCE: &str = concat!("strata ", env!("CARGO_PKG_VERSION"));

/// Writes the page of `cmd` and of each of its subcommands into `dir` (created if needed),
/// dated `date` (`YYYY-MM-DD`: `cargo xtask dist` gives the last commit's), and returns their
/// paths, parents before their subcommands.
pub fn write_pages(
    mut cmd: clap::Command,
    date: &str,
    dir: &Path,
) -> Result<Vec<PathBuf>, DistError> {
    create_dir(dir)?;
    // Building gives each subcommand its display name (`pcocc-image-repo-gc`, the page's name)
    // and its binary name (`pcocc-image repo gc`, its synopsis).
    cmd.build();
    let mut written = Vec::new();
    write_tree(&cmd, date, dir, &mut written)?;
    Ok(written)
}

fn write_tree(
    cmd: &clap::Command,
    date: &str,
    dir: &Path,
    written: &mut Vec<PathBuf>,
) -> Result<(), DistError> {
    // A date is always given: clap_mangen writes an empty one as nothing, which shifts the
    // footer's words into the date's place.
    let man = Man::new(cmd.clone()).date(date).source(SOURCE);
    let mut page = Vec::new();
    man.render(&mut page).map_err(|source| DistError::Write {
        path: dir.join(man.get_filename()),
        source,
    })?;
    written.push(write_file(dir.join(man.get_filename()), &page)?);
    for sub in cmd.get_subcommands().filter(|sub| !sub.is_hide_set()) {
        write_tree(sub, date, dir, written)?;
    }
    Ok(())
}
