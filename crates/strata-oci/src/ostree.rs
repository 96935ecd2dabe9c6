//! `ostree:REF[@/repo]` as an import source: the commit a ref names, checked out with the
//! `ostree` command (`ostree --repo=R checkout -U COMMIT DIR`) and made into a one-layer OCI
//! image (an uncompressed tar of the tree, and a config naming the commit) in an
//! [`OciDir`] that the caller copies from. Read only: nothing is written to OSTree.
//!
//! Why the CLI: the only Rust access to OSTree is the `ostree` crate, GObject bindings that
//! link libostree and glib (a C system dependency for every build); no pure-Rust reader of the
//! repository format exists. The Debian `ostree` package (2022.7) provides the command, and
//! the checkout is the one code path OSTree itself guarantees for every repository mode
//! (archive, bare, bare-user).
//!
//! The tree becomes a tar by walking the checkout with `lstat`, one directory at a time in
//! name order, never following a symlink: every entry is a relative path under the root, so
//! nothing outside the checkout is read, and symlinks are archived as links whatever they
//! point to. Owners are root (a `-U` checkout drops them; an OS tree is root's), times are 0
//! (OSTree stores none), modes are kept; sockets, fifos and devices (which OSTree does not
//! store) are refused. The layer is uncompressed, so its digest is its `diff_id`.

use std::fs;
use std::io::{self, BufWriter, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use oci_spec::image::{Descriptor, ImageManifestBuilder, MediaType};

use crate::blob::BlobWrite;
use crate::error::{OciError, Result};
use crate::image::{Image, Platform};
use crate::layout::OciDir;
use crate::verify::to_oci_digest;

/// The command run.
pub const OSTREE_BIN: &str = "ostree";

/// Most entries archived from one tree (as [`crate::unpack`] bounds a layer's entries).
pub const MAX_TREE_ENTRIES: u64 = 4 << 20;

/// One commit made into an image: the layout holding it (config, layer, manifest) and the
/// image, both in a temporary directory removed on drop.
#[derive(Debug)]
pub struct OstreeImage {
    /// The commit checksum the ref resolved to.
    pub commit: String,
    /// The image.
    pub image: Image,
    /// Its blobs.
    pub layout: OciDir,
    _dir: tempfile::TempDir,
}

/// Resolves `reference` in the repository `repo`, checks the commit out under `work` (a
/// scratch directory on the destination's filesystem) and makes it an image.
pub fn import_commit(repo: &Path, reference: &str, work: &Path) -> Result<OstreeImage> {
    let what = format!("ostree:{reference}@{}", repo.display());
    if reference.is_empty() || reference.starts_with('-') {
        return Err(OciError::InvalidRequest(format!(
            "{what}: not an OSTree ref"
        )));
    }
    let repo_arg = format!("--repo={}", repo.display());
    let commit = run(&what, &[&repo_arg, "rev-parse", reference])?;
    let commit = commit.trim().to_owned();
    if commit.len() != 64 || !commit.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(OciError::invalid(
            &what,
            format!("ostree rev-parse answered {commit:?}"),
        ));
    }
    let dir = tempfile::Builder::new()
        .prefix("ostree-")
        .tempdir_in(work)
        .map_err(|e| OciError::from_io(work, "create temporary directory", e))?;
    let tree = dir.path().join("tree");
    let tree_arg = tree.display().to_string();
    run(&what, &[&repo_arg, "checkout", "-U", &commit, &tree_arg])?;

    let layout = OciDir::create(dir.path().join("layout"))?;
    let tar_path = dir.path().join("layer.tar");
    {
        let file =
            fs::File::create(&tar_path).map_err(|e| OciError::from_io(&tar_path, "create", e))?;
        let mut out = BufWriter::with_capacity(1 << 16, file);
        tar_tree(&tree, &mut out)?;
        out.flush()
            .map_err(|e| OciError::from_io(&tar_path, "write", e))?;
    }
    let layer = {
        let mut f =
            fs::File::open(&tar_path).map_err(|e| OciError::from_io(&tar_path, "open", e))?;
        layout.put_blob(&mut f, None)?
    };
    fs::remove_file(&tar_path).map_err(|e| OciError::from_io(&tar_path, "remove", e))?;
    // The checkout is not needed any more: free its space before the copy into a repository.
    make_writable_and_remove(&tree)?;

    let platform = Platform::host();
    let config = serde_json::json!({
        "architecture": platform.architecture,
        "os": platform.os,
        "config": {
            "Labels": {
                "ostree.commit": commit,
                "ostree.ref": reference,
            }
        },
        "rootfs": { "type": "layers", "diff_ids": [layer.digest.prefixed()] },
        "history": [{ "created_by": format!("strata: ostree checkout of {reference} ({commit})") }],
    });
    let config_bytes =
        serde_json::to_vec(&config).map_err(|e| OciError::invalid(&what, e.to_string()))?;
    let config_exp = layout.put_bytes(&config_bytes, None)?;
    let manifest = ImageManifestBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageManifest)
        .config(Descriptor::new(
            MediaType::ImageConfig,
            config_exp.size,
            to_oci_digest(&config_exp.digest),
        ))
        .layers(vec![Descriptor::new(
            MediaType::ImageLayer,
            layer.size,
            to_oci_digest(&layer.digest),
        )])
        .build()
        .map_err(|e| OciError::invalid(&what, e.to_string()))?;
    let manifest_bytes =
        serde_json::to_vec(&manifest).map_err(|e| OciError::invalid(&what, e.to_string()))?;
    layout.put_bytes(&manifest_bytes, None)?;
    let image = Image::from_parts(manifest_bytes, config_bytes)?;
    Ok(OstreeImage {
        commit,
        image,
        layout,
        _dir: dir,
    })
}

