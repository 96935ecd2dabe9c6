//! The seam between the core and the places images live: small capability traits that every
//! operation works through, and the neutral words requests use to name images.
//!
//! A [`Store`] is anything that keeps images under names: it lists them, finds one, opens a VM
//! image's disk for reading, starts a new one ([`DiskSink`], the output the convert engine
//! writes into), and removes one. What only some stores can do is a further capability, asked
//! for with an accessor that returns `None` by default:
//!
//! | capability | what it adds | implemented by |
//! |---|---|---|
//! | [`Store`] | list, find, open a disk, store a new disk, the VMs that use an image, remove | every store |
//! | [`Revisions`] | revisions of a name, layers shared between revisions and stores, a layer added on top | [`RepositoryStore`](crate::stores::RepositoryStore), [`RegistryStore`](crate::stores::RegistryStore) |
//! | [`Containers`] | OCI images: read one back, store one from any blob source | [`RepositoryStore`](crate::stores::RepositoryStore), [`RegistryStore`](crate::stores::RegistryStore) |
//! | [`Maintenance`] | garbage collection and verification | [`RepositoryStore`](crate::stores::RepositoryStore), [`RegistryStore`](crate::stores::RegistryStore) |
//!
//! Built in: [`RepositoryStore`](crate::stores::RepositoryStore), a content-addressed
//! repository with revisions (the layout pcocc uses, so its repositories open as they are), and
//! [`FlatStore`](crate::stores::FlatStore), one flattened qcow2 file per name (transient's
//! backend layout), and [`RegistryStore`](crate::stores::RegistryStore), a repository kept in
//! an OCI registry behind a local cache (a remote store: it can tell an image's sizes without
//! reading it, [`Store::known_sizes`], and hand its layers out without local files,
//! [`Revisions::remote_layers`]). A store keyed by numeric IDs whose images carry owners,
//! permissions and states (OpenNebula's pool) is to come; requests can already name an image
//! by ID ([`ImageKey::Id`]), which the built-in stores refuse.
//!
//! The core holds the invariants (every digest recomputed, writes through a temporary file that
//! is fsynced and renamed, locks); a front end passes its dialect's policy in as values: which
//! store a name is looked up or created in ([`ImageLocator`], [`NewImageTarget`]), what an
//! existing name means ([`NamePolicy`]), and what an image that VMs use means to its removal
//! ([`OnInUse`]).

use std::fmt;
use std::path::{Path, PathBuf};

use strata_disk::{DiskImage, Output};
use strata_model::{Digest, DiskFormat, Kind, RevisionRecord};
use strata_oci::{BlobRead, Image, Platform};

use crate::error::Result;
use crate::progress::Progress;

/// How a request names an image inside a store.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ImageKey {
    /// By name; a revisioned store takes `revision`, or the latest without one.
    Name {
        /// The image name (any text the store can hold: `centos7`, `centos/7:2004.01`).
        name: String,
        /// The revision, for stores that keep revisions.
        revision: Option<u64>,
    },
    /// By the number a store assigned to the image.
    Id(u64),
}

impl ImageKey {
    /// The latest revision of `name`.
    pub fn name(name: impl Into<String>) -> ImageKey {
        ImageKey::Name {
            name: name.into(),
            revision: None,
        }
    }
}

impl fmt::Display for ImageKey {
    /// `name`, `name@revision` or `#id`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ImageKey::Name {
                name,
                revision: None,
            } => f.write_str(name),
            ImageKey::Name {
                name,
                revision: Some(r),
            } => write!(f, "{name}@{r}"),
            ImageKey::Id(id) => write!(f, "#{id}"),
        }
    }
}

/// Where an existing image is looked up: one store, or every store in order (the first that
/// has it wins).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ImageLocator {
    /// The store's name; `None`: every store, in the order [`Strata`](crate::Strata) was given
    /// them.
    pub store: Option<String>,
    /// The image.
    pub key: ImageKey,
}

impl ImageLocator {
    /// The latest revision of `name`, in whichever store has it first.
    pub fn named(name: impl Into<String>) -> ImageLocator {
        ImageLocator {
            store: None,
            key: ImageKey::name(name),
        }
    }

    /// This locator, in store `store` only.
    pub fn in_store(mut self, store: impl Into<String>) -> ImageLocator {
        self.store = Some(store.into());
        self
    }
}

/// Where a new image goes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NewImageTarget {
    /// The store's name; `None`: the default store (the first one).
    pub store: Option<String>,
    /// The new image's name.
    pub name: String,
}

impl NewImageTarget {
    /// `name` in the default store.
    pub fn named(name: impl Into<String>) -> NewImageTarget {
        NewImageTarget {
            store: None,
            name: name.into(),
        }
    }

