//! The `docker://` transport: pull images from and push them to a registry speaking the
//! distribution API v2 (Docker Hub, quay.io, `docker-registry`, zot, Harbor ...), with a sync
//! API over blob stores ([`BlobRead`], [`BlobWrite`]).
//!
//! Protocol choices:
//! - HTTP/1.1 is reqwest (rustls with the ring provider; no transparent decompression)
//!   driven by a current-thread tokio runtime owned by the [`Registry`], on the caller's
//!   thread (name resolution may use tokio's blocking pool). The distribution API on top of it
//!   is strata's own (`session.rs`, `transport.rs`), so that every answer is bounded: the
//!   oci-client crate, used before, reads manifests, token answers and error bodies whole
//!   (`Response::bytes`) with no way to cap them, and a registry sending an endless manifest
//!   grew strata's memory at 110 MB/s; it also named the registry's `Docker-Content-Digest` as
//!   the expected digest in a mismatch.
//! - https with certificate verification by default; with `tls_verify: false`, https is
//!   tried without verifying certificates and plain http is used when https cannot connect,
//!   as containers/image does for `--tls-verify=false`.
//! - Pull: the manifest is fetched by tag or digest (and checked against the digest when the
//!   reference names one); an image index or Docker manifest list is resolved by [`Platform`]
//!   (nested indexes up to [`crate::image::MAX_INDEX_DEPTH`]); the config and each layer the
//!   sink lacks stream into it through a verifying reader, so a blob whose digest or size is
//!   wrong is refused ([`crate::ErrorKind::IntegrityMismatch`]) and nothing of it is stored. A
//!   dropped connection resumes with a `Range` request (or restarts, skipping what was already
//!   read, when the registry ignores ranges). Blobs move one at a time.
//! - Push: each blob is checked with `HEAD` and skipped when present; otherwise mounted from
//!   [`PushOptions::mount_from`] (same registry, `POST ?mount=&from=`) when given, and uploaded
//!   when the mount is refused; uploads are streamed (`POST`, one `PATCH` with the whole blob,
//!   `PUT`: Docker's and skopeo's way, the default), monolithic (`POST` then one `PUT`) or
//!   chunked (`PATCH` per chunk), per [`Upload`]. The manifest goes last, by tag or digest.
//! - Auth: anonymous, or basic credentials ([`Credentials`], looked up in auth files by
//!   default), learnt from the registry's first `401`: a `Basic` challenge gets them on every
//!   request; a `Bearer` challenge gets them exchanged for a token (per repository, `pull` or
//!   `pull,push`, renewed before it expires).
//! - Retries: 5xx, 408, 429 and transport errors are retried with exponential backoff, at most
//!   [`Retry::attempts`] times; authentication failures and 4xx are not.
//! - Hostile registries: every answer read into memory is capped before it is buffered
//!   (manifests and indexes at [`crate::image::MAX_MANIFEST_SIZE`], the config at
//!   [`crate::image::MAX_CONFIG_SIZE`] and its descriptor's size, token answers at
//!   [`MAX_TOKEN_RESPONSE`]; error bodies are cut at [`MAX_ERROR_BODY`]); a blob is read up
//!   to its descriptor's size and refused when its `Content-Length` or its bytes go past it; a
//!   request that gets no answer, or a transfer that makes no progress, for
//!   [`RegistryOptions::stall_timeout`] fails like a dropped connection (and is retried as
//!   one). A digest mismatch names the digest asked for as expected and the bytes' as got.
//!
//! Limits: credential helpers are not run (see [`auth`]); blobs with `urls` (foreign layers)
//! are fetched from the registry only. Tokens are scoped to one repository, so with token auth
//! a registry refuses a mount (it needs pull access to the source too) and the blob is
//! uploaded. No proxy is used (`HTTPS_PROXY` is not read).

pub mod auth;
mod challenge;
pub(crate) mod manage;
pub mod reference;
mod session;
mod transport;

use std::collections::{HashMap, HashSet};
use std::io::Read;
use std::sync::{Arc, Mutex, Once};
use std::time::Duration;

use oci_spec::image::{Descriptor, MediaType};
use reqwest::header::{CONTENT_LENGTH, CONTENT_TYPE};
use reqwest::{StatusCode, Url};
use strata_model::Digest;

