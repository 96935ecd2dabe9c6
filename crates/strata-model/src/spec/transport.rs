//! [`ContainerTransport`]: a containers-transports(5) image reference, `transport:details`, for
//! the transports strata reads and writes, parsed with containers/image's rules and error texts.
//!
//! Facts and texts come from containers/image: `transports/alltransports/alltransports.go`,
//! `transports/stub.go`, `docker/docker_transport.go`, `docker/archive/transport.go`,
//! `docker/daemon/daemon_transport.go`, `oci/layout/oci_transport.go`,
//! `oci/archive/oci_transport.go`, `oci/internal/oci_util.go`, `directory/directory_transport.go`,
//! `sif/transport.go`, `storage/storage_transport.go`, `storage/storage_reference.go`, and
//! `ostree/ostree_transport.go` as it was before its removal (commit e67404a4).
//!
//! containers/image also resolves paths (`ResolvePathToFullyExplicit`) and opens stores while
//! parsing; strata-model does no I/O, so those steps and their errors belong to the caller.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::ContainerFormat;
use super::go::{AtoiError, atoi, quote};
use super::reference::{DockerReference, ReferenceError, is_hex64, validate_digest};

/// The OSTree repository an `ostree:` reference uses when it names none.
pub const DEFAULT_OSTREE_REPO: &str = "/ostree/repo";

/// Transports that containers/image registers but strata does not implement.
const UNSUPPORTED_TRANSPORTS: [&str; 2] = ["atomic", "tarball"];

