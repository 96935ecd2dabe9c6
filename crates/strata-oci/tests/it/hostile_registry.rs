//! Hostile registries: small HTTP/1.1 servers on 127.0.0.1, written here, that serve a valid
//! image except for one answer, which has an endless body, stalls, or lies about a digest.
//! Every answer must be refused with a precise error, after a bounded read and in bounded time.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use strata_oci::registry::{Credentials, PushOptions, Retry};
use strata_oci::verify::digest_bytes;
use strata_oci::{ErrorKind, OciDir, OciError, Registry, RegistryOptions, RegistryRef};

use crate::common::*;

/// How much an endless body sends at most before the server gives up (so that a client that
/// buffers everything fails the test instead of exhausting the machine).
const ENDLESS: u64 = 256 << 20;

/// What an endless answer may have sent when the client hangs up: its cap, plus what the
/// kernel's socket buffers on both sides absorb (loopback autotuning reaches tens of MiB).
const SLACK: u64 = 64 << 20;

/// One request as the server read it.
struct Request {
    method: String,
    path: String,
}

type Handler = dyn Fn(&Request, &mut TcpStream, &AtomicU64) -> std::io::Result<()> + Send + Sync;

/// A server on 127.0.0.1: each connection gets one answer from `handler`, then is closed.
struct Server {
    port: u16,
    stop: Arc<AtomicBool>,
    /// Body bytes the endless answers managed to send.
    sent: Arc<AtomicU64>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

impl Server {
    fn start(
        handler: impl Fn(&Request, &mut TcpStream, &AtomicU64) -> std::io::Result<()>
        + Send
        + Sync
        + 'static,
    ) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let sent = Arc::new(AtomicU64::new(0));
        let handler: Arc<Handler> = Arc::new(handler);
        let (s, n) = (stop.clone(), sent.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if s.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let (h, n) = (handler.clone(), n.clone());
                std::thread::spawn(move || {
                    let _ = serve(conn, &*h, &n);
                });
            }
        });
        Server { port, stop, sent }
    }

    fn r(&self, path: &str) -> RegistryRef {
        RegistryRef::parse(&format!("docker://127.0.0.1:{}/{path}", self.port)).unwrap()
    }

    fn sent(&self) -> u64 {
        self.sent.load(Ordering::SeqCst)
    }
}

fn serve(conn: TcpStream, handler: &Handler, sent: &AtomicU64) -> std::io::Result<()> {
    conn.set_read_timeout(Some(Duration::from_secs(30)))?;
    // A TLS handshake (the client probing for https): this server speaks plain http only.
    let mut first = [0u8; 1];
    if conn.peek(&mut first)? == 0 || first[0] == 0x16 {
        return Ok(());
    }
    let mut reader = BufReader::new(conn.try_clone()?);
    let mut head = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let line = line.trim_end_matches(['\r', '\n']).to_owned();
        if line.is_empty() {
            break;
        }
        head.push(line);
    }
    let mut parts = head[0].split(' ');
    let request = Request {
        method: parts.next().unwrap_or_default().to_owned(),
        path: parts.next().unwrap_or_default().to_owned(),
    };
    let mut conn = conn;
    handler(&request, &mut conn, sent)?;
    let _ = conn.flush();
    let _ = conn.shutdown(Shutdown::Write);
    // Let the client read the answer before the socket goes away.
    let mut rest = [0u8; 4096];
    while matches!(reader.read(&mut rest), Ok(n) if n > 0) {}
    Ok(())
}

