//! Bytes -> `open_bytes` as qcow2: never panics, hangs or allocates without bound.
#![no_main]

use libfuzzer_sys::fuzz_target;
use strata_disk::{OpenOptions, open_bytes};
use strata_model::DiskFormat;

fuzz_target!(|data: &[u8]| {
    let opts = OpenOptions { format: Some(DiskFormat::Qcow2), no_backing: true, ..Default::default() };
    let _ = open_bytes(data.to_vec(), &opts);
    // And through the probe, as any file would be opened.
    let _ = open_bytes(data.to_vec(), &OpenOptions { no_backing: true, ..Default::default() });
});
