//! Granule compression as qemu writes it, shared by the convert engine (which compresses
//! granules in parallel) and the codecs that store them (qcow2, streamOptimized vmdk), so that
//! neither imports the other for it.
//!
//! qcow2's compressed clusters: raw deflate with a 4 KiB window (window
//! bits 12, no zlib header) or one zstd frame per cluster. A cluster is stored compressed only
//! when its compressed form is smaller than the cluster (at most `cluster_size - 1` bytes, as
//! qemu asks of its compressors); otherwise it is stored as a normal cluster.
//!
//! VMDK's streamOptimized grains use a third form, [`Compression::Deflate`]: zlib-format
//! deflate (RFC 1950: header, 32 KiB window, Adler-32 trailer), as qemu's `compress()` writes
//! it. Those are always stored compressed (VMDK has no uncompressed grain in a compressed
//! extent), so the "smaller than the cluster" rule does not apply to them; qcow2 refuses them.

use flate2::{Compress, FlushCompress, Status};

/// The compression of a qcow2 image's compressed clusters (the header's `compression_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Compression {
    /// Raw deflate, qemu's `zlib` (compression type 0); `level` 0–9, qemu uses 6.
    Zlib {
        /// The deflate level, 0 (store) to 9 (best).
        level: u32,
    },
    /// zstd (compression type 1, needs compat 1.1); `level` 1–22, qemu uses 3.
    Zstd {
        /// The zstd level.
        level: i32,
    },
    /// zlib-format deflate (RFC 1950), VMDK's compressed grains; `level` 0–9, qemu uses 6.
    /// Every granule is stored compressed, whatever its compressed size. Not a qcow2
    /// compression: [`Qcow2Target`](crate::qcow2::Qcow2Target) refuses it.
    Deflate {
        /// The deflate level, 0 (store) to 9 (best).
        level: u32,
    },
}

impl Compression {
    /// zlib at qemu's level (6, zlib's default).
    pub const ZLIB: Compression = Compression::Zlib { level: 6 };
    /// zstd at qemu's level (3, zstd's default).
    pub const ZSTD: Compression = Compression::Zstd { level: 3 };

    /// VMDK's deflate at qemu's level (6).
    pub const DEFLATE: Compression = Compression::Deflate { level: 6 };

    /// The value of the qcow2 header's `compression_type` field (`None`: not a qcow2
    /// compression).
    pub fn type_code(self) -> Option<u8> {
        match self {
            Compression::Zlib { .. } => Some(0),
            Compression::Zstd { .. } => Some(1),
            Compression::Deflate { .. } => None,
        }
    }

    /// The name qemu-img uses for `-o compression_type=`.
    pub fn name(self) -> &'static str {
        match self {
            Compression::Zlib { .. } => "zlib",
            Compression::Zstd { .. } => "zstd",
            Compression::Deflate { .. } => "deflate",
        }
    }

    /// A compressor that keeps its state between clusters (one per thread).
    pub fn compressor(self) -> Result<ClusterCompressor, CompressError> {
        let inner = match self {
            Compression::Zlib { level } => {
                if level > 9 {
                    return Err(CompressError::InvalidLevel {
                        codec: "zlib",
                        level: i64::from(level),
                    });
                }
                Inner::Zlib(Compress::new_with_window_bits(
                    flate2::Compression::new(level),
                    false,
                    12,
                ))
            }
            Compression::Zstd { level } => {
                if !(1..=22).contains(&level) {
                    return Err(CompressError::InvalidLevel {
                        codec: "zstd",
                        level: i64::from(level),
                    });
                }
                let c =
                    zstd::bulk::Compressor::new(level).map_err(|source| CompressError::Zstd {
                        op: "create a compressor",
                        source,
                    })?;
                Inner::Zstd(Box::new(c))
            }
            Compression::Deflate { level } => {
                if level > 9 {
                    return Err(CompressError::InvalidLevel {
                        codec: "deflate",
                        level: i64::from(level),
                    });
                }
                Inner::Deflate(Compress::new(flate2::Compression::new(level), true))
            }
        };
        Ok(ClusterCompressor { inner })
    }
}

