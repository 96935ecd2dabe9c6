//! The format-neutral convert engine: walks a source's block status (never reading holes or
//! known zeros), reads the data in large chunks on worker threads, finds zero blocks,
//! compresses in parallel (rayon) when the target compresses, and tells the target of every
//! granule in guest order.
//!
//! Targets implement [`ConvertTarget`]: they are told the source's data ranges first
//! ([`ConvertTarget::plan`], through a [`SourceMap`]) so that formats whose metadata precedes
//! their data (uncompressed qcow2) can lay the file out before any data is read, then receive
//! every granule of those ranges in order, as data, compressed data or zeros, and finally
//! [`ConvertTarget::finish`].
//!
//! **Parallel positional writes.** When the plan fixes where every data granule goes in the
//! file (raw: at its guest offset; uncompressed qcow2: packed in guest order after the
//! metadata; vdi and dynamic vpc: whole blocks, each at its own slot, see [`Layout`]), the
//! target hands the engine a [`Placement`]. Several workers then each take whole
//! chunks (up to [`DEFAULT_CHUNK`] of data; small data ranges share a chunk): read from the
//! source, find the zero granules (left as holes) and `pwrite` the data at its known offset, in
//! any order, with no single writer in between, in writes of at most [`WRITE_BLOCK`]. They go
//! through a chunk in [`STEP`]s and write when no other worker is writing, reading on meanwhile
//! (the kernel would make them spin on the file's inode lock). The target still hears of every
//! granule in guest order ([`ConvertTarget::record`]), on the calling thread, which validates
//! the layout and hashes the output in the same pass while the workers go on.
//! Without a placement (compressed output), one worker reads and the calling thread writes.
//!
//! Memory: `2 × workers + 1` chunk buffers (plus the compressed forms of a chunk).
//!
//! **Layout.** [`engine`] holds [`convert()`](engine::convert) and its scheduler and workers;
//! [`target`] the contract a destination implements ([`ConvertTarget`], [`SourceMap`],
//! [`Layout`], [`Placement`], [`Finished`], [`finish_at`]); [`output`] the writer contract
//! targets write through ([`Output`](output::Output), [`OutputFile`](output::OutputFile),
//! [`WRITE_BLOCK`]); `plan` the block plan the vdi and dynamic vpc writers share; [`error`] the
//! engine's own errors ([`ConvertError`]).
//!
//! **No codec here.** The codecs implement the contract and import it from this module; nothing
//! in it imports a codec (`crate::raw`, `crate::qcow2`, `crate::qed`, `crate::vdi`,
//! `crate::vmdk`, `crate::vpc`, `crate::vhdx`). What both sides use lives apart from both:
//! `is_zero` in `zero`, granule compression in [`crate::compress`]. The one factory that
//! names every writable format is [`crate::create`], at the crate root. A test below reads these
//! sources and fails on a codec import.

pub mod engine;
pub mod error;
pub mod output;
pub(crate) mod plan;
pub mod target;

pub use crate::compress::Compression;
pub use engine::{
    ConvertOptions, ConvertSummary, DEFAULT_CHUNK, DEFAULT_MAX_WORKERS, MAX_CHUNK, MAX_WORKERS,
    Progress, STEP, convert,
};
pub use error::ConvertError;
pub use output::WRITE_BLOCK;
pub use target::{ConvertTarget, DataRanges, Finished, Layout, Placement, SourceMap, finish_at};
