//! Registry credentials: none, a user and password given by the caller, or looked up in the
//! auth files containers-auth.json(5) and docker read.
//!
//! Files are searched in containers/image's order: `$REGISTRY_AUTH_FILE` alone when set;
//! otherwise `$XDG_RUNTIME_DIR/containers/auth.json`, `$XDG_CONFIG_HOME/containers/auth.json`
//! (`~/.config/...`), then `~/.docker/config.json`. In each, `auths` is keyed by registry
//! (`quay.io`), or by registry and repository prefix (`quay.io/team`, the most specific key
//! wins), or by a URL (`https://index.docker.io/v1/`, as docker writes it); the entry's `auth`
//! field is base64 of `user:password`. The first file with an entry for the registry decides.
//!
//! Not implemented, and said so when met: credential helpers (`credHelpers`, `credsStore`,
//! which run `docker-credential-*` programs) and identity tokens (`identitytoken`). An entry
//! that only names one of them is skipped with a warning, as if absent.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use serde::Deserialize;

use crate::error::{OciError, Result};
use crate::verify::read_capped;

/// Largest auth file read (they hold a few short entries).
const MAX_AUTH_FILE_SIZE: u64 = 1 << 20;

/// Where credentials come from.
#[derive(Debug, Clone, Default)]
pub enum Credentials {
    /// No credentials: anonymous access (a bearer token is still fetched anonymously when the
    /// registry asks for one).
    Anonymous,
    /// This user and password, for every registry.
    Basic {
        /// The user name.
        user: String,
        /// The password or access token.
        password: String,
    },
    /// Looked up in these auth files, per registry.
    Files(AuthFiles),
    /// Looked up in the auth files the environment names ([`AuthFiles::from_env`]).
    #[default]
    FromEnv,
}

/// The auth files to search, in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuthFiles {
    /// The files, first match wins.
    pub paths: Vec<PathBuf>,
}

/// A user and password found for a registry, and the file they came from.
#[derive(Clone, PartialEq, Eq)]
pub struct Found {
    /// The user name.
    pub user: String,
    /// The password.
    pub password: String,
    /// The auth file they were read from (`None` when the caller gave them).
    pub file: Option<PathBuf>,
}

impl std::fmt::Debug for Found {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Found")
            .field("user", &self.user)
            .field("password", &"<redacted>")
            .field("file", &self.file)
            .finish()
    }
}

