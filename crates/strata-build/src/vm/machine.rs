//! [`BuildVm`]: one running build VM, from qemu's start to its power-off.
//!
//! Lifecycle: [`BuildVm::start`] resolves the accelerator, makes a private temporary directory
//! (agent socket, console log, qemu's stderr), listens on the socket, starts qemu (which
//! connects to it), and waits for the agent's ready line under a deadline. Requests then go one
//! at a time, each under its own deadline. [`BuildVm::shutdown`] asks the agent to unmount,
//! sync and power off, and waits for qemu to exit.
//!
//! No qemu outlives its `BuildVm`: dropping it kills qemu and reaps it before the temporary
//! directory is removed; any error that leaves the channel out of step (a timeout, a short
//! payload, a broken channel) kills qemu at once, and later requests fail with
//! [`VmError::Stopped`]. If this process dies without dropping it, the agent sees the socket
//! close and powers the guest off, which ends qemu (`-no-reboot`).

use std::fs::{self, File};
use std::io::{self, BufReader, Read, Seek, SeekFrom, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use tempfile::TempDir;

use super::accel::{Accel, HostKvm, Resolved};
use super::assets::Assets;
use super::error::VmError;
use super::protocol::{self, CommandOutput, PayloadError, ProtocolError, Ready, Request};
use super::qemu::{self, Disk};
use super::qmp::Qmp;

/// How a build VM is started.
#[derive(Debug, Clone)]
pub struct VmConfig {
    /// Kernel and initramfs.
    pub assets: Assets,
    /// The accelerator asked for ([`Accel::choose`] applies a flag and the environment).
    pub accel: Accel,
    /// Guest memory in MiB.
    pub memory_mib: u32,
    /// Virtual CPUs.
    pub cpus: u32,
    /// The disks, attached as `/dev/vda`, `/dev/vdb`... in this order.
    pub disks: Vec<Disk>,
    /// How long the agent may take to say it is ready, from qemu's start.
    pub ready_timeout: Duration,
    /// How long the power-off may take, for the agent's reply and for qemu's exit each.
    pub shutdown_timeout: Duration,
    /// The qemu program.
    pub qemu: PathBuf,
    /// How many bytes of a command's stdout (and of its stderr) are kept.
    pub output_cap: u64,
    /// Where the VM's temporary directory is made (the system's temporary directory if
    /// `None`). The socket's path must fit a unix socket address (108 bytes).
    pub temp_root: Option<PathBuf>,
}

impl VmConfig {
    /// The defaults: [`Accel::Auto`], 512 MiB, one CPU, no disk, 60 s to be ready (TCG on a
    /// loaded host takes 5 to 15 s), 30 s to power off, `qemu-system-x86_64` from `PATH`,
    /// 16 MiB of output kept.
    pub fn new(assets: Assets) -> VmConfig {
        VmConfig {
            assets,
            accel: Accel::Auto,
            memory_mib: 512,
            cpus: 1,
            disks: Vec::new(),
            ready_timeout: Duration::from_secs(60),
            shutdown_timeout: Duration::from_secs(30),
            qemu: PathBuf::from("qemu-system-x86_64"),
            output_cap: 16 << 20,
            temp_root: None,
        }
    }
}

/// The longest path a unix socket address holds (`sun_path`, with its NUL).
const MAX_SOCKET_PATH: usize = 107;

/// How much of the console and of qemu's stderr an error quotes.
const TAIL_BYTES: u64 = 2048;

/// How often the host looks at qemu while it waits for it (connection, exit).
const POLL: Duration = Duration::from_millis(10);

/// `program` as `execvp` finds it: a path with a `/` as it is, a bare name on `PATH`; `None`
/// when there is no such executable file (checked before qemu is started through `setpriv`,
/// which would otherwise report it after the fork).
fn find_program(program: &Path) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let executable = |p: &Path| {
        std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if program.as_os_str().as_encoded_bytes().contains(&b'/') {
        return executable(program).then(|| program.to_path_buf());
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|p| executable(p))
}

/// How long an interactive session's output may be quiet after the session ends before the
/// host stops reading it.
const SHELL_DRAIN: Duration = Duration::from_millis(200);

/// A running build VM, ready for requests.
pub struct BuildVm {
    /// qemu (killed and reaped on drop, before `dir` is removed).
    qemu: Qemu,
    /// The channel, for requests.
    writer: Timed,
    /// The channel, for replies.
    reader: BufReader<Timed>,
    /// The accelerator it runs with.
    accel: Resolved,
    /// What the agent said when it was ready.
    ready: Ready,
    /// From qemu's start to the agent's ready line.
    ready_after: Duration,
    /// Set when an error left the channel unusable (qemu is then killed).
    stopped: bool,
    /// See [`VmConfig::output_cap`].
    output_cap: u64,
    /// See [`VmConfig::shutdown_timeout`].
    shutdown_timeout: Duration,
    /// qemu's QMP socket.
    qmp_path: PathBuf,
    /// The QMP session, opened at the first [`BuildVm::snapshot`].
    qmp: Option<Qmp>,
    /// The shell port's socket ([`BuildVm::shell`]).
    shell_path: PathBuf,
    /// Socket, console log, qemu's stderr.
    dir: TempDir,
}

impl BuildVm {
    /// Starts a build VM and waits for its agent, resolving [`VmConfig::accel`] on this host.
    ///
    /// qemu is killed when the thread that calls this ends (`PR_SET_PDEATHSIG`, through
    /// util-linux's `setpriv`), so that a host process killed outright leaves no VM behind:
    /// start the VM on a thread that outlives it.
    pub fn start(config: &VmConfig) -> Result<BuildVm, VmError> {
        let accel = config.accel.resolve(&HostKvm::probe())?;
        BuildVm::start_with(config, accel)
    }

    /// Starts a build VM with an accelerator already resolved.
    pub fn start_with(config: &VmConfig, accel: Resolved) -> Result<BuildVm, VmError> {
        config.assets.check()?;
        let root = config.temp_root.clone().unwrap_or_else(std::env::temp_dir);
        let dir = tempfile::Builder::new()
            .prefix("strata-vm-")
            .tempdir_in(&root)
            .map_err(|source| VmError::Io {
                action: "create a temporary directory in",
                path: root.clone(),
                source,
            })?;
        let socket = dir.path().join("agent.sock");
        if socket.as_os_str().len() > MAX_SOCKET_PATH {
            return Err(VmError::SocketPathTooLong { path: socket });
        }
        let console = dir.path().join("console.log");
        let qmp = dir.path().join("qmp.sock");
        let shell = dir.path().join("shell.sock");
        let stderr_path = dir.path().join("qemu.stderr");
        let listener = UnixListener::bind(&socket).map_err(|source| VmError::Io {
            action: "listen on",
            path: socket.clone(),
            source,
        })?;
        listener
            .set_nonblocking(true)
            .map_err(|source| VmError::Io {
                action: "set up",
                path: socket.clone(),
                source,
            })?;
        let stderr = File::create(&stderr_path).map_err(|source| VmError::Io {
            action: "create",
            path: stderr_path.clone(),
            source,
        })?;
        let args = qemu::args(&qemu::Plan {
            assets: &config.assets,
            accel: accel.accel,
            memory_mib: config.memory_mib,
            cpus: config.cpus,
            disks: &config.disks,
            socket: &socket,
            console: &console,
            qmp: &qmp,
            shell: &shell,
        })?;
        let started = Instant::now();
        // qemu dies with the thread that starts it (setpriv sets PR_SET_PDEATHSIG, kept
        // across exec): a host killed with SIGKILL leaves no orphan VM holding its disks.
        let qemu_path = find_program(&config.qemu).ok_or_else(|| VmError::Spawn {
            program: config.qemu.clone(),
            source: std::io::ErrorKind::NotFound.into(),
        })?;
        let child = Command::new("setpriv")
            .args(["--pdeathsig", "KILL", "--"])
            .arg(&qemu_path)
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .map_err(|source| VmError::Spawn {
                program: config.qemu.clone(),
                source,
            })?;
        let mut qemu = Qemu {
            child,
            console,
            stderr: stderr_path,
        };
        let deadline = started + config.ready_timeout;
        let stream = qemu.accept(&listener, deadline, accel.accel, config.ready_timeout)?;
        drop(listener);
        let io_error = |action, source| VmError::Io {
            action,
            path: socket.clone(),
            source,
        };
        stream
            .set_nonblocking(false)
            .map_err(|e| io_error("set up", e))?;
        let writer = Timed {
            stream: stream.try_clone().map_err(|e| io_error("set up", e))?,
            deadline: None,
        };
        let mut reader = BufReader::new(Timed {
            stream,
            deadline: Some(deadline),
        });
        let ready = match protocol::read_ready(&mut reader) {
            Ok(ready) => ready,
            Err(err) if err.is_timeout() => {
                return Err(VmError::NotReady {
                    after: config.ready_timeout,
                    accel: accel.accel,
                    console: tail(&qemu.console),
                });
            }
            Err(ProtocolError::Closed) => return Err(qemu.exited("before the agent was ready")),
            Err(source) => {
                return Err(VmError::Channel {
                    request: "ready".to_owned(),
                    source,
                });
            }
        };
        Ok(BuildVm {
            qemu,
            writer,
            reader,
            accel,
            ready,
            ready_after: started.elapsed(),
            stopped: false,
            output_cap: config.output_cap,
            shutdown_timeout: config.shutdown_timeout,
            qmp_path: qmp,
            qmp: None,
            shell_path: shell,
            dir,
        })
    }

    /// The accelerator qemu runs with, and why.
    pub fn accel(&self) -> Resolved {
        self.accel
    }

    /// The guest kernel's release, as the agent reported it.
    pub fn kernel_release(&self) -> &str {
        &self.ready.kernel_release
    }

    /// How long the VM took from qemu's start to the agent's ready line.
    pub fn ready_after(&self) -> Duration {
        self.ready_after
    }

    /// qemu's process id.
    pub fn pid(&self) -> u32 {
        self.qemu.child.id()
    }

    /// The VM's temporary directory (removed when the VM is dropped).
    pub fn temp_dir(&self) -> &Path {
        self.dir.path()
    }

    /// Runs `script` with `sh` in the guest's `/` (stdin from /dev/null) and returns its status
    /// and output; a failing script is not an error. If there is no reply within `timeout`,
    /// the VM is stopped and [`VmError::Timeout`] returned.
    pub fn run(&mut self, script: &str, timeout: Duration) -> Result<CommandOutput, VmError> {
        let request = Request::Run {
            len: script.len() as u64,
        };
        self.request(&request, &mut script.as_bytes(), timeout)
    }

    /// [`BuildVm::run`], with a status other than 0 as [`VmError::Failed`].
    pub fn run_checked(
        &mut self,
        script: &str,
        timeout: Duration,
    ) -> Result<CommandOutput, VmError> {
        let output = self.run(script, timeout)?;
        if !output.success() {
            return Err(VmError::Failed {
                request: format!("RUN `{script}`"),
                status: output.status,
                stderr: output.stderr_text().trim().to_owned(),
            });
        }
        Ok(output)
    }

    /// Writes `len` bytes of `data` to the file `guest_path` (made or replaced; its directory
    /// must exist) and gives it `mode`, owned by root.
    pub fn put(
        &mut self,
        guest_path: &str,
        mode: u32,
        data: &mut dyn Read,
        len: u64,
        timeout: Duration,
    ) -> Result<(), VmError> {
        protocol::check_guest_path(guest_path)?;
        let request = Request::Put {
            len,
            mode,
            path: guest_path,
        };
        let output = self.request(&request, data, timeout)?;
        succeeded(&request, &output)
    }

    /// [`BuildVm::put`] of bytes in memory.
    pub fn put_bytes(
        &mut self,
        guest_path: &str,
        mode: u32,
        bytes: &[u8],
        timeout: Duration,
    ) -> Result<(), VmError> {
        self.put(guest_path, mode, &mut &*bytes, bytes.len() as u64, timeout)
    }

    /// [`BuildVm::put`] of a host file's bytes.
    pub fn put_file(
        &mut self,
        host_path: &Path,
        guest_path: &str,
        mode: u32,
        timeout: Duration,
    ) -> Result<(), VmError> {
        let (mut file, len) = open_sized(host_path)?;
        self.put(guest_path, mode, &mut file, len, timeout)
    }

    /// Extracts an uncompressed tar stream of `len` bytes under the guest directory `dir`
    /// (which must exist), keeping numeric owners and modes (busybox tar, as root).
    /// Decompress on the host first: the guest's CPU is emulated.
    pub fn untar(
        &mut self,
        tar: &mut dyn Read,
        len: u64,
        dir: &str,
        timeout: Duration,
    ) -> Result<(), VmError> {
        protocol::check_guest_path(dir)?;
        let request = Request::Untar { len, dir };
        let output = self.request(&request, tar, timeout)?;
        succeeded(&request, &output)
    }

    /// [`BuildVm::untar`] of an uncompressed tar file on the host.
    pub fn untar_file(
        &mut self,
        host_tar: &Path,
        dir: &str,
        timeout: Duration,
    ) -> Result<(), VmError> {
        let (mut file, len) = open_sized(host_tar)?;
        self.untar(&mut file, len, dir, timeout)
    }

    /// Makes a new qcow2 file at `overlay` (absolute; it must not exist) the active layer of
    /// disk `index` (its place in [`VmConfig::disks`]), over the layer that was active, while
    /// the guest runs (QMP `blockdev-snapshot-sync`): what the guest writes from now on goes
    /// to `overlay`, and the former layer is complete. The guest should have synced its file
    /// systems first. A failure stops the VM.
    pub fn snapshot(
        &mut self,
        index: usize,
        overlay: &Path,
        timeout: Duration,
    ) -> Result<(), VmError> {
        if self.stopped {
            return Err(VmError::Stopped);
        }
        let result = match &mut self.qmp {
            Some(qmp) => qmp.snapshot(&qemu::drive_id(index), overlay),
            None => Qmp::connect(&self.qmp_path, timeout).and_then(|mut qmp| {
                let r = qmp.snapshot(&qemu::drive_id(index), overlay);
                self.qmp = Some(qmp);
                r
            }),
        };
        if let Err(e) = result {
            self.stopped = true;
            self.qemu.kill();
            return Err(VmError::Qmp(e));
        }
        Ok(())
    }

    /// Runs `script` with `sh` in the guest's `/`, its stdin, stdout and stderr the shell port,
    /// which this bridges to `input` and `output` until the script exits (an interactive
    /// session: INSPECT, whose script is a shell). `input` is read on a thread of its own; at
    /// its end of file the guest is sent `exit` (the shell's end of file), and the thread ends
    /// there or at its first read after the session. The session may last `timeout`. Returns
    /// the script's status.
    pub fn shell(
        &mut self,
        script: &str,
        input: Box<dyn Read + Send>,
        output: &mut (dyn Write + Send),
        timeout: Duration,
    ) -> Result<i32, VmError> {
        let io_error = |action, source| VmError::Io {
            action,
            path: self.shell_path.clone(),
            source,
        };
        let stream =
            UnixStream::connect(&self.shell_path).map_err(|e| io_error("connect to", e))?;
        let to_guest = stream.try_clone().map_err(|e| io_error("set up", e))?;
        let from_guest = stream.try_clone().map_err(|e| io_error("set up", e))?;
        // Detached: a read of the terminal cannot be interrupted, and it must not hold the
        // session open. At its input's end it sends `exit`, which is what end of file at an
        // interactive shell means; closing its side instead would make qemu drop the connection,
        // and the guest's next write would wait for a host that never comes back.
        thread::spawn(move || {
            let mut input = input;
            let mut to_guest = to_guest;
            if io::copy(&mut input, &mut to_guest).is_ok() {
                let _ = to_guest.write_all(b"\nexit\n");
            }
        });
        let request = Request::Shell {
            len: script.len() as u64,
        };
        // The guest's output is read until the session is over and nothing more has come for
        // a poll interval: what the shell wrote just before it exited may arrive after the
        // agent's reply.
        from_guest
            .set_read_timeout(Some(SHELL_DRAIN))
            .map_err(|e| io_error("set up", e))?;
        let over = std::sync::atomic::AtomicBool::new(false);
        let reply = thread::scope(|s| {
            let over = &over;
            let copier = s.spawn(move || {
                let mut from_guest = from_guest;
                let mut buf = [0u8; 8192];
                loop {
                    match from_guest.read(&mut buf) {
                        Ok(0) => break,
                        Ok(n) => {
                            if output
                                .write_all(&buf[..n])
                                .and_then(|()| output.flush())
                                .is_err()
                            {
                                break;
                            }
                        }
                        Err(e)
                            if matches!(
                                e.kind(),
                                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                            ) =>
                        {
                            if over.load(std::sync::atomic::Ordering::Acquire) {
                                break;
                            }
                        }
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(_) => break,
                    }
                }
            });
            let reply = self.request(&request, &mut script.as_bytes(), timeout);
            over.store(true, std::sync::atomic::Ordering::Release);
            let _ = copier.join();
            // No more input goes to the guest.
            let _ = stream.shutdown(std::net::Shutdown::Both);
            reply
        })?;
        Ok(reply.status)
    }

    /// Stops the VM cleanly: every process in the guest is killed, the file systems on the
    /// disks are unmounted (most recent first) and synced, the guest powers off and qemu exits.
    /// Fails if a file system could not be unmounted (the VM is still stopped).
    pub fn shutdown(mut self) -> Result<(), VmError> {
        let timeout = self.shutdown_timeout;
        let output = self.request(&Request::Poweroff, &mut io::empty(), timeout)?;
        let deadline = Instant::now() + timeout;
        loop {
            match self.qemu.child.try_wait() {
                Ok(Some(_)) => break,
                Ok(None) if Instant::now() < deadline => thread::sleep(POLL),
                Ok(None) | Err(_) => {
                    self.qemu.kill();
                    return Err(VmError::ShutdownTimeout { after: timeout });
                }
            }
        }
        if !output.success() {
            return Err(VmError::Unmount {
                stderr: output.stderr_text().trim().to_owned(),
            });
        }
        Ok(())
    }

    /// Sends one request and reads its reply; any failure of the channel stops the VM.
    fn request(
        &mut self,
        request: &Request<'_>,
        payload: &mut dyn Read,
        timeout: Duration,
    ) -> Result<CommandOutput, VmError> {
        if self.stopped {
            return Err(VmError::Stopped);
        }
        let deadline = Instant::now() + timeout;
        self.writer.deadline = Some(deadline);
        self.reader.get_mut().deadline = Some(deadline);
        let sent = protocol::write_request(&mut self.writer, request, payload);
        let result = match sent {
            Ok(sent) if sent == request.len() => {
                match protocol::read_reply(&mut self.reader, self.output_cap) {
                    Ok(output) => Ok(output),
                    Err(source) => Err(self.channel_error(request, source, timeout)),
                }
            }
            Ok(got) => Err(VmError::ShortPayload {
                request: request.describe(),
                expected: request.len(),
                got,
            }),
            Err(PayloadError::Source(source)) => Err(VmError::Payload {
                request: request.describe(),
                source,
            }),
            Err(PayloadError::Channel(source)) => {
                Err(self.channel_error(request, ProtocolError::from(source), timeout))
            }
        };
        if result.is_err() {
            self.stopped = true;
            self.qemu.kill();
        }
        result
    }

    /// The error for a failure of the channel during `request`.
    fn channel_error(
        &mut self,
        request: &Request<'_>,
        source: ProtocolError,
        timeout: Duration,
    ) -> VmError {
        if source.is_timeout() {
            return VmError::Timeout {
                request: request.describe(),
                after: timeout,
            };
        }
        if matches!(source, ProtocolError::Closed) {
            return self.qemu.exited("during a request");
        }
        VmError::Channel {
            request: request.describe(),
            source,
        }
    }
}

impl std::fmt::Debug for BuildVm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BuildVm")
            .field("pid", &self.qemu.child.id())
            .field("accel", &self.accel)
            .field("kernel_release", &self.ready.kernel_release)
            .field("stopped", &self.stopped)
            .finish_non_exhaustive()
    }
}

