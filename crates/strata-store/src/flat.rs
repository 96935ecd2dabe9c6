//! [`FlatStore`]: transient's image backend, one flattened qcow2 file per image.
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

use strata_model::name::TransientName;
use tempfile::NamedTempFile;

use crate::error::{IoContext, Result, StoreError};
use crate::fsutil;
use crate::image_store::{ImageStore, StoredImage};
use crate::lock::{FileLock, LockMode};

/// The scratch and lock directory inside a backend.
pub const WORKING_DIR: &str = ".working";

/// The mode of a backend image (transient's `S_IREAD|S_IRGRP|S_IROTH`).
const IMAGE_MODE: u32 = 0o444;

/// transient's backend: a directory of flattened qcow2 images named by their encoded names.
#[derive(Debug, Clone)]
pub struct FlatStore {
    root: PathBuf,
}

impl FlatStore {
    /// The backend at `path`, created (with parents) if missing, as transient's
    /// `BackendImageStore.__init__` does.
    pub fn open(path: &Path) -> Result<FlatStore> {
        let working = path.join(WORKING_DIR);
        fs::create_dir_all(&working).at("create directory", &working)?;
        Ok(FlatStore {
            root: path.to_owned(),
        })
    }

    /// transient's default backend directory for `env`: `$TRANSIENT_BACKEND`, else
    /// `<XDG data home>/transient/backend`.
    pub fn default_path(env: &crate::env::Env) -> PathBuf {
        match env.var("TRANSIENT_BACKEND") {
            Some(dir) => PathBuf::from(dir),
            None => env.xdg_data_home().join("transient/backend"),
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

    /// Where image `name` lives (or would).
    pub fn image_path(&self, name: &TransientName) -> PathBuf {
        self.root.join(name.file_name())
    }

    /// Whether image `name` is in the backend.
    pub fn contains(&self, name: &TransientName) -> bool {
        self.image_path(name).is_file()
    }

    /// Takes transient's per-image lock, `.working/<enc(name)>` (blocking flock), which
    /// serialises processes that retrieve, commit or build the same image. transient downloads
    /// into the lock file itself ([`FileLock::file`]).
    pub fn lock_image(&self, name: &TransientName) -> Result<FileLock> {
        FileLock::acquire(
            &self.working_dir().join(name.file_name()),
            LockMode::Exclusive,
        )
    }

    /// Moves or copies the finished image `file` into the backend as `name`: `An image with
    /// the name '{name}' already exists` if it is there. A file in `.working/` is renamed;
    /// any other file is cloned or copied (holes kept) into `.working/` first. The image is
    /// fsynced, made 0444, and renamed without replacing.
    pub fn put(&self, name: &TransientName, file: &Path) -> Result<PathBuf> {
        let target = self.image_path(name);
        let exists = || StoreError::FlatExists {
            name: name.to_string(),
        };
        if target.exists() {
            return Err(exists());
        }
        let meta = fs::metadata(file).at("read the metadata of", file)?;
        if !meta.is_file() {
            return Err(StoreError::NotRegularFile {
                path: file.to_owned(),
            });
        }
        let working = self.working_dir();
        let in_working = file
            .parent()
            .and_then(|p| fs::canonicalize(p).ok())
            .zip(fs::canonicalize(&working).ok())
            .is_some_and(|(parent, working)| parent == working);
        let staged = if in_working {
            let handle = fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open(file)
                .at("open", file)?;
            NamedTempFile::from_parts(
                handle,
                tempfile::TempPath::try_from_path(file).at("resolve", file)?,
            )
        } else {
            let source = fs::File::open(file).at("open", file)?;
            let staged = self.scratch_file()?;
            fsutil::clone_or_copy(&source, staged.as_file()).at("copy", file)?;
            staged
        };
        staged.as_file().sync_all().at("fsync", staged.path())?;
        staged
            .as_file()
            .set_permissions(fs::Permissions::from_mode(IMAGE_MODE))
            .at("chmod", staged.path())?;
        let (_, staged) = staged.into_parts();
        match staged.persist_noclobber(&target) {
            Ok(()) => {}
            Err(e) if e.error.kind() == std::io::ErrorKind::AlreadyExists => return Err(exists()),
            Err(e) => return Err(StoreError::io("rename into", &target, e.error)),
        }
        fsutil::fsync_dir(&self.root)?;
        Ok(target)
    }

    /// Removes image `name` (`No image in backend with name '{name}'`). Whether VMs use it is
    /// the caller's question (transient asks its vmstore).
    pub fn remove(&self, name: &TransientName) -> Result<()> {
        let path = self.image_path(name);
        match fs::symlink_metadata(&path) {
            Ok(meta) if meta.is_file() => {}
            _ => {
                return Err(StoreError::FlatNoSuchImage {
                    name: name.to_string(),
                });
            }
        }
        fs::remove_file(&path).at("remove", &path)?;
        fsutil::fsync_dir(&self.root)
    }

    /// The images, sorted by name: regular files directly in the backend whose names match
    /// `^[^\-]+$` and are canonical encodings.
    pub fn images(&self) -> Result<Vec<(TransientName, PathBuf)>> {
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
                images.push((name, path));
            }
        }
        images.sort();
        Ok(images)
    }
}

