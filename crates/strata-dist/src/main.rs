//! The `strata-dist` binary: every front end's man pages and completions; see the library.

fn main() -> std::process::ExitCode {
    strata_dist::main()
}
