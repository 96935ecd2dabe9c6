//! Layer application: unpacks a manifest's layers (tar, plain or gzip or zstd, detected by their
//! magic bytes) into a root directory, applying OCI whiteouts, safely with hostile layers.
//!
//! Every path is resolved component by component from an fd of the root, with `openat` and
//! `O_NOFOLLOW`, never by joining strings: an entry whose path is absolute or has a `..`
//! component is refused ([`OciError::Escape`]); a symlink met in the middle of a path is followed
//! with the root as `/` (as a container sees it) and refused if its target climbs above the root;
//! the last component is never followed (a symlink there is replaced). Hardlink targets are
//! resolved the same way, so they cannot name a file outside the root.
//!
//! Choices, as umoci and containerd make them: `.wh.NAME` removes `NAME` from the layers below,
//! `.wh..wh..opq` removes every child of its directory that this layer does not itself provide;
//! ownership is applied only when running as root; `SCHILY.xattr.*` records are applied where
//! the filesystem and privileges permit, with a warning where not. Directories are created
//! writable and get their recorded mode and mtime after the last layer.
//!
//! Layers are untrusted, and so by default ([`UnpackOptions::default`]) nothing they hold
//! gains privileges: character and block device nodes are not created (skipped with a
//! warning, counted in [`UnpackStats::skipped`]) and setuid and setgid bits are cleared
//! (counted in [`UnpackStats::setid_cleared`]); FIFOs, the sticky bit and every other mode bit
//! are kept. A caller that trusts its images asks for them ([`UnpackOptions::device_nodes`],
//! [`UnpackOptions::setid_bits`]); device nodes still need root, and setid bits are kept only
//! with the recorded owners ([`UnpackOptions::same_owner`]).
//!
//! Sizes: a compressed layer may expand at most [`UnpackOptions::expansion`] times its size
//! (a decompression bomb fails early, [`OciError::ExpansionTooLarge`]); the decompressed
//! stream of each layer is capped ([`UnpackOptions::max_layer_size`]), and so is each tar
//! metadata entry (PAX records, GNU long names: [`crate::targuard::MAX_TAR_METADATA`]), which
//! the tar crate reads whole into memory. A layer's digest is known to be right only at the
//! end of its stream: after an error the root must be discarded.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::Path;

use rustix::fs::{AtFlags, FileType, Mode, OFlags, Timespec, Timestamps};
use rustix::io::Errno;
use strata_model::text::printable;

use crate::blob::BlobRead;
use crate::error::{OciError, Result};
use crate::image::{Image, expected_of};
use crate::inflate::{ExpansionLimit, inflate};
use crate::verify::LimitedReader;

pub use crate::inflate::Compression;

/// Default cap on one layer's decompressed tar stream: 64 GiB.
pub const DEFAULT_MAX_LAYER_SIZE: u64 = 64 << 30;

/// Longest entry path accepted, in bytes (Linux's `PATH_MAX`).
pub const MAX_PATH_LEN: usize = 4096;

/// Symlinks followed while resolving one path (Linux's limit, `MAXSYMLINKS`).
const MAX_SYMLINKS: usize = 40;

/// Most entries in one layer (a full distribution has a few hundred thousand); bounds the
/// memory of the paths a layer provides, kept for its whiteouts.
pub const MAX_ENTRIES: usize = 1 << 22;

/// Deepest directory tree removed by a whiteout.
const MAX_REMOVE_DEPTH: usize = 256;

/// How layers are applied. The default is safe with untrusted layers (see the module
/// documentation).
#[derive(Debug, Clone)]
pub struct UnpackOptions {
    /// The most bytes one layer's decompressed tar stream may have ([`OciError::TooLarge`]).
    pub max_layer_size: u64,
    /// How far a compressed layer may expand relative to its compressed size
    /// ([`OciError::ExpansionTooLarge`]; default [`ExpansionLimit::DEFAULT`]).
    pub expansion: ExpansionLimit,
    /// Apply the owners the layer records (needs root; default: whether we run as root).
    pub same_owner: bool,
    /// Create the character and block device nodes the layers hold (needs root; default
    /// false: they are skipped).
    pub device_nodes: bool,
    /// Keep setuid and setgid bits (only with [`UnpackOptions::same_owner`]; default false:
    /// they are cleared).
    pub setid_bits: bool,
}

impl Default for UnpackOptions {
    fn default() -> Self {
        UnpackOptions {
            max_layer_size: DEFAULT_MAX_LAYER_SIZE,
            expansion: ExpansionLimit::DEFAULT,
            same_owner: rustix::process::geteuid().is_root(),
            device_nodes: false,
            setid_bits: false,
        }
    }
}

