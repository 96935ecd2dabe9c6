//! [`FlatBackend`]: transient's image backend, one flattened qcow2 file per image.
//!
//! ```text
//! <backend>/<enc(name)>     the image, qcow2, mode 0444 (read-only also blocks qemu's commit)
//! <backend>/.working/       same filesystem: per-image lock files and partial files
//! ```
//!
//! `enc` is transient's `storage_safe_encode` ([`TransientName::file_name`]): every byte but
//! `A-Za-z0-9_.~` is `%XX`, `-` included, so a `-` in a file name marks a file that is not an
//! image (transient lists only regular files matching `^[^\-]+$`). The directory and
//! `.working/` are created on demand, as transient does.
//!
//! Differences from transient, on purpose: listings are sorted by name (transient prints
//! `os.listdir` order), and a file name that is not the canonical encoding of a name (`%2f`,
//! `%41`) is not listed, so that each image has exactly one file.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use strata_disk::{Output, Writeback};
use strata_model::name::TransientName;
use tempfile::NamedTempFile;

use crate::error::{IoContext, Result, StoreError};
use crate::fsutil;
use crate::lock::{FileLock, LockMode};

/// The scratch and lock directory inside a backend.
pub const WORKING_DIR: &str = ".working";

/// The mode of a backend image (transient's `S_IREAD|S_IRGRP|S_IROTH`).
const IMAGE_MODE: u32 = 0o444;

/// transient's backend: a directory of flattened qcow2 images named by their encoded names.
#[derive(Debug, Clone)]
pub struct FlatBackend {
    root: PathBuf,
}

impl FlatBackend {
    /// The backend at `path`, created (with parents) if missing, as transient's
    /// `BackendImageStore.__init__` does.
    pub fn open(path: &Path) -> Result<FlatBackend> {
        let working = path.join(WORKING_DIR);
        fs::create_dir_all(&working).at("create directory", &working)?;
        Ok(FlatBackend {
            root: path.to_owned(),
        })
    }

    /// transient's default backend directory for `env`: `$TRANSIENT_BACKEND`, else
    /// `<XDG data home>/transient/backend`. An empty `$TRANSIENT_BACKEND` counts as unset
    /// (transient would use the current directory).
    pub fn default_path(env: &crate::env::Env) -> PathBuf {
        match env.var("TRANSIENT_BACKEND") {
            Some(dir) if !dir.is_empty() => PathBuf::from(dir),
            _ => env.xdg_data_home().join("transient/backend"),
        }
    }

    /// The backend directory.
    pub fn path(&self) -> &Path {
        &self.root
    }

    /// `.working/`.
    pub fn working_dir(&self) -> PathBuf {
        self.root.join(WORKING_DIR)
    }

    /// Where image `name` lives (or would); a name the layout cannot hold (empty, with a NUL,
    /// `.` or `..`) is [`StoreError::InvalidName`].
    pub fn image_path(&self, name: &str) -> Result<PathBuf> {
        Ok(self.root.join(encoded(name)?))
    }

    /// The file of image `name` (`Unable to find image '{name}' in backend`, transient's
    /// `retrieve_image` text, when it is not there).
    pub fn get(&self, name: &str) -> Result<PathBuf> {
        let path = self.image_path(name)?;
        if path.is_file() {
            Ok(path)
        } else {
            Err(StoreError::FlatNotFound {
                name: name.to_owned(),
            })
        }
    }

    /// Whether image `name` is in the backend.
    pub fn contains(&self, name: &str) -> Result<bool> {
        Ok(self.image_path(name)?.is_file())
    }

    /// Takes transient's per-image lock, `.working/<enc(name)>` (blocking flock), which
    /// serialises processes that retrieve, commit or build the same image. transient downloads
    /// into the lock file itself ([`FileLock::file`]).
    pub fn lock_image(&self, name: &str) -> Result<FileLock> {
        FileLock::acquire(
            &self.working_dir().join(encoded(name)?),
            LockMode::Exclusive,
        )
    }

