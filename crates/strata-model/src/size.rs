//! [`ByteSize`]: a size in bytes, read and written in the style of each dialect: qemu-img (pcocc
//! `image resize`), pcocc `image show`, transient `image ls` and Imagefiles, OpenNebula `oneimage`.
//!
//! Every rule here is taken from the original tool's code; each function says where from.
//!
//! | dialect | read | write |
//! |---|---|---|
//! | qemu-img, pcocc `resize IMAGE NEW_SZ` | [`ByteSize::parse_qemu_img`], [`FromStr`] | [`Display`](fmt::Display) (`20G`) |
//! | pcocc `image show` SIZE | | [`ByteSize::to_pcocc_string`] (`958.0 MB`) |
//! | transient `image ls` | | [`ByteSize::to_transient_string`] (`40.00 GiB`) |
//! | transient Imagefile `DISK`/`PARTITION ... SIZE` | [`ImagefileSize`] (`10 GB`) | [`ImagefileSize`] |
//! | OpenNebula `--size`, `SIZE` (MB) | [`ByteSize::parse_one_size`] | [`ByteSize::one_size_mb`], [`ByteSize::to_one_string`] (`2.2G`) |

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// One kibibyte (2^10 bytes).
pub const KIB: u64 = 1 << 10;
/// One mebibyte (2^20 bytes): OpenNebula's "MB".
pub const MIB: u64 = 1 << 20;
/// One gibibyte (2^30 bytes).
pub const GIB: u64 = 1 << 30;
/// One tebibyte (2^40 bytes).
pub const TIB: u64 = 1 << 40;
/// One pebibyte (2^50 bytes).
pub const PIB: u64 = 1 << 50;
/// One exbibyte (2^60 bytes).
pub const EIB: u64 = 1 << 60;

/// The largest size `qemu-img create` accepts: `cvtnum("image size", ...)` bounds it to
/// `INT64_MAX` (qemu-img.c).
pub const QEMU_IMG_MAX: u64 = i64::MAX as u64;

/// The largest OpenNebula size in MB whose byte count fits a `u64` (2^44 - 1).
pub const ONE_MAX_MB: u64 = u64::MAX >> 20;

/// A size in bytes.
///
/// As text ([`FromStr`] and [`Display`](fmt::Display), which are inverse) it uses qemu's size
/// syntax, the one pcocc hands to qemu-img: see [`ByteSize::parse_qemu`]. serde writes the plain
/// number of bytes.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct ByteSize(pub u64);

/// Why a size text was refused.
///
/// Each message is the original tool's where it has one; the variant's doc says where from.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SizeError {
    /// The text is not a qemu size (qemu's `qemu_strtosz` returns `-EINVAL`).
    ///
    /// Text of qemu-img 10.0 `cvtnum_full` (qemu-img.c), which pcocc's `image resize` and
    /// transient's `FROM scratch` builds surface (`qemu-img: ` prefix left out). qemu-img before
    /// 9.1 printed `Invalid image size specified. You may use k, M, G, T, P or E suffixes for`
    /// instead.
    #[error("Invalid image size specified: '{text}'.")]
    Invalid {
        /// The text that was given.
        text: String,
    },
    /// The text is a qemu size but too large (`-ERANGE`, or above the caller's limit), or
    /// negative.
    ///
    /// Text of qemu-img's `cvtnum_full` (qemu-img.c).
    #[error("Invalid image size specified. Must be between 0 and {max}.")]
    OutOfRange {
        /// The text that was given.
        text: String,
        /// The largest size the caller accepts, in bytes.
        max: u64,
    },
    /// The text does not match OpenNebula's `--size` pattern `^(\d+(?:\.\d+)?)(m|mb|g|gb)?$`.
    ///
    /// Text of the `--size` option's proc (src/cli/one_helper/oneimage_helper.rb); the CLI
    /// parser (src/cli/command_parser.rb) then prints `option size: Parsing error` on a second
    /// line, which is the front end's to add.
    #[error("Size value malformed")]
    OneMalformed {
        /// The text that was given.
        text: String,
    },
    /// The OpenNebula size is larger than [`ONE_MAX_MB`] MB.
    ///
    /// OpenNebula has no such limit (Ruby integers are unbounded); ours keeps the byte count in a
    /// `u64`. Our text.
    #[error("Size value {text:?} is too large: at most {max_mb} MB")]
    OneTooLarge {
        /// The text that was given.
        text: String,
        /// The largest size accepted, in MB.
        max_mb: u64,
    },
    /// The text is not transient's Imagefile size `<int> <MB|GB>`.
    ///
    /// transient reports this as a Lark parse error naming the offending token, which cannot be
    /// reproduced for a fragment of a line. Our text.
    #[error("Invalid Imagefile size {text:?}: expected <int> <MB|GB>")]
    ImagefileMalformed {
        /// The text that was given.
        text: String,
    },
}

