//! The command line as clap sees it: pcocc's `image` commands, their arguments and help texts
//! (lib/pcocc/scripts/cmd.py, v0.7.5), plus strata's additions (`repo verify`, `--json`,
//! `-q`). Raw values only: [`crate::lower`] turns them into core requests.

use std::ffi::OsStr;

use clap::builder::{PossibleValue, StringValueParser, TypedValueParser};
use clap::{Args, CommandFactory, Parser, Subcommand};

/// `pcocc image`'s help text for the group (its click docstring).
const ABOUT: &str = "List and manage images";

/// pcocc's sentence about image URIs, repeated in most docstrings.
const URI_HELP: &str = "Images in repositories are specified with URIs of the form\n\
[REPO:]IMAGE[@REVISION].";

/// The whole definition as clap holds it, for tools that render it without running the binary
/// (man pages and shell completions: `cargo xtask dist`).
pub fn command() -> clap::Command {
    Cli::command()
}

/// The whole command line: global flags and one command.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "pcocc-image",
    version,
    about = ABOUT,
    long_about = None,
    disable_help_subcommand = true,
    propagate_version = true
)]
pub struct Cli {
    /// More log output on standard error (-v info, -vv debug, -vvv trace); RUST_LOG wins.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,

    /// No progress bars or progress lines; results and errors still print.
    #[arg(short, long, global = true)]
    pub quiet: bool,

    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands of `pcocc image`.
#[derive(Debug, Clone, Subcommand)]
pub enum Command {
    /// List images in repositories
    #[command(long_about = "List images in configured repositories.\n\n\
If REGEX is provided, only images whose name match the provided regular\n\
expression are shown.")]
    List(ListArgs),

    /// Show details for an image
    #[command(long_about = format!("Show details for an image\n\n{URI_HELP}"))]
    Show(ShowArgs),

    /// Import an image to a repository
    #[command(long_about = format!("Import the source image file to an image in the destination \
repository.\n\n{URI_HELP}\n\n\
The destination image name must not already be used in the destination\n\
repository and the revision is ignored since the import operation creates\n\
the first revision of a new image."))]
    Import(ImportArgs),

    /// Export an image from a repository
    #[command(long_about = format!("Export the source image from a repository to the \
destination file.\n\n{URI_HELP}"))]
    Export(ExportArgs),

    /// Copy an image from one repository to another
    #[command(long_about = format!("Copy an image from a repository to another image in a\n\
repository.\n\n{URI_HELP}\n\n\
The destination image name must not already be used in the destination\n\
repository and the destination revision is ignored since a copy operation\n\
creates the first revision of a new image."))]
    Copy(CopyArgs),

    /// Delete an image from a repository
    #[command(long_about = format!("Delete an image from a repository\n\n{URI_HELP}\n\n\
If a revision is specified, only the specified revision is deleted,\n\
otherwise all revisions of the image are deleted."))]
    Delete(DeleteArgs),

    /// Resize an image in a repository
    #[command(long_about = format!("Resize an image in a repository\n\n{URI_HELP}\n\n\
A new image revision is created with the new image size.\n\n\
Example usage:\n       pcocc-image resize myimg 20G"))]
    Resize(ResizeArgs),

    /// List and manage image repositories
    #[command(subcommand)]
    Repo(RepoCommand),

    /// Manage container image cache
    #[command(subcommand)]
    Cache(CacheCommand),
}

/// `list [-R REPO] [--json] [REGEX]`.
#[derive(Debug, Clone, Args)]
pub struct ListArgs {
    /// Restrict image list to a repository
    #[arg(short = 'R', long)]
    pub repo: Option<String>,

    /// Print the images as JSON instead of pcocc's tables (strata addition)
    #[arg(long)]
    pub json: bool,

    /// Only show images whose name matches this regular expression
    #[arg(value_name = "REGEX", default_value = "")]
    pub regex: String,
}

/// `show [--json] IMAGE`.
#[derive(Debug, Clone, Args)]
pub struct ShowArgs {
    /// Print the image as JSON instead of pcocc's block (strata addition)
    #[arg(long)]
    pub json: bool,

    /// The image, `[REPO:]IMAGE[@REVISION]`
    #[arg(help = "The image, [REPO:]IMAGE[@REVISION]", value_name = "IMAGE")]
    pub image: String,
}

/// `import [-t FMT] SOURCE DEST`.
#[derive(Debug, Clone, Args)]
pub struct ImportArgs {
    /// Force source image format
    #[arg(short = 't', long = "fmt", value_name = "TEXT", value_parser = FormatName)]
    pub fmt: Option<String>,

    /// Architecture to take from a multi-platform container image (strata's addition; default:
    /// this machine's)
    #[arg(long = "arch", value_name = "ARCH[/VARIANT]")]
    pub arch: Option<String>,

    /// The file to import, `([FORMAT]:)PATH`
    #[arg(help = "The file to import, ([FORMAT]:)PATH", value_name = "SOURCE")]
    pub source: String,

    /// The new image, `[REPO:]IMAGE`
    #[arg(help = "The new image, [REPO:]IMAGE", value_name = "DEST")]
    pub dest: String,
}

/// `export [-t FMT] SOURCE DEST`.
#[derive(Debug, Clone, Args)]
pub struct ExportArgs {
    /// Force destination image format
    #[arg(short = 't', long = "fmt", value_name = "TEXT", value_parser = FormatName)]
    pub fmt: Option<String>,

    /// The image, `[REPO:]IMAGE[@REVISION]`
    #[arg(help = "The image, [REPO:]IMAGE[@REVISION]", value_name = "SOURCE")]
    pub source: String,

