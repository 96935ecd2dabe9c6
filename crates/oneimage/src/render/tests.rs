//! Snapshots of every output form over a small pool: three images (one locked, one with two
//! snapshots, one used by VMs with a vector attribute and a value holding `"`, `<` and `&`)
//! and three datastores.

use insta::assert_snapshot;
use jiff::tz::TimeZone;
use strata_model::one::{
    AttrName, Capacity, DatastoreRecord, DatastoreState, DatastoreType, DiskType, ImageRecord,
    ImageState, ImageType, LockLevel, LockRecord, OrphansMode, Ownership, Permissions,
    SnapshotRecord, Snapshots, Template, Vector,
};

use strata_cli::table::one;
use strata_cli::term::Styler;

use super::*;

fn name(s: &str) -> AttrName {
    s.parse().unwrap()
}

fn owner(uid: u32, gid: u32, uname: &str, gname: &str) -> Ownership {
    Ownership {
        uid,
        gid,
        uname: uname.into(),
        gname: gname.into(),
    }
}

fn base_image(id: u32, image_name: &str) -> ImageRecord {
    ImageRecord {
        id,
        owner: owner(0, 0, "oneadmin", "oneadmin"),
        name: image_name.into(),
        lock: None,
        perms: Permissions::parse_octet("600").unwrap(),
        image_type: ImageType::Os,
        disk_type: DiskType::File,
        persistent: false,
        regtime: 1_767_225_600,
        modtime: 0,
        source: String::new(),
        path: String::new(),
        format: String::new(),
        fs: String::new(),
        size_mb: 0,
        state: ImageState::Ready,
        prev_state: ImageState::Ready,
        running_vms: 0,
        cloning_ops: 0,
        cloning_id: -1,
        target_snapshot: -1,
        datastore_id: 1,
        datastore: "default".into(),
        vms: vec![],
        clones: vec![],
        app_clones: vec![],
        template: Template::new(),
        snapshots: Snapshots::default(),
    }
}

pub(super) fn images() -> Vec<ImageRecord> {
    let mut locked = base_image(0, "ubuntu-22.04");
    locked.lock = Some(LockRecord {
        level: LockLevel::Use,
        owner: 0,
        time: 1_767_229_200,
        req_id: -1,
    });
    locked.source = "/var/lib/one/datastores/1/6f1ed002ab5595859014ebf0951522d9".into();
    locked.path = "/srv/images/ubuntu-22.04.qcow2".into();
    locked.format = "qcow2".into();
    locked.size_mb = 2253;
    locked.template.push(name("DEV_PREFIX"), "vd");
    locked.template.push(name("DRIVER"), "qcow2");

    let mut snap = base_image(1, "data-disk");
    snap.owner = owner(1000, 100, "ann", "users");
    snap.perms = Permissions::parse_octet("640").unwrap();
    snap.image_type = ImageType::Datablock;
    snap.persistent = true;
    snap.regtime = 1_767_312_000;
    snap.modtime = 1_767_398_400;
    snap.source = "/var/lib/one/datastores/1/0c0a3e2b9d".into();
    snap.format = "raw".into();
    snap.fs = "ext4".into();
    snap.size_mb = 40;
    snap.template.push(name("PERSISTENT"), "YES");
    snap.snapshots = Snapshots {
        allow_orphans: OrphansMode::Deny,
        current_base: -1,
        next_snapshot: 2,
        list: vec![
            SnapshotRecord {
                id: 0,
                name: "before-upgrade".into(),
                date: 1_767_340_800,
                parent: -1,
                children: vec![1],
                active: false,
                size_mb: 40,
            },
            SnapshotRecord {
                id: 1,
                name: String::new(),
                date: 1_767_344_400,
                parent: 0,
                children: vec![],
                active: true,
                size_mb: 2048,
            },
        ],
    };

    let mut used = base_image(2, "installer iso with a long name");
    used.owner = owner(1000, 100, "ann", "users");
    used.perms = Permissions::parse_octet("644").unwrap();
    used.image_type = ImageType::Cdrom;
    used.state = ImageState::Used;
    used.running_vms = 2;
    used.vms = vec![7, 3];
    used.source = "/var/lib/one/datastores/1/a1b2".into();
    used.path = "https://example.invalid/debian-12.iso".into();
    used.format = "raw".into();
    used.size_mb = 631;
    let mut opts = Vector::new();
    opts.insert("IO".parse().unwrap(), "native");
    opts.insert("CACHE".parse().unwrap(), "none");
    opts.insert("DISCARD".parse().unwrap(), "");
    used.template.push(
        name("DESCRIPTION"),
        "Debian \"bookworm\" <netinst> & friends",
    );
    used.template.push(name("DISK_OPTS"), opts);
    used.template.push(name("EMPTY"), "");
    used.template.push(name("LABELS"), "os/debian,cd");
    vec![locked, snap, used]
}

