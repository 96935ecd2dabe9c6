//! [`FlatStore`]: a [`FlatBackend`] (one flattened qcow2 file per name; the layout of
//! transient's backend) as a [`Store`] of VM images without revisions, and the [`VmStore`] whose
//! VMs' overlays stand on its files, if the caller names one.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use strata_disk::{DiskImage, OpenOptions, Output};
use strata_model::{DiskFormat, Kind};
use strata_store::{Existing, FlatBackend, NewFlatImage, StoreError, VmStore};

use crate::error::{Error, Result};
use crate::store::{
    DiskSink, ImageKey, ImageSummary, Layer, NewImage, OnExisting, OnInUse, Store, StoredDisk,
};

/// A directory of flattened qcow2 images, one file per name (names are stored with a
/// reversible percent-encoding, see [`strata_store::flat`]), created with its `.working/`
/// directory on first use. The VMs that use its images are those of the VM directory given with
/// [`FlatStore::with_vm_store`]; without one, none.
#[derive(Debug)]
pub struct FlatStore {
    name: String,
    path: PathBuf,
    backend: OnceLock<FlatBackend>,
    vm_store: Option<VmStore>,
}

impl FlatStore {
    /// The store `name` in the directory `path`.
    pub fn new(name: impl Into<String>, path: impl Into<PathBuf>) -> FlatStore {
        FlatStore {
            name: name.into(),
            path: path.into(),
            backend: OnceLock::new(),
            vm_store: None,
        }
    }

    /// This store, whose images the VMs of the directory `path` use through their qcow2
    /// overlays (one directory per VM, see [`strata_store::vmstore`]): removing an image one of
    /// them stands on is refused unless forced.
    pub fn with_vm_store(mut self, path: impl Into<PathBuf>) -> FlatStore {
        self.vm_store = Some(VmStore::new(path));
        self
    }

    /// The directory of VMs given with [`FlatStore::with_vm_store`].
    pub fn vm_store(&self) -> Option<&Path> {
        self.vm_store.as_ref().map(VmStore::path)
    }

    /// The backend, opened (and created) on the first call.
    pub fn backend(&self) -> Result<&FlatBackend> {
        if let Some(backend) = self.backend.get() {
            return Ok(backend);
        }
        let backend = FlatBackend::open(&self.path)?;
        Ok(self.backend.get_or_init(|| backend))
    }

    /// The summary of the image `name`.
    fn summary(&self, name: &str) -> ImageSummary {
        ImageSummary {
            store: self.name.clone(),
            name: name.to_owned(),
            revision: None,
            kind: Kind::Vm,
            owner: None,
            timestamp: None,
        }
    }

    /// The file of `image`.
    fn file_of(&self, image: &ImageSummary) -> Result<PathBuf> {
        self.backend()?.get(&image.name).map_err(|e| match e {
            StoreError::FlatNotFound { .. } => Error::ImageNotFound {
                key: image.key(),
                store: Some(self.name.clone()),
            },
            other => other.into(),
        })
    }
}

impl Store for FlatStore {
    fn name(&self) -> &str {
        &self.name
    }

    fn path(&self) -> &Path {
        &self.path
    }

    fn writable(&self) -> Option<bool> {
        self.path
            .exists()
            .then(|| strata_store::fsutil::is_writable(&self.path))
    }

    fn list(&self, matches: &dyn Fn(&str) -> bool) -> Result<Vec<ImageSummary>> {
        Ok(self
            .backend()?
            .images()?
            .iter()
            .map(|(name, _)| self.summary(name))
            .filter(|image| matches(&image.name))
            .collect())
    }

    /// A name with a revision is never here: the store keeps none.
    fn find(&self, key: &ImageKey) -> Result<Option<ImageSummary>> {
        let ImageKey::Name { name, revision } = key else {
            return Err(Error::KeyNotSupported {
                key: key.clone(),
                store: self.name.clone(),
            });
        };
        if revision.is_some() {
            return Ok(None);
        }
        Ok(self.backend()?.contains(name)?.then(|| self.summary(name)))
    }

    fn layers(&self, image: &ImageSummary) -> Result<Vec<Layer>> {
        let path = self.file_of(image)?;
        let size = crate::app::file_len(&path)?;
        Ok(vec![Layer {
            digest: None,
            path,
            size,
        }])
    }

