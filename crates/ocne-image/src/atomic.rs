//! Files written whole or not at all: a temporary file beside the destination (created with
//! the umask's permissions, as Go's `os.Create` makes OCNE's files), written, fsynced, renamed
//! over the destination, and the directory fsynced. On any error the temporary file is
//! removed, so no partial file is ever left under either name.

use std::fs::{File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};

/// Writes `dest` through `body`, atomically.
pub fn write_atomically(
    dest: &Path,
    body: impl FnOnce(&mut File) -> io::Result<()>,
) -> io::Result<()> {
    let dir = match dest.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = dest
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "not a file name"))?;
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(format!(".tmp-{}", std::process::id()));
    let tmp = dir.join(tmp_name);
    let mut file = OpenOptions::new().write(true).create_new(true).open(&tmp)?;
    let written = body(&mut file)
        .and_then(|()| file.sync_all())
        .and_then(|()| std::fs::rename(&tmp, dest));
    drop(file);
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    File::open(&dir)?.sync_all()
}
