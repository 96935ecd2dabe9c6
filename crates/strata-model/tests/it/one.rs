//! OpenNebula model (`strata_model::one`): text round trips, every refusal of the image state
//! table with its exact variant and text, the allowed transitions, and template parsing with
//! OpenNebula's acceptance and error locations (cases checked against OpenNebula's own
//! generated scanner and parser).

use proptest::prelude::*;
use strata_model::one::*;

// ---------------------------------------------------------------------------------------------
// Round trips
// ---------------------------------------------------------------------------------------------

proptest! {
    #[test]
    fn image_types_round_trip(t in prop::sample::select(ImageType::ALL.to_vec())) {
        prop_assert_eq!(t.to_string().parse::<ImageType>(), Ok(t));
        prop_assert_eq!(t.to_string().to_lowercase().parse::<ImageType>(), Ok(t));
        prop_assert_eq!(ImageType::from_code(i64::from(t.code())), Ok(t));
        let json = serde_json::to_string(&t).unwrap();
        prop_assert_eq!(serde_json::from_str::<ImageType>(&json).unwrap(), t);
    }

    #[test]
    fn image_states_round_trip(s in prop::sample::select(ImageState::ALL.to_vec())) {
        prop_assert_eq!(s.to_string().parse::<ImageState>(), Ok(s));
        prop_assert_eq!(ImageState::from_code(i64::from(s.code())), Ok(s));
        let json = serde_json::to_string(&s).unwrap();
        prop_assert_eq!(serde_json::from_str::<ImageState>(&json).unwrap(), s);
    }

    #[test]
    fn datastore_types_round_trip(t in prop::sample::select(DatastoreType::ALL.to_vec())) {
        prop_assert_eq!(t.to_string().parse::<DatastoreType>(), Ok(t));
        prop_assert_eq!(t.server_name().parse::<DatastoreType>(), Ok(t));
        prop_assert_eq!(DatastoreType::from_code(i64::from(t.code())), Ok(t));
    }

    #[test]
    fn permissions_round_trip_octal(bits in 0u16..=0o777) {
        let p = Permissions::from_bits(bits).unwrap();
        prop_assert_eq!(p.to_string().parse::<Permissions>(), Ok(p));
        prop_assert_eq!(Permissions::parse_octet(&p.to_string()), Ok(p));
        let json = serde_json::to_string(&p).unwrap();
        prop_assert_eq!(serde_json::from_str::<Permissions>(&json).unwrap(), p);
        let masks: String = Class::ALL.iter().map(|&c| p.mask(c)).collect();
        prop_assert_eq!(masks.len(), 9);
    }

    #[test]
    fn permissions_round_trip_symbolic(bits in 1u16..=0o777) {
        let p = Permissions::from_bits(bits).unwrap();
        prop_assert_eq!(Permissions::parse_symbolic(&p.to_symbolic()), Ok(p));
        prop_assert_eq!(Permissions::parse_octet(&p.to_symbolic()), Ok(p));
    }

    #[test]
    fn templates_round_trip(t in template_strategy()) {
        prop_assert!(t.round_trips());
        let text = t.to_string();
        prop_assert_eq!(&Template::parse(&text).unwrap(), &t, "text: {:?}", text);
        let compact = t.like_str_compact().to_string();
        prop_assert_eq!(&Template::parse(&compact).unwrap(), &t, "text: {:?}", compact);
        let sorted = t.sorted();
        prop_assert_eq!(Template::parse(&sorted.to_string()).unwrap(), sorted);
        let json = serde_json::to_string(&t).unwrap();
        prop_assert_eq!(serde_json::from_str::<Template>(&json).unwrap(), t);
    }

    #[test]
    fn any_text_parses_or_fails_cleanly(text in template_text_strategy()) {
        match Template::parse_with(&text, Duplicates::Replace) {
            Ok(parsed) => {
                let names: Vec<_> = parsed.template.iter().map(|a| a.name.clone()).collect();
                let mut unique = names.clone();
                unique.sort();
                unique.dedup();
                prop_assert_eq!(names.len(), unique.len());
                for s in &parsed.skipped {
                    prop_assert_eq!(text.as_bytes()[s.offset], s.byte);
                }
            }
            Err(TemplateError::Syntax { line, first_column, last_column, .. }) => {
                prop_assert!(line >= 1 && first_column >= 1 && first_column <= last_column);
                prop_assert!(last_column <= text.len() + 1);
            }
            Err(TemplateError::Cdata { .. }) => prop_assert!(text.contains("]]>")),
            Err(TemplateError::Xml) => prop_assert!(text.starts_with('<')),
        }
    }
}

fn value_strategy() -> impl Strategy<Value = String> {
    proptest::string::string_regex("[a-z0-9 =#,\\[\\]\"\\\\\n\t/.:é-]{1,12}")
        .expect("a valid regex")
        .prop_filter("printable without loss", |v| {
            let t = v.trim_matches(|c: char| matches!(c, ' ' | '\t' | '\n'));
            !v.is_empty() && t == v && !v.ends_with('\\') && !v.contains("]]>")
        })
}

fn template_strategy() -> impl Strategy<Value = Template> {
    let name = proptest::string::string_regex("[A-Z_][A-Z0-9_]{0,6}")
        .expect("a valid regex")
        .prop_filter("XML names gain ONE_", |n| !n.starts_with("XML"));
    let key = proptest::string::string_regex("[A-Z0-9_]{1,5}").expect("a valid regex");
    let vector = prop::collection::vec((key, value_strategy()), 1..4).prop_map(|entries| {
        let mut v = Vector::new();
        for (k, val) in entries {
            v.insert(k.parse().expect("generated keys are valid"), val);
        }
        AttrValue::Vector(v)
    });
    let value = prop_oneof![value_strategy().prop_map(AttrValue::Single), vector];
    prop::collection::vec((name, value), 0..6).prop_map(|attrs| {
        let mut t = Template::new();
        for (n, v) in attrs {
            t.push(n.parse().expect("generated names are valid"), v);
        }
        t
    })
}

fn template_text_strategy() -> impl Strategy<Value = String> {
    let pieces = prop::sample::select(vec![
        "A", "disk", "xml_a", "1a", "=", " = ", " ", "\t", "\n", "\"", "\\\"", "[", "]", ",", "#",
        "# c\n", "]]>", "x", "é", "-", "\r", "=\n", " = [ ", " ]", "\"a b\"", "\0",
    ]);
    prop::collection::vec(pieces, 0..40).prop_map(|p| p.concat())
}

// ---------------------------------------------------------------------------------------------
// Refusals: every one, with its exact variant and text
// ---------------------------------------------------------------------------------------------

fn img(t: ImageType, s: ImageState) -> ImageFacts {
    ImageFacts::new(5, "disk", t, s)
}

fn refused(image: &ImageFacts, command: Command) -> Refusal {
    match transition(image, &command) {
        Ok(out) => panic!("{command:?} on {image:?} was allowed: {out:?}"),
        Err(r) => r,
    }
}

const ALL_STATES: [ImageState; 11] = ImageState::ALL;

