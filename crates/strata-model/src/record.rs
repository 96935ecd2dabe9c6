//! [`RevisionRecord`]: one revision of an image as pcocc v2 records it in `meta/<name>@<rev>`,
//! read with pcocc's schema and written byte for byte as pcocc writes it.
//!
//! pcocc (lib/pcocc/ObjectStore.py, v0.7.5) builds the record in `put_meta` as a dict with the
//! keys `name`, `revision`, `kind`, `owner`, `timestamp`, `data_blobs`, `custom_meta`, in that
//! order, and writes it with `json.dump(meta, f)`: Python's defaults, so `", "` and `": "`
//! separators, no trailing newline, non-ASCII text escaped as `\uXXXX`, floats by
//! `float.__repr__`. It reads records with `json.loads` and validates them against
//! `metadata_schema` (required: name, revision, data_blobs, kind, owner, timestamp; optional:
//! description, custom_meta; `additionalProperties: false`), failing with
//! `Bad metadata for {name}: {err}`.
//!
//! strata keeps its own fields under `custom_meta.strata` ([`StrataMeta`]), which pcocc carries
//! along untouched.

use crate::python as py;

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::digest::{Digest, DigestError};
use crate::kind::{Kind, KindError};

/// One revision of an image: the contents of pcocc v2's `meta/<name>@<revision>`.
///
/// [`RevisionRecord::to_pcocc_json`] writes exactly the bytes pcocc's `put_meta` would write
/// for the same values; [`RevisionRecord::from_pcocc_json`] reads what pcocc writes (and what
/// its schema accepts), and writing a record read from pcocc's bytes gives those bytes back.
#[derive(Debug, Clone, PartialEq)]
pub struct RevisionRecord {
    /// The image name (`name`). Never empty.
    pub name: String,
    /// The revision number (`revision`): 0 for an import or copy, then one more per save or
    /// resize.
    pub revision: u64,
    /// Whether the image is a VM disk or a container (`kind`).
    pub kind: Kind,
    /// The user who wrote the revision (`owner`, pcocc's `pw_name`).
    pub owner: String,
    /// When the revision was written, in seconds since the epoch (`timestamp`, Python's
    /// `time.time()`).
    pub timestamp: f64,
    /// The blobs of the revision (`data_blobs`): for a VM the qcow2 layers, bottom first, the
    /// last one being the image's top file; for a container every OCI blob.
    pub data_blobs: Vec<DataBlob>,
    /// pcocc's top-level `description`: in its schema but never written by pcocc. Kept only so
    /// a record that has one round-trips; strata's own description is
    /// [`StrataMeta::description`].
    pub description: Option<String>,
    /// `custom_meta`, which pcocc always writes (`{}` for a VM, `{"oci_index": ...}` for a
    /// container). `None` only for a record read without one; such a record is then written
    /// without it too.
    pub custom_meta: Option<CustomMeta>,
}

impl RevisionRecord {
    /// A record as pcocc's `put_meta` makes one: blobs in the form pcocc writes for `kind`
    /// ([`DataBlob::for_kind`]), no description, and an empty `custom_meta`.
    pub fn new(
        name: impl Into<String>,
        revision: u64,
        kind: Kind,
        owner: impl Into<String>,
        timestamp: f64,
        blobs: impl IntoIterator<Item = Digest>,
    ) -> RevisionRecord {
        RevisionRecord {
            name: name.into(),
            revision,
            kind,
            owner: owner.into(),
            timestamp,
            data_blobs: blobs
                .into_iter()
                .map(|d| DataBlob::for_kind(kind, d))
                .collect(),
            description: None,
            custom_meta: Some(CustomMeta::new()),
        }
    }

    /// The last blob: for a VM, the top qcow2 layer (pcocc's `get_image` returns its path).
    pub fn top_blob(&self) -> Option<&DataBlob> {
        self.data_blobs.last()
    }

    /// A container's OCI index (`custom_meta.oci_index`), as pcocc stored it.
    pub fn oci_index(&self) -> Option<&Value> {
        self.custom_meta.as_ref().and_then(CustomMeta::oci_index)
    }

    /// The record's JSON text, as every store that keeps records writes it (the same bytes as
    /// [`RevisionRecord::to_pcocc_json`]).
    pub fn to_json(&self) -> String {
        self.to_pcocc_json()
    }

