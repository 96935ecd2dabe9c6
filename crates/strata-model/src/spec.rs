//! Source and destination specs of import and export: pcocc's `[FORMAT:]PATH` with `-t FMT`
//! and its format guessing ([`Guess`], [`ImageSpec`]), the [`Format`] of a spec (a disk format or
//! a [`ContainerFormat`]), and containers-transports(5) references ([`ContainerTransport`]) with
//! the docker reference grammar ([`DockerReference`]).
//!
//! No I/O happens here. Where pcocc or containers/image look at the file system (content
//! detection, path resolution, store look-ups), the types stop short and say what the caller
//! must find out: [`Guess::needs_probe`] then [`Guess::resolve`] with a [`Probe`].
//!
//! Every type that reads text implements [`FromStr`](std::str::FromStr) and
//! [`Display`](std::fmt::Display); `Display` prints the normalised form, and parsing it gives the
//! same value back.

mod format;
mod go;
mod pcocc;
mod reference;
mod transport;

pub use format::{ContainerFormat, Format};
pub use go::{AtoiError, AtoiFailure};
pub use pcocc::{ASSUMED_RAW_WARNING, Guess, ImageSpec, Origin, Probe, Resolved, SpecError};
pub use reference::{
    DEFAULT_DOMAIN, DEFAULT_TAG, DockerReference, NAME_TOTAL_LENGTH_MAX, ReferenceDigestError,
    ReferenceError,
};
pub use transport::{
    ContainerTransport, DEFAULT_OSTREE_REPO, DockerArchiveRef, DockerDaemonRef, OciArchiveRef,
    OciRef, OstreeRef, RegistryRef, StorageRef, StoreSpec, TransportError,
};
