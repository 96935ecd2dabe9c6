//! The XML-RPC endpoint (`oneimage::xmlrpc`): served in-process on `127.0.0.1:0` over a pool in
//! a temporary directory, and driven by OpenNebula's own Python bindings (pyone 7.3), by raw
//! HTTP, and by `call`.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

use oneimage::settings::{bootstrap_datastores, opennebula_policy};
use oneimage::xmlrpc::{self, Endpoint, Response, Users, Value, codec};
use strata::pool::Pool;
use strata_model::one::Ownership;
use strata_store::Accounts;

const PASSWORD: &str = "pa:ss word";

/// A pool in a temporary directory, its users file, and the accounts the endpoint knows: the
/// current OS user (named as `/etc/passwd` names it, or `strata-test` where it has no entry),
/// and `alice` (uid 4242), who is not an administrator.
struct Fixture {
    dir: tempfile::TempDir,
    user: String,
    endpoint: Arc<Endpoint>,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let uid = rustix::process::getuid().as_raw();
        let gid = rustix::process::getgid().as_raw();
        let system = Accounts::read();
        let user = system
            .user(uid)
            .map_or_else(|| "strata-test".to_owned(), |u| u.name.clone());
        let passwd = dir.path().join("passwd");
        let group = dir.path().join("group");
        std::fs::write(
            &passwd,
            format!(
                "{user}:x:{uid}:{gid}::/nonexistent:/bin/sh\n\
                 alice:x:4242:4242::/nonexistent:/bin/sh\n"
            ),
        )
        .unwrap();
        let group_name = system.group_name(gid);
        std::fs::write(
            &group,
            format!("{group_name}:x:{gid}:\nalice:x:4242:\nstaff:x:4343:alice\n"),
        )
        .unwrap();
        let accounts = Accounts::read_from(&passwd, &group);
        let users_file = dir.path().join("users");
        Users::set_password_with_cost(&users_file, &user, PASSWORD, 4).unwrap();
        Users::set_password_with_cost(&users_file, "alice", "alice", 4).unwrap();
        let users = Users::load(&users_file).unwrap();
        let owner = Ownership {
            uid,
            gid,
            uname: user.clone(),
            gname: group_name,
        };
        let pool = Pool::open_or_init(dir.path().join("pool"), opennebula_policy(), |store| {
            bootstrap_datastores(store, &owner)
        })
        .unwrap();
        // The current user administers the pool whatever its uid (the admin group is its own).
        let endpoint = Endpoint::new(pool, users, accounts, Some(gid));
        Fixture {
            dir,
            user,
            endpoint: Arc::new(endpoint),
        }
    }

    fn session(&self) -> String {
        format!("{}:{PASSWORD}", self.user)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `method(session, params...)` through `call`.
    fn call(&self, session: &str, method: &str, params: Vec<Value>) -> Value {
        let mut all = vec![Value::string(session)];
        all.extend(params);
        xmlrpc::call(&self.endpoint, method, all)
    }

    fn admin(&self, method: &str, params: Vec<Value>) -> Value {
        self.call(&self.session(), method, params)
    }

    /// The payload of a successful answer.
    fn ok(&self, method: &str, params: Vec<Value>) -> Value {
        let answer = self.admin(method, params);
        success(&answer).unwrap_or_else(|| panic!("{method}: {answer:?}"))
    }
}

fn success(answer: &Value) -> Option<Value> {
    match answer {
        Value::Array(items) if items.first() == Some(&Value::Bool(true)) => {
            assert_eq!(items.get(2), Some(&Value::Int(0)), "{answer:?}");
            items.get(1).cloned()
        }
        _ => None,
    }
}

/// The message and code of a failure.
fn failure(answer: &Value) -> (String, i32) {
    match answer {
        Value::Array(items) if items.first() == Some(&Value::Bool(false)) => {
            assert_eq!(items.len(), 5, "{answer:?}");
            assert_eq!(items[4], Value::I8(-1));
            (
                items[1].as_str().unwrap().to_owned(),
                items[2].as_i32().unwrap(),
            )
        }
        _ => panic!("not a failure: {answer:?}"),
    }
}

fn int(v: i32) -> Value {
    Value::Int(v)
}

fn s(v: &str) -> Value {
    Value::string(v)
}

/// `serve` on `127.0.0.1:0`, stopped when dropped.
struct Server {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<std::io::Result<()>>>,
}

