//! Planning for writers of formats that allocate whole blocks in a block map (vdi, dynamic
//! vpc): which guest blocks the source's block status says hold data, in which file slot each
//! goes (in guest order, so the data is written in parallel through a
//! [`Layout::Blocks`] placement), which of them turned out to
//! hold only zeros, and how to pack the file again without those.
//!
//! A planned block that receives no data (all its granules were zeros) must not stay
//! allocated: [`BlockPlan::compact`] moves the blocks of the last slots into the empty ones,
//! so the slots in use are again `0..n` (qemu's vdi driver allocates the next block at slot
//! `blocks_allocated`, and a gap would make it overwrite data). Each move copies one block,
//! and only the planned blocks that turned out empty cost one: in practice none (the source
//! said they held data).
//!
//! Memory grows with the number of data blocks (16 bytes and a flag each), never with the
//! virtual size.
//!
//! [`PackedPlan`] does the same for the writers whose data clusters are packed in guest order
//! after their metadata ([`Layout::Packed`]: uncompressed qcow2, qed): a planned cluster that
//! turned out to hold only zeros was never written, and [`PackedPlan::compaction`] says, slot
//! by slot in guest order, which clusters are dropped (their table entries become
//! unallocated, as qemu-img leaves zeros), which stay, and which move from the end of the
//! file into a dropped one's place, so that the file ends after its last data cluster.
//! Memory: one bit per planned cluster.
//!
//! Also what those writers share besides the plan: [`move_block`] (the copy compaction makes)
//! and [`random_uuid`] (their images' UUIDs).

use std::sync::Arc;

use super::output::{Output, write_new};
use super::target::{Layout, SourceMap};
use crate::error::DiskError;
use crate::zero::ZERO_BLOCK;

/// Two block or slot numbers: `(guest block, slot)` or `(from slot, to slot)`.
pub(crate) type Pair = (u64, u64);

/// The data blocks of a planned image and which of them received data.
#[derive(Debug, Default)]
pub(crate) struct BlockPlan {
    block_size: u64,
    /// Guest block indices with data in the source, ascending; block `planned[i]` goes to
    /// slot `i`.
    planned: Vec<u64>,
    /// Whether any data was written into the block of the same index in `planned`.
    written: Vec<bool>,
}

impl BlockPlan {
    /// The blocks of `block_size` bytes that hold data in `map` (walked once). `block_size`
    /// must be a multiple of the map's granularity.
    pub(crate) fn new(map: &SourceMap<'_>, block_size: u64) -> Result<Self, DiskError> {
        let mut planned: Vec<u64> = Vec::new();
        for range in map.ranges(0, map.virtual_size()) {
            let (start, end) = range?;
            let first = start / block_size;
            let last = (end - 1) / block_size;
            let from = match planned.last() {
                Some(&b) if b >= first => b + 1,
                _ => first,
            };
            for b in from..=last {
                planned
                    .try_reserve(1)
                    .map_err(|_| DiskError::invalid_request("too many data blocks to plan"))?;
                planned.push(b);
            }
        }
        let written = vec![false; planned.len()];
        Ok(BlockPlan {
            block_size,
            planned,
            written,
        })
    }

    /// The number of planned blocks (slots `0..len`).
    pub(crate) fn len(&self) -> u64 {
        self.planned.len() as u64
    }

    /// The placement layout: the data of guest block `b` in slot `i` at `host(i, b)`.
    pub(crate) fn layout(&self, host: impl Fn(u64, u64) -> u64) -> Layout {
        let blocks: Arc<[(u64, u64)]> = self
            .planned
            .iter()
            .enumerate()
            .map(|(i, &b)| (b, host(i as u64, b)))
            .collect();
        Layout::Blocks {
            block_size: self.block_size,
            blocks,
        }
    }

    /// The slot of guest block `block`, if planned.
    pub(crate) fn slot(&self, block: u64) -> Option<u64> {
        self.planned.binary_search(&block).ok().map(|i| i as u64)
    }

    /// Records that `len` data bytes were written at guest `offset`; returns the slots that
    /// received their first data (in order), or `None` if a byte falls in no planned block.
    pub(crate) fn mark(&mut self, offset: u64, len: u64) -> Option<Vec<u64>> {
        let mut first = Vec::new();
        if len == 0 {
            return Some(first);
        }
        let end = offset.checked_add(len)?;
        for b in offset / self.block_size..=(end - 1) / self.block_size {
            let i = self.planned.binary_search(&b).ok()?;
            if !self.written[i] {
                self.written[i] = true;
                first.push(i as u64);
            }
        }
        Some(first)
    }

