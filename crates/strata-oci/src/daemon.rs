//! `docker-daemon:`: images in a Docker daemon (or podman's Docker-compatible service), through
//! the Docker Engine API on a unix socket. [`DockerDaemon::save`] is `GET /images/{name}/get`
//! (a docker-archive stream, which the caller stores and reads with
//! [`DockerArchive`](crate::DockerArchive)); [`DockerDaemon::load`] is `POST /images/load` with a
//! docker-archive written by [`write_docker_archive`](crate::write_docker_archive).
//!
//! The HTTP/1.1 client is ours, small and synchronous, over [`std::os::unix::net::UnixStream`]:
//! one request per connection (`Connection: close`), bodies with `Content-Length`, chunked
//! transfer coding, or up to the end of the connection. The crates that speak HTTP over a unix
//! socket (hyperlocal, hyper-util's client) are async and would put a second HTTP stack beside
//! the registry's for two requests; a blocking client of ~250 lines keeps the transport
//! synchronous like the rest of the crate, bounds every header and message it reads, and
//! streams image bodies without holding them in memory.
//!
//! Only unix sockets: a `tcp://` host (a remote daemon, with TLS certificates from
//! `DOCKER_CERT_PATH`) is refused as [`OciError::Unsupported`]. Errors the daemon answers with
//! are [`OciError::Registry`] (the socket as `registry`, the image as `repository`), so a 404 is
//! [`crate::ErrorKind::NotFound`] as for a registry.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::{OciError, Result};
use crate::verify::LimitedReader;

/// The daemon used when neither the caller nor `DOCKER_HOST` names one.
pub const DEFAULT_DOCKER_HOST: &str = "unix:///var/run/docker.sock";

/// Largest response head (status line and headers) read, in bytes.
pub const MAX_HEAD_SIZE: usize = 64 << 10;

/// Largest response message read into memory (an error, `load`'s progress stream), in bytes.
pub const MAX_MESSAGE_SIZE: u64 = 1 << 20;

/// Longest chunk-size line of a chunked body, in bytes.
const MAX_CHUNK_LINE: usize = 1024;

/// A Docker Engine API endpoint on a unix socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DockerDaemon {
    socket: PathBuf,
    timeout: Duration,
}

impl DockerDaemon {
    /// The daemon at `host`: `unix:///path/to/socket` (as `DOCKER_HOST` spells it) or an
    /// absolute socket path. `tcp://`, `http://` and `ssh://` hosts are refused as unsupported.
    pub fn from_host(host: &str) -> Result<DockerDaemon> {
        let socket = match host.split_once("://") {
            Some(("unix", path)) => path,
            Some((scheme, _)) => {
                return Err(OciError::Unsupported {
                    what: format!("docker daemon host {host}"),
                    reason: format!(
                        "{scheme}:// daemons are not supported; strata speaks to a daemon on a unix socket (unix:///path)"
                    ),
                });
            }
            None => host,
        };
        if !socket.starts_with('/') {
            return Err(OciError::InvalidRequest(format!(
                "docker daemon host {host:?}: the socket path must be absolute"
            )));
        }
        Ok(DockerDaemon {
            socket: PathBuf::from(socket),
            timeout: Duration::from_secs(600),
        })
    }

    /// The socket spoken to.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// How long a read or write on the socket may stall (default 10 minutes: a daemon
    /// assembles a large image before its first byte).
    pub fn with_timeout(mut self, timeout: Duration) -> DockerDaemon {
        self.timeout = timeout;
        self
    }

    /// `GET /images/{name}/get`: writes the docker-archive of image `name` (`name:tag`,
    /// `name@sha256:…` or an image ID) to `out`, refusing more than `limit` bytes. Returns the
    /// bytes written.
    pub fn save(&self, name: &str, out: &mut dyn Write, limit: u64) -> Result<u64> {
        let op = format!("save image {name}");
        let path = format!("/images/{}/get", encode_path(name));
        let response = self.request("GET", &path, None, name, &op)?;
        let mut body = LimitedReader::new(response, format!("docker-daemon:{name}"), limit);
        crate::verify::copy(&mut body, out).map_err(|e| self.io_error(&op, e))
    }

