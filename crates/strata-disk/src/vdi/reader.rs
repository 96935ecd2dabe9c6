//! VirtualBox VDI images (format 1.1), read and written as qemu's `vdi` driver does.
//!
//! **Layout.** A 512-byte little-endian header: a text line, the signature `0xbeda107f` at 64,
//! version 1.1, image type (1 dynamic, 2 static), the offsets of the block map and of the data
//! area, disk size, block size (1 MiB, the only one qemu accepts), blocks in the image and
//! allocated, UUIDs. Then the block map, one little-endian u32 per guest block: the slot of
//! the block in the data area (its bytes at `offset_data + slot × 1 MiB`), `0xffffffff` for a
//! block never allocated, `0xfffffffe` for a discarded one; both read as zeros.
//!
//! **Reading** runs qemu's `vdi_open` checks in qemu's order and with its limits, then is
//! stricter where qemu would read past the end of the file: the block map and every allocated
//! block's data must lie inside the file ([`VdiError::BlockPastEnd`]), the block map is
//! capped at [`MAX_BMAP_BYTES`], and image types other than dynamic and static are refused
//! (qemu ignores the field; VirtualBox's other types are differencing images). Two entries
//! naming the same slot are accepted, as qemu's open accepts them (reads stay well defined;
//! `qemu-img check` reports them). Unallocated and discarded blocks are [`ExtentKind::Zero`]
//! extents, as qemu's block status reports them (qemu's vdi has no backing file); the data
//! blocks of a static image are looked at through the file's holes, as qemu does
//! (`BDRV_BLOCK_RECURSE`).
//!
//! **Writing** ([`VdiTarget`]) lays the file out as `qemu-img create` does (header, block map
//! at 512 padded to 512 bytes, data area after it). Static (`-o static=on`): block `b` in slot
//! `b`, the file at its full length, zero granules left as holes. Dynamic: the blocks that
//! the source's block status shows data in, in slots in guest order, written in parallel
//! through a [`Layout::Blocks`](crate::convert::Layout::Blocks) placement; a planned block
//! that turns out all zeros is not allocated: the blocks of the last slots are moved into the
//! empty ones (one block copy each), so that the slots in use stay `0..blocks_allocated`, as
//! qemu's allocator expects.

use std::path::{Path, PathBuf};

use strata_model::DiskFormat;

use crate::convert::output::Output;
use crate::convert::plan::{BlockPlan, move_block, random_uuid};
use crate::convert::{ConvertTarget, Finished, Placement, SourceMap, finish_at};
use crate::error::{DiskError, DiskErrorSource, ErrorKind};
use crate::image::{DiskImage, Extent, ExtentKind};
use crate::io::{ReadAt, read_u32_table};

/// The signature at offset 64.
pub const SIGNATURE: u32 = 0xbeda_107f;
/// Version 1.1, the only one qemu reads.
pub const VERSION_1_1: u32 = 0x0001_0001;
/// Image type of a dynamic image.
pub const TYPE_DYNAMIC: u32 = 1;
/// Image type of a static (preallocated) image.
pub const TYPE_STATIC: u32 = 2;
/// The block size, the only one qemu reads or writes.
pub const BLOCK_SIZE: u64 = 1 << 20;
/// Block map entry of a block never allocated.
pub const UNALLOCATED: u32 = 0xffff_ffff;
/// Block map entry of a discarded block (reads as zeros).
pub const DISCARDED: u32 = 0xffff_fffe;
/// Most blocks qemu accepts (`VDI_BLOCKS_IN_IMAGE_MAX`).
pub const MAX_BLOCKS_IN_IMAGE: u32 = 0x3fff_ffff;
/// Largest disk qemu accepts (`VDI_DISK_SIZE_MAX`).
pub const MAX_DISK_SIZE: u64 = MAX_BLOCKS_IN_IMAGE as u64 * BLOCK_SIZE;
/// Largest block map read: 64 MiB, 16 Mi blocks, a 16 TiB disk (qemu's limit, 4 GiB of map,
/// is far beyond the memory budget).
pub const MAX_BMAP_BYTES: u64 = 64 << 20;
/// The header's length.
pub const HEADER_LEN: usize = 512;
/// The sector size the header must name.
const SECTOR: u64 = 512;
/// The text qemu writes at the start of the header.
const TEXT: &[u8] = b"<<< QEMU VM Virtual Disk Image >>>\n";
/// Granule of zero detection when writing (a power of two dividing the block size).
const GRANULE: u64 = 64 << 10;

