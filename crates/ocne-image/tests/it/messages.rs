//! OCNE's validation texts, in its order, cobra's `Error: `, strata's exit codes, the clear
//! failures of the steps strata cannot reach, and logrus's lines.

use crate::{is_logrus, ocne, texts};

fn run(args: &[&str]) -> (Option<i32>, String, String) {
    let tmp = tempfile::tempdir().unwrap();
    let output = ocne(tmp.path()).args(args).output().unwrap();
    let (out, err) = texts(&output);
    (output.status.code(), out, err)
}

#[test]
fn file_is_required_first() {
    let (code, _, err) = run(&["upload", "-t", "nope"]);
    assert_eq!(err, "Error: required flag(s) \"file\" not set\n");
    assert_eq!(code, Some(64));
}

#[test]
fn arch_must_be_given_and_known_before_the_type_is_checked() {
    let (code, _, err) = run(&["upload", "-t", "nope", "-f", "/nonexistent"]);
    assert_eq!(err, "Error: Architecture must be one of: amd64, arm64\n");
    assert_eq!(code, Some(64));
    let (_, _, err) = run(&["upload", "-f", "x", "-a", "x86_64"]);
    assert_eq!(err, "Error: Architecture must be one of: amd64, arm64\n");
}

#[test]
fn unknown_types_are_not_supported_providers() {
    let (code, _, err) = run(&["upload", "-t", "libvirt", "-f", "x", "-a", "amd64"]);
    assert_eq!(err, "Error: libvirt is not a supported provider\n");
    assert_eq!(code, Some(64));
}

#[test]
fn a_missing_file_is_go_s_open_error() {
    let (code, _, err) = run(&["upload", "-f", "/nonexistent/boot.oci", "-a", "amd64"]);
    assert_eq!(
        err,
        "Error: open /nonexistent/boot.oci: no such file or directory\n"
    );
    assert_eq!(code, Some(66));
}

#[test]
fn oci_says_what_was_written_and_what_remains() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("boot.qcow2-1.33-amd64.oci");
    std::fs::write(&file, b"x").unwrap();
    let output = ocne(tmp.path())
        .args([
            "upload",
            "-a",
            "amd64",
            "-c",
            "ocid1.compartment.oc1..c",
            "-b",
            "images",
        ])
        .arg("-f")
        .arg(&file)
        .output()
        .unwrap();
    let (out, err) = texts(&output);
    assert_eq!(out, "");
    assert_eq!(output.status.code(), Some(69));
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 2, "{err}");
    assert!(is_logrus(
        lines[0],
        "info",
        &format!("Created file {}.json", file.display())
    ));
    let f = file.display();
    assert_eq!(
        lines[1],
        format!(
            "Error: wrote the custom image tarball {f}.tar.gz (and the capability document {f}.json); not done: uploading it to OCI object storage as object ocne_boot.qcow2-1.33-amd64.oci in bucket images, then importing it as the custom compute image ock in compartment ocid1.compartment.oc1..c (OCI's CreateImage from that object, tagged ocne/architecture=amd64 and ocne/kubernetes=1.33): strata cannot reach OCI, so upload the tarball and import it with the OCI console or CLI"
        )
    );
}

#[test]
fn olvm_says_ovirt_is_not_reachable() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("boot.oci");
    std::fs::write(&file, b"x").unwrap();
    let output = ocne(tmp.path())
        .args(["upload", "-t", "olvm", "-a", "arm64", "-f"])
        .arg(&file)
        .output()
        .unwrap();
    let (_, err) = texts(&output);
    assert_eq!(output.status.code(), Some(69));
    assert_eq!(
        err,
        format!(
            "Error: nothing uploaded: -t olvm creates a disk in oVirt (Oracle Linux Virtualization Manager) and uploads {} into it through an imageio transfer; strata cannot reach oVirt, so upload the file with the oVirt administration portal or its API\n",
            file.display()
        )
    );
    // Nothing was written beside it.
    assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 1);
}

#[test]
fn config_is_accepted_with_a_warning_and_kubeconfig_silently() {
    let (_, _, err) = run(&[
        "upload", "-k", "/x", "--config", "/y", "-f", "z", "-a", "bad",
    ]);
    let lines: Vec<&str> = err.lines().collect();
    assert!(
        is_logrus(
            lines[0],
            "warning",
            "--config is accepted but not read: strata takes the bucket, compartment and profile from the flags only"
        ),
        "{err}"
    );
    assert_eq!(lines[1], "Error: Architecture must be one of: amd64, arm64");
}

#[test]
fn ostree_destinations_are_parsed_as_containers_image_does() {
    let (code, _, err) = run(&["upload", "-t", "ostree", "-f", "a.tar", "-a", "amd64"]);
    assert_eq!(
        err,
        "Error: Invalid image name \"\", expected colon-separated transport:reference\n"
    );
    assert_eq!(code, Some(64));
    let (_, _, err) = run(&[
        "upload", "-t", "ostree", "-f", "a.tar", "-a", "amd64", "-d", "ftp:x",
    ]);
    assert_eq!(
        err,
        "Error: Invalid image name \"ftp:x\", unknown transport \"ftp\"\n"
    );
}

