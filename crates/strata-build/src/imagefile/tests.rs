//! Unit tests of the Imagefile parser: instructions, rules, errors and limits.

use strata_model::{ImagefileSize, ImagefileUnit};

use super::*;

fn parse(text: &str) -> Imagefile {
    Imagefile::parse("Imagefile", text).unwrap_or_else(|e| panic!("{e}"))
}

fn error(text: &str) -> ImagefileError {
    match Imagefile::parse("Imagefile", text) {
        Ok(imagefile) => panic!("parsed: {imagefile:?}"),
        Err(e) => e,
    }
}

fn steps(text: &str) -> Vec<String> {
    parse(text).step_lines().collect()
}

const SCRATCH: &str = "FROM scratch\nDISK 64 MB GPT\nPARTITION 1 FORMAT ext4 MOUNT /\n";

#[test]
fn the_documented_example_prints_transients_steps() {
    let text =
        "FROM centos/7:2004.01\nRUN yum install -y nano\nRUN echo 'myhostname' > /etc/hostname\n";
    assert_eq!(
        steps(text),
        [
            "Step 1/3 : FROM centos/7:2004.01",
            "Step 2/3 : RUN  yum install -y nano",
            "Step 3/3 : RUN  echo 'myhostname' > /etc/hostname",
        ]
    );
    let imagefile = parse(text);
    let BaseImage::Spec(spec) = imagefile.from.image() else {
        panic!("not a spec");
    };
    assert_eq!(spec.name(), "centos/7:2004.01");
    assert_eq!(spec.protocol(), Protocol::Vagrant);
}

#[test]
fn a_scratch_build_has_its_disk_and_partitions() {
    let text = "from SCRATCH\n\
                disk 10 gb mbr\n\
                partition 1 size 512 MB format XFS options \"-L boot\" mount /boot flags boot\n\
                Partition 2 FORMAT ext4 MOUNT / FLAGS efi , bios_grub,boot\n\
                add rootfs.tar.xz /\n\
                copy a b /etc/\n\
                inspect\n";
    let imagefile = parse(text);
    assert!(imagefile.from.is_scratch());
    let disk = imagefile.disk.expect("a disk");
    assert_eq!(disk.line, 2);
    assert_eq!(disk.size.value(), 10);
    assert_eq!(disk.size.unit(), ImagefileUnit::Gb);
    assert_eq!(disk.table, PartitionTable::Mbr);
    assert_eq!(
        imagefile.partitions,
        [
            Partition {
                line: 3,
                number: 1,
                size: Some(ImagefileSize::new(512, ImagefileUnit::Mb).expect("in range")),
                format: Some(PartitionFormat {
                    filesystem: Filesystem::Xfs,
                    options: "-L boot".into()
                }),
                mount: Some("/boot".into()),
                flags: vec![PartitionFlag::Boot],
            },
            Partition {
                line: 4,
                number: 2,
                size: None,
                format: Some(PartitionFormat {
                    filesystem: Filesystem::Ext4,
                    options: String::new()
                }),
                mount: Some("/".into()),
                flags: vec![
                    PartitionFlag::Efi,
                    PartitionFlag::BiosGrub,
                    PartitionFlag::Boot
                ],
            },
        ]
    );
    assert_eq!(
        imagefile.steps,
        [
            Step {
                line: 5,
                action: Action::Add {
                    sources: vec!["rootfs.tar.xz".into()],
                    destination: "/".into()
                }
            },
            Step {
                line: 6,
                action: Action::Copy {
                    sources: vec!["a".into(), "b".into()],
                    destination: "/etc/".into()
                }
            },
            Step {
                line: 7,
                action: Action::Inspect
            },
        ]
    );
    assert_eq!(
        imagefile.step_lines().collect::<Vec<_>>(),
        [
            "Step 1/7 : FROM SCRATCH",
            "Step 2/7 : DISK 10G MBR",
            "Step 3/7 : PARTITION 1 SIZE 512MB FORMAT xfs OPTIONS \"-L boot\" MOUNT /boot FLAGS boot",
            "Step 4/7 : PARTITION 2 FORMAT ext4 MOUNT / FLAGS efi bios_grub boot",
            "Step 5/7 : ADD rootfs.tar.xz /",
            "Step 6/7 : COPY a b /etc/",
            "Step 7/7 : INSPECT",
        ]
    );
}

