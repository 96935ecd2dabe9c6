//! [`DistError`]: a file or directory that could not be written or copied, with its path.

use std::path::PathBuf;

/// What can go wrong while writing man pages and completions.
#[derive(Debug, thiserror::Error)]
pub enum DistError {
    /// A directory could not be created.
    #[error("cannot create the directory {path}")]
    CreateDir {
        /// The directory.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A binary could not be copied.
    #[error("cannot copy {from} to {to}")]
    Copy {
        /// The binary (in cargo's target directory).
        from: PathBuf,
        /// Its copy.
        to: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A file could not be written.
    #[error("cannot write {path}")]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// Creates `dir` and its parents.
pub(crate) fn create_dir(dir: &std::path::Path) -> Result<(), DistError> {
    std::fs::create_dir_all(dir).map_err(|source| DistError::CreateDir {
        path: dir.to_path_buf(),
        source,
    })
}

/// Writes `bytes` to `path`, replacing it.
pub(crate) fn write_file(path: PathBuf, bytes: &[u8]) -> Result<PathBuf, DistError> {
    match std::fs::write(&path, bytes) {
        Ok(()) => Ok(path),
        Err(source) => Err(DistError::Write { path, source }),
    }
}
