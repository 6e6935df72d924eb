//! AVX2 kernels: 32-byte vectors; unmasking does an aligned 4 × 32-byte body with the first and
//! last 32 bytes as overlapping windows (see [`xor`]); the fused path runs the lookup UTF-8 algorithm
//! on 32-byte blocks, the last partial block through a zero-padded stack block.

use core::arch::x86_64::*;

use crate::arch::Proof;
use crate::arch::vector::{Vector, xor_bytes, xor_one};
use crate::utf8_tables::{
    BYTE_1_HIGH, BYTE_1_LOW, BYTE_2_HIGH, FOURTH_BYTE_BIAS, THIRD_BYTE_BIAS, words,
};

const LANE: usize = 32;

/// XOR `len` bytes from `src` into `dst` with the rotated key word `key`: under 32 bytes byte
/// by byte, from 32 bytes with overlapping first and last windows around an aligned body
/// ([`super::xor_windows`]).
///
/// # Safety
/// The CPU supports AVX2; `src` is valid for `len` reads and `dst` for `len` writes; `src` and
/// `dst` are either the same pointer or the ranges do not overlap.
#[target_feature(enable = "avx2")]
pub(crate) unsafe fn xor(src: *const u8, dst: *mut u8, len: usize, key: u32) {
    if len < LANE {
        // SAFETY: `len` bytes, in bounds of both ranges.
        unsafe { xor_bytes(src, dst, len, key) };
    } else {
        // SAFETY: AVX2 is enabled here; `len >= 32`; pointers as per our contract.
        unsafe { super::xor_windows::<__m256i>(src, dst, len, key) };
    }
}

/// Carried state of the lookup validator between 32-byte blocks.
struct Utf8Blocks {
    prev: __m256i,
    prev_incomplete: __m256i,
    error: __m256i,
    byte_1_high: __m256i,
    byte_1_low: __m256i,
    byte_2_high: __m256i,
    incomplete_max: __m256i,
}

#[target_feature(enable = "avx2")]
fn table(t: &[u8; 16]) -> __m256i {
    let [a, b, c, d] = words(t);
    _mm256_setr_epi32(a, b, c, d, a, b, c, d)
}

impl Utf8Blocks {
    #[target_feature(enable = "avx2")]
    fn new() -> Self {
        let last = i32::from_ne_bytes([0xFF, 0xF0 - 1, 0xE0 - 1, 0xC0 - 1]);
        Self {
            prev: _mm256_setzero_si256(),
            prev_incomplete: _mm256_setzero_si256(),
            error: _mm256_setzero_si256(),
            byte_1_high: table(&BYTE_1_HIGH),
            byte_1_low: table(&BYTE_1_LOW),
            byte_2_high: table(&BYTE_2_HIGH),
            incomplete_max: _mm256_setr_epi32(-1, -1, -1, -1, -1, -1, -1, last),
        }
    }

    #[target_feature(enable = "avx2")]
    #[inline]
    fn lookup(&self, input: __m256i) -> __m256i {
        // [prev.high, input.low]: per-lane byte align against `input` gives bytes 1..3 back.
        let shifted = _mm256_permute2x128_si256::<0x21>(self.prev, input);
        let prev1 = _mm256_alignr_epi8::<15>(input, shifted);
        let prev2 = _mm256_alignr_epi8::<14>(input, shifted);
        let prev3 = _mm256_alignr_epi8::<13>(input, shifted);
        let nibble = _mm256_set1_epi8(0x0F);
        let p1_high = _mm256_and_si256(_mm256_srli_epi16::<4>(prev1), nibble);
        let p1_low = _mm256_and_si256(prev1, nibble);
        let in_high = _mm256_and_si256(_mm256_srli_epi16::<4>(input), nibble);
        let special = _mm256_and_si256(
            _mm256_and_si256(
                _mm256_shuffle_epi8(self.byte_1_high, p1_high),
                _mm256_shuffle_epi8(self.byte_1_low, p1_low),
            ),
            _mm256_shuffle_epi8(self.byte_2_high, in_high),
        );
        let third = _mm256_subs_epu8(prev2, _mm256_set1_epi8(THIRD_BYTE_BIAS as i8));
        let fourth = _mm256_subs_epu8(prev3, _mm256_set1_epi8(FOURTH_BYTE_BIAS as i8));
        let must_be_cont = _mm256_and_si256(
            _mm256_or_si256(third, fourth),
            _mm256_set1_epi8(0x80u8 as i8),
        );
        _mm256_xor_si256(must_be_cont, special)
    }

