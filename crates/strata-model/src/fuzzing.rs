//! The bodies of the fuzz targets of `fuzz/` that parse model types, kept here so that
//! `cargo test` can replay crashing inputs through exactly the same code. Not part of the
//! supported API. They panic only on a bug.

use crate::record::RevisionRecord;

/// Bytes -> a revision record, as pcocc's version 2 JSON and as its version 1 YAML. A record
/// that parses is written back as pcocc's JSON, which must parse to the same record: what
/// strata reads, it can write (an upgrade from version 1 relies on it).
pub fn parse_record(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let parsed = [
        RevisionRecord::from_pcocc_json("fuzz", text),
        RevisionRecord::from_pcocc_yaml("fuzz", text),
    ];
    for record in parsed.into_iter().flatten() {
        let written = record.to_pcocc_json();
        let again = RevisionRecord::from_pcocc_json("fuzz", &written)
            .unwrap_or_else(|e| panic!("a written record does not parse: {e}: {written}"));
        assert_eq!(
            again, record,
            "the record changed on its way through {written}"
        );
    }
}

/// Bytes -> an OpenNebula template (what `oneimage create` and `update` read from a user's
/// file, and oned's XML-RPC from the network): parsing never panics, and a template that
/// [`round_trips`](crate::one::Template::round_trips) is printed (`like_str`, as `oneimage
/// update` hands it to an editor) and parses back to itself.
pub fn parse_one_template(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(template) = crate::one::Template::parse(text) else {
        return;
    };
    if template.round_trips() {
        let written = template.like_str().to_string();
        let again = crate::one::Template::parse(&written)
            .unwrap_or_else(|e| panic!("a printed template does not parse: {e}: {written:?}"));
        assert_eq!(again, template, "the template changed through {written:?}");
    }
}
