//! [`Strata::import`]: a disk image file becomes a new VM image of a store, converted natively
//! into the format the store keeps; a container image (an OCI layout or archive, a
//! docker-archive, a registry, a daemon, an OSTree commit, a SIF file) becomes a new container
//! image with its OCI blobs (see the `container` module).

use std::path::PathBuf;
use std::time::Instant;

use strata_disk::{ConvertOptions, DiskImage, OpenOptions};
use strata_model::spec::{ContainerTransport, Format, Probe};
use strata_model::{Digest, DiskFormat};

use crate::app::{Strata, in_phase};
use crate::error::{Error, Result};
use crate::log;
use crate::progress::{Phase, Progress, ProgressEvent, Warning};
use crate::store::{
    ImageSummary, LayerCopy, NamePolicy, NewImage, NewImageTarget, Store, StoredDisk,
};

/// What an import reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A disk image file in `format` (a front end settles the format: by its user's word, the
    /// file name, or [`probe`]).
    Disk {
        /// The file.
        path: PathBuf,
        /// Its format.
        format: DiskFormat,
    },
    /// A qcow2 layer chain a builder made: the top layer, whose backing files may lie in
    /// `allowed_dirs` (a build cache and the base image's directory) and go as deep as
    /// `strata_disk::open::MAX_KNOWN_CHAIN_DEPTH` (one layer per build step). Stored flattened.
    Layers {
        /// The top layer.
        path: PathBuf,
        /// Where its backing files may be.
        allowed_dirs: Vec<PathBuf>,
    },
    /// A container image, by its containers-transports(5) reference.
    Container(ContainerTransport),
}

/// Import `source` as a new image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportRequest {
    /// What to read.
    pub source: Source,
    /// Where the new image goes, and its name.
    pub dest: NewImageTarget,
    /// What an existing name means.
    pub policy: NamePolicy,
    /// The architecture to take from a multi-platform container image, `ARCH` or
    /// `ARCH/VARIANT` (`arm64/v8`); `None`: this machine's. VM images ignore it.
    pub arch: Option<String>,
}

impl ImportRequest {
    /// The disk image at `path`, in `format`, as `name` in the default store, refusing a name
    /// that is taken.
    pub fn disk(
        path: impl Into<PathBuf>,
        format: DiskFormat,
        name: impl Into<String>,
    ) -> ImportRequest {
        ImportRequest {
            source: Source::Disk {
                path: path.into(),
                format,
            },
            dest: NewImageTarget::named(name),
            policy: NamePolicy::default(),
            arch: None,
        }
    }
}

/// What `import` did.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportOutcome {
    /// The new image.
    pub image: ImageSummary,
    /// The source's format.
    pub source_format: Format,
    /// The source's virtual size in bytes (0 for a container image).
    pub virtual_size: u64,
    /// The digest of the stored file (where the store names files by digest); for a container
    /// image, of its manifest.
    pub digest: Option<Digest>,
    /// The stored file's length in bytes; for a container image, the total of its blobs.
    pub stored_size: u64,
    /// Whether an identical file (every blob, for a container image) was already in the store
    /// (nothing new was kept).
    pub deduplicated: bool,
    /// For a container image, every blob and whether it was already there; empty for a VM
    /// image.
    pub blobs: Vec<LayerCopy>,
    /// Bytes read from the source (holes and zeros are not read).
    pub bytes_read: u64,
    /// Bytes written to the store.
    pub bytes_written: u64,
    /// The warnings that were also sent as progress events.
    pub warnings: Vec<Warning>,
}

impl Strata {
    /// Imports `request.source` as a new image, in this order:
    ///
    /// 1. The destination store: the one named, else the default one
    ///    ([`Error::UnknownStore`], [`Error::NoStore`]).
    /// 2. The name policy: an image of that name in the destination is
    ///    [`Error::ImageExists`] unless the policy replaces it; with `warn_if_elsewhere`, one
    ///    in another store is a [`Warning::NameExistsElsewhere`]. A store this process may not
    ///    write to is [`Error::ReadOnlyStore`], before any byte is written.
    /// 3. A disk source must be a regular file ([`Error::NotAFile`]). It is converted into the
    ///    format the store keeps, written once into the store's new file, hashed there while
    ///    written where the store names files by digest, and committed: the source is read
    ///    once, holes and zeros not at all. A source's backing files may lie only in its own
    ///    directory (else an [`ErrorKind::Escape`](crate::ErrorKind::Escape) error). A failure
    ///    reading or converting it is [`Error::DiskSource`].
    ///
    /// The store keeps nothing of a failed import (a crash may leave a scratch file, which gc
    /// removes). A container image is stored as the `container` module says.
    ///
    /// Progress: `Started{Storing}`, then `Started{Converting}` (or `Copying` when the source
    /// is already in the store's format) with the virtual size as total, `Advanced`,
    /// `Finished`, `Finished`; for a container image, one `Started{Blob}`, `Advanced`...,
    /// `Finished` per blob copied.
    pub fn import(&self, request: ImportRequest, progress: &dyn Progress) -> Result<ImportOutcome> {
        self.import_unchecked(request, progress)
            .map_err(|e| self.interrupted_or(e))
    }

