#!/bin/sh
# /init of strata's build VM (dash, with busybox's applets). Mounts the kernel's file
# systems, loads the virtio drivers, finds the agent's virtio-serial port by its name and hands
# over to the agent, which serves the host until it asks for a power-off or goes away. Any
# failure powers the VM off, so that qemu (started with -no-reboot) exits instead of hanging.
# Assembled into the initramfs by `cargo xtask setup` (xtask/src/build_vm.rs); the host side is
# crates/strata-build/src/vm.

export PATH=/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root

fail() {
    echo "strata-init: $*" >/dev/console
    poweroff -f
}

mount -t proc proc /proc || fail "cannot mount /proc"
mount -t sysfs sysfs /sys || fail "cannot mount /sys"
mount -t devtmpfs devtmpfs /dev || fail "cannot mount /dev"
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs -o mode=0755 tmpfs /run || fail "cannot mount /run"
mount -t tmpfs -o mode=1777 tmpfs /tmp || fail "cannot mount /tmp"
echo /sbin/modprobe >/proc/sys/kernel/modprobe

# ext4 and the serial console are built into Debian's cloud kernel; virtio is not. xfs is loaded
# on demand (by mount, through /sbin/modprobe), as it is big.
modprobe -a virtio_pci virtio_blk virtio_console || fail "cannot load the virtio drivers"

# The port appears once virtio_console has probed the device: wait for it, up to about 10 s.
port=
tries=0
while [ -z "$port" ]; do
    for dir in /sys/class/virtio-ports/*; do
        [ -r "$dir/name" ] || continue
        if [ "$(cat "$dir/name")" = org.strata.agent ]; then
            port=/dev/${dir##*/}
        fi
    done
    if [ -z "$port" ]; then
        tries=$((tries + 1))
        [ "$tries" -le 200 ] || fail "no virtio-serial port named org.strata.agent"
        usleep 50000
    fi
done
[ -c "$port" ] || fail "$port is not a character device"

exec /bin/strata-agent "$port"
fail "cannot start /bin/strata-agent"
