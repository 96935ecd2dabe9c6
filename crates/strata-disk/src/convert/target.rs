//! The contract a convert destination implements: [`ConvertTarget`], told the source's data
//! ranges through a [`SourceMap`] before any write, and, when its layout is fixed by then, a
//! [`Placement`] ([`Layout`]) through which the engine's workers write the data themselves;
//! [`Finished`] and [`finish_at`] for the end of the file.

use std::fs::File;
use std::path::PathBuf;

use super::error::ConvertError;
use super::output::{Output, write_new_in_blocks};
use crate::compress::Compression;
use crate::error::DiskError;
use crate::image::{DiskImage, ExtentKind};

/// Sets the length of a completed file in `out` and reports it: the end of every target's
/// [`ConvertTarget::finish`].
pub fn finish_at(out: &mut dyn Output, len: u64) -> Result<Finished, DiskError> {
    out.set_len(len)?;
    Ok(Finished {
        file_len: len,
        bytes_written: out.bytes_written(),
    })
}

/// What a target reports when it has completed its file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Finished {
    /// The file's length.
    pub file_len: u64,
    /// Bytes written to the file (holes not counted).
    pub bytes_written: u64,
}

/// The source's data as a target's planning sees it: ranges of whole granules that hold
/// data, in guest order, computed from block status only (metadata, cheap). Walk it as many
/// times as needed; memory stays constant.
pub struct SourceMap<'a> {
    source: Option<&'a dyn DiskImage>,
    size: u64,
    granularity: u64,
}

impl std::fmt::Debug for SourceMap<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SourceMap")
            .field("virtual_size", &self.size)
            .field("granularity", &self.granularity)
            .finish()
    }
}

impl<'a> SourceMap<'a> {
    /// A map of `source` at `granularity` (a power of two).
    pub fn new(source: &'a dyn DiskImage, granularity: u64) -> Self {
        SourceMap {
            source: Some(source),
            size: source.virtual_size(),
            granularity,
        }
    }

    /// The map of a source of `size` bytes that holds no data (creating an empty image).
    pub fn empty(size: u64, granularity: u64) -> Self {
        SourceMap {
            source: None,
            size,
            granularity,
        }
    }

    /// The source's virtual size.
    pub fn virtual_size(&self) -> u64 {
        self.size
    }

    /// The granule size.
    pub fn granularity(&self) -> u64 {
        self.granularity
    }

    /// How many `unit`-sized pieces of data lie in `[from, to)` (`from` a multiple of `unit`,
    /// `unit` a multiple of the granularity): the data clusters a target allocates there.
    pub fn count_units(&self, from: u64, to: u64, unit: u64) -> Result<u64, DiskError> {
        let mut n = 0;
        for range in self.ranges(from, to) {
            let (a, b) = range?;
            n += (b.min(to) - a) / unit;
        }
        Ok(n)
    }

    /// Data ranges `[start, end)` within `[from, to)`, widened to whole granules (`end` may
    /// pass the virtual size in the last granule), merged when adjacent.
    pub fn ranges(&self, from: u64, to: u64) -> DataRanges<'_> {
        DataRanges {
            map: self,
            pos: from,
            to: to.min(self.size),
            pending: None,
        }
    }
}

/// Iterator over data ranges; see [`SourceMap::ranges`].
#[derive(Debug)]
pub struct DataRanges<'m> {
    map: &'m SourceMap<'m>,
    pos: u64,
    to: u64,
    pending: Option<(u64, u64)>,
}

impl DataRanges<'_> {
    fn next_data(&mut self) -> Result<Option<(u64, u64)>, DiskError> {
        let g = self.map.granularity;
        let Some(source) = self.map.source else {
            return Ok(None);
        };
        while self.pos < self.to {
            let e = source.block_status(self.pos, self.to - self.pos)?;
            if e.length == 0 || e.offset != self.pos {
                return Err(ConvertError::SourceChanged {
                    detail: format!("block status at {} returned {e:?}", self.pos),
                }
                .into());
            }
            self.pos = e.end();
            if e.kind == ExtentKind::Data {
                let start = e.offset / g * g;
                let end = e.end().div_ceil(g) * g;
                return Ok(Some((start, end)));
            }
        }
        Ok(None)
    }
}