/// What an unpack did, for reports and tests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UnpackStats {
    /// Entries created or replaced.
    pub entries: u64,
    /// Paths removed by whiteouts.
    pub whiteouts: u64,
    /// Entries skipped (device nodes not asked for or without root, unknown types).
    pub skipped: u64,
    /// Files and device nodes whose setuid or setgid bit was cleared (directories lose theirs
    /// too, uncounted: there it only means group inheritance).
    pub setid_cleared: u64,
}

/// Unpacks every layer of `image`, read and verified from `store`, into `root` (created if
/// missing). After an error `root` is in an unspecified state and must be discarded.
pub fn unpack_image(
    store: &dyn BlobRead,
    image: &Image,
    root: &Path,
    opts: &UnpackOptions,
) -> Result<UnpackStats> {
    std::fs::create_dir_all(root).map_err(|e| OciError::from_io(root, "create directory", e))?;
    let mut unpacker = Unpacker::new(root, opts)?;
    for layer in image.layers() {
        let exp = expected_of(layer, "layer")?;
        let reader = store.open_blob(&exp.digest, exp.size)?;
        unpacker.apply_layer(reader, Some(exp.size), &format!("layer {}", exp.digest))?;
    }
    unpacker.finish()
}

/// Unpacks one layer (a tar stream, maybe compressed, of unknown size: its expansion is
/// limited relative to the compressed bytes read so far) into an existing directory `root`.
pub fn unpack_layer(
    reader: impl Read,
    root: &Path,
    opts: &UnpackOptions,
    what: &str,
) -> Result<UnpackStats> {
    let mut unpacker = Unpacker::new(root, opts)?;
    unpacker.apply_layer(reader, None, what)?;
    unpacker.finish()
}

/// Copies the regular file at `path` (relative to the layer's root, `a/b` or `./a/b`) out of one
/// layer (a tar stream, maybe compressed, of `size` stored bytes when known) into `out`, and
/// returns its length (the file is rewound and cut to it), or `None` when the layer has no entry at that path. The layer is read to
/// its end either way, so that a verifying reader checks its digest before the copy counts: a
/// layer whose digest is wrong is an error even when the file was found. The same bounds as
/// unpacking hold (tar metadata, expansion, [`UnpackOptions::max_layer_size`]); an entry at
/// `path` that is not a regular file is refused. A later entry of the same path wins, as when a
/// layer is unpacked.
pub fn extract_file(
    reader: impl Read,
    size: Option<u64>,
    path: &str,
    out: &mut File,
    opts: &UnpackOptions,
    what: &str,
) -> Result<Option<u64>> {
    let wanted = normalize(path.as_bytes(), path)?;
    let mut buffered = BufReader::with_capacity(1 << 16, reader);
    let head = buffered
        .fill_buf()
        .map_err(|e| OciError::from_io(what, "read", e))?;
    let compression = Compression::detect(head, what)?;
    let found = (|| {
        let decoder = inflate(&mut buffered, compression, size, &opts.expansion, what)?;
        let padded = PadToBlock {
            inner: decoder,
            count: 0,
        };
        let guarded = crate::targuard::TarGuard::new(padded, what);
        let mut limited = LimitedReader::new(guarded, what, opts.max_layer_size);
        let mut found = None;
        {
            let mut archive = tar::Archive::new(&mut limited);
            let entries = archive
                .entries()
                .map_err(|e| OciError::from_io(what, "read tar", e))?;
            for entry in entries {
                let mut entry = entry.map_err(|e| OciError::from_io(what, "read tar", e))?;
                let raw = entry.path_bytes().into_owned();
                let shown = printable(&String::from_utf8_lossy(&raw));
                if normalize(&raw, &shown)? != wanted {
                    continue;
                }
                let kind = entry.header().entry_type();
                if !kind.is_file() {
                    return Err(OciError::invalid(
                        format!("{what}: {shown}"),
                        format!("not a regular file ({kind:?})"),
                    ));
                }
                let n = io::Seek::rewind(out)
                    .and_then(|()| crate::verify::copy(&mut entry, out))
                    .and_then(|n| out.set_len(n).map(|()| n))
                    .map_err(|e| OciError::from_io(format!("{what}: {shown}"), "copy", e))?;
                found = Some(n);
            }
        }
        crate::verify::copy(&mut limited, &mut io::sink())
            .map_err(|e| OciError::from_io(what, "read", e))?;
        Ok(found)
    })();
    let drained =
        io::copy(&mut buffered, &mut io::sink()).map_err(|e| OciError::from_io(what, "read", e));
    match (found, drained) {
        (_, Err(e)) if e.kind() == crate::ErrorKind::IntegrityMismatch => Err(e),
        (Err(e), _) | (Ok(_), Err(e)) => Err(e),
        (Ok(found), Ok(_)) => Ok(found),
    }
}

/// The paths a layer provides, for its whiteouts, which hide only what lower layers provide.
/// Full paths only, joined with `/`: a path is provided if it or something below it is.
#[derive(Default)]
struct Provided {
    paths: BTreeSet<Vec<u8>>,
}

