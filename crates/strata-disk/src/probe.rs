//! Format detection from an image's first (and, for vpc, last) bytes, in a fixed order:
//! qcow2 (`QFI\xfb`), qed (`QED\0`), vdi (signature `0xbeda107f` at 64), vmdk (`KDMV`,
//! `COWD`, or a `# Disk DescriptorFile` text descriptor), vhdx (`vhdxfile`), vpc (`conectix`
//! at 0 or in the footer, the last 512 bytes), and raw only when nothing matches.
//!
//! The magics do not overlap, so the order matters only against vpc's footer, which is looked
//! for last (before raw): a file whose head matches another format is that format whatever its
//! last 512 bytes hold. qcow2, qed and vhdx have codecs (qed's backing files with no raw flag
//! are probed here, as qemu probes them).
//!
//! A magic that matches is never overridden: a file that starts with `QFI\xfb` is qcow2 even if
//! its header is broken (opening it then fails), so an image whose header could name a backing
//! file is never read as raw by fallback.

use strata_model::DiskFormat;

use crate::io::ReadAt;

/// Bytes [`probe_bytes`] looks at from the start of the file.
pub const PROBE_HEAD_LEN: usize = 512;
/// Bytes [`probe_bytes`] looks at from the end of the file (the vpc footer).
pub const PROBE_TAIL_LEN: usize = 512;

/// The format `head` (the first bytes, up to [`PROBE_HEAD_LEN`]) and `tail` (the last
/// [`PROBE_TAIL_LEN`] bytes, or empty) show.
pub fn probe_bytes(head: &[u8], tail: &[u8]) -> DiskFormat {
    let starts = |m: &[u8]| head.starts_with(m);
    if starts(b"QFI\xfb") {
        return DiskFormat::Qcow2;
    }
    if starts(b"QED\0") {
        return DiskFormat::Qed;
    }
    // vdi: the signature is at 64, little-endian; the text before it varies ("<<< Oracle VM
    // VirtualBox Disk Image >>>", "<<< Sun xVM ...", "<<< innotek ..."), so qemu checks only it.
    if head.get(64..68) == Some(&0xbeda_107f_u32.to_le_bytes()[..]) {
        return DiskFormat::Vdi;
    }
    if starts(b"KDMV") || starts(b"COWD") || starts(b"# Disk DescriptorFile") {
        return DiskFormat::Vmdk;
    }
    if starts(b"vhdxfile") {
        return DiskFormat::Vhdx;
    }
    if starts(b"conectix") || tail.starts_with(b"conectix") {
        return DiskFormat::Vpc;
    }
    DiskFormat::Raw
}

/// Probes an image through [`ReadAt`] (reads at most 1 KiB).
pub fn probe(src: &dyn ReadAt) -> std::io::Result<DiskFormat> {
    let len = src.size()?;
    let mut head = vec![0u8; len.min(PROBE_HEAD_LEN as u64) as usize];
    src.read_exact_at(&mut head, 0)?;
    let tail_len = len.min(PROBE_TAIL_LEN as u64);
    let mut tail = vec![0u8; tail_len as usize];
    src.read_exact_at(&mut tail, len - tail_len)?;
    Ok(probe_bytes(&head, &tail))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn magics_in_order() {
        assert_eq!(probe_bytes(b"QFI\xfb\0\0\0\x03", &[]), DiskFormat::Qcow2);
        assert_eq!(probe_bytes(b"QED\0", &[]), DiskFormat::Qed);
        let mut vdi = vec![0u8; 128];
        vdi[..4].copy_from_slice(b"<<< ");
        vdi[64..68].copy_from_slice(&0xbeda_107f_u32.to_le_bytes());
        assert_eq!(probe_bytes(&vdi, &[]), DiskFormat::Vdi);
        assert_eq!(probe_bytes(b"KDMV", &[]), DiskFormat::Vmdk);
        assert_eq!(
            probe_bytes(b"# Disk DescriptorFile\n", &[]),
            DiskFormat::Vmdk
        );
        assert_eq!(probe_bytes(b"vhdxfile", &[]), DiskFormat::Vhdx);
        assert_eq!(probe_bytes(b"conectix", &[]), DiskFormat::Vpc);
        assert_eq!(probe_bytes(&[0; 512], b"conectix"), DiskFormat::Vpc);
        assert_eq!(probe_bytes(&[0; 512], &[0; 512]), DiskFormat::Raw);
        assert_eq!(probe_bytes(&[], &[]), DiskFormat::Raw);
    }
}