#[test]
fn enable_and_disable_refusals() {
    use ImageState::*;
    let backup = img(ImageType::Backup, Ready);
    let r = refused(&backup, Command::Enable);
    assert_eq!(r, Refusal::EnableBackup { enable: true });
    assert_eq!(
        r.to_string(),
        "Could not enable image: Backup images cannot be enabled or disabled."
    );
    let r = refused(&backup, Command::Disable);
    assert_eq!(r, Refusal::EnableBackup { enable: false });
    assert_eq!(
        r.to_string(),
        "Could not disable image: Backup images cannot be enabled or disabled."
    );
    let table = [
        (Init, "INIT"),
        (Used, "USED"),
        (Locked, "LOCKED"),
        (Clone, "CLONE"),
        (Delete, "DELETE"),
        (UsedPers, "USED"),
        (LockedUsed, "LOCKED_USED"),
        (LockedUsedPers, "LOCKED_USED"),
    ];
    for (state, name) in table {
        let image = img(ImageType::Os, state);
        for (command, enable, verb) in [
            (Command::Enable, true, "enable"),
            (Command::Disable, false, "disable"),
        ] {
            let r = refused(&image, command);
            assert_eq!(r, Refusal::EnableState { enable, state });
            assert_eq!(
                r.to_string(),
                format!("Could not {verb} image: Image cannot be in state {name}.")
            );
            assert_eq!(r.code(), ErrorCode::Internal);
        }
    }
}

#[test]
fn persistence_refusals() {
    use ImageState::*;
    let ds = DatastoreFacts::default();
    let lvm = DatastoreFacts::new("LVM", false);
    let r = refused(
        &img(ImageType::Os, Ready),
        Command::Persistent {
            persistent: true,
            datastore: lvm,
        },
    );
    assert_eq!(r, Refusal::PersistencyLvm);
    assert_eq!(
        r.to_string(),
        "lvm datastores doesn't support change of image persistency."
    );
    for t in [ImageType::Kernel, ImageType::Ramdisk, ImageType::Context] {
        let r = refused(
            &img(t, Ready),
            Command::Persistent {
                persistent: true,
                datastore: ds,
            },
        );
        assert_eq!(r, Refusal::PersistencyFileType);
        assert_eq!(
            r.to_string(),
            "KERNEL, RAMDISK and CONTEXT must be non-persistent"
        );
        assert_eq!(r.code(), ErrorCode::Action);
    }
    let backup = ImageFacts {
        persistent: true,
        ..img(ImageType::Backup, Ready)
    };
    let r = refused(
        &backup,
        Command::Persistent {
            persistent: false,
            datastore: ds,
        },
    );
    assert_eq!(r, Refusal::PersistencyBackup);
    assert_eq!(r.to_string(), "BACKUP images must be persistent");
    let pers = ImageFacts {
        persistent: true,
        ..img(ImageType::Os, Ready)
    };
    let only = DatastoreFacts::new("fs", true);
    let r = refused(
        &pers,
        Command::Persistent {
            persistent: false,
            datastore: only,
        },
    );
    assert_eq!(r, Refusal::PersistentOnlyDatastore);
    assert_eq!(
        r.to_string(),
        "This Datastore only accepts persistent images."
    );
    let snapped = ImageFacts {
        snapshots: 2,
        state: UsedPers,
        ..pers.clone()
    };
    let r = refused(
        &snapped,
        Command::Persistent {
            persistent: false,
            datastore: ds,
        },
    );
    assert_eq!(r, Refusal::PersistencySnapshots);
    assert_eq!(
        r.to_string(),
        "Could not make image non-persistent: Image has snapshots."
    );
    for (state, name) in [
        (Used, "USED"),
        (Clone, "CLONE"),
        (UsedPers, "USED"),
        (LockedUsed, "LOCKED_USED"),
        (LockedUsedPers, "LOCKED_USED"),
    ] {
        let r = refused(
            &img(ImageType::Datablock, state),
            Command::Persistent {
                persistent: true,
                datastore: ds,
            },
        );
        assert_eq!(
            r,
            Refusal::PersistencyState {
                persistent: true,
                state
            }
        );
        assert_eq!(
            r.to_string(),
            format!("Could not make image persistent: Image cannot be in state {name}.")
        );
        let r = refused(
            &ImageFacts {
                state,
                ..pers.clone()
            },
            Command::Persistent {
                persistent: false,
                datastore: ds,
            },
        );
        assert_eq!(
            r,
            Refusal::PersistencyState {
                persistent: false,
                state
            }
        );
        assert_eq!(
            r.to_string(),
            format!("Could not make image non-persistent: Image cannot be in state {name}.")
        );
    }
}

#[test]
fn delete_refusals() {
    use ImageState::*;
    for state in [Locked, LockedUsed, LockedUsedPers] {
        let r = refused(
            &img(ImageType::Os, state),
            Command::Delete {
                force: false,
                backup_vm_busy: false,
            },
        );
        assert_eq!(r, Refusal::DeleteLocked);
        assert_eq!(
            r.to_string(),
            "Image locked, use --force flag to remove the image. Force delete may leave some \
             files on Datastore"
        );
        assert_eq!(r.code(), ErrorCode::Internal);
    }
    let force = Command::Delete {
        force: true,
        backup_vm_busy: false,
    };
    let ready_used = ImageFacts {
        running_vms: 2,
        ..img(ImageType::Os, Ready)
    };
    let r = refused(&ready_used, force);
    assert_eq!(r, Refusal::DeleteInUse { running_vms: 2 });
    assert_eq!(
        r.to_string(),
        "Cannot delete IMAGE. There are 2 VMs using it."
    );
    for state in [Used, UsedPers, LockedUsed, LockedUsedPers] {
        let image = ImageFacts {
            running_vms: 3,
            ..img(ImageType::Os, state)
        };
        let r = refused(&image, force);
        assert_eq!(r, Refusal::DeleteInUse { running_vms: 3 });
        assert_eq!(
            r.to_string(),
            "Cannot delete IMAGE. There are 3 VMs using it."
        );
        assert_eq!(r.code(), ErrorCode::Action);
    }
    let cloning = ImageFacts {
        cloning_ops: 4,
        ..img(ImageType::Os, Clone)
    };
    let r = refused(&cloning, force);
    assert_eq!(r, Refusal::DeleteCloning { cloning_ops: 4 });
    assert_eq!(
        r.to_string(),
        "Cannot delete IMAGE. There are 4 active clone operations."
    );
    let backup = img(ImageType::Backup, Ready);
    let r = refused(
        &backup,
        Command::Delete {
            force: false,
            backup_vm_busy: true,
        },
    );
    assert_eq!(r, Refusal::DeleteBackupActive);
    assert_eq!(
        r.to_string(),
        "Cannot delete IMAGE. Active backup on the associated VM. Wait till it finish to delete \
         the backup Image"
    );
}

