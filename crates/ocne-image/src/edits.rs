//! The text edits `ocne image create` makes to a boot image (modify-image.sh in
//! pkg/commands/image/create/scripts.go and olvm_scripts.go of OCNE), as pure functions: the
//! build VM ([`crate::guest`]) reads the files out of the image, these functions edit them, and
//! the VM writes them back. OCNE runs `sed` over the files; doing the edits here keeps their
//! meaning exact whatever the text holds (a kernel argument with `&`, `\` or `/` is appended as
//! it is, where a sed replacement would read them as operators) and testable without a VM.
//!
//! Also here: the files `-t oci` installs in the deployment (the dhclient hooks OCI's network
//! needs; strata's own scripts for the same three paths, see [`OCI_HOOKS`]).

use crate::error::Error;

/// The boot loader entry, relative to the boot partition (the second).
pub const LOADER_ENTRY: &str = "loader/entries/ostree-1-ock.conf";

/// What a provider's edits are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryEdits {
    /// The ignition platform id that replaces `qemu`.
    pub provider: String,
    /// Whether `console=ttyS0` becomes `console=tty0` (`-t olvm`).
    pub console_tty0: bool,
    /// Kernel arguments appended to every `options ` line (empty: none).
    pub kargs: String,
}

/// Checks `-i` as OCNE does: no whitespace.
pub fn check_provider(provider: &str) -> Result<(), Error> {
    if provider.contains([' ', '\t', '\n']) {
        return Err(Error::BadProvider {
            provider: provider.to_owned(),
        });
    }
    Ok(())
}

/// Checks `-K`: one line (OCNE puts it in a sed command, which a line break would end).
pub fn check_kargs(kargs: &str) -> Result<(), Error> {
    if kargs.contains(['\n', '\r']) {
        return Err(Error::BadKernelArgs);
    }
    Ok(())
}

/// The loader entry with `edits` applied and the old root UUID replaced by the new one, byte
/// for byte as OCNE's sed commands leave it (`tests/it/sed_oracle.rs` runs GNU sed beside it),
/// with two deliberate differences:
///
/// - the provider, the kernel arguments and the new UUID are inserted as they are, where sed
///   would read `&` and `\` in them as operators (and OCNE's `/` delimiter ends its command);
/// - an empty `old_root` replaces nothing, where sed's `s//…/g` has no previous regular
///   expression to reuse and fails (OCNE's script then stops; strata's guest never passes an
///   empty UUID).
///
/// OCNE's pattern `ignition.platform.id=qemu` is a regular expression: each `.` matches any
/// character but a line break, so `ignition_platform-id=qemu` is replaced too
/// (`replace_platform_id`).
pub fn edit_entry(text: &str, edits: &EntryEdits, old_root: &str, new_root: &str) -> String {
    let mut text = replace_platform_id(text, &edits.provider);
    if edits.console_tty0 {
        text = text.replace("console=ttyS0", "console=tty0");
    }
    if !edits.kargs.is_empty() {
        text = text
            .split_inclusive('\n')
            .map(|line| {
                if !line.starts_with("options ") {
                    return line.to_owned();
                }
                let (body, end) = match line.strip_suffix('\n') {
                    Some(body) => (body, "\n"),
                    None => (line, ""),
                };
                format!("{body} {}{end}", edits.kargs)
            })
            .collect();
    }
    if !old_root.is_empty() {
        text = text.replace(old_root, new_root);
    }
    text
}

/// OCNE's `s/ignition.platform.id=qemu/ignition.platform.id=<provider>/g`: every match of the
/// pattern, whose two dots match any character but a line break, becomes
/// `ignition.platform.id=<provider>` (with literal dots), left to right without overlaps.
///
/// A dot matches one byte, as in the C locale (the pod OCNE runs its script in sets no locale
/// variable): between two ASCII letters that is an ASCII character in UTF-8 text, so a
/// non-ASCII character there is not matched (sed in a UTF-8 locale would match it).
fn replace_platform_id(text: &str, provider: &str) -> String {
    const PATTERN: &[u8] = b"ignition.platform.id=qemu";
    let bytes = text.as_bytes();
    let matches_at = |at: usize| {
        bytes.get(at..at + PATTERN.len()).is_some_and(|window| {
            window.iter().zip(PATTERN).all(|(&b, &p)| {
                if p == b'.' {
                    b.is_ascii() && b != b'\n'
                } else {
                    b == p
                }
            })
        })
    };
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut i = 0;
    while i < bytes.len() {
        // A match starts with `i` and ends with `u`, both ASCII: the slices stay on character
        // boundaries.
        if matches_at(i) {
            out.push_str(&text[copied..i]);
            out.push_str("ignition.platform.id=");
            out.push_str(provider);
            i += PATTERN.len();
            copied = i;
        } else {
            i += 1;
        }
    }
    out.push_str(&text[copied..]);
    out
}

/// The deployment the entry boots: the value of its first `ostree=` argument (a path on the
/// root partition, such as `/ostree/boot.1/ock/<checksum>/0`).
pub fn deployment(entry: &str) -> Option<&str> {
    let at = entry.find("ostree=")?;
    let value = &entry[at + "ostree=".len()..];
    // grep -o 'ostree=[^ ]*' on a line: the value ends at a space or the line's end.
    let end = value.find([' ', '\n']).unwrap_or(value.len());
    let value = &value[..end];
    // `cut -d= -f2`: the value stops at a further `=`.
    let value = value.split('=').next().unwrap_or(value);
    (!value.is_empty()).then_some(value)
}

