//! The step cache: each build step's result is a qcow2 layer over the one before, named by a
//! key that says everything the step's result depends on, so that a rebuild reuses every
//! unchanged step and a rebuild with no change boots no VM.
//!
//! **Keys.** The base's key is the hash of what the base is: `scratch`, or the base image
//! file's canonical path with its device, inode, length and modification time (backend images
//! are replaced by rename and never written in place, so a new image is a new inode; hashing a
//! multi-gigabyte base at every build would cost more than the build). Each instruction's key
//! is the hash of the previous key, the instruction's canonical text (its `Display`, so
//! comments, case and line numbers do not count) and, for COPY and ADD, the sha256 and mode of
//! every source file.
//!
//! **Layers.** `<dir>/<key>.qcow2` is the disk after that step, a qcow2 whose backing file is
//! the previous layer (or the base image), by absolute path. A layer is complete when its mode
//! is 0444: the builder fsyncs its data, then makes it read-only, then fsyncs the directory;
//! any other mode is a layer a build was writing when it stopped, and is replaced. One build at
//! a time uses a cache directory ([`LayerDir::lock`]).

use std::fs::{self, File};
use std::io::{self, Read};
use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};

use crate::imagefile::{Action, Imagefile, Instruction};

/// The format version of keys: a change to what a key covers changes it, so that old layers
/// are never taken for new ones.
const KEY_VERSION: &str = "strata-build layer v1";

/// Mode of a complete layer.
const COMPLETE: u32 = 0o444;

/// The base of a build, resolved by the front end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Base {
    /// `FROM scratch`: an empty disk of DISK's size.
    Scratch,
    /// `FROM <image>`: this image file (qcow2 or raw), as the backing file of the first layer;
    /// it is never written.
    Image(PathBuf),
}

/// The key of every instruction of an Imagefile, in order (FROM first).
pub(crate) fn keys(
    imagefile: &Imagefile,
    base: &Base,
    sources: &[Vec<PathBuf>],
) -> io::Result<Vec<String>> {
    let mut hasher = Sha256::new();
    hasher.update(KEY_VERSION.as_bytes());
    match base {
        Base::Scratch => hasher.update(b"\nscratch"),
        Base::Image(path) => {
            let canonical = path.canonicalize()?;
            let meta = fs::metadata(&canonical)?;
            hasher.update(b"\nimage\n");
            hasher.update(canonical.as_os_str().as_encoded_bytes());
            hasher.update(
                format!(
                    "\n{}:{}:{}:{}.{}",
                    meta.dev(),
                    meta.ino(),
                    meta.len(),
                    meta.mtime(),
                    meta.mtime_nsec()
                )
                .as_bytes(),
            );
        }
    }
    let mut keys = vec![hex::encode(hasher.finalize())];
    let first_step = imagefile.instruction_count() - imagefile.steps.len();
    for (i, instruction) in imagefile.instructions().enumerate().skip(1) {
        let mut hasher = Sha256::new();
        hasher.update(keys[i - 1].as_bytes());
        hasher.update(b"\n");
        hasher.update(instruction.to_string().as_bytes());
        if let Instruction::Step(step) = instruction
            && step.action == Action::Inspect
        {
            // What a session changes is the user's: never the same step twice.
            let nonce = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos());
            hasher.update(format!("\nsession {} {nonce}", std::process::id()).as_bytes());
        }
        if let Instruction::Step(step) = instruction
            && matches!(step.action, Action::Copy { .. } | Action::Add { .. })
            && let Some(paths) = i.checked_sub(first_step).and_then(|s| sources.get(s))
        {
            for path in paths {
                if path.is_dir() {
                    hasher.update(format!("\ndir {}", dir_digest(path)?).as_bytes());
                } else {
                    let (digest, mode) = file_digest(path)?;
                    hasher.update(format!("\n{digest} {mode:o}").as_bytes());
                }
            }
        }
        keys.push(hex::encode(hasher.finalize()));
    }
    Ok(keys)
}

