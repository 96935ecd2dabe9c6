//! qemu-system-x86_64's command line for the build VM, built as data (no process here).
//!
//! The machine is a q35 without default devices: the kernel and initramfs given directly
//! (`-kernel`, `-initrd`, no bootloader), the serial console into a file, one virtio-serial
//! port for the agent (a unix socket the host listens on; qemu connects at start, so the host
//! is connected before the guest runs) and one virtio-blk disk per [`Disk`], at fixed PCI
//! slots so that the guest names them `/dev/vda`, `/dev/vdb`... in the order given.
//! `-no-reboot` turns the guest's power-off, and its panic (`panic=-1`), into qemu's exit.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

use strata_model::DiskFormat;

use super::accel::Accel;
use super::assets::Assets;
use super::error::VmError;

/// The name of the agent's virtio-serial port, which `guest/init.sh` looks for.
pub const AGENT_PORT_NAME: &str = "org.strata.agent";

/// The name of the virtio-serial port of interactive sessions (INSPECT).
pub const SHELL_PORT_NAME: &str = "org.strata.shell";

/// The kernel's command line. `quiet` keeps the console for warnings and errors; `panic=-1`
/// reboots at once on a panic, which `-no-reboot` makes qemu's exit.
pub const KERNEL_CMDLINE: &str = "console=ttyS0 quiet panic=-1 rdinit=/init";

/// At most this many disks (PCI slots 0x08 to 0x17 on q35's root bus).
pub const MAX_DISKS: usize = 16;

/// The first PCI slot of the disks.
const FIRST_DISK_SLOT: usize = 0x08;

/// The PCI slot of the virtio-serial controller.
const SERIAL_SLOT: usize = 0x07;

/// A disk attached to the build VM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Disk {
    /// The image file on the host.
    pub path: PathBuf,
    /// Its format, as qemu reads it (never guessed).
    pub format: DiskFormat,
    /// Whether the guest may only read it.
    pub read_only: bool,
}

impl Disk {
    /// A writable disk.
    pub fn new(path: impl Into<PathBuf>, format: DiskFormat) -> Disk {
        Disk {
            path: path.into(),
            format,
            read_only: false,
        }
    }

    /// The same disk, read-only.
    pub fn read_only(self) -> Disk {
        Disk {
            read_only: true,
            ..self
        }
    }
}

/// The guest's device for the disk at `index` (`/dev/vda` for 0), if there can be one.
pub fn guest_disk(index: usize) -> Option<String> {
    (index < MAX_DISKS).then(|| {
        let letter = char::from(b'a' + u8::try_from(index).unwrap_or(0));
        format!("/dev/vd{letter}")
    })
}

/// Everything the command line depends on.
#[derive(Debug, Clone)]
pub(crate) struct Plan<'a> {
    /// Kernel and initramfs.
    pub(crate) assets: &'a Assets,
    /// [`Accel::Kvm`] or [`Accel::Tcg`].
    pub(crate) accel: Accel,
    /// Guest memory, MiB.
    pub(crate) memory_mib: u32,
    /// Virtual CPUs.
    pub(crate) cpus: u32,
    /// The disks, in guest order.
    pub(crate) disks: &'a [Disk],
    /// The agent's unix socket (the host listens on it).
    pub(crate) socket: &'a Path,
    /// Where the serial console goes.
    pub(crate) console: &'a Path,
    /// qemu's QMP socket (qemu listens on it).
    pub(crate) qmp: &'a Path,
    /// The shell port's socket (qemu listens on it).
    pub(crate) shell: &'a Path,
}