pub use auth::{AuthFiles, Credentials};
pub use manage::{BlobPush, MAX_TAGS};
pub use reference::RegistryRef;
pub use session::{MAX_ERROR_BODY, MAX_TOKEN_RESPONSE};
pub use transport::Retry;

use crate::blob::{BlobRead, BlobWrite, Expected};
use crate::error::{OciError, Result};
use crate::image::{
    DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, Image, MAX_CONFIG_SIZE, MAX_INDEX_DEPTH, OCI_INDEX,
    OCI_MANIFEST, Platform, expected_of, parse_index, select_platform,
};
use crate::verify::{VerifyingReader, digest_bytes, read_capped};
use session::{Access, Session};
use transport::{BlobDownload, Failure, upload, with_retry};

/// The manifest media types a pull accepts.
const ACCEPTED_MANIFESTS: &[&str] = &[
    OCI_MANIFEST,
    OCI_INDEX,
    DOCKER_MANIFEST,
    DOCKER_MANIFEST_LIST,
];

/// How blobs are uploaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Upload {
    /// One `PATCH` with the whole blob as its body (streamed, not held in memory, without
    /// `Content-Range`), then a `PUT` that closes the upload: how Docker and containers/image
    /// (skopeo, which pcocc runs) upload, so any registry they push to takes it. The default:
    /// one request per blob, where [`Upload::Chunked`] waits for the registry's answer to each
    /// chunk before it sends the next.
    Streamed,
    /// One `PUT` with the whole blob as its body (streamed, not held in memory).
    Monolithic,
    /// One `PATCH` per `chunk_size` bytes, then a `PUT` that closes the upload.
    Chunked {
        /// Bytes per `PATCH` request.
        chunk_size: usize,
    },
}

/// Default chunk size of chunked uploads: 4 MiB, held in memory while its `PATCH` is sent.
pub const DEFAULT_CHUNK_SIZE: usize = 4 << 20;

/// The largest chunk accepted (a larger [`Upload::Chunked`] size is cut to it): 64 MiB, the
/// memory a chunked upload holds at most.
pub const MAX_CHUNK_SIZE: usize = 64 << 20;

/// How a [`Registry`] connects.
#[derive(Debug, Clone)]
pub struct RegistryOptions {
    /// Require https and verify certificates (`--tls-verify`, default true). When false, https
    /// is tried without verification, then plain http.
    pub tls_verify: bool,
    /// Where credentials come from.
    pub credentials: Credentials,
    /// How blobs are uploaded.
    pub upload: Upload,
    /// Retries of failed requests and interrupted downloads.
    pub retry: Retry,
    /// Connect timeout of each request.
    pub connect_timeout: Duration,
    /// Stall timeout: how long a request may wait for its answer, a body for its next bytes,
    /// or an upload for the registry to take more, before it fails like a dropped connection
    /// (and is retried as one, within [`RegistryOptions::retry`]). It bounds waits, not
    /// transfers: a slow link that keeps moving is never cut. Default
    /// [`DEFAULT_STALL_TIMEOUT`].
    pub stall_timeout: Duration,
}

/// Default [`RegistryOptions::stall_timeout`]: a minute without a byte moving. Long enough for
/// a registry that commits a large upload before answering, or a congested link; short enough
/// that a registry that stopped talking is noticed within a few minutes, retries included.
pub const DEFAULT_STALL_TIMEOUT: Duration = Duration::from_secs(60);

impl Default for RegistryOptions {
    fn default() -> Self {
        RegistryOptions {
            tls_verify: true,
            credentials: Credentials::default(),
            upload: Upload::Streamed,
            retry: Retry::default(),
            connect_timeout: Duration::from_secs(30),
            stall_timeout: DEFAULT_STALL_TIMEOUT,
        }
    }
}

