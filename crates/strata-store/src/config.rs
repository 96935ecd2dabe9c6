//! `repos.yaml`: which repositories exist, in which priority order, and where the container cache
//! lives, read exactly as pcocc reads it (`HierarchObjectStore.load_repos`, `Config.load_user`).
//!
//! # Files and order
//!
//! 1. `<user_conf_dir>/repos.yaml`, only if it exists. `user_conf_dir` is `$PCOCC_USER_CONF_DIR`,
//!    default `%homedir/.pcocc/`, expanded by [`resolve_path`].
//! 2. `<conf_dir>/repos.yaml`. `conf_dir` is `$PCOCC_SYSTEM_CONF_DIR`, default `/etc/pcocc`
//!    (not expanded, as in pcocc).
//!
//! Repositories keep that order, each file's in file order: it is the priority order, and the
//! first repository is the **default** one, where writes without a `REPO:` prefix go.
//!
//! # Differences from pcocc, on purpose
//!
//! - **Out of the box.** With neither file present, strata configures one repository named
//!   `user` at `$XDG_DATA_HOME/strata/images` (default `~/.local/share/strata/images`), created
//!   with its parents on first use ([`Scope::Default`]). pcocc fails instead with
//!   `[Errno 2] No such file or directory: '/etc/pcocc/repos.yaml'`.
//! - **A missing system file is not an error** when the user file exists (pcocc fails as above).
//!   A system file that exists but cannot be read is the same error as in pcocc.
//! - **Loading touches nothing.** pcocc creates every repository directory and the cache
//!   directory while it loads the configuration; strata does that when a repository is opened
//!   ([`RepoDef::open`]) or the cache is checked ([`CacheDef::ensure_writable`]), with the same
//!   texts.
//!
//! # `containers.yaml` and `strata.yaml`: the cache's image driver, and how it extracts layers
//!
//! Of pcocc's `containers.yaml` (same directories) strata reads only `runtime.image_driver`:
//! `flat` (the default) caches extracted bundles (`cached_bundle`), `squashfs` caches a
//! squashfs image of the bundle too (`cached_squashfs`); any other value is refused as pcocc's
//! schema refuses it.
//!
//! How far the cache trusts the images it extracts ([`ExtractPolicy`]; pcocc runs containers
//! unprivileged, which need none of this) is strata's own setting, in a file of its own,
//! `strata.yaml` (same directories), section `cache`: pcocc validates `containers.yaml` and
//! `repos.yaml` with schemas that refuse unknown keys, so a key of strata's there would break
//! pcocc on a site that runs both.
//!
//! - `device_nodes: true` creates the character and block device nodes layers hold (as root
//!   only; default `false`: they are skipped);
//! - `setid_bits: true` keeps setuid and setgid bits (as root only; default `false`: they are
//!   cleared);
//! - `layer_expansion: N` lets a compressed layer expand to N times its size (default 100, at
//!   least 1 GiB whatever N; an integer of at least 1).
//!
//! For each key the user's file wins over the system's when it sets it; a missing file or key
//! means the default.
//!
//! Kept from pcocc, although surprising: repository paths are expanded **twice** (pcocc's
//! `load_repos` and `ObjectStore.__init__` both call `resolve_path`), so `%%{user}` in a
//! repository path ends up as the user name, while the cache path is expanded once. The same
//! `repos.yaml` thus names the same directories in both tools.

mod schema;
mod template;

use std::path::{Path, PathBuf};

pub(crate) use schema::py_repr;
pub use template::resolve_path;

use crate::cache::ExtractPolicy;
use crate::env::Env;
use crate::error::{IoContext, Result, StoreError};
use crate::repo::Repository;

/// pcocc's default `user_conf_dir`, before expansion.
pub const DEFAULT_USER_CONF_DIR: &str = "%homedir/.pcocc/";

/// pcocc's default `conf_dir`.
pub const DEFAULT_SYSTEM_CONF_DIR: &str = "/etc/pcocc";

/// The environment variable that overrides [`DEFAULT_USER_CONF_DIR`].
pub const USER_CONF_DIR_VAR: &str = "PCOCC_USER_CONF_DIR";

/// The environment variable that overrides [`DEFAULT_SYSTEM_CONF_DIR`].
pub const SYSTEM_CONF_DIR_VAR: &str = "PCOCC_SYSTEM_CONF_DIR";

