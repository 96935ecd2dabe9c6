//! The datastore "driver": what OpenNebula's fs driver does with bytes (`stat`, `cp`, `mkfs`,
//! `clone`), done by strata. Every file is written as a partial file in the datastore's
//! partial directory and only renamed into place by the change that makes the image READY.
//!
//! Failures are [`DriverFailure`]s, whose text goes to the image's `ERROR` attribute: an image
//! whose data fails goes to ERROR with the reason, as OpenNebula's do.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use strata_disk::convert::SourceMap;
use strata_disk::{ConvertOptions, OpenOptions, Output};
use strata_model::DiskFormat;
use strata_model::one::DriverFailure;
use strata_store::pool::PARTIAL_DIR;
use strata_store::{PoolDb, PoolStore};
use tempfile::NamedTempFile;

use crate::compression::Compression;
use crate::progress::{Phase, Progress, ProgressEvent};

/// Bytes moved at a time when decompressing.
const BLOCK: usize = 1 << 20;

/// One MiB, OpenNebula's unit of image sizes.
const MIB: u64 = 1 << 20;

/// An image's data, complete in a partial file, with what the image record needs.
#[derive(Debug)]
pub(crate) struct Filled {
    /// The partial file.
    pub file: NamedTempFile,
    /// The file name it takes in the datastore (the image's SOURCE).
    pub name: String,
    /// Its disk format (`raw`, `qcow2`, ...).
    pub format: String,
    /// Its virtual size in MiB, rounded up.
    pub size_mb: u64,
    /// The file system an empty datablock was made with.
    pub fs: String,
}

fn size(path: &impl std::fmt::Display, e: impl std::fmt::Display) -> DriverFailure {
    DriverFailure::Size {
        path: path.to_string(),
        reason: Some(e.to_string()),
    }
}

fn copy(path: &impl std::fmt::Display, e: impl std::fmt::Display) -> DriverFailure {
    DriverFailure::Copy {
        path: path.to_string(),
        reason: e.to_string(),
    }
}

fn clone_failed(path: &impl std::fmt::Display, e: impl std::fmt::Display) -> DriverFailure {
    DriverFailure::Clone {
        path: path.to_string(),
        reason: e.to_string(),
    }
}

fn create(e: impl std::fmt::Display) -> DriverFailure {
    DriverFailure::Create {
        reason: e.to_string(),
    }
}

fn convert(e: impl std::fmt::Display) -> DriverFailure {
    DriverFailure::Convert {
        reason: e.to_string(),
    }
}

fn datastore(e: impl std::fmt::Display) -> DriverFailure {
    DriverFailure::Datastore {
        reason: e.to_string(),
    }
}

/// Sizes in MiB, rounded up (`fs_size`: `(SIZE+1048575)/1048576`).
pub(crate) fn mib_ceil(bytes: u64) -> u64 {
    bytes.div_ceil(MIB)
}

/// Opens the file PATH names, for [`stat`] and [`copy_in`]; a URL is refused (strata copies
/// local files only).
pub(crate) fn open_source(path: &Path) -> Result<File, DriverFailure> {
    let shown = path.display();
    if path.as_os_str().to_string_lossy().contains("://") {
        return Err(DriverFailure::NotLocal {
            path: shown.to_string(),
        });
    }
    File::open(path).map_err(|e| size(&shown, e))
}

/// A path that opens the same file as `file` (its descriptor under `/proc/self/fd`), for the
/// disk readers, which open by path.
fn fd_path(file: &File) -> PathBuf {
    use std::os::fd::AsRawFd;
    PathBuf::from(format!("/proc/self/fd/{}", file.as_raw_fd()))
}

/// The top image at `path` alone (a backing file it names is not followed).
fn open_top(path: &Path) -> Result<strata_disk::Opened, strata_disk::DiskError> {
    strata_disk::open(
        path,
        &OpenOptions {
            no_backing: true,
            ..OpenOptions::default()
        },
    )
}

