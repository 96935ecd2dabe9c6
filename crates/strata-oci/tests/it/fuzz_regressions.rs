//! Replays every input saved under `fuzz/regressions/oci_*` and `sif_parse` (by `cargo xtask
//! fuzz` when a target crashed) through the fuzz targets' bodies.

use std::path::{Path, PathBuf};

use strata_oci::fuzzing;

fn files_in(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file() && !p.file_name().unwrap().to_string_lossy().starts_with('.'))
        .collect();
    files.sort();
    files
}

#[test]
fn saved_crashes_replay_cleanly() {
    let regressions = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/regressions");
    for input in files_in(&regressions.join("oci_json")) {
        fuzzing::parse_json(&std::fs::read(&input).unwrap());
    }
    for input in files_in(&regressions.join("oci_unpack")) {
        fuzzing::unpack(&std::fs::read(&input).unwrap());
    }
    for input in files_in(&regressions.join("sif_parse")) {
        fuzzing::parse_sif(&std::fs::read(&input).unwrap());
    }
}

/// The bodies are the real code paths: a valid layer applies, an escaping one is refused (and
/// the body's own check that nothing left the root holds for both).
#[test]
fn bodies_apply_valid_layers_and_refuse_escapes() {
    let layer = |path: &str| {
        let mut builder = tar::Builder::new(Vec::new());
        let mut header = tar::Header::new_gnu();
        header.set_size(5);
        header.set_mode(0o644);
        header.set_entry_type(tar::EntryType::Regular);
        // set_path refuses `..`; write the name bytes directly, as a hostile archive would.
        let name = &mut header.as_old_mut().name;
        name[..path.len()].copy_from_slice(path.as_bytes());
        header.set_cksum();
        builder.append(&header, &b"hello"[..]).unwrap();
        builder.into_inner().unwrap()
    };
    assert!(fuzzing::unpack(&layer("etc/hostname")));
    assert!(!fuzzing::unpack(&layer("../escape")));
    fuzzing::parse_json(br#"{"schemaVersion":2,"manifests":[]}"#);
}
