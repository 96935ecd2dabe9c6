//! [`FileLock`]: an advisory `flock` on a lock file (std's `File::lock`/`lock_shared`), released
//! when dropped.
//!
//! A repository's `.lock` is taken **shared** by every writer of blobs and records (several
//! imports run at once) and **exclusive** by gc (which must see no write in progress). Readers
//! take no lock: records appear by atomic rename, so a reader sees a record whole or not at all.
//!
//! flock locks belong to an open file description, so two handles in one process exclude each
//! other exactly like two processes: a thread that holds a shared lock and then calls gc on the
//! same repository deadlocks; the API never does that internally.

use std::fs::{File, OpenOptions, TryLockError};
use std::io;
use std::path::{Path, PathBuf};

use crate::error::{IoContext, Result, StoreError};

/// Whether a lock is shared with other holders or exclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockMode {
    /// Any number of shared holders at once, no exclusive one.
    Shared,
    /// One holder, nobody else.
    Exclusive,
}

/// A held `flock`; dropping it releases the lock.
#[derive(Debug)]
pub struct FileLock {
    file: File,
    path: PathBuf,
    mode: LockMode,
}

impl FileLock {
    /// Opens (creating it if needed) the lock file at `path` and waits for the lock.
    pub fn acquire(path: &Path, mode: LockMode) -> Result<FileLock> {
        let file = open_lock_file(path)?;
        match mode {
            LockMode::Shared => file.lock_shared(),
            LockMode::Exclusive => file.lock(),
        }
        .at("lock", path)?;
        Ok(FileLock {
            file,
            path: path.to_owned(),
            mode,
        })
    }

    /// Like [`FileLock::acquire`], but fails with [`StoreError::Locked`] instead of waiting.
    pub fn try_acquire(path: &Path, mode: LockMode) -> Result<FileLock> {
        let file = open_lock_file(path)?;
        let attempt = match mode {
            LockMode::Shared => file.try_lock_shared(),
            LockMode::Exclusive => file.try_lock(),
        };
        match attempt {
            Ok(()) => Ok(FileLock {
                file,
                path: path.to_owned(),
                mode,
            }),
            Err(TryLockError::WouldBlock) => Err(StoreError::Locked {
                path: path.to_owned(),
            }),
            Err(TryLockError::Error(e)) => Err(StoreError::io("lock", path, e)),
        }
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether the lock is shared or exclusive.
    pub fn mode(&self) -> LockMode {
        self.mode
    }

    /// The open lock file (transient downloads into its per-image lock file).
    pub fn file(&self) -> &File {
        &self.file
    }
}

impl Drop for FileLock {
    fn drop(&mut self) {
        // Closing the file releases the lock too; unlocking first makes the release immediate
        // even if the descriptor was duplicated. A failure here leaves only the close to do it.
        let _ = self.file.unlock();
    }
}

/// Opens a lock file for locking: read-write (created with the umask's mode) where possible,
/// else read-only if it exists (flock works on any descriptor, so users who may not write a
/// lock file created by someone else can still take it).
fn open_lock_file(path: &Path) -> Result<File> {
    match OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
    {
        Ok(file) => Ok(file),
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::PermissionDenied | io::ErrorKind::ReadOnlyFilesystem
            ) && path.is_file() =>
        {
            File::open(path).at("open lock file", path)
        }
        Err(e) => Err(StoreError::io("open lock file", path, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    #[test]
    fn shared_excludes_exclusive_only() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".lock");
        let a = FileLock::acquire(&path, LockMode::Shared).unwrap();
        let b = FileLock::try_acquire(&path, LockMode::Shared).unwrap();
        let e = FileLock::try_acquire(&path, LockMode::Exclusive).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Locked);
        drop((a, b));
        let x = FileLock::try_acquire(&path, LockMode::Exclusive).unwrap();
        assert_eq!(x.mode(), LockMode::Exclusive);
        assert!(FileLock::try_acquire(&path, LockMode::Shared).is_err());
    }
}