#[test]
fn clone_refusals() {
    use ImageState::*;
    let same = Command::Clone {
        target: CloneTarget::SAME_DATASTORE,
    };
    for (t, text) in [
        (ImageType::Kernel, "KERNEL images cannot be cloned."),
        (ImageType::Ramdisk, "RAMDISK images cannot be cloned."),
        (ImageType::Context, "CONTEXT images cannot be cloned."),
        (ImageType::Backup, "BACKUP images cannot be cloned."),
        (ImageType::Filesystem, "FILESYSTEM images cannot be cloned."),
    ] {
        let r = refused(&img(t, Ready), same);
        assert_eq!(r, Refusal::CloneType { image_type: t });
        assert_eq!(r.to_string(), text);
    }
    let snapped = ImageFacts {
        snapshots: 1,
        ..img(ImageType::Os, Ready)
    };
    let r = refused(&snapped, same);
    assert_eq!(r, Refusal::CloneSnapshots);
    assert_eq!(r.to_string(), "Cannot clone images with snapshots");
    let ready = img(ImageType::Os, Ready);
    let to_files = CloneTarget {
        target_type: DatastoreType::File,
        ..CloneTarget::SAME_DATASTORE
    };
    let from_files = CloneTarget {
        source_type: Some(DatastoreType::File),
        ..CloneTarget::SAME_DATASTORE
    };
    for target in [to_files, from_files] {
        let r = refused(&ready, Command::Clone { target });
        assert_eq!(r, Refusal::CloneDatastoreType);
        assert_eq!(
            r.to_string(),
            "Clone only supported for IMAGE_DS Datastores"
        );
    }
    let other_mad = CloneTarget {
        source_type: Some(DatastoreType::Image),
        same_ds_mad: false,
        ..CloneTarget::SAME_DATASTORE
    };
    let r = refused(&ready, Command::Clone { target: other_mad });
    assert_eq!(r, Refusal::CloneDsMad);
    assert_eq!(
        r.to_string(),
        "Clone only supported to same DS_MAD Datastores"
    );
    let full = CloneTarget {
        enough_space: false,
        ..CloneTarget::SAME_DATASTORE
    };
    let r = refused(&ready, Command::Clone { target: full });
    assert_eq!(r, Refusal::NotEnoughSpace);
    assert_eq!(r.to_string(), "Not enough space in datastore");
    for (state, name) in [
        (UsedPers, "USED"),
        (Init, "INIT"),
        (Disabled, "DISABLED"),
        (Error, "ERROR"),
        (Delete, "DELETE"),
        (Locked, "LOCKED"),
        (LockedUsed, "LOCKED_USED"),
        (LockedUsedPers, "LOCKED_USED"),
    ] {
        let r = refused(&img(ImageType::Cdrom, state), same);
        assert_eq!(r, Refusal::CloneState { state });
        assert_eq!(
            r.to_string(),
            format!("Cannot clone image in state: {name}")
        );
        assert_eq!(r.code(), ErrorCode::Allocate);
        let framed = RequestError {
            method: Method::Clone,
            uid: 2,
            refusal: r,
        };
        assert_eq!(
            framed.to_string(),
            format!(
                "[one.image.clone] Error allocating a new image. Cannot clone image in state: {name}"
            )
        );
    }
}

#[test]
fn chtype_refusals() {
    use ImageState::Ready;
    for (from, to) in [
        (ImageType::Os, ImageType::Kernel),
        (ImageType::Cdrom, ImageType::Filesystem),
        (ImageType::Kernel, ImageType::Os),
        (ImageType::Context, ImageType::Backup),
    ] {
        let r = refused(&img(from, Ready), Command::Chtype { to });
        assert_eq!(r, Refusal::ChtypeIncompatible);
        assert_eq!(
            r.to_string(),
            "Cannot change image type to an incompatible type for the current datastore."
        );
    }
    for t in [ImageType::Backup, ImageType::Filesystem] {
        let r = refused(&img(t, Ready), Command::Chtype { to: ImageType::Os });
        assert_eq!(r, Refusal::ChtypeImmutable { image_type: t });
        // OpenNebula's text, missing space included.
        assert_eq!(r.to_string(), format!("Cannot change type for{t} images."));
    }
    let snapped = ImageFacts {
        snapshots: 1,
        ..img(ImageType::Datablock, Ready)
    };
    let r = refused(
        &snapped,
        Command::Chtype {
            to: ImageType::Cdrom,
        },
    );
    assert_eq!(r, Refusal::ChtypeSnapshots);
    assert_eq!(
        r.to_string(),
        "Image with snapshots can be only of type OS or DATABLOCK"
    );
    assert_eq!(r.code(), ErrorCode::Internal);
}

#[test]
fn snapshot_refusals() {
    use ImageState::*;
    let snap = SnapshotFacts {
        exists: true,
        ..SnapshotFacts::default()
    };
    let commands = |s: SnapshotFacts| {
        [
            (
                Command::SnapshotDelete { snapshot: s },
                SnapshotOp::Delete,
                "delete snapshot",
            ),
            (
                Command::SnapshotRevert { snapshot: s },
                SnapshotOp::Revert,
                "revert to snapshot",
            ),
            (
                Command::SnapshotFlatten { snapshot: s },
                SnapshotOp::Flatten,
                "flatten snapshot",
            ),
        ]
    };
    for t in [
        ImageType::Cdrom,
        ImageType::Kernel,
        ImageType::Backup,
        ImageType::Filesystem,
    ] {
        for (command, _, _) in commands(snap) {
            let r = refused(&img(t, Ready), command);
            assert_eq!(r, Refusal::SnapshotType);
            assert_eq!(
                r.to_string(),
                "IMAGES of type KERNEL, RAMDISK, BACKUP, FILESYSTEM and CONTEXT does not have \
                 snapshots."
            );
        }
    }
    for state in ALL_STATES.into_iter().filter(|&s| s != Ready) {
        for (command, op, phrase) in commands(snap) {
            let r = refused(&img(ImageType::Os, state), command);
            assert_eq!(r, Refusal::SnapshotState { op, state });
            assert_eq!(
                r.to_string(),
                format!("Cannot {phrase} in state {}", state.state_to_str())
            );
        }
    }
    for (command, _, _) in commands(SnapshotFacts::default()) {
        let r = refused(&img(ImageType::Datablock, Ready), command);
        assert_eq!(r, Refusal::SnapshotMissing);
        assert_eq!(r.to_string(), "Snapshot does not exist");
    }
    for orphans in [OrphansMode::Deny, OrphansMode::Mixed] {
        let active = SnapshotFacts {
            active: true,
            orphans,
            ..snap
        };
        let r = refused(
            &img(ImageType::Os, Ready),
            Command::SnapshotDelete { snapshot: active },
        );
        assert_eq!(r, Refusal::SnapshotActive);
        assert_eq!(r.to_string(), "Cannot delete the active snapshot");
        let parent = SnapshotFacts {
            has_children: true,
            orphans,
            ..snap
        };
        let r = refused(
            &img(ImageType::Os, Ready),
            Command::SnapshotDelete { snapshot: parent },
        );
        assert_eq!(r, Refusal::SnapshotChildren);
        assert_eq!(r.to_string(), "Cannot delete snapshot with children");
    }
    let linear = SnapshotFacts {
        active: true,
        has_children: true,
        orphans: OrphansMode::Linear,
        ..snap
    };
    assert!(
        transition(
            &img(ImageType::Os, Ready),
            &Command::SnapshotDelete { snapshot: linear }
        )
        .is_ok()
    );
}