impl Server {
    fn start(endpoint: Arc<Endpoint>) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::spawn(move || xmlrpc::serve(listener, endpoint, flag));
        Server {
            addr,
            stop,
            thread: Some(thread),
        }
    }

    fn url(&self) -> String {
        format!("http://{}/RPC2", self.addr)
    }

    /// One raw HTTP/1.0 request: the status code and the body.
    fn http(&self, head: &str, body: &[u8]) -> (u16, String) {
        let mut stream = TcpStream::connect(self.addr).unwrap();
        stream
            .set_read_timeout(Some(std::time::Duration::from_secs(30)))
            .unwrap();
        stream.write_all(head.as_bytes()).unwrap();
        let _ = stream.write_all(body);
        let mut out = Vec::new();
        let _ = stream.read_to_end(&mut out);
        let text = String::from_utf8_lossy(&out).into_owned();
        let status = text
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        let body = text
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_owned())
            .unwrap_or_default();
        (status, body)
    }

    fn post(&self, body: &[u8]) -> (u16, String) {
        let head = format!(
            "POST /RPC2 HTTP/1.0\r\nHost: localhost\r\nContent-Type: text/xml\r\n\
             Content-Length: {}\r\n\r\n",
            body.len()
        );
        self.http(&head, body)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            thread.join().unwrap().unwrap();
        }
    }
}

const PYONE_PROGRAM: &str = r#"
import sys
import pyone

url, session, wrong = sys.argv[1], sys.argv[2], sys.argv[3]
one = pyone.OneServer(url, session=session)

version = one.system.version()
assert isinstance(version, str) and version, repr(version)

image_id = one.image.allocate({"NAME": "pyone-data", "TYPE": "DATABLOCK", "SIZE": "2"}, 1)
assert isinstance(image_id, int), repr(image_id)

pool = one.imagepool.info(-2, -1, -1)
found = [i for i in pool.IMAGE if i.ID == image_id]
assert len(found) == 1, [i.ID for i in pool.IMAGE]
assert found[0].NAME == "pyone-data", found[0].NAME
assert found[0].TYPE == 2, found[0].TYPE

one.image.chmod(image_id, 1, 1, 0, 1, 0, 0, 0, 0, 0)
image = one.image.info(image_id)
p = image.PERMISSIONS
got = (p.OWNER_U, p.OWNER_M, p.OWNER_A, p.GROUP_U, p.GROUP_M, p.GROUP_A,
       p.OTHER_U, p.OTHER_M, p.OTHER_A)
assert got == (1, 1, 0, 1, 0, 0, 0, 0, 0), got
assert image.NAME == "pyone-data", image.NAME

# A nested dict goes as an XML template (<TEMPLATE><LABEL><![CDATA[x & y]]></LABEL></TEMPLATE>).
one.image.update(image_id, {"TEMPLATE": {"LABEL": "x & y"}}, 1)
label = one.image.info(image_id).TEMPLATE.get("LABEL")
assert label == "x & y", repr(label)

assert one.image.delete(image_id) == image_id
try:
    one.image.info(image_id)
    raise AssertionError("the deleted image is still there")
except pyone.OneNoExistsException:
    pass

try:
    one.image.info(99)
    raise AssertionError("image 99 exists")
except pyone.OneNoExistsException as e:
    assert str(e) == "[one.image.info] Error getting image [99].", str(e)

datastores = one.datastorepool.info()
assert [d.NAME for d in datastores.DATASTORE] == ["system", "default", "files"], \
    [d.NAME for d in datastores.DATASTORE]

try:
    pyone.OneServer(url, session=wrong).system.version()
    raise AssertionError("a wrong password was accepted")
except pyone.OneAuthenticationException as e:
    assert str(e) == "[one.system.version] User couldn't be authenticated, aborting call.", str(e)

print("pyone: version %s, image %d allocated, listed, chmod'ed, shown, deleted" % (version, image_id))
print("OK")
"#;

#[test]
fn pyone_drives_the_endpoint_over_http() {
    let present = strata_testkit::venv::imports("pyone");
    if !strata_testkit::peers::peer("pyone_drives_the_endpoint_over_http", "pyone", present) {
        return;
    }
    let fx = Fixture::new();
    let server = Server::start(Arc::clone(&fx.endpoint));
    let script = fx.path("program.py");
    std::fs::write(&script, PYONE_PROGRAM).unwrap();
    let out = std::process::Command::new(strata_testkit::venv::python())
        .arg(&script)
        .arg(server.url())
        .arg(fx.session())
        .arg(format!("{}:wrong", fx.user))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.lines().any(|l| l == "OK"), "{stdout}\n{stderr}");
    assert!(
        stdout.contains(&format!("version {}", xmlrpc::ONE_VERSION)),
        "{stdout}"
    );
    drop(server);
}