    /// Starts image `name`: takes its per-image lock ([`FlatBackend::lock_image`]) and opens a
    /// new file in `.working/` (transient converts into `.working/<uuid4>`), an [`Output`] the
    /// convert engine writes into; [`NewFlatImage::commit`] moves it into the backend. The lock
    /// is held until then, so two processes never build the same name at once.
    pub fn new_image(&self, name: &str) -> Result<NewFlatImage<'_>> {
        let target = self.image_path(name)?;
        let lock = self.lock_image(name)?;
        let working = self.working_dir();
        let file = tempfile::Builder::new()
            .prefix("partial-")
            .rand_bytes(16)
            .tempfile_in(&working)
            .at("create a file in", &working)?;
        Ok(NewFlatImage {
            store: self,
            name: name.to_owned(),
            target,
            file,
            bytes_written: 0,
            writeback: Writeback::default(),
            _lock: lock,
        })
    }

    /// Removes image `name` (`No image in backend with name '{name}'`), holding its
    /// per-image lock so that a retrieval, commit or build of the same name is not under way
    /// ([`StoreError::Locked`] if one is: removal does not wait). Whether VMs use it is the
    /// caller's question ([`crate::VmStore::users_of`]).
    pub fn remove(&self, name: &str) -> Result<()> {
        let path = self.image_path(name)?;
        let _lock = FileLock::try_acquire(
            &self.working_dir().join(encoded(name)?),
            LockMode::Exclusive,
        )?;
        match fs::symlink_metadata(&path) {
            Ok(meta) if meta.is_file() => {}
            _ => {
                return Err(StoreError::FlatNoSuchImage {
                    name: name.to_owned(),
                });
            }
        }
        fs::remove_file(&path).at("remove", &path)?;
        fsutil::fsync_dir(&self.root)
    }

    /// The images, sorted by name: regular files directly in the backend whose names match
    /// `^[^\-]+$` and are canonical encodings.
    pub fn images(&self) -> Result<Vec<(String, PathBuf)>> {
        let entries = match fs::read_dir(&self.root) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(StoreError::io("list", &self.root, e)),
        };
        let mut images = Vec::new();
        for entry in entries {
            let entry = entry.at("list", &self.root)?;
            let Some(file_name) = entry.file_name().to_str().map(str::to_owned) else {
                continue;
            };
            if !TransientName::is_image_file_name(&file_name) {
                continue;
            }
            let path = entry.path();
            // `os.path.isfile`: follows symbolic links.
            if !path.is_file() {
                continue;
            }
            if let Ok(name) = TransientName::from_file_name(&file_name) {
                images.push((name.to_string(), path));
            }
        }
        images.sort();
        Ok(images)
    }
}

/// The file name of `name`: transient's `storage_safe_encode`.
fn encoded(name: &str) -> Result<String> {
    Ok(name.parse::<TransientName>()?.file_name())
}

/// What an existing image of the same name means to [`NewFlatImage::commit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Existing {
    /// Refuse (transient's `commit`): `An image with the name '{name}' already exists`.
    Refuse,
    /// Replace it atomically (transient's `image build`, which overwrites).
    Replace,
}

/// A new backend image being written in `.working/` under its name's lock (see
/// [`FlatBackend::new_image`]); dropped uncommitted, the file is removed.
#[derive(Debug)]
pub struct NewFlatImage<'s> {
    store: &'s FlatBackend,
    name: String,
    target: PathBuf,
    file: NamedTempFile,
    bytes_written: u64,
    writeback: Writeback,
    _lock: FileLock,
}

impl NewFlatImage<'_> {
    /// Makes the image durable and moves it into the backend: fsync, mode 0444 (read-only also
    /// blocks qemu's commit), rename (refusing or replacing an image of that name, as
    /// `existing` says), fsync of the directory. Returns the image's path.
    pub fn commit(self, existing: Existing) -> Result<PathBuf> {
        let NewFlatImage {
            store,
            name,
            target,
            file,
            ..
        } = self;
        let exists = || StoreError::FlatExists { name: name.clone() };
        if existing == Existing::Refuse && target.exists() {
            return Err(exists());
        }
        file.as_file().sync_all().at("fsync", file.path())?;
        file.as_file()
            .set_permissions(fs::Permissions::from_mode(IMAGE_MODE))
            .at("chmod", file.path())?;
        let (_, staged) = file.into_parts();
        let renamed = match existing {
            Existing::Refuse => staged.persist_noclobber(&target),
            Existing::Replace => staged.persist(&target),
        };
        match renamed {
            Ok(()) => {}
            Err(e) if e.error.kind() == std::io::ErrorKind::AlreadyExists => return Err(exists()),
            Err(e) => return Err(StoreError::io("rename into", &target, e.error)),
        }
        fsutil::fsync_dir(&store.root)?;
        Ok(target)
    }
}