#[test]
fn comments_blank_lines_and_continuations_keep_line_numbers() {
    let text = "# a comment\n\n  FROM \\\n   base # trailing\n\nRUN apt-get update && \\\n    apt-get install -y \\  \n    vim\nCOPY a \\\n  b\n";
    let imagefile = parse(text);
    assert_eq!(imagefile.from.line(), 3);
    assert_eq!(imagefile.from.text(), "base");
    assert_eq!(
        imagefile.steps[0],
        Step {
            line: 6,
            action: Action::Run {
                command: " apt-get update &&      apt-get install -y      vim".into()
            }
        }
    );
    assert_eq!(imagefile.steps[1].line, 9);
    assert_eq!(
        imagefile.steps[1].echo(),
        "COPY a b",
        "the destination is on the continued line"
    );
}

#[test]
fn free_text_takes_what_looks_like_a_comment_and_keywords_need_no_blank() {
    let imagefile = parse("FROM #base\nRUNecho # not a comment\nCOPY a #b\n");
    assert_eq!(imagefile.from.text(), "#base");
    assert_eq!(
        imagefile.steps[0].action,
        Action::Run {
            command: "echo # not a comment".into()
        }
    );
    assert_eq!(
        imagefile.steps[1].action,
        Action::Copy {
            sources: vec!["a".into()],
            destination: "#b".into()
        }
    );
    // Elsewhere `#` starts a comment.
    let imagefile = parse(&format!("{SCRATCH}INSPECT # look\n").replace("GPT", "GPT#x"));
    assert_eq!(imagefile.steps[0].action, Action::Inspect);
}

#[test]
fn line_ends_are_read_as_pythons_text_mode_reads_them() {
    let imagefile = parse("FROM base\r\nRUN ls\rRUN pwd\r\n");
    assert_eq!(
        imagefile.steps,
        [
            Step {
                line: 2,
                action: Action::Run {
                    command: " ls".into()
                }
            },
            Step {
                line: 3,
                action: Action::Run {
                    command: " pwd".into()
                }
            },
        ]
    );
}

#[test]
fn a_missing_final_line_end_is_fine() {
    assert_eq!(parse("FROM base\nINSPECT").steps.len(), 1);
}

#[test]
fn syntax_errors_name_line_column_and_the_offending_text() {
    let cases: &[(&str, u32, u32, Found, Expected)] = &[
        (
            "FROM scratch INVALID\n",
            1,
            14,
            Found::Text("INVALID".into()),
            Expected::EndOfLine,
        ),
        (
            "FROM x\nDISK 1 XB GPT\n",
            2,
            8,
            Found::Text("XB".into()),
            Expected::Unit,
        ),
        ("FROM x\nCOPY a\n", 2, 7, Found::EndOfLine, Expected::Path),
        ("FROM x\nRUN\n", 2, 4, Found::EndOfLine, Expected::Command),
        (
            "FROM x\nLABEL a=b\n",
            2,
            1,
            Found::Text("LABEL".into()),
            Expected::Instruction,
        ),
        (
            "FROM x\nPARTITION 1 MOUNT / SIZE 1 MB\n",
            2,
            21,
            Found::Text("SIZE".into()),
            Expected::Clause(&[Keyword::Flags]),
        ),
        (
            "FROM x\nPARTITION 1 FLAGS boot efi\n",
            2,
            24,
            Found::Text("efi".into()),
            Expected::CommaOrEnd,
        ),
        (
            "FROM x\nPARTITION 1 FORMAT ext4 OPTIONS \"-L\n",
            2,
            33,
            Found::Text("\"-L".into()),
            Expected::Options,
        ),
        (
            "FROM x\nRUN a \\ b\n",
            2,
            7,
            Found::Text("\\".into()),
            Expected::CommandOrEnd,
        ),
        // The last line continues past the end of the file.
        ("FROM a \\", 1, 9, Found::EndOfFile, Expected::EndOfLine),
    ];
    for (text, line, column, found, expected) in cases {
        match error(text) {
            ImagefileError::Syntax {
                file,
                line: l,
                column: c,
                found: f,
                expected: e,
            } => {
                assert_eq!(file, "Imagefile");
                assert_eq!(
                    (l, c, &f, e),
                    (*line, *column, found, *expected),
                    "{text:?}"
                );
            }
            other => panic!("{text:?}: {other}"),
        }
    }
    assert_eq!(
        error("FROM scratch INVALID\n").to_string(),
        "Imagefile:1:14: unexpected 'INVALID', expected end of line"
    );
    assert_eq!(
        error("FROM x\nPARTITION 1 MOUNT / SIZE 1 MB\n").to_string(),
        "Imagefile:2:21: unexpected 'SIZE', expected FLAGS or end of line"
    );
    assert_eq!(
        error("\u{feff}FROM x\n").to_string(),
        "Imagefile:1:1: unexpected '\\u{feff}FROM', expected an instruction (FROM, DISK, \
         PARTITION, COPY, ADD, RUN or INSPECT)"
    );
}

