//! The footer (also copied at the start of a dynamic image) and the dynamic header: their
//! constants, parsing with checksums verified, and bytes; and VHD's checksum.

use super::error::VpcError;
use super::geometry::MAX_GEOMETRY;

/// The footer's length.
pub const FOOTER_LEN: usize = 512;
/// The dynamic header's length.
pub const DYN_HEADER_LEN: usize = 1024;
/// Disk type of a fixed image.
pub const TYPE_FIXED: u32 = 2;
/// Disk type of a dynamic image.
pub const TYPE_DYNAMIC: u32 = 3;
/// Disk type of a differencing image (not supported, as in qemu).
pub const TYPE_DIFFERENCING: u32 = 4;
/// BAT entry of an unallocated block.
pub const UNALLOCATED: u32 = 0xffff_ffff;
/// The sector.
pub(super) const SECTOR: u64 = 512;

/// VHD's checksum: the one's complement of the sum of every byte outside the checksum field
/// at `skip`.
pub fn checksum(bytes: &[u8], skip: usize) -> u32 {
    let sum = bytes
        .iter()
        .enumerate()
        .filter(|(i, _)| !(skip..skip + 4).contains(i))
        .fold(0u32, |s, (_, &b)| s.wrapping_add(u32::from(b)));
    !sum
}

fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

fn be32(b: &[u8], at: usize) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[at..at + 4]);
    u32::from_be_bytes(a)
}

fn be64(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_be_bytes(a)
}

/// The footer (and its copy at the start of dynamic images).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Footer {
    /// Feature bits (2: reserved, always set).
    pub features: u32,
    /// Format version (0x00010000).
    pub version: u32,
    /// Offset of the dynamic header (`u64::MAX` for fixed images).
    pub data_offset: u64,
    /// Seconds since 2000-01-01 00:00:00 UTC.
    pub timestamp: u32,
    /// Creator application (`qemu`, `qem2`, `vpc `, `win `, ...): decides how qemu reads
    /// the size.
    pub creator_app: [u8; 4],
    /// Creator version (major << 16 | minor).
    pub creator_version: u32,
    /// Creator host OS.
    pub creator_os: [u8; 4],
    /// Size at creation.
    pub original_size: u64,
    /// Current size.
    pub current_size: u64,
    /// Cylinders.
    pub cylinders: u16,
    /// Heads.
    pub heads: u8,
    /// Sectors per track.
    pub sectors: u8,
    /// [`TYPE_FIXED`], [`TYPE_DYNAMIC`] or [`TYPE_DIFFERENCING`].
    pub disk_type: u32,
    /// The image's UUID.
    pub uuid: [u8; 16],
    /// Saved-state flag.
    pub saved_state: u8,
}

impl Footer {
    /// Parses a footer whose cookie is `conectix`, verifying its checksum.
    pub fn parse(b: &[u8; FOOTER_LEN]) -> Result<Footer, VpcError> {
        let found = be32(b, 64);
        let expected = checksum(b, 64);
        if found != expected {
            return Err(VpcError::FooterChecksum { expected, found });
        }
        let mut creator_app = [0u8; 4];
        creator_app.copy_from_slice(&b[28..32]);
        let mut creator_os = [0u8; 4];
        creator_os.copy_from_slice(&b[36..40]);
        let mut uuid = [0u8; 16];
        uuid.copy_from_slice(&b[68..84]);
        Ok(Footer {
            features: be32(b, 8),
            version: be32(b, 12),
            data_offset: be64(b, 16),
            timestamp: be32(b, 24),
            creator_app,
            creator_version: be32(b, 32),
            creator_os,
            original_size: be64(b, 40),
            current_size: be64(b, 48),
            cylinders: be16(b, 56),
            heads: b[58],
            sectors: b[59],
            disk_type: be32(b, 60),
            uuid,
            saved_state: b[84],
        })
    }

    /// The footer's bytes, with its checksum.
    pub fn to_bytes(&self) -> [u8; FOOTER_LEN] {
        let mut b = [0u8; FOOTER_LEN];
        b[..8].copy_from_slice(b"conectix");
        b[8..12].copy_from_slice(&self.features.to_be_bytes());
        b[12..16].copy_from_slice(&self.version.to_be_bytes());
        b[16..24].copy_from_slice(&self.data_offset.to_be_bytes());
        b[24..28].copy_from_slice(&self.timestamp.to_be_bytes());
        b[28..32].copy_from_slice(&self.creator_app);
        b[32..36].copy_from_slice(&self.creator_version.to_be_bytes());
        b[36..40].copy_from_slice(&self.creator_os);
        b[40..48].copy_from_slice(&self.original_size.to_be_bytes());
        b[48..56].copy_from_slice(&self.current_size.to_be_bytes());
        b[56..58].copy_from_slice(&self.cylinders.to_be_bytes());
        b[58] = self.heads;
        b[59] = self.sectors;
        b[60..64].copy_from_slice(&self.disk_type.to_be_bytes());
        b[68..84].copy_from_slice(&self.uuid);
        b[84] = self.saved_state;
        let sum = checksum(&b, 64);
        b[64..68].copy_from_slice(&sum.to_be_bytes());
        b
    }