#[test]
fn http_answers_faults_as_xmlrpc_c_does() {
    let fx = Fixture::new();
    let server = Server::start(Arc::clone(&fx.endpoint));
    let fault = |body: &str| match codec::decode_response(body.as_bytes()).unwrap() {
        Response::Fault { code, message } => (code, message),
        other => panic!("not a fault: {other:?}"),
    };

    let (status, body) = server.post(codec::encode_call("one.nothing", &[s("x")]).as_bytes());
    assert_eq!(status, 200);
    assert_eq!(
        fault(&body),
        (-506, "Method 'one.nothing' not defined".to_owned())
    );

    let (_, body) =
        server.post(codec::encode_call("one.image.info", &[s(&fx.session()), s("one")]).as_bytes());
    assert_eq!(
        fault(&body),
        (
            -501,
            "Parameter that is supposed to be integer is not".to_owned()
        )
    );
    let (_, body) = server.post(codec::encode_call("one.image.info", &[]).as_bytes());
    assert_eq!(fault(&body), (-501, "Not enough parameters".to_owned()));

    let (_, body) = server.post(
        b"<?xml version=\"1.0\"?><!DOCTYPE a [<!ENTITY e \"x\">]><methodCall><methodName>\
          one.system.version</methodName></methodCall>",
    );
    let (code, message) = fault(&body);
    assert_eq!(code, -503);
    assert!(
        message.starts_with("Call XML not a proper XML-RPC call.  "),
        "{message}"
    );

    let big = vec![b' '; codec::MAX_REQUEST_BYTES + 10];
    let (_, body) = server.post(&big);
    let (code, message) = fault(&body);
    assert_eq!(code, -509);
    assert!(message.contains("too large"), "{message}");

    let (status, _) = server.http("GET /RPC2 HTTP/1.0\r\nHost: localhost\r\n\r\n", b"");
    assert_eq!(status, 405);

    // A success over HTTP, byte for byte as xmlrpc-c writes it.
    let (_, body) =
        server.post(codec::encode_call("one.system.version", &[s(&fx.session())]).as_bytes());
    assert_eq!(
        body,
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\r\n<methodResponse>\r\n<params>\r\n\
             <param><value><array><data>\r\n<value><boolean>1</boolean></value>\r\n\
             <value><string>{}</string></value>\r\n<value><i4>0</i4></value>\r\n\
             </data></array></value></param>\r\n</params>\r\n</methodResponse>\r\n",
            xmlrpc::ONE_VERSION
        )
    );
}

#[test]
fn failures_carry_oneds_codes_and_messages() {
    let fx = Fixture::new();
    let (message, code) = failure(&fx.call("nobody:x", "one.image.info", vec![int(0)]));
    assert_eq!(
        (message.as_str(), code),
        (
            "[one.image.info] User couldn't be authenticated, aborting call.",
            0x100
        )
    );
    let answer = fx.admin("one.image.info", vec![int(99)]);
    assert_eq!(
        failure(&answer),
        (
            "[one.image.info] Error getting image [99].".to_owned(),
            0x400
        )
    );
    let Value::Array(items) = &answer else {
        unreachable!()
    };
    assert_eq!(items[3], Value::Int(99));
    assert_eq!(
        failure(&fx.admin("one.image.info", vec![int(-1)])),
        (
            "[one.image.info] Error getting image [-1].".to_owned(),
            0x400
        )
    );
    assert_eq!(
        failure(&fx.admin("one.imagepool.info", vec![int(-5), int(-1), int(-1)])),
        (
            "[one.imagepool.info] Incorrect filter_flag".to_owned(),
            0x1000
        )
    );
    let (message, code) =
        failure(&fx.admin("one.image.allocate", vec![s("NAME = [ unclosed"), int(1)]));
    assert!(
        message.starts_with("[one.image.allocate] Parse error"),
        "{message}"
    );
    assert_eq!(code, 0x2000);
    assert_eq!(
        failure(&fx.admin("one.image.allocate", vec![s("NAME=x\nSIZE=1"), int(0)])),
        (
            "[one.image.allocate] Error allocating a new image. New images can only be \
             allocated in a files or image datastore."
                .to_owned(),
            0x4000
        )
    );
    assert_eq!(
        failure(&fx.admin("one.datastore.delete", vec![int(99)])),
        (
            "[one.datastore.delete] Error getting datastore [99].".to_owned(),
            0x400
        )
    );
}

