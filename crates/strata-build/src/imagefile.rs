//! The Imagefile language of transient 0.25 (transient/build.py: `IMAGEFILE_GRAMMAR`, the
//! instruction classes and `ImageBuilder.__validate`), parsed into a typed [`Imagefile`].
//!
//! ```text
//! FROM <image-spec> | scratch                                       exactly one, first
//! DISK <int> <MB|GB> <GPT|MBR>                                      scratch only, right after FROM
//! PARTITION <n> [SIZE <int> <MB|GB>] [FORMAT <fs> [OPTIONS "<str>"]]
//!               [MOUNT <path>] [FLAGS <flag>[,<flag>...]]           scratch only, after DISK
//! COPY <src>... <dst>    ADD <src>... <dst>    RUN <command>    INSPECT
//! ```
//!
//! Keywords are case-insensitive; `#` starts a comment, blank lines are allowed, and `\` with
//! only blanks after it continues a line. The tokens are matched the way transient's Lark
//! parser matches them (`lexer.rs` says how), so what transient reads, strata reads the same
//! way, quirks included: where a path, an image spec or a command may start, `#` is part of it
//! (`COPY a #b` copies `a` to `#b`); keywords need no blank after them (`RUNls` runs `ls`);
//! RUN keeps the raw text of its command, leading blanks included, and joins continued lines
//! with a space. Line ends are read as Python's text mode reads them (`\r\n` and `\r` are line
//! ends), and a line end is appended to the text, as transient does.
//!
//! Errors are checked in transient's order: the first syntax error of the file; then the first
//! invalid value (`Unsupported partition format 'X'`); then the ordering rules ([`Rule`]); then
//! the FROM image spec ([`SpecError`], which transient checks when the build starts). Each is
//! an [`ImagefileError`] that names the file and line (and column inside a line), never a
//! traceback.
//!
//! **Why the message words live here.** The project keeps a dialect's words in its front end
//! and plain English in the core. The Imagefile language has a single dialect, transient's:
//! its rules and their messages are part of its definition (as strata-model's errors carry
//! the original tools' texts), and a second front end for it would have to print the same
//! words. So [`Rule`], [`SpecError`] and [`ImagefileError`] carry transient's texts, and the
//! `transient-image` front end prints them as they are. Syntax errors are strata's words:
//! transient prints Lark's exception, which names Lark's terminals.
//!
//! **Where strata differs from transient**, always by refusing with an error where transient
//! would read something odd:
//! - numbers are ASCII digits (Python's `\d` also takes other Unicode digits); sizes are
//!   bounded by qemu-img's limit and partition numbers by 32 bits (Python's `int` has no
//!   bound, and qemu-img or sfdisk fail later);
//! - partition flags are ASCII (Python's case folding would take `EFİ`, which transient then
//!   silently ignores as an unknown flag);
//! - an error at the very end of the file (a last line continued with `\`) is reported where
//!   the file ends, not where Lark puts it (on the last token);
//! - the text must be UTF-8 and is bounded in size and lines (below).
//!
//! **Limits.** An Imagefile is written by hand (transient's own test Imagefiles are a few
//! lines long): at most [`MAX_BYTES`] bytes and [`MAX_LINES`] lines are read, so a hostile
//! file costs bounded memory and time. Parsing is linear in the size of the text and does not
//! recurse.

mod error;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
mod instruction;
mod lexer;
mod parser;
mod rules;
mod spec;

use std::fmt;
use std::io::Read as _;
use std::path::Path;

pub use error::{Expected, Found, ImagefileError, MAX_FOUND_CHARS, Rule};
pub use instruction::{
    Action, Base, BaseImage, Disk, Filesystem, Instruction, Partition, PartitionFlag,
    PartitionFormat, PartitionTable, Step,
};
pub use lexer::Keyword;
pub use spec::{ImageSpec, Protocol, SpecError, SpecSource};

use parser::Raw;

/// The largest Imagefile read, in bytes (1 MiB).
pub const MAX_BYTES: u64 = 1 << 20;

/// The most lines an Imagefile may have.
pub const MAX_LINES: u32 = 100_000;

/// A parsed and validated Imagefile.
///
/// Invariants (checked by the parser): `disk` is `Some` and `partitions` holds at least one
/// partition mounted at `/` exactly when `from` is scratch; the file order is FROM, DISK,
/// PARTITIONs, then steps. [`Display`](fmt::Display) writes one instruction per line, which
/// parses back to the same value when the instructions' lines are 1, 2, 3...
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Imagefile {
    /// FROM.
    pub from: Base,
    /// DISK, for a scratch build.
    pub disk: Option<Disk>,
    /// The PARTITIONs of a scratch build, in order.
    pub partitions: Vec<Partition>,
    /// COPY, ADD, RUN and INSPECT, in order.
    pub steps: Vec<Step>,
}

