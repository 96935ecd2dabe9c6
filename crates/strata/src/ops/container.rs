//! Container images through import and export: sources and destinations `oci:PATH[:NAME]`,
//! `oci-archive:PATH[:NAME]`, `docker-archive:PATH[:NAME:TAG|:@N]`, and `docker://` through a
//! [`RegistrySource`](crate::transport::RegistrySource), all read and written natively with
//! strata-oci (pcocc runs `skopeo copy`); `sif:PATH` (SIF or old `.simg`) is read only, as in
//! pcocc, converted to a one-layer image in the repository's `.tmp/` first.
//!
//! An import stages every blob the repository lacks in its `.tmp/`, each verified against its
//! digest and size while it streams, and moves them into `data/` only when all are verified,
//! then commits the record: a source with one bad blob leaves the repository as it was. Blobs
//! the repository already has are neither read nor written.

use std::io::{self, Read};
use std::path::{Path, PathBuf};

use strata_model::Kind;
use strata_model::spec::{
    ContainerFormat, ContainerTransport, Format, ImageSpec, Origin, Resolved,
};
use strata_oci::image::expected_of;
use strata_oci::{
    BlobRead, DockerArchive, Expected, Image, OciArchive, OciDir, OciError, Platform, Selector,
};
use strata_store::{CopyMethod, Repository, StoreError, Writer};

use crate::app::Strata;
use crate::error::{Error, Result};
use crate::ops::copy::BlobCopy;
use crate::ops::remote::ContainerWritten;
use crate::progress::{Phase, Progress, ProgressEvent};

/// pcocc's format guess, plus `oci-archive`, which pcocc does not know but strata reads and
/// writes: an `oci-archive:` prefix (any case) or `-t oci-archive` settles it.
pub(crate) fn guess_with_oci_archive(
    text: &str,
    type_option: Option<&str>,
    kind: Option<Kind>,
) -> Result<Option<Resolved>> {
    const NAME: &str = "oci-archive";
    let typed = type_option.map(str::to_lowercase);
    let prefixed = text
        .split_once(':')
        .filter(|(p, _)| p.eq_ignore_ascii_case(NAME))
        .map(|(_, rest)| rest);
    let (path, origin) = match (prefixed, typed.as_deref()) {
        (Some(rest), None | Some(NAME)) => (rest, Origin::Prefix),
        (Some(_), Some(other)) => {
            return Err(strata_model::spec::SpecError::PrefixMismatch {
                specified: other.to_owned(),
                prefix: NAME.to_owned(),
            }
            .into());
        }
        (None, Some(NAME)) => (text, Origin::TypeOption),
        (None, _) => return Ok(None),
    };
    if kind == Some(Kind::Vm) {
        return Err(strata_model::spec::SpecError::WrongKind {
            format: Format::Container(ContainerFormat::OciArchive),
            kind: Kind::Vm,
        }
        .into());
    }
    Ok(Some(Resolved {
        spec: ImageSpec {
            format: Format::Container(ContainerFormat::OciArchive),
            path: path.to_owned(),
        },
        origin,
    }))
}

/// The containers-transports reference of a container spec.
pub(crate) fn transport_of(spec: &ImageSpec) -> Result<ContainerTransport> {
    let transport = spec
        .to_transport(None)
        .map_err(|error| Error::BadTransport {
            text: spec.to_string(),
            error,
        })?;
    transport.ok_or(Error::TransportUnavailable {
        transport: spec.format.name(),
    })
}

/// What a container import stored.
#[derive(Debug)]
pub(crate) struct StoredContainer {
    pub(crate) record: strata_model::RevisionRecord,
    pub(crate) blobs: Vec<BlobCopy>,
    pub(crate) bytes_written: u64,
}

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