    /// The sectors of the CHS geometry.
    pub fn chs_sectors(&self) -> u64 {
        u64::from(self.cylinders) * u64::from(self.heads) * u64::from(self.sectors)
    }

    /// The virtual size in sectors as qemu 10 reads it: the CHS geometry's for images
    /// created by Virtual PC (`vpc `) or qemu without `force_size` (`qemu`), unless the
    /// geometry is the maximum; the current size (in whole sectors) for every other creator.
    pub fn virtual_sectors(&self) -> u64 {
        let use_chs = &self.creator_app == b"vpc " || &self.creator_app == b"qemu";
        let chs = self.chs_sectors();
        if !use_chs || chs == MAX_GEOMETRY {
            self.current_size / SECTOR
        } else {
            chs
        }
    }
}

/// The dynamic header fields qemu uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DynHeader {
    /// Offset of the BAT.
    pub table_offset: u64,
    /// BAT entries.
    pub max_table_entries: u32,
    /// Block size.
    pub block_size: u32,
}

impl DynHeader {
    /// Parses the dynamic header, verifying its cookie and checksum.
    pub fn parse(b: &[u8; DYN_HEADER_LEN]) -> Result<DynHeader, VpcError> {
        if &b[..8] != b"cxsparse" {
            return Err(VpcError::BadDynCookie);
        }
        let found = be32(b, 36);
        let expected = checksum(b, 36);
        if found != expected {
            return Err(VpcError::DynHeaderChecksum { expected, found });
        }
        Ok(DynHeader {
            table_offset: be64(b, 16),
            max_table_entries: be32(b, 28),
            block_size: be32(b, 32),
        })
    }

    /// The header as qemu writes it (no parent), with its checksum.
    pub fn to_bytes(&self) -> [u8; DYN_HEADER_LEN] {
        let mut b = [0u8; DYN_HEADER_LEN];
        b[..8].copy_from_slice(b"cxsparse");
        b[8..16].copy_from_slice(&u64::MAX.to_be_bytes());
        b[16..24].copy_from_slice(&self.table_offset.to_be_bytes());
        b[24..28].copy_from_slice(&0x0001_0000u32.to_be_bytes());
        b[28..32].copy_from_slice(&self.max_table_entries.to_be_bytes());
        b[32..36].copy_from_slice(&self.block_size.to_be_bytes());
        let sum = checksum(&b, 36);
        b[36..40].copy_from_slice(&sum.to_be_bytes());
        b
    }

    /// The bitmap's size in bytes: one bit per sector, padded to 512 bytes.
    pub fn bitmap_size(&self) -> u64 {
        (u64::from(self.block_size) / (8 * SECTOR)).next_multiple_of(SECTOR)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn footer_round_trips_and_checksum_is_verified() {
        let f = Footer {
            features: 2,
            version: 0x0001_0000,
            data_offset: 512,
            timestamp: 1,
            creator_app: *b"qemu",
            creator_version: 0x0005_0003,
            creator_os: *b"Wi2k",
            original_size: 2108 * 512,
            current_size: 2108 * 512,
            cylinders: 31,
            heads: 4,
            sectors: 17,
            disk_type: TYPE_DYNAMIC,
            uuid: [7; 16],
            saved_state: 0,
        };
        let mut b = f.to_bytes();
        assert_eq!(Footer::parse(&b).unwrap(), f);
        b[100] = 1;
        let expected = checksum(&b, 64);
        assert!(matches!(
            Footer::parse(&b),
            Err(VpcError::FooterChecksum { expected: e, .. }) if e == expected
        ));
    }

    #[test]
    fn size_rule_follows_the_creator() {
        let mut f = Footer::parse(&{
            let mut b = [0u8; FOOTER_LEN];
            b[..8].copy_from_slice(b"conectix");
            let s = checksum(&b, 64);
            b[64..68].copy_from_slice(&s.to_be_bytes());
            b
        })
        .unwrap();
        f.cylinders = 10;
        f.heads = 4;
        f.sectors = 17;
        f.current_size = 1 << 20;
        f.creator_app = *b"qemu";
        assert_eq!(f.virtual_sectors(), 680);
        f.creator_app = *b"vpc ";
        assert_eq!(f.virtual_sectors(), 680);
        for app in [b"qem2", b"win ", b"d2v ", b"tap\0", b"wa\0\0"] {
            f.creator_app = *app;
            assert_eq!(f.virtual_sectors(), 2048);
        }
        f.creator_app = *b"qemu";
        (f.cylinders, f.heads, f.sectors) = (65535, 16, 255);
        assert_eq!(f.virtual_sectors(), 2048);
    }
}
