//! `create -t oci|olvm` and `info` on an OCK-shaped boot image made here: a GPT disk (an
//! unformatted EFI partition, XFS boot and root partitions) with OCNE's loader entry, an
//! ostree-style deployment (its fstab, machine-id, the `boot.1` link) built in strata's build
//! VM, put in a one-layer container image with umoci and pushed to a real `docker-registry`.
//!
//! Every edit is checked by reading the results with other tools than the code that made
//! them: `qemu-img check`, `sfdisk` and `blkid` on the host, and the build VM mounting the
//! results read-only (`cat`, `stat`, `find`, `xfs_repair -n`).

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use strata_build::vm::{Accel, Assets, BuildVm, Disk, Reason, Resolved, VmConfig};
use strata_model::DiskFormat;
use strata_testkit::LocalRegistry;

use crate::{is_logrus, ocne, sh, texts};

const STEP: Duration = Duration::from_secs(120);
const TEST: &str = "create_and_info_on_an_ock_image_from_a_registry";

fn tcg() -> Resolved {
    Resolved {
        accel: Accel::Tcg,
        reason: Reason::Asked,
    }
}

/// The guest script that lays the image out; prints the boot and root UUIDs.
const LAYOUT: &str = r#"set -e
printf 'label: gpt\nsize=16MiB, type=U, name=EFI-SYSTEM\nsize=48MiB, type=L, name=boot\nsize=80MiB, type=L, name=root\ntype=L, name=spare\n' | sfdisk -q /dev/vda
mkdosfs -n EFI /dev/vda1 >/dev/null
mkdir -p /mnt/e
mount -t vfat /dev/vda1 /mnt/e
mkdir -p /mnt/e/EFI/redhat
printf 'set timeout=0\n' > /mnt/e/EFI/redhat/grub.cfg
umount /mnt/e
export TEST_DIR=1 TEST_DEV=1 QA_CHECK_FS=1
mkfs.xfs -q -L boot /dev/vda2
mkfs.xfs -q -L root /dev/vda3
BOOT=$(blkid -p -o value -s UUID /dev/vda2)
ROOT=$(blkid -p -o value -s UUID /dev/vda3)
mkdir -p /mnt/b /mnt/r
mount /dev/vda2 /mnt/b
mount /dev/vda3 /mnt/r
mkdir -p /mnt/b/loader/entries
printf 'title Oracle Linux Server 8.10 (ock)\nversion 1\nlinux /ostree/ock-abc/vmlinuz\ninitrd /ostree/ock-abc/initramfs.img\noptions rw ip=dhcp rd.neednet=1 ignition.platform.id=qemu ignition.firstboot=1 console=ttyS0 root=UUID=%s ostree=/ostree/boot.1/ock/abc/0\n' "$ROOT" > /mnt/b/loader/entries/ostree-1-ock.conf
D=/mnt/r/ostree/deploy/ock/deploy
mkdir -p $D/c0ffee.0/etc/dhcp $D/old.0/etc /mnt/r/ostree/boot.1/ock/abc
ln -s ../../../deploy/ock/deploy/c0ffee.0 /mnt/r/ostree/boot.1/ock/abc/0
printf 'UUID=%s /                       xfs     defaults        0 0\nUUID=%s /boot                   xfs     defaults        0 0\nLABEL=data /data xfs defaults 0 0\n' "$ROOT" "$BOOT" > $D/c0ffee.0/etc/fstab
echo 0123456789abcdef0123456789abcdef > $D/c0ffee.0/etc/machine-id
echo fedcba9876543210fedcba9876543210 > $D/old.0/etc/machine-id
echo "$BOOT $ROOT"
"#;

