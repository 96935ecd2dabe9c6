//! [`Strata::export`]: a VM image, flattened into one disk image file of any writable format
//! outside every store; a container image written as an OCI layout, oci-archive or
//! docker-archive, pushed to a registry or loaded into a daemon (see the `container` module).

use std::path::PathBuf;
use std::time::Instant;

use strata_disk::{Durability, OutputFile};
use strata_model::spec::{ContainerTransport, Format};
use strata_model::{DiskFormat, Kind};

use crate::app::{Strata, in_phase};
use crate::error::{Error, Result};
use crate::log;
use crate::progress::{Phase, Progress, ProgressEvent};
use crate::store::{ImageLocator, ImageSummary};

/// Where an export writes.
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(
    clippy::large_enum_variant,
    reason = "built once per export and matched at once: boxing would only burden callers"
)]
pub enum Destination {
    /// A disk image file in `format`, replaced atomically if it exists.
    Disk {
        /// The file.
        path: PathBuf,
        /// Its format.
        format: DiskFormat,
    },
    /// A container image, by its containers-transports(5) reference.
    Container {
        /// Where to.
        transport: ContainerTransport,
        /// The name given to the image when the reference names none: an OCI layout's
        /// reference name, a docker-archive's `name:tag`. `None`: the image is written unnamed.
        default_name: Option<String>,
    },
}

/// Export the image `image` to `dest`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportRequest {
    /// The image (and revision) to export.
    pub image: ImageLocator,
    /// Where to.
    pub dest: Destination,
}

/// What `export` did.
#[derive(Debug, Clone, PartialEq)]
pub struct ExportOutcome {
    /// The image exported.
    pub image: ImageSummary,
    /// The file written (or the reference pushed to).
    pub path: PathBuf,
    /// Its format.
    pub format: Format,
    /// The virtual size in bytes (0 for a container image).
    pub virtual_size: u64,
    /// Bytes read from the store (holes and zeros are not read).
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
    /// Exports an image.
    ///
    /// - The image is found as `request.image` says ([`Strata::find`]).
    /// - A disk destination needs a VM image ([`Error::NotVm`]), a format strata writes
    ///   ([`Error::FormatNotWritable`]) and a path that can be a file
    ///   ([`Error::BadDestination`]). The image's chain is flattened into a temporary file
    ///   beside the destination, made durable and renamed over it at the end (an existing
    ///   destination stays as it was until then).
    /// - A container destination needs a container image ([`Error::NotContainer`]); the image
    ///   is rebuilt from the store's blobs and written natively: `oci:PATH[:NAME]`,
    ///   `oci-archive:PATH[:NAME]`, `docker-archive:PATH[:NAME:TAG]` (named
    ///   `default_name` when the reference names nothing), `docker://` (pushed), or
    ///   `docker-daemon:NAME:TAG` (loaded). Blobs keep their bytes and digests, except
    ///   compressed layers in a docker-archive, which holds them uncompressed
    ///   (`docs/container-formats.md`).
    ///
    /// Progress: `Started{Converting{store format -> format}}` (or `Copying`) with the virtual
    /// size, `Advanced`, `Finished`; for a container, `Started{Writing}`, `Finished`.
    pub fn export(&self, request: ExportRequest, progress: &dyn Progress) -> Result<ExportOutcome> {
        self.export_unchecked(request, progress)
            .map_err(|e| self.interrupted_or(e))
    }

    /// [`Strata::export`], its errors not yet checked for an interruption.
    fn export_unchecked(
        &self,
        request: ExportRequest,
        progress: &dyn Progress,
    ) -> Result<ExportOutcome> {
        let (store, image) = self.find(&request.image)?;
        let (path, format) = match request.dest {
            Destination::Disk { path, format } => (path, format),
            Destination::Container {
                transport,
                default_name,
            } => {
                if image.kind != Kind::Ctr {
                    return Err(Error::NotContainer {
                        name: image.name,
                        kind: image.kind,
                    });
                }
                let format = Format::Container(transport.format());
                let written = self.write_container(
                    store,
                    &image,
                    &transport,
                    default_name.as_deref(),
                    progress,
                )?;
                let file_len = if written.pushed.is_some() {
                    0
                } else {
                    std::fs::metadata(&written.path).map_or(0, |m| m.len())
                };
                return Ok(ExportOutcome {
                    image,
                    path: written.path,
                    format,
                    virtual_size: 0,
                    bytes_read: 0,
                    bytes_written: file_len,
                    file_len,
                    pushed: written.pushed,
                });
            }
        };
        if image.kind != Kind::Vm {
            return Err(Error::NotVm {
                name: image.name,
                kind: image.kind,
                action: "exported to a disk format",
            });
        }
        if !strata_disk::is_writable(format) {
            return Err(Error::FormatNotWritable { format });
        }
        if path.is_dir() || path.as_os_str().as_encoded_bytes().ends_with(b"/") {
            return Err(Error::BadDestination { path });
        }
        let started = Instant::now();
        let source = store.open_disk(&image)?;
        let virtual_size = source.virtual_size();
        let shown = match image.revision {
            Some(revision) => format!(
                "image {} revision {revision} of store {}",
                image.name, image.store
            ),
            None => format!("image {} of store {}", image.name, image.store),
        };
        log::probed(&shown, source.format(), virtual_size, started);
        let mut out = OutputFile::create(&path, Durability::Durable)?;
        let target = strata_disk::create_target(format, &mut out, virtual_size)?;
        let from = source.format();
        let phase = if from == format {
            Phase::Copying
        } else {
            Phase::Converting { from, to: format }
        };
        let converting = Instant::now();
        let summary = in_phase(progress, phase, Some(virtual_size), || {
            Ok(strata_disk::convert(
                &*source,
                target,
                &self.convert_options(),
                &|p| progress.event(&ProgressEvent::Advanced { done: p.done }),
            )?)
        })?;
        log::converted(from, format, virtual_size, &summary, converting);
        let committed = out.commit()?;
        log::exported(&path, format, committed.len, started);
        Ok(ExportOutcome {
            image,
            path,
            format: Format::Disk(format),
            virtual_size,
            bytes_read: summary.bytes_read,
            bytes_written: summary.bytes_written,
            file_len: committed.len,
            pushed: None,
        })
    }
}
