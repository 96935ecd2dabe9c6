//! [`Qcow2Error`]: everything a qcow2 image can get wrong beyond its header, each variant with
//! the offending values and a stable [`ErrorKind`].

use crate::error::ErrorKind;
use crate::qcow2::header::{CompressionType, HeaderError};

/// A qcow2 image that cannot be read as it stands.
#[derive(Debug, thiserror::Error)]
pub enum Qcow2Error {
    /// The header or a header extension is malformed, or asks for a feature strata does not
    /// implement (the wording follows its [kind](HeaderError::kind)). Encryption and external
    /// data files, found while the header is parsed, have variants of their own.
    #[error("{}", header_problem(.0))]
    Header(#[source] HeaderError),
    /// An encrypted image (`crypt_method` 1, qemu's old AES, or 2, LUKS): strata does not
    /// decrypt images.
    #[error(
        "qcow2 image encrypted with {} (crypt_method {crypt_method}): strata does not decrypt images; decrypt it with qemu-img convert first",
        encryption_name(*.crypt_method)
    )]
    Encrypted {
        /// The `crypt_method` field.
        crypt_method: u32,
    },
    /// An image whose guest data lives in an external data file (incompatible feature bit 2):
    /// strata reads only images that hold their own data.
    #[error(
        "qcow2 image keeps its data in an external data file{}: strata reads only images that hold their own data",
        .name.as_ref().map(|n| format!(" ({n:?})")).unwrap_or_default()
    )]
    ExternalDataFile {
        /// The data file name from the header extension, if present.
        name: Option<String>,
    },
    /// An L1 entry points at an L2 table that is not cluster-aligned.
    #[error("L1 entry {l1_index} points at unaligned L2 table {offset:#x}")]
    L2Unaligned {
        /// Index in the L1 table.
        l1_index: u64,
        /// The L2 table offset.
        offset: u64,
    },
    /// An L1 entry points at an L2 table past the end of the file.
    #[error(
        "L1 entry {l1_index} points at L2 table {offset:#x} past the end of the file ({file_len} bytes)"
    )]
    L2PastEnd {
        /// Index in the L1 table.
        l1_index: u64,
        /// The L2 table offset.
        offset: u64,
        /// The file length.
        file_len: u64,
    },
    /// An L2 entry points at a data cluster that is not cluster-aligned.
    #[error("guest offset {guest_offset:#x} maps to unaligned host offset {host_offset:#x}")]
    DataUnaligned {
        /// The guest offset being read.
        guest_offset: u64,
        /// The host offset in the L2 entry.
        host_offset: u64,
    },
    /// An L2 entry points at data past the end of the file.
    #[error(
        "guest offset {guest_offset:#x} maps to host offset {host_offset:#x} past the end of the file ({file_len} bytes)"
    )]
    DataPastEnd {
        /// The guest offset being read.
        guest_offset: u64,
        /// The host offset in the L2 entry.
        host_offset: u64,
        /// The file length.
        file_len: u64,
    },
    /// A zero-flagged L2 entry in a version 2 image (qemu: "Zero cluster entry found in pre-v3
    /// image").
    #[error("zero cluster at guest offset {guest_offset:#x} in a version 2 image")]
    ZeroClusterInV2 {
        /// The guest offset being read.
        guest_offset: u64,
    },
    /// An extended L2 entry whose subcluster bitmap is contradictory (a subcluster both
    /// allocated and zero, allocated without a host cluster, or a compressed cluster with a
    /// non-zero bitmap).
    #[error("invalid subcluster bitmap {bitmap:#018x} at guest offset {guest_offset:#x}")]
    InvalidSubcluster {
        /// The guest offset being read.
        guest_offset: u64,
        /// The L2 bitmap.
        bitmap: u64,
    },
    /// A compressed cluster that does not decompress to exactly one cluster.
    #[error(
        "compressed cluster at host offset {host_offset:#x} ({compression}) is invalid: {reason}"
    )]
    Decompress {
        /// Where the compressed data starts.
        host_offset: u64,
        /// The compression type.
        compression: &'static str,
        /// What the decompressor reported.
        reason: String,
    },
    /// A snapshot table that does not fit the file or qemu's limits.
    #[error("snapshot {index} at {offset:#x}: {problem}")]
    SnapshotTable {
        /// Index of the entry.
        index: u32,
        /// Offset of the entry.
        offset: u64,
        /// What is wrong with it.
        problem: SnapshotProblem,
    },
    /// A refcount table entry that points outside the file or is unaligned.
    #[error("refcount table entry {index} points at invalid refcount block {offset:#x}")]
    RefcountBlock {
        /// Index in the refcount table.
        index: u64,
        /// The refcount block offset.
        offset: u64,
    },
}

