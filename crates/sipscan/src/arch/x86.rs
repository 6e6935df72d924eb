//! SSE2, AVX2 and AVX-512BW kernels for x86-64.

use super::{BATCH, Kernel, fill_masks};
use core::arch::x86_64::*;

/// Push the kernels this CPU supports, best first.
pub(super) fn push_available(v: &mut Vec<Kernel>) {
    if is_x86_feature_detected!("avx512bw") {
        v.push(Kernel {
            name: "avx512bw",
            lf_mask: lf_mask_avx512_entry,
            lf_masks: lf_masks_avx512_entry,
        });
    }
    if is_x86_feature_detected!("avx2") {
        v.push(Kernel {
            name: "avx2",
            lf_mask: lf_mask_avx2_entry,
            lf_masks: lf_masks_avx2_entry,
        });
    }
    // SSE2 is part of the x86-64 baseline.
    v.push(Kernel {
        name: "sse2",
        lf_mask: lf_mask_sse2,
        lf_masks: lf_masks_sse2,
    });
}

/// SSE2 kernel (baseline on x86-64).
pub fn lf_mask_sse2(block: &[u8; 64]) -> u64 {
    // SAFETY: SSE2 is part of the x86-64 baseline, always present.
    unsafe { lf_mask_sse2_impl(block) }
}

#[target_feature(enable = "sse2")]
fn lf_mask_sse2_impl(block: &[u8; 64]) -> u64 {
    let nl = _mm_set1_epi8(b'\n' as i8);
    let mut m = 0u64;
    for (i, chunk) in block.chunks_exact(16).enumerate() {
        // SAFETY: `chunk` is exactly 16 readable bytes; `loadu` has no alignment need.
        let v = unsafe { _mm_loadu_si128(chunk.as_ptr().cast()) };
        let bits = _mm_movemask_epi8(_mm_cmpeq_epi8(v, nl)) as u32 as u64;
        m |= bits << (16 * i);
    }
    m
}

#[target_feature(enable = "avx2")]
fn lf_mask_avx2(block: &[u8; 64]) -> u64 {
    let nl = _mm256_set1_epi8(b'\n' as i8);
    // SAFETY: `block` is 64 readable bytes; both unaligned loads stay inside it.
    let (lo, hi) = unsafe {
        (
            _mm256_loadu_si256(block.as_ptr().cast()),
            _mm256_loadu_si256(block.as_ptr().add(32).cast()),
        )
    };
    let lo = _mm256_movemask_epi8(_mm256_cmpeq_epi8(lo, nl)) as u32 as u64;
    let hi = _mm256_movemask_epi8(_mm256_cmpeq_epi8(hi, nl)) as u32 as u64;
    lo | (hi << 32)
}

fn lf_mask_avx2_entry(block: &[u8; 64]) -> u64 {
    // SAFETY: this entry is handed out by `push_available` only after
    // `is_x86_feature_detected!("avx2")` returned true.
    unsafe { lf_mask_avx2(block) }
}

#[target_feature(enable = "avx512bw")]
fn lf_mask_avx512(block: &[u8; 64]) -> u64 {
    // SAFETY: `block` is exactly 64 readable bytes; the load is unaligned.
    let v = unsafe { _mm512_loadu_si512(block.as_ptr().cast()) };
    _mm512_cmpeq_epi8_mask(v, _mm512_set1_epi8(b'\n' as i8))
}

fn lf_mask_avx512_entry(block: &[u8; 64]) -> u64 {
    // SAFETY: handed out by `push_available` only after
    // `is_x86_feature_detected!("avx512bw")` returned true.
    unsafe { lf_mask_avx512(block) }
}

/// [`lf_mask_sse2`] on up to [`BATCH`] blocks.
pub fn lf_masks_sse2(bytes: &[u8], out: &mut [u64; BATCH]) {
    // SAFETY: SSE2 is part of the x86-64 baseline, always present.
    unsafe { lf_masks_sse2_impl(bytes, out) }
}

#[target_feature(enable = "sse2")]
fn lf_masks_sse2_impl(bytes: &[u8], out: &mut [u64; BATCH]) {
    fill_masks(bytes, out, |b| lf_mask_sse2_impl(b));
}

#[target_feature(enable = "avx2")]
fn lf_masks_avx2(bytes: &[u8], out: &mut [u64; BATCH]) {
    fill_masks(bytes, out, |b| lf_mask_avx2(b));
}

fn lf_masks_avx2_entry(bytes: &[u8], out: &mut [u64; BATCH]) {
    // SAFETY: handed out by `push_available` only after
    // `is_x86_feature_detected!("avx2")` returned true.
    unsafe { lf_masks_avx2(bytes, out) }
}

#[target_feature(enable = "avx512bw")]
fn lf_masks_avx512(bytes: &[u8], out: &mut [u64; BATCH]) {
    fill_masks(bytes, out, |b| lf_mask_avx512(b));
}

fn lf_masks_avx512_entry(bytes: &[u8], out: &mut [u64; BATCH]) {
    // SAFETY: handed out by `push_available` only after
    // `is_x86_feature_detected!("avx512bw")` returned true.
    unsafe { lf_masks_avx512(bytes, out) }
}
