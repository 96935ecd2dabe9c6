//! `check`: recompute every host cluster's refcount from the metadata that references it (the
//! header, the active and the snapshots' L1 and L2 tables, data and compressed clusters, the
//! snapshot table, the refcount table and blocks, persistent bitmaps) and compare with the
//! stored refcounts, reporting leaks, errors and corruptions as `qemu-img check` counts them.
//!
//! Memory: one `u16` per host cluster of the file (file size / cluster size), reserved with
//! `try_reserve`; references past the end of the file go to a map that grows only with the
//! number of such references.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::error::{DiskError, DiskErrorSource};
use crate::io::ReadAt;
use crate::qcow2::header::{AUTOCLEAR_BITMAPS, Header, OFFSET_MASK};
use crate::qcow2::reader::Qcow2Image;
use crate::qcow2::refcount::{block_entries_bits, get_refcount, max_refcount};
use crate::qcow2::table::{FLAG_COMPRESSED, FLAG_COPIED, decode_entries};

/// Largest bitmap directory read (qemu `QCOW2_MAX_BITMAP_DIRECTORY_SIZE`, 64 MiB).
pub const MAX_BITMAP_DIRECTORY_BYTES: u64 = 1024 * 65535;

/// What `qemu-img check --output=json` prints for a qcow2 image. Counters that qemu-img omits
/// when zero are skipped when zero.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct CheckReport {
    /// The image's file name as given.
    pub filename: String,
    /// Always "qcow2".
    pub format: String,
    /// Checks that could not be carried out (unreadable metadata).
    pub check_errors: u64,
    /// Clusters whose stored refcount is below the references (or that are otherwise broken).
    #[serde(skip_serializing_if = "is_zero")]
    pub corruptions: u64,
    /// Clusters whose stored refcount is above the references.
    #[serde(skip_serializing_if = "is_zero")]
    pub leaks: u64,
    /// End of the last cluster in use, stored or referenced.
    #[serde(skip_serializing_if = "is_zero")]
    pub image_end_offset: u64,
    /// Guest clusters in the virtual size.
    #[serde(skip_serializing_if = "is_zero")]
    pub total_clusters: u64,
    /// Guest clusters with a host cluster in the active L1 (data, compressed, preallocated
    /// zeros).
    #[serde(skip_serializing_if = "is_zero")]
    pub allocated_clusters: u64,
    /// Allocated clusters not following their predecessor in the file, and every compressed
    /// cluster.
    #[serde(skip_serializing_if = "is_zero")]
    pub fragmented_clusters: u64,
    /// Compressed guest clusters.
    #[serde(skip_serializing_if = "is_zero")]
    pub compressed_clusters: u64,
}

fn is_zero(v: &u64) -> bool {
    *v == 0
}

impl CheckReport {
    /// Whether the image is free of errors and leaks.
    pub fn is_clean(&self) -> bool {
        self.check_errors == 0 && self.corruptions == 0 && self.leaks == 0
    }
}

struct Checker<'a> {
    src: &'a dyn ReadAt,
    h: &'a Header,
    file_len: u64,
    nb_clusters: u64,
    counts: Vec<u16>,
    beyond: BTreeMap<u64, u64>,
    max: u64,
    res: CheckReport,
    /// Cached refcount block for stored-refcount lookups: (table index, bytes or None).
    block: Option<(u64, Option<Vec<u8>>)>,
    reftable: Vec<u64>,
}

