//! OpenNebula's own Python bindings (pyone 7.3, whose classes are generated from OpenNebula's
//! XSDs) parse every `-x` document `oneimage` and `onedatastore` print.

use crate::sandbox::Sandbox;

#[test]
fn pyone_parses_every_document_printed_with_x() {
    let present = strata_testkit::venv::imports("pyone.bindings");
    if !strata_testkit::peers::peer("pyone_parses_every_document", "pyone", present) {
        return;
    }
    let sb = Sandbox::new();
    sb.raw_disk("disk.raw", 8);
    sb.create(&[
        "-d",
        "1",
        "--name",
        "os",
        "--path",
        "disk.raw",
        "--description",
        "a <b> & \"c\"",
    ]);
    sb.create(&[
        "-d",
        "1",
        "--name",
        "data",
        "--type",
        "datablock",
        "--size",
        "4",
        "--persistent",
    ]);
    sb.ok("oneimage", &["lock", "data"]);
    let docs = [
        ("image.xml", sb.ok("oneimage", &["show", "os", "-x"])),
        ("locked.xml", sb.ok("oneimage", &["show", "data", "-x"])),
        ("images.xml", sb.ok("oneimage", &["list", "-x"])),
        ("datastore.xml", sb.ok("onedatastore", &["show", "1", "-x"])),
        ("datastores.xml", sb.ok("onedatastore", &["list", "-x"])),
    ];
    let mut paths = Vec::new();
    for (name, text) in &docs {
        paths.push(sb.write(name, text));
    }
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/pyone_parse.py");
    let out = std::process::Command::new(strata_testkit::venv::python())
        .arg(script)
        .args(&paths)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let text = summary.to_string();
    for expected in [
        "\"NAME\":\"os\"",
        "\"NAME\":\"data\"",
        "\"LOCKED\":1",
        "\"NAME\":\"default\"",
        "\"NAME\":\"files\"",
    ] {
        assert!(text.contains(expected), "{expected} in {text}");
    }
}