    /// Check one full block.
    #[target_feature(enable = "avx2")]
    #[inline]
    fn block(&mut self, input: __m256i) {
        if _mm256_movemask_epi8(input) == 0 {
            self.error = _mm256_or_si256(self.error, self.prev_incomplete);
        } else {
            self.error = _mm256_or_si256(self.error, self.lookup(input));
            self.prev_incomplete = _mm256_subs_epu8(input, self.incomplete_max);
        }
        self.prev = input;
    }

    /// Check the last, zero-padded block: errors in the `real` lanes (0xFF) are errors; errors
    /// in the padding lanes mean the input ends inside a code point.
    #[target_feature(enable = "avx2")]
    #[inline]
    fn last_block(&mut self, input: __m256i, real: __m256i) {
        if _mm256_movemask_epi8(input) == 0 {
            self.error = _mm256_or_si256(self.error, self.prev_incomplete);
            self.prev_incomplete = _mm256_setzero_si256();
        } else {
            let e = self.lookup(input);
            self.error = _mm256_or_si256(self.error, _mm256_and_si256(e, real));
            self.prev_incomplete = _mm256_andnot_si256(real, e);
        }
    }

    #[target_feature(enable = "avx2")]
    fn proof(&self, len: usize) -> Proof {
        if _mm256_testz_si256(self.error, self.error) == 0 {
            return Proof::NONE;
        }
        Proof {
            proven: len,
            ends_complete: _mm256_testz_si256(self.prev_incomplete, self.prev_incomplete) == 1,
        }
    }
}

// The fused kernel: 32-byte blocks through the lookup validator, the last partial block through
// a zero-padded copy on the stack.
crate::arch::vector::fused_kernel_fn!("avx2", |src, dst, len, key| {
    let mut st = Utf8Blocks::new();
    // SAFETY: AVX2 is enabled here.
    let kv = unsafe { __m256i::splat(key) };
    let mut i = 0usize;
    while len - i >= LANE {
        // SAFETY: AVX2 is enabled here; `i + 32 <= len`.
        st.block(unsafe { xor_one::<__m256i, STORE, false>(src, dst, i, kv) });
        i += LANE;
    }
    let rest = len - i;
    if rest != 0 {
        let mut block = [0u8; LANE];
        // SAFETY: `rest < 32` bytes from `src + i` are in bounds; `block` holds 32.
        unsafe { core::ptr::copy_nonoverlapping(src.add(i), block.as_mut_ptr(), rest) };
        // Whole 32-byte blocks keep the key phase, so `key` still applies at `i`.
        for (j, b) in block.iter_mut().take(rest).enumerate() {
            *b ^= key.to_ne_bytes()[j & 3];
        }
        if STORE {
            // SAFETY: `rest` bytes at `dst + i` are in bounds; `block` is a separate buffer.
            unsafe { core::ptr::copy_nonoverlapping(block.as_ptr(), dst.add(i), rest) };
        }
        let mut real = [0u8; LANE];
        real.iter_mut().take(rest).for_each(|r| *r = 0xFF);
        // SAFETY: both arrays are 32 readable bytes.
        let (v, r) = unsafe {
            (
                _mm256_loadu_si256(block.as_ptr().cast()),
                _mm256_loadu_si256(real.as_ptr().cast()),
            )
        };
        st.last_block(v, r);
    }
    st.proof(len)
});
