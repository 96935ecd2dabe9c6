//! [`FRONT_ENDS`]: every binary strata installs, with its clap definition.

/// A front end: the name of its binary and its clap definition.
#[derive(Debug, Clone, Copy)]
pub struct FrontEnd {
    /// The binary's name, as users type it and as `cargo build` names it.
    pub bin: &'static str,
    /// Its whole command line as clap holds it (the front end library's `command()`).
    pub command: fn() -> clap::Command,
}

/// Every front end, one line each: a new one registers here, and gets its man pages,
/// completions, and its place in `cargo xtask dist` and its install.
pub const FRONT_ENDS: &[FrontEnd] = &[
    FrontEnd {
        bin: "pcocc-image",
        command: pcocc_image::command,
    },
    FrontEnd {
        bin: "transient-image",
        command: transient_image::command,
    },
    FrontEnd {
        bin: "oneimage",
        command: oneimage::image_command,
    },
    FrontEnd {
        bin: "onedatastore",
        command: oneimage::datastore_command,
    },
    FrontEnd {
        bin: "strata-oned",
        command: oneimage::oned_command,
    },
    FrontEnd {
        bin: "ocne-image",
        command: ocne_image::command,
    },
];
