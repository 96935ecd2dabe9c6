//! Integration tests of strata-testkit: one binary, one module per topic.

mod fuzz_replay;
