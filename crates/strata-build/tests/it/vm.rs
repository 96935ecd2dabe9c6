//! The build VM booted for real under TCG (two boots in all, plus one start that never gets
//! ready): commands, statuses, files and tar streams in, partitions and file systems made in
//! the guest and read back from the host with debugfs, power-off, and no qemu or temporary
//! directory left behind after an error.

use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use strata_build::vm::{
    Accel, Assets, BuildVm, Disk, Reason, Resolved, VmConfig, VmError, guest_disk,
};
use strata_model::DiskFormat;

/// How long one request may take: generous, since TCG on a loaded CI machine is slow.
pub(crate) const STEP: Duration = Duration::from_secs(120);

/// The build VM's assets if every peer is there (skips, or fails under CI, otherwise).
pub(crate) fn peers(test: &str) -> Option<Assets> {
    if !strata_testkit::have(test, &["qemu-system-x86_64", "qemu-img"]) {
        return None;
    }
    let debugfs = Command::new("debugfs")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success());
    if !strata_testkit::peer(test, "debugfs (e2fsprogs)", debugfs) {
        return None;
    }
    let assets = Assets::locate();
    if !strata_testkit::peer(
        test,
        "the build VM's kernel and initramfs (`cargo xtask setup`)",
        assets.is_ok(),
    ) {
        return None;
    }
    assets.ok()
}

/// TCG, as the tests ask for it (the machines CI runs on have PVM's KVM, which boots nothing).
pub(crate) fn tcg() -> Resolved {
    Resolved {
        accel: Accel::Tcg,
        reason: Reason::Asked,
    }
}

/// Runs a host command and returns its stdout; panics with its stderr if it fails.
pub(crate) fn host(program: &str, args: &[&str]) -> Vec<u8> {
    let out = Command::new(program).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// The pids of the processes whose command line mentions `needle`.
fn processes_mentioning(needle: &str) -> Vec<u32> {
    let mut pids = Vec::new();
    for entry in fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(cmdline) = fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        if String::from_utf8_lossy(&cmdline).contains(needle) {
            pids.push(pid);
        }
    }
    pids
}

/// The first LBA of partition `index` of the GPT disk in `raw` (read from the host).
pub(crate) fn gpt_first_lba(raw: &[u8], index: usize) -> u64 {
    let u64_at = |at: usize| u64::from_le_bytes(raw[at..at + 8].try_into().unwrap());
    assert_eq!(&raw[512..520], b"EFI PART", "no GPT header at LBA 1");
    let entries = usize::try_from(u64_at(512 + 72)).unwrap() * 512;
    let entry_size = u32::from_le_bytes(raw[512 + 84..512 + 88].try_into().unwrap());
    u64_at(entries + index * usize::try_from(entry_size).unwrap() + 32)
}

