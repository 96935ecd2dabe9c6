//! Man pages: `man -l` loads every page without a warning, each names its command and shows
//! its synopsis, and a page with subcommands lists every one of them.

use strata_testkit::have;

use crate::{DATE, Dist, command_paths, find, stdout_of, words};

#[test]
fn man_loads_every_page_and_each_names_its_subcommands() {
    let dist = Dist::write();
    if !have(
        "man_loads_every_page_and_each_names_its_subcommands",
        &["man"],
    ) {
        return;
    }
    for front_end in strata_dist::FRONT_ENDS {
        let cmd = (front_end.command)();
        for path in command_paths(&cmd) {
            let words = words(front_end, &path);
            let name = words.join("-");
            let page = dist.path(&format!("share/man/man1/{name}.1"));
            let (text, warnings) = stdout_of(
                std::process::Command::new("man")
                    .arg("-l")
                    .arg(&page)
                    .env("MANPAGER", "cat")
                    .env("MANWIDTH", "200")
                    .env("LC_ALL", "C.UTF-8"),
                &page,
            );
            assert_eq!(warnings, "", "man -l {}", page.display());
            // man justifies long lines (a long SYNOPSIS gets doubled blanks): compare with
            // runs of blanks within a line made one.
            let text: String = text
                .lines()
                .map(|line| {
                    let indent = line.len() - line.trim_start().len();
                    let words: Vec<&str> = line.split_whitespace().collect();
                    format!("{}{}\n", &line[..indent], words.join(" "))
                })
                .collect();
            let sub = find(&cmd, &path);
            let about = sub.get_about().map(ToString::to_string).unwrap_or_default();
            for expected in [
                format!("NAME\n       {name} - {about}"),
                format!("SYNOPSIS\n       {} ", words.join(" ")),
                DATE.to_owned(),
            ] {
                assert!(
                    text.contains(&expected),
                    "{expected:?} in {}:\n{text}",
                    page.display()
                );
            }
            for child in sub.get_subcommands() {
                let listed = format!("{name}-{}(1)", child.get_name());
                assert!(
                    text.contains(&listed),
                    "{listed:?} in {}:\n{text}",
                    page.display()
                );
            }
        }
    }
}
