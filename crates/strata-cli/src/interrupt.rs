//! SIGINT and SIGTERM for front ends: the first one sets the core's cancel flag
//! ([`strata::StrataOptions::cancel`]), so that the operation in progress stops, removes what
//! it staged and fails with [`strata::ErrorKind::Interrupted`]; the front end then exits with
//! 128 + the signal's number (130 for SIGINT, 143 for SIGTERM), the shells' convention. A
//! second signal ends the process at once, for a user who does not want to wait.
//!
//! The handlers only set atomics (signal-hook's `flag` module): everything else happens on the
//! normal path, where destructors run.

use std::io;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use signal_hook::consts::{SIGINT, SIGTERM};
use strata::Cancel;

/// The last signal received, once [`install`] ran.
static LAST_SIGNAL: OnceLock<Arc<AtomicUsize>> = OnceLock::new();

/// The exit code when no signal number was recorded: SIGINT's.
const DEFAULT_CODE: u8 = 130;

/// Installs the handlers and returns the flag they set, for [`strata::StrataOptions::cancel`].
/// Call it once, early in `main`.
pub fn install() -> io::Result<Cancel> {
    let flag = Arc::new(AtomicBool::new(false));
    let signal = Arc::clone(LAST_SIGNAL.get_or_init(|| Arc::new(AtomicUsize::new(0))));
    for sig in [SIGINT, SIGTERM] {
        // Registered first, so it runs before the flag is set: a second signal ends the
        // process with the same code the first would have given.
        let code = 128 + sig;
        signal_hook::flag::register_conditional_shutdown(sig, code, Arc::clone(&flag))?;
        signal_hook::flag::register_usize(sig, Arc::clone(&signal), sig as usize)?;
        signal_hook::flag::register(sig, Arc::clone(&flag))?;
    }
    Ok(Cancel::from_flag(flag))
}

/// The exit code of an interrupted operation: 128 + the last signal received (130 if none was
/// recorded, as when an embedder set the flag itself).
pub fn exit_code() -> u8 {
    LAST_SIGNAL
        .get()
        .map(|s| s.load(Ordering::SeqCst))
        .and_then(|sig| u8::try_from(128 + sig).ok())
        .filter(|code| *code > 128)
        .unwrap_or(DEFAULT_CODE)
}