/// The sha256 of a file's bytes, and its permission bits.
fn file_digest(path: &Path) -> io::Result<(String, u32)> {
    let mut file = File::open(path)?;
    let mode = file.metadata()?.permissions().mode() & 0o7777;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        hasher.update(&buf[..n]);
    }
    Ok((hex::encode(hasher.finalize()), mode))
}

/// Every entry under `dir`, each directory before what it holds, names in byte order: its path
/// relative to `dir`, its path, and its metadata (links not followed). What a COPY of `dir`
/// copies, in the order it is copied and hashed.
pub(crate) fn tree(dir: &Path) -> io::Result<Vec<(PathBuf, PathBuf, fs::Metadata)>> {
    let mut all = Vec::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(relative) = stack.pop() {
        let mut entries: Vec<_> = fs::read_dir(dir.join(&relative))?.collect::<Result<_, _>>()?;
        entries.sort_by_key(fs::DirEntry::file_name);
        for entry in entries {
            let path = entry.path();
            let name = relative.join(entry.file_name());
            let meta = fs::symlink_metadata(&path)?;
            if meta.is_dir() {
                stack.push(name.clone());
            }
            all.push((name, path, meta));
        }
    }
    Ok(all)
}

/// The sha256 of a directory tree as a COPY of it puts it in the image: each entry's path,
/// kind, mode and modification time (scp -p keeps them), and a file's bytes or a link's
/// target.
fn dir_digest(dir: &Path) -> io::Result<String> {
    let mut hasher = Sha256::new();
    for (name, path, meta) in tree(dir)? {
        hasher.update(name.as_os_str().as_encoded_bytes());
        hasher.update(
            format!(
                "\0{:o} {}.{}\0",
                meta.permissions().mode() & 0o7777,
                meta.mtime(),
                meta.mtime_nsec()
            )
            .as_bytes(),
        );
        if meta.is_dir() {
            hasher.update(b"dir\n");
        } else if meta.file_type().is_symlink() {
            hasher.update(b"link ");
            hasher.update(fs::read_link(&path)?.as_os_str().as_encoded_bytes());
            hasher.update(b"\n");
        } else if meta.is_file() {
            hasher.update(format!("file {}\n", file_digest(&path)?.0).as_bytes());
        }
    }
    Ok(hex::encode(hasher.finalize()))
}

/// A step cache directory.
#[derive(Debug, Clone)]
pub struct LayerDir {
    dir: PathBuf,
    /// The most the layers may take on disk after a build ([`LayerDir::prune`]).
    max_bytes: Option<u64>,
}

/// What [`LayerDir::prune`] removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pruned {
    /// Layers removed (complete ones, least recently used first, and partial ones).
    pub layers: usize,
    /// The disk space they took.
    pub bytes: u64,
}

impl LayerDir {
    /// The cache in `dir` (made, with its parents, when missing), by its absolute path: layers
    /// name their backing files by absolute path.
    pub fn open(dir: &Path) -> io::Result<LayerDir> {
        fs::create_dir_all(dir)?;
        Ok(LayerDir {
            dir: dir.canonicalize()?,
            max_bytes: None,
        })
    }

    /// This cache, kept within `max_bytes` of disk space after each build: the least recently
    /// used layers go first (a build marks every layer of its chain used).
    #[must_use]
    pub fn with_max_bytes(mut self, max_bytes: u64) -> LayerDir {
        self.max_bytes = Some(max_bytes);
        self
    }

    /// Marks the complete layer of `key` used now (its modification time: a complete layer is
    /// never written again).
    pub fn touch(&self, key: &str) -> io::Result<()> {
        File::open(self.layer(key))?.set_modified(std::time::SystemTime::now())
    }

