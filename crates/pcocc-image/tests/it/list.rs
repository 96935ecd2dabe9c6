//! `list [-R REPO] [REGEX]` over two repositories, and `list --json`.

use crate::sandbox::Sandbox;
use crate::snap;

/// Two repositories: `user` with `centos7-cloud` (2 revisions) and `ubuntu`, `global` with
/// `centos7-cloud` and `debian`; records settled.
fn two_repos() -> Sandbox {
    let sb = Sandbox::new(&["user", "global"]);
    let raw = sb.raw_disk("disk.raw", 1 << 20);
    sb.ok(&["import", &raw, "user:ubuntu"]);
    sb.ok(&["import", &raw, "user:centos7-cloud"]);
    sb.ok(&["resize", "user:centos7-cloud", "2M"]);
    sb.ok(&["import", &raw, "global:centos7-cloud"]);
    sb.ok(&["import", &raw, "global:debian"]);
    sb.settle();
    sb
}

#[test]
fn list() {
    let sb = two_repos();
    snap!("all", sb, &["list"]);
    snap!("regex", sb, &["list", "^c"]);
    snap!("regex_anywhere", sb, &["list", "bun"]);
    snap!("repo", sb, &["list", "-R", "global"]);
    snap!("repo_and_regex", sb, &["list", "--repo", "global", "deb"]);
    snap!("no_match", sb, &["list", "nothing-matches"]);
    snap!("json", sb, &["list", "--json", "-R", "global"]);
}

#[test]
fn list_of_empty_repositories_prints_nothing() {
    let sb = Sandbox::new(&["user"]);
    snap!("empty", sb, &["list"]);
}

/// A repository whose directory cannot be created (its parent is missing) does not hide the
/// others: they are listed, then its error is printed and is the exit code (66), as `ls` does
/// with an unreadable directory. Named with `-R`, it fails alone.
#[test]
fn a_broken_repository_does_not_hide_the_others() {
    let sb = Sandbox::new(&["user", "global"]);
    let raw = sb.raw_disk("disk.raw", 1 << 20);
    sb.ok(&["import", &raw, "user:ubuntu"]);
    sb.ok(&["import", &raw, "global:debian"]);
    sb.settle();
    let file = sb.path("conf/user/repos.yaml");
    let mut yaml = std::fs::read_to_string(&file).expect("repos.yaml");
    yaml.push_str(&format!(
        "  - name: broken\n    path: \"{}\"\n",
        sb.path("missing-parent/broken").display()
    ));
    std::fs::write(&file, yaml).expect("repos.yaml");
    snap!("broken_among_others", sb, &["list"]);
    snap!("broken_named", sb, &["list", "-R", "broken"]);
}