    /// This target, in store `store`.
    pub fn in_store(mut self, store: impl Into<String>) -> NewImageTarget {
        self.store = Some(store.into());
        self
    }
}

/// What an image of the same name already in the destination store means.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum OnExisting {
    /// The operation fails before anything is written
    /// ([`Error::ImageExists`](crate::Error::ImageExists)); a race that creates the name
    /// meanwhile fails at commit, the new image not stored.
    #[default]
    Refuse,
    /// The new image takes the name: a flat store replaces the file atomically; a revisioned
    /// store adds the new image as the next revision (the older ones stay).
    Replace,
}

/// What an image that VMs use means to its removal.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum OnInUse {
    /// The removal fails before anything is removed
    /// ([`Error::ImageInUse`](crate::Error::ImageInUse), naming the VMs).
    #[default]
    Refuse,
    /// The image is removed anyway. What becomes of the VMs is the store's to say: a
    /// repository keeps the layers its instances name until they end; a flat store's overlays
    /// are left without their backing file.
    Remove,
}

/// A front end's rules for the name of a new image.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct NamePolicy {
    /// What an image of the same name in the destination means.
    pub on_existing: OnExisting,
    /// Whether an image of the same name in another store is reported (the first one found, in
    /// store order) as a [`Warning::NameExistsElsewhere`](crate::Warning::NameExistsElsewhere).
    pub warn_if_elsewhere: bool,
}

/// One image (one revision of it, in a revisioned store) as a store describes it.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageSummary {
    /// The store it is in.
    pub store: String,
    /// The image name.
    pub name: String,
    /// The revision, for stores that keep revisions.
    pub revision: Option<u64>,
    /// VM or container.
    pub kind: Kind,
    /// Who wrote it, where the store records it.
    pub owner: Option<String>,
    /// When it was written, seconds since the epoch, where the store records it.
    pub timestamp: Option<f64>,
}

impl ImageSummary {
    /// The key that names exactly this image.
    pub fn key(&self) -> ImageKey {
        ImageKey::Name {
            name: self.name.clone(),
            revision: self.revision,
        }
    }
}

/// One revision of an image in a revisioned store.
#[derive(Debug, Clone, PartialEq)]
pub struct RevisionSummary {
    /// The revision.
    pub revision: u64,
    /// When it was written, seconds since the epoch.
    pub timestamp: f64,
    /// Its layers, bottom first.
    pub layers: Vec<Layer>,
}

/// A stored file an image is made of: a blob of a revisioned store, or a flat store's file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layer {
    /// Its digest, where the store names files by digest.
    pub digest: Option<Digest>,
    /// Where it is.
    pub path: PathBuf,
    /// Its length in bytes.
    pub size: u64,
}

/// What a new image is, for the store that writes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewImage {
    /// Its name.
    pub name: String,
    /// Who writes it (recorded by stores that record owners).
    pub owner: String,
    /// What an image of the same name means at commit.
    pub on_existing: OnExisting,
}

/// The sizes of a VM image a store knows without reading it ([`Store::known_sizes`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KnownSizes {
    /// Its virtual size in bytes.
    pub virtual_size: u64,
    /// The bytes its layers take where the store keeps them.
    pub stored: u64,
}

/// A new VM disk being written into a store: the output the convert engine writes into, in the
/// format the store keeps ([`DiskSink::format`]); [`DiskSink::commit`] stores it. Dropped
/// without a commit, it leaves nothing.
pub trait DiskSink: Output {
    /// The format the store keeps VM disks in (the target written into this sink).
    fn format(&self) -> DiskFormat;

    /// Makes the disk durable and stores it under its name (see [`OnExisting`]).
    fn commit(self: Box<Self>) -> Result<StoredDisk>;
}

/// Implements [`Output`] for a disk sink `$sink<'_>` whose bytes all go to its field `blob`
/// (a store's new blob, itself an `Output`), so that each store's sink only says how it
/// commits.
macro_rules! output_through_blob {
    ($sink:ident) => {
        impl strata_disk::Output for $sink<'_> {
            fn file(&self) -> &std::fs::File {
                self.blob.file()
            }

            fn path(&self) -> &std::path::Path {
                self.blob.path()
            }

            fn record(&mut self, data: &[u8], offset: u64) {
                self.blob.record(data, offset);
            }

            fn expect_rewrites(&mut self) {
                self.blob.expect_rewrites();
            }

            fn bytes_written(&self) -> u64 {
                self.blob.bytes_written()
            }
        }
    };
}
pub(crate) use output_through_blob;

