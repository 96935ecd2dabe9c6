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
//! Unallocated blocks are [`ExtentKind::Zero`](crate::image::ExtentKind::Zero) extents, as qemu's block status reports them;
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
//! through a [`Layout::Blocks`](crate::convert::Layout::Blocks) placement; a block that turns
//! out all zeros is not allocated (the blocks of the last slots are moved into the empty
//! ones, one block copy each); the footer last.
//!
//! One module per on-disk structure: [`footer`] (footer, dynamic header, checksum) and
//! [`geometry`] (CHS geometry and size rounding); then the image in [`reader`], the
//! destination in [`writer`], and [`error`].

pub mod error;
pub mod footer;
pub mod geometry;
pub mod reader;
pub mod writer;

pub use error::VpcError;
pub use footer::{
    DYN_HEADER_LEN, DynHeader, FOOTER_LEN, Footer, TYPE_DIFFERENCING, TYPE_DYNAMIC, TYPE_FIXED,
    UNALLOCATED, checksum,
};
pub use geometry::{
    CHS_MAX_C, CHS_MAX_H, CHS_MAX_S, MAX_GEOMETRY, MAX_SECTORS, calculate_geometry,
    rounded_geometry, rounded_size,
};
pub use reader::{MAX_BAT_ENTRIES, VpcImage};
pub use writer::{BLOCK_SIZE, Subformat, VpcCreateOptions, VpcTarget};
