//! [`Strata`]: the opened configuration every operation runs against, with the rules that the
//! operations share: where an image is looked up, where new images are written, pcocc's
//! `check_overwrite`, and the owner and time written into new records.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use strata_model::{ImageRef, RevisionRecord};
use strata_store::{Env, RepoDef, ReposConfig, Repository, StoreError};

use crate::error::{Error, Result};
use crate::progress::{Progress, ProgressEvent, Warning};
use crate::transport::{NativeRegistry, RegistrySource};

/// How to open [`Strata`].
#[derive(Debug, Clone)]
pub struct StrataOptions {
    /// The calling user's environment: home directory, user name, variables (`PCOCC_*`,
    /// `XDG_DATA_HOME`) that locate `repos.yaml`. Tests inject their own.
    pub env: Env,
    /// The repositories to use instead of loading `repos.yaml` through `env`.
    pub repos: Option<ReposConfig>,
    /// The owner written into new records; `None` takes the user name of `env` (pcocc's
    /// `pw_name` of the real uid).
    pub owner: Option<String>,
    /// How young unreferenced blobs and `.tmp/` entries must be for [`Strata::gc`] to keep
    /// them (see [`Repository::gc`]). Zero, the default, behaves as pcocc; a repository that
    /// pcocc also writes to concurrently should use a few minutes.
    pub gc_grace: Duration,
    /// The registry client that `docker://` imports go through: [`NativeRegistry`] by default;
    /// without one they are [`Error::TransportUnavailable`].
    pub registry: Option<Arc<dyn RegistrySource>>,
    /// The Docker Engine API endpoint of `docker-daemon:` and `pcocc-docker-daemon:`
    /// (`unix:///path/to/socket`); `None` takes `DOCKER_HOST` from `env`, else
    /// [`strata_oci::daemon::DEFAULT_DOCKER_HOST`].
    pub docker_host: Option<String>,
}

impl StrataOptions {
    /// Options for `env`, loading `repos.yaml` as pcocc does, with the defaults.
    pub fn new(env: Env) -> StrataOptions {
        StrataOptions {
            env,
            repos: None,
            owner: None,
            gc_grace: Duration::ZERO,
            registry: Some(Arc::new(NativeRegistry::default())),
            docker_host: None,
        }
    }

    /// Options for the calling process ([`Env::from_process`]).
    pub fn from_process() -> StrataOptions {
        StrataOptions::new(Env::from_process())
    }
}

/// The application core, opened on a configuration. Cheap to keep; every operation opens the
/// repositories it needs.
#[derive(Debug, Clone)]
pub struct Strata {
    env: Env,
    config: ReposConfig,
    owner: String,
    gc_grace: Duration,
    registry: Option<Arc<dyn RegistrySource>>,
    docker_host: Option<String>,
}

impl Strata {
    /// Loads the configuration: `options.repos` if given, else `repos.yaml` as pcocc reads it
    /// (the user file, then the system file, `PCOCC_USER_CONF_DIR` and
    /// `PCOCC_SYSTEM_CONF_DIR` overriding their directories; with neither file, one repository
    /// named `user` under the XDG data directory). Repositories are opened (and created, by
    /// pcocc's rules) only when an operation needs them.
    pub fn open(options: StrataOptions) -> Result<Strata> {
        let config = match options.repos {
            Some(config) => config,
            None => ReposConfig::load(&options.env)?,
        };
        let owner = options
            .owner
            .unwrap_or_else(|| options.env.user().to_owned());
        Ok(Strata {
            env: options.env,
            config,
            owner,
            gc_grace: options.gc_grace,
            registry: options.registry,
            docker_host: options.docker_host,
        })
    }

    /// The environment the configuration was loaded with.
    pub fn env(&self) -> &Env {
        &self.env
    }

    /// The configured repositories, highest priority first.
    pub fn config(&self) -> &ReposConfig {
        &self.config
    }

    /// The owner written into new records.
    pub fn owner(&self) -> &str {
        &self.owner
    }

    /// The registry client, if one was given.
    pub(crate) fn registry(&self) -> Option<&dyn RegistrySource> {
        self.registry.as_deref()
    }

    /// The Docker daemon endpoint: [`StrataOptions::docker_host`], else `DOCKER_HOST`, else
    /// the default socket.
    pub(crate) fn docker_host(&self) -> String {
        self.docker_host
            .clone()
            .or_else(|| {
                self.env
                    .var("DOCKER_HOST")
                    .filter(|h| !h.is_empty())
                    .map(str::to_owned)
            })
            .unwrap_or_else(|| strata_oci::daemon::DEFAULT_DOCKER_HOST.to_owned())
    }

    /// The grace period of [`Strata::gc`].
    pub(crate) fn gc_grace(&self) -> Duration {
        self.gc_grace
    }

    /// Opens one repository definition (creating the repository by pcocc's rules).
    pub(crate) fn open_def(&self, def: &RepoDef) -> Result<Repository> {
        Ok(def.open()?.with_owner(self.owner.clone()))
    }

    /// pcocc's `get_repo`: the repository named `name`, or the default (first) one for `None`
    /// (`Unknown repository {name}`, `No repository configured`). This is the write target of
    /// import, copy and delete.
    pub(crate) fn repo(&self, name: Option<&str>) -> Result<Repository> {
        let def = self.config.repo(name)?;
        self.open_def(def)
    }

