//! `build`: every refusal before a VM boots (Imagefile errors with their file and line, no
//! name, a taken name, a FROM the backend does not hold, a source outside the build
//! directory), then one real build into the backend under TCG, read back with debugfs, and a
//! `--force` rebuild that takes every step from the cache and boots no VM.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command as Process;
use std::time::Instant;

use crate::sandbox::{Sandbox, enc};
use crate::snap;

/// A build directory with `Imagefile` holding `text`, and `hello.txt`.
fn build_dir(sb: &Sandbox, text: &str) -> PathBuf {
    let dir = sb.path("build");
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join("Imagefile"), text).unwrap();
    fs::write(dir.join("hello.txt"), b"built by transient-image\n").unwrap();
    dir
}

const SCRATCH: &str =
    "FROM scratch\nDISK 16 MB MBR\nPARTITION 1 FORMAT ext2 MOUNT /\nCOPY hello.txt /hello\n";

#[test]
fn refusals_before_any_vm() {
    let sb = Sandbox::new();
    let dir = build_dir(
        &sb,
        "FROM scratch\nDISK 16 MB MBR\nPARTITION 1 FORMAT ext2 MOUNT /\nRUN true\n",
    );
    let d = dir.to_str().unwrap();
    snap!("no_name", sb, &["build", d]);
    fs::write(
        dir.join("Imagefile"),
        "FROM scratch\nDISK 16 MB MBR\nINVALID x\n",
    )
    .unwrap();
    snap!("syntax_error", sb, &["build", "--name", "x", d]);
    fs::write(dir.join("Imagefile"), "RUN true\nFROM scratch\n").unwrap();
    snap!("from_not_first", sb, &["build", "--name", "x", d]);
    fs::write(dir.join("other"), "FROM scratch\nDISK 16 MB MBR\n").unwrap();
    snap!(
        "no_partition",
        sb,
        &[
            "build",
            "--name",
            "x",
            "-f",
            dir.join("other").to_str().unwrap(),
            d
        ]
    );
    snap!(
        "no_imagefile",
        sb,
        &["build", "--name", "x", sb.path("nowhere").to_str().unwrap()]
    );
    fs::write(dir.join("Imagefile"), "FROM base\nRUN true\n").unwrap();
    snap!("from_missing", sb, &["build", "--name", "x", d]);
    sb.image("base", 1 << 20);
    fs::write(dir.join("Imagefile"), "FROM base\nCOPY ../secret /\n").unwrap();
    snap!("outside", sb, &["build", "--name", "x", d]);
    snap!("taken", sb, &["build", "--name", "base", d]);
    // Nothing was made: the backend holds its one image (and transient's empty lock file of
    // the name looked for).
    let mut left = walk(&sb.backend());
    left.sort();
    assert_eq!(left, [format!(".working/{}", enc("base")), enc("base")]);
    assert_eq!(
        fs::metadata(sb.backend().join(".working/base"))
            .unwrap()
            .len(),
        0
    );
}

/// Every file under `dir`, relative.
fn walk(dir: &Path) -> Vec<String> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                files.push(path.strip_prefix(dir).unwrap().display().to_string());
            }
        }
    }
    files
}

#[test]
fn from_a_file_spec_alone_fetches_the_base_and_stores_it_without_a_vm() {
    let test = "from_a_file_spec_alone_fetches_the_base_and_stores_it_without_a_vm";
    if !strata_testkit::have(test, &["qemu-img"]) {
        return;
    }
    let sb = Sandbox::new();
    let source = sb.path("disk.raw");
    let mut bytes = vec![0u8; 1 << 20];
    bytes[4096..4100].copy_from_slice(b"data");
    fs::write(&source, &bytes).unwrap();
    let text = format!("FROM base,file={}\n", source.display());
    let dir = build_dir(&sb, &text);
    let out = sb.run(&["build", "--name", "copy", dir.to_str().unwrap()]);
    assert!(out.contains("exit: 0\n"), "{out}");
    assert!(
        out.contains("Unable to find image 'base' in backend"),
        "{out}"
    );
    assert!(out.contains("Step 1/1 : FROM base,file="), "{out}");
    // The base was fetched into the backend, and the new image is a copy of it.
    for name in ["base", "copy"] {
        let image = sb.backend().join(enc(name));
        let compare = Process::new("qemu-img")
            .args([
                "compare",
                "-f",
                "raw",
                source.to_str().unwrap(),
                image.to_str().unwrap(),
            ])
            .output()
            .unwrap();
        assert!(compare.status.success(), "{name}");
    }
}

