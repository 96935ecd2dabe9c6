//! The plumbing under [`super::Registry`]: retries with exponential backoff, a blob download
//! that is a sync [`Read`] resuming after a dropped connection, and a blob upload streamed
//! from a sync reader; both fail when the transfer makes no progress for the stall timeout.
//!
//! Every request runs on the caller's thread in the registry's current-thread tokio runtime
//! (`block_on`). A streamed upload reads its source between `block_on` calls, never inside one
//! (so a source that drives a runtime of its own, another registry's blobs, works), and hands
//! the request one piece at a time through a small channel: neither side holds a layer in
//! memory, and the request's progress is what the stall timeout watches.

use std::future::Future;
use std::io::{self, Read};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use futures_util::future::{Either, select};
use reqwest::header::{CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, LOCATION, RANGE};
use reqwest::{Method, RequestBuilder, Response, StatusCode, Url};
use strata_model::Digest;

use super::session::{Access, Session};
use super::{MAX_CHUNK_SIZE, Upload};
use crate::blob::Expected;
use crate::error::OciError;

/// Bytes handed to a streamed request at a time: small, so that the stall timeout sees the
/// progress of a slow link.
const PIECE: usize = 64 << 10;

/// How often and how patiently a failed request is tried again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Retry {
    /// Attempts in all, the first included (at least 1).
    pub attempts: u32,
    /// The wait before the second attempt; it doubles before each further one.
    pub initial_backoff: Duration,
    /// The longest wait between two attempts.
    pub max_backoff: Duration,
}

impl Default for Retry {
    /// containers/image's defaults, roughly: a few attempts, starting at a fraction of a second.
    fn default() -> Self {
        Retry {
            attempts: 4,
            initial_backoff: Duration::from_millis(250),
            max_backoff: Duration::from_secs(8),
        }
    }
}

impl Retry {
    /// The wait before attempt `n + 1` (after `n` failures, `n >= 1`).
    pub(crate) fn backoff(&self, n: u32) -> Duration {
        let factor = 1u32.checked_shl(n.saturating_sub(1)).unwrap_or(u32::MAX);
        self.initial_backoff
            .checked_mul(factor)
            .unwrap_or(self.max_backoff)
            .min(self.max_backoff)
    }
}

/// A failed attempt: whether trying again may help, and the error to report otherwise.
pub(crate) struct Failure {
    pub(crate) retry: bool,
    /// Boxed: an `OciError` is large, and a `Failure` travels in every attempt's result.
    pub(crate) error: Box<OciError>,
}

impl Failure {
    /// A failure not worth another attempt.
    pub(crate) fn fatal(error: OciError) -> Failure {
        Failure {
            retry: false,
            error: Box::new(error),
        }
    }

    /// A failure another attempt may cure.
    pub(crate) fn transient(error: OciError) -> Failure {
        Failure {
            retry: true,
            error: Box::new(error),
        }
    }
}

/// Runs `attempt` until it succeeds, fails for good, or `retry.attempts` are spent, sleeping
/// with exponential backoff in between.
pub(crate) fn with_retry<T>(
    retry: &Retry,
    op: &str,
    mut attempt: impl FnMut() -> Result<T, Failure>,
) -> Result<T, OciError> {
    let attempts = retry.attempts.max(1);
    let mut n = 0;
    loop {
        n += 1;
        match attempt() {
            Ok(v) => return Ok(v),
            Err(f) if f.retry && n < attempts => {
                let wait = retry.backoff(n);
                tracing::warn!(op, attempt = n, ?wait, error = %f.error, "retrying");
                std::thread::sleep(wait);
            }
            Err(f) => {
                return Err(match *f.error {
                    OciError::Connection {
                        registry,
                        op,
                        source,
                        ..
                    } => OciError::Connection {
                        registry,
                        op,
                        attempts: n,
                        source,
                    },
                    other => other,
                });
            }
        }
    }
}

