//! qcow2, versions 2 (compat 0.10) and 3 (compat 1.1): reading as qemu reads, listing
//! snapshots, `check` and `info` as qemu-img reports them, and the building blocks writers use.
//!
//! One module per on-disk structure: [`header`] (header and extensions, both ways), [`table`]
//! (L1/L2 entries, extended L2 subclusters, compressed descriptors), [`refcount`] (refcount
//! tables and blocks, orders 0 to 6), [`snapshot`] (the snapshot table), [`decompress`] (zlib
//! and zstd clusters); then the image itself in [`reader`] and the reports in [`check`](mod@check) and
//! [`info`](mod@info).
//!
//! Why our own reader rather than `imago` (0.2.6, which we read) or `qcow2-rs`: we need exact,
//! bounded errors that name the offending field (hostile files are normal input), parsing from
//! bytes in memory for fuzzers, zstd compression and extended L2 entries (imago has neither),
//! and snapshot listing, `check` and `info` that match qemu-img field by field.
//!
//! Limits: every table size is checked against qemu's limits (`MAX_*` in [`header`] and
//! [`snapshot`]) and against the file size before anything is allocated; the L2 cache holds at
//! most [`reader::L2_CACHE_BYTES`]; a compressed cluster decompresses into exactly one cluster.

pub mod check;
pub mod decompress;
pub mod edit;
pub mod error;
pub mod header;
pub mod info;
pub mod reader;
pub mod refcount;
pub mod snapshot;
pub mod table;
pub mod writer;

/// The granule compression qcow2's compressed clusters use (it lives in [`crate::compress`],
/// shared with vmdk and the convert engine; this path is kept for existing callers).
pub use crate::compress;
pub use check::{CheckReport, check};
pub use error::Qcow2Error;
pub use header::{CompressionType, Header, HeaderError};
pub use info::{ImageInfo, info};
pub use reader::Qcow2Image;
pub use snapshot::Snapshot;
pub use writer::{
    Compat, CreateOptions, Preallocation, Qcow2Target, Qcow2WriteError, create, create_file,
};
