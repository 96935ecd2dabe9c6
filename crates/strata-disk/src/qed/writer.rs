//! [`QedTarget`], the convert engine's qed destination (also [`create`] for an empty image).
//!
//! **Layout (planned, front to back).** Before any data is read, the layout is computed from
//! the source's block status alone: the header cluster (with the backing file name right after
//! the fixed header, where qemu puts it), the L1 table, the L2 tables of the regions that hold
//! data in region order, then every data cluster packed in guest order. Every data cluster's
//! place is thus known before any data is read, so the target hands the engine a
//! [`Placement`] ([`Layout::Packed`]) and the engine's workers write the data in parallel.
//! A planned cluster that turns out to be all zeros is not written, and not kept: `finish`
//! drops it (the packed plan of `convert::plan`), its L2 entry becomes unallocated (reads as
//! zeros, as qemu-img leaves zeros), the data clusters past the compacted end move into the
//! dropped ones' places, and the file ends after its last data cluster (`qemu-img check`
//! counts any unreferenced cluster as a leak). No zero cluster entries (1) are written: unallocated
//! clusters read through the backing file, as qemu-img leaves them.
//!
//! Memory: the L1 table and one L2 table (each at most [`MAX_TABLE_BYTES`]).

use strata_model::DiskFormat;

use crate::convert::output::{Committed, Durability, Output, OutputFile, write_new};
use crate::convert::plan::{Fate, PackedPlan, move_block, read_back, rewrite};
use crate::convert::{ConvertTarget, Finished, Layout, Placement, SourceMap, finish_at};
use crate::error::{DiskError, DiskErrorSource, ErrorKind};
use crate::qed::header::{
    F_BACKING_FILE, F_BACKING_FORMAT_NO_PROBE, HEADER_LEN, Header, MAX_BACKING_NAME,
    MAX_CLUSTER_SIZE, MAX_TABLE_BYTES, MAX_TABLE_SIZE, MIN_CLUSTER_SIZE, max_image_size,
};

/// How to create a qed image (qemu-img's `-o` options for qed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QedCreateOptions {
    /// Virtual size in bytes (rounded up to a multiple of 512).
    pub size: u64,
    /// Cluster size: a power of two from 4 KiB to 64 MiB (qemu's default is 64 KiB).
    pub cluster_size: u32,
    /// Clusters per L1 or L2 table: a power of two from 2 to 16 (qemu's default is 4; qemu
    /// accepts 1 but cannot open the result, so it is refused here).
    pub table_size: u32,
    /// Backing file name (stored as given) and its format, as `qemu-img create -b NAME -F
    /// FMT`: qed records only whether it is raw (`QED_F_BACKING_FORMAT_NO_PROBE`); any other
    /// format is probed when the image is opened.
    pub backing: Option<(String, DiskFormat)>,
}

impl QedCreateOptions {
    /// qemu-img's defaults for an image of `size` bytes: 64 KiB clusters, 4-cluster tables,
    /// no backing file.
    pub fn new(size: u64) -> Self {
        QedCreateOptions {
            size,
            cluster_size: 64 << 10,
            table_size: 4,
            backing: None,
        }
    }
}

/// A qed image that cannot be created as asked.
#[derive(Debug, thiserror::Error)]
pub enum QedWriteError {
    /// A cluster size that is not a power of two from 4 KiB to 64 MiB.
    #[error("QED cluster size {cluster_size} is not a power of two from 4096 to 67108864")]
    ClusterSize {
        /// The size asked for.
        cluster_size: u32,
    },
    /// A table size that is not a power of two from 2 to 16, or makes tables above the limit.
    #[error(
        "QED table size {table_size} is not a power of two from 2 to 16 or exceeds {MAX_TABLE_BYTES} bytes"
    )]
    TableSize {
        /// The size asked for, in clusters.
        table_size: u32,
    },
    /// A virtual size beyond what the tables address.
    #[error("virtual size {size} exceeds the maximum {max} for this cluster and table size")]
    TooLarge {
        /// The size asked for.
        size: u64,
        /// The maximum.
        max: u64,
    },
    /// A backing file name that does not fit in the header cluster.
    #[error("backing file name of {len} bytes does not fit in the header")]
    BackingTooLong {
        /// Length of the name.
        len: usize,
    },
    /// The engine's writes did not match the planned layout (the source changed).
    #[error("writes did not match the planned layout: {detail}")]
    PlanMismatch {
        /// What differed.
        detail: String,
    },
}