/// A blob download as a sync reader. A dropped connection, a stalled body or a failed (5xx)
/// request is resumed from the bytes already yielded with a `Range` request, or restarted (the
/// bytes already yielded skipped) when the registry answers with the whole blob; at most
/// `retry.attempts` connections are made in all. An answer longer than the blob's size is
/// refused as soon as it shows (its `Content-Length`, or its bytes). The bytes are not verified
/// here: the caller reads through a verifying reader.
pub(crate) struct BlobDownload<'a> {
    rt: &'a tokio::runtime::Runtime,
    session: Arc<Session>,
    retry: &'a Retry,
    digest: Digest,
    size: u64,
    op: String,
    response: Option<Response>,
    pending: Bytes,
    delivered: u64,
    to_skip: u64,
    connections: u32,
    /// How many times the stream was resumed or restarted (for tests and logs).
    pub(crate) resumed: u32,
}

impl<'a> BlobDownload<'a> {
    pub(crate) fn new(
        rt: &'a tokio::runtime::Runtime,
        session: Arc<Session>,
        retry: &'a Retry,
        exp: &Expected,
    ) -> Self {
        BlobDownload {
            rt,
            session,
            retry,
            digest: exp.digest.clone(),
            size: exp.size,
            op: format!("pull blob {}", exp.digest),
            response: None,
            pending: Bytes::new(),
            delivered: 0,
            to_skip: 0,
            connections: 0,
            resumed: 0,
        }
    }

    fn what(&self) -> String {
        format!(
            "{}/{}: blob {}",
            self.session.registry, self.session.repository, self.digest
        )
    }

    /// Opens the stream at the current offset, retrying a failed request within the budget.
    fn open(&mut self) -> Result<(), OciError> {
        loop {
            self.connections += 1;
            if self.connections > 1 {
                self.resumed += 1;
            }
            let offset = self.delivered;
            match self.rt.block_on(self.request(offset)) {
                Ok((response, skip)) => {
                    if offset > 0 {
                        tracing::info!(
                            op = %self.op,
                            offset,
                            restarted = skip > 0,
                            "download resumed"
                        );
                    }
                    self.response = Some(response);
                    self.to_skip = skip;
                    return Ok(());
                }
                Err(f) => self.give_up_or_wait(f)?,
            }
        }
    }

    /// `GET`s the blob from `offset` on; returns the answer and how many of its first bytes to
    /// skip (all of `offset` when the registry ignored the range).
    async fn request(&self, offset: u64) -> Result<(Response, u64), Failure> {
        let session = &self.session;
        let url = session.url(&format!("blobs/{}", self.digest.prefixed()))?;
        let make = |c: &reqwest::Client| {
            let r = c.get(url.clone());
            if offset > 0 {
                r.header(RANGE, format!("bytes={offset}-"))
            } else {
                r
            }
        };
        let response = session.send(&self.op, Access::Pull, &make).await?;
        let announced = response.content_length();
        let mismatch = |expected: u64, actual: u64| {
            Failure::fatal(OciError::SizeMismatch {
                what: self.what(),
                expected,
                actual,
            })
        };
        match response.status() {
            StatusCode::OK => match announced {
                Some(n) if n != self.size => Err(mismatch(self.size, n)),
                _ => Ok((response, offset)),
            },
            StatusCode::PARTIAL_CONTENT if offset > 0 => {
                let start = response
                    .headers()
                    .get(CONTENT_RANGE)
                    .and_then(|v| v.to_str().ok())
                    .and_then(range_start);
                if start.is_some_and(|s| s != offset) {
                    return Err(Failure::fatal(session.protocol(
                        &self.op,
                        format!("asked for bytes from {offset}, got {start:?}"),
                    )));
                }
                match announced {
                    Some(n) if n != self.size - offset => {
                        Err(mismatch(self.size, offset.saturating_add(n)))
                    }
                    _ => Ok((response, 0)),
                }
            }
            _ => Err(session.status_failure(&self.op, response).await),
        }
    }

