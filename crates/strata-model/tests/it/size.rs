//! Byte sizes in each dialect: qemu-img/pcocc parsing, pcocc, transient and OpenNebula
//! formatting, transient Imagefile and OpenNebula `--size` parsing.

use proptest::prelude::*;
use strata_model::size::{
    ByteSize, EIB, GIB, ImagefileSize, ImagefileUnit, KIB, MIB, ONE_MAX_MB, OneUnit, PIB,
    QEMU_IMG_MAX, SizeError, TIB, one_unit_to_str,
};

// ---------------------------------------------------------------------------------------------
// qemu-img (pcocc `image resize IMAGE NEW_SZ`)
// ---------------------------------------------------------------------------------------------

/// Sizes and what `qemu-img create -f raw x.img -- SIZE` (qemu-img 10.0.2) reported as
/// `size=...`.
const QEMU_ACCEPTS: &[(&str, u64)] = &[
    ("20G", 21_474_836_480),
    ("512M", 536_870_912),
    ("1.5G", 1_610_612_736),
    ("1024", 1024),
    ("1k", 1024),
    ("1K", 1024),
    ("1b", 1),
    ("1B", 1),
    ("5m", 5_242_880),
    ("1T", 1_099_511_627_776),
    ("1P", 1_125_899_906_842_624),
    ("1E", 1_152_921_504_606_846_976),
    ("7.99E", 9_211_842_821_808_707_328),
    ("0x10", 16),
    ("0X1F", 31),
    ("0xa", 10),
    ("0x10b", 267),
    ("0x0", 0),
    (" 5M", 5_242_880),
    ("\t5M", 5_242_880),
    ("\n5M", 5_242_880),
    ("+5M", 5_242_880),
    (" 0x10", 16),
    ("+0x10", 16),
    ("00012", 12),
    (".5G", 536_870_912),
    ("+.5k", 512),
    ("5.G", 5_368_709_120),
    ("5.", 5),
    ("1.k", 1024),
    ("1.0b", 1),
    ("1.0", 1),
    ("1.00", 1),
    ("0.5k", 512),
    ("0.3M", 314_573),
    ("1.1k", 1126),
    ("1.5k", 1536),
    ("1.1e", 1_268_213_655_067_531_680),
    ("1.5E", 1_729_382_256_910_270_464),
    ("1.5e", 1_729_382_256_910_270_464),
    ("1e", 1_152_921_504_606_846_976),
    ("1.5p", 1_688_849_860_263_936),
    ("0.99999999999999999999k", 1024),
    ("1.99999999999999999999k", 2048),
    ("1.00000000000000000000001M", 1_048_576),
    ("1.0000000000000000001k", 1024),
    ("0.0000000000000000000000000000001E", 0),
    ("0.0000001k", 0),
    ("0.00049k", 1),
    ("0.00048828125k", 1),
    ("0.000488281249k", 0),
    ("7.9999999999999999E", 9_223_372_036_854_775_680),
    ("9223372036854775807", 9_223_372_036_854_775_807),
];

#[test]
fn qemu_img_accepts() {
    for &(text, bytes) in QEMU_ACCEPTS {
        assert_eq!(
            ByteSize::parse_qemu_img(text),
            Ok(ByteSize(bytes)),
            "{text:?}"
        );
        assert_eq!(text.parse::<ByteSize>(), Ok(ByteSize(bytes)), "{text:?}");
    }
}

/// Sizes qemu-img 10.0.2 refused with `Invalid image size specified: '...'.`
const QEMU_INVALID: &[&str] = &[
    "",
    " ",
    "k",
    ".",
    ".M",
    ".5",
    "1.5",
    "0.5",
    "1.5b",
    "1.9b",
    "1.1b",
    "0.5b",
    "0.5000000000000000000001b",
    "5M ",
    "5 M",
    "1.5 k",
    "5MB",
    "5MM",
    "1k5",
    "5-",
    "++5",
    "+ 5",
    "-1k",
    "-.5k",
    "1e3",
    "1e3K",
    "1.5e0G",
    "1.5e-3k",
    "1,5G",
    "1_000",
    "1..5k",
    "1.-5k",
    "1.+5k",
    "1. 5k",
    "1.5.5k",
    "1.0x",
    "0x",
    "00x10",
    "0x1k",
    "0x10M",
    "0x1.0",
    "0x1.8G",
    "0b101",
    "inf",
    "nan",
    "\u{661}",
    "99999999999999999999G",
];

/// Sizes qemu-img 10.0.2 refused with `Invalid image size specified. Must be between 0 and
/// 9223372036854775807.`
const QEMU_OUT_OF_RANGE: &[&str] = &[
    "-1",
    "-0",
    "16E",
    "15.9E",
    "8E",
    "8191.99999999999999E",
    "9223372036854775808",
    "18446744073709550591",
    "18446744073709551616",
    "0x10000000000000000",
];

