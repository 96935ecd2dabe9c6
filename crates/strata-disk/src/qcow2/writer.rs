//! Writing qcow2 images: [`create`] (an empty image, optionally over a backing file) and
//! [`Qcow2Target`], the convert engine's qcow2 destination.
//!
//! **Uncompressed layout (planned, front to back).** Before any data is read, the layout is
//! computed from the source's block status alone: header cluster, refcount table, refcount
//! blocks, L1 table, the L2 tables of the regions that hold data, then every data cluster in
//! guest order. Since every data cluster's place is known before any data is read, the target
//! hands the engine a [`Placement`] and the engine's workers write the data clusters
//! themselves, in parallel and in any order; the target hears of them in guest order
//! ([`ConvertTarget::record`]), checks each against the plan and hashes the output in the same
//! pass. A planned cluster that turns out to be all zeros (written zeros in a raw disk, a data
//! cluster of zeros in a qcow2 one) is not written, and is not kept either: zeros are never
//! stored as data, as qemu-img leaves them unallocated. When the data is complete, `finish`
//! drops those clusters (the packed plan of `convert::plan`): their L2 entries become
//! unallocated, the data clusters past the compacted end move into their places, the
//! refcounts of the clusters left past it return to zero, and the file ends after its last
//! data cluster. This rewrites metadata behind the data, so an output that hashes what is
//! written reads the file back; a source whose data is all data (what block status promised)
//! costs nothing more.
//!
//! **Compressed layout (appended).** Compressed sizes are unknown ahead, so the header cluster
//! is reserved, data is appended in guest order (compressed clusters packed byte by byte,
//! clusters that do not compress aligned to a cluster), each L2 table is appended when its
//! region is complete, each refcount block when the file has grown past the clusters it
//! counts, and the L1 table, the last refcount blocks and the refcount table at the end; the
//! header is written last. Asking for a hash then costs a read-back of the finished file.
//!
//! **Options.** `extended_l2`: 128-bit L2 entries, each cluster cut in 32 subclusters whose
//! allocation bits say which hold data: a subcluster of zeros in a stored cluster is left
//! unallocated (it reads as zeros), as `qemu-img convert` leaves the subclusters it does not
//! write. Its L2 tables are then written once each region's data has been seen (one table in
//! memory), after the data. `lazy_refcounts`: the compatible feature bit; the image is written
//! cleanly, refcounts exact, so the dirty bit stays clear. `preallocation`: every cluster of
//! the virtual disk is allocated, in guest order after the metadata (every L2 table written,
//! [`Layout::Shifted`]), as `qemu-img convert -o preallocation=` does: `metadata` leaves the
//! clusters without data holes (and, as everywhere, the 4 KiB blocks of zeros inside data
//! clusters, which the engine leaves holes, as qemu-img's `-S 4k`), `falloc` also reserves
//! their disk space ([`Output::allocate`]), `full` writes their zeros (those blocks
//! included). Preallocated clusters are never dropped: qemu-img keeps every one allocated,
//! zeros included. Without preallocation, dropping a cluster of zeros clears its extended L2
//! entry whole (descriptor and subcluster bitmap).
//!
//! Memory is bounded whatever the image size: the L1 table (capped by qemu's 32 MiB limit),
//! one L2 table, one or two refcount blocks and the refcount table (8 bytes per refcount
//! block, capped at 8 MiB).

use strata_model::DiskFormat;

use crate::compress::Compression;
use crate::convert::output::{Committed, Durability, Output, OutputFile, write_new};
use crate::convert::plan::{Fate, PackedPlan, move_block, read_back, rewrite};
use crate::convert::{ConvertTarget, Finished, Layout, Placement, SourceMap, finish_at};
use crate::error::{DiskError, ErrorKind};
use crate::qcow2::header::{
    COMPAT_LAZY_REFCOUNTS, CompressionType, Header, INCOMPAT_EXTL2, MAX_CLUSTER_BITS,
    MAX_L1_ENTRIES, MAX_REFCOUNT_TABLE_BYTES, MAX_VIRTUAL_SIZE, MIN_CLUSTER_BITS,
    MIN_EXTENDED_L2_CLUSTER_BITS, OFFSET_MASK, V2_HEADER_LEN,
};
use crate::qcow2::refcount::{block_entries_bits, get_refcount, set_refcount};
use crate::qcow2::table::{
    CompressedDescriptor, FLAG_COPIED, SUBCLUSTERS, encode_l1, l1_l2_offset,
};
use crate::zero::{is_zero, non_zero_runs};

/// The qcow2 version to write, by qemu-img's `compat` option names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Compat {
    /// `compat=0.10`: version 2 (no zero clusters, no compression type, 16-bit refcounts).
    V0_10,
    /// `compat=1.1`: version 3, qemu's default.
    #[default]
    V1_1,
}

/// How to create a qcow2 image (qemu-img's `-o` options).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateOptions {
    /// Virtual size in bytes (rounded up to a multiple of 512, as qemu-img does).
    pub size: u64,
    /// Cluster size: a power of two from 512 B to 2 MiB (qemu's default is 64 KiB).
    pub cluster_size: u64,
    /// Version.
    pub compat: Compat,
    /// Compression of compressed clusters; `Some` makes [`Qcow2Target`] compress every
    /// cluster. zstd needs compat 1.1.
    pub compression: Option<Compression>,
    /// Refcount width in bits: 1, 2, 4, 8, 16, 32 or 64 (16 for compat 0.10).
    pub refcount_bits: u32,
    /// Backing file name (stored as given) and its format (recorded, never guessed).
    pub backing: Option<(String, DiskFormat)>,
    /// `extended_l2=on`: 32 subclusters per cluster (clusters of 16 KiB or more, compat 1.1).
    pub extended_l2: bool,
    /// `lazy_refcounts=on` (compat 1.1).
    pub lazy_refcounts: bool,
    /// `preallocation=off|metadata|falloc|full` (not with compression).
    pub preallocation: Preallocation,
}

/// qemu-img's `preallocation` option for qcow2.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Preallocation {
    /// Clusters allocated as data arrives (the default).
    #[default]
    Off,
    /// Every cluster allocated in the tables; those without data stay holes in the file.
    Metadata,
    /// As `Metadata`, with the file's space reserved (`fallocate`).
    Falloc,
    /// As `Metadata`, with zeros written where there is no data.
    Full,
}

impl Preallocation {
    /// qemu-img's name.
    pub fn name(self) -> &'static str {
        match self {
            Preallocation::Off => "off",
            Preallocation::Metadata => "metadata",
            Preallocation::Falloc => "falloc",
            Preallocation::Full => "full",
        }
    }
}