impl QedWriteError {
    /// The stable category of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            QedWriteError::PlanMismatch { .. } => ErrorKind::IntegrityMismatch,
            _ => ErrorKind::InvalidRequest,
        }
    }
}

impl From<QedWriteError> for DiskError {
    fn from(e: QedWriteError) -> Self {
        DiskErrorSource::QedWrite(e).into()
    }
}

fn validate(options: &QedCreateOptions) -> Result<(Header, Option<String>), QedWriteError> {
    let cs = options.cluster_size;
    if !cs.is_power_of_two() || !(MIN_CLUSTER_SIZE..=MAX_CLUSTER_SIZE).contains(&cs) {
        return Err(QedWriteError::ClusterSize { cluster_size: cs });
    }
    let ts = options.table_size;
    if !ts.is_power_of_two()
        || !(2..=MAX_TABLE_SIZE).contains(&ts)
        || u64::from(ts) * u64::from(cs) > MAX_TABLE_BYTES
    {
        return Err(QedWriteError::TableSize { table_size: ts });
    }
    let max = max_image_size(cs, ts);
    let size = options
        .size
        .checked_next_multiple_of(512)
        .filter(|s| *s <= max)
        .ok_or(QedWriteError::TooLarge {
            size: options.size,
            max,
        })?;
    let mut h = Header {
        cluster_size: cs,
        table_size: ts,
        header_size: 1,
        features: 0,
        compat_features: 0,
        autoclear_features: 0,
        l1_table_offset: u64::from(cs),
        image_size: size,
        backing_filename_offset: 0,
        backing_filename_size: 0,
    };
    let mut name = None;
    if let Some((backing, format)) = &options.backing {
        let len = backing.len();
        if len > MAX_BACKING_NAME as usize || HEADER_LEN + len > cs as usize {
            return Err(QedWriteError::BackingTooLong { len });
        }
        h.features |= F_BACKING_FILE;
        if *format == DiskFormat::Raw {
            h.features |= F_BACKING_FORMAT_NO_PROBE;
        }
        h.backing_filename_offset = HEADER_LEN as u32;
        h.backing_filename_size = len as u32;
        name = Some(backing.clone());
    }
    Ok((h, name))
}

/// Writes an empty qed image into `out`, laid out as qemu-img lays out a new image: header
/// cluster, then the L1 table. The caller commits `out`.
pub fn create(out: &mut dyn Output, options: &QedCreateOptions) -> Result<Finished, DiskError> {
    let mut target = QedTarget::create(out, options)?;
    target.plan(&SourceMap::empty(
        options.size,
        u64::from(options.cluster_size),
    ))?;
    Box::new(target).finish()
}

/// [`create`] into a new file at `path`, made durable and renamed into place.
pub fn create_file(
    path: &std::path::Path,
    options: &QedCreateOptions,
) -> Result<Committed, DiskError> {
    let mut out = OutputFile::create(path, Durability::Durable)?;
    create(&mut out, options)?;
    out.commit()
}

/// The convert engine's qed destination; see the module documentation for the layout.
#[derive(Debug)]
pub struct QedTarget<'o> {
    out: &'o mut dyn Output,
    header: Header,
    backing_name: Option<String>,
    /// Where the next data cluster goes, the end of the planned file, and whether planned.
    next_host: u64,
    end_host: u64,
    planned: bool,
    /// Which planned data clusters received data.
    packed: PackedPlan,
}

impl<'o> QedTarget<'o> {
    /// Starts writing a qed image into `out`.
    pub fn create(out: &'o mut dyn Output, options: &QedCreateOptions) -> Result<Self, DiskError> {
        let path = out.path().to_path_buf();
        let path = path.as_path();
        let (header, backing_name) =
            validate(options).map_err(|e| DiskError::from(e).with_path(path))?;
        Ok(QedTarget {
            out,
            header,
            backing_name,
            next_host: 0,
            end_host: 0,
            planned: false,
            packed: PackedPlan::default(),
        })
    }