    /// [`Strata::import`], its errors not yet checked for an interruption.
    fn import_unchecked(
        &self,
        request: ImportRequest,
        progress: &dyn Progress,
    ) -> Result<ImportOutcome> {
        let dest = self.store(request.dest.store.as_deref())?;
        let name = request.dest.name.as_str();
        let (path, format, allowed_dirs, max_depth) = match request.source {
            Source::Disk { path, format } => {
                (path, format, Vec::new(), strata_disk::open::MAX_CHAIN_DEPTH)
            }
            Source::Layers { path, allowed_dirs } => (
                path,
                DiskFormat::Qcow2,
                allowed_dirs,
                strata_disk::open::MAX_KNOWN_CHAIN_DEPTH,
            ),
            Source::Container(transport) => {
                return self.import_container(
                    dest,
                    name,
                    transport,
                    request.policy,
                    request.arch.as_deref(),
                    progress,
                );
            }
        };
        let warnings = self.check_new_name(dest, name, request.policy, progress)?;
        let meta = std::fs::metadata(&path);
        if !meta.as_ref().is_ok_and(std::fs::Metadata::is_file) {
            return Err(Error::NotAFile {
                exists: meta.is_ok(),
                path,
            });
        }
        let failed = |error: strata_disk::DiskError| Error::DiskSource {
            path: path.clone(),
            error,
        };
        let storing = Phase::Storing {
            store: dest.name().to_owned(),
            name: name.to_owned(),
        };
        let new = self.new_image(name, request.policy);
        in_phase(progress, storing, None, || {
            let opening = Instant::now();
            let source = strata_disk::open(
                &path,
                &OpenOptions {
                    format: Some(format),
                    allowed_dirs,
                    max_depth,
                    ..OpenOptions::default()
                },
            )
            .map_err(failed)?;
            let image = &*source.image;
            log::probed(
                &path.display().to_string(),
                image.format(),
                image.virtual_size(),
                opening,
            );
            let options = self.convert_options();
            let (stored, summary) =
                store_disk(dest, &new, image, &options, progress).map_err(|e| match e {
                    Error::Disk(e) => failed(e),
                    other => other,
                })?;
            Ok(ImportOutcome {
                image: stored.image,
                source_format: Format::Disk(format),
                virtual_size: image.virtual_size(),
                digest: stored.digest,
                stored_size: stored.file_len,
                deduplicated: stored.deduplicated,
                blobs: Vec::new(),
                bytes_read: summary.bytes_read,
                bytes_written: stored.bytes_written,
                warnings: warnings.clone(),
            })
        })
    }
}

/// Converts `source` into a new VM image `new` of `dest`, in the format the store keeps, and
/// commits it. Progress: `Started{Converting}` (or `Copying`), `Advanced`..., `Finished`.
pub(crate) fn store_disk(
    dest: &dyn Store,
    new: &NewImage,
    source: &dyn DiskImage,
    options: &ConvertOptions,
    progress: &dyn Progress,
) -> Result<(StoredDisk, strata_disk::ConvertSummary)> {
    let virtual_size = source.virtual_size();
    let mut sink = dest.create_disk(new)?;
    let to = sink.format();
    let target = strata_disk::create_target(to, &mut *sink, virtual_size)?;
    let from = source.format();
    let phase = if from == to {
        Phase::Copying
    } else {
        Phase::Converting { from, to }
    };
    let converting = Instant::now();
    let summary = in_phase(progress, phase, Some(virtual_size), || {
        Ok(strata_disk::convert(source, target, options, &|p| {
            progress.event(&ProgressEvent::Advanced { done: p.done });
        })?)
    })?;
    log::converted(from, to, virtual_size, &summary, converting);
    let committing = Instant::now();
    let stored = sink.commit()?;
    log::stored(dest.name(), &stored, committing);
    Ok((stored, summary))
}

/// What is at `path`, for a front end that settles a format from a file's content: a regular
/// file (symbolic links followed) and the disk format its header shows (strata-disk's probe,
/// which reads the start of the file, and refuses what it recognises but will not take for a
/// disk, such as a LUKS container: [`Error::DiskSource`]), a directory holding `oci-layout`,
/// nothing at all, or anything else.
pub fn probe(path: &std::path::Path) -> Result<Probe> {
    if std::fs::symlink_metadata(path).is_err() {
        return Ok(Probe::Missing);
    }
    match std::fs::metadata(path) {
        Ok(meta) if meta.is_file() => {
            let file = std::fs::File::open(path).map_err(|e| Error::io("open", path, e))?;
            let format = strata_disk::probe(&file).map_err(|error| Error::DiskSource {
                path: path.to_path_buf(),
                error,
            })?;
            Ok(Probe::File(Some(format)))
        }
        Ok(meta) if meta.is_dir() && path.join("oci-layout").is_file() => Ok(Probe::OciLayout),
        _ => Ok(Probe::Other),
    }
}