impl Output for NewFlatImage<'_> {
    fn file(&self) -> &fs::File {
        self.file.as_file()
    }

    fn path(&self) -> &Path {
        &self.target
    }

    fn record(&mut self, data: &[u8], offset: u64) {
        self.bytes_written += data.len() as u64;
        self.writeback
            .advance(self.file.as_file(), offset + data.len() as u64);
    }

    fn bytes_written(&self) -> u64 {
        self.bytes_written
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(store: &FlatBackend, name: &str, bytes: &[u8], existing: Existing) -> Result<PathBuf> {
        let mut new = store.new_image(name)?;
        new.write_at(bytes, 0)?;
        new.commit(existing)
    }

    #[test]
    fn new_list_get_remove() {
        let dir = tempfile::tempdir().unwrap();
        let store = FlatBackend::open(&dir.path().join("backend")).unwrap();
        assert!(store.working_dir().is_dir());
        let path = write(&store, "centos/7:2004.01", b"one", Existing::Refuse).unwrap();
        assert_eq!(path, store.path().join("centos%2F7%3A2004.01"));
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o444
        );
        write(&store, "my-image", b"two", Existing::Refuse).unwrap();
        // Not images: a name with '-', a directory, a non-canonical encoding; and nothing is
        // left in .working/ but the lock files.
        fs::write(store.path().join("vm-0-x"), b"").unwrap();
        fs::write(store.path().join("%2f"), b"").unwrap();
        fs::create_dir(store.path().join("dir")).unwrap();
        let names: Vec<String> = store
            .images()
            .unwrap()
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        assert_eq!(names, ["centos/7:2004.01", "my-image"]);
        let mut working: Vec<String> = fs::read_dir(store.working_dir())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        working.sort();
        assert_eq!(working, ["centos%2F7%3A2004.01", "my%2Dimage"]);

        let e = write(&store, "my-image", b"three", Existing::Refuse).unwrap_err();
        assert_eq!(
            e.to_string(),
            "An image with the name 'my-image' already exists"
        );
        assert_eq!(fs::read(store.get("my-image").unwrap()).unwrap(), b"two");
        write(&store, "my-image", b"four", Existing::Replace).unwrap();
        assert_eq!(fs::read(store.get("my-image").unwrap()).unwrap(), b"four");
        let e = store.get("nope").unwrap_err();
        assert!(matches!(&e, StoreError::FlatNotFound { name } if name == "nope"));
        assert_eq!(e.to_string(), "Unable to find image 'nope' in backend");
        store.remove("my-image").unwrap();
        let e = store.remove("my-image").unwrap_err();
        assert!(matches!(e, StoreError::FlatNoSuchImage { .. }));
        assert_eq!(e.to_string(), "No image in backend with name 'my-image'");
    }

    #[test]
    fn removal_does_not_wait_for_a_writer_of_the_same_name() {
        let dir = tempfile::tempdir().unwrap();
        let store = FlatBackend::open(dir.path()).unwrap();
        write(&store, "c7", b"old", Existing::Refuse).unwrap();
        let rebuild = store.new_image("c7").unwrap();
        let e = store.remove("c7").unwrap_err();
        assert_eq!(e.kind(), crate::error::ErrorKind::Locked);
        assert!(store.contains("c7").unwrap());
        drop(rebuild);
        store.remove("c7").unwrap();
        assert!(!store.contains("c7").unwrap());
    }

    #[test]
    fn an_empty_backend_variable_counts_as_unset() {
        let env = crate::env::Env::new("/home/u", "u");
        let default = Path::new("/home/u/.local/share/transient/backend");
        assert_eq!(FlatBackend::default_path(&env), default);
        let env = env.with_var("TRANSIENT_BACKEND", "");
        assert_eq!(FlatBackend::default_path(&env), default);
        let env = env.with_var("TRANSIENT_BACKEND", "/srv/backend");
        assert_eq!(FlatBackend::default_path(&env), Path::new("/srv/backend"));
    }

    #[test]
    fn a_new_image_holds_its_lock_and_leaves_nothing_when_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let store = FlatBackend::open(dir.path()).unwrap();
        let new = store.new_image("centos/7").unwrap();
        assert!(matches!(
            store.new_image("..").unwrap_err(),
            StoreError::InvalidName(_)
        ));
        let lock = store.working_dir().join("centos%2F7");
        let e = FileLock::try_acquire(&lock, LockMode::Exclusive).unwrap_err();
        assert_eq!(e.kind(), crate::error::ErrorKind::Locked);
        drop(new);
        FileLock::try_acquire(&lock, LockMode::Exclusive).unwrap();
        assert!(store.images().unwrap().is_empty());
        assert_eq!(fs::read_dir(store.working_dir()).unwrap().count(), 1);
    }
}
