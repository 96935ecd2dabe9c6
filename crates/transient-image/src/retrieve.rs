//! [`retrieve`]: makes sure the image a FROM names ([`ImageSpec`], `NAME[,PROTO=SOURCE]`) is
//! in transient's backend, fetching it if not, as transient's
//! `BackendImageStore.retrieve_image` and `BaseImageProtocol.retrieve_image` do
//! (transient/store.py, v0.25).
//!
//! 1. A name the backend holds is its file; nothing is said.
//! 2. Otherwise `Unable to find image 'NAME' in backend` is said, transient's per-image lock
//!    (`.working/<enc(NAME)>`, a blocking flock) is taken, and the backend is looked at again:
//!    another process may have fetched it meanwhile.
//! 3. The source is read as a stream: a `file=` path, or an `http=`/`https=` URL (reqwest; a
//!    status other than 2xx is an error naming the URL and the status). gzip, bzip2 and xz are
//!    recognised by their magic bytes, as transient's `StreamDecompressor` does, and
//!    decompressed into a private directory inside `.working/`, removed on every path. An
//!    uncompressed file is not copied.
//! 4. The core imports the result into the backend (`Strata::import`, the format from
//!    [`strata::probe`]): it checks that the bytes are a disk image it accepts, converts them
//!    to qcow2 in `.working/`, fsyncs, makes the file 0444 and renames it into place, so a
//!    failed or interrupted retrieval leaves no image under NAME.
//!
//! Vagrant Cloud is not reached: a vagrant image (no protocol, or `vagrant=`) that the backend
//! lacks is [`Error::VagrantUnsupported`], after transient's own [`Error::NoVersion`] for a box
//! without `:VERSION`.
//!
//! Differences from transient, on purpose:
//! - transient holds the lock across the download and `qemu-img convert`; here it is held
//!   while the source is read and decompressed, then released for the core's import, which
//!   takes the same lock again while it writes the qcow2 (flock locks of one process exclude
//!   each other, so it cannot be held across both). A process that fetches the same name in
//!   between finds the name taken when it imports, which counts as done: the image is there.
//! - A concatenation of gzip, bzip2 or xz streams is read whole (transient stops after the
//!   first gzip member).
//! - transient downloads into the lock file and removes it on success; here lock files stay
//!   (as the core's other writers leave them) and hold no data.
//! - Progress bars are not drawn.

use std::cell::Cell;
use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::Once;
use std::time::Duration;

pub use strata::Compression;
use strata::{DiskFormat, ImportRequest, NewImageTarget, NoProgress, Probe};
use strata_build::imagefile::{ImageSpec, Protocol};
use strata_store::{FlatBackend, StoreError};
use tempfile::TempDir;

use crate::error::Error;
use crate::settings::{BACKEND, Settings};
use crate::words;

/// Bytes read from a source at a time (transient's `_BLOCK_TRANSFER_SIZE`).
const BLOCK: usize = 64 << 10;

/// How long an `http=` server may take to connect.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// How long an `http=` transfer may go without a byte (strata-oci's registry default).
const STALL_TIMEOUT: Duration = Duration::from_secs(60);

/// Makes sure the image `spec` names is in the backend of `settings` and returns its file:
/// see the module documentation. transient's lines (`Unable to find image ...`, `Copying ...`,
/// `Downloading ...`, which transient prints on standard output) are written to `out`.
pub fn retrieve(
    settings: &Settings,
    spec: &ImageSpec,
    out: &mut dyn Write,
) -> Result<PathBuf, Error> {
    let backend = FlatBackend::open(&settings.backend).map_err(store)?;
    let name = spec.name();
    if backend.contains(name).map_err(store)? {
        return backend.get(name).map_err(store);
    }
    say(out, &words::not_in_backend(name))?;
    let lock = backend.lock_image(name).map_err(store)?;
    if backend.contains(name).map_err(store)? {
        tracing::info!("retrieval of {name} completed by another process");
        return backend.get(name).map_err(store);
    }
    let location = spec.location();
    let staged = match spec.protocol() {
        Protocol::Vagrant => {
            // transient splits the box from its version at the first `:`.
            return Err(if location.contains(':') {
                Error::VagrantUnsupported {
                    spec: spec.to_string(),
                }
            } else {
                Error::NoVersion {
                    location: location.to_owned(),
                }
            });
        }
        Protocol::File => {
            say(out, &words::copying(location, name))?;
            stage_file(Path::new(location), &backend.working_dir())?
        }
        Protocol::Http => {
            say(out, &words::downloading(location))?;
            stage_url(location, &backend.working_dir())?
        }
    };
    // The core's import takes the same lock while it writes the image.
    drop(lock);
    import(settings, &backend, name, location, &staged.path)
}

/// Writes `line` and a newline to `out`.
fn say(out: &mut dyn Write, line: &str) -> Result<(), Error> {
    writeln!(out, "{line}")
        .and_then(|()| out.flush())
        .map_err(Error::Output)
}

