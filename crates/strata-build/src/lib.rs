//! Image builds: transient's Imagefile language, the builder that runs it, and its executor.
//!
//! - [`imagefile`]: the language as transient 0.25 defines it: a parser from text to a typed
//!   [`Imagefile`], transient's ordering rules and messages, and the `Step i/n : ...` lines it
//!   prints. No I/O but reading the file itself.
//! - [`builder`]: runs an Imagefile in the build VM as a chain of qcow2 layers, one per step.
//! - [`layers`]: the step cache those layers form: keys, completeness, the cache's lock.
//! - [`vm`]: the build VM, the executor that runs build steps in a small Linux guest under
//!   qemu-system.

pub mod builder;
pub mod imagefile;
pub mod layers;
pub mod vm;

pub use imagefile::{Imagefile, ImagefileError};
