//! [`VpcError`]: why a vpc image cannot be read or written as asked.

use super::geometry::MAX_SECTORS;
use crate::error::{DiskError, DiskErrorSource, ErrorKind};

/// A vpc image that cannot be read or written as asked.
#[derive(Debug, thiserror::Error)]
pub enum VpcError {
    /// Shorter than a footer.
    #[error("file of {len} bytes is too short for a VHD footer")]
    TooShort {
        /// The file's length.
        len: u64,
    },
    /// No `conectix` footer at the start or at the end.
    #[error("not a VHD image (no conectix footer at the start or the end)")]
    NoFooter,
    /// The footer's checksum does not match its bytes.
    #[error("footer checksum is {found:#010x}, expected {expected:#010x}")]
    FooterChecksum {
        /// The checksum the bytes give.
        expected: u32,
        /// The checksum stored.
        found: u32,
    },
    /// The dynamic header's checksum does not match its bytes.
    #[error("dynamic header checksum is {found:#010x}, expected {expected:#010x}")]
    DynHeaderChecksum {
        /// The checksum the bytes give.
        expected: u32,
        /// The checksum stored.
        found: u32,
    },
    /// A virtual size above qemu's 2040 GiB.
    #[error("virtual size of {sectors} sectors is above the limit of {MAX_SECTORS}")]
    TooLarge {
        /// The sectors.
        sectors: u64,
    },
    /// A differencing image.
    #[error("differencing VHD images are not supported")]
    Differencing,
    /// A disk type that is not fixed or dynamic, or that contradicts where the footer is.
    #[error("disk type {disk_type} with the footer {where_found}")]
    DiskType {
        /// The type.
        disk_type: u32,
        /// `at the start` or `only at the end`.
        where_found: &'static str,
    },
    /// A fixed image shorter than its virtual size and footer.
    #[error("fixed image of {file_len} bytes cannot hold {size} bytes and its footer")]
    FixedTruncated {
        /// The virtual size.
        size: u64,
        /// The file's length.
        file_len: u64,
    },
    /// The dynamic header does not lie inside the file.
    #[error("dynamic header at {offset} passes the end of the file ({file_len})")]
    DynHeaderPastEnd {
        /// Its offset.
        offset: u64,
        /// The file's length.
        file_len: u64,
    },
    /// No `cxsparse` cookie.
    #[error("invalid dynamic header magic")]
    BadDynCookie,
    /// A block size that is not a power of two of at least 512.
    #[error("invalid block size {block_size}")]
    BlockSize {
        /// The block size.
        block_size: u32,
    },
    /// More BAT entries than allowed, or more blocks than a u32 counts.
    #[error("{entries} BAT entries (max {max})")]
    TooManyBlocks {
        /// The entries.
        entries: u64,
        /// The limit.
        max: u64,
    },
    /// A BAT that does not cover the virtual size.
    #[error("BAT of {entries} blocks of {block_size} bytes does not cover {size} bytes")]
    BatTooSmall {
        /// The entries.
        entries: u64,
        /// The block size.
        block_size: u32,
        /// The virtual size.
        size: u64,
    },
    /// The BAT does not lie inside the file.
    #[error("BAT at {offset} ({len} bytes) passes the end of the file ({file_len})")]
    BatPastEnd {
        /// Its offset.
        offset: u64,
        /// Its length.
        len: u64,
        /// The file's length.
        file_len: u64,
    },
    /// An allocated block that does not lie inside the file.
    #[error(
        "block {block} at sector {sector} ends at {end}, past the end of the file ({file_len})"
    )]
    BlockPastEnd {
        /// Block index.
        block: u64,
        /// The BAT entry.
        sector: u32,
        /// Where the block ends.
        end: u64,
        /// The file's length.
        file_len: u64,
    },
    /// A size too large to create.
    #[error("cannot create a VHD image of {size} bytes (max {max})")]
    CreateTooLarge {
        /// The size asked for.
        size: u64,
        /// The limit.
        max: u64,
    },
    /// The engine's writes did not match the plan (the source changed).
    #[error("writes did not match the planned layout: {detail}")]
    PlanMismatch {
        /// What differed.
        detail: String,
    },
}

impl VpcError {
    /// The stable category of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            // Sizes over a limit are malformed input.
            VpcError::TooShort { .. }
            | VpcError::NoFooter
            | VpcError::BadDynCookie
            | VpcError::BlockSize { .. }
            | VpcError::DiskType { .. }
            | VpcError::TooLarge { .. }
            | VpcError::TooManyBlocks { .. } => ErrorKind::InvalidFormat,
            VpcError::FooterChecksum { .. }
            | VpcError::DynHeaderChecksum { .. }
            | VpcError::FixedTruncated { .. }
            | VpcError::DynHeaderPastEnd { .. }
            | VpcError::BatTooSmall { .. }
            | VpcError::BatPastEnd { .. }
            | VpcError::BlockPastEnd { .. } => ErrorKind::Corrupt,
            VpcError::Differencing => ErrorKind::Unsupported,
            VpcError::CreateTooLarge { .. } => ErrorKind::InvalidRequest,
            VpcError::PlanMismatch { .. } => ErrorKind::IntegrityMismatch,
        }
    }
}

impl From<VpcError> for DiskError {
    fn from(e: VpcError) -> Self {
        DiskErrorSource::Vpc(e).into()
    }
}