/// A compression failure.
#[derive(Debug, thiserror::Error)]
pub enum CompressError {
    /// A level outside what the codec accepts.
    #[error("{codec} compression level {level} is out of range")]
    InvalidLevel {
        /// `zlib` or `zstd`.
        codec: &'static str,
        /// The level asked for.
        level: i64,
    },
    /// deflate reported an error.
    #[error("deflate failed: {0}")]
    Deflate(String),
    /// zstd reported an error.
    #[error("zstd failed to {op}")]
    Zstd {
        /// What was being done.
        op: &'static str,
        /// zstd's error.
        #[source]
        source: std::io::Error,
    },
}

enum Inner {
    Zlib(Compress),
    Deflate(Compress),
    Zstd(Box<zstd::bulk::Compressor<'static>>),
}

/// Compresses whole clusters, reusing its state; create one per worker thread.
pub struct ClusterCompressor {
    inner: Inner,
}

impl std::fmt::Debug for ClusterCompressor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let codec = match self.inner {
            Inner::Zlib(_) => "zlib",
            Inner::Zstd(_) => "zstd",
            Inner::Deflate(_) => "deflate",
        };
        f.debug_struct("ClusterCompressor")
            .field("codec", &codec)
            .finish()
    }
}

impl ClusterCompressor {
    /// Compresses `cluster` into `out` (cleared first). Returns `true` when the result is
    /// smaller than the cluster, i.e. at most `cluster.len() - 1` bytes, and should be stored
    /// compressed; `false` means store the cluster as it is (`out` is then unspecified).
    /// [`Compression::Deflate`] always returns `true` (VMDK stores every grain compressed).
    pub fn compress(&mut self, cluster: &[u8], out: &mut Vec<u8>) -> Result<bool, CompressError> {
        let limit = cluster.len().saturating_sub(1);
        out.clear();
        match &mut self.inner {
            Inner::Deflate(c) => {
                c.reset();
                // See below: never a tight buffer for zlib-rs.
                out.reserve(cluster.len() + cluster.len() / 8 + 256);
                let status = c
                    .compress_vec(cluster, out, FlushCompress::Finish)
                    .map_err(|e| CompressError::Deflate(e.to_string()))?;
                if !matches!(status, Status::StreamEnd) || c.total_in() != cluster.len() as u64 {
                    return Err(CompressError::Deflate(format!(
                        "stream not finished after {} of {} bytes",
                        c.total_in(),
                        cluster.len()
                    )));
                }
                Ok(true)
            }
            Inner::Zlib(c) => {
                c.reset();
                // Room for deflate's worst case (stored blocks): zlib-rs 0.6 panics when a
                // stored block meets a nearly full output buffer, so never give it a tight one.
                out.reserve(cluster.len() + cluster.len() / 8 + 256);
                let status = c
                    .compress_vec(cluster, out, FlushCompress::Finish)
                    .map_err(|e| CompressError::Deflate(e.to_string()))?;
                let consumed_all = c.total_in() == cluster.len() as u64;
                Ok(matches!(status, Status::StreamEnd) && consumed_all && out.len() <= limit)
            }
            Inner::Zstd(c) => {
                out.resize(limit, 0);
                match c.compress_to_buffer(cluster, out.as_mut_slice()) {
                    Ok(n) => {
                        out.truncate(n);
                        Ok(n <= limit)
                    }
                    // "Destination buffer is too small": incompressible.
                    Err(_) => Ok(false),
                }
            }
        }
    }
}