    /// The file to write, `([FORMAT]:)PATH`
    #[arg(help = "The file to write, ([FORMAT]:)PATH", value_name = "DEST")]
    pub dest: String,
}

/// `-t`'s values: any text, as pcocc takes it (a name it does not know is refused later, after
/// content detection, in pcocc's words), with the names the front end knows
/// ([`crate::lower::format_names`]) as possible values, which help and completions list.
#[derive(Debug, Clone, Copy)]
struct FormatName;

impl TypedValueParser for FormatName {
    type Value = String;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &OsStr,
    ) -> Result<String, clap::Error> {
        StringValueParser::new().parse_ref(cmd, arg, value)
    }

    fn possible_values(&self) -> Option<Box<dyn Iterator<Item = PossibleValue> + '_>> {
        Some(Box::new(
            crate::lower::format_names()
                .into_iter()
                .map(PossibleValue::new),
        ))
    }
}

/// `copy SOURCE DEST`.
#[derive(Debug, Clone, Args)]
pub struct CopyArgs {
    /// The image to copy, `[REPO:]IMAGE[@REVISION]`
    #[arg(
        help = "The image to copy, [REPO:]IMAGE[@REVISION]",
        value_name = "SOURCE"
    )]
    pub source: String,

    /// The new image, `[REPO:]IMAGE`
    #[arg(help = "The new image, [REPO:]IMAGE", value_name = "DEST")]
    pub dest: String,
}

/// `delete IMAGE`.
#[derive(Debug, Clone, Args)]
pub struct DeleteArgs {
    /// The image, `[REPO:]IMAGE[@REVISION];` without a revision every revision is deleted
    #[arg(
        help = "The image, [REPO:]IMAGE[@REVISION]; without a revision every revision is deleted",
        value_name = "IMAGE"
    )]
    pub image: String,
}

/// `resize IMAGE NEW_SZ`.
#[derive(Debug, Clone, Args)]
pub struct ResizeArgs {
    /// The image, `[REPO:]IMAGE[@REVISION]`
    #[arg(help = "The image, [REPO:]IMAGE[@REVISION]", value_name = "IMAGE")]
    pub image: String,

    /// The new virtual size, in qemu-img's syntax (20G, 512M, 10737418240)
    #[arg(value_name = "NEW_SZ")]
    pub new_sz: String,
}

/// `repo list|gc|verify`.
#[derive(Debug, Clone, Subcommand)]
pub enum RepoCommand {
    /// List pcocc image repositories
    List(RepoListArgs),

    /// Cleanup unnecessary data in a repository
    #[command(long_about = "Cleanup unnecessary data in a repository.\n\n\
Without REPO, the default (first) repository is cleaned.")]
    Gc(RepoArg),

    /// Check every image's data against its digests (strata addition)
    #[command(
        long_about = "Check every image's data against its digests (strata addition).\n\n\
Without REPO, every configured repository is checked."
    )]
    Verify(RepoArg),
}

/// `repo list [--json]`.
#[derive(Debug, Clone, Args)]
pub struct RepoListArgs {
    /// Print the repositories as JSON instead of pcocc's table (strata addition)
    #[arg(long)]
    pub json: bool,
}

/// An optional repository name.
#[derive(Debug, Clone, Args)]
pub struct RepoArg {
    /// The repository's name
    #[arg(value_name = "REPO")]
    pub repo: Option<String>,
}

/// `cache list|delete|gc`: pcocc's container cache.
#[derive(Debug, Clone, Subcommand)]
pub enum CacheCommand {
    /// List images in repositories in increasing order of last use
    List,

    /// Delete all cached items for a given image
    Delete {
        /// The image, `[REPO:]IMAGE[@REVISION]`
        #[arg(help = "The image, [REPO:]IMAGE[@REVISION]", value_name = "IMAGE")]
        image: String,
    },

    /// Clean the cache by removing dangling objects
    Gc {
        /// Decimate the cache to store only count elements
        #[arg(short = 'b', long, value_name = "INTEGER")]
        force_below: Option<i64>,

        /// Remove all elements from the cache
        #[arg(short = 'c', long)]
        force_clear: bool,
    },
}

impl CacheCommand {
    /// The command as a user typed it, for the refusal: `cache list`.
    pub fn name(&self) -> &'static str {
        match self {
            CacheCommand::List => "cache list",
            CacheCommand::Delete { .. } => "cache delete",
            CacheCommand::Gc { .. } => "cache gc",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn list_defaults_to_no_regex() {
        let cli = Cli::try_parse_from(["pcocc-image", "list"]).map(|c| c.command);
        assert!(
            matches!(cli, Ok(Command::List(ListArgs { regex, repo: None, json: false })) if regex.is_empty())
        );
    }

    /// `-t` lists the formats in help but takes any text, as pcocc does: the format check,
    /// and its error, come later.
    #[test]
    fn t_takes_any_text() {
        for fmt in ["QCOW2", "oci-archive", "nonsense"] {
            let cli = Cli::try_parse_from(["pcocc-image", "import", "-t", fmt, "a", "b"]);
            assert!(
                matches!(&cli, Ok(Cli { command: Command::Import(ImportArgs { fmt: Some(f), .. }), .. }) if f == fmt),
                "{cli:?}"
            );
        }
    }

    #[test]
    fn global_flags_anywhere() {
        let cli = Cli::try_parse_from(["pcocc-image", "repo", "list", "-vv", "-q", "--json"]);
        assert!(matches!(
            cli,
            Ok(Cli {
                verbose: 2,
                quiet: true,
                command: Command::Repo(RepoCommand::List(RepoListArgs { json: true }))
            })
        ));
    }
}