/// The configuration file's name in both directories.
pub const REPOS_FILE: &str = "repos.yaml";

/// The name of the repository strata configures when no `repos.yaml` exists.
pub const DEFAULT_REPO_NAME: &str = "user";

/// Where a repository or cache definition comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    /// The user's `repos.yaml` (pcocc's tag `user`).
    User,
    /// The system `repos.yaml` (pcocc's tag `global`).
    Global,
    /// No `repos.yaml` exists: strata's built-in default repository.
    Default,
}

impl Scope {
    /// pcocc's tag for this scope (`user`, `global`); `default` for strata's own.
    pub const fn as_str(self) -> &'static str {
        match self {
            Scope::User => "user",
            Scope::Global => "global",
            Scope::Default => "default",
        }
    }
}

/// One configured repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoDef {
    /// The repository name (`repos[].name`).
    pub name: String,
    /// The path as written in the file (`repos[].path`), templates unexpanded.
    pub template: String,
    /// The expanded path.
    pub path: PathBuf,
    /// Which file defined it.
    pub scope: Scope,
    /// The file it comes from (`None` for [`Scope::Default`]).
    pub source: Option<PathBuf>,
    /// strata's extension: the registry the repository lives in (`repos[].url`,
    /// `docker://host[:port]/namespace`). [`RepoDef::path`] is then the local cache of its
    /// blobs (`repos[].path`, or `$XDG_CACHE_HOME/strata/registry/<name>`).
    pub url: Option<String>,
}

impl RepoDef {
    /// Opens the repository, creating it by pcocc's rules if it does not exist
    /// ([`Repository::open`]). The built-in default repository also gets its missing parent
    /// directories created, so that strata works with no configuration at all.
    pub fn open(&self) -> Result<Repository> {
        if self.scope == Scope::Default
            && let Some(parent) = self.path.parent()
        {
            std::fs::create_dir_all(parent).at("create directory", parent)?;
        }
        Repository::open(&self.name, &self.path)
    }
}

/// The configured container cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheDef {
    /// The path as written (`cache.path`).
    pub template: String,
    /// The expanded path.
    pub path: PathBuf,
    /// Which file defined it.
    pub scope: Scope,
    /// The file it comes from.
    pub source: PathBuf,
}

impl CacheDef {
    /// Creates the cache directory if needed and checks that it is writable, as pcocc's
    /// `Cache.__init__` does: `Could not create cache dir`, `Cache should be writable in
    /// {path}`.
    pub fn ensure_writable(&self) -> Result<()> {
        if !self.path.is_dir() {
            std::fs::create_dir_all(&self.path).map_err(|source| StoreError::CacheCreate {
                path: self.path.clone(),
                source,
            })?;
        }
        if crate::fsutil::is_writable(&self.path) {
            Ok(())
        } else {
            Err(StoreError::CacheNotWritable {
                path: self.path.clone(),
            })
        }
    }
}

/// pcocc's containers configuration file, of which strata reads `runtime.image_driver`.
pub const CONTAINERS_FILE: &str = "containers.yaml";

/// strata's own settings, beside pcocc's files (see the module documentation).
pub const STRATA_FILE: &str = "strata.yaml";

/// How the container cache keeps images (`containers.yaml` `runtime.image_driver`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ImageDriver {
    /// Extracted bundles (`cached_bundle`), pcocc's default.
    #[default]
    Flat,
    /// A squashfs image of the bundle (`cached_squashfs`).
    Squashfs,
}

/// The repositories and cache that the `repos.yaml` files configure.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReposConfig {
    repos: Vec<RepoDef>,
    cache: Option<CacheDef>,
    image_driver: ImageDriver,
    extract: ExtractPolicy,
}

impl ReposConfig {
    /// An empty configuration (no repository, no cache), to fill with [`ReposConfig::add_file`].
    pub fn new() -> ReposConfig {
        ReposConfig::default()
    }

    /// Loads the user and system files that `env` designates (see the module documentation).
    pub fn load(env: &Env) -> Result<ReposConfig> {
        let user_dir = resolve_path(
            env.var(USER_CONF_DIR_VAR).unwrap_or(DEFAULT_USER_CONF_DIR),
            env,
        );
        let conf_dir = PathBuf::from(
            env.var(SYSTEM_CONF_DIR_VAR)
                .unwrap_or(DEFAULT_SYSTEM_CONF_DIR),
        );
        let mut config =
            ReposConfig::load_files(&user_dir.join(REPOS_FILE), &conf_dir.join(REPOS_FILE), env)?;
        // The system's files first, so that the user's override each key they set.
        for dir in [&conf_dir, &user_dir] {
            config.apply_runtime(&read_runtime(&dir.join(CONTAINERS_FILE))?);
            config.apply_runtime(&read_strata_cache(&dir.join(STRATA_FILE))?);
        }
        Ok(config)
    }

