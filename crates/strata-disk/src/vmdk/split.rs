//! [`VmdkSplitTarget`]: the VMDK subformats whose descriptor is a file of its own that names
//! extent files beside it, as `qemu-img convert -O vmdk -o subformat=` writes them:
//! `monolithicFlat` (one flat extent, `NAME-flat.vmdk`), `twoGbMaxExtentFlat` (flat extents
//! of 2 GiB, `NAME-f001.vmdk`, `NAME-f002.vmdk`, ...) and `twoGbMaxExtentSparse` (sparse
//! extents of 2 GiB, `NAME-s001.vmdk`, ..., each laid out as a monolithicSparse file whose
//! descriptor area stays empty). qemu's facts (`vmdk_co_do_create`): the split size is
//! 2 GiB, extent names are the descriptor's name before its last `.`, then `-flat`, `-fNNN`
//! or `-sNNN`, then the rest; flat extent lines end in offset `0`; the descriptor text is
//! the one of single-file images with those extent lines, padded with zeros to a sector as
//! `qemu-img convert` leaves it.
//!
//! **The writer contract for several files.** A target writes only through outputs it is
//! given: the descriptor's [`Output`], and one output per extent file, which the caller
//! creates beside the descriptor under the names [`VmdkCreateOptions::extent_files`] gives
//! (a pure function of the descriptor's name and the options), then commits, extents first,
//! after the conversion. No change to [`Output`] or to the convert engine was needed: the
//! target holds several `&mut dyn Output`, and when there is one extent it hands the engine
//! that extent's placement (identity for a flat extent, packed grains for a sparse one), so
//! the common case (disks up to 2 GiB, and every monolithicFlat disk) is written in parallel;
//! with several extents, data comes in order through [`ConvertTarget::write`] and is routed
//! to its extent. A factory the target would call to open siblings by name was the other
//! way; it would have to hand out outputs it keeps (to commit them), which a target cannot
//! hold together.

use super::descriptor::{MAX_DESCRIPTOR_BYTES, MAX_EXTENTS, render_extents};
use super::header::SECTOR;
use super::writer::{GRAIN, Subformat, VmdkCreateOptions, VmdkTarget, VmdkWriteError, random_cid};
use crate::convert::output::Output;
use crate::convert::{ConvertTarget, Finished, Layout, Placement, SourceMap, finish_at};
use crate::error::DiskError;

/// The size of each extent of the twoGbMaxExtent subformats (qemu's constant split size).
pub const SPLIT_SIZE: u64 = 2 << 30;
/// Granule of zero detection in flat extents.
const FLAT_GRANULE: u64 = 4096;

/// One extent file of a multi-file VMDK.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtentFile {
    /// Its file name, beside the descriptor.
    pub name: String,
    /// The guest bytes it holds.
    pub size: u64,
}

impl VmdkCreateOptions {
    /// The extent files the subformat writes beside a descriptor named `descriptor_name`, in
    /// guest order, named as qemu names them; empty for the single-file subformats. More than
    /// a descriptor may name ([`MAX_EXTENTS`]) is refused.
    pub fn extent_files(&self, descriptor_name: &str) -> Result<Vec<ExtentFile>, VmdkWriteError> {
        let size = self.size.next_multiple_of(SECTOR);
        if size == 0 {
            // qemu writes no extent line at all (and cannot open the result).
            return Ok(Vec::new());
        }
        let (prefix, postfix) = match descriptor_name.rfind('.') {
            Some(dot) => descriptor_name.split_at(dot),
            None => (descriptor_name, ""),
        };
        let (tag, split) = match self.subformat {
            Subformat::MonolithicSparse | Subformat::StreamOptimized => return Ok(Vec::new()),
            Subformat::MonolithicFlat => {
                return Ok(vec![ExtentFile {
                    name: format!("{prefix}-flat{postfix}"),
                    size,
                }]);
            }
            Subformat::TwoGbMaxExtentSparse => ('s', SPLIT_SIZE),
            Subformat::TwoGbMaxExtentFlat => ('f', SPLIT_SIZE),
        };
        let count = size.div_ceil(split);
        if count > MAX_EXTENTS as u64 {
            return Err(VmdkWriteError::TooManyExtents {
                subformat: self.subformat.name(),
                size: self.size,
                max: MAX_EXTENTS,
            });
        }
        Ok((0..count)
            .map(|i| ExtentFile {
                name: format!("{prefix}-{tag}{:03}{postfix}", i + 1),
                size: split.min(size - i * split),
            })
            .collect())
    }
}

