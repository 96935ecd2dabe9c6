//! A QMP client for the one command the builder needs from qemu itself:
//! `blockdev-snapshot-sync`, which makes a new qcow2 overlay the disk's active layer while the
//! guest runs, so that each build step's writes land in a layer of their own.
//!
//! QMP is qemu's JSON protocol on a unix socket: a greeting, `qmp_capabilities`, then one
//! command at a time, each answered by a `return` or an `error` object (asynchronous `event`
//! objects may come in between and are skipped). Replies are read line by line, each line
//! bounded ([`MAX_LINE`]), under a deadline.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Value, json};

/// The longest QMP line read (qemu's replies to these commands are a few hundred bytes).
pub const MAX_LINE: u64 = 1 << 20;

/// A failure of a QMP exchange.
#[derive(Debug, thiserror::Error)]
pub enum QmpError {
    /// The socket could not be used.
    #[error("QMP socket {path}: {source}")]
    Io {
        /// The socket.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A line that is not a JSON object, or longer than [`MAX_LINE`].
    #[error("QMP socket {path}: unreadable reply {line:?}")]
    Garbled {
        /// The socket.
        path: PathBuf,
        /// The start of the line.
        line: String,
    },
    /// qemu closed the socket.
    #[error("QMP socket {path}: closed by qemu")]
    Closed {
        /// The socket.
        path: PathBuf,
    },
    /// qemu refused the command.
    #[error("qemu refused {command}: {class}: {desc}")]
    Refused {
        /// The command.
        command: String,
        /// QMP's error class.
        class: String,
        /// qemu's description.
        desc: String,
    },
}

/// An open QMP session, capabilities negotiated.
#[derive(Debug)]
pub struct Qmp {
    path: PathBuf,
    reader: BufReader<UnixStream>,
    writer: UnixStream,
}

impl Qmp {
    /// Connects to qemu's QMP socket at `path`, reads the greeting and leaves the capabilities
    /// negotiation mode; every read waits at most `timeout`.
    pub fn connect(path: &Path, timeout: Duration) -> Result<Qmp, QmpError> {
        let io = |source| QmpError::Io {
            path: path.to_path_buf(),
            source,
        };
        let stream = UnixStream::connect(path).map_err(io)?;
        stream.set_read_timeout(Some(timeout)).map_err(io)?;
        stream.set_write_timeout(Some(timeout)).map_err(io)?;
        let writer = stream.try_clone().map_err(io)?;
        let mut qmp = Qmp {
            path: path.to_path_buf(),
            reader: BufReader::new(stream),
            writer,
        };
        let greeting = qmp.read_object()?;
        if greeting.get("QMP").is_none() {
            return Err(qmp.garbled(&greeting.to_string()));
        }
        qmp.execute("qmp_capabilities", json!({}))?;
        Ok(qmp)
    }

    /// Makes a new qcow2 file at `overlay` (which must not exist) the active layer of the
    /// drive `device`, over what was active until now (named in its header by absolute path).
    pub fn snapshot(&mut self, device: &str, overlay: &Path) -> Result<(), QmpError> {
        let file = overlay.to_str().ok_or_else(|| QmpError::Io {
            path: overlay.to_path_buf(),
            source: std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "an overlay path must be UTF-8 for QMP",
            ),
        })?;
        self.execute(
            "blockdev-snapshot-sync",
            json!({
                "device": device,
                "snapshot-file": file,
                "format": "qcow2",
                "mode": "absolute-paths",
            }),
        )
        .map(|_| ())
    }