#[test]
fn image_methods_change_the_pool() {
    let fx = Fixture::new();
    let id = fx.ok(
        "one.image.allocate",
        vec![s("NAME=\"a\"\nTYPE=DATABLOCK\nSIZE=1\n"), int(1)],
    );
    let Value::Int(id) = id else { panic!("{id:?}") };
    let info = |fx: &Fixture| match fx.ok("one.image.info", vec![int(id)]) {
        Value::String(xml) => xml,
        other => panic!("{other:?}"),
    };
    assert!(info(&fx).starts_with("<IMAGE><ID>"), "{}", info(&fx));

    assert_eq!(fx.ok("one.image.rename", vec![int(id), s("b")]), int(id));
    assert!(info(&fx).contains("<NAME>b</NAME>"), "{}", info(&fx));
    fx.ok("one.image.persistent", vec![int(id), Value::Bool(true)]);
    assert!(info(&fx).contains("<PERSISTENT>1</PERSISTENT>"));
    fx.ok("one.image.persistent", vec![int(id), Value::Bool(false)]);
    fx.ok("one.image.enable", vec![int(id), Value::Bool(false)]);
    assert!(info(&fx).contains("<STATE>3</STATE>"), "{}", info(&fx));
    fx.ok("one.image.enable", vec![int(id), Value::Bool(true)]);
    fx.ok("one.image.chtype", vec![int(id), s("OS")]);
    assert!(info(&fx).contains("<TYPE>0</TYPE>"));
    assert_eq!(
        failure(&fx.admin("one.image.chtype", vec![int(id), s("KERNEL")])).1,
        0x800
    );
    assert_eq!(
        failure(&fx.admin("one.image.chtype", vec![int(id), s("NOPE")])),
        (
            "[one.image.chtype] Cannot change image type to an incompatible type for the \
             current datastore."
                .to_owned(),
            0x800
        )
    );
    fx.ok(
        "one.image.update",
        vec![int(id), s("DESCRIPTION=\"d\""), int(1)],
    );
    assert!(info(&fx).contains("<DESCRIPTION><![CDATA[d]]></DESCRIPTION>"));
    fx.ok(
        "one.image.update",
        vec![int(id), s("<TEMPLATE><LABEL>l</LABEL></TEMPLATE>"), int(0)],
    );
    assert!(info(&fx).contains("<LABEL><![CDATA[l]]></LABEL>"));
    assert!(!info(&fx).contains("DESCRIPTION"));
    assert_eq!(
        failure(&fx.admin("one.image.update", vec![int(id), s("A=1"), int(2)])),
        ("[one.image.update] Wrong update type".to_owned(), 0x1000)
    );
    fx.ok(
        "one.image.chmod",
        vec![
            int(id),
            int(-1),
            int(-1),
            int(1),
            int(-1),
            int(1),
            int(-1),
            int(1),
            int(-1),
            int(-1),
        ],
    );
    assert!(info(&fx).contains("<OWNER_A>1</OWNER_A>"));
    assert!(info(&fx).contains("<OTHER_U>1</OTHER_U>"));
    assert!(info(&fx).contains("<OWNER_U>1</OWNER_U>"), "-1 keeps a bit");
    assert_eq!(
        failure(&fx.admin(
            "one.image.chmod",
            vec![
                int(id),
                int(2),
                int(-1),
                int(-1),
                int(-1),
                int(-1),
                int(-1),
                int(-1),
                int(-1),
                int(-1)
            ],
        )),
        (
            "[one.image.chmod] New permission values must be -1, 0 or 1".to_owned(),
            0x2000
        )
    );
    fx.ok("one.image.chown", vec![int(id), int(4242), int(4343)]);
    assert!(info(&fx).contains("<UNAME>alice</UNAME>"));
    assert!(info(&fx).contains("<GNAME>staff</GNAME>"));
    assert_eq!(
        failure(&fx.admin("one.image.chown", vec![int(id), int(777_777), int(-1)])),
        (
            "[one.image.chown] Error getting user [777777].".to_owned(),
            0x400
        )
    );
    fx.ok("one.image.lock", vec![int(id), int(1)]);
    assert!(
        info(&fx).contains("<LOCK><LOCKED>1</LOCKED>"),
        "{}",
        info(&fx)
    );
    let (message, code) =
        failure(&fx.admin("one.image.lock", vec![int(id), int(2), Value::Bool(true)]));
    assert_eq!(code, 0x800);
    assert!(
        message
            .strip_prefix("[one.image.lock] ")
            .is_some_and(|t| t.parse::<i64>().is_ok()),
        "the lock's time: {message}"
    );
    assert_eq!(
        failure(&fx.admin("one.image.lock", vec![int(id), int(9)])).1,
        0x800
    );
    fx.ok("one.image.unlock", vec![int(id)]);
    let clone = fx.ok("one.image.clone", vec![int(id), s("copy"), int(1)]);
    let Value::Int(clone) = clone else {
        panic!("{clone:?}")
    };
    let pool = |fx: &Fixture, filter: i32| match fx
        .ok("one.imagepool.info", vec![int(filter), int(-1), int(-1)])
    {
        Value::String(xml) => xml,
        other => panic!("{other:?}"),
    };
    assert!(pool(&fx, -2).contains("<NAME>copy</NAME>"));
    assert!(pool(&fx, 4242).contains("<NAME>b</NAME>"));
    assert!(!pool(&fx, 4242).contains("copy"));
    let range = match fx.ok("one.imagepool.info", vec![int(-2), int(clone), int(clone)]) {
        Value::String(xml) => xml,
        other => panic!("{other:?}"),
    };
    assert!(
        range.contains("copy") && !range.contains("<NAME>b</NAME>"),
        "{range}"
    );
    fx.ok("one.image.delete", vec![int(clone)]);
    fx.ok("one.image.delete", vec![int(id), Value::Bool(false)]);
    assert_eq!(pool(&fx, -2), "<IMAGE_POOL></IMAGE_POOL>");
}