/// A vdi image that cannot be read or written as asked.
#[derive(Debug, thiserror::Error)]
pub enum VdiError {
    /// Shorter than the header.
    #[error("file of {len} bytes is too short for a vdi header")]
    TooShort {
        /// The file's length.
        len: u64,
    },
    /// Not the vdi signature.
    #[error("not a vdi image (signature {found:#010x})")]
    BadSignature {
        /// The signature found.
        found: u32,
    },
    /// A version other than 1.1.
    #[error("unsupported vdi version {major}.{minor}")]
    Version {
        /// Major version.
        major: u32,
        /// Minor version.
        minor: u32,
    },
    /// An offset that is not a multiple of 512.
    #[error("unsupported vdi image: unaligned {what} offset {offset:#x}")]
    Unaligned {
        /// `block map` or `data`.
        what: &'static str,
        /// The offset.
        offset: u32,
    },
    /// A sector size other than 512.
    #[error("unsupported vdi image: sector size {size} is not 512")]
    SectorSize {
        /// The sector size.
        size: u32,
    },
    /// A block size other than 1 MiB.
    #[error("unsupported vdi image: block size {size} is not 1048576")]
    BlockSize {
        /// The block size.
        size: u32,
    },
    /// A disk larger than qemu's limit.
    #[error("unsupported vdi image size {size} (max {max})")]
    DiskTooLarge {
        /// The disk size.
        size: u64,
        /// The limit.
        max: u64,
    },
    /// More disk than the block map covers.
    #[error("unsupported vdi image: disk size {size}, block map has room for {room}")]
    BlockMapTooSmall {
        /// The disk size.
        size: u64,
        /// Bytes the blocks in the image cover.
        room: u64,
    },
    /// A link or parent UUID: a differencing image.
    #[error("unsupported vdi image: non-null {which} UUID")]
    HasParent {
        /// `link` or `parent`.
        which: &'static str,
    },
    /// More blocks than qemu or the memory budget allow.
    #[error("unsupported vdi image: {blocks} blocks (max {max})")]
    TooManyBlocks {
        /// Blocks in the image.
        blocks: u64,
        /// The limit.
        max: u64,
    },
    /// An image type other than dynamic or static.
    #[error("unsupported vdi image type {image_type}")]
    ImageType {
        /// The type.
        image_type: u32,
    },
    /// The block map does not lie inside the file.
    #[error("block map at {offset} ({len} bytes) passes the end of the file ({file_len})")]
    BlockMapPastEnd {
        /// Its offset.
        offset: u64,
        /// Its length.
        len: u64,
        /// The file's length.
        file_len: u64,
    },
    /// An allocated block whose data does not lie inside the file.
    #[error("block {block} (slot {slot}) ends at {end}, past the end of the file ({file_len})")]
    BlockPastEnd {
        /// Guest block index.
        block: u64,
        /// Its slot in the data area.
        slot: u32,
        /// Where its data ends.
        end: u64,
        /// The file's length.
        file_len: u64,
    },
    /// A disk too large to create.
    #[error("cannot create a vdi image of {size} bytes (max {max})")]
    CreateTooLarge {
        /// The size asked for.
        size: u64,
        /// The limit.
        max: u64,
    },
    /// The engine's writes did not match the plan (the source changed).
    #[error("writes did not match the planned layout: {detail}")]
    PlanMismatch {
        /// What differed.
        detail: String,
    },
}

impl VdiError {
    /// The stable category of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            VdiError::TooShort { .. } | VdiError::BadSignature { .. } => ErrorKind::InvalidFormat,
            VdiError::BlockMapPastEnd { .. } | VdiError::BlockPastEnd { .. } => ErrorKind::Corrupt,
            VdiError::CreateTooLarge { .. } => ErrorKind::InvalidRequest,
            VdiError::PlanMismatch { .. } => ErrorKind::IntegrityMismatch,
            _ => ErrorKind::Unsupported,
        }
    }
}

impl From<VdiError> for DiskError {
    fn from(e: VdiError) -> Self {
        DiskErrorSource::Vdi(e).into()
    }
}

