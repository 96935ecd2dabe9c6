//! The `docker://` transport against the real Debian `docker-registry` (distribution 2.8),
//! started per test on a free 127.0.0.1 port with a temporary storage directory; skipped,
//! saying so, when it is not installed. A small HTTP proxy in the test counts requests, drops a
//! connection in the middle of a blob, or corrupts a blob. skopeo cross-checks both ways.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use strata_oci::image::{Image, Platform, Selector};
use strata_oci::registry::{
    AuthFiles, Credentials, PushOptions, Retry, Upload, manifest_descriptor,
};
use strata_oci::{ErrorKind, OciDir, OciError, Registry, RegistryOptions, RegistryRef};

use crate::common::*;

use strata_testkit::LocalRegistry as TestRegistry;

/// References in the test's registry.
trait RefIn {
    /// `docker://HOST/path`.
    fn r(&self, path: &str) -> RegistryRef;
}

impl RefIn for TestRegistry {
    fn r(&self, path: &str) -> RegistryRef {
        RegistryRef::parse(&format!("docker://{}/{path}", self.host())).unwrap()
    }
}

/// Options for the local, plain-http registry: no TLS verification, quick retries.
fn insecure(credentials: Credentials) -> RegistryOptions {
    RegistryOptions {
        tls_verify: false,
        credentials,
        retry: Retry {
            attempts: 4,
            initial_backoff: Duration::from_millis(50),
            max_backoff: Duration::from_millis(400),
        },
        ..RegistryOptions::default()
    }
}

fn client() -> Registry {
    Registry::new(insecure(Credentials::Anonymous)).unwrap()
}

/// A layout holding the sample image as `v1`.
fn sample(dir: &Path) -> (OciDir, Image) {
    let image = make_image(dir, "v1", &sample_layers());
    (OciDir::open(dir).unwrap(), image)
}

/// No temporary or partial file is left among a layout's blobs.
fn assert_no_temp_files(layout: &Path) {
    let names = blob_names(layout);
    assert!(
        names.iter().all(|n| n.len() == 64 && !n.starts_with('.')),
        "leftover files: {names:?}"
    );
    for e in std::fs::read_dir(layout.join("blobs/sha256")).unwrap() {
        let e = e.unwrap();
        let bytes = std::fs::read(e.path()).unwrap();
        assert_eq!(
            strata_oci::verify::digest_bytes(&bytes).hex(),
            e.file_name().to_string_lossy(),
            "a stored blob does not match its name"
        );
    }
}

#[test]
fn push_pull_roundtrip_and_repush_skips_blobs() {
    let Some(reg) = TestRegistry::start(None) else {
        return;
    };
    let t = tempfile::tempdir().unwrap();
    let (src, image) = sample(&t.path().join("src"));
    let client = client();
    let dest = reg.r("strata/test:v1");
    client.login(&dest, true).unwrap();
    let pushed = client
        .push(&src, &image, &dest, &PushOptions::default())
        .unwrap();
    assert_eq!(pushed.manifest_digest, image.manifest_digest().unwrap());
    assert_eq!((pushed.uploaded, pushed.skipped, pushed.mounted), (3, 0, 0));

    let out = OciDir::create(t.path().join("out")).unwrap();
    let pulled = client.pull(&dest, &amd64(), &out).unwrap();
    assert_eq!(
        pulled.image.manifest_digest().unwrap(),
        image.manifest_digest().unwrap()
    );
    assert_eq!(pulled.image.manifest_bytes, image.manifest_bytes);
    assert_eq!(pulled.image.diff_ids, image.diff_ids);
    assert_eq!((pulled.fetched, pulled.skipped), (3, 0));
    assert!(pulled.index_bytes.is_none());
    assert_eq!(blob_names(&t.path().join("src")), blob_names(out.path()));
    assert_no_temp_files(out.path());
    // The pulled layout is usable as a source again.
    out.add_to_index(&pulled.image.manifest_descriptor, Some("v1"))
        .unwrap();
    let again = out.resolve(&Selector::Name("v1".into()), &amd64()).unwrap();
    assert_eq!(again.manifest_bytes, image.manifest_bytes);

    // A second push uploads nothing; a second pull fetches nothing.
    let pushed = client
        .push(&src, &image, &dest, &PushOptions::default())
        .unwrap();
    assert_eq!((pushed.uploaded, pushed.skipped, pushed.mounted), (0, 3, 0));
    let pulled = client.pull(&dest, &amd64(), &out).unwrap();
    assert_eq!((pulled.fetched, pulled.skipped), (0, 3));

    // By digest too, and a digest that does not match is refused.
    let by_digest = dest.with_digest(&image.manifest_digest().unwrap()).unwrap();
    let m = client.manifest(&by_digest).unwrap();
    assert_eq!(m.bytes, image.manifest_bytes);
    assert_eq!(m.media_type, "application/vnd.oci.image.manifest.v1+json");
    let missing = reg.r("strata/test:nope");
    let e = client.manifest(&missing).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
    assert!(matches!(e, OciError::Registry { .. }), "{e:?}");
}

