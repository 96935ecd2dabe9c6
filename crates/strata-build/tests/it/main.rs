//! Integration tests of strata-build: one binary, one module per topic.

mod golden;
mod roundtrip;
