//! The custom image tarball OCNE uploads to object storage (`createTarballInMemory` and
//! `addFileToTarWriter` in pkg/commands/image/upload/upload.go): a tar of the boot image and
//! its capability document, gzip-compressed.
//!
//! Each entry takes its file's size, permission bits and mtime; its name is `output.QCOW2`
//! for a file whose name ends in `.oci`, `image_metadata.json` for any other, so that a boot
//! image not named `*.oci` yields two entries named `image_metadata.json` (OCNE's quirk,
//! reproduced: the tarball is what OCNE would upload, and a warning says what OCI will make
//! of it).
//!
//! The tar stream is the one Go's `archive/tar` writes for those headers, byte for byte: a
//! USTAR header per entry (octal fields zero-padded and NUL-terminated, uid and gid 0, no
//! user or group names, device numbers `0000000`, the checksum as six octal digits, a NUL
//! and a space), the mtime rounded to the nearest second, data padded to 512 bytes, and two
//! zero blocks at the end; an entry over 8 GiB gets a PAX `size` record first
//! (`PaxHeaders.0/<name>`), as Go writes it. Go records setuid, setgid and sticky bits in its
//! own encoding; strata records the permission bits only. The gzip stream is flate2's at
//! Go's default level: the same tar, other deflate bytes.

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::Path;
use std::time::UNIX_EPOCH;

use flate2::Compression;
use flate2::write::GzEncoder;

/// The name of the tar entry of a file named `file_name`.
pub fn entry_name(file_name: &str) -> &'static str {
    if file_name.ends_with(".oci") {
        "output.QCOW2"
    } else {
        "image_metadata.json"
    }
}

/// Largest size a USTAR header's 11 octal digits hold.
const MAX_USTAR_SIZE: u64 = 0o777_7777_7777;

/// Writes the tar of `files` (each entry named by [`entry_name`]) to `out`, uncompressed.
pub fn write_tar(out: &mut dyn Write, files: &[&Path]) -> io::Result<()> {
    for path in files {
        let mut file = File::open(path)?;
        let meta = file.metadata()?;
        let file_name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let name = entry_name(&file_name);
        let size = meta.len();
        let mode = std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o777;
        let mtime = rounded_mtime(&meta)?;
        if size > MAX_USTAR_SIZE {
            let record = pax_record("size", &size.to_string());
            let pax_name = format!("PaxHeaders.0/{name}");
            out.write_all(&header(
                &pax_name,
                0,
                Some(record.len() as u64),
                0,
                b'x',
                false,
            ))?;
            out.write_all(record.as_bytes())?;
            pad(out, record.len() as u64)?;
            out.write_all(&header(name, mode, None, mtime, b'0', true))?;
        } else {
            out.write_all(&header(name, mode, Some(size), mtime, b'0', true))?;
        }
        let copied = io::copy(&mut (&mut file).take(size), out)?;
        if copied != size {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("{} shrank while it was read", path.display()),
            ));
        }
        pad(out, size)?;
    }
    out.write_all(&[0; 1024])
}

/// Writes the gzip-compressed tar of `files` to `out` (see [`write_tar`]).
pub fn write_tar_gz(out: &mut dyn Write, files: &[&Path]) -> io::Result<()> {
    let mut gz = GzEncoder::new(
        io::BufWriter::with_capacity(1 << 20, out),
        Compression::new(6),
    );
    write_tar(&mut gz, files)?;
    gz.finish()?.flush()
}

/// The file's mtime in seconds, rounded to the nearest second as Go's `Time.Round` does.
fn rounded_mtime(meta: &std::fs::Metadata) -> io::Result<i64> {
    let modified = meta.modified()?;
    let (secs, nanos) = match modified.duration_since(UNIX_EPOCH) {
        Ok(d) => (
            i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
            d.subsec_nanos(),
        ),
        Err(e) => {
            let d = e.duration();
            // Before 1970: seconds toward minus infinity, the fraction positive.
            let whole = -i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
            match d.subsec_nanos() {
                0 => (whole, 0),
                n => (whole - 1, 1_000_000_000 - n),
            }
        }
    };
    Ok(if nanos >= 500_000_000 { secs + 1 } else { secs })
}