/// A complete answer.
fn respond(
    conn: &mut TcpStream,
    status: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<()> {
    let mut head = format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    conn.write_all(head.as_bytes())?;
    conn.write_all(body)
}

/// An answer without a length that starts with `prefix` and never ends (up to [`ENDLESS`]
/// bytes, counted in `sent`), as a hostile server sends it.
fn endless(
    conn: &mut TcpStream,
    status: &str,
    headers: &[(&str, &str)],
    prefix: &[u8],
    sent: &AtomicU64,
) -> std::io::Result<()> {
    let mut head = format!("HTTP/1.1 {status}\r\nConnection: close\r\n");
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    conn.write_all(head.as_bytes())?;
    conn.write_all(prefix)?;
    let filler = vec![b' '; 64 << 10];
    while sent.load(Ordering::SeqCst) < ENDLESS {
        conn.write_all(&filler)?;
        sent.fetch_add(filler.len() as u64, Ordering::SeqCst);
    }
    Ok(())
}

/// A valid one-layer image in memory: manifest, config and layer bytes.
struct Served {
    manifest: Vec<u8>,
    config: Vec<u8>,
    layer: Vec<u8>,
}

impl Served {
    fn new() -> Served {
        let mut noise = vec![0u8; 64 << 10];
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        for b in noise.iter_mut() {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            *b = x as u8;
        }
        let layers = vec![gz(tar(&[E::File("noise", 0o644, &noise)]))];
        let (config, manifest) = image_docs(&layers, "amd64");
        Served {
            manifest,
            config,
            layer: layers.into_iter().next().unwrap().stored,
        }
    }

    fn layer_digest(&self) -> String {
        digest_bytes(&self.layer).prefixed()
    }

    /// The normal answer to `req`, or `None` for a path this image does not have.
    fn answer(&self, req: &Request, conn: &mut TcpStream) -> std::io::Result<()> {
        let oci = "application/vnd.oci.image.manifest.v1+json";
        if req.path == "/v2/" {
            return respond(
                conn,
                "200 OK",
                &[("Content-Type", "application/json")],
                b"{}",
            );
        }
        if req.path.ends_with("/manifests/v1") {
            return respond(conn, "200 OK", &[("Content-Type", oci)], &self.manifest);
        }
        for blob in [&self.config, &self.layer] {
            let digest = digest_bytes(blob).prefixed();
            if req.path.ends_with(&format!("/blobs/{digest}")) {
                let body: &[u8] = if req.method == "HEAD" { &[] } else { blob };
                return respond(conn, "200 OK", &[("Docker-Content-Digest", &digest)], body);
            }
        }
        respond(
            conn,
            "404 Not Found",
            &[("Content-Type", "application/json")],
            br#"{"errors":[{"code":"NOT_FOUND","message":"no"}]}"#,
        )
    }
}

/// A plain-http client that gives up quickly.
fn quick_client(stall: Duration) -> Registry {
    Registry::new(RegistryOptions {
        tls_verify: false,
        credentials: Credentials::Anonymous,
        retry: Retry {
            attempts: 2,
            initial_backoff: Duration::from_millis(10),
            max_backoff: Duration::from_millis(10),
        },
        stall_timeout: stall,
        ..RegistryOptions::default()
    })
    .unwrap()
}

fn client() -> Registry {
    quick_client(Duration::from_secs(20))
}

#[test]
fn an_endless_manifest_is_refused_at_its_cap() {
    let img = Arc::new(Served::new());
    let i = img.clone();
    let server = Server::start(move |req, conn, sent| {
        if req.path.ends_with("/manifests/v1") {
            let media = [("Content-Type", "application/vnd.oci.image.manifest.v1+json")];
            return endless(conn, "200 OK", &media, b"{\"schemaVersion\":2,", sent);
        }
        i.answer(req, conn)
    });
    let t = tempfile::tempdir().unwrap();
    let out = OciDir::create(t.path().join("out")).unwrap();
    let e = client()
        .pull(&server.r("hostile/img:v1"), &amd64(), &out)
        .unwrap_err();
    assert!(
        matches!(&e, OciError::TooLarge { limit, .. } if *limit == strata_oci::image::MAX_MANIFEST_SIZE),
        "{e:?}"
    );
    assert!(e.to_string().contains("manifest"), "{e}");
    assert!(
        server.sent() < SLACK,
        "the client read {} bytes",
        server.sent()
    );
}

#[test]
fn an_endless_token_response_is_refused_at_its_cap() {
    let port = Arc::new(std::sync::OnceLock::<u16>::new());
    let p = port.clone();
    let server = Server::start(move |req, conn, sent| {
        if req.path.starts_with("/token") {
            let json = [("Content-Type", "application/json")];
            return endless(conn, "200 OK", &json, b"{\"token\":\"", sent);
        }
        // Everything else asks for a token.
        let challenge = format!(
            "Bearer realm=\"http://127.0.0.1:{}/token\",service=\"hostile\"",
            p.get().unwrap()
        );
        respond(
            conn,
            "401 Unauthorized",
            &[
                ("WWW-Authenticate", &challenge),
                ("Content-Type", "application/json"),
            ],
            br#"{"errors":[{"code":"UNAUTHORIZED","message":"token needed"}]}"#,
        )
    });
    port.set(server.port).unwrap();
    let t = tempfile::tempdir().unwrap();
    let out = OciDir::create(t.path().join("out")).unwrap();
    let e = client()
        .pull(&server.r("hostile/img:v1"), &amd64(), &out)
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::TooLarge, "{e:?}");
    assert!(e.to_string().contains("token"), "{e}");
    assert!(
        server.sent() < SLACK,
        "the client read {} bytes",
        server.sent()
    );
}

