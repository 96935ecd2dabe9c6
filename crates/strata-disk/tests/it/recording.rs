//! [`Recording`]: an [`Output`] for tests that remembers every write a target records, so that
//! a test can check the writer contract an output owner relies on (the store hashes what is
//! recorded): the recorded writes reproduce the file exactly, and say whether they came in
//! file order (an owner that hashes in one pass needs no read-back then).

use std::fs::File;
use std::path::Path;

use strata_disk::{
    Committed, ConvertOptions, ConvertSummary, ConvertTarget, DiskError, DiskImage, Durability,
    Output, OutputFile,
};

/// An [`OutputFile`] (not made durable) that remembers what was recorded.
#[derive(Debug)]
pub(crate) struct Recording {
    out: OutputFile,
    writes: Vec<(u64, Vec<u8>)>,
}

/// What a [`Recording`] saw, once committed.
#[derive(Debug)]
pub(crate) struct Recorded {
    pub(crate) committed: Committed,
    writes: Vec<(u64, Vec<u8>)>,
}

impl Recording {
    pub(crate) fn create(path: &Path) -> Recording {
        Recording {
            out: OutputFile::create(path, Durability::Volatile).unwrap(),
            writes: Vec::new(),
        }
    }

    pub(crate) fn commit(self) -> Recorded {
        Recorded {
            committed: self.out.commit().unwrap(),
            writes: self.writes,
        }
    }
}

impl Output for Recording {
    fn file(&self) -> &File {
        self.out.file()
    }

    fn path(&self) -> &Path {
        self.out.path()
    }

    fn record(&mut self, data: &[u8], offset: u64) {
        self.writes.push((offset, data.to_vec()));
        self.out.record(data, offset);
    }

    fn bytes_written(&self) -> u64 {
        self.out.bytes_written()
    }
}

impl Recorded {
    /// Whether every write started at or after the end of the one before.
    pub(crate) fn in_file_order(&self) -> bool {
        self.writes
            .windows(2)
            .all(|w| w[1].0 >= w[0].0 + w[0].1.len() as u64)
    }

    /// Asserts that the recorded writes, applied in order to a file of zeros and cut at its
    /// final length, give the file written, and that they count the bytes written.
    pub(crate) fn assert_reproduces_the_file(&self) {
        let bytes = std::fs::read(&self.committed.path).unwrap();
        let mut model = vec![0u8; bytes.len()];
        for (offset, data) in &self.writes {
            let at = (*offset as usize).min(model.len());
            let end = (at + data.len()).min(model.len());
            model[at..end].copy_from_slice(&data[..end - at]);
        }
        assert!(
            model == bytes,
            "{}: the recorded writes do not reproduce the file",
            self.committed.path.display()
        );
        let total: u64 = self.writes.iter().map(|(_, d)| d.len() as u64).sum();
        assert_eq!(total, self.committed.bytes_written);
        assert_eq!(self.committed.len, bytes.len() as u64);
    }
}

/// Converts `source` into the target `make` builds on a new output at `path`, commits the
/// output, and returns the engine's summary with what the output saw.
pub(crate) fn convert_to(
    source: &dyn DiskImage,
    path: &Path,
    options: &ConvertOptions,
    make: impl FnOnce(&mut Recording) -> Result<Box<dyn ConvertTarget + '_>, DiskError>,
) -> Result<(ConvertSummary, Recorded), DiskError> {
    let mut out = Recording::create(path);
    let target = make(&mut out)?;
    let summary = strata_disk::convert(source, target, options, &|_| {})?;
    Ok((summary, out.commit()))
}
