//! A squashfs tree as a one-layer OCI image: every node becomes a tar entry (directories,
//! regular files, symlinks, hardlinks, character and block devices, FIFOs) with its mode, uid,
//! gid and mtime, streamed file by file from backhand into a gzip'd tar written to a temporary
//! file, hashing the tar (the diff_id) on the way. Memory is backhand's inode and directory
//! tables plus one block; file data is never held whole.
//!
//! What squashfs holds that the layer does not: sockets (tar has no entry for them; skipped
//! with a debug trace) and extended attributes (backhand 0.25 does not decode the xattr
//! table). A hardlink is recognised where squashfs records one: an extended file inode with
//! a link count over 1, the other paths naming the same inode (same data blocks) becoming
//! `Link` entries to the first path. Paths with a `..` component, or otherwise not plain names
//! under the root, are refused ([`OciError::Escape`]).

use std::collections::HashMap;
use std::io::{self, BufWriter, Read, Write};
use std::path::{Component, Path};

use backhand::{FilesystemReader, InnerNode, SquashfsFileReader};
use flate2::write::GzEncoder;
use sha2::{Digest as _, Sha256};
use strata_model::Digest;

use crate::blob::BlobWrite;
use crate::error::{OciError, Result};
use crate::image::{Image, OCI_CONFIG, OCI_MANIFEST, Platform};
use crate::layout::OciDir;
use crate::sif::SifError;

/// The media type of the layer written.
pub const LAYER_MEDIA_TYPE: &str = "application/vnd.oci.image.layer.v1.tar+gzip";

/// Why a conversion failed: the squashfs, or the layout it is written to.
#[derive(Debug)]
pub enum ConvertError {
    /// The squashfs is invalid.
    Sif(SifError),
    /// Writing the image failed.
    Oci(OciError),
}

impl From<OciError> for ConvertError {
    fn from(e: OciError) -> Self {
        ConvertError::Oci(e)
    }
}

fn squashfs_err(e: impl std::fmt::Display) -> ConvertError {
    ConvertError::Sif(SifError::Squashfs {
        reason: e.to_string(),
    })
}

/// The OCI architecture name of a SIF architecture code (apptainer's `GetGoArch`).
pub fn oci_arch(code: &str) -> Option<&'static str> {
    Some(match code {
        "01" => "386",
        "02" => "amd64",
        "03" => "arm",
        "04" => "arm64",
        "05" => "ppc64",
        "06" => "ppc64le",
        "07" => "mips",
        "08" => "mipsle",
        "09" => "mips64",
        "10" => "mips64le",
        "11" => "s390x",
        "12" => "riscv64",
        _ => return None,
    })
}

/// A writer that hashes what passes through it.
struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
    count: u64,
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// A reader whose errors are squashfs errors (file data that does not decompress).
struct SquashfsData<'a, R> {
    inner: R,
    path: &'a str,
}

impl<R: Read> Read for SquashfsData<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(buf).map_err(|e| {
            OciError::Sif {
                path: self.path.into(),
                error: SifError::Squashfs {
                    reason: e.to_string(),
                },
            }
            .into_io()
        })
    }
}

/// The tar path of a squashfs node (`/usr/bin/ls` -> `usr/bin/ls`), refusing any that is not
/// plain names below the root.
fn entry_path<'p>(full: &'p Path, what: &str) -> Result<&'p Path> {
    for c in full.components() {
        match c {
            Component::RootDir | Component::Normal(_) => {}
            _ => {
                return Err(OciError::Escape {
                    entry: format!("{what}: {}", full.display()),
                    reason: "path not below the squashfs root".to_owned(),
                });
            }
        }
    }
    Ok(full.strip_prefix("/").unwrap_or(full))
}

/// Linux's old `new_encode_dev` split, as squashfs stores device numbers.
fn major_minor(dev: u32) -> (u32, u32) {
    ((dev >> 8) & 0xfff, (dev & 0xff) | ((dev >> 12) & 0xfff00))
}

