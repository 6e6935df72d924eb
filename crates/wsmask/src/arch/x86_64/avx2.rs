//! AVX2 kernels: 32-byte vectors; unmasking does an aligned 4 × 32-byte body with the first and
//! last 32 bytes as overlapping windows (see [`xor`]); the fused path runs the lookup UTF-8 algorithm
//! on 32-byte blocks, the last partial block through a zero-padded stack block.

use core::arch::x86_64::*;

use super::xor_bytes;
use crate::arch::Proof;
use crate::key::advance;
use crate::utf8_tables::{
    BYTE_1_HIGH, BYTE_1_LOW, BYTE_2_HIGH, FOURTH_BYTE_BIAS, THIRD_BYTE_BIAS, words,
};

const LANE: usize = 32;

/// XOR `len` bytes from `src` into `dst` with the rotated key word `key`.
///
/// Under 32 bytes: byte by byte. From 32 bytes: the first and the last 32 bytes are loaded before
/// anything is stored; the body runs from the first 32-byte aligned destination address (×4
/// unrolled, aligned stores) as far as whole vectors go; then the last window and (when `dst`
/// is not aligned) the first window are stored, re-writing the same unmasked values where they
/// overlap the body. Head and tail cost one load and one store each, whatever their length.
///
/// # Safety
/// The CPU supports AVX2; `src` is valid for `len` reads and `dst` for `len` writes; `src` and
/// `dst` are either the same pointer or the ranges do not overlap.
#[target_feature(enable = "avx2")]
pub(crate) unsafe fn xor(src: *const u8, dst: *mut u8, len: usize, key: u32) {
    if len < LANE {
        // SAFETY: `len` bytes, in bounds of both ranges.
        unsafe { xor_bytes(src, dst, len, key) };
        return;
    }
    let last_at = len - LANE;
    // SAFETY: `len >= 32`, so both windows are in bounds; loaded before any store.
    let (first, last) = unsafe {
        (
            _mm256_loadu_si256(src.cast()),
            _mm256_loadu_si256(src.add(last_at).cast()),
        )
    };
    let misalign = (dst as usize) & (LANE - 1);
    let head = if misalign == 0 { 0 } else { LANE - misalign };
    let mut i = head;
    let kv = _mm256_set1_epi32(advance(key, head) as i32);
    while len - i >= 4 * LANE {
        // SAFETY: `i + 128 <= len`; `dst + i` is 32-byte aligned after the head. Loads come
        // before stores, so `src == dst` is fine.
        unsafe {
            let s = src.add(i);
            let d = dst.add(i);
            let a = _mm256_loadu_si256(s.cast());
            let b = _mm256_loadu_si256(s.add(LANE).cast());
            let c = _mm256_loadu_si256(s.add(2 * LANE).cast());
            let e = _mm256_loadu_si256(s.add(3 * LANE).cast());
            _mm256_store_si256(d.cast(), _mm256_xor_si256(a, kv));
            _mm256_store_si256(d.add(LANE).cast(), _mm256_xor_si256(b, kv));
            _mm256_store_si256(d.add(2 * LANE).cast(), _mm256_xor_si256(c, kv));
            _mm256_store_si256(d.add(3 * LANE).cast(), _mm256_xor_si256(e, kv));
        }
        i += 4 * LANE;
    }
    while len - i >= LANE {
        // SAFETY: `i + 32 <= len`; `dst + i` is 32-byte aligned.
        unsafe {
            let v = _mm256_loadu_si256(src.add(i).cast());
            _mm256_store_si256(dst.add(i).cast(), _mm256_xor_si256(v, kv));
        }
        i += LANE;
    }
    if i < len {
        let last_kv = _mm256_set1_epi32(advance(key, last_at) as i32);
        // SAFETY: in bounds (above); loaded before the body changed any of it, so re-writing
        // the overlap stores the same unmasked values.
        unsafe { _mm256_storeu_si256(dst.add(last_at).cast(), _mm256_xor_si256(last, last_kv)) };
    }
    if head != 0 {
        let first_kv = _mm256_set1_epi32(key as i32);
        // SAFETY: as for the last window.
        unsafe { _mm256_storeu_si256(dst.cast(), _mm256_xor_si256(first, first_kv)) };
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

/// Fused XOR (+ store when `STORE`) and UTF-8 validation; see the AVX-512 twin for the contract.
///
/// # Safety
/// As for [`xor`]; when `STORE` is false `dst` is not used.
#[target_feature(enable = "avx2")]
pub(crate) unsafe fn xor_validate<const STORE: bool>(
    src: *const u8,
    dst: *mut u8,
    len: usize,
    key: u32,
) -> Proof {
    let mut st = Utf8Blocks::new();
    let kv = _mm256_set1_epi32(key as i32);
    let mut i = 0usize;
    while len - i >= LANE {
        // SAFETY: `i + 32 <= len`.
        let v = unsafe { _mm256_xor_si256(_mm256_loadu_si256(src.add(i).cast()), kv) };
        if STORE {
            // SAFETY: as above.
            unsafe { _mm256_storeu_si256(dst.add(i).cast(), v) };
        }
        st.block(v);
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
}
