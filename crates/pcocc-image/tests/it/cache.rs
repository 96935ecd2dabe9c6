//! The container cache with the real binary: import fills it (a bundle per revision, as
//! pcocc's `extract_bundle` writes it), `cache list`, `cache delete`, `cache gc [-b N] [-c]`
//! with pcocc's texts, LRU order, entries held by a running container kept, and `delete`
//! removing an image's entries first.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use strata_model::RevisionRecord;
use strata_store::{Cache, Repository};

use crate::oci_fixture::{make_layout, sample_layers};
use crate::sandbox::Sandbox;

/// Snapshots `sb.run(args)` with the sandbox's filters, entry hashes (10 hex digits at the
/// end of a `cache list` row or in a gc line) hidden.
macro_rules! snap_cache {
    ($name:literal, $sb:expr, $args:expr) => {{
        let mut filters = $sb.filters();
        filters.push((
            r"(?m)\b[0-9a-f]{10}( \.\.\.)?$".to_owned(),
            "hhhhhhhhhh$1".to_owned(),
        ));
        let filters: Vec<(&str, &str)> = filters
            .iter()
            .map(|(a, b)| (a.as_str(), b.as_str()))
            .collect();
        insta::with_settings!({ filters => filters }, {
            insta::assert_snapshot!($name, $sb.run($args));
        });
    }};
}

/// The record of `name@0` in repository `repo` of the sandbox.
fn record(sb: &Sandbox, repo: &str, name: &str) -> RevisionRecord {
    let text = std::fs::read_to_string(sb.path(repo).join("meta").join(format!("{name}@0")))
        .expect("record");
    RevisionRecord::from_pcocc_json(name, &text).expect("record")
}

/// Where the bundle of `name@0` of `user` lives in the cache.
fn bundle(sb: &Sandbox, name: &str) -> PathBuf {
    let hash = Cache::entry_hash(&record(sb, "user", name), "user", "cached_bundle");
    sb.path("cache").join(&hash[..2]).join(hash)
}

/// Sets the last-use time of an entry.
fn used_at(path: &Path, secs: u64) {
    let f = std::fs::File::open(path).expect("entry");
    f.set_modified(SystemTime::UNIX_EPOCH + Duration::from_secs(secs))
        .expect("mtime");
}

#[test]
fn cache_commands() {
    let sb = Sandbox::with_cache(&["user"]);
    let layout = sb.path("files/layout");
    make_layout(&layout, "v1", &sample_layers());
    let source = format!("oci:{}:v1", layout.display());
    for name in ["c1", "c2", "c3"] {
        sb.ok(&["import", &source, name]);
    }
    // Each import extracted its bundle: rootfs/ with the layers applied, and config.json.
    for (i, name) in ["c1", "c2", "c3"].iter().enumerate() {
        let dir = bundle(&sb, name);
        assert_eq!(
            std::fs::read(dir.join("rootfs/etc/hostname")).expect("hostname"),
            b"top\n"
        );
        assert!(!dir.join("rootfs/etc/os-release").exists(), "whiteout");
        assert_eq!(
            std::fs::read_to_string(dir.join("config.json")).expect("config.json"),
            "{\"ociVersion\": \"0.1.0\", \"root\": {\"path\": \"rootfs\"}, \"process\": \
             {\"cwd\": \"/root\", \"env\": [\"PATH=/usr/bin:/bin\"], \"args\": [\"/bin/sh\"]}}"
        );
        used_at(&dir, 1_600_000_000 + i as u64 * 60);
    }
    snap_cache!("list_three", sb, &["cache", "list"]);
    // LRU: c1 used last is listed last.
    used_at(&bundle(&sb, "c1"), 1_700_000_000);
    snap_cache!("list_lru", sb, &["cache", "list"]);

    snap_cache!("delete_c2", sb, &["cache", "delete", "c2"]);
    assert!(!bundle(&sb, "c2").exists());
    snap_cache!("gc_below_one", sb, &["cache", "gc", "-b", "1"]);
    assert!(bundle(&sb, "c1").exists() && !bundle(&sb, "c3").exists());
    snap_cache!("list_after_gc_below", sb, &["cache", "list"]);

    // An entry a running container holds survives gc -c until it is released.
    let repo = Repository::open("user", &sb.path("user")).expect("repo");
    let cache = Cache::open(&sb.path("cache")).expect("cache");
    let hold = cache
        .hold_bundle(&repo, &record(&sb, "user", "c1"))
        .expect("hold");
    assert_eq!(hold.path(), bundle(&sb, "c1"));
    sb.ok(&["cache", "gc", "-c"]);
    assert!(bundle(&sb, "c1").exists(), "held entries are kept");
    drop(hold);
    snap_cache!("gc_clear", sb, &["cache", "gc", "-c"]);
    snap_cache!("list_empty", sb, &["cache", "list"]);

    // A record that changes leaves its old entry dangling: gc removes it with pcocc's line.
    sb.ok(&["import", &source, "c4"]);
    sb.settle();
    snap_cache!("gc_dangling", sb, &["cache", "gc"]);
    snap_cache!("list_after_dangling", sb, &["cache", "list"]);

    // delete removes the image's entries first.
    sb.ok(&["import", &source, "c5"]);
    let c5 = bundle(&sb, "c5");
    assert!(c5.exists());
    sb.ok(&["delete", "c5"]);
    assert!(!c5.exists());
    // cache delete of an unknown image: pcocc's lookup error.
    snap_cache!("delete_unknown", sb, &["cache", "delete", "nope"]);
}