/// The header fields qemu uses, in host order (UUIDs as stored).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// The signature ([`SIGNATURE`]).
    pub signature: u32,
    /// The version ([`VERSION_1_1`]).
    pub version: u32,
    /// Header size (0x180 in qemu's images).
    pub header_size: u32,
    /// [`TYPE_DYNAMIC`] or [`TYPE_STATIC`].
    pub image_type: u32,
    /// Image flags.
    pub image_flags: u32,
    /// Offset of the block map.
    pub offset_bmap: u32,
    /// Offset of the data area.
    pub offset_data: u32,
    /// Sector size (512).
    pub sector_size: u32,
    /// The disk size as stored (qemu rounds it up to 512 when reading).
    pub disk_size: u64,
    /// Block size ([`BLOCK_SIZE`]).
    pub block_size: u32,
    /// Blocks the block map holds.
    pub blocks_in_image: u32,
    /// Blocks allocated in the data area.
    pub blocks_allocated: u32,
    /// This image's UUID (stored little-endian, VirtualBox's order).
    pub uuid_image: [u8; 16],
    /// Last snapshot's UUID.
    pub uuid_last_snap: [u8; 16],
    /// Link UUID (null: qemu refuses others).
    pub uuid_link: [u8; 16],
    /// Parent UUID (null: qemu refuses others).
    pub uuid_parent: [u8; 16],
}

fn le32(b: &[u8], at: usize) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(a)
}

fn le64(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(a)
}

fn uuid(b: &[u8], at: usize) -> [u8; 16] {
    let mut a = [0u8; 16];
    a.copy_from_slice(&b[at..at + 16]);
    a
}

impl Header {
    /// Parses and validates the header in `bytes` (at least [`HEADER_LEN`] bytes), with
    /// qemu's checks in qemu's order, then ours (image type, block map size).
    pub fn parse(bytes: &[u8]) -> Result<Header, VdiError> {
        if bytes.len() < HEADER_LEN {
            return Err(VdiError::TooShort {
                len: bytes.len() as u64,
            });
        }
        let h = Header {
            signature: le32(bytes, 64),
            version: le32(bytes, 68),
            header_size: le32(bytes, 72),
            image_type: le32(bytes, 76),
            image_flags: le32(bytes, 80),
            offset_bmap: le32(bytes, 340),
            offset_data: le32(bytes, 344),
            sector_size: le32(bytes, 360),
            disk_size: le64(bytes, 368),
            block_size: le32(bytes, 376),
            blocks_in_image: le32(bytes, 384),
            blocks_allocated: le32(bytes, 388),
            uuid_image: uuid(bytes, 392),
            uuid_last_snap: uuid(bytes, 408),
            uuid_link: uuid(bytes, 424),
            uuid_parent: uuid(bytes, 440),
        };
        if h.disk_size > MAX_DISK_SIZE {
            return Err(VdiError::DiskTooLarge {
                size: h.disk_size,
                max: MAX_DISK_SIZE,
            });
        }
        if h.signature != SIGNATURE {
            return Err(VdiError::BadSignature { found: h.signature });
        }
        if h.version != VERSION_1_1 {
            return Err(VdiError::Version {
                major: h.version >> 16,
                minor: h.version & 0xffff,
            });
        }
        for (what, offset) in [("block map", h.offset_bmap), ("data", h.offset_data)] {
            if u64::from(offset) % SECTOR != 0 {
                return Err(VdiError::Unaligned { what, offset });
            }
        }
        if u64::from(h.sector_size) != SECTOR {
            return Err(VdiError::SectorSize {
                size: h.sector_size,
            });
        }
        if u64::from(h.block_size) != BLOCK_SIZE {
            return Err(VdiError::BlockSize { size: h.block_size });
        }
        let room = u64::from(h.blocks_in_image) * BLOCK_SIZE;
        if h.size() > room {
            return Err(VdiError::BlockMapTooSmall {
                size: h.size(),
                room,
            });
        }
        if h.uuid_link != [0; 16] {
            return Err(VdiError::HasParent { which: "link" });
        }
        if h.uuid_parent != [0; 16] {
            return Err(VdiError::HasParent { which: "parent" });
        }
        if h.blocks_in_image > MAX_BLOCKS_IN_IMAGE {
            return Err(VdiError::TooManyBlocks {
                blocks: h.blocks_in_image.into(),
                max: MAX_BLOCKS_IN_IMAGE.into(),
            });
        }
        if h.image_type != TYPE_DYNAMIC && h.image_type != TYPE_STATIC {
            return Err(VdiError::ImageType {
                image_type: h.image_type,
            });
        }
        if u64::from(h.blocks_in_image) * 4 > MAX_BMAP_BYTES {
            return Err(VdiError::TooManyBlocks {
                blocks: h.blocks_in_image.into(),
                max: MAX_BMAP_BYTES / 4,
            });
        }
        Ok(h)
    }

