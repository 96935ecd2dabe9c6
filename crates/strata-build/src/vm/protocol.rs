//! The agent's protocol, host side: requests framed as a line and a payload of announced length,
//! replies as a line and the command's output; the guest side is `guest/agent.sh`.
//!
//! ```text
//! guest:  STRATA-AGENT 1 READY <kernel release>\n          once, when the agent starts
//! host:   RUN <len>\n<script>                              a shell script for sh, in /
//!         PUT <len> <mode> <path>\n<bytes>                 a file's bytes, then chmod
//!         UNTAR <len> <dir>\n<tar>                         an uncompressed tar, extracted
//!         SHELL <len>\n<script>                            a script for sh, in /, its stdin,
//!                                                          stdout and stderr the shell port
//!         POWEROFF 0\n                                     unmount, sync, power off
//! guest:  DONE <status> <outlen> <errlen>\n<stdout><stderr>   one per request
//! ```
//!
//! Lengths are decimal byte counts; there is exactly one request in flight. The agent reads a
//! payload whole even when its consumer fails, so a failed request (a missing directory) leaves
//! the stream in step. Paths travel as the rest of the request line, so they must be absolute,
//! without newline or NUL, and not start or end with a blank ([`check_guest_path`]). Every read
//! here is bounded: lines by [`MAX_LINE`], kept output by the caller's cap (the rest is read
//! and dropped, so the stream stays in step).

use std::io::{self, BufRead, Read, Write};

use super::error::VmError;

/// The protocol version this host speaks; the agent announces its own in its ready line.
pub const PROTOCOL_VERSION: u32 = 1;

/// The first word of the agent's ready line.
const READY_WORD: &str = "STRATA-AGENT";

/// The longest line (ready or reply) accepted, newline included.
pub const MAX_LINE: usize = 4096;

/// What went wrong on the agent's channel.
#[derive(Debug, thiserror::Error)]
pub enum ProtocolError {
    /// The channel closed (qemu exited, or the agent did).
    #[error("the channel closed")]
    Closed,
    /// Reading or writing the channel failed (a timeout among others).
    #[error("cannot read or write the channel")]
    Io(#[source] io::Error),
    /// A line did not end within [`MAX_LINE`] bytes.
    #[error("a line is longer than {max} bytes")]
    LineTooLong {
        /// The limit.
        max: usize,
    },
    /// The first line is not the agent's ready line.
    #[error("the agent's first line is not its ready line: {line:?}")]
    BadReady {
        /// The line, lossily decoded.
        line: String,
    },
    /// The agent speaks another version of the protocol.
    #[error(
        "the agent speaks protocol {guest} and this host {host}: the initramfs is stale \
         (`cargo xtask setup` assembles the current one)"
    )]
    Version {
        /// The agent's version.
        guest: u32,
        /// Ours.
        host: u32,
    },
    /// A reply line is not `DONE <status> <outlen> <errlen>`.
    #[error("the agent's reply line is not `DONE <status> <outlen> <errlen>`: {line:?}")]
    BadReply {
        /// The line, lossily decoded.
        line: String,
    },
}

impl ProtocolError {
    /// Whether this is a read or write that ran out of time.
    pub fn is_timeout(&self) -> bool {
        matches!(self, ProtocolError::Io(err)
            if matches!(err.kind(), io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock))
    }
}

impl From<io::Error> for ProtocolError {
    fn from(err: io::Error) -> Self {
        if err.kind() == io::ErrorKind::UnexpectedEof {
            ProtocolError::Closed
        } else {
            ProtocolError::Io(err)
        }
    }
}

