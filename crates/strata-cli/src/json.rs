//! `--json` output: serde_json, pretty, with a final newline, to standard output; a closed pipe
//! is success ([`crate::output`]).

use std::io::{self, Write};

use serde::Serialize;

use crate::output::ignore_broken_pipe;

/// Writes `value` as pretty JSON and a newline to `writer`.
pub fn write_json<T, W>(writer: &mut W, value: &T) -> io::Result<()>
where
    T: Serialize + ?Sized,
    W: Write + ?Sized,
{
    serde_json::to_writer_pretty(&mut *writer, value).map_err(io::Error::from)?;
    writer.write_all(b"\n")
}

/// The text [`write_json`] writes.
pub fn to_json_string<T: Serialize + ?Sized>(value: &T) -> Result<String, serde_json::Error> {
    let mut text = serde_json::to_string_pretty(value)?;
    text.push('\n');
    Ok(text)
}

/// Writes `value` as pretty JSON and a newline to standard output and flushes it; a broken
/// pipe counts as success.
pub fn print_json<T: Serialize + ?Sized>(value: &T) -> io::Result<()> {
    let mut out = io::stdout().lock();
    ignore_broken_pipe(write_json(&mut out, value).and_then(|()| out.flush()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pretty_with_newline() {
        let mut buf = Vec::new();
        let written = write_json(&mut buf, &serde_json::json!({"name": "c7", "size": 1}));
        assert!(written.is_ok());
        assert_eq!(
            String::from_utf8_lossy(&buf),
            "{\n  \"name\": \"c7\",\n  \"size\": 1\n}\n"
        );
    }

    #[test]
    fn broken_pipe_surfaces_from_the_writer_and_is_forgiven_by_print() {
        struct Closed;
        impl Write for Closed {
            fn write(&mut self, _: &[u8]) -> io::Result<usize> {
                Err(io::ErrorKind::BrokenPipe.into())
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let err = write_json(&mut Closed, &1).err().map(|e| e.kind());
        assert_eq!(err, Some(io::ErrorKind::BrokenPipe));
        assert!(ignore_broken_pipe(write_json(&mut Closed, &1)).is_ok());
    }
}
