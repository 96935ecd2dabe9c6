//! [`is_zero`], the one test for all-zero bytes, which leaves zeros as holes: the convert engine
//! calls it on every granule, raw writes and the block plan's block moves on what they write. It
//! sits apart from the engine and the codecs so that neither imports the other for it.

/// Whether every byte of `buf` is zero (fast: compares 16-byte words).
pub(crate) fn is_zero(buf: &[u8]) -> bool {
    let (chunks, rest) = buf.as_chunks::<16>();
    chunks.iter().all(|c| u128::from_ne_bytes(*c) == 0) && rest.iter().all(|&b| b == 0)
}

#[cfg(test)]
mod tests {
    use super::*;

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
