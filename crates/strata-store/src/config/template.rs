//! Path templates as pcocc's `Config.resolve_path` expands them: `%{homedir}`, `%{user}`,
//! `%{env:VAR}`, `%{clusterdir}`, `%{clusteruser}`, `%%`, then `~`.

use std::path::PathBuf;

use crate::env::Env;

/// Expands a path template the way pcocc's `Config.resolve_path` does.
///
/// pcocc subclasses Python's `string.Template` with `%` as delimiter and calls
/// `safe_substitute`, then `os.path.expanduser`. Hence:
///
/// - `%%` is a literal `%`;
/// - `%{KEY}` and `%KEY` (an identifier `[_A-Za-z][_A-Za-z0-9]*`) are replaced when `KEY` is
///   `homedir`, `user`, `env:VAR` (braced only, since `:` ends an identifier), or, inside a
///   pcocc cluster, `clusterdir` and `clusteruser`;
/// - any other key, an unset variable, and a `%` that starts none of these are left as written
///   (`safe_substitute` never fails). **Outside a cluster** ([`Env::cluster`] is `None`),
///   `%{clusterdir}` and `%{clusteruser}` are therefore kept verbatim; a repository path that
///   uses them then fails when the repository is opened (`Invalid repository parent directory
///   ...`), which is better than pcocc's behaviour there (it substitutes the text `None`);
/// - finally a leading `~` or `~user` is replaced by that user's home directory (unknown users
///   are left alone).
///
/// Keys are case-sensitive (`%HOMEDIR` stays as written).
pub fn resolve_path(template: &str, env: &Env) -> PathBuf {
    PathBuf::from(expand_user(&substitute(template, env), env))
}

/// `string.Template(template).safe_substitute(values)` with pcocc's pattern and values.
fn substitute(template: &str, env: &Env) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(at) = rest.find('%') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        // The alternatives in the order pcocc's pattern lists them: escaped, named, braced,
        // invalid.
        if let Some(tail) = after.strip_prefix('%') {
            out.push('%');
            rest = tail;
            continue;
        }
        let named = identifier_len(after);
        if named > 0 {
            push_value(&mut out, &after[..named], &rest[at..at + 1 + named], env);
            rest = &after[named..];
            continue;
        }
        if let Some(inner) = after.strip_prefix('{') {
            // `{(?P<braced>.*?)}`: `.` does not match a newline.
            if let Some(close) = inner
                .find(['}', '\n'])
                .filter(|&i| inner[i..].starts_with('}'))
            {
                let whole_len = 1 + 1 + close + 1;
                push_value(&mut out, &inner[..close], &rest[at..at + whole_len], env);
                rest = &inner[close + 1..];
                continue;
            }
        }
        out.push('%');
        rest = after;
    }
    out.push_str(rest);
    out
}

/// The length of the identifier `[_a-z][_a-z0-9]*` (case-insensitive) at the start of `s`.
fn identifier_len(s: &str) -> usize {
    let bytes = s.as_bytes();
    match bytes.first() {
        Some(b) if b.is_ascii_alphabetic() || *b == b'_' => bytes
            .iter()
            .position(|b| !(b.is_ascii_alphanumeric() || *b == b'_'))
            .unwrap_or(bytes.len()),
        _ => 0,
    }
}

/// Pushes the value of `key`, or `original` when the key has no value.
fn push_value(out: &mut String, key: &str, original: &str, env: &Env) {
    let value = match key {
        "homedir" => Some(env.home().to_string_lossy().into_owned()),
        "user" => Some(env.user().to_owned()),
        "clusterdir" => env.cluster().map(|c| c.dir.to_string_lossy().into_owned()),
        "clusteruser" => env.cluster().map(|c| c.user.clone()),
        _ => key
            .strip_prefix("env:")
            .and_then(|var| env.var(var))
            .map(str::to_owned),
    };
    out.push_str(value.as_deref().unwrap_or(original));
}

/// Python's `os.path.expanduser`.
fn expand_user(path: &str, env: &Env) -> String {
    let Some(after_tilde) = path.strip_prefix('~') else {
        return path.to_owned();
    };
    let end = after_tilde.find('/').unwrap_or(after_tilde.len());
    let (user, rest) = after_tilde.split_at(end);
    let home = if user.is_empty() {
        env.var("HOME")
            .map(PathBuf::from)
            .unwrap_or_else(|| env.home().to_path_buf())
    } else {
        match env.home_of(user) {
            Some(home) => home.to_path_buf(),
            None => return path.to_owned(),
        }
    };
    let home = home.to_string_lossy();
    let joined = format!("{}{rest}", home.trim_end_matches('/'));
    if joined.is_empty() {
        "/".to_owned()
    } else {
        joined
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::Cluster;

    fn env() -> Env {
        Env::new("/home/jdoe", "jdoe").with_var("SCRATCH", "/scratch/jdoe")
    }

    fn r(t: &str) -> String {
        resolve_path(t, &env()).to_string_lossy().into_owned()
    }

    #[test]
    fn known_keys() {
        assert_eq!(r("%{homedir}/.pcocc/images"), "/home/jdoe/.pcocc/images");
        assert_eq!(r("%homedir/.pcocc/"), "/home/jdoe/.pcocc/");
        assert_eq!(r("/var/%{user}/x"), "/var/jdoe/x");
        assert_eq!(r("%user-images"), "jdoe-images");
        assert_eq!(r("%{env:SCRATCH}/images"), "/scratch/jdoe/images");
    }

    #[test]
    fn escapes_and_unknowns_are_kept() {
        assert_eq!(r("100%%/x"), "100%/x");
        assert_eq!(r("%%{user}"), "%{user}");
        assert_eq!(r("%{env:UNSET}/x"), "%{env:UNSET}/x");
        assert_eq!(r("%HOMEDIR"), "%HOMEDIR");
        assert_eq!(r("%homedirx"), "%homedirx");
        assert_eq!(r("50% off"), "50% off");
        assert_eq!(r("%{user"), "%{user");
        assert_eq!(r("%{}"), "%{}");
        assert_eq!(r("%{us\ner}"), "%{us\ner}");
        assert_eq!(r("trailing%"), "trailing%");
    }

    #[test]
    fn cluster_keys() {
        assert_eq!(r("%{clusterdir}/images"), "%{clusterdir}/images");
        assert_eq!(r("%clusteruser"), "%clusteruser");
        let env = env().with_cluster(Cluster {
            dir: "/run/c1".into(),
            user: "owner".into(),
        });
        assert_eq!(
            resolve_path("%{clusterdir}/%clusteruser", &env),
            PathBuf::from("/run/c1/owner")
        );
    }

    #[test]
    fn tilde() {
        assert_eq!(r("~"), "/home/jdoe");
        assert_eq!(r("~/images"), "/home/jdoe/images");
        assert_eq!(r("~nobody/images"), "~nobody/images");
        assert_eq!(r("a/~/b"), "a/~/b");
        let env = env()
            .with_user_home("alice", "/home/alice/")
            .with_var("HOME", "/h");
        assert_eq!(
            resolve_path("~alice/i", &env),
            PathBuf::from("/home/alice/i")
        );
        assert_eq!(resolve_path("~/i", &env), PathBuf::from("/h/i"));
        assert_eq!(
            resolve_path("%{homedir}", &Env::new("/", "root")),
            PathBuf::from("/")
        );
        assert_eq!(
            resolve_path("~", &Env::new("/", "root")),
            PathBuf::from("/")
        );
    }
}