    /// Removes partial layers (the caller holds the lock: no build is writing them), then, if
    /// the complete ones take more than the cache's bound, the least recently used of them that
    /// are not in `keep`, until they fit. A layer whose parent is removed is a miss from then on
    /// (the builder checks whole chains) and goes in its turn.
    pub fn prune(&self, keep: &[String]) -> io::Result<Pruned> {
        let mut pruned = Pruned::default();
        let mut complete = Vec::new();
        for entry in fs::read_dir(&self.dir)? {
            let entry = entry?;
            let name = entry.file_name();
            let Some(key) = name.to_str().and_then(|n| n.strip_suffix(".qcow2")) else {
                continue;
            };
            let meta = fs::symlink_metadata(entry.path())?;
            if !meta.is_file() {
                continue;
            }
            let bytes = meta.blocks() * 512;
            if meta.permissions().mode() & 0o777 == COMPLETE {
                complete.push((meta.mtime(), meta.mtime_nsec(), key.to_owned(), bytes));
            } else {
                fs::remove_file(entry.path())?;
                pruned.layers += 1;
                pruned.bytes += bytes;
            }
        }
        let Some(max) = self.max_bytes else {
            return Ok(pruned);
        };
        let mut total: u64 = complete.iter().map(|(.., bytes)| bytes).sum();
        complete.sort();
        for (_, _, key, bytes) in complete {
            if total <= max {
                break;
            }
            if keep.contains(&key) {
                continue;
            }
            fs::remove_file(self.layer(&key))?;
            total -= bytes;
            pruned.layers += 1;
            pruned.bytes += bytes;
        }
        Ok(pruned)
    }

    /// Where it is.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// Takes the cache's lock (`.lock` in it), waiting for another build that holds it; the
    /// lock lasts as long as the returned file.
    pub fn lock(&self) -> io::Result<File> {
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(self.dir.join(".lock"))?;
        file.lock()?;
        Ok(file)
    }

    /// The layer file of `key`.
    pub fn layer(&self, key: &str) -> PathBuf {
        self.dir.join(format!("{key}.qcow2"))
    }

