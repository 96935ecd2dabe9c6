//! Integration tests of `transient-image`.
