//! The container cache (pcocc's `image cache list|delete|gc`, `lib/pcocc/scripts/cmd.py` and
//! `lib/pcocc/Cache.py`, v0.7.5): extracted bundles of container revisions, keyed as pcocc
//! keys them (see [`strata_store::cache`]), and [`Strata::cache_hold`] for launchers.

use std::collections::{BTreeMap, HashMap, HashSet};

use strata_model::{ImageRef, RevisionRecord};
use strata_store::{Cache, CacheHold, CacheRemoval};

use crate::app::Strata;
use crate::error::{Error, Result};

/// One row of `cache list`: an entry that belongs to a known revision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheRow {
    /// The repository of the revision.
    pub repo: String,
    /// The image name.
    pub name: String,
    /// The revision.
    pub revision: u64,
    /// The item (`cached_bundle`, `cached_squashfs`).
    pub item: String,
    /// The entry's name (sha512 hex); pcocc shows its first 10 characters.
    pub hash: String,
}

/// What `cache list` shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheListOutcome {
    /// The entries that belong to known revisions, least recently used first.
    pub rows: Vec<CacheRow>,
    /// Every entry of the cache, known or not (pcocc's `len(cache)`).
    pub total: usize,
}

/// `cache delete IMAGE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheDeleteRequest {
    /// The image (and revision; the latest without one), found by pcocc's lookup rules.
    pub image: ImageRef,
}

/// What `cache delete` removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheDeleteOutcome {
    /// The entries removed.
    pub removed: Vec<String>,
}

/// `cache gc [-b N] [-c]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CacheGcRequest {
    /// `-b N`: remove the least recently used entries until N remain. As in pcocc, 0 counts
    /// as not given.
    pub force_below: Option<usize>,
    /// `-c`: remove every entry (wins over `-b`).
    pub force_clear: bool,
}

/// What `cache gc` removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheGcOutcome {
    /// Whether entries were removed because no current revision has them (pcocc prints
    /// `Deleting dangling cache blob {h10} ...` for each only then).
    pub dangling: bool,
    /// The entries removed, and those kept because a running container holds them.
    pub removal: CacheRemoval,
}

impl Strata {
    /// The configured cache (`A cache needs to be configured in the repos.yaml config file`),
    /// created if missing (`Could not create cache dir`, `Cache should be writable in {path}`).
    pub(crate) fn cache(&self) -> Result<Cache> {
        let def = self.config().cache()?;
        Ok(Cache::open(&def.path)?)
    }

    /// Every entry a current revision may have: entry name -> (repo, name, revision, item),
    /// over pcocc's `load_meta` (every revision of every image, a name in a repository of
    /// higher priority hiding the same name in the others).
    fn known_entries(&self) -> Result<HashMap<String, CacheRow>> {
        let mut by_name: BTreeMap<String, (String, Vec<RevisionRecord>)> = BTreeMap::new();
        for def in self.config().repos().iter().rev() {
            let repo = self.open_def(def)?;
            let mut records: BTreeMap<String, Vec<RevisionRecord>> = BTreeMap::new();
            for record in repo.records()? {
                records.entry(record.name.clone()).or_default().push(record);
            }
            for (name, revisions) in records {
                by_name.insert(name, (repo.name().to_owned(), revisions));
            }
        }
        let mut known = HashMap::new();
        for (repo, records) in by_name.into_values() {
            for record in records {
                for item in strata_store::cache::CACHEABLE_ITEMS {
                    let hash = Cache::entry_hash(&record, &repo, item);
                    known.insert(
                        hash.clone(),
                        CacheRow {
                            repo: repo.clone(),
                            name: record.name.clone(),
                            revision: record.revision,
                            item: item.to_owned(),
                            hash,
                        },
                    );
                }
            }
        }
        Ok(known)
    }

    /// `image cache list`: the entries of known revisions, least recently used first, and
    /// the number of entries.
    pub fn cache_list(&self) -> Result<CacheListOutcome> {
        let cache = self.cache()?;
        let known = self.known_entries()?;
        let entries = cache.entries()?;
        let rows = entries
            .iter()
            .filter_map(|e| known.get(&e.hash).cloned())
            .collect();
        Ok(CacheListOutcome {
            rows,
            total: entries.len(),
        })
    }

    /// `image cache delete IMAGE`: the image must exist (pcocc's `get_image`); every item of
    /// the revision it designates is removed. An entry a running container holds is
    /// [`Error::CacheEntryInUse`].
    pub fn cache_delete(&self, request: CacheDeleteRequest) -> Result<CacheDeleteOutcome> {
        let cache = self.cache()?;
        let (repo, record) = self.find(&request.image)?;
        let removal = cache.remove_image(&record, repo.name())?;
        if let Some(hash) = removal.held.into_iter().next() {
            return Err(Error::CacheEntryInUse {
                name: record.name,
                hash,
            });
        }
        Ok(CacheDeleteOutcome {
            removed: removal.removed,
        })
    }

    /// `image cache gc`: with `-c` every entry, with `-b N` (N > 0) the least recently used
    /// down to N, otherwise every entry that no current revision has. Entries a running
    /// container holds are kept and reported.
    pub fn cache_gc(&self, request: CacheGcRequest) -> Result<CacheGcOutcome> {
        let cache = self.cache()?;
        if request.force_clear {
            return Ok(CacheGcOutcome {
                dangling: false,
                removal: cache.clear()?,
            });
        }
        if let Some(count) = request.force_below.filter(|n| *n > 0) {
            return Ok(CacheGcOutcome {
                dangling: false,
                removal: cache.decimate(count)?,
            });
        }
        let keep: HashSet<String> = self.known_entries()?.into_keys().collect();
        Ok(CacheGcOutcome {
            dangling: true,
            removal: cache.remove_unknown(&keep)?,
        })
    }

    /// For launchers: the extracted bundle of a container revision (built into the cache if
    /// missing), held so that gc and delete leave it alone until the hold is dropped.
    pub fn cache_hold(&self, image: &ImageRef) -> Result<CacheHold> {
        let cache = self.cache()?;
        let (repo, record) = self.find(image)?;
        Ok(cache.hold_bundle(&repo, &record)?)
    }
}
