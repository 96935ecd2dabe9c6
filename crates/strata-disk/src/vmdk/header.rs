//! The hosted sparse extent header (`KDMV`, 512 bytes, little-endian), both ways, and the
//! stream-optimized markers and footer around it.
//!
//! | offset | field |
//! | --- | --- |
//! | 0 | magic `KDMV` |
//! | 4 | version (1, 2 with zeroed grains, 3 for streamOptimized) |
//! | 8 | flags (bit 0 newline check, 1 redundant GD, 2 zeroed-grain GTEs, 16 compressed, 17 markers) |
//! | 12 | capacity (sectors) |
//! | 20 | grain size (sectors) |
//! | 28, 36 | embedded descriptor offset and size (sectors) |
//! | 44 | grain table entries per grain table (512) |
//! | 48, 56 | redundant and main grain directory (sectors; `GD_AT_END`: see the footer) |
//! | 64 | overhead: first grain (sectors) |
//! | 72 | unclean shutdown byte, then `\n \r\n` check bytes at 73..77 |
//! | 77 | compression algorithm (1: deflate) |
//!
//! A stream-optimized image whose header says [`GD_AT_END`] keeps its real header in the
//! footer: the last 1536 bytes are a footer marker, a copy of the header, and an
//! end-of-stream marker (qemu reads it there; so do we).

/// Bytes of a sector: every VMDK offset and size is counted in them.
pub const SECTOR: u64 = 512;
/// The magic of a hosted sparse extent.
pub const MAGIC: &[u8; 4] = b"KDMV";
/// The magic of the older VMware 3 / ESX sparse extent (COWD), which we do not read.
pub const COWD_MAGIC: &[u8; 4] = b"COWD";
/// Flag: the newline check bytes are valid.
pub const FLAG_NL_DETECT: u32 = 1;
/// Flag: a redundant grain directory is kept.
pub const FLAG_RGD: u32 = 1 << 1;
/// Flag: a grain table entry of 1 means a zeroed grain.
pub const FLAG_ZERO_GRAIN: u32 = 1 << 2;
/// Flag: grains are compressed.
pub const FLAG_COMPRESSED: u32 = 1 << 16;
/// Flag: grains and metadata are preceded by markers.
pub const FLAG_MARKERS: u32 = 1 << 17;
/// `compressAlgorithm` value of deflate (zlib format).
pub const COMPRESSION_DEFLATE: u16 = 1;
/// The grain directory offset that means "read the footer".
pub const GD_AT_END: u64 = u64::MAX;
/// A grain table entry that reads as zeros when [`FLAG_ZERO_GRAIN`] is set.
pub const GTE_ZEROED: u32 = 1;
/// The grain size qemu writes: 128 sectors, 64 KiB.
pub const DEFAULT_GRAIN_SECTORS: u64 = 128;
/// Grain table entries per grain table qemu writes (and the most it reads).
pub const GTES_PER_GT: u32 = 512;
/// The newline check bytes at 73..77.
pub const CHECK_BYTES: [u8; 4] = [b'\n', b' ', b'\r', b'\n'];
/// Marker type: end of stream.
pub const MARKER_EOS: u32 = 0;
/// Marker type: grain table.
pub const MARKER_GT: u32 = 1;
/// Marker type: grain directory.
pub const MARKER_GD: u32 = 2;
/// Marker type: footer.
pub const MARKER_FOOTER: u32 = 3;
/// Bytes before the compressed data of a grain marker: lba (u64) and size (u32).
pub const GRAIN_MARKER_LEN: u64 = 12;
/// Bytes of the footer block at the end of a stream-optimized image.
pub const FOOTER_LEN: u64 = 3 * SECTOR;

/// A sparse extent header as stored (no validation beyond the byte layout).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SparseHeader {
    /// Format version.
    pub version: u32,
    /// `FLAG_*` bits.
    pub flags: u32,
    /// Extent size in sectors.
    pub capacity: u64,
    /// Grain size in sectors.
    pub grain_sectors: u64,
    /// Embedded descriptor offset (sectors; 0: none).
    pub descriptor_offset: u64,
    /// Embedded descriptor size (sectors).
    pub descriptor_sectors: u64,
    /// Entries per grain table.
    pub gtes_per_gt: u32,
    /// Redundant grain directory (sectors).
    pub rgd_offset: u64,
    /// Grain directory (sectors), or [`GD_AT_END`].
    pub gd_offset: u64,
    /// First sector after the metadata.
    pub overhead: u64,
    /// The unclean-shutdown byte.
    pub unclean_shutdown: u8,
    /// The newline check bytes.
    pub check_bytes: [u8; 4],
    /// Compression algorithm (0 none, 1 deflate).
    pub compress_algorithm: u16,
}

