//! SSE2 kernels (the x86-64 baseline): 16-byte vectors, byte head up to a 16-byte aligned
//! destination, 4 × 16-byte aligned body, byte tail. SSE2 has no byte shuffle, so the fused
//! path only proves "all ASCII" per 64 bytes while unmasking; from the first non-ASCII block on
//! it just unmasks and leaves the validation of that stretch to the caller. The body is
//! [`crate::arch::vector::xor_ascii`], shared with NEON.

use core::arch::x86_64::__m128i;

crate::arch::vector::ascii_kernels!("sse2", __m128i);
