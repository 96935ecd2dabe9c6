//! The fixed part of a vhdx file: the file identifier, the two headers (the current one is the
//! valid one with the higher sequence number) and the region table, with their CRC32C checks,
//! plus the GUIDs and little-endian helpers the other structures use.

use crate::vhdx::VhdxError;

/// The file identifier's signature, at offset 0.
pub const FILE_SIGNATURE: &[u8; 8] = b"vhdxfile";
/// Offsets of the two headers.
pub const HEADER_OFFSETS: [u64; 2] = [64 << 10, 128 << 10];
/// Bytes of a header.
pub const HEADER_LEN: usize = 4 << 10;
/// Offset of the (first) region table.
pub const REGION_TABLE_OFFSET: u64 = 192 << 10;
/// Bytes of a region table.
pub const REGION_TABLE_LEN: usize = 64 << 10;
/// The end of the fixed structures (identifier, headers, both region tables): regions start at
/// or after 1 MiB, the spec's alignment.
pub const FIXED_END: u64 = 1 << 20;
/// Regions are aligned to, and sized in, whole MiB.
pub const REGION_ALIGN: u64 = 1 << 20;
/// Most entries in a region or metadata table (the spec's limit).
pub const MAX_ENTRIES: u32 = 2047;

/// A GUID as stored on disk (the first three fields little-endian).
pub type Guid = [u8; 16];

/// The on-disk bytes of the GUID `d1-d2-d3-d4`.
pub const fn guid(d1: u32, d2: u16, d3: u16, d4: u64) -> Guid {
    let a = d1.to_le_bytes();
    let b = d2.to_le_bytes();
    let c = d3.to_le_bytes();
    let d = d4.to_be_bytes();
    [
        a[0], a[1], a[2], a[3], b[0], b[1], c[0], c[1], d[0], d[1], d[2], d[3], d[4], d[5], d[6],
        d[7],
    ]
}

/// The textual form of an on-disk GUID.
pub fn guid_string(g: &Guid) -> String {
    format!(
        "{:08x}-{:04x}-{:04x}-{}-{}",
        u32::from_le_bytes([g[0], g[1], g[2], g[3]]),
        u16::from_le_bytes([g[4], g[5]]),
        u16::from_le_bytes([g[6], g[7]]),
        hex::encode(&g[8..10]),
        hex::encode(&g[10..16])
    )
}

/// The BAT region.
pub const BAT_GUID: Guid = guid(0x2DC2_7766, 0xF623, 0x4200, 0x9D64_115E_9BFD_4A08);
/// The metadata region.
pub const METADATA_GUID: Guid = guid(0x8B7C_A206, 0x4790, 0x4B9A, 0xB8FE_575F_050F_886E);

pub(crate) fn le16(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

pub(crate) fn le32(b: &[u8], at: usize) -> u32 {
    let mut v = [0u8; 4];
    v.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(v)
}

pub(crate) fn le64(b: &[u8], at: usize) -> u64 {
    let mut v = [0u8; 8];
    v.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(v)
}

pub(crate) fn guid_at(b: &[u8], at: usize) -> Guid {
    let mut g = [0u8; 16];
    g.copy_from_slice(&b[at..at + 16]);
    g
}

/// The CRC32C of `bytes` with the 4-byte checksum field at `at` taken as zero.
pub fn checksum(bytes: &[u8], at: usize) -> u32 {
    let crc = crc32c::crc32c(&bytes[..at]);
    let crc = crc32c::crc32c_append(crc, &[0; 4]);
    crc32c::crc32c_append(crc, &bytes[at + 4..])
}

/// Checks the CRC32C stored at offset 4 of `bytes`.
pub fn verify_checksum(bytes: &[u8], what: &'static str) -> Result<(), VhdxError> {
    let stored = le32(bytes, 4);
    let computed = checksum(bytes, 4);
    if stored == computed {
        Ok(())
    } else {
        Err(VhdxError::Checksum {
            what,
            stored,
            computed,
        })
    }
}

/// A valid vhdx header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// Which header (0 or 1) this is.
    pub index: usize,
    /// The sequence number: the higher valid one is current.
    pub sequence_number: u64,
    /// Changes whenever the file is written.
    pub file_write_guid: Guid,
    /// Changes whenever the guest data is written.
    pub data_write_guid: Guid,
    /// Non-zero when the log holds entries to replay.
    pub log_guid: Guid,
    /// The log format version (0).
    pub log_version: u16,
    /// The format version (1).
    pub version: u16,
    /// The log's length in bytes.
    pub log_length: u32,
    /// The log's file offset.
    pub log_offset: u64,
}