/// The extents being written.
#[derive(Debug)]
enum Extents<'o> {
    /// Flat extents: the guest bytes as they are, each file `split` bytes of them.
    Flat(Vec<&'o mut dyn Output>),
    /// Sparse extents, each a sparse VMDK of its own.
    Sparse(Vec<VmdkTarget<'o>>),
}

/// The convert engine's destination for the multi-file VMDK subformats; see the
/// [module documentation](self).
#[derive(Debug)]
pub struct VmdkSplitTarget<'o> {
    descriptor: &'o mut dyn Output,
    text: Vec<u8>,
    size: u64,
    /// Guest bytes per extent (the last may hold fewer).
    split: u64,
    extents: Extents<'o>,
}

impl<'o> VmdkSplitTarget<'o> {
    /// Starts writing a multi-file VMDK: its descriptor into `descriptor`, its extents into
    /// `extents`, one per file of [`VmdkCreateOptions::extent_files`] (for the descriptor's
    /// file name), in that order.
    pub fn create(
        descriptor: &'o mut dyn Output,
        extents: Vec<&'o mut dyn Output>,
        options: &VmdkCreateOptions,
    ) -> Result<Self, DiskError> {
        let path = descriptor.path().to_path_buf();
        let err = |e: VmdkWriteError| DiskError::from(e).with_path(&path);
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let files = options.extent_files(&name).map_err(err)?;
        if options.size == 0 && options.subformat.is_multi_file() {
            return Err(err(VmdkWriteError::EmptyMultiFile {
                subformat: options.subformat.name(),
            }));
        }
        if files.is_empty() || files.len() != extents.len() {
            return Err(err(VmdkWriteError::Extents {
                subformat: options.subformat.name(),
                needed: files.len(),
                given: extents.len(),
            }));
        }
        let flat = matches!(
            options.subformat,
            Subformat::MonolithicFlat | Subformat::TwoGbMaxExtentFlat
        );
        let mut lines = String::new();
        for f in &files {
            let sectors = f.size / SECTOR;
            if flat {
                lines.push_str(&format!("RW {sectors} FLAT \"{}\" 0\n", f.name));
            } else {
                lines.push_str(&format!("RW {sectors} SPARSE \"{}\"\n", f.name));
            }
        }
        let size = options.size.next_multiple_of(SECTOR);
        let text = render_extents(
            options.cid.unwrap_or_else(random_cid),
            options.subformat.name(),
            size / SECTOR,
            &lines,
            &options.hw_version,
            options.adapter_type.name(),
        );
        if text.len() as u64 > MAX_DESCRIPTOR_BYTES {
            return Err(err(VmdkWriteError::DescriptorTooLong {
                len: text.len(),
                max: MAX_DESCRIPTOR_BYTES,
            }));
        }
        let mut text = text.into_bytes();
        text.resize(text.len().next_multiple_of(SECTOR as usize), 0);
        let split = files[0].size;
        let extents = if flat {
            Extents::Flat(extents)
        } else {
            let mut sparse = Vec::with_capacity(extents.len());
            for (i, (out, f)) in extents.into_iter().zip(&files).enumerate() {
                let opts = VmdkCreateOptions {
                    size: f.size,
                    subformat: Subformat::MonolithicSparse,
                    ..options.clone()
                };
                sparse.push(VmdkTarget::extent(out, &opts, i as u64 * split)?);
            }
            Extents::Sparse(sparse)
        };
        Ok(VmdkSplitTarget {
            descriptor,
            text,
            size,
            split,
            extents,
        })
    }

    /// The extents' count.
    fn count(&self) -> usize {
        match &self.extents {
            Extents::Flat(v) => v.len(),
            Extents::Sparse(v) => v.len(),
        }
    }

