//! The command line as clap sees it: transient's `image ls` and `image rm`, their flags and help
//! texts (transient/args.py, v0.25), plus strata's `ls --json`. Raw values only:
//! [`crate::settings`] and [`crate::lower`] resolve them.
//!
//! `image build` is deliberately absent: it comes with the builder (strata-build), as one more
//! [`Command`] arm.

use clap::{Args, CommandFactory, Parser, Subcommand};

/// transient's help text for `image` (its argparse `help`).
const ABOUT: &str = "Print information about images";

/// The whole definition as clap holds it, for tools that render it without running the binary
/// (man pages and shell completions: `cargo xtask dist`).
pub fn command() -> clap::Command {
    Cli::command()
}

/// The whole command line: global flags and one command.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "transient-image",
    version,
    about = ABOUT,
    long_about = None,
    disable_help_subcommand = true,
    propagate_version = true
)]
pub struct Cli {
    /// Verbosity level for logging (-v info, -vv debug, -vvv trace); RUST_LOG wins
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,

    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands of `transient image`.
#[derive(Debug, Clone, Subcommand)]
pub enum Command {
    /// Print information about images
    Ls(LsArgs),

    /// Remove an image from the backend
    Rm(RmArgs),
}

/// The directories every transient command takes (its `common_parser`).
#[derive(Debug, Clone, Default, Args)]
pub struct Stores {
    /// Location to place VM images and configuration files [default: $TRANSIENT_VMSTORE, else
    /// $XDG_DATA_HOME/transient/vmstore]
    #[arg(long, value_name = "VMSTORE")]
    pub vmstore: Option<String>,

    /// Location to place the shared, read-only backing disk images [default:
    /// $TRANSIENT_BACKEND, else $XDG_DATA_HOME/transient/backend]
    #[arg(long, value_name = "IMAGE_BACKEND")]
    pub image_backend: Option<String>,
}

/// `ls [--json] [--vmstore VMSTORE] [--image-backend IMAGE_BACKEND]`.
#[derive(Debug, Clone, Args)]
pub struct LsArgs {
    /// The directories (`--vmstore` is accepted and unused, as in transient).
    #[command(flatten)]
    pub stores: Stores,

    /// Print the images as JSON instead of transient's table (strata addition)
    #[arg(long)]
    pub json: bool,
}

/// `rm [--force] [--vmstore VMSTORE] [--image-backend IMAGE_BACKEND] NAME...`.
#[derive(Debug, Clone, Args)]
pub struct RmArgs {
    /// The directories.
    #[command(flatten)]
    pub stores: Stores,

    /// Force removal even if image is required by a VM
    #[arg(short, long)]
    pub force: bool,

    /// Image name
    #[arg(value_name = "NAME", required = true, num_args = 1..)]
    pub name: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn transients_command_lines_parse() {
        let cli = Cli::try_parse_from([
            "transient-image",
            "-v",
            "rm",
            "--image-backend",
            "/b",
            "-f",
            "centos/7:2004.01",
            "other",
            "--vmstore",
            "/v",
        ])
        .expect("transient's rm command line");
        assert_eq!(cli.verbose, 1);
        let Command::Rm(rm) = cli.command else {
            panic!("rm")
        };
        assert!(rm.force);
        assert_eq!(rm.name, ["centos/7:2004.01", "other"]);
        assert_eq!(rm.stores.image_backend.as_deref(), Some("/b"));
        assert_eq!(rm.stores.vmstore.as_deref(), Some("/v"));

        let cli = Cli::try_parse_from(["transient-image", "ls", "-vv", "--vmstore", "/v"])
            .expect("transient's ls command line");
        assert_eq!(cli.verbose, 2);
        assert!(matches!(
            cli.command,
            Command::Ls(LsArgs { json: false, .. })
        ));

        let e = Cli::try_parse_from(["transient-image", "rm"]).expect_err("rm needs a name");
        assert_eq!(e.kind(), clap::error::ErrorKind::MissingRequiredArgument);
        let e = Cli::try_parse_from(["transient-image", "build", "dir"])
            .expect_err("build is not here yet");
        assert_eq!(e.kind(), clap::error::ErrorKind::InvalidSubcommand);
    }
}