#[test]
fn an_endless_error_body_is_cut_short() {
    let img = Arc::new(Served::new());
    let i = img.clone();
    let server = Server::start(move |req, conn, sent| {
        if req.path.ends_with("/manifests/v1") {
            let json = [("Content-Type", "application/json")];
            return endless(conn, "404 Not Found", &json, b"{\"errors\":[", sent);
        }
        i.answer(req, conn)
    });
    let t = tempfile::tempdir().unwrap();
    let out = OciDir::create(t.path().join("out")).unwrap();
    let e = client()
        .pull(&server.r("hostile/img:v1"), &amd64(), &out)
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e:?}");
    assert!(e.to_string().len() < 4096, "{}", e.to_string().len());
    assert!(
        server.sent() < SLACK,
        "the client read {} bytes",
        server.sent()
    );
}

#[test]
fn a_blob_longer_than_its_descriptor_is_refused() {
    let img = Arc::new(Served::new());
    let i = img.clone();
    let digest = img.layer_digest();
    let server = Server::start(move |req, conn, sent| {
        if req.method == "GET" && req.path.ends_with(&format!("/blobs/{}", i.layer_digest())) {
            return endless(conn, "200 OK", &[], &i.layer, sent);
        }
        i.answer(req, conn)
    });
    let t = tempfile::tempdir().unwrap();
    let out_dir = t.path().join("out");
    let out = OciDir::create(&out_dir).unwrap();
    let e = client()
        .pull(&server.r("hostile/img:v1"), &amd64(), &out)
        .unwrap_err();
    assert!(
        matches!(&e, OciError::SizeMismatch { expected, .. } if *expected == img.layer.len() as u64),
        "{e:?}"
    );
    assert!(e.to_string().contains(&digest), "{e}");
    assert!(
        server.sent() < SLACK,
        "the client read {} bytes",
        server.sent()
    );
    let hex = digest.trim_start_matches("sha256:");
    assert!(!out_dir.join("blobs/sha256").join(hex).exists());
}

#[test]
fn a_digest_mismatch_names_the_expected_and_the_received_digests() {
    let img = Arc::new(Served::new());
    let i = img.clone();
    let mut wrong = img.layer.clone();
    let mid = wrong.len() / 2;
    wrong[mid] ^= 0xff;
    let received = digest_bytes(&wrong).prefixed();
    let w = wrong.clone();
    let server = Server::start(move |req, conn, _| {
        if req.method == "GET" && req.path.ends_with(&format!("/blobs/{}", i.layer_digest())) {
            // A registry that serves other bytes and names their digest.
            let d = digest_bytes(&w).prefixed();
            return respond(conn, "200 OK", &[("Docker-Content-Digest", &d)], &w);
        }
        i.answer(req, conn)
    });
    let t = tempfile::tempdir().unwrap();
    let out = OciDir::create(t.path().join("out")).unwrap();
    let e = client()
        .pull(&server.r("hostile/img:v1"), &amd64(), &out)
        .unwrap_err();
    match &e {
        OciError::DigestMismatch {
            expected, actual, ..
        } => {
            assert_eq!(*expected, img.layer_digest(), "{e}");
            assert_eq!(*actual, received, "{e}");
        }
        other => panic!("expected DigestMismatch, got {other:?}"),
    }
    let msg = e.to_string();
    assert!(
        msg.find(&img.layer_digest()) < msg.find(&received),
        "expected first, then received: {msg}"
    );
}

