//! The 512-byte header: its constants and limits, parsing with qemu's checks in qemu's order,
//! and bytes as qemu writes them.

use super::error::VdiError;

/// The signature at offset 64.
pub const SIGNATURE: u32 = 0xbeda_107f;
/// Version 1.1, the only one qemu reads.
pub const VERSION_1_1: u32 = 0x0001_0001;
/// Image type of a dynamic image.
pub const TYPE_DYNAMIC: u32 = 1;
/// Image type of a static (preallocated) image.
pub const TYPE_STATIC: u32 = 2;
/// The block size, the only one qemu reads or writes.
pub const BLOCK_SIZE: u64 = 1 << 20;
/// Block map entry of a block never allocated.
pub const UNALLOCATED: u32 = 0xffff_ffff;
/// Block map entry of a discarded block (reads as zeros).
pub const DISCARDED: u32 = 0xffff_fffe;
/// Most blocks qemu accepts (`VDI_BLOCKS_IN_IMAGE_MAX`).
pub const MAX_BLOCKS_IN_IMAGE: u32 = 0x3fff_ffff;
/// Largest disk qemu accepts (`VDI_DISK_SIZE_MAX`).
pub const MAX_DISK_SIZE: u64 = MAX_BLOCKS_IN_IMAGE as u64 * BLOCK_SIZE;
/// Largest block map read: 64 MiB, 16 Mi blocks, a 16 TiB disk (qemu's limit, 4 GiB of map,
/// is far beyond the memory budget).
pub const MAX_BMAP_BYTES: u64 = 64 << 20;
/// The header's length.
pub const HEADER_LEN: usize = 512;
/// The sector size the header must name.
pub(super) const SECTOR: u64 = 512;
/// The text qemu writes at the start of the header.
const TEXT: &[u8] = b"<<< QEMU VM Virtual Disk Image >>>\n";

/// The header fields qemu uses, in host order (UUIDs as stored).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// The signature ([`SIGNATURE`]).
    pub signature: u32,
    /// The version ([`VERSION_1_1`]).
    pub version: u32,
    /// Header size (0x180 in qemu's images).
    pub header_size: u32,
    /// [`TYPE_DYNAMIC`] or [`TYPE_STATIC`].
    pub image_type: u32,
    /// Image flags.
    pub image_flags: u32,
    /// Offset of the block map.
    pub offset_bmap: u32,
    /// Offset of the data area.
    pub offset_data: u32,
    /// Sector size (512).
    pub sector_size: u32,
    /// The disk size as stored (qemu rounds it up to 512 when reading).
    pub disk_size: u64,
    /// Block size ([`BLOCK_SIZE`]).
    pub block_size: u32,
    /// Blocks the block map holds.
    pub blocks_in_image: u32,
    /// Blocks allocated in the data area.
    pub blocks_allocated: u32,
    /// This image's UUID (stored little-endian, VirtualBox's order).
    pub uuid_image: [u8; 16],
    /// Last snapshot's UUID.
    pub uuid_last_snap: [u8; 16],
    /// Link UUID (null: qemu refuses others).
    pub uuid_link: [u8; 16],
    /// Parent UUID (null: qemu refuses others).
    pub uuid_parent: [u8; 16],
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

fn uuid(b: &[u8], at: usize) -> [u8; 16] {
    let mut a = [0u8; 16];
    a.copy_from_slice(&b[at..at + 16]);
    a
}

