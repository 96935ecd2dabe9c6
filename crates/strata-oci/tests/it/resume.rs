//! Chunked uploads resume where the registry holds them: a small registry on 127.0.0.1,
//! written here, drops the connection in the middle of one `PATCH` after keeping half of its
//! bytes; the client asks where the upload stands (`GET`, `Range: 0-N`) and sends only the
//! rest. docker-registry 2.8 refuses such an upload (its signed state no longer matches the
//! bytes it kept), so this path is tested here.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use strata_model::Digest;
use strata_oci::registry::{BlobPush, Retry, Upload};
use strata_oci::verify::digest_bytes;
use strata_oci::{BlobRead, Expected, Registry, RegistryOptions, RegistryRef};

/// What the server holds and saw.
#[derive(Default)]
struct State {
    /// The bytes of the one upload.
    data: Vec<u8>,
    /// Body bytes received in all `PATCH`es.
    received: usize,
    /// `PATCH`es seen.
    patches: usize,
    /// `GET`s of the upload's status.
    status_asks: usize,
    /// The digest the closing `PUT` named, if it matched the bytes.
    committed: Option<String>,
}

fn serve(conn: TcpStream, state: &Mutex<State>) -> std::io::Result<()> {
    conn.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut first = [0u8; 1];
    // A TLS handshake (the client probing for https): plain http only here.
    if conn.peek(&mut first)? == 0 || first[0] == 0x16 {
        return Ok(());
    }
    let mut reader = BufReader::new(conn.try_clone()?);
    let mut conn = conn;
    loop {
        let mut head = Vec::new();
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line)? == 0 {
                return Ok(());
            }
            let line = line.trim_end().to_owned();
            if line.is_empty() {
                break;
            }
            head.push(line);
        }
        let mut parts = head[0].split(' ');
        let (method, path) = (
            parts.next().unwrap_or_default().to_owned(),
            parts.next().unwrap_or_default().to_owned(),
        );
        let header = |name: &str| {
            head.iter().skip(1).find_map(|h| {
                let (k, v) = h.split_once(':')?;
                k.eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
            })
        };
        let length: usize = header("content-length").map_or(0, |v| v.parse().unwrap());
        let answer = |conn: &mut TcpStream, status: &str, extra: &str| {
            write!(
                conn,
                "HTTP/1.1 {status}\r\n{extra}Content-Length: 0\r\n\r\n"
            )
        };
        let mut s = state.lock().unwrap();
        match (method.as_str(), path.as_str()) {
            ("HEAD", _) => answer(&mut conn, "404 Not Found", "")?,
            ("POST", _) => answer(
                &mut conn,
                "202 Accepted",
                "Location: /v2/r/blobs/uploads/u1\r\n",
            )?,
            ("GET", p) if p.starts_with("/v2/r/blobs/uploads/u1") => {
                s.status_asks += 1;
                let range = format!("Range: 0-{}\r\n", s.data.len().saturating_sub(1));
                answer(
                    &mut conn,
                    "204 No Content",
                    &format!("Location: /v2/r/blobs/uploads/u1\r\n{range}"),
                )?;
            }
            ("PATCH", _) => {
                s.patches += 1;
                let start: usize = header("content-range")
                    .and_then(|r| r.split('-').next().map(|a| a.parse().unwrap()))
                    .unwrap();
                assert_eq!(
                    start,
                    s.data.len(),
                    "a chunk starts where the upload stands"
                );
                let keep = if s.patches == 2 { length / 2 } else { length };
                let mut body = vec![0u8; keep];
                reader.read_exact(&mut body)?;
                s.received += keep;
                s.data.extend_from_slice(&body);
                if keep < length {
                    // Cut: half the chunk kept, no answer.
                    drop(s);
                    let _ = conn.shutdown(Shutdown::Both);
                    return Ok(());
                }
                let range = format!("Range: 0-{}\r\n", s.data.len() - 1);
                answer(
                    &mut conn,
                    "202 Accepted",
                    &format!("Location: /v2/r/blobs/uploads/u1\r\n{range}"),
                )?;
            }
            ("PUT", p) => {
                let digest = p.split("digest=").nth(1).unwrap().replace("%3A", ":");
                if digest == digest_bytes(&s.data).prefixed() {
                    s.committed = Some(digest);
                    answer(&mut conn, "201 Created", "")?;
                } else {
                    answer(&mut conn, "400 Bad Request", "")?;
                }
            }
            _ => answer(&mut conn, "404 Not Found", "")?,
        }
        conn.flush()?;
    }
}

struct Bytes(Vec<u8>);

impl BlobRead for Bytes {
    fn open_blob(&self, _: &Digest, _: u64) -> strata_oci::Result<Box<dyn Read + '_>> {
        Ok(Box::new(&self.0[..]))
    }
}

#[test]
fn a_chunk_cut_in_the_middle_resumes_where_the_registry_holds_it() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let state = Arc::new(Mutex::new(State::default()));
    let server_state = state.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            let state = server_state.clone();
            std::thread::spawn(move || {
                let _ = serve(conn, &state);
            });
        }
    });
    let chunk = 64 << 10;
    let blob: Vec<u8> = (0..5 * chunk + 1000).map(|i| (i % 253) as u8).collect();
    let exp = Expected {
        digest: digest_bytes(&blob),
        size: blob.len() as u64,
    };
    let registry = Registry::new(RegistryOptions {
        tls_verify: false,
        upload: Upload::Chunked { chunk_size: chunk },
        retry: Retry {
            attempts: 4,
            initial_backoff: Duration::from_millis(10),
            max_backoff: Duration::from_millis(50),
        },
        ..RegistryOptions::default()
    })
    .unwrap();
    let dest = RegistryRef::parse(&format!("docker://127.0.0.1:{port}/r:t")).unwrap();
    let pushed = registry
        .push_blob(&dest, &Bytes(blob.clone()), &exp, None)
        .unwrap();
    assert_eq!(pushed, BlobPush::Uploaded);
    let s = state.lock().unwrap();
    assert_eq!(s.committed.as_deref(), Some(exp.digest.prefixed().as_str()));
    assert!(s.data == blob);
    assert_eq!(s.status_asks, 1);
    // Every byte was sent once: the half the registry kept was not sent again.
    assert_eq!(s.received, blob.len());
    assert_eq!(s.patches, 7, "six chunks, one of them sent in two parts");
}
