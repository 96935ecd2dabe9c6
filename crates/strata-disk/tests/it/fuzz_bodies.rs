//! The fuzz targets' bodies on what we have: every committed fixture and every input saved under
//! `fuzz/regressions/` (of any target) through every parse and exercise body, and the round-trip
//! bodies on a few shapes. Each target's own saved inputs replay through its own body in
//! strata-testkit's `fuzz_replay` test, which also fails when a target is left out.

use std::path::{Path, PathBuf};

use strata_disk::fuzzing;
use strata_testkit::fuzz;

/// The files of `dir` (dot files excepted); panics if it cannot be read.
fn files_in(dir: &Path) -> Vec<PathBuf> {
    fuzz::files_in(dir).unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
}

#[test]
fn saved_inputs_and_fixtures_go_through_every_parser() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let replays = fuzz::replays().unwrap_or_else(|problems| {
        panic!(
            "the fuzz targets are not all covered:\n  {}",
            problems.join("\n  ")
        )
    });
    let mut inputs: Vec<PathBuf> = replays.into_iter().flat_map(|r| r.inputs).collect();
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
    // The qed round trip on a few fixtures (it writes a file per input).
    for input in inputs
        .iter()
        .filter(|p| p.to_string_lossy().ends_with(".qed"))
        .take(3)
    {
        fuzzing::roundtrip_qed(&std::fs::read(input).unwrap());
    }
}

#[test]
fn vmdk_roundtrip_body_on_a_few_shapes() {
    // Empty-ish, unaligned, data and zeros.
    let mut sample = vec![0u8; 200_000];
    sample[70_000..70_100].fill(3);
    sample[199_999] = 1;
    for data in [&[1u8][..], &sample[..1000], &sample] {
        fuzzing::roundtrip_vmdk(data);
    }
}

#[test]
fn qcow2_roundtrip_body_on_a_few_shapes() {
    // Too short for options; then each cluster size, refcount width and compression, with data
    // runs that overlap, reach the end, or are empty.
    fuzzing::roundtrip_qcow2(&[1, 2, 3]);
    for a in 0u8..8 {
        let options = [a + 8 * (a % 3), a, a, a * 3];
        let runs = [0, 0, 0, 7, 200, 0xaa, 255, 255, 0x55, 31, 1, 1, 100, 3, 9];
        fuzzing::roundtrip_qcow2(&[&options[..], &runs[..]].concat());
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

#[test]
fn vhdx_roundtrip_body_on_a_few_shapes() {
    // Empty, unaligned, and data across block boundaries, with every choice of options.
    let data: Vec<u8> = (0..(2 << 20) + 4097)
        .map(|i| {
            if i % 300_000 < 700 {
                (i % 251) as u8
            } else {
                0
            }
        })
        .collect();
    fuzzing::roundtrip_vhdx(&[]);
    for choice in 0u8..8 {
        fuzzing::roundtrip_vhdx(&[choice]);
        fuzzing::roundtrip_vhdx(&[&[choice][..], &data[..1000]].concat());
        fuzzing::roundtrip_vhdx(&[&[choice][..], &data[..]].concat());
    }
}

#[test]
fn vmdk_split_roundtrip_body_on_a_few_shapes() {
    let data: Vec<u8> = (0..(1 << 20) + 4097)
        .map(|i| {
            if i % 300_000 < 700 {
                (i % 251) as u8
            } else {
                0
            }
        })
        .collect();
    fuzzing::roundtrip_vmdk_split(&[]);
    for choice in 0u8..3 {
        fuzzing::roundtrip_vmdk_split(&[choice]);
        fuzzing::roundtrip_vmdk_split(&[&[choice][..], &data[..1000]].concat());
        fuzzing::roundtrip_vmdk_split(&[&[choice][..], &data[..]].concat());
    }
}