#[test]
fn streamed_chunked_and_monolithic_uploads_store_the_same_image() {
    let Some(reg) = TestRegistry::start(None) else {
        return;
    };
    let t = tempfile::tempdir().unwrap();
    let (src, image) = sample(&t.path().join("src"));
    // Through a counting proxy, to see one PATCH per chunk, or per blob.
    let proxy = Proxy::start(reg.port, Mode::Forward);
    for (repo, upload) in [
        ("chunked/img:v1", Upload::Chunked { chunk_size: 100 }),
        ("mono/img:v1", Upload::Monolithic),
        ("streamed/img:v1", Upload::Streamed),
    ] {
        let client = Registry::new(RegistryOptions {
            upload,
            ..insecure(Credentials::Anonymous)
        })
        .unwrap();
        proxy.reset_counts();
        let dest = proxy.r(repo);
        let pushed = client
            .push(&src, &image, &dest, &PushOptions::default())
            .unwrap();
        assert_eq!(pushed.uploaded, 3);
        let patches = proxy.count("PATCH");
        let puts = proxy.count("PUT");
        let total: u64 = image
            .layers()
            .iter()
            .map(|l| l.size())
            .chain([image.config().size()])
            .sum();
        match upload {
            Upload::Chunked { chunk_size } => {
                assert!(
                    u64::from(patches) >= total / chunk_size as u64,
                    "{patches} PATCH requests for {total} bytes"
                );
            }
            Upload::Monolithic => assert_eq!(patches, 0),
            Upload::Streamed => assert_eq!(patches, 3),
        }
        // Three blob PUTs and the manifest's.
        assert_eq!(puts, 4);
        let out = OciDir::create(t.path().join(repo.replace(['/', ':'], "_"))).unwrap();
        let pulled = client.pull(&reg.r(repo), &amd64(), &out).unwrap();
        assert_eq!(pulled.image.manifest_bytes, image.manifest_bytes);
        assert_eq!(blob_names(&t.path().join("src")), blob_names(out.path()));
    }
}

#[test]
fn cross_repository_mount() {
    let Some(reg) = TestRegistry::start(None) else {
        return;
    };
    let t = tempfile::tempdir().unwrap();
    let (src, image) = sample(&t.path().join("src"));
    let client = client();
    let first = reg.r("team/base:v1");
    client
        .push(&src, &image, &first, &PushOptions::default())
        .unwrap();
    let second = reg.r("other/copy:v1");
    let pushed = client
        .push(
            &src,
            &image,
            &second,
            &PushOptions {
                mount_from: Some(first.clone()),
            },
        )
        .unwrap();
    assert_eq!((pushed.uploaded, pushed.skipped, pushed.mounted), (0, 0, 3));
    let out = OciDir::create(t.path().join("out")).unwrap();
    let pulled = client.pull(&second, &amd64(), &out).unwrap();
    assert_eq!(pulled.image.manifest_bytes, image.manifest_bytes);
    // A source repository that lacks the blobs: the mount is declined and the blobs uploaded.
    let third = reg.r("third/copy:v1");
    let pushed = client
        .push(
            &src,
            &image,
            &third,
            &PushOptions {
                mount_from: Some(reg.r("empty/repo:v1")),
            },
        )
        .unwrap();
    assert_eq!((pushed.uploaded, pushed.mounted), (3, 0));
}