#[test]
fn qemu_img_refusals_name_the_text() {
    for &text in QEMU_INVALID {
        let err = ByteSize::parse_qemu_img(text).unwrap_err();
        assert_eq!(
            err,
            SizeError::Invalid {
                text: text.to_owned()
            },
            "{text:?}"
        );
        assert_eq!(
            err.to_string(),
            format!("Invalid image size specified: '{text}'.")
        );
    }
    for &text in QEMU_OUT_OF_RANGE {
        let err = ByteSize::parse_qemu_img(text).unwrap_err();
        assert_eq!(
            err,
            SizeError::OutOfRange {
                text: text.to_owned(),
                max: QEMU_IMG_MAX
            }
        );
        assert_eq!(
            err.to_string(),
            "Invalid image size specified. Must be between 0 and 9223372036854775807."
        );
    }
}

#[test]
fn qemu_syntax_alone_spans_u64() {
    // Above INT64_MAX only qemu-img's own limit refuses; the syntax reaches u64::MAX.
    assert_eq!(ByteSize::parse_qemu("8E"), Ok(ByteSize(8 * EIB)));
    assert_eq!(
        ByteSize::parse_qemu("18446744073709551615"),
        Ok(ByteSize(u64::MAX))
    );
    let table: &[(&str, SizeError, &str)] = &[
        (
            "16E",
            SizeError::OutOfRange {
                text: "16E".into(),
                max: u64::MAX,
            },
            "Invalid image size specified. Must be between 0 and 18446744073709551615.",
        ),
        (
            "-5",
            SizeError::OutOfRange {
                text: "-5".into(),
                max: u64::MAX,
            },
            "Invalid image size specified. Must be between 0 and 18446744073709551615.",
        ),
        (
            "99999999999999999999G",
            SizeError::Invalid {
                text: "99999999999999999999G".into(),
            },
            "Invalid image size specified: '99999999999999999999G'.",
        ),
    ];
    for (text, want, message) in table {
        let err = ByteSize::parse_qemu(text).unwrap_err();
        assert_eq!(&err, want);
        assert_eq!(err.to_string(), *message);
    }
}

#[test]
fn qemu_display_uses_the_largest_exact_suffix() {
    let table: &[(u64, &str)] = &[
        (0, "0"),
        (1, "1"),
        (1536, "1536"),
        (KIB, "1K"),
        (20 * GIB, "20G"),
        (512 * MIB, "512M"),
        (3 * GIB / 2, "1536M"),
        (TIB, "1T"),
        (3 * PIB, "3P"),
        (8 * EIB, "8E"),
        (u64::MAX, "18446744073709551615"),
    ];
    for &(bytes, text) in table {
        assert_eq!(ByteSize(bytes).to_string(), text);
        assert_eq!(ByteSize(bytes).to_qemu_string(), text);
    }
}

proptest! {
    #[test]
    fn qemu_display_parses_back(bytes in any::<u64>()) {
        let size = ByteSize(bytes);
        prop_assert_eq!(size.to_string().parse::<ByteSize>(), Ok(size));
        if bytes <= QEMU_IMG_MAX {
            prop_assert_eq!(ByteSize::parse_qemu_img(&size.to_string()), Ok(size));
        }
    }

    #[test]
    fn qemu_whole_numbers_with_suffix(n in 0u64..1 << 20, suffix in 0usize..7, lower in any::<bool>()) {
        let (letter, mul) = [('B', 1), ('K', KIB), ('M', MIB), ('G', GIB), ('T', TIB), ('P', PIB), ('E', EIB)][suffix];
        let letter = if lower { letter.to_ascii_lowercase() } else { letter };
        let text = format!("{n}{letter}");
        match n.checked_mul(mul) {
            Some(bytes) => prop_assert_eq!(ByteSize::parse_qemu(&text), Ok(ByteSize(bytes))),
            None => prop_assert_eq!(
                ByteSize::parse_qemu(&text),
                Err(SizeError::OutOfRange { text: text.clone(), max: u64::MAX })
            ),
        }
    }

    #[test]
    fn qemu_never_panics(text in "[ +\\-.0-9xXbBkKmMgGtTpPeE]{0,24}") {
        let _ = ByteSize::parse_qemu(&text);
    }
}

// ---------------------------------------------------------------------------------------------
// pcocc `image show`
// ---------------------------------------------------------------------------------------------

