//! [`Error`]: everything that can stop an `ocne-image` command, each with the [`ErrorKind`]
//! that picks its exit code; [`Failure`], an error as the program ends with it; and [`Ocne`],
//! the [`Dialect`] that reports it as OCNE's cobra root does: `Error: <message>` on standard
//! error. The exit code is strata's sysexits table (`docs/exit-codes.md`), where OCNE exits 1
//! on every failure: scripts that test "non-zero" see no difference.

use std::io;
use std::path::PathBuf;

use strata::ErrorKind;
use strata_cli::Styler;
use strata_cli::exit::{Dialect, Reported};

/// An error as `main` ends with it.
pub type Failure = Reported<Error>;

/// Why a command failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `--file` was not given: cobra's text for a required flag.
    #[error("required flag(s) \"file\" not set")]
    MissingFile,
    /// `--arch` is not one of OCNE's architectures (it has no default): OCNE's text
    /// (`ValidateArchitecture`, cmd/flags/flags.go).
    #[error("Architecture must be one of: amd64, arm64")]
    BadArch,
    /// `--type` is not a provider OCNE knows: OCNE's text (`Upload`).
    #[error("{provider} is not a supported provider")]
    UnsupportedProvider {
        /// The type given.
        provider: String,
    },
    /// `--destination` is not a containers-transports(5) reference: containers/image's texts
    /// for a missing colon or an unknown transport, strata-model's for the rest.
    #[error("{message}")]
    BadDestination {
        /// The whole message.
        message: String,
    },
    /// A file could not be opened or read (Go's `open PATH: reason` form).
    #[error("open {}: {}", .path.display(), go_reason(.error))]
    Open {
        /// The file.
        path: PathBuf,
        /// Why (already in the text, hence not a `#[source]`).
        error: io::Error,
    },
    /// A file this command writes (the capability document, the tarball) could not be written;
    /// nothing partial is left under its name.
    #[error("cannot write {}: {source}", .path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// `-t oci`: the local part is done; Oracle's object storage and image import cannot be
    /// reached from strata.
    #[error("{0}")]
    OciUnreachable(Box<OciRemaining>),
    /// `-t olvm`: oVirt's image upload cannot be reached from strata.
    #[error(
        "nothing uploaded: -t olvm creates a disk in oVirt (Oracle Linux Virtualization Manager) and uploads {} into it through an imageio transfer; strata cannot reach oVirt, so upload the file with the oVirt administration portal or its API",
        .file.display()
    )]
    OlvmUnreachable {
        /// The image file.
        file: PathBuf,
    },
    /// The copy of an ostree archive failed (the core's error, in its words).
    #[error(transparent)]
    Copy(#[from] strata::Error),
    /// The temporary repository an ostree copy goes through could not be made.
    #[error("cannot make a temporary directory: {0}")]
    Scratch(#[source] io::Error),
    /// A registry refused the credentials and no login could be asked for.
    #[error(
        "{error}; cannot ask for a username and password: standard input is not a terminal (log in first, with podman login or skopeo login)"
    )]
    NoTerminal {
        /// The registry's refusal.
        error: Box<strata::Error>,
    },
    /// A configuration file (`~/.ocne/defaults.yaml`, `--config`) is not valid YAML of OCNE's
    /// shape.
    #[error("{}: {reason}", .path.display())]
    Config {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The boot image reference is not one strata can read.
    #[error("{message}")]
    BadImage {
        /// The whole message.
        message: String,
    },
    /// The image holds no boot qcow2 where OCNE looks for it.
    #[error("{image} is not OCK boot media: {reason}")]
    NoBootImage {
        /// The image reference.
        image: String,
        /// What is missing.
        reason: String,
    },
    /// `-i` has whitespace in it: OCNE's text.
    #[error("'{provider}' is not a valid ignition provider")]
    BadProvider {
        /// The provider given.
        provider: String,
    },
    /// `-K` spans lines.
    #[error("extra kernel arguments must be on one line")]
    BadKernelArgs,
    /// An edit of the boot image in the build VM failed.
    #[error("cannot modify the boot image: {step}: {reason}")]
    Modify {
        /// The step (`mount the boot partition`, `read /loader/entries/ostree-1-ock.conf`).
        step: String,
        /// Why, in the guest's words or strata's.
        reason: String,
    },
    /// The build VM could not be started or stopped, or failed.
    #[error(transparent)]
    BuildVm(#[from] strata_build::vm::VmError),
    /// The image's partition table cannot be read.
    #[error("{}: {reason}", .path.display())]
    Table {
        /// The image.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The ostree tools failed.
    #[error("{0}")]
    Ostree(String),
    /// `$HOME` is not set, so `~/.ocne` cannot be found.
    #[error("cannot find the home directory: HOME is not set")]
    NoHome,
    /// The login prompt could not be read.
    #[error("cannot read the login from the terminal: {0}")]
    Prompt(#[source] io::Error),
    /// Standard output or standard error could not be written.
    #[error("cannot write the output")]
    Output(#[source] io::Error),
}

/// What `-t oci` wrote, and the steps OCNE would take next that strata cannot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OciRemaining {
    /// The tarball written.
    pub tarball: PathBuf,
    /// The capability document written.
    pub capabilities: PathBuf,
    /// The object OCNE would upload (`ocne_<basename>`).
    pub object: String,
    /// The bucket.
    pub bucket: String,
    /// The compartment, as given (a path of names or an OCID; empty: none given).
    pub compartment: String,
    /// The custom image's display name.
    pub image_name: String,
    /// The architecture tag.
    pub arch: String,
    /// The Kubernetes version tag.
    pub version: String,
}

impl std::fmt::Display for OciRemaining {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let compartment = if self.compartment.is_empty() {
            "(none given: -c names it)"
        } else {
            self.compartment.as_str()
        };
        write!(
            f,
            "wrote the custom image tarball {} (and the capability document {}); not done: uploading it to OCI object storage as object {} in bucket {}, then importing it as the custom compute image {} in compartment {compartment} (OCI's CreateImage from that object, tagged ocne/architecture={} and ocne/kubernetes={}): strata cannot reach OCI, so upload the tarball and import it with the OCI console or CLI",
            self.tarball.display(),
            self.capabilities.display(),
            self.object,
            self.bucket,
            self.image_name,
            self.arch,
            self.version
        )
    }
}

/// Go's lower-case text for an OS error (`no such file or directory`), from the OS's own.
fn go_reason(error: &io::Error) -> String {
    let text = error.to_string();
    let text = match text.find(" (os error") {
        Some(at) => &text[..at],
        None => &text,
    };
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

impl Error {
    /// The stable kind of this error, for the exit code.
    pub fn kind(&self) -> Option<ErrorKind> {
        Some(match self {
            Error::MissingFile
            | Error::BadArch
            | Error::UnsupportedProvider { .. }
            | Error::BadDestination { .. } => ErrorKind::InvalidRequest,
            Error::Open { error, .. } => io_kind(error),
            Error::Write { source, .. } => io_kind(source),
            Error::OciUnreachable(_) | Error::OlvmUnreachable { .. } => ErrorKind::Unsupported,
            Error::Copy(error) => error.kind(),
            Error::NoTerminal { error } => error.kind(),
            Error::Config { .. } => ErrorKind::Config,
            Error::BadImage { .. } | Error::BadProvider { .. } | Error::BadKernelArgs => {
                ErrorKind::InvalidRequest
            }
            Error::NoBootImage { .. } | Error::Modify { .. } | Error::Table { .. } => {
                ErrorKind::InvalidFormat
            }
            Error::BuildVm(strata_build::vm::VmError::AssetsMissing { .. }) => {
                ErrorKind::Unsupported
            }
            Error::BuildVm(_) | Error::Ostree(_) => ErrorKind::Io,
            Error::NoHome => ErrorKind::Config,
            Error::Scratch(_) | Error::Prompt(_) | Error::Output(_) => ErrorKind::Io,
        })
    }

    /// This error as `main` ends with it (OCNE has no `--json`).
    pub fn reported(self) -> Failure {
        Reported {
            error: Box::new(self),
            json: false,
        }
    }
}

/// The kind of an I/O error.
fn io_kind(error: &io::Error) -> ErrorKind {
    match error.kind() {
        io::ErrorKind::NotFound => ErrorKind::NotFound,
        io::ErrorKind::PermissionDenied => ErrorKind::PermissionDenied,
        _ => ErrorKind::Io,
    }
}

/// OCNE's dialect: cobra's `Error: <message>`, strata's exit codes.
#[derive(Debug, Clone, Copy, Default)]
pub struct Ocne;

impl Dialect for Ocne {
    type Error = Failure;

    fn kind(&self, failure: &Failure) -> Option<ErrorKind> {
        failure.error.kind()
    }

    fn report(&self, failure: &Failure, _styler: Styler) -> String {
        format!("Error: {}\n", self.message(failure))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_reasons_are_lower_case_without_the_errno() {
        let e = io::Error::from_raw_os_error(2);
        assert_eq!(go_reason(&e), "no such file or directory");
    }

    #[test]
    fn codes_follow_sysexits() {
        let d = Ocne;
        assert_eq!(d.exit_code(&Error::BadArch.reported()), 64);
        let unreachable = Error::OlvmUnreachable { file: "x".into() };
        assert_eq!(d.exit_code(&unreachable.reported()), 69);
        let report = d.report(&Error::BadArch.reported(), Styler::plain());
        assert_eq!(report, "Error: Architecture must be one of: amd64, arm64\n");
    }
}
