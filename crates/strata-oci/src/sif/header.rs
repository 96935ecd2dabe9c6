//! The SIF global header and descriptor table, as apptainer's `pkg/sif` (`sif.go`,
//! `descriptor.go`) lays them out: little-endian, packed, a 128-byte global header followed
//! (at `descriptors_offset`) by `descriptors_total` descriptors of 585 bytes each.
//!
//! Parsing validates in dependency order: length, magic, version, descriptor count against
//! [`MAX_DESCRIPTORS`] (before anything is allocated), the descriptor table inside the file,
//! then every used descriptor's object inside the file (`checked_add`), and no two used objects
//! overlapping. Only then are descriptors handed out.

use crate::sif::SifError;

/// Length of the global header.
pub const HEADER_LEN: usize = 128;
/// Length of one descriptor on disk (`binary.Size(rawDescriptor{})`).
pub const DESCRIPTOR_LEN: usize = 585;
/// The magic at offset 32, NUL-padded to 10 bytes.
pub const SIF_MAGIC: &[u8; 10] = b"SIF_MAGIC\0";
/// The launch script written at offset 0 (also the first line of an old `.simg`).
pub const LAUNCH_SCRIPT: &[u8] = b"#!/usr/bin/env run-singularity\n";
/// The one SIF specification version there is (`"01"`).
pub const SUPPORTED_VERSION: &str = "01";
/// Most descriptors read. apptainer creates 48 by default (`DescrNumEntries`) and images with
/// more than a few hundred objects are not built by any tool; 4096 keeps the table under
/// 2.4 MiB of memory.
pub const MAX_DESCRIPTORS: u64 = 4096;

/// `DataPartition`: a file system data object.
pub const DATA_PARTITION: i32 = 0x4004;
/// `FsSquash`: a squashfs file system.
pub const FS_SQUASH: i32 = 1;
/// `FsEncryptedSquashfs`.
pub const FS_ENCRYPTED_SQUASHFS: i32 = 5;
/// `PartPrimSys`: the partition holding the primary operating system.
pub const PART_PRIM_SYS: i32 = 2;

const OFF_MAGIC: usize = 32;
const OFF_VERSION: usize = 42;
const OFF_ARCH: usize = 45;
const OFF_DESCR_FREE: usize = 80;

/// The parsed global header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SifHeader {
    /// The specification version (`"01"`).
    pub version: String,
    /// The primary partition's architecture code (`"02"` is amd64).
    pub arch: String,
    /// Descriptors in the table, used or not.
    pub descriptors_total: u64,
    /// Where the table starts.
    pub descriptors_offset: u64,
    /// Where the data section starts.
    pub data_offset: u64,
    /// The data section's length.
    pub data_size: u64,
}

/// One used descriptor, with its object checked to lie inside the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SifDescriptor {
    /// Its position in the table.
    pub index: u64,
    /// `DataType` (`0x4001` deffile ... `0x4004` partition ...).
    pub data_type: i32,
    /// Its ID.
    pub id: u32,
    /// Its group (with the `0xf0000000` mask).
    pub group_id: u32,
    /// The ID or group it is linked to.
    pub linked_id: u32,
    /// Where its object starts in the file.
    pub offset: u64,
    /// Its object's length.
    pub size: u64,
    /// Its name (NUL-trimmed).
    pub name: String,
    /// For a partition: `(fstype, parttype, arch)`.
    pub partition: Option<(i32, i32, String)>,
}

/// A SIF file's header and used descriptors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sif {
    /// The global header.
    pub header: SifHeader,
    /// The used descriptors, in table order.
    pub descriptors: Vec<SifDescriptor>,
}

fn le_i64(b: &[u8], at: usize) -> i64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    i64::from_le_bytes(a)
}

fn le_i32(b: &[u8], at: usize) -> i32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[at..at + 4]);
    i32::from_le_bytes(a)
}

fn le_u32(b: &[u8], at: usize) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(a)
}

fn text(b: &[u8]) -> String {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    String::from_utf8_lossy(&b[..end]).into_owned()
}

fn unsigned(field: &'static str, value: i64) -> Result<u64, SifError> {
    u64::try_from(value).map_err(|_| SifError::NegativeField { field, value })
}

/// Whether `head` starts like a SIF file (magic at offset 32).
pub fn is_sif(head: &[u8]) -> bool {
    head.get(OFF_MAGIC..OFF_MAGIC + 9) == Some(&SIF_MAGIC[..9])
}

