//! The strata daemon of a **shared pool** (`strata-oned`): the only process that writes the
//! pool, as oned is OpenNebula's. It runs as a service user that owns the pool's directory
//! (mode 0700), so that no user can change the pool's files but through it, and serves:
//!
//! - `oneimage` and `onedatastore` on a unix socket ([`serve_unix`], [`crate::wire`]): the
//!   daemon knows each client from the socket's peer credentials (`SO_PEERCRED`); uid 0 and
//!   the members of the admin group act as `oneadmin`. It runs the client's command line as
//!   that user and sends back what the command printed. Files the command names come from the
//!   client: template text, and the image file of `--path`, opened by the client and passed as
//!   a descriptor, so the daemon reads only what the client itself could read.
//! - OpenNebula's XML-RPC API on loopback, for pyone programs (the `xmlrpc` module).

use std::collections::BTreeMap;
use std::os::fd::OwnedFd;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use clap::Parser;
use jiff::tz::TimeZone;
use strata::pool::Pool;
use strata_cli::Dialect;
use strata_model::one::{Caller, Ownership, USERS_GROUP};
use strata_store::Accounts;

use crate::cli::{OneDatastore, OneImage};
use crate::error::{Error, One};
use crate::run::{self, Inputs, Io};
use crate::settings::Settings;
use crate::wire::{self, Bin, Request, Response};

/// The most connections served at once; more wait in the listen queue.
pub const MAX_CLIENTS: usize = 64;

/// A shared pool and who administers it.
#[derive(Debug)]
pub struct Daemon {
    /// The pool.
    pub pool: Pool,
    /// The pool's directory.
    pub pool_dir: PathBuf,
    /// Members of this group act as `oneadmin` (as uid 0 does).
    pub admin_group: Option<u32>,
}

impl Daemon {
    /// The caller with OS uid `uid` and primary group `gid`: their groups from `/etc/group`,
    /// OpenNebula's `users` group (every OS user is a user of the pool, as every OpenNebula
    /// user starts in `users`), and `oneadmin`'s rights for uid 0 and the admin group.
    pub fn caller(&self, uid: u32, gid: u32, accounts: &Accounts) -> Caller {
        let name = accounts.user_name(uid);
        let mut groups: std::collections::BTreeSet<u32> =
            accounts.groups_of(&name).map(|g| g.gid).collect();
        groups.insert(gid);
        let admin = uid == 0 || self.admin_group.is_some_and(|g| groups.contains(&g));
        groups.insert(USERS_GROUP);
        crate::settings::caller(uid, gid, groups, admin, accounts)
    }
}

/// The inputs a client sent with its request.
struct RemoteInputs {
    stdin: Option<String>,
    files: BTreeMap<String, String>,
    image: Option<(String, OwnedFd)>,
    edited: Option<String>,
}

impl Inputs for RemoteInputs {
    fn read(&mut self, path: &str) -> Result<String, Error> {
        self.files.get(path).cloned().ok_or_else(|| Error::Read {
            path: PathBuf::from(path),
            source: std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "the client did not send this file",
            ),
        })
    }

    fn stdin(&mut self) -> Result<Option<String>, Error> {
        Ok(self.stdin.take())
    }

    fn open_image(&mut self, path: &str) -> Result<Option<std::fs::File>, Error> {
        match self.image.take() {
            Some((sent, fd)) if sent == path => Ok(Some(std::fs::File::from(fd))),
            _ => Err(Error::NotFound {
                message: format!(
                    "[one.image.allocate] Cannot parse image SIZE: Cannot determine size for \
                     {path}: the client could not open it"
                ),
            }),
        }
    }

    fn edit(&mut self, text: &str) -> Result<String, Error> {
        self.edited.take().ok_or_else(|| Error::NeedsEditor {
            text: text.to_owned(),
        })
    }
}