#[test]
fn manifest_list_with_two_platforms() {
    let Some(reg) = TestRegistry::start(None) else {
        return;
    };
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join("src");
    let layout = OciDir::create(&dir).unwrap();
    let mut images = Vec::new();
    for (arch, content) in [("amd64", b"x86".as_slice()), ("arm64", b"arm".as_slice())] {
        let layers = vec![gz(tar(&[E::File("arch", 0o644, content)]))];
        let (config, manifest) = image_docs(&layers, arch);
        use strata_oci::BlobWrite;
        layout.put_bytes(&layers[0].stored, None).unwrap();
        layout.put_bytes(&config, None).unwrap();
        layout.put_bytes(&manifest, None).unwrap();
        images.push((arch, Image::from_parts(manifest, config).unwrap()));
    }
    let client = client();
    let repo = reg.r("multi/img:latest");
    let mut entries = Vec::new();
    for (arch, image) in &images {
        let by_digest = repo.with_digest(&image.manifest_digest().unwrap()).unwrap();
        let pushed = client
            .push(&layout, image, &by_digest, &PushOptions::default())
            .unwrap();
        assert_eq!(pushed.manifest_digest, image.manifest_digest().unwrap());
        let d = manifest_descriptor(
            &image.manifest_bytes,
            "application/vnd.oci.image.manifest.v1+json",
        );
        let mut v = serde_json::to_value(&d).unwrap();
        v["platform"] = serde_json::json!({"os": "linux", "architecture": arch});
        entries.push(v);
    }
    let index = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": entries,
    }))
    .unwrap();
    let index_digest = client
        .push_manifest(&repo, &index, "application/vnd.oci.image.index.v1+json")
        .unwrap();
    assert_eq!(index_digest, strata_oci::verify::digest_bytes(&index));

    for (arch, image) in &images {
        let out = OciDir::create(t.path().join(format!("out-{arch}"))).unwrap();
        let platform = Platform {
            os: "linux".into(),
            architecture: (*arch).into(),
            variant: None,
        };
        let pulled = client.pull(&repo, &platform, &out).unwrap();
        assert_eq!(
            pulled.image.manifest_digest().unwrap(),
            image.manifest_digest().unwrap(),
            "--arch {arch}"
        );
        assert_eq!(pulled.index_bytes.as_deref(), Some(index.as_slice()));
        let p = pulled.image.manifest_descriptor.platform().clone().unwrap();
        assert_eq!(p.architecture().to_string(), *arch);
        // Only this platform's blobs: config, one layer, manifest.
        assert_eq!(blob_names(out.path()).len(), 3);
    }
    let out = OciDir::create(t.path().join("out-s390x")).unwrap();
    let e = client
        .pull(
            &repo,
            &Platform {
                os: "linux".into(),
                architecture: "s390x".into(),
                variant: None,
            },
            &out,
        )
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
    assert!(e.to_string().contains("s390x"), "{e}");
}

fn write_auth_json(dir: &Path, host: &str, user: &str, password: &str) -> PathBuf {
    let path = dir.join("containers").join("auth.json");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    std::fs::write(
        &path,
        serde_json::json!({"auths": {host: {"auth": auth}}}).to_string(),
    )
    .unwrap();
    path
}

#[test]
fn htpasswd_auth_with_credentials_from_auth_json() {
    let Some(reg) = TestRegistry::start(Some(&strata_testkit::registry::htpasswd_line(
        "alice", "s3cret",
    ))) else {
        return;
    };
    let t = tempfile::tempdir().unwrap();
    let (src, image) = sample(&t.path().join("src"));
    let dest = reg.r("private/img:v1");

    // Credentials from $XDG_RUNTIME_DIR/containers/auth.json (given explicitly, not through
    // the process environment, so parallel tests do not see it).
    let xdg = t.path().join("xdg");
    let auth_file = write_auth_json(&xdg, &reg.host(), "alice", "s3cret");
    let files = AuthFiles::from_dirs(None, Some(xdg.clone()), None, None);
    let client = Registry::new(insecure(Credentials::Files(files))).unwrap();
    client.login(&dest, true).unwrap();
    let pushed = client
        .push(&src, &image, &dest, &PushOptions::default())
        .unwrap();
    assert_eq!(pushed.uploaded, 3);
    let out = OciDir::create(t.path().join("out")).unwrap();
    let pulled = client.pull(&dest, &amd64(), &out).unwrap();
    assert_eq!(pulled.image.manifest_bytes, image.manifest_bytes);

    // The same credentials given directly.
    let direct = Registry::new(insecure(Credentials::Basic {
        user: "alice".into(),
        password: "s3cret".into(),
    }))
    .unwrap();
    direct.login(&dest, false).unwrap();
    let out3 = OciDir::create(t.path().join("out3")).unwrap();
    assert_eq!(direct.pull(&dest, &amd64(), &out3).unwrap().fetched, 3);

    // Anonymous: refused, saying no credentials were found.
    let anon = Registry::new(insecure(Credentials::Anonymous)).unwrap();
    let out2 = OciDir::create(t.path().join("out2")).unwrap();
    let e = anon.pull(&dest, &amd64(), &out2).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::PermissionDenied, "{e}");
    assert!(
        matches!(&e, OciError::Unauthorized { user: None, .. }),
        "{e:?}"
    );
    assert!(e.to_string().contains("no credentials"), "{e}");

    // A wrong password: refused, naming the user and the file the credentials came from.
    let bad_xdg = t.path().join("bad");
    write_auth_json(&bad_xdg, &reg.host(), "alice", "wrong");
    let bad = Registry::new(insecure(Credentials::Files(AuthFiles::from_dirs(
        None,
        Some(bad_xdg.clone()),
        None,
        None,
    ))))
    .unwrap();
    let e = bad.login(&dest, false).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::PermissionDenied, "{e}");
    let e = bad.pull(&dest, &amd64(), &out2).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::PermissionDenied, "{e}");
    let msg = e.to_string();
    assert!(msg.contains("alice"), "{msg}");
    assert!(msg.contains(&bad_xdg.display().to_string()), "{msg}");
    let e = bad
        .push(
            &src,
            &image,
            &reg.r("private/other:v1"),
            &PushOptions::default(),
        )
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::PermissionDenied, "{e}");
    assert!(blob_names(&t.path().join("out2")).is_empty());
    let _ = auth_file;
}