/// Fails with the guest's status and stderr unless `output` is a success.
fn succeeded(request: &Request<'_>, output: &CommandOutput) -> Result<(), VmError> {
    if output.success() {
        return Ok(());
    }
    Err(VmError::Failed {
        request: request.describe(),
        status: output.status,
        stderr: output.stderr_text().trim().to_owned(),
    })
}

/// Opens a host file and returns it with its length.
fn open_sized(path: &Path) -> Result<(File, u64), VmError> {
    let io_error = |source| VmError::Io {
        action: "read",
        path: path.to_path_buf(),
        source,
    };
    let file = File::open(path).map_err(io_error)?;
    let len = file.metadata().map_err(io_error)?.len();
    Ok((file, len))
}

/// The qemu process, killed and reaped when dropped.
struct Qemu {
    child: Child,
    /// The guest's serial console.
    console: PathBuf,
    /// qemu's standard error.
    stderr: PathBuf,
}

impl Qemu {
    /// Waits for qemu to connect to `listener`, until `deadline`.
    fn accept(
        &mut self,
        listener: &UnixListener,
        deadline: Instant,
        accel: Accel,
        timeout: Duration,
    ) -> Result<UnixStream, VmError> {
        loop {
            match listener.accept() {
                Ok((stream, _)) => return Ok(stream),
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => {}
                Err(source) => {
                    return Err(VmError::Io {
                        action: "accept qemu's connection on",
                        path: self.console.with_file_name("agent.sock"),
                        source,
                    });
                }
            }
            if let Ok(Some(_)) = self.child.try_wait() {
                return Err(self.exited("before the agent was ready"));
            }
            if Instant::now() >= deadline {
                return Err(VmError::NotReady {
                    after: timeout,
                    accel,
                    console: tail(&self.console),
                });
            }
            thread::sleep(POLL);
        }
    }

