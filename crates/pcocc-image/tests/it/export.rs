//! `export [-t FMT] SOURCE DEST`: flattened to raw or qcow2, by extension, `-t` or prefix.

use crate::sandbox::Sandbox;
use crate::snap;

#[test]
fn export() {
    let sb = Sandbox::new(&["user"]);
    let raw = sb.raw_disk("disk.raw", 1 << 20);
    sb.ok(&["import", &raw, "c7"]);
    sb.ok(&["resize", "c7", "2M"]);
    snap!(
        "raw_by_extension",
        sb,
        &["export", "c7@0", &sb.file("out.raw")]
    );
    // The export of revision 0 is the source, byte for byte.
    let exported = std::fs::read(sb.file("out.raw")).expect("exported");
    assert_eq!(exported, std::fs::read(&raw).expect("source"));
    snap!(
        "qcow2_by_type",
        sb,
        &["export", "-t", "qcow2", "c7", &sb.file("out")]
    );
    snap!(
        "raw_by_prefix",
        sb,
        &["export", "c7", &format!("raw:{}", sb.file("big"))]
    );
    let len = std::fs::metadata(sb.file("big")).expect("big").len();
    assert_eq!(len, 2 << 20, "the resized revision exports at its new size");
    snap!("default_raw", sb, &["export", "c7", &sb.file("plain")]);
    snap!("unknown_image", sb, &["export", "c8", &sb.file("x.raw")]);
    snap!(
        "container_format",
        sb,
        &["export", "-t", "docker-archive", "c7", &sb.file("x.tar")]
    );
}

/// vhdx, strata's addition to pcocc's formats: exported by extension, `-t` and prefix (checked
/// with `qemu-img compare` against the source), imported back by extension, prefix, `-t` and
/// content.
#[test]
fn vhdx_export_and_import() {
    let sb = Sandbox::new(&["user"]);
    let raw = sb.raw_disk("disk.raw", 3 << 20);
    sb.ok(&["import", &raw, "c7"]);
    snap!(
        "vhdx_by_extension",
        sb,
        &["export", "c7", &sb.file("out.vhdx")]
    );
    let typed = sb.file("typed");
    sb.ok(&["export", "-t", "vhdx", "c7", &typed]);
    let prefixed = sb.file("prefixed.img");
    sb.ok(&["export", "c7", &format!("vhdx:{prefixed}")]);
    let qemu = strata_testkit::have("vhdx_export_and_import", &["qemu-img"]);
    for path in [sb.file("out.vhdx"), typed.clone(), prefixed.clone()] {
        let opened = strata_disk::open(
            std::path::Path::new(&path),
            &strata_disk::OpenOptions::default(),
        )
        .expect("open the export");
        assert_eq!(opened.format, strata_model::DiskFormat::Vhdx, "{path}");
        if qemu {
            let out = std::process::Command::new("qemu-img")
                .args(["compare", "-f", "raw", "-F", "vhdx", &raw, &path])
                .output()
                .expect("qemu-img compare");
            assert!(
                out.status.success(),
                "{path}: {}",
                String::from_utf8_lossy(&out.stdout)
            );
        }
    }
    // Back in: by extension, content (no extension), `-t` and prefix; each exports the source.
    let plain = sb.file("plain");
    std::fs::copy(&typed, &plain).expect("copy");
    for (i, args) in [
        vec!["import".to_owned(), sb.file("out.vhdx")],
        vec!["import".to_owned(), plain],
        vec![
            "import".to_owned(),
            "-t".to_owned(),
            "vhdx".to_owned(),
            typed,
        ],
        vec!["import".to_owned(), format!("vhdx:{prefixed}")],
    ]
    .into_iter()
    .enumerate()
    {
        let name = format!("v{i}");
        let mut args: Vec<&str> = args.iter().map(String::as_str).collect();
        args.push(&name);
        sb.ok(&args);
        let back = sb.file(&format!("back{i}.raw"));
        sb.ok(&["export", &name, &back]);
        assert!(
            std::fs::read(&back).expect("export") == std::fs::read(&raw).expect("source"),
            "{args:?}"
        );
    }
}
