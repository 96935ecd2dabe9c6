//! Container transports that are not files, for import and export: pushing to a registry
//! (`docker://`, through the [`RegistrySource`](crate::transport::RegistrySource) seam), and
//! a Docker daemon (`docker-daemon:`) through strata-oci's [`DockerDaemon`].
//!
//! A daemon moves docker-archives: an import streams `GET /images/{name}/get` into a temporary
//! file in the store's scratch directory (at most [`MAX_DAEMON_ARCHIVE`] bytes), then reads it
//! as any docker-archive; an export writes the image as a docker-archive there and posts it to
//! `/images/load`. The daemon is [`StrataOptions::docker_host`](crate::StrataOptions).
//!
//! A push reads the store's blobs as they are stored; each blob the registry lacks is reported
//! as a [`Phase::Blob`] when it is opened for upload, so a front end can say which blobs move,
//! and nothing for those the registry already has.

use std::io::{self, Read};
use std::path::{Path, PathBuf};

use strata_model::Digest;
use strata_model::spec::{ContainerTransport, DockerDaemonRef, RegistryRef};
use strata_oci::registry::Pushed;
use strata_oci::{BlobRead, DockerDaemon, Image, OciError};

use crate::app::Strata;
use crate::error::{Error, Result};
use crate::progress::{Phase, Progress, ProgressEvent};

/// Largest docker-archive read from a daemon (1 TiB, as a decompressed docker-archive).
pub(crate) const MAX_DAEMON_ARCHIVE: u64 = strata_oci::docker::MAX_DECOMPRESSED_ARCHIVE;

/// What a container export wrote.
#[derive(Debug)]
pub(crate) struct ContainerWritten {
    /// The file written, or the reference a remote destination was given as.
    pub(crate) path: PathBuf,
    /// What a push to a registry did.
    pub(crate) pushed: Option<Pushed>,
}

impl Strata {
    /// Pushes `image`, its blobs read from `src`, to the registry `reference`.
    pub(crate) fn push_container(
        &self,
        src: &dyn BlobRead,
        image: &Image,
        reference: &RegistryRef,
        transport: &ContainerTransport,
        progress: &dyn Progress,
    ) -> Result<ContainerWritten> {
        let path = PathBuf::from(transport.to_string());
        let Some(registry) = self.registry() else {
            return Err(Error::TransportUnavailable {
                transport: "docker",
            });
        };
        let src = Reporting {
            inner: src,
            progress,
        };
        let pushed =
            registry
                .push(&src, image, reference)
                .map_err(|error| Error::ContainerDestination {
                    path: path.clone(),
                    error: Box::new(error),
                })?;
        tracing::info!(
            manifest = %pushed.manifest_digest,
            uploaded = pushed.uploaded,
            skipped = pushed.skipped,
            mounted = pushed.mounted,
            "pushed {}",
            reference.reference()
        );
        Ok(ContainerWritten {
            path,
            pushed: Some(pushed),
        })
    }

    /// The daemon `docker-daemon:` references go to.
    fn docker_daemon(&self) -> std::result::Result<DockerDaemon, OciError> {
        DockerDaemon::from_host(self.docker_host())
    }

    /// Saves the image `r` names from the daemon into a temporary docker-archive in `scratch`
    /// (removed when the returned file is dropped).
    pub(crate) fn save_from_daemon(
        &self,
        scratch: &Path,
        r: &DockerDaemonRef,
    ) -> std::result::Result<tempfile::NamedTempFile, OciError> {
        let daemon = self.docker_daemon()?;
        let name = daemon_name(r);
        let mut file = tempfile::Builder::new()
            .prefix("daemon-")
            .suffix(".tar")
            .tempfile_in(scratch)
            .map_err(|e| OciError::from_io(scratch, "create temporary file", e))?;
        let bytes = daemon.save(&name, file.as_file_mut(), MAX_DAEMON_ARCHIVE)?;
        tracing::info!(bytes, socket = %daemon.socket().display(), "saved {name} from the daemon");
        Ok(file)
    }