impl ImageStore for FlatStore {
    fn list(&self) -> Result<Vec<StoredImage>> {
        Ok(self
            .images()?
            .into_iter()
            .map(|(name, path)| StoredImage {
                name: name.to_string(),
                revision: None,
                path,
            })
            .collect())
    }

    /// `Unable to find image '{name}' in backend`.
    fn top_path(&self, name: &str) -> Result<PathBuf> {
        let name: TransientName = name.parse()?;
        let path = self.image_path(&name);
        if path.is_file() {
            Ok(path)
        } else {
            Err(StoreError::FlatNotFound {
                name: name.to_string(),
            })
        }
    }

    /// A new file with a random name in `.working/`, where transient converts into
    /// `.working/<uuid4>`.
    fn scratch_file(&self) -> Result<NamedTempFile> {
        let working = self.working_dir();
        fs::create_dir_all(&working).at("create directory", &working)?;
        tempfile::Builder::new()
            .prefix("partial-")
            .rand_bytes(16)
            .tempfile_in(&working)
            .at("create a file in", &working)
    }

    fn put_image(&self, name: &str, file: &Path) -> Result<StoredImage> {
        let name: TransientName = name.parse()?;
        let path = self.put(&name, file)?;
        Ok(StoredImage {
            name: name.to_string(),
            revision: None,
            path,
        })
    }

    /// `No image in backend with name '{name}'`.
    fn delete(&self, name: &str) -> Result<()> {
        self.remove(&name.parse()?)
    }

    fn lock(&self, name: &str) -> Result<FileLock> {
        self.lock_image(&name.parse()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn put_list_get_delete() {
        let dir = tempfile::tempdir().unwrap();
        let store = FlatStore::open(&dir.path().join("backend")).unwrap();
        assert!(store.working_dir().is_dir());
        let src = dir.path().join("img.qcow2");
        fs::write(&src, b"QFI\xfb fake").unwrap();
        let put = store.put_image("centos/7:2004.01", &src).unwrap();
        assert_eq!(put.path, store.path().join("centos%2F7%3A2004.01"));
        assert_eq!(
            fs::metadata(&put.path).unwrap().permissions().mode() & 0o777,
            0o444
        );
        assert!(
            src.exists(),
            "a file outside .working/ is copied, not moved"
        );
        // A scratch file is moved.
        let scratch = store.scratch_file().unwrap();
        fs::write(scratch.path(), b"x").unwrap();
        store.put_image("my-image", scratch.path()).unwrap();
        assert!(!scratch.path().exists());
        // Not images: a name with '-', a directory, a non-canonical encoding.
        fs::write(store.path().join("vm-0-x"), b"").unwrap();
        fs::write(store.path().join("%2f"), b"").unwrap();
        fs::create_dir(store.path().join("dir")).unwrap();
        let names: Vec<String> = store.list().unwrap().into_iter().map(|i| i.name).collect();
        assert_eq!(names, ["centos/7:2004.01", "my-image"]);

        let e = store.put_image("my-image", &src).unwrap_err();
        assert_eq!(
            e.to_string(),
            "An image with the name 'my-image' already exists"
        );
        assert_eq!(
            store.top_path("my-image").unwrap(),
            store.path().join("my%2Dimage")
        );
        let e = store.top_path("nope").unwrap_err();
        assert!(matches!(&e, StoreError::FlatNotFound { name } if name == "nope"));
        assert_eq!(e.to_string(), "Unable to find image 'nope' in backend");
        store.delete("my-image").unwrap();
        let e = store.delete("my-image").unwrap_err();
        assert!(matches!(e, StoreError::FlatNoSuchImage { .. }));
        assert_eq!(e.to_string(), "No image in backend with name 'my-image'");
    }

    #[test]
    fn per_image_lock_is_exclusive() {
        let dir = tempfile::tempdir().unwrap();
        let store = FlatStore::open(dir.path()).unwrap();
        let _held = store.lock("centos/7").unwrap();
        let path = store.working_dir().join("centos%2F7");
        let e = FileLock::try_acquire(&path, LockMode::Exclusive).unwrap_err();
        assert_eq!(e.kind(), crate::error::ErrorKind::Locked);
    }
}
