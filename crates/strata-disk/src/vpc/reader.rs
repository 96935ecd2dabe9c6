//! Virtual PC / VHD images (qemu's `vpc`), fixed and dynamic, read and written as qemu does.
//!
//! **Layout.** Every image ends with a 512-byte big-endian footer (`conectix`, features,
//! version, data offset, timestamp, creator application and OS, original and current size,
//! CHS geometry, disk type, checksum, UUID). A *fixed* image is the guest bytes followed by
//! the footer. A *dynamic* image starts with a copy of the footer, then a 1024-byte dynamic
//! header (`cxsparse`, BAT offset, BAT entries, block size, checksum) at the footer's data
//! offset, the block allocation table (one big-endian u32 per block: the sector of the block's
//! bitmap, `0xffffffff` when unallocated), and blocks of 2 MiB (qemu's choice), each preceded
//! by its sector bitmap (one bit per 512-byte sector, padded to 512 bytes).
//!
//! **Reading** follows qemu's `vpc_open` (a footer at offset 0 is a dynamic image's copy, else
//! the footer is in the last 512 bytes) with one exception: a valid fixed footer in the last
//! 512 bytes makes a fixed image whatever the first sector holds, since a fixed image's guest
//! data may begin with a footer (qemu then misreads the image as dynamic, or fails on an empty
//! fixed image, whose only sector is its footer). A bad
//! checksum is refused, naming the computed and stored
//! values, for the footer as qemu does and for the dynamic header too (qemu does not check
//! that one; a header whose checksum is wrong was not written by a VHD writer). The virtual
//! size follows qemu 10's rule: images whose creator application is `vpc ` (Virtual PC) or
//! `qemu` (qemu without `force_size`) have the size of their CHS geometry
//! (cylinders × heads × sectors × 512), unless the geometry is the maximum 65535×16×255, and
//! all others (`qem2`, `win `, `d2v `, `tap\0`, `CTXS`, Azure's `wa\0\0`, …) the footer's
//! current size; above 2040 GiB is refused. Blocks: as qemu does, a block is allocated when
//! its BAT entry is set, and then every one of its sectors is read from the file; **the sector
//! bitmap is never read** (qemu disabled its use: a block's unset bitmap bits would hide data
//! qemu reads). Every allocated block must lie inside the file, as qemu checks ("image has
//! been truncated"), and so must the BAT (qemu would read zeros past the end). Differencing
//! images (type 4) and footers whose type contradicts where they were found are refused.
//! Unallocated blocks are [`ExtentKind::Zero`] extents, as qemu's block status reports them;
//! a fixed image's holes are zeros too (qemu's `BDRV_BLOCK_RECURSE`).
//!
//! **Writing** ([`VpcTarget`], `subformat=dynamic` by default or `fixed`). The virtual size is
//! rounded as `qemu-img create`/`convert` rounds it: up to 512 bytes, then, unless
//! `force_size`, up to the smallest CHS geometry (computed by qemu's `calculate_geometry`,
//! trying one more sector at a time) that holds it, and the footer's sizes are set to
//! cylinders × heads × sectors × 512, so that qemu reads back the same size whichever rule it
//! applies; sizes beyond what CHS can address (127 GiB) get the maximum geometry and keep
//! their exact size. With `force_size`, the creator is `qem2` and the size is kept as given
//! (rounded to 512). Examples (`qemu-img create -f vpc` gives the same): 1 MiB and 1 MiB + 512
//! become 1 079 296 bytes (31×4×17), 10 MiB 10 514 432, 127 MiB 133 171 200, 1000 MiB
//! 1 048 707 072; 128 GiB and 200 GiB stay as they are. Dynamic images are laid out as qemu lays them out: footer copy, dynamic
//! header at 512, BAT at 1536 padded to 512 bytes with `0xff`, then the blocks that hold data,
//! in guest order, each with an all-ones bitmap (as qemu writes them), written in parallel
//! through a [`Layout::Blocks`] placement; a block that turns
//! out all zeros is not allocated (the blocks of the last slots are moved into the empty
//! ones, one block copy each); the footer last.

use std::path::{Path, PathBuf};

use strata_model::DiskFormat;

use crate::convert::output::Output;
use crate::convert::plan::{BlockPlan, move_block, random_uuid};
use crate::convert::{ConvertTarget, Finished, Layout, Placement, SourceMap, finish_at};
use crate::error::{DiskError, DiskErrorSource, ErrorKind};
use crate::image::{DiskImage, Extent, ExtentKind};
use crate::io::{ReadAt, read_u32_table};

/// The footer's length.
pub const FOOTER_LEN: usize = 512;
/// The dynamic header's length.
pub const DYN_HEADER_LEN: usize = 1024;
/// Disk type of a fixed image.
pub const TYPE_FIXED: u32 = 2;
/// Disk type of a dynamic image.
pub const TYPE_DYNAMIC: u32 = 3;
/// Disk type of a differencing image (not supported, as in qemu).
pub const TYPE_DIFFERENCING: u32 = 4;
/// Most cylinders of a CHS geometry.
pub const CHS_MAX_C: u64 = 65535;
/// Most heads.
pub const CHS_MAX_H: u64 = 16;
/// Most sectors per track.
pub const CHS_MAX_S: u64 = 255;
/// The largest CHS geometry in sectors (about 127 GiB).
pub const MAX_GEOMETRY: u64 = CHS_MAX_C * CHS_MAX_H * CHS_MAX_S;
/// Most sectors qemu accepts (2040 GiB).
pub const MAX_SECTORS: u64 = 0xff00_0000;
/// The block size qemu writes.
pub const BLOCK_SIZE: u64 = 2 << 20;
/// BAT entry of an unallocated block.
pub const UNALLOCATED: u32 = 0xffff_ffff;
/// Most BAT entries read: 64 MiB of table, 16 Mi blocks (qemu's own limit, `INT_MAX / 4`
/// entries, is 2 GiB of table, beyond the memory budget). Blocks of 2 MiB need 1 Mi entries
/// for the largest disk qemu reads.
pub const MAX_BAT_ENTRIES: u64 = 16 << 20;
/// Seconds from the Unix epoch to the VHD epoch (2000-01-01 00:00:00 UTC).
const TIMESTAMP_BASE: u64 = 946_684_800;
/// Granule of zero detection when writing.
const GRANULE: u64 = 64 << 10;
/// The sector.
const SECTOR: u64 = 512;

