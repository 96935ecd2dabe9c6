//! `oneimage list` and `onedatastore list`: their columns (OpenNebula/one
//! `src/cli/one_helper/oneimage_helper.rb` and `onedatastore_helper.rb` `format_pool`, with
//! the sizes, alignments, `adjust` and `expand` of `src/cli/etc/oneimage.yaml` and
//! `onedatastore.yaml` merged over them) and the value of each cell.

use jiff::tz::TimeZone;
use strata_model::one::{ImageRecord, Ownership};

use super::units::{boolean_to_str, time_to_str, unit_to_str_mb};
use super::xml::DatastoreView;
use strata_cli::table::one::{Column, ExpandConf, ListOptions, Table, TableError, render};

/// The columns of `oneimage list`, in the helper's order (which `--describe` prints).
const IMAGE_COLUMNS: [Column<'static>; 12] = [
    Column::new("ID", "ONE identifier for the Image", 4).adjust(),
    Column::new("USER", "Username of the Image owner", 8).left(),
    Column::new("GROUP", "Group of the Image", 8).left(),
    Column::new("NAME", "Name of the Image", 15)
        .left()
        .expand(ExpandConf::Auto),
    Column::new("DATASTORE", "Name of the Datastore", 10).left(),
    Column::new("TYPE", "Type of the Image", 4).left(),
    Column::new("REGTIME", "Registration time of the Image", 15),
    Column::new("MODTIME", "Last modification time of the Image", 15),
    Column::new("PERSISTENT", "Whether the Image is persistent or not", 3),
    Column::new("STAT", "State of the Image", 4).left(),
    Column::new("RVMS", "Number of VMs currently running from this Image", 4),
    Column::new("SIZE", "Size of the image", 7),
];

/// The columns of `oneimage list`; the default set is ID USER GROUP NAME DATASTORE SIZE TYPE
/// PERSISTENT STAT RVMS (PERSISTENT's header prints `PER`, cut to its size 3).
pub const fn image_table() -> Table<'static> {
    Table {
        columns: &IMAGE_COLUMNS,
        default: &[
            "ID",
            "USER",
            "GROUP",
            "NAME",
            "DATASTORE",
            "SIZE",
            "TYPE",
            "PERSISTENT",
            "STAT",
            "RVMS",
        ],
    }
}

/// The USER cell: the name, or the uid with `-n` (`one_helper.rb` `user_name`).
fn user_cell(owner: &Ownership, numeric: bool) -> String {
    if numeric {
        owner.uid.to_string()
    } else {
        owner.uname.clone()
    }
}

/// The GROUP cell: the name, or the gid with `-n` (`group_name`).
fn group_cell(owner: &Ownership, numeric: bool) -> String {
    if numeric {
        owner.gid.to_string()
    } else {
        owner.gname.clone()
    }
}

/// One image's cells, in [`image_table`]'s column order.
fn image_row(r: &ImageRecord, numeric: bool, tz: &TimeZone) -> Vec<String> {
    vec![
        r.id.to_string(),
        user_cell(&r.owner, numeric),
        group_cell(&r.owner, numeric),
        r.name.clone(),
        r.datastore.clone(),
        r.image_type.short().to_owned(),
        time_to_str(r.regtime, tz),
        time_to_str(r.modtime, tz),
        boolean_to_str(r.persistent).to_owned(),
        r.state.short().to_owned(),
        r.running_vms.to_string(),
        unit_to_str_mb(i64::try_from(r.size_mb).unwrap_or(i64::MAX)),
    ]
}

/// `oneimage list` as a table (or CSV), in pool order. Times are shown in `tz`.
pub fn image_list(
    images: &[ImageRecord],
    opts: &ListOptions,
    tz: &TimeZone,
) -> Result<String, TableError> {
    let rows: Vec<Vec<String>> = images
        .iter()
        .map(|r| image_row(r, opts.numeric, tz))
        .collect();
    render(&image_table(), &rows, opts)
}

/// The columns of `onedatastore list`, in the helper's order.
const DATASTORE_COLUMNS: [Column<'static>; 12] = [
    Column::new("ID", "ONE identifier for the Datastore", 4).adjust(),
    Column::new("USER", "Username of the Datastore owner", 8).left(),
    Column::new("GROUP", "Group of the Datastore", 8).left(),
    Column::new("NAME", "Name of the Datastore", 10)
        .left()
        .expand(ExpandConf::Auto),
    Column::new("SIZE", "Datastore total size", 6),
    Column::new("AVAIL", "Datastore free size", 3).left(),
    Column::new("CLUSTERS", "Cluster IDs", 8).left(),
    Column::new("IMAGES", "Number of Images", 6),
    Column::new("TYPE", "Datastore type", 4).left(),
    Column::new("DS", "Datastore driver", 7).left(),
    Column::new("TM", "Transfer driver", 7).left(),
    Column::new("STAT", "State of the Datastore", 4).left(),
];

/// The columns of `onedatastore list`; the default set is ID NAME SIZE AVAIL CLUSTERS IMAGES
/// TYPE DS TM STAT (AVAIL's header prints `AVA`, cut to its size 3, and so would `100%`).
pub const fn datastore_table() -> Table<'static> {
    Table {
        columns: &DATASTORE_COLUMNS,
        default: &[
            "ID", "NAME", "SIZE", "AVAIL", "CLUSTERS", "IMAGES", "TYPE", "DS", "TM", "STAT",
        ],
    }
}

/// `SHARED = NO` in the datastore template: a local datastore, whose size is not shown.
pub(crate) fn is_local(d: &DatastoreView<'_>) -> bool {
    d.record
        .template
        .get_single("SHARED")
        .is_some_and(|s| s.to_uppercase() == "NO")
}

/// The ids of a collection as `clusters_str` joins them: sorted, once, `-` when none.
pub(crate) fn ids_str<T: Ord + Copy + ToString>(ids: &[T]) -> String {
    let mut v = ids.to_vec();
    v.sort_unstable();
    v.dedup();
    if v.is_empty() {
        "-".into()
    } else {
        v.iter().map(T::to_string).collect::<Vec<_>>().join(",")
    }
}

fn datastore_row(d: &DatastoreView<'_>, numeric: bool) -> Vec<String> {
    let r = d.record;
    let total = d.capacity.total_mb;
    let mut images = d.image_ids.to_vec();
    images.sort_unstable();
    images.dedup();
    vec![
        r.id.to_string(),
        user_cell(&r.owner, numeric),
        group_cell(&r.owner, numeric),
        r.name.clone(),
        if is_local(d) {
            "-".into()
        } else {
            unit_to_str_mb(i64::try_from(total).unwrap_or(i64::MAX))
        },
        if total == 0 {
            "-".into()
        } else {
            #[expect(
                clippy::cast_precision_loss,
                reason = "Ruby's to_f division, which this reproduces"
            )]
            let pct = (d.capacity.free_mb as f64 / total as f64 * 100.0).round();
            format!("{pct:.0}%")
        },
        ids_str(&r.clusters),
        images.len().to_string(),
        r.ds_type.short().to_owned(),
        r.ds_mad.clone(),
        r.tm_mad.clone(),
        r.state.short().to_owned(),
    ]
}

/// `onedatastore list` as a table (or CSV), in pool order.
pub fn datastore_list(
    datastores: &[DatastoreView<'_>],
    opts: &ListOptions,
) -> Result<String, TableError> {
    let rows: Vec<Vec<String>> = datastores
        .iter()
        .map(|d| datastore_row(d, opts.numeric))
        .collect();
    render(&datastore_table(), &rows, opts)
}