/// The size in MiB a new image from `file` (opened from `path`) will have (`stat`): the
/// virtual size of a disk image, the length of a raw file. A compressed file's size is known
/// only once it is decompressed: 0 here, and the capacity check is made by the copy itself.
pub(crate) fn stat(file: &File, path: &Path) -> Result<u64, DriverFailure> {
    let shown = path.display();
    let meta = file.metadata().map_err(|e| size(&shown, e))?;
    if !meta.is_file() {
        return Err(DriverFailure::NotRegular {
            path: shown.to_string(),
        });
    }
    let mut head = Vec::with_capacity(Compression::MAGIC_LEN);
    let mut reader = file;
    reader
        .seek(SeekFrom::Start(0))
        .and_then(|_| {
            reader
                .take(Compression::MAGIC_LEN as u64)
                .read_to_end(&mut head)
        })
        .map_err(|e| size(&shown, e))?;
    if Compression::detect(&head).is_some() {
        return Ok(0);
    }
    let opened = open_top(&fd_path(file)).map_err(|e| size(&shown, e))?;
    let size = mib_ceil(opened.image.virtual_size());
    if size == 0 {
        return Err(DriverFailure::Size {
            path: shown.to_string(),
            reason: None,
        });
    }
    Ok(size)
}

/// How a file goes into a datastore.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CopyIn<'a> {
    /// The datastore.
    pub ds: u32,
    /// The image.
    pub id: u32,
    /// The file name it takes (its SOURCE).
    pub name: &'a str,
    /// The file, opened.
    pub source: &'a File,
    /// Where it was opened from (for messages).
    pub path: &'a Path,
    /// gzip, bzip2 and xz are decompressed (not in a files datastore, as the fs driver's
    /// `NO_DECOMPRESS`).
    pub decompress: bool,
    /// The datastore's `DRIVER` when it converts (`CONVERT=yes`): a disk in another format is
    /// converted to it.
    pub convert_to: Option<DiskFormat>,
}

/// Copies a file into a partial file of its datastore: decompressing gzip, bzip2 and xz as it
/// reads and leaving runs of zeros as holes (an uncompressed file is reflinked or copied
/// extent by extent), converted to the datastore's driver format if it asks for one (straight
/// from the source: the bytes are read once), then checked to be a disk image strata reads that
/// holds all its data (no backing file) and measured.
pub(crate) fn copy_in(
    store: &PoolStore,
    job: &CopyIn<'_>,
    progress: &dyn Progress,
) -> Result<Filled, DriverFailure> {
    let (source, path) = (job.source, job.path);
    let shown = path.display();
    let mut partial = store.partial(job.ds, job.id).map_err(datastore)?;
    let mut reader = source;
    let len = source.metadata().map(|m| m.len()).unwrap_or(0);
    let mut head = Vec::with_capacity(Compression::MAGIC_LEN);
    reader
        .seek(SeekFrom::Start(0))
        .and_then(|_| {
            reader
                .take(Compression::MAGIC_LEN as u64)
                .read_to_end(&mut head)
        })
        .and_then(|_| reader.seek(SeekFrom::Start(0)))
        .map_err(|e| copy(&shown, e))?;
    let compression = Compression::detect(&head).filter(|_| job.decompress);
    // An uncompressed disk in another format than the driver's is converted as it is read.
    if compression.is_none()
        && let Some(to) = job.convert_to
    {
        let (from, _) = measure(&fd_path(source), path)?;
        if from != to {
            let partial = convert_partial(store, job.ds, job.id, &fd_path(source), to, progress)?;
            let (format, virtual_size) = measure(partial.path(), path)?;
            return Ok(Filled {
                file: partial,
                name: job.name.to_owned(),
                format: format.name().to_owned(),
                size_mb: mib_ceil(virtual_size),
                fs: String::new(),
            });
        }
    }
    progress.event(&ProgressEvent::Started {
        phase: Phase::Copying,
        total: Some(len),
    });
    let copied = match compression {
        None => strata_store::fsutil::clone_or_copy(source, partial.as_file())
            .map(|_| ())
            .map_err(|e| copy(&shown, e)),
        Some(compression) => decompress(compression, source, partial.as_file_mut(), progress)
            .map_err(|e| DriverFailure::Decompress {
                path: shown.to_string(),
                compression: compression.to_string(),
                reason: e.to_string(),
            }),
    };
    progress.event(&ProgressEvent::Advanced { done: len });
    progress.event(&ProgressEvent::Finished);
    copied?;
    let (mut format, mut virtual_size) = measure(partial.path(), path)?;
    if let Some(to) = job.convert_to
        && to != format
    {
        partial = convert_partial(store, job.ds, job.id, partial.path(), to, progress)?;
        (format, virtual_size) = measure(partial.path(), path)?;
    }
    Ok(Filled {
        file: partial,
        name: job.name.to_owned(),
        format: format.name().to_owned(),
        size_mb: mib_ceil(virtual_size),
        fs: String::new(),
    })
}