/// What [`DiskSink::commit`] stored.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredDisk {
    /// The new image.
    pub image: ImageSummary,
    /// The stored file's digest, where the store names files by digest.
    pub digest: Option<Digest>,
    /// Its length in bytes.
    pub file_len: u64,
    /// Bytes written to store it (0 when an identical file was already there).
    pub bytes_written: u64,
    /// Whether an identical file was already in the store (nothing new was kept).
    pub deduplicated: bool,
}

/// A place images live, by name. See the [module documentation](self).
pub trait Store: Send + Sync + fmt::Debug {
    /// The store's name, as requests and outcomes name it.
    fn name(&self) -> &str;

    /// Its directory.
    fn path(&self) -> &Path;

    /// Whether this process may write to it (`access(W_OK)`); `None` when it does not exist
    /// yet (it is created on first use).
    fn writable(&self) -> Option<bool>;

    /// Every image whose name `matches`, sorted by name; a revisioned store lists each image's
    /// latest revision, and reads nothing of an image whose name does not match.
    fn list(&self, matches: &dyn Fn(&str) -> bool) -> Result<Vec<ImageSummary>>;

    /// The image `key` names, if this store has it (the latest revision of a name when the key
    /// gives none). A key the store cannot take (an ID in a store of names) is an error.
    fn find(&self, key: &ImageKey) -> Result<Option<ImageSummary>>;

    /// The files `image` is made of, bottom first.
    fn layers(&self, image: &ImageSummary) -> Result<Vec<Layer>>;

    /// Opens the VM image `image` for reading, its whole chain, each file inside the store.
    fn open_disk(&self, image: &ImageSummary) -> Result<Box<dyn DiskImage>>;

    /// Starts the VM image `image`: checks its name as this store requires (an image of that
    /// name is refused here under [`OnExisting::Refuse`]), then returns the sink to write it
    /// into. Nothing is visible until [`DiskSink::commit`].
    fn create_disk(&self, image: &NewImage) -> Result<Box<dyn DiskSink + '_>>;

    /// The VMs that use `name` (the given revision, or any), by the names the store knows
    /// them by, sorted: a repository's instances, or the VMs of a directory of overlays given
    /// to the store. A name that is not here is
    /// [`Error::ImageNotFound`](crate::Error::ImageNotFound).
    fn users(&self, name: &str, revision: Option<u64>) -> Result<Vec<String>>;

    /// Removes `name` (the given revision, or every one); an image that VMs use is refused or
    /// removed as `on_in_use` says. Returns the revisions removed (empty for a store without
    /// revisions).
    fn remove(&self, name: &str, revision: Option<u64>, on_in_use: OnInUse) -> Result<Vec<u64>>;

    /// The sizes of the VM image `image` as the store already knows them, without reading its
    /// layers (a registry's annotations), or `None`: they are then read from the image (and a
    /// remote store downloads it).
    fn known_sizes(&self, image: &ImageSummary) -> Result<Option<KnownSizes>> {
        let _ = image;
        Ok(None)
    }

    /// Revisions and shared layers, if this store keeps them.
    fn revisions(&self) -> Option<&dyn Revisions> {
        None
    }

    /// Container images, if this store keeps them.
    fn containers(&self) -> Option<&dyn Containers> {
        None
    }

    /// Garbage collection and verification, if this store has them.
    fn maintenance(&self) -> Option<&dyn Maintenance> {
        None
    }
}

/// A store whose images have revisions made of shared, content-addressed layers.
pub trait Revisions: Send + Sync {
    /// Every revision of `name`, ascending.
    fn revisions_of(&self, name: &str) -> Result<Vec<RevisionSummary>>;

    /// The record of `image` (the revision's stored description).
    fn record(&self, image: &ImageSummary) -> Result<RevisionRecord>;

    /// Every record of the store.
    fn records(&self) -> Result<Vec<RevisionRecord>>;

    /// Stores `record`'s revision, whose layers are read from `from` (this store or another
    /// one), as revision 0 of `image` here: a layer this store has is neither read nor written;
    /// the others are hard-linked, reflinked or copied, and rehashed. `progress` hears of each
    /// layer's bytes.
    fn copy_revision(
        &self,
        from: &dyn Revisions,
        record: &RevisionRecord,
        image: &NewImage,
        progress: &dyn Fn(u64),
    ) -> Result<CopiedRevision>;

    /// The file of layer `digest` in this store.
    fn layer_path(&self, digest: &Digest) -> PathBuf;

