//! The `strata-oned` binary: the daemon of a shared pool; everything is in the library.

fn main() -> std::process::ExitCode {
    oneimage::main_oned()
}