/// Decompresses `source` into `out`, skipping blocks of zeros (they stay holes).
fn decompress(
    compression: Compression,
    source: &File,
    out: &mut File,
    progress: &dyn Progress,
) -> io::Result<()> {
    let counted = Counted {
        inner: io::BufReader::new(source),
        done: 0,
        progress,
    };
    let mut reader = compression.decoder(counted);
    let mut block = vec![0u8; BLOCK];
    let mut at = 0u64;
    loop {
        let mut filled = 0;
        while filled < block.len() {
            match reader.read(&mut block[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        if filled == 0 {
            break;
        }
        let data = &block[..filled];
        if data.iter().any(|b| *b != 0) {
            out.seek(SeekFrom::Start(at))?;
            out.write_all(data)?;
        }
        at += filled as u64;
        if filled < block.len() {
            break;
        }
    }
    out.set_len(at)
}

/// A reader that reports how many source bytes were read.
struct Counted<'p, R> {
    inner: R,
    done: u64,
    progress: &'p dyn Progress,
}

impl<R: Read> Read for Counted<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        let before = self.done / (16 * MIB);
        self.done += n as u64;
        if self.done / (16 * MIB) != before {
            self.progress
                .event(&ProgressEvent::Advanced { done: self.done });
        }
        Ok(n)
    }
}

/// The format and virtual size of the disk image at `partial`, which came from `origin`; an
/// image with a backing file is refused (a datastore's image holds all its data).
pub(crate) fn measure(partial: &Path, origin: &Path) -> Result<(DiskFormat, u64), DriverFailure> {
    let shown = origin.display();
    let opened = open_top(partial).map_err(|e| DriverFailure::NotADisk {
        path: shown.to_string(),
        reason: e.to_string(),
    })?;
    if let Some(backing) = opened.image.backing_file() {
        return Err(DriverFailure::BackingFile {
            path: shown.to_string(),
            backing: backing.name.clone(),
        });
    }
    let size = opened.image.virtual_size();
    if size == 0 {
        return Err(DriverFailure::Size {
            path: shown.to_string(),
            reason: None,
        });
    }
    Ok((opened.format, size))
}

/// A partial file as a convert target's output.
#[derive(Debug)]
pub(crate) struct PartialOutput {
    file: NamedTempFile,
    path: PathBuf,
    written: u64,
}

impl PartialOutput {
    /// `file` as an output.
    pub(crate) fn new(file: NamedTempFile) -> PartialOutput {
        let path = file.path().to_owned();
        PartialOutput {
            file,
            path,
            written: 0,
        }
    }

    /// The partial file, written.
    pub(crate) fn into_file(self) -> NamedTempFile {
        self.file
    }
}

impl Output for PartialOutput {
    fn file(&self) -> &File {
        self.file.as_file()
    }

    fn path(&self) -> &Path {
        &self.path
    }

    fn record(&mut self, data: &[u8], _offset: u64) {
        self.written += data.len() as u64;
    }

    fn bytes_written(&self) -> u64 {
        self.written
    }
}

/// What an empty disk is made of.
#[derive(Debug, Clone, Copy)]
pub(crate) struct EmptyDisk<'a> {
    /// Its size, MiB.
    pub size_mb: u64,
    /// Its format (`raw`, `qcow2`).
    pub format: &'a str,
    /// The file system to make on it, if any.
    pub fs: Option<&'a str>,
    /// The file systems the driver makes.
    pub supported_fs: &'a [String],
}

