//! pcocc v2 revision records: byte-exact reading and writing, schema errors, strata's fields.

use proptest::prelude::*;
use serde_json::{Map, Number, Value, json};
use strata_model::digest::{Digest, DigestError};
use strata_model::kind::{Kind, KindError};
use strata_model::record::{CustomMeta, DataBlob, RecordError, RevisionRecord, StrataMeta};

const H1: &str = "1111111111111111111111111111111111111111111111111111111111111111";
const H2: &str = "2222222222222222222222222222222222222222222222222222222222222222";
const H3: &str = "3333333333333333333333333333333333333333333333333333333333333333";
const H4: &str = "4444444444444444444444444444444444444444444444444444444444444444";
const H5: &str = "5555555555555555555555555555555555555555555555555555555555555555";

fn digest(hex: &str) -> Digest {
    hex.parse().expect("test digests are valid")
}

/// A VM record as pcocc's `put_meta` writes it: `json.dump` of the dict built in that order,
/// `", "`/`": "` separators, no newline, `custom_meta` `{}` (lib/pcocc/Image.py imports with
/// `{}`).
fn vm_bytes() -> String {
    format!(
        "{{\"name\": \"centos7-cloud\", \"revision\": 1, \"kind\": \"vm\", \"owner\": \"jdoe\", \
         \"timestamp\": 1533305394.12, \"data_blobs\": [\"{H1}\", \"{H2}\"], \"custom_meta\": {{}}}}"
    )
}

/// A container record as pcocc writes it: prefixed blobs, `custom_meta.oci_index` holding the
/// OCI index with its keys in skopeo's order, and a non-ASCII owner escaped by `ensure_ascii`.
fn ctr_bytes() -> String {
    format!(
        "{{\"name\": \"ubuntu\", \"revision\": 0, \"kind\": \"ctr\", \"owner\": \"zo\\u00eb\", \
         \"timestamp\": 1535136320.5, \"data_blobs\": [\"sha256:{H3}\", \"sha256:{H4}\", \
         \"sha256:{H5}\"], \"custom_meta\": {{\"oci_index\": {{\"schemaVersion\": 2, \
         \"manifests\": [{{\"mediaType\": \"application/vnd.oci.image.manifest.v1+json\", \
         \"digest\": \"sha256:{H3}\", \"size\": 658, \"annotations\": \
         {{\"org.opencontainers.image.ref.name\": \"latest\"}}}}]}}}}}}"
    )
}

#[test]
fn vm_record_round_trips_byte_for_byte() {
    let bytes = vm_bytes();
    let record = RevisionRecord::from_pcocc_json("centos7-cloud", &bytes).unwrap();
    assert_eq!(record.name, "centos7-cloud");
    assert_eq!(record.revision, 1);
    assert_eq!(record.kind, Kind::Vm);
    assert_eq!(record.owner, "jdoe");
    assert_eq!(record.timestamp, 1_533_305_394.12);
    assert_eq!(
        record.data_blobs,
        [DataBlob::bare(digest(H1)), DataBlob::bare(digest(H2))]
    );
    assert_eq!(record.top_blob(), Some(&DataBlob::bare(digest(H2))));
    assert_eq!(record.description, None);
    assert_eq!(record.custom_meta, Some(CustomMeta::new()));
    assert_eq!(record.to_pcocc_json(), bytes);

    let built = RevisionRecord::new(
        "centos7-cloud",
        1,
        Kind::Vm,
        "jdoe",
        1_533_305_394.12,
        [digest(H1), digest(H2)],
    );
    assert_eq!(built, record);
    assert_eq!(built.to_pcocc_json(), bytes);
}

#[test]
fn container_record_keeps_the_oci_index_in_order() {
    let bytes = ctr_bytes();
    let record = RevisionRecord::from_pcocc_json("ubuntu", &bytes).unwrap();
    assert_eq!(record.kind, Kind::Ctr);
    assert_eq!(record.owner, "zo\u{eb}");
    assert!(record.data_blobs.iter().all(DataBlob::is_prefixed));
    let index = record.oci_index().unwrap();
    let keys: Vec<&String> = index["manifests"][0].as_object().unwrap().keys().collect();
    assert_eq!(keys, ["mediaType", "digest", "size", "annotations"]);
    assert_eq!(record.to_pcocc_json(), bytes);

    let mut built = RevisionRecord::new(
        "ubuntu",
        0,
        Kind::Ctr,
        "zo\u{eb}",
        1_535_136_320.5,
        [digest(H3), digest(H4), digest(H5)],
    );
    built
        .custom_meta
        .as_mut()
        .unwrap()
        .set_oci_index(index.clone());
    assert_eq!(built.to_pcocc_json(), bytes);
}

