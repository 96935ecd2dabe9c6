//! The custom image tarball `<file>.tar.gz`, read back with flate2 and tar: entry names,
//! sizes, modes, mtimes and contents; OCNE's duplicate-name quirk; atomic writing.

use std::fs::File;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, UNIX_EPOCH};

use crate::{ocne, texts};

struct Entry {
    name: String,
    size: u64,
    mode: u32,
    mtime: u64,
    data: Vec<u8>,
}

fn entries(path: &Path) -> Vec<Entry> {
    let gz = flate2::read::GzDecoder::new(File::open(path).unwrap());
    let mut archive = tar::Archive::new(gz);
    archive
        .entries()
        .unwrap()
        .map(|e| {
            let mut e = e.unwrap();
            let header = e.header().clone();
            assert_eq!(header.entry_type(), tar::EntryType::Regular);
            assert_eq!(&header.as_bytes()[257..265], b"ustar\x0000");
            let mut data = Vec::new();
            e.read_to_end(&mut data).unwrap();
            Entry {
                name: e.path().unwrap().to_string_lossy().into_owned(),
                size: header.size().unwrap(),
                mode: header.mode().unwrap(),
                mtime: header.mtime().unwrap(),
                data,
            }
        })
        .collect()
}

/// Writes `name` in `dir` with mode 0640 and an mtime of `mtime` seconds plus `nanos`.
fn boot_image(dir: &Path, name: &str, mtime: u64, nanos: u32) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, vec![7u8; 1500]).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
    let file = File::options().write(true).open(&path).unwrap();
    file.set_modified(UNIX_EPOCH + Duration::new(mtime, nanos))
        .unwrap();
    path
}

#[test]
fn an_oci_file_becomes_output_qcow2_and_image_metadata_json() {
    let tmp = tempfile::tempdir().unwrap();
    let file = boot_image(
        tmp.path(),
        "boot.qcow2-1.33-amd64.oci",
        1_720_195_043,
        600_000_000,
    );
    let output = ocne(tmp.path())
        .args(["upload", "-a", "amd64", "-f"])
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(69), "{:?}", texts(&output));
    let json = tmp.path().join("boot.qcow2-1.33-amd64.oci.json");
    let json_meta = std::fs::metadata(&json).unwrap();
    let tarball = tmp.path().join("boot.qcow2-1.33-amd64.oci.tar.gz");
    let entries = entries(&tarball);
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[0].name, "output.QCOW2");
    assert_eq!(entries[0].size, 1500);
    assert_eq!(entries[0].mode, 0o640);
    // Go rounds the mtime to the nearest second.
    assert_eq!(entries[0].mtime, 1_720_195_044);
    assert_eq!(entries[0].data, vec![7u8; 1500]);
    assert_eq!(entries[1].name, "image_metadata.json");
    assert_eq!(entries[1].data, std::fs::read(&json).unwrap());
    assert_eq!(entries[1].size, json_meta.len());
    assert_eq!(entries[1].mode, json_meta.permissions().mode() & 0o777);
    let modified = json_meta
        .modified()
        .unwrap()
        .duration_since(UNIX_EPOCH)
        .unwrap();
    let rounded = modified.as_secs() + u64::from(modified.subsec_nanos() >= 500_000_000);
    assert_eq!(entries[1].mtime, rounded);
    // No temporary file is left beside them.
    let names: Vec<String> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(names.is_empty(), "{names:?}");
}

#[test]
fn another_name_yields_two_image_metadata_json_as_in_ocne() {
    let tmp = tempfile::tempdir().unwrap();
    let file = boot_image(tmp.path(), "boot.qcow2", 1_000_000_000, 0);
    let output = ocne(tmp.path())
        .args(["upload", "-a", "arm64", "-f"])
        .arg(&file)
        .output()
        .unwrap();
    let (_, err) = texts(&output);
    assert!(
        err.contains("level=warning msg=\"boot.qcow2 does not end in .oci, so its tarball entry is named image_metadata.json"),
        "{err}"
    );
    let entries = entries(&tmp.path().join("boot.qcow2.tar.gz"));
    let names: Vec<&str> = entries.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, ["image_metadata.json", "image_metadata.json"]);
    assert_eq!(entries[0].mtime, 1_000_000_000);
    assert_eq!(entries[0].size, 1500);
}

#[test]
fn a_failed_write_leaves_no_partial_file() {
    let tmp = tempfile::tempdir().unwrap();
    let file = boot_image(tmp.path(), "boot.oci", 1_000_000_000, 0);
    // The tarball's name is taken by a non-empty directory: the rename fails at the end.
    let blocker = tmp.path().join("boot.oci.tar.gz");
    std::fs::create_dir(&blocker).unwrap();
    std::fs::write(blocker.join("keep"), b"x").unwrap();
    let output = ocne(tmp.path())
        .args(["upload", "-a", "amd64", "-f"])
        .arg(&file)
        .output()
        .unwrap();
    let (_, err) = texts(&output);
    assert_ne!(output.status.code(), Some(0));
    assert!(
        err.contains(&format!("Error: cannot write {}", blocker.display())),
        "{err}"
    );
    assert!(blocker.join("keep").exists());
    let names: Vec<String> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(names.is_empty(), "a temporary file was left: {names:?}");
}

#[test]
fn the_tar_stream_is_go_s() {
    // Go's archive/tar for one 3-byte file: a USTAR header, the data padded, two zero blocks.
    let tmp = tempfile::tempdir().unwrap();
    let file = boot_image(tmp.path(), "x.oci", 1_720_195_043, 0);
    std::fs::write(&file, b"abc").unwrap();
    let f = File::options().write(true).open(&file).unwrap();
    f.set_modified(UNIX_EPOCH + Duration::from_secs(1_720_195_043))
        .unwrap();
    let mut tar = Vec::new();
    ocne_image::tarball::write_tar(&mut tar, &[file.as_path()]).unwrap();
    assert_eq!(tar.len(), 512 * 2 + 1024);
    let h = &tar[..512];
    assert_eq!(&h[..13], b"output.QCOW2\0");
    assert_eq!(
        &h[100..148],
        b"0000640\x000000000\x000000000\x0000000000003\x0014642013743\x00"
    );
    assert_eq!(&h[154..157], b"\0 0");
    assert_eq!(&h[257..265], b"ustar\x0000");
    assert_eq!(&h[329..345], b"0000000\x000000000\x00");
    assert_eq!(&tar[512..515], b"abc");
    assert!(tar[515..].iter().all(|&b| b == 0));
}
