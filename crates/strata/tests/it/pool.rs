//! The OpenNebula-style pool: images made, cloned, changed and deleted with OpenNebula's rules,
//! as two users, and what an interrupted operation leaves.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::Path;

use strata::NoProgress;
use strata::pool::{CreateImage, ImageAction, Pool, PoolError, PoolFilter, PoolPolicy};
use strata_model::one::{
    Caller, DatastoreRecord, DatastoreState, DatastoreType, DiskType, Effect, ImageState,
    ImageType, Ownership, Permissions, Requester, Template,
};
use strata_store::{Job, JobOp};

fn policy() -> PoolPolicy {
    PoolPolicy {
        umask: 0o177,
        enable_other_permissions: false,
        default_image_type: ImageType::Os,
        default_device_prefix: "sd".into(),
        default_persistent: false,
        restricted_attributes: vec!["SOURCE".into()],
        supported_fs: vec!["ext2".into(), "ext3".into(), "ext4".into(), "xfs".into()],
    }
}

fn user(uid: u32, name: &str) -> Caller {
    let mut requester = Requester::new(uid, 100);
    requester.groups = BTreeSet::from([1, 100]);
    Caller {
        requester,
        ownership: Ownership {
            uid,
            gid: 100,
            uname: name.into(),
            gname: "users".into(),
        },
    }
}

fn admin() -> Caller {
    let mut caller = user(0, "oneadmin");
    caller.requester = Requester::new(0, 0);
    caller
}

fn bootstrap(store: &strata_store::PoolStore) -> Vec<DatastoreRecord> {
    let ds = |id: u32, name: &str, ds_type, ds_mad: &str| DatastoreRecord {
        id,
        owner: Ownership {
            uid: 0,
            gid: 0,
            uname: "oneadmin".into(),
            gname: "oneadmin".into(),
        },
        name: name.into(),
        perms: Permissions::parse_octet("644").unwrap(),
        ds_mad: ds_mad.into(),
        tm_mad: "local".into(),
        base_path: store.datastore_dir(id).to_string_lossy().into_owned(),
        ds_type,
        disk_type: DiskType::File,
        state: DatastoreState::Ready,
        clusters: vec![0],
        template: Template::new(),
    };
    vec![
        ds(0, "system", DatastoreType::System, "-"),
        ds(1, "default", DatastoreType::Image, "fs"),
        ds(2, "files", DatastoreType::File, "fs"),
    ]
}

fn template(text: &str) -> Template {
    Template::parse(text).unwrap()
}

fn raw_disk(dir: &Path, name: &str, mib: u64) -> std::path::PathBuf {
    let path = dir.join(name);
    let mut f = std::fs::File::create(&path).unwrap();
    f.write_all(b"boot sector").unwrap();
    f.set_len(mib << 20).unwrap();
    path
}

fn create(
    pool: &Pool,
    caller: &Caller,
    text: &str,
) -> Result<strata::pool::CreatedImage, PoolError> {
    pool.create_image(
        caller,
        CreateImage {
            template: template(text),
            datastore: 1,
            no_check_capacity: false,
            source_file: None,
        },
        &NoProgress,
    )
}