/// One PAX record, `"<len> <key>=<value>\n"`, its length counting itself (Go's
/// `formatPAXRecord`).
fn pax_record(key: &str, value: &str) -> String {
    let mut size = key.len() + value.len() + 3;
    size += size.to_string().len();
    let mut record = format!("{size} {key}={value}\n");
    if record.len() != size {
        size = record.len();
        record = format!("{size} {key}={value}\n");
    }
    record
}

/// Zeros up to the next 512-byte boundary after `len` bytes.
fn pad(out: &mut dyn Write, len: u64) -> io::Result<()> {
    let rest = (512 - len % 512) % 512;
    let rest = usize::try_from(rest).unwrap_or(0);
    out.write_all(&[0; 512][..rest])
}

/// Go's `formatOctal`: zero-padded octal leaving room for a NUL; 0 when it does not fit.
fn octal(field: &mut [u8], value: u64) {
    let digits = field.len() - 1;
    let mut text = format!("{value:o}");
    if text.len() > digits {
        text = "0".to_owned();
    }
    let text = format!("{text:0>digits$}");
    field[..digits].copy_from_slice(text.as_bytes());
    field[digits] = 0;
}

/// One header block as Go writes it. `size` `None`: too large for the field (a PAX record
/// holds it; the field says 0). `devices`: whether the device number fields are written (the
/// main header), or left NUL (a PAX extended header, Go's `writeRawFile`).
fn header(
    name: &str,
    mode: u32,
    size: Option<u64>,
    mtime: i64,
    flag: u8,
    devices: bool,
) -> [u8; 512] {
    let mut b = [0u8; 512];
    let name = name.as_bytes();
    let n = name.len().min(100);
    b[..n].copy_from_slice(&name[..n]);
    octal(&mut b[100..108], u64::from(mode));
    octal(&mut b[108..116], 0);
    octal(&mut b[116..124], 0);
    octal(&mut b[124..136], size.unwrap_or(0));
    octal(&mut b[136..148], u64::try_from(mtime).unwrap_or(0));
    b[156] = flag;
    b[257..263].copy_from_slice(b"ustar\0");
    b[263..265].copy_from_slice(b"00");
    if devices {
        octal(&mut b[329..337], 0);
        octal(&mut b[337..345], 0);
    }
    b[148..156].copy_from_slice(b"        ");
    let sum: u64 = b.iter().map(|&x| u64::from(x)).sum();
    octal(&mut b[148..155], sum);
    b[155] = b' ';
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_oci_suffix() {
        assert_eq!(entry_name("boot.qcow2-1.33-amd64.oci"), "output.QCOW2");
        assert_eq!(
            entry_name("boot.qcow2-1.33-amd64.oci.json"),
            "image_metadata.json"
        );
        assert_eq!(entry_name("boot.qcow2"), "image_metadata.json");
    }

    #[test]
    fn pax_records_count_their_own_length() {
        assert_eq!(pax_record("size", "8589934592"), "19 size=8589934592\n");
        assert_eq!(
            pax_record("path", &"a".repeat(92)),
            format!("102 path={}\n", "a".repeat(92))
        );
    }

    #[test]
    fn headers_are_go_s_bytes() {
        let h = header("output.QCOW2", 0o644, Some(10), 1_720_195_043, b'0', true);
        assert_eq!(&h[100..108], b"0000644\0");
        assert_eq!(&h[124..136], b"00000000012\0");
        assert_eq!(&h[329..345], b"0000000\x000000000\x00");
        assert_eq!(h[154], 0);
        assert_eq!(h[155], b' ');
        // The checksum is that of the block with the field as spaces.
        let mut check = h;
        check[148..156].copy_from_slice(b"        ");
        let sum: u64 = check.iter().map(|&x| u64::from(x)).sum();
        assert_eq!(&h[148..154], format!("{sum:06o}").as_bytes());
        assert!(tar_reads(&h));
    }

    fn tar_reads(h: &[u8; 512]) -> bool {
        h[257..263] == *b"ustar\0"
    }
}