/// What the test proxy does to the blob whose digest it is given.
#[derive(Clone)]
enum Mode {
    /// Forward everything.
    Forward,
    /// Send half of the blob's body once, then close the connection.
    DropOnce { digest: String, ignore_range: bool },
    /// Flip one byte in the middle of the blob's body, every time.
    Corrupt { digest: String },
    /// Fail the first `times` requests with this method: a 503, or a connection closed
    /// without an answer (`reset`).
    Fail {
        method: &'static str,
        times: u32,
        reset: bool,
    },
}

/// A tiny HTTP/1.1 proxy to the registry: one request per connection (it asks both sides to
/// close), so it can count requests by method and act on whole responses.
struct Proxy {
    port: u16,
    counts: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    dropped: Arc<AtomicU32>,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

impl Proxy {
    fn start(upstream: u16, mode: Mode) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let counts = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let dropped = Arc::new(AtomicU32::new(0));
        let (c, s, d) = (counts.clone(), stop.clone(), dropped.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if s.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let (c, d, mode) = (c.clone(), d.clone(), mode.clone());
                std::thread::spawn(move || {
                    let _ = serve(conn, upstream, &mode, &c, &d);
                });
            }
        });
        Proxy {
            port,
            counts,
            stop,
            dropped,
        }
    }

    fn r(&self, path: &str) -> RegistryRef {
        RegistryRef::parse(&format!("docker://127.0.0.1:{}/{path}", self.port)).unwrap()
    }

    /// Requests seen with this method.
    fn count(&self, method: &str) -> u32 {
        self.count_path(method, "")
    }

    /// Requests seen with this method and a path containing `needle`.
    fn count_path(&self, method: &str, needle: &str) -> u32 {
        self.counts
            .lock()
            .unwrap()
            .iter()
            .filter(|line| {
                let mut parts = line.split(' ');
                parts.next() == Some(method) && parts.next().is_some_and(|p| p.contains(needle))
            })
            .count() as u32
    }

    fn reset_counts(&self) {
        self.counts.lock().unwrap().clear();
    }
}

/// Reads an HTTP head (up to the blank line).
fn read_head(r: &mut BufReader<TcpStream>) -> std::io::Result<Vec<String>> {
    let mut lines = Vec::new();
    loop {
        let mut line = String::new();
        if r.read_line(&mut line)? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        let line = line.trim_end_matches(['\r', '\n']).to_owned();
        if line.is_empty() {
            return Ok(lines);
        }
        lines.push(line);
    }
}

fn header<'a>(lines: &'a [String], name: &str) -> Option<&'a str> {
    lines.iter().skip(1).find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

fn serve(
    client: TcpStream,
    upstream: u16,
    mode: &Mode,
    counts: &Mutex<Vec<String>>,
    dropped: &AtomicU32,
) -> std::io::Result<()> {
    client.set_read_timeout(Some(Duration::from_secs(60)))?;
    // A TLS handshake (the client probing for https): this proxy speaks plain http only.
    let mut first = [0u8; 1];
    if client.peek(&mut first)? == 0 || first[0] == 0x16 {
        return Ok(());
    }
    let mut reader = BufReader::new(client.try_clone()?);
    let head = read_head(&mut reader)?;
    let request_line = head.first().cloned().unwrap_or_default();
    let method = request_line
        .split(' ')
        .next()
        .unwrap_or_default()
        .to_owned();
    counts.lock().unwrap().push(request_line.clone());
    let len: usize = header(&head, "content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; len];
    reader.read_exact(&mut body)?;
    if let Mode::Fail {
        method: m,
        times,
        reset,
    } = mode
        && *m == method
        && dropped.fetch_add(1, Ordering::SeqCst) < *times
    {
        let mut client = client;
        if !*reset {
            client.write_all(
                b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            )?;
        }
        let _ = client.shutdown(Shutdown::Both);
        return Ok(());
    }
    let target = match mode {
        Mode::Forward | Mode::Fail { .. } => None,
        Mode::DropOnce { digest, .. } | Mode::Corrupt { digest } => (method == "GET"
            && request_line.contains(&format!("/blobs/{digest}")))
        .then_some(digest),
    };
    let strip_range = matches!(
        mode,
        Mode::DropOnce {
            ignore_range: true,
            ..
        }
    ) && target.is_some();
    let mut up = TcpStream::connect(("127.0.0.1", upstream))?;
    up.set_read_timeout(Some(Duration::from_secs(60)))?;
    let mut out = format!("{request_line}\r\n");
    for l in head.iter().skip(1) {
        let name = l.split(':').next().unwrap_or_default().to_ascii_lowercase();
        if name == "connection" || (strip_range && name == "range") {
            continue;
        }
        out.push_str(l);
        out.push_str("\r\n");
    }
    out.push_str("Connection: close\r\n\r\n");
    up.write_all(out.as_bytes())?;
    up.write_all(&body)?;
    let mut response = Vec::new();
    up.read_to_end(&mut response)?;
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(response.len(), |p| p + 4);
    let mut client = client;
    match (mode, target) {
        (Mode::DropOnce { .. }, Some(_))
            if dropped.fetch_add(1, Ordering::SeqCst) == 0 && response.len() > split + 1 =>
        {
            let half = split + (response.len() - split) / 2;
            client.write_all(&response[..half])?;
            client.flush()?;
            // A reset rather than a clean close: the client sees a broken body.
            let _ = client.shutdown(Shutdown::Both);
            return Ok(());
        }
        (Mode::Corrupt { .. }, Some(_)) if response.len() > split => {
            let mid = split + (response.len() - split) / 2;
            response[mid] ^= 0xff;
        }
        _ => {}
    }
    client.write_all(&response)?;
    client.flush()?;
    let _ = client.shutdown(Shutdown::Both);
    Ok(())
}

/// The digest of the image's biggest layer (the one the proxy tampers with).
fn big_layer(image: &Image) -> String {
    image
        .layers()
        .iter()
        .max_by_key(|l| l.size())
        .unwrap()
        .digest()
        .to_string()
}

/// An image with one layer large enough to be cut in the middle (a few hundred KiB of
/// incompressible bytes).
fn big_image(dir: &Path) -> (OciDir, Image) {
    let mut data = vec![0u8; 300 << 10];
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for b in data.iter_mut() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *b = x as u8;
    }
    let layers = vec![
        gz(tar(&[E::File("noise", 0o644, &data)])),
        plain(tar(&[E::File("small", 0o644, b"s")])),
    ];
    let image = make_image(dir, "v1", &layers);
    (OciDir::open(dir).unwrap(), image)
}