    /// Applies the keys a `containers.yaml` or a `strata.yaml` sets.
    pub fn apply_runtime(&mut self, keys: &RuntimeKeys) {
        if let Some(driver) = keys.image_driver {
            self.image_driver = driver;
        }
        if let Some(v) = keys.device_nodes {
            self.extract.device_nodes = v;
        }
        if let Some(v) = keys.setid_bits {
            self.extract.setid_bits = v;
        }
        if let Some(ratio) = keys.layer_expansion {
            self.extract.expansion.ratio = ratio;
        }
    }

    /// How the cache extracts layers (see the module documentation).
    pub fn extract_policy(&self) -> ExtractPolicy {
        self.extract
    }

    /// Sets how the cache extracts layers.
    pub fn set_extract_policy(&mut self, policy: ExtractPolicy) {
        self.extract = policy;
    }

    /// How the cache keeps images (see the module documentation).
    pub fn image_driver(&self) -> ImageDriver {
        self.image_driver
    }

    /// Sets how the cache keeps images.
    pub fn set_image_driver(&mut self, driver: ImageDriver) {
        self.image_driver = driver;
    }

    /// Loads `user_file` (if it exists), then `system_file` (if it exists); with neither, the
    /// built-in default repository.
    pub fn load_files(user_file: &Path, system_file: &Path, env: &Env) -> Result<ReposConfig> {
        // `os.path.exists`: a file we may not stat does not exist.
        let user = user_file.exists();
        let system = system_file.exists();
        if !user && !system {
            return Ok(ReposConfig::builtin_default(env));
        }
        let mut config = ReposConfig::new();
        if user {
            config.add_file(user_file, Scope::User, env)?;
        }
        if system {
            config.add_file(system_file, Scope::Global, env)?;
        }
        Ok(config)
    }

    /// The configuration strata uses when no `repos.yaml` exists: one repository named `user`
    /// under the XDG data directory (`$XDG_DATA_HOME/strata/images`, default
    /// `~/.local/share/strata/images`), and no cache.
    pub fn builtin_default(env: &Env) -> ReposConfig {
        let path = env.xdg_data_home().join("strata/images");
        ReposConfig {
            repos: vec![RepoDef {
                name: DEFAULT_REPO_NAME.to_owned(),
                template: path.to_string_lossy().into_owned(),
                path,
                scope: Scope::Default,
                source: None,
                url: None,
            }],
            cache: None,
            image_driver: ImageDriver::Flat,
            extract: ExtractPolicy::default(),
        }
    }

    /// Reads one `repos.yaml` and appends its repositories (pcocc's `load_repos`).
    pub fn add_file(&mut self, path: &Path, scope: Scope, env: &Env) -> Result<()> {
        let text = std::fs::read_to_string(path).map_err(|error| StoreError::ConfigRead {
            path: path.to_owned(),
            error,
        })?;
        self.add_str(&text, path, scope, env)
    }

    /// Parses one `repos.yaml` text that was read from `path` and appends its repositories:
    /// schema first, then the cache (`Only a single cache ...`), then each repository in order
    /// (`Duplicate repository: {name}`).
    pub fn add_str(&mut self, text: &str, path: &Path, scope: Scope, env: &Env) -> Result<()> {
        let doc: serde_yaml_ng::Value = if text.trim().is_empty() {
            // PyYAML loads an empty document as None; serde_yaml_ng refuses it.
            serde_yaml_ng::Value::Null
        } else {
            serde_yaml_ng::from_str(text).map_err(|e| StoreError::ConfigSyntax {
                path: path.to_owned(),
                message: e.to_string(),
            })?
        };
        let file = schema::validate(&doc).map_err(|e| StoreError::ConfigSchema {
            path: path.to_owned(),
            key: e.key,
            message: e.message,
        })?;
        if let Some(template) = file.cache {
            if self.cache.is_some() {
                return Err(StoreError::MultipleCaches {
                    path: path.to_owned(),
                });
            }
            self.cache = Some(CacheDef {
                path: resolve_path(&template, env),
                template,
                scope,
                source: path.to_owned(),
            });
        }
        for entry in file.repos {
            let name = entry.name;
            if self.repos.iter().any(|r| r.name == name) {
                return Err(StoreError::DuplicateRepository { name });
            }
            let template = match entry.path {
                Some(template) => template,
                None => env
                    .xdg_cache_home()
                    .join("strata/registry")
                    .join(&name)
                    .to_string_lossy()
                    .into_owned(),
            };
            let once = resolve_path(&template, env);
            let path_resolved = resolve_path(&once.to_string_lossy(), env);
            self.repos.push(RepoDef {
                name,
                template,
                path: path_resolved,
                scope,
                source: Some(path.to_owned()),
                url: entry.url,
            });
        }
        Ok(())
    }