/// The first words of a header error: "invalid" for malformed headers, "unsupported" for
/// valid ones asking for a feature strata does not implement.
fn header_problem(e: &HeaderError) -> &'static str {
    match e.kind() {
        ErrorKind::Unsupported => "unsupported qcow2 image",
        _ => "invalid qcow2 header",
    }
}

/// How `crypt_method` names the encryption.
fn encryption_name(crypt_method: u32) -> &'static str {
    match crypt_method {
        1 => "AES",
        2 => "LUKS",
        _ => "an unknown method",
    }
}

impl From<HeaderError> for Qcow2Error {
    /// Header errors, but for the two refusals with variants of their own.
    fn from(e: HeaderError) -> Self {
        match e {
            HeaderError::Encrypted { crypt_method } => Qcow2Error::Encrypted { crypt_method },
            HeaderError::ExternalDataFile { name } => Qcow2Error::ExternalDataFile { name },
            e => Qcow2Error::Header(e),
        }
    }
}

impl Qcow2Error {
    /// The stable category of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Qcow2Error::Header(h) => h.kind(),
            Qcow2Error::Encrypted { .. } | Qcow2Error::ExternalDataFile { .. } => {
                ErrorKind::Unsupported
            }
            Qcow2Error::L2Unaligned { .. }
            | Qcow2Error::L2PastEnd { .. }
            | Qcow2Error::DataUnaligned { .. }
            | Qcow2Error::DataPastEnd { .. }
            | Qcow2Error::ZeroClusterInV2 { .. }
            | Qcow2Error::InvalidSubcluster { .. }
            | Qcow2Error::Decompress { .. }
            | Qcow2Error::SnapshotTable { .. }
            | Qcow2Error::RefcountBlock { .. } => ErrorKind::Corrupt,
        }
    }

    /// A decompression failure for `compression`.
    pub(crate) fn decompress(
        host_offset: u64,
        compression: CompressionType,
        reason: impl Into<String>,
    ) -> Self {
        Qcow2Error::Decompress {
            host_offset,
            compression: compression.name(),
            reason: reason.into(),
        }
    }
}

/// What is wrong with one snapshot table entry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SnapshotProblem {
    /// The entry runs past the end of the file.
    #[error("entry runs past the end of the file ({file_len} bytes)")]
    PastEnd {
        /// The file length.
        file_len: u64,
    },
    /// The table grows beyond qemu's total size limit.
    #[error("snapshot table exceeds {max} bytes")]
    TableTooLarge {
        /// The limit.
        max: u64,
    },
    /// More extra data than qemu accepts.
    #[error("{extra_data_size} bytes of extra data, above {max}")]
    ExtraDataTooLarge {
        /// The entry's extra data size.
        extra_data_size: u32,
        /// The limit.
        max: u32,
    },
    /// An L1 table that is unaligned, too large or past the end of the file.
    #[error("L1 table at {l1_offset:#x} of {l1_size} entries is invalid")]
    L1 {
        /// The snapshot's L1 offset.
        l1_offset: u64,
        /// The snapshot's L1 size.
        l1_size: u32,
    },
    /// An ID or name that is not UTF-8.
    #[error("ID or name is not UTF-8")]
    NotUtf8,
}
