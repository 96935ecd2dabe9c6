//! pcocc's `repo_definition_schema` for `repos.yaml`, checked by hand with jsonschema's messages.
//!
//! pcocc validates with `jsonschema.validate`, which with the jsonschema of its target
//! distributions (2.6) raises the *first* error of `iter_errors`: validators run in the schema's
//! key order (`type`, `properties`, `required`, `additionalProperties`), `properties` in the
//! schema's order (`repos`, then `cache`) and array items in document order. We follow that
//! order, and reproduce jsonschema's messages with Python's `repr` of the offending value.

use serde_yaml_ng::Value;

use strata_model::python::repr_str as py_repr_str;

/// A `repos.yaml` that satisfies the schema: repositories in file order and the cache path, as
/// written (templates not expanded).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ReposFile {
    /// `repos[]`.
    pub(crate) repos: Vec<RepoEntry>,
    /// `cache.path`.
    pub(crate) cache: Option<String>,
}

/// One `repos[]` item: a directory (`path`), or strata's extension, a registry (`url`, with an
/// optional `path` for the local cache of its blobs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RepoEntry {
    /// `repos[].name`.
    pub(crate) name: String,
    /// `repos[].path`.
    pub(crate) path: Option<String>,
    /// `repos[].url` (not in pcocc's schema).
    pub(crate) url: Option<String>,
}

/// Why a `repos.yaml` does not satisfy the schema: where (the key, as `repos[0].path`; empty
/// for the document itself) and jsonschema's message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SchemaError {
    /// The offending key's path, `repos[0].path` (jsonschema's `error.path`), or empty.
    pub(crate) key: String,
    /// jsonschema's message.
    pub(crate) message: String,
}

/// The message `message` at `key`.
fn at(key: impl Into<String>) -> impl FnOnce(String) -> SchemaError {
    let key = key.into();
    move |message| SchemaError { key, message }
}

/// Checks a parsed `repos.yaml` against pcocc's schema; the error is jsonschema's message and
/// the key it is about.
pub(crate) fn validate(doc: &Value) -> Result<ReposFile, SchemaError> {
    let top = as_object(doc).map_err(at(""))?;
    let mut repos = Vec::new();
    let mut cache = None;
    // properties: repos, then cache.
    if let Some(list) = get(&top, "repos") {
        let Value::Sequence(items) = untag(list) else {
            return Err(at("repos")(not_of_type(list, "array")));
        };
        for (i, item) in items.iter().enumerate() {
            let key = format!("repos[{i}]");
            let fields = as_object(item).map_err(at(key.clone()))?;
            let name = string_property(&fields, "name").map_err(at(format!("{key}.name")))?;
            let path = string_property(&fields, "path").map_err(at(format!("{key}.path")))?;
            let url = string_property(&fields, "url").map_err(at(format!("{key}.url")))?;
            // pcocc requires `path`; strata takes `url` in its place.
            let needed: &[&str] = if url.is_some() {
                &["name"]
            } else {
                &["name", "path"]
            };
            required(&fields, needed).map_err(at(key.clone()))?;
            additional(&fields, &["name", "path", "url"]).map_err(at(key))?;
            if let Some(name) = name {
                repos.push(RepoEntry { name, path, url });
            }
        }
    }
    if let Some(section) = get(&top, "cache") {
        let fields = as_object(section).map_err(at("cache"))?;
        cache = string_property(&fields, "path").map_err(at("cache.path"))?;
        required(&fields, &["path"]).map_err(at("cache"))?;
        additional(&fields, &["path"]).map_err(at("cache"))?;
    }
    required(&top, &["repos"]).map_err(at(""))?;
    additional(&top, &["repos", "cache"]).map_err(at(""))?;
    Ok(ReposFile { repos, cache })
}

/// The mapping's entries, as a list of `(key, value)` in document order.
type Object<'a> = Vec<(&'a Value, &'a Value)>;

/// The value without YAML tags (jsonschema sees the Python object the tag loads to).
fn untag(value: &Value) -> &Value {
    match value {
        Value::Tagged(tagged) => untag(&tagged.value),
        other => other,
    }
}