    /// Reads a record's JSON text, checked as [`RevisionRecord::from_pcocc_json`] checks it;
    /// `name` is the image name looked up, for the error.
    pub fn from_json(name: &str, text: &str) -> Result<RevisionRecord, RecordError> {
        RevisionRecord::from_pcocc_json(name, text)
    }

    /// Writes the record as pcocc's `put_meta` does (`json.dump(meta, f)`), byte for byte.
    ///
    /// Keys in pcocc's order: `name`, `revision`, `kind`, `owner`, `timestamp`, `data_blobs`,
    /// then `description` if there is one (pcocc never writes it; we put it where its schema
    /// lists it, before `custom_meta`), then `custom_meta` if there is one. The timestamp is
    /// always written as a float (`1533305394.0`, `1e+16`), as `time.time()` is one.
    pub fn to_pcocc_json(&self) -> String {
        let mut out = String::with_capacity(256 + 80 * self.data_blobs.len());
        out.push_str("{\"name\": ");
        py::write_str(&mut out, &self.name);
        out.push_str(", \"revision\": ");
        out.push_str(&self.revision.to_string());
        out.push_str(", \"kind\": ");
        py::write_str(&mut out, self.kind.as_str());
        out.push_str(", \"owner\": ");
        py::write_str(&mut out, &self.owner);
        out.push_str(", \"timestamp\": ");
        py::write_json_float(&mut out, self.timestamp);
        out.push_str(", \"data_blobs\": [");
        for (i, blob) in self.data_blobs.iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            py::write_str(&mut out, &blob.to_string());
        }
        out.push(']');
        if let Some(description) = &self.description {
            out.push_str(", \"description\": ");
            py::write_str(&mut out, description);
        }
        if let Some(custom_meta) = &self.custom_meta {
            out.push_str(", \"custom_meta\": ");
            py::write_object(&mut out, &custom_meta.to_map());
        }
        out.push('}');
        out
    }

    /// The record as pcocc holds it after reading it (`ObjectStore.get_meta` adds the
    /// repository's name as a last key, `repo`), written by `json.dumps`: the text pcocc's
    /// container cache hashes into its keys (`ImageMgr.cache_key`).
    pub fn to_pcocc_json_with_repo(&self, repo: &str) -> String {
        let mut out = self.to_pcocc_json();
        out.pop();
        out.push_str(", \"repo\": ");
        py::write_str(&mut out, repo);
        out.push('}');
        out
    }

    /// Reads a record as pcocc does (`json.loads`, then `metadata_schema`), plus strata's
    /// checks. `name` is the image name the caller looked up, which pcocc puts in its message.
    ///
    /// Schema errors are reported as the `jsonschema` package picks and words them
    /// (`best_match`: a missing key first, then unknown keys, then a top-level key of the wrong
    /// type in schema order, then a `data_blobs` item). Then strata checks what pcocc leaves to
    /// chance: `name` is not empty, `revision` is from 0 to `u64::MAX`, `kind` is `vm` or `ctr`,
    /// each blob is a sha256 digest (bare or `sha256:`, for either kind: the form is kept so the
    /// bytes round-trip), and `custom_meta.strata` has the shape of [`StrataMeta`].
    ///
    /// Accepted like pcocc, but written back normalised: an integer `timestamp` (written as a
    /// float) and a whole float `revision` such as `1.0` (modern jsonschema counts it as an
    /// integer; written as `1`). Unlike Python, `NaN` and `Infinity` are not JSON here.
    pub fn from_pcocc_json(name: &str, text: &str) -> Result<RevisionRecord, RecordError> {
        let value: Value = serde_json::from_str(text).map_err(|err| RecordError::Json {
            name: name.to_owned(),
            message: err.to_string(),
        })?;
        parse_record(name, value)
    }

    /// Parses a record of pcocc's version 1 layout: the same fields, written by PyYAML's
    /// `safe_dump` and read with `CSafeLoader`, then validated as [`from_pcocc_json`] does.
    /// A YAML value JSON cannot hold (`.nan`) becomes `null`, which the schema refuses.
    ///
    /// [`from_pcocc_json`]: RevisionRecord::from_pcocc_json
    pub fn from_pcocc_yaml(name: &str, text: &str) -> Result<RevisionRecord, RecordError> {
        let value: Value = serde_yaml_ng::from_str(text).map_err(|err| RecordError::Yaml {
            name: name.to_owned(),
            message: err.to_string(),
        })?;
        parse_record(name, value)
    }
}

