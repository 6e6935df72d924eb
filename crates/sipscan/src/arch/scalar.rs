//! Portable reference kernel.

/// Bit `i` set when `block[i] == b'\n'`.
pub fn lf_mask(block: &[u8; 64]) -> u64 {
    let mut m = 0u64;
    for (i, &b) in block.iter().enumerate() {
        m |= u64::from(b == b'\n') << i;
    }
    m
}
