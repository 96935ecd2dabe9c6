//! The qcow2 file header and its header extensions: [`RawHeader`] reads the big-endian fields
//! as they are, [`Header::parse`] validates them into a plain [`Header`], and
//! [`Header::to_bytes`] writes the first cluster back (header, extensions, backing name).
//!
//! Validation runs in dependency order (magic, version, sizes and shifts, feature bits, table
//! sizes against named `MAX_*` limits, every table inside the file with `checked_add`), so no
//! caller allocates from a field that was not bounded first.
//!
//! Writers build a [`Header`] (e.g. from [`Header::new_v3`]), set its public fields and call
//! [`Header::to_bytes`], which lays out the extensions and the backing file name itself and
//! fills `header_length`, `backing_file_offset` and `backing_file_size`.

use strata_model::DiskFormat;
use strata_model::text::quote;

use crate::error::ErrorKind;

/// The qcow2 magic, `QFI\xfb`.
pub const MAGIC: [u8; 4] = *b"QFI\xfb";
/// Length of a version 2 header (the spec: "exactly 72 bytes").
pub const V2_HEADER_LEN: u32 = 72;
/// Minimum length of a version 3 header (fields through `header_length`).
pub const V3_HEADER_LEN: u32 = 104;
/// Length of the version 3 header strata writes: through `compression_type` plus padding.
pub const V3_HEADER_LEN_WITH_COMPRESSION: u32 = 112;
/// Smallest cluster size qemu and the spec accept: 512 bytes.
pub const MIN_CLUSTER_BITS: u32 = 9;
/// Largest cluster size qemu opens (qemu `MAX_CLUSTER_BITS`, 2 MiB; the spec notes this limit).
pub const MAX_CLUSTER_BITS: u32 = 21;
/// Smallest cluster size with extended L2 entries (spec: "cluster_bits must be at least 14").
pub const MIN_EXTENDED_L2_CLUSTER_BITS: u32 = 14;
/// Largest refcount order (spec: "may not exceed 6", i.e. 64-bit refcounts).
pub const MAX_REFCOUNT_ORDER: u32 = 6;
/// Largest active L1 table in bytes (qemu `QCOW_MAX_L1_SIZE`, 32 MiB).
pub const MAX_L1_BYTES: u64 = 32 << 20;
/// Largest L1 table in entries (`MAX_L1_BYTES` / 8).
pub const MAX_L1_ENTRIES: u32 = (MAX_L1_BYTES / 8) as u32;
/// Largest refcount table in bytes (qemu `QCOW_MAX_REFTABLE_SIZE`, 8 MiB).
pub const MAX_REFCOUNT_TABLE_BYTES: u64 = 8 << 20;
/// Most snapshots an image may have (qemu `QCOW_MAX_SNAPSHOTS`).
pub const MAX_SNAPSHOTS: u32 = 65536;
/// Longest backing file name (spec: "Must not be longer than 1023 bytes").
pub const MAX_BACKING_NAME_LEN: u32 = 1023;
/// Longest backing format name qemu accepts (its `backing_format` buffer is 16 bytes).
pub const MAX_BACKING_FORMAT_LEN: u32 = 15;
/// Longest external data file name qemu accepts (its `filename` buffer, `PATH_MAX`).
pub const MAX_DATA_FILE_NAME_LEN: u32 = 4095;
/// Largest virtual size qemu accepts (`INT64_MAX`; qemu refuses "Image is too big").
pub const MAX_VIRTUAL_SIZE: u64 = i64::MAX as u64;
/// Mask of the host offset bits in L1, L2 and refcount table entries (bits 9..=55).
pub const OFFSET_MASK: u64 = 0x00ff_ffff_ffff_fe00;

/// Incompatible feature bit 0: refcounts may be inconsistent (fine for read-only opens).
pub const INCOMPAT_DIRTY: u64 = 1 << 0;
/// Incompatible feature bit 1: some structure may be corrupt; qemu opens such images read-only.
pub const INCOMPAT_CORRUPT: u64 = 1 << 1;
/// Incompatible feature bit 2: guest data lives in an external data file.
pub const INCOMPAT_DATA_FILE: u64 = 1 << 2;
/// Incompatible feature bit 3: `compression_type` is not zlib.
pub const INCOMPAT_COMPRESSION: u64 = 1 << 3;
/// Incompatible feature bit 4: extended L2 entries (32 subclusters per cluster).
pub const INCOMPAT_EXTL2: u64 = 1 << 4;
/// The incompatible features strata knows (it still refuses the external data file).
pub const INCOMPAT_KNOWN: u64 =
    INCOMPAT_DIRTY | INCOMPAT_CORRUPT | INCOMPAT_DATA_FILE | INCOMPAT_COMPRESSION | INCOMPAT_EXTL2;
/// Compatible feature bit 0: lazy refcounts.
pub const COMPAT_LAZY_REFCOUNTS: u64 = 1 << 0;
/// Autoclear feature bit 0: the bitmaps extension is consistent.
pub const AUTOCLEAR_BITMAPS: u64 = 1 << 0;
/// Autoclear feature bit 1: the external data file is a consistent raw image.
pub const AUTOCLEAR_DATA_FILE_RAW: u64 = 1 << 1;

/// Header extension type: end of the extension area.
pub const EXT_END: u32 = 0;
/// Header extension type: backing file format name.
pub const EXT_BACKING_FORMAT: u32 = 0xe279_2aca;
/// Header extension type: feature name table.
pub const EXT_FEATURE_TABLE: u32 = 0x6803_f857;
/// Header extension type: persistent bitmaps.
pub const EXT_BITMAPS: u32 = 0x2385_2875;
/// Header extension type: full disk encryption header pointer.
pub const EXT_CRYPTO: u32 = 0x0537_be77;
/// Header extension type: external data file name.
pub const EXT_DATA_FILE: u32 = 0x4441_5441;
/// Length of one feature name table entry (type, bit, 46-byte name).
pub const FEATURE_NAME_ENTRY_LEN: usize = 48;
/// Length of the bitmaps extension data.
pub const BITMAPS_EXT_LEN: u32 = 24;