fn as_object(value: &Value) -> Result<Object<'_>, String> {
    match untag(value) {
        Value::Mapping(map) => Ok(map.iter().collect()),
        _ => Err(not_of_type(value, "object")),
    }
}

fn get<'a>(object: &Object<'a>, key: &str) -> Option<&'a Value> {
    object
        .iter()
        .find(|(k, _)| k.as_str() == Some(key))
        .map(|(_, v)| *v)
}

/// The `type: string` property `key`, if present.
fn string_property(object: &Object<'_>, key: &str) -> Result<Option<String>, String> {
    match get(object, key) {
        None => Ok(None),
        Some(value) => match untag(value) {
            Value::String(s) => Ok(Some(s.clone())),
            _ => Err(not_of_type(value, "string")),
        },
    }
}

fn required(object: &Object<'_>, keys: &[&str]) -> Result<(), String> {
    match keys.iter().find(|key| get(object, key).is_none()) {
        Some(key) => Err(format!("{} is a required property", py_repr_str(key))),
        None => Ok(()),
    }
}

fn additional(object: &Object<'_>, allowed: &[&str]) -> Result<(), String> {
    let extras: Vec<String> = object
        .iter()
        .filter(|(k, _)| !k.as_str().is_some_and(|k| allowed.contains(&k)))
        .map(|(k, _)| py_repr(k))
        .collect();
    match extras.len() {
        0 => Ok(()),
        1 => Err(format!(
            "Additional properties are not allowed ({} was unexpected)",
            extras[0]
        )),
        _ => Err(format!(
            "Additional properties are not allowed ({} were unexpected)",
            extras.join(", ")
        )),
    }
}

fn not_of_type(value: &Value, ty: &str) -> String {
    format!("{} is not of type '{ty}'", py_repr(value))
}

/// Python's `repr()` of the object PyYAML's safe loader builds for `value`.
pub(crate) fn py_repr(value: &Value) -> String {
    match value {
        Value::Null => "None".to_owned(),
        Value::Bool(true) => "True".to_owned(),
        Value::Bool(false) => "False".to_owned(),
        Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => i.to_string(),
            (None, Some(u), _) => u.to_string(),
            (None, None, Some(f)) => py_float(f),
            (None, None, None) => n.to_string(),
        },
        Value::String(s) => py_repr_str(s),
        Value::Sequence(items) => {
            let items: Vec<String> = items.iter().map(py_repr).collect();
            format!("[{}]", items.join(", "))
        }
        Value::Mapping(map) => {
            let entries: Vec<String> = map
                .iter()
                .map(|(k, v)| format!("{}: {}", py_repr(k), py_repr(v)))
                .collect();
            format!("{{{}}}", entries.join(", "))
        }
        Value::Tagged(tagged) => py_repr(&tagged.value),
    }
}

