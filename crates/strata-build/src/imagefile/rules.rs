//! The ordering rules of transient (`ImageBuilder.__validate`), checked in its order: the
//! counts first (FROM, DISK, scratch), then the order of the sections FROM, DISK, PARTITION and
//! the rest. Each broken rule comes with the line of the instruction that breaks it.

use super::error::Rule;
use super::parser::Raw;

/// The first rule `instructions` break, with the line to show (see [`Rule`] for which).
pub(super) fn check(instructions: &[Raw<'_>]) -> Result<(), (Option<u32>, Rule)> {
    let froms: Vec<(u32, &str)> = instructions
        .iter()
        .filter_map(|i| match i {
            Raw::From { line, text } => Some((*line, *text)),
            _ => None,
        })
        .collect();
    let &[(from_line, from_text)] = froms.as_slice() else {
        // None at all, or the second one.
        return Err((froms.get(1).map(|(line, _)| *line), Rule::OneFrom));
    };
    let disks: Vec<u32> = lines(instructions, |i| matches!(i, Raw::Disk(_)));
    let partitions: Vec<&Raw<'_>> = instructions
        .iter()
        .filter(|i| matches!(i, Raw::Partition(_)))
        .collect();
    if let Some(&second) = disks.get(1) {
        return Err((Some(second), Rule::OneDisk));
    }
    // transient: `source.lower() == "scratch"`; no other character lowers to these letters.
    if from_text.eq_ignore_ascii_case("scratch") {
        let Some(&disk) = disks.first() else {
            return Err((Some(from_line), Rule::ScratchNeedsDisk));
        };
        let Some(first) = partitions.first() else {
            return Err((Some(disk), Rule::ScratchNeedsPartition));
        };
        let root = partitions
            .iter()
            .any(|p| matches!(p, Raw::Partition(p) if p.mount.as_deref() == Some("/")));
        if !root {
            return Err((Some(first.line()), Rule::ScratchNeedsRoot));
        }
    } else if let Some(first) = instructions
        .iter()
        .find(|i| matches!(i, Raw::Disk(_) | Raw::Partition(_)))
    {
        return Err((Some(first.line()), Rule::ScratchOnly));
    }

    #[derive(PartialEq)]
    enum Section {
        From,
        Disk,
        Partition,
        Execute,
    }
    let mut section = None;
    for instruction in instructions {
        section = Some(match instruction {
            Raw::From { .. } if section.is_some() => {
                return Err((Some(instruction.line()), Rule::FromFirst));
            }
            Raw::From { .. } => Section::From,
            Raw::Disk(_) if section != Some(Section::From) => {
                return Err((Some(instruction.line()), Rule::DiskAfterFrom));
            }
            Raw::Disk(_) => Section::Disk,
            Raw::Partition(_) if !matches!(section, Some(Section::Disk | Section::Partition)) => {
                return Err((Some(instruction.line()), Rule::PartitionAfterDisk));
            }
            Raw::Partition(_) => Section::Partition,
            Raw::Step(_) => Section::Execute,
        });
    }
    Ok(())
}

fn lines(instructions: &[Raw<'_>], keep: impl Fn(&Raw<'_>) -> bool) -> Vec<u32> {
    instructions
        .iter()
        .filter(|i| keep(i))
        .map(Raw::line)
        .collect()
}
