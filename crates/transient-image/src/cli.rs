//! The command line as clap sees it: transient's `image ls`, `image rm` and `image build`, their
//! flags and help texts (transient/args.py, v0.25), plus strata's `ls --json` and `build
//! --force`/`--accel`/`--step-timeout`. Raw values only: [`crate::settings`], [`crate::lower`]
//! and [`crate::build`] resolve them.

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

    /// Build a new image from an Imagefile
    Build(BuildArgs),
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

/// `build [-f IMAGEFILE] [--name NAME] [--local] [--ssh-timeout S] [--qmp-timeout S]
/// [--vmstore VMSTORE] [--image-backend IMAGE_BACKEND] BUILD_DIR`, plus strata's flags.
#[derive(Debug, Clone, Args)]
pub struct BuildArgs {
    /// The directories.
    #[command(flatten)]
    pub stores: Stores,

    /// Use the specified IMAGEFILE instead of the default build-dir/Imagefile
    #[arg(short, long, value_name = "FILE")]
    pub file: Option<String>,

    /// Associate the new image with the provided NAME
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,

    /// Store the built image in the build-dir (as NAME.qcow2) instead of the IMAGE_BACKEND
    #[arg(long)]
    pub local: bool,

    /// Wait SSH_TIMEOUT seconds for the build VM to be ready before failing (strata's VM has an
    /// agent, not SSH)
    #[arg(long, value_name = "SSH_TIMEOUT", default_value_t = 90)]
    pub ssh_timeout: u64,

    /// Wait QMP_TIMEOUT seconds for the QEMU QMP endpoint before failing
    #[arg(long, value_name = "QMP_TIMEOUT", default_value_t = 10)]
    pub qmp_timeout: u64,

    /// Replace an image of the same name (strata addition; transient replaces it silently)
    #[arg(long)]
    pub force: bool,

    /// The build VM's accelerator: auto, kvm or tcg [default: $STRATA_BUILD_ACCEL, else auto]
    /// (strata addition)
    #[arg(long, value_name = "ACCEL")]
    pub accel: Option<String>,

    /// Longest time one step may take, in seconds (strata addition)
    #[arg(long, value_name = "SECONDS", default_value_t = 3600)]
    pub step_timeout: u64,

    /// The root directory of relative paths in the Imagefile
    #[arg(value_name = "build-dir")]
    pub build_dir: String,
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
        let cli = Cli::try_parse_from([
            "transient-image",
            "build",
            "-f",
            "Imagefile.alpine",
            "--name",
            "alpine",
            "--local",
            "--ssh-timeout",
            "30",
            "dir",
        ])
        .expect("transient's build command line");
        let Command::Build(build) = cli.command else {
            panic!("build")
        };
        assert_eq!(
            (build.file.as_deref(), build.name.as_deref(), build.local),
            (Some("Imagefile.alpine"), Some("alpine"), true)
        );
        assert_eq!((build.ssh_timeout, build.qmp_timeout), (30, 10));
        assert_eq!(build.build_dir, "dir");
        let e = Cli::try_parse_from(["transient-image", "build"]).expect_err("a directory");
        assert_eq!(e.kind(), clap::error::ErrorKind::MissingRequiredArgument);
    }
}
