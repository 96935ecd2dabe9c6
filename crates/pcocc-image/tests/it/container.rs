//! Container images with the real binary: import from `oci:`, `oci-archive:` and
//! `docker-archive:`, list, show, export, copy, delete; records exactly as pcocc writes them;
//! digests kept through round trips; hostile layouts refused with the repository unchanged;
//! cross-checks with skopeo when it is installed; a repository laid out as pcocc writes it.

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::Command;

use serde_json::{Value, json};
use strata_oci::DockerArchive;

use crate::oci_fixture::{
    Layer, digests, have, make_layout, plain, read_layout, sample_layers, tar,
};
use crate::sandbox::Sandbox;
use crate::snap;

/// The record `file` (`name@rev`) of repository `repo`, parsed.
fn record(sb: &Sandbox, repo: &str, file: &str) -> Value {
    let text = std::fs::read_to_string(sb.path(repo).join("meta").join(file)).expect("record");
    serde_json::from_str(&text).expect("record json")
}

/// The files under `<repo>/data` and `<repo>/meta`, and what is left in `<repo>/.tmp`.
fn contents(sb: &Sandbox, repo: &str) -> (usize, usize, usize) {
    let count = |p: &Path| std::fs::read_dir(p).map_or(0, Iterator::count);
    (
        sb.blobs(repo).len(),
        count(&sb.path(repo).join("meta")),
        count(&sb.path(repo).join(".tmp")),
    )
}

fn oci_arg(dir: &Path, name: &str) -> String {
    format!("oci:{}:{name}", dir.display())
}

#[test]
fn import_list_show_export() {
    let sb = Sandbox::new(&["user"]);
    let layout = sb.path("files/layout");
    let image = make_layout(&layout, "v1", &sample_layers());
    let (manifest, config, layers) = digests(&image);
    snap!(
        "import_oci",
        sb,
        &["import", &oci_arg(&layout, "v1"), "alpine"]
    );

    // The record as pcocc's import_image writes it.
    let rec = record(&sb, "user", "alpine@0");
    assert_eq!(rec["kind"], "ctr");
    assert_eq!(
        rec["data_blobs"],
        json!([manifest, layers[0], layers[1], config]),
        "manifest, layers, config: pcocc's blobs_resolve order"
    );
    assert_eq!(
        rec["custom_meta"],
        json!({"oci_index": {"schemaVersion": 2, "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": manifest,
            "size": image.manifest_bytes.len(),
            "annotations": {"org.opencontainers.image.ref.name": "latest"},
        }]}})
    );

    sb.settle();
    snap!("list", sb, &["list"]);
    snap!("show", sb, &["show", "alpine"]);

    // The default export format of a container is docker-archive (pcocc's default).
    let out = sb.file("out.tar");
    snap!("export_default", sb, &["export", "alpine", &out]);
    let archive = DockerArchive::open(&out).expect("docker-archive");
    assert_eq!(archive.items().len(), 1);
    assert_eq!(archive.items()[0].repo_tags, ["latest:latest"]);

    // Exported as an OCI layout, every blob keeps its bytes: same digests.
    let exported = sb.path("files/exported");
    snap!(
        "export_oci",
        sb,
        &["export", "alpine", &oci_arg(&exported, "v2")]
    );
    let back = read_layout(&exported, Some("v2"));
    assert_eq!(digests(&back), digests(&image));

    // A directory holding `oci-layout` is an OCI layout (pcocc's content detection).
    sb.ok(&["import", &layout.display().to_string(), "detected"]);
    assert_eq!(
        record(&sb, "user", "detected@0")["data_blobs"],
        rec["data_blobs"]
    );
    // resize refuses containers.
    snap!("resize_refused", sb, &["resize", "alpine", "1G"]);
}