#[test]
fn every_rule_has_transients_message_and_the_line_that_breaks_it() {
    let cases: &[(&str, Option<u32>, &str)] = &[
        (
            "",
            None,
            "Exactly one FROM instruction must appear per Imagefile",
        ),
        (
            "RUN ls\n",
            None,
            "Exactly one FROM instruction must appear per Imagefile",
        ),
        (
            "FROM a\nFROM b\n",
            Some(2),
            "Exactly one FROM instruction must appear per Imagefile",
        ),
        (
            "FROM scratch\nDISK 1 GB GPT\nDISK 2 GB GPT\n",
            Some(3),
            "Only one DISK instruction can appear per Imagefile",
        ),
        (
            "FROM scratch\nRUN ls\n",
            Some(1),
            "Exactly one DISK instruction must appear in images built from scratch",
        ),
        (
            "FROM scratch\nDISK 1 GB GPT\n",
            Some(2),
            "At least one PARTITION instruction must appear in images built from scratch",
        ),
        (
            "FROM scratch\nDISK 1 GB GPT\nPARTITION 1 MOUNT /boot\nPARTITION 2 MOUNT //\n",
            Some(3),
            "At least one PARTITION instruction must mount at /",
        ),
        (
            "FROM base\nRUN ls\nPARTITION 1\n",
            Some(3),
            "DISK and PARTITION instructions can only appear on images built from scratch",
        ),
        (
            "RUN ls\nFROM scratch\nDISK 1 GB GPT\nPARTITION 1 MOUNT /\n",
            Some(2),
            "FROM instruction must appear before any other instructions",
        ),
        (
            "FROM scratch\nRUN ls\nDISK 1 GB GPT\nPARTITION 1 MOUNT /\n",
            Some(3),
            "DISK instruction must appear immediately after FROM instruction",
        ),
        (
            "FROM scratch\nDISK 1 GB GPT\nRUN ls\nPARTITION 1 MOUNT /\n",
            Some(4),
            "PARTITION instructions must appear immediately after DISK instruction",
        ),
        (
            "FROM scratch\nPARTITION 1 MOUNT /\nDISK 1 GB GPT\n",
            Some(2),
            "PARTITION instructions must appear immediately after DISK instruction",
        ),
    ];
    for (text, line, message) in cases {
        match error(text) {
            ImagefileError::Rule { line: l, rule, .. } => {
                assert_eq!(
                    (l, rule.to_string().as_str()),
                    (*line, *message),
                    "{text:?}"
                );
            }
            other => panic!("{text:?}: {other}"),
        }
    }
    assert_eq!(
        error("FROM a\nFROM b\n").to_string(),
        "Imagefile:2: Exactly one FROM instruction must appear per Imagefile"
    );
    assert_eq!(
        error("").to_string(),
        "Imagefile: Exactly one FROM instruction must appear per Imagefile"
    );
}

#[test]
fn a_syntax_error_anywhere_comes_before_an_unsupported_format() {
    let text = "FROM scratch\nDISK 1 GB GPT\nPARTITION 1 FORMAT BTRFS MOUNT /\n";
    let e = error(text);
    assert!(
        matches!(&e, ImagefileError::UnsupportedFormat { line: 3, column: 20, format, .. } if format == "btrfs"),
        "{e:?}"
    );
    assert_eq!(
        e.to_string(),
        "Imagefile:3:20: Unsupported partition format 'btrfs'"
    );
    let e = error(&format!("{text}RUN\n"));
    assert!(matches!(e, ImagefileError::Syntax { line: 4, .. }), "{e:?}");
    // And it comes before the rules.
    let e = error("FROM base\nPARTITION 1 FORMAT zfs\n");
    assert!(
        matches!(e, ImagefileError::UnsupportedFormat { .. }),
        "{e:?}"
    );
}

#[test]
fn the_image_spec_is_checked_after_the_rules() {
    let e = error("FROM a,ftp=x\nRUN ls\n");
    assert_eq!(
        e.to_string(),
        "Imagefile:1: Unknown image source protocol 'ftp'"
    );
    let e = error("FROM a,b\n");
    assert_eq!(e.to_string(), "Imagefile:1: Invalid image spec 'a,b'");
    let e = error("FROM a,b\nDISK 1 GB GPT\n");
    assert!(
        matches!(
            e,
            ImagefileError::Rule {
                rule: Rule::ScratchOnly,
                ..
            }
        ),
        "{e:?}"
    );
    let imagefile = parse("FROM base,HTTPS=https://example.invalid/a.qcow2.xz\n");
    let BaseImage::Spec(spec) = imagefile.from.image() else {
        panic!("not a spec");
    };
    assert_eq!(spec.protocol(), Protocol::Http);
    assert_eq!(spec.location(), "https://example.invalid/a.qcow2.xz");
}

