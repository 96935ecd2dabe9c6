//! The instructions of an Imagefile as typed values, each with its source line, its text as an
//! Imagefile line ([`Display`](fmt::Display), which parses back to the same value) and transient's
//! echo of it in `Step i/n : ...` (`echo`, transient's `__str__`).

use std::fmt::{self, Write as _};

use strata_model::ImagefileSize;

use super::spec::{ImageSpec, SpecError};

/// `FROM`: the base of the build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Base {
    line: u32,
    text: String,
    image: BaseImage,
}

/// What a FROM starts from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BaseImage {
    /// `scratch`, in any case: an empty disk that DISK and PARTITION describe.
    Scratch,
    /// An existing image.
    Spec(ImageSpec),
}

impl Base {
    /// The FROM of line `line` whose argument is `text` (a word without blanks or `\`).
    ///
    /// # Errors
    /// `text` is neither `scratch` (any case) nor an [`ImageSpec`].
    pub fn new(line: u32, text: &str) -> Result<Base, SpecError> {
        let image = if text.eq_ignore_ascii_case("scratch") {
            BaseImage::Scratch
        } else {
            BaseImage::Spec(text.parse()?)
        };
        Ok(Base {
            line,
            text: text.to_owned(),
            image,
        })
    }

    /// The line of the instruction.
    pub fn line(&self) -> u32 {
        self.line
    }

    /// The argument as written.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// What the build starts from.
    pub fn image(&self) -> &BaseImage {
        &self.image
    }

    /// Whether the build starts from scratch.
    pub fn is_scratch(&self) -> bool {
        self.image == BaseImage::Scratch
    }

    /// transient's echo: `FROM <argument as written>`.
    pub fn echo(&self) -> String {
        format!("FROM {}", self.text)
    }
}

impl fmt::Display for Base {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FROM {}", self.text)
    }
}

/// `DISK <int> <MB|GB> <GPT|MBR>`: the size and partition table of a scratch image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Disk {
    /// The line of the instruction.
    pub line: u32,
    /// The size; [`ImagefileSize::disk_size`] gives its bytes (binary units, as qemu-img reads
    /// transient's `<N>M`).
    pub size: ImagefileSize,
    /// The partition table.
    pub table: PartitionTable,
}

impl Disk {
    /// transient's echo: `DISK 64M GPT` (the unit's `B` dropped, the table in capitals).
    pub fn echo(&self) -> String {
        let unit = &self.size.unit().as_str()[..1];
        format!("DISK {}{unit} {}", self.size.value(), self.table)
    }
}

impl fmt::Display for Disk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DISK {} {}", self.size, self.table)
    }
}

/// A partition table type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PartitionTable {
    /// `GPT` (sfdisk `label: gpt`).
    Gpt,
    /// `MBR` (sfdisk `label: dos`).
    Mbr,
}

impl fmt::Display for PartitionTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PartitionTable::Gpt => "GPT",
            PartitionTable::Mbr => "MBR",
        })
    }
}

/// `PARTITION <n> [SIZE <int> <MB|GB>] [FORMAT <fs> [OPTIONS "<str>"]] [MOUNT <path>]
/// [FLAGS <flag>[,<flag>...]]`, the clauses in that order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Partition {
    /// The line of the instruction.
    pub line: u32,
    /// The partition number (sfdisk numbers partitions in the order they are added).
    pub number: u32,
    /// The size; [`ImagefileSize::partition_size`] gives its bytes (decimal units, as sfdisk
    /// reads transient's `size=<N>MB`). Without it the partition takes the rest of the disk.
    pub size: Option<ImagefileSize>,
    /// The filesystem made on it, if any.
    pub format: Option<PartitionFormat>,
    /// Where it is mounted in the image being built (`/` for the root), if anywhere: a word
    /// without blanks or `\`.
    pub mount: Option<String>,
    /// Its flags, in the order written, repeats kept (transient keeps them).
    pub flags: Vec<PartitionFlag>,
}

/// `FORMAT <fs> [OPTIONS "<str>"]` of a PARTITION.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionFormat {
    /// The filesystem.
    pub filesystem: Filesystem,
    /// The options given to mkfs, between the quotes (no `"` nor line end); empty when there
    /// are none (transient does not tell `OPTIONS ""` from no OPTIONS).
    pub options: String,
}

/// A filesystem transient makes with `mkfs.<name>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Filesystem {
    /// ext2
    Ext2,
    /// ext3
    Ext3,
    /// ext4
    Ext4,
    /// xfs
    Xfs,
}

impl Filesystem {
    /// The filesystem of this lower-case name.
    pub fn from_name(name: &str) -> Option<Filesystem> {
        Some(match name {
            "ext2" => Filesystem::Ext2,
            "ext3" => Filesystem::Ext3,
            "ext4" => Filesystem::Ext4,
            "xfs" => Filesystem::Xfs,
            _ => return None,
        })
    }

