//! The XML documents of oned (`one.image.info`, `one.imagepool.info`, `one.datastore.info`,
//! `one.datastorepool.info`) and the form the Ruby CLI prints for `-x`.
//!
//! Both come from one small tree ([`Element`]): [`Element::to_compact`] writes it as oned does
//! (no whitespace, every element with a start and an end tag, CDATA where oned's `to_xml`
//! wraps a value with `one_util::escape_xml`), and [`Element::to_cli_pretty`] as the Ruby CLI
//! re-serialises what it parsed (Nokogiri, that is libxml2's formatter: two spaces a level,
//! childless elements self-closed). [`Element::to_hash`] is the CLI's `XMLElement#to_hash`,
//! the tree behind `-j` and `-y`.
//!
//! Element order and contents: OpenNebula/one `src/image/Image.cc` and
//! `src/datastore/Datastore.cc` (`to_xml`), `src/pool/PoolObjectSQL.cc` (`perms_to_xml`,
//! `lock_db_to_xml`), `src/pool/ObjectCollection.cc` (id sets, so ids come sorted and once),
//! `src/vm/Snapshots.cc` (the snapshots are a template, hence sorted), `src/template/Template.cc`
//! and `src/common/Attribute.cc` (values in CDATA, vector keys sorted).

use std::fmt::Write as _;

use serde_json::{Map, Value};
use strata_model::one::{
    AttrValue, Capacity, Class, DatastoreRecord, ImageRecord, Permissions, Right, Snapshots,
    Template,
};

/// A node of the tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    /// A child element.
    Element(Element),
    /// Text, written escaped (oned writes numbers and object names this way).
    Text(String),
    /// A CDATA section (oned's `one_util::escape_xml`).
    CData(String),
}

/// An element: a name and its children, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Element {
    /// The tag name.
    pub name: String,
    /// The children; an empty [`Node::Text`] stands for no child at all.
    pub children: Vec<Node>,
}

impl Element {
    /// An element with no children.
    pub fn new(name: impl Into<String>) -> Element {
        Element {
            name: name.into(),
            children: Vec::new(),
        }
    }

    /// `<name>text</name>`.
    pub fn text(name: impl Into<String>, text: impl ToString) -> Element {
        Element {
            name: name.into(),
            children: vec![Node::Text(text.to_string())],
        }
    }

    /// `<name><![CDATA[value]]></name>`.
    pub fn cdata(name: impl Into<String>, value: impl Into<String>) -> Element {
        Element {
            name: name.into(),
            children: vec![Node::CData(value.into())],
        }
    }

    /// Appends a child element.
    pub fn push(&mut self, child: Element) -> &mut Element {
        self.children.push(Node::Element(child));
        self
    }

    /// Appends a child element (builder form).
    #[must_use]
    pub fn with(mut self, child: Element) -> Element {
        self.push(child);
        self
    }

    /// The children a parser sees: an empty text node is no node.
    fn parsed_children(&self) -> impl Iterator<Item = &Node> {
        self.children
            .iter()
            .filter(|n| !matches!(n, Node::Text(t) if t.is_empty()))
    }

    /// oned's bytes: no whitespace, no self-closed element.
    pub fn to_compact(&self) -> String {
        let mut out = String::new();
        self.write_compact(&mut out);
        out
    }

    fn write_compact(&self, out: &mut String) {
        let _ = write!(out, "<{}>", self.name);
        for child in &self.children {
            match child {
                Node::Element(e) => e.write_compact(out),
                // oned writes names unescaped; OpenNebula forbids `&`, `<` and `>` in them
                // (`PoolObjectSQL::INVALID_NAME_CHARS`), so escaping changes nothing it accepts
                // and keeps the document well-formed whatever the record holds.
                Node::Text(t) => escape_text(t, false, out),
                Node::CData(c) => write_cdata(c, out),
            }
        }
        let _ = write!(out, "</{}>", self.name);
    }

    /// What the Ruby CLI prints for `-x`: the document parsed with Nokogiri and written back
    /// with `to_xml` (libxml2's `FORMAT` option: an element whose children are all elements
    /// has them on lines of their own, indented two spaces a level; one with text or CDATA is
    /// written on one line; an element without children is self-closed), then `puts`, which
    /// adds the final newline. The parsed document declares no encoding, so libxml2 writes
    /// non-ASCII characters of text nodes as hexadecimal character references (`&#xE9;`);
    /// CDATA sections are written as they are.
    pub fn to_cli_pretty(&self) -> String {
        let mut out = String::new();
        self.write_pretty(0, &mut out);
        out.push('\n');
        out
    }

