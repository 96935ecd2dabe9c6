//! [`VdiError`]: why a vdi image cannot be read or written as asked.

use crate::error::{DiskError, DiskErrorSource, ErrorKind};

/// A vdi image that cannot be read or written as asked.
#[derive(Debug, thiserror::Error)]
pub enum VdiError {
    /// Shorter than the header.
    #[error("file of {len} bytes is too short for a vdi header")]
    TooShort {
        /// The file's length.
        len: u64,
    },
    /// Not the vdi signature.
    #[error("not a vdi image (signature {found:#010x})")]
    BadSignature {
        /// The signature found.
        found: u32,
    },
    /// A version other than 1.1.
    #[error("unsupported vdi version {major}.{minor}")]
    Version {
        /// Major version.
        major: u32,
        /// Minor version.
        minor: u32,
    },
    /// An offset that is not a multiple of 512.
    #[error("unsupported vdi image: unaligned {what} offset {offset:#x}")]
    Unaligned {
        /// `block map` or `data`.
        what: &'static str,
        /// The offset.
        offset: u32,
    },
    /// A sector size other than 512.
    #[error("unsupported vdi image: sector size {size} is not 512")]
    SectorSize {
        /// The sector size.
        size: u32,
    },
    /// A block size other than 1 MiB.
    #[error("unsupported vdi image: block size {size} is not 1048576")]
    BlockSize {
        /// The block size.
        size: u32,
    },
    /// A disk larger than qemu's limit.
    #[error("vdi disk size {size} above the limit of {max}")]
    DiskTooLarge {
        /// The disk size.
        size: u64,
        /// The limit.
        max: u64,
    },
    /// More disk than the block map covers.
    #[error("vdi disk size {size} beyond the {room} bytes its blocks cover")]
    BlockMapTooSmall {
        /// The disk size.
        size: u64,
        /// Bytes the blocks in the image cover.
        room: u64,
    },
    /// A link or parent UUID: a differencing image.
    #[error("unsupported vdi image: non-null {which} UUID")]
    HasParent {
        /// `link` or `parent`.
        which: &'static str,
    },
    /// More blocks than qemu or the memory budget allow.
    #[error("vdi image of {blocks} blocks, above the limit of {max}")]
    TooManyBlocks {
        /// Blocks in the image.
        blocks: u64,
        /// The limit.
        max: u64,
    },
    /// An image type other than dynamic or static.
    #[error("unsupported vdi image type {image_type}")]
    ImageType {
        /// The type.
        image_type: u32,
    },
    /// The block map does not lie inside the file.
    #[error("block map at {offset} ({len} bytes) passes the end of the file ({file_len})")]
    BlockMapPastEnd {
        /// Its offset.
        offset: u64,
        /// Its length.
        len: u64,
        /// The file's length.
        file_len: u64,
    },
    /// An allocated block whose data does not lie inside the file.
    #[error("block {block} (slot {slot}) ends at {end}, past the end of the file ({file_len})")]
    BlockPastEnd {
        /// Guest block index.
        block: u64,
        /// Its slot in the data area.
        slot: u32,
        /// Where its data ends.
        end: u64,
        /// The file's length.
        file_len: u64,
    },
    /// A disk too large to create.
    #[error("cannot create a vdi image of {size} bytes (max {max})")]
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

impl VdiError {
    /// The stable category of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            // Sizes over a limit are malformed input, like a header that contradicts itself.
            VdiError::TooShort { .. }
            | VdiError::BadSignature { .. }
            | VdiError::DiskTooLarge { .. }
            | VdiError::BlockMapTooSmall { .. }
            | VdiError::TooManyBlocks { .. } => ErrorKind::InvalidFormat,
            // Valid VirtualBox images in a layout qemu (and strata) does not read.
            VdiError::Version { .. }
            | VdiError::Unaligned { .. }
            | VdiError::SectorSize { .. }
            | VdiError::BlockSize { .. }
            | VdiError::HasParent { .. }
            | VdiError::ImageType { .. } => ErrorKind::Unsupported,
            VdiError::BlockMapPastEnd { .. } | VdiError::BlockPastEnd { .. } => ErrorKind::Corrupt,
            VdiError::CreateTooLarge { .. } => ErrorKind::InvalidRequest,
            VdiError::PlanMismatch { .. } => ErrorKind::IntegrityMismatch,
        }
    }
}

impl From<VdiError> for DiskError {
    fn from(e: VdiError) -> Self {
        DiskErrorSource::Vdi(e).into()
    }
}