/// What a pull fetched.
#[derive(Debug, Clone)]
pub struct Pulled {
    /// The image, for the platform asked when the reference named an index. Its manifest, config
    /// and layers are in the sink.
    pub image: Image,
    /// The bytes of the index the reference named, if it named one (not stored in the sink: it
    /// lists manifests for other platforms that were not fetched).
    pub index_bytes: Option<Vec<u8>>,
    /// Blobs (config and layers) stored into the sink.
    pub fetched: u64,
    /// Blobs the sink already held (the config is still read: it is part of [`Pulled::image`]).
    pub skipped: u64,
    /// Times a blob download was resumed or restarted after an interruption.
    pub resumed: u64,
}

/// Where a push may mount blobs from.
#[derive(Debug, Clone, Default)]
pub struct PushOptions {
    /// A repository on the same registry that holds the image's blobs (the one it was pulled
    /// from); blobs missing in the destination are mounted from it rather than uploaded.
    pub mount_from: Option<RegistryRef>,
}

/// What a push did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pushed {
    /// The digest of the manifest pushed.
    pub manifest_digest: Digest,
    /// Blobs uploaded.
    pub uploaded: u64,
    /// Blobs the registry already had in the repository.
    pub skipped: u64,
    /// Blobs mounted from [`PushOptions::mount_from`].
    pub mounted: u64,
}

/// A manifest as a registry serves it.
#[derive(Debug, Clone)]
pub struct RemoteManifest {
    /// Its bytes.
    pub bytes: Vec<u8>,
    /// Its media type (from its `mediaType`, or guessed from its fields when it has none).
    pub media_type: String,
    /// Its digest, computed from the bytes.
    pub digest: Digest,
}

/// What resolving a reference found (see [`Registry::resolve`]).
struct Resolved {
    image: Image,
    index_bytes: Option<Vec<u8>>,
    config: Expected,
    resumed: u64,
}

/// The blobs of one registry repository, read through a shared [`Registry`]: a [`BlobRead`]
/// whose streams are verified against their digest and size, and resume after a dropped
/// connection as [`Registry::pull`]'s do.
#[derive(Debug, Clone)]
pub struct RegistryBlobs {
    registry: Arc<Registry>,
    reference: RegistryRef,
}

impl RegistryBlobs {
    /// The blobs of `reference`'s repository.
    pub fn new(registry: Arc<Registry>, reference: RegistryRef) -> Self {
        RegistryBlobs {
            registry,
            reference,
        }
    }
}

impl BlobRead for RegistryBlobs {
    fn open_blob(&self, digest: &Digest, size: u64) -> Result<Box<dyn Read + '_>> {
        let exp = Expected {
            digest: digest.clone(),
            size,
        };
        let download = self.registry.download(&self.reference, &exp)?;
        let what = format!("{}: blob {digest}", self.reference);
        Ok(Box::new(VerifyingReader::new(
            download,
            what,
            digest.clone(),
            size,
        )))
    }
}

/// A client of distribution-API registries.
pub struct Registry {
    options: RegistryOptions,
    rt: tokio::runtime::Runtime,
    http: reqwest::Client,
    /// Per registry host and repository (credentials may differ per repository).
    sessions: Mutex<HashMap<(String, String), Arc<Session>>>,
    /// Per registry host: whether it is spoken to over plain http.
    plain_http: Mutex<HashMap<String, bool>>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("options", &self.options)
            .finish_non_exhaustive()
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

impl Registry {
    /// A client with these options.
    pub fn new(options: RegistryOptions) -> Result<Registry> {
        install_crypto_provider();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| OciError::from_io("tokio runtime", "create", e))?;
        let http = reqwest::Client::builder()
            .danger_accept_invalid_certs(!options.tls_verify)
            .connect_timeout(options.connect_timeout)
            .user_agent(concat!("strata/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| OciError::Connection {
                registry: String::new(),
                op: "create HTTP client".to_owned(),
                attempts: 1,
                source: Box::new(e),
            })?;
        Ok(Registry {
            options,
            rt,
            http,
            sessions: Mutex::new(HashMap::new()),
            plain_http: Mutex::new(HashMap::new()),
        })
    }

    /// The options this client uses.
    pub fn options(&self) -> &RegistryOptions {
        &self.options
    }