#[test]
fn help_lists_create_info_and_upload() {
    let (code, out, _) = run(&["--help"]);
    assert_eq!(code, Some(0));
    for command in ["create", "info", "upload"] {
        assert!(
            out.lines()
                .any(|l| l.trim_start().starts_with(&format!("{command} "))),
            "{command} missing: {out}"
        );
    }
    let (_, out, _) = run(&["upload", "--help"]);
    for flag in [
        "--type",
        "--file",
        "--bucket",
        "--compartment",
        "--image-name",
        "--arch",
        "--version",
        "--destination",
        "--profile",
        "--config",
        "--kubeconfig",
    ] {
        assert!(out.contains(flag), "{flag} missing: {out}");
    }
    assert!(out.contains("[default: ocne-images]") && out.contains("[default: 1.33]"));
    assert!(out.contains("[default: ock]") && out.contains("[default: DEFAULT]"));
}

#[test]
fn a_file_under_home_is_found_as_ocne_finds_it() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir(tmp.path().join("images")).unwrap();
    std::fs::write(tmp.path().join("images/boot.oci"), b"x").unwrap();
    let output = ocne(tmp.path())
        .args([
            "upload",
            "-a",
            "amd64",
            "-f",
            "~/images/../images/./boot.oci",
        ])
        .output()
        .unwrap();
    let (_, err) = texts(&output);
    let json = tmp.path().join("images/boot.oci.json");
    assert!(
        is_logrus(
            err.lines().next().unwrap(),
            "info",
            &format!("Created file {}", json.display())
        ),
        "{err}"
    );
    assert!(tmp.path().join("images/boot.oci.tar.gz").exists());
}

#[test]
fn create_checks_the_architecture_first() {
    let (code, _, err) = run(&["create", "-a", "x86", "-t", "foo"]);
    assert_eq!(err, "Error: Architecture must be one of: amd64, arm64\n");
    assert_eq!(code, Some(64));
}

#[test]
fn create_logs_before_it_checks_the_type() {
    let (code, out, err) = run(&["create", "-t", "foo"]);
    assert_eq!(out, "");
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 2, "{err}");
    assert!(is_logrus(lines[0], "info", "Creating Image"), "{err}");
    assert_eq!(lines[1], "Error: foo is not a supported provider");
    assert_eq!(code, Some(64));
}

#[test]
fn create_refuses_an_ignition_provider_with_whitespace() {
    let (code, _, err) = run(&["create", "-i", "o ci"]);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 2, "{err}");
    assert!(is_logrus(lines[0], "info", "Creating Image"), "{err}");
    assert_eq!(lines[1], "Error: 'o ci' is not a valid ignition provider");
    assert_eq!(code, Some(64));
}

#[test]
fn create_reads_the_configuration_before_it_logs() {
    let (code, _, err) = run(&["create", "--config", "/nonexistent.yaml"]);
    assert_eq!(
        err,
        "Error: open /nonexistent.yaml: no such file or directory\n"
    );
    assert_eq!(code, Some(66));

    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("cluster.yaml");
    std::fs::write(&config, "kubernetesVersion: [1.31\n").unwrap();
    let output = ocne(tmp.path())
        .args(["create", "-t", "foo", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    let (_, err) = texts(&output);
    assert!(
        err.starts_with(&format!("Error: {}: ", config.display())),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
    assert_eq!(output.status.code(), Some(78));
}

#[test]
fn info_checks_the_architecture() {
    let (code, _, err) = run(&["info", "-a", "mips", "-f", "/nonexistent.qcow2"]);
    assert_eq!(err, "Error: Architecture must be one of: amd64, arm64\n");
    assert_eq!(code, Some(64));
}

#[test]
fn info_on_a_missing_file_fails() {
    let (code, out, err) = run(&["info", "-f", "/nonexistent.qcow2"]);
    assert_eq!(out, "");
    assert!(err.starts_with("Error: /nonexistent.qcow2: "), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert_eq!(code, Some(66));
}

#[test]
fn info_on_a_disk_without_a_partition_table_says_so() {
    let tmp = tempfile::tempdir().unwrap();
    let disk = tmp.path().join("zeros.raw");
    std::fs::write(&disk, vec![0u8; 64 << 10]).unwrap();
    let output = ocne(tmp.path())
        .args(["info", "-f"])
        .arg(&disk)
        .output()
        .unwrap();
    let (out, err) = texts(&output);
    assert_eq!(out, "");
    assert_eq!(
        err,
        format!(
            "Error: {}: no GUID partition table (no \"EFI PART\" signature at LBA 1)\n",
            disk.display()
        )
    );
    assert_eq!(output.status.code(), Some(65));
}
