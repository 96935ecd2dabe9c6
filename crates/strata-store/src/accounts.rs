//! [`Accounts`]: the machine's users and groups from `/etc/passwd` and `/etc/group`, for the
//! names OpenNebula prints beside ids (UNAME, GNAME) and the groups a user belongs to.
//!
//! Both files are read with a bound on their size; a malformed line is skipped. Users and
//! groups that only an NSS module knows (LDAP, SSSD) are not seen: their ids print as numbers.

use std::io::Read;
use std::path::{Path, PathBuf};

/// Where the users are read from.
pub const PASSWD: &str = "/etc/passwd";
/// Where the groups are read from.
pub const GROUP: &str = "/etc/group";
/// The largest file read (a bound on memory).
const MAX_FILE_LEN: u64 = 4 << 20;

/// One user: an `/etc/passwd` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// The login name.
    pub name: String,
    /// The uid.
    pub uid: u32,
    /// The primary group.
    pub gid: u32,
    /// The home directory.
    pub home: PathBuf,
}

/// One group: an `/etc/group` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    /// The name.
    pub name: String,
    /// The gid.
    pub gid: u32,
    /// The users listed as members (not those whose primary group it is).
    pub members: Vec<String>,
}

/// The users and groups of the machine.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Accounts {
    /// The users, in file order.
    pub users: Vec<User>,
    /// The groups, in file order.
    pub groups: Vec<Group>,
}

impl Accounts {
    /// The machine's accounts ([`PASSWD`], [`GROUP`]); an unreadable file gives none.
    pub fn read() -> Accounts {
        Accounts::read_from(Path::new(PASSWD), Path::new(GROUP))
    }

    /// The accounts of these two files.
    pub fn read_from(passwd: &Path, group: &Path) -> Accounts {
        Accounts {
            users: parse_passwd(&read_bounded(passwd)),
            groups: parse_group(&read_bounded(group)),
        }
    }

    /// The user with this uid.
    pub fn user(&self, uid: u32) -> Option<&User> {
        self.users.iter().find(|u| u.uid == uid)
    }

    /// The user with this name.
    pub fn user_named(&self, name: &str) -> Option<&User> {
        self.users.iter().find(|u| u.name == name)
    }

    /// The group with this gid.
    pub fn group(&self, gid: u32) -> Option<&Group> {
        self.groups.iter().find(|g| g.gid == gid)
    }

    /// The group with this name.
    pub fn group_named(&self, name: &str) -> Option<&Group> {
        self.groups.iter().find(|g| g.name == name)
    }

    /// The name of user `uid`, or the number.
    pub fn user_name(&self, uid: u32) -> String {
        self.user(uid)
            .map_or_else(|| uid.to_string(), |u| u.name.clone())
    }

    /// The name of group `gid`, or the number.
    pub fn group_name(&self, gid: u32) -> String {
        self.group(gid)
            .map_or_else(|| gid.to_string(), |g| g.name.clone())
    }

    /// The groups user `name` is listed in.
    pub fn groups_of(&self, name: &str) -> impl Iterator<Item = &Group> {
        self.groups
            .iter()
            .filter(move |g| g.members.iter().any(|m| m == name))
    }
}

fn read_bounded(path: &Path) -> String {
    let Ok(file) = std::fs::File::open(path) else {
        return String::new();
    };
    let mut text = String::new();
    if file.take(MAX_FILE_LEN).read_to_string(&mut text).is_err() {
        return String::new();
    }
    text
}

/// Parses `name:passwd:uid:gid:gecos:home:shell` lines, skipping malformed ones.
pub(crate) fn parse_passwd(text: &str) -> Vec<User> {
    text.lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split(':').collect();
            let [name, _, uid, gid, _, home, ..] = fields.as_slice() else {
                return None;
            };
            Some(User {
                name: (*name).to_owned(),
                uid: uid.parse().ok()?,
                gid: gid.parse().ok()?,
                home: PathBuf::from(home),
            })
        })
        .collect()
}

/// Parses `name:passwd:gid:member,member` lines, skipping malformed ones.
fn parse_group(text: &str) -> Vec<Group> {
    text.lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split(':').collect();
            let [name, _, gid, members] = fields.as_slice() else {
                return None;
            };
            Some(Group {
                name: (*name).to_owned(),
                gid: gid.parse().ok()?,
                members: members
                    .split(',')
                    .filter(|m| !m.is_empty())
                    .map(str::to_owned)
                    .collect(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_and_groups_are_read_and_malformed_lines_skipped() {
        let users = parse_passwd(
            "root:x:0:0:root:/root:/bin/bash\n# comment\nbad\njdoe:x:1000:100:J:/home/jdoe:/bin/sh\n",
        );
        let names: Vec<_> = users
            .iter()
            .map(|e| (e.name.as_str(), e.uid, e.gid))
            .collect();
        assert_eq!(names, [("root", 0, 0), ("jdoe", 1000, 100)]);
        assert_eq!(users[1].home, Path::new("/home/jdoe"));
        let groups = parse_group("root:x:0:\nusers:x:100:jdoe,ann\nbad:x\n");
        let accounts = Accounts { users, groups };
        assert_eq!(accounts.group_name(100), "users");
        assert_eq!(accounts.group_name(7), "7");
        assert_eq!(
            accounts.groups_of("ann").map(|g| g.gid).collect::<Vec<_>>(),
            [100]
        );
        assert_eq!(accounts.user_named("jdoe").map(|u| u.uid), Some(1000));
    }
}