    /// Packs the blocks that received data into slots `0..n`: returns, per block with data
    /// in guest order, `(guest block, final slot)`, and the moves `(from slot, to slot)` that
    /// make it so (each to a slot that received no data).
    pub(crate) fn compact(&self) -> (Vec<Pair>, Vec<Pair>) {
        let n = self.written.iter().filter(|&&w| w).count();
        let mut empty = self.written[..n]
            .iter()
            .enumerate()
            .filter(|(_, w)| !**w)
            .map(|(i, _)| i as u64);
        let mut finals = Vec::with_capacity(n);
        let mut moves = Vec::new();
        for (i, (&block, &w)) in self.planned.iter().zip(&self.written).enumerate() {
            if !w {
                continue;
            }
            let slot = if i < n {
                i as u64
            } else {
                // As many empty slots below n as data blocks at or above it.
                let to = empty.next().unwrap_or(i as u64);
                moves.push((i as u64, to));
                to
            };
            finals.push((block, slot));
        }
        (finals, moves)
    }
}

/// The data clusters of a [`Layout::Packed`] layout: slot `i` is the `i`-th planned cluster
/// in guest order, at file offset `base + i × cluster`; which of them received data.
#[derive(Debug, Default)]
pub(crate) struct PackedPlan {
    base: u64,
    cluster: u64,
    slots: u64,
    /// One bit per slot: set when data was written there.
    written: Vec<u64>,
    data: u64,
}

/// What compaction does with one planned slot (see [`PackedPlan::compaction`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fate {
    /// Never written (zeros): the cluster is dropped, its table entry becomes unallocated.
    Dropped,
    /// Written, and stays at its file offset.
    Stays,
    /// Written past the compacted end: moves to the file offset given (a dropped slot's).
    MovesTo(u64),
}

impl PackedPlan {
    /// `slots` planned clusters of `cluster` bytes from file offset `base`.
    pub(crate) fn new(base: u64, cluster: u64, slots: u64) -> Result<Self, DiskError> {
        let words = usize::try_from(slots.div_ceil(64))
            .map_err(|_| DiskError::invalid_request("too many data clusters to plan"))?;
        let mut written = Vec::new();
        written
            .try_reserve_exact(words)
            .map_err(|_| DiskError::invalid_request("too many data clusters to plan"))?;
        written.resize(words, 0);
        Ok(PackedPlan {
            base,
            cluster,
            slots,
            written,
            data: 0,
        })
    }

    fn is_written(&self, slot: u64) -> bool {
        self.written[(slot / 64) as usize] & (1 << (slot % 64)) != 0
    }

    /// Records that `len` data bytes were written at file offset `host`; `false` if they fall
    /// outside the planned slots.
    pub(crate) fn mark(&mut self, host: u64, len: u64) -> bool {
        let Some(rel) = host.checked_sub(self.base) else {
            return false;
        };
        if len == 0 {
            return true;
        }
        let (first, last) = (rel / self.cluster, (rel + len - 1) / self.cluster);
        if last >= self.slots {
            return false;
        }
        for slot in first..=last {
            if !self.is_written(slot) {
                self.written[(slot / 64) as usize] |= 1 << (slot % 64);
                self.data += 1;
            }
        }
        true
    }

    /// Whether every planned slot received data (nothing to compact).
    pub(crate) fn is_full(&self) -> bool {
        self.data == self.slots
    }

    /// The file offset just past the last data cluster once compacted.
    pub(crate) fn compacted_end(&self) -> u64 {
        self.base + self.data * self.cluster
    }

    /// The slot of file offset `host`, if it is a planned slot's first byte.
    pub(crate) fn slot_of(&self, host: u64) -> Option<u64> {
        let rel = host.checked_sub(self.base)?;
        (rel.is_multiple_of(self.cluster) && rel / self.cluster < self.slots)
            .then_some(rel / self.cluster)
    }

    /// Compaction, to be asked the [`Fate`] of every slot in increasing order: the `n` data
    /// clusters end up in slots `0..n`, the ones at or past `n` filling the dropped slots below
    /// it in order.
    pub(crate) fn compaction(&self) -> Compaction<'_> {
        Compaction {
            plan: self,
            hole: 0,
        }
    }
}

/// See [`PackedPlan::compaction`].
#[derive(Debug)]
pub(crate) struct Compaction<'p> {
    plan: &'p PackedPlan,
    /// The dropped slots below this one have been handed out.
    hole: u64,
}

impl Compaction<'_> {
    /// What happens to `slot` (slots must be asked for in increasing order).
    pub(crate) fn fate(&mut self, slot: u64) -> Fate {
        let p = self.plan;
        if !p.is_written(slot) {
            return Fate::Dropped;
        }
        if slot < p.data {
            return Fate::Stays;
        }
        // As many dropped slots below `data` as written ones at or past it: one is left.
        while self.hole < p.data && p.is_written(self.hole) {
            self.hole += 1;
        }
        let to = self.hole;
        self.hole += 1;
        Fate::MovesTo(p.base + to * p.cluster)
    }
}

