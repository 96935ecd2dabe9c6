//! [`VmStore`]: transient's VM store, read for one question: which VMs stand on a backend
//! image (so that removing it can be refused, as transient's `image rm` does).
//!
//! ```text
//! <vmstore>/<enc(vm)>/config                          the VM's settings (TOML), its lock
//! <vmstore>/<enc(vm)>/<enc(vm)>-<n>-<enc(backend)>    qcow2 overlays, n = 0 (primary), 1...
//! <vmstore>/.<random>/                                a VM being created (renamed into place)
//! ```
//!
//! An overlay's backing file is the absolute path of the backend image it stands on
//! (`qemu-img create -f qcow2 -F qcow2 -o backing_file=<path>`). `enc` is transient's name
//! encoding ([`strata_model::name::TransientName::file_name`]); VM names are decoded for
//! display, as transient's `unquote` does (a malformed escape stays as it is).
//!
//! A VM uses an image when one of its overlays names a backing file that resolves to the same
//! file as the image (after symbolic links, `.` and `..`; a relative name is resolved against
//! the overlay's directory, as qemu does). Differences from transient's `backend_image_in_use`,
//! on purpose, each of which can only find more users, never fewer:
//!
//! - transient compares the two paths as text, so a backend reached through a symbolic link or
//!   a relative `--image-backend` hides the VMs that use it; paths are resolved here.
//! - transient skips a VM whose `config` is missing or does not parse, or one of whose files is
//!   not an overlay it can read; here every readable overlay of every VM directory counts,
//!   whatever else the directory holds, since qemu would still open the image through it.
//!
//! Directories whose names start with `.` are VMs being created (transient builds a VM in a
//! temporary `.`-directory and renames it into place) and are skipped, as transient does. The
//! VM names come back sorted (transient gives directory order). A missing VM store has no VMs;
//! it is not created (transient's `image rm` creates it).

use std::fs;
use std::path::{Path, PathBuf};

use percent_encoding::percent_decode_str;
use strata_disk::OpenOptions;

use crate::error::{IoContext, Result, StoreError};

/// The settings file of a VM directory, which is not an overlay.
const CONFIG_FILE: &str = "config";

/// transient's VM store directory (see the [module documentation](self)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VmStore {
    root: PathBuf,
}

impl VmStore {
    /// The VM store at `path` (nothing is read or created yet).
    pub fn new(path: impl Into<PathBuf>) -> VmStore {
        VmStore { root: path.into() }
    }

    /// transient's default VM store for `env`: `$TRANSIENT_VMSTORE`, else
    /// `<XDG data home>/transient/vmstore`.
    pub fn default_path(env: &crate::env::Env) -> PathBuf {
        match env.var("TRANSIENT_VMSTORE") {
            Some(dir) if !dir.is_empty() => PathBuf::from(dir),
            _ => env.xdg_data_home().join("transient/vmstore"),
        }
    }

    /// The VM store directory.
    pub fn path(&self) -> &Path {
        &self.root
    }

    /// The names of the VMs one of whose overlays stands on the file `image`, sorted. A VM
    /// store that does not exist has none; one that cannot be listed is an error. A VM
    /// directory or an overlay that cannot be read is skipped, as transient skips it.
    pub fn users_of(&self, image: &Path) -> Result<Vec<String>> {
        let image = fs::canonicalize(image).at("resolve", image)?;
        let entries = match fs::read_dir(&self.root) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(StoreError::io("list", &self.root, e)),
        };
        let mut users = Vec::new();
        for entry in entries {
            let entry = entry.at("list", &self.root)?;
            let dir_name = entry.file_name().to_string_lossy().into_owned();
            let dir = entry.path();
            // `os.path.isdir`: follows symbolic links.
            if dir_name.starts_with('.') || !dir.is_dir() {
                continue;
            }
            if vm_uses(&dir, &image) {
                users.push(decode(&dir_name));
            }
        }
        users.sort();
        Ok(users)
    }
}

/// Whether a file of the VM directory `dir` is an overlay whose backing file is `image` (a
/// canonical path).
fn vm_uses(dir: &Path, image: &Path) -> bool {
    let Ok(files) = fs::read_dir(dir) else {
        return false;
    };
    files.flatten().any(|file| {
        file.file_name() != CONFIG_FILE
            && backing_path(&file.path()).is_some_and(|backing| backing == image)
    })
}

/// The canonical path of the backing file the image at `path` names, if it opens as an image
/// with a backing file that exists.
fn backing_path(path: &Path) -> Option<PathBuf> {
    if !path.is_file() {
        return None;
    }
    let options = OpenOptions {
        no_backing: true,
        ..OpenOptions::default()
    };
    let opened = strata_disk::open(path, &options).ok()?;
    let name = &opened.image.backing_file()?.name;
    let backing = path.parent()?.join(name);
    fs::canonicalize(backing).ok()
}