/// The deployment's fstab with the `/` and `/boot` lines mounting the new UUIDs
/// (`UUID=<old> /` and `UUID=<old> /boot`, followed by a space or a tab), byte for byte as
/// OCNE's two sed commands leave it (the UUIDs inserted as they are).
pub fn edit_fstab(text: &str, root_uuid: &str, boot_uuid: &str) -> String {
    let text = replace_uuid_mount(text, " /", &format!("UUID={root_uuid} / "));
    replace_uuid_mount(&text, " /boot", &format!("UUID={boot_uuid} /boot "))
}

/// Replaces every `UUID=<id><mount><space or tab>` by `with`, where `<id>` is what OCNE's
/// pattern `[a-zA-z0-9-]*` takes (its `A-z` also spans ``[\]^_` ``).
fn replace_uuid_mount(text: &str, mount: &str, with: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut i = 0;
    while let Some(found) = text[i..].find("UUID=") {
        let start = i + found;
        let mut j = start + "UUID=".len();
        while j < bytes.len()
            && (bytes[j].is_ascii_digit() || (b'A'..=b'z').contains(&bytes[j]) || bytes[j] == b'-')
        {
            j += 1;
        }
        let after = j + mount.len();
        if text[j..].starts_with(mount) && matches!(bytes.get(after), Some(b' ' | b'\t')) {
            out.push_str(&text[copied..start]);
            out.push_str(with);
            copied = after + 1;
            i = copied;
        } else {
            i = start + 1;
        }
    }
    out.push_str(&text[copied..]);
    out
}

/// A file `-t oci` installs in the deployment: its path under the deployment, and its text
/// (mode 0755).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hook {
    /// The path, relative to the deployment's root.
    pub path: &'static str,
    /// The script.
    pub text: &'static str,
}

/// The OCI network hooks, at the paths OCNE installs its own: NetworkManager's dispatcher runs
/// the dhclient.d hooks, whose `oci` hook runs the script that sets the hostname, `/etc/hosts`
/// and the resolver's search domains from OCI's instance metadata service. OCNE copies Oracle
/// Linux 8's scripts (GPL-2.0); these are strata's own, doing the same job in fewer lines, and
/// honour the same `/etc/oci-hostname.conf` (`PRESERVE_HOSTINFO`).
pub const OCI_HOOKS: [Hook; 3] = [
    Hook {
        path: "etc/oci-dhclient.sh",
        text: include_str!("hooks/oci-dhclient.sh"),
    },
    Hook {
        path: "etc/dhcp/dhclient.d/oci.sh",
        text: include_str!("hooks/oci.sh"),
    },
    Hook {
        path: "etc/NetworkManager/dispatcher.d/11-dhclient",
        text: include_str!("hooks/11-dhclient"),
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    const ENTRY: &str = "title Oracle Linux\nversion 1\nlinux /ostree/ock-abc/vmlinuz\noptions rw ip=dhcp rd.neednet=1 ignition.platform.id=qemu ignition.firstboot=1 console=ttyS0 root=UUID=1111-aa ostree=/ostree/boot.1/ock/abc/0\n";

    #[test]
    fn the_entry_gets_the_provider_the_arguments_and_the_new_root() {
        let edits = EntryEdits {
            provider: "oci".into(),
            console_tty0: false,
            kargs: "a=b&c x\\y /z".into(),
        };
        let out = edit_entry(ENTRY, &edits, "1111-aa", "2222-bb");
        assert_eq!(
            out,
            "title Oracle Linux\nversion 1\nlinux /ostree/ock-abc/vmlinuz\noptions rw ip=dhcp rd.neednet=1 ignition.platform.id=oci ignition.firstboot=1 console=ttyS0 root=UUID=2222-bb ostree=/ostree/boot.1/ock/abc/0 a=b&c x\\y /z\n"
        );
        let olvm = EntryEdits {
            provider: "openstack".into(),
            console_tty0: true,
            kargs: String::new(),
        };
        let out = edit_entry(ENTRY, &olvm, "1111-aa", "2222-bb");
        assert!(out.contains("ignition.platform.id=openstack"));
        assert!(out.contains(" console=tty0 "));
        assert_eq!(deployment(&out), Some("/ostree/boot.1/ock/abc/0"));
    }

    #[test]
    fn the_dots_of_ocne_s_platform_pattern_match_one_ascii_character() {
        let edits = EntryEdits {
            provider: "oci".into(),
            console_tty0: false,
            kargs: String::new(),
        };
        let entry = "options ignition_platform-id=qemu ignition\u{e9}platform.id=qemu ignition\nplatform.id=qemu ignition.platform.id=qemuignition.platform.id=qemu\n";
        assert_eq!(
            edit_entry(entry, &edits, "", ""),
            "options ignition.platform.id=oci ignition\u{e9}platform.id=qemu ignition\nplatform.id=qemu ignition.platform.id=ociignition.platform.id=oci\n"
        );
    }

    #[test]
    fn the_fstab_mounts_the_new_uuids() {
        let fstab = "# comment\nUUID=old-root /                       xfs     defaults        0 0\nUUID=old-boot /boot\txfs defaults 0 0\nUUID=x /var xfs defaults 0 0\nLABEL=a / xfs 0 0\n";
        assert_eq!(
            edit_fstab(fstab, "R", "B"),
            "# comment\nUUID=R /                       xfs     defaults        0 0\nUUID=B /boot xfs defaults 0 0\nUUID=x /var xfs defaults 0 0\nLABEL=a / xfs 0 0\n"
        );
    }

    #[test]
    fn providers_and_arguments_are_checked() {
        assert!(check_provider("oci").is_ok());
        assert_eq!(
            check_provider("o ci").unwrap_err().to_string(),
            "'o ci' is not a valid ignition provider"
        );
        assert!(check_kargs("a b").is_ok());
        assert!(check_kargs("a\nb").is_err());
        assert_eq!(deployment("options root=x"), None);
    }
}
