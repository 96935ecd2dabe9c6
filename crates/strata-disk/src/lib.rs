//! Disk image codecs (raw, qcow2, vmdk): read, write, inspect, check and convert virtual machine disks without
//! qemu-img at run time, exactly as qemu reads them, and safely with hostile files.
//!
//! The entry point is [`open()`]; every format also parses from bytes in memory (see [`ReadAt`]).
//! Images expose small capability traits ([`DiskImage`], [`DiskImageMut`]); the convert engine
//! walks a source's extents and never reads holes or known zeros.

pub mod compress;
pub mod convert;
pub mod create;
pub mod error;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
pub mod image;
pub mod io;
pub mod open;
pub mod probe;
pub mod qcow2;
pub mod qed;
pub mod raw;
mod table_cache;
pub mod vdi;
pub mod vhdx;
pub mod vmdk;
pub mod vpc;
mod zero;

pub use convert::output::{Committed, Durability, Output, OutputFile, Writeback};
pub use convert::{
    Compression, ConvertOptions, ConvertSummary, ConvertTarget, Finished, Progress, convert,
};
pub use create::{create_target, is_writable};
pub use error::{DiskError, ErrorKind};
pub use image::{BackingFile, DiskImage, DiskImageMut, Extent, ExtentKind};
pub use io::ReadAt;
pub use open::{OpenError, OpenOptions, Opened, open, open_bytes};
pub use probe::{probe, probe_bytes};
pub use qcow2::Qcow2Image;
pub use qed::{QedImage, QedTarget};
pub use raw::{RawImage, RawTarget};
pub use vdi::{VdiCreateOptions, VdiImage, VdiTarget};
pub use vhdx::VhdxImage;
pub use vmdk::{VmdkImage, VmdkTarget};
pub use vpc::{VpcCreateOptions, VpcImage, VpcTarget};