#[test]
fn images_are_made_from_files_compressed_files_and_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let pool = Pool::open_or_init(dir.path().join("pool"), policy(), bootstrap).unwrap();
    let ann = user(1000, "ann");
    let disk = raw_disk(dir.path(), "disk.raw", 3);

    let made = create(&pool, &ann, &format!("NAME=a\nPATH={}\n", disk.display())).unwrap();
    assert_eq!(
        (made.id, made.state, made.error),
        (0, ImageState::Ready, None)
    );
    let image = pool.image(&ann, 0).unwrap();
    assert_eq!((image.format.as_str(), image.size_mb), ("raw", 3));
    assert_eq!(image.perms.to_string(), "600");
    assert_eq!(image.template.get_single("DEV_PREFIX"), Some("sd"));
    assert_eq!(
        std::fs::read(&image.source).unwrap(),
        std::fs::read(&disk).unwrap()
    );

    // gzip is decompressed as it is read; the result is measured afterwards.
    let gz = dir.path().join("disk.raw.gz");
    let mut enc =
        flate2::write::GzEncoder::new(std::fs::File::create(&gz).unwrap(), Default::default());
    enc.write_all(&std::fs::read(&disk).unwrap()).unwrap();
    enc.finish().unwrap();
    let made = create(&pool, &ann, &format!("NAME=b\nPATH={}\n", gz.display())).unwrap();
    let image = pool.image(&ann, made.id).unwrap();
    assert_eq!((image.format.as_str(), image.size_mb), ("raw", 3));
    assert_eq!(
        std::fs::read(&image.source).unwrap(),
        std::fs::read(&disk).unwrap()
    );

    // An empty datablock in qcow2, checked by qemu-img.
    let made = create(
        &pool,
        &ann,
        "NAME=c\nTYPE=DATABLOCK\nSIZE=16\nFORMAT=qcow2\n",
    )
    .unwrap();
    let image = pool.image(&ann, made.id).unwrap();
    assert_eq!((image.format.as_str(), image.size_mb), ("qcow2", 16));
    if strata_testkit::peers::have("pool_qcow2", &["qemu-img"]) {
        let out = std::process::Command::new("qemu-img")
            .args(["check", &image.source])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stdout)
        );
    }

    // Names are unique per owner; ids are never reused.
    let e = create(&pool, &ann, "NAME=c\nTYPE=DATABLOCK\nSIZE=1\n").unwrap_err();
    assert_eq!(
        e.to_string(),
        "[one.image.allocate] Error allocating a new image. NAME is already taken by IMAGE 2."
    );
    pool.apply(&ann, 2, &ImageAction::Delete { force: false })
        .unwrap();
    let made = create(&pool, &ann, "NAME=c\nTYPE=DATABLOCK\nSIZE=1\n").unwrap();
    assert_eq!(made.id, 3);
    assert!(pool.verify().unwrap().problems.is_empty());
}

#[test]
fn a_failed_copy_leaves_the_image_in_error_with_the_reason_and_no_file() {
    let dir = tempfile::tempdir().unwrap();
    let pool = Pool::open_or_init(dir.path().join("pool"), policy(), bootstrap).unwrap();
    let ann = user(1000, "ann");
    let bad = dir.path().join("bad.gz");
    std::fs::write(&bad, b"\x1f\x8b\x08\x00 not really gzip").unwrap();
    let made = create(&pool, &ann, &format!("NAME=bad\nPATH={}\n", bad.display())).unwrap();
    assert_eq!(made.state, ImageState::Error);
    let message = made.error.unwrap();
    assert!(message.contains("bad.gz"), "{message}");
    let image = pool.image(&ann, made.id).unwrap();
    assert_eq!(image.state, ImageState::Error);
    assert_eq!(image.template.get_single("ERROR"), Some(message.as_str()));
    assert!(image.source.is_empty());
    assert!(pool.verify().unwrap().problems.is_empty());

    let e = create(&pool, &ann, "NAME=missing\nPATH=/nonexistent/disk\n").unwrap_err();
    assert!(
        e.to_string().starts_with(
            "[one.image.allocate] Cannot parse image SIZE: Cannot determine size for /nonexistent/disk"
        ),
        "{e}"
    );
    let e = create(&pool, &ann, "NAME=x\nTYPE=DATABLOCK\n").unwrap_err();
    assert_eq!(
        e.to_string(),
        "[one.image.allocate] Cannot parse image SIZE: Wrong number or missing SIZE attribute."
    );
    let e = create(&pool, &ann, "NAME=x\nSOURCE=/x\nFORMAT=raw\nSIZE=1\n").unwrap_err();
    assert_eq!(
        e.to_string(),
        "[one.image.allocate] User [1000] : Template includes a restricted attribute SOURCE."
    );
}