impl AuthFiles {
    /// The files containers/image searches, from the environment: `$REGISTRY_AUTH_FILE` alone
    /// when set, otherwise `$XDG_RUNTIME_DIR/containers/auth.json`,
    /// `$XDG_CONFIG_HOME/containers/auth.json` and `$HOME/.docker/config.json`.
    pub fn from_env() -> AuthFiles {
        let var = |k: &str| {
            std::env::var_os(k)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        AuthFiles::from_dirs(
            var("REGISTRY_AUTH_FILE"),
            var("XDG_RUNTIME_DIR"),
            var("XDG_CONFIG_HOME"),
            var("HOME"),
        )
    }

    /// The same search from explicit values of those variables (for callers and tests that do
    /// not want the process environment).
    pub fn from_dirs(
        registry_auth_file: Option<PathBuf>,
        xdg_runtime_dir: Option<PathBuf>,
        xdg_config_home: Option<PathBuf>,
        home: Option<PathBuf>,
    ) -> AuthFiles {
        if let Some(file) = registry_auth_file {
            return AuthFiles { paths: vec![file] };
        }
        let mut paths = Vec::new();
        if let Some(dir) = xdg_runtime_dir {
            paths.push(dir.join("containers").join("auth.json"));
        }
        match (xdg_config_home, &home) {
            (Some(dir), _) => paths.push(dir.join("containers").join("auth.json")),
            (None, Some(home)) => paths.push(home.join(".config/containers/auth.json")),
            (None, None) => {}
        }
        if let Some(home) = home {
            paths.push(home.join(".docker").join("config.json"));
        }
        AuthFiles { paths }
    }

    /// The credentials for `repository` on `registry`, from the first file that has an entry;
    /// missing files are skipped, unreadable or invalid ones are errors.
    pub fn lookup(&self, registry: &str, repository: &str) -> Result<Option<Found>> {
        for path in &self.paths {
            let bytes = match std::fs::File::open(path) {
                Ok(f) => read_capped(f, &path.display().to_string(), MAX_AUTH_FILE_SIZE)?,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(OciError::from_io(path, "open", e)),
            };
            if let Some(found) = lookup_in(&bytes, path, registry, repository)? {
                return Ok(Some(found));
            }
        }
        Ok(None)
    }
}

#[derive(Deserialize)]
struct AuthFile {
    #[serde(default)]
    auths: std::collections::BTreeMap<String, AuthEntry>,
}

#[derive(Deserialize)]
struct AuthEntry {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    identitytoken: Option<String>,
}

/// The registry (and path) an `auths` key names: a URL's scheme and trailing `/v1/` or
/// `/v2/` are dropped, and docker's historical hub keys mean `docker.io`.
fn normalise_key(key: &str) -> String {
    let k = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    let k = k.trim_end_matches('/');
    let k = k
        .strip_suffix("/v1")
        .or_else(|| k.strip_suffix("/v2"))
        .unwrap_or(k);
    match k {
        "index.docker.io" | "registry-1.docker.io" => "docker.io".to_owned(),
        other => other.to_owned(),
    }
}

fn lookup_in(bytes: &[u8], path: &Path, registry: &str, repository: &str) -> Result<Option<Found>> {
    let what = path.display().to_string();
    let file: AuthFile =
        serde_json::from_slice(bytes).map_err(|e| OciError::invalid(&what, e.to_string()))?;
    let wanted = format!("{registry}/{repository}");
    // The most specific key wins: the longest that is the registry or a path prefix of it.
    let best = file
        .auths
        .iter()
        .map(|(k, v)| (normalise_key(k), k, v))
        .filter(|(k, _, _)| {
            k == registry
                || (wanted.starts_with(k.as_str()) && wanted.as_bytes().get(k.len()) == Some(&b'/'))
        })
        .max_by_key(|(k, _, _)| k.len());
    let Some((_, key, entry)) = best else {
        return Ok(None);
    };
    let Some(auth) = entry.auth.as_deref().filter(|a| !a.is_empty()) else {
        if entry.identitytoken.is_some() {
            tracing::warn!(file = %what, key, "identity tokens are not supported; entry skipped");
        }
        return Ok(None);
    };
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(auth.trim())
        .map_err(|e| OciError::invalid(&what, format!("auths.{key}.auth: {e}")))?;
    let text = String::from_utf8(decoded)
        .map_err(|_| OciError::invalid(&what, format!("auths.{key}.auth: not UTF-8")))?;
    let Some((user, password)) = text.split_once(':') else {
        return Err(OciError::invalid(
            &what,
            format!("auths.{key}.auth: not base64 of user:password"),
        ));
    };
    Ok(Some(Found {
        user: user.to_owned(),
        password: password.to_owned(),
        file: Some(path.to_path_buf()),
    }))
}

impl Credentials {
    /// The credentials to use for `repository` on `registry`.
    pub fn resolve(&self, registry: &str, repository: &str) -> Result<Option<Found>> {
        match self {
            Credentials::Anonymous => Ok(None),
            Credentials::Basic { user, password } => Ok(Some(Found {
                user: user.clone(),
                password: password.clone(),
                file: None,
            })),
            Credentials::Files(files) => files.lookup(registry, repository),
            Credentials::FromEnv => AuthFiles::from_env().lookup(registry, repository),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(s: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(s)
    }

    #[test]
    fn most_specific_key_wins_and_urls_are_normalised() {
        let json = serde_json::json!({"auths": {
            "quay.io": {"auth": b64("all:one")},
            "quay.io/team": {"auth": b64("team:two")},
            "https://index.docker.io/v1/": {"auth": b64("hub:three")},
            "helper.io": {"identitytoken": "x"},
        }})
        .to_string();
        let p = Path::new("/auth.json");
        let f = |r: &str, repo: &str| {
            lookup_in(json.as_bytes(), p, r, repo)
                .expect("valid")
                .map(|f| f.user)
        };
        assert_eq!(f("quay.io", "team/app").as_deref(), Some("team"));
        assert_eq!(f("quay.io", "teamx/app").as_deref(), Some("all"));
        assert_eq!(f("docker.io", "library/busybox").as_deref(), Some("hub"));
        assert_eq!(f("helper.io", "x"), None);
        assert_eq!(f("other.io", "x"), None);
    }

    #[test]
    fn bad_auth_field_is_an_error_naming_the_file() {
        let json = r#"{"auths":{"r.io":{"auth":"!!"}}}"#;
        let e = lookup_in(json.as_bytes(), Path::new("/a.json"), "r.io", "x").expect_err("bad");
        assert!(e.to_string().contains("/a.json"), "{e}");
    }

    #[test]
    fn search_order_follows_containers_auth_json() {
        let f = AuthFiles::from_dirs(None, Some("/run/u".into()), None, Some("/home/u".into()));
        assert_eq!(
            f.paths,
            vec![
                PathBuf::from("/run/u/containers/auth.json"),
                PathBuf::from("/home/u/.config/containers/auth.json"),
                PathBuf::from("/home/u/.docker/config.json"),
            ]
        );
        let f = AuthFiles::from_dirs(Some("/x.json".into()), Some("/run/u".into()), None, None);
        assert_eq!(f.paths, vec![PathBuf::from("/x.json")]);
    }
}
