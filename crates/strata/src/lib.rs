//! The strata application core: the one API that every front end and every embedding Rust
//! program calls. Each operation takes a request struct and a [`Progress`] sink and returns an
//! outcome struct; nothing here formats text for people.

pub mod error;
pub mod progress;

pub use error::ErrorKind;
pub use progress::{NoProgress, Phase, Progress, ProgressEvent, Warning};