#[test]
fn datastore_methods_change_the_pool() {
    let fx = Fixture::new();
    let xml = |v: Value| match v {
        Value::String(xml) => xml,
        other => panic!("{other:?}"),
    };
    let all = xml(fx.ok("one.datastorepool.info", vec![]));
    assert!(
        all.starts_with("<DATASTORE_POOL><DATASTORE><ID>0</ID>"),
        "{all}"
    );
    let id = fx.ok(
        "one.datastore.allocate",
        vec![s("NAME=\"more\"\nDS_MAD=fs\nTM_MAD=local\n"), int(-1)],
    );
    let Value::Int(id) = id else { panic!("{id:?}") };
    assert_eq!(id, 100);
    fx.ok("one.datastore.rename", vec![int(id), s("renamed")]);
    fx.ok("one.datastore.update", vec![int(id), s("LABEL=x"), int(1)]);
    fx.ok(
        "one.datastore.chmod",
        vec![
            int(id),
            int(-1),
            int(-1),
            int(-1),
            int(-1),
            int(-1),
            int(-1),
            int(1),
            int(-1),
            int(-1),
        ],
    );
    fx.ok("one.datastore.chown", vec![int(id), int(4242), int(-1)]);
    let one = xml(fx.ok("one.datastore.info", vec![int(id)]));
    for part in [
        "<NAME>renamed</NAME>",
        "<LABEL><![CDATA[x]]></LABEL>",
        "<OTHER_U>1</OTHER_U>",
        "<UNAME>alice</UNAME>",
    ] {
        assert!(one.contains(part), "{part} in {one}");
    }
    assert_eq!(
        failure(&fx.admin("one.datastore.enable", vec![int(id), Value::Bool(false)])),
        (
            "[one.datastore.enable] Only SYSTEM_DS can be disabled or enabled".to_owned(),
            0x2000
        )
    );
    fx.ok("one.datastore.enable", vec![int(0), Value::Bool(false)]);
    fx.ok("one.datastore.delete", vec![int(id)]);
    assert_eq!(
        failure(&fx.admin("one.datastore.info", vec![int(id)])),
        (
            "[one.datastore.info] Error getting datastore [100].".to_owned(),
            0x400
        )
    );
}

