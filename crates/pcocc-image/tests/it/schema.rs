//! Every record strata writes passes pcocc's `metadata_schema`, every `.config` its
//! `repo_config_schema` (both vendored in `tests/fixtures/pcocc-metadata.schema.json`), and
//! each record has the bytes pcocc's `json.dump` would write for it.
//!
//! The schema is checked by [`validate`], a checker of exactly the keywords the vendored
//! document uses (`type`, `properties`, `required`, `additionalProperties`, `items`), which
//! refuses any other keyword rather than ignore it. The `jsonschema` crate, even without its
//! default features (no HTTP client then), adds 64 crates to the lock file (ICU tables for
//! `idna`, big numbers, SIMD UUID parsing) for these five keywords. Where Python's `jsonschema`
//! and PyYAML are installed, the records and `.config` are also checked by the very calls
//! pcocc makes (`jsonschema.validate`, `yaml.load(..., CSafeLoader)`).

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Map, Value};

use crate::sandbox::Sandbox;

/// The keys of a record in the order pcocc's `put_meta` inserts them (`description` is in the
/// schema, but pcocc never writes it).
const PCOCC_ORDER: [&str; 7] = [
    "name",
    "revision",
    "kind",
    "owner",
    "timestamp",
    "data_blobs",
    "custom_meta",
];

/// The vendored schema document.
fn schema() -> Value {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/pcocc-metadata.schema.json");
    serde_json::from_str(&std::fs::read_to_string(path).expect("schema")).expect("schema json")
}

/// The schema of `.config`: `$defs.repo_config` of the vendored document.
fn config_schema(schema: &Value) -> &Value {
    &schema["$defs"]["repo_config"]
}

/// Whether `value` is of JSON Schema type `ty` (draft 2020-12, as Python's `jsonschema` checks
/// it: a number with no fractional part is an integer, a boolean is never a number).
fn is_of_type(value: &Value, ty: &str) -> bool {
    match ty {
        "object" => value.is_object(),
        "array" => value.is_array(),
        "string" => value.is_string(),
        "number" => value.is_number(),
        "integer" => value.as_number().is_some_and(|n| {
            n.is_i64() || n.is_u64() || n.as_f64().is_some_and(|f| f.fract() == 0.0)
        }),
        "boolean" => value.is_boolean(),
        "null" => value.is_null(),
        other => panic!("unknown type {other:?} in the schema"),
    }
}

/// The errors of `instance` against `schema` at `at` (a JSON pointer), for the keywords the
/// vendored document uses; any other keyword panics, so that a rule is never skipped.
fn validate(schema: &Value, instance: &Value, at: &str, errors: &mut Vec<String>) {
    let schema = schema.as_object().expect("a schema is an object");
    for (keyword, rule) in schema {
        match keyword.as_str() {
            "$schema" | "$comment" | "$defs" => {}
            "type" => {
                let ty = rule.as_str().expect("type");
                if !is_of_type(instance, ty) {
                    errors.push(format!("{at}: {instance} is not of type {ty:?}"));
                }
            }
            "properties" => {
                let Some(object) = instance.as_object() else {
                    continue;
                };
                for (key, sub) in rule.as_object().expect("properties") {
                    if let Some(value) = object.get(key) {
                        validate(sub, value, &format!("{at}/{key}"), errors);
                    }
                }
            }
            "required" => {
                let Some(object) = instance.as_object() else {
                    continue;
                };
                for key in rule.as_array().expect("required") {
                    let key = key.as_str().expect("required key");
                    if !object.contains_key(key) {
                        errors.push(format!("{at}: {key:?} is a required property"));
                    }
                }
            }
            "additionalProperties" => {
                assert_eq!(rule, &Value::Bool(false), "only `false` is supported");
                let Some(object) = instance.as_object() else {
                    continue;
                };
                let known: &Map<String, Value> = schema
                    .get("properties")
                    .and_then(Value::as_object)
                    .expect("additionalProperties beside properties");
                for key in object.keys() {
                    if !known.contains_key(key) {
                        errors.push(format!("{at}: additional property {key:?}"));
                    }
                }
            }
            "items" => {
                let Some(items) = instance.as_array() else {
                    continue;
                };
                for (i, item) in items.iter().enumerate() {
                    validate(rule, item, &format!("{at}/{i}"), errors);
                }
            }
            other => panic!("the checker does not know the keyword {other:?}"),
        }
    }
}