/// The arguments of qemu-system-x86_64 (without the program) for `plan`.
pub(crate) fn args(plan: &Plan<'_>) -> Result<Vec<OsString>, VmError> {
    if plan.disks.len() > MAX_DISKS {
        return Err(VmError::TooManyDisks {
            count: plan.disks.len(),
            max: MAX_DISKS,
        });
    }
    let mut args: Vec<OsString> = Vec::new();
    let mut push = |words: &[&str]| args.extend(words.iter().map(OsString::from));
    push(&["-nodefaults", "-no-user-config", "-display", "none"]);
    push(&["-name", "strata-build-vm", "-machine", "q35", "-no-reboot"]);
    match plan.accel {
        Accel::Kvm => push(&["-accel", "kvm", "-cpu", "host"]),
        // `max`: the x86-64-v2/v3 features that current distributions' binaries (RUN in a
        // chroot of their root) require; qemu64 lacks them.
        Accel::Tcg | Accel::Auto => push(&["-accel", "tcg", "-cpu", "max"]),
    }
    let memory = format!("{}M", plan.memory_mib);
    let cpus = plan.cpus.to_string();
    push(&["-m", &memory, "-smp", &cpus]);
    push(&["-append", KERNEL_CMDLINE]);
    args.push("-kernel".into());
    args.push(plan.assets.kernel.clone().into_os_string());
    args.push("-initrd".into());
    args.push(plan.assets.initramfs.clone().into_os_string());

    args.push("-chardev".into());
    args.push(option(
        "file,id=console,path=",
        plan.console.as_os_str(),
        "",
    ));
    args.extend(["-serial", "chardev:console"].map(OsString::from));

    args.push("-chardev".into());
    args.push(option(
        "socket,id=qmp,path=",
        plan.qmp.as_os_str(),
        ",server=on,wait=off",
    ));
    args.extend(["-mon", "chardev=qmp,mode=control"].map(OsString::from));

    args.push("-chardev".into());
    args.push(option("socket,id=agent,path=", plan.socket.as_os_str(), ""));
    args.push("-device".into());
    args.push(format!("virtio-serial-pci,id=vser,addr={SERIAL_SLOT:#x}").into());
    args.push("-device".into());
    args.push(format!("virtserialport,bus=vser.0,chardev=agent,name={AGENT_PORT_NAME}").into());
    args.push("-chardev".into());
    args.push(option(
        "socket,id=shell,path=",
        plan.shell.as_os_str(),
        ",server=on,wait=off",
    ));
    args.push("-device".into());
    args.push(format!("virtserialport,bus=vser.0,chardev=shell,name={SHELL_PORT_NAME}").into());

    for (index, disk) in plan.disks.iter().enumerate() {
        let readonly = if disk.read_only { ",readonly=on" } else { "" };
        let tail = format!(
            ",format={},if=none,id={},cache=writeback,discard=unmap,\
             detect-zeroes=unmap{readonly}",
            disk.format.name(),
            drive_id(index)
        );
        args.push("-drive".into());
        args.push(option("file=", disk.path.as_os_str(), &tail));
        args.push("-device".into());
        args.push(
            format!(
                "virtio-blk-pci,drive=disk{index},serial=disk{index},addr={:#x}",
                FIRST_DISK_SLOT + index
            )
            .into(),
        );
    }
    Ok(args)
}

/// qemu's id of the drive of disk `index` (QMP commands name it).
pub(crate) fn drive_id(index: usize) -> String {
    format!("disk{index}")
}

