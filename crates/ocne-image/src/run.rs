//! The program: [`main`] parses the command line and runs it on the process's streams;
//! [`run_with`] runs a parsed command on the streams, logger, login and OCI configuration an
//! [`Env`] gives, so tests drive the whole command in-process.

use std::io::{self, Write};
use std::path::PathBuf;

use clap::Parser;

use crate::cli::{Cli, Command};
use crate::error::{Error, Failure};
use crate::log::{Level, Logrus};
use crate::login::{Credentials, Login, Terminal};

/// What a command reads and writes besides its flags.
pub struct Env<'a> {
    /// Standard output: containers/image's progress lines, the login prompt.
    pub out: &'a mut dyn Write,
    /// Standard error: logrus's lines.
    pub err: &'a mut dyn Write,
    /// How logrus formats them.
    pub logrus: Logrus,
    /// Where a login comes from when a registry refuses the credentials.
    pub login: &'a dyn Login,
    /// The home directory, for a `--file` given as `~/…`.
    pub home: Option<PathBuf>,
}

impl Env<'_> {
    /// Logs `message` at `level`.
    pub fn log(&mut self, level: Level, message: &str) -> Result<(), Error> {
        self.logrus
            .log(self.err, level, message)
            .map_err(Error::Output)
    }

    /// Prints `text` on standard output.
    pub fn print(&mut self, text: &str) -> Result<(), Error> {
        self.out
            .write_all(text.as_bytes())
            .and_then(|()| self.out.flush())
            .map_err(Error::Output)
    }

    /// OCNE's `logutils.WaitFor`: runs `work` while logging `<message>: waiting` (then
    /// `waiting.`, `waiting..` ...) every 500 ms, redrawn in place on a terminal, and
    /// `<message>: ok` when it is done, or `<message>: <error>` at error level when it fails.
    /// The colour codes are OCNE's and are in the message whatever the output.
    ///
    /// `work` runs on another thread and must not write to the process's standard error,
    /// which this thread holds locked for the whole command (`eprintln!` there would wait
    /// forever).
    pub fn wait_for<T: Send>(
        &mut self,
        message: &str,
        work: impl FnOnce() -> Result<T, Error> + Send,
    ) -> Result<T, Error> {
        const FRAMES: [&str; 6] = [
            "waiting",
            "waiting.",
            "waiting..",
            "waiting...",
            "waiting ..",
            "waiting  .",
        ];
        let (tx, rx) = std::sync::mpsc::channel();
        let result = std::thread::scope(|scope| -> Result<Result<T, Error>, Error> {
            scope.spawn(move || {
                let _ = tx.send(work());
            });
            let mut frame = 0;
            loop {
                match rx.recv_timeout(std::time::Duration::from_millis(500)) {
                    Ok(result) => return Ok(result),
                    Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                        return Ok(Err(Error::Output(io::Error::other(
                            "the work stopped without a result",
                        ))));
                    }
                    Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
                }
                let line = format!(
                    "{message}: \x1b[33m{}\x1b[0m\x1b[K",
                    FRAMES[frame % FRAMES.len()]
                );
                self.log(Level::Info, &line)?;
                if self.logrus.colored {
                    self.err.write_all(b"\x1b[1A").map_err(Error::Output)?;
                }
                frame += 1;
            }
        })?;
        match result {
            Ok(value) => {
                self.log(Level::Info, &format!("{message}: \x1b[32mok\x1b[0m\x1b[K"))?;
                Ok(value)
            }
            Err(error) => {
                self.log(Level::Error, &format!("{message}: {error}\x1b[K"))?;
                Err(error)
            }
        }
    }

    /// Asks for a login for `domain`.
    pub fn ask_login(&mut self, domain: &str) -> Result<Option<Credentials>, Error> {
        self.login.ask(domain, self.out)
    }
}

/// The home directory, `$HOME` (as Go's `os.UserHomeDir`).
pub fn home() -> Option<PathBuf> {
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
}

/// The binary's body: parse, run on the process's streams.
pub fn main() -> Result<(), Failure> {
    let cli = Cli::try_parse().unwrap_or_else(|err| err.exit());
    let stdout = io::stdout();
    let stderr = io::stderr();
    let mut out = stdout.lock();
    let mut err = stderr.lock();
    let mut env = Env {
        out: &mut out,
        err: &mut err,
        logrus: Logrus::for_stderr(),
        login: &Terminal,
        home: home(),
    };
    run_with(&cli, &mut env).map_err(Error::reported)
}

/// Runs `cli` in `env`.
pub fn run_with(cli: &Cli, env: &mut Env<'_>) -> Result<(), Error> {
    match &cli.command {
        Command::Upload(args) => crate::upload::upload(args, env),
        Command::Create(args) => crate::create::create(args, env),
        Command::Info(args) => crate::info::info(args, env),
    }
}