/// A header that cannot be accepted. Each variant carries the offending values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    /// Fewer bytes than the header needs.
    #[error("header needs {needed} bytes, only {available} present")]
    Truncated {
        /// Bytes present.
        available: u64,
        /// Bytes needed.
        needed: u64,
    },
    /// The first four bytes are not `QFI\xfb`.
    #[error("bad magic {found:02x?}, expected QFI\\xfb")]
    BadMagic {
        /// The bytes found.
        found: [u8; 4],
    },
    /// A version other than 2 or 3.
    #[error("unsupported qcow2 version {version}")]
    UnsupportedVersion {
        /// The version field.
        version: u32,
    },
    /// `cluster_bits` outside 9..=21 (below 9 breaks the spec; above 21 passes qemu's limit,
    /// which the spec notes: input over a limit is malformed, as everywhere in strata).
    #[error("cluster_bits {cluster_bits} outside {MIN_CLUSTER_BITS}..={MAX_CLUSTER_BITS}")]
    ClusterBits {
        /// The field's value.
        cluster_bits: u32,
    },
    /// A v3 `header_length` below 104, not a multiple of 8, or beyond the first cluster.
    #[error("header_length {header_length} invalid for cluster size {cluster_size}")]
    HeaderLength {
        /// The field's value.
        header_length: u32,
        /// The cluster size.
        cluster_size: u64,
    },
    /// `refcount_order` above 6.
    #[error("refcount_order {refcount_order} above {MAX_REFCOUNT_ORDER}")]
    RefcountOrder {
        /// The field's value.
        refcount_order: u32,
    },
    /// The image is encrypted (AES or LUKS), which strata does not implement (surfaces as
    /// [`Qcow2Error::Encrypted`](crate::qcow2::Qcow2Error::Encrypted)).
    #[error("encryption (crypt_method {crypt_method}) is not supported")]
    Encrypted {
        /// The `crypt_method` field.
        crypt_method: u32,
    },
    /// A full disk encryption header extension in an image that is not encrypted.
    #[error("encryption header extension without encryption")]
    UnexpectedCryptoExtension,
    /// Incompatible feature bits strata does not know, with their names from the image's
    /// feature name table (or "bit N").
    #[error("unsupported incompatible features: {}", names.join(", "))]
    UnknownIncompatibleFeatures {
        /// The unknown bits.
        bits: u64,
        /// Their names, in bit order.
        names: Vec<String>,
    },
    /// The image keeps its data in an external data file, which strata does not implement
    /// (surfaces as [`Qcow2Error::ExternalDataFile`](crate::qcow2::Qcow2Error::ExternalDataFile)).
    #[error("external data file {name:?} is not supported")]
    ExternalDataFile {
        /// The data file name from the header extension, if present.
        name: Option<String>,
    },
    /// A compression type other than zlib (0) and zstd (1).
    #[error("unknown compression type {compression_type}")]
    UnknownCompressionType {
        /// The `compression_type` byte.
        compression_type: u8,
    },
    /// The compression type bit and the compression type byte disagree.
    #[error("compression type {compression_type} contradicts the compression type bit ({bit_set})")]
    CompressionTypeMismatch {
        /// The `compression_type` byte.
        compression_type: u8,
        /// Whether incompatible bit 3 is set.
        bit_set: bool,
    },
    /// Extended L2 entries with clusters smaller than 16 KiB.
    #[error("extended L2 entries need clusters of 16 KiB or more, cluster_bits is {cluster_bits}")]
    ExtendedL2ClusterTooSmall {
        /// The field's value.
        cluster_bits: u32,
    },
    /// A virtual size above `INT64_MAX`.
    #[error("virtual size {size} above {MAX_VIRTUAL_SIZE}")]
    VirtualSizeTooLarge {
        /// The field's value.
        size: u64,
    },
    /// An active L1 table larger than qemu's 32 MiB limit.
    #[error("L1 table of {l1_size} entries above the limit of {max}")]
    L1TooLarge {
        /// The `l1_size` field.
        l1_size: u32,
        /// The limit.
        max: u32,
    },
    /// An active L1 table too small to map the virtual size.
    #[error("L1 table of {l1_size} entries cannot map the virtual size, which needs {needed}")]
    L1TooSmall {
        /// The `l1_size` field.
        l1_size: u32,
        /// The entries the virtual size needs.
        needed: u64,
    },
    /// A refcount table larger than qemu's 8 MiB limit.
    #[error("refcount table of {clusters} clusters above the limit of {max_bytes} bytes")]
    RefcountTableTooLarge {
        /// The `refcount_table_clusters` field.
        clusters: u32,
        /// The limit in bytes.
        max_bytes: u64,
    },
    /// No refcount table.
    #[error("empty refcount table")]
    RefcountTableEmpty,
    /// More snapshots than qemu's limit.
    #[error("{nb_snapshots} snapshots above the limit of {MAX_SNAPSHOTS}")]
    TooManySnapshots {
        /// The `nb_snapshots` field.
        nb_snapshots: u32,
    },
    /// A table offset that is not cluster-aligned.
    #[error("{table} offset {offset:#x} is not aligned to the cluster size")]
    TableUnaligned {
        /// Which table.
        table: &'static str,
        /// Its offset.
        offset: u64,
    },
    /// A table that does not lie inside the file.
    #[error(
        "{table} at {offset:#x} of {len} bytes ends past the end of the file ({file_len} bytes)"
    )]
    TablePastEnd {
        /// Which table.
        table: &'static str,
        /// Its offset.
        offset: u64,
        /// Its length in bytes.
        len: u64,
        /// The file length.
        file_len: u64,
    },
    /// A backing file name that does not lie in the first cluster or is too long.
    #[error(
        "backing file name at {offset:#x} of {len} bytes is outside the first cluster or longer than {MAX_BACKING_NAME_LEN}"
    )]
    BackingName {
        /// The `backing_file_offset` field.
        offset: u64,
        /// The `backing_file_size` field.
        len: u32,
    },
    /// A backing file name or format that is not UTF-8.
    #[error("{what} is not UTF-8")]
    NotUtf8 {
        /// Which string.
        what: &'static str,
    },
    /// A header extension that runs past the end of the extension area.
    #[error(
        "header extension {ext_type:#010x} at {offset:#x} of {len} bytes runs past the end of the extension area ({end:#x})"
    )]
    ExtensionPastEnd {
        /// The extension type.
        ext_type: u32,
        /// Where the extension starts.
        offset: u64,
        /// Its data length.
        len: u32,
        /// Where the extension area ends.
        end: u64,
    },
    /// A header extension with a length its type does not allow.
    #[error("header extension {ext_type:#010x} has length {len}, expected {expected}")]
    ExtensionLength {
        /// The extension type.
        ext_type: u32,
        /// Its data length.
        len: u32,
        /// What the type allows (a maximum for strings).
        expected: u32,
    },
    /// A backing format name strata does not know.
    #[error("unknown backing format {name:?}")]
    UnknownBackingFormat {
        /// The name.
        name: String,
    },
    /// [`Header::to_bytes`]: the header, extensions and backing name do not fit in one cluster.
    #[error("header of {len} bytes does not fit in a cluster of {cluster_size}")]
    TooLargeToWrite {
        /// Bytes needed.
        len: u64,
        /// The cluster size.
        cluster_size: u64,
    },
}

