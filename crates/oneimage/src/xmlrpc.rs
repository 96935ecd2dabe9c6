//! OpenNebula's XML-RPC API for images and datastores, served from a strata pool: the image
//! and datastore methods (`one.image.*`, `one.imagepool.info`, `one.datastore.*`,
//! `one.datastorepool.info`) and `one.system.version`, so that programs written against
//! OpenNebula's bindings (pyone, the Ruby OCA) work with strata.
//!
//! - [`codec`]: `methodCall` in, `methodResponse` out, as oned's xmlrpc-c writes it; hostile
//!   input bounded.
//! - [`users`]: the password file, and the caller a session (`user:password`) stands for.
//! - `methods`: each method's parameters as oned reads them, the pool's answer as oned
//!   answers: `[true, payload, 0]` or `[false, message, error code, object id, -1]`.
//!
//! [`Endpoint`] holds what a call needs; [`call`] answers one call, [`serve`] answers HTTP
//! POSTs on a listener (any path; oned's is `/RPC2`). Where the listener listens (loopback, a
//! unix socket in front) is the daemon's choice.

pub mod codec;
mod methods;
pub mod users;

#[cfg(feature = "fuzzing")]
pub mod fuzzing;

use std::io::Read;
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use strata::pool::Pool;
use strata_model::one::Caller;
use strata_store::Accounts;

pub use codec::{Response, Value};
pub use users::{Users, UsersError};

/// The OpenNebula version `one.system.version` answers: that of the bindings strata is tested
/// with (pyone 7.3.80, a development version of OpenNebula 7.4).
pub const ONE_VERSION: &str = "7.3.80";

/// How many requests are answered at once (a copy into a datastore can take a while).
pub const WORKERS: usize = 4;

/// What a call needs: the pool, who may call, the machine's accounts, the admin group.
#[derive(Debug)]
pub struct Endpoint {
    pool: Pool,
    users: std::sync::RwLock<Users>,
    /// The password file the users come from, read again when it changes (its length and
    /// modification time), so that `strata-oned passwd` needs no restart.
    users_file: Option<(std::path::PathBuf, std::sync::Mutex<Option<Stamp>>)>,
    accounts: Accounts,
    admin_group: Option<u32>,
}

impl Endpoint {
    /// An endpoint over `pool` for `users`, whose ids and groups come from `accounts`; members
    /// of `admin_group` (and uid 0) administer the pool.
    pub fn new(pool: Pool, users: Users, accounts: Accounts, admin_group: Option<u32>) -> Endpoint {
        Endpoint {
            pool,
            users: std::sync::RwLock::new(users),
            users_file: None,
            accounts,
            admin_group,
        }
    }

    /// This endpoint, whose users are read again from `path` whenever the file changes.
    #[must_use]
    pub fn with_users_file(mut self, path: impl Into<std::path::PathBuf>) -> Endpoint {
        let path = path.into();
        let seen = file_stamp(&path);
        self.users_file = Some((path, std::sync::Mutex::new(seen)));
        self
    }

    /// Reads the users again if their file changed since it was last read.
    fn refresh_users(&self) {
        let Some((path, seen)) = &self.users_file else {
            return;
        };
        let now = file_stamp(path);
        let Ok(mut seen) = seen.lock() else {
            return;
        };
        if *seen == now {
            return;
        }
        match Users::load(path) {
            Ok(users) => {
                if let Ok(mut current) = self.users.write() {
                    *current = users;
                }
                *seen = now;
            }
            Err(e) => tracing::warn!("the XML-RPC users were not read again: {e}"),
        }
    }

    /// The pool.
    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// The machine's accounts.
    pub fn accounts(&self) -> &Accounts {
        &self.accounts
    }

    /// The caller a session (`user:password`) stands for, or `None` if it is refused.
    pub fn verify(&self, session: &str) -> Option<Caller> {
        self.refresh_users();
        let users = self.users.read().ok()?;
        users.verify(session, &self.accounts, self.admin_group)
    }
}

/// A file's length and modification time.
type Stamp = (u64, std::time::SystemTime);