#[test]
fn pcocc_formatted_file_size() {
    // Expected texts are what pcocc's `formatted_file_size` prints (Python 3), and for 1 TiB
    // up our TB extension.
    let table: &[(u64, &str)] = &[
        (0, "0 Bytes"),
        (1, "1 Bytes"),
        (1023, "1023 Bytes"),
        (1024, "1.0 KB"),
        (1536, "1.0 KB"),
        (MIB - 1, "1023.0 KB"),
        (MIB, "1.0 MB"),
        (958 * MIB + 123_456, "958.0 MB"),
        (44 * MIB + 5, "44.0 MB"),
        (GIB, "1.0 GB"),
        (TIB - 1, "1023.0 GB"),
        (TIB, "1.0 TB"),
        (2 * TIB + TIB / 2, "2.0 TB"),
        (u64::MAX, "16777215.0 TB"),
    ];
    for &(bytes, text) in table {
        assert_eq!(ByteSize(bytes).to_pcocc_string(), text, "{bytes}");
    }
}

// ---------------------------------------------------------------------------------------------
// transient `image ls`
// ---------------------------------------------------------------------------------------------

#[test]
fn transient_format_bytes() {
    // Expected texts are what transient's `format_bytes` prints (Python 3), and from 1024 TiB
    // up our extension (transient raises KeyError).
    let table: &[(u64, &str)] = &[
        (40 * GIB, "40.00 GiB"),
        (32 * GIB, "32.00 GiB"),
        (20 * GIB, "20.00 GiB"),
        (1_127_428_915, "1.05 GiB"),
        (104_532_214, "99.69 MiB"),
        (137_824_010, "131.44 MiB"),
        (0, "0.00 B"),
        (1023, "1023.00 B"),
        (1024, "1.00 KiB"),
        (1152, "1.12 KiB"),
        (1153, "1.13 KiB"),
        (TIB - 1, "1024.00 GiB"),
        (5 * TIB + TIB / 2, "5.50 TiB"),
        (1024 * TIB, "1024.00 TiB"),
        (u64::MAX, "16777216.00 TiB"),
    ];
    for &(bytes, text) in table {
        assert_eq!(ByteSize(bytes).to_transient_string(), text, "{bytes}");
    }
}

// ---------------------------------------------------------------------------------------------
// transient Imagefile sizes
// ---------------------------------------------------------------------------------------------

#[test]
fn imagefile_sizes() {
    let table: &[(&str, u64, ImagefileUnit, u64, u64)] = &[
        ("10 GB", 10, ImagefileUnit::Gb, 10 * GIB, 10_000_000_000),
        ("10GB", 10, ImagefileUnit::Gb, 10 * GIB, 10_000_000_000),
        ("512 mb", 512, ImagefileUnit::Mb, 512 * MIB, 512_000_000),
        ("1 Mb", 1, ImagefileUnit::Mb, MIB, 1_000_000),
        ("1 mB", 1, ImagefileUnit::Mb, MIB, 1_000_000),
        ("\t007\t gB ", 7, ImagefileUnit::Gb, 7 * GIB, 7_000_000_000),
        ("0 MB", 0, ImagefileUnit::Mb, 0, 0),
    ];
    for &(text, value, unit, disk, partition) in table {
        let size: ImagefileSize = text.parse().unwrap();
        assert_eq!((size.value(), size.unit()), (value, unit), "{text:?}");
        assert_eq!(size.disk_size(), ByteSize(disk), "{text:?}");
        assert_eq!(size.partition_size(), ByteSize(partition), "{text:?}");
    }
}

#[test]
fn imagefile_refusals() {
    for text in [
        "", "GB", "10", "10 G", "10 M", "10 KB", "10 TB", "1.5 GB", "-1 GB", "10 GBs", "1 0 GB",
        "10 G B",
    ] {
        let err = text.parse::<ImagefileSize>().unwrap_err();
        assert_eq!(
            err,
            SizeError::ImagefileMalformed {
                text: text.to_owned()
            },
            "{text:?}"
        );
        assert_eq!(
            err.to_string(),
            format!("Invalid Imagefile size {text:?}: expected <int> <MB|GB>")
        );
    }
    // Beyond what qemu-img create accepts for the disk (INT64_MAX bytes), or beyond u64.
    for text in [
        "8589934592 GB",
        "8796093022208 MB",
        "99999999999999999999 MB",
    ] {
        let err = text.parse::<ImagefileSize>().unwrap_err();
        assert_eq!(
            err,
            SizeError::OutOfRange {
                text: text.to_owned(),
                max: QEMU_IMG_MAX
            }
        );
        assert_eq!(
            err.to_string(),
            "Invalid image size specified. Must be between 0 and 9223372036854775807."
        );
    }
    assert_eq!(
        ImagefileSize::new(8_589_934_592, ImagefileUnit::Gb),
        Err(SizeError::OutOfRange {
            text: "8589934592 GB".into(),
            max: QEMU_IMG_MAX
        })
    );
    assert!(ImagefileSize::new(8_589_934_591, ImagefileUnit::Gb).is_ok());
}