pub(super) fn datastores() -> Vec<DatastoreRecord> {
    let ds = |id: u32, n: &str, t: DatastoreType, ds_mad: &str| {
        let mut template = Template::new();
        template.push(name("TM_MAD"), "local");
        template.push(name("TYPE"), t.server_name());
        if ds_mad != "-" {
            template.push(name("DS_MAD"), ds_mad);
        }
        DatastoreRecord {
            id,
            owner: owner(0, 0, "oneadmin", "oneadmin"),
            name: n.into(),
            perms: Permissions::parse_octet("640").unwrap(),
            ds_mad: ds_mad.into(),
            tm_mad: "local".into(),
            base_path: format!("/var/lib/one//datastores/{id}"),
            ds_type: t,
            disk_type: DiskType::File,
            state: DatastoreState::Ready,
            clusters: vec![0],
            template,
        }
    };
    let mut system = ds(0, "system", DatastoreType::System, "-");
    system.template.push(name("SHARED"), "NO");
    let mut default = ds(1, "default", DatastoreType::Image, "fs");
    default.template.push(name("LIMIT_MB"), "40960");
    let mut files = ds(2, "files", DatastoreType::File, "fs");
    files.state = DatastoreState::Disabled;
    files.clusters = vec![];
    files.disk_type = DiskType::Cdrom;
    vec![system, default, files]
}

const CAPACITY: Capacity = Capacity {
    total_mb: 51_200,
    free_mb: 43_008,
    used_mb: 8_192,
};
const IMAGE_IDS: [&[u32]; 3] = [&[], &[2, 0, 1], &[]];

fn views(records: &[DatastoreRecord]) -> Vec<DatastoreView<'_>> {
    records
        .iter()
        .zip(IMAGE_IDS)
        .map(|(record, image_ids)| DatastoreView {
            record,
            capacity: if record.id == 2 {
                Capacity::default()
            } else {
                CAPACITY
            },
            image_ids,
        })
        .collect()
}

/// The text with an end marker, so that the snapshot keeps trailing spaces and newlines
/// (insta trims the end of a snapshot).
fn exact(s: String) -> String {
    format!("{s}<EOF>")
}

fn list(opts: &ListOptions) -> String {
    image_list(&images(), opts, &TimeZone::UTC).unwrap()
}

fn ds_list(opts: &ListOptions) -> String {
    let records = datastores();
    datastore_list(&views(&records), opts).unwrap()
}

#[test]
fn image_tables() {
    assert_snapshot!("image_list", exact(list(&ListOptions::default())));
    assert_snapshot!(
        "image_list_no_header",
        exact(list(&ListOptions {
            no_header: true,
            ..ListOptions::default()
        }))
    );
    assert_snapshot!(
        "image_list_csv",
        exact(list(&ListOptions {
            csv: true,
            ..ListOptions::default()
        }))
    );
    assert_snapshot!(
        "image_list_columns",
        exact(list(&ListOptions {
            list: Some(vec![
                "id".into(),
                "name".into(),
                "regtime".into(),
                "modtime".into()
            ]),
            ..ListOptions::default()
        }))
    );
    assert_snapshot!(
        "image_list_filter",
        exact(list(&ListOptions {
            filter: vec!["USER=ann".into(), "STAT!=used".into()],
            ..ListOptions::default()
        }))
    );
    assert_snapshot!(
        "image_list_expand_120",
        exact(list(&ListOptions {
            terminal_width: Some(120),
            ..ListOptions::default()
        }))
    );
    assert_snapshot!(
        "image_list_styled",
        exact(list(&ListOptions {
            styler: Styler::new(true),
            ..ListOptions::default()
        }))
    );
}