impl ByteSize {
    /// A size of `bytes` bytes.
    pub const fn new(bytes: u64) -> ByteSize {
        ByteSize(bytes)
    }

    /// The number of bytes.
    pub const fn bytes(self) -> u64 {
        self.0
    }

    /// `mib` mebibytes (OpenNebula's MB), or `None` if that does not fit a `u64`.
    pub const fn from_mib(mib: u64) -> Option<ByteSize> {
        match mib.checked_mul(MIB) {
            Some(bytes) => Some(ByteSize(bytes)),
            None => None,
        }
    }

    // ---------------------------------------------------------------------------------------
    // qemu-img (pcocc `image resize IMAGE NEW_SZ`)
    // ---------------------------------------------------------------------------------------

    /// Parses a size the way qemu's `qemu_strtosz` does (util/cutils.c `do_strtosz`, qemu 8.1 to
    /// 10.0, checked against qemu-img 10.0.2), over the whole `u64` range.
    ///
    /// The grammar, with `ws` any of space, `\t`, `\n`, `\v`, `\f`, `\r`:
    ///
    /// ```text
    /// size     = ws* "+"? ( decimal | hex )
    /// decimal  = digits ( "." digits? )? suffix?     e.g. 20G  512M  1.5G  5.G  4096
    ///          | "." digits suffix?                  e.g. .5G  (no integer part)
    /// hex      = ("0x" | "0X") hexdigits             e.g. 0x1000  (no fraction, no suffix)
    /// suffix   = one of B K M G T P E, either case   (B = 1, then powers of 1024)
    /// ```
    ///
    /// Without a suffix the unit is bytes. A fraction needs a suffix other than `B` unless it is
    /// zero (`1.5` and `1.5B` are refused, `1.0` is 1). The fraction is read as a double (as
    /// `strtod` does), scaled exactly, and rounded half up to a whole byte (`0.3M` is 314573,
    /// `1.1K` is 1126); a non-zero fraction too small for a double counts as the smallest
    /// non-zero one. Exponents are not numbers here: `1.5e` is 1.5 EiB, `1e3` is refused. Nothing
    /// may follow the size, not even a space.
    ///
    /// Errors: [`SizeError::Invalid`] for text that does not match, [`SizeError::OutOfRange`]
    /// (with `max` = `u64::MAX`) for a negative sign or a value that overflows 64 bits; as in
    /// qemu, an out-of-range number followed by other text (`99999999999999999999G`) is
    /// [`SizeError::Invalid`].
    pub fn parse_qemu(text: &str) -> Result<ByteSize, SizeError> {
        match qemu_strtosz(text.as_bytes()) {
            Ok(bytes) => Ok(ByteSize(bytes)),
            Err(Strtosz::Invalid) => Err(SizeError::Invalid {
                text: text.to_owned(),
            }),
            Err(Strtosz::Range) => Err(SizeError::OutOfRange {
                text: text.to_owned(),
                max: u64::MAX,
            }),
        }
    }

    /// Parses a size as `qemu-img create` does: [`ByteSize::parse_qemu`], then at most
    /// [`QEMU_IMG_MAX`] (`INT64_MAX`).
    ///
    /// This is the rule for pcocc's `image resize IMAGE NEW_SZ`: pcocc passes `NEW_SZ` unchanged
    /// to `qemu-img create -f qcow2 -F qcow2 -b <top> <tmp> NEW_SZ` (lib/pcocc/Image.py
    /// `resize_image`), so qemu-img's syntax and messages are pcocc's. qemu-img then rounds the
    /// virtual size up to a multiple of 512 bytes; that is the disk layer's business.
    pub fn parse_qemu_img(text: &str) -> Result<ByteSize, SizeError> {
        let size = ByteSize::parse_qemu(text).map_err(|err| match err {
            SizeError::OutOfRange { text, .. } => SizeError::OutOfRange {
                text,
                max: QEMU_IMG_MAX,
            },
            other => other,
        })?;
        if size.0 > QEMU_IMG_MAX {
            return Err(SizeError::OutOfRange {
                text: text.to_owned(),
                max: QEMU_IMG_MAX,
            });
        }
        Ok(size)
    }