#[test]
fn blobs_in_the_repository_are_not_copied_again() {
    let sb = Sandbox::new(&["user"]);
    let layout = sb.path("files/layout");
    make_layout(&layout, "v1", &sample_layers());
    sb.ok(&["import", &oci_arg(&layout, "v1"), "first"]);
    let before: Vec<(u64, u64)> = sb
        .blobs("user")
        .iter()
        .map(|p| {
            let m = std::fs::metadata(p).expect("blob");
            (m.ino(), m.mtime_nsec() as u64)
        })
        .collect();
    // Nothing but the phase line: no blob is read or written.
    snap!(
        "reimport",
        sb,
        &["import", &oci_arg(&layout, "v1"), "second"]
    );
    let after: Vec<(u64, u64)> = sb
        .blobs("user")
        .iter()
        .map(|p| {
            let m = std::fs::metadata(p).expect("blob");
            (m.ino(), m.mtime_nsec() as u64)
        })
        .collect();
    assert_eq!(before, after);
    // The name is taken: refused as for VMs.
    snap!(
        "existing_name",
        sb,
        &["import", &oci_arg(&layout, "v1"), "first"]
    );
}

#[test]
fn round_trips_keep_digests_where_bytes_are_unchanged() {
    let sb = Sandbox::new(&["user"]);
    let layout = sb.path("files/layout");
    let layers = sample_layers();
    let image = make_layout(&layout, "v1", &layers);
    let (manifest, config, layer_digests) = digests(&image);
    sb.ok(&["import", &oci_arg(&layout, "v1"), "a"]);

    // oci -> repository -> docker-archive -> repository -> oci.
    let archive = sb.file("rt.tar");
    sb.ok(&["export", "a", &format!("docker-archive:{archive}:rt:1")]);
    sb.ok(&["import", &format!("docker-archive:{archive}"), "b"]);
    let out = sb.path("files/rt-oci");
    sb.ok(&["export", "b", &oci_arg(&out, "x")]);
    let back = read_layout(&out, Some("x"));
    let (_, config_back, layers_back) = digests(&back);
    assert_eq!(config_back, config, "the config keeps its bytes");
    assert_eq!(
        layers_back[0], layer_digests[0],
        "a plain layer keeps its bytes"
    );
    // A docker-archive holds layers uncompressed: the gzip layer comes back as its diff_id.
    assert_eq!(layers_back[1], image.diff_ids[1].prefixed());

    // oci-archive keeps everything, the manifest too.
    let oa = sb.file("rt.oci.tar");
    sb.ok(&["export", "a", &format!("oci-archive:{oa}")]);
    sb.ok(&["import", &format!("oci-archive:{oa}"), "c"]);
    assert_eq!(
        record(&sb, "user", "c@0")["data_blobs"],
        json!([manifest, layer_digests[0], layer_digests[1], config])
    );
    // `@N` selects in a docker-archive.
    sb.ok(&["import", &format!("docker-archive:{archive}:@0"), "d"]);
    assert_eq!(
        record(&sb, "user", "d@0")["data_blobs"],
        record(&sb, "user", "b@0")["data_blobs"]
    );
    // `-t` names container formats too, oci-archive included (strata's addition).
    sb.ok(&["import", "-t", "docker-archive", &archive, "e"]);
    sb.ok(&["import", "-t", "oci-archive", &oa, "f"]);
    assert_eq!(
        record(&sb, "user", "f@0")["data_blobs"],
        record(&sb, "user", "c@0")["data_blobs"]
    );
    snap!(
        "oci_archive_type_mismatch",
        sb,
        &["import", "-t", "oci", &format!("oci-archive:{oa}"), "g"]
    );
    snap!("repo_verify_after_round_trips", sb, &["repo", "verify"]);
}