#[test]
fn dropped_connection_mid_blob_is_resumed_or_restarted() {
    let Some(reg) = TestRegistry::start(None) else {
        return;
    };
    let t = tempfile::tempdir().unwrap();
    let (src, image) = big_image(&t.path().join("src"));
    let client = client();
    let dest = reg.r("big/img:v1");
    client
        .push(&src, &image, &dest, &PushOptions::default())
        .unwrap();
    for ignore_range in [false, true] {
        let proxy = Proxy::start(
            reg.port,
            Mode::DropOnce {
                digest: big_layer(&image),
                ignore_range,
            },
        );
        let out_dir = t.path().join(format!("out-{ignore_range}"));
        let out = OciDir::create(&out_dir).unwrap();
        let pulled = client.pull(&proxy.r("big/img:v1"), &amd64(), &out).unwrap();
        assert_eq!(
            proxy.dropped.load(Ordering::SeqCst),
            2,
            "dropped once, then served"
        );
        assert_eq!(pulled.resumed, 1);
        assert_eq!(pulled.image.manifest_bytes, image.manifest_bytes);
        assert_eq!(blob_names(&t.path().join("src")), blob_names(&out_dir));
        assert_no_temp_files(&out_dir);
    }
    // Without retries the pull fails, and nothing of the blob is stored.
    let proxy = Proxy::start(
        reg.port,
        Mode::DropOnce {
            digest: big_layer(&image),
            ignore_range: false,
        },
    );
    let once = Registry::new(RegistryOptions {
        retry: Retry {
            attempts: 1,
            ..Retry::default()
        },
        ..insecure(Credentials::Anonymous)
    })
    .unwrap();
    let out_dir = t.path().join("out-no-retry");
    let out = OciDir::create(&out_dir).unwrap();
    let e = once
        .pull(&proxy.r("big/img:v1"), &amd64(), &out)
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Network, "{e:?}");
    let big: strata_model::Digest = big_layer(&image).parse().unwrap();
    assert!(!out_dir.join("blobs/sha256").join(big.hex()).exists());
    assert_no_temp_files(&out_dir);
}

#[test]
fn a_registry_serving_a_wrong_blob_is_refused() {
    let Some(reg) = TestRegistry::start(None) else {
        return;
    };
    let t = tempfile::tempdir().unwrap();
    let (src, image) = big_image(&t.path().join("src"));
    let client = client();
    client
        .push(&src, &image, &reg.r("bad/img:v1"), &PushOptions::default())
        .unwrap();
    let proxy = Proxy::start(
        reg.port,
        Mode::Corrupt {
            digest: big_layer(&image),
        },
    );
    let out_dir = t.path().join("out");
    let out = OciDir::create(&out_dir).unwrap();
    let e = client
        .pull(&proxy.r("bad/img:v1"), &amd64(), &out)
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::IntegrityMismatch, "{e:?}");
    let big: strata_model::Digest = big_layer(&image).parse().unwrap();
    assert!(!out_dir.join("blobs/sha256").join(big.hex()).exists());
    assert!(!blob_names(&out_dir).contains(&image.manifest_digest().unwrap().hex().to_owned()));
    assert_no_temp_files(&out_dir);
}