    /// The size in qemu's syntax with the largest binary suffix that divides it exactly (`20G`,
    /// `1536`, `0`): what [`Display`](fmt::Display) writes. [`ByteSize::parse_qemu`] reads it
    /// back to the same value.
    pub fn to_qemu_string(self) -> String {
        self.to_string()
    }

    // ---------------------------------------------------------------------------------------
    // pcocc `image show`
    // ---------------------------------------------------------------------------------------

    /// The size as pcocc's `image show` prints it in the SIZE column (`formatted_file_size`,
    /// lib/pcocc/scripts/cmd.py).
    ///
    /// pcocc floor-divides a float and formats it with `str()`, so the number is always whole:
    /// below 1 KiB `"{n} Bytes"`, then `"{n // 1024}.0 KB"`, `"... MB"`, `"... GB"` (1536 bytes
    /// is `1.0 KB`, not `1.5 KB`). pcocc returns `None` (prints `None`) from 1 TiB up; we print
    /// those in the same style with `TB` (`2.0 TB`) instead of reproducing that bug.
    pub fn to_pcocc_string(self) -> String {
        let n = self.0;
        // Integer division equals pcocc's float floor division: below 1 TiB every value is
        // below 2^53, so `float(size)` is exact.
        if n < KIB {
            format!("{n} Bytes")
        } else if n < MIB {
            format!("{}.0 KB", n / KIB)
        } else if n < GIB {
            format!("{}.0 MB", n / MIB)
        } else if n < TIB {
            format!("{}.0 GB", n / GIB)
        } else {
            format!("{}.0 TB", n / TIB)
        }
    }

    // ---------------------------------------------------------------------------------------
    // transient `image ls`
    // ---------------------------------------------------------------------------------------

    /// The size as transient's `image ls` prints it (`format_bytes`, transient/utils.py).
    ///
    /// Divides by 1024 while the value is at least 1024, then formats with `"{:.2f} {unit}"`,
    /// units `B`, `KiB`, `MiB`, `GiB`, `TiB`: `40.00 GiB`, `99.69 MiB`, `1023.00 B`,
    /// `1.00 KiB`. Rounding is Python's: the exact binary value, ties to even (`1152` bytes is
    /// `1.12 KiB`). transient raises `KeyError` from 1024 TiB up; we keep counting in TiB
    /// (`1024.00 TiB`).
    pub fn to_transient_string(self) -> String {
        const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
        // Python's `int / int` rounds the exact quotient once; later divisions by 1024 are exact
        // in binary floating point, so one conversion then exact divisions give the same value.
        let mut value = self.0 as f64;
        let mut unit = 0;
        while value >= 1024.0 && unit + 1 < UNITS.len() {
            value /= 1024.0;
            unit += 1;
        }
        format!("{value:.2} {}", UNITS[unit])
    }

    // ---------------------------------------------------------------------------------------
    // OpenNebula
    // ---------------------------------------------------------------------------------------

