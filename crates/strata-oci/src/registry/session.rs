//! One registry and repository as the client speaks to it over HTTP/1.1 (reqwest): requests
//! with the authentication the registry asks for, answers read under a cap and a stall
//! timeout, and the translation of HTTP failures into [`OciError`].
//!
//! Authentication is learnt lazily, as the distribution API intends: a request goes out with
//! what the session knows (nothing at first); a `401` whose `WWW-Authenticate` header names a
//! challenge teaches it (`Basic`: the user's credentials on every request; `Bearer`: a token
//! fetched from the token server for this repository, `pull` or `pull,push`, renewed before it
//! expires), and a request without a streamed body is sent once more. Uploads start with a
//! `POST`, so by the time a body streams the session knows how to authenticate it.
//!
//! Every answer read into memory is capped before it is buffered: a `Content-Length` over the
//! cap is refused without reading, and a body without one is read until it passes the cap
//! ([`MAX_TOKEN_RESPONSE`] for tokens, the callers' limits for manifests; error bodies are cut at
//! [`MAX_ERROR_BODY`] and the rest dropped). Every wait (connecting aside, which has its own
//! timeout) is bounded by the stall timeout: an answer that does not start, or a body that makes
//! no progress, for that long fails as a dropped connection would, and is retried as one.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use reqwest::header::{AUTHORIZATION, HeaderValue, WWW_AUTHENTICATE};
use reqwest::{Method, RequestBuilder, Response, StatusCode, Url};

use super::auth::Found;
use super::challenge::{Challenge, parse_challenge, parse_token};
use super::transport::Failure;
use crate::error::OciError;

/// Largest token server answer read (a JSON object with one or two JWTs of a few KiB).
pub const MAX_TOKEN_RESPONSE: u64 = 64 << 10;

/// Most bytes of an error answer read for its message; the rest is not read.
pub const MAX_ERROR_BODY: u64 = 16 << 10;

/// Longest registry message kept in an error.
const MAX_MESSAGE_CHARS: usize = 1024;

/// What a request needs the repository for (the token's scope).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Access {
    /// Reading: `repository:NAME:pull`.
    Pull,
    /// Writing: `repository:NAME:pull,push`.
    Push,
    /// Deleting manifests: `repository:NAME:delete`.
    Delete,
}

impl Access {
    fn actions(self) -> &'static str {
        match self {
            Access::Pull => "pull",
            Access::Push => "pull,push",
            Access::Delete => "delete",
        }
    }
}

/// A bearer token and when it is to be renewed.
struct Token {
    header: HeaderValue,
    renew_at: Instant,
}

/// What the session has learnt about authentication.
#[derive(Default)]
struct AuthState {
    challenge: Option<Challenge>,
    tokens: HashMap<Access, Token>,
}

/// One registry and repository as the client talks to it.
pub(crate) struct Session {
    http: reqwest::Client,
    /// `http://host[:port]/` or `https://...`.
    base: Url,
    /// Registry domain as named (for errors and credentials).
    pub(crate) registry: String,
    pub(crate) repository: String,
    pub(crate) credentials: Option<Found>,
    /// How long a request may wait for an answer, or a body for its next bytes.
    pub(crate) stall: Duration,
    auth: Mutex<AuthState>,
}

impl Session {
    pub(crate) fn new(
        http: reqwest::Client,
        base: Url,
        registry: &str,
        repository: &str,
        credentials: Option<Found>,
        stall: Duration,
    ) -> Session {
        Session {
            http,
            base,
            registry: registry.to_owned(),
            repository: repository.to_owned(),
            credentials,
            stall,
            auth: Mutex::new(AuthState::default()),
        }
    }

    /// The URL of `tail` under this repository: `/v2/<repository>/<tail>`.
    pub(crate) fn url(&self, tail: &str) -> Result<Url, Failure> {
        self.base
            .join(&format!("/v2/{}/{tail}", self.repository))
            .map_err(|e| {
                Failure::fatal(OciError::InvalidRequest(format!(
                    "{}/{}: URL of {tail}: {e}",
                    self.registry, self.repository
                )))
            })
    }