    /// After a failure: an error when it is final or the budget is spent, else a backoff.
    fn give_up_or_wait(&mut self, f: Failure) -> Result<(), OciError> {
        self.response = None;
        let budget = self.retry.attempts.max(1);
        if !f.retry || self.connections >= budget {
            return Err(with_attempts(*f.error, self.connections));
        }
        let wait = self.retry.backoff(self.connections);
        tracing::warn!(op = %self.op, delivered = self.delivered, ?wait, error = %f.error, "blob download interrupted");
        std::thread::sleep(wait);
        Ok(())
    }
}

/// The first byte of a `Content-Range: bytes START-END/TOTAL` value.
fn range_start(value: &str) -> Option<u64> {
    let rest = value.trim().strip_prefix("bytes")?.trim_start();
    rest.split('-').next()?.trim().parse().ok()
}

impl Read for BlobDownload<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            if !self.pending.is_empty() {
                let n = buf.len().min(self.pending.len());
                buf[..n].copy_from_slice(&self.pending.split_to(n));
                self.delivered += n as u64;
                return Ok(n);
            }
            if buf.is_empty() {
                return Ok(0);
            }
            let stall = self.session.stall;
            let Some(response) = self.response.as_mut() else {
                self.open().map_err(OciError::into_io)?;
                continue;
            };
            // The timer is made inside the runtime, which it needs.
            let next = self
                .rt
                .block_on(async { tokio::time::timeout(stall, response.chunk()).await });
            match next {
                Ok(Ok(Some(mut chunk))) => {
                    if self.to_skip > 0 {
                        let skip = usize::try_from(self.to_skip)
                            .unwrap_or(usize::MAX)
                            .min(chunk.len());
                        let _ = chunk.split_to(skip);
                        self.to_skip -= skip as u64;
                    }
                    let end = self.delivered + chunk.len() as u64;
                    if end > self.size {
                        // Longer than its descriptor says: refused before it is yielded.
                        self.response = None;
                        return Err(OciError::SizeMismatch {
                            what: self.what(),
                            expected: self.size,
                            actual: end,
                        }
                        .into_io());
                    }
                    self.pending = chunk;
                }
                Ok(Ok(None)) if self.delivered < self.size => {
                    // The body ended early without an error: as good as a dropped connection.
                    let e = io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        format!("body ended after {} of {} bytes", self.delivered, self.size),
                    );
                    let f = Failure::transient(self.session.connection(&self.op, 1, Box::new(e)));
                    self.give_up_or_wait(f).map_err(OciError::into_io)?;
                }
                Ok(Ok(None)) => {
                    self.response = None;
                    return Ok(0);
                }
                Ok(Err(e)) => {
                    let f = self.session.request_failure(&self.op, e);
                    self.give_up_or_wait(f).map_err(OciError::into_io)?;
                }
                Err(_) => {
                    let f = self.session.stalled(&self.op);
                    self.give_up_or_wait(f).map_err(OciError::into_io)?;
                }
            }
        }
    }
}

/// A connection error with the number of attempts made; any other error as it is.
fn with_attempts(error: OciError, attempts: u32) -> OciError {
    match error {
        OciError::Connection {
            registry,
            op,
            source,
            ..
        } => OciError::Connection {
            registry,
            op,
            attempts,
            source,
        },
        other => other,
    }
}

