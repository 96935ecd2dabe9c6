//! `oci-archive:path[:name]`: an OCI image layout in a tar file.
//!
//! Reading extracts the layout into a temporary directory (as containers/image does), accepting
//! only `oci-layout`, `index.json` and regular files `blobs/sha256/<hex>`, each blob verified
//! against the digest its name gives while it streams; other entries are ignored with a debug
//! trace, links and paths outside the layout are refused; tar metadata entries are capped as
//! in layers. Writing adds the image to the
//! archive's layout (extracting an existing archive first, so its other images stay), then tars
//! the layout into a temporary file beside the destination and renames it over.

use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::Path;

use strata_model::Digest;
use strata_model::text::printable;

use crate::blob::{BlobRead, BlobWrite, Expected, write_file_atomically};
use crate::error::{OciError, Result};
use crate::image::{Image, MAX_MANIFEST_SIZE, Platform, Selector};
use crate::layout::OciDir;
use crate::verify::read_capped;

/// An `oci-archive` extracted into a temporary directory, removed when this is dropped.
#[derive(Debug)]
pub struct OciArchive {
    layout: OciDir,
    _dir: tempfile::TempDir,
}

impl OciArchive {
    /// Extracts the archive at `path` into a temporary directory under the system's.
    pub fn open(path: impl AsRef<Path>) -> Result<OciArchive> {
        let tmp = std::env::temp_dir();
        Self::open_in(path, &tmp)
    }

    /// Extracts the archive at `path` into a temporary directory under `tmp_parent`.
    pub fn open_in(path: impl AsRef<Path>, tmp_parent: &Path) -> Result<OciArchive> {
        let path = path.as_ref();
        let f = File::open(path).map_err(|e| OciError::from_io(path, "open", e))?;
        Self::from_reader(
            BufReader::with_capacity(1 << 16, f),
            &path.display().to_string(),
            tmp_parent,
        )
    }

    /// Extracts an archive from a stream; `what` names it in errors.
    pub fn from_reader(reader: impl Read, what: &str, tmp_parent: &Path) -> Result<OciArchive> {
        let dir = tempfile::Builder::new()
            .prefix(".strata-oci-archive-")
            .tempdir_in(tmp_parent)
            .map_err(|e| OciError::from_io(tmp_parent, "create temporary directory", e))?;
        let root = dir.path().to_path_buf();
        std::fs::create_dir_all(root.join("blobs").join("sha256"))
            .map_err(|e| OciError::from_io(&root, "create directory", e))?;
        let staging = OciDir::unchecked(&root);
        let mut seen_layout = false;
        let mut seen_index = false;
        let mut archive = tar::Archive::new(crate::targuard::TarGuard::new(reader, what));
        let entries = archive.entries().map_err(|e| OciError::from_tar(what, e))?;
        for entry in entries {
            let mut entry = entry.map_err(|e| OciError::from_tar(what, e))?;
            let raw = entry.path_bytes().into_owned();
            let name = String::from_utf8_lossy(&raw).into_owned();
            let shown = format!("{what}: {}", printable(&name));
            let parts: Vec<&str> = name
                .split('/')
                .filter(|p| !p.is_empty() && *p != ".")
                .collect();
            if parts.contains(&"..") || name.starts_with('/') {
                return Err(OciError::Escape {
                    entry: shown,
                    reason: "path outside the layout".to_owned(),
                });
            }
            let kind = entry.header().entry_type();
            if kind.is_dir() {
                continue;
            }
            let size = entry.size();
            match parts.as_slice() {
                ["oci-layout"] | ["index.json"] | ["blobs", "sha256", _] if !kind.is_file() => {
                    return Err(OciError::invalid(
                        shown,
                        format!("a {kind:?} entry, not a file"),
                    ));
                }
                ["oci-layout"] => {
                    let bytes = read_capped(&mut entry, &shown, 4096)?;
                    write_file_atomically(&root.join("oci-layout"), &bytes)?;
                    seen_layout = true;
                }
                ["index.json"] => {
                    if size > MAX_MANIFEST_SIZE {
                        return Err(OciError::TooLarge {
                            what: shown,
                            limit: MAX_MANIFEST_SIZE,
                        });
                    }
                    let bytes = read_capped(&mut entry, &shown, MAX_MANIFEST_SIZE)?;
                    write_file_atomically(&root.join("index.json"), &bytes)?;
                    seen_index = true;
                }
                ["blobs", "sha256", hex] => {
                    let digest: Digest = hex
                        .parse()
                        .map_err(|e| OciError::invalid(&shown, format!("blob name: {e}")))?;
                    staging.put_blob(&mut entry, Some(&Expected { digest, size }))?;
                }
                _ => tracing::debug!(entry = shown, "entry outside the OCI layout ignored"),
            }
        }
        if !seen_layout || !seen_index {
            return Err(OciError::invalid(
                what,
                "not an OCI layout: oci-layout or index.json is missing",
            ));
        }
        let layout = OciDir::open(&root)?;
        Ok(OciArchive { layout, _dir: dir })
    }