fn var_tmp_file(name: &str, mode: u32) -> Option<tempfile::TempDir> {
    let dir = tempfile::Builder::new()
        .prefix("strata-xmlrpc")
        .tempdir_in("/var/tmp")
        .ok()?;
    let file = dir.path().join(name);
    std::fs::write(&file, vec![0u8; 1 << 20]).ok()?;
    std::fs::set_permissions(&file, std::os::unix::fs::PermissionsExt::from_mode(mode)).ok()?;
    Some(dir)
}

#[test]
fn paths_of_non_admins_must_be_in_safe_dirs() {
    let fx = Fixture::new();
    // alice may use datastore 1.
    fx.ok(
        "one.datastore.chmod",
        vec![
            int(1),
            int(-1),
            int(-1),
            int(-1),
            int(-1),
            int(-1),
            int(-1),
            int(1),
            int(-1),
            int(-1),
        ],
    );
    let outside = fx.path("disk.raw");
    std::fs::write(&outside, vec![0u8; 1 << 20]).unwrap();
    let alice = |template: String| {
        fx.call(
            "alice:alice",
            "one.image.allocate",
            vec![s(&template), int(1)],
        )
    };
    let refusal = |path: &Path| {
        format!(
            "[one.image.allocate] Cannot parse image SIZE: Not allowed to copy image from {}, \
             check RESTRICTED_DIRS in your datastore",
            path.display()
        )
    };
    assert_eq!(
        failure(&alice(format!("NAME=a\nPATH=\"{}\"", outside.display()))),
        (refusal(&outside), 0x2000)
    );
    assert_eq!(
        failure(&alice("NAME=a\nPATH=/etc/passwd".to_owned())),
        (refusal(Path::new("/etc/passwd")), 0x2000)
    );
    let (message, code) = failure(&alice("NAME=a\nPATH=http://example.invalid/d".to_owned()));
    assert!(
        message.contains("strata copies local files only"),
        "{message}"
    );
    assert_eq!(code, 0x2000);

    let Some(safe) = var_tmp_file("disk.raw", 0o644) else {
        eprintln!("skipping the /var/tmp half: /var/tmp is not writable");
        return;
    };
    // A link in a safe directory to a file outside it is judged by where it leads.
    let link = safe.path().join("link");
    std::os::unix::fs::symlink(&outside, &link).unwrap();
    assert_eq!(
        failure(&alice(format!("NAME=a\nPATH=\"{}\"", link.display()))),
        (refusal(&link), 0x2000)
    );
    // A file alice could not read herself.
    let private = var_tmp_file("private.raw", 0o600).unwrap();
    let private_file = private.path().join("private.raw");
    if rustix::process::getuid().as_raw() != 4242 {
        assert_eq!(
            failure(&alice(format!(
                "NAME=a\nPATH=\"{}\"",
                private_file.display()
            ))),
            (refusal(&private_file), 0x2000)
        );
    }
    // Nor may she widen the safe directories of a datastore she administers.
    fx.ok("one.datastore.chown", vec![int(1), int(4242), int(-1)]);
    fx.ok(
        "one.datastore.chmod",
        vec![
            int(1),
            int(1),
            int(1),
            int(1),
            int(-1),
            int(-1),
            int(-1),
            int(1),
            int(-1),
            int(-1),
        ],
    );
    let widen = |template: &str, append: i32| {
        fx.call(
            "alice:alice",
            "one.datastore.update",
            vec![int(1), s(template), int(append)],
        )
    };
    assert_eq!(
        failure(&widen("SAFE_DIRS=\"/\"", 1)),
        (
            "[one.datastore.update] Cannot update template. Tried to change restricted \
             attribute: SAFE_DIRS"
                .to_owned(),
            0x2000
        )
    );
    assert_eq!(
        failure(&widen("LABEL=x", 0)).1,
        0x2000,
        "a replace drops them"
    );
    assert!(success(&widen("LABEL=x", 1)).is_some());
    let file = safe.path().join("disk.raw");
    let answer = alice(format!("NAME=a\nPATH=\"{}\"", file.display()));
    let id = success(&answer).unwrap_or_else(|| panic!("alice's image in /var/tmp: {answer:?}"));
    assert_eq!(id, int(0));
    // Administrators are not restricted.
    assert!(
        success(&fx.admin(
            "one.image.allocate",
            vec![
                s(&format!("NAME=b\nPATH=\"{}\"", outside.display())),
                int(1)
            ],
        ))
        .is_some()
    );
}
