//! Decompression of one compressed cluster, zlib (raw deflate) or zstd, into exactly one
//! cluster of output: the decompressor never writes past the cluster, and anything that does
//! not fill it exactly is an error, as in qemu.

use crate::qcow2::Qcow2Error;
use crate::qcow2::header::CompressionType;

/// Largest zstd window strata accepts, log2 (qemu compresses one cluster of at most 2 MiB per
/// frame, so a larger window is hostile; this bounds the decoder's memory to a few MiB).
pub const MAX_ZSTD_WINDOW_LOG: u32 = 22;

/// Decompresses `input` (the compressed bytes, possibly followed by unrelated bytes up to the
/// sector end) into `out`, which must be filled exactly; returns how many bytes of `input` the
/// decompressor consumed to fill it (the output is a function of those bytes alone).
/// `host_offset` is for errors.
pub fn decompress_cluster(
    compression: CompressionType,
    input: &[u8],
    out: &mut [u8],
    host_offset: u64,
) -> Result<usize, Qcow2Error> {
    match compression {
        CompressionType::Zlib => inflate(input, out, host_offset),
        CompressionType::Zstd => unzstd(input, out, host_offset),
    }
}

fn inflate(input: &[u8], out: &mut [u8], host_offset: u64) -> Result<usize, Qcow2Error> {
    use flate2::{Decompress, FlushDecompress, Status};
    // Raw deflate; qemu writes window bits 12, which a 15-bit window reads.
    let mut d = Decompress::new(false);
    let err = |reason: String| Qcow2Error::decompress(host_offset, CompressionType::Zlib, reason);
    match d.decompress(input, out, FlushDecompress::Finish) {
        // qemu accepts a full output buffer whether or not the stream ended (the input length
        // is only known to the sector).
        Ok(Status::StreamEnd | Status::BufError | Status::Ok)
            if d.total_out() == out.len() as u64 =>
        {
            Ok(d.total_in() as usize)
        }
        Ok(_) => Err(err(format!(
            "{} of {} bytes produced",
            d.total_out(),
            out.len()
        ))),
        Err(e) => Err(err(e.to_string())),
    }
}

fn unzstd(input: &[u8], out: &mut [u8], host_offset: u64) -> Result<usize, Qcow2Error> {
    use zstd::stream::raw::{DParameter, Decoder, InBuffer, Operation, OutBuffer};
    let err = |reason: String| Qcow2Error::decompress(host_offset, CompressionType::Zstd, reason);
    let mut dec = Decoder::new().map_err(|e| err(e.to_string()))?;
    dec.set_parameter(DParameter::WindowLogMax(MAX_ZSTD_WINDOW_LOG))
        .map_err(|e| err(e.to_string()))?;
    let mut inb = InBuffer::around(input);
    let mut outb = OutBuffer::around(out);
    // Several frames may follow each other; stop once the cluster is full.
    while outb.pos() < outb.capacity() {
        let before = (inb.pos, outb.pos());
        dec.run(&mut inb, &mut outb)
            .map_err(|e| err(e.to_string()))?;
        if (inb.pos, outb.pos()) == before {
            return Err(err(format!(
                "{} of {} bytes produced",
                outb.pos(),
                outb.capacity()
            )));
        }
    }
    Ok(inb.pos)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zlib_and_zstd_fill_one_cluster() {
        let data: Vec<u8> = (0..4096u32).map(|i| (i % 251) as u8).collect();
        let mut z =
            flate2::Compress::new_with_window_bits(flate2::Compression::default(), false, 12);
        let mut comp = vec![0u8; 8192];
        z.compress(&data, &mut comp, flate2::FlushCompress::Finish)
            .unwrap();
        comp.truncate(z.total_out() as usize);
        let stream = comp.len();
        comp.extend_from_slice(&[0xaa; 300]); // sector tail garbage
        let mut out = vec![0u8; 4096];
        let consumed = decompress_cluster(CompressionType::Zlib, &comp, &mut out, 0).unwrap();
        assert_eq!(out, data);
        assert!(consumed <= stream, "{consumed} > {stream}");
        let mut small = vec![0u8; 8192];
        assert!(decompress_cluster(CompressionType::Zlib, &comp, &mut small, 0).is_err());

        let mut zs = zstd::bulk::compress(&data, 3).unwrap();
        let stream = zs.len();
        zs.extend_from_slice(&[0; 100]);
        let mut out = vec![0u8; 4096];
        let consumed = decompress_cluster(CompressionType::Zstd, &zs, &mut out, 0).unwrap();
        assert_eq!(out, data);
        assert!(consumed <= stream, "{consumed} > {stream}");
        let mut big = vec![0u8; 8192];
        assert!(decompress_cluster(CompressionType::Zstd, &zs, &mut big, 0).is_err());
        assert!(decompress_cluster(CompressionType::Zstd, &[1, 2, 3], &mut out, 0).is_err());
    }
}