#[test]
fn vm_disk_refusals() {
    use ImageState::*;
    let attach = Command::Acquire { hot_attach: true };
    let deploy = Command::Acquire { hot_attach: false };
    for t in [
        ImageType::Kernel,
        ImageType::Ramdisk,
        ImageType::Context,
        ImageType::Backup,
    ] {
        let r = refused(&img(t, Ready), deploy);
        assert_eq!(
            r,
            Refusal::NotADisk {
                id: 5,
                name: "disk".into(),
                image_type: t
            }
        );
        assert_eq!(
            r.to_string(),
            format!("Image 5 (disk) of type {t} cannot be used as DISK.")
        );
    }
    let shareable = ImageFacts {
        shareable: true,
        persistent: true,
        ..img(ImageType::Os, LockedUsedPers)
    };
    for image in [
        img(ImageType::Os, Locked),
        img(ImageType::Os, LockedUsed),
        shareable,
    ] {
        let r = refused(&image, attach);
        assert_eq!(r, Refusal::AcquireLocked { id: 5 });
        assert_eq!(r.to_string(), "Cannot acquire image 5, it is locked");
    }
    for state in [UsedPers, LockedUsedPers] {
        let r = refused(&img(ImageType::Datablock, state), deploy);
        assert_eq!(r, Refusal::AcquireInUse { id: 5 });
        assert_eq!(
            r.to_string(),
            "Cannot acquire image 5, it is persistent and already in use"
        );
    }
    for (state, name) in [
        (Init, "INIT"),
        (Disabled, "DISABLED"),
        (Error, "ERROR"),
        (Delete, "DELETE"),
        (Clone, "CLONE"),
    ] {
        let r = refused(&img(ImageType::Os, state), deploy);
        assert_eq!(r, Refusal::AcquireState { id: 5, state });
        assert_eq!(
            r.to_string(),
            format!("Cannot acquire image 5, it is in state: {name}")
        );
    }
    let r = refused(
        &img(ImageType::Kernel, Used),
        Command::Release { vm_failed: false },
    );
    assert_eq!(r, Refusal::ReleaseType);
    assert_eq!(
        r.to_string(),
        "Trying to release a KERNEL, RAMDISK, BACKUP or CONTEXT image"
    );
    assert_eq!(r.code(), ErrorCode::Logged);
    for state in [Init, Ready, Disabled, Locked, Error, Clone, Delete] {
        let r = refused(
            &img(ImageType::Os, state),
            Command::Release { vm_failed: false },
        );
        assert_eq!(r, Refusal::ReleaseState { state });
        assert_eq!(
            r.to_string(),
            format!("Releasing image in wrong state: {state}")
        );
    }
    let r = refused(&img(ImageType::Filesystem, Used), Command::ReleaseClone);
    assert_eq!(
        r,
        Refusal::ReleaseCloneType {
            image_type: ImageType::Filesystem
        }
    );
    assert_eq!(
        r.to_string(),
        "Trying to release a cloning FILESYSTEM image"
    );
    let r = refused(&img(ImageType::Os, Ready), Command::ReleaseClone);
    assert_eq!(r, Refusal::ReleaseCloneState { state: Ready });
    assert_eq!(r.to_string(), "Release cloning image in wrong state");
}

fn new_image(t: ImageType, ds: DatastoreType) -> NewImage {
    NewImage {
        image_type: t,
        datastore: ds,
        persistent_only_datastore: false,
        persistent: false,
        has_path: true,
        has_source: false,
        has_format: false,
        origin: Origin::Api,
    }
}

#[test]
fn allocate_refusals() {
    use DatastoreType as D;
    let os = new_image(ImageType::Os, D::Image);
    let cases = [
        (
            NewImage {
                datastore: D::System,
                ..os
            },
            Refusal::AllocateDatastore,
            "New images can only be allocated in a files or image datastore.",
        ),
        (
            new_image(ImageType::Backup, D::Backup),
            Refusal::AllocateDatastore,
            "New images can only be allocated in a files or image datastore.",
        ),
        (
            NewImage {
                persistent_only_datastore: true,
                ..os
            },
            Refusal::AllocatePersistentOnly,
            "This Datastore only accepts persistent images.",
        ),
        (
            new_image(ImageType::Datablock, D::File),
            Refusal::AllocateNeedsImageDatastore,
            "Only IMAGES of type KERNEL, RAMDISK and CONTEXT can be registered in a FILE_DS \
             datastore",
        ),
        (
            new_image(ImageType::Kernel, D::Image),
            Refusal::AllocateNeedsFileDatastore,
            "IMAGES of type KERNEL, RAMDISK and CONTEXT cannot be registered in an IMAGE_DS \
             datastore",
        ),
        (
            new_image(ImageType::Backup, D::Image),
            Refusal::AllocateNeedsBackupDatastore,
            "IMAGES of type BACKUP can only be registered in an BACKUP_DS datastore",
        ),
        (
            NewImage {
                has_source: true,
                has_format: true,
                ..os
            },
            Refusal::PathAndSource,
            "PATH and SOURCE cannot be both set.",
        ),
        (
            NewImage {
                has_source: true,
                has_path: false,
                ..os
            },
            Refusal::SourceNeedsFormat,
            "SOURCE needs FORMAT to be set.",
        ),
        (
            NewImage {
                origin: Origin::Backup { vm: Some(3) },
                ..new_image(ImageType::Backup, D::Backup)
            },
            Refusal::BackupNeedsSource,
            "SOURCE cannot be empty for BACKUP images",
        ),
        (
            NewImage {
                has_path: false,
                ..new_image(ImageType::Cdrom, D::Image)
            },
            Refusal::NoPathNorSource,
            "No PATH nor SOURCE in template.",
        ),
        (
            NewImage {
                origin: Origin::Backup { vm: None },
                has_path: false,
                has_source: true,
                has_format: true,
                ..new_image(ImageType::Backup, D::Backup)
            },
            Refusal::BackupNeedsVm,
            "No associated VM ID for BACKUP image.",
        ),
    ];
    for (new, refusal, text) in cases {
        let r = allocate(&new).unwrap_err();
        assert_eq!(r, refusal, "{new:?}");
        assert_eq!(r.to_string(), text);
        assert_eq!(r.code(), ErrorCode::Allocate);
        let framed = RequestError {
            method: Method::Allocate,
            uid: 4,
            refusal: r,
        };
        assert_eq!(
            framed.to_string(),
            format!("[one.image.allocate] Error allocating a new image. {text}")
        );
    }
    let framed = RequestError {
        method: Method::Allocate,
        uid: 4,
        refusal: Refusal::NameTaken { id: 3 },
    };
    assert_eq!(
        framed.to_string(),
        "[one.image.allocate] Error allocating a new image. NAME is already taken by IMAGE 3."
    );
}

