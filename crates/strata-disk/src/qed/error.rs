//! [`QedError`]: everything a qed image can get wrong, each variant with the offending values
//! and a stable [`ErrorKind`].

use crate::error::{DiskError, DiskErrorSource, ErrorKind};

/// A qed image that cannot be read as it stands.
#[derive(Debug, thiserror::Error)]
pub enum QedError {
    /// The file is shorter than the fixed header.
    #[error("file of {len} bytes is too short for a qed header")]
    TooShort {
        /// The file's length.
        len: u64,
    },
    /// The magic is not `QED\0`.
    #[error("bad magic {magic:#010x}, not a qed image")]
    BadMagic {
        /// The magic read (little-endian).
        magic: u32,
    },
    /// Feature bits this reader (and qemu) does not know.
    #[error("unknown qed feature bits {bits:#x}")]
    UnknownFeatures {
        /// The unknown bits.
        bits: u64,
    },
    /// A cluster size that is not a power of two from 4 KiB to 64 MiB.
    #[error("cluster size {cluster_size} is not a power of two from 4096 to 67108864")]
    ClusterSize {
        /// The cluster size.
        cluster_size: u32,
    },
    /// A table size that is not a power of two from 1 to 16 clusters.
    #[error("table size {table_size} is not a power of two from 1 to 16 clusters")]
    TableSize {
        /// The table size in clusters.
        table_size: u32,
    },
    /// A header size of zero clusters, or one that does not fit in the file.
    #[error("header size of {header_size} clusters is invalid")]
    HeaderSize {
        /// The header size in clusters.
        header_size: u32,
    },
    /// Tables larger than strata reads (see [`crate::qed::header::MAX_TABLE_BYTES`]).
    #[error("tables of {bytes} bytes exceed the limit of {max}")]
    TableTooLarge {
        /// Bytes per table.
        bytes: u64,
        /// The limit.
        max: u64,
    },
    /// An image size that is not a multiple of 512 or exceeds what the tables address.
    #[error("image size {size} is not a multiple of 512 or exceeds the maximum {max}")]
    ImageSize {
        /// The image size.
        size: u64,
        /// The largest size the tables address.
        max: u64,
    },
    /// The L1 table is unaligned, inside the header or past the end of the file.
    #[error("L1 table offset {offset:#x} is invalid (file of {file_len} bytes)")]
    L1Offset {
        /// The offset.
        offset: u64,
        /// The file's length, rounded down to a cluster.
        file_len: u64,
    },
    /// The backing file name lies outside the header.
    #[error(
        "backing file name at {offset} ({size} bytes) lies outside the header ({header_bytes} bytes)"
    )]
    BackingNameOutside {
        /// Offset of the name from the start of the file.
        offset: u32,
        /// Length of the name.
        size: u32,
        /// Bytes of header.
        header_bytes: u64,
    },
    /// A backing file name longer than qemu accepts (4095 bytes).
    #[error("backing file name of {size} bytes is longer than 4095")]
    BackingNameTooLong {
        /// Length of the name.
        size: u32,
    },
    /// A backing file name that is not UTF-8.
    #[error("backing file name is not UTF-8")]
    BackingNameEncoding,
    /// An L1 entry that points at an invalid L2 table.
    #[error(
        "L1 entry {l1_index} points at invalid L2 table {offset:#x} (file of {file_len} bytes)"
    )]
    L2Offset {
        /// The L1 index.
        l1_index: u64,
        /// The L2 table offset.
        offset: u64,
        /// The file's length, rounded down to a cluster.
        file_len: u64,
    },
    /// An L2 entry that points at an invalid data cluster.
    #[error(
        "guest offset {guest_offset:#x} maps to invalid host offset {host_offset:#x} (file of {file_len} bytes)"
    )]
    DataOffset {
        /// The guest offset being read.
        guest_offset: u64,
        /// The host offset in the L2 entry.
        host_offset: u64,
        /// The file's length, rounded down to a cluster.
        file_len: u64,
    },
}

impl QedError {
    /// The stable category of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            QedError::UnknownFeatures { .. } => ErrorKind::Unsupported,
            QedError::L2Offset { .. } | QedError::DataOffset { .. } => ErrorKind::Corrupt,
            // Tables over strata's limit are input over a limit: malformed, like the others.
            QedError::TooShort { .. }
            | QedError::BadMagic { .. }
            | QedError::ClusterSize { .. }
            | QedError::TableSize { .. }
            | QedError::HeaderSize { .. }
            | QedError::TableTooLarge { .. }
            | QedError::ImageSize { .. }
            | QedError::L1Offset { .. }
            | QedError::BackingNameOutside { .. }
            | QedError::BackingNameTooLong { .. }
            | QedError::BackingNameEncoding => ErrorKind::InvalidFormat,
        }
    }
}

impl From<QedError> for DiskError {
    fn from(e: QedError) -> Self {
        DiskErrorSource::Qed(e).into()
    }
}
