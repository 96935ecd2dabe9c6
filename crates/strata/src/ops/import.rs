//! [`Strata::import`] (`image import [-t FMT] SRC DST`): a disk image file becomes revision 0
//! of a new image, converted natively into one flattened qcow2 layer; a container image
//! (`oci:`, `oci-archive:`, `docker-archive:`, `docker://`) becomes one with its OCI blobs
//! (see [`container`](super::container)).

use std::fs::File;
use std::path::{Path, PathBuf};

use strata_disk::qcow2::writer::{CreateOptions, Qcow2Target};
use strata_disk::{ConvertOptions, OpenOptions};
use strata_model::spec::{Format, Guess, Origin, Probe, Resolved};
use strata_model::{Digest, DiskFormat, ImageRef, Kind, RevisionRecord};

use crate::app::{Strata, ensure_writable, in_phase, now};
use crate::error::{Error, Result};
use crate::ops::query::ImageSummary;
use crate::progress::{Phase, Progress, ProgressEvent, Warning};

/// `image import [-t FMT] [FORMAT:]SRC DST`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportRequest {
    /// The source as the user wrote it: a path, maybe with a `FORMAT:` prefix (`raw:disk`);
    /// a leading `~` is expanded as Python's `expanduser`.
    pub source: String,
    /// The `-t` option.
    pub format: Option<String>,
    /// The new image: `[REPO:]NAME` (without a repository, the default one; a revision is
    /// ignored, as in pcocc: an import creates revision 0).
    pub dest: ImageRef,
    /// The architecture to take from a multi-platform container image, `ARCH` or
    /// `ARCH/VARIANT` (`arm64/v8`); `None`: this machine's. VM images ignore it.
    pub arch: Option<String>,
}

/// What `import` did.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportOutcome {
    /// The new image (revision 0).
    pub image: ImageSummary,
    /// The source's format.
    pub source_format: Format,
    /// What settled the source's format.
    pub origin: Origin,
    /// The source file (prefix removed, `~` expanded).
    pub source_path: PathBuf,
    /// The source's virtual size in bytes (0 for a container image).
    pub virtual_size: u64,
    /// The digest of the stored qcow2 layer; for a container image, of its manifest.
    pub digest: Digest,
    /// The stored layer's file size in bytes; for a container image, the total of its blobs.
    pub blob_size: u64,
    /// Whether an identical layer (every blob, for a container image) was already in the
    /// repository (nothing new was stored).
    pub deduplicated: bool,
    /// For a container image, every blob and whether it was already there
    /// ([`CopyMethod::Existing`](strata_store::CopyMethod::Existing): neither read nor
    /// written); empty for a VM image.
    pub blobs: Vec<crate::BlobCopy>,
    /// Bytes read from the source (holes and zeros are not read).
    pub bytes_read: u64,
    /// Bytes written to the repository.
    pub bytes_written: u64,
    /// The warnings that were also sent as progress events.
    pub warnings: Vec<Warning>,
}