    fn write_pretty(&self, level: usize, out: &mut String) {
        let children: Vec<&Node> = self.parsed_children().collect();
        if children.is_empty() {
            let _ = write!(out, "<{}/>", self.name);
            return;
        }
        let _ = write!(out, "<{}>", self.name);
        if children.iter().all(|c| matches!(c, Node::Element(_))) {
            out.push('\n');
            for child in children {
                if let Node::Element(e) = child {
                    indent(level + 1, out);
                    e.write_pretty(level + 1, out);
                    out.push('\n');
                }
            }
            indent(level, out);
        } else {
            for child in children {
                match child {
                    Node::Element(e) => e.write_inline(out),
                    Node::Text(t) => escape_text(t, true, out),
                    Node::CData(c) => write_cdata(c, out),
                }
            }
        }
        let _ = write!(out, "</{}>", self.name);
    }

    fn write_inline(&self, out: &mut String) {
        let children: Vec<&Node> = self.parsed_children().collect();
        if children.is_empty() {
            let _ = write!(out, "<{}/>", self.name);
            return;
        }
        let _ = write!(out, "<{}>", self.name);
        for child in children {
            match child {
                Node::Element(e) => e.write_inline(out),
                Node::Text(t) => escape_text(t, true, out),
                Node::CData(c) => write_cdata(c, out),
            }
        }
        let _ = write!(out, "</{}>", self.name);
    }

    /// `XMLElement#to_hash` (Nokogiri branch of OpenNebula/one
    /// `src/oca/ruby/opennebula/xml_element.rb`): `{name => value}` where an element whose only
    /// child is text or CDATA is that string (an empty CDATA gives `""`), and any other element
    /// is an object of its child elements (an empty element gives `{}`), a name met twice
    /// turning into an array of the values. Every leaf is a string: no number survives.
    pub fn to_hash(&self) -> Value {
        let mut map = Map::new();
        map.insert(self.name.clone(), self.hash_value());
        Value::Object(map)
    }

    fn hash_value(&self) -> Value {
        let children: Vec<&Node> = self.parsed_children().collect();
        if let [only] = children.as_slice() {
            match only {
                Node::Text(t) => return Value::String(t.clone()),
                // A value holding `]]>` is written as two CDATA sections, which parse as two
                // nodes: Nokogiri then builds an object of the (no) child elements.
                Node::CData(c) if !c.contains("]]>") => return Value::String(c.clone()),
                _ => {}
            }
        }
        let mut map = Map::new();
        for child in children {
            if let Node::Element(e) = child {
                let value = e.hash_value();
                match map.get_mut(&e.name) {
                    Some(Value::Array(items)) => items.push(value),
                    Some(existing) => {
                        let first = existing.take();
                        *existing = Value::Array(vec![first, value]);
                    }
                    None => {
                        map.insert(e.name.clone(), value);
                    }
                }
            }
        }
        Value::Object(map)
    }
}

fn indent(level: usize, out: &mut String) {
    for _ in 0..level {
        out.push_str("  ");
    }
}

/// Escapes text as libxml2 does (`xmlEscapeEntities`): `&`, `<`, `>`, and `\r` as `&#13;`;
/// with `ascii`, non-ASCII characters as `&#xHEX;` (uppercase hex digits).
fn escape_text(t: &str, ascii: bool, out: &mut String) {
    for c in t.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\r' => out.push_str("&#13;"),
            c if ascii && !c.is_ascii() => {
                let _ = write!(out, "&#x{:X};", u32::from(c));
            }
            c => out.push(c),
        }
    }
}

/// A CDATA section; a `]]>` inside is split over two sections, as libxml2 writes it (oned
/// itself would write it as is and break the document).
fn write_cdata(c: &str, out: &mut String) {
    out.push_str("<![CDATA[");
    out.push_str(&c.replace("]]>", "]]]]><![CDATA[>"));
    out.push_str("]]>");
}

fn bit(on: bool) -> &'static str {
    if on { "1" } else { "0" }
}

/// `<PERMISSIONS>`: OWNER_U ... OTHER_A, `1` or `0`.
fn permissions(perms: Permissions) -> Element {
    let mut el = Element::new("PERMISSIONS");
    for class in Class::ALL {
        for right in Right::ALL {
            let name = format!(
                "{}_{}",
                class.as_str(),
                right.mask_letter().to_ascii_uppercase()
            );
            el.push(Element::text(name, bit(perms.allows(class, right))));
        }
    }
    el
}

/// An `ObjectCollection`: `<NAME><ID>..</ID>...</NAME>`, ids sorted and once (a `std::set`).
fn collection<T: Ord + Copy + ToString>(name: &str, ids: &[T]) -> Element {
    let mut sorted: Vec<T> = ids.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let mut el = Element::new(name);
    for id in sorted {
        el.push(Element::text("ID", id));
    }
    el
}

