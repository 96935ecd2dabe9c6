//! The GUID partition table of a disk image, read through [`DiskImage`] (so from any format
//! strata reads), read-only and bounded.
//!
//! Why not the `gpt` crate: it works on a `Read + Write + Seek` device and reads as many entries
//! as the header claims; here the table is read from a [`DiskImage`] and every field of a
//! hostile header is checked before anything is read or allocated: the header's size, the
//! entry size (a multiple of 128, at most 4 KiB), the entry count (at most [`MAX_ENTRIES`]),
//! and the array's place inside the disk. Both checksums (header and entry array, CRC-32) are
//! verified, as the UEFI specification asks.
//!
//! Entries whose type GUID is all zeros are unused and skipped; the others are returned in
//! table order with their 1-based entry number.

use crate::error::DiskError;
use crate::image::DiskImage;

/// The most entries read (the UEFI minimum is 128; real tables have 128).
pub const MAX_ENTRIES: u32 = 16_384;
/// The largest entry read.
const MAX_ENTRY_SIZE: u32 = 4096;

/// Why a partition table cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum GptError {
    /// The disk is smaller than a protective MBR and a GPT header.
    #[error("the disk is too small to hold a GUID partition table")]
    TooSmall,
    /// LBA 1 does not start with `EFI PART`.
    #[error("no GUID partition table (no \"EFI PART\" signature at LBA 1)")]
    NoTable,
    /// A field of the header is out of bounds.
    #[error("invalid GUID partition table header: {reason}")]
    BadHeader {
        /// Which field, and why.
        reason: String,
    },
    /// A checksum does not match.
    #[error(
        "the GUID partition table's {what} checksum is {found:#010x}, expected {expected:#010x}"
    )]
    Checksum {
        /// `header` or `partition entry array`.
        what: &'static str,
        /// The stored checksum.
        expected: u32,
        /// The computed one.
        found: u32,
    },
    /// The image could not be read.
    #[error(transparent)]
    Read(#[from] DiskError),
}

/// A 16-byte GUID as GPT stores it (the first three fields little-endian).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Guid(pub [u8; 16]);

impl Guid {
    /// Whether every byte is zero (an unused entry's type).
    pub fn is_nil(&self) -> bool {
        self.0 == [0; 16]
    }
}

impl std::fmt::Display for Guid {
    /// The canonical lower-case form (`c12a7328-f81f-11d2-ba4b-00a0c93ec93b`).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let b = &self.0;
        write!(
            f,
            "{:02x}{:02x}{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-",
            b[3], b[2], b[1], b[0], b[5], b[4], b[7], b[6], b[8], b[9]
        )?;
        for x in &b[10..] {
            write!(f, "{x:02x}")?;
        }
        Ok(())
    }
}

/// One used partition entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GptPartition {
    /// Its entry number, from 1.
    pub number: u32,
    /// The partition type.
    pub type_guid: Guid,
    /// The partition's own GUID.
    pub guid: Guid,
    /// First sector.
    pub first_lba: u64,
    /// Last sector (inclusive).
    pub last_lba: u64,
    /// Attribute bits.
    pub attributes: u64,
    /// The name (UTF-16LE up to the first NUL; unpaired surrogates replaced).
    pub name: String,
}

impl GptPartition {
    /// The size in bytes, for `sector`-byte sectors.
    pub fn size(&self, sector: u64) -> u64 {
        self.last_lba
            .saturating_sub(self.first_lba)
            .saturating_add(1)
            .saturating_mul(sector)
    }
}

/// A disk's partition table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GptTable {
    /// The disk's GUID.
    pub disk_guid: Guid,
    /// The sector size it was read with.
    pub sector: u64,
    /// The used entries, in table order.
    pub partitions: Vec<GptPartition>,
}

