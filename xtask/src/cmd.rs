//! Running other programs with `std::process::Command` (no shell): each command is printed as a
//! user would type it before it runs, and a failure names the command and its exit status.

use std::ffi::{OsStr, OsString};
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Output, Stdio};

use anyhow::{Context, Result, bail};

/// A `cargo` command: the cargo that runs xtask (`$CARGO`), or `cargo` from `PATH`.
pub(crate) fn cargo() -> Command {
    Command::new(std::env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo")))
}

/// A command for `program`, where `cargo` means [`cargo()`].
pub(crate) fn command(program: &str) -> Command {
    if program == "cargo" {
        cargo()
    } else {
        Command::new(program)
    }
}

/// The command line of `cmd` as a user would type it in a POSIX shell: environment assignments,
/// the program's file name (not its full path) and the arguments, quoted where needed.
pub(crate) fn display(cmd: &Command) -> String {
    let mut words = Vec::new();
    for (key, value) in cmd.get_envs() {
        if let Some(value) = value {
            words.push(format!("{}={}", key.to_string_lossy(), quote(value)));
        }
    }
    let program = Path::new(cmd.get_program());
    words.push(quote(program.file_name().unwrap_or(program.as_os_str())));
    words.extend(cmd.get_args().map(quote));
    words.join(" ")
}

/// `word`, single-quoted if a shell would otherwise split or expand it.
fn quote(word: &OsStr) -> String {
    let word = word.to_string_lossy();
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%^~".contains(c));
    if plain {
        word.into_owned()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// Prints `$ command` on stderr.
pub(crate) fn echo(cmd: &Command) {
    eprintln!("$ {}", display(cmd));
}

/// Prints `cmd`, runs it with the terminal's stdout and stderr and no stdin, and fails unless it
/// exits with status 0.
pub(crate) fn run(cmd: &mut Command) -> Result<()> {
    echo(cmd);
    let status = cmd
        .stdin(Stdio::null())
        .status()
        .with_context(|| format!("cannot start `{}`", display(cmd)))?;
    if !status.success() {
        bail!("`{}` failed ({status})", display(cmd));
    }
    Ok(())
}

/// Like [`run`], but also hands each line the command writes on stdout to `on_line`, after
/// copying it to our stdout, so that its output stays visible as it comes.
pub(crate) fn run_with_lines(cmd: &mut Command, mut on_line: impl FnMut(&str)) -> Result<()> {
    echo(cmd);
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot start `{}`", display(cmd)))?;
    let stdout = child
        .stdout
        .take()
        .context("child stdout was not captured")?;
    let mut reader = BufReader::new(stdout);
    let mut out = std::io::stdout();
    let mut line = Vec::new();
    loop {
        line.clear();
        let read = reader
            .read_until(b'\n', &mut line)
            .context("cannot read the command's output")?;
        if read == 0 {
            break;
        }
        out.write_all(&line)
            .and_then(|()| out.flush())
            .context("cannot write to stdout")?;
        on_line(String::from_utf8_lossy(&line).trim_end());
    }
    let status = child
        .wait()
        .with_context(|| format!("cannot wait for `{}`", display(cmd)))?;
    if !status.success() {
        bail!("`{}` failed ({status})", display(cmd));
    }
    Ok(())
}

/// Runs `cmd` quietly (no stdin, output captured) and returns its output, whatever its status;
/// `None` if the program cannot be started (typically: not installed).
pub(crate) fn probe(cmd: &mut Command) -> Option<Output> {
    cmd.stdin(Stdio::null()).output().ok()
}

/// Now, as the benches date their sections: `2026-12-07 05:08 UTC` (empty if `date` fails).
pub(crate) fn date_utc() -> String {
    Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M UTC"])
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_quotes_only_what_a_shell_would_split() {
        let mut cmd = Command::new("/usr/bin/apt-get");
        cmd.env("RUSTDOCFLAGS", "-D warnings")
            .args(["install", "-y", "it's", ""]);
        assert_eq!(
            display(&cmd),
            r"RUSTDOCFLAGS='-D warnings' apt-get install -y 'it'\''s' ''"
        );
    }
}
