//! `--json` output: documents are serde_json, pretty, with a final newline, to standard output
//! (a closed pipe is success, [`crate::output`]); an error is one compact line on standard
//! error ([`error_line`]). `docs/json.md` documents every document and the error object.

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

/// Whether `--json` is on this process's command line: a command line that does not parse, but
/// asks for JSON, has its usage error reported as JSON ([`crate::exit::usage_message`]).
pub fn on_command_line() -> bool {
    std::env::args_os().any(|arg| arg == "--json")
}

/// The JSON line of an error, newline included: `{"error":{"kind":"…","message":"…",
/// "exit_code":N}}`, compact so that several (one per failure) read as JSON Lines. `class`
/// picks `kind` ([`crate::exit::word`]); `exit_code` is the code the process exits with.
pub fn error_line(class: u8, message: &str, exit_code: u8) -> String {
    let report = ErrorReport {
        error: ErrorObject {
            kind: crate::exit::word(class),
            message,
            exit_code,
        },
    };
    match serde_json::to_string(&report) {
        Ok(mut line) => {
            line.push('\n');
            line
        }
        // Two strings and a number always serialise; say something all the same.
        Err(_) => format!(
            "{{\"error\":{{\"kind\":\"internal\",\"message\":\"\",\"exit_code\":{exit_code}}}}}\n"
        ),
    }
}

/// The document of [`error_line`].
#[derive(Serialize)]
struct ErrorReport<'a> {
    error: ErrorObject<'a>,
}

/// The `error` object of [`error_line`].
#[derive(Serialize)]
struct ErrorObject<'a> {
    kind: &'static str,
    message: &'a str,
    exit_code: u8,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_is_one_line() {
        let line = error_line(66, "Object \"c7\" not found\nat all", 66);
        assert_eq!(
            line,
            "{\"error\":{\"kind\":\"not-found\",\"message\":\"Object \\\"c7\\\" not found\\nat all\",\"exit_code\":66}}\n"
        );
        assert_eq!(line.lines().count(), 1);
        let value: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
        assert_eq!(value["error"]["exit_code"], 66);
        assert_eq!(value["error"]["kind"], "not-found");
    }

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