/// A vpc image that cannot be read or written as asked.
#[derive(Debug, thiserror::Error)]
pub enum VpcError {
    /// Shorter than a footer.
    #[error("file of {len} bytes is too short for a VHD footer")]
    TooShort {
        /// The file's length.
        len: u64,
    },
    /// No `conectix` footer at the start or at the end.
    #[error("not a VHD image (no conectix footer at the start or the end)")]
    NoFooter,
    /// The footer's checksum does not match its bytes.
    #[error("footer checksum is {found:#010x}, expected {expected:#010x}")]
    FooterChecksum {
        /// The checksum the bytes give.
        expected: u32,
        /// The checksum stored.
        found: u32,
    },
    /// The dynamic header's checksum does not match its bytes.
    #[error("dynamic header checksum is {found:#010x}, expected {expected:#010x}")]
    DynHeaderChecksum {
        /// The checksum the bytes give.
        expected: u32,
        /// The checksum stored.
        found: u32,
    },
    /// A virtual size above qemu's 2040 GiB.
    #[error("virtual size of {sectors} sectors is above the limit of {MAX_SECTORS}")]
    TooLarge {
        /// The sectors.
        sectors: u64,
    },
    /// A differencing image.
    #[error("differencing VHD images are not supported")]
    Differencing,
    /// A disk type that is not fixed or dynamic, or that contradicts where the footer is.
    #[error("disk type {disk_type} with the footer {where_found}")]
    DiskType {
        /// The type.
        disk_type: u32,
        /// `at the start` or `only at the end`.
        where_found: &'static str,
    },
    /// A fixed image shorter than its virtual size and footer.
    #[error("fixed image of {file_len} bytes cannot hold {size} bytes and its footer")]
    FixedTruncated {
        /// The virtual size.
        size: u64,
        /// The file's length.
        file_len: u64,
    },
    /// The dynamic header does not lie inside the file.
    #[error("dynamic header at {offset} passes the end of the file ({file_len})")]
    DynHeaderPastEnd {
        /// Its offset.
        offset: u64,
        /// The file's length.
        file_len: u64,
    },
    /// No `cxsparse` cookie.
    #[error("invalid dynamic header magic")]
    BadDynCookie,
    /// A block size that is not a power of two of at least 512.
    #[error("invalid block size {block_size}")]
    BlockSize {
        /// The block size.
        block_size: u32,
    },
    /// More BAT entries than allowed, or more blocks than a u32 counts.
    #[error("{entries} BAT entries (max {max})")]
    TooManyBlocks {
        /// The entries.
        entries: u64,
        /// The limit.
        max: u64,
    },
    /// A BAT that does not cover the virtual size.
    #[error("BAT of {entries} blocks of {block_size} bytes does not cover {size} bytes")]
    BatTooSmall {
        /// The entries.
        entries: u64,
        /// The block size.
        block_size: u32,
        /// The virtual size.
        size: u64,
    },
    /// The BAT does not lie inside the file.
    #[error("BAT at {offset} ({len} bytes) passes the end of the file ({file_len})")]
    BatPastEnd {
        /// Its offset.
        offset: u64,
        /// Its length.
        len: u64,
        /// The file's length.
        file_len: u64,
    },
    /// An allocated block that does not lie inside the file.
    #[error(
        "block {block} at sector {sector} ends at {end}, past the end of the file ({file_len})"
    )]
    BlockPastEnd {
        /// Block index.
        block: u64,
        /// The BAT entry.
        sector: u32,
        /// Where the block ends.
        end: u64,
        /// The file's length.
        file_len: u64,
    },
    /// A size too large to create.
    #[error("cannot create a VHD image of {size} bytes (max {max})")]
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

impl VpcError {
    /// The stable category of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            VpcError::TooShort { .. }
            | VpcError::NoFooter
            | VpcError::BadDynCookie
            | VpcError::BlockSize { .. }
            | VpcError::DiskType { .. } => ErrorKind::InvalidFormat,
            VpcError::FooterChecksum { .. }
            | VpcError::DynHeaderChecksum { .. }
            | VpcError::FixedTruncated { .. }
            | VpcError::DynHeaderPastEnd { .. }
            | VpcError::BatTooSmall { .. }
            | VpcError::BatPastEnd { .. }
            | VpcError::BlockPastEnd { .. } => ErrorKind::Corrupt,
            VpcError::TooLarge { .. } | VpcError::Differencing | VpcError::TooManyBlocks { .. } => {
                ErrorKind::Unsupported
            }
            VpcError::CreateTooLarge { .. } => ErrorKind::InvalidRequest,
            VpcError::PlanMismatch { .. } => ErrorKind::IntegrityMismatch,
        }
    }
}