#[test]
fn timestamps_are_written_as_python_repr() {
    // Python 3 `repr(float)`; Rust's `{}` differs for most of these.
    let table: &[(f64, &str)] = &[
        (1_533_305_394.0, "1533305394.0"),
        (1_533_305_394.12, "1533305394.12"),
        (1_533_305_394.123_456, "1533305394.123456"),
        (1e16, "1e+16"),
        (1.5e16, "1.5e+16"),
        (1e15, "1000000000000000.0"),
        (1e22, "1e+22"),
        (123_456_789_012_345_678.0, "1.2345678901234568e+17"),
        (0.0, "0.0"),
        (-0.0, "-0.0"),
        (1e-4, "0.0001"),
        (1e-5, "1e-05"),
        (-1.5, "-1.5"),
        (5e-324, "5e-324"),
        // Halfway between two 17-digit candidates: Python takes the even one.
        (2_220_297_514_377_305.0 + 0.25, "2220297514377305.2"),
        (1_125_899_906_842_624.0 + 0.75, "1125899906842624.8"),
    ];
    for &(timestamp, text) in table {
        let record = RevisionRecord::new("t", 0, Kind::Vm, "u", timestamp, []);
        let bytes = record.to_pcocc_json();
        let expected = format!(
            "{{\"name\": \"t\", \"revision\": 0, \"kind\": \"vm\", \"owner\": \"u\", \
             \"timestamp\": {text}, \"data_blobs\": [], \"custom_meta\": {{}}}}"
        );
        assert_eq!(bytes, expected);
        let back = RevisionRecord::from_pcocc_json("t", &bytes).unwrap();
        assert_eq!(back.timestamp.to_bits(), timestamp.to_bits(), "{text}");
        assert_eq!(back.to_pcocc_json(), bytes);
    }
    // Python's json.dump writes what JSON has no word for as it does.
    let nan = RevisionRecord::new("t", 0, Kind::Vm, "u", f64::NAN, []).to_pcocc_json();
    assert!(nan.contains("\"timestamp\": NaN,"));
}

#[test]
fn strings_are_escaped_as_ensure_ascii_does() {
    let mut record = RevisionRecord::new("centos/7:2004.01", 0, Kind::Vm, "a\"b\\c\u{1}", 1.0, []);
    record.description = Some("\u{20ac}\u{1f600}\n\t\u{7f}".into());
    let bytes = record.to_pcocc_json();
    assert_eq!(
        bytes,
        "{\"name\": \"centos/7:2004.01\", \"revision\": 0, \"kind\": \"vm\", \
         \"owner\": \"a\\\"b\\\\c\\u0001\", \"timestamp\": 1.0, \"data_blobs\": [], \
         \"description\": \"\\u20ac\\ud83d\\ude00\\n\\t\\u007f\", \"custom_meta\": {}}"
    );
    assert_eq!(
        RevisionRecord::from_pcocc_json("x", &bytes).unwrap(),
        record
    );
}

#[test]
fn read_forms_are_kept() {
    // Mixed blob forms, a top-level description, no custom_meta: all written back as read.
    let bytes = format!(
        "{{\"name\": \"m\", \"revision\": 3, \"kind\": \"vm\", \"owner\": \"o\", \
         \"timestamp\": 1e+16, \"data_blobs\": [\"sha256:{H1}\", \"{H2}\"], \
         \"description\": \"old\"}}"
    );
    let record = RevisionRecord::from_pcocc_json("m", &bytes).unwrap();
    assert_eq!(
        record.data_blobs,
        [DataBlob::prefixed(digest(H1)), DataBlob::bare(digest(H2))]
    );
    assert_eq!(record.description.as_deref(), Some("old"));
    assert_eq!(record.custom_meta, None);
    assert_eq!(record.to_pcocc_json(), bytes);
}