impl Provided {
    fn key(path: &[OsString]) -> Vec<u8> {
        let mut key = Vec::new();
        for (i, c) in path.iter().enumerate() {
            if i > 0 {
                key.push(b'/');
            }
            key.extend_from_slice(c.as_bytes());
        }
        key
    }

    fn insert(&mut self, path: &[OsString]) {
        self.paths.insert(Self::key(path));
    }

    fn provides(&self, path: &[OsString]) -> bool {
        let key = Self::key(path);
        if self.paths.contains(&key) {
            return true;
        }
        let mut below = key;
        below.push(b'/');
        self.paths
            .range(below.clone()..)
            .next()
            .is_some_and(|p| p.starts_with(&below))
    }
}

/// A directory whose mode and mtime are set once every layer is applied.
struct DeferredDir {
    path: Vec<OsString>,
    mode: u32,
    mtime: u64,
}

/// Applies layers one after the other to one root.
pub struct Unpacker {
    root: OwnedFd,
    opts: UnpackOptions,
    is_root: bool,
    dirs: Vec<DeferredDir>,
    stats: UnpackStats,
}

impl Unpacker {
    /// Opens `root` (which must exist and be a directory) for unpacking.
    pub fn new(root: &Path, opts: &UnpackOptions) -> Result<Unpacker> {
        let fd = rustix::fs::open(
            root,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| OciError::from_io(root, "open directory", e.into()))?;
        Ok(Unpacker {
            root: fd,
            opts: opts.clone(),
            is_root: rustix::process::geteuid().is_root(),
            dirs: Vec::new(),
            stats: UnpackStats::default(),
        })
    }

    /// Applies one layer of `size` stored bytes, when known (its expansion limit is taken of
    /// it). The stream is read to its very end (so a verifying reader checks it).
    pub fn apply_layer(&mut self, reader: impl Read, size: Option<u64>, what: &str) -> Result<()> {
        let mut buffered = BufReader::with_capacity(1 << 16, reader);
        let head = buffered
            .fill_buf()
            .map_err(|e| OciError::from_io(what, "read", e))?;
        let compression = Compression::detect(head, what)?;
        let applied = (|| {
            let decoder = inflate(&mut buffered, compression, size, &self.opts.expansion, what)?;
            let padded = PadToBlock {
                inner: decoder,
                count: 0,
            };
            let guarded = crate::targuard::TarGuard::new(padded, what);
            let mut limited = LimitedReader::new(guarded, what, self.opts.max_layer_size);
            self.apply_entries(&mut tar::Archive::new(&mut limited), what)?;
            // The rest of the decompressed stream (tar padding) counts toward the cap too.
            crate::verify::copy(&mut limited, &mut io::sink())
                .map_err(|e| OciError::from_io(what, "read", e))?;
            Ok(())
        })();
        // Read the stored stream to its end: a verifying reader checks the digest there. When
        // the layer failed to apply, a wrong digest is the better explanation, so it wins.
        let drained = io::copy(&mut buffered, &mut io::sink())
            .map_err(|e| OciError::from_io(what, "read", e));
        match (applied, drained) {
            (_, Err(e)) if e.kind() == crate::ErrorKind::IntegrityMismatch => Err(e),
            (Err(e), _) | (Ok(()), Err(e)) => Err(e),
            (Ok(()), Ok(_)) => Ok(()),
        }
    }

    /// Sets every directory's recorded mode and mtime; returns what was done.
    pub fn finish(mut self) -> Result<UnpackStats> {
        // The last record of a directory wins; deepest first, so that a parent made read-only
        // or unsearchable does not stop its children being fixed.
        let mut last: HashMap<Vec<OsString>, DeferredDir> = HashMap::new();
        for dir in std::mem::take(&mut self.dirs) {
            last.insert(dir.path.clone(), dir);
        }
        let mut dirs: Vec<DeferredDir> = last.into_values().collect();
        dirs.sort_by(|a, b| {
            b.path
                .len()
                .cmp(&a.path.len())
                .then_with(|| a.path.cmp(&b.path))
        });
        for dir in &dirs {
            let Some((name, parent_path)) = dir.path.split_last() else {
                continue;
            };
            let parent = match self.resolve_dir(parent_path, false, "") {
                Ok(p) => p,
                Err(_) => continue, // removed or replaced by a later entry
            };
            let fd = match rustix::fs::openat(
                parent.as_fd(),
                name.as_os_str(),
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
            ) {
                Ok(fd) => fd,
                Err(_) => continue,
            };
            let shown = display(&dir.path);
            rustix::fs::fchmod(&fd, Mode::from_raw_mode(self.mode_bits(dir.mode)))
                .map_err(|e| OciError::from_io(&shown, "chmod", e.into()))?;
            rustix::fs::futimens(&fd, &timestamps(dir.mtime))
                .map_err(|e| OciError::from_io(&shown, "set mtime", e.into()))?;
        }
        Ok(self.stats)
    }

