//! [`Digest`]: the sha256 content digest that names every blob in a repository.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A sha256 content digest: 64 lowercase hex digits.
///
/// pcocc records VM blobs as bare hex and container blobs as OCI digests (`sha256:<hex>`);
/// [`FromStr`] accepts both. [`Display`](fmt::Display) and serde always write the prefixed OCI
/// form, `sha256:<hex>`; use [`Digest::hex`] where the bare form is wanted (blob file names, the
/// `data_blobs` of a VM record).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Digest {
    /// Invariant: exactly [`Digest::HEX_LEN`] characters, each in `[0-9a-f]`.
    hex: String,
}

impl Digest {
    /// The only algorithm strata (like pcocc) supports.
    pub const ALGORITHM: &'static str = "sha256";

    /// The number of hex digits in a sha256 digest.
    pub const HEX_LEN: usize = 64;

    /// The digest of these 32 bytes (a sha256 output).
    pub fn from_bytes(bytes: [u8; 32]) -> Digest {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut hex = String::with_capacity(Self::HEX_LEN);
        for byte in bytes {
            hex.push(char::from(DIGITS[usize::from(byte >> 4)]));
            hex.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
        }
        Digest { hex }
    }

    /// The 32 bytes this digest names.
    pub fn to_bytes(&self) -> [u8; 32] {
        let mut bytes = [0u8; 32];
        for (byte, pair) in bytes.iter_mut().zip(self.hex.as_bytes().chunks_exact(2)) {
            *byte = (hex_value(pair[0]) << 4) | hex_value(pair[1]);
        }
        bytes
    }

    /// The bare lowercase hex digits, as pcocc names blob files and records VM layers.
    pub fn hex(&self) -> &str {
        &self.hex
    }

    /// The OCI form, `sha256:<hex>` (the same text as [`Display`](fmt::Display)).
    pub fn prefixed(&self) -> String {
        format!("{}:{}", Self::ALGORITHM, self.hex)
    }

    /// The fan-out directory a blob lives in: the first two hex digits (`data/<fan_out>/<hex>`).
    pub fn fan_out(&self) -> &str {
        // The hex is ASCII of length 64 (type invariant), so this slice is in bounds and on a
        // character boundary.
        &self.hex[..2]
    }
}

/// The value of one lowercase hex digit (the caller has validated it).
fn hex_value(digit: u8) -> u8 {
    match digit {
        b'0'..=b'9' => digit - b'0',
        b'a'..=b'f' => digit - b'a' + 10,
        _ => 0,
    }
}

/// Why a text is not a sha256 digest.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DigestError {
    /// The text names an algorithm other than sha256 (pcocc's `_parse_hash_algorithm` text).
    #[error("Only sha256 is supported currently")]
    UnsupportedAlgorithm {
        /// The algorithm that was named (the text before the first `:`).
        algorithm: String,
    },
    /// The hex part has an uppercase digit: content digests are lowercase.
    #[error("Bad sha256 digest {digest:?}: hex digits must be lowercase")]
    Uppercase {
        /// The whole text that was given.
        digest: String,
    },
    /// The hex part has a character that is not a hex digit.
    #[error("Bad sha256 digest {digest:?}: {ch:?} is not a hex digit")]
    NotHex {
        /// The whole text that was given.
        digest: String,
        /// The first offending character.
        ch: char,
    },
    /// The hex part is not 64 digits long.
    #[error("Bad sha256 digest {digest:?}: expected 64 hex digits, found {len}")]
    BadLength {
        /// The whole text that was given.
        digest: String,
        /// The number of hex digits found.
        len: usize,
    },
}

impl FromStr for Digest {
    type Err = DigestError;

    /// Parses `sha256:<hex>` or bare `<hex>`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let hex = match s.split_once(':') {
            Some((algorithm, hex)) if algorithm == Self::ALGORITHM => hex,
            Some((algorithm, _)) => {
                return Err(DigestError::UnsupportedAlgorithm {
                    algorithm: algorithm.to_owned(),
                });
            }
            None => s,
        };
        if let Some(ch) = hex.chars().find(|c| !matches!(c, '0'..='9' | 'a'..='f')) {
            return Err(if ch.is_ascii_hexdigit() {
                DigestError::Uppercase {
                    digest: s.to_owned(),
                }
            } else {
                DigestError::NotHex {
                    digest: s.to_owned(),
                    ch,
                }
            });
        }
        if hex.len() != Self::HEX_LEN {
            return Err(DigestError::BadLength {
                digest: s.to_owned(),
                len: hex.len(),
            });
        }
        Ok(Digest {
            hex: hex.to_owned(),
        })
    }
}

impl TryFrom<String> for Digest {
    type Error = DigestError;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<Digest> for String {
    fn from(d: Digest) -> String {
        d.prefixed()
    }
}

/// Writes the prefixed OCI form, `sha256:<hex>`.
impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", Self::ALGORITHM, self.hex)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// sha256 of the empty string.
    const EMPTY: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn bare_and_prefixed_parse_to_the_same_digest() {
        let bare: Digest = EMPTY.parse().unwrap();
        let prefixed: Digest = format!("sha256:{EMPTY}").parse().unwrap();
        assert_eq!(bare, prefixed);
        assert_eq!(bare.hex(), EMPTY);
        assert_eq!(bare.prefixed(), format!("sha256:{EMPTY}"));
        assert_eq!(bare.to_string(), bare.prefixed());
        assert_eq!(bare.fan_out(), "e3");
    }

    #[test]
    fn bytes_round_trip() {
        let bytes: [u8; 32] = std::array::from_fn(|i| (i as u8).wrapping_mul(37));
        let d = Digest::from_bytes(bytes);
        assert_eq!(d.to_bytes(), bytes);
        assert_eq!(d.hex().parse::<Digest>().unwrap(), d);
        assert_eq!(Digest::from_bytes([0xab; 32]).hex(), "ab".repeat(32));
    }

    #[test]
    fn refusals() {
        assert_eq!(
            "md5:abc".parse::<Digest>(),
            Err(DigestError::UnsupportedAlgorithm {
                algorithm: "md5".into()
            })
        );
        assert_eq!(
            EMPTY.to_uppercase().parse::<Digest>(),
            Err(DigestError::Uppercase {
                digest: EMPTY.to_uppercase()
            })
        );
        assert_eq!(
            "abc".parse::<Digest>(),
            Err(DigestError::BadLength {
                digest: "abc".into(),
                len: 3
            })
        );
    }
}