impl From<VpcError> for DiskError {
    fn from(e: VpcError) -> Self {
        DiskErrorSource::Vpc(e).into()
    }
}

/// VHD's checksum: the one's complement of the sum of every byte outside the checksum field
/// at `skip`.
pub fn checksum(bytes: &[u8], skip: usize) -> u32 {
    let sum = bytes
        .iter()
        .enumerate()
        .filter(|(i, _)| !(skip..skip + 4).contains(i))
        .fold(0u32, |s, (_, &b)| s.wrapping_add(u32::from(b)));
    !sum
}

fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

fn be32(b: &[u8], at: usize) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[at..at + 4]);
    u32::from_be_bytes(a)
}

fn be64(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_be_bytes(a)
}

/// The footer (and its copy at the start of dynamic images).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Footer {
    /// Feature bits (2: reserved, always set).
    pub features: u32,
    /// Format version (0x00010000).
    pub version: u32,
    /// Offset of the dynamic header (`u64::MAX` for fixed images).
    pub data_offset: u64,
    /// Seconds since 2000-01-01 00:00:00 UTC.
    pub timestamp: u32,
    /// Creator application (`qemu`, `qem2`, `vpc `, `win `, ...): decides how qemu reads
    /// the size.
    pub creator_app: [u8; 4],
    /// Creator version (major << 16 | minor).
    pub creator_version: u32,
    /// Creator host OS.
    pub creator_os: [u8; 4],
    /// Size at creation.
    pub original_size: u64,
    /// Current size.
    pub current_size: u64,
    /// Cylinders.
    pub cylinders: u16,
    /// Heads.
    pub heads: u8,
    /// Sectors per track.
    pub sectors: u8,
    /// [`TYPE_FIXED`], [`TYPE_DYNAMIC`] or [`TYPE_DIFFERENCING`].
    pub disk_type: u32,
    /// The image's UUID.
    pub uuid: [u8; 16],
    /// Saved-state flag.
    pub saved_state: u8,
}

impl Footer {
    /// Parses a footer whose cookie is `conectix`, verifying its checksum.
    pub fn parse(b: &[u8; FOOTER_LEN]) -> Result<Footer, VpcError> {
        let found = be32(b, 64);
        let expected = checksum(b, 64);
        if found != expected {
            return Err(VpcError::FooterChecksum { expected, found });
        }
        let mut creator_app = [0u8; 4];
        creator_app.copy_from_slice(&b[28..32]);
        let mut creator_os = [0u8; 4];
        creator_os.copy_from_slice(&b[36..40]);
        let mut uuid = [0u8; 16];
        uuid.copy_from_slice(&b[68..84]);
        Ok(Footer {
            features: be32(b, 8),
            version: be32(b, 12),
            data_offset: be64(b, 16),
            timestamp: be32(b, 24),
            creator_app,
            creator_version: be32(b, 32),
            creator_os,
            original_size: be64(b, 40),
            current_size: be64(b, 48),
            cylinders: be16(b, 56),
            heads: b[58],
            sectors: b[59],
            disk_type: be32(b, 60),
            uuid,
            saved_state: b[84],
        })
    }

    /// The footer's bytes, with its checksum.
    pub fn to_bytes(&self) -> [u8; FOOTER_LEN] {
        let mut b = [0u8; FOOTER_LEN];
        b[..8].copy_from_slice(b"conectix");
        b[8..12].copy_from_slice(&self.features.to_be_bytes());
        b[12..16].copy_from_slice(&self.version.to_be_bytes());
        b[16..24].copy_from_slice(&self.data_offset.to_be_bytes());
        b[24..28].copy_from_slice(&self.timestamp.to_be_bytes());
        b[28..32].copy_from_slice(&self.creator_app);
        b[32..36].copy_from_slice(&self.creator_version.to_be_bytes());
        b[36..40].copy_from_slice(&self.creator_os);
        b[40..48].copy_from_slice(&self.original_size.to_be_bytes());
        b[48..56].copy_from_slice(&self.current_size.to_be_bytes());
        b[56..58].copy_from_slice(&self.cylinders.to_be_bytes());
        b[58] = self.heads;
        b[59] = self.sectors;
        b[60..64].copy_from_slice(&self.disk_type.to_be_bytes());
        b[68..84].copy_from_slice(&self.uuid);
        b[84] = self.saved_state;
        let sum = checksum(&b, 64);
        b[64..68].copy_from_slice(&sum.to_be_bytes());
        b
    }

    /// The sectors of the CHS geometry.
    pub fn chs_sectors(&self) -> u64 {
        u64::from(self.cylinders) * u64::from(self.heads) * u64::from(self.sectors)
    }

    /// The virtual size in sectors as qemu 10 reads it: the CHS geometry's for images
    /// created by Virtual PC (`vpc `) or qemu without `force_size` (`qemu`), unless the
    /// geometry is the maximum; the current size (in whole sectors) for every other creator.
    pub fn virtual_sectors(&self) -> u64 {
        let use_chs = &self.creator_app == b"vpc " || &self.creator_app == b"qemu";
        let chs = self.chs_sectors();
        if !use_chs || chs == MAX_GEOMETRY {
            self.current_size / SECTOR
        } else {
            chs
        }
    }
}

/// The dynamic header fields qemu uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DynHeader {
    /// Offset of the BAT.
    pub table_offset: u64,
    /// BAT entries.
    pub max_table_entries: u32,
    /// Block size.
    pub block_size: u32,
}

