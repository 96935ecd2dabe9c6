//! The fuzz targets' bodies on hand-made layers. Every input saved under `fuzz/regressions/`
//! replays through its target's body in strata-testkit's `fuzz_replay` test.

use strata_oci::fuzzing;

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
