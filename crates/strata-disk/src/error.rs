//! The crate-edge error: [`DiskError`] wraps each format's own error enum and carries the file it
//! is about, with a small stable [`ErrorKind`] that front ends map to exit codes.

use std::io;
use std::path::PathBuf;

/// What went wrong, in the few categories a front end needs to choose an exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The operating system refused or failed a read, write or open.
    Io,
    /// The bytes are not a valid image of the expected format (bad magic, out-of-range field).
    InvalidFormat,
    /// A valid image that uses a feature strata does not implement.
    Unsupported,
    /// A valid header whose tables contradict each other or the file (offsets past the end,
    /// overlapping metadata, refcount mismatches).
    Corrupt,
    /// A file the image names (backing file, extent) does not exist.
    NotFound,
    /// A path the image names lies outside the directories the caller allowed, or a chain loops
    /// or is too deep.
    Escape,
    /// Data does not match its recorded digest or size.
    IntegrityMismatch,
    /// The caller asked for something impossible (offset past the virtual size, shrink).
    InvalidRequest,
    /// The caller stopped the operation ([`Cancel`](crate::Cancel)).
    Interrupted,
}

/// An error from a disk codec, naming the file it concerns when there is one.
#[derive(Debug, thiserror::Error)]
#[error("{}{source}", path_prefix(.path))]
pub struct DiskError {
    /// The file concerned, if the error is about a file.
    pub path: Option<PathBuf>,
    /// What happened.
    #[source]
    pub source: DiskErrorSource,
}

fn path_prefix(path: &Option<PathBuf>) -> String {
    match path {
        Some(p) => format!("{}: ", p.display()),
        None => String::new(),
    }
}

/// The specific error, one variant per format or concern.
#[derive(Debug, thiserror::Error)]
pub enum DiskErrorSource {
    /// An I/O error.
    #[error("{op}: {source}")]
    Io {
        /// What was being done (e.g. "read at offset 4096").
        op: String,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
    /// A request outside what the image allows.
    #[error("{0}")]
    InvalidRequest(String),
    /// A qcow2 image that cannot be read.
    #[error(transparent)]
    Qcow2(#[from] crate::qcow2::Qcow2Error),
    /// A backing chain that cannot be followed.
    #[error(transparent)]
    Open(#[from] crate::open::OpenError),
    /// A file whose first bytes show something strata refuses to take for a disk.
    #[error(transparent)]
    Probe(#[from] crate::probe::ProbeError),
    /// A qcow2 image that cannot be created, written or edited as asked.
    #[error(transparent)]
    Qcow2Write(#[from] crate::qcow2::writer::Qcow2WriteError),
    /// A conversion that cannot proceed.
    #[error(transparent)]
    Convert(crate::convert::ConvertError),
    /// A VMDK image that cannot be read.
    #[error(transparent)]
    Vmdk(#[from] crate::vmdk::VmdkError),
    /// A VMDK image that cannot be written as asked.
    #[error(transparent)]
    VmdkWrite(#[from] crate::vmdk::VmdkWriteError),
    /// A vdi image that cannot be read or written as asked.
    #[error(transparent)]
    Vdi(#[from] crate::vdi::VdiError),
    /// A vpc (VHD) image that cannot be read or written as asked.
    #[error(transparent)]
    Vpc(#[from] crate::vpc::VpcError),
    /// A qed image that cannot be read.
    #[error(transparent)]
    Qed(#[from] crate::qed::QedError),
    /// A qed image that cannot be created as asked.
    #[error(transparent)]
    QedWrite(#[from] crate::qed::QedWriteError),
    /// A vhdx image that cannot be read.
    #[error(transparent)]
    Vhdx(#[from] crate::vhdx::VhdxError),
}

impl DiskError {
    /// The stable category of this error.
    pub fn kind(&self) -> ErrorKind {
        match &self.source {
            DiskErrorSource::Io { source, .. } if source.kind() == io::ErrorKind::NotFound => {
                ErrorKind::NotFound
            }
            DiskErrorSource::Io { .. } => ErrorKind::Io,
            DiskErrorSource::InvalidRequest(_) => ErrorKind::InvalidRequest,
            DiskErrorSource::Qcow2(e) => e.kind(),
            DiskErrorSource::Open(e) => e.kind(),
            DiskErrorSource::Probe(e) => e.kind(),
            DiskErrorSource::Qcow2Write(e) => e.kind(),
            DiskErrorSource::Convert(e) => e.kind(),
            DiskErrorSource::Vmdk(e) => e.kind(),
            DiskErrorSource::VmdkWrite(e) => e.kind(),
            DiskErrorSource::Vdi(e) => e.kind(),
            DiskErrorSource::Vpc(e) => e.kind(),
            DiskErrorSource::Qed(e) => e.kind(),
            DiskErrorSource::QedWrite(e) => e.kind(),
            DiskErrorSource::Vhdx(e) => e.kind(),
        }
    }

    /// Attaches the file this error is about (keeps an existing one).
    #[must_use]
    pub fn with_path(mut self, path: impl Into<PathBuf>) -> Self {
        if self.path.is_none() {
            self.path = Some(path.into());
        }
        self
    }

    /// A request outside what the image allows.
    pub fn invalid_request(message: impl Into<String>) -> Self {
        DiskErrorSource::InvalidRequest(message.into()).into()
    }

    /// An I/O error while doing `op`.
    pub fn io(op: impl Into<String>, source: io::Error) -> Self {
        DiskErrorSource::Io {
            op: op.into(),
            source,
        }
        .into()
    }
}

impl From<crate::qcow2::Qcow2Error> for DiskError {
    fn from(e: crate::qcow2::Qcow2Error) -> Self {
        DiskErrorSource::from(e).into()
    }
}

impl From<crate::open::OpenError> for DiskError {
    fn from(e: crate::open::OpenError) -> Self {
        DiskErrorSource::from(e).into()
    }
}

impl From<crate::vmdk::VmdkError> for DiskError {
    fn from(e: crate::vmdk::VmdkError) -> Self {
        DiskErrorSource::from(e).into()
    }
}

impl From<crate::vmdk::VmdkWriteError> for DiskError {
    fn from(e: crate::vmdk::VmdkWriteError) -> Self {
        DiskErrorSource::from(e).into()
    }
}

impl From<DiskErrorSource> for DiskError {
    fn from(source: DiskErrorSource) -> Self {
        DiskError { path: None, source }
    }
}