impl SifHeader {
    /// Parses the global header from the first [`HEADER_LEN`] bytes of a file `file_len` long.
    pub fn parse(bytes: &[u8], file_len: u64) -> Result<SifHeader, SifError> {
        if bytes.len() < HEADER_LEN {
            return Err(SifError::Truncated {
                len: bytes.len() as u64,
                need: HEADER_LEN as u64,
            });
        }
        if &bytes[OFF_MAGIC..OFF_MAGIC + 10] != SIF_MAGIC {
            return Err(SifError::BadMagic);
        }
        let version = text(&bytes[OFF_VERSION..OFF_VERSION + 3]);
        if version != SUPPORTED_VERSION {
            return Err(SifError::UnsupportedVersion { version });
        }
        let arch = text(&bytes[OFF_ARCH..OFF_ARCH + 3]);
        let f = |i: usize| le_i64(bytes, OFF_DESCR_FREE + 8 * i);
        let descriptors_total = unsigned("descriptors_total", f(1))?;
        let descriptors_offset = unsigned("descriptors_offset", f(2))?;
        let data_offset = unsigned("data_offset", f(4))?;
        let data_size = unsigned("data_size", f(5))?;
        if descriptors_total > MAX_DESCRIPTORS {
            return Err(SifError::TooManyDescriptors {
                count: descriptors_total,
                max: MAX_DESCRIPTORS,
            });
        }
        let table_len = descriptors_total * DESCRIPTOR_LEN as u64;
        if descriptors_offset
            .checked_add(table_len)
            .is_none_or(|end| end > file_len)
        {
            return Err(SifError::DescriptorTableOutOfBounds {
                offset: descriptors_offset,
                len: table_len,
                file_len,
            });
        }
        Ok(SifHeader {
            version,
            arch,
            descriptors_total,
            descriptors_offset,
            data_offset,
            data_size,
        })
    }

    /// The descriptor table's length in bytes (bounded by [`MAX_DESCRIPTORS`]).
    pub fn table_len(&self) -> usize {
        // At most MAX_DESCRIPTORS * 585 bytes, checked by parse.
        usize::try_from(self.descriptors_total).unwrap_or(0) * DESCRIPTOR_LEN
    }
}

impl Sif {
    /// Parses the header (`head`, at least its first [`HEADER_LEN`] bytes) and the descriptor
    /// table (`table`, the [`SifHeader::table_len`] bytes at `descriptors_offset`) of a file
    /// `file_len` bytes long.
    pub fn parse_table(header: SifHeader, table: &[u8], file_len: u64) -> Result<Sif, SifError> {
        if table.len() < header.table_len() {
            return Err(SifError::Truncated {
                len: table.len() as u64,
                need: header.table_len() as u64,
            });
        }
        let mut descriptors = Vec::new();
        for (index, d) in table[..header.table_len()]
            .chunks_exact(DESCRIPTOR_LEN)
            .enumerate()
        {
            if d[4] == 0 {
                continue;
            }
            let index = index as u64;
            let data_type = le_i32(d, 0);
            let id = le_u32(d, 5);
            let offset = unsigned("descriptor offset", le_i64(d, 17))?;
            let size = unsigned("descriptor size", le_i64(d, 25))?;
            if offset.checked_add(size).is_none_or(|end| end > file_len) {
                return Err(SifError::ObjectOutOfBounds {
                    id,
                    offset,
                    size,
                    file_len,
                });
            }
            let extra = &d[201..];
            let partition = (data_type == DATA_PARTITION)
                .then(|| (le_i32(extra, 0), le_i32(extra, 4), text(&extra[8..11])));
            descriptors.push(SifDescriptor {
                index,
                data_type,
                id,
                group_id: le_u32(d, 9),
                linked_id: le_u32(d, 13),
                offset,
                size,
                name: text(&d[73..201]),
                partition,
            });
        }
        let mut spans: Vec<&SifDescriptor> = descriptors.iter().filter(|d| d.size > 0).collect();
        spans.sort_by_key(|d| d.offset);
        for pair in spans.windows(2) {
            if pair[0].offset + pair[0].size > pair[1].offset {
                return Err(SifError::ObjectsOverlap {
                    first: pair[0].id,
                    second: pair[1].id,
                });
            }
        }
        Ok(Sif {
            header,
            descriptors,
        })
    }

    /// Parses a whole SIF file held in memory (for tests and fuzzing).
    pub fn parse(bytes: &[u8]) -> Result<Sif, SifError> {
        let len = bytes.len() as u64;
        let header = SifHeader::parse(bytes, len)?;
        let start = usize::try_from(header.descriptors_offset).unwrap_or(usize::MAX);
        let table = bytes.get(start..).unwrap_or(&[]);
        Sif::parse_table(header, table, len)
    }

    /// The primary system partition (`DataPartition` with `PartPrimSys`), which must be
    /// squashfs, as apptainer's `GetDescriptor(WithPartitionType(PartPrimSys))` finds it.
    pub fn primary_partition(&self) -> Result<&SifDescriptor, SifError> {
        let mut found = self
            .descriptors
            .iter()
            .filter(|d| matches!(d.partition, Some((_, PART_PRIM_SYS, _))));
        let Some(first) = found.next() else {
            return Err(SifError::NoPrimaryPartition);
        };
        if let Some(second) = found.next() {
            return Err(SifError::MultiplePrimaryPartitions {
                first: first.id,
                second: second.id,
            });
        }
        match first.partition {
            Some((FS_SQUASH, _, _)) => Ok(first),
            Some((fs_type, _, _)) => Err(SifError::UnsupportedFilesystem {
                id: first.id,
                fs_type,
            }),
            None => Err(SifError::NoPrimaryPartition),
        }
    }
}