/// Why a text is not a containers-transports(5) reference strata accepts.
///
/// Each text is containers/image's, from the file named in the variant's comment. Variants that
/// embed another error's text in their message (as Go's `%w` does) keep it as a plain field, not
/// as a `#[source]`, so that error reports do not print it twice.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransportError {
    /// The text has no `:`.
    // alltransports.go, ParseImageName.
    #[error("Invalid image name {}, expected colon-separated transport:reference", quote(.input))]
    MissingColon {
        /// The text that was given.
        input: String,
    },
    /// The text before the first `:` names no transport.
    // alltransports.go, ParseImageName.
    #[error("Invalid image name {}, unknown transport {}", quote(.input), quote(.transport))]
    UnknownTransport {
        /// The text that was given.
        input: String,
        /// The transport it names.
        transport: String,
    },
    /// A transport containers/image knows (`atomic`, `tarball`) that strata does not implement.
    // transports/stub.go, the message of transports that a build leaves out.
    #[error("The transport \"{transport}:\" is not supported in this build")]
    NotSupported {
        /// The transport's name.
        transport: String,
    },
    /// A `docker:` reference without `//`.
    // docker/docker_transport.go, ParseReference.
    #[error("docker: image reference {reference} does not start with //")]
    DockerMissingSlashes {
        /// The text after `docker:`.
        reference: String,
    },
    /// A `docker://` reference with both a tag and a digest.
    // docker/docker_transport.go, newReference.
    #[error("Docker references with both a tag and digest are currently not supported")]
    DockerTagAndDigest {
        /// The normalised reference.
        reference: String,
    },
    /// A docker reference (in `docker://`, `docker-daemon:` or `ostree:`) is invalid.
    #[error(transparent)]
    Reference(#[from] ReferenceError),
    /// `docker-archive:` with nothing after it.
    // docker/archive/transport.go, ParseReference (the empty reference makes the double space).
    #[error("docker-archive reference  isn't of the form <path>[:<reference>]")]
    ArchiveEmpty,
    /// A `docker-archive:` source index (`:@N`) that Go's `strconv.Atoi` refuses.
    // docker/archive/transport.go, ParseReference.
    #[error("Invalid source index @{index}: {error}")]
    ArchiveIndexInvalid {
        /// The text after `@`.
        index: String,
        /// Go's parse error.
        error: AtoiError,
    },
    /// A negative source index in `docker-archive:` or `oci:`.
    // docker/archive/transport.go and oci/internal/oci_util.go.
    #[error("Invalid source index @{index}: must not be negative")]
    NegativeSourceIndex {
        /// The index, as Go prints it.
        index: i64,
    },
    /// The docker reference of a `docker-archive:` is invalid.
    // docker/archive/transport.go, ParseReference.
    #[error("docker-archive parsing reference: {error}")]
    ArchiveReference {
        /// The text after the path's `:`.
        reference: String,
        /// Why it is invalid.
        error: ReferenceError,
    },
    /// The docker reference of a `docker-archive:` has a digest and no tag.
    // docker/archive/transport.go, ParseReference.
    #[error("reference does not include a tag: {reference}")]
    ArchiveNotTagged {
        /// The normalised reference.
        reference: String,
    },
    /// The docker reference of a `docker-archive:` has a tag and a digest.
    // docker/archive/transport.go, newReference.
    #[error("docker-archive doesn't support digest references: {reference}")]
    ArchiveDigest {
        /// The normalised reference.
        reference: String,
    },
    /// A `docker-daemon:` image ID with an algorithm other than sha256.
    // docker/daemon/daemon_transport.go, ParseReference.
    #[error("Invalid docker-daemon: reference {reference}: only digest algorithm sha256 accepted")]
    DaemonDigestAlgorithm {
        /// The text after `docker-daemon:`.
        reference: String,
    },
    /// A `docker-daemon:` name whose familiar name is `sha256` (a shortened ID).
    // docker/daemon/daemon_transport.go, ParseReference.
    #[error(
        "Invalid docker-daemon: reference {reference}: The sha256 repository name is reserved for (non-shortened) digest references"
    )]
    DaemonReservedName {
        /// The text after `docker-daemon:`.
        reference: String,
    },
    /// A `docker-daemon:` name with neither tag nor digest.
    // docker/daemon/daemon_transport.go, NewReference.
    #[error("docker-daemon: reference {reference} has neither a tag nor a digest")]
    DaemonNameOnly {
        /// The reference in its familiar form.
        reference: String,
    },
    /// A `docker-daemon:` name with both a tag and a digest.
    // docker/daemon/daemon_transport.go, NewReference.
    #[error("docker-daemon: references with both a tag and digest are currently not supported")]
    DaemonTagAndDigest {
        /// The normalised reference.
        reference: String,
    },
    /// An `oci:` source index (`:@N`) that Go's `strconv.Atoi` refuses.
    // oci/internal/oci_util.go, parseOCIReferenceName.
    #[error("Invalid source index @{index}: not an integer: {error}")]
    OciIndexInvalid {
        /// The text after `@`.
        index: String,
        /// Go's parse error.
        error: AtoiError,
    },
    /// An `oci:` or `oci-archive:` image name outside `component(/component)*`.
    // oci/internal/oci_util.go, ValidateImageName.
    #[error("Invalid image {image}")]
    OciInvalidImage {
        /// The image name that was given.
        image: String,
    },
    /// An `ostree:` repository path with a `:`.
    // ostree/ostree_transport.go, NewReference (before its removal).
    #[error("Invalid OSTree reference {image}@{repo}: path {repo} contains a colon")]
    OstreeRepoColon {
        /// The image, with `:latest` added if it had neither tag nor digest.
        image: String,
        /// The repository path.
        repo: String,
    },
    /// A `containers-storage:` store specifier that is not `[[driver@]root[+run-root][:options]]`.
    // storage/storage_transport.go, ErrInvalidReference.
    #[error("invalid reference")]
    StorageInvalid {
        /// The text after `containers-storage:`.
        reference: String,
    },
    /// A `containers-storage:` graph root or run root that is not absolute.
    // storage/storage_transport.go, ErrPathNotAbsolute.
    #[error("path name is not absolute")]
    StoragePathNotAbsolute {
        /// The path that was given.
        path: String,
    },
    /// A `containers-storage:` reference with nothing after the store specifier.
    // storage/storage_transport.go, ParseStoreReference (the empty reference, quoted).
    #[error("\"\" is an empty reference: invalid reference")]
    StorageEmpty,
    /// A second store specifier that does not end.
    // storage/storage_transport.go, ParseStoreReference.
    #[error("store specifier in {} did not end: invalid reference", quote(.reference))]
    StorageStoreNotEnded {
        /// The reference after the first store specifier.
        reference: String,
    },
    /// A `containers-storage:` reference ending in `@`.
    // storage/storage_transport.go, ParseStoreReference.
    #[error("empty trailing digest or ID in {}: invalid reference", quote(.reference))]
    StorageEmptyId {
        /// The reference after the store specifier.
        reference: String,
    },
    /// The text after the last `@` is neither a digest nor a full 64-hex image ID (strata does
    /// not resolve truncated IDs: that needs the store).
    // storage/storage_transport.go, ParseStoreReference.
    #[error("{} does not look like an image ID or digest: invalid reference", quote(.id))]
    StorageNotId {
        /// The text after the last `@`.
        id: String,
    },
    /// The named part of a `containers-storage:` reference is invalid.
    // storage/storage_transport.go, ParseStoreReference.
    #[error("parsing named reference {}: {error}", quote(.reference))]
    StorageReference {
        /// The named part.
        reference: String,
        /// Why it is invalid.
        error: ReferenceError,
    },
}

