//! The Python virtual environment that `cargo xtask setup` makes for the Python peers that are
//! PyPI packages only (libyal's libvhdi bindings, `pyvhdi`; transient 0.25): where it is,
//! whether a module imports there, and the programs it installs.
//!
//! The place is `$XDG_CACHE_HOME/strata/peer-venv`, else `~/.cache/strata/peer-venv`: outside
//! any work tree, so that every checkout of the project shares it. xtask's setup computes the
//! same path (`xtask/src/setup.rs`, `peer_venv`): change both together.

use std::path::PathBuf;
use std::process::{Command, Stdio};

/// The directory of the peers' virtual environment.
pub fn venv_dir() -> PathBuf {
    let cache = match std::env::var_os("XDG_CACHE_HOME").filter(|v| !v.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache"),
    };
    cache.join("strata").join("peer-venv")
}

/// The virtual environment's interpreter.
pub fn python() -> PathBuf {
    venv_dir().join("bin").join("python3")
}

/// The program `name` that a package installed in the virtual environment (`transient`).
pub fn program(name: &str) -> PathBuf {
    venv_dir().join("bin").join(name)
}

/// Whether `import module` succeeds in the virtual environment.
pub fn imports(module: &str) -> bool {
    Command::new(python())
        .args(["-c", &format!("import {module}")])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}
