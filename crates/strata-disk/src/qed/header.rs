//! The qed header: the 64-byte fixed part (parsed and validated against the file, and written
//! back by [`Header::to_bytes`]), and the geometry derived from it.

use crate::qed::QedError;

/// `QED\0`, little-endian.
pub const MAGIC: u32 = u32::from_le_bytes(*b"QED\0");
/// Bytes of the fixed header.
pub const HEADER_LEN: usize = 64;
/// The image has a backing file.
pub const F_BACKING_FILE: u64 = 0x01;
/// The image was not closed cleanly and needs a consistency check before read-write use.
pub const F_NEED_CHECK: u64 = 0x02;
/// The backing file is raw and must not be probed.
pub const F_BACKING_FORMAT_NO_PROBE: u64 = 0x04;
/// Every feature bit qemu (and strata) knows.
pub const SUPPORTED_FEATURES: u64 = F_BACKING_FILE | F_NEED_CHECK | F_BACKING_FORMAT_NO_PROBE;
/// Smallest cluster size (qemu's `QED_MIN_CLUSTER_SIZE`).
pub const MIN_CLUSTER_SIZE: u32 = 4 << 10;
/// Largest cluster size (qemu's `QED_MAX_CLUSTER_SIZE`).
pub const MAX_CLUSTER_SIZE: u32 = 64 << 20;
/// Largest table size in clusters (qemu's `QED_MAX_TABLE_SIZE`).
pub const MAX_TABLE_SIZE: u32 = 16;
/// Largest table (L1 or L2) strata reads or writes, in bytes. qemu allows up to 16 clusters of
/// 64 MiB (1 GiB per table); its defaults make 256 KiB tables, and 32 MiB (4 Mi entries)
/// addresses 1 PiB with 4 KiB clusters, while keeping a reader's L1 and cached L2 tables
/// within the memory budget.
pub const MAX_TABLE_BYTES: u64 = 32 << 20;
/// Longest backing file name (qemu reads it into a 4096-byte buffer with its terminator).
pub const MAX_BACKING_NAME: u32 = 4095;

/// A validated qed header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// Bytes per cluster.
    pub cluster_size: u32,
    /// Clusters per L1 or L2 table.
    pub table_size: u32,
    /// Clusters of header.
    pub header_size: u32,
    /// Feature bits (`F_*`).
    pub features: u64,
    /// Compatible feature bits (none defined; ignored).
    pub compat_features: u64,
    /// Auto-clear feature bits (none defined; ignored).
    pub autoclear_features: u64,
    /// File offset of the L1 table.
    pub l1_table_offset: u64,
    /// The virtual size in bytes.
    pub image_size: u64,
    /// Offset of the backing file name from the start of the file.
    pub backing_filename_offset: u32,
    /// Length of the backing file name.
    pub backing_filename_size: u32,
}

fn le32(b: &[u8], at: usize) -> u32 {
    let mut v = [0u8; 4];
    v.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(v)
}

fn le64(b: &[u8], at: usize) -> u64 {
    let mut v = [0u8; 8];
    v.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(v)
}

/// The largest image size tables of `table_size` clusters of `cluster_size` bytes address.
pub fn max_image_size(cluster_size: u32, table_size: u32) -> u64 {
    let entries = u64::from(table_size) * u64::from(cluster_size) / 8;
    entries
        .saturating_mul(entries)
        .saturating_mul(u64::from(cluster_size))
}

impl Header {
    /// Parses and validates the fixed header (`bytes`, at least [`HEADER_LEN`]) of a file of
    /// `file_len` bytes, in qemu's order: magic, features, cluster size, table size, image
    /// size, L1 offset, backing name bounds. Nothing is allocated from these fields before
    /// they pass.
    pub fn parse(bytes: &[u8], file_len: u64) -> Result<Header, QedError> {
        if bytes.len() < HEADER_LEN {
            return Err(QedError::TooShort {
                len: bytes.len() as u64,
            });
        }
        let magic = le32(bytes, 0);
        if magic != MAGIC {
            return Err(QedError::BadMagic { magic });
        }
        let h = Header {
            cluster_size: le32(bytes, 4),
            table_size: le32(bytes, 8),
            header_size: le32(bytes, 12),
            features: le64(bytes, 16),
            compat_features: le64(bytes, 24),
            autoclear_features: le64(bytes, 32),
            l1_table_offset: le64(bytes, 40),
            image_size: le64(bytes, 48),
            backing_filename_offset: le32(bytes, 56),
            backing_filename_size: le32(bytes, 60),
        };
        let unknown = h.features & !SUPPORTED_FEATURES;
        if unknown != 0 {
            return Err(QedError::UnknownFeatures { bits: unknown });
        }
        let cs = h.cluster_size;
        if !cs.is_power_of_two() || !(MIN_CLUSTER_SIZE..=MAX_CLUSTER_SIZE).contains(&cs) {
            return Err(QedError::ClusterSize { cluster_size: cs });
        }
        let ts = h.table_size;
        if !ts.is_power_of_two() || ts > MAX_TABLE_SIZE {
            return Err(QedError::TableSize { table_size: ts });
        }
        if h.table_bytes() > MAX_TABLE_BYTES {
            return Err(QedError::TableTooLarge {
                bytes: h.table_bytes(),
                max: MAX_TABLE_BYTES,
            });
        }
        let max = max_image_size(cs, ts);
        if !h.image_size.is_multiple_of(512) || h.image_size > max {
            return Err(QedError::ImageSize {
                size: h.image_size,
                max,
            });
        }
        if h.header_size == 0 {
            return Err(QedError::HeaderSize { header_size: 0 });
        }
        let rounded = h.rounded_file_len(file_len);
        if !h.table_offset_valid(h.l1_table_offset, rounded) {
            return Err(QedError::L1Offset {
                offset: h.l1_table_offset,
                file_len: rounded,
            });
        }
        if h.features & F_BACKING_FILE != 0 {
            let end = u64::from(h.backing_filename_offset) + u64::from(h.backing_filename_size);
            if end > h.header_bytes() {
                return Err(QedError::BackingNameOutside {
                    offset: h.backing_filename_offset,
                    size: h.backing_filename_size,
                    header_bytes: h.header_bytes(),
                });
            }
            if h.backing_filename_size > MAX_BACKING_NAME {
                return Err(QedError::BackingNameTooLong {
                    size: h.backing_filename_size,
                });
            }
        }
        Ok(h)
    }

