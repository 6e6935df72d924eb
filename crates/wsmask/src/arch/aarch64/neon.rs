//! NEON kernels: 4 × 16-byte load/xor/store per iteration, then 16-byte steps and a byte tail;
//! the fused path proves "all ASCII" per 64 bytes (`vmaxvq_u8 < 0x80`) while unmasking and
//! leaves the validation of the first non-ASCII stretch onwards to the caller. The body is
//! [`crate::arch::vector::xor_ascii`], shared with SSE2 (without its aligning head: NEON
//! stores have no aligned form).
//!
//! Type-checked with `cargo check --target aarch64-unknown-linux-gnu`; the tests run on an
//! aarch64 host or under qemu-user.

use core::arch::aarch64::*;

use crate::arch::vector::Vector;

impl Vector for uint8x16_t {
    const LANE: usize = 16;
    const ALIGN_BODY: bool = false;
    #[inline(always)]
    unsafe fn splat(key: u32) -> Self {
        // SAFETY: the caller runs with NEON.
        unsafe { vreinterpretq_u8_u32(vdupq_n_u32(key)) }
    }
    #[inline(always)]
    unsafe fn load(p: *const u8) -> Self {
        // SAFETY: NEON as above; 16 readable bytes at `p`.
        unsafe { vld1q_u8(p) }
    }
    #[inline(always)]
    unsafe fn store_aligned(self, p: *mut u8) {
        // SAFETY: NEON as above; 16 writable bytes at `p` (no alignment needed).
        unsafe { vst1q_u8(p, self) }
    }
    #[inline(always)]
    unsafe fn store(self, p: *mut u8) {
        // SAFETY: NEON as above; 16 writable bytes at `p`.
        unsafe { vst1q_u8(p, self) }
    }
    #[inline(always)]
    unsafe fn xor(self, other: Self) -> Self {
        // SAFETY: NEON as above.
        unsafe { veorq_u8(self, other) }
    }
    #[inline(always)]
    unsafe fn or(self, other: Self) -> Self {
        // SAFETY: NEON as above.
        unsafe { vorrq_u8(self, other) }
    }
    #[inline(always)]
    unsafe fn is_ascii(self) -> bool {
        // SAFETY: NEON as above.
        unsafe { vmaxvq_u8(self) < 0x80 }
    }
}

crate::arch::vector::ascii_kernels!("neon", uint8x16_t);
