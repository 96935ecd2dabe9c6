//! `onedatastore` on a personal pool: the three datastores a pool starts with, new ones from
//! 100, OpenNebula's refusals.

use crate::sandbox::Sandbox;

#[test]
fn datastores_are_created_renamed_and_deleted_when_empty() {
    let sb = Sandbox::new();
    let listed = sb.ok("onedatastore", &["list", "-l", "ID,NAME,TYPE,DS,TM,STAT"]);
    assert_eq!(
        listed,
        "  ID NAME       TYPE DS      TM      STAT\n   0 system     sys  -       local   on\n   1 default    img  fs      local   on\n   2 files      fil  fs      local   on\n"
    );
    let tmpl = sb.write("ds.tmpl", "NAME = scratch\nDS_MAD = fs\nTM_MAD = local\n");
    assert_eq!(sb.ok("onedatastore", &["create", &tmpl]), "ID: 100\n");
    assert_eq!(
        sb.fails("onedatastore", &["create", &tmpl]),
        "[one.datastore.allocate] Error allocating a new datastore. NAME is already taken by \
         DATASTORE 100.\n"
    );
    let bad = sb.write("bad.tmpl", "NAME = other\nDS_MAD = ceph\nTM_MAD = local\n");
    assert_eq!(
        sb.fails("onedatastore", &["create", &bad]),
        "[one.datastore.allocate] Error allocating a new datastore. DS_MAD named \"ceph\" is not \
         defined in oned.conf\n"
    );
    let id = sb.create(&["-d", "scratch", "--name", "blank", "--size", "1"]);
    let shown = sb.ok("oneimage", &["show", &id.to_string(), "-x"]);
    assert!(
        shown.contains("<DATASTORE_ID>100</DATASTORE_ID>"),
        "{shown}"
    );
    assert!(sb.pool().join("datastores/100").is_dir());

    assert_eq!(
        sb.fails("onedatastore", &["delete", "scratch"]),
        "[one.datastore.delete] Cannot delete datastore. Datastore 100 is not empty.\n"
    );
    assert_eq!(
        sb.fails("onedatastore", &["disable", "100"]),
        "[one.datastore.enable] Only SYSTEM_DS can be disabled or enabled\n"
    );
    assert_eq!(
        sb.ok("onedatastore", &["-v", "disable", "system"]),
        "DATASTORE 0: disabled\n"
    );
    sb.ok("onedatastore", &["rename", "scratch", "work"]);
    let shown = sb.ok("oneimage", &["show", "blank"]);
    assert!(shown.contains("DATASTORE      : work"), "{shown}");
    let shown = sb.ok("onedatastore", &["show", "work"]);
    assert!(shown.starts_with("DATASTORE 100 INFORMATION"), "{shown}");
    assert!(
        shown.contains(&format!(
            "BASE PATH      : {}",
            sb.pool().join("datastores/100").display()
        )),
        "{shown}"
    );

    sb.ok("oneimage", &["delete", "blank"]);
    assert_eq!(
        sb.ok("onedatastore", &["-v", "delete", "work"]),
        "DATASTORE 100: deleted\n"
    );
    assert!(!sb.pool().join("datastores/100").exists());
    assert_eq!(
        sb.fails("onedatastore", &["show", "100"]),
        "[one.datastore.info] Error getting datastore [100].\n"
    );
}