#[test]
fn datastore_tables() {
    assert_snapshot!("datastore_list", exact(ds_list(&ListOptions::default())));
    assert_snapshot!(
        "datastore_list_no_header",
        exact(ds_list(&ListOptions {
            no_header: true,
            ..ListOptions::default()
        }))
    );
    assert_snapshot!(
        "datastore_list_csv",
        exact(ds_list(&ListOptions {
            csv: true,
            csv_del: Some(";".into()),
            ..ListOptions::default()
        }))
    );
    assert_snapshot!(
        "datastore_list_columns",
        exact(ds_list(&ListOptions {
            list: Some(vec![
                "ID".into(),
                "USER".into(),
                "GROUP".into(),
                "NAME".into()
            ]),
            ..ListOptions::default()
        }))
    );
    assert_snapshot!(
        "datastore_list_filter",
        exact(ds_list(&ListOptions {
            filter: vec!["TYPE=sys".into(), "STAT=off".into()],
            operator: Some("OR".into()),
            ..ListOptions::default()
        }))
    );
}

#[test]
fn describe_columns() {
    let text = one::describe(lists::image_table().columns);
    assert_eq!(
        text.lines().next().unwrap(),
        "ID                  : ONE identifier for the Image"
    );
    assert_eq!(text.lines().count(), 12);
    assert!(text.ends_with("SIZE                : Size of the image   \n"));
}

#[test]
fn list_errors() {
    let bad = |opts: ListOptions| {
        image_list(&images(), &opts, &TimeZone::UTC)
            .unwrap_err()
            .to_string()
    };
    assert_eq!(
        bad(ListOptions {
            list: Some(vec!["ID".into(), "FOO".into()]),
            ..ListOptions::default()
        }),
        "Column FOO not defined."
    );
    assert_eq!(
        bad(ListOptions {
            filter: vec!["REGTIME>1".into()],
            ..ListOptions::default()
        }),
        "Column 'REGTIME' not found"
    );
    assert_eq!(
        bad(ListOptions {
            filter: vec!["ID".into()],
            ..ListOptions::default()
        }),
        "Expression 'ID' incorrect"
    );
}

#[test]
fn image_documents() {
    let images = images();
    assert_snapshot!("image_pool_xml_compact", exact(image_pool_xml(&images)));
    assert_snapshot!(
        "image_show_xml",
        exact(image_document(&images[2], DocFormat::Xml))
    );
    assert_snapshot!(
        "image_show_json",
        exact(image_document(&images[1], DocFormat::Json))
    );
    assert_snapshot!(
        "image_show_yaml",
        exact(image_document(&images[1], DocFormat::Yaml))
    );
    assert_snapshot!(
        "image_list_xml",
        exact(image_pool_document(&images, DocFormat::Xml))
    );
    assert_snapshot!(
        "image_list_json",
        exact(image_pool_document(&images, DocFormat::Json))
    );
    assert_snapshot!(
        "image_list_yaml",
        exact(image_pool_document(&images, DocFormat::Yaml))
    );
    assert_eq!(
        image_pool_document(&[], DocFormat::Xml),
        "<IMAGE_POOL/>\n",
        "an empty pool"
    );
    assert_eq!(
        image_pool_document(&[], DocFormat::Json),
        "{\n  \"IMAGE_POOL\": {\n  }\n}\n"
    );
}

