//! Dialect names: [`PcoccName`], [`TransientName`] (and its file-name encoding) and [`OneName`]:
//! round trips and every refusal.

use proptest::prelude::*;
use strata_model::name::{ONE_INVALID_NAME_CHARS, is_pcocc_safe};
use strata_model::{NameError, OneName, PcoccName, TransientName};

/// Asserts that parsing `input` as `T` fails with exactly `variant` and `text`, both directly and
/// through serde.
fn assert_refused<T>(input: &str, variant: &NameError, text: &str)
where
    T: std::str::FromStr<Err = NameError> + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let err = input.parse::<T>().expect_err(input);
    assert_eq!(&err, variant, "{input:?}");
    assert_eq!(err.to_string(), text, "{input:?}");
    let json = serde_json::to_string(input).expect("a string serialises");
    let serde_err = serde_json::from_str::<T>(&json).expect_err(input);
    assert_eq!(serde_err.to_string(), text, "serde {input:?}");
}

// ---------------------------------------------------------------------------------------------
// pcocc

#[test]
fn pcocc_refusals() {
    let invalid = "Object name contains invalid characters";
    let cases: Vec<(&str, NameError, &str)> = vec![
        ("", NameError::PcoccEmpty, "Empty object name"),
        (
            "centos/7",
            NameError::PcoccInvalidChars {
                name: "centos/7".into(),
            },
            invalid,
        ),
        (
            "a:b",
            NameError::PcoccInvalidChars { name: "a:b".into() },
            invalid,
        ),
        (
            "a@1",
            NameError::PcoccInvalidChars { name: "a@1".into() },
            invalid,
        ),
        (
            "with space",
            NameError::PcoccInvalidChars {
                name: "with space".into(),
            },
            invalid,
        ),
        (
            "é",
            NameError::PcoccInvalidChars { name: "é".into() },
            invalid,
        ),
        (
            "a\n",
            NameError::PcoccInvalidChars { name: "a\n".into() },
            invalid,
        ),
    ];
    for (input, variant, text) in &cases {
        assert_refused::<PcoccName>(input, variant, text);
    }
}

#[test]
fn pcocc_accepts_its_alphabet() {
    for name in ["centos7-cloud", "A.b_c-9", ".", "..", "-"] {
        assert_eq!(name.parse::<PcoccName>().unwrap().as_str(), name);
        assert!(is_pcocc_safe(name));
    }
}

// ---------------------------------------------------------------------------------------------
// transient

#[test]
fn transient_reference_examples() {
    // Reference §2.2, from transient's test/unit/test_store.py.
    for (name, file) in [
        ("centos/7:2004.01", "centos%2F7%3A2004.01"),
        ("generic/alpine38:v3.0.2", "generic%2Falpine38%3Av3.0.2"),
        ("my-new-backend", "my%2Dnew%2Dbackend"),
        ("with space", "with%20space"),
    ] {
        let n: TransientName = name.parse().unwrap();
        assert_eq!(n.file_name(), file);
        assert_eq!(TransientName::from_file_name(file).unwrap(), n);
        assert!(TransientName::is_image_file_name(file));
    }
}

#[test]
fn transient_keeps_only_its_safe_set() {
    let n: TransientName = "Az09_.~-/:é%".parse().unwrap();
    assert_eq!(n.file_name(), "Az09_.~%2D%2F%3A%C3%A9%25");
    assert!(!n.is_pcocc_safe());
    assert!(
        "plain-name.1"
            .parse::<TransientName>()
            .unwrap()
            .is_pcocc_safe()
    );
}

#[test]
fn transient_refusals() {
    let cases: Vec<(&str, NameError, &str)> = vec![
        ("", NameError::TransientEmpty, "Image name cannot be empty"),
        (
            "a\0b",
            NameError::TransientNul {
                name: "a\0b".into(),
            },
            "Image name \"a\\0b\" contains a NUL character",
        ),
        (
            ".",
            NameError::TransientDotName { name: ".".into() },
            "Image name \".\" is reserved: it is a special file name",
        ),
        (
            "..",
            NameError::TransientDotName { name: "..".into() },
            "Image name \"..\" is reserved: it is a special file name",
        ),
    ];
    for (input, variant, text) in &cases {
        assert_refused::<TransientName>(input, variant, text);
    }
}

