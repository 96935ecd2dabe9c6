//! Progress events: what a long operation reports while it runs, as data. Front ends turn them
//! into progress bars or plain lines; embedders log them or ignore them ([`NoProgress`]).

use std::path::PathBuf;

use strata_model::{Digest, DiskFormat};

/// A stage of an operation, in the order a user sees them.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Phase {
    /// An image is about to be stored in a store under a name.
    Storing {
        /// The store's name.
        store: String,
        /// The image's name.
        name: String,
    },
    /// Image bytes are converted from one disk format to another.
    Converting {
        /// The source format.
        from: DiskFormat,
        /// The destination format.
        to: DiskFormat,
    },
    /// Image bytes are copied without conversion.
    Copying,
    /// A blob is being read or written (containers: one per blob).
    Blob {
        /// The blob's digest, when known before it is written.
        digest: Option<Digest>,
        /// Its size in bytes, when known.
        size: Option<u64>,
    },
    /// Existing data is verified against its digests.
    Verifying,
    /// Unreferenced data is being removed.
    Collecting,
    /// A file is being written at a destination outside any repository.
    Writing {
        /// The destination file.
        path: PathBuf,
    },
}

/// One thing an operation reports.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProgressEvent {
    /// A phase starts; `total` is its amount of work in bytes when known.
    Started {
        /// The phase.
        phase: Phase,
        /// Total bytes of work, if known.
        total: Option<u64>,
    },
    /// The current phase advanced to `done` bytes (monotonic within a phase).
    Advanced {
        /// Bytes done so far in the phase.
        done: u64,
    },
    /// The current phase ended.
    Finished,
    /// Something the user should know that is not an error (an image of the same name in
    /// another store).
    Warning(Warning),
}

/// A non-fatal condition, as data; front ends word it in their dialect.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Warning {
    /// An image with this name already exists in another store.
    NameExistsElsewhere {
        /// The image's name.
        name: String,
        /// The other store.
        store: String,
    },
    /// An image that VMs use is being removed, as the request allowed
    /// ([`OnInUse::Remove`](crate::OnInUse::Remove)).
    RemovingInUse {
        /// The store.
        store: String,
        /// The image's name.
        name: String,
        /// The VMs that use it, sorted.
        users: Vec<String>,
    },
    /// A container image was stored, but extracting it into the cache failed (it will be
    /// extracted again when a container needs it).
    CacheNotPopulated {
        /// The image's name.
        name: String,
        /// Why, in a sentence.
        message: String,
    },
}

/// Where an operation sends its progress. Implementations must be cheap: `event` is called from
/// the operation's hot loop (at most a few times per MiB of data).
pub trait Progress: Send + Sync {
    /// Receives one event.
    fn event(&self, event: &ProgressEvent);
}

/// A sink that ignores every event.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn event(&self, _event: &ProgressEvent) {}
}

impl<F: Fn(&ProgressEvent) + Send + Sync> Progress for F {
    fn event(&self, event: &ProgressEvent) {
        self(event);
    }
}