/// A request to the agent (its payload is written after [`Request::header`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Request<'a> {
    /// Run a script of `len` bytes.
    Run { len: u64 },
    /// Write `len` bytes to `path`, then give it `mode`.
    Put { len: u64, mode: u32, path: &'a str },
    /// Extract an uncompressed tar of `len` bytes under `dir`.
    Untar { len: u64, dir: &'a str },
    /// Run a script of `len` bytes with the shell port (`org.strata.shell`) as its stdin,
    /// stdout and stderr: an interactive session the host bridges to its terminal.
    Shell { len: u64 },
    /// Unmount, sync and power off.
    Poweroff,
}

impl Request<'_> {
    /// The request line, newline included.
    pub(crate) fn header(&self) -> String {
        match self {
            Request::Run { len } => format!("RUN {len}\n"),
            Request::Put { len, mode, path } => format!("PUT {len} {mode:o} {path}\n"),
            Request::Untar { len, dir } => format!("UNTAR {len} {dir}\n"),
            Request::Shell { len } => format!("SHELL {len}\n"),
            Request::Poweroff => "POWEROFF 0\n".to_owned(),
        }
    }

    /// The request as errors and logs name it (`RUN`, `PUT /etc/hosts`).
    pub(crate) fn describe(&self) -> String {
        match self {
            Request::Run { .. } => "RUN".to_owned(),
            Request::Put { path, .. } => format!("PUT {path}"),
            Request::Untar { dir, .. } => format!("UNTAR {dir}"),
            Request::Shell { .. } => "SHELL".to_owned(),
            Request::Poweroff => "POWEROFF".to_owned(),
        }
    }

    /// The payload's length.
    pub(crate) fn len(&self) -> u64 {
        match self {
            Request::Run { len }
            | Request::Shell { len }
            | Request::Put { len, .. }
            | Request::Untar { len, .. } => *len,
            Request::Poweroff => 0,
        }
    }
}

/// `text` quoted for the guest's `sh` (a script of [`super::BuildVm::run`]): in single quotes,
/// each `'` written `'\''`.
pub fn sh_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

/// Fails unless `path` can travel on a request line: absolute, no newline or NUL, no blank at
/// either end (the guest's `read` would drop it).
pub fn check_guest_path(path: &str) -> Result<(), VmError> {
    let bad = !path.starts_with('/')
        || path.contains(['\n', '\r', '\0'])
        || path.ends_with(char::is_whitespace);
    if bad {
        return Err(VmError::GuestPath {
            path: path.to_owned(),
        });
    }
    Ok(())
}

/// Writes `request`'s line and then `len` bytes of `payload`; returns how many payload bytes
/// `payload` gave (fewer than announced means it ended early).
pub(crate) fn write_request(
    w: &mut impl Write,
    request: &Request<'_>,
    payload: &mut dyn Read,
) -> Result<u64, PayloadError> {
    w.write_all(request.header().as_bytes())
        .map_err(PayloadError::Channel)?;
    let mut sent = 0u64;
    let mut buf = vec![0u8; 64 * 1024];
    let mut limited = payload.take(request.len());
    loop {
        let n = match limited.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(err) => return Err(PayloadError::Source(err)),
        };
        w.write_all(&buf[..n]).map_err(PayloadError::Channel)?;
        sent += n as u64;
    }
    w.flush().map_err(PayloadError::Channel)?;
    Ok(sent)
}

/// Why a request could not be written whole.
#[derive(Debug)]
pub(crate) enum PayloadError {
    /// The payload's reader failed.
    Source(io::Error),
    /// The channel failed.
    Channel(io::Error),
}

/// The agent's ready line, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ready {
    /// The guest kernel's release (`uname -r`).
    pub kernel_release: String,
}

/// Reads the agent's ready line: `STRATA-AGENT <version> READY <kernel release>`.
pub fn read_ready(r: &mut impl BufRead) -> Result<Ready, ProtocolError> {
    let line = read_line(r)?;
    let words: Vec<&str> = line.split(' ').collect();
    match words.as_slice() {
        [READY_WORD, version, "READY", release] if !release.is_empty() => {
            let guest: u32 = version
                .parse()
                .map_err(|_| ProtocolError::BadReady { line: line.clone() })?;
            if guest != PROTOCOL_VERSION {
                return Err(ProtocolError::Version {
                    guest,
                    host: PROTOCOL_VERSION,
                });
            }
            Ok(Ready {
                kernel_release: (*release).to_owned(),
            })
        }
        _ => Err(ProtocolError::BadReady { line }),
    }
}

/// What a command in the guest did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandOutput {
    /// Its exit status (128 + N when signal N ended it, as sh reports it).
    pub status: i32,
    /// Its standard output, up to the cap.
    pub stdout: Vec<u8>,
    /// Its standard error, up to the cap.
    pub stderr: Vec<u8>,
    /// Whether stdout or stderr was longer than the cap (the rest was dropped).
    pub truncated: bool,
}