#[test]
fn transient_file_name_refusals() {
    let malformed = |f: &str, offset| NameError::MalformedEscape {
        file_name: f.into(),
        offset,
    };
    let cases: Vec<(&str, NameError, &str)> = vec![
        (
            "%",
            malformed("%", 0),
            "Bad image file name \"%\": malformed percent-escape at byte 0",
        ),
        (
            "a%2",
            malformed("a%2", 1),
            "Bad image file name \"a%2\": malformed percent-escape at byte 1",
        ),
        (
            "ab%zz",
            malformed("ab%zz", 2),
            "Bad image file name \"ab%zz\": malformed percent-escape at byte 2",
        ),
        (
            "%C3%A9%",
            malformed("%C3%A9%", 6),
            "Bad image file name \"%C3%A9%\": malformed percent-escape at byte 6",
        ),
        (
            "%FF",
            NameError::NotUtf8 {
                file_name: "%FF".into(),
            },
            "Bad image file name \"%FF\": it does not decode to UTF-8 text",
        ),
        (
            "%2f",
            NameError::NonCanonical {
                file_name: "%2f".into(),
                name: "/".into(),
                expected: "%2F".into(),
            },
            "Bad image file name \"%2f\": the name \"/\" is encoded as \"%2F\"",
        ),
        (
            "%41",
            NameError::NonCanonical {
                file_name: "%41".into(),
                name: "A".into(),
                expected: "A".into(),
            },
            "Bad image file name \"%41\": the name \"A\" is encoded as \"A\"",
        ),
        (
            "my-vm",
            NameError::NonCanonical {
                file_name: "my-vm".into(),
                name: "my-vm".into(),
                expected: "my%2Dvm".into(),
            },
            "Bad image file name \"my-vm\": the name \"my-vm\" is encoded as \"my%2Dvm\"",
        ),
        ("", NameError::TransientEmpty, "Image name cannot be empty"),
        (
            "%00",
            NameError::TransientNul { name: "\0".into() },
            "Image name \"\\0\" contains a NUL character",
        ),
        (
            "..",
            NameError::TransientDotName { name: "..".into() },
            "Image name \"..\" is reserved: it is a special file name",
        ),
        (
            "%2E",
            NameError::TransientDotName { name: ".".into() },
            "Image name \".\" is reserved: it is a special file name",
        ),
    ];
    for (file, variant, text) in cases {
        let err = TransientName::from_file_name(file).unwrap_err();
        assert_eq!(err, variant, "{file:?}");
        assert_eq!(err.to_string(), text, "{file:?}");
    }
}

