//! [`VmdkError`]: everything a VMDK image can get wrong, each variant with the offending
//! values and a stable [`ErrorKind`].

use std::path::PathBuf;

use crate::error::ErrorKind;

/// A VMDK image (or one of its extents) that cannot be read as it stands.
#[derive(Debug, thiserror::Error)]
pub enum VmdkError {
    /// Neither a sparse extent nor a text descriptor.
    #[error("not a VMDK image (magic {magic:02x?})")]
    BadMagic {
        /// The first four bytes.
        magic: [u8; 4],
    },
    /// A valid image using a feature strata does not read.
    #[error("unsupported VMDK feature: {feature}")]
    Unsupported {
        /// The feature, named as VMware names it.
        feature: String,
    },
    /// A sparse header version above 3.
    #[error("unsupported VMDK version {version}")]
    Version {
        /// The version field.
        version: u32,
    },
    /// Grain table entries per grain table outside 1..=512 (qemu: "L2 table size too big").
    #[error("{gtes} grain table entries per grain table, expected 1 to 512")]
    GtesPerGt {
        /// The field.
        gtes: u32,
    },
    /// A grain size of zero or above the limit.
    #[error("grain size of {sectors} sectors is outside 1 to {max}")]
    GrainSize {
        /// The field, in sectors.
        sectors: u64,
        /// The largest accepted.
        max: u64,
    },
    /// A capacity whose byte size or grain directory overflows or exceeds qemu's limit.
    #[error(
        "capacity of {sectors} sectors needs {gd_entries} grain directory entries, above {max}"
    )]
    Capacity {
        /// The capacity field.
        sectors: u64,
        /// Grain directory entries it needs.
        gd_entries: u64,
        /// The limit.
        max: u64,
    },
    /// A table or area that does not fit in the file.
    #[error("{what} at byte {offset} ({len} bytes) is past the end of the file ({file_len} bytes)")]
    PastEnd {
        /// What (grain directory, grain table, grain, overhead, footer...).
        what: &'static str,
        /// Its byte offset.
        offset: u64,
        /// Its length.
        len: u64,
        /// The file length.
        file_len: u64,
    },
    /// The stream-optimized footer is not what the header announces.
    #[error("invalid footer: {reason}")]
    Footer {
        /// What is wrong.
        reason: &'static str,
    },
    /// A compressed grain whose marker gives an impossible size.
    #[error("compressed grain at byte {host_offset} claims {size} bytes (at most {max})")]
    CompressedSize {
        /// Where the grain marker is.
        host_offset: u64,
        /// The size it claims.
        size: u64,
        /// Two grains minus the marker, as qemu allows.
        max: u64,
    },
    /// A compressed grain that does not inflate to the bytes read from it.
    #[error("compressed grain at byte {host_offset} is invalid: {reason}")]
    Decompress {
        /// Where the grain marker is.
        host_offset: u64,
        /// What the decompressor reported.
        reason: String,
    },
    /// A descriptor larger than the cap.
    #[error("descriptor of {size} bytes is larger than the limit of {max}")]
    DescriptorTooLarge {
        /// Its size.
        size: u64,
        /// The limit.
        max: u64,
    },
    /// A descriptor line that cannot be parsed.
    #[error("descriptor line {line} ({text:?}): {reason}")]
    DescriptorSyntax {
        /// 1-based line number.
        line: usize,
        /// The line (cut at 200 characters).
        text: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// A descriptor file without `createType`, or without extents.
    #[error("descriptor has no {what}")]
    DescriptorIncomplete {
        /// What is missing.
        what: &'static str,
    },
    /// More extent lines than [`MAX_EXTENTS`](crate::vmdk::descriptor::MAX_EXTENTS).
    #[error("descriptor names more than {max} extents")]
    TooManyExtents {
        /// The limit.
        max: usize,
    },
    /// An extent file outside the descriptor's directory.
    #[error("extent file {name:?} is outside the descriptor's directory{}", resolved.as_ref().map(|p| format!(" (resolves to {})", p.display())).unwrap_or_default())]
    ExtentOutside {
        /// The name as the descriptor writes it.
        name: String,
        /// Where it resolves, when it exists.
        resolved: Option<PathBuf>,
    },
    /// A descriptor file opened from bytes in memory: its extents have no directory.
    #[error("a VMDK descriptor file names extent files and cannot be opened from memory")]
    DescriptorInMemory,
    /// A descriptor file (the small text file of a monolithicFlat or twoGbMaxExtent image)
    /// whose extent file cannot be opened: the disk's data is in the extent files, which must
    /// lie beside it (a descriptor copied or imported alone).
    #[error(
        "VMDK descriptor file ({create_type}): the disk's data is in its extent file {name:?}, which cannot be opened beside it"
    )]
    DescriptorExtent {
        /// Its `createType` (one of those that name extent files).
        create_type: &'static str,
        /// The extent file as the descriptor names it.
        name: String,
        /// Why it cannot be opened.
        #[source]
        source: std::io::Error,
    },
    /// Extents whose sizes add up past the largest disk.
    #[error("extents add up to more than {max} bytes")]
    SizeOverflow {
        /// The limit.
        max: u64,
    },
}

impl VmdkError {
    /// The stable category of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            VmdkError::Unsupported { .. } | VmdkError::Version { .. } => ErrorKind::Unsupported,
            VmdkError::BadMagic { .. }
            | VmdkError::GtesPerGt { .. }
            | VmdkError::GrainSize { .. }
            | VmdkError::Capacity { .. }
            | VmdkError::Footer { .. }
            | VmdkError::DescriptorTooLarge { .. }
            | VmdkError::DescriptorSyntax { .. }
            | VmdkError::DescriptorIncomplete { .. }
            | VmdkError::TooManyExtents { .. }
            | VmdkError::SizeOverflow { .. } => ErrorKind::InvalidFormat,
            VmdkError::PastEnd { .. }
            | VmdkError::CompressedSize { .. }
            | VmdkError::Decompress { .. } => ErrorKind::Corrupt,
            VmdkError::ExtentOutside { .. } => ErrorKind::Escape,
            VmdkError::DescriptorInMemory => ErrorKind::InvalidRequest,
            VmdkError::DescriptorExtent { source, .. } => match source.kind() {
                std::io::ErrorKind::NotFound => ErrorKind::NotFound,
                _ => ErrorKind::Io,
            },
        }
    }
}
