//! AVX-512 (F + BW) unmasking kernel.
//!
//! Unmask (plain loads and stores only, see [`xor`]): the last 64 bytes as one window that may
//! overlap the block before it; under 256 bytes whole 64-byte blocks from the start before it;
//! from 256 bytes an aligned body of 4 × 64-byte load/xor/store per iteration, with the unaligned
//! first 64 bytes as another such window; under 64 bytes 32/16/8/4/2/1-byte steps.
//! The fused unmask + UTF-8 kernels are in [`super::avx512_utf8`].

use core::arch::x86_64::*;

use crate::arch::vector::{Vector, xor_one};
use crate::key::advance;

pub(crate) const LANE: usize = 64;

/// XOR `len` bytes from `src` into `dst` with the rotated key word `key`.
///
/// From 64 bytes on, the last 64 bytes are one window, loaded before anything is stored: its
/// store, last, may overlap the block before it and re-writes the same unmasked values there, so
/// a tail costs one load and one store whatever its length. Under 256 bytes (a SIP message in
/// one frame): whole 64-byte blocks from the start, then that last window. From 256 bytes: when
/// `dst` is not 64-byte aligned, the first 64 bytes are likewise loaded up front and stored after
/// the body; the aligned body is processed ×4 unrolled with aligned stores. Under 64 bytes:
/// 32/16/8/4/2/1-byte steps.
///
/// Only plain (not masked) stores: a load of exactly the bytes of one store is forwarded from
/// the store buffer, so a caller that reads 64-byte windows of the result right away does not
/// wait. (A load that spans the overlap of two stores does wait until they reach the cache.)
///
/// # Safety
/// The CPU supports AVX-512 F and BW and AVX2; `src` is valid for `len` reads and `dst` for
/// `len` writes; `src` and `dst` are either the same pointer or the ranges do not overlap.
#[target_feature(enable = "avx512f,avx512bw,avx2")]
pub(crate) unsafe fn xor(src: *const u8, dst: *mut u8, len: usize, key: u32) {
    if len < LANE {
        // SAFETY: `len < 64`, pointers as per our contract.
        unsafe { xor_short(src, dst, len, key) };
    } else if len < 4 * LANE {
        // SAFETY: `64 <= len < 256`, pointers as per our contract.
        unsafe { xor_under_256(src, dst, len, key) };
    } else {
        // SAFETY: AVX-512 F + BW are enabled here; `len >= 64`; pointers as per our contract.
        unsafe { super::xor_windows::<__m512i>(src, dst, len, key) };
    }
}

/// From 64 to 255 bytes: up to three blocks before the last window, all loaded before anything
/// is stored, the last window stored first, so that a later load of one whole block is
/// forwarded from that block's own store.
///
/// # Safety
/// As for [`xor`], with `64 <= len < 256`.
#[target_feature(enable = "avx512f,avx512bw,avx2")]
#[inline]
unsafe fn xor_under_256(src: *const u8, dst: *mut u8, len: usize, key: u32) {
    let kv = _mm512_set1_epi32(key as i32);
    let x = |v| _mm512_xor_si512(v, kv);
    let last_at = len - LANE;
    // SAFETY: `len >= 64`, so the last 64-byte window is in bounds; loaded before any store.
    let last_v = unsafe { _mm512_loadu_si512(src.add(last_at).cast()) };
    let last = _mm512_xor_si512(last_v, _mm512_set1_epi32(advance(key, last_at) as i32));
    // SAFETY: (each arm) block `j` is `[64 j, 64 j + 64)` with `64 j < last_at = len - 64`,
    // so in bounds; every load comes before every store (`src == dst` is fine), and a block
    // store re-writes the same unmasked values where it overlaps the last window.
    unsafe {
        let ld = |j: usize| _mm512_loadu_si512(src.add(j * LANE).cast());
        let st = |j: usize, v| _mm512_storeu_si512(dst.add(j * LANE).cast(), v);
        let st_last = |v| _mm512_storeu_si512(dst.add(last_at).cast(), v);
        match last_at.div_ceil(LANE) {
            0 => st_last(last),
            1 => {
                let a = ld(0);
                st_last(last);
                st(0, x(a));
            }
            2 => {
                let (a, b) = (ld(0), ld(1));
                st_last(last);
                st(0, x(a));
                st(1, x(b));
            }
            _ => {
                let (a, b, c) = (ld(0), ld(1), ld(2));
                st_last(last);
                st(0, x(a));
                st(1, x(b));
                st(2, x(c));
            }
        }
    }
}

/// Fewer than 64 bytes: 32- and 16-byte steps (both keep the key phase), then
/// [`super::xor_under_16`].
///
/// # Safety
/// As for [`xor`], with `len < 64`.
#[target_feature(enable = "avx512f,avx512bw,avx2")]
#[inline]
unsafe fn xor_short(src: *const u8, dst: *mut u8, len: usize, key: u32) {
    // SAFETY: AVX2 is enabled here (and SSE2 below).
    let kv = unsafe { __m256i::splat(key) };
    let mut i = 0;
    if len & 32 != 0 {
        // SAFETY: `len < 64`, so bit 5 set means 32 bytes at 0 are in bounds.
        unsafe { xor_one::<__m256i, true, false>(src, dst, 0, kv) };
        i = 32;
    }
    if len & 16 != 0 {
        // SAFETY: `i` sums the higher bits of `len`, so 16 bytes at `i` are in bounds.
        unsafe { xor_one::<__m128i, true, false>(src, dst, i, _mm256_castsi256_si128(kv)) };
        i += 16;
    }
    // SAFETY: the last `len & 15` bytes at `i` are in bounds.
    unsafe { super::xor_under_16(src.add(i), dst.add(i), len & 15, key) };
}
