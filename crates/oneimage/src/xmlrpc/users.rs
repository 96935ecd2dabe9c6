//! [`Users`]: who may call the endpoint, and as whom.
//!
//! The password file has one `name:bcrypt-hash` line per user (blank lines and `#` comments are
//! skipped; so is any malformed line). A session (`user:password`, what `ONE_AUTH` holds and
//! pyone sends as every call's first parameter) is accepted when the user is in the file, the
//! password matches, and the name is also an account of the machine ([`Accounts`]): the caller
//! then acts with that account's uid, primary group and groups, so that the pool's owners are
//! the machine's users. uid 0, or membership of the endpoint's admin group, makes the caller an
//! administrator (OpenNebula's `oneadmin` group, [`ONEADMIN_GROUP`]). Every caller is also in
//! OpenNebula's `users` group ([`USERS_GROUP`]), as every user oned makes is, whose default ACL
//! rule lets its members create images.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use strata_model::one::perms::USERS_GROUP;
use strata_model::one::{Caller, ONEADMIN_GROUP, Ownership, Requester};
use strata_store::Accounts;

/// The largest password file read.
pub const MAX_FILE_BYTES: u64 = 1 << 20;

/// The bcrypt cost of new passwords (the bcrypt crate's default).
pub const COST: u32 = bcrypt::DEFAULT_COST;

/// bcrypt reads at most 72 bytes of a password; longer ones are refused rather than cut.
pub const MAX_PASSWORD_BYTES: usize = 72;

/// A hash verified for unknown users, so that they take as long as known ones; made once.
fn dummy_hash() -> &'static str {
    static HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HASH.get_or_init(|| bcrypt::hash("strata: no such user", COST).unwrap_or_default())
}

/// Why the password file cannot be read or written.
#[derive(Debug, thiserror::Error)]
pub enum UsersError {
    /// Reading or writing the file failed.
    #[error("{}: {source}", .path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// The file is larger than [`MAX_FILE_BYTES`].
    #[error("{}: larger than {MAX_FILE_BYTES} bytes", .path.display())]
    TooLarge {
        /// The file.
        path: PathBuf,
    },
    /// A user name that cannot be written in the file.
    #[error(
        "invalid user name {name:?}: it must be non-empty, without ':', whitespace or control characters"
    )]
    InvalidName {
        /// The name.
        name: String,
    },
    /// A password bcrypt cannot take whole.
    #[error("invalid password: it must be 1 to {MAX_PASSWORD_BYTES} bytes")]
    InvalidPassword,
    /// bcrypt failed.
    #[error("cannot hash the password: {0}")]
    Hash(#[from] bcrypt::BcryptError),
}

/// The users of a password file: names and their bcrypt hashes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Users {
    hashes: BTreeMap<String, String>,
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c != ':' && !c.is_whitespace() && !c.is_control())
}

impl Users {
    /// No user at all: every session is refused.
    pub fn empty() -> Users {
        Users::default()
    }

