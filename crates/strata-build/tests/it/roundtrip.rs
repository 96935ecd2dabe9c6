//! Property tests: an Imagefile written by `Display` parses back to the same value, and no text
//! makes the parser panic.

use proptest::prelude::*;
use strata_build::imagefile::{
    Action, Base, Disk, Filesystem, Imagefile, Partition, PartitionFlag, PartitionFormat,
    PartitionTable, Step,
};
use strata_model::{ImagefileSize, ImagefileUnit};

/// A path, image name or location: `PATH`'s alphabet (no blank, line end or `\`; no `\r`,
/// which Python's text mode reads as a line end).
fn word() -> impl Strategy<Value = String> {
    "[^ \t\n\r\\\\]{1,8}"
}

fn size() -> impl Strategy<Value = ImagefileSize> {
    (
        0u64..1_000_000,
        prop_oneof![Just(ImagefileUnit::Mb), Just(ImagefileUnit::Gb)],
    )
        .prop_map(|(value, unit)| ImagefileSize::new(value, unit).expect("in range"))
}

/// FROM's argument: scratch in some case, a name, or `NAME,PROTO=SOURCE`.
fn base_text() -> impl Strategy<Value = (String, bool)> {
    let name =
        "[^ \t\n\r\\\\,]{1,8}".prop_filter("not scratch", |n| !n.eq_ignore_ascii_case("scratch"));
    let protocol = prop_oneof![
        Just("vagrant"),
        Just("http"),
        Just("HTTPS"),
        Just("file"),
        Just("Files")
    ];
    prop_oneof![
        prop_oneof![Just("scratch"), Just("SCRATCH"), Just("Scratch")]
            .prop_map(|s| (s.to_owned(), true)),
        name.clone().prop_map(|n| (n, false)),
        (name, protocol, word()).prop_map(|(n, p, l)| (format!("{n},{p}={l}"), false)),
    ]
}

fn partition() -> impl Strategy<Value = Partition> {
    let filesystem = prop_oneof![
        Just(Filesystem::Ext2),
        Just(Filesystem::Ext3),
        Just(Filesystem::Ext4),
        Just(Filesystem::Xfs)
    ];
    let flag = prop_oneof![
        Just(PartitionFlag::Boot),
        Just(PartitionFlag::Efi),
        Just(PartitionFlag::BiosGrub)
    ];
    (
        any::<u32>(),
        proptest::option::of(size()),
        proptest::option::of((filesystem, "[^\"\n\r]{0,10}")),
        proptest::option::of(word()),
        proptest::collection::vec(flag, 0..4),
    )
        .prop_map(|(number, size, format, mount, flags)| Partition {
            line: 0,
            number,
            size,
            format: format.map(|(filesystem, options)| PartitionFormat {
                filesystem,
                options,
            }),
            mount,
            flags,
        })
}

/// RUN's command: `RUN_CMD`'s alphabet, a `\` only before a character that is not a blank.
fn command() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![4 => "[^\n\r\\\\]", 1 => "\\\\[^ \t\n\r]"],
        1..24,
    )
    .prop_map(|pieces| pieces.concat())
}

fn action() -> impl Strategy<Value = Action> {
    let paths = || (proptest::collection::vec(word(), 1..4), word());
    prop_oneof![
        paths().prop_map(|(sources, destination)| Action::Copy {
            sources,
            destination
        }),
        paths().prop_map(|(sources, destination)| Action::Add {
            sources,
            destination
        }),
        command().prop_map(|command| Action::Run { command }),
        Just(Action::Inspect),
    ]
}

/// A valid Imagefile whose instructions are on lines 1, 2, 3...
fn imagefile() -> impl Strategy<Value = Imagefile> {
    (
        base_text(),
        size(),
        prop_oneof![Just(PartitionTable::Gpt), Just(PartitionTable::Mbr)],
        proptest::collection::vec(partition(), 1..4),
        any::<prop::sample::Index>(),
        proptest::collection::vec(action(), 0..6),
    )
        .prop_map(
            |((text, scratch), size, table, mut partitions, root, actions)| {
                let from = Base::new(1, &text).expect("a valid FROM");
                let mut line = 1;
                let mut next = || {
                    line += 1;
                    line
                };
                let disk = scratch.then(|| Disk {
                    line: next(),
                    size,
                    table,
                });
                if scratch {
                    let root = root.index(partitions.len());
                    partitions[root].mount = Some("/".into());
                    for partition in &mut partitions {
                        partition.line = next();
                    }
                } else {
                    partitions.clear();
                }
                let steps = actions
                    .into_iter()
                    .map(|action| Step {
                        line: next(),
                        action,
                    })
                    .collect();
                Imagefile {
                    from,
                    disk,
                    partitions,
                    steps,
                }
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn a_written_imagefile_parses_back_to_the_same(imagefile in imagefile()) {
        let text = imagefile.to_string();
        let parsed = Imagefile::parse("Imagefile", &text);
        prop_assert!(parsed.is_ok(), "{text:?}: {:?}", parsed.err());
        prop_assert_eq!(parsed.ok(), Some(imagefile), "{:?}", text);
    }

    #[test]
    fn no_text_makes_the_parser_panic(text in "(FROM scratch\n|DISK 1 GB GPT\n|PARTITION 1 |MOUNT /|[ \t\n\r\\\\#\",a-zA-Z0-9/]|.){0,64}") {
        // The fuzz target's body: parses, and what parses writes back and parses again.
        strata_build::imagefile::fuzzing::parse(text.as_bytes());
    }
}