#[test]
fn transient_image_file_names() {
    for (file, image) in [
        ("centos%2F7", true),
        ("a", true),
        ("", false),
        ("vm-frontend", false),
        ("-", false),
    ] {
        assert_eq!(TransientName::is_image_file_name(file), image, "{file:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// OpenNebula

#[test]
fn one_refusals() {
    let mut cases: Vec<(String, NameError, String)> = vec![
        (
            "".into(),
            NameError::OneEmpty,
            "Invalid NAME, it cannot be empty".into(),
        ),
        (
            "a".repeat(129),
            NameError::OneTooLong {
                name: "a".repeat(129),
                len: 129,
            },
            "Invalid NAME, max length is 128 chars".into(),
        ),
        (
            "é".repeat(65),
            NameError::OneTooLong {
                name: "é".repeat(65),
                len: 130,
            },
            "Invalid NAME, max length is 128 chars".into(),
        ),
        // The first offending character is named, even past the length limit.
        (
            format!("{}a<b>", "x".repeat(200)),
            NameError::OneInvalidChar {
                name: format!("{}a<b>", "x".repeat(200)),
                ch: '<',
            },
            "Invalid NAME, char '<' is not allowed".into(),
        ),
    ];
    for ch in ONE_INVALID_NAME_CHARS.chars() {
        let name = format!("img{ch}1");
        cases.push((
            name.clone(),
            NameError::OneInvalidChar { name, ch },
            format!("Invalid NAME, char '{ch}' is not allowed"),
        ));
    }
    // PoolObjectSQL.cc: "&|:\\\";/'#{}$<>\t\n\v\f\r", 19 characters.
    assert_eq!(ONE_INVALID_NAME_CHARS, "&|:\\\";/'#{}$<>\t\n\x0B\x0C\r");
    assert_eq!(ONE_INVALID_NAME_CHARS.chars().count(), 19);
    for (input, variant, text) in &cases {
        assert_refused::<OneName>(input, variant, text);
    }
    assert_eq!(
        "a\rb".parse::<OneName>().unwrap_err().to_string(),
        "Invalid NAME, char '\r' is not allowed"
    );
}

#[test]
fn one_accepts_spaces_and_up_to_128_bytes() {
    for name in [
        "Ubuntu 22.04",
        "a".repeat(128).as_str(),
        "é".repeat(64).as_str(),
        "a-b.c_d",
    ] {
        assert_eq!(name.parse::<OneName>().unwrap().as_str(), name);
    }
    assert!("a-b.c_d".parse::<OneName>().unwrap().is_pcocc_safe());
    assert!(!"Ubuntu 22.04".parse::<OneName>().unwrap().is_pcocc_safe());
}

// ---------------------------------------------------------------------------------------------
// Properties

proptest! {
    #[test]
    fn pcocc_round_trips(s in "[A-Za-z0-9_.-]{1,40}") {
        let n: PcoccName = s.parse().unwrap();
        prop_assert_eq!(n.as_str(), s.as_str());
        prop_assert_eq!(n.to_string().parse::<PcoccName>().unwrap(), n.clone());
        let json = serde_json::to_string(&n).unwrap();
        prop_assert_eq!(serde_json::from_str::<PcoccName>(&json).unwrap(), n);
    }

    #[test]
    fn pcocc_refuses_any_other_character(
        before in "[A-Za-z0-9_.-]{0,8}",
        bad in "[^A-Za-z0-9_.-]",
        after in "[A-Za-z0-9_.-]{0,8}",
    ) {
        let s = format!("{before}{bad}{after}");
        prop_assert_eq!(s.parse::<PcoccName>(), Err(NameError::PcoccInvalidChars { name: s.clone() }));
    }

    #[test]
    fn transient_round_trips(
        s in "[^\\x00]{1,40}".prop_filter("special file names", |s| s != "." && s != ".."),
    ) {
        let n: TransientName = s.parse().unwrap();
        prop_assert_eq!(n.to_string().parse::<TransientName>().unwrap(), n.clone());
        let json = serde_json::to_string(&n).unwrap();
        prop_assert_eq!(serde_json::from_str::<TransientName>(&json).unwrap(), n.clone());

        let file = n.file_name();
        prop_assert!(file.bytes().all(|b| b.is_ascii_alphanumeric() || b"_.~%".contains(&b)));
        prop_assert!(TransientName::is_image_file_name(&file));
        prop_assert_eq!(TransientName::from_file_name(&file).unwrap(), n);
    }

    #[test]
    fn one_round_trips(s in "[^&|:\\\\\";/'#{}$<>\\t\\n\\x0B\\x0C\\r]{1,32}") {
        let n: OneName = s.parse().unwrap();
        prop_assert_eq!(n.to_string().parse::<OneName>().unwrap(), n.clone());
        let json = serde_json::to_string(&n).unwrap();
        prop_assert_eq!(serde_json::from_str::<OneName>(&json).unwrap(), n);
    }
}