impl DynHeader {
    /// Parses the dynamic header, verifying its cookie and checksum.
    pub fn parse(b: &[u8; DYN_HEADER_LEN]) -> Result<DynHeader, VpcError> {
        if &b[..8] != b"cxsparse" {
            return Err(VpcError::BadDynCookie);
        }
        let found = be32(b, 36);
        let expected = checksum(b, 36);
        if found != expected {
            return Err(VpcError::DynHeaderChecksum { expected, found });
        }
        Ok(DynHeader {
            table_offset: be64(b, 16),
            max_table_entries: be32(b, 28),
            block_size: be32(b, 32),
        })
    }

    /// The header as qemu writes it (no parent), with its checksum.
    pub fn to_bytes(&self) -> [u8; DYN_HEADER_LEN] {
        let mut b = [0u8; DYN_HEADER_LEN];
        b[..8].copy_from_slice(b"cxsparse");
        b[8..16].copy_from_slice(&u64::MAX.to_be_bytes());
        b[16..24].copy_from_slice(&self.table_offset.to_be_bytes());
        b[24..28].copy_from_slice(&0x0001_0000u32.to_be_bytes());
        b[28..32].copy_from_slice(&self.max_table_entries.to_be_bytes());
        b[32..36].copy_from_slice(&self.block_size.to_be_bytes());
        let sum = checksum(&b, 36);
        b[36..40].copy_from_slice(&sum.to_be_bytes());
        b
    }

    /// The bitmap's size in bytes: one bit per sector, padded to 512 bytes.
    pub fn bitmap_size(&self) -> u64 {
        (u64::from(self.block_size) / (8 * SECTOR)).next_multiple_of(SECTOR)
    }
}

/// qemu's `calculate_geometry`: the CHS geometry the VHD specification gives `total_sectors`
/// (whose product may be below it), as `(cylinders, heads, sectors per track)`.
pub fn calculate_geometry(total_sectors: u64) -> (u64, u64, u64) {
    let total = total_sectors.min(MAX_GEOMETRY);
    let (spt, heads, cth) = if total >= 65535 * 16 * 63 {
        (255, 16, total / 255)
    } else {
        let mut spt = 17;
        let mut cth = total / spt;
        let mut heads = cth.div_ceil(1024).max(4);
        if cth >= heads * 1024 || heads > 16 {
            spt = 31;
            heads = 16;
            cth = total / spt;
        }
        if cth >= heads * 1024 {
            spt = 63;
            heads = 16;
            cth = total / spt;
        }
        (spt, heads, cth)
    };
    (cth / heads, heads, spt)
}

/// The geometry and sector count qemu gives an image of `size` bytes (already a multiple of
/// 512): qemu's `calculate_rounded_image_size`. Without `force_size`, the smallest geometry
/// that holds the size (one more sector at a time), whose product is the size, unless it is
/// the maximum geometry (then the size stays); with it, the maximum geometry and the size.
pub fn rounded_geometry(size: u64, force_size: bool) -> Result<((u64, u64, u64), u64), VpcError> {
    let geometry = if force_size {
        (CHS_MAX_C, CHS_MAX_H, CHS_MAX_S)
    } else {
        let total = (size / SECTOR).min(MAX_GEOMETRY);
        let mut g = (0, 0, 0);
        let mut i = 0;
        // Terminates: the geometry of MAX_GEOMETRY sectors is the maximum, its product.
        while total > g.0 * g.1 * g.2 {
            g = calculate_geometry(total + i);
            i += 1;
        }
        g
    };
    let product = geometry.0 * geometry.1 * geometry.2;
    let sectors = if product == MAX_GEOMETRY {
        let sectors = size / SECTOR;
        if sectors > MAX_SECTORS {
            return Err(VpcError::CreateTooLarge {
                size,
                max: MAX_SECTORS * SECTOR,
            });
        }
        sectors
    } else {
        product
    };
    Ok((geometry, sectors))
}

/// The virtual size qemu-img gives a vpc image created or converted from `size` bytes (see
/// [`rounded_geometry`]).
pub fn rounded_size(size: u64, force_size: bool) -> Result<u64, VpcError> {
    let size = size
        .checked_next_multiple_of(SECTOR)
        .ok_or(VpcError::CreateTooLarge {
            size,
            max: MAX_SECTORS * SECTOR,
        })?;
    Ok(rounded_geometry(size, force_size)?.1 * SECTOR)
}

/// How a vpc image stores its blocks.
#[derive(Debug)]
enum Kind {
    Fixed,
    Dynamic {
        block_size: u64,
        bitmap_size: u64,
        bat: Vec<u32>,
    },
}

/// A vpc image opened for reading.
pub struct VpcImage {
    src: Box<dyn ReadAt>,
    path: Option<PathBuf>,
    footer: Footer,
    size: u64,
    kind: Kind,
}

impl std::fmt::Debug for VpcImage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VpcImage")
            .field("path", &self.path)
            .field("footer", &self.footer)
            .field("size", &self.size)
            .finish_non_exhaustive()
    }
}

fn io_err(op: String, e: std::io::Error) -> DiskError {
    DiskError::io(op, e)
}

