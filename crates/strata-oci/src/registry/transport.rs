//! The plumbing under [`super::Registry`]: one oci-client `Client` per registry and repository
//! (its credentials are per repository), the choice of https or http, retries with exponential
//! backoff, the translation of oci-client's errors into [`OciError`], a blob download that is a
//! sync [`Read`] resuming after a dropped connection, and a blob upload streamed from a sync
//! reader.
//!
//! oci-client is async; every call here runs on the caller's thread in the registry's
//! current-thread tokio runtime (`block_on`). An upload joins two futures in one `block_on`:
//! oci-client's request consuming a channel, and a feeder reading the source blob and filling
//! it, so a layer is never held in memory whole.

use std::io::{self, Read};
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt as _;
use oci_client::errors::OciDistributionError;
use oci_client::manifest::OciDescriptor;
use oci_spec::distribution::Reference;

use super::auth::Found;
use crate::blob::Expected;
use crate::error::OciError;

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

/// One registry and repository as the client talks to it.
pub(crate) struct Session {
    pub(crate) client: oci_client::Client,
    /// Registry domain as named (for errors and credentials).
    pub(crate) registry: String,
    pub(crate) repository: String,
    pub(crate) credentials: Option<Found>,
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

impl Session {
    /// The error a failed oci-client call is, and whether it is worth another attempt.
    pub(crate) fn failure(&self, op: &str, e: OciDistributionError) -> Failure {
        let registry =
            |status: Option<u16>, code: Option<String>, message: String| OciError::Registry {
                registry: self.registry.clone(),
                repository: self.repository.clone(),
                op: op.to_owned(),
                status,
                code: code.map(String::into_boxed_str),
                message: message.into_boxed_str(),
            };
        match e {
            OciDistributionError::UnauthorizedError { .. } => {
                Failure::fatal(self.unauthorized("HTTP 401".to_owned()))
            }
            OciDistributionError::AuthenticationFailure(reason) => {
                Failure::fatal(self.unauthorized(reason))
            }
            OciDistributionError::ServerError { code, message, .. } => match code {
                401 | 403 => {
                    Failure::fatal(self.unauthorized(format!("HTTP {code}: {}", message.trim())))
                }
                _ => Failure {
                    retry: code >= 500 || code == 429 || code == 408,
                    error: Box::new(registry(Some(code), None, message.trim().to_owned())),
                },
            },
            OciDistributionError::RegistryError { envelope, .. } => {
                let first = envelope.errors.first();
                let code = first.and_then(|e| {
                    serde_json::to_value(&e.code)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_owned))
                });
                let message = first.map(|e| e.message.clone()).unwrap_or_default();
                match code.as_deref() {
                    Some("UNAUTHORIZED" | "DENIED") => Failure::fatal(self.unauthorized(format!(
                        "{}: {message}",
                        code.as_deref().unwrap_or_default()
                    ))),
                    _ => Failure {
                        retry: code.as_deref() == Some("TOOMANYREQUESTS"),
                        error: Box::new(registry(None, code, message)),
                    },
                }
            }
            OciDistributionError::RequestError(re) => match re.status() {
                Some(s) if s.as_u16() == 401 || s.as_u16() == 403 => {
                    Failure::fatal(self.unauthorized(format!("HTTP {}", s.as_u16())))
                }
                Some(s) => Failure {
                    retry: s.is_server_error(),
                    error: Box::new(registry(Some(s.as_u16()), None, re.to_string())),
                },
                // A refused certificate will be refused again: not worth retrying.
                None if is_tls_failure(&re) => Failure::fatal(self.connection(op, 1, Box::new(re))),
                None => Failure::transient(self.connection(op, 1, Box::new(re))),
            },
            OciDistributionError::IoError(io) => self.io_failure(op, io),
            OciDistributionError::DigestError(d) => Failure::fatal(self.digest_error(op, &d)),
            other => Failure::fatal(registry(None, None, other.to_string())),
        }
    }

    /// A failure of a blob stream (`io::Error` from reqwest's body, or oci-client's check).
    pub(crate) fn io_failure(&self, op: &str, e: io::Error) -> Failure {
        if let Some(d) = e
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<oci_client::errors::DigestError>())
        {
            return Failure::fatal(self.digest_error(op, d));
        }
        match crate::error::unwrap_io(e) {
            Ok(oci) => Failure::fatal(oci),
            Err(e) => Failure::transient(self.connection(op, 1, Box::new(e))),
        }
    }

    /// oci-client's own digest check failed (it hashes blob streams and manifests too).
    fn digest_error(&self, op: &str, d: &oci_client::errors::DigestError) -> OciError {
        let what = format!("{}/{}: {op}", self.registry, self.repository);
        match d {
            oci_client::errors::DigestError::VerificationError { expected, actual } => {
                OciError::DigestMismatch {
                    what,
                    expected: expected.clone(),
                    actual: actual.clone(),
                }
            }
            other => OciError::invalid(what, other.to_string()),
        }
    }

    pub(crate) fn unauthorized(&self, reason: String) -> OciError {
        OciError::Unauthorized {
            registry: self.registry.clone(),
            repository: self.repository.clone(),
            user: self.credentials.as_ref().map(|c| c.user.clone()),
            credentials_from: self.credentials.as_ref().and_then(|c| c.file.clone()),
            reason: reason.into_boxed_str(),
        }
    }

    pub(crate) fn connection(
        &self,
        op: &str,
        attempts: u32,
        source: Box<dyn std::error::Error + Send + Sync>,
    ) -> OciError {
        OciError::Connection {
            registry: self.registry.clone(),
            op: op.to_owned(),
            attempts,
            source,
        }
    }
}