#[test]
fn authorization_refusals() {
    let owner = Requester::new(7, 100);
    let stranger = Requester {
        groups: [1, 101].into(),
        ..Requester::new(8, 101)
    };
    let admin = Requester::new(0, 0);
    let image = ImageFacts {
        uid: 7,
        gid: 100,
        ..img(ImageType::Os, ImageState::Ready)
    };

    let r = perform(&image, &Command::Enable, &stranger).unwrap_err();
    let denial = Denial {
        kind: ObjectKind::Image,
        oid: Some(5),
        op: Operation::Manage,
        by_lock: false,
    };
    assert_eq!(
        r,
        Refusal::Auth(AuthError::Denied(AuthDenied {
            denials: vec![denial]
        }))
    );
    assert_eq!(r.to_string(), "Not authorized to perform MANAGE IMAGE [5]");
    let framed = RequestError {
        method: Method::Enable,
        uid: 8,
        refusal: r,
    };
    assert_eq!(
        framed.to_string(),
        "[one.image.enable] User [8] : Not authorized to perform MANAGE IMAGE [5]."
    );
    assert!(perform(&image, &Command::Enable, &owner).is_ok());

    // A USE lock stops the owner and the admin, with different texts.
    let locked = ImageFacts {
        lock: LockLevel::Use,
        ..image.clone()
    };
    let r = perform(&locked, &Command::Disable, &owner).unwrap_err();
    assert_eq!(r.to_string(), "Not authorized to perform MANAGE IMAGE [5]");
    let r = perform(&locked, &Command::Disable, &admin).unwrap_err();
    let denial = Denial {
        kind: ObjectKind::Image,
        oid: Some(5),
        op: Operation::Manage,
        by_lock: true,
    };
    assert_eq!(
        r,
        Refusal::Auth(AuthError::Denied(AuthDenied {
            denials: vec![denial]
        }))
    );
    assert_eq!(r.to_string(), "IMAGE is locked. [5]");
    let framed = RequestError {
        method: Method::Enable,
        uid: 0,
        refusal: r,
    };
    assert_eq!(
        framed.to_string(),
        "[one.image.enable] User [0] : IMAGE is locked. [5]."
    );
    // An ADMIN lock lets MANAGE through.
    let admin_locked = ImageFacts {
        lock: LockLevel::Admin,
        ..image.clone()
    };
    assert!(perform(&admin_locked, &Command::Disable, &owner).is_ok());

    // Deleting a LOCKED image: --force first, then ADMIN, which owners lack by default (600).
    let busy = ImageFacts {
        state: ImageState::Locked,
        ..image.clone()
    };
    let r = perform(
        &busy,
        &Command::Delete {
            force: false,
            backup_vm_busy: false,
        },
        &stranger,
    );
    assert_eq!(r.unwrap_err(), Refusal::DeleteLocked);
    let r = perform(
        &busy,
        &Command::Delete {
            force: true,
            backup_vm_busy: false,
        },
        &owner,
    );
    assert_eq!(
        r.unwrap_err().to_string(),
        "Not authorized to perform ADMIN IMAGE [5]"
    );
    let out = perform(
        &busy,
        &Command::Delete {
            force: true,
            backup_vm_busy: false,
        },
        &admin,
    );
    assert_eq!(out.unwrap().image.state, ImageState::Delete);

    // Cloning needs CREATE (the users group has it) and USE on the source.
    let outsider = Requester::new(9, 102);
    let r = perform(
        &image,
        &Command::Clone {
            target: CloneTarget::SAME_DATASTORE,
        },
        &outsider,
    );
    assert_eq!(
        r.unwrap_err().to_string(),
        "Not authorized to perform CREATE IMAGE; Not authorized to perform USE IMAGE [5]"
    );
    let r = perform(
        &image,
        &Command::Clone {
            target: CloneTarget::SAME_DATASTORE,
        },
        &stranger,
    );
    assert_eq!(
        r.unwrap_err().to_string(),
        "Not authorized to perform USE IMAGE [5]"
    );
    let shared = ImageFacts {
        perms: "604".parse().unwrap(),
        ..image.clone()
    };
    let out = perform(
        &shared,
        &Command::Clone {
            target: CloneTarget::SAME_DATASTORE,
        },
        &stranger,
    );
    assert_eq!(out.unwrap().image.state, ImageState::Used);
    // Type checks come before authorisation.
    let kernel = ImageFacts {
        image_type: ImageType::Kernel,
        ..image.clone()
    };
    let r = perform(
        &kernel,
        &Command::Clone {
            target: CloneTarget::SAME_DATASTORE,
        },
        &outsider,
    );
    assert_eq!(
        r.unwrap_err(),
        Refusal::CloneType {
            image_type: ImageType::Kernel
        }
    );

    // Group admins manage their group's images.
    let group_admin = Requester {
        admin_of: [100].into(),
        ..Requester::new(10, 100)
    };
    assert!(perform(&image, &Command::Enable, &group_admin).is_ok());

    // chmod: 'other' bits, then ADMIN bits.
    let object = image.auth();
    let r = check_chmod(&owner, &object, "604".parse().unwrap(), false).unwrap_err();
    assert_eq!(r, AuthError::OtherPermissionsDisabled);
    assert_eq!(
        r.to_string(),
        "'other' permissions is disabled in oned.conf"
    );
    let framed = RequestError {
        method: Method::Chmod,
        uid: 7,
        refusal: r.into(),
    };
    assert_eq!(
        framed.to_string(),
        "[one.image.chmod] User [7] : 'other' permissions is disabled in oned.conf."
    );
    assert_eq!(
        check_chmod(&owner, &object, "640".parse().unwrap(), false),
        Ok(Operation::Manage)
    );
    let r = check_chmod(&owner, &object, "700".parse().unwrap(), false).unwrap_err();
    assert_eq!(r.to_string(), "Not authorized to perform ADMIN IMAGE [5]");
    assert_eq!(
        check_chmod(&admin, &object, "604".parse().unwrap(), false),
        Ok(Operation::Manage)
    );
}

#[test]
fn lock_and_lookup_refusals() {
    let r: Refusal = LockError::HeldByOther { owner: Some(3) }.into();
    let framed = RequestError {
        method: Method::Lock,
        uid: 4,
        refusal: r,
    };
    assert_eq!(
        framed.to_string(),
        "[one.image.lock] Error trying to lock the resource."
    );
    let r: Refusal = LockError::NotOwner { owner: Some(3) }.into();
    let framed = RequestError {
        method: Method::Unlock,
        uid: 4,
        refusal: r,
    };
    assert_eq!(
        framed.to_string(),
        "[one.image.unlock] Cannot unlock: Lock is owned by another user"
    );
    let r: Refusal = LockRequest::from_code(0).unwrap_err().into();
    assert_eq!(r.to_string(), "Wrong lock level specified");
    let r = Refusal::NotFound {
        kind: ObjectKind::Image,
        id: 5,
    };
    let framed = RequestError {
        method: Method::Info,
        uid: 4,
        refusal: r,
    };
    assert_eq!(
        framed.to_string(),
        "[one.image.info] Error getting image [5]."
    );
    let r = Refusal::NotFound {
        kind: ObjectKind::Datastore,
        id: 100,
    };
    assert_eq!(r.to_string(), "Error getting datastore [100].");
    for m in Method::ALL {
        assert_eq!(m.to_string().parse::<Method>(), Ok(m));
    }
}

// ---------------------------------------------------------------------------------------------
// Allowed transitions
// ---------------------------------------------------------------------------------------------

fn ok(image: &ImageFacts, command: Command) -> Outcome {
    transition(image, &command).unwrap_or_else(|r| panic!("{command:?} on {image:?}: {r}"))
}

#[test]
fn enable_disable_persistent_and_chtype() {
    use ImageState::*;
    assert_eq!(
        ok(&img(ImageType::Os, Disabled), Command::Enable)
            .image
            .state,
        Ready
    );
    assert_eq!(
        ok(&img(ImageType::Os, Ready), Command::Enable).effect,
        Effect::NoOp
    );
    assert_eq!(
        ok(&img(ImageType::Os, Error), Command::Enable).image.state,
        Ready
    );
    let used = ImageFacts {
        running_vms: 1,
        ..img(ImageType::Os, Error)
    };
    assert_eq!(ok(&used, Command::Enable).image.state, Used);
    assert_eq!(
        ok(&img(ImageType::Os, Error), Command::Disable).image.state,
        Disabled
    );
    assert_eq!(
        ok(&img(ImageType::Os, Disabled), Command::Disable).effect,
        Effect::NoOp
    );

    let ds = DatastoreFacts::default();
    for state in [Init, Ready, Disabled, Locked, Error, Delete] {
        let out = ok(
            &img(ImageType::Cdrom, state),
            Command::Persistent {
                persistent: true,
                datastore: ds,
            },
        );
        assert!(out.image.persistent);
        assert_eq!(out.image.state, state);
    }
    // Same value: a no-op before any other check, even for types that cannot change.
    let kernel = img(ImageType::Kernel, Used);
    let lvm = DatastoreFacts::new("lvm", true);
    let out = ok(
        &kernel,
        Command::Persistent {
            persistent: false,
            datastore: lvm,
        },
    );
    assert_eq!(out.effect, Effect::NoOp);

    let out = ok(
        &img(ImageType::Os, Used),
        Command::Chtype {
            to: ImageType::Datablock,
        },
    );
    assert_eq!(
        (out.image.image_type, out.image.state),
        (ImageType::Datablock, Used)
    );
    assert_eq!(
        ok(
            &img(ImageType::Os, Ready),
            Command::Chtype { to: ImageType::Os }
        )
        .effect,
        Effect::NoOp
    );
    let snapped = ImageFacts {
        snapshots: 2,
        ..img(ImageType::Os, Ready)
    };
    assert_eq!(
        ok(
            &snapped,
            Command::Chtype {
                to: ImageType::Datablock
            }
        )
        .image
        .image_type,
        ImageType::Datablock
    );
}

