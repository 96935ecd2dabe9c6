//! OpenNebula's output: tables, `show` text and `-x`/`-j`/`-y` documents, byte for byte as
//! OpenNebula's Ruby CLI prints them (OpenNebula/one `src/cli`, commit f847cf2e9a78 of
//! 2026-08-20, with the Rubies of the distributions it supports: json 2.6, Psych 4,
//! Nokogiri over libxml2).
//!
//! - [`xml`]: oned's documents ([`image_xml`], [`image_pool_xml`], [`datastore_xml`],
//!   [`datastore_pool_xml`]) and the tree they are made from.
//! - [`image_document`], [`image_pool_document`], [`datastore_document`],
//!   [`datastore_pool_document`]: what `show`/`list` print with `-x`, `-j` or `-y`.
//! - [`lists`]: `list` tables and CSV: the columns and the value of each cell, laid out by
//!   strata-cli's OpenNebula table engine ([`strata_cli::table::one`]), whose options
//!   ([`ListOptions`]) and errors ([`TableError`]) are re-exported here.
//! - [`show`]: `show` text.

pub mod json;
pub mod lists;
pub mod show;
pub mod units;
pub mod xml;
pub mod yaml;

use serde_json::Value;
use strata_model::one::ImageRecord;

pub use lists::{datastore_list, image_list};
pub use show::{datastore_show, image_show};
pub use strata_cli::table::one::{ListOptions, TableError};
pub use xml::{DatastoreView, datastore_pool_xml, datastore_xml, image_pool_xml, image_xml};

/// The document options of `show` and `list`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DocFormat {
    /// `-x`: the XML, re-serialised by Nokogiri (indented).
    Xml,
    /// `-j`: `JSON.pretty_generate` of the XML's hash.
    Json,
    /// `-y`: `to_yaml` of the XML's hash.
    Yaml,
}

/// `check_resource_xsd` (OpenNebula/one `src/cli/one_helper.rb`): where the XSD
/// (`share/doc/xsd/image.xsd`) declares an element `maxOccurs="unbounded"` inside an inline
/// complex type, a single occurrence is wrapped in an array. For an image that is
/// `SNAPSHOTS/SNAPSHOT` and `BACKUP_INCREMENTS/INCREMENT`. A pool's IMAGE (or DATASTORE) is
/// not wrapped: the pool XSD refers to the element, and the CLI's `replace_refs` replaces the
/// reference, `maxOccurs` included, by the element's definition. The datastore XSD has no such
/// element.
fn fix_image_hash(image: &mut Value) {
    for (parent, child) in [
        ("SNAPSHOTS", "SNAPSHOT"),
        ("BACKUP_INCREMENTS", "INCREMENT"),
    ] {
        if let Some(Value::Object(p)) = image.get_mut(parent)
            && let Some(v) = p.get_mut(child)
            && !v.is_array()
        {
            let single = v.take();
            *v = Value::Array(vec![single]);
        }
    }
}

fn print(element: &xml::Element, hash: impl FnOnce(&mut Value), format: DocFormat) -> String {
    match format {
        DocFormat::Xml => element.to_cli_pretty(),
        DocFormat::Json | DocFormat::Yaml => {
            let mut h = element.to_hash();
            hash(&mut h);
            if format == DocFormat::Json {
                json::ruby_pretty_json(&h)
            } else {
                yaml::ruby_yaml(&h)
            }
        }
    }
}

/// `oneimage show -x|-j|-y`, as printed (final newline included).
pub fn image_document(image: &ImageRecord, format: DocFormat) -> String {
    print(
        &xml::image_element(image),
        |h| {
            if let Some(i) = h.get_mut("IMAGE") {
                fix_image_hash(i);
            }
        },
        format,
    )
}

/// `oneimage list -x|-j|-y`, as printed (final newline included).
pub fn image_pool_document(images: &[ImageRecord], format: DocFormat) -> String {
    print(
        &xml::image_pool_element(images),
        |h| match h.pointer_mut("/IMAGE_POOL/IMAGE") {
            Some(Value::Array(items)) => items.iter_mut().for_each(fix_image_hash),
            Some(one) => fix_image_hash(one),
            None => {}
        },
        format,
    )
}

/// `onedatastore show -x|-j|-y`, as printed (final newline included).
pub fn datastore_document(datastore: &DatastoreView<'_>, format: DocFormat) -> String {
    print(&xml::datastore_element(datastore), |_| {}, format)
}

/// `onedatastore list -x|-j|-y`, as printed (final newline included).
pub fn datastore_pool_document(datastores: &[DatastoreView<'_>], format: DocFormat) -> String {
    print(&xml::datastore_pool_element(datastores), |_| {}, format)
}

#[cfg(test)]
mod tests;