#[test]
fn copy_links_blobs_and_delete_then_gc() {
    let sb = Sandbox::new(&["user", "other"]);
    let layout = sb.path("files/layout");
    make_layout(&layout, "v1", &sample_layers());
    sb.ok(&["import", &oci_arg(&layout, "v1"), "img"]);
    sb.ok(&["copy", "img", "other:img2"]);
    let ours = sb.blobs("user");
    let theirs = sb.blobs("other");
    assert_eq!(ours.len(), 4);
    for (a, b) in ours.iter().zip(&theirs) {
        assert_eq!(
            std::fs::metadata(a).expect("a").ino(),
            std::fs::metadata(b).expect("b").ino(),
            "copied across repositories on one filesystem: hard links"
        );
    }
    assert_eq!(
        record(&sb, "other", "img2@0")["custom_meta"],
        record(&sb, "user", "img@0")["custom_meta"]
    );
    sb.ok(&["delete", "img"]);
    sb.ok(&["repo", "gc", "user"]);
    assert_eq!(contents(&sb, "user"), (0, 0, 0));
    // The copy still exports.
    sb.ok(&["export", "other:img2", &oci_arg(&sb.path("files/o"), "x")]);
    sb.ok(&["repo", "verify"]);
}

#[test]
fn hostile_layouts_leave_the_repository_unchanged() {
    let sb = Sandbox::new(&["user"]);
    // A blob whose bytes do not match its digest (same size, one byte changed).
    let bad = sb.path("files/bad");
    let image = make_layout(&bad, "v1", &sample_layers());
    let (_, _, layers) = digests(&image);
    let top = bad
        .join("blobs/sha256")
        .join(layers[1].trim_start_matches("sha256:"));
    let mut bytes = std::fs::read(&top).expect("layer");
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&top, &bytes).expect("corrupt");
    snap!(
        "digest_mismatch",
        sb,
        &["import", &oci_arg(&bad, "v1"), "bad"]
    );
    assert_eq!(contents(&sb, "user"), (0, 0, 0));

    // A manifest that names a blob the layout does not have.
    let missing = sb.path("files/missing");
    let image = make_layout(&missing, "v1", &sample_layers());
    let (_, _, layers) = digests(&image);
    std::fs::remove_file(
        missing
            .join("blobs/sha256")
            .join(layers[1].trim_start_matches("sha256:")),
    )
    .expect("remove");
    snap!(
        "missing_blob",
        sb,
        &["import", &oci_arg(&missing, "v1"), "missing"]
    );
    assert_eq!(contents(&sb, "user"), (0, 0, 0));

    // A transport strata does not read yet.
    snap!(
        "transport_unavailable",
        sb,
        &["import", "dir:/nonexistent", "bb"]
    );
    assert_eq!(contents(&sb, "user"), (0, 0, 0));
}

/// `import docker://` from a real registry (Debian's docker-registry on 127.0.0.1, spoken to
/// over plain http as a loopback registry): the image pushed there by strata-oci's client is
/// stored with the digests it has in the registry; a second import of the same image stores
/// no new blob; a missing tag is refused with the repository unchanged.
#[test]
fn import_from_a_registry() {
    let Some(registry) = strata_testkit::LocalRegistry::start(None) else {
        return;
    };
    let sb = Sandbox::new(&["user"]);
    let layout = sb.path("files/layout");
    let image = make_layout(&layout, "v1", &sample_layers());
    let (manifest, config, layers) = digests(&image);
    let src = strata_oci::OciDir::open(&layout).expect("layout");
    let client = strata_oci::Registry::new(strata_oci::RegistryOptions {
        tls_verify: false,
        ..strata_oci::RegistryOptions::default()
    })
    .expect("client");
    let reference = format!("{}/strata/alpine:v1", registry.host());
    let dest = strata_oci::RegistryRef::parse(&format!("docker://{reference}")).expect("ref");
    client
        .push(
            &src,
            &image,
            &dest,
            &strata_oci::registry::PushOptions::default(),
        )
        .expect("push");

    let run = |args: &[&str]| sb.cmd().args(args).output().expect("run pcocc-image");
    let out = run(&["import", &format!("docker://{reference}"), "alpine"]);
    assert!(out.status.success(), "{out:?}");
    let rec = record(&sb, "user", "alpine@0");
    assert_eq!(rec["kind"], "ctr");
    assert_eq!(
        rec["data_blobs"],
        json!([manifest, layers[0], layers[1], config])
    );
    assert_eq!(contents(&sb, "user"), (4, 1, 0));

    let again = run(&["import", &format!("docker://{reference}"), "alpine2"]);
    assert!(again.status.success(), "{again:?}");
    assert_eq!(contents(&sb, "user"), (4, 2, 0), "no blob stored twice");

    let missing = run(&[
        "import",
        &format!("docker://{}/strata/alpine:nope", registry.host()),
        "nope",
    ]);
    assert!(!missing.status.success());
    let stderr = String::from_utf8_lossy(&missing.stderr);
    assert!(stderr.contains("strata/alpine"), "{stderr}");
    assert_eq!(contents(&sb, "user"), (4, 2, 0));
}

