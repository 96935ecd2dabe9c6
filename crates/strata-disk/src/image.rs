//! The capability traits every disk format implements: [`DiskImage`] for reading and block
//! status, [`DiskImageMut`] for formats that can be written in place.

use strata_model::DiskFormat;

use crate::error::DiskError;

/// What a range of an image holds, as qemu's block status reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExtentKind {
    /// Bytes stored in this image (they may still happen to be zero).
    Data,
    /// Known to read as zeros without reading anything (qcow2 zero clusters, raw holes).
    Zero,
    /// Not stored in this image: reads come from the backing file, or are zeros without one.
    Unallocated,
}

/// A run of bytes of one [`ExtentKind`] at guest offset `offset`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Extent {
    /// Guest offset of the first byte.
    pub offset: u64,
    /// Length in bytes (never zero).
    pub length: u64,
    /// What the range holds.
    pub kind: ExtentKind,
}

impl Extent {
    /// The guest offset just past the extent.
    pub fn end(&self) -> u64 {
        self.offset.saturating_add(self.length)
    }
}

/// A backing file as an image records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackingFile {
    /// The name exactly as stored in the image (often relative to the image's directory).
    pub name: String,
    /// The format recorded beside it (qcow2's backing-format extension), never guessed.
    pub format: Option<DiskFormat>,
}

/// A disk image opened for reading. Reads take `&self` and may run from several threads.
pub trait DiskImage: Send + Sync {
    /// The image's format.
    fn format(&self) -> DiskFormat;

    /// The size of the virtual disk in bytes.
    fn virtual_size(&self) -> u64;

    /// Fills `buf` with the guest bytes at `offset`, reading through the backing chain where
    /// this image has no data. Reading past the virtual size is an error.
    fn read_at(&self, buf: &mut [u8], offset: u64) -> Result<(), DiskError>;

    /// The extent of *this layer* that starts at `offset`, at most `max_len` bytes long
    /// (`offset` must be below the virtual size and `max_len` non-zero). Unallocated ranges
    /// are reported as such; see [`DiskImage::block_status`] for the view through the chain.
    fn map(&self, offset: u64, max_len: u64) -> Result<Extent, DiskError>;

    /// The backing file this image names, if any.
    fn backing_file(&self) -> Option<&BackingFile> {
        None
    }

    /// The opened backing image, if the chain was opened with this image.
    fn backing(&self) -> Option<&dyn DiskImage> {
        None
    }

    /// The extent at `offset` as a reader of the whole chain sees it: `Data` or `Zero`, never
    /// `Unallocated` (unallocated ranges are resolved through the backing chain, and read as
    /// zeros at its bottom).
    fn block_status(&self, offset: u64, max_len: u64) -> Result<Extent, DiskError> {
        let extent = self.map(offset, max_len)?;
        if extent.kind != ExtentKind::Unallocated {
            return Ok(extent);
        }
        match self.backing() {
            Some(backing) if offset < backing.virtual_size() => {
                let len = extent.length.min(backing.virtual_size() - offset);
                backing.block_status(offset, len)
            }
            _ => Ok(Extent {
                kind: ExtentKind::Zero,
                ..extent
            }),
        }
    }
}

/// A disk image that can be written in place.
pub trait DiskImageMut: DiskImage {
    /// Writes `buf` at guest offset `offset` (within the virtual size).
    fn write_at(&mut self, buf: &[u8], offset: u64) -> Result<(), DiskError>;

    /// Makes `len` bytes at `offset` read as zeros, deallocating where the format can.
    fn write_zeroes(&mut self, offset: u64, len: u64) -> Result<(), DiskError>;

    /// Makes everything written so far durable (metadata and data, then fsync).
    fn flush(&mut self) -> Result<(), DiskError>;

    /// Changes the virtual size; growing adds zeros. Formats that cannot shrink refuse.
    fn resize(&mut self, new_size: u64) -> Result<(), DiskError>;
}

/// The extent of `len` bytes at most at `offset`, from a format's lookups: `lookup(pos, max)`
/// says what the run at `pos` holds and how long it is (at most `max` bytes); following runs
/// of the same kind are merged (a data run ends where the format's lookup ends one, e.g. where
/// the host offset jumps). Stops early on an empty run, so a lookup can never make it spin.
pub(crate) fn coalesce(
    offset: u64,
    len: u64,
    mut lookup: impl FnMut(u64, u64) -> Result<(ExtentKind, u64), DiskError>,
) -> Result<Extent, DiskError> {
    let (kind, mut length) = lookup(offset, len)?;
    while length < len {
        let (next, l) = lookup(offset + length, len - length)?;
        if next != kind || l == 0 {
            break;
        }
        length += l;
    }
    Ok(Extent {
        offset,
        length,
        kind,
    })
}

/// Refuses a request for `len` bytes at `offset` that does not fit in a virtual disk of `size`
/// bytes (an [`InvalidRequest`](crate::ErrorKind::InvalidRequest), overflow included).
pub(crate) fn check_range(offset: u64, len: u64, size: u64) -> Result<(), DiskError> {
    match offset.checked_add(len) {
        Some(end) if end <= size => Ok(()),
        _ => Err(DiskError::invalid_request(format!(
            "range {offset:#x}+{len:#x} beyond the virtual size {size}"
        ))),
    }
}

/// Reads the guest bytes at `offset` into `buf` piece by piece, for formats that map guest
/// ranges to what holds them: `mapping(pos, max)` says what holds the bytes at `pos` and for
/// how many bytes (at most `max`), and `read(piece, pos, what)` fills those bytes. An empty
/// piece is refused, so a mapping can never make it spin.
pub(crate) fn read_mapped<M>(
    buf: &mut [u8],
    offset: u64,
    mut mapping: impl FnMut(u64, u64) -> Result<(M, u64), DiskError>,
    mut read: impl FnMut(&mut [u8], u64, M) -> Result<(), DiskError>,
) -> Result<(), DiskError> {
    let mut done = 0usize;
    while done < buf.len() {
        let pos = offset + done as u64;
        let (what, len) = mapping(pos, (buf.len() - done) as u64)?;
        let len = usize::try_from(len)
            .unwrap_or(usize::MAX)
            .min(buf.len() - done);
        if len == 0 {
            return Err(DiskError::invalid_request(format!(
                "no bytes mapped at guest offset {pos:#x}"
            )));
        }
        read(&mut buf[done..done + len], pos, what)?;
        done += len;
    }
    Ok(())
}

/// Fills `buf`, guest bytes at `pos` that an image leaves unallocated, from its `backing`
/// image: zeros past the backing image's end, and everywhere without one.
pub(crate) fn read_unallocated(
    backing: Option<&dyn DiskImage>,
    buf: &mut [u8],
    pos: u64,
) -> Result<(), DiskError> {
    let in_backing = backing.map_or(0, |b| {
        b.virtual_size().saturating_sub(pos).min(buf.len() as u64) as usize
    });
    let (head, tail) = buf.split_at_mut(in_backing);
    if let (Some(b), false) = (backing, head.is_empty()) {
        b.read_at(head, pos)?;
    }
    tail.fill(0);
    Ok(())
}