    /// The virtual size: the disk size rounded up to 512 bytes, as qemu reads it.
    pub fn size(&self) -> u64 {
        self.disk_size
            .checked_next_multiple_of(SECTOR)
            .unwrap_or(u64::MAX - (SECTOR - 1))
    }

    /// The header as qemu writes it (qemu's text, no description, no geometry).
    pub fn to_bytes(&self) -> [u8; HEADER_LEN] {
        let mut b = [0u8; HEADER_LEN];
        b[..TEXT.len()].copy_from_slice(TEXT);
        let mut put32 = |at: usize, v: u32| b[at..at + 4].copy_from_slice(&v.to_le_bytes());
        put32(64, self.signature);
        put32(68, self.version);
        put32(72, self.header_size);
        put32(76, self.image_type);
        put32(80, self.image_flags);
        put32(340, self.offset_bmap);
        put32(344, self.offset_data);
        put32(360, self.sector_size);
        put32(376, self.block_size);
        put32(384, self.blocks_in_image);
        put32(388, self.blocks_allocated);
        b[368..376].copy_from_slice(&self.disk_size.to_le_bytes());
        b[392..408].copy_from_slice(&self.uuid_image);
        b[408..424].copy_from_slice(&self.uuid_last_snap);
        b[424..440].copy_from_slice(&self.uuid_link);
        b[440..456].copy_from_slice(&self.uuid_parent);
        b
    }
}

/// A vdi image opened for reading.
pub struct VdiImage {
    src: Box<dyn ReadAt>,
    path: Option<PathBuf>,
    header: Header,
    bmap: Vec<u32>,
}

impl std::fmt::Debug for VdiImage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VdiImage")
            .field("path", &self.path)
            .field("header", &self.header)
            .finish_non_exhaustive()
    }
}

fn io_err(op: String, e: std::io::Error) -> DiskError {
    DiskError::io(op, e)
}

impl VdiImage {
    /// Opens a vdi image from `src`: validates the header and reads and checks the block map.
    pub fn open(src: Box<dyn ReadAt>) -> Result<Self, DiskError> {
        let file_len = src.size().map_err(|e| io_err("size".into(), e))?;
        if file_len < HEADER_LEN as u64 {
            return Err(VdiError::TooShort { len: file_len }.into());
        }
        let mut hb = [0u8; HEADER_LEN];
        src.read_exact_at(&mut hb, 0)
            .map_err(|e| io_err("read the header".into(), e))?;
        let header = Header::parse(&hb)?;
        let entries = u64::from(header.blocks_in_image);
        let offset = u64::from(header.offset_bmap);
        let len = entries * 4;
        if offset + len > file_len {
            return Err(VdiError::BlockMapPastEnd {
                offset,
                len,
                file_len,
            }
            .into());
        }
        let bmap = read_u32_table(&*src, offset, entries, u32::from_le_bytes, "block map")?;
        let data = u64::from(header.offset_data);
        for (block, &slot) in bmap.iter().enumerate() {
            if slot < DISCARDED {
                let end = data + (u64::from(slot) + 1) * BLOCK_SIZE;
                if end > file_len {
                    return Err(VdiError::BlockPastEnd {
                        block: block as u64,
                        slot,
                        end,
                        file_len,
                    }
                    .into());
                }
            }
        }
        Ok(VdiImage {
            src,
            path: None,
            header,
            bmap,
        })
    }

    /// Opens a vdi image held in memory.
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Self, DiskError> {
        Self::open(Box::new(bytes))
    }

    /// Names the file the image was read from (for errors).
    #[must_use]
    pub fn with_path(mut self, path: &Path) -> Self {
        self.path = Some(path.to_path_buf());
        self
    }

    /// The parsed header.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// The block map (one entry per block in the image).
    pub fn block_map(&self) -> &[u32] {
        &self.bmap
    }

