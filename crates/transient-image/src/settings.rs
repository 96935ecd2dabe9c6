//! [`Settings`]: transient's two directories resolved once (ripgrep's "high-level arguments"),
//! and the core opened on them: the backend as a [`FlatStore`] whose VMs are those of the VM
//! store.
//!
//! transient's rules (transient/utils.py, `default_backend_dir`, `default_vmstore_dir`): the
//! flag, else `$TRANSIENT_BACKEND` / `$TRANSIENT_VMSTORE`, else `<data>/transient/backend` and
//! `<data>/transient/vmstore`, where `<data>` is `$XDG_DATA_HOME`, else `~/.local/share`. A
//! relative backend is taken from the current directory (transient's `os.path.abspath`).
//!
//! Differences, on purpose: an empty flag or variable counts as unset (transient would use the
//! current directory, or fail to create `""`); a relative `$XDG_DATA_HOME` is ignored, as the
//! XDG specification says (transient uses it).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use strata::{Env, FlatStore, RegistryStore, Store, Strata, StrataOptions};
use strata_store::{FlatBackend, VmStore};

use crate::cli::Stores;

/// The name of the backend store in core requests and outcomes (never shown to users).
pub const BACKEND: &str = "backend";

/// transient's world, resolved: the two directories and the core opened on them.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The backend directory (absolute); for a backend in a registry, the local cache of its
    /// layers.
    pub backend: PathBuf,
    /// strata's extension: the registry repository the backend lives in
    /// (`--image-backend docker://HOST[:PORT]/NAMESPACE`), shared between machines.
    pub registry: Option<String>,
    /// The VM store directory.
    pub vmstore: PathBuf,
    /// The core, with one store: the backend.
    pub strata: Strata,
}

impl Settings {
    /// Resolves the directories from the flags and `env`, and opens the core on them
    /// (nothing is created until a command needs it). A backend named `docker://...` is a
    /// repository kept in that registry, cached under
    /// `$XDG_CACHE_HOME/strata/registry/transient-<host>-<namespace>`; a URL that does not
    /// name a registry repository is an error.
    pub fn open(
        env: &Env,
        stores: &Stores,
        options: StrataOptions,
    ) -> Result<Settings, strata::Error> {
        let given =
            |flag: &Option<String>| flag.as_deref().filter(|p| !p.is_empty()).map(PathBuf::from);
        let vmstore = given(&stores.vmstore).unwrap_or_else(|| VmStore::default_path(env));
        let named = stores
            .image_backend
            .as_deref()
            .filter(|p| !p.is_empty())
            .or_else(|| env.var("TRANSIENT_BACKEND").filter(|p| !p.is_empty()));
        if let Some(url) = named.filter(|n| n.starts_with("docker://")) {
            let cache = env
                .xdg_cache_home()
                .join("strata/registry")
                .join(cache_name(url));
            let store = RegistryStore::new(BACKEND, url, &cache, RegistryStore::default_options())?;
            let strata = Strata::new([Arc::new(store) as Arc<dyn Store>], options);
            return Ok(Settings {
                backend: cache,
                registry: Some(url.to_owned()),
                vmstore,
                strata,
            });
        }
        let backend = absolute(
            &given(&stores.image_backend).unwrap_or_else(|| FlatBackend::default_path(env)),
        );
        let store = FlatStore::new(BACKEND, &backend).with_vm_store(&vmstore);
        let strata = Strata::new([Arc::new(store) as Arc<dyn Store>], options);
        Ok(Settings {
            backend,
            registry: None,
            vmstore,
            strata,
        })
    }
}

/// The cache directory's name for the registry backend `url`: `transient-` and the URL's host
/// and path, every character outside `[A-Za-z0-9.-]` written `_`.
fn cache_name(url: &str) -> String {
    let bare = url.strip_prefix("docker://").unwrap_or(url);
    let safe: String = bare
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("transient-{safe}")
}