/// Makes an empty disk of `size_mb` MiB in `format` for image `id` (the fs driver's `mkfs`):
/// with `fs`, a raw disk formatted with mkfs (then converted when `format` is not raw);
/// without, an empty image of that format.
pub(crate) fn make_empty(
    store: &PoolStore,
    ds: u32,
    id: u32,
    name: &str,
    disk: &EmptyDisk<'_>,
) -> Result<Filled, DriverFailure> {
    let EmptyDisk {
        size_mb,
        format,
        fs,
        supported_fs,
    } = *disk;
    let disk_format = DiskFormat::ALL
        .into_iter()
        .find(|f| f.name() == format)
        .ok_or_else(|| DriverFailure::UnsupportedFormat {
            format: format.to_owned(),
        })?;
    let size = size_mb
        .checked_mul(MIB)
        .ok_or(DriverFailure::TooLarge { size_mb })?;
    let name = name.to_owned();
    let Some(fs) = fs else {
        let file = empty_image(store, ds, id, disk_format, size)?;
        return Ok(Filled {
            file,
            name,
            format: format.to_owned(),
            size_mb,
            fs: String::new(),
        });
    };
    if !supported_fs.iter().any(|s| s == fs) {
        return Err(DriverFailure::UnsupportedFs {
            fs: fs.to_owned(),
            supported: supported_fs.to_vec(),
        });
    }
    let raw = store.partial(ds, id).map_err(datastore)?;
    raw.as_file().set_len(size).map_err(create)?;
    let mut mkfs = if fs == "xfs" {
        let mut c = Command::new("mkfs.xfs");
        c.arg("-f");
        c
    } else {
        let mut c = Command::new("mkfs");
        c.args(["-F", "-t", fs]);
        c
    };
    let output = mkfs
        .arg(raw.path())
        .output()
        .map_err(|e| DriverFailure::Mkfs {
            fs: fs.to_owned(),
            reason: e.to_string(),
        })?;
    if !output.status.success() {
        return Err(DriverFailure::Mkfs {
            fs: fs.to_owned(),
            reason: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        });
    }
    let file = if disk_format == DiskFormat::Raw {
        raw
    } else {
        convert_partial(store, ds, id, raw.path(), disk_format, &crate::NoProgress)?
    };
    Ok(Filled {
        file,
        name,
        format: format.to_owned(),
        size_mb,
        fs: fs.to_owned(),
    })
}

/// An empty image of `format` and `size` bytes in a partial file.
fn empty_image(
    store: &PoolStore,
    ds: u32,
    id: u32,
    format: DiskFormat,
    size: u64,
) -> Result<NamedTempFile, DriverFailure> {
    let file = store.partial(ds, id).map_err(datastore)?;
    let path = file.path().to_owned();
    let mut out = PartialOutput {
        file,
        path,
        written: 0,
    };
    let mut target = strata_disk::create_target(format, &mut out, size).map_err(create)?;
    target
        .plan(&SourceMap::empty(size, target.granularity()))
        .and_then(|()| target.finish())
        .map_err(create)?;
    Ok(out.file)
}

/// The disk at `from` converted to `format` in a new partial file.
fn convert_partial(
    store: &PoolStore,
    ds: u32,
    id: u32,
    from: &Path,
    format: DiskFormat,
    progress: &dyn Progress,
) -> Result<NamedTempFile, DriverFailure> {
    let source = open_top(from).map_err(convert)?;
    let size = source.image.virtual_size();
    let file = store.partial(ds, id).map_err(datastore)?;
    let path = file.path().to_owned();
    let mut out = PartialOutput {
        file,
        path,
        written: 0,
    };
    let target = strata_disk::create_target(format, &mut out, size).map_err(convert)?;
    progress.event(&ProgressEvent::Started {
        phase: Phase::Converting {
            from: source.format,
            to: format,
        },
        total: Some(size),
    });
    let converted =
        strata_disk::convert(&*source.image, target, &ConvertOptions::default(), &|p| {
            progress.event(&ProgressEvent::Advanced { done: p.done })
        });
    progress.event(&ProgressEvent::Finished);
    converted.map_err(convert)?;
    Ok(out.file)
}

