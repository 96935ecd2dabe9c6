//! `import [-t FMT] SOURCE DEST`: raw and qcow2 sources, `-t`, a `FORMAT:` prefix, the
//! extension, content detection, and pcocc's format errors and warnings.

use crate::sandbox::Sandbox;
use crate::snap;

#[test]
fn import_raw_by_extension() {
    let sb = Sandbox::new(&["user"]);
    let raw = sb.raw_disk("disk.raw", 1 << 20);
    snap!("raw_extension", sb, &["import", &raw, "c7"]);
    sb.settle();
    snap!("raw_extension_list", sb, &["list"]);
}

#[test]
fn import_qcow2_by_content_and_extension() {
    let sb = Sandbox::new(&["user"]);
    let qcow2 = sb.qcow2_disk("disk.qcow2", 2 << 20);
    snap!("qcow2_extension", sb, &["import", &qcow2, "user:c7"]);
    // No extension: the content says qcow2.
    std::fs::rename(&qcow2, sb.file("disk")).expect("rename");
    snap!("qcow2_content", sb, &["import", &sb.file("disk"), "c8"]);
}

#[test]
fn import_with_type_option_and_prefix() {
    let sb = Sandbox::new(&["user"]);
    let raw = sb.raw_disk("vmimage", 1 << 20);
    snap!("type_option", sb, &["import", "-t", "raw", &raw, "a"]);
    snap!("prefix", sb, &["import", &format!("raw:{raw}"), "b"]);
    snap!(
        "prefix_and_same_type",
        sb,
        &["import", "--fmt", "RAW", &format!("raw:{raw}"), "c"]
    );
    // Nothing names the format and raw content shows none: pcocc's warning.
    snap!("assumed_raw", sb, &["import", &raw, "d"]);
}

#[test]
fn import_format_errors() {
    let sb = Sandbox::new(&["user"]);
    let raw = sb.raw_disk("disk.raw", 1 << 20);
    let qcow2 = sb.qcow2_disk("disk.qcow2", 1 << 20);
    snap!(
        "prefix_mismatch",
        sb,
        &["import", "-t", "qcow2", &format!("raw:{raw}"), "a"]
    );
    snap!(
        "detected_mismatch",
        sb,
        &["import", "-t", "raw", &qcow2, "b"]
    );
    snap!("unknown_type", sb, &["import", "-t", "floppy", &raw, "c"]);
    // A missing source is said to be missing (66), with or without an extension to go by.
    snap!("missing_source", sb, &["import", &sb.file("nope.raw"), "d"]);
    snap!(
        "missing_source_no_extension",
        sb,
        &["import", &sb.file("nope"), "d"]
    );
    // Nothing was stored.
    snap!("nothing_stored", sb, &["list"]);
}

#[test]
fn import_name_rules() {
    let sb = Sandbox::new(&["user", "global"]);
    let raw = sb.raw_disk("disk.raw", 1 << 20);
    sb.ok(&["import", &raw, "c7"]);
    snap!("existing_name", sb, &["import", &raw, "c7"]);
    snap!(
        "existing_elsewhere_warns",
        sb,
        &["import", &raw, "global:c7"]
    );
    snap!("invalid_name", sb, &["import", &raw, "bad/name"]);
    snap!("unknown_repo", sb, &["import", &raw, "nowhere:c9"]);
    snap!("revision_ignored", sb, &["import", &raw, "c9@4"]);
    snap!("quiet", sb, &["import", "-q", &raw, "c10"]);
}

/// The footer of a fixed VHD of 1 MiB (strata-disk's fixture, made by qemu-img): its
/// geometry rounds the size to 2108 sectors.
fn fixed_vhd_footer() -> Vec<u8> {
    let vhd = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../strata-disk/tests/fixtures/vpc-fixed.vpc"
    ))
    .expect("vpc fixture");
    vhd[vhd.len() - 512..].to_vec()
}

/// The size of image `name` of the sandbox, read back through a raw export.
fn exported_size(sb: &Sandbox, name: &str) -> u64 {
    let out = sb.file(&format!("{name}.out.raw"));
    sb.ok(&["export", name, &out]);
    std::fs::metadata(&out).expect("exported").len()
}

