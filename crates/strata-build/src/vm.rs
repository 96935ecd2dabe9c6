//! The build VM: a small Linux guest under qemu-system that runs build steps against the disks
//! attached to it, driven by an agent over a virtio-serial port.
//!
//! - [`assets`]: the kernel and initramfs, the recipe `cargo xtask setup` assembles them from
//!   (Debian packages only) and where they are cached.
//! - [`accel`]: KVM when the host can boot a guest with it, TCG otherwise, or what the caller
//!   forces ([`Accel`], [`ACCEL_VAR`]).
//! - [`qemu`]: qemu-system-x86_64's command line ([`Disk`]s in guest order).
//! - [`protocol`]: the agent's framing, host side (`guest/agent.sh` is the guest side).
//! - [`machine`]: [`BuildVm`], one running VM: start and wait for the agent, run scripts, put
//!   files and tar streams, snapshot a disk into a new layer, power off; never an orphan qemu.
//! - [`qmp`]: the QMP client behind [`BuildVm::snapshot`].
//!
//! Why an agent on virtio-serial rather than SSH: it needs no network stack in the guest, no
//! keys, no port forwarding and no sshd start, and the port is connected before the guest runs;
//! docs/build-vm.md says more.

pub mod accel;
pub mod assets;
mod error;
pub mod machine;
pub mod protocol;
pub mod qemu;
pub mod qmp;

pub use accel::{ACCEL_VAR, Accel, HostKvm, KvmAccess, Reason, Resolved};
pub use assets::Assets;
pub use error::VmError;
pub use machine::{BuildVm, VmConfig};
pub use protocol::{CommandOutput, ProtocolError, sh_quote};
pub use qemu::{Disk, guest_disk};
pub use qmp::QmpError;
