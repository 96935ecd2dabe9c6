//! The `strata-dist` binary's whole behaviour: `strata-dist --date YYYY-MM-DD PREFIX` writes
//! every front end's man pages and completions under PREFIX ([`crate::write_all`]) and says how
//! many.

#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "a command-line tool reports what it wrote and why it failed"
)]

use std::path::PathBuf;
use std::process::ExitCode;

const USAGE: &str = "usage: strata-dist --date YYYY-MM-DD PREFIX\n\n\
writes the man pages (PREFIX/share/man/man1, dated DATE) and the bash, zsh and fish \
completions (PREFIX/share/...) of every strata front end";

/// Runs the binary with the process's arguments.
pub fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (date, prefix) = match args.as_slice() {
        [flag] if flag == "-h" || flag == "--help" => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        [flag, date, prefix] if flag == "--date" && is_date(date) && !prefix.starts_with('-') => {
            (date, PathBuf::from(prefix))
        }
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match crate::write_all(&prefix, date) {
        Ok(written) => {
            let pages = written
                .iter()
                .filter(|path| path.extension().is_some_and(|ext| ext == "1"))
                .count();
            println!(
                "strata-dist: {pages} man pages and {} completion scripts under {}",
                written.len() - pages,
                prefix.display()
            );
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