#[test]
fn from_a_strata_repository_image_without_a_vm() {
    let test = "from_a_strata_repository_image_without_a_vm";
    if !strata_testkit::have(test, &["qemu-img"]) {
        return;
    }
    let sb = Sandbox::new();
    // The default strata repository of this home (no repos.yaml), holding `centos` (2 revisions).
    let repo = sb.path("home/.local/share/strata/images");
    let store = std::sync::Arc::new(strata::RepositoryStore::new("user", &repo).creating_parents());
    let strata = strata::Strata::new(
        [store as std::sync::Arc<dyn strata::Store>],
        strata::StrataOptions::default(),
    );
    let mut revisions = Vec::new();
    for (n, data) in [b"rev0", b"rev1"].iter().enumerate() {
        let source = sb.path(&format!("disk{n}.raw"));
        let mut bytes = vec![0u8; 1 << 20];
        bytes[8192..8196].copy_from_slice(*data);
        fs::write(&source, &bytes).unwrap();
        let mut request = strata::ImportRequest::disk(&source, strata::DiskFormat::Raw, "centos");
        request.policy.on_existing = strata::OnExisting::Replace;
        strata.import(request, &strata::NoProgress).unwrap();
        revisions.push(source);
    }
    for (from, expected) in [("user:centos", &revisions[1]), ("centos@0", &revisions[0])] {
        let dir = build_dir(&sb, &format!("FROM {from}\n"));
        let name = format!("copy-{}", from.replace([':', '@'], "-"));
        let out = sb.run(&["build", "--name", &name, dir.to_str().unwrap()]);
        assert!(out.contains("exit: 0\n"), "{out}");
        let image = sb.backend().join(enc(&name));
        let compare = Process::new("qemu-img")
            .args([
                "compare",
                "-f",
                "raw",
                expected.to_str().unwrap(),
                image.to_str().unwrap(),
            ])
            .output()
            .unwrap();
        assert!(compare.status.success(), "{from}");
    }
}