    /// Parses OpenNebula's `oneimage create --size` value (the option's proc in
    /// src/cli/one_helper/oneimage_helper.rb).
    ///
    /// The text is stripped of leading and trailing whitespace (Ruby's `strip`: NUL, `\t`, `\n`,
    /// `\v`, `\f`, `\r`, space), then must match `^(\d+(?:\.\d+)?)(m|mb|g|gb)?$` ignoring case:
    /// no unit or `m`/`mb` is MB, `g`/`gb` is 1024 MB. The number is read as a float and the
    /// result floored to whole MB (`1.5` is 1 MB, `1.5G` is 1536 MB, `0.5` is 0). MB are
    /// mebibytes. The result is that many MiB.
    ///
    /// One deviation: Ruby's `^` and `$` match at line ends, so OpenNebula accepts `x\n10` as
    /// 10 MB; we refuse any text with a line break inside. A number too long for a float (Ruby
    /// raises `FloatDomainError`) is [`SizeError::OneTooLarge`].
    pub fn parse_one_size(text: &str) -> Result<ByteSize, SizeError> {
        let malformed = || SizeError::OneMalformed {
            text: text.to_owned(),
        };
        let trimmed =
            text.trim_matches(|c| matches!(c, '\0' | '\t' | '\n' | '\x0b' | '\x0c' | '\r' | ' '));
        let split = trimmed
            .find(|c: char| !c.is_ascii_digit() && c != '.')
            .unwrap_or(trimmed.len());
        let (number, unit) = trimmed.split_at(split);
        let multiplier: f64 = match unit.to_ascii_lowercase().as_str() {
            "" | "m" | "mb" => 1.0,
            "g" | "gb" => 1024.0,
            _ => return Err(malformed()),
        };
        let (int_part, frac_part) = match number.split_once('.') {
            Some((int_part, frac_part)) => (int_part, Some(frac_part)),
            None => (number, None),
        };
        let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        if !all_digits(int_part) || frac_part.is_some_and(|f| !all_digits(f)) {
            return Err(malformed());
        }
        // Ruby's `String#to_f` rounds correctly, like Rust's parser; `* 1024` is exact.
        // A number too long for a float is infinite here; Ruby would then fail in `floor`.
        let value = number.parse::<f64>().map_err(|_| malformed())? * multiplier;
        let mb = value.floor();
        // ONE_MAX_MB is below 2^53, so the float is exact and so is the cast below.
        let max = ONE_MAX_MB as f64;
        if mb > max {
            return Err(SizeError::OneTooLarge {
                text: text.to_owned(),
                max_mb: ONE_MAX_MB,
            });
        }
        let mb = mb as u64;
        Ok(ByteSize(mb << 20))
    }

    /// The size in whole MB (MiB) that OpenNebula records for an image of this many bytes:
    /// `ceil(bytes / 1 MiB)`.
    pub const fn one_size_mb(self) -> u64 {
        self.0.div_ceil(MIB)
    }

    /// The size as `oneimage list` prints it in the SIZE column:
    /// `unit_to_str(SIZE, {}, 'M')` applied to [`ByteSize::one_size_mb`] (`40M`, `2.2G`).
    pub fn to_one_string(self) -> String {
        one_unit_to_str(self.one_size_mb(), OneUnit::M)
    }
}

/// The unit of a value handed to OpenNebula's `unit_to_str` (its `BINARY_SUFFIX`, src/cli/
/// one_helper.rb): each is 1024 of the one before.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum OneUnit {
    /// Kilobytes (the default unit of `unit_to_str`, used for memory).
    K,
    /// Megabytes (image and disk sizes).
    M,
    /// Gigabytes.
    G,
    /// Terabytes, the largest suffix.
    T,
}

impl OneUnit {
    const ALL: [OneUnit; 4] = [OneUnit::K, OneUnit::M, OneUnit::G, OneUnit::T];

    /// The suffix OpenNebula prints.
    pub const fn suffix(self) -> &'static str {
        match self {
            OneUnit::K => "K",
            OneUnit::M => "M",
            OneUnit::G => "G",
            OneUnit::T => "T",
        }
    }
}

/// Formats `value` (counted in `unit`) as OpenNebula's CLI does: `OpenNebulaHelper.unit_to_str`
/// (src/cli/one_helper.rb) without `--kilobytes`.
///
/// While the value is strictly greater than 1024 and the unit is below `T`, divide by 1024.0
/// and step up the unit. Then round to one decimal (`(value * 10).round / 10.0`, Ruby's round
/// is half away from zero), print a whole result without decimals, and append the suffix:
/// `40M`, `1024M`, `2.2G`, `1.3G` for 1280 MB.
pub fn one_unit_to_str(value: u64, unit: OneUnit) -> String {
    let mut index = OneUnit::ALL.iter().position(|u| *u == unit).unwrap_or(0);
    if value <= 1024 || index >= 3 {
        // Ruby keeps an Integer here; `(value * 10).round / 10.0` is then a float, but whole.
        // Above 2^53 the float rounds: reproduce that, then print the float's exact integer.
        let float = (u128::from(value) * 10) as f64 / 10.0;
        let whole = float as u128;
        return format!("{whole}{}", OneUnit::ALL[index].suffix());
    }
    let mut scaled = value as f64;
    while scaled > 1024.0 && index < 3 {
        scaled /= 1024.0;
        index += 1;
    }
    // Ruby: `value = (value * 10).round / 10.0`, then `value.to_i` if whole, then `to_s`.
    // `f64::round` is half away from zero like Ruby's. A whole float prints as its exact
    // integer (`to_i`); otherwise Rust's shortest fixed-point form is Ruby's `Float#to_s` (the
    // value is below 1e16, where Ruby would switch to an exponent).
    let rounded = (scaled * 10.0).round() / 10.0;
    let suffix = OneUnit::ALL[index].suffix();
    if rounded.fract() == 0.0 {
        format!("{}{suffix}", rounded as u128)
    } else {
        format!("{rounded}{suffix}")
    }
}