/// Reads the squashfs in `reader` and writes it into `layout` as a one-layer image for the SIF
/// architecture code `arch` (the host's when absent or unknown). `what` names the source.
pub fn squashfs_to_image<'b>(
    reader: impl backhand::BufReadSeek + 'b,
    layout: &OciDir,
    arch: Option<&str>,
    what: &str,
) -> Result<Image, ConvertError> {
    let fs = FilesystemReader::from_reader(reader).map_err(squashfs_err)?;
    let count = fs.files().count();
    if count > crate::unpack::MAX_ENTRIES {
        return Err(squashfs_err(format!(
            "{count} entries (at most {} are read)",
            crate::unpack::MAX_ENTRIES
        )));
    }
    let tmp = tempfile::Builder::new()
        .prefix(".tmp-layer-")
        .tempfile_in(layout.path())
        .map_err(|e| OciError::from_io(layout.path(), "create temporary file", e))?;
    let file = tmp
        .reopen()
        .map_err(|e| OciError::from_io(tmp.path(), "open", e))?;
    let gz = GzEncoder::new(
        BufWriter::with_capacity(1 << 16, file),
        flate2::Compression::new(6),
    );
    let tar_hash = HashingWriter {
        inner: gz,
        hasher: Sha256::new(),
        count: 0,
    };
    let mut builder = tar::Builder::new(tar_hash);
    let mut links: HashMap<(u64, u64, u32, u32), &Path> = HashMap::new();
    let write_err = |e: io::Error| OciError::from_io(tmp.path(), "write layer", e);
    for node in fs.files() {
        let path = entry_path(&node.fullpath, what)?;
        if path.as_os_str().is_empty() {
            continue; // the root directory itself
        }
        let mut h = tar::Header::new_gnu();
        h.set_mode(u32::from(node.header.permissions) & 0o7777);
        h.set_uid(u64::from(node.header.uid));
        h.set_gid(u64::from(node.header.gid));
        h.set_mtime(u64::from(node.header.mtime));
        h.set_size(0);
        let result = match &node.inner {
            InnerNode::Dir(_) => {
                h.set_entry_type(tar::EntryType::Directory);
                builder.append_data(&mut h, path, io::empty())
            }
            InnerNode::File(f) => {
                if let SquashfsFileReader::Extended(x) = f
                    && x.link_count > 1
                {
                    let key = (x.blocks_start, x.file_size, x.frag_index, x.block_offset);
                    if let Some(first) = links.get(&key) {
                        h.set_entry_type(tar::EntryType::Link);
                        builder
                            .append_link(&mut h, path, first)
                            .map_err(write_err)?;
                        continue;
                    }
                    links.insert(key, path);
                }
                h.set_entry_type(tar::EntryType::Regular);
                h.set_size(f.file_len() as u64);
                let data = SquashfsData {
                    inner: fs.file(f).reader(),
                    path: what,
                };
                builder.append_data(&mut h, path, data)
            }
            InnerNode::Symlink(s) => {
                h.set_entry_type(tar::EntryType::Symlink);
                builder.append_link(&mut h, path, &s.link)
            }
            InnerNode::CharacterDevice(d) => {
                let (major, minor) = major_minor(d.device_number);
                h.set_entry_type(tar::EntryType::Char);
                h.set_device_major(major).map_err(write_err)?;
                h.set_device_minor(minor).map_err(write_err)?;
                builder.append_data(&mut h, path, io::empty())
            }
            InnerNode::BlockDevice(d) => {
                let (major, minor) = major_minor(d.device_number);
                h.set_entry_type(tar::EntryType::Block);
                h.set_device_major(major).map_err(write_err)?;
                h.set_device_minor(minor).map_err(write_err)?;
                builder.append_data(&mut h, path, io::empty())
            }
            InnerNode::NamedPipe => {
                h.set_entry_type(tar::EntryType::Fifo);
                builder.append_data(&mut h, path, io::empty())
            }
            InnerNode::Socket => {
                tracing::debug!("{what}: {}: socket left out of the layer", path.display());
                Ok(())
            }
        };
        result.map_err(write_err)?;
    }
    let tar_hash = builder.into_inner().map_err(write_err)?;
    let diff_id = Digest::from_bytes(tar_hash.hasher.finalize().into());
    let mut buffered = tar_hash.inner.finish().map_err(write_err)?;
    buffered.flush().map_err(write_err)?;
    drop(buffered);
    let mut reread = tmp
        .reopen()
        .map_err(|e| OciError::from_io(tmp.path(), "open", e))?;
    let layer = layout.put_blob(&mut reread, None)?;
    drop(tmp);

    let architecture = arch
        .and_then(oci_arch)
        .map_or_else(|| Platform::host().architecture, str::to_owned);
    let config = serde_json::json!({
        "architecture": architecture,
        "os": "linux",
        "config": {},
        "rootfs": {"type": "layers", "diff_ids": [diff_id.prefixed()]},
        "history": [{"created_by": "strata: converted from a Singularity image"}],
    });
    let config_bytes =
        serde_json::to_vec(&config).map_err(|e| OciError::invalid("config", e.to_string()))?;
    let config_blob = layout.put_bytes(&config_bytes, None)?;
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": config_blob.digest.prefixed(), "size": config_blob.size},
        "layers": [{"mediaType": LAYER_MEDIA_TYPE, "digest": layer.digest.prefixed(), "size": layer.size}],
    });
    let manifest_bytes =
        serde_json::to_vec(&manifest).map_err(|e| OciError::invalid("manifest", e.to_string()))?;
    layout.put_bytes(&manifest_bytes, None)?;
    let image = Image::from_parts(manifest_bytes, config_bytes)?;
    layout.add_to_index(&image.manifest_descriptor, None)?;
    Ok(image)
}