#[test]
fn accepted_then_normalised() {
    // pcocc's schema takes these; we write them back the way pcocc would write the values.
    let bytes = format!(
        "{{\n  \"revision\": 2.0, \"name\": \"n\", \"kind\": \"ctr\", \"owner\": \"o\",\
         \"timestamp\": 1533305394, \"data_blobs\": [\"{H1}\"], \"custom_meta\": {{}}}}\n"
    );
    let record = RevisionRecord::from_pcocc_json("n", &bytes).unwrap();
    assert_eq!(record.revision, 2);
    assert_eq!(
        record.to_pcocc_json(),
        format!(
            "{{\"name\": \"n\", \"revision\": 2, \"kind\": \"ctr\", \"owner\": \"o\", \
             \"timestamp\": 1533305394.0, \"data_blobs\": [\"{H1}\"], \"custom_meta\": {{}}}}"
        )
    );
}

#[test]
fn strata_fields_live_under_custom_meta_and_survive() {
    let bytes = format!(
        "{{\"name\": \"s\", \"revision\": 0, \"kind\": \"vm\", \"owner\": \"o\", \
         \"timestamp\": 1.5, \"data_blobs\": [\"{H1}\"], \"custom_meta\": {{\"x\": 1, \
         \"strata\": {{\"description\": \"base image\", \"one\": {{\"ID\": 7, \"TYPE\": \"OS\"}}, \
         \"later\": [true, null]}}, \"y\": 2.5}}}}"
    );
    let mut record = RevisionRecord::from_pcocc_json("s", &bytes).unwrap();
    let custom = record.custom_meta.as_ref().unwrap();
    assert_eq!(custom.len(), 3);
    assert_eq!(custom.get("x"), Some(&json!(1)));
    let strata = custom.strata().unwrap();
    assert_eq!(strata.description.as_deref(), Some("base image"));
    let extra: Vec<&String> = strata.extra.keys().collect();
    assert_eq!(extra, ["one", "later"]);
    assert_eq!(record.to_pcocc_json(), bytes);

    // Changing a value keeps every key in its place.
    record
        .custom_meta
        .as_mut()
        .unwrap()
        .strata_mut()
        .description = Some("new".into());
    assert_eq!(record.to_pcocc_json(), bytes.replace("base image", "new"));

    // A record without strata gets it as the last key.
    let mut plain = RevisionRecord::from_pcocc_json("v", &vm_bytes()).unwrap();
    plain.custom_meta.as_mut().unwrap().strata_mut().description = Some("d".into());
    assert!(
        plain
            .to_pcocc_json()
            .ends_with("\"custom_meta\": {\"strata\": {\"description\": \"d\"}}}")
    );
}

/// Replaces the first `from` of the VM record with `to`.
/// pcocc's version 1 records: PyYAML's `safe_dump` of the same dict, keys sorted, in the flow
/// style of PyYAML before 5.1 and the block style of later releases, read as the same record as
/// its version 2 JSON (the text of both is PyYAML 6.0's output).
#[test]
fn version_1_yaml_records_read_as_their_json() {
    let json = RevisionRecord::from_pcocc_json("centos7-cloud", &vm_bytes()).expect("json");
    let flow = format!(
        "custom_meta: {{}}\ndata_blobs: ['{H1}', '{H2}']\nkind: vm\nname: centos7-cloud\nowner: jdoe\nrevision: 1\ntimestamp: 1533305394.12\n"
    );
    let block = format!(
        "custom_meta: {{}}\ndata_blobs:\n- '{H1}'\n- '{H2}'\nkind: vm\nname: centos7-cloud\nowner: jdoe\nrevision: 1\ntimestamp: 1533305394.12\n"
    );
    for text in [flow, block] {
        let yaml = RevisionRecord::from_pcocc_yaml("centos7-cloud", &text).expect("yaml");
        assert_eq!(yaml, json);
        assert_eq!(yaml.to_pcocc_json(), vm_bytes());
    }
    let e = RevisionRecord::from_pcocc_yaml("x", "name: [").unwrap_err();
    assert!(matches!(e, RecordError::Yaml { .. }), "{e:?}");
    assert!(e.to_string().starts_with("Bad metadata for x: "), "{e}");
    // The schema is pcocc's for both: `custom_meta: null` is refused as jsonschema refuses None.
    let e = RevisionRecord::from_pcocc_yaml(
        "x",
        "custom_meta: null\ndata_blobs: []\nkind: vm\nname: x\nowner: o\nrevision: 0\ntimestamp: 1.0\n",
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "Bad metadata for x: None is not of type 'object'"
    );
}

fn vm_with(from: &str, to: &str) -> String {
    let bytes = vm_bytes();
    assert!(bytes.contains(from), "{from}");
    bytes.replacen(from, to, 1)
}

