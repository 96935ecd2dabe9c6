//! Container transports that are not files, for import and export: pushing to a registry
//! (`docker://`, through the [`RegistrySource`](crate::transport::RegistrySource) seam), and
//! a Docker daemon (`docker-daemon:`, `pcocc-docker-daemon:`) through strata-oci's
//! [`DockerDaemon`].
//!
//! `ostree:REF@/repo` imports the commit REF names as a one-layer image
//! ([`strata_oci::ostree`]); exporting to OSTree is refused.
//!
//! A daemon moves docker-archives: an import streams `GET /images/{name}/get` into a temporary
//! file in the repository's `.tmp/` (at most [`MAX_DAEMON_ARCHIVE`] bytes), then reads it as any
//! docker-archive; an export writes the image as a docker-archive there and posts it to
//! `/images/load`. The daemon is [`StrataOptions::docker_host`](crate::StrataOptions), else
//! `DOCKER_HOST`, else `/var/run/docker.sock`.
//!
//! A push reads the repository's blobs as they are stored (the repository is a
//! [`BlobRead`]); each blob the registry lacks is reported as a [`Phase::Blob`] when it is
//! opened for upload, so a front end prints skopeo's `Copying blob` line for the blobs that
//! move, and nothing for those the registry already has.

use std::io::{self, Read};
use std::path::PathBuf;

use strata_model::Digest;
use strata_model::spec::{DockerDaemonRef, ImageSpec, OstreeRef, RegistryRef};
use strata_oci::registry::Pushed;
use strata_oci::{BlobRead, DockerDaemon, Image, OciError};
use strata_store::Repository;

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
    /// Pushes `image` from `repo` to the registry `reference`.
    pub(crate) fn push_container(
        &self,
        repo: &Repository,
        image: &Image,
        reference: &RegistryRef,
        spec: &ImageSpec,
        progress: &dyn Progress,
    ) -> Result<ContainerWritten> {
        let path = PathBuf::from(format!("{}:{}", spec.format, spec.path));
        let Some(registry) = self.registry() else {
            return Err(Error::TransportUnavailable {
                transport: "docker",
            });
        };
        let src = Reporting {
            inner: repo,
            progress,
        };
        let pushed = registry.push(&src, image, reference).map_err(|error| {
            Error::ContainerExportFailed {
                path: path.clone(),
                error: Box::new(error),
            }
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
}

impl Strata {
    /// The daemon `docker-daemon:` references go to.
    fn docker_daemon(&self) -> std::result::Result<DockerDaemon, OciError> {
        DockerDaemon::from_host(&self.docker_host())
    }

    /// Saves the image `r` names from the daemon into a temporary docker-archive in `repo`'s
    /// `.tmp/` (removed when the returned file is dropped).
    pub(crate) fn save_from_daemon(
        &self,
        repo: &Repository,
        r: &DockerDaemonRef,
    ) -> std::result::Result<tempfile::NamedTempFile, OciError> {
        let daemon = self.docker_daemon()?;
        let name = daemon_name(r);
        let tmp_dir = repo.tmp_dir();
        let mut file = tempfile::Builder::new()
            .prefix("daemon-")
            .suffix(".tar")
            .tempfile_in(&tmp_dir)
            .map_err(|e| OciError::from_io(&tmp_dir, "create temporary file", e))?;
        let bytes = daemon.save(&name, file.as_file_mut(), MAX_DAEMON_ARCHIVE)?;
        tracing::info!(bytes, socket = %daemon.socket().display(), "saved {name} from the daemon");
        Ok(file)
    }

    /// Writes `image` from `repo` as a docker-archive named as `r` says and loads it into the
    /// daemon.
    pub(crate) fn load_into_daemon(
        &self,
        repo: &Repository,
        image: &Image,
        r: &DockerDaemonRef,
        spec: &ImageSpec,
        progress: &dyn Progress,
    ) -> Result<ContainerWritten> {
        let path = PathBuf::from(format!("{}:{}", spec.format, spec.path));
        let failed = |error: OciError| Error::ContainerExportFailed {
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
                    "docker-daemon:{}: a destination must be a name:tag",
                    spec.path
                ))));
            }
        };
        let daemon = self.docker_daemon().map_err(failed)?;
        let tmp_dir = repo.tmp_dir();
        let dir = tempfile::Builder::new()
            .prefix("daemon-")
            .tempdir_in(&tmp_dir)
            .map_err(|e| failed(OciError::from_io(&tmp_dir, "create temporary directory", e)))?;
        let archive = dir.path().join("image.tar");
        crate::app::in_phase(
            progress,
            Phase::Writing { path: path.clone() },
            None,
            || {
                strata_oci::write_docker_archive(&archive, repo, image, &[tag.as_str()])
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

impl Strata {
    /// Checks out the commit `r` names and makes it a one-layer image, in `repo`'s `.tmp/`.
    ///
    /// The OSTree ref is the image as written without its tag: `ostree:exampleos/x86_64@/repo`
    /// reads the ref `exampleos/x86_64` (the transport's syntax adds `:latest` to a bare name;
    /// OSTree refs have no tags). A tag other than `latest`, or a digest, is refused.
    pub(crate) fn checkout_ostree(
        &self,
        repo: &Repository,
        r: &OstreeRef,
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
        strata_oci::ostree::import_commit(&self.expand_user(r.repo()), branch, &repo.tmp_dir())
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