/// The errors of `instance` against `schema`.
fn errors_of(schema: &Value, instance: &Value) -> Vec<String> {
    let mut errors = Vec::new();
    validate(schema, instance, "", &mut errors);
    errors
}

/// The checker itself: a record as pcocc writes it passes, and each way of breaking one of
/// pcocc's rules is caught.
#[test]
fn checker_applies_pcocc_rules() {
    let schema = schema();
    let good: Value = serde_json::from_str(
        r#"{"name": "c7", "revision": 1, "kind": "vm", "owner": "jdoe", "timestamp": 1533305394.12, "data_blobs": ["ab", "cd"], "custom_meta": {}}"#,
    )
    .unwrap();
    assert_eq!(errors_of(&schema, &good), Vec::<String>::new());
    let mut whole_float = good.clone();
    whole_float["revision"] = serde_json::json!(1.0);
    assert!(errors_of(&schema, &whole_float).is_empty());
    let mut no_custom = good.clone();
    no_custom.as_object_mut().unwrap().remove("custom_meta");
    assert!(errors_of(&schema, &no_custom).is_empty());

    let broken: [(&str, Value); 8] = [
        ("revision", serde_json::json!(1.5)),
        ("revision", serde_json::json!("1")),
        ("timestamp", serde_json::json!("now")),
        ("timestamp", serde_json::json!(true)),
        ("data_blobs", serde_json::json!("ab")),
        ("data_blobs", serde_json::json!(["ab", 3])),
        ("custom_meta", Value::Null),
        ("repo", serde_json::json!("user")),
    ];
    for (key, value) in broken {
        let mut bad = good.clone();
        bad[key] = value.clone();
        assert!(
            !errors_of(&schema, &bad).is_empty(),
            "{key} = {value} passes"
        );
    }
    for key in [
        "name",
        "revision",
        "data_blobs",
        "kind",
        "owner",
        "timestamp",
    ] {
        let mut bad = good.clone();
        bad.as_object_mut().unwrap().remove(key);
        assert_eq!(
            errors_of(&schema, &bad),
            [format!(": {key:?} is a required property")]
        );
    }

    let config = config_schema(&schema);
    assert!(errors_of(config, &serde_json::json!({"version": 2})).is_empty());
    assert!(errors_of(config, &serde_json::json!({"version": 2.0})).is_empty());
    assert!(!errors_of(config, &serde_json::json!({"version": "2"})).is_empty());
    assert!(!errors_of(config, &serde_json::json!({"version": 2, "x": 1})).is_empty());
    assert!(!errors_of(config, &serde_json::json!({})).is_empty());
}

/// Debian's Python (where `cargo xtask setup` installs python3-jsonschema and python3-yaml),
/// or whichever `python3` is first on `PATH`.
fn python3() -> &'static str {
    if std::path::Path::new("/usr/bin/python3").exists() {
        "/usr/bin/python3"
    } else {
        "python3"
    }
}

/// The record at `path` (its text and JSON), asserted to pass pcocc's schema (pcocc reads
/// records with json.loads, then validates them) and to have put_meta's key order, nothing
/// after custom_meta. `name` labels failures.
fn checked_record(schema_doc: &Value, path: &Path, name: &str) -> (String, Value) {
    let text = std::fs::read_to_string(path).expect("record");
    let record: Value = serde_json::from_str(&text).expect("record json");
    assert_eq!(
        errors_of(schema_doc, &record),
        Vec::<String>::new(),
        "{name}: {text}"
    );
    let keys: Vec<&str> = record
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys, PCOCC_ORDER, "{name}: {text}");
    (text, record)
}