impl HeaderError {
    /// The stable category of this error.
    pub fn kind(&self) -> ErrorKind {
        use HeaderError as E;
        match self {
            E::UnsupportedVersion { .. }
            | E::Encrypted { .. }
            | E::UnknownIncompatibleFeatures { .. }
            | E::ExternalDataFile { .. }
            | E::UnknownCompressionType { .. }
            | E::UnknownBackingFormat { .. } => ErrorKind::Unsupported,
            E::L1TooSmall { .. }
            | E::TableUnaligned { .. }
            | E::TablePastEnd { .. }
            | E::RefcountTableEmpty => ErrorKind::Corrupt,
            E::TooLargeToWrite { .. } => ErrorKind::InvalidRequest,
            _ => ErrorKind::InvalidFormat,
        }
    }
}

/// The compression used for compressed clusters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum CompressionType {
    /// Raw deflate (qemu calls it zlib), type 0.
    #[default]
    Zlib,
    /// Zstandard, type 1.
    Zstd,
}

impl CompressionType {
    /// The on-disk byte.
    pub const fn to_byte(self) -> u8 {
        match self {
            CompressionType::Zlib => 0,
            CompressionType::Zstd => 1,
        }
    }

    /// The name qemu-img prints.
    pub const fn name(self) -> &'static str {
        match self {
            CompressionType::Zlib => "zlib",
            CompressionType::Zstd => "zstd",
        }
    }
}

/// Which feature bitmap a feature name table entry describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FeatureKind {
    /// `incompatible_features`.
    Incompatible,
    /// `compatible_features`.
    Compatible,
    /// `autoclear_features`.
    Autoclear,
}

/// One entry of the feature name table extension.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeatureName {
    /// The bitmap (type byte 0, 1 or 2).
    pub kind: FeatureKind,
    /// The bit number (0..=63).
    pub bit: u8,
    /// The name, up to 46 bytes.
    pub name: String,
}

/// qemu's names for the features strata knows, for writers that add a feature name table.
pub fn qemu_feature_names() -> Vec<FeatureName> {
    let entry = |kind, bit, name: &str| FeatureName {
        kind,
        bit,
        name: name.to_owned(),
    };
    vec![
        entry(FeatureKind::Incompatible, 0, "dirty bit"),
        entry(FeatureKind::Incompatible, 1, "corrupt bit"),
        entry(FeatureKind::Incompatible, 2, "external data file"),
        entry(FeatureKind::Incompatible, 3, "compression type"),
        entry(FeatureKind::Incompatible, 4, "extended L2 entries"),
        entry(FeatureKind::Compatible, 0, "lazy refcounts"),
        entry(FeatureKind::Autoclear, 0, "bitmaps"),
        entry(FeatureKind::Autoclear, 1, "raw external data"),
    ]
}

/// The bitmaps extension (kept so that a rewrite preserves it; strata ignores the bitmaps).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BitmapsExtension {
    /// Number of bitmaps.
    pub nb_bitmaps: u32,
    /// Size of the bitmap directory in bytes.
    pub directory_size: u64,
    /// Offset of the bitmap directory.
    pub directory_offset: u64,
}

/// The header fields exactly as stored, without validation (the first layer).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RawHeader {
    /// Bytes 0..4.
    pub magic: [u8; 4],
    /// Bytes 4..8.
    pub version: u32,
    /// Bytes 8..16.
    pub backing_file_offset: u64,
    /// Bytes 16..20.
    pub backing_file_size: u32,
    /// Bytes 20..24.
    pub cluster_bits: u32,
    /// Bytes 24..32.
    pub size: u64,
    /// Bytes 32..36.
    pub crypt_method: u32,
    /// Bytes 36..40.
    pub l1_size: u32,
    /// Bytes 40..48.
    pub l1_table_offset: u64,
    /// Bytes 48..56.
    pub refcount_table_offset: u64,
    /// Bytes 56..60.
    pub refcount_table_clusters: u32,
    /// Bytes 60..64.
    pub nb_snapshots: u32,
    /// Bytes 64..72.
    pub snapshots_offset: u64,
    /// Bytes 72..80 (v3; zero when absent).
    pub incompatible_features: u64,
    /// Bytes 80..88 (v3).
    pub compatible_features: u64,
    /// Bytes 88..96 (v3).
    pub autoclear_features: u64,
    /// Bytes 96..100 (v3; 4 for v2).
    pub refcount_order: u32,
    /// Bytes 100..104 (v3; 72 for v2).
    pub header_length: u32,
    /// Byte 104 when `header_length` covers it, else 0.
    pub compression_type: u8,
}

