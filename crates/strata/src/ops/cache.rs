//! The container cache: extracted bundles (and squashfs images) of container images, keyed by
//! the image's stored record and store (as pcocc keys them, so that its launchers find them;
//! see [`strata_store::cache`]), and [`Strata::cache_hold`] for launchers.

use std::collections::{BTreeMap, HashMap, HashSet};

use strata_model::RevisionRecord;
use strata_store::{Cache, CacheHold, CacheRemoval};

use crate::app::Strata;
use crate::error::{Error, Result};
use crate::store::{ImageLocator, Store};

/// One entry of the cache that belongs to a known image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheRow {
    /// The store of the image.
    pub store: String,
    /// The image name.
    pub name: String,
    /// The revision.
    pub revision: u64,
    /// The item (`cached_bundle`, `cached_squashfs`).
    pub item: String,
    /// The entry's name (sha512 hex).
    pub hash: String,
}

/// What `cache_list` shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheListOutcome {
    /// The entries that belong to known images, least recently used first.
    pub rows: Vec<CacheRow>,
    /// Every entry of the cache, known or not.
    pub total: usize,
}

/// Remove the cache entries of one image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheDeleteRequest {
    /// The image (and revision; the latest without one).
    pub image: ImageLocator,
}

/// What `cache_delete` removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheDeleteOutcome {
    /// The entries removed.
    pub removed: Vec<String>,
}

/// Remove cache entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CacheGcRequest {
    /// Remove the least recently used entries until this many remain.
    pub keep_at_most: Option<usize>,
    /// Remove every entry (wins over `keep_at_most`).
    pub clear: bool,
}

/// What `cache_gc` removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheGcOutcome {
    /// Whether entries were removed because no current image has them (rather than by count).
    pub dangling: bool,
    /// The entries removed, and those kept because a running container holds them.
    pub removal: CacheRemoval,
}

impl Strata {
    /// The configured cache ([`Error::NoCache`]), created if missing.
    pub(crate) fn cache(&self) -> Result<Cache> {
        let options = self.cache_options().ok_or(Error::NoCache)?;
        Ok(Cache::open(&options.path)?.with_policy(options.extract))
    }

    /// Every entry a current image may have: entry name -> row, over every record of every
    /// store with revisions, a name in a store earlier in order hiding the same name in the
    /// later ones (as pcocc's `load_meta` does).
    fn known_entries(&self) -> Result<HashMap<String, CacheRow>> {
        let mut by_name: BTreeMap<String, (String, Vec<RevisionRecord>)> = BTreeMap::new();
        for store in self.stores().iter().rev() {
            let Some(revisions) = store.revisions() else {
                continue;
            };
            let mut records: BTreeMap<String, Vec<RevisionRecord>> = BTreeMap::new();
            for record in revisions.records()? {
                records.entry(record.name.clone()).or_default().push(record);
            }
            for (name, revisions) in records {
                by_name.insert(name, (store.name().to_owned(), revisions));
            }
        }
        let mut known = HashMap::new();
        for (store, records) in by_name.into_values() {
            for record in records {
                for item in strata_store::cache::CACHEABLE_ITEMS {
                    let hash = Cache::entry_hash(&record, &store, item);
                    known.insert(
                        hash.clone(),
                        CacheRow {
                            store: store.clone(),
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

    /// The record of the image `locator` names, and its store.
    fn cached_record(&self, locator: &ImageLocator) -> Result<(&dyn Store, RevisionRecord)> {
        let (store, image) = self.find(locator)?;
        let Some(revisions) = store.revisions() else {
            return Err(Error::NotCapable {
                store: store.name().to_owned(),
                what: "records that the container cache keys its entries on",
            });
        };
        Ok((store, revisions.record(&image)?))
    }

    /// The entries of known images, least recently used first, and the number of entries.
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

    /// Removes every entry of the image the locator names (which must exist). An entry a
    /// running container holds is [`Error::CacheEntryInUse`] and nothing is removed.
    pub fn cache_delete(&self, request: CacheDeleteRequest) -> Result<CacheDeleteOutcome> {
        let cache = self.cache()?;
        let (store, record) = self.cached_record(&request.image)?;
        let removal = cache.remove_image(&record, store.name())?;
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

    /// With `clear`, removes every entry; with `keep_at_most` (above 0), the least recently
    /// used down to that many; otherwise every entry that no current image has. Entries a
    /// running container holds are kept and reported.
    pub fn cache_gc(&self, request: CacheGcRequest) -> Result<CacheGcOutcome> {
        let cache = self.cache()?;
        if request.clear {
            return Ok(CacheGcOutcome {
                dangling: false,
                removal: cache.clear()?,
            });
        }
        if let Some(count) = request.keep_at_most.filter(|n| *n > 0) {
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

    /// For launchers: the extracted bundle of a container image (built into the cache if
    /// missing), held so that gc and delete leave it alone until the hold is dropped.
    pub fn cache_hold(&self, image: &ImageLocator) -> Result<CacheHold> {
        let cache = self.cache()?;
        let (store, record) = self.cached_record(image)?;
        let Some(containers) = store.containers() else {
            return Err(Error::NotCapable {
                store: store.name().to_owned(),
                what: "container images",
            });
        };
        Ok(cache.hold_bundle(containers, &record)?)
    }
}