/// A store error as the core reports it.
fn store(error: StoreError) -> Error {
    Error::Core(error.into())
}

/// An operating-system error on a file of `.working/`.
fn working_io(op: &'static str, path: &Path, source: io::Error) -> Error {
    Error::Core(strata::Error::Io {
        op,
        path: path.to_owned(),
        source,
    })
}

/// A retrieved image ready for the core: its file, and the private directory in `.working/`
/// that holds it when it was decompressed or downloaded (removed when dropped).
#[derive(Debug)]
struct Staged {
    path: PathBuf,
    _dir: Option<TempDir>,
}

/// Where a stream comes from, for its errors.
#[derive(Debug, Clone, Copy)]
enum Origin<'a> {
    File(&'a Path),
    Url(&'a str),
}

impl Origin<'_> {
    /// The error of a failed read of the source itself.
    fn failed(self, source: io::Error) -> Error {
        match self {
            Origin::File(path) => Error::SourceRead {
                path: path.to_owned(),
                source,
            },
            Origin::Url(url) => Error::Download {
                url: url.to_owned(),
                source: Box::new(source),
            },
        }
    }

    /// The file or URL, as given.
    fn location(self) -> String {
        match self {
            Origin::File(path) => path.display().to_string(),
            Origin::Url(url) => url.to_owned(),
        }
    }
}

/// A `file=` image: the file itself when it is not compressed, else its decompressed copy.
fn stage_file(path: &Path, working: &Path) -> Result<Staged, Error> {
    let origin = Origin::File(path);
    let mut file = File::open(path).map_err(|e| origin.failed(e))?;
    let head = read_head(&mut file).map_err(|e| origin.failed(e))?;
    match Compression::detect(&head) {
        None => Ok(Staged {
            path: path.to_owned(),
            _dir: None,
        }),
        Some(compression) => unpack(
            io::Cursor::new(head).chain(file),
            Some(compression),
            origin,
            working,
        ),
    }
}

/// An `http=` image, downloaded (and decompressed) into `.working/`.
fn stage_url(url: &str, working: &Path) -> Result<Staged, Error> {
    let origin = Origin::Url(url);
    let mut download = Download::start(url)?;
    let head = read_head(&mut download).map_err(|e| origin.failed(e))?;
    let compression = Compression::detect(&head);
    unpack(
        io::Cursor::new(head).chain(download),
        compression,
        origin,
        working,
    )
}

/// The first [`Compression::MAGIC_LEN`] bytes of `input` (fewer if it is shorter).
fn read_head(input: &mut dyn Read) -> io::Result<Vec<u8>> {
    let mut head = Vec::with_capacity(Compression::MAGIC_LEN);
    input
        .take(Compression::MAGIC_LEN as u64)
        .read_to_end(&mut head)?;
    Ok(head)
}

/// Writes `input`, decompressed when `compression` says so, into a new private directory of
/// `working`, a block at a time. A failure reading the source is the source's error; any
/// other failure of the decoder is [`Error::Decompress`].
fn unpack(
    input: impl Read,
    compression: Option<Compression>,
    origin: Origin<'_>,
    working: &Path,
) -> Result<Staged, Error> {
    let dir = tempfile::Builder::new()
        .prefix("partial-retrieve-")
        .tempdir_in(working)
        .map_err(|e| working_io("create a directory in", working, e))?;
    let path = dir.path().join("image");
    let mut output = File::create_new(&path).map_err(|e| working_io("create", &path, e))?;
    let source_failed = Rc::new(Cell::new(false));
    let watched = Watched {
        inner: input,
        failed: Rc::clone(&source_failed),
    };
    let mut reader: Box<dyn Read + '_> = match compression {
        Some(compression) => compression.decoder(watched),
        None => Box::new(watched),
    };
    let mut block = vec![0u8; BLOCK];
    loop {
        let n = match reader.read(&mut block) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                return Err(match compression {
                    Some(compression) if !source_failed.get() => Error::Decompress {
                        location: origin.location(),
                        compression,
                        source: e,
                    },
                    _ => origin.failed(e),
                });
            }
        };
        output
            .write_all(&block[..n])
            .map_err(|e| working_io("write", &path, e))?;
    }
    Ok(Staged {
        path,
        _dir: Some(dir),
    })
}

/// A reader that notes whether its source failed, so that a decoder's error can be told apart
/// from the source's.
struct Watched<R> {
    inner: R,
    failed: Rc<Cell<bool>>,
}

impl<R: Read> Read for Watched<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(buf).inspect_err(|e| {
            if e.kind() != io::ErrorKind::Interrupted {
                self.failed.set(true);
            }
        })
    }
}