/// Python's `repr()` of a float (`1.0`, `0.5`, `inf`, `nan`, `1e+20`).
fn py_float(f: f64) -> String {
    if f.is_nan() {
        return "nan".to_owned();
    }
    if f.is_infinite() {
        return if f > 0.0 { "inf" } else { "-inf" }.to_owned();
    }
    // Python switches to exponent notation from 1e16 and below 1e-4.
    let abs = f.abs();
    if abs != 0.0 && !(1e-4..1e16).contains(&abs) {
        let s = format!("{f:e}");
        return match s.split_once('e') {
            Some((mantissa, exp)) => {
                let (sign, digits) = match exp.strip_prefix('-') {
                    Some(d) => ('-', d),
                    None => ('+', exp),
                };
                format!("{mantissa}e{sign}{digits:0>2}")
            }
            None => s,
        };
    }
    let s = format!("{f:?}");
    if s.contains('.') { s } else { format!("{s}.0") }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(yaml: &str) -> Result<ReposFile, String> {
        validate(&serde_yaml_ng::from_str::<Value>(yaml).unwrap()).map_err(|e| e.message)
    }

    #[test]
    fn errors_name_their_key() {
        let key = |yaml: &str| {
            validate(&serde_yaml_ng::from_str::<Value>(yaml).unwrap())
                .unwrap_err()
                .key
        };
        assert_eq!(key("repos:\n  - name: x\n"), "repos[0]");
        assert_eq!(
            key("repos:\n  - {name: x, path: /p}\n  - {name: 3, path: /q}\n"),
            "repos[1].name"
        );
        assert_eq!(key("repos: 3\n"), "repos");
        assert_eq!(key("repos: []\ncache: {path: 4}\n"), "cache.path");
        assert_eq!(key("repos: []\nx: 1\n"), "");
    }

    #[test]
    fn valid_files() {
        let f = check(
            "repos:\n  - name: user\n    path: \"%{homedir}/.pcocc/images\"\ncache:\n  path: /c\n",
        )
        .unwrap();
        assert_eq!(
            f.repos,
            [RepoEntry {
                name: "user".to_owned(),
                path: Some("%{homedir}/.pcocc/images".to_owned()),
                url: None
            }]
        );
        assert_eq!(f.cache.as_deref(), Some("/c"));
        let f = check("repos:\n  - {name: shared, url: \"docker://r:5000/vm\"}\n").unwrap();
        assert_eq!(f.repos[0].url.as_deref(), Some("docker://r:5000/vm"));
        assert_eq!(f.repos[0].path, None);
        assert_eq!(
            check("repos: []\n").unwrap(),
            ReposFile {
                repos: vec![],
                cache: None
            }
        );
    }

    #[test]
    fn messages() {
        for (yaml, message) in [
            ("", "None is not of type 'object'"),
            ("[1, 2]", "[1, 2] is not of type 'object'"),
            ("cache: {path: /c}", "'repos' is a required property"),
            (
                "repos: []\nfoo: 1",
                "Additional properties are not allowed ('foo' was unexpected)",
            ),
            (
                "repos: []\nfoo: 1\nbar: 2",
                "Additional properties are not allowed ('foo', 'bar' were unexpected)",
            ),
            (
                "repos:\n    name: user\n    path: \"/tmp/.pcocc_images_user\"",
                "{'name': 'user', 'path': '/tmp/.pcocc_images_user'} is not of type 'array'",
            ),
            ("repos: [{name: a}]", "'path' is a required property"),
            ("repos: [{path: /a}]", "'name' is a required property"),
            ("repos: [{name: a, path: 3}]", "3 is not of type 'string'"),
            (
                "repos: [{name: 1.5, path: /a}]",
                "1.5 is not of type 'string'",
            ),
            (
                "repos: [{name: true, path: /a}]",
                "True is not of type 'string'",
            ),
            (
                "repos: [{name: ~, path: /a}]",
                "None is not of type 'string'",
            ),
            ("repos: [x]", "'x' is not of type 'object'"),
            (
                "repos: [{name: a, path: /a, kind: x}]",
                "Additional properties are not allowed ('kind' was unexpected)",
            ),
            (
                "repos: []\ncache:\n  path : \"/tmp/.pcocc_cache\"\n  THIS_SHOULD_NOT_BE_HERE: 9",
                "Additional properties are not allowed ('THIS_SHOULD_NOT_BE_HERE' was unexpected)",
            ),
            ("repos: []\ncache: {}", "'path' is a required property"),
            ("repos: []\ncache: /c", "'/c' is not of type 'object'"),
            // Nested errors come before the top level's `required`/`additionalProperties`.
            (
                "repos: [{name: a}]\nfoo: 1",
                "'path' is a required property",
            ),
        ] {
            assert_eq!(check(yaml), Err(message.to_owned()), "{yaml:?}");
        }
    }

    #[test]
    fn floats() {
        assert_eq!(py_float(1.0), "1.0");
        assert_eq!(py_float(0.5), "0.5");
        assert_eq!(py_float(1e20), "1e+20");
        assert_eq!(py_float(1e-5), "1e-05");
        assert_eq!(py_float(f64::INFINITY), "inf");
    }
}