#[test]
fn numbers_out_of_range_are_refused_with_their_position() {
    let e = error("FROM scratch\nDISK 8589934592 GB GPT\nPARTITION 1 MOUNT /\n");
    assert!(
        matches!(&e, ImagefileError::SizeOutOfRange { line: 2, column: 6, text, .. } if text == "8589934592 GB"),
        "{e:?}"
    );
    let e = error("FROM scratch\nDISK 1 GB GPT\nPARTITION 4294967296 MOUNT /\n");
    assert!(
        matches!(
            e,
            ImagefileError::PartitionNumberOutOfRange {
                line: 3,
                column: 11,
                ..
            }
        ),
        "{e:?}"
    );
    // Leading zeros are read as Python's int() reads them.
    assert_eq!(
        steps("FROM scratch\nDISK 0064 MB GPT\nPARTITION 007 MOUNT /\n")[1..],
        ["Step 2/3 : DISK 64M GPT", "Step 3/3 : PARTITION 7 MOUNT /"]
    );
}

#[test]
fn limits_bound_size_and_lines() {
    let big = "#".repeat(MAX_BYTES as usize + 1);
    assert!(matches!(
        Imagefile::parse("Imagefile", &big),
        Err(ImagefileError::TooLarge { .. })
    ));
    assert!(matches!(
        Imagefile::from_bytes("Imagefile", big.as_bytes()),
        Err(ImagefileError::TooLarge { .. })
    ));
    let lines = format!("FROM a\n{}", "\n".repeat(MAX_LINES as usize - 1));
    assert!(Imagefile::parse("Imagefile", &lines).is_ok());
    let e = error(&format!("{lines}#"));
    assert!(
        matches!(e, ImagefileError::TooManyLines { line, .. } if line == MAX_LINES + 1),
        "{e:?}"
    );
}

#[test]
fn text_that_is_not_utf8_is_refused_with_its_position() {
    let e = Imagefile::from_bytes("Imagefile", b"FROM a\r\nRUN \xe9\n").unwrap_err();
    assert!(
        matches!(
            e,
            ImagefileError::NotUtf8 {
                line: 2,
                column: 5,
                ..
            }
        ),
        "{e:?}"
    );
    assert_eq!(
        e.to_string(),
        "Imagefile:2:5: the Imagefile is not UTF-8 text"
    );
}

#[test]
fn read_bounds_what_it_reads() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("Imagefile");
    std::fs::write(&path, "FROM base\nRUN ls\n").expect("written");
    let imagefile = Imagefile::read(&path).expect("parsed");
    assert_eq!(imagefile.steps.len(), 1);
    std::fs::write(&path, vec![b'#'; MAX_BYTES as usize + 1]).expect("written");
    assert!(matches!(
        Imagefile::read(&path),
        Err(ImagefileError::TooLarge { .. })
    ));
    let missing = dir.path().join("missing");
    let e = Imagefile::read(&missing).unwrap_err();
    assert!(matches!(e, ImagefileError::Read { .. }), "{e:?}");
    assert_eq!(e.file(), missing.display().to_string());
    assert_eq!(e.line(), None);
}

#[test]
fn display_writes_an_imagefile_that_parses_back() {
    let text = "from scratch\ndisk 10 gb mbr\n\
                partition 1 size 512 MB format XFS options \"-L boot\" mount /boot flags boot,efi\n\
                partition 2 MOUNT /\nRUNls\nRUN  a \\\n b\nadd x.tar.gz y /\ninspect\n";
    let imagefile = parse(text);
    let written = imagefile.to_string();
    assert_eq!(
        written,
        "FROM scratch\nDISK 10 GB MBR\n\
         PARTITION 1 SIZE 512 MB FORMAT xfs OPTIONS \"-L boot\" MOUNT /boot FLAGS boot,efi\n\
         PARTITION 2 MOUNT /\nRUNls\nRUN  a   b\nADD x.tar.gz y /\nINSPECT\n"
    );
    let again = parse(&written);
    assert_eq!(again.to_string(), written);
    assert_eq!(
        again.step_lines().collect::<Vec<_>>(),
        imagefile.step_lines().collect::<Vec<_>>()
    );
}