    /// A URL a registry gave (a `Location` header), resolved against the request's.
    pub(crate) fn resolve(&self, base: &Url, location: &str, op: &str) -> Result<Url, Failure> {
        base.join(location)
            .map_err(|e| Failure::fatal(self.protocol(op, format!("Location {location:?}: {e}"))))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, AuthState> {
        // A panic while holding the lock leaves plain data behind: still usable.
        self.auth
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// `fut`, or a stall error when it does not finish within the stall timeout.
    pub(crate) async fn timed<T>(
        &self,
        op: &str,
        fut: impl Future<Output = Result<T, reqwest::Error>>,
    ) -> Result<T, Failure> {
        match tokio::time::timeout(self.stall, fut).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(self.request_failure(op, e)),
            Err(_) => Err(self.stalled(op)),
        }
    }

    /// A transfer that made no progress for the stall timeout: transient, like a dropped
    /// connection.
    pub(crate) fn stalled(&self, op: &str) -> Failure {
        let e = io::Error::new(
            io::ErrorKind::TimedOut,
            format!("no progress for {:?} (stall timeout)", self.stall),
        );
        Failure::transient(self.connection(op, 1, Box::new(e)))
    }

    /// Sends the request `make` builds, with the authentication the registry asks for; a `401`
    /// that teaches a new challenge (or wants a fresh token) gets the request built and sent
    /// once more. The answer is returned whatever its status.
    pub(crate) async fn send(
        &self,
        op: &str,
        access: Access,
        make: &dyn Fn(&reqwest::Client) -> RequestBuilder,
    ) -> Result<Response, Failure> {
        let mut retried = false;
        loop {
            let authorization = self.authorization(op, access).await?;
            let mut request = make(&self.http);
            if let Some(value) = &authorization {
                request = request.header(AUTHORIZATION, value.clone());
            }
            let response = self.timed(op, request.send()).await?;
            if response.status() == StatusCode::UNAUTHORIZED
                && !retried
                && self.learn(&response, access, authorization.is_some())
            {
                retried = true;
                continue;
            }
            return Ok(response);
        }
    }

    /// Sends a request whose body cannot be sent twice (a streamed upload), with what the
    /// session knows of authentication; the caller bounds the wait (the body's progress).
    pub(crate) async fn send_once(
        &self,
        op: &str,
        access: Access,
        request: RequestBuilder,
    ) -> Result<Response, Failure> {
        let request = match self.authorization(op, access).await? {
            Some(value) => request.header(AUTHORIZATION, value),
            None => request,
        };
        request
            .send()
            .await
            .map_err(|e| self.request_failure(op, e))
    }

    /// The builder of a request with `method` to `url` on this session's client.
    pub(crate) fn request(&self, method: Method, url: Url) -> RequestBuilder {
        self.http.request(method, url)
    }

    /// After a `401`: records the challenge it names and says whether sending again may help
    /// (a bearer challenge: with a fresh token; basic: when credentials exist and were not
    /// sent yet).
    fn learn(&self, response: &Response, access: Access, sent_auth: bool) -> bool {
        let Some(challenge) = response
            .headers()
            .get(WWW_AUTHENTICATE)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_challenge)
        else {
            return false;
        };
        let mut state = self.lock();
        let worth = match &challenge {
            Challenge::Basic => self.credentials.is_some() && !sent_auth,
            // A new challenge, or a token the registry no longer takes: try a fresh one (once:
            // the caller does not come back a second time).
            Challenge::Bearer { .. } => true,
        };
        state.tokens.remove(&access);
        state.challenge = Some(challenge);
        worth
    }

    /// The `Authorization` header the session would send now for `access`, fetching a bearer
    /// token when it has none or its own is due for renewal.
    async fn authorization(
        &self,
        op: &str,
        access: Access,
    ) -> Result<Option<HeaderValue>, Failure> {
        let challenge = {
            let state = self.lock();
            match &state.challenge {
                None => return Ok(None),
                Some(Challenge::Basic) => return Ok(self.basic_header()),
                Some(bearer) => {
                    if let Some(t) = state.tokens.get(&access)
                        && Instant::now() < t.renew_at
                    {
                        return Ok(Some(t.header.clone()));
                    }
                    bearer.clone()
                }
            }
        };
        let Challenge::Bearer { realm, service } = challenge else {
            return Ok(None);
        };
        let token = self
            .fetch_token(op, &realm, service.as_deref(), access)
            .await?;
        let header = token.header.clone();
        self.lock().tokens.insert(access, token);
        Ok(Some(header))
    }

    fn basic_header(&self) -> Option<HeaderValue> {
        use base64::Engine as _;
        let found = self.credentials.as_ref()?;
        let encoded = base64::engine::general_purpose::STANDARD
            .encode(format!("{}:{}", found.user, found.password));
        let mut value = HeaderValue::from_str(&format!("Basic {encoded}")).ok()?;
        value.set_sensitive(true);
        Some(value)
    }

