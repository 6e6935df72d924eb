//! x86-64 kernels: AVX-512 (F + BW; the fused UTF-8 kernel also built for F + BW + VBMI), AVX2 and
//! the SSE2 baseline, and what they share: the [`Vector`] registers, the overlapping-window
//! unmasking of AVX2 and AVX-512, and the short tails.

pub(crate) mod avx2;
pub(crate) mod avx512;
pub(crate) mod avx512_utf8;
pub(crate) mod sse2;

use core::arch::x86_64::*;

use super::vector::{Vector, xor_four, xor_one};
use crate::key::advance;

/// [`Vector`] for x86-64 register types, one row each: the type, its width, and its intrinsics
/// for broadcast, unaligned load, aligned and unaligned store, XOR, OR, and the one that
/// gathers the bytes' high bits (a mask that is 0 when all bytes are ASCII).
macro_rules! x86_vectors {
    ($($t:ty, $lane:literal: $set1:ident, $loadu:ident, $store:ident, $storeu:ident,
       $xor:ident, $or:ident, $high_bits:ident;)*) => {$(
        impl Vector for $t {
            const LANE: usize = $lane;
            const ALIGN_BODY: bool = true;
            #[inline(always)]
            unsafe fn splat(key: u32) -> Self {
                // SAFETY: the caller runs with this type's features.
                unsafe { $set1(key as i32) }
            }
            #[inline(always)]
            unsafe fn load(p: *const u8) -> Self {
                // SAFETY: features as above; `LANE` readable bytes at `p`.
                unsafe { $loadu(p.cast()) }
            }
            #[inline(always)]
            unsafe fn store_aligned(self, p: *mut u8) {
                // SAFETY: features as above; `LANE` writable bytes at `p`, `LANE`-aligned.
                unsafe { $store(p.cast(), self) }
            }
            #[inline(always)]
            unsafe fn store(self, p: *mut u8) {
                // SAFETY: features as above; `LANE` writable bytes at `p`.
                unsafe { $storeu(p.cast(), self) }
            }
            #[inline(always)]
            unsafe fn xor(self, other: Self) -> Self {
                // SAFETY: features as above.
                unsafe { $xor(self, other) }
            }
            #[inline(always)]
            unsafe fn or(self, other: Self) -> Self {
                // SAFETY: features as above.
                unsafe { $or(self, other) }
            }
            #[inline(always)]
            unsafe fn is_ascii(self) -> bool {
                // SAFETY: features as above.
                unsafe { $high_bits(self) == 0 }
            }
        }
    )*};
}

x86_vectors! {
    __m128i, 16: _mm_set1_epi32, _mm_loadu_si128, _mm_store_si128, _mm_storeu_si128,
        _mm_xor_si128, _mm_or_si128, _mm_movemask_epi8;
    __m256i, 32: _mm256_set1_epi32, _mm256_loadu_si256, _mm256_store_si256, _mm256_storeu_si256,
        _mm256_xor_si256, _mm256_or_si256, _mm256_movemask_epi8;
    __m512i, 64: _mm512_set1_epi32, _mm512_loadu_si512, _mm512_store_si512, _mm512_storeu_si512,
        _mm512_xor_si512, _mm512_or_si512, _mm512_movepi8_mask;
}

