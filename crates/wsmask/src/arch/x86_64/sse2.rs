//! SSE2 kernels (the x86-64 baseline): 16-byte vectors, byte head up to a 16-byte aligned
//! destination, 4 × 16-byte aligned body, byte tail. SSE2 has no byte shuffle, so the fused
//! path only proves "all ASCII" per 64 bytes while unmasking; from the first non-ASCII block on
//! it just unmasks and leaves the validation of that stretch to the caller.

use crate::arch::Proof;
use core::arch::x86_64::*;

use super::xor_bytes;
use crate::key::advance;

const LANE: usize = 16;

/// XOR `len` bytes from `src` into `dst` with the rotated key word `key`; returns the length of
/// the all-ASCII prefix (whole 64-byte steps) when `CHECK_ASCII`, else 0.
///
/// # Safety
/// `src` is valid for `len` reads and `dst` for `len` writes (unless `STORE` is false); `src`
/// and `dst` are either the same pointer or the ranges do not overlap.
#[target_feature(enable = "sse2")]
unsafe fn xor_impl<const STORE: bool, const CHECK_ASCII: bool>(
    src: *const u8,
    dst: *mut u8,
    len: usize,
    key: u32,
) -> usize {
    let anchor = if STORE { dst as usize } else { src as usize };
    let misalign = anchor & (LANE - 1);
    let head = if misalign == 0 {
        0
    } else {
        (LANE - misalign).min(len)
    };
    let mut ascii = CHECK_ASCII;
    let mut ascii_upto = 0;
    if STORE {
        // SAFETY: `head <= len` bytes, in bounds of both ranges.
        unsafe { xor_bytes(src, dst, head, key) };
    }
    if CHECK_ASCII {
        let source: *const u8 = if STORE { dst } else { src };
        // SAFETY: the `head` bytes just written (or read) are in bounds.
        let head_bytes = unsafe { core::slice::from_raw_parts(source, head) };
        ascii = head_bytes.is_ascii();
        if ascii {
            ascii_upto = head;
        }
    }
    let mut i = head;
    let k = advance(key, head);
    let kv = _mm_set1_epi32(k as i32);
    while len - i >= 4 * LANE {
        // SAFETY: `i + 64 <= len`; `dst + i` is 16-byte aligned after the head. Loads come before
        // stores, so `src == dst` is fine.
        let (a, b, c, e) = unsafe {
            let s = src.add(i);
            (
                _mm_xor_si128(_mm_loadu_si128(s.cast()), kv),
                _mm_xor_si128(_mm_loadu_si128(s.add(LANE).cast()), kv),
                _mm_xor_si128(_mm_loadu_si128(s.add(2 * LANE).cast()), kv),
                _mm_xor_si128(_mm_loadu_si128(s.add(3 * LANE).cast()), kv),
            )
        };
        if STORE {
            // SAFETY: as above.
            unsafe {
                let d = dst.add(i);
                _mm_store_si128(d.cast(), a);
                _mm_store_si128(d.add(LANE).cast(), b);
                _mm_store_si128(d.add(2 * LANE).cast(), c);
                _mm_store_si128(d.add(3 * LANE).cast(), e);
            }
        }
        i += 4 * LANE;
        if ascii {
            let any = _mm_or_si128(_mm_or_si128(a, b), _mm_or_si128(c, e));
            if _mm_movemask_epi8(any) == 0 {
                ascii_upto = i;
            } else {
                ascii = false;
                if !STORE {
                    return ascii_upto;
                }
            }
        }
    }
    if STORE {
        while len - i >= LANE {
            // SAFETY: `i + 16 <= len`; `dst + i` is 16-byte aligned.
            unsafe {
                let v = _mm_loadu_si128(src.add(i).cast());
                _mm_store_si128(dst.add(i).cast(), _mm_xor_si128(v, kv));
            }
            i += LANE;
        }
        // SAFETY: the remaining `len - i < 16` bytes are in bounds.
        unsafe { xor_bytes(src.add(i), dst.add(i), len - i, k) };
    }
    ascii_upto
}

/// XOR `len` bytes from `src` into `dst` with the rotated key word `key`.
///
/// # Safety
/// See [`xor_impl`].
#[target_feature(enable = "sse2")]
pub(crate) unsafe fn xor(src: *const u8, dst: *mut u8, len: usize, key: u32) {
    // SAFETY: forwarded contract.
    unsafe { xor_impl::<true, false>(src, dst, len, key) };
}

/// Fused XOR (+ store when `STORE`) and ASCII check: returns the all-ASCII prefix length, which
/// is "validated" in the sense of the AVX-512 twin; the caller validates the rest.
///
/// # Safety
/// See [`xor_impl`].
#[target_feature(enable = "sse2")]
pub(crate) unsafe fn xor_validate<const STORE: bool>(
    src: *const u8,
    dst: *mut u8,
    len: usize,
    key: u32,
) -> Proof {
    Proof {
        // SAFETY: forwarded contract.
        proven: unsafe { xor_impl::<STORE, true>(src, dst, len, key) },
        ends_complete: false,
    }
}