/// Whether a TLS error (a certificate refused, a handshake failed) is among `e`'s sources.
/// An `io::Error`'s `source()` skips the error it wraps, so those are opened with `get_ref`.
fn is_tls_failure(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur = Some(e);
    for _ in 0..32 {
        let Some(err) = cur else { return false };
        if err.is::<rustls::Error>() {
            return true;
        }
        cur = match err.downcast_ref::<io::Error>() {
            Some(io) => io
                .get_ref()
                .map(|inner| inner as &(dyn std::error::Error + 'static)),
            None => err.source(),
        };
    }
    false
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

/// A blob download as a sync reader. A dropped connection or a failed (5xx) request is
/// resumed from the bytes already yielded with a `Range` request, or restarted (the bytes
/// already yielded skipped) when the registry answers with the whole blob; at most
/// `retry.attempts` connections are made in all. The bytes are not verified here: the caller
/// reads through a verifying reader.
pub(crate) struct BlobDownload<'a> {
    pub(crate) rt: &'a tokio::runtime::Runtime,
    pub(crate) session: Arc<Session>,
    pub(crate) retry: &'a Retry,
    pub(crate) reference: Reference,
    pub(crate) desc: OciDescriptor,
    pub(crate) size: u64,
    pub(crate) op: String,
    stream: Option<futures_util::stream::BoxStream<'static, io::Result<bytes::Bytes>>>,
    pending: bytes::Bytes,
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
        reference: Reference,
        exp: &Expected,
        media_type: &str,
    ) -> Self {
        BlobDownload {
            rt,
            session,
            retry,
            reference,
            desc: OciDescriptor {
                media_type: media_type.to_owned(),
                digest: exp.digest.prefixed(),
                size: i64::try_from(exp.size).unwrap_or(i64::MAX),
                ..OciDescriptor::default()
            },
            size: exp.size,
            op: format!("pull blob {}", exp.digest),
            stream: None,
            pending: bytes::Bytes::new(),
            delivered: 0,
            to_skip: 0,
            connections: 0,
            resumed: 0,
        }
    }

    /// Opens the stream at the current offset, retrying a failed request within the budget.
    fn open(&mut self) -> Result<(), OciError> {
        loop {
            self.connections += 1;
            if self.connections > 1 {
                self.resumed += 1;
            }
            let offset = self.delivered;
            let client = &self.session.client;
            let result = if offset == 0 {
                self.rt
                    .block_on(client.pull_blob_stream(&self.reference, &self.desc))
                    .map(|s| (s.stream, 0))
            } else {
                self.rt
                    .block_on(client.pull_blob_stream_partial(
                        &self.reference,
                        &self.desc,
                        offset,
                        None,
                    ))
                    .map(|r| match r {
                        oci_client::client::BlobResponse::Full(s) => (s.stream, offset),
                        oci_client::client::BlobResponse::Partial(s) => (s.stream, 0),
                    })
            };
            match result {
                Ok((stream, skip)) => {
                    if offset > 0 {
                        tracing::info!(
                            op = %self.op,
                            offset,
                            restarted = skip > 0,
                            "download resumed"
                        );
                    }
                    self.stream = Some(stream);
                    self.to_skip = skip;
                    return Ok(());
                }
                Err(e) => {
                    let f = self.session.failure(&self.op, e);
                    self.give_up_or_wait(f)?;
                }
            }
        }
    }

    /// After a failure: an error when it is final or the budget is spent, else a backoff.
    fn give_up_or_wait(&mut self, f: Failure) -> Result<(), OciError> {
        let budget = self.retry.attempts.max(1);
        if !f.retry || self.connections >= budget {
            return Err(match *f.error {
                OciError::Connection {
                    registry,
                    op,
                    source,
                    ..
                } => OciError::Connection {
                    registry,
                    op,
                    attempts: self.connections,
                    source,
                },
                other => other,
            });
        }
        let wait = self.retry.backoff(self.connections);
        tracing::warn!(op = %self.op, delivered = self.delivered, ?wait, error = %f.error, "blob download interrupted");
        self.stream = None;
        std::thread::sleep(wait);
        Ok(())
    }
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
            let Some(stream) = self.stream.as_mut() else {
                self.open().map_err(OciError::into_io)?;
                continue;
            };
            match self.rt.block_on(stream.next()) {
                Some(Ok(mut chunk)) => {
                    if self.to_skip > 0 {
                        let skip = usize::try_from(self.to_skip)
                            .unwrap_or(usize::MAX)
                            .min(chunk.len());
                        let _ = chunk.split_to(skip);
                        self.to_skip -= skip as u64;
                    }
                    self.pending = chunk;
                }
                Some(Err(e)) => {
                    let f = self.session.io_failure(&self.op, e);
                    self.give_up_or_wait(f).map_err(OciError::into_io)?;
                }
                None if self.delivered < self.size && self.to_skip == 0 => {
                    // The body ended early without an error: as good as a dropped connection.
                    let e = io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        format!("body ended after {} of {} bytes", self.delivered, self.size),
                    );
                    let f = Failure::transient(self.session.connection(&self.op, 1, Box::new(e)));
                    self.give_up_or_wait(f).map_err(OciError::into_io)?;
                }
                None => {
                    self.stream = None;
                    return Ok(0);
                }
            }
        }
    }
}