    /// The error for qemu gone (or the channel closed) at `when`: waits a little for qemu's
    /// exit status, then kills it if it is still there.
    fn exited(&mut self, when: &'static str) -> VmError {
        let deadline = Instant::now() + Duration::from_secs(2);
        let status = loop {
            match self.child.try_wait() {
                Ok(Some(status)) => break status.to_string(),
                Ok(None) if Instant::now() < deadline => thread::sleep(POLL),
                Ok(None) => {
                    self.kill();
                    break "still running; killed".to_owned();
                }
                Err(err) => break format!("unknown: {err}"),
            }
        };
        VmError::QemuExited {
            when,
            status,
            stderr: tail(&self.stderr),
            console: tail(&self.console),
        }
    }

    /// Kills qemu (if it still runs) and reaps it.
    fn kill(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

impl Drop for Qemu {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The last [`TAIL_BYTES`] of a log file, lossily decoded and trimmed (empty if unreadable).
fn tail(path: &Path) -> String {
    let Ok(mut file) = File::open(path) else {
        return String::new();
    };
    let len = fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    let _ = file.seek(SeekFrom::Start(len.saturating_sub(TAIL_BYTES)));
    let mut bytes = Vec::new();
    let _ = file.take(TAIL_BYTES).read_to_end(&mut bytes);
    String::from_utf8_lossy(&bytes).trim().to_owned()
}

/// The channel with a deadline: every read and write fails with `TimedOut` once it has passed.
struct Timed {
    stream: UnixStream,
    deadline: Option<Instant>,
}

impl Timed {
    /// The time left, `None` for no deadline; an error once the deadline has passed.
    fn remaining(&self) -> io::Result<Option<Duration>> {
        let Some(deadline) = self.deadline else {
            return Ok(None);
        };
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::Error::from(io::ErrorKind::TimedOut));
        }
        Ok(Some(left))
    }
}

impl Read for Timed {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.remaining()?;
        self.stream.set_read_timeout(left)?;
        self.stream.read(buf)
    }
}

