//! Shell completions (clap_complete): one script per shell, each in the directory under an
//! install prefix where that shell (bash-completion, zsh's `fpath`, fish) finds it by the
//! command's name, so that installing needs no line in any shell's start-up file (zsh: when the
//! prefix's `site-functions` is in `fpath`).

use std::path::{Path, PathBuf};

use clap_complete::Shell;

use crate::error::{DistError, create_dir, write_file};

/// Where a shell looks for the completion script of a binary.
#[derive(Debug, Clone, Copy)]
pub struct Place {
    /// The shell.
    pub shell: Shell,
    /// The directory under an install prefix.
    pub dir: &'static str,
    /// What comes before the binary's name in the file's name.
    pub before: &'static str,
    /// What comes after it.
    pub after: &'static str,
}

impl Place {
    /// The script's file name for `bin`.
    pub fn file_name(&self, bin: &str) -> String {
        format!("{}{bin}{}", self.before, self.after)
    }
}

/// Every shell a script is written for, and where it goes.
pub const PLACES: [Place; 3] = [
    Place {
        shell: Shell::Bash,
        dir: "share/bash-completion/completions",
        before: "",
        after: "",
    },
    Place {
        shell: Shell::Zsh,
        dir: "share/zsh/site-functions",
        before: "_",
        after: "",
    },
    Place {
        shell: Shell::Fish,
        dir: "share/fish/vendor_completions.d",
        before: "",
        after: ".fish",
    },
];

/// Writes the completion script of `cmd`, run as `bin`, for every shell of [`PLACES`] under
/// `prefix`, and returns their paths in that order.
pub fn write_scripts(
    mut cmd: clap::Command,
    bin: &str,
    prefix: &Path,
) -> Result<Vec<PathBuf>, DistError> {
    let mut written = Vec::new();
    for place in PLACES {
        let dir = prefix.join(place.dir);
        create_dir(&dir)?;
        let mut script = Vec::new();
        clap_complete::generate(place.shell, &mut cmd, bin, &mut script);
        if place.shell == Shell::Bash {
            script = fix_bash_states(&script, bin);
        }
        written.push(write_file(dir.join(place.file_name(bin)), &script)?);
    }
    Ok(written)
}

/// clap_complete's bash script names its states (where in the command line the cursor is) in
/// two ways when the binary's name has a hyphen: the loop that walks the words spells
/// `pcocc-image repo` as `pcocc__image__subcmd__repo`, the arms that complete it as
/// `pcocc__subcmd__image__subcmd__repo`, so nothing after the first word ever completes
/// (clap-rs/clap#6421, open for clap_complete 4.6.12). The arms are respelt as the loop spells
/// them; once clap_complete agrees with itself this changes nothing.
fn fix_bash_states(script: &[u8], bin: &str) -> Vec<u8> {
    let text = String::from_utf8_lossy(script);
    text.replace(&bin.replace('-', "__subcmd__"), &bin.replace('-', "__"))
        .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every state the bash script's loop can reach (`cmd="…"`) has an arm that completes it
    /// (`…)`), for a binary with a hyphen in its name and nested subcommands.
    #[test]
    fn every_bash_state_has_its_arm() {
        let mut cmd = clap::Command::new("my-tool").subcommand(
            clap::Command::new("repo").subcommand(
                clap::Command::new("gc").arg(
                    clap::Arg::new("force")
                        .long("force")
                        .action(clap::ArgAction::SetTrue),
                ),
            ),
        );
        let mut script = Vec::new();
        clap_complete::generate(Shell::Bash, &mut cmd, "my-tool", &mut script);
        let script = String::from_utf8(fix_bash_states(&script, "my-tool")).unwrap();
        let states: Vec<&str> = script
            .lines()
            .filter_map(|line| line.trim().strip_prefix("cmd=\""))
            .filter_map(|rest| rest.strip_suffix('"'))
            .filter(|state| !state.is_empty())
            .collect();
        assert!(
            states.contains(&"my__tool__subcmd__repo__subcmd__gc"),
            "{states:?}"
        );
        for state in states {
            assert!(
                script
                    .lines()
                    .any(|line| line.trim() == format!("{state})")),
                "no arm for {state}:\n{script}"
            );
        }
    }
}
