//! Container image formats: read, write and convert OCI image layouts, `oci-archive` and
//! `docker-archive` tarballs, and apply an image's layers to a root directory, with bounded
//! memory and safely with hostile input.
//!
//! Blobs move through two small traits, [`BlobRead`] and [`BlobWrite`]: every blob is verified
//! against its digest and size while it streams, and written through a temporary file, fsync
//! and rename. [`OciDir`] implements both; a repository store can too. An [`Image`] is resolved
//! from a layout or archive (by name, `@N` or as the only one, through nested indexes by
//! [`Platform`]), copied with [`copy_image`] and unpacked with [`unpack_image`].
//!
//! Conversions keep every blob whose bytes do not change. A docker-archive holds uncompressed
//! layers only, so writing a gzip or zstd OCI layer into one decompresses it: its digest there
//! is its `diff_id`, and a manifest made from that archive names the layer by it.
//!
//! [`SifImage`] reads a Singularity image (`sif:`, SIF or old `.simg`), import only, into a
//! one-layer OCI image.
//!
//! [`Registry`] is the `docker://` transport: pull from and push to registries speaking the
//! distribution API, with the same streaming verification. [`DockerDaemon`] is the
//! `docker-daemon:` transport: the Docker Engine API on a unix socket, moving docker-archives.
//! [`ostree::import_commit`] makes an OSTree commit a one-layer image (through the `ostree`
//! command).

pub mod archive;
pub mod blob;
pub mod daemon;
pub mod docker;
pub mod error;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
pub mod image;
pub mod inflate;
pub mod layout;
pub mod ostree;
pub mod registry;
pub mod sif;
pub mod squashfs;
pub mod targuard;
pub mod unpack;
pub mod verify;

pub use archive::{OciArchive, write_oci_archive};
pub use blob::{BlobRead, BlobWrite, Expected, put_file_atomically};
pub use daemon::DockerDaemon;
pub use docker::{DockerArchive, DockerImage, write_docker_archive, write_docker_archive_with};

pub use error::{ErrorKind, OciError, Result};
pub use image::{Image, Platform, Selector, copy_image, load_image};
pub use inflate::ExpansionLimit;
pub use layout::OciDir;
pub use registry::{Registry, RegistryBlobs, RegistryOptions, RegistryRef};
pub use sif::{SifError, SifImage};
pub use unpack::{
    Compression, UnpackOptions, UnpackStats, Unpacker, extract_file, unpack_image, unpack_layer,
};