impl CommandOutput {
    /// Whether the status is 0.
    pub fn success(&self) -> bool {
        self.status == 0
    }

    /// Standard output, lossily decoded.
    pub fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    /// Standard error, lossily decoded.
    pub fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }
}

/// Reads one reply: its line, then its stdout and stderr, keeping at most `cap` bytes of each.
pub fn read_reply(r: &mut impl BufRead, cap: u64) -> Result<CommandOutput, ProtocolError> {
    let line = read_line(r)?;
    let bad = || ProtocolError::BadReply { line: line.clone() };
    let words: Vec<&str> = line.split(' ').collect();
    let ["DONE", status, out_len, err_len] = words.as_slice() else {
        return Err(bad());
    };
    let status: i32 = status.parse().map_err(|_| bad())?;
    let out_len: u64 = out_len.parse().map_err(|_| bad())?;
    let err_len: u64 = err_len.parse().map_err(|_| bad())?;
    let (stdout, out_cut) = read_capped(r, out_len, cap)?;
    let (stderr, err_cut) = read_capped(r, err_len, cap)?;
    Ok(CommandOutput {
        status,
        stdout,
        stderr,
        truncated: out_cut || err_cut,
    })
}

/// Reads a line of at most [`MAX_LINE`] bytes and returns it without its newline.
fn read_line(r: &mut impl BufRead) -> Result<String, ProtocolError> {
    let mut buf = Vec::new();
    let limit = u64::try_from(MAX_LINE).unwrap_or(u64::MAX);
    (&mut *r).take(limit).read_until(b'\n', &mut buf)?;
    match buf.pop() {
        Some(b'\n') => Ok(String::from_utf8_lossy(&buf).into_owned()),
        None => Err(ProtocolError::Closed),
        Some(_) if buf.len() + 1 >= MAX_LINE => Err(ProtocolError::LineTooLong { max: MAX_LINE }),
        Some(_) => Err(ProtocolError::Closed),
    }
}

