//! One way to make a convert destination of any writable format, with the options
//! `qemu-img convert -O FORMAT` uses when given none: what front ends call when the user names
//! only a format (`export -t vmdk`). Callers that need a format's own options (cluster size,
//! subformat, compression) create that format's target directly.
//!
//! This factory names every writable codec, as [`open`](crate::open()) names every readable
//! one, so it sits beside `open` at the crate root and not in [`convert`](mod@crate::convert),
//! which names no codec (the codecs import the convert contract, never the other way).

use strata_model::DiskFormat;

#[cfg(doc)]
use crate::convert::ConvertError;
use crate::convert::ConvertTarget;
use crate::convert::output::Output;
use crate::error::DiskError;
use crate::qcow2::{CreateOptions, Qcow2Target};
use crate::qed::{QedCreateOptions, QedTarget};
use crate::raw::RawTarget;
use crate::vdi::{VdiCreateOptions, VdiTarget};
use crate::vhdx::{VhdxCreateOptions, VhdxTarget};
use crate::vmdk::{VmdkCreateOptions, VmdkTarget};
use crate::vpc::{VpcCreateOptions, VpcTarget};

/// The formats [`create_target`] writes.
pub fn is_writable(format: DiskFormat) -> bool {
    matches!(
        format,
        DiskFormat::Raw
            | DiskFormat::Qcow2
            | DiskFormat::Qed
            | DiskFormat::Vdi
            | DiskFormat::Vmdk
            | DiskFormat::Vpc
            | DiskFormat::Vhdx
    )
}

/// A destination in `out` of `size` virtual bytes in `format`, with qemu-img's default options.
/// Every format strata reads is writable today; a format added to [`DiskFormat`] for reading
/// only would be [`ConvertError::FormatNotWritable`] here, and false in [`is_writable`].
pub fn create_target<'o>(
    format: DiskFormat,
    out: &'o mut dyn Output,
    size: u64,
) -> Result<Box<dyn ConvertTarget + 'o>, DiskError> {
    Ok(match format {
        DiskFormat::Raw => Box::new(RawTarget::create(out, size)?),
        DiskFormat::Qcow2 => Box::new(Qcow2Target::create(out, &CreateOptions::new(size))?),
        DiskFormat::Vmdk => Box::new(VmdkTarget::create(out, &VmdkCreateOptions::new(size))?),
        DiskFormat::Qed => Box::new(QedTarget::create(out, &QedCreateOptions::new(size))?),
        DiskFormat::Vdi => Box::new(VdiTarget::create(out, &VdiCreateOptions::new(size))?),
        DiskFormat::Vpc => Box::new(VpcTarget::create(out, &VpcCreateOptions::new(size))?),
        DiskFormat::Vhdx => Box::new(VhdxTarget::create(out, &VhdxCreateOptions::new(size))?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::convert::output::{Durability, OutputFile};

    #[test]
    fn writable_formats_are_exactly_those_created() {
        let dir = tempfile::tempdir().unwrap();
        for format in &DiskFormat::ALL {
            let path = dir.path().join(format!("out.{}", format.name()));
            let mut out = OutputFile::create(&path, Durability::Volatile).unwrap();
            let made = create_target(*format, &mut out, 1 << 20).map(|_| ());
            assert_eq!(made.is_ok(), is_writable(*format), "{format:?}");
            if let Err(e) = made {
                assert_eq!(e.kind(), crate::ErrorKind::Unsupported);
                assert!(e.to_string().contains(format.name()), "{e}");
            }
        }
    }
}
