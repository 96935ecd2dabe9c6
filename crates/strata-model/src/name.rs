//! Image names, one type per dialect: [`PcoccName`], [`TransientName`] (with transient's
//! reversible file-name encoding) and [`OneName`], and the [`NameError`] they share.

use std::fmt;
use std::str::FromStr;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use serde::{Deserialize, Serialize};

/// Why a text is not a valid name in some dialect.
///
/// Texts from the original tools are reproduced exactly: pcocc's `_validate_name`
/// (`lib/pcocc/ObjectStore.py`) and OpenNebula's `PoolObjectSQL::name_is_valid`
/// (`src/pool/PoolObjectSQL.cc`). The transient variants are strata's own: transient checks
/// nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// A pcocc name has a character outside `[A-Za-z0-9_.-]`.
    #[error("Object name contains invalid characters")]
    PcoccInvalidChars {
        /// The name that was given.
        name: String,
    },
    /// A pcocc name is empty.
    #[error("Empty object name")]
    PcoccEmpty,

    /// A transient name is empty.
    #[error("Image name cannot be empty")]
    TransientEmpty,
    /// A transient name contains a NUL character, which no file name can hold.
    #[error("Image name {name:?} contains a NUL character")]
    TransientNul {
        /// The name that was given.
        name: String,
    },
    /// A transient name is `.` or `..`: its encoding would name a directory, not an image file.
    #[error("Image name {name:?} is reserved: it is a special file name")]
    TransientDotName {
        /// The name that was given.
        name: String,
    },
    /// A transient backend file name has a `%` that is not followed by two hex digits.
    #[error("Bad image file name {file_name:?}: malformed percent-escape at byte {offset}")]
    MalformedEscape {
        /// The file name that was given.
        file_name: String,
        /// The byte offset of the `%`.
        offset: usize,
    },
    /// A transient backend file name decodes to bytes that are not UTF-8.
    #[error("Bad image file name {file_name:?}: it does not decode to UTF-8 text")]
    NotUtf8 {
        /// The file name that was given.
        file_name: String,
    },
    /// A transient backend file name decodes to a name whose encoding is another file name
    /// (e.g. `%41` for `A`, lowercase escapes, a literal `-`).
    #[error("Bad image file name {file_name:?}: the name {name:?} is encoded as {expected:?}")]
    NonCanonical {
        /// The file name that was given.
        file_name: String,
        /// The name it decodes to.
        name: String,
        /// The file name strata (and transient) would give that name.
        expected: String,
    },

    /// An OpenNebula name is empty.
    #[error("Invalid NAME, it cannot be empty")]
    OneEmpty,
    /// An OpenNebula name contains a character of `INVALID_NAME_CHARS`.
    #[error("Invalid NAME, char '{ch}' is not allowed")]
    OneInvalidChar {
        /// The name that was given.
        name: String,
        /// The first offending character.
        ch: char,
    },
    /// An OpenNebula name is longer than 128 bytes.
    #[error("Invalid NAME, max length is 128 chars")]
    OneTooLong {
        /// The name that was given.
        name: String,
        /// Its length in bytes.
        len: usize,
    },
}

/// Whether `s` is a valid pcocc name: non-empty, every character in `[A-Za-z0-9_.-]`.
///
/// Such names are used as they are in a pcocc repository's file names (`meta/<name>@<rev>`); the
/// store percent-encodes any other name in file names only.
pub fn is_pcocc_safe(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(is_pcocc_byte)
}

/// Whether `b` is in pcocc's name alphabet `[A-Za-z0-9_.-]`.
const fn is_pcocc_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-')
}

/// Implements the string conversions every name type shares: `as_str`, `Display`, `AsRef<str>`,
/// `TryFrom<String>` (for serde) and `From<Name> for String`.
macro_rules! name_string_impls {
    ($ty:ident) => {
        impl $ty {
            /// The name as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $ty {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $ty {
            type Error = NameError;

            fn try_from(s: String) -> Result<Self, Self::Error> {
                s.parse()
            }
        }

        impl From<$ty> for String {
            fn from(name: $ty) -> String {
                name.0
            }
        }
    };
}

// ---------------------------------------------------------------------------------------------
// pcocc