    /// The repositories, highest priority first.
    pub fn repos(&self) -> &[RepoDef] {
        &self.repos
    }

    /// The repositories of one scope (pcocc's `list_repos(tag)`).
    pub fn repos_in(&self, scope: Scope) -> impl Iterator<Item = &RepoDef> {
        self.repos.iter().filter(move |r| r.scope == scope)
    }

    /// The default repository: the first one (`No repository configured` when there is none).
    pub fn default_repo(&self) -> Result<&RepoDef> {
        self.repos.first().ok_or(StoreError::NoRepository)
    }

    /// The repository named `name`, or the default one for `None` (pcocc's `get_repo`):
    /// `Unknown repository {name}`, `No repository configured`.
    pub fn repo(&self, name: Option<&str>) -> Result<&RepoDef> {
        match name {
            Some(name) => self.repos.iter().find(|r| r.name == name).ok_or_else(|| {
                StoreError::UnknownRepository {
                    name: name.to_owned(),
                }
            }),
            None => self.default_repo(),
        }
    }

    /// The container cache, if one is configured.
    pub fn cache_def(&self) -> Option<&CacheDef> {
        self.cache.as_ref()
    }

    /// The container cache (`A cache needs to be configured in the repos.yaml config file`).
    pub fn cache(&self) -> Result<&CacheDef> {
        self.cache.as_ref().ok_or(StoreError::NoCache)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    fn env() -> Env {
        Env::new("/home/jdoe", "jdoe")
    }

    fn parse(text: &str) -> Result<ReposConfig> {
        let mut c = ReposConfig::new();
        c.add_str(
            text,
            Path::new("/etc/pcocc/repos.yaml"),
            Scope::Global,
            &env(),
        )?;
        Ok(c)
    }

    #[test]
    fn pcocc_default_file() {
        let c = parse(
            "repos:\n  - name: user\n    path: \"%{homedir}/.pcocc/images\"\n# - name: system\ncache:\n    path: \"%{homedir}/.pcocc/cache\"\n",
        )
        .unwrap();
        assert_eq!(c.repos().len(), 1);
        assert_eq!(
            c.default_repo().unwrap().path,
            Path::new("/home/jdoe/.pcocc/images")
        );
        assert_eq!(
            c.cache().unwrap().path,
            Path::new("/home/jdoe/.pcocc/cache")
        );
        assert_eq!(
            c.repo(Some("user")).unwrap().template,
            "%{homedir}/.pcocc/images"
        );
    }

    #[test]
    fn repo_paths_expand_twice_cache_once() {
        let c = parse("repos: [{name: a, path: \"/x/%%{user}\"}]\ncache: {path: \"/c/%%{user}\"}")
            .unwrap();
        assert_eq!(c.repos()[0].path, Path::new("/x/jdoe"));
        assert_eq!(c.cache().unwrap().path, Path::new("/c/%{user}"));
    }

    #[test]
    fn lookups_and_texts() {
        let c = parse("repos: []").unwrap();
        let e = c.default_repo().unwrap_err();
        assert!(matches!(e, StoreError::NoRepository));
        assert_eq!(e.to_string(), "No repository configured");
        assert_eq!(e.kind(), ErrorKind::Config);
        let e = c.repo(Some("nope")).unwrap_err();
        assert!(matches!(&e, StoreError::UnknownRepository { name } if name == "nope"));
        assert_eq!(e.to_string(), "Unknown repository nope");
        let e = c.cache().unwrap_err();
        assert!(matches!(e, StoreError::NoCache));
        assert_eq!(
            e.to_string(),
            "A cache needs to be configured in the repos.yaml config file"
        );
    }

    #[test]
    fn duplicate_in_one_file() {
        let e = parse("repos: [{name: a, path: /a}, {name: a, path: /b}]").unwrap_err();
        assert!(matches!(&e, StoreError::DuplicateRepository { name } if name == "a"));
        assert_eq!(e.to_string(), "Duplicate repository: a");
    }

    #[test]
    fn yaml_syntax_error() {
        let e = parse("repos: [").unwrap_err();
        assert!(matches!(e, StoreError::ConfigSyntax { .. }), "{e:?}");
        assert_eq!(e.kind(), ErrorKind::Config);
    }

    #[test]
    fn builtin_default() {
        let c = ReposConfig::builtin_default(&env().with_var("XDG_DATA_HOME", "/xdg"));
        let d = c.default_repo().unwrap();
        assert_eq!(
            (d.name.as_str(), d.path.as_path()),
            ("user", Path::new("/xdg/strata/images"))
        );
        assert_eq!(d.scope, Scope::Default);
    }
}

/// What strata reads of a `containers.yaml`'s `runtime` section and a `strata.yaml`'s `cache`
/// section: each key the file sets.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RuntimeKeys {
    /// `containers.yaml` `runtime.image_driver`.
    pub image_driver: Option<ImageDriver>,
    /// `strata.yaml` `cache.device_nodes`.
    pub device_nodes: Option<bool>,
    /// `strata.yaml` `cache.setid_bits`.
    pub setid_bits: Option<bool>,
    /// `strata.yaml` `cache.layer_expansion`.
    pub layer_expansion: Option<u64>,
}

