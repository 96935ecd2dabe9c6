//! [`Strata::copy`] (`image copy SRC DST`): one revision of an image becomes revision 0 of a
//! new image, in the same or another repository, sharing or linking its blobs.

use strata_model::{Digest, ImageRef, RevisionRecord};
use strata_store::CopyMethod;

use crate::app::{Strata, ensure_writable, file_len, in_phase, now};
use crate::error::Result;
use crate::ops::query::ImageSummary;
use crate::progress::{Phase, Progress, ProgressEvent, Warning};

/// `image copy SRC DST`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyRequest {
    /// The image (and revision; the latest without one) to copy, found by pcocc's lookup
    /// rules.
    pub src: ImageRef,
    /// The new image: `[REPO:]NAME` (without a repository, the default one; a revision is
    /// ignored: a copy creates revision 0).
    pub dest: ImageRef,
}

/// How one blob reached the destination repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobCopy {
    /// The blob.
    pub digest: Digest,
    /// Its size in bytes.
    pub size: u64,
    /// [`CopyMethod::Existing`] when the destination already had it (always so within one
    /// repository), else hard link, reflink or sparse copy.
    pub method: CopyMethod,
}

/// What `copy` did.
#[derive(Debug, Clone, PartialEq)]
pub struct CopyOutcome {
    /// The revision copied.
    pub source: ImageSummary,
    /// The new image (revision 0).
    pub image: ImageSummary,
    /// Every blob of the revision, in record order.
    pub blobs: Vec<BlobCopy>,
    /// The warnings that were also sent as progress events.
    pub warnings: Vec<Warning>,
}

impl Strata {
    /// `image copy`: pcocc's `copy_image`.
    ///
    /// - The source revision is found by pcocc's lookup rules; the destination repository is
    ///   the one named, else the default one (not the source's).
    /// - The destination name is validated (*changed*: before anything is written, where
    ///   pcocc validates when it writes the record), then `check_overwrite`: `Image {name}
    ///   already exists in repo {repo}`, or [`Warning::NameExistsElsewhere`].
    /// - Every blob of the source revision is put with its known digest: nothing is read or
    ///   written for a blob the destination has (within one repository, nothing at all),
    ///   otherwise the blob is hard-linked (same filesystem), reflinked or sparse-copied, and
    ///   rehashed.
    /// - The new record is revision 0 with the source's kind, blobs and `custom_meta`, this
    ///   owner and the current time (pcocc's `put_meta`).
    ///
    /// Progress: `Started{Copying}` with the total size of the blobs, `Advanced` after each
    /// blob, `Finished`.
    pub fn copy(&self, request: CopyRequest, progress: &dyn Progress) -> Result<CopyOutcome> {
        let (src_repo, src) = self.find(&request.src)?;
        let dest = self.repo(request.dest.repo())?;
        let name = request.dest.pcocc_name()?;
        let warnings = self.check_overwrite(&dest, name.as_str(), progress)?;
        ensure_writable(&dest)?;
        let mut sizes = Vec::with_capacity(src.data_blobs.len());
        for blob in &src.data_blobs {
            sizes.push(file_len(&src_repo.blob_path(blob.digest()))?);
        }
        let total = sizes.iter().sum();
        let writer = dest.writer()?;
        let blobs = in_phase(progress, Phase::Copying, Some(total), || {
            let mut blobs = Vec::with_capacity(src.data_blobs.len());
            let mut done = 0u64;
            for (blob, size) in src.data_blobs.iter().zip(&sizes) {
                let path = src_repo.blob_path(blob.digest());
                let (digest, method) = writer.put_blob_file(&path, Some(blob.digest()))?;
                done += size;
                progress.event(&ProgressEvent::Advanced { done });
                blobs.push(BlobCopy {
                    digest,
                    size: *size,
                    method,
                });
            }
            Ok(blobs)
        })?;
        let record = RevisionRecord {
            name: name.as_str().to_owned(),
            revision: 0,
            kind: src.kind,
            owner: self.owner().to_owned(),
            timestamp: now(),
            data_blobs: src.data_blobs.clone(),
            description: None,
            custom_meta: src.custom_meta.clone(),
        };
        writer.commit(&record)?;
        Ok(CopyOutcome {
            source: ImageSummary::from_record(src_repo.name(), &src),
            image: ImageSummary::from_record(dest.name(), &record),
            blobs,
            warnings,
        })
    }
}
