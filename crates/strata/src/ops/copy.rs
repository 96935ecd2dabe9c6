//! [`Strata::copy`]: one image (one revision of it) becomes a new image, in the same or
//! another store, sharing or linking its layers where both stores keep layers, converted
//! otherwise.

use crate::app::{Strata, in_phase};
use crate::error::{Error, Result};
use crate::ops::import::store_disk;
use crate::progress::{Phase, Progress, ProgressEvent, Warning};
use crate::store::{ImageLocator, ImageSummary, LayerCopy, NamePolicy, NewImageTarget};

/// Copy the image `src` as a new image `dest`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyRequest {
    /// The image (and revision) to copy.
    pub src: ImageLocator,
    /// The new image.
    pub dest: NewImageTarget,
    /// What an existing name means.
    pub policy: NamePolicy,
}

/// What `copy` did.
#[derive(Debug, Clone, PartialEq)]
pub struct CopyOutcome {
    /// The image copied.
    pub source: ImageSummary,
    /// The new image.
    pub image: ImageSummary,
    /// How each layer reached the destination, in order (empty when the image was converted
    /// between stores that do not share layers).
    pub layers: Vec<LayerCopy>,
    /// The warnings that were also sent as progress events.
    pub warnings: Vec<Warning>,
}

impl Strata {
    /// Copies an image.
    ///
    /// - The source is found as `request.src` says; the destination store is the one named,
    ///   else the default one (not the source's); the name policy is applied as for
    ///   [`Strata::import`].
    /// - Between stores with revisions, every layer of the revision is put with its known
    ///   digest: nothing is read or written for a layer the destination has (within one store,
    ///   nothing at all), otherwise it is hard-linked (same filesystem), reflinked or
    ///   sparse-copied, and rehashed. The new image keeps the source's kind and stored
    ///   metadata, with this owner and the current time.
    /// - Otherwise a VM image is converted into the destination's format (as an import of the
    ///   flattened image); a container image needs both stores to keep layers
    ///   ([`Error::NotCapable`]).
    ///
    /// Progress: `Started{Copying}` with the total size of the layers, `Advanced` after each
    /// layer, `Finished`.
    pub fn copy(&self, request: CopyRequest, progress: &dyn Progress) -> Result<CopyOutcome> {
        self.copy_unchecked(request, progress)
            .map_err(|e| self.interrupted_or(e))
    }

    /// [`Strata::copy`], its errors not yet checked for an interruption.
    fn copy_unchecked(&self, request: CopyRequest, progress: &dyn Progress) -> Result<CopyOutcome> {
        let (src_store, source) = self.find(&request.src)?;
        let dest = self.store(request.dest.store.as_deref())?;
        let name = request.dest.name.as_str();
        let warnings = self.check_new_name(dest, name, request.policy, progress)?;
        let new = self.new_image(name, request.policy);
        if let (Some(from), Some(to)) = (src_store.revisions(), dest.revisions()) {
            let record = from.record(&source)?;
            // A remote store knows the sizes without making its layers local.
            let total = match src_store.known_sizes(&source)? {
                Some(known) => known.stored,
                None => src_store.layers(&source)?.iter().map(|l| l.size).sum(),
            };
            let copied = in_phase(progress, Phase::Copying, Some(total), || {
                to.copy_revision(from, &record, &new, &|done| {
                    progress.event(&ProgressEvent::Advanced { done });
                })
            })?;
            return Ok(CopyOutcome {
                source,
                image: copied.image,
                layers: copied.layers,
                warnings,
            });
        }
        if source.kind != strata_model::Kind::Vm {
            return Err(Error::NotCapable {
                store: dest.name().to_owned(),
                what: "layers shared with other stores (container images)",
            });
        }
        let disk = src_store.open_disk(&source)?;
        let (stored, _) = store_disk(dest, &new, &*disk, &self.convert_options(), progress)?;
        Ok(CopyOutcome {
            source,
            image: stored.image,
            layers: Vec::new(),
            warnings,
        })
    }
}