/// Decompresses one cluster the way qemu reads it (for tests and the write side's own checks;
/// the reader has its own bounded decompressor). `out.len()` is the cluster size.
pub fn decompress_cluster(
    compression: Compression,
    input: &[u8],
    out: &mut [u8],
) -> Result<(), CompressError> {
    match compression {
        // qcow2's raw deflate with a 4 KiB window, vmdk's zlib stream.
        Compression::Zlib { .. } => inflate(
            flate2::Decompress::new_with_window_bits(false, 12),
            input,
            out,
        ),
        Compression::Deflate { .. } => inflate(flate2::Decompress::new(true), input, out),
        Compression::Zstd { .. } => {
            let n = zstd::bulk::decompress_to_buffer(input, out).map_err(|source| {
                CompressError::Zstd {
                    op: "decompress",
                    source,
                }
            })?;
            if n != out.len() {
                return Err(CompressError::Deflate(format!(
                    "zstd produced {n} bytes, expected {}",
                    out.len()
                )));
            }
            Ok(())
        }
    }
}

/// Inflates `input` into the whole of `out` with `d`.
fn inflate(mut d: flate2::Decompress, input: &[u8], out: &mut [u8]) -> Result<(), CompressError> {
    d.decompress(input, out, flate2::FlushDecompress::Finish)
        .map_err(|e| CompressError::Deflate(e.to_string()))?;
    if d.total_out() != out.len() as u64 {
        return Err(CompressError::Deflate(format!(
            "produced {} bytes, expected {}",
            d.total_out(),
            out.len()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(n: usize) -> Vec<u8> {
        (0..n)
            .map(|i| b"etaoin shrdlu"[(i * 7 + i / 13) % 13])
            .collect()
    }

    #[test]
    fn compressible_cluster_roundtrips() {
        for c in [Compression::ZLIB, Compression::ZSTD] {
            let mut comp = c.compressor().unwrap();
            let data = text(65536);
            let mut out = Vec::new();
            assert!(comp.compress(&data, &mut out).unwrap(), "{c:?}");
            assert!(out.len() < 65536);
            let mut back = vec![0u8; 65536];
            decompress_cluster(c, &out, &mut back).unwrap();
            assert_eq!(back, data);
            // The state is reused correctly for a second cluster.
            let data2 = text(65536).into_iter().rev().collect::<Vec<_>>();
            assert!(comp.compress(&data2, &mut out).unwrap());
            decompress_cluster(c, &out, &mut back).unwrap();
            assert_eq!(back, data2);
        }
    }

    #[test]
    fn incompressible_cluster_is_refused() {
        // xorshift noise does not compress.
        let mut x = 0x9e3779b97f4a7c15u64;
        let data: Vec<u8> = (0..4096)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        for c in [Compression::ZLIB, Compression::ZSTD] {
            let mut out = Vec::new();
            assert!(
                !c.compressor().unwrap().compress(&data, &mut out).unwrap(),
                "{c:?}"
            );
        }
    }

    #[test]
    fn deflate_is_zlib_format_and_always_stored() {
        let mut comp = Compression::DEFLATE.compressor().unwrap();
        let data = text(65536);
        let mut out = Vec::new();
        assert!(comp.compress(&data, &mut out).unwrap());
        // RFC 1950 header: CM 8, 32 KiB window, check bits.
        assert_eq!(out[0], 0x78);
        assert_eq!(u16::from_be_bytes([out[0], out[1]]) % 31, 0);
        let mut back = vec![0u8; 65536];
        decompress_cluster(Compression::DEFLATE, &out, &mut back).unwrap();
        assert_eq!(back, data);
        // Incompressible data is still stored compressed (larger than the grain).
        let mut x = 0x9e3779b97f4a7c15u64;
        let noise: Vec<u8> = (0..4096)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        assert!(comp.compress(&noise, &mut out).unwrap());
        assert!(out.len() > noise.len());
        assert_eq!(Compression::DEFLATE.type_code(), None);
    }

    #[test]
    fn levels_are_checked() {
        assert!(Compression::Deflate { level: 10 }.compressor().is_err());
        assert!(Compression::Zlib { level: 10 }.compressor().is_err());
        assert!(Compression::Zstd { level: 0 }.compressor().is_err());
    }
}
