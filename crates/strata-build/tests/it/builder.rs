//! The builder run for real under TCG (two boots): a scratch Imagefile with a busybox rootfs
//! ADDed from a tar.gz, a file COPYed and a RUN in the chroot, read back from the host; and a
//! failing RUN, which fails the build and leaves nothing.

use std::fs;

use strata_build::Imagefile;
use strata_build::builder::{BuildError, BuildEvent, BuildOptions, build};
use strata_build::vm::{Accel, VmConfig};

use crate::vm::{STEP, gpt_first_lba, host, peers};

/// The bytes of `name` in the uncompressed newc cpio `cpio` (the build VM's initramfs).
fn cpio_file(cpio: &[u8], name: &str) -> Vec<u8> {
    let field = |at: usize| {
        usize::from_str_radix(std::str::from_utf8(&cpio[at..at + 8]).unwrap(), 16).unwrap()
    };
    let mut at = 0;
    while at + 110 <= cpio.len() {
        assert_eq!(&cpio[at..at + 6], b"070701", "not a newc cpio at {at}");
        let size = field(at + 6 + 6 * 8);
        let name_size = field(at + 6 + 11 * 8);
        let entry = &cpio[at + 110..at + 110 + name_size - 1];
        let data = (at + 110 + name_size + 3) & !3;
        if entry == name.as_bytes() {
            return cpio[data..data + size].to_vec();
        }
        at = (data + size + 3) & !3;
    }
    panic!("{name} is not in the initramfs");
}

#[test]
fn a_scratch_imagefile_is_built_into_a_qcow2_the_host_can_read() {
    let test = "a_scratch_imagefile_is_built_into_a_qcow2_the_host_can_read";
    let Some(assets) = peers(test) else { return };
    let dir = tempfile::tempdir().unwrap();
    let build_dir = dir.path().join("build");
    fs::create_dir(&build_dir).unwrap();

    // A rootfs of the build VM's static busybox, /bin/sh a link to it.
    let busybox = cpio_file(&fs::read(&assets.initramfs).unwrap(), "bin/busybox");
    let mut tar = tar::Builder::new(Vec::new());
    for dir in ["bin/", "etc/"] {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Directory);
        header.set_mode(0o755);
        header.set_size(0);
        tar.append_data(&mut header, dir, &[][..]).unwrap();
    }
    let mut header = tar::Header::new_gnu();
    header.set_mode(0o755);
    header.set_size(busybox.len() as u64);
    tar.append_data(&mut header, "bin/busybox", &busybox[..])
        .unwrap();
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(tar::EntryType::Symlink);
    header.set_size(0);
    tar.append_link(&mut header, "bin/sh", "busybox").unwrap();
    let tar_path = build_dir.join("rootfs.tar");
    fs::write(&tar_path, tar.into_inner().unwrap()).unwrap();
    host("gzip", &["-1", tar_path.to_str().unwrap()]);
    fs::write(build_dir.join("hello.txt"), b"copied by strata\n").unwrap();
    // A tar.xz unpacked into a directory ADD makes, and a file ADD copies as it is.
    let mut tar = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_mode(0o640);
    header.set_uid(1000);
    header.set_size(3);
    tar.append_data(&mut header, "note", &b"xz\n"[..]).unwrap();
    let xz_path = build_dir.join("notes.tar");
    fs::write(&xz_path, tar.into_inner().unwrap()).unwrap();
    host("xz", &["-0", xz_path.to_str().unwrap()]);
    fs::write(build_dir.join("plain.tar"), b"not unpacked\n").unwrap();

    let text = "FROM scratch\nDISK 64 MB GPT\nPARTITION 1 FORMAT ext4 MOUNT /\n\
                ADD rootfs.tar.gz /\nCOPY hello.txt /etc/hello.txt\nADD notes.tar.xz plain.tar /srv/\n\
                RUN echo built > /etc/built; echo done; echo warn >&2\n";
    let imagefile = Imagefile::parse("Imagefile", text).unwrap();
    let mut vm = VmConfig::new(assets);
    vm.accel = Accel::Tcg;
    let options = BuildOptions {
        vm,
        step_timeout: STEP,
    };
    let working = dir.path().join("working.qcow2");
    let mut events = Vec::new();
    build(&imagefile, &build_dir, &working, &options, &mut |e| {
        events.push(e.clone());
    })
    .unwrap();
    let lines: Vec<String> = events.iter().filter_map(BuildEvent::step_line).collect();
    assert_eq!(
        lines,
        [
            "Step 1/7 : FROM scratch",
            "Step 2/7 : DISK 64M GPT",
            "Step 3/7 : PARTITION 1 FORMAT ext4 MOUNT /",
            "Step 4/7 : ADD rootfs.tar.gz /",
            "Step 5/7 : COPY hello.txt /etc/hello.txt",
            "Step 6/7 : ADD notes.tar.xz plain.tar /srv/",
            // transient echoes the command as kept, its leading blank included.
            "Step 7/7 : RUN  echo built > /etc/built; echo done; echo warn >&2",
        ]
    );
    assert_eq!(
        events.last(),
        Some(&BuildEvent::RunOutput {
            line: 7,
            stdout: b"done\n".to_vec(),
            stderr: b"warn\n".to_vec(),
        })
    );

    // The host reads the image: the partition from the GPT, the files with debugfs.
    let raw = dir.path().join("image.raw");
    let raw_str = raw.to_str().unwrap();
    host(
        "qemu-img",
        &[
            "convert",
            "-f",
            "qcow2",
            "-O",
            "raw",
            working.to_str().unwrap(),
            raw_str,
        ],
    );
    assert_eq!(fs::metadata(&raw).unwrap().len(), 64 << 20);
    let first_lba = gpt_first_lba(&fs::read(&raw).unwrap(), 0);
    let fs_at = format!("{raw_str}?offset={}", first_lba * 512);
    assert_eq!(
        host("debugfs", &["-R", "cat /etc/built", &fs_at]),
        b"built\n"
    );
    assert_eq!(
        host("debugfs", &["-R", "cat /etc/hello.txt", &fs_at]),
        b"copied by strata\n"
    );
    assert_eq!(
        host("debugfs", &["-R", "cat /bin/busybox", &fs_at]),
        busybox
    );
    // Unmounted cleanly before the power-off.
    host("e2fsck", &["-fn", &fs_at]);
}

#[test]
fn a_failing_run_fails_the_build_with_its_line_and_stderr_and_leaves_nothing() {
    let test = "a_failing_run_fails_the_build_with_its_line_and_stderr_and_leaves_nothing";
    let Some(assets) = peers(test) else { return };
    let dir = tempfile::tempdir().unwrap();
    // No /bin/sh in the image: the chroot fails, with chroot's words on stderr.
    let text = "FROM scratch\nDISK 16 MB MBR\nPARTITION 1 FORMAT ext2 MOUNT /\nRUN true\n";
    let imagefile = Imagefile::parse("Imagefile", text).unwrap();
    let mut vm = VmConfig::new(assets);
    vm.accel = Accel::Tcg;
    let options = BuildOptions {
        vm,
        step_timeout: STEP,
    };
    let working = dir.path().join("working.qcow2");
    let err = build(&imagefile, dir.path(), &working, &options, &mut |_| {}).unwrap_err();
    assert!(
        matches!(&err, BuildError::RunFailed { line: 4, command, status, stderr }
            if command == " true" && *status != 0 && stderr.contains("/bin/sh")),
        "{err:?}"
    );
    assert!(!working.exists(), "the working file is left");
}