impl Header {
    /// Parses header `index` from its 4 KiB: signature `head`, CRC32C, version 1.
    pub fn parse(bytes: &[u8], index: usize) -> Result<Header, VhdxError> {
        if bytes.len() < HEADER_LEN {
            return Err(VhdxError::TooShort {
                len: bytes.len() as u64,
            });
        }
        if &bytes[0..4] != b"head" {
            return Err(VhdxError::Value {
                what: "header signature",
                value: u64::from(le32(bytes, 0)),
            });
        }
        verify_checksum(&bytes[..HEADER_LEN], "header")?;
        let h = Header {
            index,
            sequence_number: le64(bytes, 8),
            file_write_guid: guid_at(bytes, 16),
            data_write_guid: guid_at(bytes, 32),
            log_guid: guid_at(bytes, 48),
            log_version: le16(bytes, 64),
            version: le16(bytes, 66),
            log_length: le32(bytes, 68),
            log_offset: le64(bytes, 72),
        };
        if h.version != 1 {
            return Err(VhdxError::Value {
                what: "header version",
                value: u64::from(h.version),
            });
        }
        Ok(h)
    }

    /// Picks the current header from the two: the valid one with the higher sequence number.
    pub fn current(first: &[u8], second: &[u8]) -> Result<Header, VhdxError> {
        match (Header::parse(first, 0), Header::parse(second, 1)) {
            (Ok(a), Ok(b)) => Ok(if b.sequence_number > a.sequence_number {
                b
            } else {
                a
            }),
            (Ok(a), Err(_)) => Ok(a),
            (Err(_), Ok(b)) => Ok(b),
            (Err(a), Err(b)) => Err(VhdxError::NoValidHeader {
                first: a.to_string(),
                second: b.to_string(),
            }),
        }
    }
}

/// One region table entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Region {
    /// The region's GUID.
    pub guid: Guid,
    /// Its file offset.
    pub offset: u64,
    /// Its length in bytes.
    pub length: u32,
    /// Whether a reader must understand it.
    pub required: bool,
}

/// The BAT and metadata regions of a region table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Regions {
    /// The BAT region.
    pub bat: Region,
    /// The metadata region.
    pub metadata: Region,
}

impl Regions {
    /// Parses the 64 KiB region table of a file of `file_len` bytes: signature `regi`,
    /// CRC32C, at most 2047 entries, each region MiB-aligned and inside the file, no unknown
    /// required region, exactly one BAT and one metadata region.
    pub fn parse(bytes: &[u8], file_len: u64) -> Result<Regions, VhdxError> {
        if bytes.len() < REGION_TABLE_LEN || &bytes[0..4] != b"regi" {
            return Err(VhdxError::RegionSignature);
        }
        verify_checksum(&bytes[..REGION_TABLE_LEN], "region table")?;
        let count = le32(bytes, 8);
        if count > MAX_ENTRIES {
            return Err(VhdxError::TooManyEntries {
                what: "region table",
                count,
            });
        }
        let (mut bat, mut metadata) = (None, None);
        for i in 0..count as usize {
            let at = 16 + i * 32;
            let r = Region {
                guid: guid_at(bytes, at),
                offset: le64(bytes, at + 16),
                length: le32(bytes, at + 24),
                required: le32(bytes, at + 28) & 1 != 0,
            };
            let (what, slot) = if r.guid == BAT_GUID {
                ("BAT", &mut bat)
            } else if r.guid == METADATA_GUID {
                ("metadata", &mut metadata)
            } else if r.required {
                return Err(VhdxError::UnknownRequired {
                    what: "region",
                    guid: guid_string(&r.guid),
                });
            } else {
                continue;
            };
            let len = u64::from(r.length);
            let fits = r.offset.checked_add(len).is_some_and(|end| end <= file_len);
            if !r.offset.is_multiple_of(REGION_ALIGN)
                || !len.is_multiple_of(REGION_ALIGN)
                || len == 0
                || r.offset < FIXED_END
                || !fits
            {
                return Err(VhdxError::Region {
                    what,
                    offset: r.offset,
                    length: len,
                    file_len,
                });
            }
            if slot.replace(r).is_some() {
                return Err(VhdxError::Entry {
                    what,
                    problem: "duplicated",
                });
            }
        }
        let bat = bat.ok_or(VhdxError::Entry {
            what: "BAT region",
            problem: "missing",
        })?;
        let metadata = metadata.ok_or(VhdxError::Entry {
            what: "metadata region",
            problem: "missing",
        })?;
        Ok(Regions { bat, metadata })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guid_text_round_trip() {
        assert_eq!(
            guid_string(&BAT_GUID),
            "2dc27766-f623-4200-9d64-115e9bfd4a08"
        );
    }

    #[test]
    fn crc32c_known_value() {
        // RFC 3720's test vector: 32 bytes of zeros.
        assert_eq!(crc32c::crc32c(&[0u8; 32]), 0x8a91_36aa);
    }
}