/// Reads a big-endian `u32` at `off` (the caller checked the length).
fn be32(b: &[u8], off: usize) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[off..off + 4]);
    u32::from_be_bytes(a)
}

/// Reads a big-endian `u64` at `off` (the caller checked the length).
fn be64(b: &[u8], off: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[off..off + 8]);
    u64::from_be_bytes(a)
}

impl RawHeader {
    /// Reads the fields from the start of `bytes` (at least 72 bytes, 104 for version 3).
    pub fn read(bytes: &[u8]) -> Result<RawHeader, HeaderError> {
        let truncated = |needed: u32| HeaderError::Truncated {
            available: bytes.len() as u64,
            needed: u64::from(needed),
        };
        if bytes.len() < V2_HEADER_LEN as usize {
            return Err(truncated(V2_HEADER_LEN));
        }
        let mut magic = [0u8; 4];
        magic.copy_from_slice(&bytes[0..4]);
        let mut h = RawHeader {
            magic,
            version: be32(bytes, 4),
            backing_file_offset: be64(bytes, 8),
            backing_file_size: be32(bytes, 16),
            cluster_bits: be32(bytes, 20),
            size: be64(bytes, 24),
            crypt_method: be32(bytes, 32),
            l1_size: be32(bytes, 36),
            l1_table_offset: be64(bytes, 40),
            refcount_table_offset: be64(bytes, 48),
            refcount_table_clusters: be32(bytes, 56),
            nb_snapshots: be32(bytes, 60),
            snapshots_offset: be64(bytes, 64),
            refcount_order: 4,
            header_length: V2_HEADER_LEN,
            ..RawHeader::default()
        };
        if h.version >= 3 {
            if bytes.len() < V3_HEADER_LEN as usize {
                return Err(truncated(V3_HEADER_LEN));
            }
            h.incompatible_features = be64(bytes, 72);
            h.compatible_features = be64(bytes, 80);
            h.autoclear_features = be64(bytes, 88);
            h.refcount_order = be32(bytes, 96);
            h.header_length = be32(bytes, 100);
            if h.header_length > V3_HEADER_LEN && bytes.len() > V3_HEADER_LEN as usize {
                h.compression_type = bytes[V3_HEADER_LEN as usize];
            }
        }
        Ok(h)
    }

    /// Writes the fields big-endian: 72 bytes for version 2, `header_length` bytes (at least
    /// 104) for version 3, with the compression type byte and zero padding.
    pub fn to_bytes(&self) -> Vec<u8> {
        let len = if self.version >= 3 {
            self.header_length.max(V3_HEADER_LEN) as usize
        } else {
            V2_HEADER_LEN as usize
        };
        let mut b = Vec::with_capacity(len);
        b.extend_from_slice(&self.magic);
        b.extend_from_slice(&self.version.to_be_bytes());
        b.extend_from_slice(&self.backing_file_offset.to_be_bytes());
        b.extend_from_slice(&self.backing_file_size.to_be_bytes());
        b.extend_from_slice(&self.cluster_bits.to_be_bytes());
        b.extend_from_slice(&self.size.to_be_bytes());
        b.extend_from_slice(&self.crypt_method.to_be_bytes());
        b.extend_from_slice(&self.l1_size.to_be_bytes());
        b.extend_from_slice(&self.l1_table_offset.to_be_bytes());
        b.extend_from_slice(&self.refcount_table_offset.to_be_bytes());
        b.extend_from_slice(&self.refcount_table_clusters.to_be_bytes());
        b.extend_from_slice(&self.nb_snapshots.to_be_bytes());
        b.extend_from_slice(&self.snapshots_offset.to_be_bytes());
        if self.version >= 3 {
            b.extend_from_slice(&self.incompatible_features.to_be_bytes());
            b.extend_from_slice(&self.compatible_features.to_be_bytes());
            b.extend_from_slice(&self.autoclear_features.to_be_bytes());
            b.extend_from_slice(&self.refcount_order.to_be_bytes());
            b.extend_from_slice(&self.header_length.to_be_bytes());
            if len > V3_HEADER_LEN as usize {
                b.push(self.compression_type);
            }
        }
        b.resize(len, 0);
        b
    }
}