impl VpcImage {
    /// Opens a vpc image from `src`: finds and verifies the footer, and for dynamic images the
    /// dynamic header and the BAT.
    pub fn open(src: Box<dyn ReadAt>) -> Result<Self, DiskError> {
        let file_len = src.size().map_err(|e| io_err("size".into(), e))?;
        if file_len < FOOTER_LEN as u64 {
            return Err(VpcError::TooShort { len: file_len }.into());
        }
        let read_footer = |at: u64, what: &str| -> Result<[u8; FOOTER_LEN], DiskError> {
            let mut fb = [0u8; FOOTER_LEN];
            src.read_exact_at(&mut fb, at)
                .map_err(|e| io_err(format!("read the {what}"), e))?;
            Ok(fb)
        };
        let end = file_len - FOOTER_LEN as u64;
        let head = read_footer(0, "footer copy")?;
        let tail = read_footer(end, "footer")?;
        // A valid fixed footer at the end makes a fixed image, whatever its first sector holds:
        // a fixed image's guest data may begin with anything, a footer included (qemu, which
        // looks at the start first, then misreads it as dynamic). Otherwise a footer at the
        // start is a dynamic image's copy, as qemu takes it.
        let tail_footer = tail.starts_with(b"conectix").then(|| Footer::parse(&tail));
        let (at_start, footer) = match (tail_footer, head.starts_with(b"conectix")) {
            (Some(Ok(f)), _) if f.disk_type == TYPE_FIXED => (false, f),
            (_, true) => (true, Footer::parse(&head)?),
            (Some(tail), false) => (false, tail?),
            (None, false) => return Err(VpcError::NoFooter.into()),
        };
        let sectors = footer.virtual_sectors();
        if sectors > MAX_SECTORS {
            return Err(VpcError::TooLarge { sectors }.into());
        }
        let size = sectors * SECTOR;
        let kind = match (at_start, footer.disk_type) {
            (_, TYPE_DIFFERENCING) => return Err(VpcError::Differencing.into()),
            (false, TYPE_FIXED) => {
                if size + FOOTER_LEN as u64 > file_len {
                    return Err(VpcError::FixedTruncated { size, file_len }.into());
                }
                Kind::Fixed
            }
            (true, TYPE_DYNAMIC) => Self::open_dynamic(&*src, &footer, size, file_len)?,
            (at_start, disk_type) => {
                return Err(VpcError::DiskType {
                    disk_type,
                    where_found: if at_start {
                        "at the start"
                    } else {
                        "only at the end"
                    },
                }
                .into());
            }
        };
        Ok(VpcImage {
            src,
            path: None,
            footer,
            size,
            kind,
        })
    }

    fn open_dynamic(
        src: &dyn ReadAt,
        footer: &Footer,
        size: u64,
        file_len: u64,
    ) -> Result<Kind, DiskError> {
        let offset = footer.data_offset;
        if offset
            .checked_add(DYN_HEADER_LEN as u64)
            .is_none_or(|e| e > file_len)
        {
            return Err(VpcError::DynHeaderPastEnd { offset, file_len }.into());
        }
        let mut hb = [0u8; DYN_HEADER_LEN];
        src.read_exact_at(&mut hb, offset)
            .map_err(|e| io_err("read the dynamic header".into(), e))?;
        let h = DynHeader::parse(&hb)?;
        let bs = h.block_size;
        if !bs.is_power_of_two() || u64::from(bs) < SECTOR {
            return Err(VpcError::BlockSize { block_size: bs }.into());
        }
        let block_size = u64::from(bs);
        let entries = u64::from(h.max_table_entries);
        if size / block_size > u64::from(u32::MAX) {
            return Err(VpcError::TooManyBlocks {
                entries: size / block_size,
                max: u32::MAX.into(),
            }
            .into());
        }
        if entries * block_size < size {
            return Err(VpcError::BatTooSmall {
                entries,
                block_size: bs,
                size,
            }
            .into());
        }
        if entries > MAX_BAT_ENTRIES {
            return Err(VpcError::TooManyBlocks {
                entries,
                max: MAX_BAT_ENTRIES,
            }
            .into());
        }
        let bat_offset = h.table_offset;
        let len = entries * 4;
        if bat_offset.checked_add(len).is_none_or(|e| e > file_len) {
            return Err(VpcError::BatPastEnd {
                offset: bat_offset,
                len,
                file_len,
            }
            .into());
        }
        let bat = read_u32_table(src, bat_offset, entries, u32::from_be_bytes, "BAT")?;
        let bitmap_size = h.bitmap_size();
        for (block, &sector) in bat.iter().enumerate() {
            if sector != UNALLOCATED {
                let end = u64::from(sector) * SECTOR + bitmap_size + block_size;
                if end > file_len {
                    return Err(VpcError::BlockPastEnd {
                        block: block as u64,
                        sector,
                        end,
                        file_len,
                    }
                    .into());
                }
            }
        }
        Ok(Kind::Dynamic {
            block_size,
            bitmap_size,
            bat,
        })
    }

    /// Opens a vpc image held in memory.
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Self, DiskError> {
        Self::open(Box::new(bytes))
    }

    /// Names the file the image was read from (for errors).
    #[must_use]
    pub fn with_path(mut self, path: &Path) -> Self {
        self.path = Some(path.to_path_buf());
        self
    }

    /// The footer.
    pub fn footer(&self) -> &Footer {
        &self.footer
    }

    /// Whether the image is fixed (else dynamic).
    pub fn is_fixed(&self) -> bool {
        matches!(self.kind, Kind::Fixed)
    }

    /// The block size of a dynamic image.
    pub fn block_size(&self) -> Option<u64> {
        match &self.kind {
            Kind::Fixed => None,
            Kind::Dynamic { block_size, .. } => Some(*block_size),
        }
    }