impl Iterator for DataRanges<'_> {
    type Item = Result<(u64, u64), DiskError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let next = match self.next_data() {
                Ok(n) => n,
                Err(e) => return Some(Err(e)),
            };
            match (self.pending, next) {
                (None, None) => return None,
                (None, Some(r)) => self.pending = Some(r),
                (Some(p), None) => {
                    self.pending = None;
                    return Some(Ok(p));
                }
                (Some(p), Some(r)) if r.0 <= p.1 => self.pending = Some((p.0, p.1.max(r.1))),
                (Some(p), Some(r)) => {
                    self.pending = Some(r);
                    return Some(Ok(p));
                }
            }
        }
    }
}

/// How a target's data granules map to offsets in its file, when [`ConvertTarget::plan`]
/// fixed the layout before any data is read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Layout {
    /// Every byte at its guest offset (raw).
    Identity,
    /// Every byte at its guest offset plus `base`, cut at the end of the file as
    /// [`Layout::Identity`] is: a payload stored whole, in guest order, after metadata of a
    /// fixed size (fixed vhdx; qcow2 with every cluster preallocated).
    Shifted {
        /// File offset of guest byte 0.
        base: u64,
    },
    /// The planned data packed in guest order from `base`: the n-th byte of the
    /// [`SourceMap`]'s data ranges at file offset `base + n` (uncompressed qcow2).
    Packed {
        /// File offset of the first planned data byte.
        base: u64,
    },
    /// Guest blocks of `block_size` bytes, each stored whole at its own file offset: the
    /// bytes of guest block `b` at `host + (offset - b × block_size)` for the entry
    /// `(b, host)` of `blocks` (vdi, dynamic vpc, whose blocks are allocated whole, in any
    /// order, and may be preceded by per-block metadata the target writes itself, such as
    /// vpc's sector bitmaps). Data in a block the plan did not allocate means the plan does
    /// not match the source. A run of data that crosses a block boundary is split there.
    Blocks {
        /// The block size (a power of two, a multiple of the target's granularity).
        block_size: u64,
        /// `(guest block index, file offset of the block's first byte)`, sorted by guest
        /// block index, one entry per allocated block (memory grows with the data, not the
        /// virtual size).
        blocks: std::sync::Arc<[(u64, u64)]>,
    },
}

impl Layout {
    /// The file offset of `len` data bytes at guest `offset`, `planned` bytes into the planned
    /// data, and how many of them are contiguous there (all of them, except at a block
    /// boundary of [`Layout::Blocks`]); `None` when the layout has no place for them.
    fn host(&self, offset: u64, planned: u64, len: usize) -> Option<(u64, usize)> {
        match self {
            Layout::Identity => Some((offset, len)),
            Layout::Shifted { base } => Some((base.checked_add(offset)?, len)),
            Layout::Packed { base } => Some((base.checked_add(planned)?, len)),
            Layout::Blocks { block_size, blocks } => {
                let b = offset / block_size;
                let i = blocks.binary_search_by_key(&b, |&(g, _)| g).ok()?;
                let within = offset - b * block_size;
                let n = (block_size - within).min(len as u64) as usize;
                Some((blocks[i].1.checked_add(within)?, n))
            }
        }
    }
}

/// Where a target's data goes when its layout is fixed before any data is read (see
/// [`ConvertTarget::placement`]): the engine then writes the data itself, from several threads
/// and in any order. The places the layout gives data must be holes the target has not
/// written: the engine leaves the blocks of zeros inside data unwritten.
#[derive(Debug)]
pub struct Placement {
    /// A handle on the output file (see [`Output::handle`]).
    pub file: File,
    /// The destination path, for errors.
    pub path: PathBuf,
    /// How guest offsets map to file offsets.
    pub layout: Layout,
    /// The file's length: [`Layout::Identity`] and [`Layout::Shifted`] data is cut there (the
    /// last granule may pass the virtual size); [`Layout::Packed`] data past it means the plan
    /// does not match the source.
    pub end: u64,
}

