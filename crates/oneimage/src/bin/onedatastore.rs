//! The `onedatastore` binary: OpenNebula's `onedatastore` over a strata pool; everything is in the library.

fn main() -> std::process::ExitCode {
    oneimage::main_onedatastore()
}
