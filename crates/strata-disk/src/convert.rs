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
    Cancel, ConvertOptions, ConvertSummary, DEFAULT_CHUNK, DEFAULT_MAX_WORKERS, MAX_CHUNK,
    MAX_WORKERS, Progress, STEP, convert,
};
pub use error::ConvertError;
pub use output::WRITE_BLOCK;
pub use target::{ConvertTarget, DataRanges, Finished, Layout, Placement, SourceMap, finish_at};

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    /// The codec modules at the crate root.
    const CODECS: [&str; 7] = ["raw", "qcow2", "qed", "vdi", "vmdk", "vpc", "vhdx"];

    /// The sources that must name no codec: this module, everything under `convert/`, and the
    /// modules the engine and the codecs share (`crate::error` is not one: the crate-edge error
    /// wraps every codec's own enum).
    fn neutral_sources() -> Vec<PathBuf> {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut files: Vec<PathBuf> = ["convert.rs", "compress.rs", "zero.rs", "image.rs", "io.rs"]
            .iter()
            .map(|f| src.join(f))
            .collect();
        let mut dirs = vec![src.join("convert")];
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    dirs.push(path);
                } else if path.extension().is_some_and(|e| e == "rs") {
                    files.push(path);
                }
            }
        }
        files.sort();
        files
    }

    /// The codecs that `source` names through `crate::` or `super::` paths (`crate::vpc::X`,
    /// `super::super::raw`, or inside a group, `crate::{error::DiskError, qcow2}`), outside
    /// comments.
    fn codecs_named(source: &str) -> Vec<String> {
        let code: String = source
            .lines()
            .map(|l| l.find("//").map_or(l, |i| &l[..i]))
            .collect::<Vec<_>>()
            .join("\n");
        let ident = |s: &str| -> String {
            s.trim_start()
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect()
        };
        let mut named = Vec::new();
        for root in ["crate::", "super::"] {
            for (i, _) in code.match_indices(root) {
                // One chain of `super::` counts once.
                if code[..i].ends_with("super::") {
                    continue;
                }
                let mut rest = &code[i + root.len()..];
                while let Some(r) = rest.strip_prefix("super::") {
                    rest = r;
                }
                let first: Vec<String> = match rest.strip_prefix('{') {
                    // A group: the first segment of each of its top-level paths.
                    Some(group) => {
                        let (mut depth, mut items, mut start) = (0, Vec::new(), 0);
                        for (j, c) in group.char_indices() {
                            match c {
                                '{' => depth += 1,
                                '}' if depth == 0 => {
                                    items.push(&group[start..j]);
                                    break;
                                }
                                '}' => depth -= 1,
                                ',' if depth == 0 => {
                                    items.push(&group[start..j]);
                                    start = j + 1;
                                }
                                _ => {}
                            }
                        }
                        items.into_iter().map(ident).collect()
                    }
                    None => vec![ident(rest)],
                };
                named.extend(first.into_iter().filter(|n| CODECS.contains(&n.as_str())));
            }
        }
        named
    }

    #[test]
    fn the_detector_finds_codec_paths_and_ignores_comments() {
        // Written with CRATE and SUPER so that this file itself names no codec.
        let named = |s: &str| codecs_named(&s.replace("CRATE", "crate").replace("SUPER", "super"));
        assert_eq!(named("use CRATE::qcow2::Qcow2Target;"), ["qcow2"]);
        assert_eq!(named("use CRATE::{error::DiskError, vpc};"), ["vpc"]);
        assert_eq!(
            named("use CRATE::{\n    image::{DiskImage, Extent},\n    raw::RawTarget,\n};"),
            ["raw"]
        );
        assert_eq!(
            named("let t = SUPER::SUPER::vdi::VdiTarget::create(out)?;"),
            ["vdi"]
        );
        assert_eq!(named("x(CRATE::vmdk::Subformat::Stream)"), ["vmdk"]);
        assert!(named("use CRATE::error::DiskError; // not CRATE::qed").is_empty());
        assert!(named("//! See [`Qcow2Target`](CRATE::qcow2::Qcow2Target).").is_empty());
        assert!(named("use CRATE::{compress::Compression, zero::is_zero};").is_empty());
        assert!(named("use SUPER::target::Layout;").is_empty());
    }

    /// The engine and its contract name no codec: the codecs import the contract, never the
    /// other way (the factory that names them all is `crate::create`).
    #[test]
    fn convert_and_the_shared_modules_name_no_codec() {
        let sources = neutral_sources();
        assert!(sources.len() >= 10, "{sources:?}");
        let mut offenders = Vec::new();
        for path in &sources {
            let text = std::fs::read_to_string(path).unwrap();
            for codec in codecs_named(&text) {
                offenders.push(format!("{} names crate::{codec}", path.display()));
            }
        }
        assert!(offenders.is_empty(), "{offenders:#?}");
    }
}