/// XOR `len >= LANE` bytes from `src` into `dst` with the rotated key word `key`.
///
/// The first and the last `LANE` bytes are loaded before anything is stored; the body runs
/// from the first `LANE`-aligned destination address (×4 unrolled, aligned stores) as far as
/// whole vectors go; then the last window and (when `dst` is not aligned) the first window are
/// stored, re-writing the same unmasked values where they overlap the body. Head and tail cost
/// one load and one store each, whatever their length.
///
/// # Safety
/// `V`'s features are present; `len >= V::LANE`; `src` is valid for `len` reads and `dst` for
/// `len` writes; `src` and `dst` are either the same pointer or the ranges do not overlap.
#[inline(always)]
unsafe fn xor_windows<V: Vector>(src: *const u8, dst: *mut u8, len: usize, key: u32) {
    let last_at = len - V::LANE;
    // SAFETY: `len >= LANE`, so both windows are in bounds; loaded before any store.
    let (first, last) = unsafe { (V::load(src), V::load(src.add(last_at))) };
    let misalign = (dst as usize) & (V::LANE - 1);
    let head = if misalign == 0 { 0 } else { V::LANE - misalign };
    // SAFETY: `V`'s features are present (here and in every block below).
    let kv = unsafe { V::splat(advance(key, head)) };
    let mut i = head;
    while len - i >= 4 * V::LANE {
        // SAFETY: `i + 4 LANE <= len`; `dst + i` is aligned after the head; loads come
        // before stores, so `src == dst` is fine.
        unsafe { xor_four::<V, true>(src, dst, i, kv) };
        i += 4 * V::LANE;
    }
    while len - i >= V::LANE {
        // SAFETY: `i + LANE <= len`; `dst + i` is aligned.
        unsafe { xor_one::<V, true, true>(src, dst, i, kv) };
        i += V::LANE;
    }
    if i < len {
        // SAFETY: in bounds (above); loaded before the body changed any of it, so re-writing
        // the overlap stores the same unmasked values.
        unsafe {
            last.xor(V::splat(advance(key, last_at)))
                .store(dst.add(last_at))
        };
    }
    if head != 0 {
        // SAFETY: as for the last window.
        unsafe { first.xor(V::splat(key)).store(dst) };
    }
}

/// Fewer than 16 bytes as at most one 8-, 4-, 2- and 1-byte piece (as the bits of `n` say),
/// each byte stored once; all but the last two pieces keep the key phase.
///
/// # Safety
/// `n < 16`; `src` is valid for `n` reads and `dst` for `n` writes; same pointer or no overlap.
#[inline(always)]
pub(crate) unsafe fn xor_under_16(src: *const u8, dst: *mut u8, n: usize, key: u32) {
    let mut i = 0;
    if n & 8 != 0 {
        let k = (u64::from(key) << 32) | u64::from(key);
        // SAFETY: bit 3 of `n < 16` set: 8 bytes at 0 are in bounds; unaligned access is
        // explicit.
        unsafe {
            let v = src.cast::<u64>().read_unaligned();
            dst.cast::<u64>().write_unaligned(v ^ k);
        }
        i = 8;
    }
    if n & 4 != 0 {
        // SAFETY: `i` sums the higher bits of `n`, so 4 bytes at `i` are in bounds.
        unsafe {
            let v = src.add(i).cast::<u32>().read_unaligned();
            dst.add(i).cast::<u32>().write_unaligned(v ^ key);
        }
        i += 4;
    }
    // x86-64 is little-endian: the key word's low byte is the next key byte.
    let mut k = key;
    if n & 2 != 0 {
        // SAFETY: as above, 2 bytes at `i`.
        unsafe {
            let v = src.add(i).cast::<u16>().read_unaligned();
            dst.add(i).cast::<u16>().write_unaligned(v ^ k as u16);
        }
        k >>= 16;
        i += 2;
    }
    if n & 1 != 0 {
        // SAFETY: as above, the last byte.
        unsafe { *dst.add(i) = *src.add(i) ^ k as u8 };
    }
}

/// Fewer than 64 bytes, inlined into the caller (no call, no dispatch): 16-byte SSE2 steps
/// (SSE2 is part of x86-64), then 8, 4, 2 and 1 bytes, each byte stored once.
///
/// # Safety
/// `len < 64`; `src` is valid for `len` reads and `dst` for `len` writes; same pointer or no
/// overlap.
#[cfg(target_feature = "sse2")]
#[inline(always)]
pub(crate) unsafe fn xor_under_64(src: *const u8, dst: *mut u8, len: usize, key: u32) {
    // SAFETY: SSE2 is enabled for the whole build (the `cfg` above), here and below.
    let kv = unsafe { __m128i::splat(key) };
    let mut i = 0;
    while len - i >= 16 {
        // SAFETY: 16 bytes at `i` are in bounds; loaded before stored.
        unsafe { xor_one::<__m128i, true, false>(src, dst, i, kv) };
        i += 16;
    }
    // SAFETY: the last `len - i = len & 15` bytes at `i` are in bounds.
    unsafe { xor_under_16(src.add(i), dst.add(i), len & 15, key) };
}