#[test]
fn delete_outcomes() {
    use ImageState::*;
    let cmd = Command::Delete {
        force: false,
        backup_vm_busy: false,
    };
    for state in [Init, Ready, Disabled, Error, Delete] {
        let out = ok(&img(ImageType::Os, state), cmd);
        assert_eq!(out.image.state, Delete);
        assert_eq!(
            out.effect,
            Effect::Driver(DriverOp::Rm {
                force_delete: false
            })
        );
    }
    let sourceless = ImageFacts {
        has_source: false,
        ..img(ImageType::Os, Error)
    };
    assert_eq!(ok(&sourceless, cmd).effect, Effect::Dropped);
    let backup = ImageFacts {
        running_vms: 1,
        ..img(ImageType::Backup, Ready)
    };
    assert_eq!(ok(&backup, cmd).image.state, Delete);
    let cloning = ImageFacts {
        clone_source: Some(2),
        ..img(ImageType::Os, Locked)
    };
    let out = ok(
        &cloning,
        Command::Delete {
            force: true,
            backup_vm_busy: false,
        },
    );
    assert_eq!(out.release_clone_source, Some(2));
    assert_eq!(out.image.clone_source, None);
    assert_eq!(
        out.effect,
        Effect::Driver(DriverOp::Rm { force_delete: true })
    );
    let Effect::Driver(rm) = out.effect else {
        panic!("{out:?}")
    };
    let gone = ok(
        &out.image,
        Command::DriverDone {
            op: rm,
            success: false,
        },
    );
    assert_eq!(gone.effect, Effect::Dropped);
    let failed = ok(
        &out.image,
        Command::DriverDone {
            op: DriverOp::Rm {
                force_delete: false,
            },
            success: false,
        },
    );
    assert_eq!(failed.image.state, Error);
}

#[test]
fn clone_source_life_cycle() {
    use ImageState::*;
    let same = Command::Clone {
        target: CloneTarget::SAME_DATASTORE,
    };
    let pers = ImageFacts {
        persistent: true,
        ..img(ImageType::Os, Ready)
    };
    let out = ok(&pers, same);
    assert_eq!((out.image.state, out.image.cloning_ops), (Clone, 1));
    let out = ok(&out.image, same);
    assert_eq!((out.image.state, out.image.cloning_ops), (Clone, 2));
    let out = ok(&out.image, Command::ReleaseClone);
    assert_eq!((out.image.state, out.image.cloning_ops), (Clone, 1));
    let out = ok(&out.image, Command::ReleaseClone);
    assert_eq!((out.image.state, out.image.cloning_ops), (Ready, 0));

    let out = ok(&img(ImageType::Datablock, Ready), same);
    assert_eq!((out.image.state, out.image.cloning_ops), (Used, 1));
    let with_vm = ImageFacts {
        running_vms: 1,
        ..out.image
    };
    let out = ok(&with_vm, Command::ReleaseClone);
    assert_eq!((out.image.state, out.image.cloning_ops), (Used, 0));
    let out = ok(&out.image, Command::Release { vm_failed: false });
    assert_eq!((out.image.state, out.image.running_vms), (Ready, 0));
}

#[test]
fn vm_use_life_cycle() {
    use ImageState::*;
    let deploy = Command::Acquire { hot_attach: false };
    let release = Command::Release { vm_failed: false };
    let out = ok(&img(ImageType::Os, Ready), deploy);
    assert_eq!((out.image.state, out.image.running_vms), (Used, 1));
    let out = ok(&out.image, deploy);
    assert_eq!((out.image.state, out.image.running_vms), (Used, 2));
    let out = ok(&out.image, release);
    assert_eq!((out.image.state, out.image.running_vms), (Used, 1));
    assert_eq!(ok(&out.image, release).image.state, Ready);

    let pers = ImageFacts {
        persistent: true,
        ..img(ImageType::Filesystem, Ready)
    };
    let out = ok(&pers, deploy);
    assert_eq!(out.image.state, UsedPers);
    assert_eq!(
        ok(&out.image, Command::Release { vm_failed: true })
            .image
            .state,
        Error
    );
    let shared = ImageFacts {
        shareable: true,
        ..out.image
    };
    assert_eq!(ok(&shared, deploy).image.running_vms, 2);

    let out = ok(&img(ImageType::Os, Locked), deploy);
    assert_eq!(out.image.state, LockedUsed);
    let done = ok(
        &out.image,
        Command::DriverDone {
            op: DriverOp::Cp,
            success: true,
        },
    );
    assert_eq!(done.image.state, Used);
    assert_eq!(ok(&out.image, release).image.state, Locked);
    let pers_locked = ImageFacts {
        persistent: true,
        ..img(ImageType::Os, Locked)
    };
    let out = ok(&pers_locked, deploy);
    assert_eq!(out.image.state, LockedUsedPers);
    let done = ok(
        &out.image,
        Command::DriverDone {
            op: DriverOp::Mkfs { saving: false },
            success: true,
        },
    );
    assert_eq!(done.image.state, UsedPers);
}

#[test]
fn snapshots_and_driver_completions() {
    use ImageState::*;
    let snap = SnapshotFacts {
        exists: true,
        ..SnapshotFacts::default()
    };
    let image = ImageFacts {
        snapshots: 3,
        persistent: true,
        ..img(ImageType::Os, Ready)
    };
    let out = ok(&image, Command::SnapshotDelete { snapshot: snap });
    assert_eq!(
        (out.image.state, out.effect),
        (Locked, Effect::Driver(DriverOp::SnapshotDelete))
    );
    let done = ok(
        &out.image,
        Command::DriverDone {
            op: DriverOp::SnapshotDelete,
            success: true,
        },
    );
    assert_eq!((done.image.state, done.image.snapshots), (Ready, 2));
    let failed = ok(
        &out.image,
        Command::DriverDone {
            op: DriverOp::SnapshotDelete,
            success: false,
        },
    );
    assert_eq!((failed.image.state, failed.image.snapshots), (Ready, 3));
    let out = ok(&image, Command::SnapshotFlatten { snapshot: snap });
    let done = ok(
        &out.image,
        Command::DriverDone {
            op: DriverOp::SnapshotFlatten,
            success: true,
        },
    );
    assert_eq!((done.image.state, done.image.snapshots), (Ready, 0));
    let out = ok(&image, Command::SnapshotRevert { snapshot: snap });
    let done = ok(
        &out.image,
        Command::DriverDone {
            op: DriverOp::SnapshotRevert,
            success: false,
        },
    );
    assert_eq!((done.image.state, done.image.snapshots), (Ready, 3));

    let locked = img(ImageType::Os, Locked);
    assert_eq!(
        ok(
            &locked,
            Command::DriverDone {
                op: DriverOp::Cp,
                success: false
            }
        )
        .image
        .state,
        Error
    );
    let saving = ok(
        &locked,
        Command::DriverDone {
            op: DriverOp::Mkfs { saving: true },
            success: true,
        },
    );
    assert_eq!(saving.image.state, Locked);
    let deleting = img(ImageType::Os, Delete);
    let ignored = ok(
        &deleting,
        Command::DriverDone {
            op: DriverOp::Mkfs { saving: false },
            success: true,
        },
    );
    assert_eq!(ignored.effect, Effect::NoOp);
    let cloned = ImageFacts {
        clone_source: Some(9),
        has_source: false,
        ..locked.clone()
    };
    let done = ok(
        &cloned,
        Command::DriverDone {
            op: DriverOp::Clone,
            success: true,
        },
    );
    assert_eq!(
        (
            done.image.state,
            done.release_clone_source,
            done.image.has_source
        ),
        (Ready, Some(9), true)
    );
    let failed = ok(
        &cloned,
        Command::DriverDone {
            op: DriverOp::Clone,
            success: false,
        },
    );
    assert_eq!(
        (failed.image.state, failed.release_clone_source),
        (Error, Some(9))
    );
}

