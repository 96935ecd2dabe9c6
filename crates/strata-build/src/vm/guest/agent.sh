#!/bin/sh
# The agent of strata's build VM (dash, PID 1 after /init execs it): serves the host over
# one virtio-serial port, protocol 1. The host side, and the protocol's description, are in
# crates/strata-build/src/vm/protocol.rs; keep the two in step (a change of the framing bumps
# the version in the ready line and PROTOCOL_VERSION there).
#
# Requests come one at a time, each a line and then exactly LEN bytes of payload; the host sends
# nothing more until it has read the reply:
#   RUN LEN            payload: a shell script, run by sh in / with stdin from /dev/null
#   PUT LEN MODE PATH  payload: the bytes of the file PATH, then chmod MODE (octal)
#   UNTAR LEN DIR      payload: an uncompressed tar stream, extracted under DIR (numeric owners)
#   SHELL LEN          payload: a shell script, run by sh in / with stdin, stdout and stderr on
#                      the shell port (org.strata.shell): an interactive session the host
#                      bridges to its terminal; its reply carries no output
#   POWEROFF 0         stop every process, unmount the disks' file systems, sync, power off
# Every request gets one reply: a line `DONE STATUS OUTLEN ERRLEN`, then OUTLEN bytes of stdout
# and ERRLEN bytes of stderr. A payload is always read whole (dd, which reads exactly LEN bytes),
# even when what consumes it fails early, so the stream never loses its framing. When the host
# goes away (end of file on the port) the agent powers the VM off: qemu never outlives it.

port=$1
work=/run/strata-agent

stop() {
    [ -z "$1" ] || echo "strata-agent: $1" >/dev/console
    sync
    poweroff -f
}

mkdir -p "$work" || stop "cannot create $work"
exec 3<>"$port" || stop "cannot open $port"

# Copies exactly $1 bytes of the port to stdout.
receive() {
    dd bs=65536 iflag=fullblock,count_bytes count="$1" <&3 2>/dev/null
}

# Sends the reply of status $1 with the captured stdout and stderr.
reply() {
    printf 'DONE %s %s %s\n' "$1" "$(stat -c %s "$work/out")" "$(stat -c %s "$work/err")" >&3
    cat "$work/out" "$work/err" >&3
}

# Whether $1 is one of the VM's own mount points (kept at power-off).
own_mount() {
    case $1 in
    / | /proc | /sys | /dev | /dev/pts | /dev/shm | /run | /tmp) return 0 ;;
    esac
    return 1
}

# Unmounts every other file system, the most recent first, then syncs; fails naming what is
# still mounted. /proc/mounts escapes blanks as \040, which printf %b decodes.
unmount_all() {
    tac /proc/mounts | while read -r _ mnt _; do
        mnt=$(printf '%b' "$mnt")
        own_mount "$mnt" || umount "$mnt"
    done
    sync
    left=$(while read -r _ mnt _; do
        mnt=$(printf '%b' "$mnt")
        own_mount "$mnt" || echo "$mnt"
    done </proc/mounts)
    [ -z "$left" ] || {
        echo "still mounted:" $left >&2
        return 1
    }
}

# The device of the virtio-serial port named $1, if any.
port_named() {
    for dir in /sys/class/virtio-ports/*; do
        [ -r "$dir/name" ] || continue
        if [ "$(cat "$dir/name")" = "$1" ]; then
            echo "/dev/${dir##*/}"
            return 0
        fi
    done
    return 1
}

printf 'STRATA-AGENT 1 READY %s\n' "$(uname -r)" >&3

while read -r op len rest <&3; do
    : >"$work/out"
    : >"$work/err"
    case $op in
    RUN)
        receive "$len" >"$work/script"
        (cd / && exec sh "$work/script") </dev/null >"$work/out" 2>"$work/err" 3>&-
        reply $?
        ;;
    PUT)
        mode=${rest%% *}
        path=${rest#* }
        receive "$len" | {
            cat >"$path" && chmod "$mode" "$path"
            st=$?
            cat >/dev/null
            exit "$st"
        } >"$work/out" 2>"$work/err"
        reply $?
        ;;
    UNTAR)
        receive "$len" | {
            tar -x -f - -C "$rest" --numeric-owner
            st=$?
            cat >/dev/null
            exit "$st"
        } >"$work/out" 2>"$work/err"
        reply $?
        ;;
    SHELL)
        receive "$len" >"$work/script"
        if shell=$(port_named org.strata.shell); then
            (cd / && exec sh "$work/script") <>"$shell" >&0 2>&0 3>&-
            reply $?
        else
            echo "strata-agent: no virtio-serial port named org.strata.shell" >"$work/err"
            reply 127
        fi
        ;;
    POWEROFF)
        # PID 1 is spared by kill -1: this stops whatever the build steps left running.
        kill -9 -1 2>/dev/null
        unmount_all >"$work/out" 2>"$work/err"
        reply $?
        stop ""
        ;;
    *)
        echo "strata-agent: unknown request $op" >"$work/err"
        reply 127
        ;;
    esac
done

# The host closed the port.
kill -9 -1 2>/dev/null
unmount_all >/dev/console 2>&1
stop "the host went away; powering off"
