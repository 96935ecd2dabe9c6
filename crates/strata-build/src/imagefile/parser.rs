//! The grammar: instructions from the tokens of `lexer.rs`, in file order, as transient's
//! `IMAGEFILE_GRAMMAR` and its instruction classes read them.
//!
//! Errors come in transient's order: the first syntax error of the file; else the first error
//! of an instruction's values in file order (transient's `Unsupported partition format`, and
//! strata's bounds on numbers, which transient does not have).

use strata_model::{ImagefileSize, ImagefileUnit, size::QEMU_IMG_MAX};

use super::error::{Expected, ImagefileError};
use super::instruction::{
    Action, Disk, Filesystem, Partition, PartitionFlag, PartitionFormat, Step,
};
use super::lexer::{INSTRUCTIONS, Keyword, Lexer, Next, Pos, Text, Unexpected};

/// An instruction as parsed, before the ordering rules.
#[derive(Debug)]
pub(super) enum Raw<'a> {
    /// FROM, with its argument: whether it is a valid spec is checked after the rules, as
    /// transient checks it when the build starts.
    From {
        line: u32,
        text: &'a str,
    },
    Disk(Disk),
    Partition(Partition),
    Step(Step),
}

impl Raw<'_> {
    pub(super) fn line(&self) -> u32 {
        match self {
            Raw::From { line, .. } => *line,
            Raw::Disk(disk) => disk.line,
            Raw::Partition(partition) => partition.line,
            Raw::Step(step) => step.line,
        }
    }
}

/// The instructions of `text`, which ends with a line end, in file order.
pub(super) fn parse<'a>(file: &str, text: &'a str) -> Result<Vec<Raw<'a>>, ImagefileError> {
    let mut parser = Parser {
        lexer: Lexer::new(text),
        file,
        invalid: None,
    };
    let mut instructions = Vec::new();
    loop {
        match parser.lexer.skip(Text::None, true) {
            Next::Newline => {}
            Next::End if parser.lexer.produced() => break,
            Next::Here => {
                let Some((keyword, pos)) = parser.lexer.keyword(INSTRUCTIONS) else {
                    return Err(parser.unexpected(Expected::Instruction));
                };
                if let Some(instruction) = parser.instruction(keyword, pos)? {
                    instructions.push(instruction);
                }
            }
            Next::End | Next::Text(..) => return Err(parser.unexpected(Expected::Instruction)),
        }
    }
    match parser.invalid {
        Some(error) => Err(error),
        None => Ok(instructions),
    }
}

struct Parser<'a, 'f> {
    lexer: Lexer<'a>,
    file: &'f str,
    /// The first error in an instruction's values, reported if the whole file parses.
    invalid: Option<ImagefileError>,
}