#[test]
fn refusals_name_the_image_and_the_fault() {
    let n = || "img".to_owned();
    let wrong = |path: &str, value: &str, expected: &'static str| RecordError::WrongType {
        name: n(),
        path: path.to_owned(),
        value: value.to_owned(),
        expected,
    };
    let all_of_vm = format!(
        "{{\"name\": \"centos7-cloud\", \"revision\": 1, \"kind\": \"vm\", \
        \"owner\": \"jdoe\", \"timestamp\": 1533305394.12, \"data_blobs\": [\"{H1}\", \"{H2}\"]"
    );
    let cases: Vec<(String, RecordError, String)> = vec![
        (
            String::new(),
            RecordError::Json {
                name: n(),
                message: "EOF while parsing a value at line 1 column 0".into(),
            },
            "Bad metadata for img: EOF while parsing a value at line 1 column 0".into(),
        ),
        (
            "NaN".into(),
            RecordError::Json {
                name: n(),
                message: "expected value at line 1 column 1".into(),
            },
            "Bad metadata for img: expected value at line 1 column 1".into(),
        ),
        (
            "[1, 2]".into(),
            wrong("", "[1, 2]", "object"),
            "Bad metadata for img: [1, 2] is not of type 'object'".into(),
        ),
        (
            "null".into(),
            wrong("", "None", "object"),
            "Bad metadata for img: None is not of type 'object'".into(),
        ),
        (
            "{}".into(),
            RecordError::MissingField {
                name: n(),
                field: "name",
            },
            "Bad metadata for img: 'name' is a required property".into(),
        ),
        (
            vm_with("\"owner\": \"jdoe\", ", ""),
            RecordError::MissingField {
                name: n(),
                field: "owner",
            },
            "Bad metadata for img: 'owner' is a required property".into(),
        ),
        (
            vm_with("\"timestamp\": 1533305394.12, ", ""),
            RecordError::MissingField {
                name: n(),
                field: "timestamp",
            },
            "Bad metadata for img: 'timestamp' is a required property".into(),
        ),
        (
            format!("{all_of_vm}, \"custom_meta\": {{}}, \"repo\": \"user\"}}"),
            RecordError::UnknownFields {
                name: n(),
                fields: vec!["repo".into()],
            },
            "Bad metadata for img: Additional properties are not allowed ('repo' was unexpected)"
                .into(),
        ),
        (
            format!("{all_of_vm}, \"z\": 1, \"it's\": 2}}"),
            RecordError::UnknownFields {
                name: n(),
                fields: vec!["it's".into(), "z".into()],
            },
            "Bad metadata for img: Additional properties are not allowed \
             (\"it's\", 'z' were unexpected)"
                .into(),
        ),
        (
            vm_with("\"revision\": 1", "\"revision\": \"1\""),
            wrong("revision", "'1'", "integer"),
            "Bad metadata for img: '1' is not of type 'integer'".into(),
        ),
        (
            vm_with("\"revision\": 1", "\"revision\": 1.5"),
            wrong("revision", "1.5", "integer"),
            "Bad metadata for img: 1.5 is not of type 'integer'".into(),
        ),
        (
            vm_with("\"revision\": 1", "\"revision\": true"),
            wrong("revision", "True", "integer"),
            "Bad metadata for img: True is not of type 'integer'".into(),
        ),
        (
            vm_with("\"revision\": 1", "\"revision\": -3"),
            RecordError::RevisionOutOfRange {
                name: n(),
                value: "-3".into(),
            },
            "Bad metadata for img: revision -3 is not between 0 and 18446744073709551615".into(),
        ),
        (
            vm_with("\"revision\": 1", "\"revision\": 18446744073709551616"),
            RecordError::RevisionOutOfRange {
                name: n(),
                value: "1.8446744073709552e+19".into(),
            },
            "Bad metadata for img: revision 1.8446744073709552e+19 is not between 0 and \
             18446744073709551615"
                .into(),
        ),
        (
            vm_with("\"name\": \"centos7-cloud\"", "\"name\": 5"),
            wrong("name", "5", "string"),
            "Bad metadata for img: 5 is not of type 'string'".into(),
        ),
        (
            vm_with("\"name\": \"centos7-cloud\"", "\"name\": \"\""),
            RecordError::EmptyName { name: n() },
            "Bad metadata for img: Empty object name".into(),
        ),
        (
            vm_with("\"kind\": \"vm\"", "\"kind\": \"VM\""),
            RecordError::UnknownKind {
                name: n(),
                error: KindError { value: "VM".into() },
            },
            "Bad metadata for img: Unknown image kind \"VM\": expected vm or ctr".into(),
        ),
        (
            vm_with("\"owner\": \"jdoe\"", "\"owner\": [\"x\", {\"a\": 1e-05}]"),
            wrong("owner", "['x', {'a': 1e-05}]", "string"),
            "Bad metadata for img: ['x', {'a': 1e-05}] is not of type 'string'".into(),
        ),
        (
            vm_with("\"timestamp\": 1533305394.12", "\"timestamp\": \"now\""),
            wrong("timestamp", "'now'", "number"),
            "Bad metadata for img: 'now' is not of type 'number'".into(),
        ),
        (
            vm_with("\"timestamp\": 1533305394.12", "\"timestamp\": false"),
            wrong("timestamp", "False", "number"),
            "Bad metadata for img: False is not of type 'number'".into(),
        ),
        (
            vm_with("\"custom_meta\": {}", "\"custom_meta\": null"),
            wrong("custom_meta", "None", "object"),
            "Bad metadata for img: None is not of type 'object'".into(),
        ),
        (
            format!("{all_of_vm}, \"description\": {{\"d\": \"it's\"}}}}"),
            wrong("description", "{'d': \"it's\"}", "string"),
            "Bad metadata for img: {'d': \"it's\"} is not of type 'string'".into(),
        ),
        (
            vm_with(&format!("[\"{H1}\", \"{H2}\"]"), &format!("\"{H1}\"")),
            wrong("data_blobs", &format!("'{H1}'"), "array"),
            format!("Bad metadata for img: '{H1}' is not of type 'array'"),
        ),
        (
            vm_with(&format!("\"{H2}\""), "7"),
            wrong("data_blobs[1]", "7", "string"),
            "Bad metadata for img: 7 is not of type 'string'".into(),
        ),
        (
            vm_with(&format!("\"{H2}\""), "\"md5:abc\""),
            RecordError::BadBlob {
                name: n(),
                index: 1,
                error: DigestError::UnsupportedAlgorithm {
                    algorithm: "md5".into(),
                },
            },
            "Bad metadata for img: data_blobs[1]: Only sha256 is supported currently".into(),
        ),
        (
            vm_with(&format!("\"{H1}\""), "\"abc\""),
            RecordError::BadBlob {
                name: n(),
                index: 0,
                error: DigestError::BadLength {
                    digest: "abc".into(),
                    len: 3,
                },
            },
            "Bad metadata for img: data_blobs[0]: Bad sha256 digest \"abc\": expected 64 hex \
             digits, found 3"
                .into(),
        ),
        (
            vm_with(
                "\"custom_meta\": {}",
                "\"custom_meta\": {\"strata\": {\"description\": 1}}",
            ),
            RecordError::BadStrata {
                name: n(),
                message: "invalid type: integer `1`, expected a string".into(),
            },
            "Bad metadata for img: custom_meta.strata: invalid type: integer `1`, expected a \
             string"
                .into(),
        ),
        (
            vm_with("\"custom_meta\": {}", "\"custom_meta\": {\"strata\": 5}"),
            RecordError::BadStrata {
                name: n(),
                message: "invalid type: integer `5`, expected struct StrataMeta".into(),
            },
            "Bad metadata for img: custom_meta.strata: invalid type: integer `5`, expected \
             struct StrataMeta"
                .into(),
        ),
        // jsonschema's best_match: a shallower error wins, then schema order.
        (
            vm_with("\"name\": \"centos7-cloud\"", "\"name\": 1")
                .replace(&format!("\"{H1}\""), "null"),
            wrong("name", "1", "string"),
            "Bad metadata for img: 1 is not of type 'string'".into(),
        ),
        (
            vm_with("\"kind\": \"vm\"", "\"kind\": 1")
                .replace("\"revision\": 1", "\"revision\": \"x\""),
            wrong("revision", "'x'", "integer"),
            "Bad metadata for img: 'x' is not of type 'integer'".into(),
        ),
        (
            format!("{{\"owner\": 1, \"q\": 2, {}", &all_of_vm[1..])
                .replace("\"owner\": \"jdoe\", ", "")
                + "}",
            RecordError::UnknownFields {
                name: n(),
                fields: vec!["q".into()],
            },
            "Bad metadata for img: Additional properties are not allowed ('q' was unexpected)"
                .into(),
        ),
    ];
    for (text, want, message) in cases {
        let err = RevisionRecord::from_pcocc_json("img", &text).unwrap_err();
        assert_eq!(err, want, "{text}");
        assert_eq!(err.to_string(), message, "{text}");
        assert_eq!(err.name(), "img");
    }
}

