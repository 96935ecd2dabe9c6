//! `oneimage` and `onedatastore`: OpenNebula's image and datastore commands over a strata pool.
//!
//! [`render`] prints records exactly as OpenNebula's CLI does: list tables, `show` text, and
//! the XML, JSON and YAML documents of `-x`, `-j` and `-y`.

pub mod render;