/// Makes the boot image; returns its boot and root UUIDs.
fn build_image(assets: &Assets, image: &Path) -> (String, String) {
    sh(Command::new("qemu-img")
        .args(["create", "-q", "-f", "qcow2"])
        .arg(image)
        .arg("160M"));
    let mut config = VmConfig::new(assets.clone());
    config.disks = vec![Disk::new(image, DiskFormat::Qcow2)];
    let mut vm = BuildVm::start_with(&config, tcg()).unwrap();
    let out = vm.run_checked(LAYOUT, STEP).unwrap().stdout_text();
    vm.shutdown().unwrap();
    let (boot, root) = out.trim().split_once(' ').unwrap();
    (boot.to_owned(), root.to_owned())
}

/// Pushes `qcow2` as `disk/boot.qcow2` in a one-layer image to `reference`.
fn push(dir: &Path, qcow2: &Path, reference: &str) {
    let layout = dir.join("layout");
    let l = layout.to_str().unwrap();
    sh(Command::new("umoci").args(["init", "--layout", l]));
    sh(Command::new("umoci").args(["new", "--image", &format!("{l}:1.33")]));
    sh(Command::new("umoci")
        .args(["insert", "--rootless", "--image", &format!("{l}:1.33")])
        .arg(qcow2)
        .arg("/disk/boot.qcow2"));
    sh(Command::new("skopeo").args([
        "copy",
        "--dest-tls-verify=false",
        &format!("oci:{l}:1.33"),
        reference,
    ]));
}