/// The properties of pcocc's `metadata_schema`, in its order, with their JSON types.
const PROPERTIES: [(&str, &str); 8] = [
    ("name", "string"),
    ("revision", "integer"),
    ("data_blobs", "array"),
    ("description", "string"),
    ("kind", "string"),
    ("owner", "string"),
    ("timestamp", "number"),
    ("custom_meta", "object"),
];

/// The required properties of pcocc's `metadata_schema`, in its order.
const REQUIRED: [&str; 6] = [
    "name",
    "revision",
    "data_blobs",
    "kind",
    "owner",
    "timestamp",
];

/// Whether `value` is of the JSON schema type `ty` as the `jsonschema` package checks it (a
/// whole float is an integer since draft 6; a boolean is never a number).
fn is_of_type(value: &Value, ty: &str) -> bool {
    match ty {
        "string" => value.is_string(),
        "integer" => match value {
            Value::Number(n) => {
                n.is_u64() || n.is_i64() || n.as_f64().is_some_and(|f| f.fract() == 0.0)
            }
            _ => false,
        },
        "number" => value.is_number(),
        "array" => value.is_array(),
        "object" => value.is_object(),
        _ => false,
    }
}

fn parse_record(name: &str, value: Value) -> Result<RevisionRecord, RecordError> {
    let name_owned = || name.to_owned();
    let mut map = match value {
        Value::Object(map) => map,
        other => {
            return Err(RecordError::WrongType {
                name: name_owned(),
                path: String::new(),
                value: py::repr_value(&other),
                expected: "object",
            });
        }
    };

    // The schema, in the order jsonschema's best_match reports its errors.
    if let Some(field) = REQUIRED.into_iter().find(|f| !map.contains_key(*f)) {
        return Err(RecordError::MissingField {
            name: name_owned(),
            field,
        });
    }
    // jsonschema collects them in a set and reports them sorted.
    let mut unknown: Vec<String> = map
        .keys()
        .filter(|k| !PROPERTIES.iter().any(|(p, _)| p == k))
        .cloned()
        .collect();
    unknown.sort();
    if !unknown.is_empty() {
        return Err(RecordError::UnknownFields {
            name: name_owned(),
            fields: unknown,
        });
    }
    for (field, ty) in PROPERTIES {
        if let Some(value) = map.get(field)
            && !is_of_type(value, ty)
        {
            return Err(RecordError::WrongType {
                name: name_owned(),
                path: field.to_owned(),
                value: py::repr_value(value),
                expected: ty,
            });
        }
    }
    let blobs = match map.remove("data_blobs") {
        Some(Value::Array(items)) => items,
        _ => Vec::new(),
    };
    if let Some((index, item)) = blobs.iter().enumerate().find(|(_, item)| !item.is_string()) {
        return Err(RecordError::WrongType {
            name: name_owned(),
            path: format!("data_blobs[{index}]"),
            value: py::repr_value(item),
            expected: "string",
        });
    }

    // strata's checks.
    let take_string = |map: &mut Map<String, Value>, field: &str| match map.remove(field) {
        Some(Value::String(s)) => Some(s),
        _ => None,
    };
    let record_name = take_string(&mut map, "name").unwrap_or_default();
    if record_name.is_empty() {
        return Err(RecordError::EmptyName { name: name_owned() });
    }
    let revision = match map.get("revision") {
        Some(Value::Number(n)) => n.as_u64().or_else(|| {
            n.as_f64()
                .filter(|f| (0.0..18_446_744_073_709_551_616.0).contains(f))
                .map(|f| f as u64)
        }),
        _ => None,
    };
    let Some(revision) = revision else {
        return Err(RecordError::RevisionOutOfRange {
            name: name_owned(),
            value: map.get("revision").map(py::repr_value).unwrap_or_default(),
        });
    };
    let kind_text = take_string(&mut map, "kind").unwrap_or_default();
    let kind = kind_text
        .parse::<Kind>()
        .map_err(|error| RecordError::UnknownKind {
            name: name_owned(),
            error,
        })?;
    let mut data_blobs = Vec::with_capacity(blobs.len());
    for (index, item) in blobs.iter().enumerate() {
        let text = item.as_str().unwrap_or_default();
        let blob = text
            .parse::<DataBlob>()
            .map_err(|error| RecordError::BadBlob {
                name: name_owned(),
                index,
                error,
            })?;
        data_blobs.push(blob);
    }
    let custom_meta = match map.remove("custom_meta") {
        Some(Value::Object(custom)) => {
            Some(
                CustomMeta::try_from(custom).map_err(|err| RecordError::BadStrata {
                    name: name_owned(),
                    message: err.to_string(),
                })?,
            )
        }
        _ => None,
    };
    Ok(RevisionRecord {
        name: record_name,
        revision,
        kind,
        owner: take_string(&mut map, "owner").unwrap_or_default(),
        timestamp: map
            .get("timestamp")
            .and_then(Value::as_f64)
            .unwrap_or_default(),
        data_blobs,
        description: take_string(&mut map, "description"),
        custom_meta,
    })
}

