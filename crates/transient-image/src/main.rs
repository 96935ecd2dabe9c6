//! The `transient-image` binary: a drop-in for `transient image`; everything is in the library.

fn main() -> std::process::ExitCode {
    strata_cli::run_main(&transient_image::Transient, transient_image::main)
}
