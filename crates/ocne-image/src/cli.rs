//! The command line as clap sees it: OCNE's `ocne image create`, `upload` and `info`, their flags
//! and defaults (cmd/image/*/*.go, pkg/constants/constants.go of OCNE 55ed7b5b). Raw values only:
//! the commands validate them in OCNE's order, so that `--arch` and `--type` are refused with
//! OCNE's texts rather than clap's.

use clap::{Args, CommandFactory, Parser, Subcommand};

/// OCNE's default Kubernetes version (`KubeVersion`, pkg/constants/constants.go).
pub const DEFAULT_KUBE_VERSION: &str = "1.33";
/// OCNE's default object storage bucket (`OciBucket`).
pub const DEFAULT_BUCKET: &str = "ocne-images";
/// OCNE's default custom image name (`OciImageName`).
pub const DEFAULT_IMAGE_NAME: &str = "ock";
/// OCNE's default OCI configuration profile (`OciDefaultProfile`).
pub const DEFAULT_PROFILE: &str = "DEFAULT";
/// OCNE's default provider type (`ProviderTypeOCI`).
pub const DEFAULT_TYPE: &str = "oci";

/// The whole definition as clap holds it, for tools that render it without running the binary
/// (man pages and shell completions: `cargo xtask dist`).
pub fn command() -> clap::Command {
    Cli::command()
}

/// The whole command line: one command.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "ocne-image",
    version,
    about = "Manage Oracle Cloud Native Environment images (OCNE's `ocne image`)",
    long_about = None,
    disable_help_subcommand = true
)]
pub struct Cli {
    /// The kubeconfig file; accepted as OCNE accepts it, though no command here needs a cluster
    #[arg(short = 'k', long, global = true, value_name = "KUBECONFIG")]
    pub kubeconfig: Option<String>,

    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands of `ocne image`.
#[derive(Debug, Clone, Subcommand)]
pub enum Command {
    /// Create an image for a specific provider: the boot image edited for OCI or oVirt, or an
    /// ostree archive image
    Create(CreateArgs),
    /// Display information about OCK boot media
    Info(InfoArgs),
    /// Upload an image: an OCI custom image (built locally), or an ostree archive to a
    /// container destination
    Upload(UploadArgs),
}

/// `ocne image upload`'s flags, with OCNE's short names and defaults.
#[derive(Debug, Clone, Args)]
pub struct UploadArgs {
    /// The provider type: oci, ostree or olvm
    #[arg(short = 't', long = "type", default_value = DEFAULT_TYPE, value_name = "TYPE")]
    pub provider: String,

    /// The local image file (required; OCNE's own message when it is missing)
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    pub file: Option<String>,

    /// The object storage bucket the image would be uploaded into
    #[arg(short = 'b', long, default_value = DEFAULT_BUCKET, value_name = "BUCKET")]
    pub bucket: String,

    /// The compartment (a path of names, or an OCID) the image would be created in
    #[arg(
        short = 'c',
        long,
        default_value = "",
        hide_default_value = true,
        value_name = "COMPARTMENT"
    )]
    pub compartment: String,

    /// The name of the custom compute image
    #[arg(short = 'i', long = "image-name", default_value = DEFAULT_IMAGE_NAME, value_name = "NAME")]
    pub image_name: String,

    /// The image's architecture: amd64 or arm64 (no default: it must be given)
    #[arg(
        short = 'a',
        long,
        default_value = "",
        hide_default_value = true,
        value_name = "ARCH"
    )]
    pub arch: String,

    /// The Kubernetes version in the image
    #[arg(short = 'v', long, default_value = DEFAULT_KUBE_VERSION, value_name = "VERSION")]
    pub version: String,

    /// Where an ostree archive goes: a containers-transports(5) reference
    #[arg(
        short = 'd',
        long,
        default_value = "",
        hide_default_value = true,
        value_name = "DEST"
    )]
    pub destination: String,

    /// The profile of the OCI configuration file (~/.oci/config)
    #[arg(short = 'p', long, default_value = DEFAULT_PROFILE, value_name = "PROFILE")]
    pub profile: String,

    /// strata's own: write the Private Cloud Appliance's capability document (OCNE picks it when
    /// OCI's identity service lists exactly one region, which strata cannot ask)
    #[arg(long)]
    pub pca: bool,

    /// The cluster configuration file; accepted but not read (a warning says so)
    #[arg(long, value_name = "FILE")]
    pub config: Option<String>,
}

/// `ocne image create`'s flags (cmd/image/create/create.go).
#[derive(Debug, Clone, Args)]
pub struct CreateArgs {
    /// The provider type: oci, ostree or olvm
    #[arg(short = 't', long = "type", default_value = DEFAULT_TYPE, value_name = "TYPE")]
    pub provider: String,

    /// The architecture of the image to create: amd64 or arm64
    #[arg(short = 'a', long, default_value = "amd64", value_name = "ARCH")]
    pub arch: String,

    /// The ignition provider written on the kernel command line (default: oci for -t oci,
    /// qemu for -t ostree, openstack for -t olvm)
    #[arg(
        short = 'i',
        long = "ignition-provider",
        default_value = "",
        hide_default_value = true,
        value_name = "PROVIDER"
    )]
    pub ignition_provider: String,

    /// Additional kernel command line arguments to append to the end of the argument list
    #[arg(
        short = 'K',
        long = "kernel-args",
        default_value = "",
        hide_default_value = true,
        value_name = "ARGS"
    )]
    pub kernel_args: String,

    /// The Kubernetes version (default: the configuration's, else 1.33)
    #[arg(
        short = 'v',
        long,
        default_value = "",
        hide_default_value = true,
        value_name = "VERSION"
    )]
    pub version: String,

    /// A cluster configuration file: its bootVolumeContainerImage, osRegistry, osTag and
    /// kubernetesVersion are used
    #[arg(long, value_name = "FILE")]
    pub config: Option<String>,

    /// strata's own, for -t ostree: the image that serves the archive over http (it must serve
    /// /usr/share/nginx/html, as OCNE's nginx image does)
    #[arg(long, value_name = "IMAGE", default_value = crate::ostree::DEFAULT_BASE)]
    pub base: String,
}

/// `ocne image info`'s flags (cmd/image/info/info.go).
#[derive(Debug, Clone, Args)]
pub struct InfoArgs {
    /// The architecture of the image to inspect: amd64 or arm64
    #[arg(short = 'a', long, default_value = "amd64", value_name = "ARCH")]
    pub arch: String,

    /// The Kubernetes version (default: the configuration's, else 1.33)
    #[arg(
        short = 'v',
        long,
        default_value = "",
        hide_default_value = true,
        value_name = "VERSION"
    )]
    pub version: String,

    /// A container image containing OCK boot media
    #[arg(
        short = 'i',
        long,
        default_value = "",
        hide_default_value = true,
        value_name = "IMAGE"
    )]
    pub image: String,

    /// The path to a qcow2 image to inspect
    #[arg(
        short = 'f',
        long,
        default_value = "",
        hide_default_value = true,
        value_name = "FILE"
    )]
    pub file: String,

    /// The path of a file on a filesystem to inspect
    #[arg(
        short = 'p',
        long,
        default_value = "",
        hide_default_value = true,
        value_name = "PATH"
    )]
    pub path: String,

    /// If the inspected path is a directory, recursively list any child directories
    #[arg(short = 'r', long)]
    pub recursive: bool,

    /// A partition label to inspect
    #[arg(
        short = 'L',
        long,
        default_value = "",
        hide_default_value = true,
        value_name = "LABEL"
    )]
    pub label: String,
}
