//! `oneimage show` and `onedatastore show` text (OpenNebula/one
//! `src/cli/one_helper/oneimage_helper.rb` and `onedatastore_helper.rb`, `format_resource`).
//!
//! Lines are `format('%-15s: %-20s', label, value)`, so a value shorter than 20 characters
//! leaves trailing spaces; section headers are `'%-80s'` (80 characters, trailing spaces
//! included), bold and underlined (the first) or bold (the others) on a TTY. The template is
//! `template_like_str` (OpenNebula/one `src/oca/ruby/opennebula/xml_element.rb`) of the
//! server's sorted template.

use jiff::tz::TimeZone;
use strata_cli::table::one::{self, Column, ListOptions, Table};
use strata_cli::term::Styler;
use strata_model::one::{
    AttrValue, Class, DiskType, ImageRecord, ImageType, Permissions, Template,
};

use super::lists::{ids_str, is_local};
use super::units::{boolean_to_str, time_to_str, unit_to_str_mb};
use super::xml::DatastoreView;

fn line(out: &mut String, label: &str, value: &str) {
    out.push_str(&one::show_line(label, value));
}

fn h1(out: &mut String, title: &str, underline: bool, styler: Styler) {
    out.push_str(&one::show_header(title, underline, styler));
}

fn permissions(out: &mut String, perms: Permissions) {
    for class in Class::ALL {
        line(out, class.as_str(), &perms.mask(class));
    }
}

fn size_str(mb: u64) -> String {
    unit_to_str_mb(i64::try_from(mb).unwrap_or(i64::MAX))
}

/// `template_like_str('TEMPLATE')` of the server's (sorted) template, one attribute a line,
/// no final newline: `KEY="value"` with `"` written `\"`; a vector `KEY=[` then its entries
/// `  K="v"` joined by `,` and a newline, then ` ]`.
///
/// Unlike [`Template::like_str`], an empty value is printed (`KEY=""`): oned writes it as an
/// empty CDATA section, which REXML's `has_text?` counts as text. Only a vector without
/// entries is left out.
pub fn template_like_str(template: &Template) -> String {
    let quote = |v: &str| format!("\"{}\"", v.replace('"', "\\\""));
    let mut lines = Vec::new();
    for attr in template.sorted().iter() {
        match &attr.value {
            AttrValue::Single(v) => lines.push(format!("{}={}", attr.name, quote(v))),
            AttrValue::Vector(vector) if vector.is_empty() => {}
            AttrValue::Vector(vector) => {
                let entries: Vec<String> = vector
                    .iter()
                    .map(|(k, v)| format!("  {k}={}", quote(v)))
                    .collect();
                lines.push(format!("{}=[\n{} ]", attr.name, entries.join(",\n")));
            }
        }
    }
    lines.join("\n")
}

/// The `IMAGE SNAPSHOTS` table (`format_snapshots`).
const SNAPSHOT_TABLE: Table<'static> = Table {
    columns: &[
        Column::new("AC", "Is active", 2).left(),
        Column::new("ID", "Snapshot ID", 3),
        Column::new("PARENT", "Snapshot Parent ID", 6),
        Column::new("CHILDREN", "Snapshot Children IDs", 10),
        Column::new("SIZE", "", 8).left(),
        Column::new("NAME", "Snapshot Name", 37).left(),
        Column::new("DATE", "Snapshot creation date", 15),
    ],
    default: &["AC", "ID", "PARENT", "DATE", "SIZE", "NAME"],
};

/// The VIRTUAL MACHINES table of `oneimage show`: the VM ids only.
const VM_TABLE: Table<'static> = Table {
    columns: &[Column::new("ID", "ONE identifier for Virtual Machine", 6).adjust()],
    default: &["ID"],
};

