//! VMDK: reading monolithicSparse, streamOptimized, monolithicFlat, twoGbMaxExtentSparse and
//! twoGbMaxExtentFlat images as qemu reads them, and writing them all as `qemu-img convert -O
//! vmdk` writes them (the single-file ones with [`VmdkTarget`], those with a descriptor file
//! and extent files beside it with [`VmdkSplitTarget`]).
//!
//! A VMDK disk is a list of extents laid end to end, named by a text descriptor: either a
//! file of its own (flat and split variants: `RW 4192256 SPARSE "disk-s001.vmdk"`) or
//! embedded in a single hosted sparse extent (`KDMV` header, descriptor, grain directory,
//! grain tables, grains). One module per structure: [`header`] (sparse header, markers,
//! footer), [`descriptor`] (the text), then [`reader`] and [`writer`].
//!
//! Choices: extent files are opened relative to the descriptor's directory and must resolve
//! inside it (no absolute names, `..` or symbolic links out); descriptors are read up to
//! [`descriptor::MAX_DESCRIPTOR_BYTES`] (64 KiB); parent links (delta disks), COWD / VMFS /
//! seSparse extents are refused by name. Grain directories are checked against qemu's limit
//! and the file size before they are allocated; compressed grains inflate into at most one
//! grain.

pub mod descriptor;
pub mod error;
pub mod header;
pub mod reader;
pub mod split;
pub mod writer;

pub use descriptor::Descriptor;
pub use error::VmdkError;
pub use header::SparseHeader;
pub use reader::VmdkImage;
pub use split::{ExtentFile, VmdkSplitTarget};
pub use writer::{AdapterType, Subformat, VmdkCreateOptions, VmdkTarget, VmdkWriteError};
