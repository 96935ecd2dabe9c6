//! Replays every input saved under `fuzz/regressions/` (by `cargo xtask fuzz` when a target
//! crashed) and every committed fixture through the fuzz targets' bodies.

use std::path::{Path, PathBuf};

use strata_disk::fuzzing;

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
fn saved_crashes_and_fixtures_replay_cleanly() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let regressions = root.join("../../fuzz/regressions");
    let mut inputs = files_in(&regressions.join("qcow2_parse"));
    for target in [
        "qcow2_exercise",
        "vmdk_parse",
        "vmdk_exercise",
        "vdi_exercise",
        "vpc_exercise",
        "qed_exercise",
        "vhdx_exercise",
    ] {
        inputs.extend(files_in(&regressions.join(target)));
    }
    let mut fixtures = files_in(&root.join("tests/fixtures"));
    fixtures.extend(files_in(&root.join("tests/fixtures/vmdk")));
    fixtures.extend(files_in(&root.join("tests/fixtures/chain")));
    assert!(!fixtures.is_empty(), "the committed fixtures are missing");
    inputs.extend(fixtures);
    for input in &inputs {
        let mut data = std::fs::read(input).unwrap();
        if input.extension().is_some_and(|e| e == "gz") {
            let mut plain = Vec::new();
            std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&data[..]), &mut plain)
                .unwrap();
            data = plain;
        }
        fuzzing::parse(&data);
        fuzzing::exercise_qcow2(&data);
        fuzzing::exercise_vmdk(&data);
        fuzzing::exercise_vdi(&data);
        fuzzing::exercise_vpc(&data);
        fuzzing::exercise_qed(&data);
        fuzzing::exercise_vhdx(&data);
    }
    // The qed round trip on a few inputs (it writes a file per input).
    for input in inputs
        .iter()
        .filter(|p| p.to_string_lossy().ends_with(".qed"))
        .take(3)
    {
        fuzzing::roundtrip_qed(&std::fs::read(input).unwrap());
    }
    for input in files_in(&regressions.join("qed_roundtrip")) {
        fuzzing::roundtrip_qed(&std::fs::read(input).unwrap());
    }
    for input in files_in(&regressions.join("vmdk_roundtrip")) {
        fuzzing::roundtrip_vmdk(&std::fs::read(input).unwrap());
    }
    for input in files_in(&regressions.join("vdi_vpc_roundtrip")) {
        fuzzing::roundtrip_vdi_vpc(&std::fs::read(input).unwrap());
    }
    // The round trip on a few shapes: empty-ish, unaligned, data and zeros.
    let mut sample = vec![0u8; 200_000];
    sample[70_000..70_100].fill(3);
    sample[199_999] = 1;
    for data in [&[1u8][..], &sample[..1000], &sample] {
        fuzzing::roundtrip_vmdk(data);
    }
}

#[test]
fn roundtrip_body_accepts_odd_sources() {
    for len in [0usize, 1, 511, 4096 + 3, (1 << 20) + 17, (2 << 20) + 512] {
        let data: Vec<u8> = (0..len)
            .map(|i| if i % 3000 < 700 { (i % 251) as u8 } else { 0 })
            .collect();
        fuzzing::roundtrip_vdi_vpc(&data);
    }
}
