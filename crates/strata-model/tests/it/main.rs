//! Integration tests of strata-model: one binary, one module per topic.

mod digest;
mod image_ref;
mod names;
mod one;
mod record;
mod size;
mod spec;
