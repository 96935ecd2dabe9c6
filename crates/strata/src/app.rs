//! [`Strata`]: the stores every operation runs against, in order, with the options that apply
//! to every operation, and the rules the operations share: where an image is looked up, which
//! store a new image goes to, what a name policy checks, the owner and time of new images.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use strata_disk::{Cancel, ConvertOptions};
use strata_store::{ExtractPolicy, ImageDriver};

use crate::error::{Error, Result};
use crate::progress::{Progress, ProgressEvent, Warning};
use crate::store::{ImageKey, ImageLocator, ImageSummary, NamePolicy, NewImage, OnExisting, Store};
use crate::transport::{NativeRegistry, RegistrySource};

/// Options of [`Strata::new`]. [`StrataOptions::default`] gives the defaults.
#[derive(Debug, Clone)]
pub struct StrataOptions {
    /// The owner recorded for new images; `None` takes the user of the calling process.
    pub owner: Option<String>,
    /// How young unreferenced blobs and scratch entries must be for [`Strata::gc`] to keep them.
    /// Zero, the default, removes everything unreferenced; a store other programs write to
    /// concurrently should use a few minutes.
    pub gc_grace: Duration,
    /// The registry client that `docker://` imports and exports go through: [`NativeRegistry`]
    /// by default; without one they are
    /// [`Error::TransportUnavailable`].
    pub registry: Option<Arc<dyn RegistrySource>>,
    /// The Docker Engine API endpoint of `docker-daemon:` (`unix:///path/to/socket`); `None`
    /// takes [`strata_oci::daemon::DEFAULT_DOCKER_HOST`].
    pub docker_host: Option<String>,
    /// The container cache, if any: extracted bundles of container images, made when an image
    /// is imported and when a launcher asks ([`Strata::cache_hold`]).
    pub cache: Option<CacheOptions>,
    /// A flag that stops the operations moving image bytes (import, export, copy) when set,
    /// from another thread or a signal handler: they remove what they staged and fail with
    /// [`Error::Interrupted`].
    pub cancel: Option<Cancel>,
}

impl Default for StrataOptions {
    fn default() -> Self {
        StrataOptions {
            owner: None,
            gc_grace: Duration::ZERO,
            registry: Some(Arc::new(NativeRegistry::default())),
            docker_host: None,
            cache: None,
            cancel: None,
        }
    }
}

/// Where the container cache is and what it keeps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheOptions {
    /// The cache's directory (created if missing).
    pub path: PathBuf,
    /// What an import puts in it: the extracted bundle, and with
    /// [`ImageDriver::Squashfs`] a squashfs image of it too.
    pub driver: ImageDriver,
    /// How it extracts layers (the default trusts no image: no device nodes, no setuid or
    /// setgid bits, bounded expansion).
    pub extract: ExtractPolicy,
}

/// The application core, given its stores. Cheap to keep and to clone; a store is opened (and
/// created) only when an operation needs it.
#[derive(Debug, Clone)]
pub struct Strata {
    stores: Vec<Arc<dyn Store>>,
    owner: String,
    gc_grace: Duration,
    registry: Option<Arc<dyn RegistrySource>>,
    docker_host: String,
    cache: Option<CacheOptions>,
    cancel: Option<Cancel>,
}

impl Strata {
    /// The core over `stores`, in order: the first is the default store (where new images go
    /// when a request names none), and lookups that name no store search them in this order.
    /// Store names should be unique: a request naming a store takes the first of that name.
    pub fn new(stores: impl IntoIterator<Item = Arc<dyn Store>>, options: StrataOptions) -> Strata {
        Strata {
            stores: stores.into_iter().collect(),
            owner: options
                .owner
                .unwrap_or_else(|| strata_store::Env::from_process().user().to_owned()),
            gc_grace: options.gc_grace,
            registry: options.registry,
            docker_host: options
                .docker_host
                .unwrap_or_else(|| strata_oci::daemon::DEFAULT_DOCKER_HOST.to_owned()),
            cache: options.cache,
            cancel: options.cancel,
        }
    }

