//! The crate-edge error: [`DiskError`] wraps each format's own error enum and carries the file it
//! is about, with a small stable [`ErrorKind`] that front ends map to exit codes.

use std::io;
use std::path::PathBuf;

/// What went wrong, in the few categories a front end needs to choose an exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The operating system refused or failed a read, write or open.
    Io,
    /// The bytes are not a valid image of the expected format (bad magic, out-of-range field).
    InvalidFormat,
    /// A valid image that uses a feature strata does not implement.
    Unsupported,
    /// A valid header whose tables contradict each other or the file (offsets past the end,
    /// overlapping metadata, refcount mismatches).
    Corrupt,
    /// A file the image names (backing file, extent) does not exist.
    NotFound,
    /// A path the image names lies outside the directories the caller allowed, or a chain loops
    /// or is too deep.
    Escape,
    /// Data does not match its recorded digest or size.
    IntegrityMismatch,
    /// The caller asked for something impossible (offset past the virtual size, shrink).
    InvalidRequest,
    /// The caller stopped the operation ([`Cancel`](crate::Cancel)).
    Interrupted,
}

/// An error from a disk codec, naming the file it concerns when there is one.
#[derive(Debug, thiserror::Error)]
#[error("{}{source}", path_prefix(.path))]
pub struct DiskError {
    /// The file concerned, if the error is about a file.
    pub path: Option<PathBuf>,
    /// What happened.
    #[source]
    pub source: DiskErrorSource,
}

fn path_prefix(path: &Option<PathBuf>) -> String {
    match path {
        Some(p) => format!("{}: ", p.display()),
        None => String::new(),
    }
}

