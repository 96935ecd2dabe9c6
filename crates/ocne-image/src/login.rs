//! The login a registry's refusal leads to, as OCNE's `image.Copy` asks for it through
//! containers/common's `auth.Login`: `Username: ` and `Password: ` (not echoed) on the
//! terminal. strata keeps the credentials in memory for the one retry and writes no auth file;
//! without a terminal there is nothing to ask and the refusal stands.

use std::io::{self, BufRead, IsTerminal, Write};
use std::os::fd::AsFd;

use rustix::termios::{LocalModes, OptionalActions, tcgetattr, tcsetattr};

use crate::error::Error;

/// A user and password.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The user name.
    pub user: String,
    /// The password.
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

/// Where a login comes from.
pub trait Login {
    /// Asks for credentials for `domain`, prompting on `out`; `None` when nothing can be asked.
    fn ask(&self, domain: &str, out: &mut dyn Write) -> Result<Option<Credentials>, Error>;
}

/// The terminal on standard input: prompts as containers/common does.
#[derive(Debug, Clone, Copy, Default)]
pub struct Terminal;

impl Login for Terminal {
    fn ask(&self, _domain: &str, out: &mut dyn Write) -> Result<Option<Credentials>, Error> {
        let stdin = io::stdin();
        if !stdin.is_terminal() {
            return Ok(None);
        }
        out.write_all(b"Username: ")
            .and_then(|()| out.flush())
            .map_err(Error::Output)?;
        let mut user = String::new();
        stdin.lock().read_line(&mut user).map_err(Error::Prompt)?;
        out.write_all(b"Password: ")
            .and_then(|()| out.flush())
            .map_err(Error::Output)?;
        let password = read_hidden(&stdin).map_err(Error::Prompt)?;
        out.write_all(b"\n").map_err(Error::Output)?;
        Ok(Some(Credentials {
            user: user.trim_end_matches(['\r', '\n']).to_owned(),
            password,
        }))
    }
}

/// One line of `stdin` with the terminal's echo off, restored afterwards.
fn read_hidden(stdin: &io::Stdin) -> io::Result<String> {
    let fd = stdin.as_fd();
    let saved = tcgetattr(fd)?;
    let mut quiet = saved.clone();
    quiet.local_modes.remove(LocalModes::ECHO);
    tcsetattr(fd, OptionalActions::Now, &quiet)?;
    let mut line = String::new();
    let read = stdin.lock().read_line(&mut line);
    let restored = tcsetattr(fd, OptionalActions::Now, &saved);
    read?;
    restored?;
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}
