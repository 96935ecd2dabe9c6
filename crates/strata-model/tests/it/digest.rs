//! [`Digest`]: parsing of bare and prefixed sha256 digests, round trips and every refusal.

use proptest::prelude::*;
use strata_model::{Digest, DigestError};

/// sha256 of the empty string.
const EMPTY: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

#[test]
fn accepts_bare_and_prefixed_forms() {
    let bare: Digest = EMPTY.parse().unwrap();
    let prefixed: Digest = format!("sha256:{EMPTY}").parse().unwrap();
    assert_eq!(bare, prefixed);
    assert_eq!(bare.hex(), EMPTY);
    assert_eq!(bare.prefixed(), format!("sha256:{EMPTY}"));
    assert_eq!(bare.to_string(), format!("sha256:{EMPTY}"));
    assert_eq!(bare.fan_out(), "e3");
    assert_eq!(
        serde_json::to_string(&bare).unwrap(),
        format!("\"sha256:{EMPTY}\"")
    );
    assert_eq!(
        serde_json::from_str::<Digest>(&format!("\"{EMPTY}\"")).unwrap(),
        bare
    );
}

#[test]
fn every_refusal_has_its_variant_and_text() {
    let upper = EMPTY.to_uppercase();
    let cases: Vec<(String, DigestError, String)> = vec![
        (
            format!("md5:{EMPTY}"),
            DigestError::UnsupportedAlgorithm {
                algorithm: "md5".into(),
            },
            "Only sha256 is supported currently".into(),
        ),
        (
            format!("SHA256:{EMPTY}"),
            DigestError::UnsupportedAlgorithm {
                algorithm: "SHA256".into(),
            },
            "Only sha256 is supported currently".into(),
        ),
        (
            format!(":{EMPTY}"),
            DigestError::UnsupportedAlgorithm {
                algorithm: String::new(),
            },
            "Only sha256 is supported currently".into(),
        ),
        (
            upper.clone(),
            DigestError::Uppercase {
                digest: upper.clone(),
            },
            format!("Bad sha256 digest \"{upper}\": hex digits must be lowercase"),
        ),
        (
            format!("sha256:{upper}"),
            DigestError::Uppercase {
                digest: format!("sha256:{upper}"),
            },
            format!("Bad sha256 digest \"sha256:{upper}\": hex digits must be lowercase"),
        ),
        (
            format!("{}g", &EMPTY[..63]),
            DigestError::NotHex {
                digest: format!("{}g", &EMPTY[..63]),
                ch: 'g',
            },
            format!(
                "Bad sha256 digest \"{}g\": 'g' is not a hex digit",
                &EMPTY[..63]
            ),
        ),
        (
            format!("sha256:{EMPTY}:x"),
            DigestError::NotHex {
                digest: format!("sha256:{EMPTY}:x"),
                ch: ':',
            },
            format!("Bad sha256 digest \"sha256:{EMPTY}:x\": ':' is not a hex digit"),
        ),
        (
            EMPTY[..63].to_owned(),
            DigestError::BadLength {
                digest: EMPTY[..63].to_owned(),
                len: 63,
            },
            format!(
                "Bad sha256 digest \"{}\": expected 64 hex digits, found 63",
                &EMPTY[..63]
            ),
        ),
        (
            format!("{EMPTY}0"),
            DigestError::BadLength {
                digest: format!("{EMPTY}0"),
                len: 65,
            },
            format!("Bad sha256 digest \"{EMPTY}0\": expected 64 hex digits, found 65"),
        ),
        (
            String::new(),
            DigestError::BadLength {
                digest: String::new(),
                len: 0,
            },
            "Bad sha256 digest \"\": expected 64 hex digits, found 0".into(),
        ),
        (
            "sha256:".into(),
            DigestError::BadLength {
                digest: "sha256:".into(),
                len: 0,
            },
            "Bad sha256 digest \"sha256:\": expected 64 hex digits, found 0".into(),
        ),
    ];
    for (input, variant, text) in cases {
        let err = input.parse::<Digest>().unwrap_err();
        assert_eq!(err, variant, "{input:?}");
        assert_eq!(err.to_string(), text, "{input:?}");
        let json = serde_json::to_string(&input).unwrap();
        let serde_err = serde_json::from_str::<Digest>(&json).unwrap_err();
        assert_eq!(serde_err.to_string(), text, "serde {input:?}");
    }
}

proptest! {
    #[test]
    fn display_and_serde_round_trip(bytes in any::<[u8; 32]>()) {
        let d = Digest::from_bytes(bytes);
        prop_assert_eq!(d.to_bytes(), bytes);
        prop_assert_eq!(d.to_string().parse::<Digest>().unwrap(), d.clone());
        prop_assert_eq!(d.hex().parse::<Digest>().unwrap(), d.clone());
        prop_assert_eq!(d.fan_out(), &d.hex()[..2]);
        let json = serde_json::to_string(&d).unwrap();
        prop_assert_eq!(serde_json::from_str::<Digest>(&json).unwrap(), d);
    }

    #[test]
    fn lowercase_hex_parses_to_itself(hex in "[0-9a-f]{64}") {
        let d: Digest = hex.parse().unwrap();
        prop_assert_eq!(d.hex(), hex.as_str());
    }
}