#[test]
fn object_locks_survive_state_changes() {
    use ImageState::*;
    let image = ImageFacts {
        lock: LockLevel::Admin,
        ..img(ImageType::Os, Disabled)
    };
    let out = ok(&image, Command::Enable);
    assert_eq!(out.image.state, Ready);
    assert_eq!(out.image.lock, LockLevel::Admin);
    assert!(out.upstream_clears_lock);
    let used = ImageFacts {
        lock: LockLevel::Use,
        running_vms: 1,
        ..img(ImageType::Os, Used)
    };
    let out = ok(&used, Command::Release { vm_failed: false });
    assert!(out.upstream_clears_lock && out.image.lock == LockLevel::Use);
    // Into LOCKED, or without a state change, OpenNebula keeps the lock too.
    let ready = ImageFacts {
        lock: LockLevel::Use,
        ..img(ImageType::Os, Ready)
    };
    let snap = SnapshotFacts {
        exists: true,
        ..SnapshotFacts::default()
    };
    assert!(!ok(&ready, Command::SnapshotRevert { snapshot: snap }).upstream_clears_lock);
    assert!(
        !ok(
            &ready,
            Command::Chtype {
                to: ImageType::Cdrom
            }
        )
        .upstream_clears_lock
    );
    let unlocked = img(ImageType::Os, Disabled);
    assert!(!ok(&unlocked, Command::Enable).upstream_clears_lock);
}

#[test]
fn creation_outcomes() {
    use DatastoreType as D;
    let os = new_image(ImageType::Os, D::Image);
    let c = allocate(&os).unwrap();
    assert_eq!(
        (c.state, c.driver, c.persistent),
        (ImageState::Locked, Some(DriverOp::Cp), false)
    );
    let c = allocate(&NewImage {
        has_path: false,
        persistent: true,
        ..os
    })
    .unwrap();
    assert_eq!(
        (c.state, c.driver, c.persistent),
        (
            ImageState::Locked,
            Some(DriverOp::Mkfs { saving: false }),
            true
        )
    );
    let c = allocate(&NewImage {
        has_path: false,
        has_source: true,
        has_format: true,
        ..os
    })
    .unwrap();
    assert_eq!((c.state, c.driver), (ImageState::Ready, None));
    let cd = NewImage {
        persistent: true,
        ..new_image(ImageType::Cdrom, D::Image)
    };
    assert!(!allocate(&cd).unwrap().persistent);
    let fs = NewImage {
        has_path: false,
        ..new_image(ImageType::Filesystem, D::Image)
    };
    let c = allocate(&fs).unwrap();
    assert_eq!((c.state, c.driver), (ImageState::Locked, None));
    let kernel = new_image(ImageType::Kernel, D::File);
    assert_eq!(allocate(&kernel).unwrap().driver, Some(DriverOp::Cp));
    let backup = NewImage {
        origin: Origin::Backup { vm: Some(12) },
        has_path: false,
        has_source: true,
        has_format: true,
        ..new_image(ImageType::Backup, D::Backup)
    };
    let c = allocate(&backup).unwrap();
    assert_eq!(
        (c.state, c.running_vms, c.persistent, c.driver),
        (ImageState::Ready, 1, true, None)
    );
    let clone = NewImage {
        origin: Origin::Clone { source: 4 },
        ..os
    };
    let c = allocate(&clone).unwrap();
    assert_eq!(
        (c.state, c.driver, c.clone_source),
        (ImageState::Locked, Some(DriverOp::Clone), Some(4))
    );
    let save_as = NewImage {
        origin: Origin::SaveAs,
        has_path: false,
        ..os
    };
    assert_eq!(
        allocate(&save_as).unwrap().driver,
        Some(DriverOp::Mkfs { saving: true })
    );
}

// ---------------------------------------------------------------------------------------------
// Templates
// ---------------------------------------------------------------------------------------------

/// Text, unexpected token, expected tokens, line, first and last column, message.
type ErrorCase = (
    &'static str,
    Token,
    &'static [Token],
    usize,
    usize,
    usize,
    &'static str,
);

fn syntax_error(text: &str) -> TemplateError {
    match Template::parse(text) {
        Ok(t) => panic!("{text:?} parsed: {t:?}"),
        Err(e) => e,
    }
}