/// A pcocc image name: non-empty, only `[A-Za-z0-9_.-]` (pcocc's `_validate_name`).
///
/// Every pcocc name is valid as it is in pcocc's on-disk file names.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PcoccName(String);

name_string_impls!(PcoccName);

impl FromStr for PcoccName {
    type Err = NameError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        // pcocc tests the characters first, then emptiness; the two cannot both fail.
        if !s.bytes().all(is_pcocc_byte) {
            return Err(NameError::PcoccInvalidChars { name: s.to_owned() });
        }
        if s.is_empty() {
            return Err(NameError::PcoccEmpty);
        }
        Ok(PcoccName(s.to_owned()))
    }
}

// ---------------------------------------------------------------------------------------------
// transient

/// The characters transient escapes in file names: everything but `A-Za-z0-9_.~`.
///
/// This is Python's `urllib.parse.quote(name, safe="")` (which keeps `A-Za-z0-9_.-~`) followed by
/// transient's `.replace("-", "%2D")`. Non-ASCII characters are always escaped, byte by byte.
const TRANSIENT_ESCAPED: &AsciiSet = &NON_ALPHANUMERIC.remove(b'_').remove(b'.').remove(b'~');

/// A transient image name: free text such as `centos/7:2004.01`.
///
/// It must be non-empty, hold no NUL, and not be `.` or `..` (whose file names would be
/// directories). In the backend an image is one file named [`TransientName::file_name`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TransientName(String);

name_string_impls!(TransientName);

impl TransientName {
    /// The backend file name of this image, as transient's `storage_safe_encode` writes it:
    /// `A-Za-z0-9_.~` as they are, every other byte of the UTF-8 text as `%XX` (uppercase hex),
    /// including `-` (`%2D`), `/`, `:` and space.
    pub fn file_name(&self) -> String {
        utf8_percent_encode(&self.0, TRANSIENT_ESCAPED).to_string()
    }

    /// The name a backend file name encodes (transient's `storage_safe_decode`, made strict).
    ///
    /// Refuses a `%` not followed by two hex digits, bytes that are not UTF-8, a name that
    /// [`FromStr`] refuses, and any file name that is not exactly [`TransientName::file_name`] of
    /// the name it decodes to, so that the mapping is one to one.
    pub fn from_file_name(file_name: &str) -> Result<TransientName, NameError> {
        let bytes = file_name.as_bytes();
        for (offset, _) in file_name.match_indices('%') {
            let escape = bytes.get(offset + 1..offset + 3);
            if !escape.is_some_and(|e| e.iter().all(u8::is_ascii_hexdigit)) {
                return Err(NameError::MalformedEscape {
                    file_name: file_name.to_owned(),
                    offset,
                });
            }
        }
        let name = percent_decode_str(file_name)
            .decode_utf8()
            .map_err(|_| NameError::NotUtf8 {
                file_name: file_name.to_owned(),
            })?;
        let name: TransientName = name.parse()?;
        let expected = name.file_name();
        if expected != file_name {
            return Err(NameError::NonCanonical {
                file_name: file_name.to_owned(),
                name: name.0,
                expected,
            });
        }
        Ok(name)
    }

    /// Whether transient lists a backend file of this name as an image (`^[^\-]+$`): a `-`
    /// marks files that are not images. Every [`TransientName::file_name`] passes.
    pub fn is_image_file_name(file_name: &str) -> bool {
        !file_name.is_empty() && !file_name.contains('-')
    }

    /// Whether this name is valid as it is in pcocc's file-name space (`[A-Za-z0-9_.-]`).
    pub fn is_pcocc_safe(&self) -> bool {
        is_pcocc_safe(&self.0)
    }
}

impl FromStr for TransientName {
    type Err = NameError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.is_empty() {
            return Err(NameError::TransientEmpty);
        }
        if s.contains('\0') {
            return Err(NameError::TransientNul { name: s.to_owned() });
        }
        if s == "." || s == ".." {
            return Err(NameError::TransientDotName { name: s.to_owned() });
        }
        Ok(TransientName(s.to_owned()))
    }
}

// ---------------------------------------------------------------------------------------------
// OpenNebula

/// The characters OpenNebula refuses in object names (`PoolObjectSQL::INVALID_NAME_CHARS`).
pub const ONE_INVALID_NAME_CHARS: &str = "&|:\\\";/'#{}$<>\t\n\x0B\x0C\r";