impl CreateOptions {
    /// qemu-img's defaults for an image of `size` bytes: 64 KiB clusters, compat 1.1, 16-bit
    /// refcounts, no compression, no backing file, standard L2 entries, no lazy refcounts, no
    /// preallocation.
    pub fn new(size: u64) -> Self {
        CreateOptions {
            size,
            cluster_size: 64 * 1024,
            compat: Compat::V1_1,
            compression: None,
            refcount_bits: 16,
            backing: None,
            extended_l2: false,
            lazy_refcounts: false,
            preallocation: Preallocation::Off,
        }
    }
}

/// A qcow2 image that cannot be created, written or edited as asked.
#[derive(Debug, thiserror::Error)]
pub enum Qcow2WriteError {
    /// A cluster size that is not a power of two from 512 B to 2 MiB.
    #[error("cluster size {cluster_size} is not a power of two from 512 to 2097152")]
    ClusterSize {
        /// The size asked for.
        cluster_size: u64,
    },
    /// A refcount width that is not a power of two up to 64, or not 16 with compat 0.10.
    #[error("refcount width {bits} is not valid for compat {compat}")]
    RefcountBits {
        /// The width asked for.
        bits: u32,
        /// `0.10` or `1.1`.
        compat: &'static str,
    },
    /// zstd compression asked of a version 2 image.
    #[error("compression type zstd needs compat 1.1")]
    ZstdNeedsV3,
    /// An option that needs a version 3 image asked of a version 2 one.
    #[error("{option} needs compat 1.1")]
    NeedsV3 {
        /// The option, as qemu-img names it.
        option: &'static str,
    },
    /// Extended L2 entries with clusters smaller than 16 KiB.
    #[error("extended_l2 needs clusters of 16 KiB or more, not {cluster_size}")]
    ExtendedL2ClusterSize {
        /// The cluster size asked for.
        cluster_size: u64,
    },
    /// Preallocation asked together with compression (qemu refuses it too).
    #[error("preallocation={} and compression are not supported together", .preallocation.name())]
    PreallocationWithCompression {
        /// The preallocation asked for.
        preallocation: Preallocation,
    },
    /// A virtual size whose L1 table exceeds qemu's limit.
    #[error("virtual size {size} needs {l1_entries} L1 entries, above the limit of {max}")]
    TooLarge {
        /// The virtual size.
        size: u64,
        /// L1 entries needed.
        l1_entries: u64,
        /// qemu's limit for this cluster size.
        max: u64,
    },
    /// The refcount table would exceed qemu's 8 MiB limit.
    #[error("refcount table of {bytes} bytes above the limit of {MAX_REFCOUNT_TABLE_BYTES}")]
    RefcountTableTooLarge {
        /// Bytes needed.
        bytes: u64,
    },
    /// A compressed cluster beyond what a compressed descriptor can address.
    #[error("compressed cluster at host offset {offset} ({len} bytes) cannot be described")]
    CompressedOutOfRange {
        /// Host offset.
        offset: u64,
        /// Compressed length.
        len: u64,
    },
    /// A refcount above the width's maximum (refcount widths below 16 bits with many small
    /// compressed clusters sharing a host cluster).
    #[error("refcount of host cluster {cluster} exceeds {refcount_bits}-bit refcounts")]
    RefcountOverflow {
        /// Host cluster index.
        cluster: u64,
        /// The width.
        refcount_bits: u32,
    },
    /// The engine's writes did not match the planned layout (the source changed).
    #[error("writes did not match the planned layout: {detail}")]
    PlanMismatch {
        /// What differed.
        detail: String,
    },
    /// The backing file name and format do not fit in the header cluster.
    #[error(
        "backing file name of {name_len} bytes does not fit in the header cluster ({cluster_size} bytes) or exceeds 1023 bytes"
    )]
    BackingDoesNotFit {
        /// Length of the name.
        name_len: usize,
        /// The cluster size.
        cluster_size: u64,
    },
    /// Shrinking asked of [`resize`](crate::qcow2::edit::resize).
    #[error("cannot shrink from {current} to {requested} bytes")]
    Shrink {
        /// The current virtual size.
        current: u64,
        /// The size asked for.
        requested: u64,
    },
    /// An image feature the editor does not handle (e.g. snapshots when the L1 table moves).
    #[error("{what} is not supported")]
    Unsupported {
        /// What.
        what: String,
    },
}

impl Qcow2WriteError {
    /// The stable category of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Qcow2WriteError::PlanMismatch { .. } => ErrorKind::IntegrityMismatch,
            Qcow2WriteError::Unsupported { .. } => ErrorKind::Unsupported,
            _ => ErrorKind::InvalidRequest,
        }
    }
}

impl From<Qcow2WriteError> for DiskError {
    fn from(e: Qcow2WriteError) -> Self {
        crate::error::DiskErrorSource::Qcow2Write(e).into()
    }
}

/// The validated geometry of an image to write.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Geometry {
    pub(crate) cluster_bits: u32,
    pub(crate) refcount_order: u32,
    pub(crate) l1_size: u64,
    /// Extended L2 entries (16 bytes each).
    pub(crate) extended: bool,
}

impl Geometry {
    pub(crate) fn cluster_size(self) -> u64 {
        1 << self.cluster_bits
    }
    /// Guest bytes mapped by one L2 table.
    pub(crate) fn region(self) -> u64 {
        1 << (2 * self.cluster_bits - 3 - u32::from(self.extended))
    }
    /// 64-bit words per L2 entry: 1, or 2 with extended L2 entries (descriptor, bitmap).
    pub(crate) fn entry_words(self) -> usize {
        1 + usize::from(self.extended)
    }
    /// Refcounts in one refcount block.
    pub(crate) fn block_entries(self) -> u64 {
        1 << block_entries_bits(self.cluster_bits, self.refcount_order)
    }
    pub(crate) fn clusters(self, bytes: u64) -> u64 {
        bytes.div_ceil(self.cluster_size())
    }
}

/// The L1 entries needed for `size` bytes with clusters of `cluster_bits`.
pub(crate) fn l1_entries(size: u64, cluster_bits: u32) -> u64 {
    size.div_ceil(1 << (2 * cluster_bits - 3))
}

