//! The seam for container transports that are not local files: a registry client
//! (`docker://`) plugs in here through [`RegistrySource`], given in
//! [`StrataOptions::registry`](crate::StrataOptions::registry). Without one, importing from a
//! registry is [`Error::TransportUnavailable`](crate::Error::TransportUnavailable)
//! ([`ErrorKind::Unsupported`](crate::ErrorKind::Unsupported)).

use std::fmt;

use strata_model::spec::RegistryRef;
use strata_oci::{BlobRead, Image, OciError, Platform};

/// An image resolved in a registry: its manifest and config, and where its blobs are read from
/// (each verified while it streams, as every [`BlobRead`] does).
pub struct RemoteImage {
    /// The image (manifest as the registry serves it, config, diff_ids).
    pub image: Image,
    /// The registry's blobs, authenticated as the reference needs.
    pub blobs: Box<dyn BlobRead + Send>,
}

impl fmt::Debug for RemoteImage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteImage")
            .field("image", &self.image.manifest_descriptor)
            .finish_non_exhaustive()
    }
}

/// A client of the distribution API: resolves `docker://` references to images.
pub trait RegistrySource: Send + Sync + fmt::Debug {
    /// Resolves `reference` (a tag or a digest; an index is resolved for `platform`).
    fn resolve(
        &self,
        reference: &RegistryRef,
        platform: &Platform,
    ) -> Result<RemoteImage, OciError>;
}
