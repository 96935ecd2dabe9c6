//! Container images through import and export: `oci:PATH[:NAME]`, `oci-archive:PATH[:NAME]`,
//! `docker-archive:PATH[:NAME:TAG|:@N]`, `docker://` through a
//! [`RegistrySource`](crate::transport::RegistrySource), `docker-daemon:`, `ostree:` and
//! `sif:PATH` (SIF or old `.simg`, read only), all read and written natively with strata-oci.
//!
//! An import hands the image and its blob source to the destination's
//! [`Containers::put_container`](crate::store::Containers::put_container): the blobs it lacks
//! are staged and verified while they stream, and moved in only when all are verified, then
//! the image is recorded, so a source with one bad blob leaves the store as it was. Blobs the
//! store already has are neither read nor written. Temporary files an import needs (a saved
//! daemon archive, an extracted OCI archive, a SIF's converted layer) go to the store's
//! scratch directory, held against gc for the whole import.

use std::io::{self, Read};
use std::path::PathBuf;

use strata_model::spec::{ContainerTransport, Format};
use strata_oci::{
    BlobRead, DockerArchive, Image, OciArchive, OciDir, OciError, Platform, Selector,
};

use crate::app::{Strata, in_phase};
use crate::error::{Error, Result};
use crate::ops::import::ImportOutcome;
use crate::ops::remote::ContainerWritten;
use crate::progress::{Phase, Progress, ProgressEvent, Warning};
use crate::store::{Containers, ImageSummary, NamePolicy, NewImage, Store, StoredContainer};

/// The platform an import takes from a multi-platform image: this machine's, with `arch`
/// (`ARCH` or `ARCH/VARIANT`) in place of its architecture when given.
pub(crate) fn platform_for(arch: Option<&str>) -> Result<Platform> {
    let host = Platform::host();
    let Some(text) = arch else {
        return Ok(host);
    };
    let bad = || Error::BadArch {
        text: text.to_owned(),
    };
    let (architecture, variant) = match text.split_once('/') {
        Some((a, v)) => (a, Some(v)),
        None => (text, None),
    };
    let valid = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    };
    if !valid(architecture) || variant.is_some_and(|v| !valid(v)) {
        return Err(bad());
    }
    Ok(Platform {
        architecture: architecture.to_owned(),
        variant: variant.map(str::to_owned),
        ..host
    })
}

/// The containers capability of `store`.
pub(crate) fn containers_of(store: &dyn Store) -> Result<&dyn Containers> {
    store.containers().ok_or_else(|| Error::NotCapable {
        store: store.name().to_owned(),
        what: "container images",
    })
}

impl Strata {
    /// The container half of [`Strata::import`]: the architecture, the name policy, the
    /// transport, then the image stored; with a cache configured, its bundle is then extracted
    /// into it. A failure there (a layer that would escape its root, a full disk) is
    /// [`Warning::CacheNotPopulated`], not an error, since the image is stored.
    pub(crate) fn import_container(
        &self,
        dest: &dyn Store,
        name: &str,
        transport: ContainerTransport,
        policy: NamePolicy,
        arch: Option<&str>,
        progress: &dyn Progress,
    ) -> Result<ImportOutcome> {
        let platform = platform_for(arch)?;
        let mut warnings = self.check_new_name(dest, name, policy, progress)?;
        let containers = containers_of(dest)?;
        if let ContainerTransport::Docker(_) = transport
            && self.registry().is_none()
        {
            return Err(Error::TransportUnavailable {
                transport: "docker",
            });
        }
        let storing = Phase::Storing {
            store: dest.name().to_owned(),
            name: name.to_owned(),
        };
        let new = self.new_image(name, policy);
        let stored = in_phase(progress, storing, None, || {
            self.store_container(containers, &new, &transport, &platform, progress)
        })?;
        if let Some(options) = self.cache_options() {
            // The squashfs driver caches a squashfs of the bundle too.
            let populated = self.cache().and_then(|cache| {
                let record = match dest.revisions() {
                    Some(revisions) => revisions.record(&stored.image)?,
                    None => return Ok(()),
                };
                match options.driver {
                    strata_store::ImageDriver::Flat => cache.hold_bundle(containers, &record),
                    strata_store::ImageDriver::Squashfs => cache.hold_squashfs(containers, &record),
                }?;
                Ok(())
            });
            if let Err(e) = populated {
                let warning = Warning::CacheNotPopulated {
                    name: name.to_owned(),
                    message: e.to_string(),
                };
                progress.event(&ProgressEvent::Warning(warning.clone()));
                warnings.push(warning);
            }
        }
        let size = stored.blobs.iter().map(|b| b.size).sum();
        Ok(ImportOutcome {
            image: stored.image,
            source_format: Format::Container(transport.format()),
            virtual_size: 0,
            digest: Some(stored.manifest),
            stored_size: size,
            deduplicated: stored
                .blobs
                .iter()
                .all(|b| b.method == strata_store::CopyMethod::Existing),
            blobs: stored.blobs,
            bytes_read: stored.bytes_written,
            bytes_written: stored.bytes_written,
            warnings,
        })
    }

