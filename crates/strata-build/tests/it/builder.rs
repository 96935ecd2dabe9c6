//! The builder run for real under TCG, end to end in three boots: a scratch Imagefile with a
//! busybox rootfs ADDed from a tar.gz, a file COPYed and a RUN in the chroot; a build FROM its
//! result with RUN and COPY; then a changed COPY and a failing RUN, which reuse the cached
//! steps before them and leave only complete layers; and rebuilds with nothing changed, which
//! boot no VM. Every result is read back from the host with debugfs, not trusted.

use std::fs;
use std::io::{self, Read, Write};
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

use strata_build::Imagefile;
use strata_build::builder::{BuildError, BuildEvent, BuildOptions, BuildPlan, Built, build};
use strata_build::layers::{Base, LayerDir};
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

/// An INSPECT session: a user who makes a file, looks at it and leaves.
fn session() -> (Box<dyn Read + Send>, Box<dyn Write + Send>) {
    let input = "echo inspected > /etc/inspected\ncat /etc/inspected\nexit 7\n";
    (Box::new(io::Cursor::new(input)), Box::new(io::sink()))
}

/// Builds `text` in `build_dir` on `base`, returning the result and the events.
fn run(
    text: &str,
    build_dir: &Path,
    base: Base,
    layers: &LayerDir,
    options: &BuildOptions,
) -> (Result<Built, BuildError>, Vec<BuildEvent>) {
    let imagefile = Imagefile::parse("Imagefile", text).unwrap();
    let plan = BuildPlan {
        imagefile: &imagefile,
        build_dir,
        base,
        layers,
        base_dirs: Vec::new(),
    };
    let mut events = Vec::new();
    let result = build(&plan, options, &mut |e| events.push(e.clone()));
    (result, events)
}

/// `image` (a layer chain) flattened into a raw file at `raw`; the path of its first
/// partition's file system for debugfs.
fn partition_of(image: &Path, raw: &Path) -> String {
    let raw_str = raw.to_str().unwrap();
    host(
        "qemu-img",
        &["convert", "-O", "raw", image.to_str().unwrap(), raw_str],
    );
    let first_lba = gpt_first_lba(&fs::read(raw).unwrap(), 0);
    format!("{raw_str}?offset={}", first_lba * 512)
}

/// The files of the cache, the lock apart, each with whether it is complete (0444).
fn cache_files(layers: &LayerDir) -> Vec<(PathBuf, bool)> {
    let mut files: Vec<(PathBuf, bool)> = fs::read_dir(layers.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap() != ".lock")
        .map(|p| {
            let mode = fs::metadata(&p).unwrap().permissions().mode() & 0o777;
            (p, mode == 0o444)
        })
        .collect();
    files.sort();
    files
}