/// Reads back `buf.len()` bytes at file offset `at` of what was written to `out`.
pub(crate) fn read_back(out: &dyn Output, buf: &mut [u8], at: u64) -> Result<(), DiskError> {
    use std::os::unix::fs::FileExt;
    out.file()
        .read_exact_at(buf, at)
        .map_err(|e| DiskError::io(format!("read back {} bytes at {at}", buf.len()), e))
        .map_err(|e| e.with_path(out.path()))
}

/// Writes `new`, the new content of the table at file offset `at` of `out` whose content was
/// `old`, one aligned 4 KiB block at a time and only the blocks that differ: blocks of zeros
/// left as holes when the table was first written stay holes when it is rewritten.
pub(crate) fn rewrite(
    out: &mut dyn Output,
    old: &[u8],
    new: &[u8],
    at: u64,
) -> Result<(), DiskError> {
    let mut start = 0;
    while start < new.len() {
        let end = (start + ZERO_BLOCK - (at + start as u64) as usize % ZERO_BLOCK).min(new.len());
        if old.get(start..end) != Some(&new[start..end]) {
            out.write_at(&new[start..end], at + start as u64)?;
        }
        start = end;
    }
    Ok(())
}

/// Copies `len` bytes at file offset `from` of `out` to `to`, a hole that was never
/// written, leaving out the blocks of zeros ([`write_new`]).
pub(crate) fn move_block(
    out: &mut dyn Output,
    from: u64,
    to: u64,
    len: u64,
) -> Result<(), DiskError> {
    let mut buf = vec![0u8; usize::try_from(len).unwrap_or(0)];
    read_back(out, &mut buf, from)?;
    write_new(out, &buf, to)
}

/// A random (version 4) UUID in its RFC 4122 byte order, from the operating system's random
/// source (falling back to a hash of the time and process id if it cannot be read: a UUID
/// identifies, it protects nothing).
pub(crate) fn random_uuid() -> [u8; 16] {
    use std::io::Read;
    let mut u = [0u8; 16];
    let read = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut u));
    if read.is_err() {
        use sha2::Digest;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let mut h = sha2::Sha256::new();
        h.update(now.to_le_bytes());
        h.update(std::process::id().to_le_bytes());
        u.copy_from_slice(&h.finalize()[..16]);
    }
    u[6] = (u[6] & 0x0f) | 0x40;
    u[8] = (u[8] & 0x3f) | 0x80;
    u
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(blocks: &[u64]) -> BlockPlan {
        BlockPlan {
            block_size: 100,
            planned: blocks.to_vec(),
            written: vec![false; blocks.len()],
        }
    }

    #[test]
    fn mark_reports_first_writes_and_unplanned_blocks() {
        let mut p = plan(&[1, 2, 5]);
        assert_eq!(p.mark(150, 100), Some(vec![0, 1]));
        assert_eq!(p.mark(190, 5), Some(vec![]));
        assert_eq!(p.mark(350, 10), None);
        assert_eq!(p.slot(5), Some(2));
        assert_eq!(p.slot(3), None);
    }

    #[test]
    fn packed_compaction_drops_zeros_and_fills_their_slots_from_the_end() {
        // Slots 0..6 of 10 bytes from 100; slots 1 and 3 stayed zeros.
        let mut p = PackedPlan::new(100, 10, 6).unwrap();
        assert!(p.mark(100, 10));
        assert!(p.mark(120, 10));
        assert!(p.mark(140, 20));
        assert!(!p.mark(150, 20), "past the last slot");
        assert!(!p.mark(90, 10), "before the first slot");
        assert!(!p.is_full());
        assert_eq!(p.compacted_end(), 140);
        assert_eq!(p.slot_of(150), Some(5));
        assert_eq!(p.slot_of(155), None);
        let mut c = p.compaction();
        let fates: Vec<Fate> = (0..6).map(|s| c.fate(s)).collect();
        assert_eq!(
            fates,
            [
                Fate::Stays,
                Fate::Dropped,
                Fate::Stays,
                Fate::Dropped,
                Fate::MovesTo(110),
                Fate::MovesTo(130),
            ]
        );
        let mut full = PackedPlan::new(0, 10, 2).unwrap();
        full.mark(0, 20);
        assert!(full.is_full());
    }

    #[test]
    fn compact_fills_empty_slots_from_the_end() {
        let mut p = plan(&[0, 3, 4, 8, 9]);
        // Blocks 3 (slot 1) and 8 (slot 3) stay empty.
        p.mark(0, 1);
        p.mark(400, 1);
        p.mark(900, 1);
        let (finals, moves) = p.compact();
        assert_eq!(finals, vec![(0, 0), (4, 2), (9, 1)]);
        assert_eq!(moves, vec![(4, 1)]);
        // Nothing empty: nothing moves.
        let mut p = plan(&[2, 7]);
        p.mark(200, 1);
        p.mark(700, 100);
        assert_eq!(p.compact(), (vec![(2, 0), (7, 1)], vec![]));
    }
}
