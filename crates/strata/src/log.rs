//! The phases of VM imports and exports as `tracing` events at level info (a front end's `-v`):
//! what each phase did, with sizes and rates, so that a slow import says where its time went.
//! Events, not text for people: a subscriber decides whether and how they are shown.
//!
//! - `probe`: the source opened, its format and virtual size (an export: the stored chain);
//! - `convert`: bytes read and written, the time and the rate;
//! - `store`: the new layer hashed, made durable and named by its digest (or found already there);
//! - `export`: the destination file made durable and renamed into place.

use std::path::Path;
use std::time::{Duration, Instant};

use strata_disk::ConvertSummary;
use strata_model::DiskFormat;

use crate::store::StoredDisk;

/// `probe`: `what` opened as `format`, `virtual_size` bytes, since `started`.
pub(crate) fn probed(what: &str, format: DiskFormat, virtual_size: u64, started: Instant) {
    tracing::info!(
        "probe: {what} is {format}, {} virtual, opened in {}",
        size(virtual_size),
        secs(started.elapsed()),
    );
}

/// `convert`: `from` converted (or copied) to `to`, as `summary` says, since `started`.
pub(crate) fn converted(
    from: DiskFormat,
    to: DiskFormat,
    virtual_size: u64,
    summary: &ConvertSummary,
    started: Instant,
) {
    let elapsed = started.elapsed();
    let verb = if from == to { "copied" } else { "converted" };
    tracing::info!(
        "convert: {verb} {from} to {to}, {} virtual: {} read, {} written in {} ({} read)",
        size(virtual_size),
        size(summary.bytes_read),
        size(summary.bytes_written),
        secs(elapsed),
        rate(summary.bytes_read, elapsed),
    );
}

/// `store`: the new image `stored` committed into `store`, since `started` (hashing, when the
/// writes did not come in order, fsync and rename).
pub(crate) fn stored(store: &str, stored: &StoredDisk, started: Instant) {
    let digest = stored
        .digest
        .as_ref()
        .map(|d| format!(" as {}", d.prefixed()))
        .unwrap_or_default();
    let how = if stored.deduplicated {
        "already there, nothing new kept"
    } else {
        "hashed, made durable and named"
    };
    tracing::info!(
        "store: {} in store {store}{digest}, {} ({how}) in {}",
        stored.image.name,
        size(stored.file_len),
        secs(started.elapsed()),
    );
}

/// `export`: `path` written, `len` bytes, made durable and renamed into place, since `started`
/// (the whole export: conversion included).
pub(crate) fn exported(path: &Path, format: DiskFormat, len: u64, started: Instant) {
    let elapsed = started.elapsed();
    tracing::info!(
        "export: {} written as {format}, {} in {} ({})",
        path.display(),
        size(len),
        secs(elapsed),
        rate(len, elapsed),
    );
}

/// `bytes` in binary units with one decimal (`64.0 MiB`), or bytes below 1 KiB.
pub(crate) fn size(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = UNITS[0];
    for next in &UNITS[1..] {
        if value < 1024.0 {
            break;
        }
        value /= 1024.0;
        unit = next;
    }
    format!("{value:.1} {unit}")
}

/// `bytes` over `elapsed`, per second (`38.1 MiB/s`); a phase too short to time has no rate.
fn rate(bytes: u64, elapsed: Duration) -> String {
    let secs = elapsed.as_secs_f64();
    if secs < 1e-3 {
        return "too quick to time".to_owned();
    }
    let per_second = (bytes as f64 / secs) as u64;
    format!("{}/s", size(per_second))
}

/// `elapsed` in seconds with two decimals (`0.21 s`).
fn secs(elapsed: Duration) -> String {
    format!("{:.2} s", elapsed.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_rates() {
        assert_eq!(size(0), "0 B");
        assert_eq!(size(1023), "1023 B");
        assert_eq!(size(1536), "1.5 KiB");
        assert_eq!(size(64 << 20), "64.0 MiB");
        assert_eq!(size(3 << 40), "3.0 TiB");
        assert_eq!(size(u64::MAX), "16.0 EiB");
        assert_eq!(rate(64 << 20, Duration::from_secs(2)), "32.0 MiB/s");
        assert_eq!(rate(1, Duration::ZERO), "too quick to time");
        assert_eq!(secs(Duration::from_millis(1234)), "1.23 s");
    }
}