    fn err(&self, e: DiskError) -> DiskError {
        match &self.path {
            Some(p) => e.with_path(p),
            None => e,
        }
    }

    fn check_range(&self, offset: u64, len: u64) -> Result<(), DiskError> {
        crate::image::check_range(offset, len, self.size).map_err(|e| self.err(e))
    }

    fn read_file(&self, buf: &mut [u8], host: u64) -> Result<(), DiskError> {
        self.src
            .read_exact_at(buf, host)
            .map_err(|e| self.err(io_err(format!("read {} bytes at {host}", buf.len()), e)))
    }
}

impl DiskImage for VpcImage {
    fn format(&self) -> DiskFormat {
        DiskFormat::Vpc
    }

    fn virtual_size(&self) -> u64 {
        self.size
    }

    fn read_at(&self, buf: &mut [u8], offset: u64) -> Result<(), DiskError> {
        self.check_range(offset, buf.len() as u64)?;
        let Kind::Dynamic {
            block_size,
            bitmap_size,
            bat,
        } = &self.kind
        else {
            return self.read_file(buf, offset);
        };
        let mut done = 0usize;
        while done < buf.len() {
            let pos = offset + done as u64;
            let block = pos / block_size;
            let within = pos % block_size;
            let n = ((block_size - within) as usize).min(buf.len() - done);
            let part = &mut buf[done..done + n];
            match bat.get(block as usize) {
                Some(&s) if s != UNALLOCATED => {
                    self.read_file(part, u64::from(s) * SECTOR + bitmap_size + within)?;
                }
                _ => part.fill(0),
            }
            done += n;
        }
        Ok(())
    }

    fn map(&self, offset: u64, max_len: u64) -> Result<Extent, DiskError> {
        self.check_range(offset, 1)?;
        let end = offset.saturating_add(max_len.max(1)).min(self.size);
        let Kind::Dynamic {
            block_size, bat, ..
        } = &self.kind
        else {
            // qemu's BDRV_BLOCK_RECURSE: the file's holes are zeros.
            let (kind, to) = match self
                .src
                .next_data(offset)
                .map_err(|e| self.err(io_err(format!("find data at {offset}"), e)))?
            {
                None => (ExtentKind::Zero, end),
                Some((s, _)) if s > offset => (ExtentKind::Zero, s.min(end)),
                Some((_, e)) => (ExtentKind::Data, e.min(end).max(offset + 1)),
            };
            return Ok(Extent {
                offset,
                length: to - offset,
                kind,
            });
        };
        let allocated = |b: u64| bat.get(b as usize).is_some_and(|&s| s != UNALLOCATED);
        let first = offset / block_size;
        let mut pos = (first + 1) * block_size;
        if allocated(first) {
            // One block at most: its neighbour is behind a bitmap.
            return Ok(Extent {
                offset,
                length: pos.min(end) - offset,
                kind: ExtentKind::Data,
            });
        }
        while pos < end && !allocated(pos / block_size) {
            pos += block_size;
        }
        Ok(Extent {
            offset,
            length: pos.min(end) - offset,
            kind: ExtentKind::Zero,
        })
    }
}

/// How a vpc image stores its data (qemu-img's `subformat`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Subformat {
    /// Blocks allocated on demand (qemu's default).
    #[default]
    Dynamic,
    /// The guest bytes as they are, then the footer.
    Fixed,
}

/// How to create a vpc image (qemu-img's `-o` options).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VpcCreateOptions {
    /// Virtual size asked for, in bytes; rounded as qemu-img rounds it (see the module
    /// documentation and [`rounded_size`]).
    pub size: u64,
    /// `subformat=dynamic|fixed`.
    pub subformat: Subformat,
    /// `force_size=on`: keep the size as given (rounded to 512), creator `qem2`.
    pub force_size: bool,
}

impl VpcCreateOptions {
    /// qemu-img's defaults for an image of `size` bytes: dynamic, CHS rounding.
    pub fn new(size: u64) -> Self {
        VpcCreateOptions {
            size,
            subformat: Subformat::Dynamic,
            force_size: false,
        }
    }
}

/// The planned layout of a dynamic image.
#[derive(Debug)]
struct DynLayout {
    entries: u64,
    /// Offset of the first block (its bitmap).
    data_start: u64,
}

impl DynLayout {
    const BAT_OFFSET: u64 = 3 * SECTOR;
    const BITMAP: u64 = SECTOR;

    fn stride() -> u64 {
        Self::BITMAP + BLOCK_SIZE
    }

    /// Offset of the bitmap of the block in `slot`.
    fn slot(&self, slot: u64) -> u64 {
        self.data_start + slot * Self::stride()
    }
}

/// The convert engine's vpc destination; see the module documentation for the layouts.
#[derive(Debug)]
pub struct VpcTarget<'o> {
    out: &'o mut dyn Output,
    footer: Footer,
    size: u64,
    dynamic: Option<DynLayout>,
    plan: BlockPlan,
    planned: bool,
}

