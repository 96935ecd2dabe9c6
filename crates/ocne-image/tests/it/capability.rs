//! The capability document `<file>.json`: both variants and both architectures, byte for byte
//! against goldens made from OCNE's Go structs and shape lists (`tests/golden/make-goldens.sh`).

use std::path::Path;

use crate::{is_logrus, ocne, texts};

/// Runs `upload -t oci` for `arch` with `config` as `~/.oci/config` (and `--pca` if `pca`);
/// returns the document.
fn document(arch: &str, config: Option<&str>, pca: bool) -> String {
    let tmp = tempfile::tempdir().unwrap();
    if let Some(config) = config {
        std::fs::create_dir(tmp.path().join(".oci")).unwrap();
        std::fs::write(tmp.path().join(".oci/config"), config).unwrap();
    }
    let file = tmp.path().join(format!("boot.qcow2-1.33-{arch}.oci"));
    std::fs::write(&file, b"QFI\xfb not really a qcow2").unwrap();
    let mut cmd = ocne(tmp.path());
    cmd.args(["upload", "-t", "oci", "-a", arch, "-f"])
        .arg(&file);
    if pca {
        cmd.arg("--pca");
    }
    let output = cmd.output().unwrap();
    let (_, err) = texts(&output);
    let json = format!("{}.json", file.display());
    let first = err.lines().next().unwrap_or_default();
    assert!(
        is_logrus(first, "info", &format!("Created file {json}")),
        "{err}"
    );
    std::fs::read_to_string(json).unwrap()
}

fn golden(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name);
    std::fs::read_to_string(path).unwrap()
}

const ONE_REGION: &str = "[DEFAULT]\nuser=ocid1.user.oc1..x\nregion=pca.example.com\n";

#[test]
fn oci_documents_by_default_whatever_the_profile() {
    assert_eq!(
        document("amd64", None, false),
        golden("capability-amd64-oci.json")
    );
    assert_eq!(
        document("arm64", Some(ONE_REGION), false),
        golden("capability-arm64-oci.json")
    );
}

#[test]
fn pca_documents_with_the_switch() {
    assert_eq!(
        document("amd64", None, true),
        golden("capability-amd64-pca.json")
    );
    assert_eq!(
        document("arm64", Some(ONE_REGION), true),
        golden("capability-arm64-pca.json")
    );
}

#[test]
fn the_library_prints_the_goldens_too() {
    use ocne_image::capability::{Arch, Variant, document};
    assert_eq!(
        document(Arch::Amd64, Variant::Oci),
        golden("capability-amd64-oci.json")
    );
    assert_eq!(
        document(Arch::Arm64, Variant::Pca),
        golden("capability-arm64-pca.json")
    );
    // The reference's excerpt, in the Go struct's field order.
    let doc = document(Arch::Amd64, Variant::Oci);
    let keys = [
        "\"version\": 2",
        "\"externalLaunchOptions\"",
        "\"imageCapabilityData\"",
        "\"imageCapsFormatVersion\": \"34dd2cea-aff2-4f45-b8f6-1cb5290bfab2\"",
        "\"operatingSystem\": \"Oracle Linux\"",
        "\"operatingSystemVersion\": \"8\"",
        "\"additionalMetadata\"",
        "\"sourcePublicImageId\": null",
        "\"shapeCompatibilities\"",
    ];
    let positions: Vec<usize> = keys.iter().map(|k| doc.find(k).unwrap()).collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{positions:?}");
    assert_eq!(doc.matches("\"internalShapeName\"").count(), 56);
    assert!(!doc.ends_with('\n'));
}
