//! The builder's host-side checks and guest scripts, without a VM.

use std::fs;

use super::*;

fn imagefile(text: &str) -> Imagefile {
    Imagefile::parse("Imagefile", text).expect("a valid Imagefile")
}

/// Build options whose VM cannot start (no kernel in `dir`): builds that need it fail there.
fn without_a_kernel(dir: &std::path::Path) -> BuildOptions {
    let mut vm = VmConfig::new(crate::vm::Assets {
        kernel: dir.join("no-kernel"),
        initramfs: dir.join("no-initramfs"),
    });
    vm.accel = crate::vm::Accel::Tcg;
    BuildOptions {
        vm,
        step_timeout: Duration::from_secs(1),
        inspect: None,
    }
}

#[test]
fn quote_survives_single_quotes() {
    assert_eq!(sh_quote("it's"), r"'it'\''s'");
    assert_eq!(sh_quote(" echo a"), "' echo a'");
}

#[test]
fn sources_outside_the_build_dir_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let build = dir.path().join("build");
    fs::create_dir(&build).expect("mkdir");
    fs::write(build.join("ok.txt"), b"ok").expect("write");
    fs::write(dir.path().join("secret"), b"no").expect("write");
    std::os::unix::fs::symlink("../secret", build.join("link")).expect("symlink");
    let root = build.canonicalize().expect("canonicalize");
    assert_eq!(
        check_source(&root, 3, "./ok.txt").expect("inside"),
        root.join("ok.txt")
    );
    for hostile in ["../secret", "/etc/passwd", "link", "a/../../secret"] {
        let err = check_source(&root, 3, hostile).expect_err(hostile);
        assert!(
            matches!(&err, BuildError::OutsideBuildDir { line: 3, path } if path == hostile),
            "{hostile}: {err:?}"
        );
    }
    fs::create_dir(build.join("sub")).expect("mkdir");
    assert_eq!(
        check_source(&root, 4, "sub").expect("a directory"),
        root.join("sub")
    );
    assert!(matches!(
        check_source(&root, 5, "missing"),
        Err(BuildError::Source { line: 5, .. })
    ));
}

#[test]
fn inspect_a_base_mismatch_and_a_bad_source_are_refused_before_anything_is_made() {
    let dir = tempfile::tempdir().expect("tempdir");
    let layers = LayerDir::open(&dir.path().join("steps")).expect("cache");
    let options = without_a_kernel(dir.path());
    let mut events = Vec::new();
    let mut run = |text: &str, base: Base| {
        let imagefile = imagefile(text);
        let plan = BuildPlan {
            imagefile: &imagefile,
            build_dir: dir.path(),
            base,
            layers: &layers,
            base_dirs: Vec::new(),
        };
        build(&plan, &options, &mut |e| {
            events.extend(e.step_line());
        })
        .expect_err("refused")
    };
    let scratch = "FROM scratch\nDISK 64 MB GPT\nPARTITION 1 FORMAT ext4 MOUNT /\n";
    let err = run(&format!("{scratch}RUN true\nINSPECT\n"), Base::Scratch);
    assert!(
        matches!(err, BuildError::InspectNotInteractive { line: 5 }),
        "{err:?}"
    );
    let err = run("FROM centos:8\nRUN true\n", Base::Scratch);
    assert!(matches!(err, BuildError::BaseMismatch), "{err:?}");
    let err = run(&format!("{scratch}COPY x ../../etc\n"), Base::Scratch);
    assert!(
        matches!(&err, BuildError::OutsideImage { line: 4, path } if path == "../../etc"),
        "{err:?}"
    );
    let err = run(
        "FROM scratch\nDISK 64 MB GPT\nPARTITION 1 MOUNT /\nPARTITION 2 MOUNT /a/../..\n",
        Base::Scratch,
    );
    assert!(
        matches!(err, BuildError::OutsideImage { line: 4, .. }),
        "{err:?}"
    );
    let err = run(&format!("{scratch}COPY ../x /\n"), Base::Scratch);
    assert!(
        matches!(err, BuildError::OutsideBuildDir { line: 4, .. }),
        "{err:?}"
    );
    // The VM cannot start (no kernel): the layer made is removed again, and only the lock
    // file is left in the cache.
    let err = run(scratch, Base::Scratch);
    assert!(matches!(err, BuildError::Vm(_)), "{err:?}");
    let left: Vec<_> = fs::read_dir(layers.path())
        .expect("cache")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert_eq!(left, [std::ffi::OsString::from(".lock")]);
    assert_eq!(events, Vec::<String>::new());
}