impl Strata {
    /// `image import`: pcocc's rules, in pcocc's order unless noted.
    ///
    /// 1. The destination repository: the one named, else the default (first) one
    ///    (`Unknown repository {name}`); it is opened, and created by pcocc's rules if its
    ///    directory does not exist.
    /// 2. The name is validated as pcocc validates it (`Object name contains invalid
    ///    characters`). *Changed:* pcocc validates it only when it writes the record, after
    ///    the conversion; strata refuses before any work.
    /// 3. The format: `FORMAT:` prefix, `-t`, extension, then the content (strata-disk's
    ///    probe; a directory holding `oci-layout` is `oci`), with pcocc's mismatch errors; a
    ///    regular file of unknown content is raw, with [`Warning::AssumedRaw`]. *Added:*
    ///    `oci-archive:` (prefix or `-t`), which pcocc does not know.
    /// 4. `check_overwrite`: `Image {name} already exists in repo {repo}`, or
    ///    [`Warning::NameExistsElsewhere`].
    /// 5. *Added:* a repository this process may not write to is refused here
    ///    ([`Error::ReadOnlyRepository`]), before any byte is written.
    /// 6. The source is converted into **one flattened qcow2 layer**, written once into the
    ///    repository's `.tmp/` and hashed while written, then moved into `data/` (no copy;
    ///    an identical blob already there is kept and the new file dropped). The source is
    ///    read once, holes and zeros not at all. A source's backing files may lie only in the
    ///    source's own directory (else an [`ErrorKind::Escape`](crate::ErrorKind::Escape)
    ///    error). Failures read `Failed to import {path} : {err}` as in pcocc.
    /// 7. Revision 0 is recorded: kind `vm`, this owner, the current time, one bare-hex blob.
    ///
    /// The repository's write lock is held from the first byte written to the record, so gc
    /// never removes the new blob in between. On any failure the repository holds nothing
    /// new (a crash may leave a file in `.tmp/`, which gc removes).
    ///
    /// A container image is stored as the [`container`](super::container) module says:
    /// blobs the repository has are skipped, the others staged and verified, then moved in
    /// together, then the record (kind `ctr`, every blob as `sha256:<hex>`, `oci_index`) is
    /// committed. With a cache configured, the image's bundle is then extracted into it, as
    /// pcocc populates its cache at import; *changed:* a failure there (a layer that would
    /// escape its root, a full disk) is [`Warning::CacheNotPopulated`], not an error, since
    /// the image is stored (pcocc fails the import after writing its record).
    ///
    /// Progress: `Started{Storing}`, then `Started{Converting}` (or `Copying` for a qcow2
    /// source) with the virtual size as total, `Advanced`, `Finished`, `Finished`; for a
    /// container image, one `Started{Blob}`, `Advanced`..., `Finished` per blob copied.
    pub fn import(&self, request: ImportRequest, progress: &dyn Progress) -> Result<ImportOutcome> {
        let repo = self.repo(request.dest.repo())?;
        let name = request.dest.pcocc_name()?;
        let resolved = self.resolve_spec(&request.source, request.format.as_deref(), None)?;
        let source_text = resolved.spec.path.clone();
        let path = self.expand_user(&source_text);
        let format = match resolved.spec.format {
            Format::Disk(format) => format,
            Format::Container(_) => {
                return self.import_container(
                    &repo,
                    name.as_str(),
                    resolved,
                    request.arch.as_deref(),
                    progress,
                );
            }
        };
        let mut warnings = Vec::new();
        if resolved.origin == Origin::AssumedRaw {
            let warning = Warning::AssumedRaw;
            progress.event(&ProgressEvent::Warning(warning.clone()));
            warnings.push(warning);
        }
        warnings.extend(self.check_overwrite(&repo, name.as_str(), progress)?);
        ensure_writable(&repo)?;
        let meta = std::fs::metadata(&path);
        if !meta.as_ref().is_ok_and(std::fs::Metadata::is_file) {
            return Err(Error::NotAnImageFile {
                path: source_text,
                exists: meta.is_ok(),
            });
        }
        let failed = |error: strata_disk::DiskError| Error::ImportFailed {
            path: source_text.clone(),
            error,
        };
        let writer = repo.writer()?;
        let storing = Phase::Storing {
            repo: repo.name().to_owned(),
            name: name.as_str().to_owned(),
        };
        in_phase(progress, storing, None, || {
            let source = strata_disk::open(
                &path,
                &OpenOptions {
                    format: Some(format),
                    ..OpenOptions::default()
                },
            )
            .map_err(failed)?;
            let virtual_size = source.image.virtual_size();
            let mut blob = writer.new_blob()?;
            let target = Qcow2Target::create(&mut blob, &CreateOptions::new(virtual_size))
                .map_err(failed)?;
            let phase = if format == DiskFormat::Qcow2 {
                Phase::Copying
            } else {
                Phase::Converting {
                    from: format,
                    to: DiskFormat::Qcow2,
                }
            };
            let summary = in_phase(progress, phase, Some(virtual_size), || {
                strata_disk::convert(
                    &*source.image,
                    Box::new(target),
                    &ConvertOptions::default(),
                    &|p| progress.event(&ProgressEvent::Advanced { done: p.done }),
                )
                .map_err(failed)
            })?;
            let stored = blob.commit()?;
            let digest = stored.digest;
            let deduplicated = stored.existed;
            let record = RevisionRecord::new(
                name.as_str(),
                0,
                Kind::Vm,
                self.owner(),
                now(),
                [digest.clone()],
            );
            writer.commit(&record)?;
            Ok(ImportOutcome {
                image: ImageSummary::from_record(repo.name(), &record),
                source_format: Format::Disk(format),
                origin: resolved.origin,
                source_path: path.clone(),
                virtual_size,
                blob_size: summary.file_len,
                digest,
                deduplicated,
                bytes_read: summary.bytes_read,
                bytes_written: stored.bytes_written,
                warnings: warnings.clone(),
                blobs: Vec::new(),
            })
        })
    }

