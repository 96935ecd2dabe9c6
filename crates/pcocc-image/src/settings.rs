//! [`Settings`]: pcocc's configuration resolved once (ripgrep's "high-level arguments"): the
//! repositories of `repos.yaml` as the core's stores, the container cache and its driver, the
//! user's environment for `~` in paths, and pcocc's policy values that every command lowers
//! into core requests.

use std::path::PathBuf;
use std::sync::Arc;

use strata::{
    CacheOptions, Env, ImageKey, ImageLocator, NamePolicy, NewImageTarget, OnExisting,
    RegistryStore, RepositoryStore, Store, Strata, StrataOptions,
};
use strata_model::ImageRef;
use strata_store::{ReposConfig, Scope};

use crate::error::Error;

/// pcocc's name policy for a new image (`ImageMgr.check_overwrite`): an image of that name in
/// the destination repository is refused; one in another repository is a warning.
pub const NEW_NAME: NamePolicy = NamePolicy {
    on_existing: OnExisting::Refuse,
    warn_if_elsewhere: true,
};

/// The reference name pcocc gives the image of an OCI layout or archive it writes (`:latest`
/// in its `skopeo copy` destination).
pub const OCI_REF_NAME: &str = "latest";

/// The `name:tag` of a docker-archive pcocc writes (`docker-archive:DST:latest` names the image
/// `latest:latest`).
pub const DOCKER_ARCHIVE_TAG: &str = "latest:latest";

/// pcocc's world, resolved: the configuration and the core opened on it.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The user's environment (homes for `~`, `PCOCC_*` directories).
    pub env: Env,
    /// The repositories and cache of `repos.yaml`.
    pub config: ReposConfig,
    /// The core, one [`RepositoryStore`] per configured repository, in priority order.
    pub strata: Strata,
}

impl Settings {
    /// Loads `repos.yaml` as pcocc reads it (the user file, then the system file,
    /// `PCOCC_USER_CONF_DIR` and `PCOCC_SYSTEM_CONF_DIR` overriding their directories; with
    /// neither file, one repository named `user` under the XDG data directory, whose missing
    /// parents are created) unless `config` is given, and opens the core on it. `options`
    /// brings what tests inject (owner, registry); the cache and the Docker daemon come from
    /// pcocc's configuration and `DOCKER_HOST`.
    pub fn open(
        env: Env,
        config: Option<ReposConfig>,
        options: StrataOptions,
    ) -> Result<Settings, Error> {
        let config = match config {
            Some(config) => config,
            None => ReposConfig::load(&env).map_err(strata::Error::from)?,
        };
        // strata's extension: a repository with a `url` lives in a registry, its blobs cached
        // at its `path`.
        let stores: Vec<Arc<dyn Store>> = config
            .repos()
            .iter()
            .map(|def| {
                if let Some(url) = &def.url {
                    let store = RegistryStore::new(
                        &def.name,
                        url,
                        &def.path,
                        RegistryStore::default_options(),
                    )?;
                    return Ok(Arc::new(store) as Arc<dyn Store>);
                }
                let store = RepositoryStore::new(&def.name, &def.path);
                let store = if def.scope == Scope::Default {
                    store.creating_parents()
                } else {
                    store
                };
                Ok(Arc::new(store) as Arc<dyn Store>)
            })
            .collect::<Result<_, strata::Error>>()?;
        let options = StrataOptions {
            owner: options.owner.or_else(|| Some(env.user().to_owned())),
            cache: config.cache_def().map(|def| CacheOptions {
                path: def.path.clone(),
                driver: config.image_driver(),
                extract: config.extract_policy(),
            }),
            docker_host: options.docker_host.or_else(|| {
                env.var("DOCKER_HOST")
                    .filter(|h| !h.is_empty())
                    .map(str::to_owned)
            }),
            ..options
        };
        let strata = Strata::new(stores, options);
        Ok(Settings {
            env,
            config,
            strata,
        })
    }

    /// Python's `os.path.expanduser` on a user-given path, with this environment's homes:
    /// `~` and `~/x` use the home directory, `~user/x` that user's; anything else is kept.
    pub fn expand_user(&self, path: &str) -> PathBuf {
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

    /// [`Settings::expand_user`] as text.
    pub fn expand_user_text(&self, path: &str) -> String {
        self.expand_user(path).to_string_lossy().into_owned()
    }
}

/// Where pcocc looks an image up: `REPO:` only, else every repository in priority order.
pub fn locator(image: &ImageRef) -> ImageLocator {
    ImageLocator {
        store: image.repo().map(str::to_owned),
        key: ImageKey::Name {
            name: image.name().to_owned(),
            revision: image.revision().map(u64::from),
        },
    }
}

/// Where pcocc writes a new image: `REPO:`, else the default repository (a revision is
/// ignored: a new image is revision 0).
pub fn new_target(image: &ImageRef) -> NewImageTarget {
    NewImageTarget {
        store: image.repo().map(str::to_owned),
        name: image.name().to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pcocc() -> Settings {
        let env = Env::new("/home/jdoe", "jdoe").with_user_home("ann", "/srv/ann");
        Settings::open(env, Some(ReposConfig::new()), StrataOptions::default())
            .expect("an empty configuration opens")
    }

    #[test]
    fn expand_user_as_python() {
        let p = pcocc();
        for (text, expanded) in [
            ("~", "/home/jdoe"),
            ("~/", "/home/jdoe"),
            ("~/a/b.qcow2", "/home/jdoe/a/b.qcow2"),
            ("~ann/x", "/srv/ann/x"),
            ("~nobody/x", "~nobody/x"),
            ("a/~/b", "a/~/b"),
            ("/abs", "/abs"),
        ] {
            assert_eq!(p.expand_user(text), PathBuf::from(expanded), "{text}");
        }
    }

    #[test]
    fn the_owner_is_the_environments_user() {
        assert_eq!(pcocc().strata.owner(), "jdoe");
    }

    #[test]
    fn uris_become_locators_and_targets() {
        let image: ImageRef = "global:c7@3".parse().expect("a valid URI");
        let l = locator(&image);
        assert_eq!(l.store.as_deref(), Some("global"));
        assert_eq!(
            l.key,
            ImageKey::Name {
                name: "c7".into(),
                revision: Some(3)
            }
        );
        let t = new_target(&image);
        assert_eq!(
            (t.store.as_deref(), t.name.as_str()),
            (Some("global"), "c7")
        );
    }
}