/// A containers-transports(5) image reference.
///
/// [`FromStr`] follows containers/image (`alltransports.ParseImageName`): split at the first
/// `:`, then the transport's own rules. [`Display`](fmt::Display) prints the **normalised**
/// form, not the user's text: docker names in full (`docker.io/library/busybox:latest`), the
/// default tag `latest` where the transport adds it, the ostree repository even when it is the
/// default, source indexes in plain decimal, and no trailing `:` after an `oci:` path.
/// `parse(display(x)) == x` for every value; serde uses the same text.
///
/// Payloads other than plain paths have private fields, so every value went through the
/// parser's checks.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum ContainerTransport {
    /// `docker://name[:tag|@digest]`: an image in a registry.
    Docker(RegistryRef),
    /// `docker-archive:path[:docker-reference|:@N]`: a `docker save` tarball.
    DockerArchive(DockerArchiveRef),
    /// `docker-daemon:docker-reference` or `docker-daemon:sha256:ID`: the local docker daemon.
    DockerDaemon(DockerDaemonRef),
    /// `oci:path[:reference|:@N]`: an OCI image layout directory.
    Oci(OciRef),
    /// `oci-archive:path[:reference]`: an OCI image layout tarball.
    OciArchive(OciArchiveRef),
    /// `dir:path`: a directory of manifest, config and layer files. Any text is a path.
    Dir(String),
    /// `ostree:docker-reference[@/absolute/repo/path]`: an image in an OSTree repository.
    Ostree(OstreeRef),
    /// `containers-storage:[store]reference`: the local containers/storage store.
    ContainersStorage(StorageRef),
    /// `sif:path`: a Singularity image file. Any text is a path.
    Sif(String),
}

/// A `docker://` reference: always tagged or digested, never both.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RegistryRef {
    reference: DockerReference,
}

impl RegistryRef {
    /// The image's reference, with a tag or a digest.
    pub fn reference(&self) -> &DockerReference {
        &self.reference
    }
}

/// A `docker-archive:` reference: a path, and either a tagged reference or a source index.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DockerArchiveRef {
    path: String,
    selector: Option<ArchiveSelector>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum ArchiveSelector {
    /// A tagged reference without digest.
    Reference(DockerReference),
    /// A 0-based index, at most `i64::MAX`.
    Index(u64),
}

impl DockerArchiveRef {
    /// The tarball's path (never contains `:`).
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The image's reference inside the archive (tagged, without digest), if given.
    pub fn reference(&self) -> Option<&DockerReference> {
        match &self.selector {
            Some(ArchiveSelector::Reference(r)) => Some(r),
            _ => None,
        }
    }

    /// The image's 0-based index in the archive, if given (`:@N`).
    pub fn source_index(&self) -> Option<u64> {
        match self.selector {
            Some(ArchiveSelector::Index(i)) => Some(i),
            _ => None,
        }
    }
}

/// A `docker-daemon:` reference: an image ID (`sha256:HEX`) or a tagged or digested name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DockerDaemonRef {
    target: DaemonTarget,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum DaemonTarget {
    Id(String),
    Reference(DockerReference),
}

impl DockerDaemonRef {
    /// The image ID, `sha256:HEX`, if the reference is one.
    pub fn image_id(&self) -> Option<&str> {
        match &self.target {
            DaemonTarget::Id(id) => Some(id),
            DaemonTarget::Reference(_) => None,
        }
    }

    /// The image's name, tagged or digested (never both), if the reference is one.
    pub fn reference(&self) -> Option<&DockerReference> {
        match &self.target {
            DaemonTarget::Reference(r) => Some(r),
            DaemonTarget::Id(_) => None,
        }
    }
}

/// An `oci:` reference: a layout directory, and an image name or a source index.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct OciRef {
    path: String,
    image: Option<String>,
    index: Option<u64>,
}

impl OciRef {
    /// The layout directory (never contains `:`).
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The image's name in the layout (`org.opencontainers.image.ref.name`), if given.
    pub fn image(&self) -> Option<&str> {
        self.image.as_deref()
    }

    /// The image's 0-based index in the layout's index, if given (`:@N`).
    pub fn source_index(&self) -> Option<u64> {
        self.index
    }
}

/// An `oci-archive:` reference: a tarball path and an optional image name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct OciArchiveRef {
    path: String,
    image: Option<String>,
}

impl OciArchiveRef {
    /// The tarball's path (never contains `:`).
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The image's name in the layout, if given.
    pub fn image(&self) -> Option<&str> {
        self.image.as_deref()
    }
}

/// An `ostree:` reference: an image (as written, `:latest` added if it had neither tag nor
/// digest) in a repository.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct OstreeRef {
    image: String,
    reference: DockerReference,
    repo: String,
}

