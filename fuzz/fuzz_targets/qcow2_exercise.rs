//! Bytes -> open as qcow2, then map and read everything (up to a bound), then check: never
//! panics, hangs or allocates without bound.
#![no_main]

use libfuzzer_sys::fuzz_target;
use strata_disk::qcow2::{Qcow2Image, check, info};
use strata_disk::DiskImage;

/// Guest bytes read per input, so that a huge virtual size cannot make a run slow.
const MAX_READ: u64 = 8 << 20;

fuzz_target!(|data: &[u8]| {
    let Ok(img) = Qcow2Image::from_bytes(data.to_vec()) else { return };
    let size = img.virtual_size();
    let mut pos = 0;
    let mut steps = 0;
    while pos < size && steps < 4096 {
        match img.map(pos, size - pos) {
            Ok(e) => {
                assert!(e.length > 0 && e.offset == pos);
                pos = e.end();
            }
            Err(_) => break,
        }
        steps += 1;
    }
    let mut buf = vec![0u8; 64 << 10];
    let mut pos = 0;
    while pos < size.min(MAX_READ) {
        let n = (size - pos).min(buf.len() as u64) as usize;
        let _ = img.read_at(&mut buf[..n], pos);
        pos += n as u64;
    }
    let _ = check(&img, "fuzz.qcow2");
    let _ = info(&img, "fuzz.qcow2", None);
});