    /// Writes `image`, its blobs read from `src`, as a docker-archive named as `r` says (in
    /// `scratch`) and loads it into the daemon.
    pub(crate) fn load_into_daemon(
        &self,
        src: &dyn BlobRead,
        image: &Image,
        r: &DockerDaemonRef,
        transport: &ContainerTransport,
        scratch: &Path,
        progress: &dyn Progress,
    ) -> Result<ContainerWritten> {
        let path = PathBuf::from(transport.to_string());
        let failed = |error: OciError| Error::ContainerDestination {
            path: path.clone(),
            error: Box::new(error),
        };
        // containers/image refuses the same (daemon_dest.go): the archive must name the image.
        let tag = match r.reference() {
            Some(reference) if reference.tag().is_some() && reference.digest().is_none() => {
                reference.to_string()
            }
            _ => {
                return Err(failed(OciError::InvalidRequest(format!(
                    "{transport}: a destination must be a name:tag"
                ))));
            }
        };
        let daemon = self.docker_daemon().map_err(failed)?;
        let dir = tempfile::Builder::new()
            .prefix("daemon-")
            .tempdir_in(scratch)
            .map_err(|e| failed(OciError::from_io(scratch, "create temporary directory", e)))?;
        let archive = dir.path().join("image.tar");
        crate::app::in_phase(
            progress,
            Phase::Writing { path: path.clone() },
            None,
            || {
                strata_oci::write_docker_archive(&archive, src, image, &[tag.as_str()])
                    .and_then(|()| daemon.load(&archive, &tag))
                    .map_err(failed)
            },
        )
        .map(|said| {
            tracing::info!(socket = %daemon.socket().display(), "{said}");
            ContainerWritten {
                path: path.clone(),
                pushed: None,
            }
        })
    }
}

/// The name the daemon knows an image by: its ID, or its reference in the familiar form
/// (`busybox:latest`), which Docker and podman both resolve (podman does not find an image
/// it holds as `localhost/x:y` by the normalised `docker.io/library/x:y`).
fn daemon_name(r: &DockerDaemonRef) -> String {
    match (r.image_id(), r.reference()) {
        (Some(id), _) => id.to_owned(),
        (None, Some(reference)) => reference.familiar_string(),
        (None, None) => String::new(),
    }
}

/// A blob store that reports each blob opened as a [`Phase::Blob`], its bytes as they are
/// read, and its end when the reader is dropped.
struct Reporting<'a> {
    inner: &'a dyn BlobRead,
    progress: &'a dyn Progress,
}

impl BlobRead for Reporting<'_> {
    fn open_blob(&self, digest: &Digest, size: u64) -> strata_oci::Result<Box<dyn Read + '_>> {
        let reader = self.inner.open_blob(digest, size)?;
        self.progress.event(&ProgressEvent::Started {
            phase: Phase::Blob {
                digest: Some(digest.clone()),
                size: Some(size),
            },
            total: Some(size),
        });
        Ok(Box::new(Reported {
            inner: reader,
            progress: self.progress,
            done: 0,
            reported: 0,
        }))
    }
}

/// A blob's stream that reports progress, and [`ProgressEvent::Finished`] when dropped.
struct Reported<'a> {
    inner: Box<dyn Read + 'a>,
    progress: &'a dyn Progress,
    done: u64,
    reported: u64,
}

impl Read for Reported<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.done += n as u64;
        if (n == 0 || self.done - self.reported >= 1 << 20) && self.done != self.reported {
            self.progress
                .event(&ProgressEvent::Advanced { done: self.done });
            self.reported = self.done;
        }
        Ok(n)
    }
}

impl Drop for Reported<'_> {
    fn drop(&mut self) {
        self.progress.event(&ProgressEvent::Finished);
    }
}
