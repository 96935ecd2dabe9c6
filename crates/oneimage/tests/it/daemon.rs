//! A shared pool served by `strata-oned`, used through `oneimage` and `onedatastore` by
//! different OS users (made with useradd): every permission rule holds, a user who is not
//! allowed gets OpenNebula's message and the pool is unchanged, and no user can read another's
//! files through the daemon.

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

/// A test user: made once per machine, kept (useradd is slow and users are harmless).
#[derive(Clone, Copy)]
struct User {
    uid: u32,
    gid: u32,
}

fn run(program: &str, args: &[&str]) -> bool {
    Command::new(program)
        .args(args)
        .status()
        .is_ok_and(|s| s.success())
}

/// The user `name` (and the group `strata-team`, which `team` users belong to).
fn user(name: &str, team: bool) -> User {
    // The tests of this file run at once: one of them adds a user, the others wait and find it.
    static ACCOUNTS: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _held = ACCOUNTS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if !run("getent", &["group", "strata-team"]) {
        run("groupadd", &["strata-team"]);
    }
    if !run("id", &[name]) {
        assert!(
            run("useradd", &["--no-create-home", "--user-group", name]),
            "useradd {name}"
        );
    }
    if team {
        run("usermod", &["-a", "-G", "strata-team", name]);
    }
    let id = |flag: &str| -> u32 {
        let out = Command::new("id").args([flag, name]).output().unwrap();
        String::from_utf8(out.stdout)
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    };
    User {
        uid: id("-u"),
        gid: id("-g"),
    }
}

fn bin(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_oneimage")).with_file_name(name)
}

/// A daemon on a pool and socket in a temporary directory others can reach, with its XML-RPC
/// endpoint on a free loopback port and `strata-ann`'s password `ann-secret`.
struct Served {
    dir: tempfile::TempDir,
    daemon: Child,
    port: u16,
}

