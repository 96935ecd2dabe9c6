//! Format detection from an image's first bytes, as qemu probes (`bdrv_probe_all`, the
//! first 512 bytes only), in a fixed order: qcow2 (`QFI\xfb`), qed (`QED\0`), vdi (signature
//! `0xbeda107f` at 64), vmdk (`KDMV`, `COWD`, or a text descriptor), vhdx (`vhdxfile`), vpc
//! (`conectix` at 0: the copy of the footer a dynamic VHD starts with), and raw only when
//! nothing matches. A LUKS container (`LUKS\xba\xbe`) is recognised and refused
//! ([`ProbeError::Luks`]): its bytes are ciphertext, and taking them for a raw disk would store
//! a disk no guest can read.
//!
//! **The tail is never read.** A fixed VHD keeps its only footer in its last 512 bytes, and
//! qemu's vpc probe (`vpc_probe`, block/vpc.c) looks only at the head: a fixed VHD is probed
//! as raw, by qemu and here. So a raw guest disk whose last sector happens to hold a VHD
//! footer (a guest wrote one, or a fixed VHD was copied onto the disk) stays a raw disk of its
//! full length, never a smaller vpc image. A fixed VHD is vpc when the caller says so
//! ([`OpenOptions::format`](crate::OpenOptions::format)): front ends decide that from their
//! user's words (pcocc's `-t vpc`, `vpc:` prefix or `.vhd`/`.vpc` extension).
//!
//! The magics do not overlap, so the order does not matter. A magic that matches is never
//! overridden: a file that starts with `QFI\xfb` is qcow2 even if its header is broken (opening
//! it then fails), so an image whose header could name a backing file is never read as raw by
//! fallback. qcow2, qed and vhdx have codecs (qed's backing files with no raw flag are probed
//! here, as qemu probes them).

use strata_model::DiskFormat;

use crate::error::{DiskError, DiskErrorSource, ErrorKind};
use crate::io::ReadAt;

/// Bytes [`probe_bytes`] looks at from the start of the file (qemu's
/// `BLOCK_PROBE_BUF_SIZE`).
pub const PROBE_HEAD_LEN: usize = 512;

/// The magic of a LUKS container (versions 1 and 2), at offset 0.
pub const LUKS_MAGIC: &[u8; 6] = b"LUKS\xba\xbe";

/// A file whose first bytes show something strata recognises and refuses to take for a disk.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProbeError {
    /// A LUKS encrypted container: strata does not decrypt disks.
    #[error(
        "LUKS encrypted container (LUKS version {version}): strata does not decrypt disks; open it with cryptsetup and import the decrypted device"
    )]
    Luks {
        /// The header's version field (1 or 2).
        version: u16,
    },
}

impl ProbeError {
    /// The stable category of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            ProbeError::Luks { .. } => ErrorKind::Unsupported,
        }
    }
}

impl From<ProbeError> for DiskError {
    fn from(e: ProbeError) -> Self {
        DiskErrorSource::Probe(e).into()
    }
}

/// The format `head` (the first bytes of a file, up to [`PROBE_HEAD_LEN`]) shows.
pub fn probe_bytes(head: &[u8]) -> Result<DiskFormat, ProbeError> {
    let starts = |m: &[u8]| head.starts_with(m);
    if starts(b"QFI\xfb") {
        return Ok(DiskFormat::Qcow2);
    }
    if starts(b"QED\0") {
        return Ok(DiskFormat::Qed);
    }
    // vdi: the signature is at 64, little-endian; the text before it varies ("<<< Oracle VM
    // VirtualBox Disk Image >>>", "<<< Sun xVM ...", "<<< innotek ..."), so qemu checks only it.
    if head.get(64..68) == Some(&0xbeda_107f_u32.to_le_bytes()[..]) {
        return Ok(DiskFormat::Vdi);
    }
    if starts(b"KDMV") || starts(b"COWD") || is_vmdk_descriptor(head) {
        return Ok(DiskFormat::Vmdk);
    }
    if starts(b"vhdxfile") {
        return Ok(DiskFormat::Vhdx);
    }
    if starts(b"conectix") {
        return Ok(DiskFormat::Vpc);
    }
    if starts(LUKS_MAGIC) {
        let version = head
            .get(6..8)
            .map_or(0, |v| u16::from_be_bytes([v[0], v[1]]));
        return Err(ProbeError::Luks { version });
    }
    Ok(DiskFormat::Raw)
}