/// `head`, then `value` with its commas doubled (qemu's option syntax), then `tail`.
fn option(head: &str, value: &OsStr, tail: &str) -> OsString {
    let mut bytes = head.as_bytes().to_vec();
    for &b in value.as_bytes() {
        bytes.push(b);
        if b == b',' {
            bytes.push(b',');
        }
    }
    bytes.extend_from_slice(tail.as_bytes());
    OsString::from_vec(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan_args(accel: Accel, disks: &[Disk]) -> Vec<String> {
        let assets = Assets::in_dir(Path::new("/cache/vm"));
        let plan = Plan {
            assets: &assets,
            accel,
            memory_mib: 512,
            cpus: 1,
            disks,
            socket: Path::new("/tmp/x/agent.sock"),
            console: Path::new("/tmp/x/console.log"),
            qmp: Path::new("/tmp/x/qmp.sock"),
            shell: Path::new("/tmp/x/shell.sock"),
        };
        args(&plan)
            .unwrap()
            .into_iter()
            .map(|a| a.into_string().unwrap())
            .collect()
    }

    /// The value after the first `flag` whose value starts with `prefix`.
    fn value<'a>(args: &'a [String], flag: &str, prefix: &str) -> Vec<&'a str> {
        args.windows(2)
            .filter(|w| w[0] == flag && w[1].starts_with(prefix))
            .map(|w| w[1].as_str())
            .collect()
    }

    #[test]
    fn tcg_and_kvm_are_asked_for_explicitly_never_as_a_fallback_list() {
        let tcg = plan_args(Accel::Tcg, &[]);
        assert_eq!(value(&tcg, "-accel", ""), ["tcg"]);
        assert_eq!(value(&tcg, "-cpu", ""), ["max"]);
        let kvm = plan_args(Accel::Kvm, &[]);
        assert_eq!(value(&kvm, "-accel", ""), ["kvm"]);
        assert_eq!(value(&kvm, "-cpu", ""), ["host"]);
        for args in [tcg, kvm] {
            assert!(!args.iter().any(|a| a.contains("kvm:tcg")));
            assert!(args.contains(&"-no-reboot".to_owned()));
            assert_eq!(value(&args, "-kernel", ""), ["/cache/vm/vmlinuz"]);
            assert_eq!(value(&args, "-initrd", ""), ["/cache/vm/initramfs.img"]);
            assert_eq!(value(&args, "-append", ""), [KERNEL_CMDLINE]);
            assert_eq!(value(&args, "-m", ""), ["512M"]);
        }
    }

    #[test]
    fn the_agent_port_is_a_named_virtio_serial_port_on_the_hosts_socket() {
        let args = plan_args(Accel::Tcg, &[]);
        assert_eq!(
            value(&args, "-chardev", "socket,id=agent"),
            ["socket,id=agent,path=/tmp/x/agent.sock"]
        );
        // QMP, for the builder's snapshots: qemu listens, nobody need connect.
        assert_eq!(
            value(&args, "-chardev", "socket,id=qmp"),
            ["socket,id=qmp,path=/tmp/x/qmp.sock,server=on,wait=off"]
        );
        assert_eq!(value(&args, "-mon", ""), ["chardev=qmp,mode=control"]);
        // And the shell port of INSPECT sessions, which the host connects to when one starts.
        assert_eq!(
            value(&args, "-chardev", "socket,id=shell"),
            ["socket,id=shell,path=/tmp/x/shell.sock,server=on,wait=off"]
        );
        assert_eq!(
            value(&args, "-device", "virtserialport"),
            [
                "virtserialport,bus=vser.0,chardev=agent,name=org.strata.agent",
                "virtserialport,bus=vser.0,chardev=shell,name=org.strata.shell"
            ]
        );
        assert_eq!(
            value(&args, "-chardev", "file"),
            ["file,id=console,path=/tmp/x/console.log"]
        );
    }

    #[test]
    fn disks_keep_their_order_format_and_escaped_paths() {
        let disks = [
            Disk::new("/images/a,b.qcow2", DiskFormat::Qcow2),
            Disk::new("/images/base.raw", DiskFormat::Raw).read_only(),
        ];
        let args = plan_args(Accel::Tcg, &disks);
        assert_eq!(
            value(&args, "-drive", ""),
            [
                "file=/images/a,,b.qcow2,format=qcow2,if=none,id=disk0,cache=writeback,\
                 discard=unmap,detect-zeroes=unmap",
                "file=/images/base.raw,format=raw,if=none,id=disk1,cache=writeback,\
                 discard=unmap,detect-zeroes=unmap,readonly=on"
            ]
        );
        assert_eq!(
            value(&args, "-device", "virtio-blk"),
            [
                "virtio-blk-pci,drive=disk0,serial=disk0,addr=0x8",
                "virtio-blk-pci,drive=disk1,serial=disk1,addr=0x9"
            ]
        );
        assert_eq!(guest_disk(0).as_deref(), Some("/dev/vda"));
        assert_eq!(guest_disk(1).as_deref(), Some("/dev/vdb"));
        assert_eq!(guest_disk(MAX_DISKS), None);
    }

    #[test]
    fn too_many_disks_are_refused() {
        let disks = vec![Disk::new("/d", DiskFormat::Raw); MAX_DISKS + 1];
        let assets = Assets::in_dir(Path::new("/a"));
        let plan = Plan {
            assets: &assets,
            accel: Accel::Tcg,
            memory_mib: 512,
            cpus: 1,
            disks: &disks,
            socket: Path::new("/s"),
            console: Path::new("/c"),
            qmp: Path::new("/q"),
            shell: Path::new("/s"),
        };
        assert!(matches!(
            args(&plan),
            Err(VmError::TooManyDisks {
                count: 17,
                max: MAX_DISKS
            })
        ));
    }
}