/// Why a record was refused. Every message starts as pcocc's `_read_meta` words it,
/// `Bad metadata for {name}: `; the rest says which variant's doc.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    /// The text is not JSON. The rest of the message is serde_json's (pcocc prints Python's
    /// `json` error, which we cannot reproduce).
    #[error("Bad metadata for {name}: {message}")]
    Json {
        /// The image name the caller looked up.
        name: String,
        /// What the JSON parser said.
        message: String,
    },
    /// The text of a version 1 record is not YAML. The rest of the message is serde_yaml_ng's.
    #[error("Bad metadata for {name}: {message}")]
    Yaml {
        /// The image name the caller looked up.
        name: String,
        /// What the YAML parser said.
        message: String,
    },
    /// A value has the wrong JSON type (jsonschema's `type` message:
    /// `{repr(value)} is not of type '{type}'`).
    #[error("Bad metadata for {name}: {value} is not of type '{expected}'")]
    WrongType {
        /// The image name the caller looked up.
        name: String,
        /// Where the value is: empty for the whole record, a key, or `data_blobs[i]`.
        path: String,
        /// The value, as Python's `repr()` writes it.
        value: String,
        /// The JSON schema type that was expected.
        expected: &'static str,
    },
    /// A required key is missing (jsonschema's `required` message).
    #[error("Bad metadata for {name}: '{field}' is a required property")]
    MissingField {
        /// The image name the caller looked up.
        name: String,
        /// The first missing key, in the schema's order.
        field: &'static str,
    },
    /// The record has keys outside pcocc's schema (jsonschema's `additionalProperties`
    /// message: `Additional properties are not allowed ('x' was unexpected)`).
    #[error(
        "Bad metadata for {name}: Additional properties are not allowed ({} unexpected)",
        unexpected_list(.fields)
    )]
    UnknownFields {
        /// The image name the caller looked up.
        name: String,
        /// The unknown keys, sorted (by code point, as jsonschema sorts them).
        fields: Vec<String>,
    },
    /// `name` is empty (pcocc's `_validate_name` text, which pcocc checks only when writing).
    #[error("Bad metadata for {name}: Empty object name")]
    EmptyName {
        /// The image name the caller looked up.
        name: String,
    },
    /// `revision` is negative or does not fit 64 bits. Our text.
    #[error("Bad metadata for {name}: revision {value} is not between 0 and 18446744073709551615")]
    RevisionOutOfRange {
        /// The image name the caller looked up.
        name: String,
        /// The revision, as Python's `repr()` writes it.
        value: String,
    },
    /// `kind` is neither `vm` nor `ctr`.
    #[error("Bad metadata for {name}: {error}")]
    UnknownKind {
        /// The image name the caller looked up.
        name: String,
        /// Why the kind was refused.
        error: KindError,
    },
    /// A `data_blobs` entry is not a sha256 digest (for another algorithm the text after the
    /// index is pcocc's `Only sha256 is supported currently`).
    #[error("Bad metadata for {name}: data_blobs[{index}]: {error}")]
    BadBlob {
        /// The image name the caller looked up.
        name: String,
        /// The position of the entry in `data_blobs`.
        index: usize,
        /// Why the entry was refused.
        error: DigestError,
    },
    /// `custom_meta.strata` does not have the shape of [`StrataMeta`]. Our text, then serde's.
    #[error("Bad metadata for {name}: custom_meta.strata: {message}")]
    BadStrata {
        /// The image name the caller looked up.
        name: String,
        /// What the deserialiser said.
        message: String,
    },
}