/// Sends the head and the first half of `body`, then nothing, holding the connection open.
fn stall_after_half(
    conn: &mut TcpStream,
    headers: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<()> {
    let mut head = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n", body.len());
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    conn.write_all(head.as_bytes())?;
    conn.write_all(&body[..body.len() / 2])?;
    conn.flush()?;
    std::thread::sleep(Duration::from_secs(30));
    Ok(())
}

#[test]
fn a_stalled_transfer_fails_after_the_stall_timeout() {
    let img = Arc::new(Served::new());
    for what in ["manifest", "layer", "headers"] {
        let i = img.clone();
        let server = Server::start(move |req, conn, _| {
            let oci = "application/vnd.oci.image.manifest.v1+json";
            match what {
                "manifest" if req.path.ends_with("/manifests/v1") => {
                    stall_after_half(conn, &[("Content-Type", oci)], &i.manifest)
                }
                "layer"
                    if req.method == "GET"
                        && req.path.ends_with(&format!("/blobs/{}", i.layer_digest())) =>
                {
                    stall_after_half(conn, &[], &i.layer)
                }
                "headers" if req.path.ends_with("/manifests/v1") => {
                    std::thread::sleep(Duration::from_secs(30));
                    Ok(())
                }
                _ => i.answer(req, conn),
            }
        });
        let t = tempfile::tempdir().unwrap();
        let out = OciDir::create(t.path().join("out")).unwrap();
        let started = Instant::now();
        let e = quick_client(Duration::from_millis(300))
            .pull(&server.r("hostile/img:v1"), &amd64(), &out)
            .unwrap_err();
        let took = started.elapsed();
        assert_eq!(e.kind(), ErrorKind::Network, "{what}: {e:?}");
        assert!(
            took < Duration::from_secs(10),
            "{what}: gave up after {took:?}"
        );
        let chain = format!("{e:?}");
        assert!(
            chain.contains("stall") || chain.contains("no progress"),
            "{what}: {chain}"
        );
    }
}

#[test]
fn a_registry_that_stops_reading_an_upload_fails_after_the_stall_timeout() {
    let server = Server::start(move |req, conn, _| {
        match (req.method.as_str(), req.path.as_str()) {
            ("GET", "/v2/") => respond(conn, "200 OK", &[], b"{}"),
            ("HEAD", _) => respond(conn, "404 Not Found", &[], b""),
            ("POST", p) if p.contains("/blobs/uploads/") => {
                let location = "/v2/hostile/up/blobs/uploads/u1";
                respond(
                    conn,
                    "202 Accepted",
                    &[("Location", location), ("Range", "0-0")],
                    b"",
                )
            }
            // PATCH or PUT of the data: read nothing, answer nothing.
            _ => {
                std::thread::sleep(Duration::from_secs(30));
                Ok(())
            }
        }
    });
    let t = tempfile::tempdir().unwrap();
    // A layer larger than the socket buffers, so that the upload blocks.
    let mut noise = vec![0u8; 48 << 20];
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for b in noise.iter_mut() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *b = x as u8;
    }
    let image = make_image(&t.path().join("src"), "v1", &[plain(noise)]);
    let src = OciDir::open(t.path().join("src")).unwrap();
    let started = Instant::now();
    let e = quick_client(Duration::from_millis(500))
        .push(
            &src,
            &image,
            &server.r("hostile/up:v1"),
            &PushOptions::default(),
        )
        .unwrap_err();
    let took = started.elapsed();
    assert_eq!(e.kind(), ErrorKind::Network, "{e:?}");
    assert!(took < Duration::from_secs(15), "gave up after {took:?}");
}