    fn err(&self, e: DiskError) -> DiskError {
        match &self.path {
            Some(p) => e.with_path(p),
            None => e,
        }
    }

    /// The file offset of guest block `block`'s data, if allocated.
    fn host(&self, block: u64) -> Option<u64> {
        let slot = *self.bmap.get(usize::try_from(block).ok()?)?;
        (slot < DISCARDED)
            .then(|| u64::from(self.header.offset_data) + u64::from(slot) * BLOCK_SIZE)
    }

    fn check_range(&self, offset: u64, len: u64) -> Result<(), DiskError> {
        crate::image::check_range(offset, len, self.virtual_size()).map_err(|e| self.err(e))
    }
}

impl DiskImage for VdiImage {
    fn format(&self) -> DiskFormat {
        DiskFormat::Vdi
    }

    fn virtual_size(&self) -> u64 {
        self.header.size()
    }

    fn read_at(&self, buf: &mut [u8], offset: u64) -> Result<(), DiskError> {
        self.check_range(offset, buf.len() as u64)?;
        let mut done = 0usize;
        while done < buf.len() {
            let pos = offset + done as u64;
            let block = pos / BLOCK_SIZE;
            let within = pos % BLOCK_SIZE;
            let n = ((BLOCK_SIZE - within) as usize).min(buf.len() - done);
            let part = &mut buf[done..done + n];
            match self.host(block) {
                Some(host) => self.src.read_exact_at(part, host + within).map_err(|e| {
                    self.err(io_err(format!("read {n} bytes at {}", host + within), e))
                })?,
                None => part.fill(0),
            }
            done += n;
        }
        Ok(())
    }

    fn map(&self, offset: u64, max_len: u64) -> Result<Extent, DiskError> {
        self.check_range(offset, 1)?;
        let end = offset
            .saturating_add(max_len.max(1))
            .min(self.virtual_size());
        let first = self.host(offset / BLOCK_SIZE);
        let mut pos = (offset / BLOCK_SIZE + 1) * BLOCK_SIZE;
        // Consecutive blocks of the same kind (data blocks only when contiguous in the file).
        while pos < end {
            let next = self.host(pos / BLOCK_SIZE);
            let same = match (first, next) {
                (None, None) => true,
                (Some(a), Some(b)) => b == a + (pos - offset / BLOCK_SIZE * BLOCK_SIZE),
                _ => false,
            };
            if !same {
                break;
            }
            pos += BLOCK_SIZE;
        }
        let length = pos.min(end) - offset;
        let Some(block_host) = first else {
            return Ok(Extent {
                offset,
                length,
                kind: ExtentKind::Zero,
            });
        };
        let host = block_host + offset % BLOCK_SIZE;
        let (kind, length) = if self.header.image_type == TYPE_STATIC {
            // qemu's BDRV_BLOCK_RECURSE: the file's holes are zeros.
            match self
                .src
                .next_data(host)
                .map_err(|e| self.err(io_err(format!("find data at {host}"), e)))?
            {
                None => (ExtentKind::Zero, length),
                Some((s, _)) if s > host => (ExtentKind::Zero, length.min(s - host)),
                Some((_, e)) => (ExtentKind::Data, length.min(e.saturating_sub(host).max(1))),
            }
        } else {
            (ExtentKind::Data, length)
        };
        Ok(Extent {
            offset,
            length,
            kind,
        })
    }
}

/// How to create a vdi image (qemu-img's `-o` options).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VdiCreateOptions {
    /// Virtual size in bytes (rounded up to a multiple of 512, as qemu-img does).
    pub size: u64,
    /// `static=on`: every block preallocated in the file.
    pub static_image: bool,
}

impl VdiCreateOptions {
    /// qemu-img's defaults for an image of `size` bytes: dynamic.
    pub fn new(size: u64) -> Self {
        VdiCreateOptions {
            size,
            static_image: false,
        }
    }
}

/// The convert engine's vdi destination; see the module documentation for the layout.
#[derive(Debug)]
pub struct VdiTarget<'o> {
    out: &'o mut dyn Output,
    header: Header,
    plan: BlockPlan,
    planned: bool,
}

