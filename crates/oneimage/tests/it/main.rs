//! oneimage integration tests.