#[test]
fn scratch_then_from_builds_with_their_steps_cached_read_back_by_debugfs() {
    let test = "scratch_then_from_builds_with_their_steps_cached_read_back_by_debugfs";
    let Some(assets) = peers(test) else { return };
    let dir = tempfile::tempdir().unwrap();
    let build_dir = dir.path().join("build");
    fs::create_dir(&build_dir).unwrap();
    let layers = LayerDir::open(&dir.path().join("steps")).unwrap();

    // A rootfs of the build VM's static busybox, /bin/sh a link to it, and an fstab (a build
    // FROM this image finds its root by it).
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
    let fstab = b"/dev/vda1 / ext4 defaults 0 1\n";
    let mut header = tar::Header::new_gnu();
    header.set_mode(0o644);
    header.set_size(fstab.len() as u64);
    tar.append_data(&mut header, "etc/fstab", &fstab[..])
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

    let mut vm = VmConfig::new(assets);
    vm.accel = Accel::Tcg;
    let options = BuildOptions {
        vm,
        step_timeout: STEP,
        inspect: Some(session),
    };

    // 1. Scratch.
    let scratch = "FROM scratch\nDISK 64 MB GPT\nPARTITION 1 FORMAT ext4 MOUNT /\n\
                   ADD rootfs.tar.gz /\nCOPY hello.txt /etc/hello.txt\nADD notes.tar.xz plain.tar /srv/\n\
                   RUN echo built > /etc/built; echo done; echo warn >&2\n";
    let (built, events) = run(scratch, &build_dir, Base::Scratch, &layers, &options);
    let built = built.unwrap();
    assert!(built.booted);
    assert_eq!(built.cached, 0);
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
    // One complete layer per step from the partitions on, nothing else.
    let files = cache_files(&layers);
    assert_eq!(files.len(), 5, "{files:?}");
    assert!(files.iter().all(|(_, complete)| *complete), "{files:?}");
    assert!(files.iter().any(|(p, _)| *p == built.image));
    host("qemu-img", &["check", built.image.to_str().unwrap()]);

    let raw = dir.path().join("scratch.raw");
    let fs_at = partition_of(&built.image, &raw);
    assert_eq!(fs::metadata(&raw).unwrap().len(), 64 << 20);
    assert_eq!(
        host("debugfs", &["-R", "cat /etc/built", &fs_at]),
        b"built\n"
    );
    assert_eq!(
        host("debugfs", &["-R", "cat /etc/hello.txt", &fs_at]),
        b"copied by strata\n"
    );
    assert_eq!(host("debugfs", &["-R", "cat /srv/note", &fs_at]), b"xz\n");
    assert_eq!(
        host("debugfs", &["-R", "cat /srv/plain.tar", &fs_at]),
        b"not unpacked\n"
    );
    assert_eq!(
        host("debugfs", &["-R", "cat /bin/busybox", &fs_at]),
        busybox
    );
    // Unmounted cleanly before the power-off.
    host("e2fsck", &["-fn", &fs_at]);

    // 2. FROM that image (flattened into a "backend", as a front end stores it).
    let backend = dir.path().join("backend");
    fs::create_dir(&backend).unwrap();
    let base = backend.join("base");
    host(
        "qemu-img",
        &[
            "convert",
            "-O",
            "qcow2",
            built.image.to_str().unwrap(),
            base.to_str().unwrap(),
        ],
    );
    let base_bytes = fs::read(&base).unwrap();
    fs::write(build_dir.join("motd"), b"first\n").unwrap();
    // A directory source: its tree, a link kept as a link (not followed out of the build
    // directory).
    let conf = build_dir.join("conf");
    fs::create_dir_all(conf.join("sub")).unwrap();
    fs::write(conf.join("a"), b"a\n").unwrap();
    fs::write(conf.join("sub/b"), b"b\n").unwrap();
    fs::set_permissions(conf.join("sub/b"), fs::Permissions::from_mode(0o600)).unwrap();
    std::os::unix::fs::symlink("/etc/shadow", conf.join("link")).unwrap();
    let from = "FROM base\nRUN echo from > /etc/from\nCOPY motd /etc/motd\nCOPY conf /etc/\n";
    let (built, events) = run(
        from,
        &build_dir,
        Base::Image(base.clone()),
        &layers,
        &options,
    );
    let built = built.unwrap();
    assert!(built.booted);
    // FROM is the base itself.
    assert_eq!(built.cached, 1);
    assert!(events.contains(&BuildEvent::Cached { index: 1 }));
    let fs_at = partition_of(&built.image, &dir.path().join("from.raw"));
    assert_eq!(host("debugfs", &["-R", "cat /etc/from", &fs_at]), b"from\n");
    assert_eq!(
        host("debugfs", &["-R", "cat /etc/motd", &fs_at]),
        b"first\n"
    );
    assert_eq!(
        host("debugfs", &["-R", "cat /etc/built", &fs_at]),
        b"built\n"
    );
    assert_eq!(host("debugfs", &["-R", "cat /etc/conf/a", &fs_at]), b"a\n");
    assert_eq!(
        host("debugfs", &["-R", "cat /etc/conf/sub/b", &fs_at]),
        b"b\n"
    );
    let stat = String::from_utf8(host("debugfs", &["-R", "stat /etc/conf/sub/b", &fs_at])).unwrap();
    assert!(
        stat.contains("Mode:  0600") && stat.contains("User:     0"),
        "{stat}"
    );
    let link = String::from_utf8(host("debugfs", &["-R", "stat /etc/conf/link", &fs_at])).unwrap();
    assert!(
        link.contains("Type: symlink") && link.contains("/etc/shadow"),
        "{link}"
    );
    host("e2fsck", &["-fn", &fs_at]);
    assert_eq!(
        fs::read(&base).unwrap(),
        base_bytes,
        "the base is never written"
    );

    // 3. Nothing changed: every step from the cache, no VM.
    let started = std::time::Instant::now();
    let (again, events) = run(
        from,
        &build_dir,
        Base::Image(base.clone()),
        &layers,
        &options,
    );
    let again = again.unwrap();
    assert!(!again.booted);
    assert_eq!(
        (again.cached, again.image.clone()),
        (4, built.image.clone())
    );
    assert_eq!(
        events
            .iter()
            .filter(|e| matches!(e, BuildEvent::Cached { .. }))
            .count(),
        4
    );
    assert!(
        started.elapsed().as_secs_f64() < 1.0,
        "{:?}",
        started.elapsed()
    );
    let (again, _) = run(scratch, &build_dir, Base::Scratch, &layers, &options);
    assert!(!again.unwrap().booted);

    // 4. A changed COPY source and a failing RUN after it: the RUN before is reused, the
    // COPY layers are kept complete, the failing step's layer is removed.
    fs::write(build_dir.join("motd"), b"second\n").unwrap();
    let failing = format!("{from}RUN echo oops >&2; exit 3\n");
    let before = cache_files(&layers).len();
    let (err, events) = run(
        &failing,
        &build_dir,
        Base::Image(base.clone()),
        &layers,
        &options,
    );
    let err = err.unwrap_err();
    assert!(
        matches!(&err, BuildError::RunFailed { line: 5, status: 3, stderr, .. } if stderr == "oops"),
        "{err:?}"
    );
    assert_eq!(
        events
            .iter()
            .filter(|e| matches!(e, BuildEvent::Cached { .. }))
            .count(),
        2
    );
    let files = cache_files(&layers);
    // The changed COPY's layer and the directory COPY's after it.
    assert_eq!(files.len(), before + 2, "{files:?}");
    assert!(files.iter().all(|(_, complete)| *complete), "{files:?}");
    // The COPY's new layer is what a build of the fixed file reuses, with no VM.
    let (fixed, _) = run(
        from,
        &build_dir,
        Base::Image(base.clone()),
        &layers,
        &options,
    );
    let fixed = fixed.unwrap();
    assert!(!fixed.booted);
    let fs_at = partition_of(&fixed.image, &dir.path().join("fixed.raw"));
    assert_eq!(
        host("debugfs", &["-R", "cat /etc/motd", &fs_at]),
        b"second\n"
    );

    // 5. INSPECT: a shell in the image's chroot reads the session (its exit status is the
    // user's business) and the build goes on.
    let inspect = "FROM base\nINSPECT\nRUN cat /etc/inspected > /etc/after\n";
    let (built, _) = run(inspect, &build_dir, Base::Image(base), &layers, &options);
    let built = built.unwrap();
    assert!(built.booted);
    let fs_at = partition_of(&built.image, &dir.path().join("inspect.raw"));
    assert_eq!(
        host("debugfs", &["-R", "cat /etc/after", &fs_at]),
        b"inspected\n"
    );
}