    /// The name, as in `mkfs.<name>`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Filesystem::Ext2 => "ext2",
            Filesystem::Ext3 => "ext3",
            Filesystem::Ext4 => "ext4",
            Filesystem::Xfs => "xfs",
        }
    }
}

impl fmt::Display for Filesystem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A partition flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PartitionFlag {
    /// `boot`: the partition is bootable.
    Boot,
    /// `efi`: an EFI system partition.
    Efi,
    /// `bios_grub`: a BIOS boot partition.
    BiosGrub,
}

impl PartitionFlag {
    /// The flag as written, in lower case.
    pub const fn as_str(self) -> &'static str {
        match self {
            PartitionFlag::Boot => "boot",
            PartitionFlag::Efi => "efi",
            PartitionFlag::BiosGrub => "bios_grub",
        }
    }
}

impl fmt::Display for PartitionFlag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Partition {
    /// transient's echo: `PARTITION 1 SIZE 2MB FORMAT ext4 OPTIONS "-L x" MOUNT / FLAGS boot
    /// efi`. transient writes every size in MB whatever its unit, omits empty options, separates
    /// flags with spaces, and strips Python's whitespace from the ends.
    pub fn echo(&self) -> String {
        let mut out = format!("PARTITION {} ", self.number);
        // Writing to a String cannot fail.
        if let Some(size) = self.size {
            let _ = write!(out, "SIZE {}MB ", size.value());
        }
        if let Some(format) = &self.format {
            let _ = write!(out, "FORMAT {} ", format.filesystem);
            if !format.options.is_empty() {
                let _ = write!(out, "OPTIONS \"{}\" ", format.options);
            }
        }
        if let Some(mount) = &self.mount {
            let _ = write!(out, "MOUNT {mount} ");
        }
        if !self.flags.is_empty() {
            out.push_str("FLAGS ");
            for flag in &self.flags {
                let _ = write!(out, "{flag} ");
            }
        }
        out.trim_end_matches(is_python_space).to_owned()
    }
}

/// Whether Python's `str.isspace` holds for `c`: Rust's whitespace plus the information
/// separators U+001C to U+001F.
fn is_python_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

impl fmt::Display for Partition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PARTITION {}", self.number)?;
        if let Some(size) = self.size {
            write!(f, " SIZE {size}")?;
        }
        if let Some(format) = &self.format {
            write!(f, " FORMAT {}", format.filesystem)?;
            if !format.options.is_empty() {
                write!(f, " OPTIONS \"{}\"", format.options)?;
            }
        }
        if let Some(mount) = &self.mount {
            write!(f, " MOUNT {mount}")?;
        }
        for (i, flag) in self.flags.iter().enumerate() {
            f.write_str(if i == 0 { " FLAGS " } else { "," })?;
            write!(f, "{flag}")?;
        }
        Ok(())
    }
}

/// An instruction after FROM, DISK and PARTITION: what the build does, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// The line of the instruction (its first line, when continued).
    pub line: u32,
    /// What it does.
    pub action: Action,
}

/// What a [`Step`] does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// `COPY <src>... <dst>`: files of the build directory copied into the image. Paths are
    /// words without blanks or `\`.
    Copy {
        /// The sources, relative to the build directory.
        sources: Vec<String>,
        /// The destination in the image.
        destination: String,
    },
    /// `ADD <src>... <dst>`: as COPY, but a source that [`Action::add_unpacks`] is unpacked.
    Add {
        /// The sources, relative to the build directory.
        sources: Vec<String>,
        /// The destination in the image.
        destination: String,
    },
    /// `RUN <command>`: a shell command run in the image.
    Run {
        /// The command as transient keeps it: the raw text after `RUN`, leading blanks
        /// included, and the text of continued lines joined with a space (so `RUN a \`,
        /// `  b` is ` a    b`). Never empty, no line end.
        command: String,
    },
    /// `INSPECT`: an interactive shell in the image, then the build goes on.
    Inspect,
}

impl Action {
    /// Whether ADD unpacks `source` rather than copying it: transient streams a source whose
    /// name ends with `.tar.gz` or `.tar.xz` (case-sensitive) into `bsdtar xf`.
    pub fn add_unpacks(source: &str) -> bool {
        source.ends_with(".tar.gz") || source.ends_with(".tar.xz")
    }
}