#[test]
fn an_interrupted_create_is_settled_as_an_error_and_its_partial_file_removed() {
    let dir = tempfile::tempdir().unwrap();
    let pool = Pool::open_or_init(dir.path().join("pool"), policy(), bootstrap).unwrap();
    let ann = user(1000, "ann");
    create(&pool, &ann, "NAME=a\nTYPE=DATABLOCK\nSIZE=1\n").unwrap();
    // What a process killed in the middle of a copy leaves: the image LOCKED with its job,
    // and a partial file.
    pool.store()
        .update(|db| {
            let image = db.image_mut(0).unwrap();
            image.state = ImageState::Locked;
            image.source.clear();
            let mut job = Job::here(JobOp::Create);
            job.start += 1;
            db.jobs.insert(0, job);
            Ok::<_, strata_store::StoreError>(())
        })
        .unwrap();
    let partial = pool.store().partial(1, 0).unwrap().keep().unwrap().1;
    let image = pool.image(&ann, 0).unwrap();
    assert_eq!(image.state, ImageState::Error);
    assert!(
        image
            .template
            .get_single("ERROR")
            .unwrap()
            .starts_with("Interrupted"),
        "{image:?}"
    );
    let checked = pool.verify().unwrap();
    assert!(!partial.exists());
    assert_eq!(
        checked.problems.len(),
        1,
        "the orphaned file of the old SOURCE: {checked:?}"
    );
    assert!(pool.store().read().unwrap().jobs.is_empty());
}

#[test]
fn two_users_see_and_change_only_what_the_rules_let_them() {
    let dir = tempfile::tempdir().unwrap();
    let pool = Pool::open_or_init(dir.path().join("pool"), policy(), bootstrap).unwrap();
    let ann = user(1000, "ann");
    let bob = user(1001, "bob");
    create(&pool, &ann, "NAME=disk\nTYPE=DATABLOCK\nSIZE=1\n").unwrap();
    // 600: bob can neither see nor change it.
    assert!(pool.images(&bob, PoolFilter::All).unwrap().is_empty());
    let e = pool.image(&bob, 0).unwrap_err();
    assert_eq!(
        e.to_string(),
        "[one.image.info] User [1001] : Not authorized to perform USE IMAGE [0]."
    );
    let e = pool.apply(&bob, 0, &ImageAction::Disable).unwrap_err();
    assert_eq!(
        e.to_string(),
        "[one.image.enable] User [1001] : Not authorized to perform MANAGE IMAGE [0]."
    );
    // chmod 640 lets the group use it, not manage it; OTHER bits are refused.
    pool.apply(
        &ann,
        0,
        &ImageAction::Chmod(Permissions::parse_octet("640").unwrap()),
    )
    .unwrap();
    assert_eq!(pool.images(&bob, PoolFilter::All).unwrap().len(), 1);
    assert_eq!(pool.images(&bob, PoolFilter::Mine).unwrap().len(), 0);
    let e = pool
        .apply(
            &ann,
            0,
            &ImageAction::Chmod(Permissions::parse_octet("644").unwrap()),
        )
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "[one.image.chmod] User [1000] : 'other' permissions is disabled in oned.conf."
    );
    // Bob's own image of the same name is fine; a rename onto a taken name is not.
    create(&pool, &bob, "NAME=disk\nTYPE=DATABLOCK\nSIZE=1\n").unwrap();
    create(&pool, &ann, "NAME=other\nTYPE=DATABLOCK\nSIZE=1\n").unwrap();
    let e = pool
        .apply(&ann, 2, &ImageAction::Rename("disk".into()))
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "[one.image.rename] image cannot be renamed to disk because it collides with image 0"
    );
    // State rules: a disabled image cannot be made persistent twice over, enable brings it back.
    pool.apply(&ann, 0, &ImageAction::Disable).unwrap();
    assert_eq!(pool.image(&ann, 0).unwrap().state, ImageState::Disabled);
    assert_eq!(
        pool.apply(&ann, 0, &ImageAction::Disable).unwrap(),
        Effect::NoOp
    );
    pool.apply(&ann, 0, &ImageAction::Enable).unwrap();
    // An admin sees everything and may chown; the name collision is checked.
    assert_eq!(pool.images(&admin(), PoolFilter::All).unwrap().len(), 3);
    let e = pool
        .apply(
            &admin(),
            0,
            &ImageAction::Chown(strata::pool::NewOwner {
                user: Some((1001, "bob".into())),
                group: None,
            }),
        )
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "[one.image.chown] user [1001] already owns image [1] with NAME disk"
    );
    // Locks: a MANAGE lock blocks a rename, even for the owner (who is told what a denial
    // says; OpenNebula names the lock to admins only).
    pool.apply(
        &ann,
        2,
        &ImageAction::Lock(strata_model::one::LockRequest::Manage),
    )
    .unwrap();
    let e = pool
        .apply(&ann, 2, &ImageAction::Rename("x".into()))
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "[one.image.rename] User [1000] : Not authorized to perform MANAGE IMAGE [2]."
    );
    pool.apply(&ann, 2, &ImageAction::Unlock).unwrap();
    pool.apply(&ann, 2, &ImageAction::Rename("x".into()))
        .unwrap();
}