    /// The permission bits to set: setuid and setgid only when asked for and with owners.
    fn mode_bits(&self, mode: u32) -> u32 {
        if self.opts.setid_bits && self.opts.same_owner {
            mode & 0o7777
        } else {
            mode & 0o1777
        }
    }

    /// [`Unpacker::mode_bits`] of an entry's mode, counting a cleared setuid or setgid bit.
    fn entry_mode_bits(&mut self, mode: u32, shown: &str) -> u32 {
        let bits = self.mode_bits(mode);
        if mode & 0o6000 != bits & 0o6000 {
            tracing::debug!(
                entry = shown,
                mode = format!("{mode:o}"),
                "setuid/setgid bit cleared"
            );
            self.stats.setid_cleared += 1;
        }
        bits
    }

    fn apply_entries<R: Read>(&mut self, archive: &mut tar::Archive<R>, what: &str) -> Result<()> {
        let mut this_layer = Provided::default();
        let entries = archive.entries().map_err(|e| OciError::from_tar(what, e))?;
        for (count, entry) in entries.enumerate() {
            if count >= MAX_ENTRIES {
                return Err(OciError::TooLarge {
                    what: format!("{what}: more than {MAX_ENTRIES} entries"),
                    limit: MAX_ENTRIES as u64,
                });
            }
            let mut entry = entry.map_err(|e| tar_error(what, e))?;
            let raw = entry.path_bytes().into_owned();
            let shown = printable(&String::from_utf8_lossy(&raw));
            let path = normalize(&raw, &shown)?;
            let Some((name, parent)) = path.split_last() else {
                continue; // the root itself ("./")
            };
            let name_bytes = name.as_bytes();
            if name_bytes == b".wh..wh..opq" {
                self.opaque(parent, &this_layer, &shown)?;
                continue;
            }
            if let Some(hidden) = name_bytes.strip_prefix(b".wh.") {
                if hidden.is_empty() || hidden == b"." || hidden == b".." || hidden.contains(&b'/')
                {
                    return Err(OciError::invalid(shown, "whiteout names no file"));
                }
                let mut target = parent.to_vec();
                target.push(OsStr::from_bytes(hidden).to_os_string());
                if !this_layer.provides(&target) {
                    self.whiteout(parent, OsStr::from_bytes(hidden), &shown)?;
                }
                continue;
            }
            this_layer.insert(&path);
            self.apply_entry(&mut entry, &path, &shown)?;
        }
        Ok(())
    }

