//! NEON kernels: 4 × 16-byte load/xor/store per iteration; the fused path proves "all ASCII"
//! per 64 bytes (`vmaxvq_u8 < 0x80`) while unmasking and leaves the validation of the first
//! non-ASCII stretch onwards to the caller (like the SSE2 kernel).
//!
//! Built and type-checked with `cargo check --target aarch64-unknown-linux-gnu`; this machine
//! cannot run aarch64 code, so its tests run only on aarch64 hosts.

use crate::arch::Proof;
use core::arch::aarch64::*;

const LANE: usize = 16;

/// Byte-at-a-time XOR for tails shorter than one vector.
///
/// # Safety
/// `src` is valid for `n` reads and `dst` for `n` writes; same pointer or no overlap.
#[inline]
unsafe fn xor_bytes(src: *const u8, dst: *mut u8, n: usize, key: u32) {
    let k = key.to_ne_bytes();
    for j in 0..n {
        // SAFETY: `j < n`, in bounds by the contract.
        unsafe { *dst.add(j) = *src.add(j) ^ k[j & 3] };
    }
}

/// XOR (+ store when `STORE`); returns the all-ASCII prefix length when `CHECK_ASCII`.
///
/// # Safety
/// The CPU supports NEON; `src` is valid for `len` reads and `dst` for `len` writes (unless
/// `STORE` is false); `src` and `dst` are either the same pointer or do not overlap.
#[target_feature(enable = "neon")]
unsafe fn xor_impl<const STORE: bool, const CHECK_ASCII: bool>(
    src: *const u8,
    dst: *mut u8,
    len: usize,
    key: u32,
) -> usize {
    let kv = vreinterpretq_u8_u32(vdupq_n_u32(key));
    let mut ascii = CHECK_ASCII;
    let mut ascii_upto = 0;
    let mut i = 0usize;
    while len - i >= 4 * LANE {
        // SAFETY: `i + 64 <= len`; loads come before stores, so `src == dst` is fine.
        let (a, b, c, e) = unsafe {
            let s = src.add(i);
            (
                veorq_u8(vld1q_u8(s), kv),
                veorq_u8(vld1q_u8(s.add(LANE)), kv),
                veorq_u8(vld1q_u8(s.add(2 * LANE)), kv),
                veorq_u8(vld1q_u8(s.add(3 * LANE)), kv),
            )
        };
        if STORE {
            // SAFETY: as above.
            unsafe {
                let d = dst.add(i);
                vst1q_u8(d, a);
                vst1q_u8(d.add(LANE), b);
                vst1q_u8(d.add(2 * LANE), c);
                vst1q_u8(d.add(3 * LANE), e);
            }
        }
        i += 4 * LANE;
        if ascii {
            let any = vorrq_u8(vorrq_u8(a, b), vorrq_u8(c, e));
            if vmaxvq_u8(any) < 0x80 {
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
        // SAFETY: the remaining `len - i < 64` bytes are in bounds; whole 64-byte steps keep
        // the key phase.
        unsafe { xor_bytes(src.add(i), dst.add(i), len - i, key) };
    }
    ascii_upto
}

/// XOR `len` bytes from `src` into `dst` with the rotated key word `key`.
///
/// # Safety
/// See [`xor_impl`].
#[target_feature(enable = "neon")]
pub(crate) unsafe fn xor(src: *const u8, dst: *mut u8, len: usize, key: u32) {
    // SAFETY: forwarded contract.
    unsafe { xor_impl::<true, false>(src, dst, len, key) };
}

/// Fused XOR and ASCII check; returns the all-ASCII prefix length.
///
/// # Safety
/// See [`xor_impl`].
#[target_feature(enable = "neon")]
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
