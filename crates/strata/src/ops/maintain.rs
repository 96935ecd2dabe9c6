//! Store maintenance: [`Strata::gc`] and [`Strata::verify`].

use std::time::Duration;

use strata_store::{GcReport, VerifyReport};

use crate::app::{Strata, in_phase};
use crate::error::{Error, Result};
use crate::progress::{Phase, Progress};

/// Collect the garbage of a store.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GcRequest {
    /// The store; `None`: the default one.
    pub store: Option<String>,
    /// Keep unreferenced files younger than this; `None`: the
    /// [`StrataOptions::gc_grace`](crate::StrataOptions::gc_grace) of [`Strata::new`].
    pub grace: Option<Duration>,
}

/// What `gc` removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GcOutcome {
    /// The store collected.
    pub store: String,
    /// What was removed and kept.
    pub report: GcReport,
}

/// Verify stores.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VerifyRequest {
    /// The store; `None`: every store that can be verified, in order.
    pub store: Option<String>,
}

/// What `verify` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyOutcome {
    /// One report per store verified.
    pub stores: Vec<StoreVerify>,
}

impl VerifyOutcome {
    /// Whether no store has a problem.
    pub fn is_clean(&self) -> bool {
        self.stores.iter().all(|r| r.report.is_clean())
    }
}

/// The verification of one store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreVerify {
    /// The store.
    pub store: String,
    /// Every file rehashed, every record and VM chain checked, every problem as data.
    pub report: VerifyReport,
}

impl Strata {
    /// Removes what no image of the store refers to (see
    /// [`Maintenance::gc`](crate::store::Maintenance::gc)): it never races an import, and keeps
    /// what VM instances use and what is younger than the grace period.
    ///
    /// Progress: `Started{Collecting}`, `Finished`.
    pub fn gc(&self, request: GcRequest, progress: &dyn Progress) -> Result<GcOutcome> {
        let store = self.store(request.store.as_deref())?;
        let Some(maintenance) = store.maintenance() else {
            return Err(Error::NotCapable {
                store: store.name().to_owned(),
                what: "garbage to collect",
            });
        };
        if store.writable() == Some(false) {
            return Err(Error::ReadOnlyStore {
                store: store.name().to_owned(),
                path: store.path().to_owned(),
            });
        }
        let grace = request.grace.unwrap_or(self.gc_grace());
        let report = in_phase(progress, Phase::Collecting, None, || maintenance.gc(grace))?;
        Ok(GcOutcome {
            store: store.name().to_owned(),
            report,
        })
    }

    /// Rehashes every stored file, checks every record and every VM chain, and reports every
    /// problem as data. Reads only; takes no lock. A store named that cannot be verified is
    /// [`Error::NotCapable`]; without a name, such stores are skipped.
    ///
    /// Progress: `Started{Verifying}`, `Finished` per store.
    pub fn verify(&self, request: VerifyRequest, progress: &dyn Progress) -> Result<VerifyOutcome> {
        let mut stores = Vec::new();
        for store in self.selected(request.store.as_deref())? {
            let Some(maintenance) = store.maintenance() else {
                if request.store.is_some() {
                    return Err(Error::NotCapable {
                        store: store.name().to_owned(),
                        what: "anything to verify",
                    });
                }
                continue;
            };
            let report = in_phase(progress, Phase::Verifying, None, || maintenance.verify())?;
            stores.push(StoreVerify {
                store: store.name().to_owned(),
                report,
            });
        }
        Ok(VerifyOutcome { stores })
    }
}
