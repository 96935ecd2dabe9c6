//! The seam for container transports that are not local files: a registry client
//! (`docker://`) plugs in here through [`RegistrySource`], given in
//! [`StrataOptions::registry`](crate::StrataOptions::registry): by default [`NativeRegistry`],
//! strata's own client; embedders may pass another (a mirror, a test double), or `None`, which
//! makes importing from or exporting to a registry
//! [`Error::TransportUnavailable`](crate::Error::TransportUnavailable)
//! ([`ErrorKind::Unsupported`](crate::ErrorKind::Unsupported)). Pushing is a provided method
//! of the same trait, so a source that only pulls (a read-only mirror) refuses exports with
//! [`OciError::Unsupported`] and needs no change.

use std::fmt;
use std::sync::{Arc, OnceLock};

use strata_model::spec::RegistryRef;
use strata_oci::registry::{PushOptions, Pushed};
use strata_oci::{BlobRead, Image, OciError, Platform, Registry, RegistryBlobs, RegistryOptions};

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

    /// Pushes `image`, its blobs read from `src`, to `reference` (by its tag or digest): the
    /// blobs the registry lacks, then the manifest. The default refuses: a source that only
    /// pulls.
    fn push(
        &self,
        src: &dyn BlobRead,
        image: &Image,
        reference: &RegistryRef,
    ) -> Result<Pushed, OciError> {
        let _ = (src, image);
        Err(OciError::Unsupported {
            what: format!("docker://{}", reference.reference()),
            reason: "this registry client does not push".to_owned(),
        })
    }
}

/// strata's own registry client ([`strata_oci::Registry`]) as a [`RegistrySource`]: https with
/// verified certificates, credentials from the usual auth files, retries with backoff. A
/// registry on the loopback interface (`localhost`, `127.0.0.0/8`, `::1`) may also be spoken to
/// without verified TLS (self-signed, or plain http), as Docker treats those registries as
/// insecure by default. The clients (each a small current-thread runtime) are made on first use.
#[derive(Debug, Default)]
pub struct NativeRegistry {
    options: RegistryOptions,
    client: OnceLock<Arc<Registry>>,
    loopback: OnceLock<Arc<Registry>>,
}

impl NativeRegistry {
    /// A source that connects with `options`.
    pub fn new(options: RegistryOptions) -> Self {
        NativeRegistry {
            options,
            client: OnceLock::new(),
            loopback: OnceLock::new(),
        }
    }

    /// The client for `registry` (a host, maybe with a port).
    fn client(&self, registry: &str) -> Result<Arc<Registry>, OciError> {
        let (cell, options) = if is_loopback(registry) {
            let options = RegistryOptions {
                tls_verify: false,
                ..self.options.clone()
            };
            (&self.loopback, options)
        } else {
            (&self.client, self.options.clone())
        };
        if let Some(client) = cell.get() {
            return Ok(Arc::clone(client));
        }
        let client = Arc::new(Registry::new(options)?);
        Ok(Arc::clone(cell.get_or_init(|| client)))
    }
}

/// Whether `registry` (`host`, `host:port`, `[v6]:port`) names the loopback interface.
pub(crate) fn is_loopback(registry: &str) -> bool {
    let host = match registry.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or(rest),
        None => registry.rsplit_once(':').map_or(registry, |(h, _)| h),
    };
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

impl RegistrySource for NativeRegistry {
    fn resolve(
        &self,
        reference: &RegistryRef,
        platform: &Platform,
    ) -> Result<RemoteImage, OciError> {
        let reference = strata_oci::RegistryRef::from_docker(reference.reference().clone())?;
        let client = self.client(reference.registry())?;
        let image = client.resolve(&reference, platform)?;
        Ok(RemoteImage {
            image,
            blobs: Box::new(RegistryBlobs::new(client, reference)),
        })
    }

    fn push(
        &self,
        src: &dyn BlobRead,
        image: &Image,
        reference: &RegistryRef,
    ) -> Result<Pushed, OciError> {
        let reference = strata_oci::RegistryRef::from_docker(reference.reference().clone())?;
        let client = self.client(reference.registry())?;
        client.push(src, image, &reference, &PushOptions::default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_registries() {
        for yes in [
            "localhost",
            "localhost:5000",
            "127.0.0.1:5000",
            "127.1.2.3",
            "[::1]:5000",
        ] {
            assert!(is_loopback(yes), "{yes}");
        }
        for no in [
            "docker.io",
            "10.0.0.1:5000",
            "[2001:db8::1]:443",
            "localhost.example",
        ] {
            assert!(!is_loopback(no), "{no}");
        }
    }
}
