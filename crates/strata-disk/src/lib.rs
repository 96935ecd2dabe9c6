//! Disk image codecs (raw, qcow2, qed, vdi, vmdk, vpc, vhdx): read, write, inspect,
//! check and convert virtual machine disks without qemu-img at run time, exactly as qemu reads
//! them, and safely with hostile files.
//!
//! The entry point is [`open()`]; every format also parses from bytes in memory (see [`ReadAt`]).
//! Images expose small capability traits ([`DiskImage`], [`DiskImageMut`]); the convert engine
//! walks a source's extents and never reads holes or known zeros.
//!
//! **Layout.** One module per format, each a folder with its on-disk structures, reader, writer
//! and error enum apart ([`qcow2`], [`qed`], [`vdi`], [`vmdk`], [`vpc`], [`vhdx`]; [`raw`], with
//! no header and no errors of its own, is one file). [`convert`](mod@convert) is the engine and
//! the contract its targets implement, and names no codec: the codecs import it. [`create`] is
//! the one factory that names every writable format, as [`open`](mod@open) names every
//! readable one. What both the engine and the codecs use sits apart from both: [`compress`]
//! (granule compression), [`image`], [`io`], and the zero test.

// Entry points: open an image of any format, or make a destination of any writable one.
pub mod open;
pub use open::{OpenError, OpenOptions, Opened, open, open_bytes};
pub mod probe;
pub use probe::{probe, probe_bytes};
pub mod create;
pub use create::{create_target, is_writable};

// What every image is, where its bytes come from, and the crate-edge error.
pub mod image;
pub use image::{BackingFile, DiskImage, DiskImageMut, Extent, ExtentKind};
pub mod io;
pub use io::ReadAt;
pub mod error;
pub mod gpt;
pub use error::{DiskError, ErrorKind};

// The formats.
pub mod raw;
pub use raw::{RawImage, RawTarget};
pub mod qcow2;
pub use qcow2::Qcow2Image;
pub mod qed;
pub use qed::{QedImage, QedTarget};
pub mod vdi;
pub use vdi::{VdiCreateOptions, VdiImage, VdiTarget};
pub mod vmdk;
pub use vmdk::{VmdkImage, VmdkTarget};
pub mod vpc;
pub use vpc::{VpcCreateOptions, VpcImage, VpcTarget};
pub mod vhdx;
pub use vhdx::{VhdxCreateOptions, VhdxImage, VhdxTarget};

// The convert engine, the contract its targets implement and the writer contract.
pub mod convert;
pub use convert::output::{Committed, Durability, Output, OutputFile, Writeback};
pub use convert::{
    Cancel, ConvertOptions, ConvertSummary, ConvertTarget, Finished, Progress, convert,
};

// Shared: granule compression and the zero test (the engine and the codecs), the table cache
// (the qcow2 and qed readers).
pub mod compress;
pub use compress::Compression;
mod table_cache;
mod zero;

// The fuzz targets' bodies, for fuzz/ and the replay of saved inputs: not part of the API.
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