impl<'o> VdiTarget<'o> {
    /// Starts writing a vdi image into `out`.
    pub fn create(out: &'o mut dyn Output, options: &VdiCreateOptions) -> Result<Self, DiskError> {
        let path = out.path().to_path_buf();
        let path = path.as_path();
        let size = options.size.next_multiple_of(SECTOR);
        if size > MAX_DISK_SIZE {
            return Err(DiskError::from(VdiError::CreateTooLarge {
                size: options.size,
                max: MAX_DISK_SIZE,
            })
            .with_path(path));
        }
        let blocks = size.div_ceil(BLOCK_SIZE);
        let bmap_len = (blocks * 4).next_multiple_of(SECTOR);
        let offset_data = u32::try_from(HEADER_LEN as u64 + bmap_len).map_err(|_| {
            DiskError::from(VdiError::CreateTooLarge {
                size: options.size,
                max: MAX_DISK_SIZE,
            })
            .with_path(path)
        })?;
        let mut uuid_image = random_uuid();
        let mut uuid_last_snap = random_uuid();
        // VirtualBox stores the first three UUID fields little-endian.
        for u in [&mut uuid_image, &mut uuid_last_snap] {
            u[..4].reverse();
            u[4..6].reverse();
            u[6..8].reverse();
        }
        let header = Header {
            signature: SIGNATURE,
            version: VERSION_1_1,
            header_size: 0x180,
            image_type: if options.static_image {
                TYPE_STATIC
            } else {
                TYPE_DYNAMIC
            },
            image_flags: 0,
            offset_bmap: HEADER_LEN as u32,
            offset_data,
            sector_size: SECTOR as u32,
            disk_size: size,
            block_size: BLOCK_SIZE as u32,
            blocks_in_image: blocks as u32,
            blocks_allocated: if options.static_image {
                blocks as u32
            } else {
                0
            },
            uuid_image,
            uuid_last_snap,
            uuid_link: [0; 16],
            uuid_parent: [0; 16],
        };
        Ok(VdiTarget {
            out,
            header,
            plan: BlockPlan::default(),
            planned: false,
        })
    }

    fn is_static(&self) -> bool {
        self.header.image_type == TYPE_STATIC
    }

    fn data_offset(&self) -> u64 {
        u64::from(self.header.offset_data)
    }

    /// The file offset of the block in `slot` holding guest block `block`.
    fn slot_host(&self, slot: u64, block: u64) -> u64 {
        let i = if self.is_static() { block } else { slot };
        self.data_offset() + i * BLOCK_SIZE
    }

    /// The file's length: the data area's last slot.
    fn end(&self) -> u64 {
        self.data_offset() + u64::from(self.header.blocks_allocated) * BLOCK_SIZE
    }

    fn mismatch(&self, detail: String) -> DiskError {
        DiskError::from(VdiError::PlanMismatch { detail }).with_path(self.out.path())
    }

    /// Writes the header and the block map, whose entries `entry(block)` gives (streamed in
    /// pieces: the map of a huge disk is never held whole).
    fn write_metadata(&mut self, entry: impl Fn(u64) -> u32) -> Result<(), DiskError> {
        let header = self.header.to_bytes();
        self.out.write_at(&header, 0)?;
        let blocks = u64::from(self.header.blocks_in_image);
        let bmap_len = (blocks * 4).next_multiple_of(SECTOR);
        const PER_WRITE: u64 = 64 << 10;
        let mut buf = Vec::with_capacity((PER_WRITE * 4) as usize);
        let mut b = 0u64;
        while b * 4 < bmap_len {
            buf.clear();
            let last = (b + PER_WRITE).min(bmap_len / 4);
            for i in b..last {
                let e = if i < blocks { entry(i) } else { 0 };
                buf.extend_from_slice(&e.to_le_bytes());
            }
            self.out.write_at(&buf, HEADER_LEN as u64 + b * 4)?;
            b = last;
        }
        Ok(())
    }
}