    /// Where the layers of `record` can be read without local files, for a store that keeps
    /// them remotely (a registry): the registry repository, so that a copy into the same
    /// registry mounts them, and a blob source over it, with each layer's digest and size.
    /// `None` (the default) for stores of local files.
    fn remote_layers(&self, record: &RevisionRecord) -> Result<Option<RemoteLayers<'_>>> {
        let _ = record;
        Ok(None)
    }

    /// Waits until no other process adds revisions to `name`, and keeps it so until the
    /// returned hold is dropped: an operation that reads the latest revision and writes the
    /// next one holds it across both.
    fn hold_name(&self, name: &str) -> Result<Box<dyn Send + '_>>;

    /// Adds the next revision of `base`'s image whose top layer is a new, empty qcow2 of
    /// `new_size` bytes backed by `base`'s top layer (the other layers shared).
    fn add_layer(&self, base: &ImageSummary, new_size: u64, owner: &str) -> Result<AddedLayer>;
}

/// The layers of a revision kept in a registry ([`Revisions::remote_layers`]).
pub struct RemoteLayers<'a> {
    /// The registry repository that holds them.
    pub repository: strata_oci::RegistryRef,
    /// Their bytes, each verified as it streams.
    pub blobs: &'a dyn BlobRead,
    /// Each layer, bottom first.
    pub layers: Vec<strata_oci::Expected>,
    /// The virtual size of a VM revision, where the store recorded it.
    pub virtual_size: Option<u64>,
}

impl fmt::Debug for RemoteLayers<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteLayers")
            .field("repository", &self.repository)
            .field("layers", &self.layers)
            .finish_non_exhaustive()
    }
}

/// What [`Revisions::copy_revision`] did.
#[derive(Debug, Clone, PartialEq)]
pub struct CopiedRevision {
    /// The new image.
    pub image: ImageSummary,
    /// How each layer reached the store, in record order.
    pub layers: Vec<LayerCopy>,
}

/// How one layer reached a store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerCopy {
    /// The layer.
    pub digest: Digest,
    /// Its size in bytes.
    pub size: u64,
    /// [`CopyMethod::Existing`](strata_store::CopyMethod::Existing) when the store already had
    /// it, else hard link, reflink or copy.
    pub method: strata_store::CopyMethod,
}

/// What [`Revisions::add_layer`] did.
#[derive(Debug, Clone, PartialEq)]
pub struct AddedLayer {
    /// The new revision.
    pub image: ImageSummary,
    /// Its number of layers.
    pub layers: usize,
    /// The digest of the new top layer.
    pub digest: Digest,
}

/// A store of OCI container images. Its blobs are a [`BlobRead`] (each verified while it
/// streams), which the container cache and registry pushes read from.
pub trait Containers: strata_store::ContainerSource + Send + Sync {
    /// The image `image` holds: its index's only manifest, or the one for `platform`.
    fn container_image(&self, image: &ImageSummary, platform: &Platform) -> Result<Image>;

    /// Stores `image`, its blobs read from `src`, as a new image: the blobs the store lacks
    /// are staged and verified first, then moved in together, then the image is recorded; a
    /// bad blob leaves the store as it was. `progress` hears of each blob copied.
    fn put_container(
        &self,
        image: &NewImage,
        src: &dyn BlobRead,
        oci: &Image,
        progress: &dyn Progress,
    ) -> Result<StoredContainer>;

    /// A directory on the store's filesystem for temporary files of an import (an archive a
    /// daemon saves, a SIF's converted layer), where a file is moved in without a copy, held
    /// against garbage collection until the [`Scratch`] is dropped.
    fn scratch(&self) -> Result<Scratch<'_>>;
}

/// Scratch space of a store (see [`Containers::scratch`]).
pub struct Scratch<'s> {
    /// The directory.
    pub path: PathBuf,
    /// Whatever keeps garbage collection away from it (a repository's write lock).
    pub hold: Box<dyn Send + 's>,
}

impl fmt::Debug for Scratch<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scratch")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// What [`Containers::put_container`] stored.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredContainer {
    /// The new image.
    pub image: ImageSummary,
    /// The manifest's digest.
    pub manifest: Digest,
    /// Every blob of the image and how it reached the store.
    pub blobs: Vec<LayerCopy>,
    /// Bytes written.
    pub bytes_written: u64,
}

/// Garbage collection and verification of a store.
pub trait Maintenance: Send + Sync {
    /// Removes what no image refers to (and that no VM instance uses), keeping entries younger
    /// than `grace`, under a lock that keeps writers out.
    fn gc(&self, grace: std::time::Duration) -> Result<strata_store::GcReport>;

    /// Rehashes every stored file, checks every record and every VM chain, and reports every
    /// problem as data. Reads only.
    fn verify(&self) -> Result<strata_store::VerifyReport>;
}
