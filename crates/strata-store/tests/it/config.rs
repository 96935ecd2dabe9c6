//! `repos.yaml` loading: files, environment overrides, priority, templates, every error text.

use std::fs;
use std::path::{Path, PathBuf};

use strata_store::{Env, ErrorKind, ReposConfig, Scope, StoreError};

/// A home directory with a user conf dir and a system conf dir.
struct Setup {
    _dir: tempfile::TempDir,
    home: PathBuf,
    system: PathBuf,
}

impl Setup {
    fn new() -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("home");
        let system = dir.path().join("etc-pcocc");
        fs::create_dir_all(home.join(".pcocc")).unwrap();
        fs::create_dir_all(&system).unwrap();
        Setup {
            _dir: dir,
            home,
            system,
        }
    }

    /// The environment: the system dir overridden with `PCOCC_SYSTEM_CONF_DIR`.
    fn env(&self) -> Env {
        Env::new(&self.home, "jdoe")
            .with_var("PCOCC_SYSTEM_CONF_DIR", self.system.to_str().unwrap())
            .with_var("SCRATCH", "/scratch")
    }

    fn user_file(&self, text: &str) -> PathBuf {
        let path = self.home.join(".pcocc/repos.yaml");
        fs::write(&path, text).unwrap();
        path
    }

    fn system_file(&self, text: &str) -> PathBuf {
        let path = self.system.join("repos.yaml");
        fs::write(&path, text).unwrap();
        path
    }
}

fn names(config: &ReposConfig) -> Vec<(&str, Scope)> {
    config
        .repos()
        .iter()
        .map(|r| (r.name.as_str(), r.scope))
        .collect()
}

#[test]
fn user_file_first_then_system_file() {
    let s = Setup::new();
    s.user_file("repos:\n  - name: mine\n    path: \"%{homedir}/.pcocc/images\"\n  - name: scratch\n    path: \"%{env:SCRATCH}/%{user}\"\n");
    s.system_file("repos:\n  - name: system\n    path: /var/pcocc/images\ncache:\n  path: \"%{homedir}/.pcocc/cache\"\n");
    let config = ReposConfig::load(&s.env()).unwrap();
    assert_eq!(
        names(&config),
        [
            ("mine", Scope::User),
            ("scratch", Scope::User),
            ("system", Scope::Global)
        ]
    );
    assert_eq!(config.default_repo().unwrap().name, "mine");
    assert_eq!(
        config.repo(None).unwrap().path,
        s.home.join(".pcocc/images")
    );
    assert_eq!(
        config.repo(Some("scratch")).unwrap().path,
        Path::new("/scratch/jdoe")
    );
    assert_eq!(
        config.repo(Some("system")).unwrap().source.as_deref(),
        Some(&*s.system.join("repos.yaml"))
    );
    assert_eq!(config.repos_in(Scope::Global).count(), 1);
    let cache = config.cache().unwrap();
    assert_eq!(
        (cache.path.as_path(), cache.scope),
        (&*s.home.join(".pcocc/cache"), Scope::Global)
    );
}

#[test]
fn user_conf_dir_override() {
    let s = Setup::new();
    let other = s.home.join("elsewhere");
    fs::create_dir_all(&other).unwrap();
    fs::write(other.join("repos.yaml"), "repos: [{name: other, path: /o}]").unwrap();
    s.user_file("repos: [{name: ignored, path: /i}]");
    s.system_file("repos: []");
    let env = s
        .env()
        .with_var("PCOCC_USER_CONF_DIR", "%{homedir}/elsewhere");
    let config = ReposConfig::load(&env).unwrap();
    assert_eq!(names(&config), [("other", Scope::User)]);
}

#[test]
fn only_one_file() {
    let s = Setup::new();
    s.system_file("repos: [{name: system, path: /s}]");
    assert_eq!(
        names(&ReposConfig::load(&s.env()).unwrap()),
        [("system", Scope::Global)]
    );
    let s = Setup::new();
    // pcocc fails here (it always reads the system file); strata does not.
    s.user_file("repos: [{name: user, path: /u}]");
    assert_eq!(
        names(&ReposConfig::load(&s.env()).unwrap()),
        [("user", Scope::User)]
    );
}

#[test]
fn no_file_at_all_gives_the_default_repository() {
    let s = Setup::new();
    let config = ReposConfig::load(&s.env()).unwrap();
    let repo = config.default_repo().unwrap();
    assert_eq!((repo.name.as_str(), repo.scope), ("user", Scope::Default));
    assert_eq!(repo.path, s.home.join(".local/share/strata/images"));
    assert!(config.cache_def().is_none());
    // Opening it creates it, parents included.
    let opened = repo.open().unwrap();
    assert!(opened.path().join(".config").is_file());

    let xdg = s.home.join("xdg");
    let config =
        ReposConfig::load(&s.env().with_var("XDG_DATA_HOME", xdg.to_str().unwrap())).unwrap();
    assert_eq!(
        config.default_repo().unwrap().path,
        xdg.join("strata/images")
    );
}