/// Messages and locations as OpenNebula's own scanner and parser give them (with `yylineno`
/// starting at 1, see the module documentation).
#[test]
fn template_errors_with_locations() {
    use Token::*;
    let cases: &[ErrorCase] = &[
        (
            "A",
            End,
            &[Equal, EqualEmpty],
            1,
            1,
            2,
            "Parse error: syntax error, unexpected $end, expecting EQUAL or EQUAL_EMPTY at line 1, columns 1:2",
        ),
        (
            "= b",
            Equal,
            &[End],
            1,
            1,
            3,
            "Parse error: syntax error, unexpected EQUAL, expecting $end at line 1, columns 1:3",
        ),
        (
            "A = \"abc def",
            End,
            &[Equal, EqualEmpty],
            1,
            10,
            13,
            "Parse error: syntax error, unexpected $end, expecting EQUAL or EQUAL_EMPTY at line 1, columns 10:13",
        ),
        (
            "A = b\nB",
            End,
            &[Equal, EqualEmpty],
            2,
            7,
            8,
            "Parse error: syntax error, unexpected $end, expecting EQUAL or EQUAL_EMPTY at line 2, columns 7:8",
        ),
        (
            "A = b\n\n  C = [ x = 1,, ]",
            Comma,
            &[Variable],
            3,
            22,
            24,
            "Parse error: syntax error, unexpected COMMA, expecting VARIABLE at line 3, columns 22:24",
        ),
        (
            "A = [ x ]",
            CBracket,
            &[Equal],
            1,
            8,
            10,
            "Parse error: syntax error, unexpected CBRACKET, expecting EQUAL at line 1, columns 8:10",
        ),
        (
            "A = ",
            End,
            &[OBracket, Cdata, String],
            1,
            2,
            5,
            "Parse error: syntax error, unexpected $end, expecting OBRACKET or CCDATA or STRING at line 1, columns 2:5",
        ),
        (
            "A = 1\n# hello",
            End,
            &[Equal, EqualEmpty],
            2,
            9,
            14,
            "Parse error: syntax error, unexpected $end, expecting EQUAL or EQUAL_EMPTY at line 2, columns 9:14",
        ),
        (
            "A-B = 1",
            Variable,
            &[Equal, EqualEmpty],
            1,
            3,
            4,
            "Parse error: syntax error, unexpected VARIABLE, expecting EQUAL or EQUAL_EMPTY at line 1, columns 3:4",
        ),
        (
            "A = [ K = 1 L = 2 ]",
            Variable,
            &[Comma, CBracket],
            1,
            13,
            14,
            "Parse error: syntax error, unexpected VARIABLE, expecting COMMA or CBRACKET at line 1, columns 13:14",
        ),
        (
            "A = [ K = \n ]",
            EqualEmpty,
            &[Equal],
            2,
            8,
            12,
            "Parse error: syntax error, unexpected EQUAL_EMPTY, expecting EQUAL at line 2, columns 8:12",
        ),
        (
            "A = [ K = 1 ] ]",
            CBracket,
            &[End],
            1,
            15,
            16,
            "Parse error: syntax error, unexpected CBRACKET, expecting $end at line 1, columns 15:16",
        ),
        (
            "A = [ K = 1, ]",
            CBracket,
            &[Variable],
            1,
            14,
            15,
            "Parse error: syntax error, unexpected CBRACKET, expecting VARIABLE at line 1, columns 14:15",
        ),
        (
            "A = [ = 1 ]",
            Equal,
            &[CBracket, Variable],
            1,
            7,
            9,
            "Parse error: syntax error, unexpected EQUAL, expecting CBRACKET or VARIABLE at line 1, columns 7:9",
        ),
        (
            "DISK = [\n  IMAGE_ID = 7,\n  TARGET = \"vda\"\n  DEV = x ]",
            Variable,
            &[Comma, CBracket],
            4,
            45,
            48,
            "Parse error: syntax error, unexpected VARIABLE, expecting COMMA or CBRACKET at line 4, columns 45:48",
        ),
        (
            "NAME = \"x\"\nPATH = \"/tmp/x\"\nTYPE = OS\nSIZE = [ 1 ]",
            CBracket,
            &[Equal],
            4,
            48,
            50,
            "Parse error: syntax error, unexpected CBRACKET, expecting EQUAL at line 4, columns 48:50",
        ),
        (
            "A = ,\n\n",
            End,
            &[OBracket, Cdata, String],
            1,
            7,
            8,
            "Parse error: syntax error, unexpected $end, expecting OBRACKET or CCDATA or STRING at line 1, columns 7:8",
        ),
        (
            "A = \"line1\nline2\" B",
            End,
            &[Equal, EqualEmpty],
            2,
            19,
            20,
            "Parse error: syntax error, unexpected $end, expecting EQUAL or EQUAL_EMPTY at line 2, columns 19:20",
        ),
        (
            "A = [\n",
            End,
            &[CBracket, Variable],
            2,
            5,
            7,
            "Parse error: syntax error, unexpected $end, expecting CBRACKET or VARIABLE at line 2, columns 5:7",
        ),
        (
            "A =\n=",
            Equal,
            &[End],
            2,
            5,
            6,
            "Parse error: syntax error, unexpected EQUAL, expecting $end at line 2, columns 5:6",
        ),
        (
            "A = \"a\" = b",
            Equal,
            &[End],
            1,
            8,
            11,
            "Parse error: syntax error, unexpected EQUAL, expecting $end at line 1, columns 8:11",
        ),
        (
            "V = [\nK = x]]>",
            Cdata,
            &[String],
            2,
            11,
            15,
            "Parse error: syntax error, unexpected CCDATA, expecting STRING at line 2, columns 11:15",
        ),
        (
            "A = \"x\\\"\nB = \"y\"",
            End,
            &[Equal, EqualEmpty],
            2,
            16,
            17,
            "Parse error: syntax error, unexpected $end, expecting EQUAL or EQUAL_EMPTY at line 2, columns 16:17",
        ),
    ];
    for &(text, unexpected, expected, line, first_column, last_column, message) in cases {
        let e = syntax_error(text);
        assert_eq!(
            e,
            TemplateError::Syntax {
                unexpected,
                expected,
                line,
                first_column,
                last_column
            },
            "{text:?}"
        );
        assert_eq!(e.to_string(), message, "{text:?}");
    }
    for (text, line, first_column, last_column) in [
        ("A = x]]>y", 1, 5, 10),
        ("V = [ K = x]]>", 1, 5, 15),
        ("V = [ K = x]]>\n]", 1, 5, 15),
        ("A = [ K = \"x]]>\" ]", 1, 5, 19),
        ("A = 1\nB = \"x]]>\"", 2, 11, 17),
    ] {
        let e = syntax_error(text);
        assert_eq!(
            e,
            TemplateError::Cdata {
                line,
                first_column,
                last_column
            },
            "{text:?}"
        );
        assert_eq!(e.to_string(), "Parse error.");
    }
    let e = syntax_error("<TEMPLATE><A>1</A></TEMPLATE>");
    assert_eq!(e, TemplateError::Xml);
    assert_eq!(
        e.to_string(),
        "Parse error: XML templates are not supported"
    );
}

fn single(t: &Template, name: &str) -> String {
    t.get_single(name)
        .unwrap_or_else(|| panic!("no {name} in {t:?}"))
        .to_owned()
}

#[test]
fn template_acceptance_as_opennebula() {
    let t = Template::parse(
        "# an image\nNAME = \"Ubuntu\"\n  path=/home/cloud/disk.0\nDESCRIPTION = \"say \\\"hi\\\"\n\
         and bye\"\nDISK = [ image_id = 7, IMAGE_ID = 8, target = \"vda\" ]\nEMPTY =\nNONE = []\n\
         DISK = [ IMAGE = \"other\" ]\n",
    )
    .unwrap();
    assert_eq!(single(&t, "NAME"), "Ubuntu");
    assert_eq!(single(&t, "PATH"), "/home/cloud/disk.0");
    assert_eq!(single(&t, "DESCRIPTION"), "say \"hi\"\nand bye");
    assert_eq!(single(&t, "EMPTY"), "");
    let disks: Vec<_> = t.get_all("DISK").collect();
    assert_eq!(disks.len(), 2);
    let AttrValue::Vector(first) = disks[0] else {
        panic!("{disks:?}")
    };
    assert_eq!(first.get("IMAGE_ID"), Some("7"));
    assert_eq!(first.get("TARGET"), Some("vda"));
    assert_eq!(first.len(), 2);
    assert_eq!(t.get("NONE"), Some(&AttrValue::Vector(Vector::new())));
    assert_eq!(
        t.sorted().to_string(),
        "DESCRIPTION=\"say \\\"hi\\\"\nand bye\"\nDISK=[\n  IMAGE_ID=\"7\",\n  TARGET=\"vda\" ]\n\
         DISK=[\n  IMAGE=\"other\" ]\nNAME=\"Ubuntu\"\nPATH=\"/home/cloud/disk.0\""
    );

    // Quirks of the scanner, kept and reported.
    assert_eq!(single(&Template::parse("A = \"abc").unwrap(), "A"), "\"abc");
    assert_eq!(
        single(&Template::parse("B = \"abc\"def").unwrap(), "B"),
        "\"abc\"def"
    );
    let p = Template::parse_with("C = # x\nDé = 1\n", Duplicates::Keep).unwrap();
    assert_eq!(single(&p.template, "C"), "x");
    assert_eq!(single(&p.template, "D"), "1");
    let skipped: Vec<u8> = p.skipped.iter().map(|s| s.byte).collect();
    assert_eq!(skipped, [b'#', b' ', 0xC3, 0xA9]);
    assert_eq!(p.skipped[0].offset, 4);

    let t = Template::parse("xml_a = 1\nXMLb = 2\n1a = 3\n_x = \"  4\t\"\n").unwrap();
    let names: Vec<_> = t.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(names, ["XML_A", "ONE_XMLB", "ONE_1A", "_X"]);
    assert_eq!(single(&t, "_X"), "4");
    assert!(!t.round_trips());

    let p = Template::parse_with("A = 1\0B = [", Duplicates::Keep).unwrap();
    assert_eq!((p.template.len(), p.truncated_at), (1, Some(5)));
}

#[test]
fn template_parsing_is_linear_on_hostile_input() {
    let n = 1 << 16;
    let hostile = [
        format!("A = ,{}x", " ".repeat(n)),
        "A=b ".repeat(n / 4),
        "#".repeat(n),
        format!("A = \"{}", "\\\"".repeat(n / 2)),
        format!(
            "V = [ {} ]",
            (0..n / 16)
                .map(|i| format!("K{i} = {i}"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        format!("A = {}", "=#,]".repeat(n / 4)),
    ];
    let start = std::time::Instant::now();
    for text in &hostile {
        let _ = Template::parse(text);
    }
    assert!(
        start.elapsed() < std::time::Duration::from_secs(20),
        "{:?}",
        start.elapsed()
    );
}
