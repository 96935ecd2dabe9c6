//! Shell completions: bash loads the script and registers it for the binary, and completing
//! after any command offers every one of its subcommands, and after an option with a list of
//! values every value; the zsh and fish scripts name every subcommand as a candidate.

use std::path::Path;

use strata_testkit::have;

use crate::{Dist, command_paths, find, stdout_of, words};

/// Sources the script (`$0`), finds the function `complete -p` registered for the binary
/// (`$1`), and calls it as bash does for the words `$@`, the last one being completed; prints
/// the candidates, one a line.
const COMPLETE: &str = r#"
source "$0" || exit 1
spec=$(complete -p "$1") || exit 1
fn=${spec#* -F }
fn=${fn%% *}
COMP_WORDS=("$@")
COMP_CWORD=$(( $# - 1 ))
COMP_LINE="$*"
COMP_POINT=${#COMP_LINE}
"$fn" "$1" "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
printf '%s\n' "${COMPREPLY[@]}"
"#;

/// The candidates bash offers for the last of `words` (`""` for a new word).
fn bash_candidates(script: &Path, words: &[String]) -> Vec<String> {
    let (out, _) = stdout_of(
        std::process::Command::new("bash")
            .args(["--norc", "--noprofile", "-c", COMPLETE])
            .arg(script)
            .args(words),
        script,
    );
    out.lines().map(str::to_owned).collect()
}

#[test]
fn bash_completes_every_subcommand_and_listed_value() {
    let dist = Dist::write();
    if !have(
        "bash_completes_every_subcommand_and_listed_value",
        &["bash"],
    ) {
        return;
    }
    for front_end in strata_dist::FRONT_ENDS {
        let script = dist.path(&format!(
            "share/bash-completion/completions/{}",
            front_end.bin
        ));
        let (registered, _) = stdout_of(
            std::process::Command::new("bash")
                .args([
                    "--norc",
                    "--noprofile",
                    "-c",
                    r#"source "$0"; complete -p "$1""#,
                ])
                .arg(&script)
                .arg(front_end.bin),
            &script,
        );
        assert!(
            registered
                .trim_end()
                .ends_with(&format!(" {}", front_end.bin)),
            "{registered}"
        );
        let cmd = (front_end.command)();
        let mut checked = 0;
        for path in command_paths(&cmd) {
            let sub = find(&cmd, &path);
            let mut line = words(front_end, &path);
            line.push(String::new());
            let offered = bash_candidates(&script, &line);
            for child in sub.get_subcommands() {
                assert!(
                    offered.iter().any(|c| c == child.get_name()),
                    "{:?}: {} not offered: {offered:?}",
                    line,
                    child.get_name()
                );
                checked += 1;
            }
            for arg in sub
                .get_arguments()
                .filter(|arg| arg.get_action().takes_values())
            {
                let values: Vec<String> = arg
                    .get_possible_values()
                    .iter()
                    .map(|v| v.get_name().to_owned())
                    .collect();
                let Some(long) = arg.get_long().filter(|_| !values.is_empty()) else {
                    continue;
                };
                let mut line = words(front_end, &path);
                line.extend([format!("--{long}"), String::new()]);
                assert_eq!(bash_candidates(&script, &line), values, "{line:?}");
                checked += 1;
            }
        }
        // Every front end has subcommands: a loop that checked nothing tested nothing.
        assert!(
            checked >= cmd.get_subcommands().count() && checked > 0,
            "{} completions checked",
            checked
        );
    }
}

#[test]
fn zsh_and_fish_scripts_name_every_subcommand() {
    let dist = Dist::write();
    for front_end in strata_dist::FRONT_ENDS {
        let bin = front_end.bin;
        let zsh = std::fs::read_to_string(dist.path(&format!("share/zsh/site-functions/_{bin}")))
            .expect("zsh script");
        let fish = std::fs::read_to_string(
            dist.path(&format!("share/fish/vendor_completions.d/{bin}.fish")),
        )
        .expect("fish script");
        assert!(zsh.starts_with(&format!("#compdef {bin}\n")), "{zsh}");
        for path in command_paths(&(front_end.command)()) {
            let Some(name) = path.last() else { continue };
            assert!(zsh.contains(&format!("'{name}:")), "zsh: {path:?}");
            assert!(
                fish.contains(&format!("complete -c {bin} "))
                    && fish.contains(&format!("-a \"{name}\"")),
                "fish: {path:?}"
            );
        }
    }
}
