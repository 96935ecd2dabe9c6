//! L1 and L2 table entries: decoding (standard and extended L2 entries with their subcluster
//! bitmaps, compressed cluster descriptors, the zero and copied flags) and encoding for writers.

use crate::qcow2::header::OFFSET_MASK;

/// L1/L2 entry bit 63: the cluster's refcount is exactly one.
pub const FLAG_COPIED: u64 = 1 << 63;
/// L2 entry bit 62: the cluster is compressed.
pub const FLAG_COMPRESSED: u64 = 1 << 62;
/// Standard cluster descriptor bit 0: the cluster reads as zeros (v3, not extended L2).
pub const FLAG_ZERO: u64 = 1;
/// Subclusters per cluster with extended L2 entries.
pub const SUBCLUSTERS: u32 = 32;

/// The L2 table offset an L1 entry names (0: no L2 table).
pub const fn l1_l2_offset(entry: u64) -> u64 {
    entry & OFFSET_MASK
}

/// An L1 entry pointing at the L2 table at `l2_offset`, with the copied flag when its
/// refcount is one.
pub const fn encode_l1(l2_offset: u64, copied: bool) -> u64 {
    (l2_offset & OFFSET_MASK) | if copied { FLAG_COPIED } else { 0 }
}

/// Where a compressed cluster's bytes lie in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CompressedDescriptor {
    /// Host offset of the first compressed byte (not aligned).
    pub offset: u64,
    /// Number of 512-byte sectors spanned, counting the one holding `offset` (1 or more).
    pub sectors: u64,
}

impl CompressedDescriptor {
    /// Bytes from `offset` to the end of the last sector (qemu's `csize`).
    pub fn len(&self) -> u64 {
        self.sectors * 512 - (self.offset & 511)
    }

    /// Always false: a descriptor spans at least one byte.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Decodes the descriptor bits (0..=61) of an L2 entry for clusters of `cluster_bits`.
    pub fn decode(entry: u64, cluster_bits: u32) -> CompressedDescriptor {
        let shift = 62 - (cluster_bits - 8);
        let size_mask = (1u64 << (cluster_bits - 8)) - 1;
        CompressedDescriptor {
            offset: entry & ((1u64 << shift) - 1),
            sectors: ((entry >> shift) & size_mask) + 1,
        }
    }

    /// Encodes an L2 entry for `len` compressed bytes at `offset`, with the compressed flag.
    /// `None` when the offset or length does not fit the descriptor for `cluster_bits`.
    pub fn encode(offset: u64, len: u64, cluster_bits: u32) -> Option<u64> {
        let shift = 62 - (cluster_bits - 8);
        let size_mask = (1u64 << (cluster_bits - 8)) - 1;
        if len == 0 || offset >= (1u64 << shift) {
            return None;
        }
        let last = offset.checked_add(len - 1)?;
        let extra = (last >> 9) - (offset >> 9);
        if extra > size_mask {
            return None;
        }
        Some(FLAG_COMPRESSED | (extra << shift) | offset)
    }
}

/// What a whole L2 entry (standard form) says about its guest cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum L2Entry {
    /// Not allocated here: read from the backing file, or zeros.
    Unallocated,
    /// Reads as zeros; `preallocated` is the host cluster kept for it, if any.
    Zero {
        /// A host cluster reserved for the guest cluster.
        preallocated: Option<u64>,
    },
    /// Stored at `host_offset`.
    Normal {
        /// Host offset of the cluster (should be cluster-aligned).
        host_offset: u64,
        /// The copied flag (refcount exactly one).
        copied: bool,
    },
    /// Stored compressed.
    Compressed(CompressedDescriptor),
}

impl L2Entry {
    /// Decodes the first 64 bits of an L2 entry. `zero_flag_allowed` is false with extended L2
    /// entries, where bit 0 is reserved and the bitmap holds the zero state.
    pub fn decode(entry: u64, cluster_bits: u32, zero_flag_allowed: bool) -> L2Entry {
        if entry & FLAG_COMPRESSED != 0 {
            return L2Entry::Compressed(CompressedDescriptor::decode(
                entry & !(FLAG_COMPRESSED | FLAG_COPIED),
                cluster_bits,
            ));
        }
        let host = entry & OFFSET_MASK;
        if zero_flag_allowed && entry & FLAG_ZERO != 0 {
            return L2Entry::Zero {
                preallocated: (host != 0).then_some(host),
            };
        }
        if host == 0 {
            L2Entry::Unallocated
        } else {
            L2Entry::Normal {
                host_offset: host,
                copied: entry & FLAG_COPIED != 0,
            }
        }
    }

    /// Encodes the entry (compressed descriptors must come from
    /// [`CompressedDescriptor::encode`]; this re-encodes a decoded one).
    pub fn encode(&self, cluster_bits: u32) -> u64 {
        match *self {
            L2Entry::Unallocated => 0,
            L2Entry::Zero { preallocated } => (preallocated.unwrap_or(0) & OFFSET_MASK) | FLAG_ZERO,
            L2Entry::Normal {
                host_offset,
                copied,
            } => encode_l1(host_offset, copied),
            L2Entry::Compressed(d) => {
                let shift = 62 - (cluster_bits - 8);
                FLAG_COMPRESSED | ((d.sectors - 1) << shift) | d.offset
            }
        }
    }
}

