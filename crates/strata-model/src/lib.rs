//! The image model: pure data types that every strata dialect shares, with the parsing rules and
//! error messages of the original tools (pcocc, transient, OpenNebula, OCNE, containers-transports).
//!
//! This crate does no I/O. Every type that users write as text implements [`FromStr`] and
//! [`Display`] (the two are inverse), and (de)serialises with serde through the same validation.
//!
//! [`FromStr`]: std::str::FromStr
//! [`Display`]: std::fmt::Display

pub mod digest;
pub mod format;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
pub mod image_ref;
pub mod kind;
pub mod name;
pub mod one;
pub mod python;
pub mod record;
pub mod size;
pub mod spec;
pub mod text;

pub use digest::{Digest, DigestError};
pub use format::{DiskFormat, FormatError};
pub use image_ref::{ImageRef, ImageRefError};
pub use kind::{Kind, KindError};
pub use name::{NameError, OneName, PcoccName, TransientName};
pub use record::{CustomMeta, DataBlob, RecordError, RevisionRecord, StrataMeta};
pub use size::{ByteSize, ImagefileSize, ImagefileUnit, OneUnit, SizeError};
pub use spec::{
    ContainerFormat, ContainerTransport, DockerReference, Format, Guess, ImageSpec, Probe,
    ReferenceError, SpecError, TransportError,
};