    /// Reads the image `transport` names and stores it in `containers` as `new`.
    fn store_container(
        &self,
        containers: &dyn Containers,
        new: &NewImage,
        transport: &ContainerTransport,
        platform: &Platform,
        progress: &dyn Progress,
    ) -> Result<StoredContainer> {
        let failed = |error: OciError| Error::ContainerSource {
            from: transport.to_string(),
            error: Box::new(error),
        };
        let put = |src: &dyn BlobRead, image: &Image| {
            let src = Cancellable {
                inner: src,
                cancel: self.cancel(),
            };
            containers
                .put_container(new, &src, image, progress)
                .map_err(|e| match e {
                    Error::Oci(e) => failed(*e),
                    Error::Store(strata_store::StoreError::Oci(e)) => failed(e),
                    other => other,
                })
        };
        let scratch = containers.scratch()?;
        match transport {
            ContainerTransport::Oci(r) => {
                let dir = OciDir::open(r.path()).map_err(failed)?;
                let image = dir
                    .resolve(&Selector::for_oci(r), platform)
                    .map_err(failed)?;
                put(&dir, &image)
            }
            ContainerTransport::OciArchive(r) => {
                let archive = OciArchive::open_in(r.path(), &scratch.path).map_err(failed)?;
                let image = archive
                    .resolve(&Selector::for_oci_archive(r), platform)
                    .map_err(failed)?;
                put(&archive, &image)
            }
            ContainerTransport::DockerArchive(r) => {
                let archive = DockerArchive::open(r.path()).map_err(failed)?;
                let resolved = archive
                    .resolve(&Selector::for_docker_archive(r), platform)
                    .map_err(failed)?;
                let image = resolved.image.clone();
                put(&resolved, &image)
            }
            ContainerTransport::Docker(r) => {
                let Some(registry) = self.registry() else {
                    return Err(Error::TransportUnavailable {
                        transport: "docker",
                    });
                };
                let remote = registry.resolve(r, platform).map_err(failed)?;
                put(&*remote.blobs, &remote.image)
            }
            ContainerTransport::DockerDaemon(r) => {
                let saved = self.save_from_daemon(&scratch.path, r).map_err(failed)?;
                let archive = DockerArchive::open(saved.path()).map_err(failed)?;
                let resolved = archive.resolve(&Selector::Only, platform).map_err(failed)?;
                let image = resolved.image.clone();
                put(&resolved, &image)
            }
            ContainerTransport::Ostree(r) => {
                let ostree = checkout_ostree(&scratch.path, r).map_err(failed)?;
                put(&ostree.layout, &ostree.image)
            }
            ContainerTransport::Sif(path) => {
                let sif = strata_oci::SifImage::open_in(path, &scratch.path).map_err(failed)?;
                let image = sif.image.clone();
                put(&sif, &image)
            }
            other => Err(Error::TransportUnavailable {
                transport: other.format().name(),
            }),
        }
    }