impl<'a> Parser<'a, '_> {
    fn unexpected(&self, expected: Expected) -> ImagefileError {
        let Unexpected {
            pos,
            found,
            expected,
        } = self.lexer.unexpected(expected);
        ImagefileError::Syntax {
            file: self.file.to_owned(),
            line: pos.line,
            column: pos.column,
            found,
            expected,
        }
    }

    /// Keeps `error` if it is the first error in values.
    fn invalid(&mut self, error: ImagefileError) {
        self.invalid.get_or_insert(error);
    }

    /// The free text (`kind`) that must come next.
    fn text(&mut self, kind: Text, expected: Expected) -> Result<(&'a str, Pos), ImagefileError> {
        match self.lexer.skip(kind, false) {
            Next::Text(text, pos) => Ok((text, pos)),
            _ => Err(self.unexpected(expected)),
        }
    }

    /// Skips to the next token, which must be one of the caller's (not a line end).
    fn here(&mut self, expected: Expected) -> Result<(), ImagefileError> {
        match self.lexer.skip(Text::None, false) {
            Next::Here => Ok(()),
            _ => Err(self.unexpected(expected)),
        }
    }

    fn end_of_line(&mut self) -> Result<(), ImagefileError> {
        match self.lexer.skip(Text::None, true) {
            Next::Newline => Ok(()),
            _ => Err(self.unexpected(Expected::EndOfLine)),
        }
    }

    fn digits(&mut self, expected: Expected) -> Result<(&'a str, Pos), ImagefileError> {
        self.here(expected)?;
        self.lexer.digits().ok_or_else(|| self.unexpected(expected))
    }

    /// `<int> <MB|GB>`; `Ok(Err(_))` when it is out of range.
    fn size(&mut self) -> Result<Result<ImagefileSize, ImagefileError>, ImagefileError> {
        let (digits, pos) = self.digits(Expected::Size)?;
        self.here(Expected::Unit)?;
        let unit = self
            .lexer
            .unit()
            .ok_or_else(|| self.unexpected(Expected::Unit))?;
        // Python's `int()` has no bound; strata bounds sizes as qemu-img does.
        Ok(digits
            .parse::<u64>()
            .ok()
            .and_then(|value| ImagefileSize::new(value, unit).ok())
            .ok_or_else(|| ImagefileError::SizeOutOfRange {
                file: self.file.to_owned(),
                line: pos.line,
                column: pos.column,
                text: format!("{digits} {}", unit.as_str()),
                max: max_size(unit),
            }))
    }

    /// The instruction that starts with `keyword` at `pos`, up to its line end; `None` if one
    /// of its values is invalid (kept in `self.invalid`).
    fn instruction(
        &mut self,
        keyword: Keyword,
        pos: Pos,
    ) -> Result<Option<Raw<'a>>, ImagefileError> {
        let line = pos.line;
        let step = |action| Ok(Some(Raw::Step(Step { line, action })));
        match keyword {
            Keyword::From => {
                let (text, _) = self.text(Text::Word, Expected::ImageSpec)?;
                self.end_of_line()?;
                Ok(Some(Raw::From { line, text }))
            }
            Keyword::Run => {
                let (first, _) = self.text(Text::Command, Expected::Command)?;
                let mut command = first.to_owned();
                loop {
                    match self.lexer.skip(Text::Command, true) {
                        Next::Text(more, _) => {
                            command.push(' ');
                            command.push_str(more);
                        }
                        Next::Newline => break,
                        Next::End | Next::Here => {
                            return Err(self.unexpected(Expected::CommandOrEnd));
                        }
                    }
                }
                step(Action::Run { command })
            }
            Keyword::Copy | Keyword::Add => {
                let mut paths = Vec::new();
                for _ in 0..2 {
                    paths.push(self.text(Text::Word, Expected::Path)?.0.to_owned());
                }
                loop {
                    match self.lexer.skip(Text::Word, true) {
                        Next::Text(path, _) => paths.push(path.to_owned()),
                        Next::Newline => break,
                        Next::End | Next::Here => {
                            return Err(self.unexpected(Expected::PathOrEnd));
                        }
                    }
                }
                let destination = paths.pop().unwrap_or_default();
                let sources = paths;
                step(if keyword == Keyword::Copy {
                    Action::Copy {
                        sources,
                        destination,
                    }
                } else {
                    Action::Add {
                        sources,
                        destination,
                    }
                })
            }
            Keyword::Inspect => {
                self.end_of_line()?;
                step(Action::Inspect)
            }
            Keyword::Disk => {
                let size = self.size()?;
                self.here(Expected::Table)?;
                let table = self
                    .lexer
                    .table()
                    .ok_or_else(|| self.unexpected(Expected::Table))?;
                self.end_of_line()?;
                match size {
                    Ok(size) => Ok(Some(Raw::Disk(Disk { line, size, table }))),
                    Err(error) => {
                        self.invalid(error);
                        Ok(None)
                    }
                }
            }
            Keyword::Partition => self.partition(line),
            Keyword::Size
            | Keyword::Format
            | Keyword::Options
            | Keyword::Mount
            | Keyword::Flags => Err(self.unexpected(Expected::Instruction)),
        }
    }

    /// PARTITION after its keyword.
    fn partition(&mut self, line: u32) -> Result<Option<Raw<'a>>, ImagefileError> {
        const AFTER_NUMBER: &[Keyword] = &[
            Keyword::Size,
            Keyword::Format,
            Keyword::Mount,
            Keyword::Flags,
        ];
        const AFTER_SIZE: &[Keyword] = &[Keyword::Format, Keyword::Mount, Keyword::Flags];
        const AFTER_FORMAT: &[Keyword] = &[Keyword::Options, Keyword::Mount, Keyword::Flags];
        const AFTER_OPTIONS: &[Keyword] = &[Keyword::Mount, Keyword::Flags];
        const AFTER_MOUNT: &[Keyword] = &[Keyword::Flags];

        let (digits, number_pos) = self.digits(Expected::PartitionNumber)?;
        let mut size = None;
        let mut format = None;
        let mut mount = None;
        let mut flags = Vec::new();
        // transient checks the format when it builds the instruction, before anything else.
        let mut format_error = None;
        let mut size_error = None;

        let mut clauses = AFTER_NUMBER;
        'line: loop {
            match self.lexer.skip(Text::None, true) {
                Next::Newline => break,
                Next::Here => {}
                Next::End | Next::Text(..) => {
                    return Err(self.unexpected(Expected::Clause(clauses)));
                }
            }
            let Some((keyword, _)) = self.lexer.keyword(clauses) else {
                return Err(self.unexpected(Expected::Clause(clauses)));
            };
            match keyword {
                Keyword::Size => {
                    clauses = AFTER_SIZE;
                    match self.size()? {
                        Ok(value) => size = Some(value),
                        Err(error) => size_error = Some(error),
                    }
                }
                Keyword::Format => {
                    clauses = AFTER_FORMAT;
                    let (name, pos) = self.text(Text::Word, Expected::Filesystem)?;
                    let name = name.to_lowercase();
                    match Filesystem::from_name(&name) {
                        Some(filesystem) => {
                            format = Some(PartitionFormat {
                                filesystem,
                                options: String::new(),
                            });
                        }
                        None => {
                            format_error = Some(ImagefileError::UnsupportedFormat {
                                file: self.file.to_owned(),
                                line: pos.line,
                                column: pos.column,
                                format: name,
                            });
                        }
                    }
                }
                Keyword::Options => {
                    clauses = AFTER_OPTIONS;
                    self.here(Expected::Options)?;
                    let options = self
                        .lexer
                        .quoted()
                        .ok_or_else(|| self.unexpected(Expected::Options))?;
                    if let Some(format) = &mut format {
                        options.clone_into(&mut format.options);
                    }
                }
                Keyword::Mount => {
                    clauses = AFTER_MOUNT;
                    mount = Some(self.text(Text::Word, Expected::Path)?.0.to_owned());
                }
                Keyword::Flags => loop {
                    self.here(Expected::Flag)?;
                    let flag: PartitionFlag = self
                        .lexer
                        .flag()
                        .ok_or_else(|| self.unexpected(Expected::Flag))?;
                    flags.push(flag);
                    match self.lexer.skip(Text::None, true) {
                        Next::Newline => break 'line,
                        Next::Here if self.lexer.comma() => {}
                        _ => return Err(self.unexpected(Expected::CommaOrEnd)),
                    }
                },
                _ => return Err(self.unexpected(Expected::Clause(clauses))),
            }
        }

        // Python's `int()` has no bound; strata keeps partition numbers in 32 bits.
        let number = digits
            .parse::<u32>()
            .map_err(|_| ImagefileError::PartitionNumberOutOfRange {
                file: self.file.to_owned(),
                line: number_pos.line,
                column: number_pos.column,
                number: digits.to_owned(),
            });
        match (format_error, number, size_error) {
            (Some(error), _, _) | (None, Err(error), _) | (None, Ok(_), Some(error)) => {
                self.invalid(error);
                Ok(None)
            }
            (None, Ok(number), None) => Ok(Some(Raw::Partition(Partition {
                line,
                number,
                size,
                format,
                mount,
                flags,
            }))),
        }
    }
}

/// The largest size in `unit` that [`ImagefileSize::new`] takes, in bytes.
fn max_size(unit: ImagefileUnit) -> u64 {
    QEMU_IMG_MAX - QEMU_IMG_MAX % unit.disk_bytes()
}
