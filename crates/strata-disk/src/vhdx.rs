//! VHDX (Hyper-V's virtual hard disk v2): read as qemu reads it, and written, dynamic or fixed,
//! as `qemu-img convert -O vhdx` lays it out ([`writer`]).
//!
//! Layout (little-endian): the file identifier (`vhdxfile`) in the first 64 KiB; two 4 KiB
//! headers at 64 KiB and 128 KiB, each CRC32C-checked, the valid one with the higher sequence
//! number being current; region tables at 192 KiB (and a copy at 256 KiB), CRC32C-checked,
//! locating the BAT and metadata regions; the metadata region's table of items (file
//! parameters, virtual disk size, logical and physical sector sizes, page 83 identifier); and
//! the BAT, whose 64-bit entries give each payload block's state and file offset (in MiB),
//! with one sector-bitmap entry after every `chunk ratio` payload entries.
//!
//! Choices: a non-empty log (a header whose log GUID is not zero) is refused, since replaying
//! it is not implemented (qemu replays it, or refuses read-only opens that need it);
//! differencing disks (has-parent) are refused; the first region table is read, as qemu reads
//! it. Block states read as qemu reads them: fully present blocks are data; zero, unmapped and
//! undefined blocks are known zeros; not-present blocks are unallocated (zeros, there is no
//! parent); partially present blocks (differencing disks only) and reserved states are errors.

pub mod error;
pub mod header;
pub mod metadata;
pub mod reader;
pub mod writer;

pub use error::VhdxError;
pub use reader::VhdxImage;
pub use writer::{Subformat, VhdxCreateOptions, VhdxTarget};