    fn apply_entry<R: Read>(
        &mut self,
        entry: &mut tar::Entry<'_, R>,
        path: &[OsString],
        shown: &str,
    ) -> Result<()> {
        let (name, parent_path) = path.split_last().expect("caller checked non-empty");
        let header = entry.header().clone();
        let kind = header.entry_type();
        let mode = numeric(&header, 100..108, header.mode().map(u64::from), shown)?;
        let mode = u32::try_from(mode & 0o7777).unwrap_or(0);
        let pax = read_pax(entry, shown)?;
        let uid = match pax.uid {
            Some(v) => v,
            None => numeric(&header, 108..116, header.uid(), shown)?,
        };
        let gid = match pax.gid {
            Some(v) => v,
            None => numeric(&header, 116..124, header.gid(), shown)?,
        };
        let mtime = match pax.mtime {
            Some(v) => v,
            None => numeric(&header, 136..148, header.mtime(), shown)?,
        };
        let xattrs = pax.xattrs;
        let parent = self.resolve_dir(parent_path, true, shown)?;
        let parent = parent.as_fd();
        let owner = self.opts.same_owner.then(|| {
            (
                rustix::fs::Uid::from_raw(u32::try_from(uid).unwrap_or(u32::MAX)),
                rustix::fs::Gid::from_raw(u32::try_from(gid).unwrap_or(u32::MAX)),
            )
        });
        use tar::EntryType as T;
        match kind {
            T::Directory => {
                let is_dir = matches!(
                    rustix::fs::statat(parent, name.as_os_str(), AtFlags::SYMLINK_NOFOLLOW),
                    Ok(st) if FileType::from_raw_mode(st.st_mode) == FileType::Directory
                );
                if !is_dir {
                    remove_existing(parent, name, false, shown)?;
                    rustix::fs::mkdirat(parent, name.as_os_str(), Mode::from_raw_mode(0o700))
                        .map_err(|e| OciError::from_io(shown, "mkdir", e.into()))?;
                }
                let fd = rustix::fs::openat(
                    parent,
                    name.as_os_str(),
                    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                    Mode::empty(),
                )
                .map_err(|e| OciError::from_io(shown, "open directory", e.into()))?;
                if let Some((u, g)) = owner {
                    rustix::fs::fchown(&fd, Some(u), Some(g))
                        .map_err(|e| OciError::from_io(shown, "chown", e.into()))?;
                }
                // Writable until finish(), whatever the layer says.
                rustix::fs::fchmod(&fd, Mode::from_raw_mode(self.mode_bits(mode) | 0o700))
                    .map_err(|e| OciError::from_io(shown, "chmod", e.into()))?;
                set_xattrs(&fd, &xattrs, shown);
                self.dirs.push(DeferredDir {
                    path: path.to_vec(),
                    mode,
                    mtime,
                });
            }
            T::Regular | T::Continuous | T::GNUSparse => {
                remove_existing(parent, name, false, shown)?;
                let fd = rustix::fs::openat(
                    parent,
                    name.as_os_str(),
                    OFlags::WRONLY
                        | OFlags::CREATE
                        | OFlags::EXCL
                        | OFlags::NOFOLLOW
                        | OFlags::CLOEXEC,
                    Mode::from_raw_mode(0o600),
                )
                .map_err(|e| OciError::from_io(shown, "create", e.into()))?;
                let mut file = File::from(fd);
                crate::verify::copy(entry, &mut file).map_err(|e| tar_error(shown, e))?;
                if let Some((u, g)) = owner {
                    rustix::fs::fchown(&file, Some(u), Some(g))
                        .map_err(|e| OciError::from_io(shown, "chown", e.into()))?;
                }
                let bits = self.entry_mode_bits(mode, shown);
                rustix::fs::fchmod(&file, Mode::from_raw_mode(bits))
                    .map_err(|e| OciError::from_io(shown, "chmod", e.into()))?;
                set_xattrs(&file, &xattrs, shown);
                rustix::fs::futimens(&file, &timestamps(mtime))
                    .map_err(|e| OciError::from_io(shown, "set mtime", e.into()))?;
            }
            T::Symlink => {
                let target = entry
                    .link_name_bytes()
                    .ok_or_else(|| OciError::invalid(shown, "symlink without target"))?
                    .into_owned();
                remove_existing(parent, name, false, shown)?;
                rustix::fs::symlinkat(target.as_slice(), parent, name.as_os_str())
                    .map_err(|e| OciError::from_io(shown, "symlink", e.into()))?;
                set_owner_and_mtime_at(parent, name, owner, mtime, shown)?;
            }
            T::Link => {
                let raw = entry
                    .link_name_bytes()
                    .ok_or_else(|| OciError::invalid(shown, "hardlink without target"))?
                    .into_owned();
                let target = normalize(&raw, shown).map_err(|e| match e {
                    OciError::Escape { reason, .. } => OciError::Escape {
                        entry: shown.to_owned(),
                        reason: format!(
                            "hardlink target {}: {reason}",
                            printable(&String::from_utf8_lossy(&raw))
                        ),
                    },
                    other => other,
                })?;
                if target.as_slice() == path {
                    return Ok(());
                }
                let Some((tname, tparent_path)) = target.split_last() else {
                    return Err(OciError::invalid(shown, "hardlink to the root directory"));
                };
                let tparent = self.resolve_dir(tparent_path, false, shown)?;
                match rustix::fs::statat(
                    tparent.as_fd(),
                    tname.as_os_str(),
                    AtFlags::SYMLINK_NOFOLLOW,
                ) {
                    Ok(st) if FileType::from_raw_mode(st.st_mode) == FileType::Directory => {
                        return Err(OciError::invalid(shown, "hardlink to a directory"));
                    }
                    Ok(_) => {}
                    Err(e) => {
                        return Err(OciError::from_io(
                            format!("{shown}: hardlink target {}", display(&target)),
                            "stat",
                            e.into(),
                        ));
                    }
                }
                remove_existing(parent, name, false, shown)?;
                rustix::fs::linkat(
                    tparent.as_fd(),
                    tname.as_os_str(),
                    parent,
                    name.as_os_str(),
                    AtFlags::empty(),
                )
                .map_err(|e| OciError::from_io(shown, "link", e.into()))?;
            }
            T::Char | T::Block | T::Fifo => {
                if kind != T::Fifo && !self.opts.device_nodes {
                    tracing::warn!(entry = shown, "device node skipped: not asked for");
                    self.stats.skipped += 1;
                    return Ok(());
                }
                if kind != T::Fifo && !self.is_root {
                    tracing::warn!(entry = shown, "device node skipped: not running as root");
                    self.stats.skipped += 1;
                    return Ok(());
                }
                // A FIFO has no device numbers; some writers leave the fields blank.
                let (major, minor) = if kind == T::Fifo {
                    (0, 0)
                } else {
                    (
                        header
                            .device_major()
                            .map_err(|e| tar_error(shown, e))?
                            .unwrap_or(0),
                        header
                            .device_minor()
                            .map_err(|e| tar_error(shown, e))?
                            .unwrap_or(0),
                    )
                };
                let ft = match kind {
                    T::Char => FileType::CharacterDevice,
                    T::Block => FileType::BlockDevice,
                    _ => FileType::Fifo,
                };
                remove_existing(parent, name, false, shown)?;
                rustix::fs::mknodat(
                    parent,
                    name.as_os_str(),
                    ft,
                    Mode::from_raw_mode(self.entry_mode_bits(mode, shown)),
                    rustix::fs::makedev(major, minor),
                )
                .map_err(|e| OciError::from_io(shown, "mknod", e.into()))?;
                set_owner_and_mtime_at(parent, name, owner, mtime, shown)?;
            }
            T::XGlobalHeader => return Ok(()),
            other => {
                tracing::warn!(entry = shown, kind = ?other, "tar entry of unsupported type skipped");
                self.stats.skipped += 1;
                return Ok(());
            }
        }
        self.stats.entries += 1;
        Ok(())
    }