    /// `POST /images/load`: loads the docker-archive `archive` (its images are named by its
    /// `RepoTags`). Returns what the daemon said (`Loaded image: …`).
    pub fn load(&self, archive: &Path, what: &str) -> Result<String> {
        let op = "load image".to_owned();
        let file =
            std::fs::File::open(archive).map_err(|e| OciError::from_io(archive, "open", e))?;
        let len = file
            .metadata()
            .map_err(|e| OciError::from_io(archive, "stat", e))?
            .len();
        let mut reader = io::BufReader::with_capacity(1 << 16, file);
        let response = self.request(
            "POST",
            "/images/load?quiet=1",
            Some((&mut reader, len, "application/x-tar")),
            what,
            &op,
        )?;
        let bytes = crate::verify::read_capped(response, &op, MAX_MESSAGE_SIZE)?;
        // A JSON stream: `{"stream": "Loaded image: …"}`, or `{"error": …, "errorDetail": …}`
        // (Docker reports a failed load with status 200 and such a message).
        let mut said = String::new();
        for value in serde_json::Deserializer::from_slice(&bytes).into_iter::<serde_json::Value>() {
            let Ok(value) = value else {
                break;
            };
            if let Some(error) = value.get("error").and_then(|e| e.as_str()) {
                return Err(self.daemon_error(what, &op, None, error.to_owned()));
            }
            if let Some(s) = value.get("stream").and_then(|s| s.as_str()) {
                said.push_str(s.trim());
            }
        }
        Ok(said)
    }

    fn connect(&self, op: &str) -> Result<UnixStream> {
        let stream = UnixStream::connect(&self.socket)
            .map_err(|e| OciError::from_io(&self.socket, "connect", e))?;
        for set in [UnixStream::set_read_timeout, UnixStream::set_write_timeout] {
            set(&stream, Some(self.timeout)).map_err(|e| self.io_error(op, e))?;
        }
        Ok(stream)
    }

    fn io_error(&self, op: &str, e: io::Error) -> OciError {
        match crate::error::unwrap_io(e) {
            Ok(inner) => inner,
            Err(source) => OciError::Connection {
                registry: format!("unix://{}", self.socket.display()),
                op: op.to_owned(),
                attempts: 1,
                source: Box::new(source),
            },
        }
    }

    fn daemon_error(&self, name: &str, op: &str, status: Option<u16>, message: String) -> OciError {
        OciError::Registry {
            registry: format!("unix://{}", self.socket.display()),
            repository: name.to_owned(),
            op: op.to_owned(),
            status,
            code: None,
            message: message.into(),
        }
    }

    /// Sends one request and returns the body of a 2xx response; any other status is an
    /// [`OciError::Registry`] with the daemon's `message`.
    fn request(
        &self,
        method: &str,
        path: &str,
        body: Option<(&mut dyn Read, u64, &str)>,
        name: &str,
        op: &str,
    ) -> Result<Body> {
        let mut stream = self.connect(op)?;
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: docker\r\nUser-Agent: strata\r\nConnection: close\r\n"
        );
        if let Some((_, len, content_type)) = &body {
            head.push_str(&format!(
                "Content-Type: {content_type}\r\nContent-Length: {len}\r\n"
            ));
        }
        head.push_str("\r\n");
        let sent = (|| {
            stream.write_all(head.as_bytes())?;
            if let Some((reader, len, _)) = body {
                let copied = io::copy(&mut reader.take(len), &mut stream)?;
                if copied != len {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        format!("request body ended after {copied} of {len} bytes"),
                    ));
                }
            }
            stream.flush()
        })();
        // A daemon may answer (an error) and close before reading the whole body: read the
        // answer before reporting a failed send.
        let mut reader = BufReader::with_capacity(1 << 16, stream);
        let response = read_head(&mut reader);
        let (status, framing) = match (response, sent) {
            (Ok(r), _) => r,
            (Err(_), Err(e)) | (Err(e), Ok(())) => return Err(self.io_error(op, e)),
        };
        let body = Body::new(reader, framing);
        if (200..300).contains(&status) {
            return Ok(body);
        }
        let text = crate::verify::read_capped(body, op, MAX_MESSAGE_SIZE)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default();
        let message = serde_json::from_str::<serde_json::Value>(&text)
            .ok()
            .and_then(|v| v.get("message").and_then(|m| m.as_str()).map(str::to_owned))
            .unwrap_or_else(|| text.trim().to_owned());
        Err(self.daemon_error(name, op, Some(status), message))
    }
}

/// How a response body ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    Length(u64),
    Chunked,
    Close,
}

