//! The `ocne-image` binary: a drop-in for `ocne image upload`; everything is in the library.

fn main() -> std::process::ExitCode {
    strata_cli::run_main(&ocne_image::Ocne, ocne_image::main)
}