fn validate(options: &CreateOptions) -> Result<(Header, Geometry), Qcow2WriteError> {
    let cs = options.cluster_size;
    let cluster_bits = cs.trailing_zeros();
    if !cs.is_power_of_two() || !(MIN_CLUSTER_BITS..=MAX_CLUSTER_BITS).contains(&cluster_bits) {
        return Err(Qcow2WriteError::ClusterSize { cluster_size: cs });
    }
    let bits = options.refcount_bits;
    let (compat, bits_ok) = match options.compat {
        Compat::V0_10 => ("0.10", bits == 16),
        Compat::V1_1 => ("1.1", bits.is_power_of_two() && bits <= 64),
    };
    if !bits_ok {
        return Err(Qcow2WriteError::RefcountBits { bits, compat });
    }
    if let Some(c @ Compression::Deflate { .. }) = options.compression {
        return Err(Qcow2WriteError::Unsupported {
            what: format!("{} compression (VMDK's zlib-format grains)", c.name()),
        });
    }
    if options.compat == Compat::V0_10
        && matches!(options.compression, Some(Compression::Zstd { .. }))
    {
        return Err(Qcow2WriteError::ZstdNeedsV3);
    }
    for (on, option) in [
        (options.extended_l2, "extended_l2"),
        (options.lazy_refcounts, "lazy_refcounts"),
    ] {
        if on && options.compat == Compat::V0_10 {
            return Err(Qcow2WriteError::NeedsV3 { option });
        }
    }
    if options.extended_l2 && cluster_bits < MIN_EXTENDED_L2_CLUSTER_BITS {
        return Err(Qcow2WriteError::ExtendedL2ClusterSize { cluster_size: cs });
    }
    if options.preallocation != Preallocation::Off && options.compression.is_some() {
        return Err(Qcow2WriteError::PreallocationWithCompression {
            preallocation: options.preallocation,
        });
    }
    let region_bits = 2 * cluster_bits - 3 - u32::from(options.extended_l2);
    let l1 = options
        .size
        .next_multiple_of(512)
        .div_ceil(1 << region_bits);
    if l1 > u64::from(MAX_L1_ENTRIES) || options.size > MAX_VIRTUAL_SIZE {
        return Err(Qcow2WriteError::TooLarge {
            size: options.size,
            l1_entries: l1,
            max: u64::from(MAX_L1_ENTRIES),
        });
    }
    // qemu rounds virtual sizes up to whole 512-byte sectors (it addresses disks in sectors
    // and would not see a partial last sector).
    let size = options.size.next_multiple_of(512);
    let mut h = Header::new_v3(size, cluster_bits);
    h.refcount_order = bits.trailing_zeros();
    h.l1_size = l1 as u32;
    if options.compat == Compat::V0_10 {
        h.version = 2;
        h.header_length = V2_HEADER_LEN;
        h.feature_names.clear();
    }
    h.compression_type = match options.compression {
        Some(Compression::Zstd { .. }) => CompressionType::Zstd,
        _ => CompressionType::Zlib,
    };
    if options.extended_l2 {
        h.incompatible_features |= INCOMPAT_EXTL2;
    }
    if options.lazy_refcounts {
        // Written cleanly (every refcount exact): the dirty bit stays clear.
        h.compatible_features |= COMPAT_LAZY_REFCOUNTS;
    }
    if let Some((name, format)) = &options.backing {
        h.backing_file = Some(name.clone());
        h.backing_format = Some(format.name().to_owned());
    }
    header_bytes(&h)?;
    let g = Geometry {
        cluster_bits,
        refcount_order: h.refcount_order,
        l1_size: l1,
        extended: options.extended_l2,
    };
    Ok((h, g))
}

/// The header cluster, padded to the cluster size.
pub(crate) fn header_bytes(h: &Header) -> Result<Vec<u8>, Qcow2WriteError> {
    let cs = h.cluster_size();
    let mut bytes = h
        .to_bytes()
        .map_err(|_| Qcow2WriteError::BackingDoesNotFit {
            name_len: h.backing_file.as_deref().map_or(0, str::len),
            cluster_size: cs,
        })?;
    bytes.resize(cs as usize, 0);
    Ok(bytes)
}

/// The refcount table and block counts that cover `fixed` clusters plus themselves:
/// `(table_clusters, blocks)`.
fn refcount_cover(g: Geometry, fixed: u64) -> Result<(u64, u64), Qcow2WriteError> {
    let (mut table, mut blocks) = (1u64, 1u64);
    loop {
        let total = fixed + table + blocks;
        let new_blocks = total.div_ceil(g.block_entries());
        let new_table = g.clusters(new_blocks * 8).max(1);
        if new_blocks == blocks && new_table == table {
            break;
        }
        (table, blocks) = (new_table, new_blocks);
    }
    if table * g.cluster_size() > MAX_REFCOUNT_TABLE_BYTES {
        return Err(Qcow2WriteError::RefcountTableTooLarge {
            bytes: table * g.cluster_size(),
        });
    }
    Ok((table, blocks))
}

/// Writes an empty qcow2 image into `out`, laid out as qemu-img lays out a new image: header,
/// refcount table, refcount block, L1. The caller commits `out`.
pub fn create(out: &mut dyn Output, options: &CreateOptions) -> Result<Finished, DiskError> {
    // The compression type is recorded in the header; there is no data to compress.
    let mut target = Qcow2Target::new(out, options, false)?;
    target.plan(&SourceMap::empty(options.size, options.cluster_size))?;
    Box::new(target).finish()
}

/// [`create`] into a new file at `path`, made durable and renamed into place.
pub fn create_file(
    path: &std::path::Path,
    options: &CreateOptions,
) -> Result<Committed, DiskError> {
    let mut out = OutputFile::create(path, Durability::Durable)?;
    create(&mut out, options)?;
    out.commit()
}

/// The convert engine's qcow2 destination; see the module documentation for the layouts.
#[derive(Debug)]
pub struct Qcow2Target<'o> {
    out: &'o mut dyn Output,
    header: Header,
    g: Geometry,
    mode: Mode,
    preallocation: Preallocation,
    /// Where the data clusters start (uncompressed layout, once planned).
    data_off: u64,
    /// With `preallocation=full`: guest bytes before this offset are written (data or zeros).
    zero_from: u64,
    /// With extended L2 entries (uncompressed layout): the L2 tables, written as their
    /// regions complete.
    ext: Option<Box<ExtTables>>,
}

/// The L2 tables of an uncompressed image with extended L2 entries: written once the data of
/// their region has been seen, since their subcluster bitmaps depend on it. One table in
/// memory, and the L1 table that says where each one goes.
#[derive(Debug)]
struct ExtTables {
    /// The L1 entries (0: no table for that region).
    l1: Vec<u64>,
    /// With preallocation: where guest byte 0 is stored (every cluster allocated).
    prealloc_base: Option<u64>,
    /// The virtual size.
    size: u64,
    /// The table being filled: its region and its 64-bit words (descriptor, bitmap, ...).
    current: Option<(u64, Vec<u64>)>,
    /// Regions before this one are written.
    next: u64,
}

