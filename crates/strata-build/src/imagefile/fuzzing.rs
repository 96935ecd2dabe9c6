//! The body of the `imagefile` fuzz target, kept here so that `cargo test` replays saved inputs
//! through exactly the same code. Not part of the supported API. It panics only on a bug.

use super::Imagefile;

/// Bytes -> an Imagefile: never panics, and what parses is written back as an Imagefile that
/// parses to the same instructions (the same text again, the same `Step i/n` lines).
pub fn parse(data: &[u8]) {
    let Ok(imagefile) = Imagefile::from_bytes("fuzz", data) else {
        return;
    };
    let steps: Vec<String> = imagefile.step_lines().collect();
    let written = imagefile.to_string();
    let again = Imagefile::parse("fuzz", &written)
        .unwrap_or_else(|e| panic!("a written Imagefile does not parse: {e}: {written:?}"));
    assert_eq!(
        again.to_string(),
        written,
        "the Imagefile changed on its way back"
    );
    let steps_again: Vec<String> = again.step_lines().collect();
    assert_eq!(
        steps_again, steps,
        "the steps changed on their way through {written:?}"
    );
}