    /// Splits `[offset, offset + len)` at extent boundaries: `(extent, offset, len)`. Flat
    /// extents end at the virtual size; a sparse extent takes its last grain whole.
    fn pieces(&self, offset: u64, len: u64) -> Vec<(usize, u64, u64)> {
        let mut out = Vec::new();
        let end = match self.extents {
            Extents::Flat(_) => (offset + len).min(self.size),
            Extents::Sparse(_) => offset + len,
        };
        let mut pos = offset;
        while pos < end {
            // The last extent takes what passes its end (a sparse one's last grain).
            let last = self.count() as u64 - 1;
            let i = (pos / self.split).min(last);
            let stop = if i < last {
                ((i + 1) * self.split).min(end)
            } else {
                end
            };
            let n = stop - pos;
            out.push((i as usize, pos, n));
            pos += n;
        }
        out
    }

    fn mismatch(&self, detail: String) -> DiskError {
        DiskError::from(VmdkWriteError::PlanMismatch { detail }).with_path(self.descriptor.path())
    }
}

impl ConvertTarget for VmdkSplitTarget<'_> {
    fn format_name(&self) -> &'static str {
        "vmdk"
    }

    fn virtual_size(&self) -> u64 {
        self.size
    }

    fn granularity(&self) -> u64 {
        match self.extents {
            // As raw: zeros found, and left holes, in 4 KiB units (qemu-img convert's `-S`).
            Extents::Flat(_) => FLAT_GRANULE,
            Extents::Sparse(_) => GRAIN,
        }
    }

    fn plan(&mut self, map: &SourceMap<'_>) -> Result<(), DiskError> {
        let text = std::mem::take(&mut self.text);
        self.descriptor.write_at(&text, 0)?;
        self.text = text;
        let split = self.split;
        let size = self.size;
        match &mut self.extents {
            Extents::Flat(v) => {
                for (i, out) in v.iter_mut().enumerate() {
                    out.set_len(split.min(size - i as u64 * split))?;
                }
            }
            Extents::Sparse(v) => {
                for t in v.iter_mut() {
                    t.plan(map)?;
                }
            }
        }
        Ok(())
    }

    fn placement(&mut self) -> Result<Option<Placement>, DiskError> {
        if self.count() != 1 {
            return Ok(None);
        }
        let size = self.size;
        match &mut self.extents {
            Extents::Flat(v) => Ok(Some(Placement {
                file: v[0].handle()?,
                path: v[0].path().to_path_buf(),
                layout: Layout::Identity,
                end: size,
            })),
            Extents::Sparse(v) => v[0].placement(),
        }
    }

    fn record(&mut self, offset: u64, host: u64, data: &[u8]) -> Result<(), DiskError> {
        match &mut self.extents {
            Extents::Flat(v) if v.len() == 1 => {
                v[0].record(data, host);
                Ok(())
            }
            Extents::Sparse(v) if v.len() == 1 => v[0].record(offset, host, data),
            _ => Err(self.mismatch(format!("data at {offset} recorded without a placement"))),
        }
    }

    fn write(&mut self, offset: u64, data: &[u8]) -> Result<(), DiskError> {
        let split = self.split;
        for (i, at, n) in self.pieces(offset, data.len() as u64) {
            let bytes = &data[(at - offset) as usize..(at - offset + n) as usize];
            match &mut self.extents {
                Extents::Flat(v) => v[i].write_at(bytes, at - i as u64 * split)?,
                Extents::Sparse(v) => v[i].write(at, bytes)?,
            }
        }
        Ok(())
    }

    fn write_zeroes(&mut self, offset: u64, len: u64) -> Result<(), DiskError> {
        if let Extents::Sparse(_) = self.extents {
            for (i, at, n) in self.pieces(offset, len) {
                if let Extents::Sparse(v) = &mut self.extents {
                    v[i].write_zeroes(at, n)?;
                }
            }
        }
        // Flat extents: zeros stay holes.
        Ok(())
    }

    fn finish(self: Box<Self>) -> Result<Finished, DiskError> {
        let VmdkSplitTarget {
            descriptor,
            text,
            extents,
            ..
        } = *self;
        let mut bytes_written = 0;
        match extents {
            Extents::Flat(v) => {
                for out in v {
                    bytes_written += out.bytes_written();
                }
            }
            Extents::Sparse(v) => {
                for t in v {
                    bytes_written += Box::new(t).finish()?.bytes_written;
                }
            }
        }
        let done = finish_at(descriptor, text.len() as u64)?;
        Ok(Finished {
            file_len: done.file_len,
            bytes_written: bytes_written + done.bytes_written,
        })
    }
}