/// Uploads `exp.size` bytes from `reader` as the blob `exp` into the session's repository:
/// `POST` to open an upload, then, per `how`, one `PUT` carrying the whole blob
/// ([`Upload::Monolithic`]), or one streamed `PATCH` carrying it ([`Upload::Streamed`]) or one
/// `PATCH` per chunk ([`Upload::Chunked`], at most [`MAX_CHUNK_SIZE`] bytes each) and a
/// closing `PUT`.
pub(crate) fn upload(
    rt: &tokio::runtime::Runtime,
    session: &Session,
    exp: &Expected,
    reader: &mut dyn Read,
    how: Upload,
    retry: &Retry,
    op: &str,
) -> Result<(), Failure> {
    let start = session.url("blobs/uploads/")?;
    let response = rt.block_on(session.send(op, Access::Push, &|c| {
        c.post(start.clone()).header(CONTENT_LENGTH, 0)
    }))?;
    if response.status() != StatusCode::ACCEPTED {
        return Err(rt.block_on(session.status_failure(op, response)));
    }
    let mut location = location_of(session, &response, &start, op)?;
    drop(response);
    let close = |location: &Url| {
        let mut url = location.clone();
        url.query_pairs_mut()
            .append_pair("digest", &exp.digest.prefixed());
        url
    };
    let chunk = match how {
        Upload::Monolithic => {
            let put = session
                .request(Method::PUT, close(&location))
                .header(CONTENT_TYPE, "application/octet-stream");
            let response = send_streamed(rt, session, op, put, (reader, exp), exp.size)?;
            return expect(rt, session, op, response, StatusCode::CREATED);
        }
        // As Docker and containers/image send it: no `Content-Range`, the whole blob.
        Upload::Streamed if exp.size > 0 => {
            let patch = session
                .request(Method::PATCH, location.clone())
                .header(CONTENT_TYPE, "application/octet-stream");
            let response = send_streamed(rt, session, op, patch, (reader, exp), exp.size)?;
            if response.status() != StatusCode::ACCEPTED {
                return Err(rt.block_on(session.status_failure(op, response)));
            }
            location = location_of(session, &response, &location, op)?;
            None
        }
        Upload::Streamed => None,
        Upload::Chunked { chunk_size } => Some(chunk_size.clamp(1, MAX_CHUNK_SIZE)),
    };
    let mut offset = 0u64;
    // One buffer for every chunk's copy, allocated once: a fresh one per chunk would fault
    // its pages in again each time.
    let mut copy = Vec::new();
    while let Some(chunk) = chunk {
        if offset >= exp.size {
            break;
        }
        let len = (exp.size - offset).min(chunk as u64);
        let chunk = Chunk { len, offset };
        location = send_chunk(
            rt, session, op, exp, reader, chunk, &mut copy, location, retry,
        )?;
        offset += len;
    }
    let url = close(&location);
    let response = rt.block_on(session.send(op, Access::Push, &|c| {
        c.put(url.clone()).header(CONTENT_LENGTH, 0)
    }))?;
    expect(rt, session, op, response, StatusCode::CREATED)
}

/// Sends the next `len` bytes of `reader`, the blob's bytes at `offset`, as one `PATCH` to the
/// upload at `location`, streamed as they are read (and kept, at most one chunk, for a resend);
/// returns the upload's next location. A chunk that fails on the way (a dropped connection, a
/// 5xx, a stall) is resumed where the registry says it holds the upload to (`GET` on the
/// upload: `Range: 0-N`), within `retry`'s budget, so a registry restarted in the middle of a
/// push (with its upload state kept) loses none of the bytes it took. An upload the registry no
/// longer knows fails as a transient failure: the caller starts it again.
#[allow(clippy::too_many_arguments)]
fn send_chunk(
    rt: &tokio::runtime::Runtime,
    session: &Session,
    op: &str,
    exp: &Expected,
    reader: &mut dyn Read,
    Chunk { len, offset }: Chunk,
    data: &mut Vec<u8>,
    location: Url,
    retry: &Retry,
) -> Result<Url, Failure> {
    data.clear();
    data.reserve(usize::try_from(len).unwrap_or(0));
    let first = {
        let mut tee = Tee {
            inner: (&mut *reader).take(len),
            copy: &mut *data,
        };
        let patch = session
            .request(Method::PATCH, location.clone())
            .header(CONTENT_TYPE, "application/octet-stream")
            .header(CONTENT_RANGE, format!("{offset}-{}", offset + len - 1));
        send_streamed(rt, session, op, patch, (&mut tee, exp), len)
    };
    let failure = match first {
        Ok(response) if response.status() == StatusCode::ACCEPTED => {
            return location_of(session, &response, &location, op);
        }
        Ok(response) => rt.block_on(session.status_failure(op, response)),
        Err(f) => f,
    };
    if !failure.retry {
        return Err(failure);
    }
    // The rest of the chunk, for the resends.
    let want = usize::try_from(len).unwrap_or(usize::MAX);
    if data.len() < want {
        let rest = read_up_to(reader, want - data.len()).map_err(|e| source_failure(exp, e))?;
        data.extend_from_slice(&rest);
    }
    if data.len() < want {
        return Err(source_failure(
            exp,
            io::Error::new(io::ErrorKind::UnexpectedEof, "the blob ended early"),
        ));
    }
    resume_chunk(rt, session, op, exp, data, offset, location, retry, failure)
}

