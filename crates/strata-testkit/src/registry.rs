//! A real registry (Debian's `docker-registry`, distribution 2.8) started on a free 127.0.0.1
//! port with a temporary storage directory, for the tests of strata-oci, strata and the front
//! ends. It panics on setup failures (a test failure) and returns `None` when the binary is not
//! installed, so tests can skip.
#![allow(
    clippy::unwrap_used,
    clippy::print_stderr,
    reason = "test support: a setup failure is a test failure, and a skip says why"
)]

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Where Debian installs the registry.
pub const REGISTRY_BIN: &str = "/usr/bin/docker-registry";

/// A running registry, killed (by its own pid) when dropped.
pub struct LocalRegistry {
    child: Child,
    /// The port it listens on (127.0.0.1).
    pub port: u16,
    dir: tempfile::TempDir,
}

impl Drop for LocalRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `docker-registry serve CONFIG`, its output appended to `dir/registry.log`.
fn spawn(config: &Path, dir: &Path) -> Child {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("registry.log"))
        .unwrap();
    Command::new(REGISTRY_BIN)
        .arg("serve")
        .arg(config)
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap()
}

/// A port free on 127.0.0.1 when asked.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl LocalRegistry {
    /// Starts a registry, with htpasswd auth when `htpasswd` (file content) is given; `None`
    /// when the binary is absent.
    pub fn start(htpasswd: Option<&str>) -> Option<LocalRegistry> {
        LocalRegistry::start_with(&|dir: &Path| match htpasswd {
            Some(lines) => {
                let path = dir.join("htpasswd");
                std::fs::write(&path, lines).unwrap();
                format!(
                    "auth:\n  htpasswd:\n    realm: strata-test\n    path: {}\n",
                    path.display()
                )
            }
            None => String::new(),
        })
    }

    /// Starts a registry whose config ends with what `auth` returns (given the temporary
    /// directory); `None` when the binary is absent.
    pub fn start_with(auth: &dyn Fn(&Path) -> String) -> Option<LocalRegistry> {
        LocalRegistry::start_configured(auth, true)
    }

    /// A registry without authentication that refuses deletes (`storage.delete.enabled:
    /// false`, docker-registry's default); `None` when the binary is absent.
    pub fn start_without_deletes() -> Option<LocalRegistry> {
        LocalRegistry::start_configured(&|_| String::new(), false)
    }

    /// Stops the registry and starts it again on the same port, with the same storage and
    /// secret (uploads in progress survive, as with a restarted service).
    pub fn restart(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.child = spawn(&self.dir.path().join("config.yml"), self.dir.path());
        assert!(
            self.wait_ready(Duration::from_secs(60)),
            "docker-registry did not come back on port {}",
            self.port
        );
    }

    fn start_configured(auth: &dyn Fn(&Path) -> String, delete: bool) -> Option<LocalRegistry> {
        if !crate::peer("registry", REGISTRY_BIN, Path::new(REGISTRY_BIN).exists()) {
            return None;
        }
        let mut dir = tempfile::tempdir().unwrap();
        // A port picked free can be taken before the registry binds it: try a few.
        for _ in 0..5 {
            let port = free_port();
            let auth = auth(dir.path());
            let config = format!(
                "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\n\
                 storage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: {delete}\n\
                 http:\n  addr: 127.0.0.1:{port}\n  secret: strata-test-secret\n{auth}",
                dir.path().join("data").display()
            );
            let config_path = dir.path().join("config.yml");
            std::fs::write(&config_path, config).unwrap();
            let child = spawn(&config_path, dir.path());
            let mut reg = LocalRegistry { child, port, dir };
            if reg.wait_ready(Duration::from_secs(60)) {
                return Some(reg);
            }
            let log = std::fs::read_to_string(reg.dir.path().join("registry.log")).unwrap();
            eprintln!("registry on port {port} did not come up; retrying: {log}");
            let _ = reg.child.kill();
            let _ = reg.child.wait();
            dir = std::mem::replace(&mut reg.dir, tempfile::tempdir().unwrap());
        }
        panic!("docker-registry did not start");
    }

    /// Waits until `/v2/` answers (any status), or the process dies, or `timeout`.
    fn wait_ready(&mut self, timeout: Duration) -> bool {
        let start = Instant::now();
        while start.elapsed() < timeout {
            if let Ok(Some(_)) = self.child.try_wait() {
                return false;
            }
            if let Ok(mut s) = TcpStream::connect(("127.0.0.1", self.port)) {
                s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
                let req = format!(
                    "GET /v2/ HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nConnection: close\r\n\r\n",
                    self.port
                );
                if s.write_all(req.as_bytes()).is_ok() {
                    let mut line = String::new();
                    if BufReader::new(s).read_line(&mut line).is_ok() && line.starts_with("HTTP/") {
                        return true;
                    }
                }
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        false
    }

    /// Where the registry keeps what it stores.
    pub fn data_dir(&self) -> std::path::PathBuf {
        self.dir.path().join("data")
    }

    /// `127.0.0.1:PORT`.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

/// A bcrypt htpasswd line for `LocalRegistry::start` (cost 4 keeps tests fast; distribution
/// accepts any cost).
pub fn htpasswd_line(user: &str, password: &str) -> String {
    let hash = bcrypt::hash_with_result(password, 4)
        .unwrap()
        .format_for_version(bcrypt::Version::TwoY);
    format!("{user}:{hash}\n")
}
