//! Test support, not part of the supported API: a real registry (Debian's `docker-registry`,
//! distribution 2.8) started on a free 127.0.0.1 port with a temporary storage directory, for
//! the integration tests of this crate and of the front ends. It panics on setup failures (a
//! test failure) and returns `None` when the binary is not installed, so tests can skip.
#![allow(
    clippy::unwrap_used,
    clippy::print_stderr,
    clippy::panic,
    clippy::too_many_arguments,
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
        if !strata_model::testing::peer("registry", REGISTRY_BIN, Path::new(REGISTRY_BIN).exists())
        {
            return None;
        }
        let mut dir = tempfile::tempdir().unwrap();
        // A port picked free can be taken before the registry binds it: try a few.
        for _ in 0..5 {
            let port = free_port();
            let auth = auth(dir.path());
            let config = format!(
                "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\n\
                 storage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\n\
                 http:\n  addr: 127.0.0.1:{port}\n  secret: strata-test-secret\n{auth}",
                dir.path().join("data").display()
            );
            let config_path = dir.path().join("config.yml");
            std::fs::write(&config_path, config).unwrap();
            let log = std::fs::File::create(dir.path().join("registry.log")).unwrap();
            let child = Command::new(REGISTRY_BIN)
                .arg("serve")
                .arg(&config_path)
                .stdin(Stdio::null())
                .stdout(log.try_clone().unwrap())
                .stderr(log)
                .spawn()
                .unwrap();
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

    /// `127.0.0.1:PORT`.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

/// Where Debian installs squashfs-tools.
pub const MKSQUASHFS_BIN: &str = "/usr/bin/mksquashfs";

/// A squashfs image of the directory `src`, made by `mksquashfs` with `args` added; `None`
/// (with a message) when squashfs-tools is not installed.
pub fn mksquashfs(src: &Path, args: &[&str]) -> Option<Vec<u8>> {
    if !strata_model::testing::peer(
        "mksquashfs",
        MKSQUASHFS_BIN,
        Path::new(MKSQUASHFS_BIN).exists(),
    ) {
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("fs.squashfs");
    let status = Command::new(MKSQUASHFS_BIN)
        .arg(src)
        .arg(&out)
        .args(["-noappend", "-quiet", "-no-progress"])
        .args(args)
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "mksquashfs failed");
    Some(std::fs::read(&out).unwrap())
}

/// A SIF file as apptainer's `pkg/sif` lays one out (`sif.go`, `create.go`): the launch script,
/// `SIF_MAGIC`, version `01`, `arch`, a 128-byte global header; 48 descriptors of 585 bytes at
/// 4096; the data objects from 32768: descriptor 0 the definition file `deffile` (ID 1),
/// descriptor 1 the primary system partition holding `squashfs` (ID 2, squashfs, aligned to
/// 4096), both in the default group `0xf0000001`.
pub fn write_sif(squashfs: &[u8], deffile: &[u8], arch: &str) -> Vec<u8> {
    const DESCRIPTORS: usize = 48;
    const DESCR_OFF: usize = 4096;
    const DATA_OFF: usize = 32768;
    const GROUP: u32 = 0xf000_0001;
    let def_off = DATA_OFF;
    let part_off = (def_off + deffile.len()).next_multiple_of(4096);
    let end = part_off + squashfs.len();
    let mut out = vec![0u8; end];
    let launch = b"#!/usr/bin/env run-singularity\n";
    out[..launch.len()].copy_from_slice(launch);
    out[32..41].copy_from_slice(b"SIF_MAGIC");
    out[42..44].copy_from_slice(b"01");
    out[45..47].copy_from_slice(&arch.as_bytes()[..2]);
    out[48..64].copy_from_slice(&[0x5a; 16]); // the image ID (a UUID)
    let fields: [i64; 10] = [
        1_700_000_000, // ctime
        1_700_000_000, // mtime
        DESCRIPTORS as i64 - 2,
        DESCRIPTORS as i64,
        DESCR_OFF as i64,
        (DESCRIPTORS * 585) as i64,
        DATA_OFF as i64,
        (end - DATA_OFF) as i64,
        0,
        0,
    ];
    for (i, v) in fields.iter().take(8).enumerate() {
        out[64 + 8 * i..72 + 8 * i].copy_from_slice(&v.to_le_bytes());
    }
    let mut descr =
        |i: usize, kind: i32, id: u32, off: usize, len: usize, name: &str, extra: &[u8]| {
            let d = &mut out[DESCR_OFF + 585 * i..DESCR_OFF + 585 * (i + 1)];
            d[0..4].copy_from_slice(&kind.to_le_bytes());
            d[4] = 1;
            d[5..9].copy_from_slice(&id.to_le_bytes());
            d[9..13].copy_from_slice(&GROUP.to_le_bytes());
            d[17..25].copy_from_slice(&(off as i64).to_le_bytes());
            d[25..33].copy_from_slice(&(len as i64).to_le_bytes());
            d[33..41].copy_from_slice(&(len as i64).to_le_bytes());
            d[41..49].copy_from_slice(&1_700_000_000i64.to_le_bytes());
            d[49..57].copy_from_slice(&1_700_000_000i64.to_le_bytes());
            d[73..73 + name.len()].copy_from_slice(name.as_bytes());
            d[201..201 + extra.len()].copy_from_slice(extra);
        };
    descr(0, 0x4001, 1, def_off, deffile.len(), "", &[]);
    let mut part = Vec::new();
    part.extend_from_slice(&1i32.to_le_bytes()); // FsSquash
    part.extend_from_slice(&2i32.to_le_bytes()); // PartPrimSys
    part.extend_from_slice(&arch.as_bytes()[..2]);
    descr(1, 0x4004, 2, part_off, squashfs.len(), "rootfs", &part);
    out[def_off..def_off + deffile.len()].copy_from_slice(deffile);
    out[part_off..end].copy_from_slice(squashfs);
    out
}

/// An old Singularity 2.x `.simg`: the launch script line, then the squashfs.
pub fn write_simg(squashfs: &[u8]) -> Vec<u8> {
    let mut out = b"#!/usr/bin/env run-singularity\n".to_vec();
    out.extend_from_slice(squashfs);
    out
}

/// Where Debian installs unsquashfs.
pub const UNSQUASHFS_BIN: &str = "/usr/bin/unsquashfs";

/// Extracts `squashfs` (a file) into `dest` (which must not exist) with `unsquashfs`.
pub fn unsquashfs(squashfs: &Path, dest: &Path) {
    let out = Command::new(UNSQUASHFS_BIN)
        .args(["-no-progress", "-quiet", "-d"])
        .arg(dest)
        .arg(squashfs)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "unsquashfs failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// One line per entry under `root` (not `root` itself), by relative path: type, mode, owner,
/// mtime (not for symlinks), and the sha256 of a file's bytes, a symlink's target or a
/// device's number; a path that is a hardlink to an earlier one says which.
pub fn tree_listing(root: &Path) -> std::collections::BTreeMap<String, String> {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let mut out = std::collections::BTreeMap::new();
    let mut inodes: std::collections::HashMap<u64, String> = std::collections::HashMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let mut entries: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        entries.sort();
        for path in entries {
            let rel = path.strip_prefix(root).unwrap().display().to_string();
            let m = std::fs::symlink_metadata(&path).unwrap();
            let t = m.file_type();
            let (kind, what) = if t.is_dir() {
                stack.push(path.clone());
                ("dir", String::new())
            } else if t.is_symlink() {
                let target = std::fs::read_link(&path).unwrap();
                ("symlink", target.display().to_string())
            } else if t.is_file() {
                if m.nlink() > 1 {
                    if let Some(first) = inodes.get(&m.ino()) {
                        out.insert(rel, format!("hardlink to {first}"));
                        continue;
                    }
                    inodes.insert(m.ino(), rel.clone());
                }
                let bytes = std::fs::read(&path).unwrap();
                ("file", crate::verify::digest_bytes(&bytes).hex().to_owned())
            } else if t.is_char_device() {
                ("char", format!("{:x}", m.rdev()))
            } else if t.is_block_device() {
                ("block", format!("{:x}", m.rdev()))
            } else if t.is_fifo() {
                ("fifo", String::new())
            } else {
                ("other", String::new())
            };
            let mtime = if t.is_symlink() {
                String::new()
            } else {
                m.mtime().to_string()
            };
            out.insert(
                rel,
                format!(
                    "{kind} {:o} {}:{} {mtime} {what}",
                    m.mode() & 0o7777,
                    m.uid(),
                    m.gid()
                ),
            );
        }
    }
    out
}