impl<'o> VpcTarget<'o> {
    /// Starts writing a vpc image into `out`.
    pub fn create(out: &'o mut dyn Output, options: &VpcCreateOptions) -> Result<Self, DiskError> {
        let path = out.path().to_path_buf();
        let path = path.as_path();
        let with_path = |e: VpcError| DiskError::from(e).with_path(path);
        let size = rounded_size(options.size, options.force_size).map_err(with_path)?;
        let ((c, h, s), sectors) = rounded_geometry(size, options.force_size).map_err(with_path)?;
        let total = sectors * SECTOR;
        let timestamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
            .saturating_sub(TIMESTAMP_BASE) as u32;
        let dynamic = options.subformat == Subformat::Dynamic;
        let footer = Footer {
            features: 2,
            version: 0x0001_0000,
            data_offset: if dynamic { SECTOR } else { u64::MAX },
            timestamp,
            creator_app: if options.force_size {
                *b"qem2"
            } else {
                *b"qemu"
            },
            creator_version: 0x0005_0003,
            creator_os: *b"Wi2k",
            original_size: total,
            current_size: total,
            cylinders: c as u16,
            heads: h as u8,
            sectors: s as u8,
            disk_type: if dynamic { TYPE_DYNAMIC } else { TYPE_FIXED },
            uuid: random_uuid(),
            saved_state: 0,
        };
        let dynamic = dynamic.then(|| {
            let entries = sectors.div_ceil(BLOCK_SIZE / SECTOR);
            DynLayout {
                entries,
                data_start: DynLayout::BAT_OFFSET + (entries * 4).next_multiple_of(SECTOR),
            }
        });
        Ok(VpcTarget {
            out,
            footer,
            size: total,
            dynamic,
            plan: BlockPlan::default(),
            planned: false,
        })
    }

    fn mismatch(&self, detail: String) -> DiskError {
        DiskError::from(VpcError::PlanMismatch { detail }).with_path(self.out.path())
    }

    /// The file offset of guest block `block`'s data.
    fn data_host(&self, block: u64) -> Option<u64> {
        let d = self.dynamic.as_ref()?;
        Some(d.slot(self.plan.slot(block)?) + DynLayout::BITMAP)
    }

    /// Writes the BAT: block `b` at the slot `slot(b)` gives, if any; padded with `0xff`.
    fn write_bat(&mut self, slot: impl Fn(u64) -> Option<u64>) -> Result<(), DiskError> {
        let Some(d) = &self.dynamic else {
            return Ok(());
        };
        let len = (d.entries * 4).next_multiple_of(SECTOR);
        let mut bat = vec![0xffu8; len as usize];
        for b in 0..d.entries {
            if let Some(s) = slot(b) {
                let sector = (d.slot(s) / SECTOR) as u32;
                bat[(b * 4) as usize..(b * 4 + 4) as usize].copy_from_slice(&sector.to_be_bytes());
            }
        }
        self.out.write_at(&bat, DynLayout::BAT_OFFSET)
    }

    /// Writes the bitmaps of `slots` (all ones, as qemu writes them).
    fn write_bitmaps(&mut self, slots: &[u64]) -> Result<(), DiskError> {
        if let Some(d) = &self.dynamic {
            let hosts: Vec<u64> = slots.iter().map(|&s| d.slot(s)).collect();
            for host in hosts {
                self.out
                    .write_at(&[0xff; DynLayout::BITMAP as usize], host)?;
            }
        }
        Ok(())
    }
}