impl Placement {
    /// The file offset of `len` data bytes at guest `offset`, `planned` bytes into the planned
    /// data, and how many of them belong in the file there: fewer than `len` when the data
    /// passes the [`Layout::Identity`] end (the rest is dropped) or crosses a block boundary
    /// of [`Layout::Blocks`] (the rest goes elsewhere: ask again).
    pub(super) fn locate(
        &self,
        offset: u64,
        planned: u64,
        len: usize,
    ) -> Result<(u64, usize), DiskError> {
        let unplanned = |why: &str| -> DiskError {
            ConvertError::SourceChanged {
                detail: format!("data at guest offset {offset} {why}"),
            }
            .into()
        };
        match &self.layout {
            Layout::Identity | Layout::Shifted { .. } => {
                let host = match self.layout {
                    Layout::Shifted { base } => base
                        .checked_add(offset)
                        .ok_or_else(|| unplanned("falls past the largest file offset"))?,
                    _ => offset,
                };
                let n = self.end.saturating_sub(host).min(len as u64) as usize;
                Ok((host, n))
            }
            layout => {
                let (host, n) = layout
                    .host(offset, planned, len)
                    .ok_or_else(|| unplanned("falls in no planned block"))?;
                if host.checked_add(n as u64).is_none_or(|e| e > self.end) {
                    return Err(unplanned(&format!(
                        "falls past the planned end {}",
                        self.end
                    )));
                }
                Ok((host, n))
            }
        }
    }

    /// Writes `data` at `host`, cut at file offsets that are multiples of
    /// [`WRITE_BLOCK`](super::output::WRITE_BLOCK), leaving out its 4 KiB blocks of zeros: the
    /// places a layout gives data are holes until the engine writes them, so those blocks stay
    /// holes (zero data is never stored, inside a data granule either).
    pub(super) fn write(&self, data: &[u8], host: u64) -> Result<(), DiskError> {
        write_new_in_blocks(&self.file, data, host).map_err(|(at, n, e)| {
            DiskError::io(format!("write {n} bytes at offset {at}"), e).with_path(&self.path)
        })
    }
}

/// A destination the engine writes. Calls come in this order: [`plan`](Self::plan) once,
/// [`placement`](Self::placement) once (uncompressed targets only), then for every granule of
/// every planned data range, in guest order, exactly one of [`write`](Self::write) (or
/// [`record`](Self::record) with a placement), [`write_compressed`](Self::write_compressed) or
/// [`write_zeroes`](Self::write_zeroes) (runs of granules may be passed together), then
/// [`finish`](Self::finish).
pub trait ConvertTarget {
    /// The format written.
    fn format_name(&self) -> &'static str;

    /// The virtual size of the image being written.
    fn virtual_size(&self) -> u64;

    /// The unit of allocation and zero detection (a power of two: the cluster size, or 4 KiB).
    fn granularity(&self) -> u64;

    /// The compression this target applies to each granule, if any.
    fn compression(&self) -> Option<Compression> {
        None
    }

