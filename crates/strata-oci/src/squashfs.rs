//! Squashfs images of a directory tree for the container cache (`cached_squashfs`), written with
//! backhand with the semantics of pcocc's `mksquashfs BUNDLE FILE -noappend -all-root
//! -noDataCompression -noInodeCompression -noFragmentCompression -noXattrCompression`: every
//! node owned by root (0:0), data, metadata and fragments stored uncompressed, no xattrs.
//!
//! backhand compresses every block and keeps the compressed bytes only when they are smaller;
//! [`Uncompressed`], the compression action used here, answers with something longer than the
//! input, so every data block, fragment and metadata block is stored uncompressed while the
//! superblock names gzip (the compressor id mksquashfs records too, and one every reader
//! knows). Files are opened one at a time while the image is written (backhand's lazy files).
//!
//! Differences from mksquashfs: hardlinked files are stored as separate inodes (backhand's
//! writer has no hardlinks; their data is stored once, as duplicates are), sockets are stored,
//! and modification times are the tree's, clamped to squashfs's `u32` seconds.

use std::fs::{self, File};
use std::io::BufWriter;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use backhand::compression::{CompressionAction, Compressor, DefaultCompressor};
use backhand::kind::Kind;
use backhand::{BackhandError, FilesystemCompressor, FilesystemWriter, NodeHeader, SuperBlock};

use crate::error::{OciError, Result};

/// The compression action that stores everything uncompressed (see the module documentation).
#[derive(Debug, Clone, Copy)]
pub struct Uncompressed;

static UNCOMPRESSED: Uncompressed = Uncompressed;

impl CompressionAction for Uncompressed {
    type Error = BackhandError;
    type Compressor = Compressor;
    type FilesystemCompressor = FilesystemCompressor;
    type SuperBlock = SuperBlock;

    fn decompress(
        &self,
        bytes: &[u8],
        out: &mut Vec<u8>,
        compressor: Compressor,
    ) -> Result<(), BackhandError> {
        DefaultCompressor.decompress(bytes, out, compressor)
    }

    fn compress(
        &self,
        bytes: &[u8],
        _fc: FilesystemCompressor,
        _block_size: u32,
    ) -> Result<Vec<u8>, BackhandError> {
        // Longer than the input: backhand then stores the input as is, marked uncompressed.
        Ok(vec![0; bytes.len() + 1])
    }
}

/// Linux's `new_encode_dev`, as squashfs stores device numbers.
fn encode_dev(rdev: u64) -> u32 {
    let major = rustix::fs::major(rdev);
    let minor = rustix::fs::minor(rdev);
    (minor & 0xff) | ((major & 0xfff) << 8) | ((minor & !0xff) << 12)
}

fn header(meta: &fs::Metadata) -> NodeHeader {
    let mtime = u32::try_from(meta.mtime().max(0)).unwrap_or(u32::MAX);
    // -all-root: every node owned by 0:0.
    NodeHeader::new((meta.mode() & 0o7777) as u16, 0, 0, mtime)
}