impl Imagefile {
    /// Reads and parses the Imagefile at `path` (at most [`MAX_BYTES`] bytes are read). Messages
    /// name the file as `path` displays.
    ///
    /// # Errors
    /// [`ImagefileError::Read`], [`ImagefileError::TooLarge`], or any error of
    /// [`Imagefile::from_bytes`].
    pub fn read(path: &Path) -> Result<Imagefile, ImagefileError> {
        let file = path.display().to_string();
        let read_error = |source| ImagefileError::Read {
            file: file.clone(),
            source,
        };
        let mut bytes = Vec::new();
        std::fs::File::open(path)
            .and_then(|f| f.take(MAX_BYTES + 1).read_to_end(&mut bytes))
            .map_err(read_error)?;
        Imagefile::from_bytes(&file, &bytes)
    }

    /// Parses the bytes of an Imagefile named `file` (for messages), which must be UTF-8.
    ///
    /// # Errors
    /// [`ImagefileError::TooLarge`], [`ImagefileError::NotUtf8`], or any error of
    /// [`Imagefile::parse`].
    pub fn from_bytes(file: &str, bytes: &[u8]) -> Result<Imagefile, ImagefileError> {
        check_size(file, bytes.len())?;
        match std::str::from_utf8(bytes) {
            Ok(text) => Imagefile::parse(file, text),
            Err(e) => {
                // Valid up to there by definition.
                let before = String::from_utf8_lossy(&bytes[..e.valid_up_to()]);
                let text = universal_newlines(&before);
                let line_start = text.rfind('\n').map_or(0, |i| i + 1);
                Err(ImagefileError::NotUtf8 {
                    file: file.to_owned(),
                    line: count(text.matches('\n').count() + 1),
                    column: count(text[line_start..].chars().count() + 1),
                })
            }
        }
    }

    /// Parses the text of an Imagefile named `file` (for messages).
    ///
    /// # Errors
    /// [`ImagefileError::TooLarge`] and [`ImagefileError::TooManyLines`] for text past the
    /// limits, then in transient's order [`ImagefileError::Syntax`], an error in a value
    /// ([`ImagefileError::UnsupportedFormat`], [`ImagefileError::SizeOutOfRange`],
    /// [`ImagefileError::PartitionNumberOutOfRange`]), [`ImagefileError::Rule`],
    /// [`ImagefileError::Spec`].
    pub fn parse(file: &str, text: &str) -> Result<Imagefile, ImagefileError> {
        check_size(file, text.len())?;
        let mut text = universal_newlines(text);
        if let Some((i, _)) = text.match_indices('\n').nth(MAX_LINES as usize - 1)
            && i + 1 < text.len()
        {
            return Err(ImagefileError::TooManyLines {
                file: file.to_owned(),
                line: MAX_LINES + 1,
                max: MAX_LINES,
            });
        }
        text.push('\n');
        let instructions = parser::parse(file, &text)?;
        let rule = |(line, rule)| ImagefileError::Rule {
            file: file.to_owned(),
            line,
            rule,
        };
        rules::check(&instructions).map_err(rule)?;

        let mut from = None;
        let mut disk = None;
        let mut partitions = Vec::new();
        let mut steps = Vec::new();
        for instruction in instructions {
            match instruction {
                Raw::From { line, text } => {
                    let base = Base::new(line, text).map_err(|error| ImagefileError::Spec {
                        file: file.to_owned(),
                        line,
                        error,
                    })?;
                    from = Some(base);
                }
                Raw::Disk(d) => disk = Some(d),
                Raw::Partition(partition) => partitions.push(partition),
                Raw::Step(step) => steps.push(step),
            }
        }
        // The rules passed: there is exactly one FROM.
        let from = from.ok_or_else(|| rule((None, Rule::OneFrom)))?;
        Ok(Imagefile {
            from,
            disk,
            partitions,
            steps,
        })
    }

    /// Every instruction, in file order.
    pub fn instructions(&self) -> impl Iterator<Item = Instruction<'_>> {
        std::iter::once(Instruction::From(&self.from))
            .chain(self.disk.iter().map(Instruction::Disk))
            .chain(self.partitions.iter().map(Instruction::Partition))
            .chain(self.steps.iter().map(Instruction::Step))
    }

    /// The number of instructions: the `n` of `Step i/n`.
    pub fn instruction_count(&self) -> usize {
        1 + usize::from(self.disk.is_some()) + self.partitions.len() + self.steps.len()
    }

    /// The line transient prints before each instruction, in order: `Step 2/5 : DISK 64M GPT`.
    pub fn step_lines(&self) -> impl Iterator<Item = String> {
        let total = self.instruction_count();
        self.instructions()
            .enumerate()
            .map(move |(i, instruction)| format!("Step {}/{total} : {}", i + 1, instruction.echo()))
    }
}

impl fmt::Display for Imagefile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for instruction in self.instructions() {
            writeln!(f, "{instruction}")?;
        }
        Ok(())
    }
}

fn check_size(file: &str, len: usize) -> Result<(), ImagefileError> {
    if u64::try_from(len).unwrap_or(u64::MAX) > MAX_BYTES {
        return Err(ImagefileError::TooLarge {
            file: file.to_owned(),
            max: MAX_BYTES,
        });
    }
    Ok(())
}

/// `text` with `\r\n` and lone `\r` made `\n`, as Python's text mode reads a file.
fn universal_newlines(text: &str) -> String {
    text.replace("\r\n", "\n").replace('\r', "\n")
}

/// A line or column number, which the limits keep in 32 bits.
fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests;