impl ConvertTarget for VdiTarget<'_> {
    fn format_name(&self) -> &'static str {
        "vdi"
    }

    fn virtual_size(&self) -> u64 {
        self.header.disk_size
    }

    fn granularity(&self) -> u64 {
        GRANULE
    }

    fn plan(&mut self, map: &SourceMap<'_>) -> Result<(), DiskError> {
        self.plan = BlockPlan::new(map, BLOCK_SIZE).map_err(|e| e.with_path(self.out.path()))?;
        if self.is_static() {
            self.write_metadata(|b| b as u32)?;
        } else {
            self.header.blocks_allocated = self.plan.len() as u32;
            let plan = std::mem::take(&mut self.plan);
            let result = self.write_metadata(|b| plan.slot(b).map_or(UNALLOCATED, |s| s as u32));
            self.plan = plan;
            result?;
        }
        self.out.set_len(self.end())?;
        self.planned = true;
        Ok(())
    }

    fn placement(&mut self) -> Result<Option<Placement>, DiskError> {
        let layout = self.plan.layout(|slot, block| self.slot_host(slot, block));
        Ok(Some(Placement {
            file: self.out.handle()?,
            path: self.out.path().to_path_buf(),
            layout,
            end: self.end(),
        }))
    }

    fn write(&mut self, offset: u64, data: &[u8]) -> Result<(), DiskError> {
        let mut done = 0usize;
        while done < data.len() {
            let pos = offset + done as u64;
            let block = pos / BLOCK_SIZE;
            let within = pos % BLOCK_SIZE;
            let n = ((BLOCK_SIZE - within) as usize).min(data.len() - done);
            let slot = self
                .plan
                .slot(block)
                .ok_or_else(|| self.mismatch(format!("data in unplanned block {block}")))?;
            let host = self.slot_host(slot, block) + within;
            self.out.write_at(&data[done..done + n], host)?;
            self.plan.mark(pos, n as u64);
            done += n;
        }
        Ok(())
    }

    fn record(&mut self, offset: u64, host: u64, data: &[u8]) -> Result<(), DiskError> {
        if self.plan.mark(offset, data.len() as u64).is_none() {
            return Err(self.mismatch(format!("data at guest offset {offset} in no planned block")));
        }
        self.out.record(data, host);
        Ok(())
    }

    fn write_zeroes(&mut self, _offset: u64, _len: u64) -> Result<(), DiskError> {
        // Planned granules that are zeros stay holes; unplanned blocks stay unallocated.
        Ok(())
    }

    fn finish(mut self: Box<Self>) -> Result<Finished, DiskError> {
        if !self.planned {
            return Err(
                DiskError::invalid_request("vdi target finished before planning")
                    .with_path(self.out.path()),
            );
        }
        if !self.is_static() {
            let (finals, moves) = self.plan.compact();
            if finals.len() as u64 != self.plan.len() {
                for &(from, to) in &moves {
                    let (from, to) = (self.slot_host(from, 0), self.slot_host(to, 0));
                    move_block(&mut *self.out, from, to, BLOCK_SIZE, GRANULE as usize)?;
                }
                self.header.blocks_allocated = finals.len() as u32;
                let lookup = |b: u64| {
                    finals
                        .binary_search_by_key(&b, |&(g, _)| g)
                        .map_or(UNALLOCATED, |i| finals[i].1 as u32)
                };
                self.write_metadata(lookup)?;
            }
        }
        let end = self.end();
        finish_at(self.out, end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> Header {
        Header {
            signature: SIGNATURE,
            version: VERSION_1_1,
            header_size: 0x180,
            image_type: TYPE_DYNAMIC,
            image_flags: 0,
            offset_bmap: 512,
            offset_data: 1024,
            sector_size: 512,
            disk_size: 3 << 20,
            block_size: BLOCK_SIZE as u32,
            blocks_in_image: 3,
            blocks_allocated: 0,
            uuid_image: [1; 16],
            uuid_last_snap: [2; 16],
            uuid_link: [0; 16],
            uuid_parent: [0; 16],
        }
    }

    #[test]
    fn header_round_trips() {
        let h = header();
        assert_eq!(Header::parse(&h.to_bytes()).unwrap(), h);
    }

    #[test]
    fn odd_disk_size_rounds_up_to_a_sector() {
        let mut h = header();
        h.disk_size = 1000;
        assert_eq!(Header::parse(&h.to_bytes()).unwrap().size(), 1024);
    }

    #[test]
    fn qemu_order_of_checks() {
        // A bad signature and a bad version: the signature is named first.
        let mut h = header();
        h.signature = 1;
        h.version = 2;
        assert!(matches!(
            Header::parse(&h.to_bytes()),
            Err(VdiError::BadSignature { found: 1 })
        ));
        // The size limit comes before everything.
        h.disk_size = MAX_DISK_SIZE + 1;
        assert!(matches!(
            Header::parse(&h.to_bytes()),
            Err(VdiError::DiskTooLarge { .. })
        ));
    }
}