/// Where a chunk lies in its blob.
#[derive(Debug, Clone, Copy)]
struct Chunk {
    len: u64,
    offset: u64,
}

/// Sends `data` (the blob's bytes at `offset`) again after `failure`, from where the registry
/// holds the upload; see [`send_chunk`].
#[allow(clippy::too_many_arguments)]
fn resume_chunk(
    rt: &tokio::runtime::Runtime,
    session: &Session,
    op: &str,
    exp: &Expected,
    data: &[u8],
    offset: u64,
    mut location: Url,
    retry: &Retry,
    failure: Failure,
) -> Result<Url, Failure> {
    let end = offset + data.len() as u64;
    let mut from = offset;
    let mut failures = 0;
    let mut failure = Some(failure);
    loop {
        let failure_now = match failure.take() {
            Some(f) => f,
            None => {
                let len = end - from;
                let piece = &data[usize::try_from(from - offset).unwrap_or(0)..];
                let patch = session
                    .request(Method::PATCH, location.clone())
                    .header(CONTENT_TYPE, "application/octet-stream")
                    .header(CONTENT_RANGE, format!("{from}-{}", end - 1));
                match send_streamed(rt, session, op, patch, (&mut &piece[..], exp), len) {
                    Ok(response) if response.status() == StatusCode::ACCEPTED => {
                        return location_of(session, &response, &location, op);
                    }
                    Ok(response) => rt.block_on(session.status_failure(op, response)),
                    Err(f) => f,
                }
            }
        };
        // Asks where the upload stands until the registry answers (it may be restarting).
        let mut failure = failure_now;
        let (held, next) = loop {
            failures += 1;
            if !failure.retry || failures >= retry.attempts.max(1) {
                return Err(failure);
            }
            let wait = retry.backoff(failures);
            tracing::warn!(op, offset = from, ?wait, error = %failure.error, "chunk failed; resuming");
            std::thread::sleep(wait);
            match upload_status(rt, session, op, &location) {
                Ok(Some(status)) => break status,
                // The registry no longer has the upload: the caller starts it again.
                Ok(None) => return Err(failure),
                Err(f) => failure = f,
            }
        };
        if held < offset || held > end {
            return Err(Failure::fatal(session.protocol(
                op,
                format!("the registry holds {held} bytes of an upload sent up to {from}"),
            )));
        }
        if held == end {
            return Ok(next);
        }
        from = held;
        location = next;
    }
}

/// A reader that keeps a copy of what it reads (a chunk being sent, for a resend).
struct Tee<'a, R> {
    inner: R,
    copy: &'a mut Vec<u8>,
}

impl<R: Read> Read for Tee<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.copy.extend_from_slice(&buf[..n]);
        Ok(n)
    }
}