/// What one subcluster (or, without extended L2 entries, one cluster) holds; this mirrors
/// qemu's `QCow2SubclusterType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SubclusterType {
    /// Data at a host offset.
    Normal,
    /// A compressed cluster.
    Compressed,
    /// Reads as zeros, no host cluster.
    ZeroPlain,
    /// Reads as zeros, host cluster preallocated.
    ZeroAlloc,
    /// Not allocated, no host cluster.
    UnallocatedPlain,
    /// Not allocated, but a host cluster is reserved (extended L2 only).
    UnallocatedAlloc,
    /// The entry contradicts itself.
    Invalid,
}

/// The type of subcluster `sc` (0..32) of an extended L2 entry `(entry, bitmap)`.
pub fn subcluster_type(entry: u64, bitmap: u64, sc: u32) -> SubclusterType {
    if entry & FLAG_COMPRESSED != 0 {
        return if bitmap != 0 {
            SubclusterType::Invalid
        } else {
            SubclusterType::Compressed
        };
    }
    let alloc = bitmap & 0xffff_ffff;
    let zero = bitmap >> 32;
    if alloc & zero != 0 {
        return SubclusterType::Invalid;
    }
    let host = entry & OFFSET_MASK;
    let bit = 1u64 << sc;
    match (host != 0, zero & bit != 0, alloc & bit != 0) {
        (true, true, _) => SubclusterType::ZeroAlloc,
        (true, false, true) => SubclusterType::Normal,
        (true, false, false) => SubclusterType::UnallocatedAlloc,
        (false, true, _) => SubclusterType::ZeroPlain,
        (false, false, true) => SubclusterType::Invalid,
        (false, false, false) => SubclusterType::UnallocatedPlain,
    }
}

/// The type of a standard (not extended) L2 entry.
pub fn cluster_type(entry: u64) -> SubclusterType {
    if entry & FLAG_COMPRESSED != 0 {
        return SubclusterType::Compressed;
    }
    let host = entry & OFFSET_MASK;
    match (entry & FLAG_ZERO != 0, host != 0) {
        (true, true) => SubclusterType::ZeroAlloc,
        (true, false) => SubclusterType::ZeroPlain,
        (false, true) => SubclusterType::Normal,
        (false, false) => SubclusterType::UnallocatedPlain,
    }
}

/// An extended L2 bitmap with subclusters `alloc` allocated and `zero` reading as zeros (one
/// bit per subcluster, bit x for subcluster x).
pub const fn encode_bitmap(alloc: u32, zero: u32) -> u64 {
    ((zero as u64) << 32) | alloc as u64
}

/// Reads big-endian `u64` entries from `bytes` into `out` (cleared first).
pub fn decode_entries(bytes: &[u8], out: &mut Vec<u64>) {
    out.clear();
    out.extend(bytes.chunks_exact(8).map(|c| {
        let mut a = [0u8; 8];
        a.copy_from_slice(c);
        u64::from_be_bytes(a)
    }));
}

/// Writes `entries` big-endian.
pub fn encode_entries(entries: &[u64]) -> Vec<u8> {
    entries.iter().flat_map(|e| e.to_be_bytes()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compressed_descriptor_roundtrip() {
        for bits in [9u32, 12, 16, 21] {
            let len = 3000.min(1u64 << bits);
            let e = CompressedDescriptor::encode(0x12345, len, bits).unwrap();
            let d = match L2Entry::decode(e, bits, true) {
                L2Entry::Compressed(d) => d,
                other => panic!("{other:?}"),
            };
            assert_eq!(d.offset, 0x12345);
            assert!(d.len() >= len && d.len() < len + 512, "{}", d.len());
            assert_eq!(L2Entry::Compressed(d).encode(bits), e);
        }
    }

    #[test]
    fn standard_entries() {
        assert_eq!(L2Entry::decode(0, 16, true), L2Entry::Unallocated);
        assert_eq!(
            L2Entry::decode(1, 16, true),
            L2Entry::Zero { preallocated: None }
        );
        let e = FLAG_COPIED | 0x50000;
        assert_eq!(
            L2Entry::decode(e, 16, true),
            L2Entry::Normal {
                host_offset: 0x50000,
                copied: true
            }
        );
        assert_eq!(cluster_type(0x50001), SubclusterType::ZeroAlloc);
    }

    #[test]
    fn subclusters() {
        let bm = encode_bitmap(0b0101, 0b1000);
        assert_eq!(subcluster_type(0x50000, bm, 0), SubclusterType::Normal);
        assert_eq!(
            subcluster_type(0x50000, bm, 1),
            SubclusterType::UnallocatedAlloc
        );
        assert_eq!(subcluster_type(0x50000, bm, 3), SubclusterType::ZeroAlloc);
        assert_eq!(subcluster_type(0, bm, 0), SubclusterType::Invalid);
        assert_eq!(
            subcluster_type(0, encode_bitmap(0, 1), 0),
            SubclusterType::ZeroPlain
        );
        assert_eq!(
            subcluster_type(0, encode_bitmap(1, 1), 5),
            SubclusterType::Invalid
        );
        assert_eq!(
            subcluster_type(FLAG_COMPRESSED, 1, 0),
            SubclusterType::Invalid
        );
    }
}
