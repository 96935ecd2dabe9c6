//! [`ConvertError`]: the convert failures that are neither I/O nor a format's own error.

use crate::compress::CompressError;
use crate::error::{DiskError, DiskErrorSource, ErrorKind};

/// A convert failure that is not an I/O or format error.
#[derive(Debug, thiserror::Error)]
pub enum ConvertError {
    /// The target is smaller than the source.
    #[error("target virtual size {target} is smaller than the source's {source_size}")]
    TargetTooSmall {
        /// The target's virtual size.
        target: u64,
        /// The source's virtual size.
        source_size: u64,
    },
    /// A format strata reads but cannot write.
    #[error("writing {format} images is not supported")]
    FormatNotWritable {
        /// The format.
        format: &'static str,
    },
    /// The target format cannot store compressed data.
    #[error("{format} output cannot be compressed")]
    CompressionUnsupported {
        /// The target format.
        format: &'static str,
    },
    /// The source's block status changed between the planning walk and the copy (the source
    /// was modified during the conversion).
    #[error("source changed during the conversion: {detail}")]
    SourceChanged {
        /// What differed.
        detail: String,
    },
    /// Compression failed.
    #[error("compression failed")]
    Compress(#[from] CompressError),
    /// A worker thread stopped unexpectedly.
    #[error("a worker thread stopped unexpectedly")]
    ReaderLost,
    /// The caller's [`Cancel`](super::engine::Cancel) flag was set.
    #[error("the conversion was cancelled")]
    Cancelled,
}

impl ConvertError {
    /// The stable category of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            ConvertError::TargetTooSmall { .. } | ConvertError::CompressionUnsupported { .. } => {
                ErrorKind::InvalidRequest
            }
            ConvertError::FormatNotWritable { .. } => ErrorKind::Unsupported,
            ConvertError::SourceChanged { .. } => ErrorKind::IntegrityMismatch,
            ConvertError::Compress(_) | ConvertError::ReaderLost => ErrorKind::Io,
            ConvertError::Cancelled => ErrorKind::Interrupted,
        }
    }
}

impl From<ConvertError> for DiskError {
    fn from(e: ConvertError) -> Self {
        DiskErrorSource::Convert(e).into()
    }
}
