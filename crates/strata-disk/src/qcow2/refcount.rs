//! Refcount tables and blocks for refcount orders 0 to 6 (1- to 64-bit counts): reading a
//! cluster's count, and the encode helpers writers use.

use crate::error::DiskError;
use crate::io::ReadAt;
use crate::qcow2::Qcow2Error;
use crate::qcow2::header::{Header, OFFSET_MASK};

/// Refcount table entry: the refcount block offset bits (9..=63; qemu `REFT_OFFSET_MASK`).
pub const REFTABLE_OFFSET_MASK: u64 = 0xffff_ffff_ffff_fe00;

/// log2 of the number of refcounts in one refcount block.
pub const fn block_entries_bits(cluster_bits: u32, refcount_order: u32) -> u32 {
    cluster_bits + 3 - refcount_order
}

/// The largest refcount representable with `refcount_order`.
pub const fn max_refcount(refcount_order: u32) -> u64 {
    if refcount_order >= 6 {
        u64::MAX
    } else {
        (1u64 << (1u32 << refcount_order)) - 1
    }
}

/// Entry `index` of a refcount block. Widths below 8 bits pack from the least significant bit
/// of each byte; wider ones are big-endian. `block` must hold the entry.
pub fn get_refcount(block: &[u8], index: usize, refcount_order: u32) -> u64 {
    let bits = 1usize << refcount_order;
    if bits < 8 {
        let bit = index * bits;
        let byte = block[bit / 8];
        (u64::from(byte) >> (bit % 8)) & ((1u64 << bits) - 1)
    } else {
        let bytes = bits / 8;
        block[index * bytes..(index + 1) * bytes]
            .iter()
            .fold(0u64, |acc, &b| acc << 8 | u64::from(b))
    }
}

/// Sets entry `index` of a refcount block; false when `value` does not fit the width.
pub fn set_refcount(block: &mut [u8], index: usize, refcount_order: u32, value: u64) -> bool {
    if value > max_refcount(refcount_order) {
        return false;
    }
    let bits = 1usize << refcount_order;
    if bits < 8 {
        let bit = index * bits;
        let mask = ((1u16 << bits) - 1) as u8;
        let shift = bit % 8;
        let byte = &mut block[bit / 8];
        *byte = (*byte & !(mask << shift)) | ((value as u8) << shift);
    } else {
        let bytes = bits / 8;
        let be = value.to_be_bytes();
        block[index * bytes..(index + 1) * bytes].copy_from_slice(&be[8 - bytes..]);
    }
    true
}

/// The refcount table of an image, loaded once, with on-demand reads of refcount blocks.
pub struct Refcounts {
    table: Vec<u64>,
    cluster_bits: u32,
    refcount_order: u32,
    file_len: u64,
}

impl Refcounts {
    /// Loads the refcount table (bounded by the header checks: at most 8 MiB and inside the
    /// file).
    pub fn load(src: &dyn ReadAt, header: &Header, file_len: u64) -> Result<Refcounts, DiskError> {
        let len = u64::from(header.refcount_table_clusters) << header.cluster_bits;
        let mut bytes = vec![0u8; len as usize];
        src.read_exact_at(&mut bytes, header.refcount_table_offset)
            .map_err(|e| {
                DiskError::io(
                    format!("read refcount table at {:#x}", header.refcount_table_offset),
                    e,
                )
            })?;
        let mut table = Vec::new();
        crate::qcow2::table::decode_entries(&bytes, &mut table);
        Ok(Refcounts {
            table,
            cluster_bits: header.cluster_bits,
            refcount_order: header.refcount_order,
            file_len,
        })
    }

    /// The refcount table entries.
    pub fn table(&self) -> &[u64] {
        &self.table
    }

    /// The validated refcount block offset of table entry `index` (`None`: not allocated).
    pub fn block_offset(&self, index: usize) -> Result<Option<u64>, Qcow2Error> {
        let entry = self.table.get(index).copied().unwrap_or(0);
        let offset = entry & REFTABLE_OFFSET_MASK;
        if offset == 0 {
            return Ok(None);
        }
        let cluster = 1u64 << self.cluster_bits;
        let inside = offset
            .checked_add(cluster)
            .is_some_and(|end| end <= self.file_len);
        if !offset.is_multiple_of(cluster)
            || !inside
            || offset & !OFFSET_MASK & !REFTABLE_OFFSET_MASK != 0
        {
            return Err(Qcow2Error::RefcountBlock {
                index: index as u64,
                offset,
            });
        }
        Ok(Some(offset))
    }

    /// Refcounts of every host cluster below `nb_clusters`, read block by block, into `out`
    /// (cleared first). Clusters beyond the table read as 0.
    pub fn read_all(
        &self,
        src: &dyn ReadAt,
        nb_clusters: u64,
        mut on_block_error: impl FnMut(Qcow2Error),
        out: &mut Vec<u64>,
    ) -> Result<(), DiskError> {
        out.clear();
        let per_block_bits = block_entries_bits(self.cluster_bits, self.refcount_order);
        let per_block = 1u64 << per_block_bits;
        let mut block = vec![0u8; 1usize << self.cluster_bits];
        let mut cluster = 0u64;
        while cluster < nb_clusters {
            let index = (cluster >> per_block_bits) as usize;
            let n = per_block.min(nb_clusters - cluster);
            match self.block_offset(index) {
                Ok(Some(offset)) => {
                    src.read_exact_at(&mut block, offset).map_err(|e| {
                        DiskError::io(format!("read refcount block at {offset:#x}"), e)
                    })?;
                    out.extend(
                        (0..n as usize).map(|i| get_refcount(&block, i, self.refcount_order)),
                    );
                }
                Ok(None) => out.extend(std::iter::repeat_n(0, n as usize)),
                Err(e) => {
                    on_block_error(e);
                    out.extend(std::iter::repeat_n(0, n as usize));
                }
            }
            cluster += n;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_order_roundtrips() {
        for order in 0..=6u32 {
            let mut block = vec![0u8; 512];
            let entries = (512 * 8) >> order;
            let max = max_refcount(order);
            for i in 0..entries {
                let v = (i as u64 * 7919) & max;
                assert!(set_refcount(&mut block, i, order, v));
            }
            for i in 0..entries {
                assert_eq!(
                    get_refcount(&block, i, order),
                    (i as u64 * 7919) & max,
                    "order {order}"
                );
            }
            if order < 6 {
                assert!(!set_refcount(&mut block, 0, order, max + 1));
            }
        }
    }

    #[test]
    fn order_zero_is_lsb_first() {
        let block = [0b0000_0010u8];
        assert_eq!(get_refcount(&block, 0, 0), 0);
        assert_eq!(get_refcount(&block, 1, 0), 1);
        let block = [0x12u8, 0x34];
        assert_eq!(get_refcount(&block, 0, 4), 0x1234);
    }
}