/// Whether `python3 -c CODE` runs (see [`strata_testkit::peer`]).
fn have_python(what: &str, code: &str) -> bool {
    let ok = Command::new(python3())
        .args(["-c", code])
        .output()
        .is_ok_and(|o| o.status.success());
    strata_testkit::peer(what, &format!("python3 that runs `{code}`"), ok)
}

/// What Python's `json.dump` writes for the record at `path` with its keys in pcocc's order:
/// the bytes pcocc would have written for the same values.
fn python_dump(path: &Path) -> Vec<u8> {
    let order = PCOCC_ORDER.map(|k| format!("'{k}'")).join(", ");
    let code = format!(
        "import json,sys; d=json.load(open(sys.argv[1])); \
         sys.stdout.write(json.dumps({{k: d[k] for k in [{order}] if k in d}}))"
    );
    let out = Command::new(python3())
        .args(["-c", &code])
        .arg(path)
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Runs pcocc's own checks with Python's `jsonschema`: `json.loads` of each record and
/// `yaml.load` of each `.config`, validated against the vendored schema. Returns stderr for
/// each file that fails.
fn python_validate(schema: &Path, records: &[PathBuf], configs: &[PathBuf]) -> Vec<String> {
    let code = "import json, sys, yaml, jsonschema\n\
        schema = json.load(open(sys.argv[1]))\n\
        config = schema['$defs']['repo_config']\n\
        n = int(sys.argv[2])\n\
        bad = 0\n\
        for i, path in enumerate(sys.argv[3:]):\n\
        \x20   try:\n\
        \x20       if i < n:\n\
        \x20           jsonschema.validate(json.loads(open(path).read()), schema)\n\
        \x20       else:\n\
        \x20           jsonschema.validate(yaml.load(open(path), Loader=yaml.CSafeLoader), config)\n\
        \x20   except Exception as e:\n\
        \x20       bad += 1\n\
        \x20       print(path, e, file=sys.stderr)\n\
        sys.exit(1 if bad else 0)\n";
    let out = Command::new(python3())
        .args(["-c", code])
        .arg(schema)
        .arg(records.len().to_string())
        .args(records)
        .args(configs)
        .output()
        .expect("python3");
    if out.status.success() {
        Vec::new()
    } else {
        vec![String::from_utf8_lossy(&out.stderr).into_owned()]
    }
}

/// Every file under `<repo>/meta`, sorted.
fn records(repo: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(repo.join("meta"))
        .expect("meta")
        .map(|e| e.expect("entry").path())
        .collect();
    out.sort();
    out
}

#[test]
fn strata_repository_passes_pcocc_schema() {
    let sb = Sandbox::new(&["user", "global"]);
    let raw = sb.raw_disk("disk.raw", 1 << 20);
    let qcow2 = sb.qcow2_disk("disk.qcow2", 2 << 20);
    sb.ok(&["import", &raw, "base"]);
    sb.ok(&["import", &qcow2, "global:empty"]);
    sb.ok(&["copy", "base", "clone"]);
    sb.ok(&["resize", "base", "2M"]);
    sb.ok(&["resize", "base", "3M"]);
    sb.ok(&["resize", "clone", "4M"]);
    sb.ok(&["copy", "base", "global:other"]);
    sb.ok(&["copy", "user:base@1", "global:old"]);
    sb.ok(&["resize", "global:other", "5M"]);

    let schema_doc = schema();
    let mut all_records = Vec::new();
    let mut configs = Vec::new();
    for repo in ["user", "global"] {
        let root = sb.path(repo);
        // .config: PyYAML's safe_dump({'version': 2}), and pcocc's repo_config_schema.
        let config_path = root.join(".config");
        let config_text = std::fs::read_to_string(&config_path).expect(".config");
        assert_eq!(config_text, "version: 2\n", "{repo}/.config");
        let config: Value = serde_yaml_ng::from_str(&config_text).expect(".config yaml");
        assert_eq!(
            errors_of(config_schema(&schema_doc), &config),
            Vec::<String>::new(),
            "{repo}/.config"
        );
        configs.push(config_path);
        all_records.extend(records(&root));
    }
    let names: Vec<String> = all_records
        .iter()
        .map(|p| {
            let repo = p.parent().and_then(Path::parent).and_then(Path::file_name);
            let file = p.file_name().expect("file name");
            format!("{}:{}", repo.expect("repo").display(), file.display())
        })
        .collect();
    assert_eq!(
        names,
        [
            "user:base@0",
            "user:base@1",
            "user:base@2",
            "user:clone@0",
            "user:clone@1",
            "global:empty@0",
            "global:old@0",
            "global:other@0",
            "global:other@1",
        ]
    );

    for (path, name) in all_records.iter().zip(&names) {
        let (text, record) = checked_record(&schema_doc, path, name);
        // VM blobs as bare hex.
        for blob in record["data_blobs"].as_array().expect("blobs") {
            let blob = blob.as_str().expect("blob");
            assert!(
                blob.len() == 64
                    && blob
                        .bytes()
                        .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()),
                "{name}: blob {blob} is not bare sha256 hex"
            );
        }
        assert!(
            record["timestamp"].is_f64(),
            "{name}: the timestamp is a float, as time.time() is: {text}"
        );
        assert!(!text.ends_with('\n'), "{name}: json.dump writes no newline");
    }

    if have_python("the json.dump byte comparison", "import json") {
        for (path, name) in all_records.iter().zip(&names) {
            let ours = std::fs::read(path).expect("record");
            let pythons = python_dump(path);
            assert!(
                ours == pythons,
                "{name}: strata wrote\n{}\nwhere pcocc's json.dump writes\n{}",
                String::from_utf8_lossy(&ours),
                String::from_utf8_lossy(&pythons)
            );
        }
    }

    if have_python(
        "pcocc's own jsonschema.validate",
        "import json, yaml, jsonschema",
    ) {
        let schema_path =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/pcocc-metadata.schema.json");
        assert_eq!(
            python_validate(&schema_path, &all_records, &configs),
            Vec::<String>::new()
        );
    }
}