impl Header {
    /// Parses and validates the header in `bytes` (at least [`HEADER_LEN`] bytes), with
    /// qemu's checks in qemu's order, then ours (image type, block map size).
    pub fn parse(bytes: &[u8]) -> Result<Header, VdiError> {
        if bytes.len() < HEADER_LEN {
            return Err(VdiError::TooShort {
                len: bytes.len() as u64,
            });
        }
        let h = Header {
            signature: le32(bytes, 64),
            version: le32(bytes, 68),
            header_size: le32(bytes, 72),
            image_type: le32(bytes, 76),
            image_flags: le32(bytes, 80),
            offset_bmap: le32(bytes, 340),
            offset_data: le32(bytes, 344),
            sector_size: le32(bytes, 360),
            disk_size: le64(bytes, 368),
            block_size: le32(bytes, 376),
            blocks_in_image: le32(bytes, 384),
            blocks_allocated: le32(bytes, 388),
            uuid_image: uuid(bytes, 392),
            uuid_last_snap: uuid(bytes, 408),
            uuid_link: uuid(bytes, 424),
            uuid_parent: uuid(bytes, 440),
        };
        if h.disk_size > MAX_DISK_SIZE {
            return Err(VdiError::DiskTooLarge {
                size: h.disk_size,
                max: MAX_DISK_SIZE,
            });
        }
        if h.signature != SIGNATURE {
            return Err(VdiError::BadSignature { found: h.signature });
        }
        if h.version != VERSION_1_1 {
            return Err(VdiError::Version {
                major: h.version >> 16,
                minor: h.version & 0xffff,
            });
        }
        for (what, offset) in [("block map", h.offset_bmap), ("data", h.offset_data)] {
            if u64::from(offset) % SECTOR != 0 {
                return Err(VdiError::Unaligned { what, offset });
            }
        }
        if u64::from(h.sector_size) != SECTOR {
            return Err(VdiError::SectorSize {
                size: h.sector_size,
            });
        }
        if u64::from(h.block_size) != BLOCK_SIZE {
            return Err(VdiError::BlockSize { size: h.block_size });
        }
        let room = u64::from(h.blocks_in_image) * BLOCK_SIZE;
        if h.size() > room {
            return Err(VdiError::BlockMapTooSmall {
                size: h.size(),
                room,
            });
        }
        if h.uuid_link != [0; 16] {
            return Err(VdiError::HasParent { which: "link" });
        }
        if h.uuid_parent != [0; 16] {
            return Err(VdiError::HasParent { which: "parent" });
        }
        if h.blocks_in_image > MAX_BLOCKS_IN_IMAGE {
            return Err(VdiError::TooManyBlocks {
                blocks: h.blocks_in_image.into(),
                max: MAX_BLOCKS_IN_IMAGE.into(),
            });
        }
        if h.image_type != TYPE_DYNAMIC && h.image_type != TYPE_STATIC {
            return Err(VdiError::ImageType {
                image_type: h.image_type,
            });
        }
        if u64::from(h.blocks_in_image) * 4 > MAX_BMAP_BYTES {
            return Err(VdiError::TooManyBlocks {
                blocks: h.blocks_in_image.into(),
                max: MAX_BMAP_BYTES / 4,
            });
        }
        Ok(h)
    }

    /// The virtual size: the disk size rounded up to 512 bytes, as qemu reads it.
    pub fn size(&self) -> u64 {
        self.disk_size
            .checked_next_multiple_of(SECTOR)
            .unwrap_or(u64::MAX - (SECTOR - 1))
    }

    /// The header as qemu writes it (qemu's text, no description, no geometry).
    pub fn to_bytes(&self) -> [u8; HEADER_LEN] {
        let mut b = [0u8; HEADER_LEN];
        b[..TEXT.len()].copy_from_slice(TEXT);
        let mut put32 = |at: usize, v: u32| b[at..at + 4].copy_from_slice(&v.to_le_bytes());
        put32(64, self.signature);
        put32(68, self.version);
        put32(72, self.header_size);
        put32(76, self.image_type);
        put32(80, self.image_flags);
        put32(340, self.offset_bmap);
        put32(344, self.offset_data);
        put32(360, self.sector_size);
        put32(376, self.block_size);
        put32(384, self.blocks_in_image);
        put32(388, self.blocks_allocated);
        b[368..376].copy_from_slice(&self.disk_size.to_le_bytes());
        b[392..408].copy_from_slice(&self.uuid_image);
        b[408..424].copy_from_slice(&self.uuid_last_snap);
        b[424..440].copy_from_slice(&self.uuid_link);
        b[440..456].copy_from_slice(&self.uuid_parent);
        b
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> Header {
        Header {
            signature: SIGNATURE,
            version: VERSION_1_1,
            header_size: 0x180,
            image_type: TYPE_DYNAMIC,
            image_flags: 0,
            offset_bmap: 512,
            offset_data: 1024,
            sector_size: 512,
            disk_size: 3 << 20,
            block_size: BLOCK_SIZE as u32,
            blocks_in_image: 3,
            blocks_allocated: 0,
            uuid_image: [1; 16],
            uuid_last_snap: [2; 16],
            uuid_link: [0; 16],
            uuid_parent: [0; 16],
        }
    }

    #[test]
    fn header_round_trips() {
        let h = header();
        assert_eq!(Header::parse(&h.to_bytes()).unwrap(), h);
    }

    #[test]
    fn odd_disk_size_rounds_up_to_a_sector() {
        let mut h = header();
        h.disk_size = 1000;
        assert_eq!(Header::parse(&h.to_bytes()).unwrap().size(), 1024);
    }

    #[test]
    fn qemu_order_of_checks() {
        // A bad signature and a bad version: the signature is named first.
        let mut h = header();
        h.signature = 1;
        h.version = 2;
        assert!(matches!(
            Header::parse(&h.to_bytes()),
            Err(VdiError::BadSignature { found: 1 })
        ));
        // The size limit comes before everything.
        h.disk_size = MAX_DISK_SIZE + 1;
        assert!(matches!(
            Header::parse(&h.to_bytes()),
            Err(VdiError::DiskTooLarge { .. })
        ));
    }
}