    /// The file is a flattened qcow2: a backing file it names is refused.
    fn open_disk(&self, image: &ImageSummary) -> Result<Box<dyn DiskImage>> {
        let opened = strata_disk::open(
            &self.file_of(image)?,
            &OpenOptions {
                format: Some(DiskFormat::Qcow2),
                allowed_dirs: vec![self.path.clone()],
                max_depth: 0,
                no_backing: false,
            },
        )?;
        Ok(opened.image)
    }

    /// Written in `.working/` under the name's lock, then renamed into place (replacing the
    /// file of that name under [`OnExisting::Replace`]).
    fn create_disk(&self, image: &NewImage) -> Result<Box<dyn DiskSink + '_>> {
        let backend = self.backend()?;
        if !strata_store::fsutil::is_writable(backend.path()) {
            return Err(Error::ReadOnlyStore {
                store: self.name.clone(),
                path: self.path.clone(),
            });
        }
        let new = backend.new_image(&image.name)?;
        Ok(Box::new(FlatDisk {
            store: self,
            name: image.name.clone(),
            new,
            existing: match image.on_existing {
                OnExisting::Refuse => Existing::Refuse,
                OnExisting::Replace => Existing::Replace,
            },
        }))
    }

    /// The VMs of the VM directory ([`FlatStore::with_vm_store`]) one of whose overlays stands
    /// on the image's file; none without a VM directory.
    fn users(&self, name: &str, revision: Option<u64>) -> Result<Vec<String>> {
        if revision.is_some() {
            return Err(Error::ImageNotFound {
                key: ImageKey::Name {
                    name: name.to_owned(),
                    revision,
                },
                store: Some(self.name.clone()),
            });
        }
        let path = self.file_of(&self.summary(name))?;
        match &self.vm_store {
            Some(vm_store) => Ok(vm_store.users_of(&path)?),
            None => Ok(Vec::new()),
        }
    }

    /// Under the name's lock, so that no retrieval or build of it is under way; an image that
    /// VMs use ([`Store::users`]) is refused unless `on_in_use` says otherwise, and the VMs'
    /// overlays are then left without their backing file.
    fn remove(&self, name: &str, revision: Option<u64>, on_in_use: OnInUse) -> Result<Vec<u64>> {
        let key = ImageKey::Name {
            name: name.to_owned(),
            revision,
        };
        let not_found = || Error::ImageNotFound {
            key: key.clone(),
            store: Some(self.name.clone()),
        };
        if revision.is_some() {
            return Err(not_found());
        }
        if on_in_use == OnInUse::Refuse {
            let users = self.users(name, None)?;
            if !users.is_empty() {
                return Err(Error::ImageInUse {
                    key: key.clone(),
                    store: self.name.clone(),
                    users,
                });
            }
        }
        match self.backend()?.remove(name) {
            Ok(()) => Ok(Vec::new()),
            Err(StoreError::FlatNoSuchImage { .. }) => Err(not_found()),
            Err(e) => Err(e.into()),
        }
    }
}

/// A new image of a flat store.
#[derive(Debug)]
struct FlatDisk<'s> {
    store: &'s FlatStore,
    name: String,
    new: NewFlatImage<'s>,
    existing: Existing,
}

impl Output for FlatDisk<'_> {
    fn file(&self) -> &std::fs::File {
        self.new.file()
    }

    fn path(&self) -> &Path {
        self.new.path()
    }

    fn record(&mut self, data: &[u8], offset: u64) {
        self.new.record(data, offset);
    }

    fn expect_rewrites(&mut self) {
        self.new.expect_rewrites();
    }

    fn bytes_written(&self) -> u64 {
        self.new.bytes_written()
    }
}

impl DiskSink for FlatDisk<'_> {
    fn format(&self) -> DiskFormat {
        DiskFormat::Qcow2
    }

    fn commit(self: Box<Self>) -> Result<StoredDisk> {
        let FlatDisk {
            store,
            name,
            new,
            existing,
        } = *self;
        let bytes_written = new.bytes_written();
        let path = new.commit(existing).map_err(|e| match e {
            StoreError::FlatExists { name } => Error::ImageExists {
                name,
                store: store.name.clone(),
            },
            other => other.into(),
        })?;
        Ok(StoredDisk {
            image: store.summary(&name),
            digest: None,
            file_len: crate::app::file_len(&path)?,
            bytes_written,
            deduplicated: false,
        })
    }
}