    /// The extracted layout.
    pub fn layout(&self) -> &OciDir {
        &self.layout
    }

    /// Resolves the image `selector` designates (see [`OciDir::resolve`]).
    pub fn resolve(&self, selector: &Selector, platform: &Platform) -> Result<Image> {
        self.layout.resolve(selector, platform)
    }
}

impl BlobRead for OciArchive {
    fn open_blob(&self, digest: &Digest, size: u64) -> Result<Box<dyn Read + '_>> {
        self.layout.open_blob(digest, size)
    }
}

/// Writes `image` (its blobs read from `src`) into the oci-archive at `path` under `name`,
/// keeping the other images of an existing archive. The archive is replaced atomically.
pub fn write_oci_archive(
    path: impl AsRef<Path>,
    src: &dyn BlobRead,
    image: &Image,
    name: Option<&str>,
) -> Result<()> {
    let path = path.as_ref();
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    let existing;
    let fresh;
    let layout = if path.exists() {
        existing = OciArchive::open_in(path, &parent)?;
        existing.layout()
    } else {
        fresh = tempfile::Builder::new()
            .prefix(".strata-oci-archive-")
            .tempdir_in(&parent)
            .map_err(|e| OciError::from_io(&parent, "create temporary directory", e))?;
        &OciDir::create(fresh.path())?
    };
    layout.write_image(src, image, name)?;
    let mut tmp = tempfile::Builder::new()
        .prefix(".tmp-oci-archive-")
        .tempfile_in(&parent)
        .map_err(|e| OciError::from_io(&parent, "create temporary file", e))?;
    {
        let mut out = BufWriter::with_capacity(1 << 16, tmp.as_file_mut());
        tar_layout(layout, &mut out)?;
        out.flush()
            .map_err(|e| OciError::from_io(path, "write", e))?;
    }
    tmp.as_file()
        .sync_all()
        .map_err(|e| OciError::from_io(path, "fsync", e))?;
    tmp.persist(path)
        .map_err(|e| OciError::from_io(path, "rename", e.error))?;
    Ok(())
}

/// Writes a layout directory as a tar: `oci-layout`, `blobs/`, `blobs/sha256/`, every blob
/// (sorted by name), then `index.json`; owner root, mtime 0, mode 0644 (0755 for directories).
pub fn tar_layout(layout: &OciDir, out: &mut dyn Write) -> Result<()> {
    let root = layout.path();
    let mut builder = tar::Builder::new(out);
    let what = root.display().to_string();
    let tar_err = |e: io::Error| OciError::from_io(&what, "write tar", e);
    append_file(&mut builder, &root.join("oci-layout"), "oci-layout")?;
    for dir in ["blobs/", "blobs/sha256/"] {
        let mut h = header(tar::EntryType::Directory, 0o755, 0);
        builder
            .append_data(&mut h, dir, io::empty())
            .map_err(tar_err)?;
    }
    let blobs = root.join("blobs").join("sha256");
    let mut names: Vec<String> = std::fs::read_dir(&blobs)
        .map_err(|e| OciError::from_io(&blobs, "read directory", e))?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('.'))
        .collect();
    names.sort();
    for n in names {
        append_file(&mut builder, &blobs.join(&n), &format!("blobs/sha256/{n}"))?;
    }
    append_file(&mut builder, &root.join("index.json"), "index.json")?;
    builder.finish().map_err(tar_err)?;
    Ok(())
}

fn header(kind: tar::EntryType, mode: u32, size: u64) -> tar::Header {
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_size(size);
    h.set_mtime(0);
    h.set_uid(0);
    h.set_gid(0);
    h
}

fn append_file(builder: &mut tar::Builder<&mut dyn Write>, file: &Path, name: &str) -> Result<()> {
    let f = File::open(file).map_err(|e| OciError::from_io(file, "open", e))?;
    let size = f
        .metadata()
        .map_err(|e| OciError::from_io(file, "stat", e))?
        .len();
    let mut h = header(tar::EntryType::Regular, 0o644, size);
    // The file is streamed; a length that changed under us would corrupt the tar, so cap it.
    builder
        .append_data(&mut h, name, BufReader::new(f).take(size))
        .map_err(|e| OciError::from_io(file, "write tar", e))
}