/// Reads the primary GUID partition table of `image`, with `sector`-byte sectors (512 for
/// disk images).
pub fn read_gpt(image: &dyn DiskImage, sector: u64) -> Result<GptTable, GptError> {
    let size = image.virtual_size();
    if sector < 512 || size < sector.saturating_mul(2) {
        return Err(GptError::TooSmall);
    }
    let mut lba1 = vec![0u8; usize::try_from(sector).map_err(|_| GptError::TooSmall)?];
    image.read_at(&mut lba1, sector)?;
    if &lba1[..8] != b"EFI PART" {
        return Err(GptError::NoTable);
    }
    let u32_at = |b: &[u8], at: usize| u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]);
    let u64_at = |b: &[u8], at: usize| {
        let mut x = [0u8; 8];
        x.copy_from_slice(&b[at..at + 8]);
        u64::from_le_bytes(x)
    };
    let bad = |reason: String| GptError::BadHeader { reason };
    let header_size = u32_at(&lba1, 12);
    if header_size < 92 || u64::from(header_size) > sector {
        return Err(bad(format!(
            "header size {header_size} (expected 92 to {sector})"
        )));
    }
    let stored = u32_at(&lba1, 16);
    let mut header = lba1[..header_size as usize].to_vec();
    header[16..20].fill(0);
    let found = crc32(&header);
    if found != stored {
        return Err(GptError::Checksum {
            what: "header",
            expected: stored,
            found,
        });
    }
    let mut guid = [0u8; 16];
    guid.copy_from_slice(&lba1[56..72]);
    let entries_lba = u64_at(&lba1, 72);
    let count = u32_at(&lba1, 80);
    let entry_size = u32_at(&lba1, 84);
    let entries_crc = u32_at(&lba1, 88);
    if entry_size < 128 || entry_size % 128 != 0 || entry_size > MAX_ENTRY_SIZE {
        return Err(bad(format!(
            "partition entry size {entry_size} (expected a multiple of 128 up to {MAX_ENTRY_SIZE})"
        )));
    }
    if count > MAX_ENTRIES {
        return Err(bad(format!(
            "{count} partition entries (at most {MAX_ENTRIES} are read)"
        )));
    }
    let array_len = u64::from(count) * u64::from(entry_size);
    let array_start = entries_lba.checked_mul(sector).filter(|s| *s >= 2 * sector);
    let Some(array_start) =
        array_start.filter(|s| s.checked_add(array_len).is_some_and(|e| e <= size))
    else {
        return Err(bad(format!(
            "the partition entry array (LBA {entries_lba}, {array_len} bytes) is not inside the disk's {size} bytes"
        )));
    };
    // Bounded above: at most 16384 entries of 4 KiB.
    let mut array = vec![0u8; usize::try_from(array_len).map_err(|_| GptError::TooSmall)?];
    image.read_at(&mut array, array_start)?;
    let found = crc32(&array);
    if found != entries_crc {
        return Err(GptError::Checksum {
            what: "partition entry array",
            expected: entries_crc,
            found,
        });
    }
    let mut partitions = Vec::new();
    for (i, entry) in array.chunks_exact(entry_size as usize).enumerate() {
        let mut type_guid = [0u8; 16];
        type_guid.copy_from_slice(&entry[..16]);
        let type_guid = Guid(type_guid);
        if type_guid.is_nil() {
            continue;
        }
        let mut part_guid = [0u8; 16];
        part_guid.copy_from_slice(&entry[16..32]);
        let units: Vec<u16> = entry[56..128]
            .chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .take_while(|u| *u != 0)
            .collect();
        partitions.push(GptPartition {
            number: u32::try_from(i + 1).unwrap_or(u32::MAX),
            type_guid,
            guid: Guid(part_guid),
            first_lba: u64_at(entry, 32),
            last_lba: u64_at(entry, 40),
            attributes: u64_at(entry, 48),
            name: String::from_utf16_lossy(&units),
        });
    }
    Ok(GptTable {
        disk_guid: Guid(guid),
        sector,
        partitions,
    })
}