impl Step {
    /// transient's echo: `COPY a b dst`, `RUN <command as kept>` (so `RUN  ls` for `RUN ls`),
    /// `INSPECT`.
    pub fn echo(&self) -> String {
        match &self.action {
            Action::Run { command } => format!("RUN {command}"),
            _ => self.to_string(),
        }
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (keyword, sources, destination) = match &self.action {
            Action::Copy {
                sources,
                destination,
            } => ("COPY", sources, destination),
            Action::Add {
                sources,
                destination,
            } => ("ADD", sources, destination),
            // The command keeps its leading blanks: writing it right after the keyword gives it
            // back unchanged.
            Action::Run { command } => return write!(f, "RUN{command}"),
            Action::Inspect => return f.write_str("INSPECT"),
        };
        f.write_str(keyword)?;
        for source in sources {
            write!(f, " {source}")?;
        }
        write!(f, " {destination}")
    }
}

/// One instruction of an [`Imagefile`](super::Imagefile), borrowed, in file order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Instruction<'a> {
    /// FROM
    From(&'a Base),
    /// DISK
    Disk(&'a Disk),
    /// PARTITION
    Partition(&'a Partition),
    /// COPY, ADD, RUN, INSPECT
    Step(&'a Step),
}

impl Instruction<'_> {
    /// The line of the instruction.
    pub fn line(&self) -> u32 {
        match self {
            Instruction::From(base) => base.line(),
            Instruction::Disk(disk) => disk.line,
            Instruction::Partition(partition) => partition.line,
            Instruction::Step(step) => step.line,
        }
    }

    /// transient's echo of the instruction, as `Step i/n : ` prints it.
    pub fn echo(&self) -> String {
        match self {
            Instruction::From(base) => base.echo(),
            Instruction::Disk(disk) => disk.echo(),
            Instruction::Partition(partition) => partition.echo(),
            Instruction::Step(step) => step.echo(),
        }
    }
}

impl fmt::Display for Instruction<'_> {
    /// The instruction as an Imagefile line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Instruction::From(base) => base.fmt(f),
            Instruction::Disk(disk) => disk.fmt(f),
            Instruction::Partition(partition) => partition.fmt(f),
            Instruction::Step(step) => step.fmt(f),
        }
    }
}

#[cfg(test)]
mod tests {
    use strata_model::ImagefileUnit;

    use super::*;

    fn size(value: u64, unit: ImagefileUnit) -> ImagefileSize {
        ImagefileSize::new(value, unit).expect("in range")
    }

    #[test]
    fn disk_echo_drops_the_b_of_the_unit() {
        let disk = Disk {
            line: 2,
            size: size(64, ImagefileUnit::Mb),
            table: PartitionTable::Gpt,
        };
        assert_eq!(disk.echo(), "DISK 64M GPT");
        assert_eq!(disk.to_string(), "DISK 64 MB GPT");
    }

    #[test]
    fn partition_echo_says_mb_whatever_the_unit_and_separates_flags_with_spaces() {
        let partition = Partition {
            line: 3,
            number: 1,
            size: Some(size(2, ImagefileUnit::Gb)),
            format: Some(PartitionFormat {
                filesystem: Filesystem::Ext4,
                options: "-L root".into(),
            }),
            mount: Some("/".into()),
            flags: vec![PartitionFlag::Boot, PartitionFlag::Efi],
        };
        assert_eq!(
            partition.echo(),
            "PARTITION 1 SIZE 2MB FORMAT ext4 OPTIONS \"-L root\" MOUNT / FLAGS boot efi"
        );
        assert_eq!(
            partition.to_string(),
            "PARTITION 1 SIZE 2 GB FORMAT ext4 OPTIONS \"-L root\" MOUNT / FLAGS boot,efi"
        );
    }

    #[test]
    fn partition_echo_strips_pythons_whitespace_at_the_end() {
        let partition = Partition {
            line: 3,
            number: 2,
            size: None,
            format: None,
            mount: Some("/data\u{1f}\u{a0}".into()),
            flags: vec![],
        };
        assert_eq!(partition.echo(), "PARTITION 2 MOUNT /data");
    }

    #[test]
    fn run_echo_keeps_the_leading_blank_of_the_command() {
        let step = Step {
            line: 4,
            action: Action::Run {
                command: " ls -l".into(),
            },
        };
        assert_eq!(step.echo(), "RUN  ls -l");
        assert_eq!(step.to_string(), "RUN ls -l");
    }

    #[test]
    fn add_unpacks_gzip_and_xz_tarballs_only() {
        assert!(Action::add_unpacks("rootfs.tar.gz"));
        assert!(Action::add_unpacks("rootfs.tar.xz"));
        assert!(!Action::add_unpacks("rootfs.tar.bz2"));
        assert!(!Action::add_unpacks("rootfs.TAR.GZ"));
    }

    #[test]
    fn from_scratch_is_any_case() {
        let base = Base::new(1, "SCRATCH").expect("scratch");
        assert!(base.is_scratch());
        assert_eq!(base.echo(), "FROM SCRATCH");
        let base = Base::new(1, "scratch2").expect("a spec");
        assert!(!base.is_scratch());
    }
}