/// A validated qcow2 header with its extensions (the second layer). Fields are public so that
/// writers can build one; [`Header::to_bytes`] lays it out again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// 2 or 3.
    pub version: u32,
    /// log2 of the cluster size (9..=21).
    pub cluster_bits: u32,
    /// Virtual disk size in bytes.
    pub size: u64,
    /// Entries in the active L1 table.
    pub l1_size: u32,
    /// Offset of the active L1 table (cluster-aligned).
    pub l1_table_offset: u64,
    /// Offset of the refcount table (cluster-aligned).
    pub refcount_table_offset: u64,
    /// Clusters the refcount table occupies.
    pub refcount_table_clusters: u32,
    /// Number of internal snapshots.
    pub nb_snapshots: u32,
    /// Offset of the snapshot table (cluster-aligned when there are snapshots).
    pub snapshots_offset: u64,
    /// Incompatible feature bits (`INCOMPAT_*`).
    pub incompatible_features: u64,
    /// Compatible feature bits (`COMPAT_*`).
    pub compatible_features: u64,
    /// Autoclear feature bits (`AUTOCLEAR_*`).
    pub autoclear_features: u64,
    /// log2 of the refcount width in bits (0..=6; 4 for version 2).
    pub refcount_order: u32,
    /// Length of the header structure as stored (72 for v2); [`Header::to_bytes`] writes
    /// 112 for v3 (104 when there is no compression type to record and this field is 104).
    pub header_length: u32,
    /// How compressed clusters are compressed.
    pub compression_type: CompressionType,
    /// The backing file name stored after the extensions, if any.
    pub backing_file: Option<String>,
    /// The backing format extension, if present (the name exactly as stored).
    pub backing_format: Option<String>,
    /// The feature name table extension (empty when absent).
    pub feature_names: Vec<FeatureName>,
    /// The bitmaps extension, if present (ignored by the reader, preserved by writers).
    pub bitmaps: Option<BitmapsExtension>,
    /// Extensions strata does not know, as `(type, data)`, preserved by writers.
    pub unknown_extensions: Vec<(u32, Vec<u8>)>,
}

impl Header {
    /// A version 3 header for a new image with 16-bit refcounts, zlib compression and no
    /// tables yet (offsets zero), with qemu's feature name table.
    pub fn new_v3(size: u64, cluster_bits: u32) -> Header {
        Header {
            version: 3,
            cluster_bits,
            size,
            l1_size: 0,
            l1_table_offset: 0,
            refcount_table_offset: 0,
            refcount_table_clusters: 0,
            nb_snapshots: 0,
            snapshots_offset: 0,
            incompatible_features: 0,
            compatible_features: 0,
            autoclear_features: 0,
            refcount_order: 4,
            header_length: V3_HEADER_LEN_WITH_COMPRESSION,
            compression_type: CompressionType::Zlib,
            backing_file: None,
            backing_format: None,
            feature_names: qemu_feature_names(),
            bitmaps: None,
            unknown_extensions: Vec::new(),
        }
    }

    /// The cluster size in bytes.
    pub fn cluster_size(&self) -> u64 {
        1u64 << self.cluster_bits
    }

    /// Whether L2 entries are extended (128 bits, 32 subclusters).
    pub fn extended_l2(&self) -> bool {
        self.incompatible_features & INCOMPAT_EXTL2 != 0
    }

    /// Whether the dirty bit is set.
    pub fn dirty(&self) -> bool {
        self.incompatible_features & INCOMPAT_DIRTY != 0
    }

    /// Whether the corrupt bit is set (qemu then opens the image read-only only).
    pub fn corrupt(&self) -> bool {
        self.incompatible_features & INCOMPAT_CORRUPT != 0
    }

    /// Whether lazy refcounts are enabled.
    pub fn lazy_refcounts(&self) -> bool {
        self.compatible_features & COMPAT_LAZY_REFCOUNTS != 0
    }

    /// Bytes per L2 entry: 8, or 16 with extended L2 entries.
    pub fn l2_entry_size(&self) -> u64 {
        if self.extended_l2() { 16 } else { 8 }
    }

    /// log2 of the number of entries in one L2 table.
    pub fn l2_bits(&self) -> u32 {
        self.cluster_bits - if self.extended_l2() { 4 } else { 3 }
    }

    /// Refcount width in bits.
    pub fn refcount_bits(&self) -> u32 {
        1 << self.refcount_order
    }

    /// The backing format as a [`DiskFormat`], if recorded. qemu's driver names map to ours.
    pub fn backing_disk_format(&self) -> Result<Option<DiskFormat>, HeaderError> {
        match &self.backing_format {
            None => Ok(None),
            Some(name) => match name.parse() {
                Ok(f) => Ok(Some(f)),
                Err(_) => Err(HeaderError::UnknownBackingFormat { name: name.clone() }),
            },
        }
    }

