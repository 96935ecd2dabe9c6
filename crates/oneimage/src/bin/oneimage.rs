//! The `oneimage` binary: OpenNebula's `oneimage` over a strata pool; everything is in the library.

fn main() -> std::process::ExitCode {
    oneimage::main_oneimage()
}