#[test]
fn container_records_pass_pcocc_schema() {
    let sb = Sandbox::new(&["user"]);
    let layout = sb.path("files/layout");
    crate::oci_fixture::make_layout(&layout, "v1", &crate::oci_fixture::sample_layers());
    sb.ok(&["import", &format!("oci:{}:v1", layout.display()), "ctr"]);
    sb.ok(&["copy", "ctr", "ctr2"]);
    let schema_doc = schema();
    let all = records(&sb.path("user"));
    assert_eq!(all.len(), 2);
    for path in &all {
        let (text, record) = checked_record(&schema_doc, path, "container record");
        assert_eq!(record["kind"], "ctr");
        for blob in record["data_blobs"].as_array().expect("blobs") {
            let blob = blob.as_str().expect("blob");
            assert!(
                blob.len() == 71 && blob.starts_with("sha256:"),
                "container blobs are OCI digests: {blob}"
            );
        }
        assert!(record["custom_meta"]["oci_index"].is_object(), "{text}");
    }
    if have_python("the json.dump byte comparison", "import json") {
        for path in &all {
            assert_eq!(
                String::from_utf8_lossy(&std::fs::read(path).expect("record")),
                String::from_utf8_lossy(&python_dump(path))
            );
        }
    }
    if have_python(
        "pcocc's own jsonschema.validate",
        "import json, yaml, jsonschema",
    ) {
        let schema_path =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/pcocc-metadata.schema.json");
        assert_eq!(
            python_validate(&schema_path, &all, &[]),
            Vec::<String>::new()
        );
    }
}