    /// `.wh.NAME` in `parent`: removes NAME if it exists.
    fn whiteout(&mut self, parent: &[OsString], name: &OsStr, shown: &str) -> Result<()> {
        let dir = match self.resolve_dir(parent, false, shown) {
            Ok(d) => d,
            Err(e) if e.kind() == crate::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        if remove_existing(dir.as_fd(), name, false, shown)? {
            self.stats.whiteouts += 1;
        }
        Ok(())
    }

    /// `.wh..wh..opq` in `parent`: removes every child this layer does not provide.
    fn opaque(&mut self, parent: &[OsString], this_layer: &Provided, shown: &str) -> Result<()> {
        let dir = match self.resolve_dir(parent, false, shown) {
            Ok(d) => d,
            Err(e) if e.kind() == crate::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        let listing = rustix::fs::openat(
            dir.as_fd(),
            ".",
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| OciError::from_io(shown, "open directory", e.into()))?;
        let mut children = Vec::new();
        for child in rustix::fs::Dir::read_from(&listing)
            .map_err(|e| OciError::from_io(shown, "read directory", e.into()))?
        {
            let child = child.map_err(|e| OciError::from_io(shown, "read directory", e.into()))?;
            let name = OsStr::from_bytes(child.file_name().to_bytes()).to_os_string();
            if name == "." || name == ".." {
                continue;
            }
            let mut full = parent.to_vec();
            full.push(name.clone());
            if !this_layer.provides(&full) {
                children.push(name);
            }
        }
        for name in children {
            if remove_existing(dir.as_fd(), &name, false, shown)? {
                self.stats.whiteouts += 1;
            }
        }
        Ok(())
    }

    /// Opens the directory `path` below the root, following symlinks met on the way with the
    /// root as `/`, creating missing directories when `create`. Refuses a symlink that climbs
    /// above the root.
    fn resolve_dir(&self, path: &[OsString], create: bool, shown: &str) -> Result<OwnedFd> {
        let mut stack: Vec<OwnedFd> = Vec::new();
        let mut pending: VecDeque<OsString> = path.iter().cloned().collect();
        let mut links = 0usize;
        while let Some(c) = pending.pop_front() {
            if c == "." || c.is_empty() {
                continue;
            }
            if c == ".." {
                if stack.pop().is_none() {
                    return Err(OciError::Escape {
                        entry: shown.to_owned(),
                        reason: "a symlink on its path leads above the root".to_owned(),
                    });
                }
                continue;
            }
            let cur: BorrowedFd<'_> = stack.last().map_or(self.root.as_fd(), |f| f.as_fd());
            let st = match rustix::fs::statat(cur, c.as_os_str(), AtFlags::SYMLINK_NOFOLLOW) {
                Ok(st) => Some(st),
                Err(Errno::NOENT) => None,
                Err(e) => return Err(OciError::from_io(shown, "stat", e.into())),
            };
            match st.map(|s| FileType::from_raw_mode(s.st_mode)) {
                Some(FileType::Directory) => {}
                Some(FileType::Symlink) => {
                    links += 1;
                    if links > MAX_SYMLINKS {
                        return Err(OciError::invalid(shown, "too many symlinks on its path"));
                    }
                    let target = rustix::fs::readlinkat(cur, c.as_os_str(), Vec::new())
                        .map_err(|e| OciError::from_io(shown, "readlink", e.into()))?;
                    let target = target.as_bytes();
                    if target.first() == Some(&b'/') {
                        stack.clear();
                    }
                    for part in target.split(|b| *b == b'/').rev() {
                        pending.push_front(OsStr::from_bytes(part).to_os_string());
                    }
                    continue;
                }
                Some(_) => {
                    return Err(OciError::invalid(
                        shown,
                        format!("{} on its path is not a directory", c.to_string_lossy()),
                    ));
                }
                None if create => {
                    rustix::fs::mkdirat(cur, c.as_os_str(), Mode::from_raw_mode(0o755))
                        .map_err(|e| OciError::from_io(shown, "mkdir", e.into()))?;
                }
                None => {
                    return Err(OciError::not_found(format!(
                        "{shown}: {} on its path",
                        c.to_string_lossy()
                    )));
                }
            }
            let fd = rustix::fs::openat(
                cur,
                c.as_os_str(),
                OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .map_err(|e| OciError::from_io(shown, "open directory", e.into()))?;
            stack.push(fd);
        }
        match stack.pop() {
            Some(fd) => Ok(fd),
            None => {
                rustix::io::dup(&self.root).map_err(|e| OciError::from_io(shown, "dup", e.into()))
            }
        }
    }
}

/// Pads a stream that ends inside a 512-byte tar block with zeros to the block's end: umoci 0.4
/// writes layers whose last file lacks its padding (and the end-of-archive blocks), which GNU
/// tar and Go accept. Layers read from a blob store are verified against their digest, so this
/// leniency cannot hide a truncated blob.
struct PadToBlock<R> {
    inner: R,
    count: u64,
}

impl<R: Read> Read for PadToBlock<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n > 0 || buf.is_empty() {
            self.count += n as u64;
            return Ok(n);
        }
        let missing = (512 - self.count % 512) % 512;
        let k = buf
            .len()
            .min(usize::try_from(missing).unwrap_or(usize::MAX));
        buf[..k].fill(0);
        self.count += k as u64;
        Ok(k)
    }
}

/// The components of an entry path: `.` and empty ones dropped; `..` and absolute paths refused.
fn normalize(raw: &[u8], shown: &str) -> Result<Vec<OsString>> {
    if raw.len() > MAX_PATH_LEN {
        return Err(OciError::invalid(
            shown.chars().take(64).collect::<String>() + "…",
            format!("path of {} bytes (limit {MAX_PATH_LEN})", raw.len()),
        ));
    }
    if raw.first() == Some(&b'/') {
        return Err(OciError::Escape {
            entry: shown.to_owned(),
            reason: "absolute path".to_owned(),
        });
    }
    let mut out = Vec::new();
    for part in raw.split(|b| *b == b'/') {
        match part {
            b"" | b"." => {}
            b".." => {
                return Err(OciError::Escape {
                    entry: shown.to_owned(),
                    reason: "path has a .. component".to_owned(),
                });
            }
            p if p.contains(&0) => return Err(OciError::invalid(shown, "NUL byte in path")),
            p => out.push(OsString::from_vec(p.to_vec())),
        }
    }
    Ok(out)
}

/// Removes `name` in `dir` if it exists (a directory with everything under it, unless
/// `keep_dir` and it is a directory). Returns whether it existed.
fn remove_existing(dir: BorrowedFd<'_>, name: &OsStr, keep_dir: bool, shown: &str) -> Result<bool> {
    let st = match rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) => st,
        Err(Errno::NOENT) => return Ok(false),
        Err(e) => return Err(OciError::from_io(shown, "stat", e.into())),
    };
    if FileType::from_raw_mode(st.st_mode) == FileType::Directory {
        if keep_dir {
            return Ok(true);
        }
        remove_tree(dir, name, shown, 0)?;
    } else {
        rustix::fs::unlinkat(dir, name, AtFlags::empty())
            .map_err(|e| OciError::from_io(shown, "unlink", e.into()))?;
    }
    Ok(true)
}