    /// The users of a password file's text; malformed lines are skipped (the last line of a
    /// name wins).
    pub fn parse(text: &str) -> Users {
        let mut hashes = BTreeMap::new();
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let Some((name, hash)) = line.split_once(':') else {
                continue;
            };
            if valid_name(name) && hash.starts_with('$') && !hash.contains(char::is_whitespace) {
                hashes.insert(name.to_owned(), hash.to_owned());
            }
        }
        Users { hashes }
    }

    /// Reads a password file (at most [`MAX_FILE_BYTES`]; invalid UTF-8 is replaced, which
    /// spoils only the lines it is in).
    ///
    /// # Errors
    /// The file cannot be read, or is too large.
    pub fn load(path: &Path) -> Result<Users, UsersError> {
        let io = |source| UsersError::Io {
            path: path.to_owned(),
            source,
        };
        let file = std::fs::File::open(path).map_err(io)?;
        let mut bytes = Vec::new();
        file.take(MAX_FILE_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(io)?;
        if bytes.len() as u64 > MAX_FILE_BYTES {
            return Err(UsersError::TooLarge {
                path: path.to_owned(),
            });
        }
        Ok(Users::parse(&String::from_utf8_lossy(&bytes)))
    }

    /// The names in the file.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.hashes.keys().map(String::as_str)
    }

    /// Sets `name`'s password in the file at `path` (made, mode 0600, if it does not exist):
    /// the file is rewritten whole into a temporary file beside it, synced, and renamed over
    /// it, so that a crash leaves the old file or the new one.
    ///
    /// # Errors
    /// An invalid name or password, or the file cannot be read or written.
    pub fn set_password(path: &Path, name: &str, password: &str) -> Result<(), UsersError> {
        Users::set_password_with_cost(path, name, password, COST)
    }

    /// [`Users::set_password`] with a bcrypt cost (tests use the minimum, 4).
    ///
    /// # Errors
    /// As [`Users::set_password`].
    pub fn set_password_with_cost(
        path: &Path,
        name: &str,
        password: &str,
        cost: u32,
    ) -> Result<(), UsersError> {
        if !valid_name(name) {
            return Err(UsersError::InvalidName {
                name: name.to_owned(),
            });
        }
        if password.is_empty() || password.len() > MAX_PASSWORD_BYTES {
            return Err(UsersError::InvalidPassword);
        }
        let mut users = match Users::load(path) {
            Ok(users) => users,
            Err(UsersError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
                Users::empty()
            }
            Err(e) => return Err(e),
        };
        let hash = bcrypt::non_truncating_hash(password, cost)?;
        users.hashes.insert(name.to_owned(), hash);
        let mut text = String::new();
        for (name, hash) in &users.hashes {
            text.push_str(name);
            text.push(':');
            text.push_str(hash);
            text.push('\n');
        }
        let io = |source| UsersError::Io {
            path: path.to_owned(),
            source,
        };
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        let mut tmp = tempfile::Builder::new()
            .prefix(".users")
            .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o600))
            .tempfile_in(dir)
            .map_err(io)?;
        tmp.write_all(text.as_bytes()).map_err(io)?;
        tmp.as_file().sync_all().map_err(io)?;
        tmp.persist(path).map_err(|e| io(e.error))?;
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    }

    /// The caller a session (`user:password`) stands for, or `None` when it is refused: an
    /// unknown user, a wrong password, or a user that is not an account of the machine.
    /// `admin_group` is the group whose members administer the pool (uid 0 always does).
    pub fn verify(
        &self,
        session: &str,
        accounts: &Accounts,
        admin_group: Option<u32>,
    ) -> Option<Caller> {
        let (name, password) = session.split_once(':')?;
        let Some(hash) = self.hashes.get(name) else {
            // As long as a known user's check, so that timing tells nothing.
            let _ = bcrypt::non_truncating_verify(password, dummy_hash());
            return None;
        };
        if password.len() > MAX_PASSWORD_BYTES
            || !bcrypt::non_truncating_verify(password, hash).unwrap_or(false)
        {
            return None;
        }
        let user = accounts.user_named(name)?;
        let mut groups: BTreeSet<u32> = accounts.groups_of(name).map(|g| g.gid).collect();
        groups.insert(user.gid);
        let admin = user.uid == 0 || admin_group.is_some_and(|g| groups.contains(&g));
        if admin {
            groups.insert(ONEADMIN_GROUP);
        }
        groups.insert(USERS_GROUP);
        let mut requester = Requester::new(user.uid, user.gid);
        requester.groups = groups;
        Some(Caller {
            requester,
            ownership: Ownership {
                uid: user.uid,
                gid: user.gid,
                uname: user.name.clone(),
                gname: accounts.group_name(user.gid),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::*;

    fn accounts(dir: &Path) -> Accounts {
        let passwd = dir.join("passwd");
        let group = dir.join("group");
        std::fs::write(
            &passwd,
            "root:x:0:0:root:/root:/bin/sh\nalice:x:1000:1000::/home/alice:/bin/sh\n\
             bob:x:1001:1001::/home/bob:/bin/sh\ncarol:x:1002:1002::/home/carol:/bin/sh\n",
        )
        .unwrap();
        std::fs::write(
            &group,
            "root:x:0:\nalice:x:1000:\nbob:x:1001:\ncarol:x:1002:\nstaff:x:50:alice,bob\n\
             oneadmin:x:900:carol\n",
        )
        .unwrap();
        Accounts::read_from(&passwd, &group)
    }

    fn users(dir: &Path) -> (PathBuf, Users) {
        let file = dir.join("users");
        for (name, password) in [
            ("alice", "secret"),
            ("carol", "c:o:l"),
            ("root", "toor"),
            ("ghost", "boo"),
        ] {
            Users::set_password_with_cost(&file, name, password, 4).unwrap();
        }
        let users = Users::load(&file).unwrap();
        (file, users)
    }

    #[test]
    fn a_session_verifies_as_the_os_account() {
        let dir = tempfile::tempdir().unwrap();
        let accounts = accounts(dir.path());
        let (_, users) = users(dir.path());
        let alice = users.verify("alice:secret", &accounts, Some(900)).unwrap();
        assert_eq!(alice.requester.uid, 1000);
        assert_eq!(alice.requester.gid, 1000);
        assert_eq!(
            alice.requester.groups,
            [USERS_GROUP, 50, 1000]
                .into_iter()
                .collect::<BTreeSet<u32>>()
        );
        assert!(!alice.requester.is_admin());
        assert_eq!(alice.ownership.uname, "alice");
        assert_eq!(alice.ownership.gname, "alice");
    }

    #[test]
    fn wrong_passwords_and_unknown_users_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let accounts = accounts(dir.path());
        let (_, users) = users(dir.path());
        for session in [
            "alice:wrong",
            "alice:",
            "alice",
            "",
            ":secret",
            "nobody:secret",
            // In the file, but not an account of the machine.
            "ghost:boo",
            "alice:secretsecretsecretsecretsecretsecretsecretsecretsecretsecretsecretsecretX",
        ] {
            assert!(
                users.verify(session, &accounts, None).is_none(),
                "{session}"
            );
        }
    }

    #[test]
    fn root_and_the_admin_group_are_administrators() {
        let dir = tempfile::tempdir().unwrap();
        let accounts = accounts(dir.path());
        let (_, users) = users(dir.path());
        let root = users.verify("root:toor", &accounts, None).unwrap();
        assert!(root.requester.is_admin());
        // A password may hold ':' (the session splits at the first one).
        let carol = users.verify("carol:c:o:l", &accounts, Some(900)).unwrap();
        assert!(carol.requester.is_admin());
        assert!(carol.requester.groups.contains(&ONEADMIN_GROUP));
        let carol = users.verify("carol:c:o:l", &accounts, Some(50)).unwrap();
        assert!(!carol.requester.is_admin());
    }

    #[test]
    fn the_file_is_rewritten_whole_and_hostile_lines_are_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let (file, users) = users(dir.path());
        assert_eq!(
            users.names().collect::<Vec<_>>(),
            ["alice", "carol", "ghost", "root"]
        );
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(&file).unwrap().permissions(),
        );
        assert_eq!(mode & 0o777, 0o600);
        Users::set_password_with_cost(&file, "alice", "new", 4).unwrap();
        let accounts = accounts(dir.path());
        let users = Users::load(&file).unwrap();
        assert!(users.verify("alice:secret", &accounts, None).is_none());
        assert!(users.verify("alice:new", &accounts, None).is_some());
        assert!(users.verify("root:toor", &accounts, None).is_some());

        let parsed = Users::parse("# c\n\nno colon\n:$2b$x\nbad name:$2b$x\nok:nothash\nz:$2b$y\n");
        assert_eq!(parsed.names().collect::<Vec<_>>(), ["z"]);

        assert!(matches!(
            Users::set_password_with_cost(&file, "a:b", "p", 4),
            Err(UsersError::InvalidName { .. })
        ));
        assert!(matches!(
            Users::set_password_with_cost(&file, "a", "", 4),
            Err(UsersError::InvalidPassword)
        ));
        let big = dir.path().join("big");
        std::fs::write(&big, vec![b'a'; (MAX_FILE_BYTES + 1) as usize]).unwrap();
        assert!(matches!(
            Users::load(&big),
            Err(UsersError::TooLarge { .. })
        ));
        assert!(matches!(
            Users::load(&dir.path().join("missing")),
            Err(UsersError::Io { .. })
        ));
    }
}