impl Strata {
    /// Reads the image `spec` names and stores it as revision 0 of `name` in `repo`, holding
    /// `writer` (see the module documentation).
    pub(crate) fn store_container(
        &self,
        repo: &Repository,
        writer: &Writer<'_>,
        name: &str,
        spec: &ImageSpec,
        platform: &Platform,
        progress: &dyn Progress,
    ) -> Result<StoredContainer> {
        let failed = |error: OciError| Error::ContainerImportFailed {
            path: spec.path.clone(),
            error: Box::new(error),
        };
        match transport_of(spec)? {
            ContainerTransport::Oci(r) => {
                let dir = OciDir::open(self.expand_user(r.path())).map_err(failed)?;
                let image = dir
                    .resolve(&Selector::for_oci(&r), platform)
                    .map_err(failed)?;
                self.put_container(repo, writer, name, &dir, &image, &spec.path, progress)
            }
            ContainerTransport::OciArchive(r) => {
                let archive = OciArchive::open_in(self.expand_user(r.path()), &repo.tmp_dir())
                    .map_err(failed)?;
                let image = archive
                    .resolve(&Selector::for_oci_archive(&r), platform)
                    .map_err(failed)?;
                self.put_container(repo, writer, name, &archive, &image, &spec.path, progress)
            }
            ContainerTransport::DockerArchive(r) => {
                let archive = DockerArchive::open(self.expand_user(r.path())).map_err(failed)?;
                let resolved = archive
                    .resolve(&Selector::for_docker_archive(&r), platform)
                    .map_err(failed)?;
                let image = resolved.image.clone();
                self.put_container(repo, writer, name, &resolved, &image, &spec.path, progress)
            }
            ContainerTransport::Docker(r) => {
                let Some(registry) = self.registry() else {
                    return Err(Error::TransportUnavailable {
                        transport: "docker",
                    });
                };
                let remote = registry.resolve(&r, platform).map_err(failed)?;
                self.put_container(
                    repo,
                    writer,
                    name,
                    &*remote.blobs,
                    &remote.image,
                    &spec.path,
                    progress,
                )
            }
            ContainerTransport::DockerDaemon(r) => {
                let saved = self.save_from_daemon(repo, &r).map_err(failed)?;
                let archive = DockerArchive::open(saved.path()).map_err(failed)?;
                let resolved = archive.resolve(&Selector::Only, platform).map_err(failed)?;
                let image = resolved.image.clone();
                self.put_container(repo, writer, name, &resolved, &image, &spec.path, progress)
            }
            ContainerTransport::Ostree(r) => {
                let ostree = self.checkout_ostree(repo, &r).map_err(failed)?;
                self.put_container(
                    repo,
                    writer,
                    name,
                    &ostree.layout,
                    &ostree.image,
                    &spec.path,
                    progress,
                )
            }
            ContainerTransport::Sif(path) => {
                let sif = strata_oci::SifImage::open_in(self.expand_user(&path), &repo.tmp_dir())
                    .map_err(failed)?;
                let image = sif.image.clone();
                self.put_container(repo, writer, name, &sif, &image, &spec.path, progress)
            }
            _ => Err(Error::TransportUnavailable {
                transport: spec.format.name(),
            }),
        }
    }