    /// Sends `command` with `arguments` and returns its `return` value.
    fn execute(&mut self, command: &str, arguments: Value) -> Result<Value, QmpError> {
        let mut line = json!({ "execute": command, "arguments": arguments }).to_string();
        line.push('\n');
        self.writer
            .write_all(line.as_bytes())
            .map_err(|source| QmpError::Io {
                path: self.path.clone(),
                source,
            })?;
        loop {
            let mut reply = self.read_object()?;
            if let Some(value) = reply.get_mut("return") {
                return Ok(value.take());
            }
            if let Some(error) = reply.get("error") {
                let text = |key: &str| {
                    error
                        .get(key)
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_owned()
                };
                return Err(QmpError::Refused {
                    command: command.to_owned(),
                    class: text("class"),
                    desc: text("desc"),
                });
            }
            // An event: not the reply.
        }
    }

    /// The next line, as a JSON object.
    fn read_object(&mut self) -> Result<Value, QmpError> {
        let mut line = String::new();
        let n = (&mut self.reader)
            .take(MAX_LINE)
            .read_line(&mut line)
            .map_err(|source| QmpError::Io {
                path: self.path.clone(),
                source,
            })?;
        if n == 0 {
            return Err(QmpError::Closed {
                path: self.path.clone(),
            });
        }
        match serde_json::from_str::<Value>(&line) {
            Ok(value) if value.is_object() => Ok(value),
            _ => Err(self.garbled(&line)),
        }
    }

    fn garbled(&self, line: &str) -> QmpError {
        QmpError::Garbled {
            path: self.path.clone(),
            line: line.chars().take(200).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixListener;

    /// A fake qemu: greets, then answers each command line with the next canned reply lines.
    fn fake(
        replies: Vec<&'static str>,
    ) -> (
        tempfile::TempDir,
        PathBuf,
        std::thread::JoinHandle<Vec<String>>,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("qmp.sock");
        let listener = UnixListener::bind(&path).unwrap();
        let handle = std::thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            let mut writer = stream.try_clone().unwrap();
            let mut reader = BufReader::new(stream);
            writer
                .write_all(b"{\"QMP\": {\"version\": {}, \"capabilities\": []}}\n")
                .unwrap();
            let mut seen = Vec::new();
            for reply in replies {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap() == 0 {
                    break;
                }
                seen.push(line);
                writer.write_all(reply.as_bytes()).unwrap();
            }
            seen
        });
        (dir, path, handle)
    }

    #[test]
    fn a_snapshot_is_asked_for_with_absolute_paths_and_events_are_skipped() {
        let (_dir, path, handle) = fake(vec![
            "{\"return\": {}}\n",
            "{\"event\": \"JOB_STATUS_CHANGE\"}\n{\"return\": {}}\n",
        ]);
        let mut qmp = Qmp::connect(&path, Duration::from_secs(5)).unwrap();
        qmp.snapshot("disk0", Path::new("/cache/abc.qcow2"))
            .unwrap();
        drop(qmp);
        let seen = handle.join().unwrap();
        assert!(seen[0].contains("qmp_capabilities"));
        let command: Value = serde_json::from_str(&seen[1]).unwrap();
        assert_eq!(command["execute"], "blockdev-snapshot-sync");
        assert_eq!(command["arguments"]["device"], "disk0");
        assert_eq!(command["arguments"]["snapshot-file"], "/cache/abc.qcow2");
        assert_eq!(command["arguments"]["mode"], "absolute-paths");
    }

    #[test]
    fn refusals_and_garbage_are_errors() {
        let (_dir, path, _h) = fake(vec![
            "{\"return\": {}}\n",
            "{\"error\": {\"class\": \"GenericError\", \"desc\": \"no such device\"}}\n",
        ]);
        let mut qmp = Qmp::connect(&path, Duration::from_secs(5)).unwrap();
        let e = qmp.snapshot("disk9", Path::new("/x.qcow2")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "qemu refused blockdev-snapshot-sync: GenericError: no such device"
        );
        let (_dir, path, _h) = fake(vec!["not json\n"]);
        let e = Qmp::connect(&path, Duration::from_secs(5)).unwrap_err();
        assert!(matches!(e, QmpError::Garbled { .. }), "{e}");
    }
}
