//! A backend kept in a registry (`--image-backend docker://HOST/NAMESPACE`, strata's
//! extension): images another machine stored there are listed with their sizes (from the
//! registry, nothing downloaded), built FROM and into, and removed; a base that would have to
//! be fetched into the registry is refused with a clear message.

use std::sync::Arc;

use strata::{
    DiskFormat, ImportRequest, NamePolicy, NewImageTarget, RegistryOptions, RegistryStore, Source,
    Store, Strata, StrataOptions,
};
use strata_testkit::LocalRegistry;

use crate::sandbox::Sandbox;

#[test]
fn a_backend_in_a_registry_is_listed_and_emptied() {
    let Some(registry) = LocalRegistry::start(None) else {
        return;
    };
    let sb = Sandbox::new();
    let url = format!("docker://{}/site/vm", registry.host());
    // Another machine stores an image of 3 GiB (virtual) there.
    let disk = sb.path("disk.qcow2");
    let options = strata_disk::qcow2::CreateOptions::new(3 << 30);
    let mut out =
        strata_disk::OutputFile::create(&disk, strata_disk::Durability::Volatile).unwrap();
    strata_disk::qcow2::create(&mut out, &options).unwrap();
    out.commit().unwrap();
    let store = RegistryStore::new(
        "site",
        &url,
        sb.path("other-cache"),
        RegistryOptions::default(),
    )
    .unwrap();
    let other = Strata::new(
        [Arc::new(store) as Arc<dyn Store>],
        StrataOptions::default(),
    );
    other
        .import(
            ImportRequest {
                source: Source::Disk {
                    path: disk.clone(),
                    format: DiskFormat::Qcow2,
                },
                dest: NewImageTarget::named("centos/7:2004.01"),
                policy: NamePolicy::default(),
                arch: None,
            },
            &strata::NoProgress,
        )
        .unwrap();

    let listed = sb.run(&["ls", "--json", "--image-backend", &url]);
    assert!(listed.contains("exit: 0"), "{listed}");
    assert!(listed.contains("centos/7:2004.01"), "{listed}");
    assert!(listed.contains(&(3u64 << 30).to_string()), "{listed}");
    // Listing downloaded no layer: the cache holds no blob.
    let cache = sb.path("home/.cache/strata/registry");
    let blobs = walk_files(&cache)
        .into_iter()
        .filter(|p| p.to_string_lossy().contains("/data/"))
        .count();
    assert_eq!(blobs, 0);

    // A build FROM the registry's image, with no step (no VM), stores its result there.
    let dir = sb.path("build");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("Imagefile"), "FROM centos/7:2004.01\n").unwrap();
    let d = dir.to_str().unwrap();
    let built = sb.run(&["build", "--image-backend", &url, "--name", "copy", d]);
    assert!(built.contains("exit: 0"), "{built}");
    let listed = sb.run(&["ls", "--json", "--image-backend", &url]);
    assert!(listed.contains("\"copy\""), "{listed}");
    // The other machine reads the built image back: the base's disk.
    let out = sb.path("copy.qcow2");
    other
        .export(
            strata::ExportRequest {
                image: strata::ImageLocator::named("copy"),
                dest: strata::Destination::Disk {
                    path: out.clone(),
                    format: DiskFormat::Qcow2,
                },
            },
            &strata::NoProgress,
        )
        .unwrap();
    if strata_testkit::have("the qemu-img compare", &["qemu-img"]) {
        let compared = std::process::Command::new("qemu-img")
            .arg("compare")
            .args([&sb.path("disk.qcow2"), &out])
            .output()
            .unwrap();
        assert!(compared.status.success(), "{compared:?}");
    }
    let again = sb.run(&["build", "--image-backend", &url, "--name", "copy", d]);
    assert!(again.contains("exit: 73"), "{again}");
    // A base strata would have to fetch into the registry is refused, saying what to do.
    std::fs::write(
        dir.join("Imagefile"),
        "FROM elsewhere,http=http://127.0.0.1:9/x.qcow2\n",
    )
    .unwrap();
    let fetched = sb.run(&["build", "--image-backend", &url, "--name", "y", d]);
    assert!(
        fetched.contains("import it into the registry first") && fetched.contains("exit: 69"),
        "{fetched}"
    );

    let removed = sb.run(&["rm", "--image-backend", &url, "centos/7:2004.01"]);
    assert!(removed.contains("exit: 0"), "{removed}");
    let listed = sb.run(&["ls", "--json", "--image-backend", &url]);
    assert!(
        !listed.contains("centos") && listed.contains("copy"),
        "{listed}"
    );
}

fn walk_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk_files(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}
