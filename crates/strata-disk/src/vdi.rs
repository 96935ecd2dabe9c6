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
//! `qemu-img check` reports them). Unallocated and discarded blocks are
//! [`ExtentKind::Zero`](crate::image::ExtentKind::Zero) extents, as qemu's block status
//! reports them (qemu's vdi has no backing file); the data
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
//!
//! One module per part: [`header`] (the header, its constants and limits), then the image in
//! [`reader`], the destination in [`writer`], and [`error`].

pub mod error;
pub mod header;
pub mod reader;
pub mod writer;

pub use error::VdiError;
pub use header::{
    BLOCK_SIZE, DISCARDED, HEADER_LEN, Header, MAX_BLOCKS_IN_IMAGE, MAX_BMAP_BYTES, MAX_DISK_SIZE,
    SIGNATURE, TYPE_DYNAMIC, TYPE_STATIC, UNALLOCATED, VERSION_1_1,
};
pub use reader::VdiImage;
pub use writer::{VdiCreateOptions, VdiTarget};
