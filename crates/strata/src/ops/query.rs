//! Read-only queries: [`Strata::list`], [`Strata::show`], [`Strata::sizes`] and
//! [`Strata::store_list`].

use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;

use crate::app::Strata;
use crate::error::Result;
use crate::store::{ImageLocator, ImageSummary, Layer, RevisionSummary};

/// List images.
#[derive(Debug, Clone, Default)]
pub struct ListRequest {
    /// Only this store; `None`: every store, in order.
    pub store: Option<String>,
    /// Only names in which this regular expression matches (anywhere); `None`: every image.
    pub filter: Option<regex::Regex>,
}

/// What `list` found.
#[derive(Debug, Default)]
pub struct ListOutcome {
    /// One entry per store listed, in order, including stores with no match.
    pub stores: Vec<StoreImages>,
    /// The stores that could not be listed (unreadable, or not creatable), in order, when every
    /// store was listed: one broken store does not hide the others.
    pub failed: Vec<StoreFailure>,
}

/// A store that could not be listed, and why.
#[derive(Debug)]
pub struct StoreFailure {
    /// The store.
    pub store: String,
    /// Why.
    pub error: crate::Error,
}

/// The matching images of one store.
#[derive(Debug, Clone, PartialEq)]
pub struct StoreImages {
    /// The store.
    pub store: String,
    /// Each matching image (its latest revision, in a store with revisions), sorted by name.
    pub images: Vec<ImageSummary>,
}

/// Show one image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShowRequest {
    /// The image, maybe with a store and a revision.
    pub image: ImageLocator,
}

/// What `show` found.
#[derive(Debug, Clone, PartialEq)]
pub struct ShowOutcome {
    /// The image (the latest revision when none was asked for).
    pub image: ImageSummary,
    /// Its layers, bottom first.
    pub layers: Vec<Layer>,
    /// Every revision of the image in the same store, ascending (empty in a store without
    /// revisions).
    pub revisions: Vec<RevisionSummary>,
}

/// The sizes of one VM image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SizesRequest {
    /// The image, maybe with a store and a revision.
    pub image: ImageLocator,
}

/// What `sizes` measured.
#[derive(Debug, Clone, PartialEq)]
pub struct SizesOutcome {
    /// The image (the latest revision when none was asked for).
    pub image: ImageSummary,
    /// The size of the virtual disk in bytes, as the guest sees it.
    pub virtual_size: u64,
    /// The space its files take on their filesystem in bytes (allocated blocks, `st_blocks`
    /// times 512, summed over its layers): what `qemu-img info` calls the actual size of a
    /// single file.
    pub allocated: u64,
    /// The lengths of its files in bytes, summed over its layers.
    pub file_len: u64,
}

/// What `store_list` shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreListOutcome {
    /// Every store, in order.
    pub stores: Vec<StoreInfo>,
}

/// One store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreInfo {
    /// Its name.
    pub name: String,
    /// Its directory.
    pub path: PathBuf,
    /// Whether this process may write to it (`access(W_OK)`); `None` when the path does not
    /// exist.
    pub writable: Option<bool>,
}

impl Strata {
    /// Per store (the one named, else each in order), every image whose name the filter
    /// matches, sorted by name. A store that is named but not configured is
    /// [`Error::UnknownStore`](crate::Error::UnknownStore). A store that cannot be listed (its
    /// directory cannot be created, a record of it does not parse) fails the listing when it
    /// was named; listing every store, it is reported in [`ListOutcome::failed`] and the
    /// others are listed.
    pub fn list(&self, request: ListRequest) -> Result<ListOutcome> {
        let mut outcome = ListOutcome::default();
        let matches = |name: &str| request.filter.as_ref().is_none_or(|r| r.is_match(name));
        for store in self.selected(request.store.as_deref())? {
            match store.list(&matches) {
                Ok(images) => outcome.stores.push(StoreImages {
                    store: store.name().to_owned(),
                    images,
                }),
                Err(error) if request.store.is_none() => outcome.failed.push(StoreFailure {
                    store: store.name().to_owned(),
                    error,
                }),
                Err(error) => return Err(error),
            }
        }
        Ok(outcome)
    }

    /// The image the locator names, its layers, and every revision of it in the store where
    /// it was found.
    pub fn show(&self, request: ShowRequest) -> Result<ShowOutcome> {
        let (store, image) = self.find(&request.image)?;
        let layers = store.layers(&image)?;
        let revisions = match store.revisions() {
            Some(revisions) => revisions.revisions_of(&image.name)?,
            None => Vec::new(),
        };
        Ok(ShowOutcome {
            image,
            layers,
            revisions,
        })
    }

    /// The virtual size of the VM image the locator names (its disk opened, so an image whose
    /// header does not parse is an error here) and the space its files take. A container
    /// image has no disk: [`Error::NotVm`](crate::Error::NotVm).
    pub fn sizes(&self, request: SizesRequest) -> Result<SizesOutcome> {
        let (store, image) = self.find(&request.image)?;
        if image.kind != strata_model::Kind::Vm {
            return Err(crate::Error::NotVm {
                name: image.name.clone(),
                kind: image.kind,
                action: "measured",
            });
        }
        if let Some(known) = store.known_sizes(&image)? {
            return Ok(SizesOutcome {
                image,
                virtual_size: known.virtual_size,
                allocated: known.stored,
                file_len: known.stored,
            });
        }
        let virtual_size = store.open_disk(&image)?.virtual_size();
        let mut allocated = 0u64;
        let mut file_len = 0u64;
        for layer in store.layers(&image)? {
            let meta = std::fs::metadata(&layer.path)
                .map_err(|e| crate::Error::io("read the metadata of", &layer.path, e))?;
            allocated = allocated.saturating_add(meta.blocks().saturating_mul(512));
            file_len = file_len.saturating_add(meta.len());
        }
        Ok(SizesOutcome {
            image,
            virtual_size,
            allocated,
            file_len,
        })
    }

    /// Every store, its directory, and whether this process may write to it. Nothing is
    /// created or opened.
    pub fn store_list(&self) -> StoreListOutcome {
        StoreListOutcome {
            stores: self
                .stores()
                .iter()
                .map(|store| StoreInfo {
                    name: store.name().to_owned(),
                    path: store.path().to_owned(),
                    writable: store.writable(),
                })
                .collect(),
        }
    }
}