    /// Validates the first cluster of an image (`bytes` may be shorter when the file is) of a
    /// file of `file_len` bytes.
    pub fn parse(bytes: &[u8], file_len: u64) -> Result<Header, HeaderError> {
        let raw = RawHeader::read(bytes)?;
        if raw.magic != MAGIC {
            return Err(HeaderError::BadMagic { found: raw.magic });
        }
        if raw.version != 2 && raw.version != 3 {
            return Err(HeaderError::UnsupportedVersion {
                version: raw.version,
            });
        }
        if !(MIN_CLUSTER_BITS..=MAX_CLUSTER_BITS).contains(&raw.cluster_bits) {
            return Err(HeaderError::ClusterBits {
                cluster_bits: raw.cluster_bits,
            });
        }
        let cluster_size = 1u64 << raw.cluster_bits;
        if raw.version == 3
            && (raw.header_length < V3_HEADER_LEN
                || !raw.header_length.is_multiple_of(8)
                || u64::from(raw.header_length) > cluster_size)
        {
            return Err(HeaderError::HeaderLength {
                header_length: raw.header_length,
                cluster_size,
            });
        }
        if raw.refcount_order > MAX_REFCOUNT_ORDER {
            return Err(HeaderError::RefcountOrder {
                refcount_order: raw.refcount_order,
            });
        }
        if raw.crypt_method != 0 {
            return Err(HeaderError::Encrypted {
                crypt_method: raw.crypt_method,
            });
        }
        // The extension area and backing name must be in the bytes given (the first cluster,
        // or the whole file when shorter).
        let area_len = (bytes.len() as u64).min(cluster_size);
        let ext = parse_extensions(bytes, &raw, area_len)?;
        if ext.crypto {
            return Err(HeaderError::UnexpectedCryptoExtension);
        }
        let unknown = raw.incompatible_features & !INCOMPAT_KNOWN;
        if unknown != 0 {
            let names = (0..64)
                .filter(|bit| unknown & (1u64 << bit) != 0)
                .map(|bit| {
                    ext.feature_names
                        .iter()
                        .find(|f| f.kind == FeatureKind::Incompatible && u32::from(f.bit) == bit)
                        .map_or_else(|| format!("bit {bit}"), |f| quote(&f.name))
                })
                .collect();
            return Err(HeaderError::UnknownIncompatibleFeatures {
                bits: unknown,
                names,
            });
        }
        if raw.incompatible_features & INCOMPAT_DATA_FILE != 0 {
            return Err(HeaderError::ExternalDataFile {
                name: ext.data_file,
            });
        }
        let bit_set = raw.incompatible_features & INCOMPAT_COMPRESSION != 0;
        let compression_type = match raw.compression_type {
            0 if !bit_set => CompressionType::Zlib,
            1 if bit_set => CompressionType::Zstd,
            0 | 1 => {
                return Err(HeaderError::CompressionTypeMismatch {
                    compression_type: raw.compression_type,
                    bit_set,
                });
            }
            other => {
                return Err(HeaderError::UnknownCompressionType {
                    compression_type: other,
                });
            }
        };
        if raw.incompatible_features & INCOMPAT_EXTL2 != 0
            && raw.cluster_bits < MIN_EXTENDED_L2_CLUSTER_BITS
        {
            return Err(HeaderError::ExtendedL2ClusterTooSmall {
                cluster_bits: raw.cluster_bits,
            });
        }
        if raw.size > MAX_VIRTUAL_SIZE {
            return Err(HeaderError::VirtualSizeTooLarge { size: raw.size });
        }
        // L1: bounded by qemu's limit, large enough for the virtual size, inside the file.
        if raw.l1_size > MAX_L1_ENTRIES {
            return Err(HeaderError::L1TooLarge {
                l1_size: raw.l1_size,
                max: MAX_L1_ENTRIES,
            });
        }
        let l2_bits = raw.cluster_bits
            - if raw.incompatible_features & INCOMPAT_EXTL2 != 0 {
                4
            } else {
                3
            };
        let bytes_per_l1 = 1u64 << (raw.cluster_bits + l2_bits);
        let needed = raw.size.div_ceil(bytes_per_l1);
        if u64::from(raw.l1_size) < needed {
            return Err(HeaderError::L1TooSmall {
                l1_size: raw.l1_size,
                needed,
            });
        }
        if raw.l1_size > 0 {
            check_table(
                "L1 table",
                raw.l1_table_offset,
                u64::from(raw.l1_size) * 8,
                cluster_size,
                file_len,
            )?;
        }
        // Refcount table.
        let rt_bytes = u64::from(raw.refcount_table_clusters) * cluster_size;
        if rt_bytes > MAX_REFCOUNT_TABLE_BYTES {
            return Err(HeaderError::RefcountTableTooLarge {
                clusters: raw.refcount_table_clusters,
                max_bytes: MAX_REFCOUNT_TABLE_BYTES,
            });
        }
        if rt_bytes == 0 {
            return Err(HeaderError::RefcountTableEmpty);
        }
        check_table(
            "refcount table",
            raw.refcount_table_offset,
            rt_bytes,
            cluster_size,
            file_len,
        )?;
        // Snapshot table: its entries are variable-sized, each at least 40 bytes.
        if raw.nb_snapshots > MAX_SNAPSHOTS {
            return Err(HeaderError::TooManySnapshots {
                nb_snapshots: raw.nb_snapshots,
            });
        }
        if raw.nb_snapshots > 0 {
            check_table(
                "snapshot table",
                raw.snapshots_offset,
                u64::from(raw.nb_snapshots) * 40,
                cluster_size,
                file_len,
            )?;
        }
        Ok(Header {
            version: raw.version,
            cluster_bits: raw.cluster_bits,
            size: raw.size,
            l1_size: raw.l1_size,
            l1_table_offset: raw.l1_table_offset,
            refcount_table_offset: raw.refcount_table_offset,
            refcount_table_clusters: raw.refcount_table_clusters,
            nb_snapshots: raw.nb_snapshots,
            snapshots_offset: raw.snapshots_offset,
            incompatible_features: raw.incompatible_features,
            compatible_features: raw.compatible_features,
            autoclear_features: raw.autoclear_features,
            refcount_order: raw.refcount_order,
            header_length: raw.header_length,
            compression_type,
            backing_file: ext.backing_file,
            backing_format: ext.backing_format,
            feature_names: ext.feature_names,
            bitmaps: ext.bitmaps,
            unknown_extensions: ext.unknown,
        })
    }