impl RecordError {
    /// The image name the caller looked up.
    pub fn name(&self) -> &str {
        match self {
            RecordError::Json { name, .. }
            | RecordError::Yaml { name, .. }
            | RecordError::WrongType { name, .. }
            | RecordError::MissingField { name, .. }
            | RecordError::UnknownFields { name, .. }
            | RecordError::EmptyName { name }
            | RecordError::RevisionOutOfRange { name, .. }
            | RecordError::UnknownKind { name, .. }
            | RecordError::BadBlob { name, .. }
            | RecordError::BadStrata { name, .. } => name,
        }
    }
}

/// jsonschema's `extras_msg`: the reprs joined by `, `, then `was` or `were`.
fn unexpected_list(fields: &[String]) -> String {
    let list: Vec<String> = fields.iter().map(|f| py::repr_str(f)).collect();
    let verb = if fields.len() == 1 { "was" } else { "were" };
    format!("{} {verb}", list.join(", "))
}

/// One entry of `data_blobs`: a sha256 digest in the form it is written.
///
/// pcocc writes VM layers as bare hex and container blobs as `sha256:<hex>`, and strips the
/// prefix when it reads. A blob read from a file keeps its form so the file round-trips.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DataBlob {
    digest: Digest,
    prefixed: bool,
}

impl DataBlob {
    /// The digest written as bare hex.
    pub fn bare(digest: Digest) -> DataBlob {
        DataBlob {
            digest,
            prefixed: false,
        }
    }

    /// The digest written as `sha256:<hex>`.
    pub fn prefixed(digest: Digest) -> DataBlob {
        DataBlob {
            digest,
            prefixed: true,
        }
    }

    /// The digest in the form pcocc writes for `kind`: bare for a VM, prefixed for a container.
    pub fn for_kind(kind: Kind, digest: Digest) -> DataBlob {
        DataBlob {
            digest,
            prefixed: kind == Kind::Ctr,
        }
    }

    /// The digest.
    pub fn digest(&self) -> &Digest {
        &self.digest
    }

    /// Whether it is written `sha256:<hex>`.
    pub fn is_prefixed(&self) -> bool {
        self.prefixed
    }
}

impl FromStr for DataBlob {
    type Err = DigestError;

    /// Parses bare hex or `sha256:<hex>`, remembering which.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let digest: Digest = s.parse()?;
        Ok(DataBlob {
            digest,
            prefixed: s.contains(':'),
        })
    }
}

/// Writes the blob in its form.
impl fmt::Display for DataBlob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.prefixed {
            write!(f, "{}", self.digest.prefixed())
        } else {
            f.write_str(self.digest.hex())
        }
    }
}

/// `custom_meta`: a JSON object whose keys keep their order (pcocc's `json.dump` writes a
/// dict's keys in insertion order, and so do we), with `strata` typed as [`StrataMeta`].
///
/// Setting a key that exists keeps its place; a new key goes last, as in a Python dict.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CustomMeta {
    /// Every entry but `strata`, in order.
    others: Map<String, Value>,
    /// `strata` and the number of `others` entries before it.
    strata: Option<(usize, StrataMeta)>,
}

impl CustomMeta {
    /// The key under which a container's OCI index is stored (pcocc's `Image.py`).
    pub const OCI_INDEX: &'static str = "oci_index";
    /// The key under which strata's own fields are stored.
    pub const STRATA: &'static str = "strata";

    /// An empty `custom_meta` (`{}`).
    pub fn new() -> CustomMeta {
        CustomMeta::default()
    }

    /// The number of keys.
    pub fn len(&self) -> usize {
        self.others.len() + usize::from(self.strata.is_some())
    }

