//! [`ImagefileError`]: why an Imagefile was refused, with its file, line and (where it helps)
//! column, and transient's words where transient has them.

use std::fmt;
use std::io;

use super::spec::SpecError;

/// Why an Imagefile was refused.
///
/// Every variant names the file (as the caller gave it) and, but for [`ImagefileError::Read`]
/// and [`ImagefileError::TooLarge`], the line; its message starts `FILE:LINE:` (and `COLUMN:`
/// for errors inside a line), so a front end prints it as is. Where transient has a message
/// ([`Rule`], [`SpecError`], `Unsupported partition format`), the text after the position is
/// transient's own; the other texts are strata's, for errors transient reports as a Lark
/// exception or a traceback.
#[derive(Debug, thiserror::Error)]
pub enum ImagefileError {
    /// The file could not be read.
    #[error("{file}: cannot read the Imagefile")]
    Read {
        /// The file name as given.
        file: String,
        /// The error of the read.
        #[source]
        source: io::Error,
    },
    /// The file is larger than [`MAX_BYTES`](super::MAX_BYTES).
    #[error("{file}: the Imagefile is larger than {max} bytes")]
    TooLarge {
        /// The file name as given.
        file: String,
        /// The limit, in bytes.
        max: u64,
    },
    /// The file has more than [`MAX_LINES`](super::MAX_LINES) lines.
    #[error("{file}:{line}: the Imagefile has more than {max} lines")]
    TooManyLines {
        /// The file name as given.
        file: String,
        /// The first line past the limit.
        line: u32,
        /// The limit.
        max: u32,
    },
    /// The file is not UTF-8 text (transient reads it in the locale's encoding, UTF-8 here, and
    /// fails with a `UnicodeDecodeError` traceback).
    #[error("{file}:{line}:{column}: the Imagefile is not UTF-8 text")]
    NotUtf8 {
        /// The file name as given.
        file: String,
        /// The line of the first byte that is not UTF-8.
        line: u32,
        /// Its column, in characters from 1.
        column: u32,
    },
    /// The text does not follow the grammar (transient's Lark parse error).
    #[error("{file}:{line}:{column}: unexpected {found}, expected {expected}")]
    Syntax {
        /// The file name as given.
        file: String,
        /// The line of the offending text.
        line: u32,
        /// Its column, in characters from 1 (as Lark counts).
        column: u32,
        /// The offending text.
        found: Found,
        /// What the grammar allows there.
        expected: Expected,
    },
    /// `PARTITION ... FORMAT fs` names no filesystem of ext2, ext3, ext4 and xfs (transient's
    /// text; the format is lowercased, as transient prints it).
    #[error("{file}:{line}:{column}: Unsupported partition format '{format}'")]
    UnsupportedFormat {
        /// The file name as given.
        file: String,
        /// The line of the format.
        line: u32,
        /// The column of the format.
        column: u32,
        /// The format, lowercased.
        format: String,
    },
    /// A size does not fit the limit of `qemu-img create` (transient takes any integer and lets
    /// qemu-img or sfdisk fail).
    #[error("{file}:{line}:{column}: size {text} is too large: at most {max} bytes")]
    SizeOutOfRange {
        /// The file name as given.
        file: String,
        /// The line of the size.
        line: u32,
        /// The column of its number.
        column: u32,
        /// The size as written (number and unit).
        text: String,
        /// The largest size, in bytes.
        max: u64,
    },
    /// A partition number does not fit 32 bits (transient takes any integer and lets sfdisk
    /// fail).
    #[error("{file}:{line}:{column}: partition number {number} is too large")]
    PartitionNumberOutOfRange {
        /// The file name as given.
        file: String,
        /// The line of the number.
        line: u32,
        /// Its column.
        column: u32,
        /// The number as written.
        number: String,
    },
    /// An ordering rule is broken (transient's `RuntimeError`, its text).
    #[error("{file}{}: {rule}", LineSuffix(*line))]
    Rule {
        /// The file name as given.
        file: String,
        /// The line of the instruction that breaks the rule; `None` when there is none (no
        /// FROM at all).
        line: Option<u32>,
        /// The rule.
        rule: Rule,
    },
    /// The FROM image spec is not `NAME[,PROTO=SOURCE]` with a known protocol (transient's
    /// text, which transient prints when the build starts).
    #[error("{file}:{line}: {error}")]
    Spec {
        /// The file name as given.
        file: String,
        /// The line of the FROM instruction.
        line: u32,
        /// What is wrong with the spec.
        error: SpecError,
    },
}

impl ImagefileError {
    /// The file name as the caller gave it.
    pub fn file(&self) -> &str {
        match self {
            ImagefileError::Read { file, .. }
            | ImagefileError::TooLarge { file, .. }
            | ImagefileError::TooManyLines { file, .. }
            | ImagefileError::NotUtf8 { file, .. }
            | ImagefileError::Syntax { file, .. }
            | ImagefileError::UnsupportedFormat { file, .. }
            | ImagefileError::SizeOutOfRange { file, .. }
            | ImagefileError::PartitionNumberOutOfRange { file, .. }
            | ImagefileError::Rule { file, .. }
            | ImagefileError::Spec { file, .. } => file,
        }
    }