    /// The stores, in order.
    pub fn stores(&self) -> &[Arc<dyn Store>] {
        &self.stores
    }

    /// The owner recorded for new images.
    pub fn owner(&self) -> &str {
        &self.owner
    }

    /// The store named `name`, or the default (first) store for `None`
    /// ([`Error::UnknownStore`], [`Error::NoStore`]).
    pub fn store(&self, name: Option<&str>) -> Result<&dyn Store> {
        let found = match name {
            Some(name) => self.stores.iter().find(|s| s.name() == name),
            None => self.stores.first(),
        };
        match (found, name) {
            (Some(store), _) => Ok(&**store),
            (None, Some(name)) => Err(Error::UnknownStore {
                name: name.to_owned(),
            }),
            (None, None) => Err(Error::NoStore),
        }
    }

    /// The stores `name` selects: that one, or every store for `None`.
    pub(crate) fn selected(&self, name: Option<&str>) -> Result<Vec<&dyn Store>> {
        match name {
            Some(_) => Ok(vec![self.store(name)?]),
            None => Ok(self.stores.iter().map(|s| &**s).collect()),
        }
    }

    /// The image `locator` names and the store it is in: in its store only, or in the first
    /// store (in order) that has it ([`Error::ImageNotFound`]).
    pub fn find(&self, locator: &ImageLocator) -> Result<(&dyn Store, ImageSummary)> {
        for store in self.selected(locator.store.as_deref())? {
            if let Some(image) = store.find(&locator.key)? {
                return Ok((store, image));
            }
        }
        Err(Error::ImageNotFound {
            key: locator.key.clone(),
            store: locator.store.clone(),
        })
    }

    /// Applies `policy` to a new image `name` in `dest`: an image of that name there is
    /// [`Error::ImageExists`] under [`OnExisting::Refuse`]; one in another store (the first in
    /// order) is a [`Warning::NameExistsElsewhere`] when asked for, sent to `progress` and
    /// returned. Then refuses a store this process may not write to, before anything is
    /// written.
    pub(crate) fn check_new_name(
        &self,
        dest: &dyn Store,
        name: &str,
        policy: NamePolicy,
        progress: &dyn Progress,
    ) -> Result<Vec<Warning>> {
        if name.is_empty() {
            return Err(Error::EmptyName);
        }
        if policy.on_existing == OnExisting::Refuse && dest.find(&ImageKey::name(name))?.is_some() {
            return Err(Error::ImageExists {
                name: name.to_owned(),
                store: dest.name().to_owned(),
            });
        }
        let mut warnings = Vec::new();
        if policy.warn_if_elsewhere {
            for store in &self.stores {
                if store.name() == dest.name() {
                    continue;
                }
                if store.find(&ImageKey::name(name))?.is_some() {
                    let warning = Warning::NameExistsElsewhere {
                        name: name.to_owned(),
                        store: store.name().to_owned(),
                    };
                    progress.event(&ProgressEvent::Warning(warning.clone()));
                    warnings.push(warning);
                    break;
                }
            }
        }
        if dest.writable() == Some(false) {
            return Err(Error::ReadOnlyStore {
                store: dest.name().to_owned(),
                path: dest.path().to_owned(),
            });
        }
        Ok(warnings)
    }

    /// What a store writing image `name` under `policy` is told.
    pub(crate) fn new_image(&self, name: &str, policy: NamePolicy) -> NewImage {
        NewImage {
            name: name.to_owned(),
            owner: self.owner.clone(),
            on_existing: policy.on_existing,
        }
    }

    /// The registry client, if one was given.
    pub(crate) fn registry(&self) -> Option<&dyn RegistrySource> {
        self.registry.as_deref()
    }

    /// The Docker daemon endpoint.
    pub(crate) fn docker_host(&self) -> &str {
        &self.docker_host
    }

    /// The grace period of [`Strata::gc`].
    pub(crate) fn gc_grace(&self) -> Duration {
        self.gc_grace
    }