    fn err(&self, e: QedWriteError) -> DiskError {
        DiskError::from(e).with_path(self.out.path())
    }

    /// Records that `len` data bytes went to file offset `host` of the planned data.
    fn mark(&mut self, host: u64, len: u64) -> Result<(), DiskError> {
        if !self.packed.mark(host, len) {
            let detail = format!("{len} data bytes at {host} outside the planned data");
            return Err(self.err(QedWriteError::PlanMismatch { detail }));
        }
        Ok(())
    }

    /// Drops the planned data clusters that received no data (see the module overview):
    /// walks the L2 tables in guest order, which is slot order, unallocates the entries of
    /// dropped clusters and moves the clusters past the compacted end into their places;
    /// returns the file's new length.
    fn compact(&mut self) -> Result<u64, DiskError> {
        let cs = u64::from(self.header.cluster_size);
        let tb = self.header.table_bytes();
        let out = &mut *self.out;
        let mismatch = |detail: String| DiskError::from(QedWriteError::PlanMismatch { detail });
        // Tables are at most MAX_TABLE_BYTES (validated).
        let mut l1 = vec![0u8; tb as usize];
        read_back(out, &mut l1, self.header.l1_table_offset)?;
        let mut compaction = self.packed.compaction();
        let mut old = vec![0u8; tb as usize];
        let mut l2 = vec![0u8; tb as usize];
        for l1_entry in l1.chunks_exact(8) {
            let l2_off = u64::from_le_bytes(l1_entry.try_into().unwrap_or_default());
            if l2_off == 0 {
                continue;
            }
            read_back(out, &mut old, l2_off)?;
            l2.copy_from_slice(&old);
            for entry in l2.chunks_exact_mut(8) {
                let host = u64::from_le_bytes((&*entry).try_into().unwrap_or_default());
                if host == 0 {
                    continue;
                }
                let slot = self.packed.slot_of(host).ok_or_else(|| {
                    mismatch(format!("L2 entry {host:#x} names no planned cluster"))
                })?;
                let new = match compaction.fate(slot) {
                    Fate::Stays => continue,
                    Fate::Dropped => 0,
                    Fate::MovesTo(to) => {
                        move_block(out, host, to, cs)?;
                        to
                    }
                };
                entry.copy_from_slice(&new.to_le_bytes());
            }
            rewrite(out, &old, &l2, l2_off)?;
        }
        Ok(self.packed.compacted_end())
    }

    fn advance(&mut self, len: u64) -> Result<u64, DiskError> {
        let cs = u64::from(self.header.cluster_size);
        let host = self.next_host;
        self.next_host += len.div_ceil(cs) * cs;
        if self.next_host > self.end_host {
            let detail = format!("data past the planned end {}", self.end_host);
            return Err(self.err(QedWriteError::PlanMismatch { detail }));
        }
        Ok(host)
    }
}

