//! QED (the QEMU Enhanced Disk format): reading as qemu reads it, and [`QedTarget`], the
//! convert engine's qed destination.
//!
//! Layout (all fields little-endian): a header of `header_size` clusters (a 64-byte fixed part,
//! then the backing file name where the header says), a fixed-size L1 table, and on-demand L2
//! tables (both `table_size` clusters of 64-bit offsets), then data clusters. An L2 entry is 0
//! for an unallocated cluster (read through the backing file), 1 for a zero cluster, and the
//! cluster's file offset otherwise.
//!
//! Choices, each as qemu makes them: the need-check (dirty) flag is accepted without a check,
//! as qemu accepts it for read-only opens (a check would only repair metadata, which a reader
//! never writes); unknown *feature* bits are refused (naming them), unknown compat and
//! autoclear bits are ignored. A backing file's format is raw when the header has
//! `QED_F_BACKING_FORMAT_NO_PROBE`, and is probed otherwise (qed cannot record any other
//! format; qemu probes it too). Tables larger than [`header::MAX_TABLE_BYTES`] are refused
//! before anything is allocated.

pub mod error;
pub mod header;
pub mod reader;
pub mod writer;

pub use error::QedError;
pub use header::Header;
pub use reader::QedImage;
pub use writer::{QedCreateOptions, QedTarget, QedWriteError};