fn skopeo(args: &[&str]) -> Option<String> {
    if !strata_testkit::have("skopeo", &["skopeo"]) {
        return None;
    }
    let out = Command::new("skopeo")
        .arg("--insecure-policy")
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "skopeo {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn skopeo_pulls_what_we_push_and_we_pull_what_it_pushes() {
    let Some(reg) = TestRegistry::start(None) else {
        return;
    };
    let t = tempfile::tempdir().unwrap();
    let src_dir = t.path().join("src");
    // Compressed layers only: skopeo compresses an uncompressed layer when it writes to a
    // registry or an OCI layout, which would change the manifest's digest.
    let layers: Vec<Layer> = sample_layers().into_iter().map(|l| gz(l.tar)).collect();
    let image = make_image(&src_dir, "v1", &layers);
    let src = OciDir::open(&src_dir).unwrap();
    let client = client();
    client
        .push(&src, &image, &reg.r("ours/img:v1"), &PushOptions::default())
        .unwrap();
    let sk_dir = t.path().join("skopeo-out");
    let Some(_) = skopeo(&[
        "copy",
        "--src-tls-verify=false",
        &format!("docker://{}/ours/img:v1", reg.host()),
        &format!("oci:{}:v1", sk_dir.display()),
    ]) else {
        return;
    };
    let sk = OciDir::open(&sk_dir).unwrap();
    let got = sk.resolve(&Selector::Name("v1".into()), &amd64()).unwrap();
    assert_eq!(
        got.manifest_digest().unwrap(),
        image.manifest_digest().unwrap()
    );
    assert_eq!(blob_names(&src_dir), blob_names(&sk_dir));

    // skopeo pushes (from our layout); we pull it back.
    skopeo(&[
        "copy",
        "--dest-tls-verify=false",
        &format!("oci:{}:v1", src_dir.display()),
        &format!("docker://{}/theirs/img:v2", reg.host()),
    ]);
    let out = OciDir::create(t.path().join("out")).unwrap();
    let pulled = client
        .pull(&reg.r("theirs/img:v2"), &amd64(), &out)
        .unwrap();
    assert_eq!(
        pulled.image.manifest_digest().unwrap(),
        image.manifest_digest().unwrap()
    );
    assert_eq!(blob_names(&src_dir), blob_names(out.path()));
    // And skopeo's own view of the manifest agrees.
    let inspect: serde_json::Value = serde_json::from_str(
        &skopeo(&[
            "inspect",
            "--tls-verify=false",
            &format!("docker://{}/theirs/img:v2", reg.host()),
        ])
        .unwrap(),
    )
    .unwrap();
    assert_eq!(
        inspect["Digest"],
        image.manifest_digest().unwrap().prefixed()
    );
}

#[test]
fn unavailable_and_reset_requests_are_retried() {
    let Some(reg) = TestRegistry::start(None) else {
        return;
    };
    let t = tempfile::tempdir().unwrap();
    let (src, image) = sample(&t.path().join("src"));
    let client = client();
    // Uploads: the first two PATCH requests fail (503, then a reset); each failed upload
    // starts again from a fresh POST.
    for (times, reset) in [(2, false), (1, true)] {
        let proxy = Proxy::start(
            reg.port,
            Mode::Fail {
                method: "PATCH",
                times,
                reset,
            },
        );
        let dest = proxy.r(&format!("retry/push-{reset}:v1"));
        let pushed = client
            .push(&src, &image, &dest, &PushOptions::default())
            .unwrap();
        assert_eq!(pushed.uploaded, 3);
        assert_eq!(
            proxy.count("POST"),
            3 + times,
            "one more upload per failure"
        );
        let out = OciDir::create(t.path().join(format!("out-{reset}"))).unwrap();
        let pulled = client
            .pull(&reg.r(&format!("retry/push-{reset}:v1")), &amd64(), &out)
            .unwrap();
        assert_eq!(pulled.image.manifest_bytes, image.manifest_bytes);
    }
    // Pulls: the first three GETs fail (`/v2/` pings and the manifest), and are retried.
    let proxy = Proxy::start(
        reg.port,
        Mode::Fail {
            method: "GET",
            times: 3,
            reset: false,
        },
    );
    let out = OciDir::create(t.path().join("out-get")).unwrap();
    let pulled = client
        .pull(&proxy.r("retry/push-false:v1"), &amd64(), &out)
        .unwrap();
    assert_eq!(pulled.fetched, 3);
    // With more failures than attempts: the 503 is reported, with its status.
    let proxy = Proxy::start(
        reg.port,
        Mode::Fail {
            method: "GET",
            times: 100,
            reset: false,
        },
    );
    let e = client
        .pull(&proxy.r("retry/push-false:v1"), &amd64(), &out)
        .unwrap_err();
    assert!(
        matches!(
            e,
            OciError::Registry {
                status: Some(503),
                ..
            }
        ),
        "{e:?}"
    );
    assert_eq!(e.kind(), ErrorKind::Network);
    assert_eq!(
        proxy.count_path("GET", "/manifests/"),
        4,
        "bounded attempts"
    );
    let proxy = Proxy::start(
        reg.port,
        Mode::Fail {
            method: "GET",
            times: 100,
            reset: true,
        },
    );
    let e = client
        .pull(&proxy.r("retry/push-false:v1"), &amd64(), &out)
        .unwrap_err();
    assert!(
        matches!(e, OciError::Connection { attempts: 4, .. }),
        "{e:?}"
    );
    assert_eq!(e.kind(), ErrorKind::Network);
}