impl OstreeRef {
    /// The image as the user wrote it, plus `:latest` if it had neither tag nor digest.
    /// containers/image keeps this text (not the normalised name): the OSTree branch is
    /// derived from it.
    pub fn image(&self) -> &str {
        &self.image
    }

    /// The image's normalised reference.
    pub fn reference(&self) -> &DockerReference {
        &self.reference
    }

    /// The repository's absolute path, [`DEFAULT_OSTREE_REPO`] unless given. Kept as written:
    /// containers/image also resolves symlinks, which is I/O.
    pub fn repo(&self) -> &str {
        &self.repo
    }
}

/// A `containers-storage:` reference: an optional store specifier, then a name, an image ID or
/// both.
///
/// Supported subset: the store specifier `[[driver@]root[+run-root][:option,...]]`; a name
/// with tag and/or digest (`latest` added to a bare name); `name@ID` and a bare ID when the ID is
/// the full 64 hex digits. Truncated IDs (containers/image looks them up in the store) are
/// refused as `StorageNotId` after `@` and read as names alone, so the caller can retry them
/// against the store.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StorageRef {
    store: Option<StoreSpec>,
    reference: Option<DockerReference>,
    image_id: Option<String>,
}

impl StorageRef {
    /// The store specifier, if given; without one the default store is meant.
    pub fn store(&self) -> Option<&StoreSpec> {
        self.store.as_ref()
    }

    /// The image's name (tagged, digested, or both), if given.
    pub fn reference(&self) -> Option<&DockerReference> {
        self.reference.as_ref()
    }

    /// The image's full ID (64 lowercase hex digits), if given.
    pub fn image_id(&self) -> Option<&str> {
        self.image_id.as_deref()
    }
}

/// A containers/storage store specifier, `[[driver@]root[+run-root][:option,...]]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StoreSpec {
    driver: Option<String>,
    graph_root: String,
    run_root: Option<String>,
    options: Vec<String>,
}

impl StoreSpec {
    /// The graph driver (`overlay`, `vfs` ...), if given.
    pub fn driver(&self) -> Option<&str> {
        self.driver.as_deref()
    }

    /// The graph root: absolute, or empty for the default.
    pub fn graph_root(&self) -> &str {
        &self.graph_root
    }

    /// The run root after `+`: absolute, or empty for the default; `None` without `+`.
    pub fn run_root(&self) -> Option<&str> {
        self.run_root.as_deref()
    }

    /// The driver options after `:`, split at `,` (empty without `:`).
    pub fn options(&self) -> &[String] {
        &self.options
    }
}

impl fmt::Display for StoreSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[")?;
        if let Some(driver) = &self.driver {
            write!(f, "{driver}@")?;
        }
        f.write_str(&self.graph_root)?;
        if let Some(run_root) = &self.run_root {
            write!(f, "+{run_root}")?;
        }
        if !self.options.is_empty() {
            write!(f, ":{}", self.options.join(","))?;
        }
        f.write_str("]")
    }
}

impl ContainerTransport {
    /// Parses `s`, looking `docker://` names without a registry domain up in
    /// `default_registry` the way pcocc does (see
    /// [`DockerReference::parse_with_default_registry`]). `None` is [`FromStr`].
    pub fn parse_with_default_registry(
        s: &str,
        default_registry: Option<&str>,
    ) -> Result<ContainerTransport, TransportError> {
        let Some((transport, within)) = s.split_once(':') else {
            return Err(TransportError::MissingColon {
                input: s.to_owned(),
            });
        };
        match transport {
            "docker" => parse_docker(within, default_registry).map(ContainerTransport::Docker),
            "docker-archive" => parse_docker_archive(within).map(ContainerTransport::DockerArchive),
            "docker-daemon" => parse_docker_daemon(within).map(ContainerTransport::DockerDaemon),
            "oci" => parse_oci(within).map(ContainerTransport::Oci),
            "oci-archive" => parse_oci_archive(within).map(ContainerTransport::OciArchive),
            "dir" => Ok(ContainerTransport::Dir(within.to_owned())),
            "ostree" => parse_ostree(within).map(ContainerTransport::Ostree),
            "containers-storage" => {
                parse_storage(within).map(ContainerTransport::ContainersStorage)
            }
            "sif" => Ok(ContainerTransport::Sif(within.to_owned())),
            t if UNSUPPORTED_TRANSPORTS.contains(&t) => Err(TransportError::NotSupported {
                transport: t.to_owned(),
            }),
            t => Err(TransportError::UnknownTransport {
                input: s.to_owned(),
                transport: t.to_owned(),
            }),
        }
    }