/// CRC-32 (IEEE), as GPT's checksums.
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = flate2::Crc::new();
    crc.update(bytes);
    crc.sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::raw::RawImage;

    /// A disk of `sectors` sectors with a GPT of two partitions (sfdisk's layout).
    fn disk(sectors: u64) -> Vec<u8> {
        let mut d = vec![0u8; (sectors * 512) as usize];
        let mut entries = vec![0u8; 128 * 128];
        let efi = [
            0x28, 0x73, 0x2a, 0xc1, 0x1f, 0xf8, 0xd2, 0x11, 0xba, 0x4b, 0x00, 0xa0, 0xc9, 0x3e,
            0xc9, 0x3b,
        ];
        let parts = [
            (efi, 2048u64, 4095u64, "EFI-SYSTEM"),
            ([7u8; 16], 4096, 8191, "boot"),
        ];
        for (i, (t, first, last, name)) in parts.iter().enumerate() {
            let e = &mut entries[i * 128..(i + 1) * 128];
            e[..16].copy_from_slice(t);
            e[16..32].copy_from_slice(&[i as u8 + 1; 16]);
            e[32..40].copy_from_slice(&first.to_le_bytes());
            e[40..48].copy_from_slice(&last.to_le_bytes());
            for (k, u) in name.encode_utf16().enumerate() {
                e[56 + 2 * k..58 + 2 * k].copy_from_slice(&u.to_le_bytes());
            }
        }
        d[1024..1024 + entries.len()].copy_from_slice(&entries);
        let h = &mut d[512..1024];
        h[..8].copy_from_slice(b"EFI PART");
        h[8..12].copy_from_slice(&[0, 0, 1, 0]);
        h[12..16].copy_from_slice(&92u32.to_le_bytes());
        h[56..72].copy_from_slice(&[0xab; 16]);
        h[72..80].copy_from_slice(&2u64.to_le_bytes());
        h[80..84].copy_from_slice(&128u32.to_le_bytes());
        h[84..88].copy_from_slice(&128u32.to_le_bytes());
        h[88..92].copy_from_slice(&crc32(&entries).to_le_bytes());
        let c = crc32(&h[..92]);
        h[16..20].copy_from_slice(&c.to_le_bytes());
        d
    }

    fn read(bytes: Vec<u8>) -> Result<GptTable, GptError> {
        read_gpt(&RawImage::from_bytes(bytes), 512)
    }

    #[test]
    fn a_table_is_read_with_its_used_entries() {
        let t = read(disk(16384)).unwrap();
        assert_eq!(t.partitions.len(), 2);
        let p = &t.partitions[0];
        assert_eq!(
            p.type_guid.to_string(),
            "c12a7328-f81f-11d2-ba4b-00a0c93ec93b"
        );
        assert_eq!((p.number, p.first_lba, p.last_lba), (1, 2048, 4095));
        assert_eq!(p.name, "EFI-SYSTEM");
        assert_eq!(p.size(512), 1 << 20);
        assert_eq!(t.partitions[1].name, "boot");
        assert_eq!(
            t.disk_guid.to_string(),
            "abababab-abab-abab-abab-abababababab"
        );
    }

    #[test]
    fn hostile_headers_are_refused_before_anything_is_read() {
        let mut d = disk(16384);
        d[1024] ^= 1;
        assert!(matches!(
            read(d).unwrap_err(),
            GptError::Checksum {
                what: "partition entry array",
                ..
            }
        ));
        let mut d = disk(16384);
        d[512 + 80..512 + 84].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(
            read(d).unwrap_err(),
            GptError::Checksum { what: "header", .. }
        ));
        // A header whose checksum is right but whose array lies past the end.
        let mut d = disk(16384);
        let h = &mut d[512..1024];
        h[72..80].copy_from_slice(&u64::MAX.to_le_bytes());
        h[16..20].fill(0);
        let c = crc32(&h[..92]);
        h[16..20].copy_from_slice(&c.to_le_bytes());
        let e = read(d).unwrap_err().to_string();
        assert!(e.contains("is not inside the disk"), "{e}");
        assert!(matches!(
            read(vec![0; 4096]).unwrap_err(),
            GptError::NoTable
        ));
        assert!(matches!(
            read(vec![0; 512]).unwrap_err(),
            GptError::TooSmall
        ));
    }
}
