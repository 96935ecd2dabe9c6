//! Image builds: transient's Imagefile language and the builder that runs it.
//!
//! - [`imagefile`]: the language as transient 0.25 defines it: a parser from text to a typed
//!   [`Imagefile`], transient's ordering rules and messages, and the `Step i/n : ...` lines it
//!   prints. No I/O but reading the file itself.

pub mod imagefile;

pub use imagefile::{Imagefile, ImagefileError};