#[test]
fn a_build_into_the_backend_then_a_rebuild_from_the_cache() {
    let test = "a_build_into_the_backend_then_a_rebuild_from_the_cache";
    if !strata_testkit::have(test, &["qemu-system-x86_64", "qemu-img"]) {
        return;
    }
    // debugfs has no --version: -V.
    let debugfs = Process::new("debugfs")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success());
    if !strata_testkit::peer(test, "debugfs (e2fsprogs)", debugfs) {
        return;
    }
    let assets = strata_build::vm::Assets::locate();
    if !strata_testkit::peer(test, "the build VM (`cargo xtask setup`)", assets.is_ok()) {
        return;
    }
    let cache = strata_build::vm::assets::cache_root().unwrap();
    let sb = Sandbox::new();
    let dir = build_dir(&sb, SCRATCH);
    let run = |args: &[&str]| {
        sb.cmd()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("XDG_CACHE_HOME", cache.parent().unwrap().parent().unwrap())
            .env("STRATA_BUILD_ACCEL", "tcg")
            .args(args)
            .output()
            .unwrap()
    };
    let d = dir.to_str().unwrap();
    let out = run(&["build", "--name", "scratch/img:1", d]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "Step 1/4 : FROM scratch\nStep 2/4 : DISK 16M MBR\n\
         Step 3/4 : PARTITION 1 FORMAT ext2 MOUNT /\nStep 4/4 : COPY hello.txt /hello\n"
    );
    let image = sb.backend().join(enc("scratch/img:1"));
    let meta = fs::metadata(&image).unwrap();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o777,
        0o444
    );
    // A flat qcow2, no backing file: what transient stores.
    let info = Process::new("qemu-img")
        .args(["info", "--output=json", image.to_str().unwrap()])
        .output()
        .unwrap();
    let info: serde_json::Value = serde_json::from_slice(&info.stdout).unwrap();
    assert_eq!(info["format"], "qcow2");
    assert!(info.get("backing-filename").is_none(), "{info}");
    assert_eq!(info["virtual-size"], 16 << 20);
    let raw = sb.path("img.raw");
    let status = Process::new("qemu-img")
        .args([
            "convert",
            "-O",
            "raw",
            image.to_str().unwrap(),
            raw.to_str().unwrap(),
        ])
        .status()
        .unwrap();
    assert!(status.success());
    // MBR: the first partition's start sector is at byte 454.
    let bytes = fs::read(&raw).unwrap();
    let start = u32::from_le_bytes(bytes[454..458].try_into().unwrap());
    let fs_at = format!("{}?offset={}", raw.display(), u64::from(start) * 512);
    let cat = Process::new("debugfs")
        .args(["-R", "cat /hello", &fs_at])
        .output()
        .unwrap();
    assert_eq!(cat.stdout, b"built by transient-image\n");
    let ls = sb.cmd().args(["ls", "--json"]).output().unwrap();
    let ls: serde_json::Value = serde_json::from_slice(&ls.stdout).unwrap();
    assert_eq!(ls[0]["name"], "scratch/img:1");
    // transient itself lists what strata built, with its sizes.
    let transient = strata_testkit::venv::program("transient");
    let present = Process::new(&transient)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if strata_testkit::peer(test, "transient 0.25 (cargo xtask setup)", present) {
        let out = Process::new(&transient)
            .args([
                "image",
                "ls",
                "--image-backend",
                sb.backend().to_str().unwrap(),
            ])
            .env("HOME", sb.path("home"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let table = String::from_utf8_lossy(&out.stdout);
        assert!(
            table
                .lines()
                .any(|l| l.trim_start().starts_with("scratch/img:1 ") && l.contains("16.00 MiB")),
            "{table}"
        );
    }

    // The name is taken now.
    let out = run(&["build", "--name", "scratch/img:1", d]);
    assert_eq!(out.status.code(), Some(73));
    // --force: every step from the cache, no VM, well under a second.
    let started = Instant::now();
    let out = run(&["build", "--force", "--name", "scratch/img:1", d]);
    let took = started.elapsed();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout)
            .matches(" ---> Using cache\n")
            .count(),
        4
    );
    assert!(took.as_secs_f64() < 1.0, "{took:?}");
    assert!(image.is_file());
    // --local: the same image, from the cache, as build-dir/NAME.qcow2 (the name as given).
    let out = run(&["build", "--local", "--name", "local", d]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let local = dir.join("local.qcow2");
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&fs::metadata(&local).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o444);
    let compare = Process::new("qemu-img")
        .args(["compare", local.to_str().unwrap(), image.to_str().unwrap()])
        .status()
        .unwrap();
    assert!(compare.success());
    assert_eq!(
        run(&["build", "--local", "--name", "local", d])
            .status
            .code(),
        Some(73)
    );

    // A failing step (no /bin/sh in this image for RUN's chroot): exit 65 with the step's line,
    // the backend as it was, and only complete layers in the cache.
    let mut before = walk(&sb.backend());
    fs::write(dir.join("Imagefile"), format!("{SCRATCH}RUN true\n")).unwrap();
    let out = run(&["build", "--name", "bad", d]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(65), "{stderr}");
    assert!(
        stderr.starts_with("line 5: RUN true exited with status"),
        "{stderr}"
    );
    let mut after = walk(&sb.backend());
    before.sort();
    after.sort();
    assert_eq!(after, before);
}