fn remove_tree(dir: BorrowedFd<'_>, name: &OsStr, shown: &str, depth: usize) -> Result<()> {
    if depth > MAX_REMOVE_DEPTH {
        return Err(OciError::invalid(
            shown,
            format!("directory tree to remove deeper than {MAX_REMOVE_DEPTH}"),
        ));
    }
    let fd = rustix::fs::openat(
        dir,
        name,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| OciError::from_io(shown, "open directory", e.into()))?;
    let _ = rustix::fs::fchmod(&fd, Mode::from_raw_mode(0o700));
    let mut names = Vec::new();
    for child in rustix::fs::Dir::read_from(&fd)
        .map_err(|e| OciError::from_io(shown, "read directory", e.into()))?
    {
        let child = child.map_err(|e| OciError::from_io(shown, "read directory", e.into()))?;
        let n = child.file_name().to_bytes();
        if n != b"." && n != b".." {
            names.push((OsStr::from_bytes(n).to_os_string(), child.file_type()));
        }
    }
    for (n, ft) in names {
        let is_dir = match ft {
            FileType::Unknown => rustix::fs::statat(&fd, n.as_os_str(), AtFlags::SYMLINK_NOFOLLOW)
                .map(|s| FileType::from_raw_mode(s.st_mode) == FileType::Directory)
                .unwrap_or(false),
            ft => ft == FileType::Directory,
        };
        if is_dir {
            remove_tree(fd.as_fd(), &n, shown, depth + 1)?;
        } else {
            rustix::fs::unlinkat(&fd, n.as_os_str(), AtFlags::empty())
                .map_err(|e| OciError::from_io(shown, "unlink", e.into()))?;
        }
    }
    rustix::fs::unlinkat(dir, name, AtFlags::REMOVEDIR)
        .map_err(|e| OciError::from_io(shown, "rmdir", e.into()))
}

