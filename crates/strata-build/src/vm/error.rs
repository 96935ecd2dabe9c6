//! `VmError`: everything that can go wrong with the build VM, each fact in a field.

use std::io;
use std::path::PathBuf;
use std::time::Duration;

use super::accel::Accel;
use super::protocol::ProtocolError;

/// An error of the build VM: its assets, its start, a request to its agent, a snapshot, or its
/// shutdown.
///
/// A failing command in the guest is not an error: [`super::BuildVm::run`] returns its status.
#[derive(Debug, thiserror::Error)]
pub enum VmError {
    /// qemu's QMP exchange failed (a snapshot); the VM is stopped.
    #[error(transparent)]
    Qmp(#[from] super::qmp::QmpError),
    /// The kernel or the initramfs of the build VM is not where it should be.
    #[error("the build VM's {what} is missing at {path} (`cargo xtask setup` assembles it)")]
    AssetsMissing {
        /// `kernel` or `initramfs`.
        what: &'static str,
        /// Where it was looked for.
        path: PathBuf,
    },
    /// No cache directory: neither `XDG_CACHE_HOME` nor `HOME` is set.
    #[error("cannot tell where the build VM's kernel is: neither XDG_CACHE_HOME nor HOME is set")]
    NoCacheDir,
    /// The value of the acceleration variable is not `auto`, `kvm` or `tcg`.
    #[error("{var}={value:?} is not an accelerator: expected auto, kvm or tcg")]
    BadAccel {
        /// The variable's name.
        var: &'static str,
        /// Its value.
        value: String,
    },
    /// KVM was asked for and cannot be used on this host.
    #[error("{accel} was asked for, but /dev/kvm cannot be used: {reason}")]
    KvmUnavailable {
        /// What was asked for.
        accel: Accel,
        /// Why not (missing, permission denied...).
        reason: String,
    },
    /// A path given to the guest that the protocol cannot carry, or that is not absolute.
    #[error(
        "guest path {path:?} cannot be sent: it must be absolute, without newlines or NUL bytes, \
         and not start or end with a blank"
    )]
    GuestPath {
        /// The path as given.
        path: String,
    },
    /// More disks than the build VM has slots for.
    #[error("{count} disks given; the build VM takes at most {max}")]
    TooManyDisks {
        /// How many were given.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// The path of the agent's socket is too long for a unix socket address.
    #[error("the agent socket path {path} is longer than a unix socket address allows")]
    SocketPathTooLong {
        /// The path.
        path: PathBuf,
    },
    /// A local I/O operation failed (temporary directory, socket, files).
    #[error("cannot {action} {path}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// On what.
        path: PathBuf,
        /// Why it failed.
        #[source]
        source: io::Error,
    },
    /// qemu-system could not be started.
    #[error("cannot start {program}")]
    Spawn {
        /// The program.
        program: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// qemu exited (or the agent's channel closed) before it should have.
    #[error(
        "qemu exited {when} ({status}); qemu said: {stderr:?}; the guest's console ended with: {console:?}"
    )]
    QemuExited {
        /// When: `before the agent was ready`, `during a request`.
        when: &'static str,
        /// Its exit status, as text (`exit status: 1`, `still running`).
        status: String,
        /// The end of qemu's standard error.
        stderr: String,
        /// The end of the guest's serial console.
        console: String,
    },
    /// The agent did not say it was ready in time.
    #[error(
        "the build VM's agent was not ready after {after:?} ({accel}); the guest's console ended \
         with: {console:?}"
    )]
    NotReady {
        /// How long was waited.
        after: Duration,
        /// The accelerator the VM ran with.
        accel: Accel,
        /// The end of the guest's serial console.
        console: String,
    },
    /// A request got no reply in time; the VM was stopped.
    #[error("{request} got no reply after {after:?}; the build VM was stopped")]
    Timeout {
        /// The request, as the log shows it (`RUN`, `PUT /etc/hosts`).
        request: String,
        /// How long was waited.
        after: Duration,
    },
    /// A payload's reader gave fewer bytes than announced; the VM was stopped.
    #[error(
        "{request}: the payload ended after {got} of {expected} bytes; the build VM was stopped"
    )]
    ShortPayload {
        /// The request.
        request: String,
        /// Bytes announced.
        expected: u64,
        /// Bytes read.
        got: u64,
    },
    /// The payload's reader failed; the VM was stopped.
    #[error("{request}: cannot read the payload; the build VM was stopped")]
    Payload {
        /// The request.
        request: String,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The agent's channel broke or the agent said something unexpected; the VM was stopped.
    #[error("{request}: the agent's channel failed; the build VM was stopped")]
    Channel {
        /// The request (or `ready`).
        request: String,
        /// What went wrong.
        #[source]
        source: ProtocolError,
    },
    /// The VM was stopped by an earlier error and takes no more requests.
    #[error("the build VM was stopped by an earlier error")]
    Stopped,
    /// A request the agent carried out failed in the guest (a missing directory for a file, a
    /// failing command of [`super::BuildVm::run_checked`]).
    #[error("{request} failed in the build VM with status {status}: {stderr}")]
    Failed {
        /// The request (`RUN `script``, `PUT /etc/hosts`).
        request: String,
        /// The exit status in the guest.
        status: i32,
        /// Its standard error, lossily decoded and trimmed.
        stderr: String,
    },
    /// The guest did not power off in time after the power-off request; qemu was killed.
    #[error("the build VM did not power off within {after:?}; qemu was killed")]
    ShutdownTimeout {
        /// How long was waited.
        after: Duration,
    },
    /// The agent could not unmount every file system before powering off.
    #[error("the build VM could not unmount every file system before powering off: {stderr}")]
    Unmount {
        /// What the agent said.
        stderr: String,
    },
}