impl Checker<'_> {
    fn read_zero_filled(&self, buf: &mut [u8], offset: u64) -> Result<(), DiskError> {
        // Reads past the end of the file give zeros, as qemu's block layer does.
        let avail = self.file_len.saturating_sub(offset).min(buf.len() as u64) as usize;
        let (head, tail) = buf.split_at_mut(avail);
        self.src
            .read_exact_at(head, offset)
            .map_err(|e| DiskError::io(format!("read metadata at {offset:#x}"), e))?;
        tail.fill(0);
        Ok(())
    }

    fn inc(&mut self, offset: u64, size: u64) {
        if size == 0 {
            return;
        }
        let bits = self.h.cluster_bits;
        let start = offset >> bits;
        let last = offset.saturating_add(size - 1) >> bits;
        for k in start..=last {
            let current = if k < self.nb_clusters {
                u64::from(self.counts[k as usize])
            } else {
                self.beyond.get(&k).copied().unwrap_or(0)
            };
            if current >= self.max {
                self.res.corruptions += 1;
                continue;
            }
            if k < self.nb_clusters {
                let c = &mut self.counts[k as usize];
                *c = c.saturating_add(1);
            } else {
                self.beyond.insert(k, current + 1);
            }
        }
    }

    fn computed(&self, k: u64) -> u64 {
        if k < self.nb_clusters {
            u64::from(self.counts[k as usize])
        } else {
            self.beyond.get(&k).copied().unwrap_or(0)
        }
    }

    /// The stored refcount of host cluster `k`; `Err` when its refcount block is unaligned.
    fn stored(&mut self, k: u64) -> Result<Result<u64, ()>, DiskError> {
        let per_bits = block_entries_bits(self.h.cluster_bits, self.h.refcount_order);
        let index = k >> per_bits;
        if self.block.as_ref().is_none_or(|(i, _)| *i != index) {
            let entry = self.reftable.get(index as usize).copied().unwrap_or(0);
            let offset = entry & 0xffff_ffff_ffff_fe00;
            let data = if offset == 0 {
                Some(Vec::new())
            } else if !offset.is_multiple_of(self.h.cluster_size()) {
                None
            } else {
                let mut b = vec![0u8; self.h.cluster_size() as usize];
                self.read_zero_filled(&mut b, offset)?;
                Some(b)
            };
            self.block = Some((index, data));
        }
        match &self.block {
            Some((_, Some(b))) if b.is_empty() => Ok(Ok(0)),
            Some((_, Some(b))) => {
                let i = (k & ((1u64 << per_bits) - 1)) as usize;
                Ok(Ok(get_refcount(b, i, self.h.refcount_order)))
            }
            _ => Ok(Err(())),
        }
    }

    fn read_table(&mut self, offset: u64, entries: u64) -> Result<Vec<u64>, DiskError> {
        // Callers bound `entries` (L1 sizes by the header and snapshot checks, L2 tables by
        // the cluster size).
        let mut bytes = vec![0u8; (entries * 8) as usize];
        self.read_zero_filled(&mut bytes, offset)?;
        let mut out = Vec::new();
        decode_entries(&bytes, &mut out);
        Ok(out)
    }

    fn check_l1(&mut self, l1_offset: u64, l1: &[u64], frag: bool) -> Result<(), DiskError> {
        let cs = self.h.cluster_size();
        let ext = self.h.extended_l2();
        let stride = if ext { 2 } else { 1 };
        self.inc(l1_offset, l1.len() as u64 * 8);
        for &entry in l1 {
            if entry == 0 {
                continue;
            }
            let l2_offset = entry & OFFSET_MASK;
            self.inc(l2_offset, cs);
            if !l2_offset.is_multiple_of(cs) {
                self.res.corruptions += 1;
            }
            let l2 = self.read_table(l2_offset, cs / 8)?;
            let mut next_contiguous = 0u64;
            for pair in l2.chunks_exact(stride) {
                let e = pair[0];
                let bitmap = if ext { pair[1] } else { 0 };
                if e & FLAG_COMPRESSED != 0 {
                    if e & FLAG_COPIED != 0 {
                        self.res.corruptions += 1;
                    }
                    if bitmap != 0 {
                        self.res.corruptions += 1;
                    }
                    let d = crate::qcow2::table::CompressedDescriptor::decode(
                        e & !(FLAG_COMPRESSED | FLAG_COPIED),
                        self.h.cluster_bits,
                    );
                    self.inc(d.offset & !511, d.sectors * 512);
                    if frag {
                        self.res.allocated_clusters += 1;
                        self.res.compressed_clusters += 1;
                        self.res.fragmented_clusters += 1;
                    }
                    continue;
                }
                let offset = e & OFFSET_MASK;
                if offset == 0 {
                    continue;
                }
                if ext && (bitmap >> 32) & bitmap != 0 {
                    self.res.corruptions += 1;
                }
                if frag {
                    self.res.allocated_clusters += 1;
                    if next_contiguous != 0 && offset != next_contiguous {
                        self.res.fragmented_clusters += 1;
                    }
                    next_contiguous = offset + cs;
                }
                self.inc(offset, cs);
                if !offset.is_multiple_of(cs) {
                    self.res.corruptions += 1;
                }
            }
        }
        Ok(())
    }

    fn check_bitmaps(&mut self) -> Result<(), DiskError> {
        let Some(b) = self.h.bitmaps else {
            return Ok(());
        };
        if self.h.autoclear_features & AUTOCLEAR_BITMAPS == 0 || b.nb_bitmaps == 0 {
            return Ok(());
        }
        let inside = b
            .directory_offset
            .checked_add(b.directory_size)
            .is_some_and(|e| e <= self.file_len);
        if b.directory_size > MAX_BITMAP_DIRECTORY_BYTES || !inside {
            self.res.corruptions += 1;
            return Ok(());
        }
        self.inc(b.directory_offset, b.directory_size);
        let mut dir = vec![0u8; b.directory_size as usize];
        self.read_zero_filled(&mut dir, b.directory_offset)?;
        let mut pos = 0usize;
        for _ in 0..b.nb_bitmaps {
            let Some(e) = dir.get(pos..pos + 24) else {
                break;
            };
            let be64 = |o: usize| u64::from_be_bytes(e[o..o + 8].try_into().unwrap_or([0; 8]));
            let be32 = |o: usize| u32::from_be_bytes(e[o..o + 4].try_into().unwrap_or([0; 4]));
            let table_offset = be64(0);
            let table_size = u64::from(be32(8));
            let name_size = u16::from_be_bytes([e[18], e[19]]) as usize;
            let extra = be32(20) as usize;
            if table_offset
                .checked_add(table_size * 8)
                .is_none_or(|end| end > self.file_len)
            {
                self.res.corruptions += 1;
                break;
            }
            self.inc(table_offset, table_size * 8);
            let table = self.read_table(table_offset, table_size)?;
            for t in table {
                let off = t & OFFSET_MASK;
                if off != 0 {
                    self.inc(off, self.h.cluster_size());
                }
            }
            pos = (pos + 24 + extra + name_size).next_multiple_of(8);
        }
        Ok(())
    }
}