/// Reads exactly `len` bytes, keeping the first `cap`; says whether any were dropped.
fn read_capped(r: &mut impl Read, len: u64, cap: u64) -> Result<(Vec<u8>, bool), ProtocolError> {
    let keep = len.min(cap);
    let mut kept = Vec::new();
    let got = (&mut *r).take(keep).read_to_end(&mut kept)?;
    if (got as u64) < keep {
        return Err(ProtocolError::Closed);
    }
    let rest = len - keep;
    let dropped = io::copy(&mut (&mut *r).take(rest), &mut io::sink())?;
    if dropped < rest {
        return Err(ProtocolError::Closed);
    }
    Ok((kept, rest > 0))
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use super::*;

    #[test]
    fn request_lines_are_what_the_agent_reads() {
        assert_eq!(Request::Run { len: 12 }.header(), "RUN 12\n");
        assert_eq!(
            Request::Put {
                len: 3,
                mode: 0o640,
                path: "/a b/c"
            }
            .header(),
            "PUT 3 640 /a b/c\n"
        );
        assert_eq!(
            Request::Untar {
                len: 0,
                dir: "/mnt"
            }
            .header(),
            "UNTAR 0 /mnt\n"
        );
        assert_eq!(Request::Poweroff.header(), "POWEROFF 0\n");
    }

    #[test]
    fn a_request_is_its_line_then_exactly_its_payload() {
        let mut out = Vec::new();
        let mut payload: &[u8] = b"echo hi\nextra";
        let sent = write_request(&mut out, &Request::Run { len: 8 }, &mut payload).unwrap();
        assert_eq!(sent, 8);
        assert_eq!(out, b"RUN 8\necho hi\n");
        // A payload shorter than announced is reported by its count.
        let mut out = Vec::new();
        let mut short: &[u8] = b"abc";
        let sent = write_request(
            &mut out,
            &Request::Put {
                len: 10,
                mode: 0o644,
                path: "/x",
            },
            &mut short,
        )
        .unwrap();
        assert_eq!(sent, 3);
    }

    #[test]
    fn guest_paths_must_fit_on_the_request_line() {
        check_guest_path("/etc/hosts").unwrap();
        check_guest_path("/with space/inside").unwrap();
        for bad in [
            "relative",
            "/new\nline",
            "/nul\0",
            "/trailing ",
            "",
            "/cr\r",
        ] {
            let err = check_guest_path(bad).unwrap_err();
            assert!(
                matches!(&err, VmError::GuestPath { path } if path == bad),
                "{err:?}"
            );
        }
    }

    #[test]
    fn the_ready_line_names_version_and_kernel() {
        let mut r = Cursor::new(b"STRATA-AGENT 1 READY 6.1.0-57-cloud-amd64\nrest".to_vec());
        assert_eq!(
            read_ready(&mut r).unwrap(),
            Ready {
                kernel_release: "6.1.0-57-cloud-amd64".to_owned()
            }
        );
        let mut r = Cursor::new(b"STRATA-AGENT 2 READY 6.1\n".to_vec());
        assert!(matches!(
            read_ready(&mut r),
            Err(ProtocolError::Version { guest: 2, host: 1 })
        ));
        let mut r = Cursor::new(b"login: \n".to_vec());
        assert!(matches!(
            read_ready(&mut r),
            Err(ProtocolError::BadReady { line }) if line == "login: "
        ));
        let mut r = Cursor::new(b"STRATA-AGENT 1 REA".to_vec());
        assert!(matches!(read_ready(&mut r), Err(ProtocolError::Closed)));
        let mut r = Cursor::new(vec![b'x'; MAX_LINE * 2]);
        assert!(matches!(
            read_ready(&mut r),
            Err(ProtocolError::LineTooLong { max: MAX_LINE })
        ));
    }

    #[test]
    fn a_reply_carries_status_stdout_and_stderr_byte_for_byte() {
        let mut bytes = b"DONE 3 5 4\n".to_vec();
        bytes.extend_from_slice(b"a\0b\nc");
        bytes.extend_from_slice(b"err\n");
        bytes.extend_from_slice(b"DONE 0 0 0\n");
        let mut r = Cursor::new(bytes);
        let first = read_reply(&mut r, 1 << 20).unwrap();
        assert_eq!(
            first,
            CommandOutput {
                status: 3,
                stdout: b"a\0b\nc".to_vec(),
                stderr: b"err\n".to_vec(),
                truncated: false,
            }
        );
        assert!(!first.success());
        // The stream is in step for the next reply.
        let second = read_reply(&mut r, 1 << 20).unwrap();
        assert!(second.success() && second.stdout.is_empty() && second.stderr.is_empty());
    }

    #[test]
    fn output_beyond_the_cap_is_read_and_dropped() {
        let mut bytes = b"DONE 0 10 3\n0123456789abc".to_vec();
        bytes.extend_from_slice(b"DONE 1 0 0\n");
        let mut r = Cursor::new(bytes);
        let reply = read_reply(&mut r, 4).unwrap();
        assert_eq!(reply.stdout, b"0123");
        assert_eq!(reply.stderr, b"abc");
        assert!(reply.truncated);
        assert_eq!(read_reply(&mut r, 4).unwrap().status, 1);
    }

    #[test]
    fn malformed_or_cut_replies_are_errors() {
        for line in ["DONE x 0 0\n", "DONE 0 0\n", "OK\n", "DONE 0 -1 0\n"] {
            let mut r = Cursor::new(line.as_bytes().to_vec());
            assert!(
                matches!(read_reply(&mut r, 100), Err(ProtocolError::BadReply { .. })),
                "{line:?}"
            );
        }
        let mut r = Cursor::new(b"DONE 0 10 0\nshort".to_vec());
        assert!(matches!(
            read_reply(&mut r, 100),
            Err(ProtocolError::Closed)
        ));
        let mut r = Cursor::new(b"DONE 0 10 0\nshort".to_vec());
        assert!(matches!(read_reply(&mut r, 2), Err(ProtocolError::Closed)));
    }

    #[test]
    fn timeouts_are_told_apart() {
        assert!(ProtocolError::Io(io::Error::from(io::ErrorKind::TimedOut)).is_timeout());
        assert!(ProtocolError::Io(io::Error::from(io::ErrorKind::WouldBlock)).is_timeout());
        assert!(!ProtocolError::Closed.is_timeout());
        assert!(matches!(
            ProtocolError::from(io::Error::from(io::ErrorKind::UnexpectedEof)),
            ProtocolError::Closed
        ));
    }
}
