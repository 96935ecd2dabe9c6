//! `transient_image::retrieve`: a FROM image fetched into the backend as transient's
//! `retrieve_image` does, from a file or an HTTP server on 127.0.0.1 (plain, gzip, bzip2, xz),
//! each result checked against the original with `qemu-img compare`; vagrant refused; corrupt
//! and hostile sources leave no image and no temporary file.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;

use strata::{Env, ErrorKind, StrataOptions};
use strata_build::imagefile::ImageSpec;
use strata_store::FlatBackend;
use transient_image::cli::Stores;
use transient_image::retrieve::Compression;
use transient_image::settings::Settings;
use transient_image::{Error, Transient, retrieve};

use crate::sandbox::{Sandbox, enc};

/// The core on the sandbox's backend and VM store.
fn settings(sandbox: &Sandbox) -> Settings {
    let env = Env::new(sandbox.path("home"), "u");
    let stores = Stores {
        image_backend: Some(sandbox.backend().display().to_string()),
        vmstore: Some(sandbox.vmstore().display().to_string()),
    };
    Settings::open(&env, &stores, StrataOptions::default()).unwrap()
}

/// `retrieve(spec)`: its result and what it printed.
fn fetch(sandbox: &Sandbox, spec: &str) -> (Result<PathBuf, Error>, String) {
    let spec: ImageSpec = spec.parse().unwrap();
    let mut out = Vec::new();
    let result = retrieve(&settings(sandbox), &spec, &mut out);
    (result, String::from_utf8(out).unwrap())
}

/// A 4 MiB raw disk with data in a few places and holes elsewhere.
fn raw_image(path: &Path) -> Vec<u8> {
    let mut bytes = vec![0u8; 4 << 20];
    for (i, b) in bytes[..70_000].iter_mut().enumerate() {
        *b = (i % 251) as u8;
    }
    bytes[3 << 20..(3 << 20) + 11].copy_from_slice(b"strata-tail");
    std::fs::write(path, &bytes).unwrap();
    bytes
}

/// `data` compressed with `compression`.
fn compress(data: &[u8], compression: Compression) -> Vec<u8> {
    match compression {
        Compression::Gzip => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(data).unwrap();
            e.finish().unwrap()
        }
        Compression::Bzip2 => {
            let mut e = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::fast());
            e.write_all(data).unwrap();
            e.finish().unwrap()
        }
        Compression::Xz => {
            let mut e = liblzma::write::XzEncoder::new(Vec::new(), 1);
            e.write_all(data).unwrap();
            e.finish().unwrap()
        }
    }
}

