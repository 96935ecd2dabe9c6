//! Read-only queries: [`Strata::list`] (`image list`), [`Strata::show`] (`image show`) and
//! [`Strata::repo_list`] (`image repo list`).

use std::path::PathBuf;

use strata_model::{ImageRef, Kind, RevisionRecord};
use strata_store::{Repository, Scope};

use crate::app::{Strata, file_len, record_in};
use crate::error::{Error, Result};

/// One revision of an image, as `list` and `show` describe it.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageSummary {
    /// The repository the image is in.
    pub repo: String,
    /// The image name.
    pub name: String,
    /// VM or container.
    pub kind: Kind,
    /// The revision described.
    pub revision: u64,
    /// The user who wrote the revision.
    pub owner: String,
    /// When it was written, seconds since the epoch.
    pub timestamp: f64,
}

impl ImageSummary {
    /// The summary of `record`, found in `repo`.
    pub fn from_record(repo: &str, record: &RevisionRecord) -> ImageSummary {
        ImageSummary {
            repo: repo.to_owned(),
            name: record.name.clone(),
            kind: record.kind,
            revision: record.revision,
            owner: record.owner.clone(),
            timestamp: record.timestamp,
        }
    }

    /// The fully qualified reference `repo:name@revision` (pcocc's `URI:` line of `show`).
    pub fn uri(&self) -> String {
        format!("{}:{}@{}", self.repo, self.name, self.revision)
    }
}

/// `image list [-R REPO] [REGEX]`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListRequest {
    /// Only this repository (`-R`); `None`: every repository, in priority order.
    pub repo: Option<String>,
    /// Only names in which this regular expression matches (anywhere, as Python's
    /// `re.search`); `None` or empty: every image.
    pub regex: Option<String>,
}

/// What `list` found.
#[derive(Debug, Clone, PartialEq)]
pub struct ListOutcome {
    /// One entry per repository searched, in priority order, including repositories with no
    /// match (pcocc prints only those with matches).
    pub repos: Vec<RepoImages>,
}

/// The matching images of one repository.
#[derive(Debug, Clone, PartialEq)]
pub struct RepoImages {
    /// The repository name.
    pub repo: String,
    /// The latest revision of each matching image, sorted by name.
    pub images: Vec<ImageSummary>,
}

/// `image show IMAGE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShowRequest {
    /// The image, maybe with a repository and a revision.
    pub image: ImageRef,
}

/// What `show` found.
#[derive(Debug, Clone, PartialEq)]
pub struct ShowOutcome {
    /// The revision asked for (the latest without `@REV`).
    pub image: ImageSummary,
    /// Its number of layers (`data_blobs`).
    pub layers: usize,
    /// Every revision of the image in the same repository, ascending.
    pub revisions: Vec<RevisionSummary>,
}

/// One line of `show`'s revision table.
#[derive(Debug, Clone, PartialEq)]
pub struct RevisionSummary {
    /// The revision.
    pub revision: u64,
    /// The size in bytes of **that revision's top blob only** (pcocc's rule: the file size of
    /// `data_blobs[-1]`, not the sum of the layers).
    pub size: u64,
    /// When it was written, seconds since the epoch.
    pub timestamp: f64,
}

/// What `repo list` shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoListOutcome {
    /// Every configured repository, in priority order.
    pub repos: Vec<RepoInfo>,
}

/// One configured repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoInfo {
    /// Its name.
    pub name: String,
    /// Its directory (expanded).
    pub path: PathBuf,
    /// Whether this process may write to it (`access(W_OK)`); `None` when the path does not
    /// exist (pcocc's `N/A`).
    pub writable: Option<bool>,
    /// Which configuration file defines it.
    pub scope: Scope,
}

impl Strata {
    /// `image list`: per repository (the one of `-R`, else each in priority order), the
    /// latest revision of every image whose name matches the regular expression, sorted by
    /// name.
    ///
    /// - A bad pattern: `Could not parse regular expression :{err}` (the pattern is compiled
    ///   first, before any repository is read). The syntax is the `regex` crate's, which is
    ///   Python's for everything but look-around and back-references.
    /// - `-R` naming no configured repository: `Unknown repository {name}`.
    /// - Only the latest record of each image is read (pcocc reads them all); a record that
    ///   does not parse fails the listing, as in pcocc.
    pub fn list(&self, request: ListRequest) -> Result<ListOutcome> {
        let regex = match request.regex.as_deref().filter(|r| !r.is_empty()) {
            Some(pattern) => Some(regex::Regex::new(pattern).map_err(|e| Error::BadRegex {
                pattern: pattern.to_owned(),
                message: e.to_string(),
            })?),
            None => None,
        };
        let defs = match &request.repo {
            Some(name) => vec![self.config().repo(Some(name))?],
            None => self.config().repos().iter().collect(),
        };
        let mut repos = Vec::with_capacity(defs.len());
        for def in defs {
            let repo = self.open_def(def)?;
            let mut images = Vec::new();
            for (name, revisions) in repo.index()? {
                if regex.as_ref().is_some_and(|r| !r.is_match(&name)) {
                    continue;
                }
                let Some(&latest) = revisions.last() else {
                    continue;
                };
                let record = repo.record(&name, latest)?;
                images.push(ImageSummary::from_record(repo.name(), &record));
            }
            repos.push(RepoImages {
                repo: repo.name().to_owned(),
                images,
            });
        }
        Ok(ListOutcome { repos })
    }

    /// `image show`: the revision `image` names (found by pcocc's lookup rules) and every
    /// revision of the image in the repository where it was found, each with the size of its
    /// top blob only.
    ///
    /// pcocc looks the revision list up again by name (the first repository that has the
    /// name, which for `IMAGE@REV` without a repository can differ from the one that has the
    /// revision); strata lists the revisions of the repository where the shown revision was
    /// found.
    pub fn show(&self, request: ShowRequest) -> Result<ShowOutcome> {
        let (repo, record) = self.find(&request.image)?;
        let mut revisions = Vec::new();
        for revision in repo.revisions(&record.name)? {
            let rev_record = record_in(&repo, &record.name, Some(revision))?;
            revisions.push(RevisionSummary {
                revision,
                size: top_blob_size(&repo, &rev_record)?,
                timestamp: rev_record.timestamp,
            });
        }
        Ok(ShowOutcome {
            image: ImageSummary::from_record(repo.name(), &record),
            layers: record.data_blobs.len(),
            revisions,
        })
    }

    /// `image repo list`: every configured repository, its path, and whether it is writable
    /// (`access(W_OK)`, `None` for a path that does not exist). Nothing is created or opened.
    pub fn repo_list(&self) -> Result<RepoListOutcome> {
        let repos = self
            .config()
            .repos()
            .iter()
            .map(|def| RepoInfo {
                name: def.name.clone(),
                path: def.path.clone(),
                writable: def
                    .path
                    .exists()
                    .then(|| strata_store::fsutil::is_writable(&def.path)),
                scope: def.scope,
            })
            .collect();
        Ok(RepoListOutcome { repos })
    }
}

/// The size of `record`'s top blob (0 for a record without blobs).
fn top_blob_size(repo: &Repository, record: &RevisionRecord) -> Result<u64> {
    match record.top_blob() {
        Some(top) => file_len(&repo.blob_path(top.digest())),
        None => Ok(0),
    }
}