    /// Whether `host` is spoken to over plain http: never with `tls_verify`; otherwise when an
    /// https request to `/v2/` cannot connect (answered once per host).
    fn is_plain_http(&self, host: &str) -> Result<bool> {
        if self.options.tls_verify {
            return Ok(false);
        }
        if let Some(known) = self.lock_http()?.get(host) {
            return Ok(*known);
        }
        let url = format!("https://{host}/v2/");
        // Any answer, even an error, means https works; the body is not read.
        let https_ok = self.rt.block_on(async {
            tokio::time::timeout(self.options.connect_timeout, self.http.get(&url).send())
                .await
                .is_ok_and(|r| r.is_ok())
        });
        if !https_ok {
            tracing::info!(host, "https not reachable; using http (tls_verify is off)");
        }
        self.lock_http()?.insert(host.to_owned(), !https_ok);
        Ok(!https_ok)
    }

    fn lock_http(&self) -> Result<std::sync::MutexGuard<'_, HashMap<String, bool>>> {
        self.plain_http
            .lock()
            .map_err(|_| OciError::InvalidRequest("registry client state poisoned".to_owned()))
    }

    /// The session for `r`'s registry and repository, created on first use.
    fn session(&self, r: &RegistryRef) -> Result<Arc<Session>> {
        let key = (r.api_host().to_owned(), r.repository().to_owned());
        let mut sessions = self
            .sessions
            .lock()
            .map_err(|_| OciError::InvalidRequest("registry client state poisoned".to_owned()))?;
        if let Some(s) = sessions.get(&key) {
            return Ok(Arc::clone(s));
        }
        let plain = self.is_plain_http(r.api_host())?;
        let credentials = self
            .options
            .credentials
            .resolve(r.registry(), r.repository())?;
        let scheme = if plain { "http" } else { "https" };
        let base = Url::parse(&format!("{scheme}://{}/", r.api_host())).map_err(|e| {
            OciError::InvalidRequest(format!("{r}: registry host {}: {e}", r.api_host()))
        })?;
        let session = Arc::new(Session::new(
            self.http.clone(),
            base,
            r.registry(),
            r.repository(),
            credentials,
            self.options.stall_timeout,
        ));
        sessions.insert(key, Arc::clone(&session));
        Ok(session)
    }

    /// Checks that the registry accepts our credentials for `r`'s repository, without moving
    /// any image: a bearer token is fetched (for push access when `push`), then a blob that
    /// does not exist is looked up, which a registry answers 404 only to an authorised client.
    /// A registry that needs no credentials accepts anything.
    pub fn login(&self, r: &RegistryRef, push: bool) -> Result<()> {
        let session = self.session(r)?;
        let access = if push { Access::Push } else { Access::Pull };
        with_retry(&self.options.retry, "login", || {
            self.rt.block_on(session.authenticate("login", access))
        })?;
        // Basic credentials are not checked by the exchange above: ask for something.
        self.has_blob(r, &Digest::from_bytes([0; 32])).map(|_| ())
    }

    /// The manifest (or index) `r` names, checked against `r`'s digest when it has one.
    pub fn manifest(&self, r: &RegistryRef) -> Result<RemoteManifest> {
        self.fetch_manifest(r, false)?
            .ok_or_else(|| OciError::NotFound {
                what: format!("{r}: manifest"),
            })
    }

    /// Resolves the image `r` names (for `platform` when it names an index): its manifest and
    /// config, both verified; no layer is fetched. See [`RegistryBlobs`] to read the layers.
    pub fn resolve(&self, r: &RegistryRef, platform: &Platform) -> Result<Image> {
        Ok(self.resolve_image(r, platform)?.image)
    }

    /// [`Registry::resolve`], with what [`Registry::pull`] reports besides.
    fn resolve_image(&self, r: &RegistryRef, platform: &Platform) -> Result<Resolved> {
        let top = self.manifest(r)?;
        let mut index_bytes = None;
        let mut current = top;
        let mut platform_of = None;
        let mut depth = 0;
        while is_index_type(&current.media_type) {
            depth += 1;
            if depth > MAX_INDEX_DEPTH {
                return Err(OciError::invalid(
                    format!("{r}: manifest"),
                    format!("indexes nested more than {MAX_INDEX_DEPTH} deep"),
                ));
            }
            let what = format!("{r}: index {}", current.digest);
            let index = parse_index(&current.bytes, &what)?;
            let entry = select_platform(&index, platform, &what)?.clone();
            let exp = expected_of(&entry, &what)?;
            if index_bytes.is_none() {
                index_bytes = Some(current.bytes.clone());
            }
            platform_of = entry.platform().clone();
            let child = self.manifest(&r.with_digest(&exp.digest)?)?;
            if child.bytes.len() as u64 != exp.size {
                return Err(OciError::SizeMismatch {
                    what: format!("{r}: manifest {}", exp.digest),
                    expected: exp.size,
                    actual: child.bytes.len() as u64,
                });
            }
            current = child;
        }
        if !is_manifest_type(&current.media_type) {
            return Err(OciError::unsupported(
                format!("{r}: manifest {}", current.digest),
                format!("media type {}", current.media_type),
            ));
        }
        let manifest = crate::image::parse_manifest(
            &current.bytes,
            &format!("{r}: manifest {}", current.digest),
        )?;
        let config_exp = expected_of(manifest.config(), "config descriptor")?;
        if config_exp.size > MAX_CONFIG_SIZE {
            return Err(OciError::TooLarge {
                what: format!("{r}: config {}", config_exp.digest),
                limit: MAX_CONFIG_SIZE,
            });
        }
        // The config is read even when the sink has it: it is part of the returned image.
        let (config_bytes, resumed) = self.fetch_small(r, &config_exp)?;
        let mut image = Image::from_parts(current.bytes.clone(), config_bytes)?;
        if let Some(p) = platform_of {
            image.manifest_descriptor.set_platform(Some(p));
        }
        Ok(Resolved {
            image,
            index_bytes,
            config: config_exp,
            resumed,
        })
    }

    /// Pulls the image `r` names (for `platform` when it names an index) into `sink`: config
    /// and layers the sink lacks, then the manifest. Every blob is verified as it streams.
    pub fn pull(
        &self,
        r: &RegistryRef,
        platform: &Platform,
        sink: &dyn BlobWrite,
    ) -> Result<Pulled> {
        let Resolved {
            image,
            index_bytes,
            config: config_exp,
            mut resumed,
        } = self.resolve_image(r, platform)?;
        let (mut fetched, mut skipped) = (0, 0);
        if sink.has_blob(&config_exp.digest)? {
            skipped += 1;
        } else {
            sink.put_bytes(&image.config_bytes, Some(&config_exp))?;
            fetched += 1;
        }
        let mut seen = HashSet::new();
        for layer in image.layers() {
            let exp = expected_of(layer, "layer descriptor")?;
            if !seen.insert(exp.digest.clone()) {
                continue;
            }
            if sink.has_blob(&exp.digest)? {
                skipped += 1;
                continue;
            }
            resumed += self.fetch_into(r, &exp, sink)?;
            fetched += 1;
        }
        let manifest_exp = expected_of(&image.manifest_descriptor, "manifest")?;
        if !sink.has_blob(&manifest_exp.digest)? {
            sink.put_bytes(&image.manifest_bytes, Some(&manifest_exp))?;
        }
        Ok(Pulled {
            image,
            index_bytes,
            fetched,
            skipped,
            resumed,
        })
    }

    fn download<'a>(&'a self, r: &RegistryRef, exp: &Expected) -> Result<BlobDownload<'a>> {
        Ok(BlobDownload::new(
            &self.rt,
            self.session(r)?,
            &self.options.retry,
            exp,
        ))
    }

    /// Downloads a small blob (a config) into memory, verified. Returns it and the number of
    /// resumptions.
    fn fetch_small(&self, r: &RegistryRef, exp: &Expected) -> Result<(Vec<u8>, u64)> {
        let mut dl = self.download(r, exp)?;
        let what = format!("{r}: blob {}", exp.digest);
        let bytes = {
            let reader = VerifyingReader::new(&mut dl, &what, exp.digest.clone(), exp.size);
            read_capped(reader, &what, MAX_CONFIG_SIZE)?
        };
        Ok((bytes, u64::from(dl.resumed)))
    }

    /// Streams the blob `exp` into `sink`, verified. Returns the number of resumptions.
    fn fetch_into(&self, r: &RegistryRef, exp: &Expected, sink: &dyn BlobWrite) -> Result<u64> {
        let mut dl = self.download(r, exp)?;
        {
            let what = format!("{r}: blob {}", exp.digest);
            let mut reader = VerifyingReader::new(&mut dl, what, exp.digest.clone(), exp.size);
            sink.put_blob(&mut reader, Some(exp))?;
        }
        Ok(u64::from(dl.resumed))
    }

    /// Whether `r`'s repository holds the blob `digest` (`HEAD`).
    pub fn has_blob(&self, r: &RegistryRef, digest: &Digest) -> Result<bool> {
        let session = self.session(r)?;
        let op = format!("check blob {digest}");
        let url = session
            .url(&format!("blobs/{}", digest.prefixed()))
            .map_err(|f| *f.error)?;
        with_retry(&self.options.retry, &op, || {
            self.rt.block_on(async {
                let response = session
                    .send(&op, Access::Pull, &|c| c.head(url.clone()))
                    .await?;
                match response.status() {
                    StatusCode::OK => Ok(true),
                    StatusCode::NOT_FOUND => Ok(false),
                    _ => Err(session.status_failure(&op, response).await),
                }
            })
        })
    }

    /// Pushes `image` (its blobs from `src`, then its manifest) to `dest`, by `dest`'s tag or
    /// digest.
    pub fn push(
        &self,
        src: &dyn BlobRead,
        image: &Image,
        dest: &RegistryRef,
        options: &PushOptions,
    ) -> Result<Pushed> {
        let session = self.session(dest)?;
        let mount_from = options.mount_from.as_ref();
        let mut blobs = vec![image.config()];
        blobs.extend(image.layers());
        let mut seen = HashSet::new();
        let (mut uploaded, mut skipped, mut mounted) = (0, 0, 0);
        for desc in blobs {
            let exp = expected_of(desc, "descriptor")?;
            if !seen.insert(exp.digest.clone()) {
                continue;
            }
            match self.push_blob_in(&session, src, &exp, dest, mount_from)? {
                BlobPush::Present => skipped += 1,
                BlobPush::Mounted => mounted += 1,
                BlobPush::Uploaded => uploaded += 1,
            }
        }
        let manifest_digest = self.push_manifest(
            dest,
            &image.manifest_bytes,
            image.manifest_descriptor.media_type().as_ref(),
        )?;
        Ok(Pushed {
            manifest_digest,
            uploaded,
            skipped,
            mounted,
        })
    }

    /// Mounts `digest` from `from` into the session's repository; false when the registry declines
    /// (it then answers 202 and opens an upload instead, or 401 for lack of access to the
    /// source repository), and the blob is to be uploaded.
    fn mount(&self, session: &Session, from: &RegistryRef, digest: &Digest) -> Result<bool> {
        let op = format!("mount blob {digest} from {}", from.repository());
        let mut url = session.url("blobs/uploads/").map_err(|f| *f.error)?;
        url.query_pairs_mut()
            .append_pair("mount", &digest.prefixed())
            .append_pair("from", from.repository());
        let result = with_retry(&self.options.retry, &op, || {
            self.rt.block_on(async {
                let make = |c: &reqwest::Client| c.post(url.clone()).header(CONTENT_LENGTH, 0);
                let response = session.send(&op, Access::Push, &make).await?;
                match response.status() {
                    StatusCode::CREATED => Ok(true),
                    // An upload opened instead: the registry declines the mount.
                    StatusCode::ACCEPTED => Ok(false),
                    _ => Err(session.status_failure(&op, response).await),
                }
            })
        });
        match result {
            Ok(mounted) => Ok(mounted),
            Err(e @ OciError::Connection { .. }) => Err(e),
            // A 401 too: with token auth, mounting needs pull access to the source repository,
            // and the session's token is scoped to the destination only.
            Err(e) => {
                tracing::debug!(error = %e, "mount declined; uploading");
                Ok(false)
            }
        }
    }

    fn upload_blob(&self, session: &Session, src: &dyn BlobRead, exp: &Expected) -> Result<()> {
        let op = format!("upload blob {}", exp.digest);
        with_retry(&self.options.retry, &op, || {
            // A retry starts the upload again from the first byte, from a fresh reader.
            let mut reader = src
                .open_blob(&exp.digest, exp.size)
                .map_err(Failure::fatal)?;
            upload(
                &self.rt,
                session,
                exp,
                &mut reader,
                self.options.upload,
                &self.options.retry,
                &op,
            )?;
            drain_verified(&mut reader).map_err(Failure::fatal)
        })
    }

    /// Pushes a manifest or an index held in memory to `dest` (by its tag or digest); returns
    /// its digest. The blobs and manifests it names must be in the repository already.
    pub fn push_manifest(
        &self,
        dest: &RegistryRef,
        bytes: &[u8],
        media_type: &str,
    ) -> Result<Digest> {
        let session = self.session(dest)?;
        let digest = digest_bytes(bytes);
        if dest.digest().is_some_and(|want| want != digest) {
            return Err(OciError::InvalidRequest(format!(
                "{dest}: the manifest's digest is {}",
                digest.prefixed()
            )));
        }
        let op = format!("push manifest {}", dest.tag_or_digest());
        let content_type = reqwest::header::HeaderValue::from_str(media_type)
            .map_err(|e| OciError::InvalidRequest(format!("media type {media_type:?}: {e}")))?;
        let body = bytes::Bytes::copy_from_slice(bytes);
        let url = session
            .url(&format!("manifests/{}", dest.tag_or_digest()))
            .map_err(|f| *f.error)?;
        with_retry(&self.options.retry, &op, || {
            self.rt.block_on(async {
                let make = |c: &reqwest::Client| {
                    c.put(url.clone())
                        .header(CONTENT_TYPE, content_type.clone())
                        .body(body.clone())
                };
                let response = session.send(&op, Access::Push, &make).await?;
                if response.status().is_success() {
                    return Ok(());
                }
                let mut failure = session.status_failure(&op, response).await;
                // A blob the manifest names that another client is uploading at the same
                // moment: docker-registry writes a blob's link in place, and a manifest
                // checked while it is half written is refused as naming an invalid digest
                // or an unknown blob. The blob is whole a moment later.
                if let OciError::Registry {
                    status: Some(400),
                    code: Some(code),
                    ..
                } = &*failure.error
                    && matches!(
                        &**code,
                        "DIGEST_INVALID" | "MANIFEST_BLOB_UNKNOWN" | "BLOB_UNKNOWN"
                    )
                {
                    failure.retry = true;
                }
                Err(failure)
            })
        })?;
        Ok(digest)
    }
}

