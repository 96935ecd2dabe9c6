//! [`VhdxError`]: everything a vhdx image can get wrong, and every vhdx image that cannot be
//! written as asked, each variant with the offending values and a stable [`ErrorKind`].

use crate::error::{DiskError, DiskErrorSource, ErrorKind};

/// A vhdx image that cannot be read as it stands, or written as asked.
#[derive(Debug, thiserror::Error)]
pub enum VhdxError {
    /// The file is shorter than the fixed structures (headers and region tables).
    #[error("file of {len} bytes is too short for a vhdx image")]
    TooShort {
        /// The file's length.
        len: u64,
    },
    /// The file identifier is not `vhdxfile`.
    #[error("no vhdxfile signature, not a vhdx image")]
    BadSignature,
    /// Neither header has a valid signature, checksum and version.
    #[error("no valid header (first: {first}; second: {second})")]
    NoValidHeader {
        /// Why the first header is invalid.
        first: String,
        /// Why the second header is invalid.
        second: String,
    },
    /// The current header names a log (log replay is not implemented).
    #[error("the log is not empty (log GUID {guid}): replay it with Hyper-V or qemu first")]
    LogNotEmpty {
        /// The log GUID.
        guid: String,
    },
    /// The region table's signature is wrong.
    #[error("bad region table signature")]
    RegionSignature,
    /// A checksum that does not match.
    #[error("{what} checksum {stored:#010x} does not match the computed {computed:#010x}")]
    Checksum {
        /// The structure.
        what: &'static str,
        /// The checksum stored.
        stored: u32,
        /// The checksum computed.
        computed: u32,
    },
    /// More region or metadata entries than the spec allows (2047).
    #[error("{what} has {count} entries, more than 2047")]
    TooManyEntries {
        /// The table.
        what: &'static str,
        /// The count.
        count: u32,
    },
    /// A region that is unaligned, inside the headers or past the end of the file.
    #[error("{what} region at {offset:#x} ({length} bytes) is invalid (file of {file_len} bytes)")]
    Region {
        /// The region.
        what: &'static str,
        /// Its offset.
        offset: u64,
        /// Its length.
        length: u64,
        /// The file's length.
        file_len: u64,
    },
    /// A region or metadata item the image marks required, which strata does not know.
    #[error("unknown required {what} {guid}")]
    UnknownRequired {
        /// "region" or "metadata item".
        what: &'static str,
        /// Its GUID.
        guid: String,
    },
    /// A region or metadata item listed twice, or a required one missing.
    #[error("{what} is {problem}")]
    Entry {
        /// The entry.
        what: &'static str,
        /// "duplicated" or "missing".
        problem: &'static str,
    },
    /// A metadata item that lies outside the metadata region or is too short.
    #[error("metadata item {what} at {offset} ({length} bytes) is invalid")]
    MetadataItem {
        /// The item.
        what: &'static str,
        /// Its offset in the region.
        offset: u32,
        /// Its length.
        length: u32,
    },
    /// A metadata value out of range.
    #[error("{what} {value} is invalid")]
    Value {
        /// The field.
        what: &'static str,
        /// Its value.
        value: u64,
    },
    /// A differencing disk (strata reads no parent).
    #[error("differencing vhdx images (with a parent) are not supported")]
    Differencing,
    /// A BAT larger than strata reads, or than its region.
    #[error(
        "BAT of {entries} entries does not fit its region of {region_len} bytes or exceeds {max} bytes"
    )]
    BatSize {
        /// Entries needed.
        entries: u64,
        /// The region's length.
        region_len: u64,
        /// The limit.
        max: u64,
    },
    /// A BAT entry whose block lies outside the file or inside its fixed structures.
    #[error("BAT entry {index} points at block {offset:#x} outside the file ({file_len} bytes)")]
    BlockOffset {
        /// The BAT index.
        index: u64,
        /// The block's file offset.
        offset: u64,
        /// The file's length.
        file_len: u64,
    },
    /// A payload block state qemu cannot read (partially present, or reserved).
    #[error("payload block {block} has state {state}, which cannot be read")]
    BlockState {
        /// The payload block index.
        block: u64,
        /// Its state.
        state: u8,
    },
    /// A virtual size above the spec's 64 TiB, asked of the writer.
    #[error("virtual size {size} is above the largest vhdx disk ({max} bytes)")]
    CreateTooLarge {
        /// The size asked for.
        size: u64,
        /// The largest size.
        max: u64,
    },
    /// A creation option out of range (`block_size`: a power of two from 1 MiB to 256 MiB;
    /// `log_size`: a multiple of 1 MiB below 4 GiB).
    #[error("{option} {value} is invalid")]
    CreateOption {
        /// The option, as qemu-img names it.
        option: &'static str,
        /// Its value.
        value: u64,
    },
    /// A BAT larger than strata reads back (a huge disk in small blocks).
    #[error("a BAT of {entries} entries exceeds {max} bytes: choose a larger block_size")]
    CreateBatTooLarge {
        /// Entries needed.
        entries: u64,
        /// The limit.
        max: u64,
    },
    /// The engine's writes did not match the planned layout (the source changed).
    #[error("writes did not match the planned layout: {detail}")]
    PlanMismatch {
        /// What differed.
        detail: String,
    },
}

impl VhdxError {
    /// The stable category of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            VhdxError::LogNotEmpty { .. }
            | VhdxError::UnknownRequired { .. }
            | VhdxError::Differencing => ErrorKind::Unsupported,
            VhdxError::Checksum { .. } | VhdxError::PlanMismatch { .. } => {
                ErrorKind::IntegrityMismatch
            }
            VhdxError::CreateTooLarge { .. }
            | VhdxError::CreateOption { .. }
            | VhdxError::CreateBatTooLarge { .. } => ErrorKind::InvalidRequest,
            VhdxError::BlockOffset { .. } | VhdxError::BlockState { .. } => ErrorKind::Corrupt,
            _ => ErrorKind::InvalidFormat,
        }
    }
}

impl From<VhdxError> for DiskError {
    fn from(e: VhdxError) -> Self {
        DiskErrorSource::Vhdx(e).into()
    }
}