impl ExtTables {
    /// A table of `region` before any data: empty, or with preallocation every cluster
    /// allocated with no subcluster holding data.
    fn fresh(&self, g: Geometry, region: u64) -> Vec<u64> {
        let mut words = vec![0u64; (g.cluster_size() / 8) as usize];
        if let Some(base) = self.prealloc_base {
            let start = region * g.region();
            let clusters = g.clusters(g.region().min(self.size.saturating_sub(start)));
            for i in 0..clusters {
                words[2 * i as usize] = (base + start + i * g.cluster_size()) | FLAG_COPIED;
            }
        }
        words
    }

    /// Writes the table being filled, then every table of the regions before `region` not
    /// written yet.
    fn flush_until(
        &mut self,
        out: &mut dyn Output,
        g: Geometry,
        region: u64,
    ) -> Result<(), DiskError> {
        // Each table is written once, into the hole the plan left for it: its blocks of zeros
        // stay holes.
        if let Some((r, words)) = self.current.take() {
            write_new(
                out,
                &encode_words(&words),
                self.l1[r as usize] & OFFSET_MASK,
            )?;
            self.next = r + 1;
        }
        while self.next < region.min(self.l1.len() as u64) {
            let at = self.l1[self.next as usize] & OFFSET_MASK;
            if at != 0 {
                let words = self.fresh(g, self.next);
                write_new(out, &encode_words(&words), at)?;
            }
            self.next += 1;
        }
        Ok(())
    }

    /// Sets the entries of the clusters that the `len` bytes at guest `offset`, stored from
    /// `host`, fall in (whole clusters, or any part of them); `data` (the bytes, when they
    /// were written) adds the allocation bit of every subcluster of theirs that is not all
    /// zeros.
    fn note(
        &mut self,
        out: &mut dyn Output,
        g: Geometry,
        offset: u64,
        host: u64,
        len: u64,
        data: Option<&[u8]>,
    ) -> Result<(), DiskError> {
        let cs = g.cluster_size();
        let sub = cs / u64::from(SUBCLUSTERS);
        let end = offset + len;
        let mut pos = offset;
        while pos < end {
            let c = pos - pos % cs;
            let stop = (c + cs).min(end);
            let region = c / g.region();
            if self.current.as_ref().is_none_or(|(r, _)| *r != region) {
                self.flush_until(out, g, region)?;
                let words = self.fresh(g, region);
                self.current = Some((region, words));
            }
            let mut bitmap = 0u64;
            if let Some(data) = data {
                let mut p = pos;
                while p < stop {
                    let sc = (p - c) / sub;
                    let sc_end = (c + (sc + 1) * sub).min(stop);
                    let bytes = &data[(p - offset) as usize..(sc_end - offset) as usize];
                    if !is_zero(bytes) {
                        bitmap |= 1 << sc;
                    }
                    p = sc_end;
                }
            }
            if let Some((_, words)) = &mut self.current {
                let i = 2 * ((c % g.region()) / cs) as usize;
                // `host` stores guest `offset`: the cluster starts `offset - c` before it.
                words[i] = ((host + c) - offset) | FLAG_COPIED;
                words[i + 1] |= bitmap;
            }
            pos = stop;
        }
        Ok(())
    }
}

/// 64-bit words, big-endian.
fn encode_words(words: &[u64]) -> Vec<u8> {
    words.iter().flat_map(|w| w.to_be_bytes()).collect()
}

#[derive(Debug)]
enum Mode {
    /// Uncompressed: the layout is planned; `next_host` is where the next data cluster goes,
    /// `packed` which planned clusters received data, `refcounts` the refcount blocks the plan
    /// wrote.
    Planned {
        next_host: u64,
        end_host: u64,
        planned: bool,
        packed: PackedPlan,
        refcounts: RefBlocks,
    },
    /// Compressed: everything is appended.
    Append(Box<Append>),
}

impl<'o> Qcow2Target<'o> {
    /// Starts writing a qcow2 image into `out`. With `options.compression`, every cluster is
    /// stored compressed where that makes it smaller.
    pub fn create(out: &'o mut dyn Output, options: &CreateOptions) -> Result<Self, DiskError> {
        Self::new(out, options, options.compression.is_some())
    }

    fn new(
        out: &'o mut dyn Output,
        options: &CreateOptions,
        compress: bool,
    ) -> Result<Self, DiskError> {
        let (header, g) =
            validate(options).map_err(|e| DiskError::from(e).with_path(out.path()))?;
        let mode = match options.compression {
            Some(c) if compress => Mode::Append(Box::new(Append::new(g, c))),
            _ => Mode::Planned {
                next_host: 0,
                end_host: 0,
                planned: false,
                packed: PackedPlan::default(),
                refcounts: RefBlocks::default(),
            },
        };
        Ok(Qcow2Target {
            out,
            header,
            g,
            mode,
            preallocation: options.preallocation,
            data_off: 0,
            zero_from: 0,
            ext: None,
        })
    }

    /// With `preallocation=full`: writes zeros over the guest bytes from where the last data
    /// ended up to `to` (in guest order, so the file is still written front to back).
    fn fill_zeros(&mut self, to: u64) -> Result<(), DiskError> {
        if self.preallocation != Preallocation::Full || to <= self.zero_from {
            return Ok(());
        }
        const PIECE: u64 = 1 << 20;
        let zeros = vec![0u8; PIECE.min(to - self.zero_from) as usize];
        while self.zero_from < to {
            let n = (to - self.zero_from).min(PIECE);
            self.out
                .write_at(&zeros[..n as usize], self.data_off + self.zero_from)?;
            self.zero_from += n;
        }
        Ok(())
    }

    /// With `preallocation=full`: writes zeros over the blocks of zeros of `data`, stored at
    /// `host`, that the engine left holes ([`Placement`] writes only the blocks that hold data).
    fn fill_zero_blocks(&mut self, data: &[u8], host: u64) -> Result<(), DiskError> {
        let mut from = 0;
        for (start, end) in non_zero_runs(data, host)
            .into_iter()
            .chain([(data.len(), data.len())])
        {
            if from < start {
                self.out.write_at(&data[from..start], host + from as u64)?;
            }
            from = end;
        }
        Ok(())
    }

    /// Accounts for `len` bytes of planned data at guest `offset`; returns their file offset.
    fn planned_host(&mut self, offset: u64, len: u64) -> Result<u64, DiskError> {
        if self.preallocation == Preallocation::Off {
            self.advance(len)
        } else {
            Ok(self.data_off + offset)
        }
    }