    /// Whether there are no keys.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The value of a key other than `strata` (use [`CustomMeta::strata`] for that one).
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.others.get(key)
    }

    /// A container's OCI index (`oci_index`): the `index.json` of its OCI layout.
    pub fn oci_index(&self) -> Option<&Value> {
        self.others.get(Self::OCI_INDEX)
    }

    /// Sets the OCI index.
    pub fn set_oci_index(&mut self, index: Value) {
        self.others.insert(Self::OCI_INDEX.to_owned(), index);
    }

    /// strata's own fields, if the record has them.
    pub fn strata(&self) -> Option<&StrataMeta> {
        self.strata.as_ref().map(|(_, meta)| meta)
    }

    /// strata's own fields, added (empty, as the last key) if the record has none.
    pub fn strata_mut(&mut self) -> &mut StrataMeta {
        let at = self.others.len();
        &mut self
            .strata
            .get_or_insert_with(|| (at, StrataMeta::default()))
            .1
    }

    /// The whole object, keys in order.
    pub fn to_map(&self) -> Map<String, Value> {
        let mut map = Map::new();
        let strata_at = self
            .strata
            .as_ref()
            .map(|(at, _)| (*at).min(self.others.len()));
        for (i, (key, value)) in self.others.iter().enumerate() {
            if strata_at == Some(i) {
                self.push_strata(&mut map);
            }
            map.insert(key.clone(), value.clone());
        }
        if strata_at == Some(self.others.len()) {
            self.push_strata(&mut map);
        }
        map
    }

    fn push_strata(&self, map: &mut Map<String, Value>) {
        if let Some((_, meta)) = &self.strata {
            map.insert(Self::STRATA.to_owned(), Value::Object(meta.to_map()));
        }
    }
}

/// Reads a `custom_meta` object, keeping its key order; fails if `strata` does not have the
/// shape of [`StrataMeta`].
impl TryFrom<Map<String, Value>> for CustomMeta {
    type Error = serde_json::Error;

    fn try_from(map: Map<String, Value>) -> Result<Self, Self::Error> {
        let mut meta = CustomMeta::default();
        for (key, value) in map {
            if key == Self::STRATA {
                let strata = StrataMeta::deserialize(value)?;
                meta.strata = Some((meta.others.len(), strata));
            } else {
                meta.others.insert(key, value);
            }
        }
        Ok(meta)
    }
}

/// strata's own fields of a revision, kept in `custom_meta.strata` where pcocc ignores them.
///
/// Keys this version does not know (OpenNebula attributes, later) are kept in
/// [`StrataMeta::extra`], in order, so a record written by a newer strata survives a round trip
/// through an older one. On writing, `description` comes first, then the other keys.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct StrataMeta {
    /// A free-text description of the revision (`null` reads as none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Every other key, in order.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl StrataMeta {
    /// The object as written: `description` (if any) first, then the other keys.
    pub fn to_map(&self) -> Map<String, Value> {
        let mut map = Map::new();
        if let Some(description) = &self.description {
            map.insert("description".to_owned(), Value::String(description.clone()));
        }
        for (key, value) in &self.extra {
            if !map.contains_key(key) {
                map.insert(key.clone(), value.clone());
            }
        }
        map
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn new_record_is_written_as_put_meta_writes_it() {
        let digest: Digest = HEX.parse().unwrap();
        let record = RevisionRecord::new("img", 0, Kind::Vm, "jdoe", 1_533_305_394.0, [digest]);
        assert_eq!(
            record.to_pcocc_json(),
            format!(
                "{{\"name\": \"img\", \"revision\": 0, \"kind\": \"vm\", \"owner\": \"jdoe\", \
                 \"timestamp\": 1533305394.0, \"data_blobs\": [\"{HEX}\"], \"custom_meta\": {{}}}}"
            )
        );
    }

    #[test]
    fn strata_keeps_its_place_among_other_keys() {
        let mut meta = CustomMeta::new();
        meta.strata_mut().description = Some("d".into());
        meta.set_oci_index(Value::Null);
        let keys: Vec<String> = meta.to_map().keys().cloned().collect();
        assert_eq!(keys, ["strata", "oci_index"]);
    }

    #[test]
    fn blob_form_is_kept() {
        let bare: DataBlob = HEX.parse().unwrap();
        let prefixed: DataBlob = format!("sha256:{HEX}").parse().unwrap();
        assert_eq!(bare.digest(), prefixed.digest());
        assert_eq!(bare.to_string(), HEX);
        assert_eq!(prefixed.to_string(), format!("sha256:{HEX}"));
    }
}