// -------------------------------------------------------------------------------------------
// transient Imagefile sizes
// -------------------------------------------------------------------------------------------

/// The unit of an Imagefile size: transient's `DISK_UNITS: /[MG]b/i` (transient/build.py).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ImagefileUnit {
    /// `MB`, any case.
    Mb,
    /// `GB`, any case.
    Gb,
}

impl ImagefileUnit {
    /// The canonical spelling (`MB`, `GB`).
    pub const fn as_str(self) -> &'static str {
        match self {
            ImagefileUnit::Mb => "MB",
            ImagefileUnit::Gb => "GB",
        }
    }

    /// Bytes per unit for `DISK`: transient passes `<N>M`/`<N>G` to qemu-img, so binary.
    pub const fn disk_bytes(self) -> u64 {
        match self {
            ImagefileUnit::Mb => MIB,
            ImagefileUnit::Gb => GIB,
        }
    }

    /// Bytes per unit for `PARTITION ... SIZE`: transient passes `size=<N>MB` to sfdisk, whose
    /// util-linux size parser reads `MB`/`GB` as powers of 1000.
    pub const fn partition_bytes(self) -> u64 {
        match self {
            ImagefileUnit::Mb => 1_000_000,
            ImagefileUnit::Gb => 1_000_000_000,
        }
    }
}

/// A size in a transient Imagefile: `DISK <int> <MB|GB> <GPT|MBR>` and
/// `PARTITION <n> SIZE <int> <MB|GB>` (transient/build.py `IMAGEFILE_GRAMMAR`).
///
/// The text form is the number, optional spaces or tabs (transient's grammar ignores inline
/// whitespace, so `10GB` and `10 GB` are the same), and the unit in any case; surrounding spaces
/// and tabs are ignored. Digits are ASCII only (transient's regex would also take other Unicode
/// digits). [`Display`](fmt::Display) writes `10 GB`, which parses back to the same value.
///
/// The same words mean different bytes in the two directives, and this type keeps the words:
/// [`ImagefileSize::disk_size`] is binary (qemu-img), [`ImagefileSize::partition_size`] decimal
/// (sfdisk). Values are bounded so that the disk size fits qemu-img's `INT64_MAX`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ImagefileSize {
    value: u64,
    unit: ImagefileUnit,
}

impl ImagefileSize {
    /// A size of `value` `unit`s, refused with [`SizeError::OutOfRange`] if the disk size would
    /// exceed qemu-img's limit ([`QEMU_IMG_MAX`]).
    pub fn new(value: u64, unit: ImagefileUnit) -> Result<ImagefileSize, SizeError> {
        match value.checked_mul(unit.disk_bytes()) {
            Some(bytes) if bytes <= QEMU_IMG_MAX => Ok(ImagefileSize { value, unit }),
            _ => Err(SizeError::OutOfRange {
                text: format!("{value} {}", unit.as_str()),
                max: QEMU_IMG_MAX,
            }),
        }
    }

    /// The number as written.
    pub const fn value(self) -> u64 {
        self.value
    }

    /// The unit as written.
    pub const fn unit(self) -> ImagefileUnit {
        self.unit
    }

    /// The disk size of `DISK <int> <unit>`: transient runs `qemu-img create -f qcow2 <file>
    /// <int><M|G>`, so `10 MB` is 10 MiB.
    pub const fn disk_size(self) -> ByteSize {
        // Bounded in `new`: cannot overflow.
        ByteSize(self.value.saturating_mul(self.unit.disk_bytes()))
    }