/// What `.working/` holds, sorted.
fn working(sandbox: &Sandbox) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(sandbox.backend().join(".working"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Checks that `stored` is a read-only qcow2 file with `original`'s (raw) contents: with
/// qemu-img (`info`, `compare`) when it is installed (required under `CI=true`), else by its
/// magic.
fn assert_same_disk(stored: &Path, original: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(stored).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o444);
    assert!(std::fs::read(stored).unwrap().starts_with(b"QFI\xfb"));
    if !strata_testkit::have("retrieve: qemu-img compare", &["qemu-img"]) {
        return;
    }
    let info = Command::new("qemu-img")
        .args(["info", "-U", "--output=json"])
        .arg(stored)
        .output()
        .unwrap();
    assert!(info.status.success(), "{info:?}");
    let info: serde_json::Value = serde_json::from_slice(&info.stdout).unwrap();
    assert_eq!(info["format"], "qcow2");
    assert_eq!(
        info["virtual-size"],
        std::fs::metadata(original).unwrap().len()
    );
    let compare = Command::new("qemu-img")
        .args(["compare", "-U", "-f", "raw", "-F", "qcow2"])
        .arg(original)
        .arg(stored)
        .output()
        .unwrap();
    assert!(compare.status.success(), "{compare:?}");
}

#[test]
fn a_name_in_the_backend_is_its_file_and_nothing_is_said() {
    let sandbox = Sandbox::new();
    let path = sandbox.image("generic/alpine38:v3.0.2", 1 << 20);
    // Whatever the protocol: the backend is looked at first.
    for spec in [
        "generic/alpine38:v3.0.2",
        "generic/alpine38:v3.0.2,file=/does/not/exist",
        "generic/alpine38:v3.0.2,http=http://127.0.0.1:1/x",
    ] {
        let (result, out) = fetch(&sandbox, spec);
        assert_eq!(result.unwrap(), path, "{spec}");
        assert_eq!(out, "", "{spec}");
    }
}

#[test]
fn file_images_plain_gzip_bzip2_xz_become_qcow2_images() {
    let sandbox = Sandbox::new();
    let original = sandbox.path("disk.img");
    let bytes = raw_image(&original);
    let mut sources = vec![("plain".to_owned(), original.clone())];
    for compression in [Compression::Gzip, Compression::Bzip2, Compression::Xz] {
        let path = sandbox.path(&format!("disk.img.{compression}"));
        std::fs::write(&path, compress(&bytes, compression)).unwrap();
        sources.push((compression.to_string(), path));
    }
    for (name, source) in &sources {
        let spec = format!("{name},file={}", source.display());
        let (result, out) = fetch(&sandbox, &spec);
        let stored = result.unwrap_or_else(|e| panic!("{spec}: {e}"));
        assert_eq!(stored, sandbox.backend().join(enc(name)));
        assert_eq!(
            out,
            format!(
                "Unable to find image '{name}' in backend\nCopying '{}' as new backend \
                 '{name}'\n",
                source.display()
            )
        );
        assert_same_disk(&stored, &original);
        // A second retrieval finds it.
        let (again, out) = fetch(&sandbox, &spec);
        assert_eq!(again.unwrap(), stored);
        assert_eq!(out, "");
    }
    // Nothing is left in .working/ but transient's lock files.
    assert_eq!(working(&sandbox), ["bzip2", "gzip", "plain", "xz"]);
    // The source was not touched.
    assert_eq!(std::fs::read(&original).unwrap(), bytes);
}

/// A server on 127.0.0.1 that answers `GET /NAME` with `files`' body for NAME, 404 for any
/// other path, for `requests` requests; returns its base URL.
fn serve(files: Vec<(&'static str, Vec<u8>)>, requests: usize) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming().take(requests) {
            let mut stream = stream.unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request_line = String::new();
            reader.read_line(&mut request_line).unwrap();
            // The headers, up to the blank line.
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap() == 0 || line == "\r\n" {
                    break;
                }
            }
            let path = request_line.split(' ').nth(1).unwrap_or("");
            let found = files.iter().find(|(name, _)| path == format!("/{name}"));
            let (status, body) = match found {
                Some((_, body)) => ("200 OK", &body[..]),
                None => ("404 Not Found", &b"not here"[..]),
            };
            let head = format!(
                "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            // A client that went away is not the server's failure.
            let _ = stream
                .write_all(head.as_bytes())
                .and_then(|()| stream.write_all(body));
        }
    });
    base
}