    /// The line the error is about, if there is one.
    pub fn line(&self) -> Option<u32> {
        match self {
            ImagefileError::Read { .. } | ImagefileError::TooLarge { .. } => None,
            ImagefileError::Rule { line, .. } => *line,
            ImagefileError::TooManyLines { line, .. }
            | ImagefileError::NotUtf8 { line, .. }
            | ImagefileError::Syntax { line, .. }
            | ImagefileError::UnsupportedFormat { line, .. }
            | ImagefileError::SizeOutOfRange { line, .. }
            | ImagefileError::PartitionNumberOutOfRange { line, .. }
            | ImagefileError::Spec { line, .. } => Some(*line),
        }
    }
}

/// `:LINE` or nothing.
struct LineSuffix(Option<u32>);

impl fmt::Display for LineSuffix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(line) => write!(f, ":{line}"),
            None => Ok(()),
        }
    }
}

/// The longest offending text kept in a [`Found::Text`], in characters.
pub const MAX_FOUND_CHARS: usize = 80;

/// The offending text of a [`ImagefileError::Syntax`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    /// The text from the offending character up to the next space, tab or line end (at most
    /// [`MAX_FOUND_CHARS`] characters).
    Text(String),
    /// The end of the line.
    EndOfLine,
    /// The end of the file (after a `\` that continues the last line).
    EndOfFile,
}

impl fmt::Display for Found {
    /// `'TEXT'` with control characters escaped, `end of line`, `end of file`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Found::Text(text) => write!(f, "'{}'", text.escape_debug()),
            Found::EndOfLine => f.write_str("end of line"),
            Found::EndOfFile => f.write_str("end of file"),
        }
    }
}

/// What the grammar allows where a [`ImagefileError::Syntax`] is found: one value per state of
/// transient's parser that can fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expected {
    /// An instruction keyword, at the start of a line.
    Instruction,
    /// The image spec or `scratch` of FROM.
    ImageSpec,
    /// The command of RUN.
    Command,
    /// More of RUN's command (after a `\` line continuation) or the end of the line.
    CommandOrEnd,
    /// A path of COPY, ADD or MOUNT.
    Path,
    /// Another path of COPY or ADD, or the end of the line.
    PathOrEnd,
    /// The number of a PARTITION.
    PartitionNumber,
    /// The number of a size.
    Size,
    /// The unit of a size.
    Unit,
    /// The partition table type of DISK.
    Table,
    /// The filesystem of FORMAT.
    Filesystem,
    /// The quoted string of OPTIONS.
    Options,
    /// A partition flag.
    Flag,
    /// A `,` and another flag, or the end of the line.
    CommaOrEnd,
    /// The end of the line.
    EndOfLine,
    /// One of these PARTITION clauses, in this order, or the end of the line.
    Clause(&'static [super::lexer::Keyword]),
}

impl fmt::Display for Expected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = match self {
            Expected::Instruction => {
                "an instruction (FROM, DISK, PARTITION, COPY, ADD, RUN or INSPECT)"
            }
            Expected::ImageSpec => "an image spec or scratch",
            Expected::Command => "a command",
            Expected::CommandOrEnd => "more of the command or end of line",
            Expected::Path => "a path",
            Expected::PathOrEnd => "a path or end of line",
            Expected::PartitionNumber => "a partition number",
            Expected::Size => "a size (digits)",
            Expected::Unit => "MB or GB",
            Expected::Table => "GPT or MBR",
            Expected::Filesystem => "a filesystem (ext2, ext3, ext4 or xfs)",
            Expected::Options => "a double-quoted string",
            Expected::Flag => "boot, efi or bios_grub",
            Expected::CommaOrEnd => "',' or end of line",
            Expected::EndOfLine => "end of line",
            Expected::Clause(keywords) => {
                for (i, keyword) in keywords.iter().enumerate() {
                    let separator = if i + 1 == keywords.len() {
                        " or "
                    } else {
                        ", "
                    };
                    write!(f, "{}{separator}", keyword.as_str())?;
                }
                return f.write_str("end of line");
            }
        };
        f.write_str(text)
    }
}

/// An ordering rule of transient (`ImageBuilder.__validate`), checked in transient's order;
/// the texts are transient's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Rule {
    /// No FROM, or more than one.
    #[error("Exactly one FROM instruction must appear per Imagefile")]
    OneFrom,
    /// More than one DISK.
    #[error("Only one DISK instruction can appear per Imagefile")]
    OneDisk,
    /// FROM scratch without DISK.
    #[error("Exactly one DISK instruction must appear in images built from scratch")]
    ScratchNeedsDisk,
    /// FROM scratch without PARTITION.
    #[error("At least one PARTITION instruction must appear in images built from scratch")]
    ScratchNeedsPartition,
    /// FROM scratch without a PARTITION mounted at `/`.
    #[error("At least one PARTITION instruction must mount at /")]
    ScratchNeedsRoot,
    /// DISK or PARTITION in a build that is not from scratch.
    #[error("DISK and PARTITION instructions can only appear on images built from scratch")]
    ScratchOnly,
    /// FROM after another instruction.
    #[error("FROM instruction must appear before any other instructions")]
    FromFirst,
    /// DISK elsewhere than right after FROM.
    #[error("DISK instruction must appear immediately after FROM instruction")]
    DiskAfterFrom,
    /// PARTITION elsewhere than right after DISK or another PARTITION.
    #[error("PARTITION instructions must appear immediately after DISK instruction")]
    PartitionAfterDisk,
}
