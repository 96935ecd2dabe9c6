//! [`Strata::delete`]: remove an image (all its revisions, or one).

use crate::app::Strata;
use crate::error::{Error, Result};
use crate::store::{ImageKey, ImageLocator};

/// Delete the image `image`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeleteRequest {
    /// The image; with a revision only that one, else every revision. Without a store, the
    /// first store (in order) that has it.
    pub image: ImageLocator,
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
}

impl Strata {
    /// Deletes an image: the revision named, or every revision. Images that VM instances use
    /// are refused ([`ErrorKind::Busy`](crate::ErrorKind::Busy), naming the instances) before
    /// anything is removed; so is a store this process may not write to. In a store with
    /// shared layers only the records go; the layers stay until [`Strata::gc`]. The container
    /// cache is left alone: its entries of deleted images are dangling, for
    /// [`Strata::cache_gc`].
    pub fn delete(&self, request: DeleteRequest) -> Result<DeleteOutcome> {
        let ImageKey::Name { name, revision } = &request.image.key else {
            return Err(Error::KeyNotSupported {
                key: request.image.key.clone(),
                store: request.image.store.clone().unwrap_or_default(),
            });
        };
        let store = match &request.image.store {
            Some(store) => self.store(Some(store))?,
            None => self.find(&request.image)?.0,
        };
        let revisions = store.remove(name, *revision)?;
        Ok(DeleteOutcome {
            store: store.name().to_owned(),
            name: name.clone(),
            revisions,
        })
    }
}