#[test]
fn empty_repos_list() {
    let s = Setup::new();
    s.system_file("repos: []\n");
    let config = ReposConfig::load(&s.env()).unwrap();
    assert!(config.repos().is_empty());
    let e = config.default_repo().unwrap_err();
    assert!(matches!(e, StoreError::NoRepository));
    assert_eq!(e.to_string(), "No repository configured");
    let e = config.repo(Some("x")).unwrap_err();
    assert!(matches!(&e, StoreError::UnknownRepository { name } if name == "x"));
    assert_eq!(e.to_string(), "Unknown repository x");
    let e = config.cache().unwrap_err();
    assert!(matches!(e, StoreError::NoCache));
    assert_eq!(
        e.to_string(),
        "A cache needs to be configured in the repos.yaml config file"
    );
}

#[test]
fn duplicate_across_files() {
    let s = Setup::new();
    s.user_file("repos: [{name: user, path: /a}]");
    s.system_file("repos: [{name: user, path: /b}]");
    let e = ReposConfig::load(&s.env()).unwrap_err();
    assert!(matches!(&e, StoreError::DuplicateRepository { name } if name == "user"));
    assert_eq!(e.to_string(), "Duplicate repository: user");
    assert_eq!(e.kind(), ErrorKind::Config);
}

#[test]
fn cache_in_both_files() {
    let s = Setup::new();
    s.user_file("repos: []\ncache: {path: /c1}");
    let system = s.system_file("repos: []\ncache: {path: /c2}");
    let e = ReposConfig::load(&s.env()).unwrap_err();
    assert!(matches!(&e, StoreError::MultipleCaches { path } if *path == system));
    assert_eq!(
        e.to_string(),
        "Only a single cache should be configured in repo.yaml"
    );
}

#[test]
fn schema_violations_from_pcocc_fixtures() {
    // pcocc's tests/test_image/repos_bad.yaml and tests/test_cache/repos_inval.yaml.
    for (text, message, key) in [
        (
            "# comment\n\nrepos:\n    name: user\n    path: \"/tmp/.pcocc_images_user\"\n",
            "{'name': 'user', 'path': '/tmp/.pcocc_images_user'} is not of type 'array'",
            "repos",
        ),
        (
            "repos: []\n\ncache:\n  path : \"/tmp/.pcocc_cache\"\n  THIS_SHOULD_NOT_BE_HERE: 9\n",
            "Additional properties are not allowed ('THIS_SHOULD_NOT_BE_HERE' was unexpected)",
            "cache",
        ),
        ("", "None is not of type 'object'", ""),
        ("cache: {path: /c}", "'repos' is a required property", ""),
        (
            "repos: []\nimages: []",
            "Additional properties are not allowed ('images' was unexpected)",
            "",
        ),
        (
            "repos: [{name: a}]",
            "'path' is a required property",
            "repos[0]",
        ),
        (
            "repos: [{name: a, path: /a, prio: 1}]",
            "Additional properties are not allowed ('prio' was unexpected)",
            "repos[0]",
        ),
        (
            "repos: [{name: 7, path: /a}]",
            "7 is not of type 'string'",
            "repos[0].name",
        ),
    ] {
        let s = Setup::new();
        let path = s.system_file(text);
        let e = ReposConfig::load(&s.env()).unwrap_err();
        match &e {
            StoreError::ConfigSchema {
                path: p,
                key: k,
                message: m,
            } => {
                assert_eq!(
                    (p, k.as_str(), m.as_str()),
                    (&path, key, message),
                    "{text:?}"
                );
            }
            other => panic!("{text:?}: {other:?}"),
        }
        // pcocc's message first, then where it is.
        let at = if key.is_empty() {
            String::new()
        } else {
            format!("at {key} ")
        };
        assert_eq!(
            e.to_string(),
            format!("{message} ({at}in {})", path.display())
        );
        assert_eq!(e.kind(), ErrorKind::Config);
    }
}

#[test]
fn unreadable_file_has_python_text() {
    let s = Setup::new();
    let path = s.system.join("repos.yaml");
    fs::create_dir(&path).unwrap();
    let e = ReposConfig::load(&s.env()).unwrap_err();
    assert!(matches!(e, StoreError::ConfigRead { .. }), "{e:?}");
    assert_eq!(
        e.to_string(),
        format!("[Errno 21] Is a directory: '{}'", path.display())
    );
}

#[test]
fn syntax_error() {
    let s = Setup::new();
    s.system_file("repos: [ {name: a\n");
    let e = ReposConfig::load(&s.env()).unwrap_err();
    assert!(matches!(e, StoreError::ConfigSyntax { .. }), "{e:?}");
}

#[test]
fn cache_is_created_and_checked() {
    let s = Setup::new();
    s.system_file("repos: []\ncache: {path: \"%{homedir}/cache/x\"}");
    let config = ReposConfig::load(&s.env()).unwrap();
    let cache = config.cache().unwrap();
    cache.ensure_writable().unwrap();
    assert!(s.home.join("cache/x").is_dir());
}
