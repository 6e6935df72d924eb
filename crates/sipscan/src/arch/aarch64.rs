//! NEON kernel for aarch64 (NEON is baseline there).

use core::arch::aarch64::*;

/// NEON kernel: compare, weight each lane by its bit, pairwise-add down to 64 bits.
pub fn lf_mask_neon(block: &[u8; 64]) -> u64 {
    const WEIGHTS: [u8; 16] = [1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128];
    // SAFETY: NEON is mandatory on aarch64; every load reads 16 bytes inside `block`
    // (offsets 0, 16, 32, 48) or inside the 16-byte `WEIGHTS` array.
    unsafe {
        let nl = vdupq_n_u8(b'\n');
        let w = vld1q_u8(WEIGHTS.as_ptr());
        let p = block.as_ptr();
        let t0 = vandq_u8(vceqq_u8(vld1q_u8(p), nl), w);
        let t1 = vandq_u8(vceqq_u8(vld1q_u8(p.add(16)), nl), w);
        let t2 = vandq_u8(vceqq_u8(vld1q_u8(p.add(32)), nl), w);
        let t3 = vandq_u8(vceqq_u8(vld1q_u8(p.add(48)), nl), w);
        let s0 = vpaddq_u8(t0, t1);
        let s1 = vpaddq_u8(t2, t3);
        let s = vpaddq_u8(s0, s1);
        let s = vpaddq_u8(s, s);
        vgetq_lane_u64(vreinterpretq_u64_u8(s), 0)
    }
}

/// [`lf_mask_neon`] on up to [`super::BATCH`] blocks.
pub fn lf_masks_neon(bytes: &[u8], out: &mut [u64; super::BATCH]) {
    super::fill_masks(bytes, out, lf_mask_neon);
}