    /// Told the source's data ranges before any write (walk `map` as often as needed).
    fn plan(&mut self, map: &SourceMap<'_>) -> Result<(), DiskError>;

    /// Asked after [`plan`](Self::plan) of targets that do not compress: where the data goes,
    /// when the layout fixes every data granule's place in the file before any data is read
    /// (`None`, the default: the data must come in order through [`write`](Self::write)). With
    /// a placement, the engine writes the data granules itself, from several threads, then
    /// reports each run in guest order through [`record`](Self::record) in place of
    /// [`write`](Self::write); zeros still go to [`write_zeroes`](Self::write_zeroes).
    fn placement(&mut self) -> Result<Option<Placement>, DiskError> {
        Ok(None)
    }

    /// Writes granule-aligned data at guest `offset` (`data.len()` is a multiple of the
    /// granularity; bytes past the virtual size are zero). No granule of it is all zeros.
    fn write(&mut self, offset: u64, data: &[u8]) -> Result<(), DiskError>;

    /// Reports that the engine wrote `data`, the guest bytes at `offset` (cut at the
    /// placement's end), at file offset `host` through the [`placement`](Self::placement);
    /// called in guest order, as [`write`](Self::write) would be.
    fn record(&mut self, offset: u64, host: u64, data: &[u8]) -> Result<(), DiskError> {
        let _ = (offset, host, data);
        Err(DiskError::invalid_request(format!(
            "{} output has no placement",
            self.format_name()
        )))
    }

    /// Writes one granule at `offset` in compressed form (only for targets with a
    /// [`compression`](Self::compression)).
    fn write_compressed(&mut self, offset: u64, compressed: &[u8]) -> Result<(), DiskError> {
        let _ = (offset, compressed);
        Err(ConvertError::CompressionUnsupported {
            format: self.format_name(),
        }
        .into())
    }

    /// `len` bytes of planned data at `offset` turned out to be zeros.
    fn write_zeroes(&mut self, offset: u64, len: u64) -> Result<(), DiskError>;

    /// Completes the file (last metadata, length) and reports it. The owner of the output
    /// then commits it (fsync and rename): a target never does.
    fn finish(self: Box<Self>) -> Result<Finished, DiskError>;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    fn placement(layout: Layout, end: u64) -> Placement {
        Placement {
            file: tempfile::tempfile().unwrap(),
            path: PathBuf::from("test"),
            layout,
            end,
        }
    }

    #[test]
    fn identity_and_packed_locate_as_before() {
        let p = placement(Layout::Identity, 10_000);
        assert_eq!(p.locate(4096, 0, 4096).unwrap(), (4096, 4096));
        assert_eq!(p.locate(8192, 0, 4096).unwrap(), (8192, 1808));
        assert_eq!(p.locate(12_288, 0, 4096).unwrap(), (12_288, 0));
        let p = placement(Layout::Packed { base: 1000 }, 9192);
        assert_eq!(p.locate(1 << 30, 4096, 4096).unwrap(), (5096, 4096));
        assert!(p.locate(0, 8192, 4096).is_err());
    }

    #[test]
    fn shifted_adds_the_base_and_cuts_at_the_end() {
        let p = placement(Layout::Shifted { base: 1000 }, 9000);
        assert_eq!(p.locate(4096, 0, 4096).unwrap(), (5096, 3904));
        assert_eq!(p.locate(0, 0, 512).unwrap(), (1000, 512));
        assert_eq!(p.locate(8000, 0, 4096).unwrap(), (9000, 0));
        let p = placement(Layout::Shifted { base: u64::MAX }, u64::MAX);
        assert!(p.locate(1, 0, 1).is_err());
    }

    #[test]
    fn blocks_locate_each_block_at_its_place_and_split_at_boundaries() {
        let blocks: std::sync::Arc<[(u64, u64)]> = vec![(1, 5000), (2, 1000), (7, 9000)].into();
        let p = placement(
            Layout::Blocks {
                block_size: 4000,
                blocks,
            },
            13_000,
        );
        // Inside block 1, stored at 5000.
        assert_eq!(p.locate(4100, 0, 100).unwrap(), (5100, 100));
        // A run from block 1 into block 2 stops at the boundary; the rest is asked for again.
        assert_eq!(p.locate(7000, 0, 3000).unwrap(), (8000, 1000));
        assert_eq!(p.locate(8000, 0, 2000).unwrap(), (1000, 2000));
        // Block 7, ending exactly at the end.
        assert_eq!(p.locate(28_000, 0, 4000).unwrap(), (9000, 4000));
        // Block 0 and block 3 were not planned.
        let e = p.locate(10, 0, 10).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::IntegrityMismatch);
        assert!(p.locate(12_000, 0, 10).is_err());
        // Past the end of the file.
        let p = placement(
            Layout::Blocks {
                block_size: 4000,
                blocks: vec![(0, 10_000)].into(),
            },
            12_000,
        );
        assert!(p.locate(0, 0, 4000).is_err());
        assert_eq!(p.locate(0, 0, 2000).unwrap(), (10_000, 2000));
    }
}