#[test]
fn http_images_are_downloaded_and_decompressed() {
    let sandbox = Sandbox::new();
    let original = sandbox.path("disk.img");
    let bytes = raw_image(&original);
    let base = serve(
        vec![
            ("disk.img", bytes.clone()),
            ("disk.img.xz", compress(&bytes, Compression::Xz)),
            ("disk.img.gz", compress(&bytes, Compression::Gzip)),
        ],
        4,
    );
    for (name, file) in [
        ("over-http", "disk.img"),
        ("over/http:xz", "disk.img.xz"),
        ("gz", "disk.img.gz"),
    ] {
        let url = format!("{base}/{file}");
        let (result, out) = fetch(&sandbox, &format!("{name},http={url}"));
        let stored = result.unwrap_or_else(|e| panic!("{url}: {e}"));
        assert_eq!(stored, sandbox.backend().join(enc(name)));
        assert_eq!(
            out,
            format!("Unable to find image '{name}' in backend\nDownloading image from '{url}'\n")
        );
        assert_same_disk(&stored, &original);
    }
    // A 404 names the URL and the status; nothing is kept.
    let url = format!("{base}/missing.img");
    let (result, out) = fetch(&sandbox, &format!("missing,https={url}"));
    let err = result.unwrap_err();
    assert_eq!(
        Transient::text(&err),
        format!("Unable to download '{url}': HTTP 404 Not Found")
    );
    assert_eq!(err.kind(), Some(ErrorKind::NotFound));
    assert_eq!(Transient::code(&err), 66);
    assert!(out.ends_with(&format!("Downloading image from '{url}'\n")));
    assert!(!sandbox.backend().join("missing").exists());
    assert_eq!(
        working(&sandbox),
        ["gz", "missing", "over%2Dhttp", "over%2Fhttp%3Axz"]
    );
}

#[test]
fn an_unreachable_server_is_a_download_error() {
    let sandbox = Sandbox::new();
    // A port nothing listens on: bind one, then free it.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}/x.img");
    let (result, _) = fetch(&sandbox, &format!("x,http={url}"));
    let err = result.unwrap_err();
    assert!(matches!(err, Error::Download { .. }), "{err:?}");
    assert!(
        Transient::text(&err).starts_with(&format!("Unable to download '{url}': ")),
        "{}",
        Transient::text(&err)
    );
    assert_eq!(Transient::code(&err), 74);
    assert_eq!(working(&sandbox), ["x"]);
}

#[test]
fn vagrant_images_are_refused_with_transients_words_first() {
    let sandbox = Sandbox::new();
    let cases = [
        // No protocol: vagrant, the name as the box.
        (
            "alpine",
            "No image named alpine found in the backend, and no version provided, so \
                    it cannot be downloaded.",
            66,
        ),
        (
            "base,vagrant=generic/alpine38",
            "No image named generic/alpine38 found in the \
                    backend, and no version provided, so it cannot be downloaded.",
            66,
        ),
        (
            "centos/7:2004.01",
            "Unable to retrieve 'centos/7:2004.01': strata does not download \
                    Vagrant Cloud boxes; give the image's source with ',file=PATH' or \
                    ',http=URL', or name an image already in the backend",
            69,
        ),
        (
            "base,VAGRANT=generic/alpine38:v3.0.2",
            "Unable to retrieve \
                    'base,VAGRANT=generic/alpine38:v3.0.2': strata does not download Vagrant \
                    Cloud boxes; give the image's source with ',file=PATH' or ',http=URL', or \
                    name an image already in the backend",
            69,
        ),
    ];
    for (spec, text, code) in cases {
        let (result, out) = fetch(&sandbox, spec);
        let err = result.unwrap_err();
        assert_eq!(Transient::text(&err), text, "{spec}");
        assert_eq!(Transient::code(&err), code, "{spec}");
        let name = spec.split(',').next().unwrap();
        assert_eq!(out, format!("Unable to find image '{name}' in backend\n"));
    }
    let backend = FlatBackend::open(&sandbox.backend()).unwrap();
    assert!(backend.images().unwrap().is_empty());
}