/// Uploads `size` bytes from `reader` as the blob `exp` into `reference`'s repository,
/// streaming them through a bounded channel in chunks of `chunk` bytes (each one PATCH
/// request in a chunked upload).
pub(crate) fn upload(
    rt: &tokio::runtime::Runtime,
    session: &Session,
    reference: &Reference,
    exp: &Expected,
    reader: &mut dyn Read,
    chunk: usize,
    op: &str,
) -> Result<(), Failure> {
    let (tx, rx) = tokio::sync::mpsc::channel::<oci_client::errors::Result<bytes::Bytes>>(2);
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    let digest = exp.digest.prefixed();
    let push = session
        .client
        .push_blob_stream(reference, stream, &digest, Some(exp.size));
    let chunk = chunk.max(1);
    let mut source_error: Option<io::Error> = None;
    let feed = async {
        // Owned by this future, so the channel closes (ending the upload) when it finishes.
        let tx = tx;
        loop {
            let mut buf = vec![0u8; chunk];
            let mut filled = 0;
            // Fill a whole chunk (or reach the end) so each PATCH carries `chunk` bytes.
            while filled < chunk {
                match reader.read(&mut buf[filled..]) {
                    Ok(0) => break,
                    Ok(n) => filled += n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        let msg = e.to_string();
                        source_error = Some(e);
                        let _ = tx
                            .send(Err(OciDistributionError::GenericError(Some(msg))))
                            .await;
                        return;
                    }
                }
            }
            if filled == 0 {
                return;
            }
            buf.truncate(filled);
            if tx.send(Ok(bytes::Bytes::from(buf))).await.is_err() {
                return;
            }
        }
    };
    let (pushed, ()) = rt.block_on(async { tokio::join!(push, feed) });
    if let Some(e) = source_error {
        return Err(Failure::fatal(OciError::from_io(
            format!("blob {}", exp.digest),
            "read",
            e,
        )));
    }
    pushed.map(|_| ()).map_err(|e| session.failure(op, e))
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
