//! [`Strata::resize`] (`image resize IMAGE NEW_SZ`): a new revision whose top layer is an
//! empty, larger qcow2 backed by the previous top layer.

use strata_disk::OpenOptions;
use strata_disk::qcow2::writer::CreateOptions;
use strata_model::{ByteSize, DataBlob, Digest, DiskFormat, ImageRef, Kind, RevisionRecord};
use strata_store::Repository;

use crate::app::{Strata, ensure_writable, in_phase, now};
use crate::error::{Error, Result};
use crate::ops::export::top_path;
use crate::ops::query::ImageSummary;
use crate::progress::{Phase, Progress};

/// `image resize IMAGE NEW_SZ`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResizeRequest {
    /// The image (and revision; the latest without one) to grow.
    pub image: ImageRef,
    /// The new virtual size (qemu-img's size syntax: [`ByteSize::parse_qemu_img`]); rounded
    /// up to whole 512-byte sectors.
    pub new_size: ByteSize,
}

/// What `resize` did.
#[derive(Debug, Clone, PartialEq)]
pub struct ResizeOutcome {
    /// The new revision.
    pub image: ImageSummary,
    /// The revision it was built on.
    pub base_revision: u64,
    /// The previous virtual size in bytes.
    pub old_size: u64,
    /// The new virtual size in bytes.
    pub new_size: u64,
    /// The new revision's number of layers.
    pub layers: usize,
    /// The digest of the new top layer.
    pub digest: Digest,
}

impl Strata {
    /// `image resize`: pcocc's `resize_image` and `add_revision_layer`, without qemu-img.
    ///
    /// - The image is found by pcocc's lookup rules.
    /// - *Added:* only VM images ([`Error::NotVm`]; pcocc's documentation says so but its
    ///   code does not check), and never smaller ([`Error::Shrink`]; the same size is
    ///   accepted, as qemu-img accepts it).
    /// - The new layer is an empty qcow2 of the new size whose backing file is the previous
    ///   top blob by pcocc's relative path `../../data/<xx>/<h>` with format qcow2. It is
    ///   created in the repository's `.tmp/` with that name directly (`.tmp/` and `data/<yy>/`
    ///   are both one level below the repository root, so the name resolves only once the
    ///   file is in `data/`), hashed while written and moved into `data/`.
    /// - The new record is revision latest+1 with the base revision's blobs plus the new one,
    ///   its kind and `custom_meta`, this owner and the current time.
    ///
    /// *Changed:*
    /// - The new revision is written in the repository where the image was found. pcocc
    ///   writes it in the default repository whatever the lookup found, which fails (after
    ///   storing the blob) for an image of another repository.
    /// - With `IMAGE@REV` below the latest, pcocc writes revision `REV+1`, overwriting an
    ///   existing revision; strata builds on `REV` and writes latest+1.
    pub fn resize(&self, request: ResizeRequest, progress: &dyn Progress) -> Result<ResizeOutcome> {
        let (repo, base) = self.find(&request.image)?;
        if base.kind != Kind::Vm {
            return Err(Error::NotVm {
                name: base.name,
                kind: base.kind,
            });
        }
        let top = top_path(&repo, &base)?;
        let old_size = strata_disk::open(
            &top,
            &OpenOptions {
                format: Some(DiskFormat::Qcow2),
                allowed_dirs: vec![repo.data_dir()],
                no_backing: true,
                ..OpenOptions::default()
            },
        )?
        .image
        .virtual_size();
        let new_size = request.new_size.bytes().next_multiple_of(512);
        if new_size < old_size {
            return Err(Error::Shrink {
                name: base.name,
                current: old_size,
                requested: new_size,
            });
        }
        ensure_writable(&repo)?;
        let writer = repo.writer()?;
        let storing = Phase::Storing {
            repo: repo.name().to_owned(),
            name: base.name.clone(),
        };
        in_phase(progress, storing, None, || {
            let latest = repo
                .revisions(&base.name)?
                .last()
                .copied()
                .unwrap_or(base.revision);
            let digest = create_layer(&repo, &writer, &base, new_size)?;
            let mut data_blobs = base.data_blobs.clone();
            data_blobs.push(DataBlob::bare(digest.clone()));
            let record = RevisionRecord {
                name: base.name.clone(),
                revision: latest + 1,
                kind: Kind::Vm,
                owner: self.owner().to_owned(),
                timestamp: now(),
                data_blobs,
                description: None,
                custom_meta: base.custom_meta.clone(),
            };
            writer.commit(&record)?;
            Ok(ResizeOutcome {
                image: ImageSummary::from_record(repo.name(), &record),
                base_revision: base.revision,
                old_size,
                new_size,
                layers: record.data_blobs.len(),
                digest,
            })
        })
    }
}

/// Stores an empty qcow2 layer of `size` bytes backed by `base`'s top blob through pcocc's
/// relative path, and returns its digest.
fn create_layer(
    repo: &Repository,
    writer: &strata_store::Writer<'_>,
    base: &RevisionRecord,
    size: u64,
) -> Result<Digest> {
    let top = top_path(repo, base)?;
    let Some(top_blob) = base.top_blob() else {
        return Err(Error::io(
            "read",
            top,
            std::io::Error::other("the revision has no data blob"),
        ));
    };
    let backing = Repository::relative_blob_path(top_blob.digest());
    let mut options = CreateOptions::new(size);
    options.backing = Some((backing.to_string_lossy().into_owned(), DiskFormat::Qcow2));
    let mut blob = writer.new_blob()?;
    strata_disk::qcow2::create(&mut blob, &options)?;
    Ok(blob.commit()?.digest)
}