/// `oneimage show` of one image. Times are shown in `tz`; `styled` when stdout is a TTY.
///
/// The VIRTUAL MACHINES section, which OpenNebula fills with `onevm list` of the image's VMs,
/// lists their ids only (strata keeps no VM records): a table with one column, ID.
pub fn image_show(r: &ImageRecord, tz: &TimeZone, styled: bool) -> String {
    let styler = Styler::new(styled);
    let mut out = String::new();
    h1(
        &mut out,
        &format!("IMAGE {} INFORMATION", r.id),
        true,
        styler,
    );
    line(&mut out, "ID", &r.id.to_string());
    line(&mut out, "NAME", &r.name);
    line(&mut out, "USER", &r.owner.uname);
    line(&mut out, "GROUP", &r.owner.gname);
    let lock = r.lock.map_or("None", |l| l.level.as_str());
    line(&mut out, "LOCK", lock);
    line(&mut out, "DATASTORE", &r.datastore);
    line(&mut out, "TYPE", r.image_type.as_str());
    line(&mut out, "REGISTER TIME", &time_to_str(r.regtime, tz));
    line(&mut out, "LAST MODIFIED", &time_to_str(r.modtime, tz));
    line(&mut out, "PERSISTENT", boolean_to_str(r.persistent));
    line(&mut out, "SOURCE", &r.source);
    if !r.path.is_empty() {
        line(&mut out, "PATH", &r.path);
    }
    if !r.format.is_empty() {
        line(&mut out, "FORMAT", &r.format);
    }
    line(&mut out, "SIZE", &size_str(r.size_mb));
    line(&mut out, "STATE", r.state.short());
    line(&mut out, "RUNNING_VMS", &r.running_vms.to_string());
    out.push('\n');

    h1(&mut out, "PERMISSIONS", false, styler);
    permissions(&mut out, r.perms);

    if !r.snapshots.list.is_empty() {
        out.push('\n');
        h1(&mut out, "IMAGE SNAPSHOTS", false, styler);
        let rows: Vec<Vec<String>> = r
            .snapshots
            .list
            .iter()
            .map(|s| {
                let children: Vec<String> = s.children.iter().map(u32::to_string).collect();
                vec![
                    if s.active { "=>".into() } else { String::new() },
                    s.id.to_string(),
                    s.parent.to_string(),
                    children.join(","),
                    size_str(s.size_mb),
                    s.name.clone(),
                    time_to_str(s.date, tz),
                ]
            })
            .collect();
        let opts = ListOptions {
            styler,
            ..ListOptions::default()
        };
        // The snapshot table's columns all exist and it takes no options: it cannot fail.
        out.push_str(&one::render(&SNAPSHOT_TABLE, &rows, &opts).unwrap_or_default());
    }
    out.push('\n');

    h1(&mut out, "IMAGE TEMPLATE", false, styler);
    out.push_str(&template_like_str(&r.template));
    out.push('\n');

    let mut vms = r.vms.clone();
    vms.sort_unstable();
    vms.dedup();
    if vms.is_empty() {
        return out;
    }
    if r.image_type == ImageType::Backup {
        out.push_str(&one::header_line("BACKUP INFORMATION", false, styler));
        line(&mut out, "VM", &vms[0].to_string());
        line(&mut out, "TYPE", "FULL");
    } else {
        out.push('\n');
        out.push_str(&one::header_line("VIRTUAL MACHINES", false, styler));
        out.push('\n');
        let rows: Vec<[String; 1]> = vms.iter().map(|id| [id.to_string()]).collect();
        let opts = ListOptions {
            styler,
            ..ListOptions::default()
        };
        // One column that exists, no options: it cannot fail.
        out.push_str(&one::render(&VM_TABLE, &rows, &opts).unwrap_or_default());
    }
    out
}

/// The Ruby CLI's `Image::DISK_TYPES` (`src/oca/ruby/opennebula/image.rb`), which differs
/// from the server's names: 1 is `CD_ROM`, 4 is `FILE_SYSTEM`, and 5 and above print nothing.
fn ruby_disk_type(d: DiskType) -> &'static str {
    match d.code() {
        0 => "FILE",
        1 => "CD_ROM",
        2 => "BLOCK",
        3 => "RBD",
        4 => "FILE_SYSTEM",
        _ => "",
    }
}

/// `onedatastore show` of one datastore; `styled` when stdout is a TTY.
pub fn datastore_show(d: &DatastoreView<'_>, styled: bool) -> String {
    let styler = Styler::new(styled);
    let r = d.record;
    let mut out = String::new();
    h1(
        &mut out,
        &format!("DATASTORE {} INFORMATION", r.id),
        true,
        styler,
    );
    line(&mut out, "ID", &r.id.to_string());
    line(&mut out, "NAME", &r.name);
    line(&mut out, "USER", &r.owner.uname);
    line(&mut out, "GROUP", &r.owner.gname);
    line(&mut out, "CLUSTERS", &ids_str(&r.clusters));
    line(&mut out, "TYPE", r.ds_type.as_str());
    line(&mut out, "DS_MAD", &r.ds_mad);
    line(&mut out, "TM_MAD", &r.tm_mad);
    line(&mut out, "BASE PATH", &r.base_path);
    line(&mut out, "DISK_TYPE", ruby_disk_type(r.disk_type));
    line(&mut out, "STATE", r.state.as_str());
    out.push('\n');

    h1(&mut out, "DATASTORE CAPACITY", false, styler);
    let local = is_local(d);
    let cap = |mb: u64| if local { "-".to_owned() } else { size_str(mb) };
    line(&mut out, "TOTAL:", &cap(d.capacity.total_mb));
    line(&mut out, "FREE:", &cap(d.capacity.free_mb));
    line(&mut out, "USED: ", &cap(d.capacity.used_mb));
    let limit = match r.template.get_single("LIMIT_MB") {
        Some(l) if !local => unit_to_str_mb(one::ruby_to_i(l)),
        _ => "-".to_owned(),
    };
    line(&mut out, "LIMIT:", &limit);
    out.push('\n');

    h1(&mut out, "PERMISSIONS", false, styler);
    permissions(&mut out, r.perms);
    out.push('\n');

    h1(&mut out, "DATASTORE TEMPLATE", false, styler);
    out.push_str(&template_like_str(&r.template));
    out.push('\n');
    out.push('\n');

    out.push_str(&one::header_line(
        &format!("{:<15}", "IMAGES"),
        true,
        styler,
    ));
    let mut ids = d.image_ids.to_vec();
    ids.sort_unstable();
    ids.dedup();
    for id in ids {
        out.push_str(&format!("{id:<15}\n"));
    }
    out
}
