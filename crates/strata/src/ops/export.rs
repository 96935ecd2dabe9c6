//! [`Strata::export`] (`image export [-t FMT] SRC DST`): an image revision's layer chain,
//! flattened into one disk image file outside any repository; a container revision written
//! as an OCI layout, oci-archive or docker-archive (see [`container`](super::container)).

use std::path::PathBuf;

use strata_disk::{ConvertOptions, OpenOptions};
use strata_model::spec::{Format, Origin};
use strata_model::{DiskFormat, ImageRef, RevisionRecord};
use strata_store::{Repository, StoreError};

use crate::app::{Strata, in_phase};
use crate::error::{Error, Result};
use crate::ops::query::ImageSummary;
use crate::progress::{Phase, Progress, ProgressEvent};

/// `image export [-t FMT] SRC [FORMAT:]DST`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportRequest {
    /// The image (and revision) to export, found by pcocc's lookup rules.
    pub image: ImageRef,
    /// The destination as the user wrote it: a path, maybe with a `FORMAT:` prefix; a leading
    /// `~` is expanded.
    pub dest: String,
    /// The `-t` option.
    pub format: Option<String>,
}

/// What `export` did.
#[derive(Debug, Clone, PartialEq)]
pub struct ExportOutcome {
    /// The revision exported.
    pub image: ImageSummary,
    /// The file written (prefix removed, `~` expanded).
    pub path: PathBuf,
    /// Its format.
    pub format: Format,
    /// What settled the format.
    pub origin: Origin,
    /// The virtual size in bytes (0 for a container image).
    pub virtual_size: u64,
    /// Bytes read from the repository (holes and zeros are not read).
    pub bytes_read: u64,
    /// Bytes written (holes not counted).
    pub bytes_written: u64,
    /// The file's length (0 for a push).
    pub file_len: u64,
    /// What a push to a registry (`docker://`) did: the manifest digest, the blobs uploaded
    /// and those the registry already had.
    pub pushed: Option<strata_oci::registry::Pushed>,
}

impl Strata {
    /// `image export`: pcocc's rules.
    ///
    /// - The image is found by pcocc's lookup rules (any repository without a prefix).
    /// - The destination format comes from the `FORMAT:` prefix, `-t`, the extension, the
    ///   content of an existing destination file (pcocc's `guess_format` with the kind known:
    ///   an existing qcow2 file exported over with `-t raw` is a mismatch), and defaults to
    ///   `raw` (`docker-archive` for a container image); a format of the other kind is
    ///   pcocc's `{format} is not a valid {kind} format`. A VM format strata reads but does not
    ///   write ([`strata_disk::is_writable`]) is [`Error::FormatNotWritable`].
    /// - The chain is opened from the top blob with backing files allowed only under the
    ///   repository's `data/`, and at most as deep as the record has layers; it is flattened
    ///   into a temporary file beside the destination, which is renamed over it at the end
    ///   (an existing destination stays as it was until then).
    ///
    /// - A container revision is rebuilt from its `oci_index` and blobs (pcocc's
    ///   `ContainerLayoutView`) and written natively: `oci:PATH[:NAME]` (named `latest`
    ///   without a name, as pcocc's `skopeo copy … :latest`), `oci-archive:PATH[:NAME]`, or
    ///   `docker-archive:PATH[:NAME:TAG]`, the default (tagged `latest:latest` without a
    ///   tag, which is what pcocc's `docker-archive:PATH:latest` gives). Blobs keep their
    ///   bytes and digests, except compressed layers in a docker-archive, which holds them
    ///   uncompressed (`docs/container-formats.md`).
    ///
    /// Progress: `Started{Converting{qcow2 -> format}}` (or `Copying` for qcow2) with the
    /// virtual size, `Advanced`, `Finished`; for a container, `Started{Writing}`, `Finished`.
    pub fn export(&self, request: ExportRequest, progress: &dyn Progress) -> Result<ExportOutcome> {
        let (repo, record) = self.find(&request.image)?;
        let resolved =
            self.resolve_spec(&request.dest, request.format.as_deref(), Some(record.kind))?;
        let path = self.expand_user(&resolved.spec.path);
        let format = match resolved.spec.format {
            Format::Disk(format) if strata_disk::is_writable(format) => format,
            Format::Disk(format) => return Err(Error::FormatNotWritable { format }),
            Format::Container(_) => {
                let written = self.write_container(&repo, &record, &resolved.spec, progress)?;
                let path = written.path;
                let file_len = if written.pushed.is_some() {
                    0
                } else {
                    std::fs::metadata(&path).map_or(0, |m| m.len())
                };
                return Ok(ExportOutcome {
                    image: ImageSummary::from_record(repo.name(), &record),
                    path,
                    format: resolved.spec.format,
                    origin: resolved.origin,
                    virtual_size: 0,
                    bytes_read: 0,
                    bytes_written: file_len,
                    file_len,
                    pushed: written.pushed,
                });
            }
        };
        if path.is_dir() || resolved.spec.path.ends_with('/') {
            return Err(Error::BadDestination { path });
        }
        let source = open_chain(&repo, &record)?;
        let virtual_size = source.virtual_size();
        let mut out = strata_disk::OutputFile::create(&path, strata_disk::Durability::Durable)?;
        let target = strata_disk::create_target(format, &mut out, virtual_size)?;
        let phase = if format == DiskFormat::Qcow2 {
            Phase::Copying
        } else {
            Phase::Converting {
                from: DiskFormat::Qcow2,
                to: format,
            }
        };
        let summary = in_phase(progress, phase, Some(virtual_size), || {
            Ok(strata_disk::convert(
                &*source,
                target,
                &ConvertOptions::default(),
                &|p| progress.event(&ProgressEvent::Advanced { done: p.done }),
            )?)
        })?;
        let committed = out.commit()?;
        Ok(ExportOutcome {
            image: ImageSummary::from_record(repo.name(), &record),
            path,
            format: Format::Disk(format),
            origin: resolved.origin,
            virtual_size,
            bytes_read: summary.bytes_read,
            bytes_written: summary.bytes_written,
            file_len: committed.len,
            pushed: None,
        })
    }
}

/// Opens a VM revision's chain from its top blob: qcow2, backing files only under the
/// repository's `data/`, at most one backing file per layer below the top.
pub(crate) fn open_chain(
    repo: &Repository,
    record: &RevisionRecord,
) -> Result<Box<dyn strata_disk::DiskImage>> {
    let top = top_path(repo, record)?;
    let opened = strata_disk::open(
        &top,
        &OpenOptions {
            format: Some(DiskFormat::Qcow2),
            allowed_dirs: vec![repo.data_dir()],
            max_depth: record.data_blobs.len().saturating_sub(1),
            no_backing: false,
        },
    )?;
    Ok(opened.image)
}

/// The path of a revision's top blob (a record without blobs is bad metadata).
pub(crate) fn top_path(repo: &Repository, record: &RevisionRecord) -> Result<PathBuf> {
    match record.top_blob() {
        Some(top) => Ok(repo.blob_path(top.digest())),
        None => Err(StoreError::BadMetadata {
            name: record.name.clone(),
            path: repo.meta_dir().join(strata_store::record_file_name(
                &record.name,
                record.revision,
            )),
            message: "the revision has no data blob".to_owned(),
        }
        .into()),
    }
}