#[test]
fn a_corrupt_or_hostile_source_leaves_no_image_and_no_temporary_file() {
    let sandbox = Sandbox::new();
    let original = sandbox.path("disk.img");
    let bytes = raw_image(&original);

    // A gzip stream cut short, and one with a flipped byte in its data.
    let gz = compress(&bytes, Compression::Gzip);
    let truncated = sandbox.path("truncated.img.gz");
    std::fs::write(&truncated, &gz[..gz.len() / 2]).unwrap();
    let mut flipped = gz.clone();
    let middle = flipped.len() / 2;
    flipped[middle] ^= 0xff;
    flipped[middle + 1] ^= 0x55;
    let corrupt = sandbox.path("corrupt.img.gz");
    std::fs::write(&corrupt, &flipped).unwrap();
    // Truncated bzip2 and xz streams.
    let bz = compress(&bytes, Compression::Bzip2);
    let short_bz = sandbox.path("short.img.bz2");
    std::fs::write(&short_bz, &bz[..bz.len() - 10]).unwrap();
    let xz = compress(&bytes, Compression::Xz);
    let short_xz = sandbox.path("short.img.xz");
    std::fs::write(&short_xz, &xz[..xz.len() - 10]).unwrap();
    for (name, path, compression) in [
        ("truncated", &truncated, Compression::Gzip),
        ("corrupt", &corrupt, Compression::Gzip),
        ("shortbz", &short_bz, Compression::Bzip2),
        ("shortxz", &short_xz, Compression::Xz),
    ] {
        let (result, _) = fetch(&sandbox, &format!("{name},file={}", path.display()));
        let err = result.unwrap_err();
        assert!(
            matches!(&err, Error::Decompress { compression: c, .. } if *c == compression),
            "{name}: {err:?}"
        );
        assert_eq!(Transient::code(&err), 65, "{name}");
        assert!(
            Transient::text(&err).starts_with(&format!(
                "Unable to decompress '{}' ({compression}): ",
                path.display()
            )),
            "{}",
            Transient::text(&err)
        );
    }

    // A LUKS container, compressed: decompressed fine, refused by the core's probe.
    let mut luks = b"LUKS\xba\xbe\x00\x02".to_vec();
    luks.resize(1 << 20, 0);
    let hostile = sandbox.path("luks.img.xz");
    std::fs::write(&hostile, compress(&luks, Compression::Xz)).unwrap();
    let (result, _) = fetch(&sandbox, &format!("luks,file={}", hostile.display()));
    let err = result.unwrap_err();
    assert!(matches!(err, Error::Import { .. }), "{err:?}");
    assert!(
        Transient::text(&err).starts_with(&format!(
            "Unable to import '{}' as backend image 'luks': ",
            hostile.display()
        )),
        "{}",
        Transient::text(&err)
    );

    // A missing file.
    let (result, _) = fetch(&sandbox, "gone,file=/does/not/exist.img");
    let err = result.unwrap_err();
    assert!(matches!(err, Error::SourceRead { .. }), "{err:?}");
    assert_eq!(Transient::code(&err), 66);

    let backend = FlatBackend::open(&sandbox.backend()).unwrap();
    assert!(backend.images().unwrap().is_empty());
    assert_eq!(
        working(&sandbox),
        ["corrupt", "gone", "luks", "shortbz", "shortxz", "truncated"]
    );
}

#[test]
fn the_backend_is_looked_at_again_once_the_lock_is_held() {
    let sandbox = Sandbox::new();
    std::fs::create_dir_all(sandbox.backend()).unwrap();
    let backend = FlatBackend::open(&sandbox.backend()).unwrap();
    // Another process is retrieving `base`: it holds the lock...
    let lock = backend.lock_image("base").unwrap();
    let settings = settings(&sandbox);
    let waiting = std::thread::spawn(move || {
        let spec: ImageSpec = "base,file=/does/not/exist".parse().unwrap();
        let mut out = Vec::new();
        let result = retrieve(&settings, &spec, &mut out);
        (result, String::from_utf8(out).unwrap())
    });
    std::thread::sleep(std::time::Duration::from_millis(300));
    // ...and stores it before letting go.
    let path = sandbox.image("base", 1 << 20);
    drop(lock);
    let (result, out) = waiting.join().unwrap();
    assert_eq!(result.unwrap(), path);
    assert_eq!(out, "Unable to find image 'base' in backend\n");
}