/// The longest OpenNebula name, in bytes (`PoolObjectSQL::name_is_valid` compares the C++
/// `std::string::length()`, which counts bytes although its message says "chars").
pub const ONE_MAX_NAME_LEN: usize = 128;

/// An OpenNebula object name: non-empty, at most 128 bytes, none of
/// [`ONE_INVALID_NAME_CHARS`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct OneName(String);

name_string_impls!(OneName);

impl OneName {
    /// Whether this name is valid as it is in pcocc's file-name space (`[A-Za-z0-9_.-]`).
    pub fn is_pcocc_safe(&self) -> bool {
        is_pcocc_safe(&self.0)
    }
}

impl FromStr for OneName {
    type Err = NameError;

    /// Checks in OpenNebula's order: empty, then the first invalid character, then the length.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.is_empty() {
            return Err(NameError::OneEmpty);
        }
        if let Some(ch) = s.chars().find(|c| ONE_INVALID_NAME_CHARS.contains(*c)) {
            return Err(NameError::OneInvalidChar {
                name: s.to_owned(),
                ch,
            });
        }
        if s.len() > ONE_MAX_NAME_LEN {
            return Err(NameError::OneTooLong {
                name: s.to_owned(),
                len: s.len(),
            });
        }
        Ok(OneName(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn transient(s: &str) -> TransientName {
        s.parse().unwrap()
    }

    #[test]
    fn transient_file_names_match_the_reference_examples() {
        for (name, file) in [
            ("centos/7:2004.01", "centos%2F7%3A2004.01"),
            ("generic/alpine38:v3.0.2", "generic%2Falpine38%3Av3.0.2"),
            ("my-new-backend", "my%2Dnew%2Dbackend"),
            ("with space", "with%20space"),
            ("keep_A.z~9", "keep_A.z~9"),
            ("é", "%C3%A9"),
        ] {
            assert_eq!(transient(name).file_name(), file, "{name}");
            assert_eq!(
                TransientName::from_file_name(file),
                Ok(transient(name)),
                "{file}"
            );
            assert!(TransientName::is_image_file_name(file), "{file}");
        }
    }

    #[test]
    fn transient_decoding_is_strict() {
        assert_eq!(
            TransientName::from_file_name("a%2"),
            Err(NameError::MalformedEscape {
                file_name: "a%2".into(),
                offset: 1
            })
        );
        assert_eq!(
            TransientName::from_file_name("%C3"),
            Err(NameError::NotUtf8 {
                file_name: "%C3".into()
            })
        );
        assert_eq!(
            TransientName::from_file_name("%2f"),
            Err(NameError::NonCanonical {
                file_name: "%2f".into(),
                name: "/".into(),
                expected: "%2F".into()
            })
        );
    }

    #[test]
    fn image_file_names() {
        assert!(!TransientName::is_image_file_name(""));
        assert!(!TransientName::is_image_file_name("vm-1"));
        assert!(TransientName::is_image_file_name("centos%2F7"));
    }

    #[test]
    fn pcocc_names() {
        assert_eq!(
            "centos7-cloud_1.0".parse::<PcoccName>().unwrap().as_str(),
            "centos7-cloud_1.0"
        );
        assert_eq!(
            "a/b".parse::<PcoccName>(),
            Err(NameError::PcoccInvalidChars { name: "a/b".into() })
        );
        assert_eq!("".parse::<PcoccName>(), Err(NameError::PcoccEmpty));
        assert!(is_pcocc_safe("a-b.c_d"));
        assert!(!is_pcocc_safe(""));
        assert!(!transient("centos/7").is_pcocc_safe());
    }

    #[test]
    fn one_names() {
        assert_eq!(
            "Ubuntu 22.04".parse::<OneName>().unwrap().as_str(),
            "Ubuntu 22.04"
        );
        assert_eq!("".parse::<OneName>(), Err(NameError::OneEmpty));
        assert_eq!(
            "a\tb".parse::<OneName>().unwrap_err().to_string(),
            "Invalid NAME, char '\t' is not allowed"
        );
        assert!("é".repeat(64).parse::<OneName>().is_ok());
        assert_eq!(
            "é".repeat(65).parse::<OneName>(),
            Err(NameError::OneTooLong {
                name: "é".repeat(65),
                len: 130
            })
        );
    }
}