/// Reads the status line and headers (at most [`MAX_HEAD_SIZE`] bytes): the status and the
/// body's framing.
fn read_head(reader: &mut impl BufRead) -> io::Result<(u16, Framing)> {
    let bad = |msg: String| io::Error::new(io::ErrorKind::InvalidData, msg);
    let mut total = 0usize;
    let mut line = Vec::new();
    let mut next_line = |line: &mut Vec<u8>| -> io::Result<String> {
        line.clear();
        let left = MAX_HEAD_SIZE.saturating_sub(total);
        let n = reader.take(left as u64).read_until(b'\n', line)?;
        total += n;
        if n == 0 || !line.ends_with(b"\n") {
            return Err(bad(format!(
                "response head truncated or over {MAX_HEAD_SIZE} bytes"
            )));
        }
        Ok(String::from_utf8_lossy(line).trim_end().to_owned())
    };
    let status_line = next_line(&mut line)?;
    let mut parts = status_line.splitn(3, ' ');
    let status = match (parts.next(), parts.next()) {
        (Some(v), Some(code)) if v.starts_with("HTTP/1.") => code
            .parse::<u16>()
            .map_err(|_| bad(format!("bad status line {status_line:?}")))?,
        _ => return Err(bad(format!("bad status line {status_line:?}"))),
    };
    let mut framing = Framing::Close;
    loop {
        let header = next_line(&mut line)?;
        if header.is_empty() {
            break;
        }
        let Some((name, value)) = header.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("transfer-encoding") {
            if value
                .rsplit(',')
                .next()
                .is_some_and(|v| v.trim().eq_ignore_ascii_case("chunked"))
            {
                framing = Framing::Chunked;
            } else {
                return Err(bad(format!("unsupported transfer coding {value:?}")));
            }
        } else if name.eq_ignore_ascii_case("content-length") && framing != Framing::Chunked {
            let len = value
                .parse::<u64>()
                .map_err(|_| bad(format!("bad Content-Length {value:?}")))?;
            framing = Framing::Length(len);
        }
    }
    // 1xx, 204 and 304 have no body.
    if status < 200 || status == 204 || status == 304 {
        framing = Framing::Length(0);
    }
    Ok((status, framing))
}

/// A response body, decoded from its framing.
pub(crate) struct Body {
    reader: BufReader<UnixStream>,
    framing: Framing,
    /// Bytes left in the body (`Length`) or in the current chunk (`Chunked`).
    left: u64,
    done: bool,
}

impl Body {
    fn new(reader: BufReader<UnixStream>, framing: Framing) -> Body {
        let left = match framing {
            Framing::Length(n) => n,
            Framing::Chunked | Framing::Close => 0,
        };
        Body {
            reader,
            framing,
            left,
            done: framing == Framing::Length(0),
        }
    }

    /// Reads a chunk-size line; at the last chunk, the trailers too.
    fn next_chunk(&mut self) -> io::Result<()> {
        let line = read_line(&mut self.reader)?;
        let size = line.split(';').next().unwrap_or("").trim();
        let size = u64::from_str_radix(size, 16).map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("bad chunk size line {line:?}"),
            )
        })?;
        if size == 0 {
            while !read_line(&mut self.reader)?.is_empty() {}
            self.done = true;
        }
        self.left = size;
        Ok(())
    }
}

/// One CRLF-terminated line of at most [`MAX_CHUNK_LINE`] bytes, without its end.
fn read_line(reader: &mut impl BufRead) -> io::Result<String> {
    let mut line = Vec::new();
    let n = reader
        .take(MAX_CHUNK_LINE as u64)
        .read_until(b'\n', &mut line)?;
    if n == 0 || !line.ends_with(b"\n") {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "chunked body truncated (or a line over 1 KiB)",
        ));
    }
    Ok(String::from_utf8_lossy(&line).trim_end().to_owned())
}

impl Read for Body {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.done || buf.is_empty() {
            return Ok(0);
        }
        match self.framing {
            Framing::Close => self.reader.read(buf),
            Framing::Length(_) | Framing::Chunked => {
                if self.left == 0 {
                    // Only chunked bodies get here with bytes to come.
                    self.next_chunk()?;
                    if self.done {
                        return Ok(0);
                    }
                }
                let want = buf
                    .len()
                    .min(usize::try_from(self.left).unwrap_or(usize::MAX));
                let n = self.reader.read(&mut buf[..want])?;
                if n == 0 {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "response body truncated",
                    ));
                }
                self.left -= n as u64;
                if self.left == 0 {
                    match self.framing {
                        Framing::Length(_) => self.done = true,
                        _ => {
                            // The CRLF after a chunk's data.
                            if !read_line(&mut self.reader)?.is_empty() {
                                return Err(io::Error::new(
                                    io::ErrorKind::InvalidData,
                                    "chunk data longer than its size",
                                ));
                            }
                        }
                    }
                }
                Ok(n)
            }
        }
    }
}