/// `path` made absolute against the current directory, without touching the filesystem (as
/// Python's `os.path.abspath`, but `..` is kept: it is resolved when the path is used).
fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stores(backend: Option<&str>, vmstore: Option<&str>) -> Stores {
        Stores {
            image_backend: backend.map(str::to_owned),
            vmstore: vmstore.map(str::to_owned),
        }
    }

    fn dirs(env: &Env, flags: &Stores) -> (PathBuf, PathBuf) {
        let s = Settings::open(env, flags, StrataOptions::default()).unwrap();
        (s.backend, s.vmstore)
    }

    #[test]
    fn flag_then_variable_then_xdg_then_home() {
        let home = Env::new("/home/u", "u");
        assert_eq!(
            dirs(&home, &stores(None, None)),
            (
                PathBuf::from("/home/u/.local/share/transient/backend"),
                PathBuf::from("/home/u/.local/share/transient/vmstore")
            )
        );
        let xdg = home.clone().with_var("XDG_DATA_HOME", "/xdg");
        assert_eq!(
            dirs(&xdg, &stores(None, None)),
            (
                PathBuf::from("/xdg/transient/backend"),
                PathBuf::from("/xdg/transient/vmstore")
            )
        );
        let vars = xdg
            .with_var("TRANSIENT_BACKEND", "/srv/b")
            .with_var("TRANSIENT_VMSTORE", "/srv/v");
        assert_eq!(
            dirs(&vars, &stores(None, None)),
            (PathBuf::from("/srv/b"), PathBuf::from("/srv/v"))
        );
        assert_eq!(
            dirs(&vars, &stores(Some("/b"), Some("/v"))),
            (PathBuf::from("/b"), PathBuf::from("/v"))
        );
        // Empty values count as unset.
        assert_eq!(
            dirs(&vars, &stores(Some(""), Some(""))),
            (PathBuf::from("/srv/b"), PathBuf::from("/srv/v"))
        );
    }

    #[test]
    fn a_docker_backend_is_a_registry_cached_under_xdg_cache() {
        let env = Env::new("/home/u", "u");
        let s = Settings::open(
            &env,
            &stores(Some("docker://127.0.0.1:5000/site/vm"), None),
            StrataOptions::default(),
        )
        .unwrap();
        assert_eq!(
            s.registry.as_deref(),
            Some("docker://127.0.0.1:5000/site/vm")
        );
        assert_eq!(
            s.backend,
            PathBuf::from("/home/u/.cache/strata/registry/transient-127.0.0.1_5000_site_vm")
        );
        let env = env.with_var("TRANSIENT_BACKEND", "docker://r/x");
        let s = Settings::open(&env, &stores(None, None), StrataOptions::default()).unwrap();
        assert_eq!(s.registry.as_deref(), Some("docker://r/x"));
        let e = Settings::open(
            &Env::new("/home/u", "u"),
            &stores(Some("docker://r/x:tag"), None),
            StrataOptions::default(),
        )
        .unwrap_err();
        assert!(e.to_string().contains("without a tag"), "{e}");
    }

    #[test]
    fn a_relative_backend_is_taken_from_the_current_directory() {
        let env = Env::new("/home/u", "u");
        let (backend, _) = dirs(&env, &stores(Some("b"), None));
        assert_eq!(backend, std::env::current_dir().unwrap().join("b"));
    }

    #[test]
    fn the_core_has_one_store_the_backend_with_its_vms() {
        let env = Env::new("/home/u", "u");
        let s = Settings::open(
            &env,
            &stores(Some("/b"), Some("/v")),
            StrataOptions::default(),
        )
        .unwrap();
        let listed = s.strata.store_list();
        assert_eq!(listed.stores.len(), 1);
        assert_eq!(
            (
                listed.stores[0].name.as_str(),
                listed.stores[0].path.as_path()
            ),
            (BACKEND, Path::new("/b"))
        );
    }
}