/// A numeric header field: blank (all NUL or space) reads as 0, as Go's archive/tar reads it;
/// anything else that does not parse is an error.
fn numeric(
    header: &tar::Header,
    field: std::ops::Range<usize>,
    parsed: io::Result<u64>,
    shown: &str,
) -> Result<u64> {
    match parsed {
        Ok(v) => Ok(v),
        Err(_)
            if header.as_bytes()[field.clone()]
                .iter()
                .all(|b| *b == 0 || *b == b' ') =>
        {
            Ok(0)
        }
        Err(e) => Err(tar_error(shown, e)),
    }
}

/// What an entry's PAX records say that the header cannot: owners and mtime that do not fit,
/// and `SCHILY.xattr.*` extended attributes.
#[derive(Default)]
struct Pax {
    uid: Option<u64>,
    gid: Option<u64>,
    mtime: Option<u64>,
    xattrs: Vec<(Vec<u8>, Vec<u8>)>,
}

fn read_pax<R: Read>(entry: &mut tar::Entry<'_, R>, shown: &str) -> Result<Pax> {
    let mut pax = Pax::default();
    let Some(exts) = entry.pax_extensions().map_err(|e| tar_error(shown, e))? else {
        return Ok(pax);
    };
    let number = |v: &[u8]| -> Result<u64> {
        // mtime may have a fraction ("1600000000.5"): whole seconds are kept.
        let text = String::from_utf8_lossy(v);
        let whole = text.split('.').next().unwrap_or("");
        whole
            .parse::<u64>()
            .map_err(|_| OciError::invalid(shown, format!("PAX number {text:?}")))
    };
    for ext in exts {
        let ext = ext.map_err(|e| tar_error(shown, e))?;
        match ext.key_bytes() {
            b"uid" => pax.uid = Some(number(ext.value_bytes())?),
            b"gid" => pax.gid = Some(number(ext.value_bytes())?),
            b"mtime" => pax.mtime = Some(number(ext.value_bytes())?),
            key => {
                if let Some(name) = key.strip_prefix(b"SCHILY.xattr.") {
                    pax.xattrs.push((name.to_vec(), ext.value_bytes().to_vec()));
                }
            }
        }
    }
    Ok(pax)
}

fn set_xattrs(fd: impl AsFd, xattrs: &[(Vec<u8>, Vec<u8>)], shown: &str) {
    for (name, value) in xattrs {
        if let Err(e) = rustix::fs::fsetxattr(
            fd.as_fd(),
            name.as_slice(),
            value,
            rustix::fs::XattrFlags::empty(),
        ) {
            tracing::warn!(
                entry = shown,
                xattr = %String::from_utf8_lossy(name),
                error = %e,
                "extended attribute not set"
            );
        }
    }
}

/// Sets the owner (when given) and the mtime of `name` in `parent` without following it (a
/// symlink or device node just made).
fn set_owner_and_mtime_at(
    parent: BorrowedFd<'_>,
    name: &OsStr,
    owner: Option<(rustix::fs::Uid, rustix::fs::Gid)>,
    mtime: u64,
    shown: &str,
) -> Result<(), OciError> {
    if let Some((u, g)) = owner {
        rustix::fs::chownat(parent, name, Some(u), Some(g), AtFlags::SYMLINK_NOFOLLOW)
            .map_err(|e| OciError::from_io(shown, "chown", e.into()))?;
    }
    rustix::fs::utimensat(parent, name, &timestamps(mtime), AtFlags::SYMLINK_NOFOLLOW)
        .map_err(|e| OciError::from_io(shown, "set mtime", e.into()))
}

fn timestamps(mtime: u64) -> Timestamps {
    let t = Timespec {
        tv_sec: i64::try_from(mtime).unwrap_or(i64::MAX),
        tv_nsec: 0,
    };
    Timestamps {
        last_access: t,
        last_modification: t,
    }
}

fn display(path: &[OsString]) -> String {
    path.iter()
        .map(|c| printable(&c.to_string_lossy()))
        .collect::<Vec<_>>()
        .join("/")
}

fn tar_error(what: &str, e: io::Error) -> OciError {
    OciError::from_tar(what, e)
}
