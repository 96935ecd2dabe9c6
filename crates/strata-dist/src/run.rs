//! The `strata-dist` binary's whole behaviour: `strata-dist --date YYYY-MM-DD [--bin-dir DIR]
//! PREFIX` writes every front end's man pages and completions under PREFIX
//! ([`crate::write_all`]), copies their binaries from DIR into `PREFIX/bin`
//! ([`crate::copy_binaries`]), and says what it wrote.

#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "a command-line tool reports what it wrote and why it failed"
)]

use std::path::PathBuf;
use std::process::ExitCode;

use crate::DistError;

const USAGE: &str = "usage: strata-dist --date YYYY-MM-DD [--bin-dir DIR] PREFIX\n\n\
writes the man pages (PREFIX/share/man/man1, dated DATE) and the bash, zsh and fish \
completions (PREFIX/share/...) of every strata front end, and with --bin-dir copies their \
binaries from DIR into PREFIX/bin";

/// The command line, parsed.
struct Args {
    date: String,
    bin_dir: Option<PathBuf>,
    prefix: PathBuf,
}

/// Runs the binary with the process's arguments.
pub fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if matches!(args.as_slice(), [flag] if flag == "-h" || flag == "--help") {
        println!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    let Some(args) = parse(&args) else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    match write(&args) {
        Ok(summary) => {
            println!("strata-dist: {summary} under {}", args.prefix.display());
            ExitCode::SUCCESS
        }
        Err(err) => {
            let mut message = format!("strata-dist: error: {err}");
            let mut source = std::error::Error::source(&err);
            while let Some(cause) = source {
                message.push_str(&format!(": {cause}"));
                source = cause.source();
            }
            eprintln!("{message}");
            ExitCode::FAILURE
        }
    }
}

/// Writes everything `args` asks for and says what, in words.
fn write(args: &Args) -> Result<String, DistError> {
    let written = crate::write_all(&args.prefix, &args.date)?;
    let pages = written
        .iter()
        .filter(|path| path.extension().is_some_and(|ext| ext == "1"))
        .count();
    let mut summary = format!(
        "{pages} man pages, {} completion scripts",
        written.len() - pages
    );
    if let Some(bin_dir) = &args.bin_dir {
        let binaries = crate::copy_binaries(bin_dir, &args.prefix)?;
        let noun = if binaries.len() == 1 {
            "binary"
        } else {
            "binaries"
        };
        summary.push_str(&format!(", {} {noun}", binaries.len()));
    }
    Ok(summary)
}

/// `--date DATE`, `--bin-dir DIR` (in any order) and the prefix; `None` if anything is missing,
/// repeated or unknown.
fn parse(args: &[String]) -> Option<Args> {
    let (mut date, mut bin_dir, mut prefix) = (None, None, None);
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--date" if date.is_none() => date = args.next().filter(|d| is_date(d)).cloned(),
            "--bin-dir" if bin_dir.is_none() => bin_dir = Some(PathBuf::from(args.next()?)),
            text if !text.starts_with('-') && prefix.is_none() => {
                prefix = Some(PathBuf::from(text));
            }
            _ => return None,
        }
    }
    Some(Args {
        date: date?,
        bin_dir,
        prefix: prefix?,
    })
}

/// Whether `text` is a `YYYY-MM-DD` date (digits and dashes in their places).
fn is_date(text: &str) -> bool {
    text.len() == 10
        && text.char_indices().all(|(i, c)| {
            if i == 4 || i == 7 {
                c == '-'
            } else {
                c.is_ascii_digit()
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(words: &[&str]) -> Vec<String> {
        words.iter().map(|w| (*w).to_owned()).collect()
    }

    #[test]
    fn parses_the_date_the_bin_dir_and_the_prefix() {
        let parsed = parse(&args(&["--bin-dir", "rel", "--date", "2026-01-02", "out"]));
        assert!(matches!(
            parsed,
            Some(Args { date, bin_dir: Some(bin_dir), prefix })
                if date == "2026-01-02" && bin_dir.as_path() == std::path::Path::new("rel") && prefix.as_path() == std::path::Path::new("out")
        ));
        for refused in [
            &["out"][..],
            &["--date", "2026-1-2", "out"],
            &["--date", "2026-01-02"],
            &["--date", "2026-01-02", "out", "again"],
            &["--date", "2026-01-02", "--force", "out"],
        ] {
            assert!(parse(&args(refused)).is_none(), "{refused:?}");
        }
    }
}