    /// After `len` bytes of planned data at guest `offset`, stored from `host` (`data` when
    /// written): the extended L2 entries and, with `preallocation=full`, the zeros before.
    fn after_data(
        &mut self,
        offset: u64,
        host: u64,
        len: u64,
        data: Option<&[u8]>,
    ) -> Result<(), DiskError> {
        if let Some(ext) = &mut self.ext {
            ext.note(&mut *self.out, self.g, offset, host, len, data)?;
        }
        if data.is_some() {
            self.fill_zeros(offset)?;
            self.zero_from = self.zero_from.max(offset + len);
        }
        Ok(())
    }

    fn err(&self, e: Qcow2WriteError) -> DiskError {
        DiskError::from(e).with_path(self.out.path())
    }

    /// Plans and writes the metadata of the uncompressed layout.
    fn plan_uncompressed(&mut self, map: &SourceMap<'_>) -> Result<(), DiskError> {
        let g = self.g;
        let cs = g.cluster_size();
        // Pass 1: which regions hold data, and how many data clusters in all.
        let mut l1 = vec![0u64; g.l1_size as usize];
        let mut data_clusters = 0u64;
        let mut l2_tables = 0u64;
        let prealloc = self.preallocation != Preallocation::Off;
        for (r, entry) in l1.iter_mut().enumerate() {
            let start = r as u64 * g.region();
            let n: u64 = if prealloc {
                // Every cluster of the virtual disk.
                g.clusters(g.region().min(self.header.size.saturating_sub(start)))
            } else {
                map.count_units(start, start + g.region(), cs)?
            };
            if n > 0 {
                *entry = 1;
                l2_tables += 1;
                data_clusters += n;
            }
        }
        let l1_clusters = g.clusters(g.l1_size * 8).max(1);
        let fixed = 1 + l1_clusters + l2_tables + data_clusters;
        let (rt_clusters, rb) = refcount_cover(g, fixed).map_err(|e| self.err(e))?;
        let total = fixed + rt_clusters + rb;
        let rt_off = cs;
        let rb_off = rt_off + rt_clusters * cs;
        let l1_off = rb_off + rb * cs;
        let l2_off = l1_off + l1_clusters * cs;
        let data_off = l2_off + l2_tables * cs;
        self.header.l1_table_offset = l1_off;
        self.header.refcount_table_offset = rt_off;
        self.header.refcount_table_clusters = rt_clusters as u32;
        // Metadata goes into a new file: its zeros are left as holes, as qemu leaves them.
        let header = header_bytes(&self.header).map_err(|e| self.err(e))?;
        write_new(&mut *self.out, &header, 0)?;
        // Refcount table and blocks: every cluster below `total` has refcount 1.
        let mut table = vec![0u8; (rt_clusters * cs) as usize];
        for b in 0..rb {
            table[b as usize * 8..b as usize * 8 + 8]
                .copy_from_slice(&(rb_off + b * cs).to_be_bytes());
        }
        write_new(&mut *self.out, &table, rt_off)?;
        drop(table);
        let mut block = vec![0u8; cs as usize];
        let per = g.block_entries();
        for b in 0..rb {
            block.fill(0);
            let first = b * per;
            let n = total.saturating_sub(first).min(per);
            for i in 0..n as usize {
                set_refcount(&mut block, i, g.refcount_order, 1);
            }
            write_new(&mut *self.out, &block, rb_off + b * cs)?;
        }
        // L1: the L2 tables follow each other in region order.
        let mut next_l2 = l2_off;
        for entry in l1.iter_mut() {
            if *entry != 0 {
                *entry = encode_l1(next_l2, true);
                next_l2 += cs;
            }
        }
        let mut l1_bytes = vec![0u8; (l1_clusters * cs) as usize];
        for (i, e) in l1.iter().enumerate() {
            l1_bytes[i * 8..i * 8 + 8].copy_from_slice(&e.to_be_bytes());
        }
        write_new(&mut *self.out, &l1_bytes, l1_off)?;
        drop(l1_bytes);
        self.data_off = data_off;
        let refcounts = RefBlocks {
            offset: rb_off,
            count: rb,
            used: total,
        };
        if g.extended {
            // Written as the data of each region is seen (their bitmaps depend on it).
            self.ext = Some(Box::new(ExtTables {
                l1,
                prealloc_base: prealloc.then_some(data_off),
                size: self.header.size,
                current: None,
                next: 0,
            }));
            return self.planned(data_off, total * cs, data_clusters, refcounts);
        }
        // L2 tables: data clusters in guest order from `data_off`.
        let mut next_data = data_off;
        let mut l2 = vec![0u8; cs as usize];
        let mut l2_at = l2_off;
        for (r, entry) in l1.iter().enumerate() {
            if *entry == 0 {
                continue;
            }
            l2.fill(0);
            let start = r as u64 * g.region();
            if prealloc {
                for idx in 0..g.clusters(g.region().min(self.header.size - start)) as usize {
                    l2[idx * 8..idx * 8 + 8]
                        .copy_from_slice(&(next_data | FLAG_COPIED).to_be_bytes());
                    next_data += cs;
                }
            }
            for range in map
                .ranges(start, start + g.region())
                .take_while(|_| !prealloc)
            {
                let (a, b) = range?;
                let mut c = a;
                while c < b.min(start + g.region()) {
                    let idx = ((c - start) / cs) as usize;
                    l2[idx * 8..idx * 8 + 8]
                        .copy_from_slice(&(next_data | FLAG_COPIED).to_be_bytes());
                    next_data += cs;
                    c += cs;
                }
            }
            write_new(&mut *self.out, &l2, l2_at)?;
            l2_at += cs;
        }
        if next_data != data_off + data_clusters * cs {
            return Err(self.err(Qcow2WriteError::PlanMismatch {
                detail: format!(
                    "{} data clusters planned, {} mapped",
                    data_clusters,
                    (next_data - data_off) / cs
                ),
            }));
        }
        self.planned(data_off, total * cs, data_clusters, refcounts)
    }

    /// Completes the plan: `data_clusters` data clusters from `data_off` to `end_host`, the
    /// refcount blocks `refcounts`.
    fn planned(
        &mut self,
        data_off: u64,
        end_host: u64,
        data_clusters: u64,
        refcounts: RefBlocks,
    ) -> Result<(), DiskError> {
        let cs = self.g.cluster_size();
        let prealloc = self.preallocation != Preallocation::Off;
        if self.preallocation == Preallocation::Falloc {
            self.out.allocate(data_off, data_clusters * cs)?;
        }
        // Preallocated clusters all stay allocated, zeros included, as qemu-img keeps them:
        // nothing to compact (an empty packed plan, which is full).
        let packed = if prealloc {
            PackedPlan::default()
        } else {
            PackedPlan::new(data_off, cs, data_clusters)
                .map_err(|e| e.with_path(self.out.path()))?
        };
        self.mode = Mode::Planned {
            // Preallocated data goes at its guest offset ([`Qcow2Target::planned_host`]).
            next_host: if prealloc { end_host } else { data_off },
            end_host,
            planned: true,
            packed,
            refcounts,
        };
        Ok(())
    }