    /// The fixed header's bytes.
    pub fn to_bytes(&self) -> [u8; HEADER_LEN] {
        let mut b = [0u8; HEADER_LEN];
        b[0..4].copy_from_slice(&MAGIC.to_le_bytes());
        b[4..8].copy_from_slice(&self.cluster_size.to_le_bytes());
        b[8..12].copy_from_slice(&self.table_size.to_le_bytes());
        b[12..16].copy_from_slice(&self.header_size.to_le_bytes());
        b[16..24].copy_from_slice(&self.features.to_le_bytes());
        b[24..32].copy_from_slice(&self.compat_features.to_le_bytes());
        b[32..40].copy_from_slice(&self.autoclear_features.to_le_bytes());
        b[40..48].copy_from_slice(&self.l1_table_offset.to_le_bytes());
        b[48..56].copy_from_slice(&self.image_size.to_le_bytes());
        b[56..60].copy_from_slice(&self.backing_filename_offset.to_le_bytes());
        b[60..64].copy_from_slice(&self.backing_filename_size.to_le_bytes());
        b
    }

    /// Bytes per table.
    pub fn table_bytes(&self) -> u64 {
        u64::from(self.table_size) * u64::from(self.cluster_size)
    }

    /// Entries per table.
    pub fn table_entries(&self) -> u64 {
        self.table_bytes() / 8
    }

    /// Bytes of header (`header_size` clusters).
    pub fn header_bytes(&self) -> u64 {
        u64::from(self.header_size) * u64::from(self.cluster_size)
    }

    /// Guest bytes one L2 table maps.
    pub fn l2_span(&self) -> u64 {
        self.table_entries() * u64::from(self.cluster_size)
    }

    /// The file length as qemu sees it: rounded down to a whole cluster.
    pub fn rounded_file_len(&self, file_len: u64) -> u64 {
        file_len / u64::from(self.cluster_size) * u64::from(self.cluster_size)
    }

    /// qemu's `qed_check_cluster_offset`: aligned, past the header, inside the file (rounded
    /// down to a cluster).
    pub fn cluster_offset_valid(&self, offset: u64, rounded_file_len: u64) -> bool {
        offset.is_multiple_of(u64::from(self.cluster_size))
            && offset >= self.header_bytes()
            && offset < rounded_file_len
    }

    /// qemu's `qed_check_table_offset`: the table's first and last clusters are valid, and
    /// the last lies past the first, so that (as in qemu, whose overflow check refuses them)
    /// no table of a one-cluster `table_size` is valid: qemu cannot open such images.
    pub fn table_offset_valid(&self, offset: u64, rounded_file_len: u64) -> bool {
        let last = u64::from(self.table_size - 1) * u64::from(self.cluster_size);
        match offset.checked_add(last) {
            Some(end) if end > offset => {
                self.cluster_offset_valid(offset, rounded_file_len)
                    && self.cluster_offset_valid(end, rounded_file_len)
            }
            _ => false,
        }
    }

    /// Whether the image names a backing file.
    pub fn has_backing_file(&self) -> bool {
        self.features & F_BACKING_FILE != 0
    }

    /// Whether the backing file is raw by the header's word (otherwise it is probed).
    pub fn backing_is_raw(&self) -> bool {
        self.features & F_BACKING_FORMAT_NO_PROBE != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> Header {
        Header {
            cluster_size: 65536,
            table_size: 4,
            header_size: 1,
            features: 0,
            compat_features: 0,
            autoclear_features: 0,
            l1_table_offset: 65536,
            image_size: 1 << 30,
            backing_filename_offset: 0,
            backing_filename_size: 0,
        }
    }

    #[test]
    fn round_trip_and_geometry() {
        let h = header();
        let parsed = Header::parse(&h.to_bytes(), 5 * 65536).unwrap();
        assert_eq!(parsed, h);
        assert_eq!(h.l2_span(), 32768 * 65536);
        assert_eq!(max_image_size(65536, 4), 32768 * 32768 * 65536);
    }

    #[test]
    fn l1_must_fit_in_file() {
        let h = header();
        let e = Header::parse(&h.to_bytes(), 4 * 65536).unwrap_err();
        assert!(matches!(e, QedError::L1Offset { .. }), "{e}");
        // A partial last cluster does not count.
        let e = Header::parse(&h.to_bytes(), 5 * 65536 - 1).unwrap_err();
        assert!(matches!(e, QedError::L1Offset { .. }), "{e}");
    }

    #[test]
    fn huge_tables_refused() {
        let mut h = header();
        h.cluster_size = 64 << 20;
        h.table_size = 16;
        h.l1_table_offset = 64 << 20;
        let e = Header::parse(&h.to_bytes(), u64::MAX).unwrap_err();
        assert!(matches!(e, QedError::TableTooLarge { .. }), "{e}");
    }
}