// ---------------------------------------------------------------------------------------------
// Round trips of arbitrary records
// ---------------------------------------------------------------------------------------------

/// Any text, control characters and characters beyond the BMP included.
fn text(max: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(any::<char>(), 0..max).prop_map(String::from_iter)
}

fn finite() -> impl Strategy<Value = f64> {
    any::<f64>().prop_filter("finite", |f| f.is_finite())
}

/// Any JSON value serde_json can hold.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        finite().prop_map(|f| Number::from_f64(f).map_or(Value::Null, Value::Number)),
        text(8).prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((text(6), inner), 0..4)
                .prop_map(|entries| Value::Object(entries.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

fn strata_meta() -> impl Strategy<Value = Value> {
    (
        prop::option::of(text(8)),
        prop::collection::vec((text(6), json_value()), 0..3),
    )
        .prop_map(|(description, extra)| {
            let mut map = Map::new();
            if let Some(d) = description {
                map.insert("description".into(), Value::String(d));
            }
            for (key, value) in extra {
                if key != "description" {
                    map.insert(key, value);
                }
            }
            Value::Object(map)
        })
}

fn custom_meta() -> impl Strategy<Value = CustomMeta> {
    let entry = prop_oneof![
        (Just("oci_index".to_owned()), json_value()),
        (Just("strata".to_owned()), strata_meta()),
        (text(6), json_value()),
    ];
    prop::collection::vec(entry, 0..4).prop_map(|entries| {
        let map: Map<String, Value> = entries
            .into_iter()
            .filter(|(key, value)| key != "strata" || value.is_object())
            .collect();
        CustomMeta::try_from(map).expect("strata entries are objects of the right shape")
    })
}

fn record() -> impl Strategy<Value = RevisionRecord> {
    let blob = (any::<[u8; 32]>(), any::<bool>()).prop_map(|(bytes, prefixed)| {
        let d = Digest::from_bytes(bytes);
        if prefixed {
            DataBlob::prefixed(d)
        } else {
            DataBlob::bare(d)
        }
    });
    (
        text(12).prop_filter("pcocc names are not empty", |s| !s.is_empty()),
        any::<u64>(),
        prop_oneof![Just(Kind::Vm), Just(Kind::Ctr)],
        text(8),
        finite(),
        prop::collection::vec(blob, 0..4),
        prop::option::of(text(8)),
        prop::option::of(custom_meta()),
    )
        .prop_map(
            |(name, revision, kind, owner, timestamp, data_blobs, description, custom_meta)| {
                RevisionRecord {
                    name,
                    revision,
                    kind,
                    owner,
                    timestamp,
                    data_blobs,
                    description,
                    custom_meta,
                }
            },
        )
}

proptest! {
    #[test]
    fn records_round_trip_byte_for_byte(record in record()) {
        let bytes = record.to_pcocc_json();
        prop_assert!(bytes.is_ascii());
        let back = RevisionRecord::from_pcocc_json("p", &bytes).unwrap();
        prop_assert_eq!(back.timestamp.to_bits(), record.timestamp.to_bits());
        prop_assert_eq!(&back, &record);
        prop_assert_eq!(back.to_pcocc_json(), bytes);
    }

    #[test]
    fn custom_meta_keeps_any_order(meta in custom_meta()) {
        let map = meta.to_map();
        let again = CustomMeta::try_from(map.clone()).unwrap();
        let keys: Vec<&String> = map.keys().collect();
        let again_map = again.to_map();
        let again_keys: Vec<&String> = again_map.keys().collect();
        prop_assert_eq!(keys, again_keys);
        prop_assert_eq!(again.strata(), meta.strata());
    }

    #[test]
    fn parsing_never_panics(bytes in "[{}\\[\\]\",: 0-9a-z.eE+-]{0,64}") {
        let _ = RevisionRecord::from_pcocc_json("p", &bytes);
    }
}

#[test]
fn strata_meta_default_is_empty() {
    let meta = StrataMeta::default();
    assert_eq!(meta.description, None);
    assert!(meta.to_map().is_empty());
}