    /// The partition size of `PARTITION <n> SIZE <int> <unit>`: transient writes
    /// `size=<int><MB|GB>` to sfdisk, so `10 MB` is 10,000,000 bytes (before sfdisk aligns it).
    pub const fn partition_size(self) -> ByteSize {
        ByteSize(self.value.saturating_mul(self.unit.partition_bytes()))
    }
}

impl FromStr for ImagefileSize {
    type Err = SizeError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let malformed = || SizeError::ImagefileMalformed {
            text: text.to_owned(),
        };
        let trimmed = text.trim_matches([' ', '\t']);
        let digits_end = trimmed
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(trimmed.len());
        let (digits, rest) = trimmed.split_at(digits_end);
        let unit = match rest
            .trim_start_matches([' ', '\t'])
            .to_ascii_uppercase()
            .as_str()
        {
            "MB" => ImagefileUnit::Mb,
            "GB" => ImagefileUnit::Gb,
            _ => return Err(malformed()),
        };
        if digits.is_empty() {
            return Err(malformed());
        }
        // Python's `int()` is unbounded: a number beyond u64 is out of qemu-img's range.
        let out_of_range = || SizeError::OutOfRange {
            text: text.to_owned(),
            max: QEMU_IMG_MAX,
        };
        let value = digits.parse::<u64>().map_err(|_| out_of_range())?;
        ImagefileSize::new(value, unit).map_err(|_| out_of_range())
    }
}

impl fmt::Display for ImagefileSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.value, self.unit.as_str())
    }
}

// -------------------------------------------------------------------------------------------
// qemu's size syntax
// -------------------------------------------------------------------------------------------

impl FromStr for ByteSize {
    type Err = SizeError;

    /// [`ByteSize::parse_qemu`].
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        ByteSize::parse_qemu(text)
    }
}

/// Writes qemu's syntax with the largest suffix that divides the size exactly (`K`, `M`, `G`,
/// `T`, `P`, `E`), or plain bytes.
impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const SUFFIXES: [(u64, char); 6] = [
            (EIB, 'E'),
            (PIB, 'P'),
            (TIB, 'T'),
            (GIB, 'G'),
            (MIB, 'M'),
            (KIB, 'K'),
        ];
        let n = self.0;
        if n != 0 {
            for (unit, suffix) in SUFFIXES {
                if n.is_multiple_of(unit) {
                    return write!(f, "{}{suffix}", n / unit);
                }
            }
        }
        write!(f, "{n}")
    }
}

impl From<u64> for ByteSize {
    fn from(bytes: u64) -> ByteSize {
        ByteSize(bytes)
    }
}

impl From<ByteSize> for u64 {
    fn from(size: ByteSize) -> u64 {
        size.0
    }
}

/// How `qemu_strtosz` fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Strtosz {
    /// `-EINVAL`.
    Invalid,
    /// `-ERANGE`.
    Range,
}

/// C's `isspace` in the C locale.
const fn is_c_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// qemu's `suffix_mul` with unit 1024: the multiplier of a suffix letter, if it is one.
const fn suffix_mul(b: u8) -> Option<u64> {
    match b.to_ascii_uppercase() {
        b'B' => Some(1),
        b'K' => Some(KIB),
        b'M' => Some(MIB),
        b'G' => Some(GIB),
        b'T' => Some(TIB),
        b'P' => Some(PIB),
        b'E' => Some(EIB),
        _ => None,
    }
}

/// The value of an ASCII hex digit (the caller has checked it is one).
fn hex_value(d: u8) -> u64 {
    let value = match d {
        b'0'..=b'9' => d - b'0',
        b'a'..=b'f' => d - b'a' + 10,
        b'A'..=b'F' => d - b'A' + 10,
        _ => 0,
    };
    u64::from(value)
}

/// The index of the first byte at or after `i` that is not C whitespace.
fn skip_c_space(b: &[u8], mut i: usize) -> usize {
    while b.get(i).is_some_and(|&c| is_c_space(c)) {
        i += 1;
    }
    i
}

/// The end of the run of bytes from `i` that satisfy `pred`.
fn run_end(b: &[u8], mut i: usize, pred: impl Fn(u8) -> bool) -> usize {
    while b.get(i).is_some_and(|&c| pred(c)) {
        i += 1;
    }
    i
}