/// `Template::to_xml`: attributes in the server's order (sorted by name), every value in
/// CDATA, a vector as an element of its (sorted) keys.
pub fn template(root: &str, template: &Template) -> Element {
    let mut el = Element::new(root);
    for attr in template.sorted().iter() {
        match &attr.value {
            AttrValue::Single(v) => {
                el.push(Element::cdata(attr.name.as_str(), v.as_str()));
            }
            AttrValue::Vector(vector) => {
                let mut v = Element::new(attr.name.as_str());
                for (key, value) in vector.iter() {
                    v.push(Element::cdata(key.as_str(), value));
                }
                el.push(v);
            }
        }
    }
    el
}

/// `<SNAPSHOTS>`: a template named SNAPSHOTS, so its attributes come sorted (ALLOW_ORPHANS,
/// CURRENT_BASE, NEXT_SNAPSHOT, then each SNAPSHOT) and in CDATA; in a SNAPSHOT, ACTIVE
/// (`YES`) only on the active one, CHILDREN (comma-separated) only when there are children,
/// NAME only when not empty (`Snapshots::create_snapshot`, `active_snapshot`).
fn snapshots(s: &Snapshots) -> Element {
    let mut el = Element::new("SNAPSHOTS")
        .with(Element::cdata("ALLOW_ORPHANS", s.allow_orphans.as_str()))
        .with(Element::cdata("CURRENT_BASE", s.current_base.to_string()))
        .with(Element::cdata("NEXT_SNAPSHOT", s.next_snapshot.to_string()));
    for snap in &s.list {
        let mut v = Element::new("SNAPSHOT");
        if snap.active {
            v.push(Element::cdata("ACTIVE", "YES"));
        }
        if !snap.children.is_empty() {
            let children: Vec<String> = snap.children.iter().map(u32::to_string).collect();
            v.push(Element::cdata("CHILDREN", children.join(",")));
        }
        v.push(Element::cdata("DATE", snap.date.to_string()));
        v.push(Element::cdata("ID", snap.id.to_string()));
        if !snap.name.is_empty() {
            v.push(Element::cdata("NAME", snap.name.as_str()));
        }
        v.push(Element::cdata("PARENT", snap.parent.to_string()));
        v.push(Element::cdata("SIZE", snap.size_mb.to_string()));
        el.push(v);
    }
    el
}

/// The `<IMAGE>` tree of an image (`Image::to_xml`).
pub fn image_element(r: &ImageRecord) -> Element {
    let mut el = Element::new("IMAGE")
        .with(Element::text("ID", r.id))
        .with(Element::text("UID", r.owner.uid))
        .with(Element::text("GID", r.owner.gid))
        .with(Element::text("UNAME", &r.owner.uname))
        .with(Element::text("GNAME", &r.owner.gname))
        .with(Element::text("NAME", &r.name));
    if let Some(lock) = &r.lock {
        el.push(
            Element::new("LOCK")
                .with(Element::text("LOCKED", lock.level.code()))
                .with(Element::text("OWNER", lock.owner))
                .with(Element::text("TIME", lock.time))
                .with(Element::text("REQ_ID", lock.req_id)),
        );
    }
    el.with(permissions(r.perms))
        .with(Element::text("TYPE", r.image_type.code()))
        .with(Element::text("DISK_TYPE", r.disk_type.code()))
        .with(Element::text("PERSISTENT", bit(r.persistent)))
        .with(Element::text("REGTIME", r.regtime))
        .with(Element::text("MODTIME", r.modtime))
        .with(Element::cdata("SOURCE", r.source.as_str()))
        .with(Element::cdata("PATH", r.path.as_str()))
        .with(Element::cdata("FORMAT", r.format.as_str()))
        .with(Element::cdata("FS", r.fs.as_str()))
        .with(Element::text("SIZE", r.size_mb))
        .with(Element::text("STATE", r.state.code()))
        .with(Element::text("PREV_STATE", r.prev_state.code()))
        .with(Element::text("RUNNING_VMS", r.running_vms))
        .with(Element::text("CLONING_OPS", r.cloning_ops))
        .with(Element::text("CLONING_ID", r.cloning_id))
        .with(Element::text("TARGET_SNAPSHOT", r.target_snapshot))
        .with(Element::text("DATASTORE_ID", r.datastore_id))
        .with(Element::text("DATASTORE", &r.datastore))
        .with(collection("VMS", &r.vms))
        .with(collection("CLONES", &r.clones))
        .with(collection("APP_CLONES", &r.app_clones))
        .with(template("TEMPLATE", &r.template))
        .with(snapshots(&r.snapshots))
        .with(Element::new("BACKUP_INCREMENTS"))
        .with(Element::new("BACKUP_DISK_IDS"))
}

