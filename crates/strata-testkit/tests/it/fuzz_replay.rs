//! Replays every input saved under `fuzz/regressions/<target>/` (by `cargo xtask fuzz` when a
//! target crashed) through that target's body, for every target of `fuzz/Cargo.toml`. It lives
//! here, not in strata-disk or strata-oci, because only the test kit sees the bodies of both
//! crates and so can check that every target has one; a target without a body or without its
//! regressions folder fails the test.

use strata_testkit::fuzz;

#[test]
fn every_target_replays_its_saved_inputs() {
    let replays = fuzz::replays().unwrap_or_else(|problems| {
        panic!(
            "the fuzz replay would skip targets:\n  {}",
            problems.join("\n  ")
        )
    });
    assert!(!replays.is_empty(), "fuzz/Cargo.toml names no target");
    // Every input runs, and each one that panics is named (its panic message is printed above).
    let mut crashed = Vec::new();
    for replay in &replays {
        for input in &replay.inputs {
            let data = std::fs::read(input)
                .unwrap_or_else(|e| panic!("cannot read {}: {e}", input.display()));
            let run = replay.body.run;
            if std::panic::catch_unwind(|| run(&data)).is_err() {
                crashed.push(format!("{} on {}", replay.body.target, input.display()));
            }
        }
    }
    assert!(
        crashed.is_empty(),
        "saved fuzz inputs still crash their target:\n  {}",
        crashed.join("\n  ")
    );
}