    /// The transport, as a container format.
    pub const fn format(&self) -> ContainerFormat {
        match self {
            ContainerTransport::Docker(_) => ContainerFormat::Docker,
            ContainerTransport::DockerArchive(_) => ContainerFormat::DockerArchive,
            ContainerTransport::DockerDaemon(_) => ContainerFormat::DockerDaemon,
            ContainerTransport::Oci(_) => ContainerFormat::Oci,
            ContainerTransport::OciArchive(_) => ContainerFormat::OciArchive,
            ContainerTransport::Dir(_) => ContainerFormat::Dir,
            ContainerTransport::Ostree(_) => ContainerFormat::Ostree,
            ContainerTransport::ContainersStorage(_) => ContainerFormat::ContainersStorage,
            ContainerTransport::Sif(_) => ContainerFormat::Sif,
        }
    }

    /// The local file-system path the reference names (archive, layout, directory, image
    /// file), if it names one.
    pub fn local_path(&self) -> Option<&str> {
        match self {
            ContainerTransport::DockerArchive(r) => Some(r.path()),
            ContainerTransport::Oci(r) => Some(r.path()),
            ContainerTransport::OciArchive(r) => Some(r.path()),
            ContainerTransport::Dir(p) | ContainerTransport::Sif(p) => Some(p),
            ContainerTransport::Docker(_)
            | ContainerTransport::DockerDaemon(_)
            | ContainerTransport::Ostree(_)
            | ContainerTransport::ContainersStorage(_) => None,
        }
    }
}

impl ContainerTransport {
    /// The same reference with its local path ([`ContainerTransport::local_path`]) replaced by
    /// `f` of it (a front end expanding `~`); references without one are returned as they are.
    /// The new path is taken as it is: where the syntax forbids a `:` in the path (archives),
    /// a path with one prints a reference that does not parse back.
    pub fn map_local_path(self, f: impl FnOnce(&str) -> String) -> ContainerTransport {
        match self {
            ContainerTransport::DockerArchive(mut r) => {
                r.path = f(&r.path);
                ContainerTransport::DockerArchive(r)
            }
            ContainerTransport::Oci(mut r) => {
                r.path = f(&r.path);
                ContainerTransport::Oci(r)
            }
            ContainerTransport::OciArchive(mut r) => {
                r.path = f(&r.path);
                ContainerTransport::OciArchive(r)
            }
            ContainerTransport::Dir(p) => ContainerTransport::Dir(f(&p)),
            ContainerTransport::Sif(p) => ContainerTransport::Sif(f(&p)),
            other => other,
        }
    }
}

impl FromStr for ContainerTransport {
    type Err = TransportError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ContainerTransport::parse_with_default_registry(s, None)
    }
}

impl fmt::Display for ContainerTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:", self.format())?;
        match self {
            ContainerTransport::Docker(r) => write!(f, "//{}", r.reference),
            ContainerTransport::DockerArchive(r) => {
                f.write_str(&r.path)?;
                match &r.selector {
                    Some(ArchiveSelector::Reference(reference)) => write!(f, ":{reference}"),
                    Some(ArchiveSelector::Index(i)) => write!(f, ":@{i}"),
                    None => Ok(()),
                }
            }
            ContainerTransport::DockerDaemon(r) => match &r.target {
                DaemonTarget::Id(id) => f.write_str(id),
                DaemonTarget::Reference(reference) => write!(f, "{reference}"),
            },
            ContainerTransport::Oci(r) => {
                f.write_str(&r.path)?;
                match (&r.image, r.index) {
                    (Some(image), _) => write!(f, ":{image}"),
                    (None, Some(i)) => write!(f, ":@{i}"),
                    (None, None) => Ok(()),
                }
            }
            ContainerTransport::OciArchive(r) => {
                f.write_str(&r.path)?;
                match &r.image {
                    Some(image) => write!(f, ":{image}"),
                    None => Ok(()),
                }
            }
            ContainerTransport::Dir(path) | ContainerTransport::Sif(path) => f.write_str(path),
            ContainerTransport::Ostree(r) => write!(f, "{}@{}", r.image, r.repo),
            ContainerTransport::ContainersStorage(r) => {
                if let Some(store) = &r.store {
                    write!(f, "{store}")?;
                }
                if let Some(reference) = &r.reference {
                    write!(f, "{reference}")?;
                }
                match &r.image_id {
                    Some(id) => write!(f, "@{id}"),
                    None => Ok(()),
                }
            }
        }
    }
}

