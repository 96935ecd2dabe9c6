//! [`Strata::resize`]: a new revision of a VM image whose top layer is an empty, larger qcow2
//! backed by the previous top layer.

use strata_model::{Digest, Kind};

use crate::app::{Strata, in_phase};
use crate::error::{Error, Result};
use crate::progress::{Phase, Progress};
use crate::store::{ImageLocator, ImageSummary};

/// Grow the VM image `image` to `new_size` bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResizeRequest {
    /// The image (and revision; the latest without one) to grow.
    pub image: ImageLocator,
    /// The new virtual size in bytes; rounded up to whole 512-byte sectors.
    pub new_size: u64,
}

/// What `resize` did.
#[derive(Debug, Clone, PartialEq)]
pub struct ResizeOutcome {
    /// The new revision.
    pub image: ImageSummary,
    /// The revision it was built on.
    pub base: ImageSummary,
    /// The previous virtual size in bytes.
    pub old_size: u64,
    /// The new virtual size in bytes.
    pub new_size: u64,
    /// The new revision's number of layers.
    pub layers: usize,
    /// The digest of the new top layer.
    pub digest: Digest,
}

impl Strata {
    /// Grows a VM image by a layer, without qemu-img.
    ///
    /// - The image is found as `request.image` says; it must be a VM image
    ///   ([`Error::NotVm`]) in a store with revisions ([`Error::NotCapable`]), and never
    ///   shrinks ([`Error::Shrink`]; the same size is accepted, as qemu-img accepts it).
    /// - The new revision is written in the store where the image was found, as the next
    ///   revision after the latest, built on the revision found (see
    ///   [`Revisions::add_layer`](crate::store::Revisions::add_layer)). The image's name is held
    ///   from the look-up to the record ([`Revisions::hold_name`](crate::store::Revisions::hold_name)),
    ///   so that a concurrent resize of the same image waits, then builds on the revision the
    ///   first one wrote.
    ///
    /// Progress: `Started{Storing}`, `Finished`.
    pub fn resize(&self, request: ResizeRequest, progress: &dyn Progress) -> Result<ResizeOutcome> {
        let (store, found) = self.find(&request.image)?;
        if found.kind != Kind::Vm {
            return Err(Error::NotVm {
                name: found.name,
                kind: found.kind,
                action: "resized",
            });
        }
        let Some(revisions) = store.revisions() else {
            return Err(Error::NotCapable {
                store: store.name().to_owned(),
                what: "revisions",
            });
        };
        // Two resizes of one image: the second waits for the first, then builds on what it
        // wrote (the latest revision, unless the request named one).
        let _held = revisions.hold_name(&found.name)?;
        let base = store
            .find(&request.image.key)?
            .ok_or_else(|| Error::ImageNotFound {
                key: request.image.key.clone(),
                store: Some(store.name().to_owned()),
            })?;
        if base.kind != Kind::Vm {
            return Err(Error::NotVm {
                name: base.name,
                kind: base.kind,
                action: "resized",
            });
        }
        let old_size = store.open_disk(&base)?.virtual_size();
        let new_size = request.new_size.next_multiple_of(512);
        if new_size < old_size {
            return Err(Error::Shrink {
                name: base.name,
                current: old_size,
                requested: new_size,
            });
        }
        if store.writable() == Some(false) {
            return Err(Error::ReadOnlyStore {
                store: store.name().to_owned(),
                path: store.path().to_owned(),
            });
        }
        let storing = Phase::Storing {
            store: store.name().to_owned(),
            name: base.name.clone(),
        };
        let added = in_phase(progress, storing, None, || {
            revisions.add_layer(&base, new_size, self.owner())
        })?;
        Ok(ResizeOutcome {
            image: added.image,
            base,
            old_size,
            new_size,
            layers: added.layers,
            digest: added.digest,
        })
    }
}