/// Reads what is left of a verifying reader (nothing, after a complete upload) so its digest
/// and size check runs: the upload sent exactly the bytes it read.
fn drain_verified(reader: &mut dyn Read) -> Result<()> {
    let mut buf = [0u8; 1];
    loop {
        match reader.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(_) => {
                return Err(OciError::InvalidRequest(
                    "source blob longer than uploaded".to_owned(),
                ));
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(OciError::from_io("source blob", "read", e)),
        }
    }
}

fn is_index_type(media: &str) -> bool {
    media == OCI_INDEX || media == DOCKER_MANIFEST_LIST
}

fn is_manifest_type(media: &str) -> bool {
    media == OCI_MANIFEST || media == DOCKER_MANIFEST
}

/// A manifest's media type: its `mediaType` field, else an index when it has `manifests` and
/// an OCI manifest otherwise (the OCI spec makes the field optional).
pub(crate) fn manifest_media_type(bytes: &[u8], what: &str) -> Result<String> {
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Probe {
        media_type: Option<String>,
        manifests: Option<serde_json::Value>,
    }
    let p: Probe =
        serde_json::from_slice(bytes).map_err(|e| OciError::invalid(what, e.to_string()))?;
    Ok(match (p.media_type, p.manifests) {
        (Some(m), _) => m,
        (None, Some(_)) => OCI_INDEX.to_owned(),
        (None, None) => OCI_MANIFEST.to_owned(),
    })
}

/// The descriptor of a manifest held in memory (for an index entry).
pub fn manifest_descriptor(bytes: &[u8], media_type: &str) -> Descriptor {
    Descriptor::new(
        MediaType::from(media_type),
        bytes.len() as u64,
        crate::verify::to_oci_digest(&digest_bytes(bytes)),
    )
}