/// How many bytes of the upload at `location` the registry holds, and the location to go on
/// with (`GET` on the upload, `204` with `Range: 0-N`; no `Range` is nothing yet); `None` when
/// the registry no longer has the upload (`404`: restarted without its upload state, or
/// docker-registry's `BLOB_UPLOAD_INVALID` when a request cut in the middle left more bytes
/// than the upload's state says).
fn upload_status(
    rt: &tokio::runtime::Runtime,
    session: &Session,
    op: &str,
    location: &Url,
) -> Result<Option<(u64, Url)>, Failure> {
    let response = rt.block_on(session.send(op, Access::Push, &|c| c.get(location.clone())))?;
    if response.status() == StatusCode::NOT_FOUND {
        return Ok(None);
    }
    if !response.status().is_success() {
        return Err(rt.block_on(session.status_failure(op, response)));
    }
    let held = match response.headers().get(RANGE).and_then(|v| v.to_str().ok()) {
        None => 0,
        Some(range) => range
            .rsplit_once('-')
            .and_then(|(_, last)| last.trim().parse::<u64>().ok())
            .map(|last| last + 1)
            .ok_or_else(|| {
                Failure::fatal(session.protocol(op, format!("upload Range {range:?}")))
            })?,
    };
    let next = match response.headers().get(LOCATION) {
        Some(_) => location_of(session, &response, location, op)?,
        None => location.clone(),
    };
    Ok(Some((held, next)))
}

/// Success when `response` has the status `want` (or another success), else its failure.
fn expect(
    rt: &tokio::runtime::Runtime,
    session: &Session,
    op: &str,
    response: Response,
    want: StatusCode,
) -> Result<(), Failure> {
    if response.status() == want || response.status().is_success() {
        Ok(())
    } else {
        Err(rt.block_on(session.status_failure(op, response)))
    }
}

/// The upload URL a `POST` or `PATCH` answer names (its `Location`, resolved against the
/// request's URL).
fn location_of(
    session: &Session,
    response: &Response,
    base: &Url,
    op: &str,
) -> Result<Url, Failure> {
    let location = response
        .headers()
        .get(LOCATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| {
            Failure::fatal(session.protocol(op, "no Location in the answer".to_owned()))
        })?;
    session.resolve(base, location, op)
}