/// A datastore as the pool shows it: the stored record with what is computed when it is read
/// (capacity from the file system, the ids of its images).
#[derive(Debug, Clone, Copy)]
pub struct DatastoreView<'a> {
    /// The stored record.
    pub record: &'a DatastoreRecord,
    /// `TOTAL_MB`, `FREE_MB`, `USED_MB`.
    pub capacity: Capacity,
    /// `<IMAGES>`: the ids of the images in it.
    pub image_ids: &'a [u32],
}

/// The `<DATASTORE>` tree of a datastore (`Datastore::to_xml`).
pub fn datastore_element(d: &DatastoreView<'_>) -> Element {
    let r = d.record;
    Element::new("DATASTORE")
        .with(Element::text("ID", r.id))
        .with(Element::text("UID", r.owner.uid))
        .with(Element::text("GID", r.owner.gid))
        .with(Element::text("UNAME", &r.owner.uname))
        .with(Element::text("GNAME", &r.owner.gname))
        .with(Element::text("NAME", &r.name))
        .with(permissions(r.perms))
        .with(Element::cdata("DS_MAD", r.ds_mad.as_str()))
        .with(Element::cdata("TM_MAD", r.tm_mad.as_str()))
        .with(Element::cdata("BASE_PATH", r.base_path.as_str()))
        .with(Element::text("TYPE", r.ds_type.code()))
        .with(Element::text("DISK_TYPE", r.disk_type.code()))
        .with(Element::text("STATE", r.state.code()))
        .with(collection("CLUSTERS", &r.clusters))
        .with(Element::text("TOTAL_MB", d.capacity.total_mb))
        .with(Element::text("FREE_MB", d.capacity.free_mb))
        .with(Element::text("USED_MB", d.capacity.used_mb))
        .with(collection("IMAGES", d.image_ids))
        .with(template("TEMPLATE", &r.template))
}

/// `<IMAGE_POOL>`: the images' bodies one after the other (`PoolSQL::dump`).
pub fn image_pool_element(images: &[ImageRecord]) -> Element {
    Element {
        name: "IMAGE_POOL".into(),
        children: images
            .iter()
            .map(|r| Node::Element(image_element(r)))
            .collect(),
    }
}

/// `<DATASTORE_POOL>`.
pub fn datastore_pool_element(datastores: &[DatastoreView<'_>]) -> Element {
    Element {
        name: "DATASTORE_POOL".into(),
        children: datastores
            .iter()
            .map(|d| Node::Element(datastore_element(d)))
            .collect(),
    }
}

/// `one.image.info`'s document: the compact `<IMAGE>` oned returns.
pub fn image_xml(image: &ImageRecord) -> String {
    image_element(image).to_compact()
}

/// `one.imagepool.info`'s document.
pub fn image_pool_xml(images: &[ImageRecord]) -> String {
    image_pool_element(images).to_compact()
}

/// `one.datastore.info`'s document.
pub fn datastore_xml(record: &DatastoreRecord, capacity: &Capacity, image_ids: &[u32]) -> String {
    datastore_element(&DatastoreView {
        record,
        capacity: *capacity,
        image_ids,
    })
    .to_compact()
}

/// `one.datastorepool.info`'s document.
pub fn datastore_pool_xml(datastores: &[DatastoreView<'_>]) -> String {
    datastore_pool_element(datastores).to_compact()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_and_pretty_forms() {
        let el = Element::new("A")
            .with(Element::text("ID", 1))
            .with(Element::cdata("E", ""))
            .with(Element::text("N", ""))
            .with(Element::new("VMS").with(Element::text("ID", 3)))
            .with(Element::cdata("S", "é<&"))
            .with(Element::text("T", "é<"));
        assert_eq!(
            el.to_compact(),
            "<A><ID>1</ID><E><![CDATA[]]></E><N></N><VMS><ID>3</ID></VMS>\
             <S><![CDATA[é<&]]></S><T>é&lt;</T></A>"
        );
        assert_eq!(
            el.to_cli_pretty(),
            "<A>\n  <ID>1</ID>\n  <E><![CDATA[]]></E>\n  <N/>\n  <VMS>\n    <ID>3</ID>\n  </VMS>\n  \
             <S><![CDATA[é<&]]></S>\n  <T>&#xE9;&lt;</T>\n</A>\n"
        );
    }

    #[test]
    fn hash_follows_nokogiri() {
        let el = Element::new("A")
            .with(Element::cdata("E", ""))
            .with(Element::text("N", ""))
            .with(Element::text("ID", 1))
            .with(Element::text("ID", 2))
            .with(Element::cdata("X", "a]]>b"));
        assert_eq!(
            el.to_hash().to_string(),
            r#"{"A":{"E":"","N":{},"ID":["1","2"],"X":{}}}"#
        );
    }

    #[test]
    fn cdata_end_is_split() {
        assert_eq!(
            Element::cdata("X", "a]]>b").to_compact(),
            "<X><![CDATA[a]]]]><![CDATA[>b]]></X>"
        );
    }
}