#[test]
fn a_clone_copies_the_data_and_releases_its_source() {
    let dir = tempfile::tempdir().unwrap();
    let pool = Pool::open_or_init(dir.path().join("pool"), policy(), bootstrap).unwrap();
    let ann = user(1000, "ann");
    let disk = raw_disk(dir.path(), "disk.raw", 2);
    create(&pool, &ann, &format!("NAME=a\nPATH={}\n", disk.display())).unwrap();
    let made = pool.clone_image(&ann, 0, "b", None, &NoProgress).unwrap();
    assert_eq!((made.id, made.state), (1, ImageState::Ready));
    let (a, b) = (pool.image(&ann, 0).unwrap(), pool.image(&ann, 1).unwrap());
    assert_eq!(a.state, ImageState::Ready, "released after the copy");
    assert!(a.clones.is_empty());
    assert_eq!(b.path, a.source);
    assert_eq!(
        std::fs::read(&a.source).unwrap(),
        std::fs::read(&b.source).unwrap()
    );
    let e = pool
        .clone_image(&ann, 0, "b", None, &NoProgress)
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "[one.image.clone] Error allocating a new image. NAME is already taken by IMAGE 1."
    );
    pool.apply(&ann, 0, &ImageAction::Delete { force: false })
        .unwrap();
    assert!(!Path::new(&a.source).exists());
    assert!(pool.verify().unwrap().problems.is_empty());
}

/// One step of a random life cycle.
#[derive(Debug, Clone)]
enum Step {
    Create { persistent: bool },
    Delete(usize),
    Enable(usize),
    Disable(usize),
    Persistent(usize, bool),
    Clone(usize),
    Start(usize),
    Stop(usize, bool),
    Snapshot(usize),
}

