//! [`Env`]: the facts about the calling user and process that configuration depends on (home
//! directory, user name, environment variables, cluster), injectable so that tests never read
//! the real machine.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::accounts::PASSWD;

/// The pcocc cluster a command runs in: the values of `%{clusterdir}` and `%{clusteruser}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cluster {
    /// The per-cluster state directory (pcocc's `batch.cluster_state_dir`).
    pub dir: PathBuf,
    /// The user who owns the cluster (pcocc's `batch.batchuser`).
    pub user: String,
}

/// The calling user's environment, as configuration paths see it.
///
/// Build one with [`Env::from_process`] in programs and with [`Env::new`] plus the `with_*`
/// methods in tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Env {
    home: PathBuf,
    user: String,
    vars: BTreeMap<String, String>,
    cluster: Option<Cluster>,
    homes: BTreeMap<String, PathBuf>,
}

impl Env {
    /// An environment with this home directory and user name, no variables, no cluster.
    pub fn new(home: impl Into<PathBuf>, user: impl Into<String>) -> Env {
        Env {
            home: home.into(),
            user: user.into(),
            vars: BTreeMap::new(),
            cluster: None,
            homes: BTreeMap::new(),
        }
    }

    /// This environment with the variable `name` set to `value`.
    pub fn with_var(mut self, name: impl Into<String>, value: impl Into<String>) -> Env {
        self.vars.insert(name.into(), value.into());
        self
    }

    /// This environment inside a pcocc cluster.
    pub fn with_cluster(mut self, cluster: Cluster) -> Env {
        self.cluster = Some(cluster);
        self
    }

    /// This environment where user `name` has home directory `home` (for `~name` paths).
    pub fn with_user_home(mut self, name: impl Into<String>, home: impl Into<PathBuf>) -> Env {
        self.homes.insert(name.into(), home.into());
        self
    }

    /// The environment of this process.
    ///
    /// - The home directory is `$HOME`, else the user's entry in `/etc/passwd`, else `/` (as
    ///   Python's `expanduser("~")`, which pcocc uses).
    /// - The user name is the `/etc/passwd` entry of the real uid (pcocc's
    ///   `pwd.getpwuid(os.getuid()).pw_name`); users known only to NSS (LDAP) fall back to
    ///   `$USER`, then `$LOGNAME`, then the numeric uid. Callers that have a better source can
    ///   build an [`Env`] themselves.
    /// - Variables are the process environment (variables that are not UTF-8 are skipped:
    ///   `%{env:VAR}` can only name UTF-8 text).
    /// - There is no cluster: the application core sets one with [`Env::with_cluster`] when it
    ///   runs inside a pcocc allocation.
    pub fn from_process() -> Env {
        let vars: BTreeMap<String, String> = std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
            .collect();
        let uid = rustix::process::getuid().as_raw();
        let passwd = crate::accounts::Accounts::read_from(Path::new(PASSWD), Path::new("")).users;
        let me = passwd.iter().find(|entry| entry.uid == uid);
        let user = me
            .map(|entry| entry.name.clone())
            .or_else(|| vars.get("USER").cloned())
            .or_else(|| vars.get("LOGNAME").cloned())
            .unwrap_or_else(|| uid.to_string());
        let home = vars
            .get("HOME")
            .map(PathBuf::from)
            .or_else(|| me.map(|entry| entry.home.clone()))
            .unwrap_or_else(|| PathBuf::from("/"));
        let homes = passwd
            .into_iter()
            .map(|entry| (entry.name, entry.home))
            .collect();
        Env {
            home,
            user,
            vars,
            cluster: None,
            homes,
        }
    }

    /// The home directory (`%{homedir}`, `~`).
    pub fn home(&self) -> &Path {
        &self.home
    }

    /// The user name (`%{user}`, the `owner` of new records).
    pub fn user(&self) -> &str {
        &self.user
    }

    /// The value of an environment variable.
    pub fn var(&self, name: &str) -> Option<&str> {
        self.vars.get(name).map(String::as_str)
    }

    /// The pcocc cluster, if the command runs in one.
    pub fn cluster(&self) -> Option<&Cluster> {
        self.cluster.as_ref()
    }

    /// The home directory of another user (for `~name` paths).
    pub fn home_of(&self, user: &str) -> Option<&Path> {
        self.homes.get(user).map(PathBuf::as_path)
    }

    /// The XDG cache directory: `$XDG_CACHE_HOME` if it is set to an absolute path (the XDG
    /// specification ignores relative ones), else `~/.cache`.
    pub fn xdg_cache_home(&self) -> PathBuf {
        match self.var("XDG_CACHE_HOME") {
            Some(dir) if Path::new(dir).is_absolute() => PathBuf::from(dir),
            _ => self.home.join(".cache"),
        }
    }

    /// The XDG data directory: `$XDG_DATA_HOME` if it is set to an absolute path, else
    /// `~/.local/share`.
    pub fn xdg_data_home(&self) -> PathBuf {
        match self.var("XDG_DATA_HOME") {
            Some(dir) if Path::new(dir).is_absolute() => PathBuf::from(dir),
            _ => self.home.join(".local/share"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xdg_data_home() {
        let env = Env::new("/home/u", "u");
        assert_eq!(env.xdg_data_home(), Path::new("/home/u/.local/share"));
        let env = env.with_var("XDG_DATA_HOME", "relative/ignored");
        assert_eq!(env.xdg_data_home(), Path::new("/home/u/.local/share"));
        let env = env.with_var("XDG_DATA_HOME", "/data");
        assert_eq!(env.xdg_data_home(), Path::new("/data"));
    }

    #[test]
    fn process_env_has_a_user_and_home() {
        let env = Env::from_process();
        assert!(!env.user().is_empty());
        assert!(env.home().is_absolute());
    }
}