/// rustls needs a process-wide crypto provider; ring's is installed unless one already is.
fn install_crypto_provider() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // An error means another provider is installed already, which is as good.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// An `http=` download as a sync reader: the response's body a chunk at a time, on a
/// current-thread tokio runtime; a transfer that makes no progress for [`STALL_TIMEOUT`]
/// fails. Redirects are followed (reqwest's default, as transient's `allow_redirects`); the
/// proxy variables are honoured, as requests does.
struct Download {
    rt: tokio::runtime::Runtime,
    response: reqwest::Response,
    pending: Vec<u8>,
    consumed: usize,
}

impl Download {
    /// Sends the request and checks the status.
    fn start(url: &str) -> Result<Download, Error> {
        let failed = |source: Box<dyn std::error::Error + Send + Sync>| Error::Download {
            url: url.to_owned(),
            source,
        };
        install_crypto_provider();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| failed(Box::new(e)))?;
        let client = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .user_agent(concat!("strata/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| failed(Box::new(e)))?;
        let response = rt
            .block_on(async { tokio::time::timeout(STALL_TIMEOUT, client.get(url).send()).await })
            .map_err(|_| failed(stalled().into()))?
            .map_err(|e| failed(Box::new(e)))?;
        let status = response.status();
        if !status.is_success() {
            return Err(Error::HttpStatus {
                url: url.to_owned(),
                status: status.as_u16(),
                reason: status.canonical_reason(),
            });
        }
        Ok(Download {
            rt,
            response,
            pending: Vec::new(),
            consumed: 0,
        })
    }
}

/// The error of a transfer that made no progress for [`STALL_TIMEOUT`].
fn stalled() -> io::Error {
    io::Error::new(
        io::ErrorKind::TimedOut,
        format!("no data for {} s", STALL_TIMEOUT.as_secs()),
    )
}

impl Read for Download {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.consumed == self.pending.len() {
            let response = &mut self.response;
            let next = self
                .rt
                .block_on(async { tokio::time::timeout(STALL_TIMEOUT, response.chunk()).await })
                .map_err(|_| stalled())?
                .map_err(io::Error::other)?;
            match next {
                Some(chunk) => {
                    self.pending.clear();
                    self.pending.extend_from_slice(&chunk);
                    self.consumed = 0;
                }
                None => return Ok(0),
            }
        }
        let available = &self.pending[self.consumed..];
        let n = available.len().min(buf.len());
        buf[..n].copy_from_slice(&available[..n]);
        self.consumed += n;
        Ok(n)
    }
}

/// Imports the staged file at `path` into the backend as `name`, in the format its header
/// shows, and returns the image's file. A name another process stored meanwhile is that
/// process's image.
fn import(
    settings: &Settings,
    backend: &FlatBackend,
    name: &str,
    location: &str,
    path: &Path,
) -> Result<PathBuf, Error> {
    let failed = |source: strata::Error| Error::Import {
        location: location.to_owned(),
        name: name.to_owned(),
        source: Box::new(source),
    };
    // Anything but a regular file is refused by the import itself, which says so.
    let format = match strata::probe(path).map_err(failed)? {
        Probe::File(Some(format)) => format,
        _ => DiskFormat::Raw,
    };
    let mut request = ImportRequest::disk(path, format, name);
    request.dest = NewImageTarget::named(name).in_store(BACKEND);
    match settings.strata.import(request, &NoProgress) {
        Ok(outcome) => tracing::info!(
            "retrieved {location} as {name} ({} bytes stored)",
            outcome.stored_size
        ),
        Err(strata::Error::ImageExists { .. }) if backend.contains(name).map_err(store)? => {
            tracing::info!("retrieval of {name} completed by another process");
        }
        Err(e) => return Err(failed(e)),
    }
    backend.get(name).map_err(store)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_short_source_has_a_short_head() {
        assert_eq!(read_head(&mut &b"ab"[..]).unwrap(), b"ab");
        assert_eq!(read_head(&mut &b"0123456789"[..]).unwrap(), b"012345");
    }

    #[test]
    fn a_corrupt_stream_is_a_decompress_error_and_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let origin = Origin::File(Path::new("/x.gz"));
        let err = unpack(
            &b"\x1f\x8b\x08\0garbage"[..],
            Some(Compression::Gzip),
            origin,
            dir.path(),
        )
        .unwrap_err();
        assert!(
            matches!(
                err,
                Error::Decompress {
                    compression: Compression::Gzip,
                    ..
                }
            ),
            "{err:?}"
        );
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn a_failing_source_is_the_sources_error_not_the_decoders() {
        struct Broken;
        impl Read for Broken {
            fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
                Err(io::Error::other("disk on fire"))
            }
        }
        let dir = tempfile::tempdir().unwrap();
        let err = unpack(
            Broken,
            Some(Compression::Xz),
            Origin::File(Path::new("/x.xz")),
            dir.path(),
        )
        .unwrap_err();
        assert!(matches!(err, Error::SourceRead { .. }), "{err:?}");
        let err = unpack(Broken, None, Origin::Url("http://h/x"), dir.path()).unwrap_err();
        assert!(matches!(err, Error::Download { .. }), "{err:?}");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