/// Writes a squashfs image of the tree at `root` to `out` (see the module documentation).
/// Symlinks are stored, never followed.
pub fn write_tree(root: &Path, out: &Path) -> Result<()> {
    let squash_err = |e: BackhandError| OciError::invalid(out.display().to_string(), e.to_string());
    let mut fs_writer = FilesystemWriter::default();
    fs_writer.set_kind(Kind::new_v4(&UNCOMPRESSED));
    fs_writer
        .set_compressor(FilesystemCompressor::new(Compressor::Gzip, None).map_err(squash_err)?);
    fs_writer.set_emit_compression_options(false);
    fs_writer.set_only_root_id();
    let root_meta = fs::symlink_metadata(root).map_err(|e| OciError::from_io(root, "stat", e))?;
    let root_header = header(&root_meta);
    fs_writer.set_root_mode(root_header.permissions);
    fs_writer.set_root_uid(0);
    fs_writer.set_root_gid(0);
    fs_writer.set_time(root_header.mtime);

    // Depth first, names sorted, parents before children.
    let mut stack: Vec<PathBuf> = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let dir = root.join(&rel);
        let mut names: Vec<_> = fs::read_dir(&dir)
            .map_err(|e| OciError::from_io(&dir, "read directory", e))?
            .map(|e| e.map(|e| e.file_name()))
            .collect::<std::io::Result<_>>()
            .map_err(|e| OciError::from_io(&dir, "read directory", e))?;
        names.sort();
        let mut subdirs = Vec::new();
        for name in names {
            let path = root.join(&rel).join(&name);
            let inside = Path::new("/").join(&rel).join(&name);
            let meta =
                fs::symlink_metadata(&path).map_err(|e| OciError::from_io(&path, "stat", e))?;
            let h = header(&meta);
            let t = meta.file_type();
            let pushed = if t.is_dir() {
                subdirs.push(rel.join(&name));
                fs_writer.push_dir(&inside, h)
            } else if t.is_symlink() {
                let target =
                    fs::read_link(&path).map_err(|e| OciError::from_io(&path, "read link", e))?;
                fs_writer.push_symlink(target, &inside, h)
            } else if t.is_file() {
                fs_writer.push_file_from_path(path.clone(), &inside, h)
            } else if t.is_char_device() {
                fs_writer.push_char_device(encode_dev(meta.rdev()), &inside, h)
            } else if t.is_block_device() {
                fs_writer.push_block_device(encode_dev(meta.rdev()), &inside, h)
            } else if t.is_fifo() {
                fs_writer.push_fifo(&inside, h)
            } else {
                fs_writer.push_socket(&inside, h)
            };
            pushed.map_err(squash_err)?;
        }
        // Reversed, so the stack pops them in name order.
        stack.extend(subdirs.into_iter().rev());
    }
    let file = File::create(out).map_err(|e| OciError::from_io(out, "create", e))?;
    let mut w = BufWriter::with_capacity(1 << 20, file);
    fs_writer.write(&mut w).map_err(|e| match e {
        BackhandError::StdIo(io) => OciError::from_io(out, "write", io),
        other => squash_err(other),
    })?;
    let file = w
        .into_inner()
        .map_err(|e| OciError::from_io(out, "write", e.into_error()))?;
    file.sync_all()
        .map_err(|e| OciError::from_io(out, "fsync", e))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    #[test]
    fn each_kind_of_node_writes() {
        for script in [
            "printf a > r/f",
            "mkdir r/d && printf a > r/d/f",
            "ln -s /x r/l",
            "mkfifo r/p",
            "mkdir -p r/a/b && printf a > r/a/b/f && printf b > r/c",
            "mkdir -p r/rootfs/etc r/rootfs/usr/bin && printf a > r/config.json",
            "mkdir -p r/rootfs/etc r/rootfs/usr/bin",
            "mkdir -p r/rootfs/usr/bin && printf b > r/rootfs/usr/bin/big",
            "mkdir -p r/rootfs/etc && ln -s /n r/rootfs/abs && mkfifo r/rootfs/fifo",
            "mkdir -p r/rootfs/etc && : > r/rootfs/etc/empty",
            "mkdir -p r/rootfs/etc && mkfifo r/rootfs/fifo",
            "mkdir r/a && ln -s ../x r/a/l",
            "mkdir -p r/a/b && ln -s x r/a/b/l",
            "mkdir -p r/a/b && ln -s ../../x r/a/b/l",
            "mkdir -p r/a/b && ln -s ../x r/a/b/l",
            "mkdir -p r/a && ln -s ../../x r/a/l",
            "ln -s ../../x r/l",
            "mkdir -p r/a/b && ln -s ../../x/y r/a/b/l",
            "mkdir -p r/a/b/c && ln -s x r/a/b/c/l",
            "mkdir -p r/a/b/c && printf a > r/a/b/c/f",
            "mkdir -p r/a/b && ln -s x/y r/a/b/l",
            "ln -s x/y r/l",
            "mkdir -p r/a/b && mkfifo r/a/f",
            "mkdir -p r/a/b && : > r/a/e",
        ] {
            let dir = tempfile::tempdir().unwrap();
            std::fs::create_dir(dir.path().join("r")).unwrap();
            let st = std::process::Command::new("sh")
                .arg("-ec")
                .arg(script)
                .current_dir(dir.path())
                .status()
                .unwrap();
            assert!(st.success());
            let out = dir.path().join("o.sqfs");
            write_tree(&dir.path().join("r"), &out).unwrap_or_else(|e| panic!("{script}: {e}"));
        }
    }
}
