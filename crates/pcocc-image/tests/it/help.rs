//! `--help` of the binary and of every subcommand, found by walking the clap definition
//! ([`pcocc_image::command`]) so that a new subcommand gets its snapshot: each one pinned by
//! insta (`help__<path>`), each usage line naming the binary that runs it, and `-t` listing
//! the formats it takes.

use crate::sandbox::Sandbox;

/// Every command path under `cmd`, depth first, parents before their subcommands: `[]`,
/// `[list]`, ..., `[repo]`, `[repo, list]`, ...
fn command_paths(cmd: &clap::Command) -> Vec<Vec<String>> {
    let mut paths = vec![Vec::new()];
    for sub in cmd.get_subcommands() {
        for mut path in command_paths(sub) {
            path.insert(0, sub.get_name().to_owned());
            paths.push(path);
        }
    }
    paths
}

#[test]
fn every_command_has_help_naming_the_binary() {
    let sb = Sandbox::new(&["user"]);
    let cli = pcocc_image::command();
    let paths = command_paths(&cli);
    let commands: Vec<&str> = cli.get_subcommands().map(clap::Command::get_name).collect();
    assert!(
        paths.contains(&vec!["repo".to_owned(), "gc".to_owned()]),
        "the walk reaches nested subcommands: {paths:?}"
    );
    for path in paths {
        let mut args: Vec<&str> = path.iter().map(String::as_str).collect();
        args.push("--help");
        let text = sb.run(&args);
        let words: Vec<&str> = std::iter::once("pcocc-image")
            .chain(path.iter().map(String::as_str))
            .collect();
        let usage = format!("\nUsage: {} ", words.join(" "));
        assert!(text.contains(&usage), "{usage:?} in:\n{text}");
        for command in &commands {
            assert!(
                !text.contains(&format!("pcocc image {command} ")),
                "the help names the binary that runs {command}, not pcocc's command:\n{text}"
            );
        }
        if ["import", "export"].contains(&args[0]) {
            let listed = format!(
                "[possible values: {}]",
                pcocc_image::lower::format_names().join(", ")
            );
            assert!(text.contains(&listed), "{listed:?} in:\n{text}");
        }
        let name = if path.is_empty() {
            "root".to_owned()
        } else {
            path.join("_")
        };
        insta::assert_snapshot!(name, text);
    }
}
