//! `oneimage` and `onedatastore` as clients of the strata daemon of a shared pool: the command
//! line goes to the daemon, which runs it as the calling user ([`crate::daemon`]); the inputs
//! that live here go with it (template files, standard input, the image file of `--path`
//! opened here), and `update` without a file runs the editor here.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Read, Write};
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

use clap::Parser;
use strata_model::one::Template;

use crate::cli::{DatastoreCommand, ImageCommand, OneDatastore, OneImage};
use crate::error::Error;
use crate::run::{self, MAX_TEMPLATE};
use crate::wire::{self, Bin, Request, Response};

/// What a client sends besides its command line.
#[derive(Debug, Default)]
struct Sent {
    files: BTreeMap<String, String>,
    stdin: Option<String>,
    image: Option<(String, OwnedFd)>,
}

fn read_file(path: &str) -> Result<String, Error> {
    let mut text = String::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_TEMPLATE).read_to_string(&mut text))
        .map_err(|source| Error::Read {
            path: PathBuf::from(path),
            source,
        })?;
    Ok(text)
}

fn read_stdin() -> Result<Option<String>, Error> {
    let mut stdin = std::io::stdin();
    if stdin.is_terminal() {
        return Ok(None);
    }
    run::read_piped(&mut stdin)
}

/// Opens the image file a template's PATH names, here, with this user's rights.
fn open_image(template: &str, sent: &mut Sent) -> Result<(), Error> {
    let Ok(parsed) = Template::parse(template) else {
        // The daemon answers the parse error.
        return Ok(());
    };
    let Some(path) = parsed.get_single("PATH").filter(|p| !p.is_empty()) else {
        return Ok(());
    };
    if run::is_remote(path) {
        return Ok(());
    }
    let file = std::fs::File::open(path).map_err(|e| Error::NotFound {
        message: format!(
            "[one.image.allocate] Cannot parse image SIZE: Cannot determine size for {path}: {e}"
        ),
    })?;
    sent.image = Some((path.to_owned(), OwnedFd::from(file)));
    Ok(())
}

/// Gathers the inputs `oneimage args` needs from this side.
fn image_inputs(args: &OneImage, cwd: &Path) -> Result<Sent, Error> {
    let mut sent = Sent::default();
    match &args.command {
        ImageCommand::Create(create) => {
            let template = match &create.file {
                Some(file) => {
                    let text = read_file(file)?;
                    sent.files.insert(file.clone(), text.clone());
                    Some(text)
                }
                None => {
                    sent.stdin = read_stdin()?;
                    sent.stdin.clone()
                }
            };
            let template = match template {
                Some(text) => text,
                None => run::create_options(create, cwd)?.to_template(),
            };
            if !create.dry {
                open_image(&template, &mut sent)?;
            }
        }
        ImageCommand::Update {
            file: Some(file), ..
        } => {
            sent.files.insert(file.clone(), read_file(file)?);
        }
        ImageCommand::Update { file: None, .. } => sent.stdin = read_stdin()?,
        _ => {}
    }
    Ok(sent)
}

/// Gathers the inputs `onedatastore args` needs from this side.
fn datastore_inputs(args: &OneDatastore) -> Result<Sent, Error> {
    let mut sent = Sent::default();
    match &args.command {
        DatastoreCommand::Create { file: Some(file) }
        | DatastoreCommand::Update {
            file: Some(file), ..
        } => {
            sent.files.insert(file.clone(), read_file(file)?);
        }
        DatastoreCommand::Create { file: None } | DatastoreCommand::Update { file: None, .. } => {
            sent.stdin = read_stdin()?;
        }
        _ => {}
    }
    Ok(sent)
}

fn exchange(socket: &Path, request: &Request, fd: Option<&OwnedFd>) -> Result<Response, Error> {
    let failed = |source| Error::Daemon {
        socket: socket.to_owned(),
        source,
    };
    let mut stream = UnixStream::connect(socket).map_err(|e| failed(e.into()))?;
    wire::send(&mut stream, request, fd).map_err(failed)?;
    let (response, _): (Response, _) = wire::receive(&mut stream).map_err(failed)?;
    Ok(response)
}

/// Runs a command line (`argv`, the program's name first) through the daemon at `socket`;
/// prints what it printed and returns its exit status.
pub fn run_remote(bin: Bin, argv: Vec<String>, socket: &Path) -> Result<u8, Error> {
    let cwd = std::env::current_dir().unwrap_or_else(|_| "/".into());
    let sent = match bin {
        Bin::Oneimage => image_inputs(&parse::<OneImage>(&argv)?, &cwd)?,
        Bin::Onedatastore => datastore_inputs(&parse::<OneDatastore>(&argv)?)?,
    };
    let tty = std::io::stdout().is_terminal();
    let (image, fd) = match sent.image {
        Some((path, fd)) => (Some(path), Some(fd)),
        None => (None, None),
    };
    let mut request = Request {
        bin,
        args: argv.into_iter().skip(1).collect(),
        cwd,
        tty,
        width: if tty {
            strata_cli::term::terminal_width()
        } else {
            None
        },
        tz: std::env::var("TZ")
            .ok()
            .filter(|tz| !tz.is_empty())
            .or_else(|| jiff::tz::TimeZone::system().iana_name().map(str::to_owned)),
        stdin: sent.stdin,
        files: sent.files,
        image,
        edited: None,
    };
    if let Some((delay, count)) = top(bin, &request.args) {
        return top_remote(socket, request, delay, count);
    }
    let mut response = exchange(socket, &request, fd.as_ref())?;
    if let Some(text) = response.edit.take() {
        request.edited = Some(run::edit(&text)?);
        request.image = None;
        response = exchange(socket, &request, None)?;
    }
    std::io::stdout().write_all(response.stdout.as_bytes())?;
    let _ = std::io::stderr().write_all(response.stderr.as_bytes());
    Ok(response.code)
}

/// `oneimage top`'s delay and count, when `args` is a `top` command: the loop runs here, one
/// `list` request per redraw, so that the daemon answers each at once.
fn top(bin: Bin, args: &[String]) -> Option<(f64, Option<u64>)> {
    if bin != Bin::Oneimage {
        return None;
    }
    let argv = std::iter::once("oneimage".to_owned()).chain(args.iter().cloned());
    match OneImage::try_parse_from(argv).ok()?.command {
        ImageCommand::Top { delay, count, .. } => Some((delay, count)),
        _ => None,
    }
}

fn top_remote(
    socket: &Path,
    mut request: Request,
    delay: f64,
    count: Option<u64>,
) -> Result<u8, Error> {
    // The same command with one draw: the daemon runs it, the loop is here.
    request.args.push("--count".to_owned());
    request.args.push("1".to_owned());
    let delay = std::time::Duration::try_from_secs_f64(delay.max(0.0)).unwrap_or_default();
    let mut drawn = 0u64;
    while count.is_none_or(|c| drawn < c) {
        if drawn > 0 {
            std::thread::sleep(delay);
        }
        let response = exchange(socket, &request, None)?;
        std::io::stdout().write_all(response.stdout.as_bytes())?;
        std::io::stdout().flush()?;
        let _ = std::io::stderr().write_all(response.stderr.as_bytes());
        if response.code != 0 {
            return Ok(response.code);
        }
        drawn += 1;
    }
    Ok(0)
}

/// Parses `argv` here, so that usage errors and `--help` need no daemon; they were already
/// handled by the caller, so an error here is unexpected.
fn parse<P: Parser>(argv: &[String]) -> Result<P, Error> {
    P::try_parse_from(argv).map_err(|e| Error::Argument {
        message: e.render().to_string(),
    })
}