/// `name` percent-encoded for a path segment of the API (`/` and `:` and `@` kept, as the
/// daemon's `{name:.*}` routes take them).
fn encode_path(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/:@".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixListener;

    /// A one-shot server answering `response` to one request; returns the request it read.
    fn serve(response: Vec<u8>) -> (tempfile::TempDir, std::thread::JoinHandle<Vec<u8>>) {
        let dir = tempfile::tempdir().unwrap();
        let listener = UnixListener::bind(dir.path().join("s")).unwrap();
        let handle = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut req = Vec::new();
            let mut buf = [0u8; 4096];
            // Read the head (and whatever body came with it), then answer.
            while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                let n = s.read(&mut buf).unwrap();
                if n == 0 {
                    break;
                }
                req.extend_from_slice(&buf[..n]);
            }
            s.write_all(&response).unwrap();
            req
        });
        (dir, handle)
    }

    fn daemon(dir: &tempfile::TempDir) -> DockerDaemon {
        DockerDaemon::from_host(&format!("unix://{}", dir.path().join("s").display())).unwrap()
    }

    #[test]
    fn chunked_bodies_are_decoded() {
        let (dir, h) = serve(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;x=y\r\nhello\r\n1\r\n!\r\n0\r\nTrailer: a\r\n\r\n"
                .to_vec(),
        );
        let mut out = Vec::new();
        let n = daemon(&dir).save("busybox:latest", &mut out, 100).unwrap();
        assert_eq!((n, &out[..]), (6, &b"hello!"[..]));
        let req = String::from_utf8(h.join().unwrap()).unwrap();
        assert!(
            req.starts_with("GET /images/busybox:latest/get HTTP/1.1\r\n"),
            "{req}"
        );
    }

    #[test]
    fn length_and_limits() {
        let (dir, _h) = serve(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabcdef".to_vec());
        let mut out = Vec::new();
        assert_eq!(daemon(&dir).save("a:b", &mut out, 100).unwrap(), 3);
        let mut long = b"HTTP/1.1 200 OK\r\nContent-Length: 30\r\n\r\n".to_vec();
        long.extend_from_slice(&[b'x'; 30]);
        let (dir, _h) = serve(long);
        let e = daemon(&dir).save("a:b", &mut Vec::new(), 10).unwrap_err();
        assert!(matches!(e, OciError::TooLarge { limit: 10, .. }), "{e}");
        let (dir, _h) = serve(b"HTTP/1.1 200 OK\r\nContent-Length: 30\r\n\r\nabc".to_vec());
        let e = daemon(&dir).save("a:b", &mut Vec::new(), 100).unwrap_err();
        assert!(matches!(e, OciError::Connection { .. }), "{e}");
        let (dir, _h) = serve(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n"
                .to_vec(),
        );
        assert!(daemon(&dir).save("a:b", &mut Vec::new(), 100).is_err());
    }

    #[test]
    fn errors_carry_the_daemons_message() {
        let body = br#"{"message":"No such image: nope:latest"}"#;
        let mut resp = format!(
            "HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .into_bytes();
        resp.extend_from_slice(body);
        let (dir, _h) = serve(resp);
        let e = daemon(&dir)
            .save("nope:latest", &mut Vec::new(), 100)
            .unwrap_err();
        assert_eq!(e.kind(), crate::ErrorKind::NotFound);
        assert!(e.to_string().contains("No such image: nope:latest"), "{e}");
    }

    #[test]
    fn load_reports_errors_in_the_stream() {
        let tmp = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(tmp.path(), b"not a tar").unwrap();
        let body = br#"{"errorDetail":{"message":"bad"},"error":"bad archive"}"#;
        let mut resp =
            format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len()).into_bytes();
        resp.extend_from_slice(body);
        let (dir, h) = serve(resp);
        let e = daemon(&dir).load(tmp.path(), "x:y").unwrap_err();
        assert!(e.to_string().contains("bad archive"), "{e}");
        let req = String::from_utf8_lossy(&h.join().unwrap()).into_owned();
        assert!(req.contains("Content-Length: 9\r\n"), "{req}");
    }

    #[test]
    fn hosts() {
        assert_eq!(
            DockerDaemon::from_host(DEFAULT_DOCKER_HOST)
                .unwrap()
                .socket(),
            Path::new("/var/run/docker.sock")
        );
        let e = DockerDaemon::from_host("tcp://10.0.0.1:2376").unwrap_err();
        assert_eq!(e.kind(), crate::ErrorKind::Unsupported);
        assert!(DockerDaemon::from_host("unix://relative").is_err());
        assert_eq!(encode_path("a b/c:d"), "a%20b/c:d");
    }
}
