//! The `pcocc-image` binary: a drop-in for `pcocc image`; everything is in the library.

fn main() -> std::process::ExitCode {
    strata_cli::run_main(&pcocc_image::Pcocc, pcocc_image::main)
}