/// Runs one request as the user `caller` and answers it.
pub fn answer(daemon: &Daemon, caller: Caller, request: Request, fd: Option<OwnedFd>) -> Response {
    let accounts = Accounts::read();
    let settings = Settings {
        pool_dir: daemon.pool_dir.clone(),
        caller,
        accounts,
    };
    let mut inputs = RemoteInputs {
        stdin: request.stdin,
        files: request.files,
        image: request.image.zip(fd),
        edited: request.edited,
    };
    let mut out = Vec::new();
    let mut err = Vec::new();
    let tz = request
        .tz
        .as_deref()
        .and_then(|name| TimeZone::get(name).ok())
        .unwrap_or(TimeZone::UTC);
    let mut io = Io {
        out: &mut out,
        err: &mut err,
        inputs: &mut inputs,
        cwd: request.cwd,
        tty: request.tty,
        width: request.width,
        tz,
    };
    let name = match request.bin {
        Bin::Oneimage => "oneimage",
        Bin::Onedatastore => "onedatastore",
    };
    let argv = std::iter::once(name.to_owned()).chain(request.args);
    let result = match request.bin {
        Bin::Oneimage => match OneImage::try_parse_from(argv) {
            Ok(args) => run::run_image(args, &daemon.pool, &settings, &mut io),
            Err(e) => return usage(&e),
        },
        Bin::Onedatastore => match OneDatastore::try_parse_from(argv) {
            Ok(args) => run::run_datastore(args, &daemon.pool, &settings, &mut io),
            Err(e) => return usage(&e),
        },
    };
    let (code, edit) = match result {
        Ok(()) => (0, None),
        Err(Error::NeedsEditor { text }) => (0, Some(text)),
        Err(e) => {
            err.extend_from_slice(One.report(&e, strata_cli::Styler::default()).as_bytes());
            (One.exit_code(&e), None)
        }
    };
    Response {
        stdout: String::from_utf8_lossy(&out).into_owned(),
        stderr: String::from_utf8_lossy(&err).into_owned(),
        code,
        edit,
    }
}

/// clap's answer to a command line it does not take (or to `--help`).
fn usage(e: &clap::Error) -> Response {
    let text = e.render().to_string();
    let (stdout, stderr, code) = if e.use_stderr() {
        (
            String::new(),
            text,
            u8::try_from(e.exit_code()).unwrap_or(2),
        )
    } else {
        (text, String::new(), 0)
    };
    Response {
        stdout,
        stderr,
        code,
        edit: None,
    }
}

/// Serves one connection: one request, one response.
fn serve_client(daemon: &Daemon, mut stream: UnixStream) -> Result<(), wire::WireError> {
    stream.set_read_timeout(Some(Duration::from_secs(60)))?;
    let cred = rustix::net::sockopt::socket_peercred(&stream).map_err(std::io::Error::from)?;
    let (request, fd): (Request, _) = wire::receive(&mut stream)?;
    let accounts = Accounts::read();
    let caller = daemon.caller(cred.uid.as_raw(), cred.gid.as_raw(), &accounts);
    tracing::info!(
        uid = cred.uid.as_raw(),
        pid = cred.pid.as_raw_nonzero().get(),
        command = ?request.args,
        "request"
    );
    let response = answer(daemon, caller, request, fd);
    wire::send(&mut stream, &response, None)
}

/// Serves `oneimage` and `onedatastore` on `listener` until `stop` is cancelled, a thread per
/// connection, at most [`MAX_CLIENTS`] at once.
pub fn serve_unix(
    listener: &UnixListener,
    daemon: &Arc<Daemon>,
    stop: &strata::Cancel,
) -> std::io::Result<()> {
    listener.set_nonblocking(true)?;
    let busy = Arc::new(AtomicUsize::new(0));
    while !stop.is_cancelled() {
        let stream = match listener.accept() {
            Ok((stream, _)) => stream,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(20));
                continue;
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        while busy.load(Ordering::Acquire) >= MAX_CLIENTS {
            std::thread::sleep(Duration::from_millis(5));
        }
        stream.set_nonblocking(false)?;
        busy.fetch_add(1, Ordering::AcqRel);
        let daemon = Arc::clone(daemon);
        let busy = Arc::clone(&busy);
        std::thread::spawn(move || {
            if let Err(e) = serve_client(&daemon, stream) {
                tracing::warn!("a client failed: {e}");
            }
            busy.fetch_sub(1, Ordering::AcqRel);
        });
    }
    Ok(())
}