proptest! {
    #[test]
    fn imagefile_display_parses_back(value in 0u64..=(QEMU_IMG_MAX / MIB), gb in any::<bool>()) {
        let unit = if gb { ImagefileUnit::Gb } else { ImagefileUnit::Mb };
        if let Ok(size) = ImagefileSize::new(value, unit) {
            prop_assert_eq!(size.to_string().parse::<ImagefileSize>(), Ok(size));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// OpenNebula
// ---------------------------------------------------------------------------------------------

#[test]
fn one_size_option() {
    // MB after oneimage_helper.rb's `--size` proc.
    let table: &[(&str, u64)] = &[
        ("40", 40),
        ("40m", 40),
        ("40MB", 40),
        ("40Mb", 40),
        ("2g", 2048),
        ("2GB", 2048),
        ("1.5", 1),
        ("1.5g", 1536),
        ("0.5", 0),
        ("0.001g", 1),
        ("2.2G", 2252),
        ("007", 7),
        ("  10g\n", 10_240),
        ("\t10\x0b", 10),
        ("17592186044415", ONE_MAX_MB),
    ];
    for &(text, mb) in table {
        assert_eq!(
            ByteSize::parse_one_size(text),
            Ok(ByteSize(mb * MIB)),
            "{text:?}"
        );
    }
}

#[test]
fn one_size_option_refusals() {
    for text in [
        "", "m", "1.", ".5", "1.5.5", "-1", "+1", "1k", "1t", "1 g", "1gib", "1e3", "x\n10", "1,5",
    ] {
        let err = ByteSize::parse_one_size(text).unwrap_err();
        assert_eq!(
            err,
            SizeError::OneMalformed {
                text: text.to_owned()
            },
            "{text:?}"
        );
        assert_eq!(err.to_string(), "Size value malformed");
    }
    for text in ["17592186044416", "17179869184g", "99999999999999999999G"] {
        let err = ByteSize::parse_one_size(text).unwrap_err();
        assert_eq!(
            err,
            SizeError::OneTooLarge {
                text: text.to_owned(),
                max_mb: ONE_MAX_MB
            }
        );
        assert_eq!(
            err.to_string(),
            format!("Size value {text:?} is too large: at most 17592186044415 MB")
        );
    }
}

#[test]
fn one_size_in_mb_rounds_up() {
    let table: &[(u64, u64)] = &[
        (0, 0),
        (1, 1),
        (MIB - 1, 1),
        (MIB, 1),
        (MIB + 1, 2),
        (40 * MIB, 40),
        (u64::MAX, 1 << 44),
    ];
    for &(bytes, mb) in table {
        assert_eq!(ByteSize(bytes).one_size_mb(), mb, "{bytes}");
    }
}

#[test]
fn one_unit_to_str_table() {
    // Expected texts follow OpenNebulaHelper.unit_to_str (Ruby: `round` half away from zero,
    // whole results without decimals).
    let table: &[(u64, OneUnit, &str)] = &[
        (40, OneUnit::M, "40M"),
        (2252, OneUnit::M, "2.2G"),
        (0, OneUnit::M, "0M"),
        (1024, OneUnit::M, "1024M"),
        (1025, OneUnit::M, "1G"),
        (1280, OneUnit::M, "1.3G"),
        (1536, OneUnit::M, "1.5G"),
        (10_240, OneUnit::M, "10G"),
        (1_048_576, OneUnit::M, "1024G"),
        (1_048_577, OneUnit::M, "1T"),
        (1 << 30, OneUnit::M, "1024T"),
        (1 << 40, OneUnit::M, "1048576T"),
        (2048, OneUnit::K, "2M"),
        (512, OneUnit::K, "512K"),
        (3, OneUnit::T, "3T"),
        (5000, OneUnit::T, "5000T"),
    ];
    for &(value, unit, text) in table {
        assert_eq!(one_unit_to_str(value, unit), text, "{value} {unit:?}");
    }
    assert_eq!(ByteSize(40 * MIB).to_one_string(), "40M");
    assert_eq!(ByteSize(2252 * MIB).to_one_string(), "2.2G");
    assert_eq!(ByteSize(1).to_one_string(), "1M");
}

proptest! {
    #[test]
    fn one_size_parses_whole_mb_and_gb(mb in 0..=ONE_MAX_MB, gb in 0..=(ONE_MAX_MB / 1024)) {
        let size = ByteSize::parse_one_size(&mb.to_string()).unwrap();
        prop_assert_eq!(size, ByteSize(mb * MIB));
        prop_assert_eq!(size.one_size_mb(), mb);
        prop_assert_eq!(ByteSize::parse_one_size(&format!("{gb}G")), Ok(ByteSize(gb * GIB)));
    }
}
