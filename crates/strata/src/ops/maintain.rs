//! Repository maintenance: [`Strata::gc`] (`image repo gc REPO`) and [`Strata::verify`].

use std::time::Duration;

use strata_store::{GcReport, Qcow2Chains, VerifyReport};

use crate::app::{Strata, ensure_writable, in_phase};
use crate::error::Result;
use crate::progress::{Phase, Progress};

/// `image repo gc [REPO]`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GcRequest {
    /// The repository; `None`: the default one (pcocc requires the name).
    pub repo: Option<String>,
    /// Keep unreferenced blobs and `.tmp/` entries younger than this; `None`: the
    /// [`StrataOptions::gc_grace`](crate::StrataOptions::gc_grace) of [`Strata::open`].
    pub grace: Option<Duration>,
}

/// What `gc` removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GcOutcome {
    /// The repository collected.
    pub repo: String,
    /// What was removed and kept.
    pub report: GcReport,
}

/// `verify [REPO]` (strata's own).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VerifyRequest {
    /// The repository; `None`: every configured repository, in priority order.
    pub repo: Option<String>,
}

/// What `verify` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyOutcome {
    /// One report per repository verified.
    pub repos: Vec<RepoVerify>,
}

impl VerifyOutcome {
    /// Whether no repository has a problem.
    pub fn is_clean(&self) -> bool {
        self.repos.iter().all(|r| r.report.is_clean())
    }
}

/// The verification of one repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoVerify {
    /// The repository name.
    pub repo: String,
    /// Every blob rehashed, every record and VM chain checked, every problem as data.
    pub report: VerifyReport,
}

impl Strata {
    /// `image repo gc`: pcocc's `garbage_collect` (remove every blob no record of the
    /// repository names, empty fan-out directories, everything in `.tmp/`), under the
    /// repository's exclusive lock so that it never races an import, keeping blobs that VM
    /// instances use and entries younger than the grace period.
    ///
    /// Progress: `Started{Collecting}`, `Finished`.
    pub fn gc(&self, request: GcRequest, progress: &dyn Progress) -> Result<GcOutcome> {
        let repo = self.repo(request.repo.as_deref())?;
        ensure_writable(&repo)?;
        let grace = request.grace.unwrap_or(self.gc_grace());
        let report = in_phase(progress, Phase::Collecting, None, || Ok(repo.gc(grace)?))?;
        Ok(GcOutcome {
            repo: repo.name().to_owned(),
            report,
        })
    }

    /// Rehashes every blob, checks every record and every VM revision's qcow2 chain (each
    /// layer backed by the blob below it through pcocc's relative path), and reports every
    /// problem as data. Reads only; takes no lock.
    ///
    /// Progress: `Started{Verifying}`, `Finished` per repository.
    pub fn verify(&self, request: VerifyRequest, progress: &dyn Progress) -> Result<VerifyOutcome> {
        let defs = match &request.repo {
            Some(name) => vec![self.config().repo(Some(name))?],
            None => self.config().repos().iter().collect(),
        };
        let mut repos = Vec::with_capacity(defs.len());
        for def in defs {
            let repo = self.open_def(def)?;
            let report = in_phase(progress, Phase::Verifying, None, || {
                Ok(repo.verify_with(Some(&Qcow2Chains))?)
            })?;
            repos.push(RepoVerify {
                repo: repo.name().to_owned(),
                report,
            });
        }
        Ok(VerifyOutcome { repos })
    }
}