    /// Stages the blobs of `image` that `repo` lacks, from `src`, installs them, and commits
    /// revision 0 of `name`.
    #[allow(
        clippy::too_many_arguments,
        reason = "one private helper of store_container, called once per transport"
    )]
    fn put_container(
        &self,
        repo: &Repository,
        writer: &Writer<'_>,
        name: &str,
        src: &dyn BlobRead,
        image: &Image,
        source: &str,
        progress: &dyn Progress,
    ) -> Result<StoredContainer> {
        let failed = |error: OciError| Error::ContainerImportFailed {
            path: source.to_owned(),
            error: Box::new(error),
        };
        let manifest = expected_of(&image.manifest_descriptor, "manifest").map_err(failed)?;
        let mut wanted: Vec<Expected> = Vec::new();
        for desc in std::iter::once(image.config()).chain(image.layers()) {
            let exp = expected_of(desc, "descriptor").map_err(failed)?;
            if !wanted.iter().any(|w| w.digest == exp.digest) {
                wanted.push(exp);
            }
        }
        if !wanted.iter().any(|w| w.digest == manifest.digest) {
            wanted.push(manifest.clone());
        }
        let mut staged = Vec::new();
        let mut blobs = Vec::new();
        let mut bytes_written = 0u64;
        for exp in &wanted {
            if repo.has_blob(&exp.digest) {
                blobs.push(BlobCopy {
                    digest: exp.digest.clone(),
                    size: exp.size,
                    method: CopyMethod::Existing,
                });
                continue;
            }
            let phase = Phase::Blob {
                digest: Some(exp.digest.clone()),
                size: Some(exp.size),
            };
            progress.event(&ProgressEvent::Started {
                phase,
                total: Some(exp.size),
            });
            let result = (|| {
                let reader: Box<dyn Read + '_> = if exp.digest == manifest.digest {
                    // A docker-archive's manifest is made in memory: take the bytes held.
                    Box::new(&image.manifest_bytes[..])
                } else {
                    src.open_blob(&exp.digest, exp.size).map_err(failed)?
                };
                let mut counting = Counting::new(reader, progress);
                writer
                    .stage_blob(&mut counting, Some(exp))
                    .map_err(|e| match e {
                        StoreError::Oci(e) => failed(e),
                        other => Error::from(other),
                    })
            })();
            progress.event(&ProgressEvent::Finished);
            let blob = result?;
            bytes_written += blob.size();
            blobs.push(BlobCopy {
                digest: exp.digest.clone(),
                size: exp.size,
                method: CopyMethod::SparseCopy,
            });
            staged.push(blob);
        }
        for blob in staged {
            writer.install_staged(blob)?;
        }
        let record =
            strata_store::container_record(name, 0, self.owner(), crate::app::now(), image)
                .map_err(failed)?;
        writer.commit(&record)?;
        Ok(StoredContainer {
            record,
            blobs,
            bytes_written,
        })
    }

    /// Writes the container revision `record` of `repo` to the destination `spec`; returns the
    /// path written (or the reference pushed to).
    pub(crate) fn write_container(
        &self,
        repo: &Repository,
        record: &strata_model::RevisionRecord,
        spec: &ImageSpec,
        progress: &dyn Progress,
    ) -> Result<ContainerWritten> {
        let image = repo.container_image(record, &Platform::host())?;
        let transport = transport_of(spec)?;
        let (path, phase_path): (PathBuf, PathBuf);
        let write = |path: &Path, body: &dyn Fn() -> std::result::Result<(), OciError>| {
            crate::app::in_phase(
                progress,
                Phase::Writing {
                    path: path.to_owned(),
                },
                None,
                || {
                    body().map_err(|error| Error::ContainerExportFailed {
                        path: path.to_owned(),
                        error: Box::new(error),
                    })
                },
            )
        };
        match transport {
            ContainerTransport::Oci(r) => {
                path = self.expand_user(r.path());
                phase_path = path.clone();
                let name = r.image().unwrap_or(strata_store::PCOCC_REF_NAME).to_owned();
                write(&phase_path, &|| {
                    OciDir::create(&path)?.write_image(repo, &image, Some(&name))
                })?;
            }
            ContainerTransport::OciArchive(r) => {
                path = self.expand_user(r.path());
                phase_path = path.clone();
                let name = r.image().unwrap_or(strata_store::PCOCC_REF_NAME).to_owned();
                write(&phase_path, &|| {
                    strata_oci::write_oci_archive(&path, repo, &image, Some(&name))
                })?;
            }
            ContainerTransport::DockerArchive(r) => {
                if r.source_index().is_some() {
                    return Err(Error::BadDestination {
                        path: PathBuf::from(spec.path.clone()),
                    });
                }
                path = self.expand_user(r.path());
                phase_path = path.clone();
                // pcocc writes `docker-archive:DST:latest`, which names the image latest:latest.
                let tag = r
                    .reference()
                    .map_or_else(|| "latest:latest".to_owned(), ToString::to_string);
                write(&phase_path, &|| {
                    strata_oci::write_docker_archive(&path, repo, &image, &[tag.as_str()])
                })?;
            }
            ContainerTransport::Docker(r) => {
                return self.push_container(repo, &image, &r, spec, progress);
            }
            ContainerTransport::DockerDaemon(r) => {
                return self.load_into_daemon(repo, &image, &r, spec, progress);
            }
            // pcocc imports from sif and ostree and exports to neither; nor does strata.
            ContainerTransport::Ostree(_) | ContainerTransport::Sif(_) => {
                return Err(Error::ExportNotSupported {
                    transport: spec.format.name(),
                });
            }
            _ => {
                return Err(Error::TransportUnavailable {
                    transport: spec.format.name(),
                });
            }
        }
        Ok(ContainerWritten { path, pushed: None })
    }
}

/// A reader that reports the bytes it yields as `Advanced` events, at most every 1 MiB.
struct Counting<'a, R> {
    inner: R,
    progress: &'a dyn Progress,
    done: u64,
    reported: u64,
}

impl<'a, R> Counting<'a, R> {
    fn new(inner: R, progress: &'a dyn Progress) -> Self {
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
