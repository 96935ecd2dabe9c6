//! Integration tests of strata-cli: one binary, one module per topic.

mod exit;
mod golden;
mod one;
mod pcocc;
mod progress;
mod transient;