#[test]
fn an_image_that_does_not_unpack_is_stored_with_a_warning() {
    let sb = Sandbox::with_cache(&["user"]);
    let layout = sb.path("files/escape");
    let layers = vec![crate::oci_fixture::plain(crate::oci_fixture::tar(&[(
        "../x", 0o644, b"x",
    )]))];
    make_layout(&layout, "v1", &layers);
    snap_cache!(
        "escape_not_cached",
        sb,
        &["import", &format!("oci:{}:v1", layout.display()), "esc"]
    );
    assert!(sb.path("user/meta/esc@0").exists());
    assert!(!sb.path("files/x").exists() && !sb.path("cache/x").exists());
    snap_cache!("escape_list", sb, &["cache", "list"]);
}

/// pcocc's own key computation, in Python, for the record `name@0` of `user`.
fn python_entry_hash(sb: &Sandbox, name: &str) -> Option<String> {
    let code = "import hashlib, json, sys\n\
        meta = json.load(open(sys.argv[1]))\n\
        meta['repo'] = 'user'\n\
        h = hashlib.sha256()\n\
        h.update('{0}\\n{1}'.format(json.dumps(meta), 'cached_bundle').encode('ascii', 'ignore'))\n\
        print(hashlib.sha512(h.hexdigest().encode('utf-8')).hexdigest())\n";
    let out = std::process::Command::new("python3")
        .args(["-c", code])
        .arg(sb.path("user/meta").join(format!("{name}@0")))
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

#[test]
fn keys_are_pcoccs() {
    let sb = Sandbox::with_cache(&["user"]);
    let layout = sb.path("files/layout");
    make_layout(&layout, "v1", &sample_layers());
    sb.ok(&["import", &format!("oci:{}:v1", layout.display()), "k"]);
    let Some(theirs) = python_entry_hash(&sb, "k") else {
        #[allow(clippy::print_stderr, reason = "a skipped check is reported on stderr")]
        {
            eprintln!("skipping keys_are_pcoccs: python3 not available");
        }
        return;
    };
    let ours = bundle(&sb, "k");
    assert_eq!(
        ours.file_name().map(|n| n.to_string_lossy().into_owned()),
        Some(theirs.clone())
    );
    assert!(ours.is_dir());
    assert_eq!(ours.parent().map(|p| p.ends_with(&theirs[..2])), Some(true));
}

#[test]
fn cache_needs_configuration() {
    let sb = Sandbox::new(&["user"]);
    snap_cache!("not_configured", sb, &["cache", "list"]);
}

/// A layer with a character device and a setuid binary, as an untrusted image may carry.
fn privileged_layer() -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(tar::EntryType::Char);
    h.set_mode(0o666);
    h.set_size(0);
    h.set_device_major(1).expect("major");
    h.set_device_minor(3).expect("minor");
    b.append_data(&mut h, "dev/null", std::io::empty())
        .expect("tar");
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(tar::EntryType::Regular);
    h.set_mode(0o4755);
    h.set_size(2);
    b.append_data(&mut h, "bin/su", &b"#!"[..]).expect("tar");
    b.into_inner().expect("tar")
}

fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::symlink_metadata(path)
        .expect("entry")
        .permissions()
        .mode()
        & 0o7777
}

/// pcocc runs containers unprivileged: the cache extracts no device node and no setuid bit,
/// unless strata's own `strata.yaml` asks for them (not pcocc's `containers.yaml`, whose schema
/// refuses unknown keys).
#[test]
fn the_cache_keeps_device_nodes_and_setuid_bits_only_when_strata_yaml_asks() {
    let sb = Sandbox::with_cache(&["user"]);
    let layout = sb.path("files/layout");
    make_layout(
        &layout,
        "v1",
        &[crate::oci_fixture::plain(privileged_layer())],
    );
    let source = format!("oci:{}:v1", layout.display());
    sb.ok(&["import", &source, "untrusted"]);
    let rootfs = bundle(&sb, "untrusted").join("rootfs");
    assert!(std::fs::symlink_metadata(rootfs.join("dev/null")).is_err());
    assert_eq!(mode(&rootfs.join("bin/su")), 0o755);

    // A value of the wrong type is a configuration error (78) naming the key.
    let yaml = sb.path("conf/user/strata.yaml");
    std::fs::write(&yaml, "cache:\n  device_nodes: maybe\n").expect("yaml");
    let out = sb.run(&["import", &source, "bad"]);
    assert!(out.contains("exit: 78"), "{out}");
    assert!(out.contains("cache.device_nodes"), "{out}");
    assert!(out.contains("strata.yaml"), "{out}");

    use std::os::unix::fs::MetadataExt;
    let is_root = std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0);
    if !strata_testkit::peer("the trusted cache check", "root privileges", is_root) {
        return;
    }
    std::fs::write(&yaml, "cache:\n  device_nodes: true\n  setid_bits: true\n").expect("yaml");
    sb.ok(&["import", &source, "trusted"]);
    let rootfs = bundle(&sb, "trusted").join("rootfs");
    use std::os::unix::fs::FileTypeExt;
    let null = std::fs::symlink_metadata(rootfs.join("dev/null")).expect("dev/null");
    assert!(null.file_type().is_char_device());
    assert_eq!(mode(&rootfs.join("bin/su")), 0o4755);
}
