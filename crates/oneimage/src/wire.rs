//! The protocol between `oneimage`/`onedatastore` and the strata daemon on its unix socket.
//!
//! A client sends one [`Request`] per connection: the command line, and every input the
//! command needs that lives on the client's side (template files, standard input, the text it
//! edited), with the image file of `--path` opened by the client and passed as a file
//! descriptor (`SCM_RIGHTS`). The daemon answers one [`Response`]: what the command printed and
//! its exit status. The daemon learns who the client is from the socket (`SO_PEERCRED`), never
//! from the request.
//!
//! Each message is a frame: the magic `SONE`, the body's length (u32, big-endian), then the
//! body, JSON. A request's descriptor travels with its first bytes. Bodies over
//! [`MAX_BODY`] are refused before they are read.

use std::collections::BTreeMap;
use std::io::{self, IoSlice, IoSliceMut, Read, Write};
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;

use rustix::net::{
    RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, SendAncillaryBuffer,
    SendAncillaryMessage, SendFlags,
};
use serde::{Deserialize, Serialize};

/// The frame magic.
pub const MAGIC: &[u8; 4] = b"SONE";
/// The largest body: templates and standard input are at most 1 MiB each, and a request
/// carries a few.
pub const MAX_BODY: u32 = 16 << 20;

/// Which command line a request carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Bin {
    /// `oneimage`.
    Oneimage,
    /// `onedatastore`.
    Onedatastore,
}

/// A command for the daemon to run as the client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Request {
    /// The program.
    pub bin: Bin,
    /// Its arguments (without the program's name).
    pub args: Vec<String>,
    /// The client's working directory (relative `--path`s start there).
    pub cwd: PathBuf,
    /// Whether the client's standard output is a terminal.
    pub tty: bool,
    /// The client's terminal width.
    pub width: Option<usize>,
    /// The client's time zone (IANA name), for times.
    pub tz: Option<String>,
    /// The client's standard input, when it is not a terminal.
    pub stdin: Option<String>,
    /// Template files the command line names, by the name it gives them.
    pub files: BTreeMap<String, String>,
    /// The path of the image file whose descriptor comes with the request.
    pub image: Option<String>,
    /// The template as the client's editor left it (`update` without a file, second round).
    pub edited: Option<String>,
}

/// What the daemon ran, or what it needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Response {
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
    /// The exit status.
    pub code: u8,
    /// The template to edit: the client runs its editor on it and sends the request again
    /// with [`Request::edited`].
    pub edit: Option<String>,
}

/// A protocol error.
#[derive(Debug, thiserror::Error)]
pub enum WireError {
    /// The socket failed.
    #[error("the strata daemon's socket failed: {0}")]
    Io(#[from] io::Error),
    /// A frame that is not one of this protocol's.
    #[error("the strata daemon's socket carried a bad frame: {0}")]
    Frame(String),
}

fn frame(body: &[u8]) -> Result<[u8; 8], WireError> {
    let len = u32::try_from(body.len())
        .ok()
        .filter(|len| *len <= MAX_BODY)
        .ok_or_else(|| WireError::Frame(format!("{} bytes is too large", body.len())))?;
    let mut head = [0u8; 8];
    head[..4].copy_from_slice(MAGIC);
    head[4..].copy_from_slice(&len.to_be_bytes());
    Ok(head)
}

/// Sends `message`, with `fd` passed alongside when given.
pub fn send<T: Serialize>(
    stream: &mut UnixStream,
    message: &T,
    fd: Option<&OwnedFd>,
) -> Result<(), WireError> {
    let body = serde_json::to_vec(message).map_err(|e| WireError::Frame(e.to_string()))?;
    let head = frame(&body)?;
    match fd {
        Some(fd) => {
            let fds = [fd.as_fd()];
            let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
            let mut control = SendAncillaryBuffer::new(&mut space);
            if !control.push(SendAncillaryMessage::ScmRights(&fds)) {
                return Err(WireError::Frame("no room for the descriptor".to_owned()));
            }
            let sent = rustix::net::sendmsg(
                &*stream,
                &[IoSlice::new(&head)],
                &mut control,
                SendFlags::empty(),
            )
            .map_err(io::Error::from)?;
            stream.write_all(&head[sent..])?;
        }
        None => stream.write_all(&head)?,
    }
    stream.write_all(&body)?;
    stream.flush()?;
    Ok(())
}

/// Receives one message and the descriptor that came with it.
pub fn receive<T: for<'de> Deserialize<'de>>(
    stream: &mut UnixStream,
) -> Result<(T, Option<OwnedFd>), WireError> {
    let mut head = [0u8; 8];
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut control = RecvAncillaryBuffer::new(&mut space);
    let got = rustix::net::recvmsg(
        &*stream,
        &mut [IoSliceMut::new(&mut head)],
        &mut control,
        RecvFlags::CMSG_CLOEXEC,
    )
    .map_err(io::Error::from)?;
    let mut fd = None;
    for message in control.drain() {
        if let RecvAncillaryMessage::ScmRights(fds) = message {
            for received in fds {
                // One descriptor is kept; any more are closed as they drop.
                if fd.is_none() {
                    fd = Some(received);
                }
            }
        }
    }
    if got.bytes == 0 {
        return Err(WireError::Frame("the connection closed".to_owned()));
    }
    stream.read_exact(&mut head[got.bytes..])?;
    if &head[..4] != MAGIC {
        return Err(WireError::Frame("no SONE magic".to_owned()));
    }
    let len = u32::from_be_bytes([head[4], head[5], head[6], head[7]]);
    if len > MAX_BODY {
        return Err(WireError::Frame(format!(
            "a body of {len} bytes, more than {MAX_BODY}"
        )));
    }
    let mut body = Vec::new();
    stream.take(u64::from(len)).read_to_end(&mut body)?;
    if body.len() != len as usize {
        return Err(WireError::Frame("the body was cut short".to_owned()));
    }
    let message = serde_json::from_slice(&body).map_err(|e| WireError::Frame(e.to_string()))?;
    Ok((message, fd))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_and_its_descriptor_cross_the_socket() {
        let (mut a, mut b) = UnixStream::pair().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("disk");
        std::fs::write(&path, b"bytes").unwrap();
        let file = std::fs::File::open(&path).unwrap();
        let request = Request {
            bin: Bin::Oneimage,
            args: vec!["list".into()],
            cwd: "/".into(),
            tty: false,
            width: None,
            tz: None,
            stdin: None,
            files: BTreeMap::new(),
            image: Some(path.to_string_lossy().into_owned()),
            edited: None,
        };
        send(&mut a, &request, Some(&OwnedFd::from(file))).unwrap();
        let (got, fd): (Request, _) = receive(&mut b).unwrap();
        assert_eq!(got, request);
        let mut text = String::new();
        std::fs::File::from(fd.unwrap())
            .read_to_string(&mut text)
            .unwrap();
        assert_eq!(text, "bytes");
    }

    #[test]
    fn bad_frames_are_refused_before_their_bodies_are_read() {
        let (mut a, mut b) = UnixStream::pair().unwrap();
        a.write_all(b"SONE\xff\xff\xff\xff").unwrap();
        let e = receive::<Response>(&mut b).unwrap_err().to_string();
        assert!(e.contains("more than"), "{e}");
        let (mut a, mut b) = UnixStream::pair().unwrap();
        a.write_all(b"HTTP/1.1").unwrap();
        assert!(receive::<Response>(&mut b).is_err());
    }
}