/// A raw guest disk whose last sector happens to hold a fixed VHD's footer (one claiming
/// 1 MiB) is a raw disk of 10 MiB, as pcocc's qemu-img probes it (qemu looks at the head of
/// a file only); it is the fixed VHD its footer describes when the user says so: `-t vpc`, a
/// `vpc:` prefix, or the `.vhd` extension (strata's addition to pcocc's extension names).
#[test]
fn import_raw_disk_ending_in_a_vhd_footer() {
    let sb = Sandbox::new(&["user"]);
    let size = 10u64 << 20;
    let disk = sb.raw_disk("disk", size);
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(&disk)
        .expect("disk");
    std::os::unix::fs::FileExt::write_all_at(&file, &fixed_vhd_footer(), size - 512)
        .expect("footer");
    snap!("vhd_footer_content", sb, &["import", &disk, "raw"]);
    assert_eq!(
        exported_size(&sb, "raw"),
        size,
        "the whole disk is imported"
    );
    snap!(
        "vhd_footer_type_option",
        sb,
        &["import", "-t", "vpc", &disk, "typed"]
    );
    snap!(
        "vhd_footer_prefix",
        sb,
        &["import", &format!("vpc:{disk}"), "prefixed"]
    );
    let vhd = sb.file("disk.vhd");
    std::fs::copy(&disk, &vhd).expect("copy");
    snap!("vhd_footer_extension", sb, &["import", &vhd, "named"]);
    for name in ["typed", "prefixed", "named"] {
        assert_eq!(exported_size(&sb, name), 2108 * 512, "{name}");
    }
}

/// Encrypted disks are refused as unsupported (exit 69) in words that say so: a LUKS
/// container (its magic, `LUKS\xba\xbe`, at the start) is not imported as a raw disk, and a
/// qcow2 image encrypted with AES is not "an invalid header".
#[test]
fn import_refuses_encrypted_disks() {
    let sb = Sandbox::new(&["user"]);
    let luks = sb.raw_disk("secret.img", 1 << 20);
    let mut header = b"LUKS\xba\xbe\x00\x01aes".to_vec();
    header.resize(512, 0);
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(&luks)
        .expect("disk");
    std::os::unix::fs::FileExt::write_all_at(&file, &header, 0).expect("header");
    snap!("luks_container", sb, &["import", &luks, "a"]);
    snap!(
        "luks_container_typed",
        sb,
        &["import", "-t", "raw", &luks, "b"]
    );
    let qcow2 = sb.qcow2_disk("aes.qcow2", 1 << 20);
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(&qcow2)
        .expect("qcow2");
    // crypt_method, the big-endian u32 at 32: 1 is AES.
    std::os::unix::fs::FileExt::write_all_at(&file, &1u32.to_be_bytes(), 32).expect("field");
    snap!("aes_qcow2", sb, &["import", &qcow2, "c"]);
    snap!("nothing_stored_encrypted", sb, &["list"]);
}

/// A compressed qcow2 whose clusters expand to zeros (512 GiB with 512 MiB of compressed
/// zeros, as qemu-io writes them) imports at once into a small blob: the zeros are neither
/// read, nor stored, nor hashed.
#[test]
fn import_compressed_zeros_into_a_small_blob() {
    if !strata_testkit::have(
        "import_compressed_zeros_into_a_small_blob",
        &["qemu-img", "qemu-io"],
    ) {
        return;
    }
    let sb = Sandbox::new(&["user"]);
    let src = sb.file("zeros.qcow2");
    let ok = |program: &str, args: &[&str]| {
        let out = std::process::Command::new(program)
            .args(args)
            .output()
            .expect(program);
        assert!(out.status.success(), "{program} {args:?}: {out:?}");
    };
    ok(
        "qemu-img",
        &[
            "create",
            "-q",
            "-f",
            "qcow2",
            "-o",
            "cluster_size=2M,compression_type=zstd",
            &src,
            "512G",
        ],
    );
    ok(
        "qemu-io",
        &[
            "-f",
            "qcow2",
            "-c",
            "write -c -P 0 0 256M",
            "-c",
            "write -c -P 0 100G 256M",
            "-c",
            "write -c -P 0x5a 200G 2M",
            &src,
        ],
    );
    snap!("compressed_zeros", sb, &["import", &src, "zeros"]);
    let blobs = sb.blobs("user");
    assert_eq!(blobs.len(), 1, "{blobs:?}");
    let len = std::fs::metadata(&blobs[0]).expect("blob").len();
    assert!(len < 4 << 20, "a blob of {len} bytes");
}
