//! `edits::edit_fstab` and `edits::edit_entry` against GNU sed running OCNE's own commands
//! (modify-image.sh, pkg/commands/image/create/scripts.go and olvm_scripts.go of OCNE), one sed
//! process per command as the script runs them, in the C locale: the outputs must be the same
//! bytes, on a table of edge cases and on generated fstabs and loader entries.
//!
//! The inserted values (provider, kernel arguments, UUIDs) hold none of sed's replacement
//! operators (`&`, `\`, the delimiter, a line break): `edits.rs` inserts those as they are,
//! where sed would not, on purpose.

use std::io::Write;
use std::process::{Command, Stdio};

use ocne_image::edits::{EntryEdits, edit_entry, edit_fstab};
use proptest::prelude::*;
use proptest::sample::select;
use proptest::test_runner::{Config, TestRunner};

/// Generated cases per property: each runs sed up to six times.
const CASES: u32 = 48;

/// `input` after each of `scripts`, each run by its own `sed SCRIPT` with the text on stdin.
fn sed(scripts: &[String], input: &str) -> String {
    let mut text = input.as_bytes().to_vec();
    for script in scripts {
        let mut child = Command::new("sed")
            .arg(script)
            .env("LC_ALL", "C")
            .env_remove("POSIXLY_CORRECT")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let writer = std::thread::spawn(move || stdin.write_all(&text));
        let out = child.wait_with_output().unwrap();
        writer.join().unwrap().unwrap();
        assert!(
            out.status.success(),
            "sed {script:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        text = out.stdout;
    }
    String::from_utf8(text).unwrap()
}

/// OCNE's two fstab commands.
fn fstab_scripts(root: &str, boot: &str) -> Vec<String> {
    vec![
        format!("s|UUID=[a-zA-z0-9-]* /[ \\t]|UUID={root} / |g"),
        format!("s|UUID=[a-zA-z0-9-]* /boot[ \\t]|UUID={boot} /boot |g"),
    ]
}

/// OCNE's loader entry commands, in its order: the ignition provider, (olvm) the console, the
/// kernel arguments (only when some are given, with the separator OCNE's
/// `generateKernelArgsStanza` picks: the first of `!` to `~` not in them), the root UUID.
fn entry_scripts(edits: &EntryEdits, old: &str, new: &str) -> Vec<String> {
    let mut scripts = vec![format!(
        "s/ignition.platform.id=qemu/ignition.platform.id={}/g",
        edits.provider
    )];
    if edits.console_tty0 {
        scripts.push("s/console=ttyS0/console=tty0/g".to_owned());
    }
    if !edits.kargs.is_empty() {
        let sep = (b'!'..=b'~')
            .map(char::from)
            .find(|c| !edits.kargs.contains(*c))
            .unwrap();
        scripts.push(format!("/^options / s{sep}${sep} {}{sep}", edits.kargs));
    }
    scripts.push(format!("s/{old}/{new}/g"));
    scripts
}

fn check_fstab(text: &str, root: &str, boot: &str) -> Result<(), TestCaseError> {
    let ours = edit_fstab(text, root, boot);
    let theirs = sed(&fstab_scripts(root, boot), text);
    prop_assert_eq!(ours, theirs, "fstab {:?} with {} and {}", text, root, boot);
    Ok(())
}

fn check_entry(text: &str, edits: &EntryEdits, old: &str, new: &str) -> Result<(), TestCaseError> {
    let ours = edit_entry(text, edits, old, new);
    let theirs = sed(&entry_scripts(edits, old, new), text);
    prop_assert_eq!(ours, theirs, "entry {:?} with {:?}", text, edits);
    Ok(())
}

#[test]
fn fstab_edits_match_sed_on_edge_cases() {
    if !strata_testkit::peers::have("fstab_edits_match_sed_on_edge_cases", &["sed"]) {
        return;
    }
    let cases = [
        "# /etc/fstab\nUUID=old-root /                       xfs     defaults        0 0\nUUID=old-boot /boot\txfs defaults 0 0\nUUID=x /var xfs defaults 0 0\nLABEL=root / xfs 0 0\n",
        "UUID=a\t/ xfs\nUUID=a /\txfs\nUUID=a  / xfs\nUUID=a /bootx xfs\nUUID=a /boot/efi vfat\n",
        // OCNE's class `[a-zA-z0-9-]`: `A-z` spans [ \ ] ^ _ and the backtick.
        "UUID=[\\]^_`Az-09 / x\nUUID=a=b / x\nUUID=a.b / x\nUUID=\u{e9} /boot x\nUUID=/ / x\n",
        "UUID= / x\nUUID=UUID=a / x\nxUUID=a / x\n# UUID=c /boot\td\nuuid=a / x\n",
        // Several on one line, and a line that ends where the space would be.
        "UUID=a / UUID=b /boot\tUUID=c / UUID=d /var \nUUID=a /\nUUID=a /boot",
        "UUID=a / \r\nUUID=b /boot\r\nUUID=b /boot \r\n",
        "UUID=a /\t\t\tUUID=b /boot\t\t",
        "",
        "\n",
    ];
    for text in cases {
        check_fstab(text, "0c4f3a6e-1b2d-4e5f-8a9b-0c1d2e3f4a5b", "B00T-1").unwrap();
    }
}

#[test]
fn entry_edits_match_sed_on_edge_cases() {
    if !strata_testkit::peers::have("entry_edits_match_sed_on_edge_cases", &["sed"]) {
        return;
    }
    let old = "1111-aa";
    let entry = "title Oracle Linux Server 8.10 (ock)\nversion 1\nlinux /ostree/ock-abc/vmlinuz\ninitrd /ostree/ock-abc/initramfs.img\noptions rw ip=dhcp rd.neednet=1 ignition.platform.id=qemu ignition.firstboot=1 console=ttyS0 root=UUID=1111-aa ostree=/ostree/boot.1/ock/abc/0\n";
    let cases = [
        entry,
        "options a\noptions b 1111-aa\n options c\ntitle options x\noptions\noptionsx y\n#options z\noptions\tw\n",
        "options ignition.platform.id=qemu root=UUID=1111-aa 1111-aa1111-aa\noptions last",
        // The pattern's dots match any character: OCNE replaces these too, but not the
        // non-ASCII one (C locale), nor across lines.
        "options ignition_platform-id=qemu ignitionXplatform\0id=qemu ignition\u{e9}platform.id=qemu\noptions ignition\nplatform.id=qemu\n",
        "options ignition.platform.id=qemuignition.platform.id=qemu ignition.platform.id=qem\r\n",
        "linux console=ttyS0 console=ttyS01 xconsole=ttyS0\noptions console=ttyS0\n",
        "",
        "\n",
    ];
    let kargs = [
        "",
        "a=b x",
        "crashkernel=auto rd.debug ip=[::1]:x $^*.",
        "has!bang and|pipe /slash",
        "ignition.platform.id=qemu root=UUID=1111-aa",
    ];
    for text in cases {
        for (i, kargs) in kargs.iter().enumerate() {
            let edits = EntryEdits {
                provider: ["oci", "openstack", "my.provider-1"][i % 3].to_owned(),
                console_tty0: i % 2 == 1,
                kargs: (*kargs).to_owned(),
            };
            check_entry(text, &edits, old, "2222-bbbb").unwrap();
        }
    }
}

/// A UUID's value in an fstab: a real one, one of OCNE's class, or one with characters
/// outside it.
fn fstab_value() -> impl Strategy<Value = String> {
    prop_oneof![
        "[0-9a-f]{8}-[0-9a-f]{4}",
        "[a-zA-z0-9-]{0,8}",
        "[a-zA-z0-9=./ \u{e9}-]{0,5}",
    ]
}

/// One field of an fstab line: `UUID=<value>` (or another key) followed by a mount point,
/// separators and the rest.
fn fstab_field() -> impl Strategy<Value = String> {
    (
        select(vec![
            "UUID=", "UUID=", "UUID=", "UUID=", "LABEL=", "xUUID=", "# UUID=", "",
        ]),
        fstab_value(),
        select(vec![" ", " ", " ", "\t", "  ", ""]),
        select(vec![
            "/",
            "/",
            "/boot",
            "/boot",
            "/bootx",
            "/var",
            "/boot/efi",
            "/ boot",
        ]),
        select(vec![" ", "\t", " \t", "  ", "", "x", "\r"]),
        select(vec!["", "xfs defaults 0 0", "xfs\tdefaults\t0 0", " "]),
    )
        .prop_map(|(key, value, sep, mount, after, rest)| {
            format!("{key}{value}{sep}{mount}{after}{rest}")
        })
}

/// A text of lines, from `line`, with or without a last line break.
fn lines(line: impl Strategy<Value = String>, max: usize) -> impl Strategy<Value = String> {
    (prop::collection::vec(line, 0..max), any::<bool>()).prop_map(|(lines, last)| {
        let mut text = lines.join("\n");
        if last {
            text.push('\n');
        }
        text
    })
}

/// A new UUID as the guest reads it, or any value sed inserts as it is.
fn new_uuid() -> impl Strategy<Value = String> {
    prop_oneof!["[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}", "[a-zA-Z0-9-]{1,12}"]
}

#[test]
fn fstab_edits_match_sed_on_generated_fstabs() {
    if !strata_testkit::peers::have("fstab_edits_match_sed_on_generated_fstabs", &["sed"]) {
        return;
    }
    let fstab = lines(
        prop::collection::vec(fstab_field(), 1..4).prop_map(|f| f.concat()),
        8,
    );
    let mut runner = TestRunner::new(Config::with_cases(CASES));
    let result = runner.run(&(fstab, new_uuid(), new_uuid()), |(text, root, boot)| {
        check_fstab(&text, &root, &boot)
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}

/// A character where the pattern has a dot: mostly the dot, else anything.
fn dot() -> impl Strategy<Value = char> {
    prop_oneof![
        4 => Just('.'),
        4 => proptest::char::range(' ', '~'),
        1 => select(vec!['\t', '\0', '\r', '\n', '\u{e9}']),
    ]
}

/// A word of a loader entry; `old` is the old root UUID.
fn entry_word(old: String) -> impl Strategy<Value = String> {
    let platform = (dot(), dot(), select(vec!["", "", "2", "qemu"]))
        .prop_map(|(a, b, tail)| format!("ignition{a}platform{b}id=qemu{tail}"));
    let fixed = select(vec![
        "console=ttyS0",
        "console=ttyS01",
        "console=tty0",
        "ignition.platform.id=qem",
        "ostree=/ostree/boot.1/ock/abc/0",
        "rw",
        "options",
        "\u{e9}",
        "",
    ])
    .prop_map(str::to_owned);
    let uuid = select(vec![
        old.clone(),
        format!("root=UUID={old}"),
        format!("{old}{old}"),
        old[..old.len() - 1].to_owned(),
    ]);
    prop_oneof![3 => platform, 4 => fixed, 2 => uuid]
}

/// A loader entry line: a start (`options ` or something close) and words.
fn entry_line(old: String) -> impl Strategy<Value = String> {
    (
        select(vec![
            "options ",
            "options ",
            "options ",
            "title ",
            " options ",
            "options",
            "optionsx ",
            "#options ",
            "",
            "linux ",
            "options\t",
        ]),
        prop::collection::vec((entry_word(old), select(vec![" ", " ", "\t", ""])), 0..6),
    )
        .prop_map(|(start, words)| {
            let mut line = start.to_owned();
            for (word, sep) in words {
                line.push_str(&word);
                line.push_str(sep);
            }
            line
        })
}

/// The edits: a provider, the console, kernel arguments (none of `&`, `\`, `#` or a line
/// break; `#` so that OCNE's separator is one of `!`, `"` and `#`).
fn entry_edits(old: String) -> impl Strategy<Value = EntryEdits> {
    let kargs = prop_oneof![
        2 => Just(String::new()),
        3 => "[a-zA-Z0-9 =./,:_|!\"%+$^*\\[\\]-]{1,20}",
        1 => Just(format!("root=UUID={old} ignition.platform.id=qemu console=ttyS0")),
    ];
    ("[a-zA-Z0-9._-]{1,10}", any::<bool>(), kargs).prop_map(|(provider, console_tty0, kargs)| {
        EntryEdits {
            provider,
            console_tty0,
            kargs,
        }
    })
}

#[test]
fn entry_edits_match_sed_on_generated_entries() {
    if !strata_testkit::peers::have("entry_edits_match_sed_on_generated_entries", &["sed"]) {
        return;
    }
    let case = "[0-9a-f]{4}-[0-9a-f]{2,8}".prop_flat_map(|old: String| {
        (
            lines(entry_line(old.clone()), 7),
            entry_edits(old.clone()),
            Just(old),
            "[0-9a-f]{4}-[0-9a-f]{4}",
        )
    });
    let mut runner = TestRunner::new(Config::with_cases(CASES));
    let result = runner.run(&case, |(text, edits, old, new)| {
        check_entry(&text, &edits, &old, &new)
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}
