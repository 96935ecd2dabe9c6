//! [`Compression`]: gzip, bzip2 and xz streams recognised by their magic bytes and decoded as
//! they are read (every stream of a concatenation), for image sources that come compressed.

use std::fmt;
use std::io::Read;

/// The compressions recognised in an image's first bytes: transient's
/// `StreamDecompressor.COMPRESSION_MAGIC`, and what OpenNebula's `downloader.sh` decompresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// gzip (`1f 8b`).
    Gzip,
    /// bzip2 (`BZh`).
    Bzip2,
    /// xz (`fd 37 7a 58 5a 00`).
    Xz,
}

impl Compression {
    /// The magics, in transient's order.
    const MAGICS: [(&'static [u8], Compression); 3] = [
        (b"\x1f\x8b", Compression::Gzip),
        (b"BZh", Compression::Bzip2),
        (b"\xfd7zXZ\x00", Compression::Xz),
    ];

    /// The longest magic: the bytes [`Compression::detect`] needs to see.
    pub const MAGIC_LEN: usize = 6;

    /// The compression whose magic `head` starts with; `None`: not compressed (or in a way
    /// not recognised), taken as it is.
    pub fn detect(head: &[u8]) -> Option<Compression> {
        Compression::MAGICS
            .into_iter()
            .find(|(magic, _)| head.starts_with(magic))
            .map(|(_, compression)| compression)
    }

    /// A streaming decoder of this compression over `input` (every stream of a concatenation).
    pub fn decoder<'r>(self, input: impl Read + 'r) -> Box<dyn Read + 'r> {
        match self {
            Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(input)),
            Compression::Bzip2 => Box::new(bzip2::read::MultiBzDecoder::new(input)),
            Compression::Xz => Box::new(liblzma::read::XzDecoder::new_multi_decoder(input)),
        }
    }
}

impl fmt::Display for Compression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Compression::Gzip => "gzip",
            Compression::Bzip2 => "bzip2",
            Compression::Xz => "xz",
        })
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};

    use super::*;

    #[test]
    fn magic_bytes_are_recognised() {
        assert_eq!(
            Compression::detect(b"\x1f\x8b\x08\0"),
            Some(Compression::Gzip)
        );
        assert_eq!(Compression::detect(b"BZh91AY&SY"), Some(Compression::Bzip2));
        assert_eq!(
            Compression::detect(b"\xfd7zXZ\0\0\x04"),
            Some(Compression::Xz)
        );
        // One byte short of a magic is no magic; neither is a qcow2 header or nothing.
        assert_eq!(Compression::detect(b"\x1f"), None);
        assert_eq!(Compression::detect(b"BZ"), None);
        assert_eq!(Compression::detect(b"\xfd7zXZ"), None);
        assert_eq!(Compression::detect(b"QFI\xfb"), None);
        assert_eq!(Compression::detect(b""), None);
        assert_eq!(Compression::MAGIC_LEN, 6);
        assert!(
            Compression::MAGICS
                .iter()
                .all(|(m, _)| m.len() <= Compression::MAGIC_LEN)
        );
    }

    #[test]
    fn decoders_read_every_stream_of_a_concatenation() {
        let mut gz = Vec::new();
        for part in [&b"hello "[..], b"world"] {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(part).unwrap();
            gz.extend(e.finish().unwrap());
        }
        let mut text = String::new();
        Compression::Gzip
            .decoder(&gz[..])
            .read_to_string(&mut text)
            .unwrap();
        assert_eq!(text, "hello world");
    }
}
