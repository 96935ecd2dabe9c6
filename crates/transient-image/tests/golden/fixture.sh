#!/bin/sh
# Makes the fixture that transient-image's golden tests run on: DIR/backend, a transient backend
# of qcow2 images made by qemu-img (named with transient's encoding: quote(name, safe="") with
# "-" as %2D), and DIR/vmstore, a VM store of two VMs laid out as `transient create` lays them
# out (a config file and qcow2 overlays whose backing file is the image's absolute path).
#
# Used by make-goldens.sh (which runs the real transient on it) and by tests/it/golden.rs (which
# runs transient-image on it), so that both see the same files. Every image is empty: a few
# hundred KiB written front to back, whose REAL SIZE (allocated blocks) is the same from run to
# run. Images with data or preallocation are not: under load ext4 splits them into more extents
# and gives them an index block more, which moves their size by 4 KiB (the interop tests cover
# large real sizes, on files both tools read at once).
#
# Usage: fixture.sh DIR   (DIR must not exist; needs qemu-img)
set -eu

[ $# -eq 1 ] || { echo "usage: $0 DIR" >&2; exit 2; }
[ ! -e "$1" ] || { echo "$0: $1 exists" >&2; exit 2; }
mkdir -p "$1/backend" "$1/vmstore"
dir=$(cd "$1" && pwd)
backend=$dir/backend

# image FILE-NAME SIZE [qemu-img create options...]
image() {
    name=$1 size=$2
    shift 2
    qemu-img create -q -f qcow2 "$@" "$backend/$name" "$size"
}

image 'centos%2F7%3A2004.01' 40G
image 'generic%2Falpine38%3Av3.0.2' 32G
image 'alpine_rel3' 20G
image 'my%2Dimg' 1M
image 'tiny' 512
image 'with%20space' 1536
image '.hidden' 64K
image '%E6%97%A5%E6%9C%AC' 3T

# Not images: a "-" in the name marks a file that is not one; directories are skipped.
qemu-img create -q -f qcow2 "$backend/vm-0-not%2Dan%2Dimage" 1M
mkdir "$backend/a-directory" "$backend/.working"

# vm NAME ENCODED-NAME IMAGE-NAME ENCODED-IMAGE...: a VM whose disk n is an overlay on the n-th
# image, with the config transient 0.25 writes for `transient create IMAGE --name NAME`.
vm() {
    name=$1 enc=$2
    shift 2
    mkdir "$dir/vmstore/$enc"
    first=$1
    cat > "$dir/vmstore/$enc/config" <<CONFIG
extra_image = []
image = "$first"
image_backend = "$backend"
name = "$name"
qemu_args = []
qemu_bin_name = "qemu-system-x86_64"
qmp_timeout = 10
sftp_bin_name = "sftp-server"
shared_folder = []
shutdown_timeout = 20
ssh_bin_name = "ssh"
ssh_net_driver = "virtio-net-pci"
ssh_option = []
ssh_timeout = 90
ssh_user = "vagrant"
vmstore = "$dir/vmstore"
CONFIG
    n=0
    while [ $# -gt 0 ]; do
        qemu-img create -q -f qcow2 -F qcow2 -o "backing_file=$backend/$2" \
            "$dir/vmstore/$enc/$enc-$n-$2"
        n=$((n + 1))
        shift 2
    done
}

vm test-vm 'test%2Dvm' my-img 'my%2Dimg'
vm web web alpine_rel3 alpine_rel3 'centos/7:2004.01' 'centos%2F7%3A2004.01'
