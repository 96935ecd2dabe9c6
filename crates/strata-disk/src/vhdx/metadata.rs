//! The vhdx metadata region: a 64 KiB table (`metadata` signature, up to 2047 entries of
//! GUID, offset, length and flags) and the items the reader needs: file parameters (block
//! size, leave-blocks-allocated, has-parent), virtual disk size, logical and physical sector
//! sizes, and the page 83 identifier. Every one of them must be present, as qemu requires.

use crate::error::DiskError;
use crate::io::ReadAt;
use crate::vhdx::VhdxError;
use crate::vhdx::header::{
    Guid, MAX_ENTRIES, Region, guid, guid_at, guid_string, le16, le32, le64,
};

/// File parameters.
pub const FILE_PARAMETERS: Guid = guid(0xCAA1_6737, 0xFA36, 0x4D43, 0xB3B6_33F0_AA44_E76B);
/// Virtual disk size.
pub const VIRTUAL_DISK_SIZE: Guid = guid(0x2FA5_4224, 0xCD1B, 0x4876, 0xB211_5DBE_D83B_F4B8);
/// Page 83 data (the disk's SCSI identifier).
pub const PAGE83: Guid = guid(0xBECA_12AB, 0xB2E6, 0x4523, 0x93EF_C309_E000_C746);
/// Logical sector size.
pub const LOGICAL_SECTOR_SIZE: Guid = guid(0x8141_BF1D, 0xA96F, 0x4709, 0xBA47_F233_A8FA_AB5F);
/// Physical sector size.
pub const PHYSICAL_SECTOR_SIZE: Guid = guid(0xCDA3_48C7, 0x445D, 0x4471, 0x9CC9_E988_5251_C556);
/// Parent locator (differencing disks).
pub const PARENT_LOCATOR: Guid = guid(0xA8D3_5F2D, 0xB30B, 0x454D, 0xABF7_D3D8_4834_AB0C);

/// Bytes of the metadata table.
pub const TABLE_LEN: usize = 64 << 10;
/// Smallest block size (the spec's and qemu's).
pub const MIN_BLOCK_SIZE: u32 = 1 << 20;
/// Largest block size (the spec's and qemu's).
pub const MAX_BLOCK_SIZE: u32 = 256 << 20;
/// Largest virtual disk size (the spec's 64 TiB).
pub const MAX_VIRTUAL_SIZE: u64 = 64 << 40;

/// The metadata a reader needs, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Metadata {
    /// Bytes per payload block.
    pub block_size: u32,
    /// Blocks stay allocated (fixed disks).
    pub leave_blocks_allocated: bool,
    /// A differencing disk.
    pub has_parent: bool,
    /// The virtual size in bytes.
    pub virtual_disk_size: u64,
    /// 512 or 4096.
    pub logical_sector_size: u32,
    /// 512 or 4096.
    pub physical_sector_size: u32,
    /// The page 83 identifier.
    pub page83: Guid,
}