/// A token server for the registry's `token` auth: it checks `alice`/`s3cret` (basic auth on
/// the token request), grants every action asked for to her and nothing to anyone else, and
/// signs RS256 JWTs with `openssl dgst`, the certificate in the `x5c` header.
struct TokenServer {
    port: u16,
    stop: Arc<AtomicBool>,
    /// Token requests seen: (user or "", scopes).
    requests: Arc<Mutex<Vec<TokenRequest>>>,
}

/// A token request: the user (empty when anonymous) and the scopes asked for.
type TokenRequest = (String, Vec<String>);

impl Drop for TokenServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

const TOKEN_SERVICE: &str = "strata-test-registry";
const TOKEN_ISSUER: &str = "strata-test-issuer";

fn b64url(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

impl TokenServer {
    /// Creates the key and certificate in `dir` and starts serving; `None` without openssl.
    fn start(dir: &Path) -> Option<TokenServer> {
        let ok = Command::new("openssl")
            .args([
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            ])
            .args(["-subj", "/CN=strata-test-token"])
            .arg("-keyout")
            .arg(dir.join("token.key"))
            .arg("-out")
            .arg(dir.join("token.crt"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !strata_testkit::peer("token auth", "openssl", ok) {
            return None;
        }
        let pem = std::fs::read_to_string(dir.join("token.crt")).unwrap();
        let der_b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
        let key = dir.join("token.key");
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let (s, seen) = (stop.clone(), requests.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if s.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let _ = serve_token(conn, &key, &der_b64, &seen);
            }
        });
        Some(TokenServer {
            port,
            stop,
            requests,
        })
    }

    fn registry_config(&self, cert: &Path) -> String {
        format!(
            "auth:\n  token:\n    realm: http://127.0.0.1:{}/token\n    service: {TOKEN_SERVICE}\n    \
             issuer: {TOKEN_ISSUER}\n    rootcertbundle: {}\n",
            self.port,
            cert.display()
        )
    }
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap());
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).unwrap()
}