impl ConvertTarget for QedTarget<'_> {
    fn format_name(&self) -> &'static str {
        "qed"
    }

    fn virtual_size(&self) -> u64 {
        self.header.image_size
    }

    fn granularity(&self) -> u64 {
        u64::from(self.header.cluster_size)
    }

    fn plan(&mut self, map: &SourceMap<'_>) -> Result<(), DiskError> {
        // The tables are filled in last, before the data.
        self.out.expect_rewrites();
        let h = self.header.clone();
        let cs = u64::from(h.cluster_size);
        let tb = h.table_bytes();
        let span = h.l2_span();
        let regions = h.image_size.div_ceil(span);
        // Pass 1: which regions hold data, and how many data clusters in all (block status
        // only: a region without data costs one map call).
        let mut l1 = vec![0u64; h.table_entries() as usize];
        let mut with_data = Vec::new();
        let mut data_clusters = 0u64;
        for r in 0..regions {
            let start = r * span;
            let n = map.count_units(start, start + span, cs)?;
            if n > 0 {
                with_data.push((r, n));
                data_clusters += n;
            }
        }
        let l2_off = cs + tb;
        let data_off = l2_off + with_data.len() as u64 * tb;
        let end = data_off + data_clusters * cs;
        let mut header = h.to_bytes().to_vec();
        if let Some(name) = &self.backing_name {
            header.extend_from_slice(name.as_bytes());
        }
        header.resize(cs as usize, 0);
        // Metadata goes into a new file: its zeros are left as holes, as qemu leaves them.
        write_new(&mut *self.out, &header, 0)?;
        for (i, (r, _)) in with_data.iter().enumerate() {
            l1[*r as usize] = l2_off + i as u64 * tb;
        }
        let l1_bytes: Vec<u8> = l1.iter().flat_map(|e| e.to_le_bytes()).collect();
        write_new(&mut *self.out, &l1_bytes, cs)?;
        drop(l1_bytes);
        // L2 tables: data clusters in guest order from `data_off`.
        let mut next_data = data_off;
        let mut l2 = vec![0u8; tb as usize];
        for (i, (r, _)) in with_data.iter().enumerate() {
            l2.fill(0);
            let start = r * span;
            for range in map.ranges(start, start + span) {
                let (a, b) = range?;
                let mut c = a;
                while c < b.min(start + span) {
                    let idx = ((c - start) / cs) as usize;
                    l2[idx * 8..idx * 8 + 8].copy_from_slice(&next_data.to_le_bytes());
                    next_data += cs;
                    c += cs;
                }
            }
            write_new(&mut *self.out, &l2, l2_off + i as u64 * tb)?;
        }
        if next_data != end {
            let detail = format!(
                "{data_clusters} data clusters planned, {} mapped",
                (next_data - data_off) / cs
            );
            return Err(self.err(QedWriteError::PlanMismatch { detail }));
        }
        self.next_host = data_off;
        self.end_host = end;
        self.packed = PackedPlan::new(data_off, cs, data_clusters)
            .map_err(|e| e.with_path(self.out.path()))?;
        self.planned = true;
        Ok(())
    }

    fn placement(&mut self) -> Result<Option<Placement>, DiskError> {
        if !self.planned {
            return Ok(None);
        }
        Ok(Some(Placement {
            file: self.out.handle()?,
            path: self.out.path().to_path_buf(),
            layout: Layout::Packed {
                base: self.next_host,
            },
            end: self.end_host,
        }))
    }

    fn record(&mut self, _offset: u64, host: u64, data: &[u8]) -> Result<(), DiskError> {
        let expected = self.advance(data.len() as u64)?;
        if host != expected {
            let detail = format!("data written at {host}, planned at {expected}");
            return Err(self.err(QedWriteError::PlanMismatch { detail }));
        }
        self.mark(host, data.len() as u64)?;
        self.out.record(data, host);
        Ok(())
    }

    fn write(&mut self, _offset: u64, data: &[u8]) -> Result<(), DiskError> {
        let host = self.advance(data.len() as u64)?;
        self.mark(host, data.len() as u64)?;
        self.out.write_at(data, host)
    }

    fn write_zeroes(&mut self, _offset: u64, len: u64) -> Result<(), DiskError> {
        // The planned cluster is not written; `finish` drops it.
        self.advance(len).map(|_| ())
    }

    fn finish(mut self: Box<Self>) -> Result<Finished, DiskError> {
        if !self.planned {
            return Err(
                DiskError::invalid_request("qed target finished before planning")
                    .with_path(self.out.path()),
            );
        }
        if self.next_host != self.end_host {
            let detail = format!(
                "{} bytes of planned data were not written",
                self.end_host - self.next_host
            );
            return Err(self.err(QedWriteError::PlanMismatch { detail }));
        }
        let end = if self.packed.is_full() {
            self.end_host
        } else {
            // The planned length first: zeros at the end of data were never written.
            self.out.set_len(self.end_host)?;
            let path = self.out.path().to_path_buf();
            self.compact().map_err(|e| e.with_path(path))?
        };
        finish_at(self.out, end)
    }
}