/// qemu's `do_strtosz(nptr, NULL, 'B', 1024, &result)`: the whole text must be a size.
///
/// Structure follows qemu's steps (integer part, hex, fraction, suffix, trailing text) so that
/// each error is the one qemu gives; see [`ByteSize::parse_qemu`] for the grammar.
fn qemu_strtosz(b: &[u8]) -> Result<u64, Strtosz> {
    // The whole text must be consumed: once a result is known, text after `end` turns it into
    // `Invalid` (qemu's `else if (*endptr) retval = -EINVAL`).
    let finish = |result: Result<u64, Strtosz>, end: usize| {
        if end < b.len() {
            Err(Strtosz::Invalid)
        } else {
            result
        }
    };

    // 1. The integer part, as `parse_uint(nptr, &endptr, 10, &val)` (strtoull): whitespace, one
    //    sign, decimal digits. A minus sign or an overflow is ERANGE with `end` past the digits.
    let sign_at = skip_c_space(b, 0);
    let negative = b.get(sign_at) == Some(&b'-');
    let digits_at = if matches!(b.get(sign_at), Some(b'+' | b'-')) {
        sign_at + 1
    } else {
        sign_at
    };
    let digits_end = run_end(b, digits_at, |c| c.is_ascii_digit());
    let has_int = digits_end > digits_at;
    let mut end = if has_int { digits_end } else { 0 };
    let mut val: u64 = 0;
    if has_int {
        let mut overflow = false;
        for &d in &b[digits_at..digits_end] {
            match val
                .checked_mul(10)
                .and_then(|v| v.checked_add(u64::from(d - b'0')))
            {
                Some(v) => val = v,
                None => overflow = true,
            }
        }
        if overflow || negative {
            return finish(Err(Strtosz::Range), end);
        }
    }

    // 2. Hex (`0x...`): only when the integer part is 0 followed by `x`; no fraction, no suffix.
    let mut valf: u64 = 0;
    if has_int && val == 0 && matches!(b.get(end), Some(b'x' | b'X')) {
        // strtoull(nptr, 16): the `0x` prefix counts only if a hex digit follows it.
        let mut at = digits_at;
        if b.get(at) == Some(&b'0')
            && matches!(b.get(at + 1), Some(b'x' | b'X'))
            && b.get(at + 2).is_some_and(u8::is_ascii_hexdigit)
        {
            at += 2;
        }
        end = run_end(b, at, |c| c.is_ascii_hexdigit());
        let mut overflow = false;
        val = 0;
        for &d in &b[at..end] {
            match val
                .checked_mul(16)
                .and_then(|v| v.checked_add(hex_value(d)))
            {
                Some(v) => val = v,
                None => overflow = true,
            }
        }
        if overflow {
            return finish(Err(Strtosz::Range), end);
        }
        if let Some(&next) = b.get(end)
            && (next == b'.' || suffix_mul(next).is_some())
        {
            return Err(Strtosz::Invalid);
        }
    } else if (has_int && b.get(end) == Some(&b'.')) || (!has_int && b.contains(&b'.')) {
        // 3. A fraction: `1.5`, `5.`, or `.5` with no integer part. qemu reads it with strtod
        //    after cutting the text at the first `e`/`E` (so `1.5e` is 1.5 EiB).
        let mut fraction = 0.0_f64;
        let mut nonzero = false;
        if has_int && !b.get(end + 1).is_some_and(u8::is_ascii_digit) {
            // `5.` or `1.k`: the dot ends the number.
            end += 1;
        } else {
            // strtod from `end` (the text's start when there is no integer part): whitespace
            // and a sign are possible only in the latter case, then `.` and at least one digit.
            let mut at = skip_c_space(b, end);
            let minus = b.get(at) == Some(&b'-');
            if matches!(b.get(at), Some(b'+' | b'-')) {
                at += 1;
            }
            let frac_at = at + 1;
            let frac_end = run_end(b, frac_at, |c| c.is_ascii_digit());
            if b.get(at) != Some(&b'.') || frac_end == frac_at {
                return Err(Strtosz::Invalid);
            }
            let digits = &b[frac_at..frac_end];
            nonzero = digits.iter().any(|&d| d != b'0');
            let mut literal = String::with_capacity(digits.len() + 2);
            literal.push_str("0.");
            literal.extend(digits.iter().map(|&d| char::from(d)));
            fraction = literal.parse::<f64>().map_err(|_| Strtosz::Invalid)?;
            end = frac_end;
            if minus {
                // `signbit(fraction)`: ERANGE.
                return finish(Err(Strtosz::Range), end);
            }
        }
        if fraction >= 1.0 {
            // `.99999999999999999999` rounds to 1.0.
            val = match val.checked_add(1) {
                Some(v) => v,
                None => return finish(Err(Strtosz::Range), end),
            };
        } else {
            // A 64-bit fixed-point fraction; any non-zero fraction stays non-zero (qemu does
            // the same for strtod's underflow).
            let fixed = (fraction * 18_446_744_073_709_551_616.0) as u64;
            valf = if fixed == 0 && nonzero { 1 } else { fixed };
        }
    } else if !has_int {
        return Err(Strtosz::Invalid);
    }

    // 4. The suffix, or bytes. A fraction of a byte is refused.
    let mul = match b.get(end).copied().and_then(suffix_mul) {
        Some(mul) => {
            end += 1;
            mul
        }
        None => 1,
    };
    if mul == 1 {
        if valf != 0 {
            return Err(Strtosz::Invalid);
        }
        return finish(Ok(val), end);
    }
    // Exact 64.64 fixed point times the multiplier, fraction rounded half up.
    let total = u128::from(val) * u128::from(mul)
        + ((u128::from(valf) * u128::from(mul) + (1u128 << 63)) >> 64);
    match u64::try_from(total) {
        Ok(bytes) => finish(Ok(bytes), end),
        Err(_) => finish(Err(Strtosz::Range), end),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qemu_examples() {
        let cases: &[(&str, u64)] = &[
            ("20G", 20 * GIB),
            ("512M", 512 * MIB),
            ("1.5G", 3 * GIB / 2),
            ("0x10", 16),
            ("0x10b", 0x10b),
            ("0.3M", 314_573),
            ("1.1k", 1126),
            ("1.5e", 3 * EIB / 2),
            ("0.99999999999999999999k", 1024),
            ("0.99999999999999999999", 1),
            ("0.0000000000000000000000000000001E", 0),
            ("7.9999999999999999E", 9_223_372_036_854_775_680),
        ];
        for &(text, bytes) in cases {
            assert_eq!(ByteSize::parse_qemu(text), Ok(ByteSize(bytes)), "{text}");
        }
    }

    #[test]
    fn qemu_refusals() {
        for text in ["1.5", "1.5b", "5 M", "0x1k", "1e3", "", ".", "1..5k", "5MB"] {
            assert_eq!(
                ByteSize::parse_qemu(text),
                Err(SizeError::Invalid { text: text.into() }),
                "{text}"
            );
        }
        for text in ["-1", "18446744073709551616", "16E", "-.5"] {
            assert_eq!(
                ByteSize::parse_qemu(text),
                Err(SizeError::OutOfRange {
                    text: text.into(),
                    max: u64::MAX
                }),
                "{text}"
            );
        }
    }

    #[test]
    fn pcocc_floor_division() {
        assert_eq!(ByteSize(1536).to_pcocc_string(), "1.0 KB");
        assert_eq!(ByteSize(TIB - 1).to_pcocc_string(), "1023.0 GB");
        assert_eq!(ByteSize(TIB).to_pcocc_string(), "1.0 TB");
    }

    #[test]
    fn transient_ties_to_even() {
        assert_eq!(ByteSize(1152).to_transient_string(), "1.12 KiB");
        assert_eq!(ByteSize(1024 * TIB).to_transient_string(), "1024.00 TiB");
    }

    #[test]
    fn one_rounding_is_half_away_from_zero() {
        assert_eq!(one_unit_to_str(1280, OneUnit::M), "1.3G");
        assert_eq!(one_unit_to_str(2048, OneUnit::K), "2M");
    }

    #[test]
    fn imagefile_units_differ_by_directive() {
        let size: ImagefileSize = "10mb".parse().unwrap();
        assert_eq!(size.disk_size(), ByteSize(10 * MIB));
        assert_eq!(size.partition_size(), ByteSize(10_000_000));
        assert_eq!(size.to_string(), "10 MB");
    }
}