#[test]
fn datastore_documents() {
    let records = datastores();
    let views = views(&records);
    assert_snapshot!(
        "datastore_pool_xml_compact",
        exact(datastore_pool_xml(&views))
    );
    assert_snapshot!(
        "datastore_xml_compact",
        exact(datastore_xml(
            views[1].record,
            &views[1].capacity,
            views[1].image_ids
        ))
    );
    assert_snapshot!(
        "datastore_show_xml",
        exact(datastore_document(&views[1], DocFormat::Xml))
    );
    assert_snapshot!(
        "datastore_show_json",
        exact(datastore_document(&views[1], DocFormat::Json))
    );
    assert_snapshot!(
        "datastore_show_yaml",
        exact(datastore_document(&views[1], DocFormat::Yaml))
    );
    assert_snapshot!(
        "datastore_list_xml",
        exact(datastore_pool_document(&views, DocFormat::Xml))
    );
    assert_snapshot!(
        "datastore_list_json",
        exact(datastore_pool_document(&views, DocFormat::Json))
    );
    assert_snapshot!(
        "datastore_list_yaml",
        exact(datastore_pool_document(&views, DocFormat::Yaml))
    );
}

#[test]
fn yaml_reads_back_as_the_json_tree() {
    let images = images();
    let records = datastores();
    let views = views(&records);
    for (json, yaml) in [
        (
            image_pool_document(&images, DocFormat::Json),
            image_pool_document(&images, DocFormat::Yaml),
        ),
        (
            datastore_pool_document(&views, DocFormat::Json),
            datastore_pool_document(&views, DocFormat::Yaml),
        ),
    ] {
        let from_json: serde_json::Value = serde_json::from_str(&json).unwrap();
        let from_yaml: serde_json::Value = serde_yaml_ng::from_str(&yaml).unwrap();
        assert_eq!(from_json, from_yaml);
    }
}

#[test]
fn show_text() {
    let images = images();
    for (i, image) in images.iter().enumerate() {
        assert_snapshot!(
            format!("image_show_{i}"),
            exact(image_show(image, &TimeZone::UTC, false))
        );
    }
    assert_snapshot!(
        "image_show_1_styled",
        exact(image_show(&images[1], &TimeZone::UTC, true))
    );
    let records = datastores();
    for (i, view) in views(&records).iter().enumerate() {
        assert_snapshot!(
            format!("datastore_show_{i}"),
            exact(datastore_show(view, false))
        );
    }
}

/// Writes every document of the fixtures, oned's compact form and the CLI's `-x`, `-j` and
/// `-y`, into the directory named by `ONEIMAGE_RENDER_DUMP`, for checks with other tools
/// (pyone's parser, a Ruby with Nokogiri):
/// `ONEIMAGE_RENDER_DUMP=/tmp/dump cargo test -p oneimage --lib dump_documents -- --ignored`.
#[test]
#[ignore = "writes files for external checks"]
fn dump_documents() {
    let dir = std::path::PathBuf::from(std::env::var("ONEIMAGE_RENDER_DUMP").unwrap());
    std::fs::create_dir_all(&dir).unwrap();
    let images = images();
    let records = datastores();
    let views = views(&records);
    let mut files: Vec<(String, String)> = vec![
        ("image_pool.xml".into(), image_pool_xml(&images)),
        ("datastore_pool.xml".into(), datastore_pool_xml(&views)),
        ("empty_image_pool.xml".into(), image_pool_xml(&[])),
    ];
    for (i, image) in images.iter().enumerate() {
        files.push((format!("image_{i}.xml"), image_xml(image)));
    }
    for (i, view) in views.iter().enumerate() {
        files.push((
            format!("datastore_{i}.xml"),
            xml::datastore_element(view).to_compact(),
        ));
    }
    let forms = [
        (DocFormat::Xml, "x"),
        (DocFormat::Json, "j"),
        (DocFormat::Yaml, "y"),
    ];
    for (format, ext) in forms {
        files.push((
            format!("image_pool.cli.{ext}"),
            image_pool_document(&images, format),
        ));
        files.push((
            format!("datastore_pool.cli.{ext}"),
            datastore_pool_document(&views, format),
        ));
        files.push((
            format!("empty_image_pool.cli.{ext}"),
            image_pool_document(&[], format),
        ));
        for (i, image) in images.iter().enumerate() {
            files.push((
                format!("image_{i}.cli.{ext}"),
                image_document(image, format),
            ));
        }
        for (i, view) in views.iter().enumerate() {
            files.push((
                format!("datastore_{i}.cli.{ext}"),
                datastore_document(view, format),
            ));
        }
    }
    for (file, text) in files {
        std::fs::write(dir.join(file), text).unwrap();
    }
}