/// The specific error, one variant per format or concern.
#[derive(Debug, thiserror::Error)]
pub enum DiskErrorSource {
    /// An I/O error.
    #[error("{op}: {source}")]
    Io {
        /// What was being done (e.g. "read at offset 4096").
        op: String,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
    /// A request outside what the image allows.
    #[error("{0}")]
    InvalidRequest(String),
    /// A qcow2 image that cannot be read.
    #[error(transparent)]
    Qcow2(#[from] crate::qcow2::Qcow2Error),
    /// A backing chain that cannot be followed.
    #[error(transparent)]
    Open(#[from] crate::open::OpenError),
    /// A file whose first bytes show something strata refuses to take for a disk.
    #[error(transparent)]
    Probe(#[from] crate::probe::ProbeError),
    /// A qcow2 image that cannot be created, written or edited as asked.
    #[error(transparent)]
    Qcow2Write(#[from] crate::qcow2::writer::Qcow2WriteError),
    /// A conversion that cannot proceed.
    #[error(transparent)]
    Convert(crate::convert::ConvertError),
    /// A VMDK image that cannot be read.
    #[error(transparent)]
    Vmdk(#[from] crate::vmdk::VmdkError),
    /// A VMDK image that cannot be written as asked.
    #[error(transparent)]
    VmdkWrite(#[from] crate::vmdk::VmdkWriteError),
    /// A vdi image that cannot be read or written as asked.
    #[error(transparent)]
    Vdi(#[from] crate::vdi::VdiError),
    /// A vpc (VHD) image that cannot be read or written as asked.
    #[error(transparent)]
    Vpc(#[from] crate::vpc::VpcError),
    /// A qed image that cannot be read.
    #[error(transparent)]
    Qed(#[from] crate::qed::QedError),
    /// A qed image that cannot be created as asked.
    #[error(transparent)]
    QedWrite(#[from] crate::qed::QedWriteError),
    /// A vhdx image that cannot be read.
    #[error(transparent)]
    Vhdx(#[from] crate::vhdx::VhdxError),
}

impl DiskError {
    /// The stable category of this error.
    pub fn kind(&self) -> ErrorKind {
        match &self.source {
            DiskErrorSource::Io { source, .. } if source.kind() == io::ErrorKind::NotFound => {
                ErrorKind::NotFound
            }
            DiskErrorSource::Io { .. } => ErrorKind::Io,
            DiskErrorSource::InvalidRequest(_) => ErrorKind::InvalidRequest,
            DiskErrorSource::Qcow2(e) => e.kind(),
            DiskErrorSource::Open(e) => e.kind(),
            DiskErrorSource::Probe(e) => e.kind(),
            DiskErrorSource::Qcow2Write(e) => e.kind(),
            DiskErrorSource::Convert(e) => e.kind(),
            DiskErrorSource::Vmdk(e) => e.kind(),
            DiskErrorSource::VmdkWrite(e) => e.kind(),
            DiskErrorSource::Vdi(e) => e.kind(),
            DiskErrorSource::Vpc(e) => e.kind(),
            DiskErrorSource::Qed(e) => e.kind(),
            DiskErrorSource::QedWrite(e) => e.kind(),
            DiskErrorSource::Vhdx(e) => e.kind(),
        }
    }

    /// Attaches the file this error is about (keeps an existing one).
    #[must_use]
    pub fn with_path(mut self, path: impl Into<PathBuf>) -> Self {
        if self.path.is_none() {
            self.path = Some(path.into());
        }
        self
    }

    /// A request outside what the image allows.
    pub fn invalid_request(message: impl Into<String>) -> Self {
        DiskErrorSource::InvalidRequest(message.into()).into()
    }

    /// An I/O error while doing `op`.
    pub fn io(op: impl Into<String>, source: io::Error) -> Self {
        DiskErrorSource::Io {
            op: op.into(),
            source,
        }
        .into()
    }
}

impl From<crate::qcow2::Qcow2Error> for DiskError {
    fn from(e: crate::qcow2::Qcow2Error) -> Self {
        DiskErrorSource::from(e).into()
    }
}

impl From<crate::open::OpenError> for DiskError {
    fn from(e: crate::open::OpenError) -> Self {
        DiskErrorSource::from(e).into()
    }
}

impl From<crate::vmdk::VmdkError> for DiskError {
    fn from(e: crate::vmdk::VmdkError) -> Self {
        DiskErrorSource::from(e).into()
    }
}

impl From<crate::vmdk::VmdkWriteError> for DiskError {
    fn from(e: crate::vmdk::VmdkWriteError) -> Self {
        DiskErrorSource::from(e).into()
    }
}

impl From<DiskErrorSource> for DiskError {
    fn from(source: DiskErrorSource) -> Self {
        DiskError { path: None, source }
    }
}

#[cfg(test)]
mod tests {
    //! Every reader error variant of every format and the kind it has, in one table: a
    //! malformed input (a field outside what the format allows, a size over a limit strata or
    //! qemu sets, a header that contradicts itself) is `InvalidFormat` or `Corrupt` (exit 65);
    //! a valid input asking for a feature strata does not implement (encryption, an external
    //! data file, a newer version, unknown incompatible features, a parent, a protocol) is
    //! `Unsupported` (exit 69). Each `expected` function matches without a wildcard, so a new
    //! variant does not compile until it is given a kind here (and a sample beside it).

    use std::path::PathBuf;

    use super::ErrorKind::{
        Corrupt, Escape, IntegrityMismatch, InvalidFormat, InvalidRequest, Unsupported,
    };
    use super::*;
    use crate::open::OpenError;
    use crate::probe::ProbeError;
    use crate::qcow2::header::HeaderError;
    use crate::qcow2::{Qcow2Error, error::SnapshotProblem};
    use crate::qed::QedError;
    use crate::vdi::VdiError;
    use crate::vhdx::VhdxError;
    use crate::vmdk::VmdkError;
    use crate::vpc::VpcError;

    /// Asserts that each sample, one per variant, has the kind `expected` lists for it.
    fn check<E: std::fmt::Debug>(
        samples: Vec<E>,
        expected: impl Fn(&E) -> ErrorKind,
        into: impl Fn(E) -> DiskError,
    ) {
        let mut seen = Vec::new();
        for e in samples {
            let d = std::mem::discriminant(&e);
            assert!(!seen.contains(&d), "{e:?} listed twice");
            seen.push(d);
            let want = expected(&e);
            let text = format!("{e:?}");
            assert_eq!(into(e).kind(), want, "{text}");
        }
    }

    #[test]
    fn qcow2_header_kinds() {
        use HeaderError as E;
        let expected = |e: &E| match e {
            E::UnsupportedVersion { .. }
            | E::Encrypted { .. }
            | E::UnknownIncompatibleFeatures { .. }
            | E::ExternalDataFile { .. }
            | E::UnknownCompressionType { .. }
            | E::UnknownBackingFormat { .. } => Unsupported,
            E::Truncated { .. }
            | E::BadMagic { .. }
            | E::ClusterBits { .. }
            | E::HeaderLength { .. }
            | E::RefcountOrder { .. }
            | E::UnexpectedCryptoExtension
            | E::CompressionTypeMismatch { .. }
            | E::ExtendedL2ClusterTooSmall { .. }
            | E::VirtualSizeTooLarge { .. }
            | E::L1TooLarge { .. }
            | E::RefcountTableTooLarge { .. }
            | E::TooManySnapshots { .. }
            | E::BackingName { .. }
            | E::NotUtf8 { .. }
            | E::ExtensionPastEnd { .. }
            | E::ExtensionLength { .. } => InvalidFormat,
            E::L1TooSmall { .. }
            | E::RefcountTableEmpty
            | E::TableUnaligned { .. }
            | E::TablePastEnd { .. } => Corrupt,
            E::TooLargeToWrite { .. } => InvalidRequest,
        };
        let samples = vec![
            E::Truncated {
                available: 1,
                needed: 72,
            },
            E::BadMagic { found: [0; 4] },
            E::UnsupportedVersion { version: 4 },
            // Below the spec's minimum and past qemu's limit alike.
            E::ClusterBits { cluster_bits: 22 },
            E::HeaderLength {
                header_length: 1,
                cluster_size: 4096,
            },
            E::RefcountOrder { refcount_order: 7 },
            E::Encrypted { crypt_method: 1 },
            E::UnexpectedCryptoExtension,
            E::UnknownIncompatibleFeatures {
                bits: 1 << 5,
                names: vec![],
            },
            E::ExternalDataFile { name: None },
            E::UnknownCompressionType {
                compression_type: 2,
            },
            E::CompressionTypeMismatch {
                compression_type: 1,
                bit_set: false,
            },
            E::ExtendedL2ClusterTooSmall { cluster_bits: 12 },
            E::VirtualSizeTooLarge { size: u64::MAX },
            E::L1TooLarge {
                l1_size: u32::MAX,
                max: 1,
            },
            E::L1TooSmall {
                l1_size: 1,
                needed: 2,
            },
            E::RefcountTableTooLarge {
                clusters: u32::MAX,
                max_bytes: 1,
            },
            E::RefcountTableEmpty,
            E::TooManySnapshots {
                nb_snapshots: u32::MAX,
            },
            E::TableUnaligned {
                table: "L1",
                offset: 1,
            },
            E::TablePastEnd {
                table: "L1",
                offset: 1,
                len: 1,
                file_len: 1,
            },
            E::BackingName { offset: 1, len: 1 },
            E::NotUtf8 { what: "backing" },
            E::ExtensionPastEnd {
                ext_type: 1,
                offset: 1,
                len: 1,
                end: 1,
            },
            E::ExtensionLength {
                ext_type: 1,
                len: 1,
                expected: 2,
            },
            E::UnknownBackingFormat { name: "x".into() },
            E::TooLargeToWrite {
                len: 1,
                cluster_size: 1,
            },
        ];
        check(samples, expected, |e| Qcow2Error::from(e).into());
        // Below the minimum too.
        let e: DiskError = Qcow2Error::from(E::ClusterBits { cluster_bits: 8 }).into();
        assert_eq!(e.kind(), InvalidFormat);
    }

    #[test]
    fn qcow2_kinds() {
        use Qcow2Error as E;
        let expected = |e: &E| match e {
            E::Header(h) => h.kind(),
            E::Encrypted { .. } | E::ExternalDataFile { .. } => Unsupported,
            E::L2Unaligned { .. }
            | E::L2PastEnd { .. }
            | E::DataUnaligned { .. }
            | E::DataPastEnd { .. }
            | E::ZeroClusterInV2 { .. }
            | E::InvalidSubcluster { .. }
            | E::Decompress { .. }
            | E::SnapshotTable { .. }
            | E::RefcountBlock { .. } => Corrupt,
        };
        let samples = vec![
            E::Header(HeaderError::RefcountTableEmpty),
            E::Encrypted { crypt_method: 2 },
            E::ExternalDataFile {
                name: Some("d".into()),
            },
            E::L2Unaligned {
                l1_index: 0,
                offset: 1,
            },
            E::L2PastEnd {
                l1_index: 0,
                offset: 1,
                file_len: 1,
            },
            E::DataUnaligned {
                guest_offset: 0,
                host_offset: 1,
            },
            E::DataPastEnd {
                guest_offset: 0,
                host_offset: 1,
                file_len: 1,
            },
            E::ZeroClusterInV2 { guest_offset: 0 },
            E::InvalidSubcluster {
                guest_offset: 0,
                bitmap: 1,
            },
            E::Decompress {
                host_offset: 0,
                compression: "zlib",
                reason: String::new(),
            },
            E::SnapshotTable {
                index: 0,
                offset: 0,
                problem: SnapshotProblem::NotUtf8,
            },
            E::RefcountBlock {
                index: 0,
                offset: 1,
            },
        ];
        check(samples, expected, DiskError::from);
    }

    #[test]
    fn qed_kinds() {
        use QedError as E;
        let expected = |e: &E| match e {
            E::UnknownFeatures { .. } => Unsupported,
            E::TooShort { .. }
            | E::BadMagic { .. }
            | E::ClusterSize { .. }
            | E::TableSize { .. }
            | E::HeaderSize { .. }
            | E::TableTooLarge { .. }
            | E::ImageSize { .. }
            | E::L1Offset { .. }
            | E::BackingNameOutside { .. }
            | E::BackingNameTooLong { .. }
            | E::BackingNameEncoding => InvalidFormat,
            E::L2Offset { .. } | E::DataOffset { .. } => Corrupt,
        };
        let samples = vec![
            E::TooShort { len: 1 },
            E::BadMagic { magic: 0 },
            E::UnknownFeatures { bits: 1 << 9 },
            E::ClusterSize { cluster_size: 3 },
            E::TableSize { table_size: 3 },
            E::HeaderSize { header_size: 0 },
            E::TableTooLarge { bytes: 2, max: 1 },
            E::ImageSize { size: 1, max: 0 },
            E::L1Offset {
                offset: 1,
                file_len: 1,
            },
            E::BackingNameOutside {
                offset: 1,
                size: 1,
                header_bytes: 1,
            },
            E::BackingNameTooLong { size: 5000 },
            E::BackingNameEncoding,
            E::L2Offset {
                l1_index: 0,
                offset: 1,
                file_len: 1,
            },
            E::DataOffset {
                guest_offset: 0,
                host_offset: 1,
                file_len: 1,
            },
        ];
        check(samples, expected, DiskError::from);
    }

    #[test]
    fn vdi_kinds() {
        use VdiError as E;
        let expected = |e: &E| match e {
            E::Version { .. }
            | E::Unaligned { .. }
            | E::SectorSize { .. }
            | E::BlockSize { .. }
            | E::HasParent { .. }
            | E::ImageType { .. } => Unsupported,
            E::TooShort { .. }
            | E::BadSignature { .. }
            | E::DiskTooLarge { .. }
            | E::BlockMapTooSmall { .. }
            | E::TooManyBlocks { .. } => InvalidFormat,
            E::BlockMapPastEnd { .. } | E::BlockPastEnd { .. } => Corrupt,
            E::CreateTooLarge { .. } => InvalidRequest,
            E::PlanMismatch { .. } => IntegrityMismatch,
        };
        let samples = vec![
            E::TooShort { len: 1 },
            E::BadSignature { found: 0 },
            E::Version { major: 2, minor: 0 },
            E::Unaligned {
                what: "data",
                offset: 1,
            },
            E::SectorSize { size: 4096 },
            E::BlockSize { size: 1 },
            E::DiskTooLarge { size: 2, max: 1 },
            E::BlockMapTooSmall { size: 2, room: 1 },
            E::HasParent { which: "parent" },
            E::TooManyBlocks { blocks: 2, max: 1 },
            E::ImageType { image_type: 4 },
            E::BlockMapPastEnd {
                offset: 1,
                len: 1,
                file_len: 1,
            },
            E::BlockPastEnd {
                block: 0,
                slot: 0,
                end: 2,
                file_len: 1,
            },
            E::CreateTooLarge { size: 2, max: 1 },
            E::PlanMismatch {
                detail: String::new(),
            },
        ];
        check(samples, expected, DiskError::from);
    }

    #[test]
    fn vmdk_kinds() {
        use VmdkError as E;
        let expected = |e: &E| match e {
            E::Unsupported { .. } | E::Version { .. } => Unsupported,
            E::BadMagic { .. }
            | E::GtesPerGt { .. }
            | E::GrainSize { .. }
            | E::Capacity { .. }
            | E::Footer { .. }
            | E::DescriptorTooLarge { .. }
            | E::DescriptorSyntax { .. }
            | E::DescriptorIncomplete { .. }
            | E::TooManyExtents { .. }
            | E::SizeOverflow { .. } => InvalidFormat,
            E::PastEnd { .. } | E::CompressedSize { .. } | E::Decompress { .. } => Corrupt,
            E::ExtentOutside { .. } => Escape,
            E::DescriptorInMemory => InvalidRequest,
            // An extent file that is missing or cannot be read: as the I/O error says.
            E::DescriptorExtent { source, .. } => match source.kind() {
                std::io::ErrorKind::NotFound => super::ErrorKind::NotFound,
                _ => super::ErrorKind::Io,
            },
        };
        let samples = vec![
            E::BadMagic { magic: [0; 4] },
            E::Unsupported {
                feature: "x".into(),
            },
            E::Version { version: 4 },
            E::GtesPerGt { gtes: 0 },
            E::GrainSize { sectors: 0, max: 1 },
            E::Capacity {
                sectors: 1,
                gd_entries: 2,
                max: 1,
            },
            E::PastEnd {
                what: "grain",
                offset: 1,
                len: 1,
                file_len: 1,
            },
            E::Footer { reason: "x" },
            E::CompressedSize {
                host_offset: 0,
                size: 2,
                max: 1,
            },
            E::Decompress {
                host_offset: 0,
                reason: String::new(),
            },
            E::DescriptorTooLarge { size: 2, max: 1 },
            E::DescriptorSyntax {
                line: 1,
                text: String::new(),
                reason: "x",
            },
            E::DescriptorIncomplete { what: "x" },
            E::TooManyExtents { max: 1 },
            E::ExtentOutside {
                name: "x".into(),
                resolved: None,
            },
            E::DescriptorInMemory,
            E::DescriptorExtent {
                create_type: "monolithicFlat",
                name: "d-flat.vmdk".into(),
                source: std::io::ErrorKind::NotFound.into(),
            },
            E::SizeOverflow { max: 1 },
        ];
        check(samples, expected, DiskError::from);
    }

    #[test]
    fn vpc_kinds() {
        use VpcError as E;
        let expected = |e: &E| match e {
            E::Differencing => Unsupported,
            E::TooShort { .. }
            | E::NoFooter
            | E::BadDynCookie
            | E::BlockSize { .. }
            | E::DiskType { .. }
            | E::TooLarge { .. }
            | E::TooManyBlocks { .. } => InvalidFormat,
            E::FooterChecksum { .. }
            | E::DynHeaderChecksum { .. }
            | E::FixedTruncated { .. }
            | E::DynHeaderPastEnd { .. }
            | E::BatTooSmall { .. }
            | E::BatPastEnd { .. }
            | E::BlockPastEnd { .. } => Corrupt,
            E::CreateTooLarge { .. } => InvalidRequest,
            E::PlanMismatch { .. } => IntegrityMismatch,
        };
        let samples = vec![
            E::TooShort { len: 1 },
            E::NoFooter,
            E::FooterChecksum {
                expected: 1,
                found: 2,
            },
            E::DynHeaderChecksum {
                expected: 1,
                found: 2,
            },
            E::TooLarge { sectors: u64::MAX },
            E::Differencing,
            E::DiskType {
                disk_type: 9,
                where_found: "at the start",
            },
            E::FixedTruncated {
                size: 2,
                file_len: 1,
            },
            E::DynHeaderPastEnd {
                offset: 2,
                file_len: 1,
            },
            E::BadDynCookie,
            E::BlockSize { block_size: 1 },
            E::TooManyBlocks { entries: 2, max: 1 },
            E::BatTooSmall {
                entries: 1,
                block_size: 512,
                size: 1024,
            },
            E::BatPastEnd {
                offset: 1,
                len: 1,
                file_len: 1,
            },
            E::BlockPastEnd {
                block: 0,
                sector: 1,
                end: 2,
                file_len: 1,
            },
            E::CreateTooLarge { size: 2, max: 1 },
            E::PlanMismatch {
                detail: String::new(),
            },
        ];
        check(samples, expected, DiskError::from);
    }

    #[test]
    fn vhdx_kinds() {
        use VhdxError as E;
        let expected = |e: &E| match e {
            E::LogNotEmpty { .. } | E::UnknownRequired { .. } | E::Differencing => Unsupported,
            E::TooShort { .. }
            | E::BadSignature
            | E::NoValidHeader { .. }
            | E::RegionSignature
            | E::TooManyEntries { .. }
            | E::Region { .. }
            | E::Entry { .. }
            | E::MetadataItem { .. }
            | E::Value { .. }
            | E::BatSize { .. } => InvalidFormat,
            E::Checksum { .. } | E::PlanMismatch { .. } => IntegrityMismatch,
            E::BlockOffset { .. } | E::BlockState { .. } => Corrupt,
            E::CreateTooLarge { .. } | E::CreateOption { .. } | E::CreateBatTooLarge { .. } => {
                InvalidRequest
            }
        };
        let samples = vec![
            E::TooShort { len: 1 },
            E::BadSignature,
            E::NoValidHeader {
                first: String::new(),
                second: String::new(),
            },
            E::LogNotEmpty {
                guid: String::new(),
            },
            E::RegionSignature,
            E::Checksum {
                what: "header",
                stored: 1,
                computed: 2,
            },
            E::TooManyEntries {
                what: "region table",
                count: 5000,
            },
            E::Region {
                what: "BAT",
                offset: 1,
                length: 1,
                file_len: 1,
            },
            E::UnknownRequired {
                what: "region",
                guid: String::new(),
            },
            E::Entry {
                what: "BAT",
                problem: "missing",
            },
            E::MetadataItem {
                what: "x",
                offset: 1,
                length: 1,
            },
            E::Value {
                what: "block size",
                value: 1,
            },
            E::Differencing,
            // Over strata's limit and short of its region alike.
            E::BatSize {
                entries: u64::MAX,
                region_len: 1,
                max: 1,
            },
            E::BlockOffset {
                index: 0,
                offset: 1,
                file_len: 1,
            },
            E::BlockState { block: 0, state: 4 },
            E::CreateTooLarge { size: 2, max: 1 },
            E::CreateOption {
                option: "block_size",
                value: 1,
            },
            E::CreateBatTooLarge { entries: 2, max: 1 },
            E::PlanMismatch {
                detail: String::new(),
            },
        ];
        check(samples, expected, DiskError::from);
    }

    #[test]
    fn probe_and_open_kinds() {
        let expected = |e: &ProbeError| match e {
            ProbeError::Luks { .. } => Unsupported,
        };
        check(
            vec![ProbeError::Luks { version: 2 }],
            expected,
            DiskError::from,
        );
        let expected = |e: &OpenError| match e {
            OpenError::Protocol { .. } => Unsupported,
            OpenError::OutsideAllowedDirs { .. }
            | OpenError::TooDeep { .. }
            | OpenError::Loop { .. } => Escape,
            OpenError::BackingInMemory { .. } => InvalidRequest,
        };
        let samples = vec![
            OpenError::OutsideAllowedDirs {
                name: "x".into(),
                resolved: PathBuf::from("/x"),
            },
            OpenError::TooDeep { max: 1 },
            OpenError::Loop {
                path: PathBuf::from("x"),
            },
            OpenError::BackingInMemory { name: "x".into() },
            OpenError::Protocol {
                name: "nbd:x".into(),
                protocol: "nbd".into(),
            },
        ];
        check(samples, expected, DiskError::from);
    }
}