fn serve_token(
    conn: TcpStream,
    key: &Path,
    x5c: &str,
    seen: &Mutex<Vec<TokenRequest>>,
) -> std::io::Result<()> {
    conn.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut reader = BufReader::new(conn.try_clone()?);
    let head = read_head(&mut reader)?;
    let target = head[0].split(' ').nth(1).unwrap_or_default().to_owned();
    let query = target.split_once('?').map_or("", |(_, q)| q);
    let scopes: Vec<String> = query
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .filter(|(k, _)| *k == "scope")
        .map(|(_, v)| percent_decode(v))
        .collect();
    let user = header(&head, "authorization")
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
        .map(|b| String::from_utf8(b).unwrap());
    seen.lock().unwrap().push((
        user.as_deref()
            .and_then(|u| u.split(':').next())
            .unwrap_or_default()
            .to_owned(),
        scopes.clone(),
    ));
    let mut conn = conn;
    let granted = match user.as_deref() {
        Some("alice:s3cret") => true,
        None => false,
        Some(_) => {
            let body = r#"{"details":"wrong user name or password"}"#;
            write!(
                conn,
                "HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            )?;
            return Ok(());
        }
    };
    let access: Vec<serde_json::Value> = if granted {
        scopes
            .iter()
            .filter_map(|s| {
                let mut parts = s.splitn(3, ':');
                let (kind, name, actions) = (parts.next()?, parts.next()?, parts.next()?);
                Some(serde_json::json!({
                    "type": kind, "name": name,
                    "actions": actions.split(',').collect::<Vec<_>>(),
                }))
            })
            .collect()
    } else {
        Vec::new()
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let header_json = serde_json::json!({"typ": "JWT", "alg": "RS256", "x5c": [x5c]});
    let claims = serde_json::json!({
        "iss": TOKEN_ISSUER, "sub": if granted { "alice" } else { "" }, "aud": TOKEN_SERVICE,
        "exp": now + 600, "nbf": now - 60, "iat": now - 60, "jti": format!("{now}-{}", access.len()),
        "access": access,
    });
    let signing_input = format!(
        "{}.{}",
        b64url(header_json.to_string().as_bytes()),
        b64url(claims.to_string().as_bytes())
    );
    let mut openssl = Command::new("openssl")
        .args(["dgst", "-sha256", "-sign"])
        .arg(key)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()?;
    openssl
        .stdin
        .take()
        .unwrap()
        .write_all(signing_input.as_bytes())?;
    let signature = openssl.wait_with_output()?.stdout;
    let token = format!("{signing_input}.{}", b64url(&signature));
    let body = serde_json::json!({"token": token, "expires_in": 600}).to_string();
    write!(
        conn,
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    Ok(())
}

#[test]
fn bearer_token_auth_exchanges_credentials_for_a_token() {
    let t = tempfile::tempdir().unwrap();
    let Some(tokens) = TokenServer::start(t.path()) else {
        return;
    };
    let cert = t.path().join("token.crt");
    let Some(reg) = TestRegistry::start_with(&|_| tokens.registry_config(&cert)) else {
        return;
    };
    let (src, image) = sample(&t.path().join("src"));
    let xdg = t.path().join("xdg");
    write_auth_json(&xdg, &reg.host(), "alice", "s3cret");
    let client = Registry::new(insecure(Credentials::Files(AuthFiles::from_dirs(
        None,
        Some(xdg),
        None,
        None,
    ))))
    .unwrap();
    let dest = reg.r("private/img:v1");
    client.login(&dest, true).unwrap();
    let pushed = client
        .push(&src, &image, &dest, &PushOptions::default())
        .unwrap();
    assert_eq!(pushed.uploaded, 3);
    let out = OciDir::create(t.path().join("out")).unwrap();
    let pulled = client.pull(&dest, &amd64(), &out).unwrap();
    assert_eq!(pulled.image.manifest_bytes, image.manifest_bytes);
    {
        let seen = tokens.requests.lock().unwrap();
        assert!(
            seen.iter().any(|(u, scopes)| u == "alice"
                && scopes.contains(&"repository:private/img:pull,push".to_owned())),
            "{seen:?}"
        );
    }
    // The push token covers the destination only, so the registry refuses the mount from
    // another repository (401: no pull access to the source) and the blobs are uploaded.
    let pushed = client
        .push(
            &src,
            &image,
            &reg.r("private/copy:v1"),
            &PushOptions {
                mount_from: Some(dest.clone()),
            },
        )
        .unwrap();
    assert_eq!((pushed.uploaded, pushed.mounted), (3, 0));

    // Anonymous: a token without access, then the registry's 401.
    let anon = Registry::new(insecure(Credentials::Anonymous)).unwrap();
    let out2 = OciDir::create(t.path().join("out2")).unwrap();
    let e = anon.pull(&dest, &amd64(), &out2).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::PermissionDenied, "{e}");
    // A wrong password: the token server refuses it.
    let bad = Registry::new(insecure(Credentials::Basic {
        user: "alice".into(),
        password: "wrong".into(),
    }))
    .unwrap();
    let e = bad.login(&dest, false).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::PermissionDenied, "{e}");
    assert!(e.to_string().contains("alice"), "{e}");
    let e = bad.pull(&dest, &amd64(), &out2).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::PermissionDenied, "{e}");
    assert!(blob_names(&t.path().join("out2")).is_empty());
}

#[test]
fn https_with_and_without_certificate_verification() {
    let t = tempfile::tempdir().unwrap();
    let (cert, key) = (t.path().join("tls.crt"), t.path().join("tls.key"));
    let made = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        ])
        .args([
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !strata_testkit::peer("tls", "openssl", made) {
        return;
    }
    // The lines continue the config's `http:` section.
    let Some(reg) = TestRegistry::start_with(&|_| {
        format!(
            "  tls:\n    certificate: {}\n    key: {}\n",
            cert.display(),
            key.display()
        )
    }) else {
        return;
    };
    let (src, image) = sample(&t.path().join("src"));
    let dest = reg.r("tls/img:v1");
    // tls_verify off: https without verification (plain http would fail against this server).
    let client = client();
    let pushed = client
        .push(&src, &image, &dest, &PushOptions::default())
        .unwrap();
    assert_eq!(pushed.uploaded, 3);
    let out = OciDir::create(t.path().join("out")).unwrap();
    let pulled = client.pull(&dest, &amd64(), &out).unwrap();
    assert_eq!(pulled.image.manifest_bytes, image.manifest_bytes);
    // tls_verify on: the self-signed certificate is refused at once, without retries.
    let strict = Registry::new(RegistryOptions {
        tls_verify: true,
        ..insecure(Credentials::Anonymous)
    })
    .unwrap();
    let e = strict.manifest(&dest).unwrap_err();
    assert!(
        matches!(e, OciError::Connection { attempts: 1, .. }),
        "{e:?}"
    );
    assert_eq!(e.kind(), ErrorKind::Network);
}