impl Metadata {
    /// Reads the metadata table and items of `region` from `src`.
    pub fn read(src: &dyn ReadAt, region: &Region) -> Result<Metadata, DiskError> {
        let io = |at: u64| move |e| DiskError::io(format!("read metadata at {at:#x}"), e);
        // The region is at least 1 MiB and inside the file (checked with the region table).
        let mut table = vec![0u8; TABLE_LEN];
        src.read_exact_at(&mut table, region.offset)
            .map_err(io(region.offset))?;
        if &table[0..8] != b"metadata" {
            return Err(VhdxError::Value {
                what: "metadata table signature",
                value: le64(&table, 0),
            }
            .into());
        }
        let count = u32::from(le16(&table, 10));
        if count > MAX_ENTRIES {
            return Err(VhdxError::TooManyEntries {
                what: "metadata table",
                count,
            }
            .into());
        }
        let mut items: [Option<Vec<u8>>; 5] = Default::default();
        let known = [
            (FILE_PARAMETERS, "file parameters", 8u32),
            (VIRTUAL_DISK_SIZE, "virtual disk size", 8),
            (PAGE83, "page 83 data", 16),
            (LOGICAL_SECTOR_SIZE, "logical sector size", 4),
            (PHYSICAL_SECTOR_SIZE, "physical sector size", 4),
        ];
        for i in 0..count as usize {
            let at = 32 + i * 32;
            let id = guid_at(&table, at);
            let offset = le32(&table, at + 16);
            let length = le32(&table, at + 20);
            let flags = le32(&table, at + 24);
            let Some(k) = known.iter().position(|(g, _, _)| *g == id) else {
                if flags & 4 != 0 && id != PARENT_LOCATOR {
                    return Err(VhdxError::UnknownRequired {
                        what: "metadata item",
                        guid: guid_string(&id),
                    }
                    .into());
                }
                continue;
            };
            let (_, what, need) = known[k];
            let end = u64::from(offset) + u64::from(length);
            if length < need || (offset as usize) < TABLE_LEN || end > u64::from(region.length) {
                return Err(VhdxError::MetadataItem {
                    what,
                    offset,
                    length,
                }
                .into());
            }
            let mut bytes = vec![0u8; need as usize];
            let at = region.offset + u64::from(offset);
            src.read_exact_at(&mut bytes, at).map_err(io(at))?;
            if items[k].replace(bytes).is_some() {
                return Err(VhdxError::Entry {
                    what,
                    problem: "duplicated",
                }
                .into());
            }
        }
        let [
            Some(params),
            Some(size),
            Some(page83),
            Some(logical),
            Some(physical),
        ] = items
        else {
            let missing = items
                .iter()
                .zip(known.iter())
                .find(|(i, _)| i.is_none())
                .map_or("metadata item", |(_, k)| k.1);
            return Err(VhdxError::Entry {
                what: missing,
                problem: "missing",
            }
            .into());
        };
        let flags = le32(&params, 4);
        let m = Metadata {
            block_size: le32(&params, 0),
            leave_blocks_allocated: flags & 1 != 0,
            has_parent: flags & 2 != 0,
            virtual_disk_size: le64(&size, 0),
            logical_sector_size: le32(&logical, 0),
            physical_sector_size: le32(&physical, 0),
            page83: guid_at(&page83, 0),
        };
        let bs = m.block_size;
        if !bs.is_power_of_two() || !(MIN_BLOCK_SIZE..=MAX_BLOCK_SIZE).contains(&bs) {
            return Err(VhdxError::Value {
                what: "block size",
                value: u64::from(bs),
            }
            .into());
        }
        for (what, v) in [
            ("logical sector size", m.logical_sector_size),
            ("physical sector size", m.physical_sector_size),
        ] {
            if v != 512 && v != 4096 {
                return Err(VhdxError::Value {
                    what,
                    value: u64::from(v),
                }
                .into());
            }
        }
        if m.virtual_disk_size > MAX_VIRTUAL_SIZE {
            return Err(VhdxError::Value {
                what: "virtual disk size",
                value: m.virtual_disk_size,
            }
            .into());
        }
        if m.has_parent {
            return Err(VhdxError::Differencing.into());
        }
        Ok(m)
    }

    /// Payload blocks per sector bitmap block: 2^23 sectors' bits, over the block size.
    pub fn chunk_ratio(&self) -> u64 {
        (u64::from(self.logical_sector_size) << 23) / u64::from(self.block_size)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunk_ratio_as_the_spec_computes_it() {
        let mut m = Metadata {
            block_size: 32 << 20,
            leave_blocks_allocated: false,
            has_parent: false,
            virtual_disk_size: 0,
            logical_sector_size: 512,
            physical_sector_size: 4096,
            page83: [0; 16],
        };
        assert_eq!(m.chunk_ratio(), 128);
        m.block_size = 1 << 20;
        assert_eq!(m.chunk_ratio(), 4096);
        m.logical_sector_size = 4096;
        m.block_size = 256 << 20;
        assert_eq!(m.chunk_ratio(), 128);
    }
}