/// Reads up to `limit` bytes (fewer only at the end of the stream).
fn read_up_to(reader: &mut dyn Read, limit: usize) -> io::Result<Vec<u8>> {
    let mut buf = vec![0u8; limit];
    let mut filled = 0;
    while filled < limit {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    buf.truncate(filled);
    Ok(buf)
}

/// A failure to read the blob being uploaded: final (a retry opens it again).
fn source_failure(exp: &Expected, e: io::Error) -> Failure {
    Failure::fatal(OciError::from_io(format!("blob {}", exp.digest), "read", e))
}

/// What a wait for a streamed request ended with.
enum Waited<T> {
    /// The other future finished (a piece was taken).
    Done(T),
    /// The answer came.
    Answer(Result<Response, Failure>),
    /// Nothing moved for the stall timeout.
    Stalled,
}

/// Sends `request` with a body of `len` bytes read from `reader`: read here, between
/// `block_on` calls, and handed to the request in pieces of [`PIECE`] bytes as it takes them.
/// Fails when the request takes no piece and gives no answer for the stall timeout.
fn send_streamed(
    rt: &tokio::runtime::Runtime,
    session: &Session,
    op: &str,
    request: RequestBuilder,
    (reader, exp): (&mut dyn Read, &Expected),
    len: u64,
) -> Result<Response, Failure> {
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(2);
    let taken = Arc::new(AtomicU64::new(0));
    let counter = Arc::clone(&taken);
    let stream = futures_util::stream::unfold(rx, move |mut rx| {
        let counter = Arc::clone(&counter);
        async move {
            let piece = rx.recv().await?;
            counter.fetch_add(1, Ordering::SeqCst);
            Some((Ok::<Bytes, io::Error>(piece), rx))
        }
    });
    let request = request
        .header(CONTENT_LENGTH, len)
        .body(reqwest::Body::wrap_stream(stream));
    let mut answer: Pin<Box<dyn Future<Output = Result<Response, Failure>> + '_>> =
        Box::pin(session.send_once(op, Access::Push, request));
    let mut tx = Some(tx);
    loop {
        let piece = match &tx {
            Some(_) => {
                let data = read_up_to(reader, PIECE).map_err(|e| source_failure(exp, e))?;
                if data.is_empty() {
                    tx = None; // the body ends
                    None
                } else {
                    Some(Bytes::from(data))
                }
            }
            None => None,
        };
        let waited = match (&tx, piece) {
            (Some(sender), Some(piece)) => rt.block_on(wait(
                sender.send(piece),
                answer.as_mut(),
                &taken,
                session.stall,
            )),
            _ => rt
                .block_on(wait(
                    std::future::pending::<()>(),
                    answer.as_mut(),
                    &taken,
                    session.stall,
                ))
                .map_done(|_| Ok(())),
        };
        match waited {
            Waited::Done(Ok(())) => {}
            // The request dropped its body (it failed or was answered early): its answer says.
            Waited::Done(Err(_)) => tx = None,
            Waited::Answer(result) => return result,
            Waited::Stalled => return Err(session.stalled(op)),
        }
    }
}

impl<T> Waited<T> {
    fn map_done<U>(self, f: impl FnOnce(T) -> U) -> Waited<U> {
        match self {
            Waited::Done(v) => Waited::Done(f(v)),
            Waited::Answer(a) => Waited::Answer(a),
            Waited::Stalled => Waited::Stalled,
        }
    }
}

/// Waits for `other` or the answer, whichever comes first, or for the stall timeout to pass
/// without the request taking a piece.
async fn wait<T>(
    other: impl Future<Output = T>,
    answer: Pin<&mut (dyn Future<Output = Result<Response, Failure>> + '_)>,
    taken: &AtomicU64,
    stall: Duration,
) -> Waited<T> {
    let watchdog = async {
        let mut seen = taken.load(Ordering::SeqCst);
        loop {
            tokio::time::sleep(stall).await;
            let now = taken.load(Ordering::SeqCst);
            if now == seen {
                return;
            }
            seen = now;
        }
    };
    let other = std::pin::pin!(other);
    let watchdog = std::pin::pin!(watchdog);
    match select(answer, select(other, watchdog)).await {
        Either::Left((result, _)) => Waited::Answer(result),
        Either::Right((Either::Left((v, _)), _)) => Waited::Done(v),
        Either::Right((Either::Right(((), _)), _)) => Waited::Stalled,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let r = Retry {
            attempts: 10,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(500),
        };
        let waits: Vec<u128> = (1..=5).map(|n| r.backoff(n).as_millis()).collect();
        assert_eq!(waits, [100, 200, 400, 500, 500]);
        assert_eq!(r.backoff(200), Duration::from_millis(500));
    }

    #[test]
    fn with_retry_stops_at_the_budget_and_on_fatal_errors() {
        let r = Retry {
            attempts: 3,
            initial_backoff: Duration::from_millis(1),
            max_backoff: Duration::from_millis(1),
        };
        let mut calls = 0;
        let e = with_retry(&r, "op", || -> Result<(), Failure> {
            calls += 1;
            Err(Failure::transient(OciError::Connection {
                registry: "r".into(),
                op: "op".into(),
                attempts: 1,
                source: "reset".into(),
            }))
        })
        .expect_err("always fails");
        assert_eq!(calls, 3);
        assert!(
            matches!(e, OciError::Connection { attempts: 3, .. }),
            "{e:?}"
        );
        let mut calls = 0;
        let _ = with_retry(&r, "op", || -> Result<(), Failure> {
            calls += 1;
            Err(Failure::fatal(OciError::InvalidRequest("no".into())))
        });
        assert_eq!(calls, 1);
    }
}
