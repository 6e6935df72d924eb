//! Portable reference kernel.

/// Bit `i` set when `block[i] == b'\n'`.
pub fn lf_mask(block: &[u8; 64]) -> u64 {
    let mut m = 0u64;
    for (i, &b) in block.iter().enumerate() {
        m |= u64::from(b == b'\n') << i;
    }
    m
}

/// [`lf_mask`] on up to [`super::BATCH`] blocks.
pub fn lf_masks(bytes: &[u8], out: &mut [u64; super::BATCH]) {
    super::fill_masks(bytes, out, lf_mask);
}
