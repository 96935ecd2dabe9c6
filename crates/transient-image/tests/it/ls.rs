//! `ls`: transient's table over the default backend and the one the flag or the variable
//! names, sorted by name; files that are not images; an unreadable image; huge sizes; `--json`.

use crate::sandbox::Sandbox;
use crate::snap;

/// The default backend with transient's docs names and a few awkward ones, plus files that are
/// not images.
fn backend() -> Sandbox {
    let sb = Sandbox::new();
    let gib = 1 << 30;
    sb.image("generic/alpine38:v3.0.2", 32 * gib);
    sb.image("centos/7:2004.01", 40 * gib);
    sb.image("alpine_rel3", 20 * gib);
    sb.image("my-img", 1 << 20);
    sb.image("with space", 1536);
    sb.image("日本", 3 << 40);
    sb.image(".hidden", 64 << 10);
    // Not images: a '-' in the file name, a directory, a name that is not the canonical
    // encoding of one (transient would list it as "/"; it cannot be given back to rm).
    std::fs::write(sb.backend().join("vm-0-x"), b"").unwrap();
    std::fs::create_dir(sb.backend().join("dir")).unwrap();
    std::fs::write(sb.backend().join("%2f"), b"").unwrap();
    sb
}

#[test]
fn ls_sorted_by_name() {
    let sb = backend();
    snap!("default_backend", sb, &["ls"]);
    snap!(
        "verbose_accepted",
        sb,
        &["ls", "-v", "--vmstore", "/nonexistent"]
    );
}

#[test]
fn the_flag_then_the_variable_then_the_default() {
    let sb = backend();
    let other = sb.path("other");
    std::fs::create_dir(&other).unwrap();
    sb.ok(&["ls", "--image-backend", other.to_str().unwrap()]);
    let listed =
        |cmd: &mut assert_cmd::Command| String::from_utf8(cmd.output().unwrap().stdout).unwrap();
    let flag = other.to_str().unwrap();
    assert_eq!(listed(sb.cmd().args(["ls", "--image-backend", flag])), "\n");
    assert_eq!(
        listed(sb.cmd().env("TRANSIENT_BACKEND", flag).arg("ls")),
        "\n"
    );
    let default = listed(sb.cmd().arg("ls"));
    assert!(default.contains("centos/7:2004.01"), "{default}");
    // A relative flag is taken from the current directory.
    let relative = listed(
        sb.cmd()
            .current_dir(sb.path("home/.local/share/transient"))
            .args(["ls", "--image-backend", "backend"]),
    );
    assert_eq!(relative, default);
}

#[test]
fn an_empty_backend_prints_one_empty_line_and_is_created() {
    let sb = Sandbox::new();
    snap!("empty", sb, &["ls"]);
    assert!(sb.backend().join(".working").is_dir());
    snap!("empty_json", sb, &["ls", "--json"]);
}

/// transient fails the whole listing on one image qemu-img cannot read; here it is listed with
/// its mark, its reason is a warning, and the exit code is its kind's (65: bad data).
#[test]
fn an_unreadable_image_does_not_hide_the_others() {
    let sb = Sandbox::new();
    sb.image("good", 1 << 30);
    std::fs::write(sb.backend().join("broken"), b"this is not a qcow2 image").unwrap();
    sb.image("truncated", 1 << 30);
    let truncated = sb.backend().join("truncated");
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(&truncated)
        .unwrap();
    file.set_len(100).unwrap();
    snap!("unreadable", sb, &["ls"]);
    snap!("unreadable_json", sb, &["ls", "--json"]);
}

/// transient crashes from 1 PiB up (`KeyError: 5`); strata keeps counting in TiB.
#[test]
fn sizes_of_a_pib_and_more_print() {
    let sb = Sandbox::new();
    sb.image("one-pib", 1 << 50);
    sb.image("just-below", (1 << 50) - 512);
    let mut options = strata_disk::qcow2::writer::CreateOptions::new(64 << 50);
    options.cluster_size = 2 << 20;
    sb.image_with("sixty-four-pib", &options);
    options.size = 1 << 60;
    sb.image_with("one-eib", &options);
    snap!("huge", sb, &["ls"]);
}

#[test]
fn json_lists_names_files_and_sizes() {
    let sb = backend();
    let out = sb.cmd().args(["ls", "--json"]).output().unwrap();
    assert!(out.status.success());
    let images: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let images = images.as_array().unwrap();
    let names: Vec<&str> = images.iter().map(|i| i["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            ".hidden",
            "alpine_rel3",
            "centos/7:2004.01",
            "generic/alpine38:v3.0.2",
            "my-img",
            "with space",
            "日本"
        ]
    );
    let centos = &images[2];
    assert_eq!(centos["virtual_size"], 40u64 << 30);
    let file = sb.backend().join("centos%2F7%3A2004.01");
    assert_eq!(centos["file"], file.display().to_string());
    use std::os::unix::fs::MetadataExt;
    let blocks = std::fs::metadata(&file).unwrap().blocks();
    assert_eq!(centos["actual_size"], blocks * 512);
    assert!(centos["error"].is_null());
    let filters = sb.filters();
    let filters: Vec<(&str, &str)> = filters
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    insta::with_settings!({ filters => filters }, {
        insta::assert_snapshot!("json", String::from_utf8_lossy(&out.stdout));
    });
}