/// The section `name` of the YAML file at `path`; none when the file or the section is absent.
fn read_section(path: &Path, name: &str) -> Result<Option<serde_yaml_ng::Value>> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => {
            return Err(StoreError::ConfigRead {
                path: path.to_owned(),
                error,
            });
        }
    };
    let doc: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(&text).map_err(|e| StoreError::ConfigSyntax {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
    Ok(doc.get(name).cloned())
}

/// The keys strata reads from the `containers.yaml` at `path`: `runtime.image_driver` (see the
/// module documentation); none when the file is absent.
pub fn read_runtime(path: &Path) -> Result<RuntimeKeys> {
    let Some(runtime) = read_section(path, "runtime")? else {
        return Ok(RuntimeKeys::default());
    };
    let schema = |key: &str, message: String| StoreError::ConfigSchema {
        path: path.to_owned(),
        key: format!("runtime.{key}"),
        message,
    };
    let image_driver = match runtime.get("image_driver") {
        None => None,
        Some(value) => match value.as_str() {
            Some("flat") => Some(ImageDriver::Flat),
            Some("squashfs") => Some(ImageDriver::Squashfs),
            _ => {
                return Err(schema(
                    "image_driver",
                    format!("{value:?} is not one of ['flat', 'squashfs']"),
                ));
            }
        },
    };
    Ok(RuntimeKeys {
        image_driver,
        ..RuntimeKeys::default()
    })
}

/// The keys strata reads from the `strata.yaml` at `path`: its `cache` section, how far the
/// cache trusts layers (see the module documentation); none when the file is absent.
pub fn read_strata_cache(path: &Path) -> Result<RuntimeKeys> {
    let Some(cache) = read_section(path, "cache")? else {
        return Ok(RuntimeKeys::default());
    };
    let schema = |key: &str, message: String| StoreError::ConfigSchema {
        path: path.to_owned(),
        key: format!("cache.{key}"),
        message,
    };
    if !cache.is_mapping() {
        return Err(schema("", format!("{cache:?} is not of type 'object'")));
    }
    let boolean = |key: &str| match cache.get(key) {
        None => Ok(None),
        Some(v) => v
            .as_bool()
            .map(Some)
            .ok_or_else(|| schema(key, format!("{v:?} is not of type 'boolean'"))),
    };
    let layer_expansion = match cache.get("layer_expansion") {
        None => None,
        Some(v) => Some(v.as_u64().filter(|n| *n >= 1).ok_or_else(|| {
            schema(
                "layer_expansion",
                format!("{v:?} is not an integer of at least 1"),
            )
        })?),
    };
    Ok(RuntimeKeys {
        image_driver: None,
        device_nodes: boolean("device_nodes")?,
        setid_bits: boolean("setid_bits")?,
        layer_expansion,
    })
}

/// `runtime.image_driver` of the `containers.yaml` at `path`: `None` when the file or the key
/// is absent.
pub fn read_image_driver(path: &Path) -> Result<Option<ImageDriver>> {
    Ok(read_runtime(path)?.image_driver)
}

#[cfg(test)]
mod image_driver_tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    #[test]
    fn containers_yaml_selects_the_image_driver() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join(CONTAINERS_FILE);
        assert_eq!(read_image_driver(&file).unwrap(), None);
        std::fs::write(&file, "runtime:\n  image_driver: squashfs\n").unwrap();
        assert_eq!(
            read_image_driver(&file).unwrap(),
            Some(ImageDriver::Squashfs)
        );
        std::fs::write(&file, "runtime:\n  image_driver: flat\n").unwrap();
        assert_eq!(read_image_driver(&file).unwrap(), Some(ImageDriver::Flat));
        std::fs::write(&file, "containers: {}\n").unwrap();
        assert_eq!(read_image_driver(&file).unwrap(), None);
        std::fs::write(&file, "runtime:\n  image_driver: overlay\n").unwrap();
        assert!(matches!(
            read_image_driver(&file),
            Err(StoreError::ConfigSchema { .. })
        ));
        std::fs::write(&file, "runtime: [\n").unwrap();
        assert!(matches!(
            read_image_driver(&file),
            Err(StoreError::ConfigSyntax { .. })
        ));
    }

    #[test]
    fn strata_keys_say_how_far_the_cache_trusts_layers() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join(STRATA_FILE);
        assert_eq!(read_strata_cache(&file).unwrap(), RuntimeKeys::default());
        std::fs::write(
            &file,
            "cache:\n  device_nodes: true\n  setid_bits: false\n  layer_expansion: 250\n",
        )
        .unwrap();
        let keys = read_strata_cache(&file).unwrap();
        assert_eq!(
            keys,
            RuntimeKeys {
                image_driver: None,
                device_nodes: Some(true),
                setid_bits: Some(false),
                layer_expansion: Some(250),
            }
        );
        let mut config = ReposConfig::new();
        assert_eq!(config.extract_policy(), ExtractPolicy::default());
        config.apply_runtime(&keys);
        let policy = config.extract_policy();
        assert!(policy.device_nodes && !policy.setid_bits);
        assert_eq!(policy.expansion.ratio, 250);
        assert_eq!(
            policy.expansion.floor,
            strata_oci::ExpansionLimit::DEFAULT.floor
        );
        for bad in [
            "cache:\n  device_nodes: yes please\n",
            "cache:\n  setid_bits: 1\n",
            "cache:\n  layer_expansion: 0\n",
            "cache:\n  layer_expansion: -3\n",
            "cache:\n  layer_expansion: lots\n",
            "cache: [1]\n",
        ] {
            std::fs::write(&file, bad).unwrap();
            match read_strata_cache(&file) {
                Err(StoreError::ConfigSchema { key, .. }) => {
                    assert!(key.starts_with("cache."), "{key}")
                }
                other => panic!("{bad:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn the_users_file_overrides_the_systems_key_by_key() {
        let dir = tempfile::tempdir().unwrap();
        let (user, system) = (dir.path().join("user"), dir.path().join("system"));
        std::fs::create_dir_all(&user).unwrap();
        std::fs::create_dir_all(&system).unwrap();
        std::fs::write(
            system.join(CONTAINERS_FILE),
            "runtime:\n  image_driver: squashfs\n",
        )
        .unwrap();
        std::fs::write(
            system.join(STRATA_FILE),
            "cache:\n  device_nodes: true\n  setid_bits: true\n",
        )
        .unwrap();
        std::fs::write(user.join(STRATA_FILE), "cache:\n  setid_bits: false\n").unwrap();
        let env = Env::new(dir.path(), "u")
            .with_var(USER_CONF_DIR_VAR, user.to_str().unwrap())
            .with_var(SYSTEM_CONF_DIR_VAR, system.to_str().unwrap())
            .with_var("XDG_DATA_HOME", dir.path().to_str().unwrap());
        let config = ReposConfig::load(&env).unwrap();
        assert_eq!(config.image_driver(), ImageDriver::Squashfs);
        let policy = config.extract_policy();
        assert!(policy.device_nodes, "from the system's file");
        assert!(!policy.setid_bits, "the user's file wins");
    }
}