/// A file's [`Stamp`], `None` when it cannot be read.
fn file_stamp(path: &std::path::Path) -> Option<Stamp> {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.len(), meta.modified().ok()?))
}

/// One call: the method name and its decoded parameters (the session first, as every client
/// sends it) in, the response out. A fault (an unknown method, a parameter of the wrong type)
/// comes back as the `{faultCode, faultString}` struct a `<fault>` carries
/// ([`Response::from_value`] tells it apart); every other answer is oned's array.
pub fn call(endpoint: &Endpoint, method: &str, params: Vec<Value>) -> Value {
    methods::answer(endpoint, method, &params).into_value()
}

/// The answer to one request body: decoded, called, encoded.
pub fn handle(endpoint: &Endpoint, body: &[u8]) -> String {
    let response = match codec::decode_call(body) {
        Ok(call) => methods::answer(endpoint, &call.method, &call.params),
        Err(e) => Response::Fault {
            code: e.fault_code(),
            message: e.fault_string(),
        },
    };
    codec::encode(&response)
}

/// Serves XML-RPC (HTTP POST; oned's path is `/RPC2`, any path is accepted) on `listener` until
/// `stop` is set, with [`WORKERS`] threads. Each body is read up to
/// [`codec::MAX_REQUEST_BYTES`]; a larger one is answered with a fault without being read.
///
/// # Errors
/// The listener cannot be turned into a server (its address cannot be read).
pub fn serve(
    listener: TcpListener,
    endpoint: Arc<Endpoint>,
    stop: Arc<AtomicBool>,
) -> std::io::Result<()> {
    let server = tiny_http::Server::from_listener(listener, None)
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    let server = Arc::new(server);
    let workers: Vec<_> = (0..WORKERS)
        .map(|_| {
            let server = Arc::clone(&server);
            let endpoint = Arc::clone(&endpoint);
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    match server.recv_timeout(Duration::from_millis(100)) {
                        Ok(Some(request)) => respond(&endpoint, request),
                        Ok(None) => {}
                        Err(_) => std::thread::sleep(Duration::from_millis(100)),
                    }
                }
            })
        })
        .collect();
    for worker in workers {
        let _ = worker.join();
    }
    server.unblock();
    Ok(())
}

fn header(name: &str, value: &str) -> Option<tiny_http::Header> {
    tiny_http::Header::from_bytes(name.as_bytes(), value.as_bytes()).ok()
}

/// Answers one HTTP request: a POST with a body of at most [`codec::MAX_REQUEST_BYTES`] is a
/// call; anything else is answered as xmlrpc-c's Abyss server answers it (405 for a method
/// other than POST), or with a fault (a body too large).
fn respond(endpoint: &Endpoint, mut request: tiny_http::Request) {
    if *request.method() != tiny_http::Method::Post {
        let mut response = tiny_http::Response::empty(405);
        if let Some(h) = header("Allow", "POST") {
            response.add_header(h);
        }
        let _ = request.respond(response);
        return;
    }
    let limit = codec::MAX_REQUEST_BYTES;
    let text = match request.body_length() {
        Some(length) if length > limit => {
            codec::encode_fault(codec::fault::LIMIT_EXCEEDED, &too_large(length))
        }
        _ => {
            let mut body = Vec::new();
            let read = request
                .as_reader()
                .take(limit as u64 + 1)
                .read_to_end(&mut body);
            match read {
                Err(e) => codec::encode_fault(
                    codec::fault::INTERNAL,
                    &format!("Cannot read the request: {e}"),
                ),
                Ok(_) if body.len() > limit => {
                    codec::encode_fault(codec::fault::LIMIT_EXCEEDED, &too_large(body.len()))
                }
                Ok(_) => handle(endpoint, &body),
            }
        }
    };
    let mut response = tiny_http::Response::from_string(text);
    if let Some(h) = header("Content-Type", "text/xml; charset=utf-8") {
        response.add_header(h);
    }
    let _ = request.respond(response);
}

fn too_large(size: usize) -> String {
    codec::DecodeError::TooLarge { size }.to_string()
}
