//! [`is_zero`], the one test for all-zero bytes, which leaves zeros as holes: the convert engine
//! calls it on every granule, raw writes and the block plan's block moves on what they write;
//! and [`non_zero_runs`], which finds the blocks of [`ZERO_BLOCK`] bytes worth writing where a
//! file is still a hole. It sits apart from the engine and the codecs so that neither imports
//! the other for it.

/// The block at which zeros written into a hole are left as holes (the usual filesystem
/// block, and qemu-img's default `-S`): inside a data cluster or a table, as between them.
pub(crate) const ZERO_BLOCK: usize = 4096;

/// The runs of `buf`, to be written at file offset `offset`, that are worth writing over a
/// hole: `(start, end)` indices of `buf`, cut at file offsets that are multiples of
/// [`ZERO_BLOCK`], leaving out every such block that is all zeros.
pub(crate) fn non_zero_runs(buf: &[u8], offset: u64) -> Vec<(usize, usize)> {
    let mut runs: Vec<(usize, usize)> = Vec::new();
    let mut start = 0;
    while start < buf.len() {
        let to_boundary = ZERO_BLOCK - (offset + start as u64) as usize % ZERO_BLOCK;
        let end = (start + to_boundary).min(buf.len());
        if !is_zero(&buf[start..end]) {
            match runs.last_mut() {
                Some((_, e)) if *e == start => *e = end,
                _ => runs.push((start, end)),
            }
        }
        start = end;
    }
    runs
}

/// Whether every byte of `buf` is zero (fast: compares 16-byte words).
pub(crate) fn is_zero(buf: &[u8]) -> bool {
    let (chunks, rest) = buf.as_chunks::<16>();
    chunks.iter().all(|c| u128::from_ne_bytes(*c) == 0) && rest.iter().all(|&b| b == 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_zero_runs_skip_zero_blocks_at_file_offsets() {
        // 3 blocks from file offset 2048: a half block, two whole ones, a half.
        let mut buf = vec![0u8; 3 * ZERO_BLOCK];
        assert!(non_zero_runs(&buf, 2048).is_empty());
        buf[10] = 1; // in the first half block [0, 2048)
        buf[2048 + ZERO_BLOCK + 5] = 1; // in the second whole block
        buf[3 * ZERO_BLOCK - 1] = 1; // in the last half block
        assert_eq!(
            non_zero_runs(&buf, 2048),
            [(0, 2048), (2048 + ZERO_BLOCK, 3 * ZERO_BLOCK)]
        );
        assert_eq!(non_zero_runs(&[1, 0, 1], 0), [(0, 3)]);
    }

    #[test]
    fn is_zero_detects() {
        assert!(is_zero(&[0u8; 4097]));
        let mut b = vec![0u8; 4097];
        b[4096] = 1;
        assert!(!is_zero(&b));
        b[4096] = 0;
        b[3] = 1;
        assert!(!is_zero(&b));
    }
}