    /// Records that `len` data bytes went to file offset `host` of the planned data.
    fn mark(&mut self, host: u64, len: u64) -> Result<(), DiskError> {
        if let Mode::Planned { packed, .. } = &mut self.mode
            && !packed.mark(host, len)
        {
            let detail = format!("{len} data bytes at {host} outside the planned data");
            return Err(self.err(Qcow2WriteError::PlanMismatch { detail }));
        }
        Ok(())
    }

    fn advance(&mut self, len: u64) -> Result<u64, DiskError> {
        let cs = self.g.cluster_size();
        let Mode::Planned {
            next_host,
            end_host,
            ..
        } = &mut self.mode
        else {
            return Err(DiskError::invalid_request("advance in append mode"));
        };
        let host = *next_host;
        let clusters = len.div_ceil(cs);
        *next_host += clusters * cs;
        if *next_host > *end_host {
            let detail = format!("data past the planned end {end_host}");
            return Err(self.err(Qcow2WriteError::PlanMismatch { detail }));
        }
        Ok(host)
    }
}

impl ConvertTarget for Qcow2Target<'_> {
    fn format_name(&self) -> &'static str {
        "qcow2"
    }

    fn virtual_size(&self) -> u64 {
        self.header.size
    }

    fn granularity(&self) -> u64 {
        self.g.cluster_size()
    }

    fn compression(&self) -> Option<Compression> {
        match &self.mode {
            Mode::Append(a) => Some(a.compression),
            Mode::Planned { .. } => None,
        }
    }

    fn plan(&mut self, map: &SourceMap<'_>) -> Result<(), DiskError> {
        // The header and tables are written last, before the data.
        self.out.expect_rewrites();
        match self.mode {
            Mode::Planned { .. } => self.plan_uncompressed(map),
            Mode::Append(_) => Ok(()),
        }
    }

    fn placement(&mut self) -> Result<Option<Placement>, DiskError> {
        match self.mode {
            Mode::Planned {
                next_host,
                end_host,
                planned: true,
                ..
            } => Ok(Some(Placement {
                file: self.out.handle()?,
                path: self.out.path().to_path_buf(),
                layout: match self.preallocation {
                    Preallocation::Off => Layout::Packed { base: next_host },
                    _ => Layout::Shifted {
                        base: self.data_off,
                    },
                },
                end: end_host,
            })),
            _ => Ok(None),
        }
    }

    fn record(&mut self, offset: u64, host: u64, data: &[u8]) -> Result<(), DiskError> {
        let expected = self.planned_host(offset, data.len() as u64)?;
        if host != expected {
            let detail = format!("data written at {host}, planned at {expected}");
            return Err(self.err(Qcow2WriteError::PlanMismatch { detail }));
        }
        if self.preallocation == Preallocation::Off {
            self.mark(host, data.len() as u64)?;
        }
        self.after_data(offset, host, data.len() as u64, Some(data))?;
        if self.preallocation == Preallocation::Full {
            // The engine left the blocks of zeros inside the data holes; `full` stores them.
            self.fill_zero_blocks(data, host)?;
        }
        self.out.record(data, host);
        Ok(())
    }

    fn write(&mut self, offset: u64, data: &[u8]) -> Result<(), DiskError> {
        match &mut self.mode {
            Mode::Planned { .. } => {
                let host = self.planned_host(offset, data.len() as u64)?;
                if self.preallocation == Preallocation::Off {
                    self.mark(host, data.len() as u64)?;
                }
                self.after_data(offset, host, data.len() as u64, Some(data))?;
                self.out.write_at(data, host)
            }
            Mode::Append(a) => {
                let cs = self.g.cluster_size() as usize;
                for (i, cluster) in data.chunks(cs).enumerate() {
                    a.write_cluster(&mut *self.out, offset + (i * cs) as u64, cluster)
                        .map_err(|e| e.with_path(self.out.path()))?;
                }
                Ok(())
            }
        }
    }

    fn write_compressed(&mut self, offset: u64, compressed: &[u8]) -> Result<(), DiskError> {
        match &mut self.mode {
            Mode::Append(a) => a
                .write_compressed(&mut *self.out, offset, compressed)
                .map_err(|e| e.with_path(self.out.path())),
            Mode::Planned { .. } => Err(DiskError::invalid_request(
                "compressed write to an uncompressed qcow2",
            )),
        }
    }

    fn write_zeroes(&mut self, _offset: u64, len: u64) -> Result<(), DiskError> {
        match self.mode {
            // The planned cluster is not written; `finish` drops it (with extended L2 entries,
            // its entry is never set).
            Mode::Planned { .. } if self.preallocation == Preallocation::Off => {
                self.advance(len).map(|_| ())
            }
            // Preallocated: the entries are there already; `full` writes the zeros later.
            Mode::Planned { .. } => Ok(()),
            // Left unallocated: reads as zeros (targets of the engine have no backing file).
            Mode::Append(_) => Ok(()),
        }
    }

    fn finish(mut self: Box<Self>) -> Result<Finished, DiskError> {
        if let Mode::Planned { planned: true, .. } = self.mode {
            // The zeros after the last data, then the last extended L2 tables.
            let end = self.g.clusters(self.header.size) * self.g.cluster_size();
            self.fill_zeros(end)?;
            if let Some(mut ext) = self.ext.take() {
                let regions = ext.l1.len() as u64;
                ext.flush_until(&mut *self.out, self.g, regions)?;
            }
        }
        let Qcow2Target {
            out,
            mut header,
            g,
            mode,
            ..
        } = *self;
        let path = out.path().to_path_buf();
        match mode {
            Mode::Planned {
                next_host,
                end_host,
                planned,
                packed,
                refcounts,
            } => {
                if !planned {
                    return Err(DiskError::invalid_request(
                        "qcow2 target finished before planning",
                    )
                    .with_path(&path));
                }
                if next_host != end_host {
                    let detail = format!(
                        "{} bytes of planned data were not written",
                        end_host - next_host
                    );
                    return Err(
                        DiskError::from(Qcow2WriteError::PlanMismatch { detail }).with_path(&path)
                    );
                }
                if packed.is_full() {
                    return finish_at(out, end_host);
                }
                // The planned length first: zeros at the end of data were never written.
                out.set_len(end_host)?;
                let end = compact(&mut *out, &header, g, &packed, refcounts)
                    .map_err(|e| e.with_path(&path))?;
                finish_at(out, end)
            }
            Mode::Append(mut a) => {
                let len = a
                    .finish(&mut *out, &mut header)
                    .map_err(|e| e.with_path(&path))?;
                finish_at(out, len)
            }
        }
    }
}