    /// pcocc's `get_meta`/`get_image`: the record `image` names and the repository it was
    /// found in. With a `REPO:` prefix only that repository is searched; without one, every
    /// repository in priority order, the first that has the name (and the revision, if one is
    /// given) winning. Without `@REV`, the latest revision. Not found:
    /// `Object {name}[ revision {r}] not found[ in repository {repo}| in configured
    /// repositories]`.
    pub(crate) fn find(&self, image: &ImageRef) -> Result<(Repository, RevisionRecord)> {
        let revision = image.revision().map(u64::from);
        if let Some(repo) = image.repo() {
            let repo = self.repo(Some(repo))?;
            let record = record_in(&repo, image.name(), revision)?;
            return Ok((repo, record));
        }
        for def in self.config.repos() {
            let repo = self.open_def(def)?;
            match record_in(&repo, image.name(), revision) {
                Ok(record) => return Ok((repo, record)),
                Err(Error::Store(StoreError::ImageNotFound { .. })) => {}
                Err(e) => return Err(e),
            }
        }
        Err(StoreError::ImageNotFound {
            name: image.name().to_owned(),
            revision,
            repo: None,
        }
        .into())
    }

    /// pcocc's `check_overwrite` for a new image `name` in `dest`: an image of that name in
    /// `dest` is `Image {name} already exists in repo {repo}`; one in another repository (the
    /// first in priority order) is a [`Warning::NameExistsElsewhere`], sent to `progress` and
    /// returned.
    pub(crate) fn check_overwrite(
        &self,
        dest: &Repository,
        name: &str,
        progress: &dyn Progress,
    ) -> Result<Vec<Warning>> {
        if has_image(dest, name)? {
            return Err(StoreError::ImageExists {
                name: name.to_owned(),
                repo: dest.name().to_owned(),
            }
            .into());
        }
        for def in self.config.repos() {
            if def.name == dest.name() {
                continue;
            }
            let repo = self.open_def(def)?;
            if has_image(&repo, name)? {
                let warning = Warning::NameExistsElsewhere {
                    name: name.to_owned(),
                    repo: repo.name().to_owned(),
                };
                progress.event(&ProgressEvent::Warning(warning.clone()));
                return Ok(vec![warning]);
            }
        }
        Ok(Vec::new())
    }

    /// Python's `os.path.expanduser` on a user-given path, with this environment's homes:
    /// `~` and `~/x` use the home directory, `~user/x` that user's; anything else is kept.
    pub(crate) fn expand_user(&self, path: &str) -> PathBuf {
        let Some(rest) = path.strip_prefix('~') else {
            return PathBuf::from(path);
        };
        let (user, tail) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i + 1..]),
            None => (rest, ""),
        };
        let home = if user.is_empty() {
            Some(self.env.home())
        } else {
            self.env.home_of(user)
        };
        match home {
            Some(home) if tail.is_empty() => home.to_owned(),
            Some(home) => home.join(tail),
            None => PathBuf::from(path),
        }
    }
}

/// The record of `name` at `revision` (latest for `None`) in `repo`.
pub(crate) fn record_in(
    repo: &Repository,
    name: &str,
    revision: Option<u64>,
) -> Result<RevisionRecord> {
    Ok(match revision {
        Some(revision) => repo.record(name, revision)?,
        None => repo.latest_record(name)?,
    })
}

/// Whether `repo` has any revision of `name`.
pub(crate) fn has_image(repo: &Repository, name: &str) -> Result<bool> {
    match repo.revisions(name) {
        Ok(revisions) => Ok(!revisions.is_empty()),
        Err(StoreError::ImageNotFound { .. }) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// Refuses to write to a repository this process may not write to (`access(W_OK)` on its
/// directory), before anything is written.
pub(crate) fn ensure_writable(repo: &Repository) -> Result<()> {
    if repo.is_writable() {
        Ok(())
    } else {
        Err(Error::ReadOnlyRepository {
            repo: repo.name().to_owned(),
            path: repo.path().to_owned(),
        })
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

/// The size of a file in bytes (its apparent length, as `os.path.getsize`).
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

    fn strata() -> Strata {
        let env = Env::new("/home/jdoe", "jdoe").with_user_home("ann", "/srv/ann");
        let mut options = StrataOptions::new(env);
        options.repos = Some(ReposConfig::new());
        Strata::open(options).unwrap()
    }

    #[test]
    fn expand_user_as_python() {
        let s = strata();
        for (text, expanded) in [
            ("~", "/home/jdoe"),
            ("~/", "/home/jdoe"),
            ("~/a/b.qcow2", "/home/jdoe/a/b.qcow2"),
            ("~ann/x", "/srv/ann/x"),
            ("~nobody/x", "~nobody/x"),
            ("a/~/b", "a/~/b"),
            ("/abs", "/abs"),
        ] {
            assert_eq!(s.expand_user(text), Path::new(expanded), "{text}");
        }
    }

    #[test]
    fn owner_comes_from_the_environment_unless_given() {
        assert_eq!(strata().owner(), "jdoe");
        let mut options = StrataOptions::new(Env::new("/h", "u"));
        options.repos = Some(ReposConfig::new());
        options.owner = Some("builder".into());
        assert_eq!(Strata::open(options).unwrap().owner(), "builder");
    }

    #[test]
    fn no_repository_configured() {
        let s = strata();
        let err = s.repo(None).unwrap_err();
        assert_eq!(err.to_string(), "No repository configured");
        assert_eq!(err.kind(), crate::ErrorKind::Config);
        let err = s.find(&"x".parse().unwrap()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "Object x not found in configured repositories"
        );
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
