//! [`Error`]: everything that can stop a `transient-image` command, each with the
//! [`ErrorKind`] that picks its exit code; [`Failure`], an error as the program ends with it
//! (and whether the command was given `--json`); and [`Transient`], the [`Dialect`] that reports
//! it as transient does, or as a JSON object (`docs/json.md`).

use std::io;
use std::path::PathBuf;

use strata::ErrorKind;
use strata_cli::exit::{self, Dialect, Reported, chain};
use strata_cli::{LoggingError, Styler};
use strata_model::text::printable_lines;

use crate::retrieve::Compression;
use crate::words;

/// Why a command failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The core refused or failed the operation; [`Transient`] words it as transient does
    /// ([`crate::words`]).
    #[error(transparent)]
    Core(#[from] strata::Error),
    /// `rm` of a name that no backend file can hold (empty, `.`, `..`, with a NUL).
    #[error("{}", words::no_such_image(.name))]
    NoSuchImage {
        /// The name, as given.
        name: String,
    },
    /// `build`'s Imagefile could not be read.
    #[error("cannot read the Imagefile {}: {source}", .path.display())]
    ReadImagefile {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        source: io::Error,
    },
    /// `build`'s Imagefile does not parse or breaks an ordering rule (its file and line are
    /// in the message).
    #[error(transparent)]
    Imagefile(#[from] strata_build::ImagefileError),
    /// `build` without `--name` (transient crashes on it).
    #[error("the new image needs a name: give --name NAME")]
    BuildWithoutName,
    /// `build` of a name that is taken, without `--force`.
    #[error("An image with the name '{name}' already exists (--force replaces it)")]
    ImageExists {
        /// The name.
        name: String,
    },
    /// `build` into a backend in a registry from a FROM image neither the registry nor a
    /// strata repository holds: strata fetches bases into directory backends only.
    #[error(
        "cannot fetch {spec} into the registry backend {backend}: import it into the registry first, or build into a directory backend (--image-backend DIR)"
    )]
    FetchIntoRegistry {
        /// The FROM image spec.
        spec: String,
        /// The backend's URL.
        backend: String,
    },
    /// The build's step cache could not be made.
    #[error("cannot use the build cache {}: {source}", .path.display())]
    BuildCache {
        /// The directory.
        path: std::path::PathBuf,
        /// Why.
        source: io::Error,
    },
    /// `STRATA_BUILD_CACHE_MAX` is not a size.
    #[error("STRATA_BUILD_CACHE_MAX={value:?} is not a size (as 20G or 512M): {source}")]
    BadCacheMax {
        /// The value.
        value: String,
        /// Why.
        source: strata_model::size::SizeError,
    },
    /// The build VM cannot be set up (its kernel, its accelerator).
    #[error(transparent)]
    BuildVm(strata_build::vm::VmError),
    /// The build failed (its line is in the message); the backend is as it was.
    #[error(transparent)]
    Build(#[from] strata_build::builder::BuildError),
    /// `ls` listed every image, but some could not be read (each was reported on standard
    /// error); the exit code is the last one's.
    #[error("{}", words::unreadable_count(*.count))]
    Unreadable {
        /// How many.
        count: u64,
        /// The kind of the last failure.
        kind: ErrorKind,
    },
    /// `ls --json` listed every image, but this one could not be read: the last of them, when
    /// each is reported as its own JSON error line (`docs/json.md`).
    #[error("{}", words::unreadable(.name, .reason))]
    UnreadableImage {
        /// The image name.
        name: String,
        /// Why, in words.
        reason: String,
        /// The kind of the failure.
        kind: ErrorKind,
    },
    /// Standard output or standard error could not be written.
    #[error("cannot write the output")]
    Output(#[source] io::Error),
    /// Logging could not be set up (a bad `RUST_LOG`).
    #[error(transparent)]
    Logging(#[from] LoggingError),
    /// The command line does not parse: clap's message, without the usage lines that follow
    /// it. Only under `--json`; otherwise clap prints its error and exits 2 itself.
    #[error("{message}")]
    Usage {
        /// clap's message (`unexpected argument '--x' found`).
        message: String,
    },
    /// A vagrant image (no protocol, or `vagrant=`) the backend lacks, whose box has no
    /// `:VERSION`: transient's words ([`crate::retrieve()`]).
    #[error("{}", words::no_version(.location))]
    NoVersion {
        /// The box: the spec's source (its name when it has no protocol).
        location: String,
    },
    /// Any other vagrant image the backend lacks: strata does not download Vagrant Cloud boxes.
    #[error("{}", words::vagrant_unsupported(.spec))]
    VagrantUnsupported {
        /// The whole image spec.
        spec: String,
    },
    /// The file of a `file=` image could not be opened or read.
    #[error("Unable to read '{}'", .path.display())]
    SourceRead {
        /// The file, as the spec gives it.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
    /// An `http=` image could not be downloaded: a bad URL, no connection, TLS, a stalled or
    /// dropped transfer.
    #[error("Unable to download '{url}'")]
    Download {
        /// The URL.
        url: String,
        /// What failed.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The server answered an `http=` image's request with a status other than 2xx.
    #[error("Unable to download '{url}': HTTP {status}{}", .reason.map(|r| format!(" {r}")).unwrap_or_default())]
    HttpStatus {
        /// The URL.
        url: String,
        /// The status code.
        status: u16,
        /// Its canonical reason phrase, if it has one (`Not Found`).
        reason: Option<&'static str>,
    },
    /// A gzip, bzip2 or xz image (detected by its magic bytes) whose stream is corrupt or
    /// truncated.
    #[error("Unable to decompress '{location}' ({compression})")]
    Decompress {
        /// The file or URL.
        location: String,
        /// The compression its magic bytes show.
        compression: Compression,
        /// The decoder's error.
        #[source]
        source: io::Error,
    },
    /// The retrieved image (decompressed) could not be imported into the backend: not a disk
    /// image the core accepts, or the backend could not be written.
    #[error("Unable to import '{location}' as backend image '{name}'")]
    Import {
        /// The file or URL.
        location: String,
        /// The image name.
        name: String,
        /// The core's error, which names the file it read (boxed: it is large).
        #[source]
        source: Box<strata::Error>,
    },
}

impl Error {
    /// The kind of failure, which picks the exit code (`docs/exit-codes.md`).
    pub fn kind(&self) -> Option<ErrorKind> {
        match self {
            Error::Core(err) => Some(err.kind()),
            Error::NoSuchImage { .. } => Some(ErrorKind::NotFound),
            Error::ReadImagefile { source, .. } if source.kind() == io::ErrorKind::NotFound => {
                Some(ErrorKind::NotFound)
            }
            Error::ReadImagefile { .. } | Error::BuildCache { .. } => Some(ErrorKind::Io),
            Error::Imagefile(_) => Some(ErrorKind::InvalidFormat),
            Error::BuildWithoutName => Some(ErrorKind::InvalidRequest),
            Error::ImageExists { .. } => Some(ErrorKind::AlreadyExists),
            Error::FetchIntoRegistry { .. } => Some(ErrorKind::Unsupported),
            Error::BuildVm(e) => Some(vm_kind(e)),
            Error::BadCacheMax { .. } => Some(ErrorKind::Config),
            Error::Build(e) => Some(build_kind(e)),
            Error::Unreadable { kind, .. } | Error::UnreadableImage { kind, .. } => Some(*kind),
            Error::Output(_) => Some(ErrorKind::Io),
            Error::Logging(_) => Some(ErrorKind::Config),
            Error::Usage { .. } => None,
            Error::NoVersion { .. } => Some(ErrorKind::NotFound),
            Error::VagrantUnsupported { .. } => Some(ErrorKind::Unsupported),
            Error::SourceRead { source, .. } => Some(io_kind(source)),
            Error::Download { .. } => Some(ErrorKind::Io),
            Error::HttpStatus { status, .. } => Some(match status {
                404 | 410 => ErrorKind::NotFound,
                401 | 403 => ErrorKind::PermissionDenied,
                _ => ErrorKind::Io,
            }),
            Error::Decompress { .. } => Some(ErrorKind::InvalidFormat),
            Error::Import { source, .. } => Some(source.kind()),
        }
    }

    /// This error, reported as JSON if `json` ([`Failure`]).
    pub fn reported(self, json: bool) -> Failure {
        Reported::new(self, json)
    }
}

/// The kind of a build VM error: a missing kernel or a bad accelerator is the set-up's, KVM
/// asked for where it cannot run is unsupported, the rest is I/O with the VM.
fn vm_kind(error: &strata_build::vm::VmError) -> ErrorKind {
    use strata_build::vm::VmError as V;
    match error {
        V::AssetsMissing { .. } | V::NoCacheDir | V::BadAccel { .. } => ErrorKind::Config,
        V::KvmUnavailable { .. } => ErrorKind::Unsupported,
        _ => ErrorKind::Io,
    }
}

/// The kind of a build error: what the Imagefile asks that cannot be done is bad data (a failing
/// RUN included), what the builder does not do is unsupported.
fn build_kind(error: &strata_build::builder::BuildError) -> ErrorKind {
    use strata_build::builder::BuildError as B;
    match error {
        B::RunFailed { .. } => ErrorKind::InvalidFormat,
        B::OutsideBuildDir { .. } | B::OutsideImage { .. } => ErrorKind::Escape,
        B::Source { .. } => ErrorKind::NotFound,
        B::NotYet { .. } | B::InspectNotInteractive { .. } => ErrorKind::Unsupported,
        B::NoDisk | B::BaseMismatch => ErrorKind::InvalidRequest,
        B::Step { source, .. } | B::Vm(source) => vm_kind(source),
        _ => ErrorKind::Io,
    }
}

/// The kind of an operating-system error on an input file (the core's rule).
fn io_kind(error: &io::Error) -> ErrorKind {
    match error.kind() {
        io::ErrorKind::NotFound => ErrorKind::NotFound,
        io::ErrorKind::PermissionDenied => ErrorKind::PermissionDenied,
        _ => ErrorKind::Io,
    }
}

/// An error as [`crate::main`] ends with it: the error, and whether the command was given
/// `--json`, so that it is reported as a JSON object (`docs/json.md`).
pub type Failure = Reported<Error>;

/// transient's way of reporting errors: `print(e, file=sys.stderr)`, the message alone, no
/// colour. Exit codes are strata's (sysexits), not transient's 1 for every error: see
/// `docs/exit-codes.md`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Transient;

impl Transient {
    /// transient's text for `error`, causes included, printable
    /// ([`strata_model::text::printable_lines`]), without a newline.
    pub fn text(error: &Error) -> String {
        let text = match error {
            Error::Core(e) => words::report(e),
            other => chain(other),
        };
        printable_lines(&text)
    }

    /// The exit code of `error`: clap's 2 for a usage error, else [`exit::sysexits`] of its
    /// kind.
    pub fn code(error: &Error) -> u8 {
        match error {
            Error::Usage { .. } => exit::USAGE_ERROR,
            other => exit::sysexits(other.kind()),
        }
    }

    /// `error` as one JSON error line, newline included ([`strata_cli::json::error_line`]).
    pub fn json_line(error: &Error) -> String {
        let code = Transient::code(error);
        strata_cli::json::error_line(code, &Transient::text(error), code)
    }
}

impl Dialect for Transient {
    type Error = Failure;

    fn kind(&self, failure: &Failure) -> Option<ErrorKind> {
        failure.error.kind()
    }

    fn exit_code(&self, failure: &Failure) -> u8 {
        Transient::code(&failure.error)
    }

    fn class(&self, failure: &Failure) -> u8 {
        Transient::code(&failure.error)
    }

    fn message(&self, failure: &Failure) -> String {
        Transient::text(&failure.error)
    }

    fn report(&self, failure: &Failure, _styler: Styler) -> String {
        format!("{}\n", self.message(failure))
    }

    fn json(&self, failure: &Failure) -> bool {
        failure.json
    }
}

#[cfg(test)]
mod tests {
    use strata::ImageKey;

    use super::*;

    #[test]
    fn reports_and_codes() {
        let cases = [
            (
                Error::Core(strata::Error::ImageNotFound {
                    key: ImageKey::name("a"),
                    store: Some("backend".into()),
                }),
                "No image in backend with name 'a'\n",
                66,
            ),
            (
                Error::Core(strata::Error::ImageInUse {
                    key: ImageKey::name("a"),
                    store: "backend".into(),
                    users: vec!["vm".into()],
                }),
                "Backend 'a' is in use by ['vm']\n",
                75,
            ),
            (
                Error::NoSuchImage { name: "..".into() },
                "No image in backend with name '..'\n",
                66,
            ),
            (
                Error::Unreadable {
                    count: 2,
                    kind: ErrorKind::InvalidFormat,
                },
                "2 images could not be read\n",
                65,
            ),
            (
                Error::UnreadableImage {
                    name: "b".into(),
                    reason: "not a qcow2 image".into(),
                    kind: ErrorKind::InvalidFormat,
                },
                "Unable to read image 'b': not a qcow2 image\n",
                65,
            ),
            (
                Error::Usage {
                    message: "unexpected argument '--x' found".into(),
                },
                "unexpected argument '--x' found\n",
                2,
            ),
            (
                Error::Output(io::Error::other("disk full")),
                "cannot write the output: disk full\n",
                74,
            ),
            (
                Error::NoVersion {
                    location: "alpine".into(),
                },
                "No image named alpine found in the backend, and no version provided, so it \
                 cannot be downloaded.\n",
                66,
            ),
            (
                Error::VagrantUnsupported {
                    spec: "centos/7:2004.01".into(),
                },
                "Unable to retrieve 'centos/7:2004.01': strata does not download Vagrant Cloud \
                 boxes; give the image's source with ',file=PATH' or ',http=URL', or name an \
                 image already in the backend\n",
                69,
            ),
            (
                Error::SourceRead {
                    path: "/nope.img".into(),
                    source: io::Error::from(io::ErrorKind::NotFound),
                },
                "Unable to read '/nope.img': entity not found\n",
                66,
            ),
            (
                Error::Download {
                    url: "http://h/x".into(),
                    source: "connection refused".into(),
                },
                "Unable to download 'http://h/x': connection refused\n",
                74,
            ),
            (
                Error::HttpStatus {
                    url: "http://h/x".into(),
                    status: 404,
                    reason: Some("Not Found"),
                },
                "Unable to download 'http://h/x': HTTP 404 Not Found\n",
                66,
            ),
            (
                Error::HttpStatus {
                    url: "http://h/x".into(),
                    status: 599,
                    reason: None,
                },
                "Unable to download 'http://h/x': HTTP 599\n",
                74,
            ),
            (
                Error::Decompress {
                    location: "/a.img.gz".into(),
                    compression: Compression::Gzip,
                    source: io::Error::other("corrupt deflate stream"),
                },
                "Unable to decompress '/a.img.gz' (gzip): corrupt deflate stream\n",
                65,
            ),
            (
                Error::Import {
                    location: "/a.img".into(),
                    name: "base".into(),
                    source: Box::new(strata::Error::NotAFile {
                        path: "/a.img".into(),
                        exists: false,
                    }),
                },
                "Unable to import '/a.img' as backend image 'base': cannot import /a.img: not a \
                 regular file\n",
                66,
            ),
        ];
        for (error, text, code) in cases {
            assert_eq!(Transient::code(&error), code);
            let line: serde_json::Value =
                serde_json::from_str(&Transient::json_line(&error)).unwrap_or_default();
            assert_eq!(line["error"]["exit_code"], code, "{error:?}");
            assert_eq!(line["error"]["message"], text.trim_end());
            let failure = error.reported(false);
            assert_eq!(Transient.report(&failure, Styler::plain()), text);
            assert_eq!(Transient.exit_code(&failure), code, "{failure:?}");
            assert!(!Transient.json(&failure));
        }
    }
}