impl ConvertTarget for VpcTarget<'_> {
    fn format_name(&self) -> &'static str {
        "vpc"
    }

    fn virtual_size(&self) -> u64 {
        self.size
    }

    fn granularity(&self) -> u64 {
        GRANULE
    }

    fn plan(&mut self, map: &SourceMap<'_>) -> Result<(), DiskError> {
        if self.dynamic.is_some() {
            self.plan =
                BlockPlan::new(map, BLOCK_SIZE).map_err(|e| e.with_path(self.out.path()))?;
            let footer = self.footer.to_bytes();
            self.out.write_at(&footer, 0)?;
            let entries = self.dynamic.as_ref().map_or(0, |d| d.entries);
            let header = DynHeader {
                table_offset: DynLayout::BAT_OFFSET,
                max_table_entries: entries as u32,
                block_size: BLOCK_SIZE as u32,
            };
            self.out.write_at(&header.to_bytes(), SECTOR)?;
            let plan = std::mem::take(&mut self.plan);
            let result = self.write_bat(|b| plan.slot(b));
            self.plan = plan;
            result?;
            let end = self.dynamic.as_ref().map_or(0, |d| d.slot(self.plan.len()));
            self.out.set_len(end)?;
        }
        self.planned = true;
        Ok(())
    }

    fn placement(&mut self) -> Result<Option<Placement>, DiskError> {
        let (layout, end) = match &self.dynamic {
            None => (Layout::Identity, self.size),
            Some(d) => (
                self.plan.layout(|slot, _| d.slot(slot) + DynLayout::BITMAP),
                d.slot(self.plan.len()),
            ),
        };
        Ok(Some(Placement {
            file: self.out.handle()?,
            path: self.out.path().to_path_buf(),
            layout,
            end,
        }))
    }

    fn write(&mut self, offset: u64, data: &[u8]) -> Result<(), DiskError> {
        if self.dynamic.is_none() {
            let len = (data.len() as u64).min(self.size.saturating_sub(offset)) as usize;
            return self.out.write_at(&data[..len], offset);
        }
        let mut done = 0usize;
        while done < data.len() {
            let pos = offset + done as u64;
            let block = pos / BLOCK_SIZE;
            let within = pos % BLOCK_SIZE;
            let n = ((BLOCK_SIZE - within) as usize).min(data.len() - done);
            let host = self
                .data_host(block)
                .ok_or_else(|| self.mismatch(format!("data in unplanned block {block}")))?;
            let first = self.plan.mark(pos, n as u64).unwrap_or_default();
            self.write_bitmaps(&first)?;
            self.out.write_at(&data[done..done + n], host + within)?;
            done += n;
        }
        Ok(())
    }

    fn record(&mut self, offset: u64, host: u64, data: &[u8]) -> Result<(), DiskError> {
        if self.dynamic.is_some() {
            let Some(first) = self.plan.mark(offset, data.len() as u64) else {
                return Err(
                    self.mismatch(format!("data at guest offset {offset} in no planned block"))
                );
            };
            // A block's bitmap goes before its first data, in file order (the hash goes on).
            self.write_bitmaps(&first)?;
        }
        self.out.record(data, host);
        Ok(())
    }

    fn write_zeroes(&mut self, _offset: u64, _len: u64) -> Result<(), DiskError> {
        // Zero granules stay holes; blocks without data stay unallocated.
        Ok(())
    }

    fn finish(mut self: Box<Self>) -> Result<Finished, DiskError> {
        if !self.planned {
            return Err(
                DiskError::invalid_request("vpc target finished before planning")
                    .with_path(self.out.path()),
            );
        }
        let footer = self.footer.to_bytes();
        let end = match &self.dynamic {
            None => self.size,
            Some(_) => {
                let (finals, moves) = self.plan.compact();
                if finals.len() as u64 != self.plan.len() {
                    let Some(d) = &self.dynamic else {
                        return Err(DiskError::invalid_request("no dynamic layout"));
                    };
                    let hosts: Vec<(u64, u64, u64)> = moves
                        .iter()
                        .map(|&(from, to)| (d.slot(from), d.slot(to), to))
                        .collect();
                    for (from, to, slot) in hosts {
                        move_block(
                            &mut *self.out,
                            from + DynLayout::BITMAP,
                            to + DynLayout::BITMAP,
                            BLOCK_SIZE,
                            GRANULE as usize,
                        )?;
                        self.write_bitmaps(&[slot])?;
                    }
                    self.write_bat(|b| {
                        finals
                            .binary_search_by_key(&b, |&(g, _)| g)
                            .ok()
                            .map(|i| finals[i].1)
                    })?;
                }
                self.dynamic
                    .as_ref()
                    .map_or(0, |d| d.slot(finals.len() as u64))
            }
        };
        self.out.write_at(&footer, end)?;
        finish_at(self.out, end + FOOTER_LEN as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn geometry_as_qemu_computes_it() {
        // 1 MiB: 2048 sectors round up to 31 × 4 × 17.
        assert_eq!(
            rounded_geometry(1 << 20, false).unwrap(),
            ((31, 4, 17), 2108)
        );
        // Beyond CHS: the maximum geometry and the exact size.
        let big = 200u64 << 30;
        assert_eq!(
            rounded_geometry(big, false).unwrap(),
            ((65535, 16, 255), big / 512)
        );
        assert_eq!(rounded_size(big + 1, false).unwrap(), big + 512);
        assert_eq!(rounded_size((1 << 20) + 1, true).unwrap(), (1 << 20) + 512);
        assert!(rounded_size(MAX_SECTORS * 512 + 512, false).is_err());
        // What qemu-img create gives, size for size.
        for (asked, got) in [
            (1 << 20, 1_079_296),
            ((1 << 20) + 512, 1_079_296),
            (10 << 20, 10_514_432),
            (127 << 20, 133_171_200),
            (1000 << 20, 1_048_707_072),
            (128 << 30, 128 << 30),
            (200 << 30, 200 << 30),
        ] {
            assert_eq!(rounded_size(asked, false).unwrap(), got, "{asked}");
        }
    }

    #[test]
    fn footer_round_trips_and_checksum_is_verified() {
        let f = Footer {
            features: 2,
            version: 0x0001_0000,
            data_offset: 512,
            timestamp: 1,
            creator_app: *b"qemu",
            creator_version: 0x0005_0003,
            creator_os: *b"Wi2k",
            original_size: 2108 * 512,
            current_size: 2108 * 512,
            cylinders: 31,
            heads: 4,
            sectors: 17,
            disk_type: TYPE_DYNAMIC,
            uuid: [7; 16],
            saved_state: 0,
        };
        let mut b = f.to_bytes();
        assert_eq!(Footer::parse(&b).unwrap(), f);
        b[100] = 1;
        let expected = checksum(&b, 64);
        assert!(matches!(
            Footer::parse(&b),
            Err(VpcError::FooterChecksum { expected: e, .. }) if e == expected
        ));
    }

    #[test]
    fn size_rule_follows_the_creator() {
        let mut f = Footer::parse(&{
            let mut b = [0u8; FOOTER_LEN];
            b[..8].copy_from_slice(b"conectix");
            let s = checksum(&b, 64);
            b[64..68].copy_from_slice(&s.to_be_bytes());
            b
        })
        .unwrap();
        f.cylinders = 10;
        f.heads = 4;
        f.sectors = 17;
        f.current_size = 1 << 20;
        f.creator_app = *b"qemu";
        assert_eq!(f.virtual_sectors(), 680);
        f.creator_app = *b"vpc ";
        assert_eq!(f.virtual_sectors(), 680);
        for app in [b"qem2", b"win ", b"d2v ", b"tap\0", b"wa\0\0"] {
            f.creator_app = *app;
            assert_eq!(f.virtual_sectors(), 2048);
        }
        f.creator_app = *b"qemu";
        (f.cylinders, f.heads, f.sectors) = (65535, 16, 255);
        assert_eq!(f.virtual_sectors(), 2048);
    }
}