impl Served {
    fn start() -> Served {
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let users = dir.path().join("one_auth");
        let mut passwd = Command::new(bin("strata-oned"))
            .args(["--users", users.to_str().unwrap(), "passwd", "strata-ann"])
            .stdin(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        passwd
            .stdin
            .take()
            .unwrap()
            .write_all(b"ann-secret\n")
            .unwrap();
        assert!(passwd.wait().unwrap().success());
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        // The clients run as other users: they get copies of the binaries where those users
        // can run them (the build's own directory may be private to whoever built it).
        let bins = dir.path().join("bin");
        std::fs::create_dir(&bins).unwrap();
        for program in ["oneimage", "onedatastore"] {
            std::fs::copy(bin(program), bins.join(program)).unwrap();
            std::fs::set_permissions(bins.join(program), std::fs::Permissions::from_mode(0o755))
                .unwrap();
        }
        std::fs::set_permissions(&bins, std::fs::Permissions::from_mode(0o755)).unwrap();
        let daemon = spawn_daemon(dir.path(), port);
        Served { dir, daemon, port }
    }

    /// The copy of `program` every user can run.
    fn client(&self, program: &str) -> PathBuf {
        self.dir.path().join("bin").join(program)
    }

    /// Kills the daemon with SIGKILL (nothing of it runs on) and starts another on the same
    /// pool, socket and port.
    fn crash_and_restart(&mut self) {
        let _ = self.daemon.kill();
        let _ = self.daemon.wait();
        let _ = std::fs::remove_file(self.socket());
        self.daemon = spawn_daemon(self.dir.path(), self.port);
    }

    fn socket(&self) -> PathBuf {
        self.dir.path().join("one.sock")
    }

    fn db(&self) -> Vec<u8> {
        std::fs::read(self.dir.path().join("pool/pool.json")).unwrap()
    }

    /// `program args` as `user` (root when `None`), in `cwd`.
    fn as_user(
        &self,
        user: Option<User>,
        program: &str,
        args: &[&str],
        cwd: &Path,
    ) -> (String, String, i32) {
        let mut cmd = Command::new(self.client(program));
        cmd.args(args)
            .env_clear()
            .env("STRATA_ONE_SOCKET", self.socket())
            .env("TZ", "UTC")
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
            .current_dir(cwd)
            .stdin(std::process::Stdio::null());
        if let Some(u) = user {
            cmd.uid(u.uid).gid(u.gid);
        }
        let out = cmd.output().unwrap();
        (
            String::from_utf8(out.stdout).unwrap(),
            String::from_utf8(out.stderr).unwrap(),
            out.status.code().unwrap_or(-1),
        )
    }
}

/// `strata-oned` on `dir`'s pool and socket, its XML-RPC on `port`, once its socket exists.
fn spawn_daemon(dir: &Path, port: u16) -> Child {
    let socket = dir.join("one.sock");
    let daemon = Command::new(bin("strata-oned"))
        .args(["--pool", dir.join("pool").to_str().unwrap()])
        .args(["--socket", socket.to_str().unwrap()])
        .args(["--admin-group", "strata-admins"])
        .args(["--users", dir.join("one_auth").to_str().unwrap()])
        .args(["--xmlrpc", &format!("127.0.0.1:{port}")])
        .spawn()
        .unwrap();
    let started = Instant::now();
    while !socket.exists() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the daemon did not start"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    daemon
}

impl Drop for Served {
    fn drop(&mut self) {
        // The pool and its socket go with the temporary directory.
        let _ = self.daemon.kill();
        let _ = self.daemon.wait();
    }
}

#[test]
fn a_shared_pool_holds_every_permission_rule_between_users() {
    let root = strata_store::fsutil::is_root();
    if !strata_testkit::peers::peer("shared pool", "root (to add test users)", root) {
        return;
    }
    let ann = user("strata-ann", true);
    let bob = user("strata-bob", true);
    let eve = user("strata-eve", false);
    let served = Served::start();
    let tmp = served.dir.path().to_owned();
    let ok = |u: Option<User>, program: &str, args: &[&str]| -> String {
        let (out, err, code) = served.as_user(u, program, args, &tmp);
        assert_eq!(code, 0, "{program} {args:?}: {out}{err}");
        out
    };
    let refused = |u: Option<User>, program: &str, args: &[&str], message: &str| {
        let before = served.db();
        let (out, err, code) = served.as_user(u, program, args, &tmp);
        // A permission refusal is 77; 'other' permissions and the like are 64.
        assert!(
            matches!(code, 64 | 77),
            "{program} {args:?}: {code} {out}{err}"
        );
        assert_eq!(err, message, "{program} {args:?}: {out}");
        assert_eq!(served.db(), before, "{program} {args:?} changed the pool");
    };

    // The pool's files are the daemon's alone.
    let mode = std::fs::metadata(tmp.join("pool"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o700);

    assert_eq!(
        ok(
            Some(ann),
            "oneimage",
            &["create", "-d", "default", "--name", "disk", "--size", "4"]
        ),
        "ID: 0\n"
    );
    let listed = ok(Some(ann), "oneimage", &["list", "-l", "ID,USER,GROUP,NAME"]);
    assert_eq!(
        listed.lines().nth(1),
        Some("   0 strata-a strata-a disk"),
        "{listed}"
    );
    // 600: nobody else sees or touches it.
    assert_eq!(ok(Some(bob), "oneimage", &["list"]).lines().count(), 1);
    refused(
        Some(bob),
        "oneimage",
        &["show", "0"],
        &format!(
            "[one.image.info] User [{}] : Not authorized to perform USE IMAGE [0].\n",
            bob.uid
        ),
    );
    refused(
        Some(bob),
        "oneimage",
        &["delete", "0"],
        &format!(
            "[one.image.delete] User [{}] : Not authorized to perform MANAGE IMAGE [0].\n",
            bob.uid
        ),
    );
    refused(
        Some(bob),
        "oneimage",
        &["chmod", "0", "666"],
        &format!(
            "[one.image.chmod] User [{}] : 'other' permissions is disabled in oned.conf.\n",
            bob.uid
        ),
    );
    // The owner shares it with the team: USE, not MANAGE.
    ok(Some(ann), "oneimage", &["chgrp", "0", "strata-team"]);
    ok(Some(ann), "oneimage", &["chmod", "0", "640"]);
    assert!(ok(Some(bob), "oneimage", &["show", "0"]).contains("NAME           : disk"));
    refused(
        Some(bob),
        "oneimage",
        &["disable", "0"],
        &format!(
            "[one.image.enable] User [{}] : Not authorized to perform MANAGE IMAGE [0].\n",
            bob.uid
        ),
    );
    refused(
        Some(eve),
        "oneimage",
        &["show", "0"],
        &format!(
            "[one.image.info] User [{}] : Not authorized to perform USE IMAGE [0].\n",
            eve.uid
        ),
    );
    // A user may not give a group they are not in, or an image to someone else.
    refused(
        Some(ann),
        "oneimage",
        &["chown", "0", "strata-bob"],
        &format!(
            "[one.image.chown] User [{}] : Not authorized to perform MANAGE USER [{}].\n",
            ann.uid, bob.uid
        ),
    );
    // OTHER bits are for admins: root may.
    refused(
        Some(ann),
        "oneimage",
        &["chmod", "0", "644"],
        &format!(
            "[one.image.chmod] User [{}] : 'other' permissions is disabled in oned.conf.\n",
            ann.uid
        ),
    );
    ok(None, "oneimage", &["chmod", "0", "644"]);
    assert!(ok(Some(eve), "oneimage", &["show", "0"]).contains("OTHER          : u--"));
    // Names are unique per owner: bob may have his own "disk".
    assert_eq!(
        ok(
            Some(bob),
            "oneimage",
            &["create", "-d", "1", "--name", "disk", "--size", "1"]
        ),
        "ID: 1\n"
    );
    // Locks: a USE lock blocks the owner's MANAGE; only the lock's owner or an admin unlocks.
    ok(Some(ann), "oneimage", &["lock", "0"]);
    refused(
        Some(ann),
        "oneimage",
        &["rename", "0", "other"],
        &format!(
            "[one.image.rename] User [{}] : Not authorized to perform MANAGE IMAGE [0].\n",
            ann.uid
        ),
    );
    ok(Some(ann), "oneimage", &["unlock", "0"]);
    // Datastores are the admin's: users use them, cannot create or delete them.
    let tmpl = tmp.join("ds.tmpl");
    std::fs::write(&tmpl, "NAME = mine\nDS_MAD = fs\nTM_MAD = local\n").unwrap();
    std::fs::set_permissions(&tmpl, std::fs::Permissions::from_mode(0o644)).unwrap();
    refused(
        Some(ann),
        "onedatastore",
        &["create", tmpl.to_str().unwrap()],
        &format!(
            "[one.datastore.allocate] User [{}] : Not authorized to perform CREATE DATASTORE.\n",
            ann.uid
        ),
    );
    refused(
        Some(ann),
        "onedatastore",
        &["delete", "1"],
        &format!(
            "[one.datastore.delete] User [{}] : Not authorized to perform ADMIN DATASTORE [1].\n",
            ann.uid
        ),
    );
    assert_eq!(
        ok(None, "onedatastore", &["create", tmpl.to_str().unwrap()]),
        "ID: 100\n"
    );

    // Files: the client opens --path with its own rights, so bob cannot copy ann's.
    let private = tmp.join("ann.raw");
    std::fs::write(&private, vec![7u8; 1 << 20]).unwrap();
    std::os::unix::fs::chown(&private, Some(ann.uid), Some(ann.gid)).unwrap();
    std::fs::set_permissions(&private, std::fs::Permissions::from_mode(0o600)).unwrap();
    let path = private.to_str().unwrap();
    let (_, err, code) = served.as_user(
        Some(bob),
        "oneimage",
        &["create", "-d", "1", "--name", "stolen", "--path", path],
        &tmp,
    );
    assert_eq!(code, 66, "{err}");
    assert!(err.contains("Permission denied"), "{err}");
    assert_eq!(
        ok(
            Some(ann),
            "oneimage",
            &["create", "-d", "1", "--name", "mine", "--path", path]
        ),
        "ID: 2\n"
    );
    let shown = ok(Some(ann), "oneimage", &["show", "mine", "-x"]);
    assert!(
        shown.contains("<SIZE>1</SIZE>") && shown.contains("<STATE>1</STATE>"),
        "{shown}"
    );
    // A relative path is the client's, from the client's working directory.
    assert!(
        shown.contains(&format!("<PATH><![CDATA[{path}]]></PATH>")),
        "{shown}"
    );
    ok(Some(ann), "oneimage", &["delete", "mine"]);

    // A pyone program speaks to the same pool as ann, through the daemon's XML-RPC endpoint;
    // a wrong password is refused.
    if strata_testkit::peers::peer(
        "shared pool, pyone",
        "pyone",
        strata_testkit::venv::imports("pyone"),
    ) {
        let program = format!(
            r#"
import pyone
one = pyone.OneServer("http://127.0.0.1:{port}/RPC2", session="strata-ann:ann-secret")
i = one.image.allocate({{"NAME": "from-pyone", "TYPE": "DATABLOCK", "SIZE": "2"}}, 1)
one.image.chmod(i, 1, 1, 0, 1, 0, 0, 0, 0, 0)
assert one.image.info(i).PERMISSIONS.GROUP_U == 1
assert i in [x.ID for x in one.imagepool.info(-3, -1, -1).IMAGE]
gone = one.image.allocate({{"NAME": "to-delete", "TYPE": "DATABLOCK", "SIZE": "1"}}, 1)
one.image.delete(gone)
assert gone not in [x.ID for x in one.imagepool.info(-3, -1, -1).IMAGE]
bad = pyone.OneServer("http://127.0.0.1:{port}/RPC2", session="strata-ann:wrong")
try:
    bad.imagepool.info(-2, -1, -1)
    raise SystemExit("a wrong password was accepted")
except pyone.OneAuthenticationException:
    pass
print(i)
"#,
            port = served.port
        );
        let out = Command::new(strata_testkit::venv::python())
            .args(["-c", &program])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let id = String::from_utf8(out.stdout).unwrap().trim().to_owned();
        let shown = ok(Some(ann), "oneimage", &["show", &id, "-x"]);
        assert!(
            shown.contains("<NAME><![CDATA[from-pyone]]></NAME>")
                || shown.contains("<NAME>from-pyone</NAME>"),
            "{shown}"
        );
        assert!(
            shown.contains(&format!("<UID>{}</UID>", ann.uid)),
            "{shown}"
        );
        // A password set while the daemon runs counts at once: bob logs in.
        let mut passwd = Command::new(bin("strata-oned"))
            .args(["--users", tmp.join("one_auth").to_str().unwrap()])
            .args(["passwd", "strata-bob"])
            .stdin(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        std::io::Write::write_all(&mut passwd.stdin.take().unwrap(), b"bob-secret\n").unwrap();
        assert!(passwd.wait().unwrap().success());
        let program = format!(
            r#"
import pyone
one = pyone.OneServer("http://127.0.0.1:{port}/RPC2", session="strata-bob:bob-secret")
print(len(one.imagepool.info(-3, -1, -1).IMAGE))
"#,
            port = served.port
        );
        let out = Command::new(strata_testkit::venv::python())
            .args(["-c", &program])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            "1",
            "bob's own image"
        );
    }
    assert!(ok(None, "oneimage", &["verify"]).contains("is consistent"));
}

/// The state an image is put in before a row of the state table runs.
#[derive(Clone, Copy, Debug)]
enum Start {
    Ready,
    Disabled,
    Error,
    Used,
    UsedPers,
}

#[test]
fn every_reachable_row_of_the_state_table_through_the_daemon() {
    let root = strata_store::fsutil::is_root();
    if !strata_testkit::peers::peer("state table", "root (to add test users)", root) {
        return;
    }
    let ann = user("strata-ann", true);
    let served = Served::start();
    let tmp = served.dir.path().to_owned();
    // A gzip file that is not one: a create from it ends in ERROR.
    let bad = tmp.join("bad.gz");
    std::fs::write(&bad, b"\x1f\x8b\x08\x00 not gzip").unwrap();
    std::fs::set_permissions(&bad, std::fs::Permissions::from_mode(0o644)).unwrap();
    let run = |args: &[&str]| served.as_user(Some(ann), "oneimage", args, &tmp);
    let mut n = 0;
    let mut image = |start: Start| -> String {
        n += 1;
        let name = format!("i{n}");
        let mut create = vec!["create", "-d", "1", "--name", &name];
        let path = bad.to_str().unwrap().to_owned();
        match start {
            Start::Error => create.extend(["--path", &path]),
            Start::UsedPers => create.extend(["--size", "1", "--persistent"]),
            _ => create.extend(["--size", "1"]),
        }
        let (out, _, _) = run(&create);
        let id = out.trim().strip_prefix("ID: ").unwrap().to_owned();
        match start {
            Start::Disabled => assert_eq!(run(&["disable", &id]).2, 0),
            Start::Used | Start::UsedPers => assert_eq!(run(&["instance-start", &id]).2, 0),
            Start::Ready | Start::Error => {}
        }
        id
    };
    let state = |id: &str| -> String {
        let (out, _, _) = run(&["list", "--csv", "--no-header", "-l", "ID,STAT,RVMS"]);
        out.lines()
            .find(|l| l.starts_with(&format!("{id},")))
            .unwrap_or_else(|| panic!("image {id} is gone: {out}"))
            .to_owned()
    };
    // (start, command, its refusal or "" when allowed, the ID,STAT,RVMS line after).
    let rows: &[(Start, &[&str], &str, &str)] = &[
        (Start::Disabled, &["enable"], "", "rdy,0"),
        (Start::Error, &["enable"], "", "rdy,0"),
        (Start::Ready, &["enable"], "", "rdy,0"),
        (
            Start::Used,
            &["enable"],
            "[one.image.enable] Could not enable image: Image cannot be in state USED.",
            "used,1",
        ),
        (Start::Ready, &["disable"], "", "disa,0"),
        (Start::Error, &["disable"], "", "disa,0"),
        (Start::Disabled, &["disable"], "", "disa,0"),
        (
            Start::UsedPers,
            &["disable"],
            "[one.image.enable] Could not disable image: Image cannot be in state USED.",
            "used,1",
        ),
        (Start::Ready, &["persistent"], "", "rdy,0"),
        (Start::Disabled, &["persistent"], "", "disa,0"),
        (Start::Error, &["persistent"], "", "err,0"),
        (
            Start::Used,
            &["persistent"],
            "[one.image.persistent] Could not make image persistent: Image cannot be in state USED.",
            "used,1",
        ),
        (
            Start::UsedPers,
            &["nonpersistent"],
            "[one.image.persistent] Could not make image non-persistent: Image cannot be in state USED.",
            "used,1",
        ),
        (
            Start::Used,
            &["delete"],
            "[one.image.delete] Cannot delete IMAGE. There are 1 VMs using it.",
            "used,1",
        ),
        (
            Start::UsedPers,
            &["delete"],
            "[one.image.delete] Cannot delete IMAGE. There are 1 VMs using it.",
            "used,1",
        ),
        (Start::Ready, &["chtype", "DATABLOCK"], "", "rdy,0"),
        (Start::UsedPers, &["chtype", "DATABLOCK"], "", "used,1"),
        (Start::Ready, &["instance-start"], "", "used,1"),
        (Start::Used, &["instance-start"], "", "used,2"),
        (
            Start::Disabled,
            &["instance-start"],
            "Cannot acquire image {id}, it is in state: DISABLED",
            "disa,0",
        ),
        (
            Start::Error,
            &["instance-start"],
            "Cannot acquire image {id}, it is in state: ERROR",
            "err,0",
        ),
        (
            Start::UsedPers,
            &["instance-start"],
            "Cannot acquire image {id}, it is persistent and already in use",
            "used,1",
        ),
        (
            Start::Disabled,
            &["clone"],
            "[one.image.clone] Error allocating a new image. Cannot clone image in state: DISABLED",
            "disa,0",
        ),
        (
            Start::Error,
            &["clone"],
            "[one.image.clone] Error allocating a new image. Cannot clone image in state: ERROR",
            "err,0",
        ),
        (
            Start::UsedPers,
            &["clone"],
            "[one.image.clone] Error allocating a new image. Cannot clone image in state: USED",
            "used,1",
        ),
        (Start::Ready, &["clone"], "", "rdy,0"),
        (Start::Used, &["clone"], "", "used,1"),
        (
            Start::Disabled,
            &["snapshot-revert", "0"],
            "[one.image.snapshotrevert] Cannot revert to snapshot in state DISABLED",
            "disa,0",
        ),
        (Start::Ready, &["delete"], "", ""),
        (Start::Disabled, &["delete"], "", ""),
        (Start::Error, &["delete"], "", ""),
    ];
    for (start, command, refusal, after) in rows {
        let id = image(*start);
        // The image's id goes after the command's name, then its other arguments.
        let mut args: Vec<String> = vec![command[0].to_owned(), id.clone()];
        args.extend(command[1..].iter().map(|a| (*a).to_owned()));
        if command[0] == "clone" {
            args.push(format!("copy-of-{id}"));
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (out, err, code) = run(&args);
        let refusal = refusal.replace("{id}", &id);
        if refusal.is_empty() {
            assert_eq!(code, 0, "{start:?} {command:?}: {out}{err}");
        } else {
            assert_ne!(code, 0, "{start:?} {command:?}: {out}");
            assert_eq!(err.trim_end(), refusal, "{start:?} {command:?}");
        }
        if after.is_empty() {
            let (listed, _, _) = run(&["list", "--csv", "--no-header", "-l", "ID"]);
            assert!(
                !listed.lines().any(|l| l == id),
                "{start:?} {command:?}: still listed"
            );
        } else {
            assert_eq!(state(&id), format!("{id},{after}"), "{start:?} {command:?}");
        }
    }
    // Releases: the last instance of an image returns it to READY; a failed VM puts a
    // persistent image in ERROR.
    let (listed, _, _) = run(&["instance-list"]);
    for line in listed.lines().skip(1) {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let pers = state(fields[1]);
        let failed = pers.ends_with("used,1") && fields[1].parse::<u32>().unwrap() % 2 == 0;
        let mut stop = vec!["instance-stop", fields[0]];
        if failed {
            stop.push("--failed");
        }
        assert_eq!(run(&stop).2, 0, "{line}");
    }
    let (listed, _, _) = run(&["list", "--csv", "--no-header", "-l", "ID,STAT,RVMS"]);
    for line in listed.lines() {
        assert!(line.ends_with(",0"), "every instance released: {listed}");
        assert!(!line.contains(",used,"), "{listed}");
    }
    assert!(
        served
            .as_user(None, "oneimage", &["verify"], &tmp)
            .0
            .contains("is consistent")
    );
}

#[test]
fn a_daemon_killed_in_the_middle_of_a_create_leaves_the_image_in_error_after_its_restart() {
    let root = strata_store::fsutil::is_root();
    if !strata_testkit::peers::peer("daemon crash", "root (to add test users)", root) {
        return;
    }
    let ann = user("strata-ann", true);
    let mut served = Served::start();
    let tmp = served.dir.path().to_owned();
    // 96 MiB that does not compress, gzipped: decompressing it takes the daemon a while.
    let mut data = vec![0u8; 96 << 20];
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for chunk in data.chunks_mut(8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        chunk.copy_from_slice(&x.to_le_bytes()[..chunk.len()]);
    }
    let gz = tmp.join("big.gz");
    let mut enc = flate2::write::GzEncoder::new(
        std::fs::File::create(&gz).unwrap(),
        flate2::Compression::fast(),
    );
    std::io::Write::write_all(&mut enc, &data).unwrap();
    enc.finish().unwrap();
    std::fs::set_permissions(&gz, std::fs::Permissions::from_mode(0o644)).unwrap();
    let mut create = Command::new(served.client("oneimage"));
    create
        .args([
            "create",
            "-d",
            "1",
            "--name",
            "big",
            "--path",
            gz.to_str().unwrap(),
        ])
        .env_clear()
        .env("STRATA_ONE_SOCKET", served.socket())
        .current_dir(&tmp)
        .uid(ann.uid)
        .gid(ann.gid)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let mut client = create.spawn().unwrap();
    // The image is recorded LOCKED as soon as the copy starts; the daemon dies then.
    let started = Instant::now();
    loop {
        let (out, _, _) = served.as_user(
            Some(ann),
            "oneimage",
            &["list", "--csv", "--no-header", "-l", "NAME,STAT"],
            &tmp,
        );
        if out.contains("big,lock") {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no LOCKED image: {out}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    served.crash_and_restart();
    let _ = client.wait();
    let (out, _, code) = served.as_user(Some(ann), "oneimage", &["show", "big"], &tmp);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("STATE          : err"), "{out}");
    assert!(
        out.contains("ERROR=\"Interrupted: the process that ran this image's create"),
        "{out}"
    );
    let (out, err, code) = served.as_user(None, "oneimage", &["verify"], &tmp);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.ends_with("is consistent\n"), "{out}");
    // Nothing of the copy is left, and the pool goes on: the image can go.
    let partial = tmp.join("pool/datastores/1/.partial");
    assert_eq!(std::fs::read_dir(&partial).unwrap().count(), 0);
    let (_, err, code) = served.as_user(Some(ann), "oneimage", &["delete", "big"], &tmp);
    assert_eq!(code, 0, "{err}");
}