/// Writes the tree under `root` as an uncompressed tar to `out`, as a layer holds it: every
/// entry relative to `root`, one directory at a time in name order, symlinks as links, owner
/// root, mtime 0, modes kept; sockets, fifos and devices refused; at most
/// [`MAX_TREE_ENTRIES`] entries. Returns how many entries were written.
pub fn tar_tree(root: &Path, out: &mut dyn Write) -> Result<u64> {
    let mut builder = tar::Builder::new(out);
    let mut count = 0u64;
    append_tree(&mut builder, root, Path::new(""), &mut count)?;
    builder
        .finish()
        .map_err(|e| OciError::from_io(root, "write tar", e))?;
    Ok(count)
}

/// Runs `ostree ARGS`; its standard output, or its error message as the error.
fn run(what: &str, args: &[&str]) -> Result<String> {
    let out = Command::new(OSTREE_BIN)
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| {
            if e.kind() == io::ErrorKind::NotFound {
                OciError::Unsupported {
                    what: what.to_owned(),
                    reason: "the ostree command is not installed (Debian package ostree)"
                        .to_owned(),
                }
            } else {
                OciError::from_io(OSTREE_BIN, "run", e)
            }
        })?;
    if out.status.success() {
        return Ok(String::from_utf8_lossy(&out.stdout).into_owned());
    }
    let message = String::from_utf8_lossy(&out.stderr).trim().to_owned();
    let message = message
        .strip_prefix("error: ")
        .unwrap_or(&message)
        .to_owned();
    let lower = message.to_lowercase();
    if lower.contains("not found") || lower.contains("no such") {
        Err(OciError::NotFound {
            what: format!("{what}: {message}"),
        })
    } else {
        Err(OciError::invalid(
            what,
            format!("ostree {}: {message}", args.get(1).unwrap_or(&"")),
        ))
    }
}

/// Appends the children of `root/rel` (in name order, directories before their contents) to
/// `builder`.
fn append_tree<W: Write>(
    builder: &mut tar::Builder<W>,
    root: &Path,
    rel: &Path,
    count: &mut u64,
) -> Result<()> {
    let dir = root.join(rel);
    let mut names: Vec<_> = fs::read_dir(&dir)
        .map_err(|e| OciError::from_io(&dir, "read directory", e))?
        .map(|e| e.map(|e| e.file_name()))
        .collect::<io::Result<_>>()
        .map_err(|e| OciError::from_io(&dir, "read directory", e))?;
    names.sort();
    for name in names {
        *count += 1;
        if *count > MAX_TREE_ENTRIES {
            return Err(OciError::TooLarge {
                what: format!("{}: entries", root.display()),
                limit: MAX_TREE_ENTRIES,
            });
        }
        let rel_path: PathBuf = rel.join(&name);
        let path = root.join(&rel_path);
        let meta = fs::symlink_metadata(&path).map_err(|e| OciError::from_io(&path, "lstat", e))?;
        let mut h = tar::Header::new_gnu();
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        h.set_mode(meta.mode() & 0o7777);
        let err = |e: io::Error| OciError::from_io(&path, "archive", e);
        let kind = meta.file_type();
        if kind.is_dir() {
            h.set_entry_type(tar::EntryType::Directory);
            h.set_size(0);
            builder
                .append_data(&mut h, &rel_path, io::empty())
                .map_err(err)?;
            append_tree(builder, root, &rel_path, count)?;
        } else if kind.is_symlink() {
            let target =
                fs::read_link(&path).map_err(|e| OciError::from_io(&path, "readlink", e))?;
            h.set_entry_type(tar::EntryType::Symlink);
            h.set_size(0);
            builder
                .append_link(&mut h, &rel_path, &target)
                .map_err(err)?;
        } else if kind.is_file() {
            let file = fs::File::open(&path).map_err(|e| OciError::from_io(&path, "open", e))?;
            h.set_entry_type(tar::EntryType::Regular);
            h.set_size(meta.len());
            // `take`: a file that grew after the lstat cannot corrupt the archive.
            builder
                .append_data(&mut h, &rel_path, io::Read::take(file, meta.len()))
                .map_err(err)?;
        } else {
            return Err(OciError::unsupported(
                rel_path.display().to_string(),
                "not a file, directory or symlink (OSTree stores no other kind)",
            ));
        }
    }
    Ok(())
}

/// Removes a checkout whose directories may be read-only (`-U` keeps modes such as 0555).
fn make_writable_and_remove(tree: &Path) -> Result<()> {
    fn walk(dir: &Path) -> io::Result<()> {
        let meta = fs::symlink_metadata(dir)?;
        if meta.is_dir() {
            let mut perms = meta.permissions();
            perms.set_mode(0o700);
            fs::set_permissions(dir, perms)?;
            for entry in fs::read_dir(dir)? {
                walk(&entry?.path())?;
            }
        }
        Ok(())
    }
    walk(tree)
        .and_then(|()| fs::remove_dir_all(tree))
        .map_err(|e| OciError::from_io(tree, "remove", e))
}