/// The refcount blocks of the planned layout: where they start, how many, and how many
/// clusters from the start of the file they count as used.
#[derive(Debug, Default, Clone, Copy)]
struct RefBlocks {
    offset: u64,
    count: u64,
    used: u64,
}

/// Drops the planned data clusters of `out` that received no data (see the module overview):
/// walks the L2 tables in guest order, which is slot order, unallocates the entries of
/// dropped clusters and moves the clusters past the compacted end into their places, then
/// frees the clusters past that end in the refcount blocks; returns the file's new length.
fn compact(
    out: &mut dyn Output,
    header: &Header,
    g: Geometry,
    packed: &PackedPlan,
    refcounts: RefBlocks,
) -> Result<u64, DiskError> {
    let cs = g.cluster_size();
    let mismatch = |detail: String| DiskError::from(Qcow2WriteError::PlanMismatch { detail });
    // Bounded by the L1 limit the header was validated against.
    let mut l1 = vec![0u8; (g.l1_size * 8) as usize];
    read_back(out, &mut l1, header.l1_table_offset)?;
    let mut compaction = packed.compaction();
    let mut old = vec![0u8; cs as usize];
    let mut l2 = vec![0u8; cs as usize];
    for l1_entry in l1.chunks_exact(8) {
        let l2_off = l1_l2_offset(u64::from_be_bytes(l1_entry.try_into().unwrap_or_default()));
        if l2_off == 0 {
            continue;
        }
        read_back(out, &mut old, l2_off)?;
        l2.copy_from_slice(&old);
        // With extended L2 entries, each is the descriptor and the subcluster bitmap.
        for entry in l2.chunks_exact_mut(8 * g.entry_words()) {
            let (descriptor, bitmap) = entry.split_at_mut(8);
            let value = u64::from_be_bytes((&*descriptor).try_into().unwrap_or_default());
            if value == 0 {
                continue;
            }
            let host = value & OFFSET_MASK;
            let slot = packed
                .slot_of(host)
                .ok_or_else(|| mismatch(format!("L2 entry {value:#x} names no planned cluster")))?;
            let new = match compaction.fate(slot) {
                Fate::Stays => continue,
                Fate::Dropped => {
                    bitmap.fill(0);
                    0
                }
                Fate::MovesTo(to) => {
                    move_block(out, host, to, cs)?;
                    to | FLAG_COPIED
                }
            };
            descriptor.copy_from_slice(&new.to_be_bytes());
        }
        rewrite(out, &old, &l2, l2_off)?;
    }
    // The clusters from the compacted end on are free.
    let end = packed.compacted_end();
    let used = end / cs;
    let per = g.block_entries();
    let mut block = vec![0u8; cs as usize];
    for b in used / per..refcounts.count.min(refcounts.used.div_ceil(per)) {
        let at = refcounts.offset + b * cs;
        read_back(out, &mut old, at)?;
        block.fill(0);
        for i in 0..per.min(used.saturating_sub(b * per)) {
            set_refcount(&mut block, i as usize, g.refcount_order, 1);
        }
        rewrite(out, &old, &block, at)?;
    }
    Ok(end)
}

/// State of the appending (compressed) writer.
#[derive(Debug)]
struct Append {
    g: Geometry,
    compression: Compression,
    /// Next free byte.
    pos: u64,
    l1: Vec<u64>,
    /// The L2 table being filled: its region and entries.
    l2: Option<(u64, Vec<u64>)>,
    refs: RefStream,
}

impl Append {
    fn new(g: Geometry, compression: Compression) -> Self {
        let mut refs = RefStream::new(g);
        // The header cluster, written last.
        let _ = refs.inc(0);
        Append {
            g,
            compression,
            pos: g.cluster_size(),
            l1: vec![0; g.l1_size as usize],
            l2: None,
            refs,
        }
    }

    fn align(&mut self) {
        self.pos = self.pos.next_multiple_of(self.g.cluster_size());
    }

    /// Appends one cluster-aligned cluster and counts it.
    fn append_cluster(&mut self, out: &mut dyn Output, bytes: &[u8]) -> Result<u64, DiskError> {
        self.align();
        let at = self.pos;
        out.write_at(bytes, at)?;
        self.refs.inc(at >> self.g.cluster_bits)?;
        self.pos += self.g.cluster_size();
        Ok(at)
    }

    /// Writes the refcount blocks that are complete.
    fn flush_refs(&mut self, out: &mut dyn Output) -> Result<(), DiskError> {
        while let Some((span, block)) = self.refs.pending.pop() {
            let at = self.append_cluster(out, &block)?;
            self.refs.set_table(span, at);
        }
        Ok(())
    }

    /// Moves to the L2 table of guest `offset`, writing the previous one.
    fn l2_for(&mut self, out: &mut dyn Output, offset: u64) -> Result<&mut Vec<u64>, DiskError> {
        let region = offset / self.g.region();
        if self.l2.as_ref().is_some_and(|(r, _)| *r != region) {
            self.flush_l2(out)?;
        }
        let entries = (self.g.cluster_size() / 8) as usize;
        let (_, table) = self.l2.get_or_insert_with(|| (region, vec![0u64; entries]));
        Ok(table)
    }

    fn flush_l2(&mut self, out: &mut dyn Output) -> Result<(), DiskError> {
        if let Some((region, table)) = self.l2.take() {
            let bytes: Vec<u8> = table.iter().flat_map(|e| e.to_be_bytes()).collect();
            let at = self.append_cluster(out, &bytes)?;
            self.l1[region as usize] = encode_l1(at, true);
            self.flush_refs(out)?;
        }
        Ok(())
    }

    /// The index of the first word of guest `offset`'s entry in its L2 table.
    fn index(&self, offset: u64) -> usize {
        ((offset % self.g.region()) >> self.g.cluster_bits) as usize * self.g.entry_words()
    }

