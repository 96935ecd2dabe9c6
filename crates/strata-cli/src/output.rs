//! Writing results to standard output, where a reader that went away (`| head`) is not an
//! error: ripgrep's rule. A closed pipe makes the write a silent success, and the command ends
//! normally.

use std::io::{self, Write};

/// Writes `text` to standard output and flushes it; a broken pipe counts as success.
pub fn print_stdout(text: &str) -> io::Result<()> {
    let mut out = io::stdout().lock();
    ignore_broken_pipe(out.write_all(text.as_bytes()).and_then(|()| out.flush()))
}

/// `result`, with a broken pipe turned into success.
pub fn ignore_broken_pipe(result: io::Result<()>) -> io::Result<()> {
    match result {
        Err(err) if err.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broken_pipe_is_success() {
        let broken = io::Error::from(io::ErrorKind::BrokenPipe);
        assert!(ignore_broken_pipe(Err(broken)).is_ok());
        let denied = io::Error::from(io::ErrorKind::PermissionDenied);
        assert!(ignore_broken_pipe(Err(denied)).is_err());
    }
}