    /// Whether the layer of `key` is complete.
    pub fn is_complete(&self, key: &str) -> bool {
        fs::symlink_metadata(self.layer(key))
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o777 == COMPLETE)
    }

    /// Removes what a stopped build left at the layer of `key` (never a complete layer).
    pub fn clear_partial(&self, key: &str) -> io::Result<()> {
        if self.is_complete(key) {
            return Ok(());
        }
        match fs::remove_file(self.layer(key)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    /// Marks the layer of `key` complete: its bytes reach the disk, then it becomes read-only,
    /// then the directory entry is synced.
    pub fn complete(&self, key: &str) -> io::Result<()> {
        let path = self.layer(key);
        let file = File::open(&path)?;
        file.sync_all()?;
        fs::set_permissions(&path, fs::Permissions::from_mode(COMPLETE))?;
        file.sync_all()?;
        File::open(&self.dir)?.sync_all()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::imagefile::Imagefile;

    fn parse(text: &str) -> Imagefile {
        Imagefile::parse("Imagefile", text).unwrap()
    }

    #[test]
    fn keys_follow_the_instructions_and_the_sources_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a.txt");
        fs::write(&file, b"one").unwrap();
        let base = Base::Scratch;
        let text = "FROM scratch\nDISK 64MB GPT\nPARTITION 1 FORMAT ext4 MOUNT /\nCOPY a.txt /a\nRUN true\n";
        let f = parse(text);
        let sources = vec![vec![file.clone()], vec![]];
        let k1 = keys(&f, &base, &sources).unwrap();
        assert_eq!(k1.len(), 5);
        // Comments, blank lines and case change nothing.
        let f2 = parse(&format!("# a comment\n\n{}", text.replace("RUN", "run")));
        assert_eq!(keys(&f2, &base, &sources).unwrap(), k1);
        // A changed source changes its step and every later one, not the earlier ones.
        fs::write(&file, b"two").unwrap();
        let k2 = keys(&f, &base, &sources).unwrap();
        assert_eq!(k2[..3], k1[..3]);
        assert_ne!(k2[3], k1[3]);
        assert_ne!(k2[4], k1[4]);
        // So does its mode.
        fs::write(&file, b"one").unwrap();
        fs::set_permissions(&file, fs::Permissions::from_mode(0o755)).unwrap();
        assert_ne!(keys(&f, &base, &sources).unwrap()[3], k1[3]);
        // A directory source: its tree counts, file by file.
        let tree = dir.path().join("tree");
        fs::create_dir(&tree).unwrap();
        fs::write(tree.join("f"), b"1").unwrap();
        let dir_sources = vec![vec![tree.clone()], vec![]];
        let d1 = keys(&f, &base, &dir_sources).unwrap();
        fs::write(tree.join("f"), b"2").unwrap();
        assert_ne!(keys(&f, &base, &dir_sources).unwrap()[3], d1[3]);
        // Another base changes everything.
        let image = dir.path().join("base.qcow2");
        fs::write(&image, b"x").unwrap();
        let k3 = keys(&f, &Base::Image(image.clone()), &sources).unwrap();
        assert!(k3.iter().zip(&k1).all(|(a, b)| a != b));
        // A base replaced by another file (a new inode) is another base.
        let other = dir.path().join("new.qcow2");
        fs::write(&other, b"x").unwrap();
        fs::rename(&other, &image).unwrap();
        assert_ne!(keys(&f, &Base::Image(image), &sources).unwrap()[0], k3[0]);
    }

    #[test]
    fn only_read_only_layers_are_complete_and_partial_ones_are_cleared() {
        let dir = tempfile::tempdir().unwrap();
        let layers = LayerDir::open(&dir.path().join("steps")).unwrap();
        let _lock = layers.lock().unwrap();
        assert!(!layers.is_complete("k"));
        fs::write(layers.layer("k"), b"partial").unwrap();
        assert!(!layers.is_complete("k"));
        layers.clear_partial("k").unwrap();
        assert!(!layers.layer("k").exists());
        fs::write(layers.layer("k"), b"whole").unwrap();
        layers.complete("k").unwrap();
        assert!(layers.is_complete("k"));
        layers.clear_partial("k").unwrap();
        assert!(layers.layer("k").exists(), "a complete layer stays");
    }

    #[test]
    fn pruning_removes_partial_layers_then_the_least_recently_used_beyond_the_bound() {
        let dir = tempfile::tempdir().unwrap();
        let layers = LayerDir::open(&dir.path().join("steps"))
            .unwrap()
            .with_max_bytes(5 << 20);
        let _lock = layers.lock().unwrap();
        // Three complete layers of 2 MiB, used in the order a, b, c; one partial.
        let data: Vec<u8> = (0..2 << 20).map(|i: u32| (i * 7 + 3) as u8).collect();
        for key in ["a", "b", "c", "partial"] {
            fs::write(layers.layer(key), &data).unwrap();
        }
        for (n, key) in ["a", "b", "c"].into_iter().enumerate() {
            layers.complete(key).unwrap();
            let when = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_000 + n as u64);
            File::open(layers.layer(key))
                .unwrap()
                .set_modified(when)
                .unwrap();
        }
        // a is in this build's chain: b, the least recently used of the others, goes.
        let pruned = layers.prune(&["a".to_owned()]).unwrap();
        assert_eq!(pruned.layers, 2, "{pruned:?}");
        assert!(!layers.layer("partial").exists());
        assert!(!layers.layer("b").exists());
        assert!(layers.is_complete("a") && layers.is_complete("c"));
        // Used again, a outlives c.
        layers.touch("a").unwrap();
        let layers = layers.with_max_bytes(3 << 20);
        assert_eq!(layers.prune(&[]).unwrap().layers, 1);
        assert!(layers.is_complete("a") && !layers.layer("c").exists());
        // Without a bound only partial layers go.
        let unbounded = LayerDir::open(layers.path()).unwrap();
        assert_eq!(unbounded.prune(&[]).unwrap(), Pruned::default());
    }
}