    /// The first cluster's meaningful bytes: the header, the extensions (backing format,
    /// feature names, bitmaps, unknown ones, end marker) and the backing file name. The
    /// result is not padded; it fails when it does not fit in one cluster.
    /// `backing_file_offset`/`backing_file_size` and, for v3, `header_length` (at least 104,
    /// 112 when the compression type is not zlib) are computed here.
    pub fn to_bytes(&self) -> Result<Vec<u8>, HeaderError> {
        let header_length = if self.version >= 3 {
            let min = if self.compression_type == CompressionType::Zlib {
                V3_HEADER_LEN
            } else {
                V3_HEADER_LEN_WITH_COMPRESSION
            };
            self.header_length.max(min).next_multiple_of(8)
        } else {
            V2_HEADER_LEN
        };
        let mut incompatible = self.incompatible_features & !INCOMPAT_COMPRESSION;
        if self.compression_type != CompressionType::Zlib {
            incompatible |= INCOMPAT_COMPRESSION;
        }
        let mut raw = RawHeader {
            magic: MAGIC,
            version: self.version,
            backing_file_offset: 0,
            backing_file_size: 0,
            cluster_bits: self.cluster_bits,
            size: self.size,
            crypt_method: 0,
            l1_size: self.l1_size,
            l1_table_offset: self.l1_table_offset,
            refcount_table_offset: self.refcount_table_offset,
            refcount_table_clusters: self.refcount_table_clusters,
            nb_snapshots: self.nb_snapshots,
            snapshots_offset: self.snapshots_offset,
            incompatible_features: incompatible,
            compatible_features: self.compatible_features,
            autoclear_features: self.autoclear_features,
            refcount_order: self.refcount_order,
            header_length,
            compression_type: self.compression_type.to_byte(),
        };
        let mut ext = Vec::new();
        if let Some(fmt) = &self.backing_format {
            push_extension(&mut ext, EXT_BACKING_FORMAT, fmt.as_bytes());
        }
        if self.version >= 3 && !self.feature_names.is_empty() {
            let mut data = Vec::with_capacity(self.feature_names.len() * FEATURE_NAME_ENTRY_LEN);
            for f in &self.feature_names {
                data.push(match f.kind {
                    FeatureKind::Incompatible => 0,
                    FeatureKind::Compatible => 1,
                    FeatureKind::Autoclear => 2,
                });
                data.push(f.bit);
                let mut name = [0u8; FEATURE_NAME_ENTRY_LEN - 2];
                let n = f.name.len().min(name.len());
                name[..n].copy_from_slice(&f.name.as_bytes()[..n]);
                data.extend_from_slice(&name);
            }
            push_extension(&mut ext, EXT_FEATURE_TABLE, &data);
        }
        if let Some(b) = &self.bitmaps {
            let mut data = Vec::with_capacity(BITMAPS_EXT_LEN as usize);
            data.extend_from_slice(&b.nb_bitmaps.to_be_bytes());
            data.extend_from_slice(&0u32.to_be_bytes());
            data.extend_from_slice(&b.directory_size.to_be_bytes());
            data.extend_from_slice(&b.directory_offset.to_be_bytes());
            push_extension(&mut ext, EXT_BITMAPS, &data);
        }
        for (t, data) in &self.unknown_extensions {
            push_extension(&mut ext, *t, data);
        }
        push_extension(&mut ext, EXT_END, &[]);
        let ext_start = u64::from(header_length);
        let names_start = ext_start + ext.len() as u64;
        let backing = self.backing_file.as_deref().unwrap_or("");
        if backing.len() > MAX_BACKING_NAME_LEN as usize {
            return Err(HeaderError::BackingName {
                offset: names_start,
                len: u32::try_from(backing.len()).unwrap_or(u32::MAX),
            });
        }
        if self.backing_file.is_some() {
            raw.backing_file_offset = names_start;
            raw.backing_file_size = backing.len() as u32;
        }
        let mut out = raw.to_bytes();
        out.extend_from_slice(&ext);
        out.extend_from_slice(backing.as_bytes());
        let cluster_size = self.cluster_size();
        if out.len() as u64 > cluster_size {
            return Err(HeaderError::TooLargeToWrite {
                len: out.len() as u64,
                cluster_size,
            });
        }
        Ok(out)
    }
}

/// Appends one extension: type, length, data, zero padding to 8 bytes.
fn push_extension(out: &mut Vec<u8>, ext_type: u32, data: &[u8]) {
    out.extend_from_slice(&ext_type.to_be_bytes());
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    out.extend_from_slice(data);
    out.resize(out.len().next_multiple_of(8), 0);
}

/// Checks that a table of `len` bytes at `offset` is cluster-aligned and inside the file.
fn check_table(
    table: &'static str,
    offset: u64,
    len: u64,
    cluster_size: u64,
    file_len: u64,
) -> Result<(), HeaderError> {
    if !offset.is_multiple_of(cluster_size) {
        return Err(HeaderError::TableUnaligned { table, offset });
    }
    match offset.checked_add(len) {
        // The header cluster is never a table.
        Some(end) if end <= file_len && offset != 0 => Ok(()),
        _ => Err(HeaderError::TablePastEnd {
            table,
            offset,
            len,
            file_len,
        }),
    }
}

/// What the extension area and the backing name hold.
#[derive(Default)]
struct Extensions {
    backing_file: Option<String>,
    backing_format: Option<String>,
    feature_names: Vec<FeatureName>,
    bitmaps: Option<BitmapsExtension>,
    data_file: Option<String>,
    crypto: bool,
    unknown: Vec<(u32, Vec<u8>)>,
}