/// Checks `image`'s refcounts; `filename` is what the report names.
pub fn check(image: &Qcow2Image, filename: &str) -> Result<CheckReport, DiskError> {
    let h = image.header();
    let file_len = image.file_len();
    let cs = h.cluster_size();
    let nb_clusters = file_len.div_ceil(cs);
    let mut counts = Vec::new();
    let n = usize::try_from(nb_clusters).map_err(|_| too_large(nb_clusters))?;
    counts
        .try_reserve_exact(n)
        .map_err(|_| too_large(nb_clusters))?;
    counts.resize(n, 0u16);
    let mut reftable_bytes = vec![0u8; (u64::from(h.refcount_table_clusters) * cs) as usize];
    image
        .source()
        .read_exact_at(&mut reftable_bytes, h.refcount_table_offset)
        .map_err(|e| DiskError::io("read refcount table", e))?;
    let mut reftable = Vec::new();
    decode_entries(&reftable_bytes, &mut reftable);
    let mut c = Checker {
        src: image.source(),
        h,
        file_len,
        nb_clusters,
        counts,
        beyond: BTreeMap::new(),
        max: max_refcount(h.refcount_order).min(u64::from(u16::MAX)),
        res: CheckReport {
            filename: filename.to_owned(),
            format: "qcow2".to_owned(),
            total_clusters: h.size.div_ceil(cs),
            ..CheckReport::default()
        },
        block: None,
        reftable,
    };
    c.inc(0, cs);
    c.check_l1(h.l1_table_offset, image.l1_table(), true)?;
    for sn in image.snapshots() {
        let l1 = c.read_table(sn.l1_table_offset, u64::from(sn.l1_size))?;
        c.check_l1(sn.l1_table_offset, &l1, false)?;
    }
    c.inc(h.snapshots_offset, image.snapshot_table_len());
    c.inc(
        h.refcount_table_offset,
        u64::from(h.refcount_table_clusters) * cs,
    );
    c.check_bitmaps()?;
    // Refcount blocks: aligned, inside the file, referenced exactly once.
    for i in 0..c.reftable.len() {
        let offset = c.reftable[i];
        if !offset.is_multiple_of(cs) {
            c.res.corruptions += 1;
            continue;
        }
        let cluster = offset >> h.cluster_bits;
        if cluster >= nb_clusters {
            c.res.corruptions += 1;
            continue;
        }
        if offset != 0 {
            c.inc(offset, cs);
            if c.computed(cluster) != 1 {
                c.res.corruptions += 1;
            }
        }
    }
    // Compare stored and computed refcounts.
    let mut highest = 0u64;
    let extra: Vec<u64> = c.beyond.keys().copied().collect();
    for k in (0..nb_clusters).chain(extra) {
        let Ok(stored) = c.stored(k)? else {
            c.res.check_errors += 1;
            continue;
        };
        let computed = c.computed(k);
        if stored > 0 || computed > 0 {
            highest = k;
        }
        if stored < computed {
            c.res.corruptions += 1;
        } else if stored > computed {
            c.res.leaks += 1;
        }
    }
    // The copied flag of active L1 and L2 entries must say "refcount is one".
    let stride = if h.extended_l2() { 2 } else { 1 };
    for &entry in image.l1_table() {
        let l2_offset = entry & OFFSET_MASK;
        if l2_offset == 0 {
            continue;
        }
        if let Ok(rc) = c.stored(l2_offset >> h.cluster_bits)?
            && (rc == 1) != (entry & FLAG_COPIED != 0)
        {
            c.res.corruptions += 1;
        }
        let l2 = c.read_table(l2_offset, cs / 8)?;
        for pair in l2.chunks_exact(stride) {
            let e = pair[0];
            let data = e & OFFSET_MASK;
            if e & FLAG_COMPRESSED != 0 || data == 0 {
                continue;
            }
            if let Ok(rc) = c.stored(data >> h.cluster_bits)?
                && (rc == 1) != (e & FLAG_COPIED != 0)
            {
                c.res.corruptions += 1;
            }
        }
    }
    c.res.image_end_offset = (highest + 1) * cs;
    Ok(c.res)
}

fn too_large(nb_clusters: u64) -> DiskError {
    DiskErrorSource::InvalidRequest(format!(
        "{nb_clusters} host clusters are too many to check in memory"
    ))
    .into()
}