    /// pcocc's format guess for an import source or export destination (`kind` known on
    /// export), with `oci-archive` added, and the path probed when the text says to.
    pub(crate) fn resolve_spec(
        &self,
        text: &str,
        type_option: Option<&str>,
        kind: Option<Kind>,
    ) -> Result<Resolved> {
        if let Some(resolved) = super::container::guess_with_oci_archive(text, type_option, kind)? {
            return Ok(resolved);
        }
        let guess = Guess::from_text(text, type_option, kind)?;
        let probe = if guess.needs_probe() {
            probe_path(&self.expand_user(guess.path()))?
        } else {
            Probe::Other
        };
        Ok(guess.resolve(probe)?)
    }

    /// The container half of [`Strata::import`].
    fn import_container(
        &self,
        repo: &strata_store::Repository,
        name: &str,
        resolved: Resolved,
        arch: Option<&str>,
        progress: &dyn Progress,
    ) -> Result<ImportOutcome> {
        let platform = super::container::platform_for(arch)?;
        let warnings = self.check_overwrite(repo, name, progress)?;
        ensure_writable(repo)?;
        if let strata_model::spec::ContainerTransport::Docker(_) =
            super::container::transport_of(&resolved.spec)?
            && self.registry().is_none()
        {
            return Err(Error::TransportUnavailable {
                transport: "docker",
            });
        }
        let storing = Phase::Storing {
            repo: repo.name().to_owned(),
            name: name.to_owned(),
        };
        let stored = in_phase(progress, storing, None, || {
            let writer = repo.writer()?;
            self.store_container(repo, &writer, name, &resolved.spec, &platform, progress)
        })?;
        let mut warnings = warnings;
        if let Some(def) = self.config().cache_def() {
            // containers.yaml runtime.image_driver: squashfs caches a squashfs of the bundle too.
            let populated = strata_store::Cache::open(&def.path).and_then(|cache| {
                match self.config().image_driver() {
                    strata_store::ImageDriver::Flat => cache.hold_bundle(repo, &stored.record),
                    strata_store::ImageDriver::Squashfs => {
                        cache.hold_squashfs(repo, &stored.record)
                    }
                }
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
        let manifest = stored
            .record
            .data_blobs
            .first()
            .map(|b| b.digest().clone())
            .ok_or_else(|| Error::io("store", repo.path(), std::io::Error::other("no blob")))?;
        Ok(ImportOutcome {
            image: ImageSummary::from_record(repo.name(), &stored.record),
            source_format: resolved.spec.format,
            origin: resolved.origin,
            source_path: self.expand_user(&resolved.spec.path),
            virtual_size: 0,
            digest: manifest,
            blob_size: stored.blobs.iter().map(|b| b.size).sum(),
            deduplicated: stored
                .blobs
                .iter()
                .all(|b| b.method == strata_store::CopyMethod::Existing),
            bytes_read: stored.bytes_written,
            bytes_written: stored.bytes_written,
            warnings,
            blobs: stored.blobs,
        })
    }
}

/// What is at `path`, for pcocc's content detection: a regular file and the format its
/// header shows, a directory holding `oci-layout`, or anything else.
pub(crate) fn probe_path(path: &Path) -> Result<Probe> {
    match std::fs::metadata(path) {
        Ok(meta) if meta.is_file() => {
            let file = File::open(path).map_err(|e| Error::io("open", path, e))?;
            let format = strata_disk::probe(&file).map_err(|e| Error::io("read", path, e))?;
            Ok(Probe::File(Some(format)))
        }
        Ok(meta) if meta.is_dir() && path.join("oci-layout").is_file() => Ok(Probe::OciLayout),
        _ => Ok(Probe::Other),
    }
}