    /// Makes sure the session knows how the registry authenticates (asking `/v2/` when it does
    /// not), and fetches a token for `access` when it wants one: what `login` checks.
    pub(crate) async fn authenticate(&self, op: &str, access: Access) -> Result<(), Failure> {
        if self.lock().challenge.is_none() {
            let url = self.base.join("/v2/").map_err(|e| {
                Failure::fatal(OciError::InvalidRequest(format!("{}: {e}", self.registry)))
            })?;
            let response = self.timed(op, self.http.get(url).send()).await?;
            if response.status() == StatusCode::UNAUTHORIZED {
                self.learn(&response, access, false);
            } else if !response.status().is_success() {
                return Err(self.status_failure(op, response).await);
            }
        }
        self.authorization(op, access).await.map(|_| ())
    }

    /// Exchanges the credentials (or nothing, anonymously) for a token at `realm`.
    async fn fetch_token(
        &self,
        op: &str,
        realm: &str,
        service: Option<&str>,
        access: Access,
    ) -> Result<Token, Failure> {
        let what = format!("token response from {realm}");
        let mut url = Url::parse(realm)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https"))
            .ok_or_else(|| {
                Failure::fatal(
                    self.protocol(op, format!("token realm {realm:?} is not an http(s) URL")),
                )
            })?;
        {
            let mut query = url.query_pairs_mut();
            query.append_pair(
                "scope",
                &format!("repository:{}:{}", self.repository, access.actions()),
            );
            if let Some(s) = service {
                query.append_pair("service", s);
            }
        }
        let mut request = self.http.get(url);
        if let Some(value) = self.basic_header() {
            request = request.header(AUTHORIZATION, value);
        }
        let token_op = format!("{op}: get a token from {realm}");
        let response = self.timed(&token_op, request.send()).await?;
        let status = response.status();
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            let body = self.error_body(response).await;
            return Err(Failure::fatal(self.unauthorized(format!(
                "token server: HTTP {}{}",
                status.as_u16(),
                message_suffix(&body)
            ))));
        }
        if !status.is_success() {
            return Err(self.status_failure(&token_op, response).await);
        }
        let body = self
            .read_capped(&token_op, response, &what, MAX_TOKEN_RESPONSE)
            .await?;
        let (token, lifetime) = parse_token(&body)
            .map_err(|reason| Failure::fatal(OciError::invalid(&what, reason)))?;
        let mut header = HeaderValue::from_str(&format!("Bearer {token}"))
            .map_err(|e| Failure::fatal(OciError::invalid(&what, e.to_string())))?;
        header.set_sensitive(true);
        Ok(Token {
            header,
            renew_at: Instant::now() + lifetime,
        })
    }

    /// Reads a whole body into memory, refusing more than `cap` bytes before buffering them: a
    /// `Content-Length` over the cap at once, a body without one as soon as it passes the cap.
    pub(crate) async fn read_capped(
        &self,
        op: &str,
        mut response: Response,
        what: &str,
        cap: u64,
    ) -> Result<Vec<u8>, Failure> {
        let too_large = || {
            Failure::fatal(OciError::TooLarge {
                what: what.to_owned(),
                limit: cap,
            })
        };
        let announced = response.content_length();
        if announced.is_some_and(|n| n > cap) {
            return Err(too_large());
        }
        let mut body =
            Vec::with_capacity(usize::try_from(announced.unwrap_or(0).min(cap)).unwrap_or(0));
        loop {
            match tokio::time::timeout(self.stall, response.chunk()).await {
                Err(_) => return Err(self.stalled(op)),
                Ok(Err(e)) => return Err(self.request_failure(op, e)),
                Ok(Ok(None)) => return Ok(body),
                Ok(Ok(Some(chunk))) => {
                    if (body.len() + chunk.len()) as u64 > cap {
                        return Err(too_large());
                    }
                    body.extend_from_slice(&chunk);
                }
            }
        }
    }

    /// At most [`MAX_ERROR_BODY`] bytes of an error answer (what arrives within the stall
    /// timeout); the rest is never read.
    async fn error_body(&self, mut response: Response) -> Vec<u8> {
        let mut body = Vec::new();
        while (body.len() as u64) < MAX_ERROR_BODY {
            match tokio::time::timeout(self.stall, response.chunk()).await {
                Ok(Ok(Some(chunk))) => {
                    let room = usize::try_from(MAX_ERROR_BODY).unwrap_or(usize::MAX) - body.len();
                    body.extend_from_slice(&chunk[..chunk.len().min(room)]);
                }
                _ => break,
            }
        }
        body
    }

    /// The failure an unexpected status is: 401/403 access denied; otherwise the registry's
    /// error (its code and message from the body's `errors`, when it has them), retried when
    /// 5xx, 408 or 429 (or `TOOMANYREQUESTS`).
    pub(crate) async fn status_failure(&self, op: &str, response: Response) -> Failure {
        let status = response.status();
        let body = self.error_body(response).await;
        let (code, message) = parse_envelope(&body);
        if status == StatusCode::UNAUTHORIZED
            || status == StatusCode::FORBIDDEN
            || matches!(code.as_deref(), Some("UNAUTHORIZED" | "DENIED"))
        {
            return Failure::fatal(self.unauthorized(format!(
                "HTTP {}{}",
                status.as_u16(),
                match (&code, message.is_empty()) {
                    (Some(c), false) => format!(": {c}: {message}"),
                    (Some(c), true) => format!(": {c}"),
                    (None, false) => format!(": {message}"),
                    (None, true) => String::new(),
                }
            )));
        }
        let retry = status.is_server_error()
            || status == StatusCode::TOO_MANY_REQUESTS
            || status == StatusCode::REQUEST_TIMEOUT
            || code.as_deref() == Some("TOOMANYREQUESTS");
        Failure {
            retry,
            error: Box::new(OciError::Registry {
                registry: self.registry.clone(),
                repository: self.repository.clone(),
                op: op.to_owned(),
                status: Some(status.as_u16()),
                code: code.map(String::into_boxed_str),
                message: message.into_boxed_str(),
            }),
        }
    }

    /// A transport error (no answer): a refused certificate is final, anything else is worth
    /// another attempt.
    pub(crate) fn request_failure(&self, op: &str, e: reqwest::Error) -> Failure {
        if e.is_timeout() {
            return self.stalled(op);
        }
        if is_tls_failure(&e) {
            Failure::fatal(self.connection(op, 1, Box::new(e)))
        } else {
            Failure::transient(self.connection(op, 1, Box::new(e)))
        }
    }

    /// A registry that does not follow the protocol (a missing or bad header).
    pub(crate) fn protocol(&self, op: &str, message: String) -> OciError {
        OciError::Registry {
            registry: self.registry.clone(),
            repository: self.repository.clone(),
            op: op.to_owned(),
            status: None,
            code: None,
            message: message.into_boxed_str(),
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

/// `: message` for a non-empty error body, else nothing.
fn message_suffix(body: &[u8]) -> String {
    let (code, message) = parse_envelope(body);
    match (code, message.is_empty()) {
        (Some(c), false) => format!(": {c}: {message}"),
        (Some(c), true) => format!(": {c}"),
        (None, false) => format!(": {message}"),
        (None, true) => String::new(),
    }
}

/// The first error's code and message of a distribution error body
/// (`{"errors":[{"code":...,"message":...}]}`); for another body, its text (trimmed and
/// shortened).
fn parse_envelope(body: &[u8]) -> (Option<String>, String) {
    #[derive(serde::Deserialize)]
    struct Envelope {
        errors: Vec<Entry>,
    }
    #[derive(serde::Deserialize)]
    struct Entry {
        #[serde(default)]
        code: Option<String>,
        #[serde(default)]
        message: Option<String>,
    }
    if let Ok(envelope) = serde_json::from_slice::<Envelope>(body)
        && let Some(first) = envelope.errors.into_iter().next()
    {
        return (
            first.code.filter(|c| !c.is_empty()),
            shorten(first.message.unwrap_or_default().trim()),
        );
    }
    (None, shorten(String::from_utf8_lossy(body).trim()))
}

fn shorten(text: &str) -> String {
    match text.char_indices().nth(MAX_MESSAGE_CHARS) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text.to_owned(),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelopes_and_plain_bodies() {
        let (code, msg) = parse_envelope(
            br#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}"#,
        );
        assert_eq!(code.as_deref(), Some("MANIFEST_UNKNOWN"));
        assert_eq!(msg, "manifest unknown");
        let (code, msg) = parse_envelope(b"  upstream timed out \n");
        assert_eq!((code, msg.as_str()), (None, "upstream timed out"));
        let long = vec![b'x'; 5000];
        let (_, msg) = parse_envelope(&long);
        assert_eq!(msg.chars().count(), MAX_MESSAGE_CHARS + 1);
    }
}
