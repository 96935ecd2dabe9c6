//! [`Strata::delete`] (`image delete IMAGE[@REV]`): remove revision records; blobs stay until
//! gc.

use strata_model::ImageRef;
use strata_store::{DeleteMode, StoreError};

use crate::app::{Strata, ensure_writable};
use crate::error::Result;

/// `image delete IMAGE[@REV]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeleteRequest {
    /// The image; with `@REV` only that revision, else every revision.
    pub image: ImageRef,
}

/// What `delete` removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeleteOutcome {
    /// The repository the records were removed from.
    pub repo: String,
    /// The image name.
    pub name: String,
    /// The revisions removed, ascending.
    pub revisions: Vec<u64>,
}

impl Strata {
    /// `image delete`: pcocc's `delete_image`.
    ///
    /// - **Without a `REPO:` prefix, only the default (first) repository is searched**, not
    ///   the repositories in priority order as every lookup does: an image that exists only in
    ///   another repository is `Object {name} not found in repository {default}`. This is a
    ///   known weakness of pcocc (`image delete foo` may leave the `foo` that `image show foo`
    ///   shows), kept on purpose so that scripts behave as with pcocc.
    /// - Without `@REV`, every revision is removed; with it, only that one (`Object {name}
    ///   revision {r} not found in repository {repo}`).
    /// - *Added:* revisions that VM instances use are refused ([`ErrorKind::Busy`], naming
    ///   the instances), before any record is removed; so is a repository this process may
    ///   not write to.
    /// - With a cache configured, the cache entries of the image (the revision the URI
    ///   designates, found by pcocc's lookup rules, as pcocc's `cache_key` finds it) are
    ///   removed first, as pcocc does; *added:* an entry a running container holds is
    ///   [`Error::CacheEntryInUse`](crate::Error::CacheEntryInUse) and nothing is removed.
    /// - Only records are removed; blobs stay until `repo gc`.
    ///
    /// [`ErrorKind::Busy`]: crate::ErrorKind::Busy
    pub fn delete(&self, request: DeleteRequest) -> Result<DeleteOutcome> {
        if self.config().cache_def().is_some() {
            self.cache_delete(crate::CacheDeleteRequest {
                image: request.image.clone(),
            })?;
        }
        let repo = self.repo(request.image.repo())?;
        let name = request.image.name();
        let revisions = match request.image.revision() {
            Some(revision) => {
                let revision = u64::from(revision);
                // `Object {name} revision {r} not found in repository {repo}`.
                repo.record(name, revision)?;
                vec![revision]
            }
            None => repo.revisions(name)?,
        };
        ensure_writable(&repo)?;
        let writer = repo.writer()?;
        for &revision in &revisions {
            let instances = repo.is_in_use(name, revision)?;
            if !instances.is_empty() {
                return Err(StoreError::InUse {
                    name: name.to_owned(),
                    revision,
                    instances: instances.iter().map(ToString::to_string).collect(),
                }
                .into());
            }
        }
        for &revision in &revisions {
            writer.delete_record(name, revision, DeleteMode::RefuseInUse)?;
        }
        Ok(DeleteOutcome {
            repo: repo.name().to_owned(),
            name: name.to_owned(),
            revisions,
        })
    }
}