#[test]
fn partitions_are_made_with_transient_fields_and_mounted_shallowest_first() {
    let file = imagefile(
        "FROM scratch\nDISK 1 GB GPT\n\
         PARTITION 1 SIZE 100 MB FORMAT ext4 MOUNT /boot/efi FLAGS efi\n\
         PARTITION 2 SIZE 200 MB FORMAT xfs OPTIONS \"-L data\" MOUNT /srv FLAGS boot\n\
         PARTITION 3 FORMAT ext4 MOUNT /\n",
    );
    assert_eq!(
        partition_script(&file.partitions[1]),
        "set -e\necho 'size=390625, bootable, type=L' | sfdisk -q -a /dev/vda\nmkfs.xfs -L data /dev/vda2\n"
    );
    assert_eq!(
        partition_script(&file.partitions[2]),
        "set -e\necho 'type=L' | sfdisk -q -a /dev/vda\nmkfs.ext4  /dev/vda3\n"
    );
    assert_eq!(
        mount_script(&file.partitions),
        "set -e\nmkdir -p '/mnt'\nmount /dev/vda3 '/mnt'\n\
         mkdir -p '/mnt/srv'\nmount /dev/vda2 '/mnt/srv'\n\
         mkdir -p '/mnt/boot/efi'\nmount /dev/vda1 '/mnt/boot/efi'\n"
    );
}

#[test]
fn a_cached_layer_whose_chain_is_broken_is_a_miss() {
    let dir = tempfile::tempdir().expect("tempdir");
    let layers = LayerDir::open(&dir.path().join("steps")).expect("cache");
    let text = "FROM scratch\nDISK 64 MB GPT\nPARTITION 1 FORMAT ext4 MOUNT /\nRUN true\n";
    let file = imagefile(text);
    let keys = crate::layers::keys(&file, &Base::Scratch, &[Vec::new()]).expect("keys");
    // The partitions' layer, and RUN's over it, both complete.
    let (a, b) = (layers.layer(&keys[2]), layers.layer(&keys[3]));
    create_file(&a, &CreateOptions::new(64 << 20)).expect("layer");
    let mut over = CreateOptions::new(64 << 20);
    over.backing = Some((a.display().to_string(), DiskFormat::Qcow2));
    create_file(&b, &over).expect("layer");
    layers.complete(&keys[2]).expect("complete");
    layers.complete(&keys[3]).expect("complete");
    let options = without_a_kernel(dir.path());
    let plan = BuildPlan {
        imagefile: &file,
        build_dir: dir.path(),
        base: Base::Scratch,
        layers: &layers,
        base_dirs: Vec::new(),
    };
    let built = build(&plan, &options, &mut |_| {}).expect("every step cached");
    assert_eq!((built.image.as_path(), built.booted), (b.as_path(), false));
    // Its parent gone, RUN's layer is not taken: the build starts over (and, with no kernel
    // here, fails to boot) rather than handing out a broken chain.
    fs::set_permissions(&a, fs::Permissions::from_mode(0o644)).expect("chmod");
    fs::remove_file(&a).expect("remove");
    let err = build(&plan, &options, &mut |_| {}).expect_err("a VM is needed");
    assert!(matches!(err, BuildError::Vm(_)), "{err:?}");
}