fn step() -> impl proptest::strategy::Strategy<Value = Step> {
    use proptest::prelude::*;
    prop_oneof![
        3 => any::<bool>().prop_map(|persistent| Step::Create { persistent }),
        1 => (0usize..8).prop_map(Step::Delete),
        1 => (0usize..8).prop_map(Step::Enable),
        1 => (0usize..8).prop_map(Step::Disable),
        1 => ((0usize..8), any::<bool>()).prop_map(|(i, p)| Step::Persistent(i, p)),
        1 => (0usize..8).prop_map(Step::Clone),
        2 => (0usize..8).prop_map(Step::Start),
        2 => ((0usize..8), any::<bool>()).prop_map(|(i, f)| Step::Stop(i, f)),
        1 => (0usize..8).prop_map(Step::Snapshot),
    ]
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(24))]

    /// Whatever commands come, in whatever order (allowed or refused), the pool keeps its
    /// invariants: ids grow and are never reused, no image is left LOCKED, RUNNING_VMS and VMS
    /// match the instances, a refused command changes nothing, and verify finds no problem.
    #[test]
    fn random_life_cycles_keep_the_pool_consistent(steps in proptest::collection::vec(step(), 1..14)) {
        let dir = tempfile::tempdir().unwrap();
        let pool = Pool::open_or_init(dir.path().join("pool"), policy(), bootstrap).unwrap();
        let ann = user(1000, "ann");
        let mut made = 0u32;
        let mut highest: Option<u32> = None;
        for (n, step) in steps.iter().enumerate() {
            let ids: Vec<u32> = pool.images(&ann, PoolFilter::All).unwrap().iter().map(|i| i.id).collect();
            let pick = |i: &usize| ids.get(i % ids.len().max(1)).copied();
            let instances = pool.instances(&ann).unwrap();
            let before = std::fs::read(pool.store().db_path()).unwrap();
            let result: Result<(), PoolError> = match step {
                Step::Create { persistent } => {
                    made += 1;
                    let p = if *persistent { "PERSISTENT=YES\n" } else { "" };
                    create(&pool, &ann, &format!("NAME=i{n}\nTYPE=DATABLOCK\nSIZE=1\n{p}")).map(|c| {
                        assert!(highest.is_none_or(|h| c.id > h), "id {} after {highest:?}", c.id);
                        highest = Some(c.id);
                    })
                }
                Step::Delete(i) => match pick(i) { Some(id) => pool.apply(&ann, id, &ImageAction::Delete { force: false }).map(|_| ()), None => Ok(()) },
                Step::Enable(i) => match pick(i) { Some(id) => pool.apply(&ann, id, &ImageAction::Enable).map(|_| ()), None => Ok(()) },
                Step::Disable(i) => match pick(i) { Some(id) => pool.apply(&ann, id, &ImageAction::Disable).map(|_| ()), None => Ok(()) },
                Step::Persistent(i, p) => match pick(i) { Some(id) => pool.apply(&ann, id, &ImageAction::Persistent(*p)).map(|_| ()), None => Ok(()) },
                Step::Clone(i) => match pick(i) {
                    Some(id) => pool.clone_image(&ann, id, &format!("c{n}"), None, &NoProgress).map(|c| {
                        assert!(highest.is_none_or(|h| c.id > h));
                        highest = Some(c.id);
                    }),
                    None => Ok(()),
                },
                Step::Start(i) => match pick(i) { Some(id) => pool.start_instance(&ann, id).map(|_| ()), None => Ok(()) },
                Step::Stop(i, failed) => match instances.get(i % instances.len().max(1)) {
                    Some(instance) => pool.stop_instance(&ann, instance.id, *failed),
                    None => Ok(()),
                },
                Step::Snapshot(i) => match pick(i) { Some(id) => pool.snapshot_create(&ann, id, None).map(|_| ()), None => Ok(()) },
            };
            if result.is_err() {
                let after = std::fs::read(pool.store().db_path()).unwrap();
                proptest::prop_assert_eq!(&before, &after, "refused {:?} changed the pool: {:?}", step, result);
            }
            let images = pool.images(&ann, PoolFilter::All).unwrap();
            let instances = pool.instances(&ann).unwrap();
            for image in &images {
                proptest::prop_assert!(image.state != ImageState::Locked, "{image:?}");
                let using: Vec<u32> = instances.iter().filter(|i| i.image == image.id).map(|i| i.id).collect();
                proptest::prop_assert_eq!(image.running_vms as usize, using.len(), "{:?}", image);
                proptest::prop_assert_eq!(&image.vms, &using);
            }
            let checked = pool.verify().unwrap();
            proptest::prop_assert!(checked.problems.is_empty() && checked.removed.is_empty(), "{checked:?}");
        }
        let _ = made;
    }
}