/// Reads the header extensions and the backing name from the first `area_len` bytes.
fn parse_extensions(
    bytes: &[u8],
    raw: &RawHeader,
    area_len: u64,
) -> Result<Extensions, HeaderError> {
    let mut ext = Extensions::default();
    // qemu: the backing name must start in the first cluster and end there too, and be at
    // most 1023 bytes.
    let backing_end = if raw.backing_file_offset != 0 {
        let bad = HeaderError::BackingName {
            offset: raw.backing_file_offset,
            len: raw.backing_file_size,
        };
        let end = raw
            .backing_file_offset
            .checked_add(u64::from(raw.backing_file_size));
        match end {
            Some(end)
                if raw.backing_file_size <= MAX_BACKING_NAME_LEN
                    && raw.backing_file_offset >= u64::from(raw.header_length)
                    && end <= area_len =>
            {
                // In range of `bytes` by the checks above.
                let name = &bytes[raw.backing_file_offset as usize..end as usize];
                let name = std::str::from_utf8(name).map_err(|_| HeaderError::NotUtf8 {
                    what: "backing file name",
                })?;
                ext.backing_file = Some(name.to_owned());
                raw.backing_file_offset
            }
            _ => return Err(bad),
        }
    } else {
        area_len
    };
    // Extensions run from the end of the header to the backing name (or the cluster end).
    let end = backing_end;
    let mut off = u64::from(raw.header_length);
    while off < end {
        if end - off < 8 {
            return Err(HeaderError::ExtensionPastEnd {
                ext_type: 0,
                offset: off,
                len: 8,
                end,
            });
        }
        let o = off as usize;
        let ext_type = be32(bytes, o);
        let len = be32(bytes, o + 4);
        if ext_type == EXT_END {
            break;
        }
        let data_start = off + 8;
        let padded = u64::from(len).next_multiple_of(8);
        if u64::from(len) > end - data_start {
            return Err(HeaderError::ExtensionPastEnd {
                ext_type,
                offset: off,
                len,
                end,
            });
        }
        let data = &bytes[data_start as usize..data_start as usize + len as usize];
        match ext_type {
            EXT_BACKING_FORMAT => {
                if len > MAX_BACKING_FORMAT_LEN {
                    return Err(HeaderError::ExtensionLength {
                        ext_type,
                        len,
                        expected: MAX_BACKING_FORMAT_LEN,
                    });
                }
                let name = std::str::from_utf8(data).map_err(|_| HeaderError::NotUtf8 {
                    what: "backing format",
                })?;
                ext.backing_format = Some(name.to_owned());
            }
            EXT_FEATURE_TABLE => {
                for entry in data.chunks_exact(FEATURE_NAME_ENTRY_LEN) {
                    let kind = match entry[0] {
                        0 => FeatureKind::Incompatible,
                        1 => FeatureKind::Compatible,
                        2 => FeatureKind::Autoclear,
                        _ => continue,
                    };
                    let name = &entry[2..];
                    let n = name.iter().position(|&c| c == 0).unwrap_or(name.len());
                    ext.feature_names.push(FeatureName {
                        kind,
                        bit: entry[1],
                        name: String::from_utf8_lossy(&name[..n]).into_owned(),
                    });
                }
            }
            EXT_BITMAPS => {
                if len != BITMAPS_EXT_LEN {
                    return Err(HeaderError::ExtensionLength {
                        ext_type,
                        len,
                        expected: BITMAPS_EXT_LEN,
                    });
                }
                ext.bitmaps = Some(BitmapsExtension {
                    nb_bitmaps: be32(data, 0),
                    directory_size: be64(data, 8),
                    directory_offset: be64(data, 16),
                });
            }
            EXT_CRYPTO => ext.crypto = true,
            EXT_DATA_FILE => {
                if len > MAX_DATA_FILE_NAME_LEN {
                    return Err(HeaderError::ExtensionLength {
                        ext_type,
                        len,
                        expected: MAX_DATA_FILE_NAME_LEN,
                    });
                }
                ext.data_file = Some(String::from_utf8_lossy(data).into_owned());
            }
            _ => ext.unknown.push((ext_type, data.to_vec())),
        }
        // The padding may run up to `end` but not past it.
        off = data_start.saturating_add(padded).min(end);
    }
    Ok(ext)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Header {
        let mut h = Header::new_v3(64 << 20, 16);
        h.l1_size = 1;
        h.l1_table_offset = 3 << 16;
        h.refcount_table_offset = 1 << 16;
        h.refcount_table_clusters = 1;
        h.backing_file = Some("base.qcow2".into());
        h.backing_format = Some("qcow2".into());
        h
    }

    #[test]
    fn roundtrip_v3() {
        let h = sample();
        let bytes = h.to_bytes().unwrap();
        let parsed = Header::parse(&bytes, 4 << 16).unwrap();
        assert_eq!(parsed.backing_file.as_deref(), Some("base.qcow2"));
        assert_eq!(parsed.backing_format.as_deref(), Some("qcow2"));
        assert_eq!(parsed.feature_names, qemu_feature_names());
        assert_eq!(parsed.header_length, V3_HEADER_LEN_WITH_COMPRESSION);
        assert_eq!(parsed, h);
    }

    #[test]
    fn roundtrip_zstd_and_v2() {
        let mut h = sample();
        h.compression_type = CompressionType::Zstd;
        let parsed = Header::parse(&h.to_bytes().unwrap(), 4 << 16).unwrap();
        assert_eq!(parsed.compression_type, CompressionType::Zstd);
        assert_ne!(parsed.incompatible_features & INCOMPAT_COMPRESSION, 0);
        let mut v2 = sample();
        v2.version = 2;
        v2.feature_names.clear();
        v2.backing_format = None;
        let parsed = Header::parse(&v2.to_bytes().unwrap(), 4 << 16).unwrap();
        assert_eq!(parsed.version, 2);
        assert_eq!(parsed.refcount_order, 4);
        assert_eq!(parsed.backing_file.as_deref(), Some("base.qcow2"));
    }

    #[test]
    fn unknown_incompatible_bits_are_named() {
        let mut h = sample();
        h.feature_names.push(FeatureName {
            kind: FeatureKind::Incompatible,
            bit: 9,
            name: "teleport".into(),
        });
        h.incompatible_features |= (1 << 9) | (1 << 12);
        let err = Header::parse(&h.to_bytes().unwrap(), 4 << 16).unwrap_err();
        assert_eq!(
            err,
            HeaderError::UnknownIncompatibleFeatures {
                bits: (1 << 9) | (1 << 12),
                names: vec!["teleport".into(), "bit 12".into()]
            }
        );
        assert_eq!(err.kind(), ErrorKind::Unsupported);
    }

    #[test]
    fn l1_too_large_is_refused_before_anything_else() {
        let mut h = sample();
        h.l1_size = 1 << 31;
        let err = Header::parse(&h.to_bytes().unwrap(), 4 << 16).unwrap_err();
        assert_eq!(
            err,
            HeaderError::L1TooLarge {
                l1_size: 1 << 31,
                max: MAX_L1_ENTRIES
            }
        );
    }
}