impl TryFrom<String> for ContainerTransport {
    type Error = TransportError;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<ContainerTransport> for String {
    fn from(t: ContainerTransport) -> String {
        t.to_string()
    }
}

/// `docker:` (`docker_transport.go`, `ParseReference` and `newReference`). The
/// `@@unknown-digest@@` suffix (push without tag) is not supported.
fn parse_docker(
    within: &str,
    default_registry: Option<&str>,
) -> Result<RegistryRef, TransportError> {
    let Some(name) = within.strip_prefix("//") else {
        return Err(TransportError::DockerMissingSlashes {
            reference: within.to_owned(),
        });
    };
    let reference =
        DockerReference::parse_with_default_registry(name, default_registry)?.with_default_tag();
    if reference.tag().is_some() && reference.digest().is_some() {
        return Err(TransportError::DockerTagAndDigest {
            reference: reference.to_string(),
        });
    }
    Ok(RegistryRef { reference })
}

/// `docker-archive:` (`docker/archive/transport.go`).
fn parse_docker_archive(within: &str) -> Result<DockerArchiveRef, TransportError> {
    if within.is_empty() {
        return Err(TransportError::ArchiveEmpty);
    }
    let Some((path, selector)) = within.split_once(':') else {
        return Ok(DockerArchiveRef {
            path: within.to_owned(),
            selector: None,
        });
    };
    let selector = if let Some(index) = selector.strip_prefix('@') {
        let i = atoi(index).map_err(|error| TransportError::ArchiveIndexInvalid {
            index: index.to_owned(),
            error,
        })?;
        ArchiveSelector::Index(non_negative(i)?)
    } else {
        let reference = DockerReference::parse_normalized(selector)
            .map_err(|error| TransportError::ArchiveReference {
                reference: selector.to_owned(),
                error,
            })?
            .with_default_tag();
        if reference.tag().is_none() {
            return Err(TransportError::ArchiveNotTagged {
                reference: reference.to_string(),
            });
        }
        if reference.digest().is_some() {
            return Err(TransportError::ArchiveDigest {
                reference: reference.to_string(),
            });
        }
        ArchiveSelector::Reference(reference)
    };
    Ok(DockerArchiveRef {
        path: path.to_owned(),
        selector: Some(selector),
    })
}

/// A source index, refused if negative.
fn non_negative(i: i64) -> Result<u64, TransportError> {
    u64::try_from(i).map_err(|_| TransportError::NegativeSourceIndex { index: i })
}

/// `docker-daemon:` (`docker/daemon/daemon_transport.go`).
fn parse_docker_daemon(within: &str) -> Result<DockerDaemonRef, TransportError> {
    if validate_digest(within).is_ok() {
        if !within.starts_with("sha256:") {
            return Err(TransportError::DaemonDigestAlgorithm {
                reference: within.to_owned(),
            });
        }
        return Ok(DockerDaemonRef {
            target: DaemonTarget::Id(within.to_owned()),
        });
    }
    let reference = DockerReference::parse_normalized(within)?;
    if reference.familiar_name() == "sha256" {
        return Err(TransportError::DaemonReservedName {
            reference: within.to_owned(),
        });
    }
    if reference.is_name_only() {
        return Err(TransportError::DaemonNameOnly {
            reference: reference.familiar_string(),
        });
    }
    if reference.tag().is_some() && reference.digest().is_some() {
        return Err(TransportError::DaemonTagAndDigest {
            reference: reference.to_string(),
        });
    }
    Ok(DockerDaemonRef {
        target: DaemonTarget::Reference(reference),
    })
}

/// `oci:` (`oci/layout/oci_transport.go`, `oci/internal/oci_util.go`), split at the first `:`
/// as on every system but Windows.
fn parse_oci(within: &str) -> Result<OciRef, TransportError> {
    let (path, image) = within.split_once(':').unwrap_or((within, ""));
    let mut reference = OciRef {
        path: path.to_owned(),
        image: None,
        index: None,
    };
    if let Some(index) = image.strip_prefix('@') {
        let i = atoi(index).map_err(|error| TransportError::OciIndexInvalid {
            index: index.to_owned(),
            error,
        })?;
        reference.index = Some(non_negative(i)?);
    } else if !image.is_empty() {
        validate_oci_image_name(image)?;
        reference.image = Some(image.to_owned());
    }
    Ok(reference)
}

/// `oci-archive:` (`oci/archive/oci_transport.go`): no source index.
fn parse_oci_archive(within: &str) -> Result<OciArchiveRef, TransportError> {
    let (path, image) = within.split_once(':').unwrap_or((within, ""));
    let image = if image.is_empty() {
        None
    } else {
        validate_oci_image_name(image)?;
        Some(image.to_owned())
    };
    Ok(OciArchiveRef {
        path: path.to_owned(),
        image,
    })
}

/// `ValidateImageName`: `component(/component)*` where a component is `[A-Za-z0-9]+` runs joined
/// by one of `-._:@+` or by `--`.
fn validate_oci_image_name(image: &str) -> Result<(), TransportError> {
    let component_ok = |c: &str| {
        let b = c.as_bytes();
        if !b.first().is_some_and(u8::is_ascii_alphanumeric)
            || !b.last().is_some_and(u8::is_ascii_alphanumeric)
        {
            return false;
        }
        c.split(|ch: char| ch.is_ascii_alphanumeric())
            .all(|sep| sep.is_empty() || sep == "--" || (sep.len() == 1 && "-._:@+".contains(sep)))
    };
    if image.split('/').all(component_ok) {
        Ok(())
    } else {
        Err(TransportError::OciInvalidImage {
            image: image.to_owned(),
        })
    }
}

/// `ostree:` (`ostree/ostree_transport.go` before its removal).
fn parse_ostree(within: &str) -> Result<OstreeRef, TransportError> {
    let (image, repo) = match within.split_once("@/") {
        Some((image, repo)) => (image, format!("/{repo}")),
        None => (within, DEFAULT_OSTREE_REPO.to_owned()),
    };
    let mut reference = DockerReference::parse_normalized(image)?;
    let image = if reference.is_name_only() {
        reference = reference.with_default_tag();
        format!("{image}:{}", super::reference::DEFAULT_TAG)
    } else {
        image.to_owned()
    };
    if repo.contains(':') {
        return Err(TransportError::OstreeRepoColon { image, repo });
    }
    Ok(OstreeRef {
        image,
        reference,
        repo,
    })
}

/// `containers-storage:` (`storage/storage_transport.go`, `ParseReference` then
/// `ParseStoreReference`), without store look-ups.
fn parse_storage(within: &str) -> Result<StorageRef, TransportError> {
    let invalid = || TransportError::StorageInvalid {
        reference: within.to_owned(),
    };
    let (store, rest) = match within.strip_prefix('[') {
        Some(after) => {
            let close = after.find(']').ok_or_else(invalid)?;
            (
                Some(parse_store_spec(&after[..close]).ok_or_else(invalid)??),
                &after[close + 1..],
            )
        }
        None => (None, within),
    };
    if rest.is_empty() {
        return Err(TransportError::StorageEmpty);
    }
    // containers/image drops a second store specifier here.
    let mut rest = match rest.strip_prefix('[') {
        Some(after) => match after.find(']') {
            Some(close) => &after[close + 1..],
            None => {
                return Err(TransportError::StorageStoreNotEnded {
                    reference: rest.to_owned(),
                });
            }
        },
        None => rest,
    };
    let mut image_id = None;
    if let Some((before, possible_id)) = rest.rsplit_once('@') {
        if possible_id.is_empty() {
            return Err(TransportError::StorageEmptyId {
                reference: rest.to_owned(),
            });
        }
        if validate_digest(possible_id).is_err() {
            if !is_hex64(possible_id) {
                return Err(TransportError::StorageNotId {
                    id: possible_id.to_owned(),
                });
            }
            image_id = Some(possible_id.to_owned());
            rest = before;
        }
    }
    if image_id.is_none() && is_hex64(rest) {
        image_id = Some(rest.to_owned());
        rest = "";
    }
    let reference = if rest.is_empty() {
        if image_id.is_none() {
            // Only after a dropped second store specifier (`[/a][/b]`): newReference's check.
            return Err(TransportError::StorageInvalid {
                reference: within.to_owned(),
            });
        }
        None
    } else {
        let reference = DockerReference::parse_normalized(rest).map_err(|error| {
            TransportError::StorageReference {
                reference: rest.to_owned(),
                error,
            }
        })?;
        Some(reference.with_default_tag())
    };
    Ok(StorageRef {
        store,
        reference,
        image_id,
    })
}

/// The inside of `[...]`: `None` when containers/image says `invalid reference`, `Some(Err)`
/// for a root that is not absolute.
fn parse_store_spec(spec: &str) -> Option<Result<StoreSpec, TransportError>> {
    let (driver, spec) = match spec.split_once('@') {
        Some((driver, rest)) if !driver.is_empty() && !rest.is_empty() => {
            (Some(driver.to_owned()), rest)
        }
        Some(_) => return None,
        None if spec.is_empty() => return None,
        None => (None, spec),
    };
    let (spec, options) = match spec.split_once(':') {
        Some((spec, options)) => (spec, options.split(',').map(str::to_owned).collect()),
        None => (spec, Vec::new()),
    };
    let (graph_root, run_root) = match spec.split_once('+') {
        Some((root, run_root)) => (root, Some(run_root)),
        None => (spec, None),
    };
    for path in [Some(graph_root), run_root].into_iter().flatten() {
        if !path.is_empty() && !path.starts_with('/') {
            return Some(Err(TransportError::StoragePathNotAbsolute {
                path: path.to_owned(),
            }));
        }
    }
    Some(Ok(StoreSpec {
        driver,
        graph_root: graph_root.to_owned(),
        run_root: run_root.map(str::to_owned),
        options,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "7cc4b5aefd1d0cadf8d97d4350462ba51c694ebca145b08d7d41b41acc8db5aa";

    fn parse(s: &str) -> ContainerTransport {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn normalised_display() {
        for (input, shown) in [
            (
                "docker://busybox",
                "docker://docker.io/library/busybox:latest",
            ),
            ("docker://quay.io/a/b:1", "docker://quay.io/a/b:1"),
            ("docker-archive:a.tar", "docker-archive:a.tar"),
            (
                "docker-archive:a.tar:busybox",
                "docker-archive:a.tar:docker.io/library/busybox:latest",
            ),
            ("docker-archive:a.tar:@+007", "docker-archive:a.tar:@7"),
            (
                "docker-daemon:busybox:1",
                "docker-daemon:docker.io/library/busybox:1",
            ),
            ("oci:/l", "oci:/l"),
            ("oci:/l:", "oci:/l"),
            ("oci:/l:v1.0", "oci:/l:v1.0"),
            ("oci:/l:@0", "oci:/l:@0"),
            ("oci-archive:x.tar:A--b@c", "oci-archive:x.tar:A--b@c"),
            ("dir:/a:b", "dir:/a:b"),
            ("sif:x.sif", "sif:x.sif"),
            ("ostree:busybox", "ostree:busybox:latest@/ostree/repo"),
            ("ostree:busybox:1@/srv/repo", "ostree:busybox:1@/srv/repo"),
            (
                "containers-storage:busybox",
                "containers-storage:docker.io/library/busybox:latest",
            ),
            (
                "containers-storage:[/var/lib/c]x",
                "containers-storage:[/var/lib/c]docker.io/library/x:latest",
            ),
            (
                "containers-storage:[overlay@/r+/run:a=1,b][/ignored]x:1",
                "containers-storage:[overlay@/r+/run:a=1,b]docker.io/library/x:1",
            ),
            (
                "containers-storage:[+]x",
                "containers-storage:[+]docker.io/library/x:latest",
            ),
        ] {
            let t = parse(input);
            assert_eq!(t.to_string(), shown, "{input}");
            assert_eq!(parse(shown), t, "{input}");
        }
    }

    #[test]
    fn storage_ids_and_digests() {
        let t = parse(&format!("containers-storage:{HEX}"));
        let ContainerTransport::ContainersStorage(r) = &t else {
            panic!()
        };
        assert_eq!((r.reference(), r.image_id()), (None, Some(HEX)));
        assert_eq!(t.to_string(), format!("containers-storage:@{HEX}"));

        let t = parse(&format!("containers-storage:x:1@sha256:{HEX}@{HEX}"));
        let ContainerTransport::ContainersStorage(r) = &t else {
            panic!()
        };
        let reference = r.reference().unwrap();
        assert_eq!(reference.tag(), Some("1"));
        assert_eq!(reference.digest(), Some(format!("sha256:{HEX}").as_str()));
        assert_eq!(r.image_id(), Some(HEX));
        assert_eq!(parse(&t.to_string()), t);

        let store = parse("containers-storage:[vfs@/g:o1]x");
        let ContainerTransport::ContainersStorage(r) = &store else {
            panic!()
        };
        let spec = r.store().unwrap();
        assert_eq!(
            (
                spec.driver(),
                spec.graph_root(),
                spec.run_root(),
                spec.options()
            ),
            (Some("vfs"), "/g", None, &["o1".to_owned()][..])
        );
    }

    #[test]
    fn accessors() {
        assert_eq!(parse("docker-archive:a.tar:@3").local_path(), Some("a.tar"));
        let ContainerTransport::DockerArchive(a) = parse("docker-archive:a.tar:@3") else {
            panic!()
        };
        assert_eq!((a.source_index(), a.reference()), (Some(3), None));
        let ContainerTransport::DockerDaemon(d) = parse(&format!("docker-daemon:sha256:{HEX}"))
        else {
            panic!()
        };
        assert_eq!(
            (d.image_id(), d.reference()),
            (Some(format!("sha256:{HEX}").as_str()), None)
        );
        let ContainerTransport::Ostree(o) = parse("ostree:a/b") else {
            panic!()
        };
        assert_eq!((o.image(), o.repo()), ("a/b:latest", DEFAULT_OSTREE_REPO));
        assert_eq!(o.reference().to_string(), "docker.io/a/b:latest");
        assert_eq!(parse("docker://x").local_path(), None);
        assert_eq!(parse("docker://x").format(), ContainerFormat::Docker);
    }
}