    /// Writes the container image `image` of `store` to `transport` (named `default_name` when
    /// the reference names nothing); returns the path written (or the reference pushed to).
    pub(crate) fn write_container(
        &self,
        store: &dyn Store,
        image: &ImageSummary,
        transport: &ContainerTransport,
        default_name: Option<&str>,
        progress: &dyn Progress,
    ) -> Result<ContainerWritten> {
        let containers = containers_of(store)?;
        let oci = containers.container_image(image, &Platform::host())?;
        let src: &dyn BlobRead = containers;
        let write = |path: &PathBuf, body: &dyn Fn() -> std::result::Result<(), OciError>| {
            in_phase(
                progress,
                Phase::Writing { path: path.clone() },
                None,
                || {
                    body().map_err(|error| Error::ContainerDestination {
                        path: path.clone(),
                        error: Box::new(error),
                    })
                },
            )
        };
        let path = match transport {
            ContainerTransport::Oci(r) => {
                let path = PathBuf::from(r.path());
                let name = r.image().or(default_name);
                write(&path, &|| {
                    OciDir::create(&path)?.write_image(src, &oci, name)
                })?;
                path
            }
            ContainerTransport::OciArchive(r) => {
                let path = PathBuf::from(r.path());
                let name = r.image().or(default_name);
                write(&path, &|| {
                    strata_oci::write_oci_archive(&path, src, &oci, name)
                })?;
                path
            }
            ContainerTransport::DockerArchive(r) => {
                if r.source_index().is_some() {
                    return Err(Error::BadDestination {
                        path: PathBuf::from(transport.to_string()),
                    });
                }
                let path = PathBuf::from(r.path());
                let tag = r
                    .reference()
                    .map(ToString::to_string)
                    .or(default_name.map(str::to_owned));
                let tags: Vec<&str> = tag.as_deref().into_iter().collect();
                write(&path, &|| {
                    strata_oci::write_docker_archive(&path, src, &oci, &tags)
                })?;
                path
            }
            ContainerTransport::Docker(r) => {
                return self.push_container(src, &oci, r, transport, progress);
            }
            ContainerTransport::DockerDaemon(r) => {
                let scratch = containers.scratch()?;
                return self.load_into_daemon(src, &oci, r, transport, &scratch.path, progress);
            }
            ContainerTransport::Ostree(_) | ContainerTransport::Sif(_) => {
                return Err(Error::ExportNotSupported {
                    transport: transport.format().name(),
                });
            }
            other => {
                return Err(Error::TransportUnavailable {
                    transport: other.format().name(),
                });
            }
        };
        Ok(ContainerWritten { path, pushed: None })
    }
}

/// Checks out the commit `r` names and makes it a one-layer image, in `scratch`.
///
/// The OSTree ref is the image as written without its tag: `ostree:exampleos/x86_64@/repo`
/// reads the ref `exampleos/x86_64` (the transport's syntax adds `:latest` to a bare name;
/// OSTree refs have no tags). A tag other than `latest`, or a digest, is refused.
fn checkout_ostree(
    scratch: &std::path::Path,
    r: &strata_model::spec::OstreeRef,
) -> std::result::Result<strata_oci::ostree::OstreeImage, OciError> {
    let reference = r.reference();
    let branch = match (reference.tag(), reference.digest()) {
        (Some("latest"), None) => r.image().strip_suffix(":latest").unwrap_or(r.image()),
        _ => {
            return Err(OciError::InvalidRequest(format!(
                "ostree:{}: an OSTree ref has no tag or digest; name the ref alone",
                r.image()
            )));
        }
    };
    strata_oci::ostree::import_commit(std::path::Path::new(r.repo()), branch, scratch)
}

/// A blob source whose streams fail as soon as the caller's cancel flag is set (then the blob
/// being staged, and every one staged before it, is removed, and nothing is recorded).
struct Cancellable<'a> {
    inner: &'a dyn BlobRead,
    cancel: Option<&'a strata_disk::Cancel>,
}

impl BlobRead for Cancellable<'_> {
    fn open_blob(
        &self,
        digest: &strata_model::Digest,
        size: u64,
    ) -> strata_oci::Result<Box<dyn Read + '_>> {
        let inner = self.inner.open_blob(digest, size)?;
        Ok(match self.cancel {
            Some(cancel) => Box::new(CancellableRead { inner, cancel }),
            None => inner,
        })
    }
}

/// A stream that fails once the flag is set.
struct CancellableRead<'a> {
    inner: Box<dyn Read + 'a>,
    cancel: &'a strata_disk::Cancel,
}

impl Read for CancellableRead<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.cancel.is_cancelled() {
            // Not `ErrorKind::Interrupted`: readers retry that one (EINTR).
            return Err(io::Error::other("cancelled"));
        }
        self.inner.read(buf)
    }
}

/// A reader that reports the bytes it yields as `Advanced` events, at most every 1 MiB.
pub(crate) struct Counting<'a, R> {
    inner: R,
    progress: &'a dyn Progress,
    done: u64,
    reported: u64,
}

impl<'a, R> Counting<'a, R> {
    pub(crate) fn new(inner: R, progress: &'a dyn Progress) -> Self {
        Counting {
            inner,
            progress,
            done: 0,
            reported: 0,
        }
    }
}

impl<R: Read> Read for Counting<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.done += n as u64;
        if n == 0 || self.done - self.reported >= 1 << 20 {
            if self.done != self.reported {
                self.progress
                    .event(&ProgressEvent::Advanced { done: self.done });
            }
            self.reported = self.done;
        }
        Ok(n)
    }
}