#[allow(clippy::print_stderr, reason = "the boot time is reported")]
#[test]
fn a_build_vm_runs_commands_takes_files_and_makes_file_systems_the_host_can_read() {
    let test = "a_build_vm_runs_commands_takes_files_and_makes_file_systems_the_host_can_read";
    let Some(assets) = peers(test) else { return };
    let dir = tempfile::tempdir().unwrap();
    let image = dir.path().join("scratch.qcow2");
    let image_str = image.to_str().unwrap();
    host(
        "qemu-img",
        &["create", "-q", "-f", "qcow2", image_str, "384M"],
    );

    let mut config = VmConfig::new(assets);
    config.disks = vec![Disk::new(&image, DiskFormat::Qcow2)];
    let started = Instant::now();
    let mut vm = BuildVm::start_with(&config, tcg()).unwrap();
    eprintln!(
        "build VM ready after {:.2?} under TCG (kernel {})",
        vm.ready_after(),
        vm.kernel_release()
    );

    // Commands: output, status and stderr come back byte for byte.
    let out = vm.run("echo hello; uname -r", STEP).unwrap();
    assert!(out.success(), "{out:?}");
    assert_eq!(
        out.stdout_text(),
        format!("hello\n{}\n", vm.kernel_release())
    );
    assert!(vm.kernel_release().ends_with("-cloud-amd64"));
    let out = vm.run("echo to stderr >&2; exit 3", STEP).unwrap();
    assert_eq!(
        (out.status, out.stdout_text(), out.stderr_text()),
        (3, String::new(), "to stderr\n".to_owned())
    );
    let err = vm.run_checked("false", STEP).unwrap_err();
    assert!(matches!(&err, VmError::Failed { status: 1, .. }), "{err:?}");
    // The first disk is /dev/vda.
    let out = vm.run_checked("cat /sys/block/vda/serial", STEP).unwrap();
    assert_eq!(out.stdout_text(), "disk0");
    assert_eq!(guest_disk(0).as_deref(), Some("/dev/vda"));

    // A file in: binary bytes (NUL, newlines, all values), its mode, read back whole.
    let blob: Vec<u8> = (0..200_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    vm.put_bytes("/tmp/blob", 0o640, &blob, STEP).unwrap();
    let out = vm
        .run_checked("stat -c '%a %s %u' /tmp/blob; sha256sum /tmp/blob", STEP)
        .unwrap();
    assert_eq!(
        out.stdout_text(),
        format!(
            "640 {} 0\n{}  /tmp/blob\n",
            blob.len(),
            hex::encode(Sha256::digest(&blob))
        )
    );
    assert_eq!(vm.run_checked("cat /tmp/blob", STEP).unwrap().stdout, blob);
    // A file whose directory is missing fails in the guest, and the channel stays in step.
    let err = vm
        .put_bytes("/no/such/dir/file", 0o644, b"data", STEP)
        .unwrap_err();
    assert!(
        matches!(&err, VmError::Failed { request, status, stderr }
            if request == "PUT /no/such/dir/file" && *status != 0 && stderr.contains("/no/such/dir/file")),
        "{err:?}"
    );
    assert_eq!(
        vm.run_checked("echo still here", STEP)
            .unwrap()
            .stdout_text(),
        "still here\n"
    );
    // A host file, from its path.
    let host_file = dir.path().join("hello with space.txt");
    fs::write(&host_file, b"from the host\n").unwrap();
    vm.run_checked("mkdir '/tmp/a dir'", STEP).unwrap();
    vm.put_file(&host_file, "/tmp/a dir/hello.txt", 0o600, STEP)
        .unwrap();
    let out = vm
        .run_checked(
            "cat '/tmp/a dir/hello.txt'; stat -c %a '/tmp/a dir/hello.txt'",
            STEP,
        )
        .unwrap();
    assert_eq!(out.stdout_text(), "from the host\n600\n");

    // A tar stream: a directory, a file with its mode and owner, a symbolic link.
    let mut builder = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(tar::EntryType::Directory);
    header.set_mode(0o750);
    header.set_size(0);
    builder.append_data(&mut header, "etc/", &[][..]).unwrap();
    let mut header = tar::Header::new_gnu();
    header.set_mode(0o604);
    header.set_uid(1234);
    header.set_gid(99);
    header.set_size(12);
    builder
        .append_data(&mut header, "etc/motd", &b"hello tar!\n\n"[..])
        .unwrap();
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(tar::EntryType::Symlink);
    header.set_size(0);
    builder
        .append_link(&mut header, "etc/link", "motd")
        .unwrap();
    let tar_bytes = builder.into_inner().unwrap();
    vm.run_checked("mkdir /tmp/root", STEP).unwrap();
    vm.untar(
        &mut &tar_bytes[..],
        tar_bytes.len() as u64,
        "/tmp/root",
        STEP,
    )
    .unwrap();
    let out = vm
        .run_checked(
            "cd /tmp/root/etc && cat motd && stat -c '%a %u %g' . motd && readlink link",
            STEP,
        )
        .unwrap();
    assert_eq!(
        out.stdout_text(),
        "hello tar!\n\n750 0 0\n604 1234 99\nmotd\n"
    );
    // A broken tar fails, and the channel stays in step.
    let garbage = vec![0x5au8; 3000];
    let err = vm
        .untar(&mut &garbage[..], 3000, "/tmp/root", STEP)
        .unwrap_err();
    assert!(matches!(err, VmError::Failed { .. }), "{err:?}");

    // A GPT with an ext4 and an xfs partition, made, mounted and written in the guest.
    let script = "set -e
        printf 'label: gpt\\n,48MiB,L\\n,,L\\n' | sfdisk -q /dev/vda
        mkfs.ext4 -q -L strata-ext4 /dev/vda1
        mkfs.xfs -q -L strata-xfs /dev/vda2
        mkdir -p /mnt/e /mnt/x
        mount /dev/vda1 /mnt/e
        mount /dev/vda2 /mnt/x
        mkdir /mnt/e/dir
        printf 'built by strata\\n' > /mnt/e/dir/hello.txt
        printf 'xfs too\\n' > /mnt/x/x.txt
        cat /mnt/x/x.txt
        cat /sys/block/vda/vda1/start";
    let step = Instant::now();
    let out = vm.run(script, STEP).unwrap();
    assert!(out.success(), "{}", out.stderr_text());
    let lines: Vec<String> = out.stdout_text().lines().map(str::to_owned).collect();
    assert_eq!(lines[0], "xfs too");
    let guest_start: u64 = lines[1].parse().unwrap();
    eprintln!("partitions and file systems made in {:.2?}", step.elapsed());

    // Power-off unmounts both file systems cleanly, and qemu exits.
    let pid = vm.pid();
    let temp = vm.temp_dir().to_path_buf();
    vm.shutdown().unwrap();
    assert!(
        !Path::new(&format!("/proc/{pid}")).exists(),
        "qemu {pid} is still there"
    );
    assert!(!temp.exists(), "{} is still there", temp.display());
    eprintln!("boot, steps and power-off in {:.2?}", started.elapsed());

    // The host reads the image itself: GPT from the raw bytes, the file with debugfs.
    let raw = dir.path().join("scratch.raw");
    let raw_str = raw.to_str().unwrap();
    host(
        "qemu-img",
        &["convert", "-f", "qcow2", "-O", "raw", image_str, raw_str],
    );
    let bytes = fs::read(&raw).unwrap();
    let first_lba = gpt_first_lba(&bytes, 0);
    assert_eq!(first_lba, guest_start);
    let fs_at = format!("{raw_str}?offset={}", first_lba * 512);
    let content = host("debugfs", &["-R", "cat /dir/hello.txt", &fs_at]);
    assert_eq!(content, b"built by strata\n");
    // Unmounted cleanly: the journal needs no recovery, and e2fsck finds nothing.
    let features = String::from_utf8(host("debugfs", &["-R", "features", &fs_at])).unwrap();
    assert!(!features.contains("needs_recovery"), "{features}");
    host("e2fsck", &["-fn", &fs_at]);
}

#[test]
fn a_request_that_times_out_stops_the_vm_and_leaves_nothing_behind() {
    let test = "a_request_that_times_out_stops_the_vm_and_leaves_nothing_behind";
    let Some(assets) = peers(test) else { return };
    let root = tempfile::tempdir().unwrap();
    let mut config = VmConfig::new(assets);
    config.temp_root = Some(root.path().to_path_buf());
    let mut vm = BuildVm::start_with(&config, tcg()).unwrap();
    let pid = vm.pid();
    let started = Instant::now();
    let err = vm.run("sleep 600", Duration::from_secs(2)).unwrap_err();
    assert!(
        matches!(&err, VmError::Timeout { request, after } if request == "RUN" && *after == Duration::from_secs(2)),
        "{err:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(10));
    // qemu was killed at once; the VM takes no more requests.
    assert!(
        !Path::new(&format!("/proc/{pid}")).exists(),
        "qemu {pid} is still there"
    );
    assert!(matches!(vm.run("true", STEP), Err(VmError::Stopped)));
    drop(vm);
    assert_eq!(
        fs::read_dir(root.path()).unwrap().count(),
        0,
        "a temporary directory is left"
    );
}

#[test]
fn a_vm_that_is_not_ready_in_time_is_killed_and_cleaned_up() {
    let test = "a_vm_that_is_not_ready_in_time_is_killed_and_cleaned_up";
    let Some(assets) = peers(test) else { return };
    let root = tempfile::tempdir().unwrap();
    let mut config = VmConfig::new(assets);
    config.temp_root = Some(root.path().to_path_buf());
    config.ready_timeout = Duration::from_millis(300);
    let err = BuildVm::start_with(&config, tcg()).unwrap_err();
    assert!(
        matches!(
            &err,
            VmError::NotReady {
                accel: Accel::Tcg,
                ..
            }
        ),
        "{err:?}"
    );
    let needle = root.path().to_str().unwrap();
    assert_eq!(
        processes_mentioning(needle),
        Vec::<u32>::new(),
        "qemu is still there"
    );
    assert_eq!(
        fs::read_dir(root.path()).unwrap().count(),
        0,
        "a temporary directory is left"
    );
}

#[test]
fn qemu_refusing_a_disk_is_reported_with_its_words() {
    let test = "qemu_refusing_a_disk_is_reported_with_its_words";
    let Some(assets) = peers(test) else { return };
    let dir = tempfile::tempdir().unwrap();
    let mut config = VmConfig::new(assets);
    config.disks = vec![Disk::new(
        dir.path().join("missing.qcow2"),
        DiskFormat::Qcow2,
    )];
    let err = BuildVm::start_with(&config, tcg()).unwrap_err();
    assert!(
        matches!(&err, VmError::QemuExited { when: "before the agent was ready", stderr, .. }
            if stderr.contains("missing.qcow2")),
        "{err:?}"
    );
}