/// Whether `head` starts like a VMDK text descriptor, by qemu's rule (`vmdk_probe`, block/vmdk.c):
/// comment lines (`#` to the end of the line) and blank lines (one or more spaces, then `\n` or
/// `\r\n`), then `version=1`, `2` or `3` ending its line. The usual first line,
/// `# Disk DescriptorFile`, is one such comment; a descriptor a person wrote may start with
/// other comments, or with the version.
fn is_vmdk_descriptor(head: &[u8]) -> bool {
    let mut rest = head;
    while let Some(&first) = rest.first() {
        match first {
            b'#' => match rest.iter().position(|&b| b == b'\n') {
                Some(i) => rest = &rest[i + 1..],
                None => return false,
            },
            b' ' => {
                let after = rest
                    .iter()
                    .position(|&b| b != b' ')
                    .map_or(&[][..], |i| &rest[i..]);
                let after = after.strip_prefix(b"\r").unwrap_or(after);
                match after.strip_prefix(b"\n") {
                    Some(next) => rest = next,
                    None => return false,
                }
            }
            _ => {
                return [&b"1"[..], b"2", b"3"].iter().any(|v| {
                    rest.strip_prefix(b"version=")
                        .and_then(|r| r.strip_prefix(*v))
                        .is_some_and(|r| r.starts_with(b"\n") || r.starts_with(b"\r\n"))
                });
            }
        }
    }
    false
}

/// Probes an image through [`ReadAt`]: reads at most [`PROBE_HEAD_LEN`] bytes from its start
/// (never its tail; see the module documentation).
pub fn probe(src: &dyn ReadAt) -> Result<DiskFormat, DiskError> {
    let len = src
        .size()
        .map_err(|e| DiskError::io("read the length to probe the format", e))?;
    let mut head = vec![0u8; len.min(PROBE_HEAD_LEN as u64) as usize];
    src.read_exact_at(&mut head, 0)
        .map_err(|e| DiskError::io("read to probe the format", e))?;
    Ok(probe_bytes(&head)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn magics_in_order() {
        let probe = |b: &[u8]| probe_bytes(b).unwrap();
        assert_eq!(probe(b"QFI\xfb\0\0\0\x03"), DiskFormat::Qcow2);
        assert_eq!(probe(b"QED\0"), DiskFormat::Qed);
        let mut vdi = vec![0u8; 128];
        vdi[..4].copy_from_slice(b"<<< ");
        vdi[64..68].copy_from_slice(&0xbeda_107f_u32.to_le_bytes());
        assert_eq!(probe(&vdi), DiskFormat::Vdi);
        assert_eq!(probe(b"KDMV"), DiskFormat::Vmdk);
        assert_eq!(
            probe(b"# Disk DescriptorFile\nversion=1\n"),
            DiskFormat::Vmdk
        );
        assert_eq!(probe(b"vhdxfile"), DiskFormat::Vhdx);
        assert_eq!(probe(b"conectix"), DiskFormat::Vpc);
        assert_eq!(probe(&[0; 512]), DiskFormat::Raw);
        assert_eq!(probe(&[]), DiskFormat::Raw);
    }

    /// A raw disk whose last sector is a fixed VHD footer: what probing sees of it is its
    /// head, so it is raw whatever its tail holds (the tail is not even read).
    #[test]
    fn a_footer_at_the_end_is_not_looked_for() {
        let mut disk = vec![0u8; 64 << 10];
        let n = disk.len();
        disk[n - 512..n - 504].copy_from_slice(b"conectix");
        assert_eq!(probe(&disk).unwrap(), DiskFormat::Raw);
        assert_eq!(probe_bytes(&disk).unwrap(), DiskFormat::Raw);
    }

    #[test]
    fn vmdk_descriptors_are_found_as_qemu_finds_them() {
        for text in [
            &b"# Disk DescriptorFile\nversion=1\nCID=fffffffe\n"[..],
            b"version=1\nCID=fffffffe\n",
            b"# made by hand\n#\n   \nversion=3\r\n",
            b"  \r\nversion=2\n",
        ] {
            assert_eq!(
                probe_bytes(text).unwrap(),
                DiskFormat::Vmdk,
                "{:?}",
                String::from_utf8_lossy(text)
            );
        }
        for text in [
            &b"version=4\n"[..],
            b"version=1",
            b"  x\nversion=1\n",
            b"createType=\"monolithicFlat\"\nversion=1\n",
            b"\nversion=1\n",
            b"# only a comment",
        ] {
            assert_eq!(
                probe_bytes(text).unwrap(),
                DiskFormat::Raw,
                "{:?}",
                String::from_utf8_lossy(text)
            );
        }
    }

    #[test]
    fn luks_is_refused_as_unsupported() {
        let mut head = vec![0u8; 512];
        head[..6].copy_from_slice(LUKS_MAGIC);
        head[6..8].copy_from_slice(&2u16.to_be_bytes());
        let e = probe_bytes(&head).unwrap_err();
        assert_eq!(e, ProbeError::Luks { version: 2 });
        let e = DiskError::from(e);
        assert_eq!(e.kind(), ErrorKind::Unsupported);
        assert!(e.to_string().contains("LUKS"), "{e}");
        assert_eq!(probe(&head).unwrap_err().kind(), ErrorKind::Unsupported);
    }
}