/// transient's `storage_safe_decode` (`urllib.parse.unquote`): `%XX` escapes decoded, a
/// malformed one kept, bytes that are not UTF-8 replaced.
fn decode(file_name: &str) -> String {
    percent_decode_str(file_name)
        .decode_utf8_lossy()
        .into_owned()
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::symlink;

    use strata_disk::qcow2::writer::{CreateOptions, create_file};

    use super::*;

    /// An empty qcow2 at `path`, backed by `backing` when given.
    fn qcow2(path: &Path, backing: Option<&str>) {
        let mut options = CreateOptions::new(1 << 20);
        options.backing = backing.map(|b| (b.to_owned(), strata_model::DiskFormat::Qcow2));
        create_file(path, &options).unwrap();
    }

    #[test]
    fn finds_the_vms_whose_overlays_stand_on_an_image() {
        let dir = tempfile::tempdir().unwrap();
        let backend = dir.path().join("backend");
        fs::create_dir(&backend).unwrap();
        let image = backend.join("centos%2F7%3A2004.01");
        let other = backend.join("other");
        qcow2(&image, None);
        qcow2(&other, None);
        let image_text = image.to_str().unwrap();
        let store = VmStore::new(dir.path().join("vmstore"));
        assert_eq!(store.users_of(&image).unwrap(), Vec::<String>::new());

        let vm = |name: &str, files: &[(&str, Option<&str>)]| {
            let vm_dir = store.path().join(name);
            fs::create_dir_all(&vm_dir).unwrap();
            fs::write(vm_dir.join(CONFIG_FILE), "name = \"x\"\n").unwrap();
            for (file, backing) in files {
                qcow2(&vm_dir.join(file), *backing);
            }
        };
        vm(
            "web%2D1",
            &[("web%2D1-0-centos%2F7%3A2004.01", Some(image_text))],
        );
        // The image as its second disk, and a first one on another image.
        vm(
            "db",
            &[
                ("db-0-other", Some(other.to_str().unwrap())),
                ("db-1-centos%2F7%3A2004.01", Some(image_text)),
            ],
        );
        // Through a symbolic link to the backend, and with a relative backing name.
        symlink(&backend, dir.path().join("link")).unwrap();
        let linked = dir.path().join("link/centos%2F7%3A2004.01");
        vm("linked", &[("linked-0-x", Some(linked.to_str().unwrap()))]);
        vm(
            "relative",
            &[("relative-0-x", Some("../../backend/centos%2F7%3A2004.01"))],
        );
        // Not users: another image, a VM being created, a file that is not an image, a
        // dangling backing file, a plain file beside the VMs.
        vm(
            "other%20vm",
            &[("o-0-other", Some(other.to_str().unwrap()))],
        );
        vm(".tmp1234", &[("t-0-x", Some(image_text))]);
        vm("dangling", &[("d-0-x", Some("/nonexistent/image"))]);
        fs::write(store.path().join("dangling/notes"), "not an image").unwrap();
        fs::write(store.path().join("stray-file"), "").unwrap();

        assert_eq!(
            store.users_of(&image).unwrap(),
            ["db", "linked", "relative", "web-1"]
        );
        assert_eq!(store.users_of(&linked).unwrap().len(), 4);
        assert_eq!(store.users_of(&other).unwrap(), ["db", "other vm"]);
    }

    #[test]
    fn an_unlistable_store_is_an_error_and_a_missing_image_too() {
        let dir = tempfile::tempdir().unwrap();
        let image = dir.path().join("image");
        qcow2(&image, None);
        let file = dir.path().join("not-a-dir");
        fs::write(&file, "").unwrap();
        let e = VmStore::new(&file).users_of(&image).unwrap_err();
        assert!(matches!(e, StoreError::Io { op: "list", .. }), "{e:?}");
        let e = VmStore::new(dir.path())
            .users_of(&dir.path().join("gone"))
            .unwrap_err();
        assert!(matches!(e, StoreError::Io { op: "resolve", .. }), "{e:?}");
    }

    #[test]
    fn names_decode_as_unquote_does() {
        assert_eq!(decode("my%2Dvm"), "my-vm");
        assert_eq!(decode("a%zz"), "a%zz");
        assert_eq!(decode("%E6%97%A5"), "日");
    }

    #[test]
    fn default_path_follows_transient() {
        let env = crate::env::Env::new("/home/u", "u");
        assert_eq!(
            VmStore::default_path(&env),
            Path::new("/home/u/.local/share/transient/vmstore")
        );
        let env = env.with_var("TRANSIENT_VMSTORE", "/srv/vms");
        assert_eq!(VmStore::default_path(&env), Path::new("/srv/vms"));
    }
}
