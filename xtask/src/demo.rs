//! `cargo xtask demo`: shows, command by command, what strata does today. Each [`Step`] is a
//! command line as a pcocc user types it, and what strata's real code makes of it now. Steps are
//! added here as the store, the codecs and the front ends land.

use anyhow::Result;
use strata_model::{DiskFormat, ImageRef, Kind};

/// One step: a command as a user types it, and what strata does with it today.
struct Step {
    /// The command line, as typed.
    command: &'static str,
    /// What strata makes of it: lines to print under the command.
    show: fn() -> Result<Vec<String>>,
}

/// The demo, in order.
const STEPS: &[Step] = &[
    Step {
        command: "pcocc image import -t raw ./vmimage myvm",
        show: format_flag,
    },
    Step {
        command: "pcocc image import ./vmimage.raw myvm",
        show: format_from_extension,
    },
    Step {
        command: "pcocc image import vm $HOME/CentOS-7-x86_64-GenericCloud.qcow2 global:centos7-cloud",
        show: kind_and_extension,
    },
    Step {
        command: "pcocc image import -t qcow ./disk.qcow myvm",
        show: unknown_format,
    },
    Step {
        command: "pcocc image delete user:mycentos7@5",
        show: image_with_revision,
    },
    Step {
        command: "pcocc image show global:centos7:cloud",
        show: bad_image_uri,
    },
    Step {
        command: "pcocc image list",
        show: kinds,
    },
];

/// What is missing, said plainly after the steps.
const NOT_YET: &str = "\
Not implemented yet: the repository store, import and export, and conversion between formats.
The commands above stop after their arguments are understood; no image is read or written.";

/// Prints every step: the command, then what strata makes of it.
pub(crate) fn run() -> Result<()> {
    println!("strata demo: what works today (strata-model: formats, kinds, image references)\n");
    for step in STEPS {
        println!("$ {}", step.command);
        for line in (step.show)()? {
            println!("    {line}");
        }
        println!();
    }
    println!("{NOT_YET}");
    Ok(())
}

/// One line about a disk format: its name, the extension strata writes, what it can do.
fn describe(format: DiskFormat) -> String {
    let access = if format.is_writable() {
        "read and write"
    } else {
        "read only"
    };
    let backing = if format.has_backing() {
        "can name a backing file (layers)"
    } else {
        "no backing file"
    };
    format!(
        "format {format}: writes .{}, {access}, {backing}",
        format.extension()
    )
}

/// One line about an image reference: repository, image, revision.
fn describe_ref(image: &ImageRef) -> String {
    let repo = image.repo().unwrap_or("(none named)");
    let revision = match image.revision() {
        Some(revision) => format!("revision {revision}"),
        None => "latest revision".to_owned(),
    };
    format!("repository {repo}, image {}, {revision}", image.name())
}

fn format_flag() -> Result<Vec<String>> {
    let format: DiskFormat = "raw".parse()?;
    Ok(vec![format!("-t raw -> {}", describe(format))])
}

fn format_from_extension() -> Result<Vec<String>> {
    Ok(match DiskFormat::from_extension("raw") {
        Some(format) => vec![format!("extension .raw -> {}", describe(format))],
        None => vec!["extension .raw names no format".to_owned()],
    })
}

fn kind_and_extension() -> Result<Vec<String>> {
    let kind: Kind = "vm".parse()?;
    let mut lines = vec![format!(
        "kind {kind}: {kind:?}, recorded as {:?}",
        kind.as_str()
    )];
    if let Some(format) = DiskFormat::from_extension("qcow2") {
        lines.push(format!("extension .qcow2 -> {}", describe(format)));
    }
    let destination: ImageRef = "global:centos7-cloud".parse()?;
    lines.push(format!(
        "global:centos7-cloud -> {}",
        describe_ref(&destination)
    ));
    Ok(lines)
}

fn unknown_format() -> Result<Vec<String>> {
    Ok(match "qcow".parse::<DiskFormat>() {
        Ok(format) => vec![format!("-t qcow -> {}", describe(format))],
        Err(err) => vec![format!("-t qcow -> error: {err}")],
    })
}

fn image_with_revision() -> Result<Vec<String>> {
    let image: ImageRef = "user:mycentos7@5".parse()?;
    Ok(vec![format!(
        "user:mycentos7@5 -> {}",
        describe_ref(&image)
    )])
}

fn bad_image_uri() -> Result<Vec<String>> {
    Ok(match "global:centos7:cloud".parse::<ImageRef>() {
        Ok(image) => vec![format!("global:centos7:cloud -> {}", describe_ref(&image))],
        Err(err) => vec![format!("global:centos7:cloud -> error: {err}")],
    })
}

fn kinds() -> Result<Vec<String>> {
    let mut lines: Vec<String> = [Kind::Vm, Kind::Ctr]
        .into_iter()
        .map(|kind| format!("TYPE column: {kind}"))
        .collect();
    if let Err(err) = "cont".parse::<Kind>() {
        lines.push(format!("a record with kind \"cont\" -> error: {err}"));
    }
    lines.push("pcocc's formats: ".to_owned() + &names(&DiskFormat::PCOCC));
    lines.push("strata's formats: ".to_owned() + &names(&DiskFormat::ALL));
    lines.push("(listing needs the repository store: not implemented yet)".to_owned());
    Ok(lines)
}

fn names(formats: &[DiskFormat]) -> String {
    formats
        .iter()
        .map(|format| format.name())
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_step_runs_and_shows_something() {
        for step in STEPS {
            let lines = (step.show)().unwrap();
            assert!(!lines.is_empty(), "{} shows nothing", step.command);
        }
    }
}