#[test]
fn skopeo_reads_what_we_write_and_we_read_what_it_writes() {
    if !have(
        "skopeo",
        "skopeo_reads_what_we_write_and_we_read_what_it_writes",
    ) {
        return;
    }
    let skopeo = |args: &[&str]| {
        let out = Command::new("skopeo")
            .args(["--insecure-policy"])
            .args(args)
            .output()
            .expect("skopeo");
        assert!(
            out.status.success(),
            "skopeo {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    };
    let sb = Sandbox::new(&["user"]);
    let layout = sb.path("files/layout");
    let image = make_layout(&layout, "v1", &sample_layers());
    sb.ok(&["import", &oci_arg(&layout, "v1"), "a"]);

    // skopeo inspects and copies our docker-archive.
    let out = sb.file("out.tar");
    sb.ok(&["export", "a", &out]);
    let inspect: Value =
        serde_json::from_slice(&skopeo(&["inspect", &format!("docker-archive:{out}")]))
            .expect("inspect json");
    assert_eq!(inspect["Layers"].as_array().map(Vec::len), Some(2));
    assert_eq!(inspect["Architecture"], "amd64");
    let sk = sb.path("files/sk");
    skopeo(&[
        "copy",
        &format!("docker-archive:{out}"),
        &oci_arg(&sk, "latest"),
    ]);
    // We import what skopeo wrote.
    sb.ok(&["import", &oci_arg(&sk, "latest"), "from-skopeo"]);
    sb.ok(&["repo", "verify"]);

    // skopeo copies our OCI layout and oci-archive; it keeps the config and the gzip layer
    // (it compresses the plain one, as it does any uncompressed layer written to OCI).
    let exported = sb.path("files/exported");
    sb.ok(&["export", "a", &oci_arg(&exported, "v2")]);
    let copied = sb.path("files/copied");
    skopeo(&["copy", &oci_arg(&exported, "v2"), &oci_arg(&copied, "c")]);
    let (_, config, layers) = digests(&read_layout(&copied, Some("c")));
    let (_, config0, layers0) = digests(&image);
    assert_eq!((config, &layers[1]), (config0, &layers0[1]));
    let oa = sb.file("a.oci.tar");
    sb.ok(&["export", "a", &format!("oci-archive:{oa}")]);
    skopeo(&["inspect", &format!("oci-archive:{oa}")]);

    // A docker-archive skopeo writes imports.
    let da = sb.file("sk.tar");
    skopeo(&[
        "copy",
        &oci_arg(&layout, "v1"),
        &format!("docker-archive:{da}:sk:1"),
    ]);
    sb.ok(&[
        "import",
        &format!("docker-archive:{da}:sk:1"),
        "from-skopeo-da",
    ]);
    sb.ok(&["repo", "verify"]);
}

/// A pcocc repository holding a container image, laid out as pcocc's `import_image` leaves
/// it: blobs under `data/` (0444), the record with `sha256:` blobs in `blobs_resolve` order and
/// skopeo's `index.json` as `oci_index`, written by `json.dump`.
fn make_pcocc_ctr_repo(root: &Path, layers: &[Layer]) -> String {
    use std::os::unix::fs::PermissionsExt;
    let layout = root.with_extension("layout");
    let image = make_layout(&layout, "latest", layers);
    for sub in ["data", "meta", ".tmp"] {
        std::fs::create_dir_all(root.join(sub)).expect("repo dirs");
    }
    std::fs::write(root.join(".config"), "version: 2\n").expect(".config");
    for entry in std::fs::read_dir(layout.join("blobs/sha256")).expect("blobs") {
        let src = entry.expect("blob").path();
        let hex = src
            .file_name()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        let dir = root.join("data").join(&hex[..2]);
        std::fs::create_dir_all(&dir).expect("fan-out");
        let dst = dir.join(&hex);
        std::fs::copy(&src, &dst).expect("blob");
        std::fs::set_permissions(&dst, std::fs::Permissions::from_mode(0o444)).expect("chmod");
    }
    let (manifest, config, layer_digests) = digests(&image);
    let blobs: Vec<String> = std::iter::once(&manifest)
        .chain(&layer_digests)
        .chain(std::iter::once(&config))
        .map(|d| format!("\"{d}\""))
        .collect();
    let text = format!(
        "{{\"name\": \"busybox\", \"revision\": 0, \"kind\": \"ctr\", \"owner\": \"jdoe\", \
         \"timestamp\": 1535143595.25, \"data_blobs\": [{}], \"custom_meta\": {{\"oci_index\": \
         {{\"schemaVersion\": 2, \"manifests\": [{{\"mediaType\": \
         \"application/vnd.oci.image.manifest.v1+json\", \"digest\": \"{manifest}\", \"size\": {}, \
         \"annotations\": {{\"org.opencontainers.image.ref.name\": \"latest\"}}}}]}}}}}}",
        blobs.join(", "),
        image.manifest_bytes.len()
    );
    std::fs::write(root.join("meta/busybox@0"), &text).expect("record");
    text
}

#[test]
fn pcocc_container_repository_lists_shows_and_exports() {
    let sb = Sandbox::new(&["user", "mine"]);
    let pcocc_text = make_pcocc_ctr_repo(&sb.path("user"), &sample_layers());
    snap!("pcocc_list", sb, &["list"]);
    snap!("pcocc_show", sb, &["show", "busybox"]);
    let out = sb.file("bb.tar");
    sb.ok(&["export", "busybox", &out]);
    let archive = DockerArchive::open(&out).expect("docker-archive");
    assert_eq!(archive.items().len(), 1);
    sb.ok(&["export", "busybox", &oci_arg(&sb.path("files/bb"), "x")]);
    sb.ok(&["repo", "verify"]);

    // The same image imported by strata is recorded with the same bytes (but for the time).
    let layout = sb.path("user.layout");
    sb.ok(&["import", &oci_arg(&layout, "latest"), "mine:busybox"]);
    let ours = std::fs::read_to_string(sb.path("mine/meta/busybox@0")).expect("record");
    let field = |text: &str, key: &str| {
        let start = text.find(key).expect("key") + key.len();
        let end = start + text[start..].find(", ").expect("next key");
        (start, end)
    };
    let mut ours = ours;
    for (key, value) in [
        ("\"owner\": ", "\"jdoe\""),
        ("\"timestamp\": ", "1535143595.25"),
    ] {
        let (start, end) = field(&ours, key);
        ours.replace_range(start..end, value);
    }
    assert_eq!(ours, pcocc_text);
}

#[test]
fn a_layer_with_an_escape_is_refused_at_cache_time_not_import() {
    // Import stores blobs verbatim (pcocc too); unpacking is where paths are checked. A layer
    // naming `../x` imports, and then exports unchanged.
    let sb = Sandbox::new(&["user"]);
    let layout = sb.path("files/escape");
    let layers = vec![plain(tar(&[("../x", 0o644, b"x")]))];
    let image = make_layout(&layout, "v1", &layers);
    sb.ok(&["import", &oci_arg(&layout, "v1"), "esc"]);
    let out = sb.path("files/esc-out");
    sb.ok(&["export", "esc", &oci_arg(&out, "v1")]);
    assert_eq!(digests(&read_layout(&out, Some("v1"))), digests(&image));
}