impl Write for Timed {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let left = self.remaining()?;
        self.stream.set_write_timeout(left)?;
        self.stream.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.stream.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_channel_times_out_at_its_deadline() {
        let (a, _b) = UnixStream::pair().unwrap();
        let mut timed = Timed {
            stream: a,
            deadline: Some(Instant::now() + Duration::from_millis(50)),
        };
        let started = Instant::now();
        let err = timed.read(&mut [0u8; 8]).unwrap_err();
        assert!(
            matches!(
                err.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
            ),
            "{err:?}"
        );
        assert!(started.elapsed() >= Duration::from_millis(40));
        let err = timed.read(&mut [0u8; 8]).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
    }

    #[test]
    fn tail_keeps_the_end_of_a_log() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("log");
        let mut text = "x".repeat(5000);
        text.push_str("\nthe end\n");
        fs::write(&log, &text).unwrap();
        let end = tail(&log);
        assert!(end.ends_with("the end"));
        assert_eq!(end.len() as u64, TAIL_BYTES - 1);
        assert_eq!(tail(&dir.path().join("missing")), "");
    }

    #[test]
    fn a_missing_qemu_is_a_spawn_error_and_leaves_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let assets = Assets::in_dir(dir.path());
        fs::write(&assets.kernel, b"").unwrap();
        fs::write(&assets.initramfs, b"").unwrap();
        let mut config = VmConfig::new(assets);
        config.qemu = dir.path().join("no-such-qemu");
        let temp = dir.path().join("tmp");
        fs::create_dir(&temp).unwrap();
        config.temp_root = Some(temp.clone());
        let resolved = Resolved {
            accel: Accel::Tcg,
            reason: super::super::accel::Reason::Asked,
        };
        let err = BuildVm::start_with(&config, resolved).unwrap_err();
        assert!(
            matches!(&err, VmError::Spawn { program, .. } if *program == config.qemu),
            "{err:?}"
        );
        assert_eq!(fs::read_dir(&temp).unwrap().count(), 0);
    }
}
