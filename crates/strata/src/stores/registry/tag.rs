//! The tags a registry store gives its revisions: `<name>_r<revision>`, the name escaped into
//! the tag alphabet so that any name reads back.

use super::{MAX_TAG, claim};

/// The tag of `name`'s `revision`: the name with every character outside `[A-Za-z0-9.-]`
/// (and a leading `.` or `-`) written `_xx` per UTF-8 byte, then `_r<revision>`. `_` followed
/// by `r` never comes out of the escaping (its digits are lowercase hex), so the last `_r`
/// splits a tag back. `None` when the tag with a claim's suffix (`_c` and 16 hex digits)
/// would pass the 128 characters a tag may have.
pub fn tag_of(name: &str, revision: u64) -> Option<String> {
    let mut tag = String::with_capacity(name.len() + 8);
    for (i, byte) in name.bytes().enumerate() {
        let plain = byte.is_ascii_alphanumeric() || (i > 0 && (byte == b'.' || byte == b'-'));
        if plain {
            tag.push(char::from(byte));
        } else {
            tag.push_str(&format!("_{byte:02x}"));
        }
    }
    tag.push_str(&format!("_r{revision}"));
    (tag.len() + claim::CLAIM_SUFFIX_LEN <= MAX_TAG && !name.is_empty()).then_some(tag)
}

/// The name and revision a tag of [`tag_of`]'s form stands for; `None` for any other tag.
pub fn parse_tag(tag: &str) -> Option<(String, u64)> {
    let (escaped, revision) = tag.rsplit_once("_r")?;
    if revision.is_empty() || !revision.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if revision.len() > 1 && revision.starts_with('0') {
        return None;
    }
    let revision = revision.parse().ok()?;
    let mut bytes = Vec::with_capacity(escaped.len());
    let mut rest = escaped.as_bytes();
    while let Some((&b, tail)) = rest.split_first() {
        if b == b'_' {
            let hex = tail.get(..2)?;
            if !hex.iter().all(|h| matches!(h, b'0'..=b'9' | b'a'..=b'f')) {
                return None;
            }
            bytes.push(u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?);
            rest = &tail[2..];
        } else {
            bytes.push(b);
            rest = tail;
        }
    }
    let name = String::from_utf8(bytes).ok()?;
    (tag_of(&name, revision).as_deref() == Some(tag)).then_some((name, revision))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_name_every_name_and_read_back() {
        for (name, revision, tag) in [
            ("centos7", 0, "centos7_r0"),
            ("a_r5", 3, "a_5fr5_r3"),
            ("centos/7:2004.01", 12, "centos_2f7_3a2004.01_r12"),
            (".hidden", 1, "_2ehidden_r1"),
            ("-x", 1, "_2dx_r1"),
            ("é", 0, "_c3_a9_r0"),
        ] {
            assert_eq!(tag_of(name, revision).as_deref(), Some(tag), "{name}");
            assert_eq!(parse_tag(tag), Some((name.to_owned(), revision)), "{tag}");
        }
        assert_eq!(tag_of("", 0), None);
        assert_eq!(tag_of(&"x".repeat(108), 0), None);
        assert!(tag_of(&"x".repeat(107), 0).is_some());
    }

    proptest::proptest! {
        /// Every name a tag can hold comes back from its tag, with its revision.
        #[test]
        fn every_name_comes_back_from_its_tag(name in "\\PC{1,40}", revision in proptest::num::u64::ANY) {
            if let Some(tag) = tag_of(&name, revision) {
                proptest::prop_assert!(tag.len() <= MAX_TAG);
                proptest::prop_assert!(tag.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b)));
                proptest::prop_assert_eq!(parse_tag(&tag), Some((name, revision)));
            }
        }

        /// No tag is read as a revision unless it is the tag of that revision.
        #[test]
        fn any_tag_reads_back_only_as_its_own(tag in "[A-Za-z0-9_][A-Za-z0-9._-]{0,60}") {
            if let Some((name, revision)) = parse_tag(&tag) {
                proptest::prop_assert_eq!(tag_of(&name, revision), Some(tag));
            }
        }
    }

    #[test]
    fn tags_strata_did_not_write_are_not_revisions() {
        for tag in [
            "latest", "v1.0", "x_r", "x_r01", "x_rx", "_zz_r0", "a_5F_r0", "a_2_r0", "_r0",
        ] {
            assert_eq!(parse_tag(tag), None, "{tag}");
        }
    }
}