    fn write_cluster(
        &mut self,
        out: &mut dyn Output,
        offset: u64,
        cluster: &[u8],
    ) -> Result<(), DiskError> {
        let idx = self.index(offset);
        self.l2_for(out, offset)?;
        let at = self.append_cluster(out, cluster)?;
        let extended = self.g.extended;
        if let Some((_, t)) = &mut self.l2 {
            t[idx] = at | FLAG_COPIED;
            if extended {
                // Stored whole: every subcluster allocated. (A compressed cluster's bitmap
                // stays 0, as the spec requires.)
                t[idx + 1] = u64::from(u32::MAX);
            }
        }
        self.flush_refs(out)
    }

    fn write_compressed(
        &mut self,
        out: &mut dyn Output,
        offset: u64,
        data: &[u8],
    ) -> Result<(), DiskError> {
        let idx = self.index(offset);
        self.l2_for(out, offset)?;
        // As qemu does, start a fresh cluster rather than overflow a narrow refcount.
        if !self.pos.is_multiple_of(self.g.cluster_size())
            && self.refs.full(self.pos >> self.g.cluster_bits)
        {
            self.align();
        }
        let at = self.pos;
        let len = data.len() as u64;
        let entry = CompressedDescriptor::encode(at, len, self.g.cluster_bits)
            .ok_or(Qcow2WriteError::CompressedOutOfRange { offset: at, len })?;
        out.write_at(data, at)?;
        // qemu counts every host cluster the descriptor's sectors touch, once per compressed
        // cluster; the sectors end inside the cluster holding the last byte.
        let first = at >> self.g.cluster_bits;
        let last = (at + len - 1) >> self.g.cluster_bits;
        for c in first..=last {
            self.refs.inc(c)?;
        }
        self.pos += len;
        if let Some((_, t)) = &mut self.l2 {
            t[idx] = entry;
        }
        self.flush_refs(out)
    }

    /// Writes the last L2 table, the L1 table, the last refcount blocks, the refcount table
    /// and the header; returns the file length.
    fn finish(&mut self, out: &mut dyn Output, header: &mut Header) -> Result<u64, DiskError> {
        let g = self.g;
        let cs = g.cluster_size();
        self.flush_l2(out)?;
        // L1.
        self.align();
        let l1_off = self.pos;
        let l1_clusters = g.clusters(g.l1_size * 8).max(1);
        let mut l1_bytes = vec![0u8; (l1_clusters * cs) as usize];
        for (i, e) in self.l1.iter().enumerate() {
            l1_bytes[i * 8..i * 8 + 8].copy_from_slice(&e.to_be_bytes());
        }
        out.write_at(&l1_bytes, l1_off)?;
        for c in 0..l1_clusters {
            self.refs.inc((l1_off >> g.cluster_bits) + c)?;
        }
        self.pos += l1_clusters * cs;
        self.flush_refs(out)?;
        self.align();
        // The refcount table, then the blocks of the remaining spans, counting themselves.
        let p = self.pos >> g.cluster_bits;
        let per = g.block_entries();
        let cur = self.refs.span;
        let (mut t, mut b) = (1u64, 1u64);
        loop {
            let n = p + t + b;
            let spans = n.div_ceil(per);
            let nb = spans - cur;
            let nt = g.clusters(spans * 8).max(1);
            if nb == b && nt == t {
                break;
            }
            (t, b) = (nt, nb);
        }
        if t * cs > MAX_REFCOUNT_TABLE_BYTES {
            return Err(Qcow2WriteError::RefcountTableTooLarge { bytes: t * cs }.into());
        }
        let n = p + t + b;
        let mut blocks: Vec<Vec<u8>> = vec![std::mem::take(&mut self.refs.block)];
        blocks.resize_with(b as usize, || vec![0u8; cs as usize]);
        for c in p..n {
            let k = ((c / per) - cur) as usize;
            if !set_refcount(&mut blocks[k], (c % per) as usize, g.refcount_order, 1) {
                return Err(Qcow2WriteError::RefcountOverflow {
                    cluster: c,
                    refcount_bits: 1 << g.refcount_order,
                }
                .into());
            }
        }
        for k in 0..b {
            self.refs.set_table(cur + k, (p + t + k) * cs);
        }
        let mut table = vec![0u8; (t * cs) as usize];
        for (i, e) in self.refs.table.iter().enumerate() {
            table[i * 8..i * 8 + 8].copy_from_slice(&e.to_be_bytes());
        }
        out.write_at(&table, p * cs)?;
        for (k, block) in blocks.iter().enumerate() {
            out.write_at(block, (p + t + k as u64) * cs)?;
        }
        header.l1_table_offset = l1_off;
        header.refcount_table_offset = p * cs;
        header.refcount_table_clusters = t as u32;
        out.write_at(&header_bytes(header)?, 0)?;
        Ok(n * cs)
    }
}

/// Refcounts counted in increasing cluster order, one block in memory: a block whose clusters
/// are all behind the write position is queued in `pending`, to be appended to the file.
#[derive(Debug)]
struct RefStream {
    g: Geometry,
    span: u64,
    block: Vec<u8>,
    pending: Vec<(u64, Vec<u8>)>,
    table: Vec<u64>,
}

impl RefStream {
    fn new(g: Geometry) -> Self {
        RefStream {
            g,
            span: 0,
            block: vec![0; g.cluster_size() as usize],
            pending: Vec::new(),
            table: Vec::new(),
        }
    }

    fn inc(&mut self, cluster: u64) -> Result<(), Qcow2WriteError> {
        let per = self.g.block_entries();
        let span = cluster / per;
        if span < self.span {
            return Err(Qcow2WriteError::PlanMismatch {
                detail: format!("refcount of cluster {cluster} counted late"),
            });
        }
        while span > self.span {
            let done = std::mem::replace(&mut self.block, vec![0; self.g.cluster_size() as usize]);
            self.pending.push((self.span, done));
            self.span += 1;
        }
        let i = (cluster % per) as usize;
        let v = get_refcount(&self.block, i, self.g.refcount_order) + 1;
        if !set_refcount(&mut self.block, i, self.g.refcount_order, v) {
            return Err(Qcow2WriteError::RefcountOverflow {
                cluster,
                refcount_bits: 1 << self.g.refcount_order,
            });
        }
        Ok(())
    }

    /// Whether `cluster` (in the current span) already has the largest refcount.
    fn full(&self, cluster: u64) -> bool {
        let per = self.g.block_entries();
        cluster / per == self.span
            && get_refcount(&self.block, (cluster % per) as usize, self.g.refcount_order)
                == crate::qcow2::refcount::max_refcount(self.g.refcount_order)
    }

    fn set_table(&mut self, span: u64, offset: u64) {
        let i = span as usize;
        if self.table.len() <= i {
            self.table.resize(i + 1, 0);
        }
        self.table[i] = offset;
    }
}