/// Copies image file `source` into a partial file of datastore `ds` for image `id` (the fs
/// driver's `clone`): a reflink where the file system has them, else the data extents only.
pub(crate) fn copy_image(
    store: &PoolStore,
    ds: u32,
    id: u32,
    name: &str,
    source: &Path,
    progress: &dyn Progress,
) -> Result<Filled, DriverFailure> {
    let shown = source.display();
    let partial = store.partial(ds, id).map_err(datastore)?;
    let from = File::open(source).map_err(|e| clone_failed(&shown, e))?;
    progress.event(&ProgressEvent::Started {
        phase: Phase::Copying,
        total: from.metadata().ok().map(|m| m.len()),
    });
    let copied = strata_store::fsutil::clone_or_copy(&from, partial.as_file());
    progress.event(&ProgressEvent::Finished);
    copied.map_err(|e| clone_failed(&shown, e))?;
    let (format, virtual_size) = measure(partial.path(), source)?;
    Ok(Filled {
        file: partial,
        name: name.to_owned(),
        format: format.name().to_owned(),
        size_mb: mib_ceil(virtual_size),
        fs: String::new(),
    })
}

/// What a pool's verification found ([`Pool::verify`](super::Pool::verify)): what it could not
/// mend, and the garbage of interrupted operations it removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Checked {
    /// Inconsistencies: images whose files are missing, files no image names.
    pub problems: Vec<String>,
    /// Files interrupted operations left, now removed: partial files, overlays of instances
    /// that were never recorded, snapshot files no snapshot names.
    pub removed: Vec<String>,
}

fn remove(path: &Path, checked: &mut Checked, what: &str) {
    let gone = if path.is_dir() {
        std::fs::remove_dir_all(path)
    } else {
        std::fs::remove_file(path)
    };
    match gone {
        Ok(()) => checked.removed.push(format!("{what} {}", path.display())),
        Err(e) => checked
            .problems
            .push(format!("cannot remove {what} {}: {e}", path.display())),
    }
}

/// Checks the records against the files, and removes what interrupted operations left (see
/// [`Checked`]). Runs under the pool's lock, after interrupted jobs were settled.
pub(crate) fn check(store: &PoolStore, db: &PoolDb) -> Checked {
    let mut checked = Checked::default();
    for image in &db.images {
        let busy = db.jobs.contains_key(&image.id);
        if image.source.is_empty() || busy {
            continue;
        }
        if !Path::new(&image.source).exists() {
            checked.problems.push(format!(
                "image {} ({}): its SOURCE {} is missing",
                image.id, image.name, image.source
            ));
        }
        for snapshot in &image.snapshots.list {
            let file = super::snapshots::snapshot_file(&image.source, snapshot.id);
            if !file.exists() {
                checked.problems.push(format!(
                    "image {} ({}): the file of snapshot {} is missing: {}",
                    image.id,
                    image.name,
                    snapshot.id,
                    file.display()
                ));
            }
        }
        let snap_dir = strata_store::pool::snap_dir(Path::new(&image.source));
        if let Ok(entries) = std::fs::read_dir(&snap_dir) {
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                let named = name
                    .parse::<u32>()
                    .is_ok_and(|sid| image.snapshots.get(sid).is_some());
                if !named {
                    remove(&entry.path(), &mut checked, "the snapshot file");
                }
            }
        }
    }
    for ds in &db.datastores {
        let dir = store.datastore_dir(ds.id);
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name();
            if name == PARTIAL_DIR {
                continue;
            }
            let named = db.images.iter().any(|i| {
                let source = Path::new(&i.source);
                source == path || strata_store::pool::snap_dir(source) == path
            });
            if !named {
                checked.problems.push(format!(
                    "datastore {} ({}): {} belongs to no image",
                    ds.id,
                    ds.name,
                    path.display()
                ));
            }
        }
        let partial = dir.join(PARTIAL_DIR);
        let Ok(entries) = std::fs::read_dir(&partial) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let owner = name.split('.').next().and_then(|id| id.parse::<u32>().ok());
            if owner.is_some_and(|id| db.jobs.contains_key(&id)) {
                continue;
            }
            remove(&entry.path(), &mut checked, "the partial file");
        }
    }
    if let Ok(entries) = std::fs::read_dir(store.instances_dir()) {
        for entry in entries.flatten() {
            let path = entry.path();
            let recorded = db.instances.iter().any(|i| Path::new(&i.overlay) == path);
            if !recorded {
                remove(&path, &mut checked, "the overlay");
            }
        }
    }
    checked
}
