//! [`Strata::delete`]: remove an image (all its revisions, or one); [`Strata::delete_all`]:
//! remove several, every one checked before any is removed.

use crate::app::Strata;
use crate::error::{Error, Result};
use crate::progress::{Progress, ProgressEvent, Warning};
use crate::store::{ImageKey, ImageLocator, OnInUse, Store};

/// Delete the image `image`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeleteRequest {
    /// The image; with a revision only that one, else every revision. Without a store, the
    /// first store (in order) that has it.
    pub image: ImageLocator,
    /// What it means when VMs use the image: refused by default.
    pub on_in_use: OnInUse,
}

impl DeleteRequest {
    /// Delete `image`, refusing it if VMs use it.
    pub fn new(image: ImageLocator) -> DeleteRequest {
        DeleteRequest {
            image,
            on_in_use: OnInUse::Refuse,
        }
    }
}

/// What `delete` removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeleteOutcome {
    /// The store the image was removed from.
    pub store: String,
    /// The image name.
    pub name: String,
    /// The revisions removed, ascending (empty for a store without revisions).
    pub revisions: Vec<u64>,
    /// The VMs that used it when it was removed (always empty under [`OnInUse::Refuse`]).
    pub users: Vec<String>,
}

/// One deletion of [`Strata::delete_all`], checked and ready.
struct Checked<'a> {
    store: &'a dyn Store,
    name: &'a str,
    revision: Option<u64>,
    on_in_use: OnInUse,
    users: Vec<String>,
}

impl Strata {
    /// Deletes an image: the revision named, or every revision. Images that VMs use are
    /// refused ([`ErrorKind::Busy`](crate::ErrorKind::Busy), naming the VMs) before anything
    /// is removed unless the request says [`OnInUse::Remove`]; so is a store this process may
    /// not write to. In a store with shared layers only the records go; the layers stay until
    /// [`Strata::gc`]. The container cache is left alone: its entries of deleted images are
    /// dangling, for [`Strata::cache_gc`].
    pub fn delete(&self, request: DeleteRequest) -> Result<DeleteOutcome> {
        let (name, revision) = name_of(&request.image)?;
        let store = match &request.image.store {
            Some(store) => self.store(Some(store))?,
            None => self.find(&request.image)?.0,
        };
        let users = match request.on_in_use {
            OnInUse::Refuse => Vec::new(),
            OnInUse::Remove => store.users(name, revision)?,
        };
        let revisions = store.remove(name, revision, request.on_in_use)?;
        Ok(DeleteOutcome {
            store: store.name().to_owned(),
            name: name.to_owned(),
            revisions,
            users,
        })
    }

    /// Deletes several images, as [`Strata::delete`] each, but checks every request before
    /// removing anything: each image exists ([`Error::ImageNotFound`]), and none that VMs use
    /// is removed unless its request says [`OnInUse::Remove`] ([`Error::ImageInUse`], for the
    /// first such image in order). Then removes them in order; before removing an image that
    /// VMs use, sends [`Warning::RemovingInUse`] to `progress`. A failure while removing (an
    /// I/O error, a VM that started using an image meanwhile) stops there, the images before
    /// it removed.
    pub fn delete_all(
        &self,
        requests: &[DeleteRequest],
        progress: &dyn Progress,
    ) -> Result<Vec<DeleteOutcome>> {
        let mut checked = Vec::with_capacity(requests.len());
        for request in requests {
            let (name, revision) = name_of(&request.image)?;
            let (store, _) = self.find(&request.image)?;
            let users = store.users(name, revision)?;
            if !users.is_empty() && request.on_in_use == OnInUse::Refuse {
                return Err(Error::ImageInUse {
                    key: request.image.key.clone(),
                    store: store.name().to_owned(),
                    users,
                });
            }
            checked.push(Checked {
                store,
                name,
                revision,
                on_in_use: request.on_in_use,
                users,
            });
        }
        let mut outcomes = Vec::with_capacity(checked.len());
        for deletion in checked {
            let store = deletion.store.name().to_owned();
            if !deletion.users.is_empty() {
                progress.event(&ProgressEvent::Warning(Warning::RemovingInUse {
                    store: store.clone(),
                    name: deletion.name.to_owned(),
                    users: deletion.users.clone(),
                }));
            }
            let revisions =
                deletion
                    .store
                    .remove(deletion.name, deletion.revision, deletion.on_in_use)?;
            outcomes.push(DeleteOutcome {
                store,
                name: deletion.name.to_owned(),
                revisions,
                users: deletion.users,
            });
        }
        Ok(outcomes)
    }
}

/// The name and revision `image` names ([`Error::KeyNotSupported`] for an ID: no store
/// removes by ID yet).
fn name_of(image: &ImageLocator) -> Result<(&str, Option<u64>)> {
    match &image.key {
        ImageKey::Name { name, revision } => Ok((name, *revision)),
        ImageKey::Id(_) => Err(Error::KeyNotSupported {
            key: image.key.clone(),
            store: image.store.clone().unwrap_or_default(),
        }),
    }
}