fn le32(b: &[u8], at: usize) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(a)
}

fn le64(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(a)
}

impl SparseHeader {
    /// Decodes the 512 header bytes (the magic is checked by the caller).
    pub fn from_bytes(b: &[u8; 512]) -> Self {
        SparseHeader {
            version: le32(b, 4),
            flags: le32(b, 8),
            capacity: le64(b, 12),
            grain_sectors: le64(b, 20),
            descriptor_offset: le64(b, 28),
            descriptor_sectors: le64(b, 36),
            gtes_per_gt: le32(b, 44),
            rgd_offset: le64(b, 48),
            gd_offset: le64(b, 56),
            overhead: le64(b, 64),
            unclean_shutdown: b[72],
            check_bytes: [b[73], b[74], b[75], b[76]],
            compress_algorithm: u16::from_le_bytes([b[77], b[78]]),
        }
    }

    /// Encodes the header into 512 bytes, magic included.
    pub fn to_bytes(&self) -> [u8; 512] {
        let mut b = [0u8; 512];
        b[0..4].copy_from_slice(MAGIC);
        b[4..8].copy_from_slice(&self.version.to_le_bytes());
        b[8..12].copy_from_slice(&self.flags.to_le_bytes());
        b[12..20].copy_from_slice(&self.capacity.to_le_bytes());
        b[20..28].copy_from_slice(&self.grain_sectors.to_le_bytes());
        b[28..36].copy_from_slice(&self.descriptor_offset.to_le_bytes());
        b[36..44].copy_from_slice(&self.descriptor_sectors.to_le_bytes());
        b[44..48].copy_from_slice(&self.gtes_per_gt.to_le_bytes());
        b[48..56].copy_from_slice(&self.rgd_offset.to_le_bytes());
        b[56..64].copy_from_slice(&self.gd_offset.to_le_bytes());
        b[64..72].copy_from_slice(&self.overhead.to_le_bytes());
        b[72] = self.unclean_shutdown;
        b[73..77].copy_from_slice(&self.check_bytes);
        b[77..79].copy_from_slice(&self.compress_algorithm.to_le_bytes());
        b
    }

    /// Whether grains are deflated (qemu: `compressAlgorithm == 1`).
    pub fn compressed(&self) -> bool {
        self.compress_algorithm == COMPRESSION_DEFLATE
    }
}

/// A metadata marker (512 bytes): `num_sectors` of metadata follow, of `kind` (`MARKER_*`).
pub fn metadata_marker(num_sectors: u64, kind: u32) -> [u8; 512] {
    let mut b = [0u8; 512];
    b[0..8].copy_from_slice(&num_sectors.to_le_bytes());
    b[12..16].copy_from_slice(&kind.to_le_bytes());
    b
}

/// Reads a metadata marker: `(num_sectors, size, kind)`.
pub fn parse_marker(b: &[u8; 512]) -> (u64, u32, u32) {
    (le64(b, 0), le32(b, 8), le32(b, 12))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_roundtrips() {
        let h = SparseHeader {
            version: 3,
            flags: FLAG_NL_DETECT | FLAG_RGD | FLAG_COMPRESSED | FLAG_MARKERS,
            capacity: 6144,
            grain_sectors: 128,
            descriptor_offset: 1,
            descriptor_sectors: 20,
            gtes_per_gt: 512,
            rgd_offset: 21,
            gd_offset: 26,
            overhead: 128,
            unclean_shutdown: 0,
            check_bytes: CHECK_BYTES,
            compress_algorithm: 1,
        };
        let b = h.to_bytes();
        assert_eq!(&b[..4], MAGIC);
        assert_eq!(SparseHeader::from_bytes(&b), h);
        assert!(h.compressed());
        let m = metadata_marker(4, MARKER_GT);
        assert_eq!(parse_marker(&m), (4, 0, MARKER_GT));
    }
}