/// Binds the daemon's socket at `path` (replacing a stale one), open to every user: the
/// daemon checks who connects.
pub fn bind(path: &Path) -> std::io::Result<UnixListener> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let listener = UnixListener::bind(path)?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o666))?;
    Ok(listener)
}

/// `strata-oned`: makes the pool if it is new (its directory 0700, owned by the daemon's
/// user), binds the socket and serves until SIGTERM or SIGINT.
pub fn run(args: &crate::cli::StrataOned) -> Result<(), Error> {
    let _ = strata_cli::init_logging(args.verbose.saturating_add(1));
    let accounts = Accounts::read();
    if let Some(crate::cli::OnedCommand::Passwd { user }) = &args.command {
        return passwd(&args.users, user, &accounts);
    }
    let stop = strata_cli::interrupt::install().map_err(Error::Output)?;
    let uid = rustix::process::getuid().as_raw();
    let gid = rustix::process::getgid().as_raw();
    let owner = Ownership {
        uid,
        gid,
        uname: accounts.user_name(uid),
        gname: accounts.group_name(gid),
    };
    if !args.pool.exists() {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&args.pool)
            .map_err(|source| Error::Read {
                path: args.pool.clone(),
                source,
            })?;
    }
    let pool = Pool::open_or_init(&args.pool, crate::settings::opennebula_policy(), |store| {
        crate::settings::bootstrap_datastores(store, &owner)
    })?;
    let admin_group = accounts.group_named(&args.admin_group).map(|g| g.gid);
    let daemon = Arc::new(Daemon {
        pool: pool.clone(),
        pool_dir: args.pool.clone(),
        admin_group,
    });
    let listener = bind(&args.socket).map_err(|source| Error::Read {
        path: args.socket.clone(),
        source,
    })?;
    let xmlrpc_stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let xmlrpc = if args.xmlrpc == "off" {
        None
    } else {
        let users = match crate::xmlrpc::Users::load(&args.users) {
            Ok(users) => users,
            Err(e) => {
                tracing::warn!("no XML-RPC user can log in: {e}");
                crate::xmlrpc::Users::default()
            }
        };
        let endpoint = Arc::new(
            crate::xmlrpc::Endpoint::new(pool, users, accounts, admin_group)
                .with_users_file(&args.users),
        );
        let tcp = std::net::TcpListener::bind(&args.xmlrpc).map_err(|source| Error::Read {
            path: PathBuf::from(&args.xmlrpc),
            source,
        })?;
        tracing::info!(address = %args.xmlrpc, "serving XML-RPC");
        let stop = Arc::clone(&xmlrpc_stop);
        Some(std::thread::spawn(move || {
            crate::xmlrpc::serve(tcp, endpoint, stop)
        }))
    };
    tracing::info!(pool = %args.pool.display(), socket = %args.socket.display(), "serving");
    let served = serve_unix(&listener, &daemon, &stop);
    xmlrpc_stop.store(true, std::sync::atomic::Ordering::Relaxed);
    if let Some(thread) = xmlrpc {
        let _ = thread.join();
    }
    let _ = std::fs::remove_file(&args.socket);
    served.map_err(Error::Output)
}

/// `strata-oned passwd USER`: the password from standard input's first line.
fn passwd(users: &Path, user: &str, accounts: &Accounts) -> Result<(), Error> {
    if accounts.user_named(user).is_none() {
        return Err(Error::NotFound {
            message: format!("USER named {user} not found."),
        });
    }
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .map_err(|source| Error::Read {
            path: PathBuf::from("standard input"),
            source,
        })?;
    let password = line.trim_end_matches(['\n', '\r']);
    if let Some(dir) = users.parent() {
        std::fs::create_dir_all(dir).map_err(|source| Error::Read {
            path: dir.to_owned(),
            source,
        })?;
    }
    crate::xmlrpc::Users::set_password(users, user, password).map_err(|e| Error::Argument {
        message: e.to_string(),
    })
}