    /// The convert engine's options: the defaults, stopped by the caller's cancel flag.
    pub(crate) fn convert_options(&self) -> ConvertOptions {
        ConvertOptions {
            cancel: self.cancel.clone(),
            ..ConvertOptions::default()
        }
    }

    /// The caller's cancel flag, if one was given.
    pub(crate) fn cancel(&self) -> Option<&Cancel> {
        self.cancel.as_ref()
    }

    /// `error`, or [`Error::Interrupted`] when the caller's cancel flag is set: an operation
    /// that was stopped fails on whatever it was doing, and says it was stopped.
    pub(crate) fn interrupted_or(&self, error: Error) -> Error {
        if self.cancel.as_ref().is_some_and(Cancel::is_cancelled) {
            Error::Interrupted
        } else {
            error
        }
    }

    /// The container cache's options, if one is configured.
    pub(crate) fn cache_options(&self) -> Option<&CacheOptions> {
        self.cache.as_ref()
    }
}

/// Seconds since the epoch, as Python's `time.time()`.
pub(crate) fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// Runs `body` inside a progress phase: `Started` before, `Finished` after, whatever the
/// outcome, so that sinks can keep a stack of phases.
pub(crate) fn in_phase<T>(
    progress: &dyn Progress,
    phase: crate::progress::Phase,
    total: Option<u64>,
    body: impl FnOnce() -> Result<T>,
) -> Result<T> {
    progress.event(&ProgressEvent::Started { phase, total });
    let result = body();
    progress.event(&ProgressEvent::Finished);
    result
}

/// The size of a file in bytes (its apparent length).
pub(crate) fn file_len(path: &Path) -> Result<u64> {
    std::fs::metadata(path)
        .map(|m| m.len())
        .map_err(|e| Error::io("read the metadata of", path, e))
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::progress::Phase;
    use crate::stores::RepositoryStore;

    fn strata(stores: &[(&str, &Path)]) -> Strata {
        let stores: Vec<Arc<dyn Store>> = stores
            .iter()
            .map(|(name, path)| Arc::new(RepositoryStore::new(*name, *path)) as Arc<dyn Store>)
            .collect();
        Strata::new(stores, StrataOptions::default())
    }

    #[test]
    fn owner_comes_from_the_process_unless_given() {
        let options = StrataOptions {
            owner: Some("builder".into()),
            ..StrataOptions::default()
        };
        assert_eq!(Strata::new([], options).owner(), "builder");
        assert_eq!(
            strata(&[]).owner(),
            strata_store::Env::from_process().user()
        );
    }

    #[test]
    fn stores_by_name_and_the_default() {
        let dir = tempfile::tempdir().unwrap();
        let s = strata(&[]);
        let err = s.store(None).unwrap_err();
        assert!(matches!(err, Error::NoStore));
        assert_eq!(err.kind(), crate::ErrorKind::Config);
        let err = s.find(&ImageLocator::named("x")).unwrap_err();
        assert!(
            matches!(err, Error::ImageNotFound { store: None, .. }),
            "{err:?}"
        );
        let s = strata(&[("a", &dir.path().join("a")), ("b", &dir.path().join("b"))]);
        assert_eq!(s.store(None).unwrap().name(), "a");
        assert_eq!(s.store(Some("b")).unwrap().name(), "b");
        let err = s.store(Some("c")).unwrap_err();
        assert!(matches!(&err, Error::UnknownStore { name } if name == "c"));
        // Nothing was created: stores open when an operation needs them.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn phases_always_finish() {
        let events = Mutex::new(Vec::new());
        let sink = |e: &ProgressEvent| events.lock().unwrap().push(e.clone());
        let result: Result<()> = in_phase(&sink, Phase::Collecting, Some(3), || {
            Err(Error::io("read", "/x", std::io::Error::other("boom")))
        });
        assert!(result.is_err());
        assert_eq!(
            *events.lock().unwrap(),
            vec![
                ProgressEvent::Started {
                    phase: Phase::Collecting,
                    total: Some(3)
                },
                ProgressEvent::Finished
            ]
        );
    }
}