/// The start sectors of the partitions of a raw disk, read by sfdisk.
fn starts(raw: &Path) -> Vec<(u64, u64, String, String, String)> {
    let json = sh(Command::new("sfdisk").arg("-J").arg(raw));
    let v: serde_json::Value = serde_json::from_slice(&json).unwrap();
    v["partitiontable"]["partitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["start"].as_u64().unwrap(),
                p["size"].as_u64().unwrap(),
                p["name"].as_str().unwrap_or_default().to_owned(),
                p["uuid"].as_str().unwrap().to_owned(),
                p["type"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// A file system's UUID at `sector` of `raw`, read by the host's blkid.
fn host_uuid(raw: &Path, sector: u64) -> String {
    let out = sh(Command::new("blkid")
        .args(["-p", "-o", "value", "-s", "UUID", "-O"])
        .arg((sector * 512).to_string())
        .arg(raw));
    String::from_utf8(out).unwrap().trim().to_owned()
}

#[test]
fn create_and_info_on_an_ock_image_from_a_registry() {
    if !strata_testkit::peers::have(
        TEST,
        &[
            "qemu-system-x86_64",
            "qemu-img",
            "umoci",
            "skopeo",
            "sfdisk",
            "blkid",
        ],
    ) {
        return;
    }
    let assets = Assets::locate();
    if !strata_testkit::peers::peer(TEST, "the build VM (`cargo xtask setup`)", assets.is_ok()) {
        return;
    }
    let assets = assets.unwrap();
    let Some(registry) = LocalRegistry::start(None) else {
        strata_testkit::peers::peer(TEST, "docker-registry", false);
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    fs::create_dir_all(home.join(".ocne")).unwrap();
    fs::create_dir_all(home.join(".cache/strata")).unwrap();
    // The build VM's assets where the binary looks for them under this HOME.
    std::os::unix::fs::symlink(
        assets.kernel.parent().unwrap().parent().unwrap(),
        home.join(".cache/strata/build-vm"),
    )
    .unwrap();

    let image = tmp.path().join("boot.qcow2");
    let (old_boot, old_root) = build_image(&assets, &image);
    push(
        tmp.path(),
        &image,
        &format!("docker://{}/olcne/ock:1.33", registry.host()),
    );
    // The same image in a strata repository is a source too (`strata:DIR:NAME`).
    let repo = tmp.path().join("repo");
    let store: Arc<dyn strata::Store> = Arc::new(strata::RepositoryStore::new("r", repo.clone()));
    strata::Strata::new(vec![store], strata::StrataOptions::default())
        .import(
            strata::ImportRequest {
                source: strata::Source::Container(
                    format!("oci:{}:1.33", tmp.path().join("layout").display())
                        .parse()
                        .unwrap(),
                ),
                dest: strata::NewImageTarget::named("ock"),
                policy: strata::NamePolicy::default(),
                arch: None,
            },
            &strata::NoProgress,
        )
        .unwrap();
    let out = ocne(&home)
        .args(["info", "-i", &format!("strata:{}:ock", repo.display())])
        .output()
        .unwrap();
    let (_, stderr) = texts(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!("msg=\"Image: strata:{}:ock\"", repo.display())),
        "{stderr}"
    );
    assert_eq!(
        stderr.matches("level=info msg=\"\\tPartition ").count(),
        4,
        "{stderr}"
    );

    fs::write(
        home.join(".ocne/defaults.yaml"),
        format!("bootVolumeContainerImage: {}/olcne/ock\n", registry.host()),
    )
    .unwrap();

    // -t oci, with kernel arguments sed would have read as operators.
    let kargs = "quiet a=b&c x/y";
    let started = Instant::now();
    let out = ocne(&home)
        .env("STRATA_BUILD_ACCEL", "tcg")
        .args(["create", "-t", "oci", "-K", kargs])
        .output()
        .unwrap();
    let took = started.elapsed();
    let (stdout, stderr) = texts(&out);
    assert!(out.status.success(), "{stderr}");
    eprintln!("create -t oci took {took:.2?}");
    let images = home.join(".ocne/images");
    let oci = images.join("boot.qcow2-1.33-amd64.oci");
    let lines: Vec<&str> = stderr.lines().collect();
    assert!(is_logrus(lines[0], "info", "Creating Image"), "{stderr}");
    assert!(
        is_logrus(
            lines[1],
            "info",
            "Getting local boot image for architecture: amd64"
        ),
        "{stderr}"
    );
    assert!(
        is_logrus(
            lines.last().unwrap(),
            "info",
            &format!(
                "New boot image was created successfully at {}",
                oci.display()
            )
        ),
        "{stderr}"
    );
    // OCNE's colour codes are in the message; logrus quotes them off a terminal.
    assert!(
        stderr.contains("level=info msg=\"Modifying boot image: \\x1b[32mok\\x1b[0m\\x1b[K\"\n"),
        "{stderr}"
    );
    assert!(
        stdout.starts_with("Getting image source signatures\nCopying blob "),
        "{stdout}"
    );
    assert!(
        stdout.ends_with("Writing manifest to image destination\n"),
        "{stdout}"
    );
    assert_eq!(
        fs::metadata(&oci).unwrap().permissions().mode() & 0o777,
        0o600
    );

    // A run killed in the middle (SIGKILL while the VM boots or edits): the output keeps its
    // bytes, the VM powers itself off when its host is gone, and the next run removes the
    // leftover temporary file.
    let before = fs::read(&oci).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_ocne-image"))
        .env_clear()
        .env("HOME", &home)
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("STRATA_BUILD_ACCEL", "tcg")
        .args(["create", "-t", "oci"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let leftover = || -> Option<std::path::PathBuf> {
        fs::read_dir(&images)
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| {
                p.file_name()
                    .unwrap()
                    .to_string_lossy()
                    .starts_with(".boot.qcow2-")
            })
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while leftover().is_none() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let tmp_file = leftover().expect("the run made no temporary file");
    std::thread::sleep(Duration::from_millis(
        500 + u64::from(std::process::id() % 3000),
    ));
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(
        fs::read(&oci).unwrap(),
        before,
        "a killed run changed the output"
    );
    let qemu_left = || {
        fs::read_dir("/proc").unwrap().flatten().any(|e| {
            fs::read(e.path().join("cmdline"))
                .is_ok_and(|c| String::from_utf8_lossy(&c).contains(&*tmp_file.to_string_lossy()))
        })
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while qemu_left() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(!qemu_left(), "qemu outlived the killed run");

    // -t olvm, from the cache: nothing is downloaded again; -i is overridden as OCNE does.
    let out = ocne(&home)
        .env("STRATA_BUILD_ACCEL", "tcg")
        .args(["create", "-t", "olvm", "-i", "ignored"])
        .output()
        .unwrap();
    let (stdout, stderr) = texts(&out);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(stdout, "", "the second create downloaded again");
    let olvm = images.join("boot.qcow2-1.33-amd64.olvm");
    let mut left: Vec<String> = fs::read_dir(&images)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(
        left,
        ["boot.qcow2-1.33-amd64.oci", "boot.qcow2-1.33-amd64.olvm"]
    );

    // The host's tools: both are sound qcow2 files with new, distinct UUIDs.
    let mut uuids = Vec::new();
    for (i, result) in [&oci, &olvm].iter().enumerate() {
        sh(Command::new("qemu-img").arg("check").arg(result));
        let raw = tmp.path().join(format!("result{i}.raw"));
        sh(Command::new("qemu-img")
            .args(["convert", "-O", "raw"])
            .arg(result)
            .arg(&raw));
        let parts = starts(&raw);
        assert_eq!(parts.len(), 4);
        let boot = host_uuid(&raw, parts[1].0);
        let root = host_uuid(&raw, parts[2].0);
        assert!(boot != old_boot && root != old_root && boot != root);
        uuids.push((boot, root));
        if i == 0 {
            // info -f: OCNE's table, checked against sfdisk's reading.
            let out = ocne(&home)
                .args(["info", "-f"])
                .arg(result)
                .output()
                .unwrap();
            let (_, stderr) = texts(&out);
            assert!(out.status.success(), "{stderr}");
            let msgs: Vec<String> = stderr
                .lines()
                .map(|l| {
                    let at = l.find("msg=").unwrap();
                    serde_json::from_str::<String>(&l[at + 4..]).unwrap()
                })
                .collect();
            assert_eq!(msgs[0], format!("Image: {}", result.display()));
            assert_eq!(msgs[1], "Size: 163840.00 KiB");
            assert_eq!(msgs[2], "Logical Block Size: 512");
            assert_eq!(msgs[3], "PhysicalBlockSize: 512");
            assert!(msgs[4].starts_with("Partition Table: "));
            for (n, (start, size, name, uuid, kind)) in parts.iter().enumerate() {
                let at = 5 + n * 6;
                assert_eq!(msgs[at], format!("\tPartition {n}"));
                assert_eq!(msgs[at + 1], format!("\t\tLabel: {name}"));
                assert_eq!(msgs[at + 2], format!("\t\tGUID: {}", uuid.to_uppercase()));
                assert_eq!(msgs[at + 3], format!("\t\tType: {}", kind.to_uppercase()));
                assert_eq!(
                    msgs[at + 5],
                    format!("\t\tExtents: {start} to {}", start + size - 1)
                );
            }
            assert_eq!(msgs[5 + 6 + 4], "\t\tSize: 49152.00 KiB");
            assert_eq!(msgs.len(), 5 + 4 * 6);
        }
    }

    // The build VM reads both results, read-only: entries, fstabs, machine-ids, hooks.
    let mut config = VmConfig::new(assets.clone());
    config.disks = vec![
        Disk::new(&oci, DiskFormat::Qcow2).read_only(),
        Disk::new(&olvm, DiskFormat::Qcow2).read_only(),
    ];
    let mut vm = BuildVm::start_with(&config, tcg()).unwrap();
    let read = |vm: &mut BuildVm, script: &str| vm.run_checked(script, STEP).unwrap().stdout_text();
    for (dev, (boot, root)) in ["vda", "vdb"].iter().zip(&uuids) {
        read(
            &mut vm,
            &format!("xfs_repair -n /dev/{dev}2 && xfs_repair -n /dev/{dev}3"),
        );
        let entry = read(
            &mut vm,
            &format!(
                "mkdir -p /m/{dev}b /m/{dev}r && mount -o ro /dev/{dev}2 /m/{dev}b && mount -o ro /dev/{dev}3 /m/{dev}r && cat /m/{dev}b/loader/entries/ostree-1-ock.conf"
            ),
        );
        let options = entry.lines().find(|l| l.starts_with("options ")).unwrap();
        let (provider, console, tail) = if *dev == "vda" {
            ("oci", "console=ttyS0", format!(" {kargs}"))
        } else {
            ("openstack", "console=tty0", String::new())
        };
        assert_eq!(
            options,
            format!(
                "options rw ip=dhcp rd.neednet=1 ignition.platform.id={provider} ignition.firstboot=1 {console} root=UUID={root} ostree=/ostree/boot.1/ock/abc/0{tail}"
            )
        );
        let d = format!("/m/{dev}r/ostree/deploy/ock/deploy");
        let fstab = read(&mut vm, &format!("cat {d}/c0ffee.0/etc/fstab"));
        assert_eq!(
            fstab,
            format!(
                "UUID={root} /                       xfs     defaults        0 0\nUUID={boot} /boot                   xfs     defaults        0 0\nLABEL=data /data xfs defaults 0 0\n"
            )
        );
        let ids = read(&mut vm, &format!("find /m/{dev}r -name machine-id"));
        assert_eq!(ids, "", "machine-id files are left: {ids}");
        let hooks = read(
            &mut vm,
            &format!(
                "cd {d}/c0ffee.0 && for f in etc/oci-dhclient.sh etc/dhcp/dhclient.d/oci.sh etc/NetworkManager/dispatcher.d/11-dhclient; do [ -f $f ] && stat -c '%a %n' $f; done; true"
            ),
        );
        if *dev == "vda" {
            assert_eq!(
                hooks,
                "755 etc/oci-dhclient.sh\n755 etc/dhcp/dhclient.d/oci.sh\n755 etc/NetworkManager/dispatcher.d/11-dhclient\n"
            );
            for hook in ocne_image::edits::OCI_HOOKS {
                let text = read(&mut vm, &format!("cat {d}/c0ffee.0/{}", hook.path));
                assert_eq!(text, hook.text);
            }
        } else {
            assert_eq!(hooks, "", "olvm installs no hooks");
        }
    }
    vm.shutdown().unwrap();

    // info --path: the entry from the boot partition (XFS), a file from the EFI partition
    // (FAT), and OCNE's warning for the spare partition, which holds no file system.
    let out = ocne(&home)
        .env("STRATA_BUILD_ACCEL", "tcg")
        .args(["info", "-p", "/loader/entries/ostree-1-ock.conf", "-f"])
        .arg(&oci)
        .output()
        .unwrap();
    let (stdout, stderr) = texts(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stdout.starts_with("title Oracle Linux Server 8.10 (ock)\n"),
        "{stdout}"
    );
    assert!(stdout.contains("ignition.platform.id=oci"), "{stdout}");
    assert!(
        stderr.contains("level=warning msg=\"EFI partition spare was not a valid filesystem"),
        "{stderr}"
    );
    let out = ocne(&home)
        .env("STRATA_BUILD_ACCEL", "tcg")
        .args([
            "info",
            "-L",
            "EFI-SYSTEM",
            "-p",
            "/EFI/redhat/grub.cfg",
            "-f",
        ])
        .arg(&oci)
        .output()
        .unwrap();
    let (stdout, stderr) = texts(&out);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(stdout, "set timeout=0\n");
    let out = ocne(&home)
        .env("STRATA_BUILD_ACCEL", "tcg")
        .args(["info", "-L", "root", "-r", "-p", "/ostree/boot.1", "-f"])
        .arg(&oci)
        .output()
        .unwrap();
    let (stdout, stderr) = texts(&out);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(
        stdout,
        "/ostree/boot.1/ock\n/ostree/boot.1/ock/abc\n/ostree/boot.1/ock/abc/0\n"
    );
    drop(registry);
}
