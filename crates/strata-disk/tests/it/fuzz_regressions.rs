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
    inputs.extend(files_in(&regressions.join("qcow2_exercise")));
    for target in ["qed_exercise", "vhdx_exercise"] {
        inputs.extend(files_in(&regressions.join(target)));
    }
    let mut fixtures = files_in(&root.join("tests/fixtures"));
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
        fuzzing::exercise_qed(&data);
        fuzzing::exercise_vhdx(&data);
    }
    // The round trip on a few inputs (it writes a file per input).
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
}
