//! AVX-512 (F + BW) kernels.
//!
//! Unmask (plain loads and stores only, see [`xor`]): the last 64 bytes as one window that may
//! overlap the block before it; under 256 bytes whole 64-byte blocks from the start before it;
//! from 256 bytes an aligned body of 4 × 64-byte load/xor/store per iteration, with the unaligned
//! first 64 bytes as another such window; under 64 bytes 32/16/8/4/2/1-byte steps.
//! Fused unmask + UTF-8: 64-byte blocks (a masked load and store for the last partial one), each unmasked block is stored and, while still in
//! a register, checked for "all ASCII" (one `vpmovb2m`); non-ASCII blocks go through the lookup
//! algorithm (three `vpshufb` table lookups plus the 3rd/4th-byte check).

use core::arch::x86_64::*;

use crate::arch::Proof;
use crate::key::{advance, retreat};
use crate::utf8_tables::{
    BYTE_1_HIGH, BYTE_1_LOW, BYTE_2_HIGH, FOURTH_BYTE_BIAS, THIRD_BYTE_BIAS, words,
};

const LANE: usize = 64;

/// Mask with the low `n` bits set (`n` may be 64).
#[inline]
fn low_bits(n: usize) -> u64 {
    if n >= LANE { u64::MAX } else { (1u64 << n) - 1 }
}

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
    let kv = _mm512_set1_epi32(key as i32);
    if len < LANE {
        // SAFETY: `len < 64`, pointers as per our contract.
        unsafe { xor_short(src, dst, len, key, kv) };
        return;
    }
    let last_at = len - LANE;
    // SAFETY: `len >= 64`, so the last 64-byte window is in bounds; loaded before any store.
    let last_v = unsafe { _mm512_loadu_si512(src.add(last_at).cast()) };
    let last_kv = _mm512_set1_epi32(advance(key, last_at) as i32);
    if len < 4 * LANE {
        // Up to three blocks before the last window: all loaded before anything is stored, the
        // last window stored first, so that a later load of one whole block is forwarded from
        // that block's own store.
        let x = |v| _mm512_xor_si512(v, kv);
        let last = _mm512_xor_si512(last_v, last_kv);
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
        return;
    }
    let misalign = (dst as usize) & (LANE - 1);
    let head = if misalign == 0 { 0 } else { LANE - misalign };
    // SAFETY: `len >= 256`, so the first 64-byte window is in bounds; loaded before any store.
    let first_v = unsafe { _mm512_loadu_si512(src.cast()) };
    let body_kv = _mm512_set1_epi32(advance(key, head) as i32);
    let mut i = head;
    while len - i >= 4 * LANE {
        // SAFETY: `i + 256 <= len`; `dst + i` is 64-byte aligned. Loads come before stores, so
        // `src == dst` is fine.
        unsafe {
            let s = src.add(i);
            let d = dst.add(i);
            let a = _mm512_loadu_si512(s.cast());
            let b = _mm512_loadu_si512(s.add(LANE).cast());
            let c = _mm512_loadu_si512(s.add(2 * LANE).cast());
            let e = _mm512_loadu_si512(s.add(3 * LANE).cast());
            _mm512_store_si512(d.cast(), _mm512_xor_si512(a, body_kv));
            _mm512_store_si512(d.add(LANE).cast(), _mm512_xor_si512(b, body_kv));
            _mm512_store_si512(d.add(2 * LANE).cast(), _mm512_xor_si512(c, body_kv));
            _mm512_store_si512(d.add(3 * LANE).cast(), _mm512_xor_si512(e, body_kv));
        }
        i += 4 * LANE;
    }
    while len - i >= LANE {
        // SAFETY: `i + 64 <= len`; `dst + i` is 64-byte aligned.
        unsafe {
            let v = _mm512_loadu_si512(src.add(i).cast());
            _mm512_store_si512(dst.add(i).cast(), _mm512_xor_si512(v, body_kv));
        }
        i += LANE;
    }
    if i < len {
        // SAFETY: the last window is in bounds and was loaded before the body changed any of
        // it, so re-writing the overlap stores the same unmasked values.
        unsafe { _mm512_storeu_si512(dst.add(last_at).cast(), _mm512_xor_si512(last_v, last_kv)) };
    }
    if head != 0 {
        // SAFETY: the first 64 bytes are in bounds; they were loaded before the body changed
        // any of them, so re-writing the overlap stores the same unmasked values.
        unsafe { _mm512_storeu_si512(dst.cast(), _mm512_xor_si512(first_v, kv)) };
    }
}

/// Fewer than 64 bytes: 32-, 16-, 8- and 4-byte steps (all keep the key phase), then 2 and 1;
/// `kv` is `key` broadcast (its low lanes serve the 32- and 16-byte steps).
///
/// # Safety
/// As for [`xor`], with `len < 64`.
#[target_feature(enable = "avx512f,avx512bw,avx2")]
#[inline]
unsafe fn xor_short(src: *const u8, dst: *mut u8, len: usize, key: u32, kv: __m512i) {
    let mut i = 0;
    if len & 32 != 0 {
        // SAFETY: `len < 64`, so bit 5 set means 32 bytes at 0 are in bounds.
        unsafe {
            let v = _mm256_loadu_si256(src.cast());
            let x = _mm256_xor_si256(v, _mm512_castsi512_si256(kv));
            _mm256_storeu_si256(dst.cast(), x);
        }
        i = 32;
    }
    if len & 16 != 0 {
        // SAFETY: `i` sums the higher bits of `len`, so 16 bytes at `i` are in bounds.
        unsafe {
            let v = _mm_loadu_si128(src.add(i).cast());
            _mm_storeu_si128(
                dst.add(i).cast(),
                _mm_xor_si128(v, _mm512_castsi512_si128(kv)),
            );
        }
        i += 16;
    }
    if len & 8 != 0 {
        let k = (u64::from(key) << 32) | u64::from(key);
        // SAFETY: 8 bytes at `i` are in bounds (as above); unaligned access is explicit.
        unsafe {
            let v = src.add(i).cast::<u64>().read_unaligned();
            dst.add(i).cast::<u64>().write_unaligned(v ^ k);
        }
        i += 8;
    }
    if len & 4 != 0 {
        // SAFETY: 4 bytes at `i` are in bounds.
        unsafe {
            let v = src.add(i).cast::<u32>().read_unaligned();
            dst.add(i).cast::<u32>().write_unaligned(v ^ key);
        }
        i += 4;
    }
    // SAFETY: the last `len & 3` bytes at `i` are in bounds.
    unsafe { super::xor_last_bytes(src.add(i), dst.add(i), len & 3, key) };
}

/// Carried state of the lookup validator between 64-byte blocks.
struct Utf8Blocks {
    /// The previous (unmasked) block: its last 3 bytes precede the current one.
    prev: __m512i,
    /// Non-zero where the previous block ends inside a multi-byte sequence.
    prev_incomplete: __m512i,
    /// OR of all error bytes so far.
    error: __m512i,
    byte_1_high: __m512i,
    byte_1_low: __m512i,
    byte_2_high: __m512i,
    /// `vpsubusb` thresholds that leave a non-zero byte where the block ends mid-sequence.
    incomplete_max: __m512i,
}

#[target_feature(enable = "avx512f,avx512bw")]
fn table(t: &[u8; 16]) -> __m512i {
    let [a, b, c, d] = words(t);
    _mm512_set4_epi32(d, c, b, a)
}

impl Utf8Blocks {
    #[target_feature(enable = "avx512f,avx512bw")]
    fn new() -> Self {
        let mut max = [0xFFu8; LANE];
        max[LANE - 3] = 0xF0 - 1;
        max[LANE - 2] = 0xE0 - 1;
        max[LANE - 1] = 0xC0 - 1;
        let mut q = [0i64; 8];
        for (w, c) in q.iter_mut().zip(max.chunks_exact(8)) {
            let mut b = [0u8; 8];
            b.copy_from_slice(c);
            *w = i64::from_ne_bytes(b);
        }
        Self {
            prev: _mm512_setzero_si512(),
            prev_incomplete: _mm512_setzero_si512(),
            error: _mm512_setzero_si512(),
            byte_1_high: table(&BYTE_1_HIGH),
            byte_1_low: table(&BYTE_1_LOW),
            byte_2_high: table(&BYTE_2_HIGH),
            incomplete_max: _mm512_set_epi64(q[7], q[6], q[5], q[4], q[3], q[2], q[1], q[0]),
        }
    }

    /// Error bytes of `input` given the block before it (non-zero = invalid).
    #[target_feature(enable = "avx512f,avx512bw")]
    #[inline]
    fn lookup(&self, input: __m512i) -> __m512i {
        // 128-bit lanes of `shifted`: [prev.3, input.0, input.1, input.2], so that a per-lane
        // byte align against `input` yields the bytes 1, 2 and 3 positions back.
        let shifted = _mm512_alignr_epi64::<6>(input, self.prev);
        let prev1 = _mm512_alignr_epi8::<15>(input, shifted);
        let prev2 = _mm512_alignr_epi8::<14>(input, shifted);
        let prev3 = _mm512_alignr_epi8::<13>(input, shifted);
        let nibble = _mm512_set1_epi8(0x0F);
        let p1_high = _mm512_and_si512(_mm512_srli_epi16::<4>(prev1), nibble);
        let p1_low = _mm512_and_si512(prev1, nibble);
        let in_high = _mm512_and_si512(_mm512_srli_epi16::<4>(input), nibble);
        let special = _mm512_and_si512(
            _mm512_and_si512(
                _mm512_shuffle_epi8(self.byte_1_high, p1_high),
                _mm512_shuffle_epi8(self.byte_1_low, p1_low),
            ),
            _mm512_shuffle_epi8(self.byte_2_high, in_high),
        );
        let third = _mm512_subs_epu8(prev2, _mm512_set1_epi8(THIRD_BYTE_BIAS as i8));
        let fourth = _mm512_subs_epu8(prev3, _mm512_set1_epi8(FOURTH_BYTE_BIAS as i8));
        let must_be_cont = _mm512_and_si512(
            _mm512_or_si512(third, fourth),
            _mm512_set1_epi8(0x80u8 as i8),
        );
        _mm512_xor_si512(must_be_cont, special)
    }

    /// Check one full block.
    #[target_feature(enable = "avx512f,avx512bw")]
    #[inline]
    fn block(&mut self, input: __m512i) {
        if _mm512_movepi8_mask(input) == 0 {
            // An incomplete previous block is an error now; after it, stale `prev_incomplete`
            // bits only repeat an error already recorded.
            self.error = _mm512_or_si512(self.error, self.prev_incomplete);
        } else {
            self.error = _mm512_or_si512(self.error, self.lookup(input));
            self.prev_incomplete = _mm512_subs_epu8(input, self.incomplete_max);
        }
        self.prev = input;
    }

    /// Several all-ASCII blocks, `last` the final one.
    #[target_feature(enable = "avx512f,avx512bw")]
    #[inline]
    fn ascii_run(&mut self, last: __m512i) {
        self.error = _mm512_or_si512(self.error, self.prev_incomplete);
        self.prev = last;
    }

    /// Check the last, zero-padded block: errors in the `real` lanes are errors; errors in the
    /// padding lanes mean the input ends inside a code point (or on a byte that can only lead).
    #[target_feature(enable = "avx512f,avx512bw")]
    #[inline]
    fn last_block(&mut self, input: __m512i, real: u64) {
        if _mm512_movepi8_mask(input) == 0 {
            self.error = _mm512_or_si512(self.error, self.prev_incomplete);
            self.prev_incomplete = _mm512_setzero_si512();
        } else {
            let e = self.lookup(input);
            self.error = _mm512_or_si512(self.error, _mm512_maskz_mov_epi8(real, e));
            self.prev_incomplete = _mm512_maskz_mov_epi8(!real, e);
        }
    }

    #[target_feature(enable = "avx512f,avx512bw")]
    fn proof(&self, len: usize) -> Proof {
        if _mm512_test_epi8_mask(self.error, self.error) != 0 {
            return Proof::NONE;
        }
        Proof {
            proven: len,
            ends_complete: _mm512_test_epi8_mask(self.prev_incomplete, self.prev_incomplete) == 0,
        }
    }
}

/// XOR `len` bytes from `src` with `key` (storing them to `dst` when `STORE`) and validate the
/// unmasked bytes as UTF-8. Proves all `len` bytes unless an error was seen (the caller then
/// locates it).
///
/// # Safety
/// As for [`xor`]; when `STORE` is false `dst` is not used.
#[target_feature(enable = "avx512f,avx512bw")]
pub(crate) unsafe fn xor_validate<const STORE: bool>(
    src: *const u8,
    dst: *mut u8,
    len: usize,
    key: u32,
) -> Proof {
    let mut st = Utf8Blocks::new();
    let mut k = key;
    let mut i = 0usize;
    let anchor = if STORE { dst as usize } else { src as usize };
    let misalign = anchor & (LANE - 1);
    if misalign != 0 && len != 0 {
        // The head goes in the HIGH lanes of a block whose low lanes read as zero (ASCII), so the
        // block boundary afterwards is 64-byte aligned and no padding follows real bytes.
        let head = (LANE - misalign).min(len);
        let pad = LANE - head;
        let m = !low_bits(pad);
        let kv = _mm512_set1_epi32(retreat(k, pad) as i32);
        // SAFETY: lane `j >= pad` addresses `src + (j - pad)`, inside the `head <= len` first
        // bytes; the other lanes are masked off and never accessed.
        let v = unsafe {
            _mm512_xor_si512(_mm512_maskz_loadu_epi8(m, src.wrapping_sub(pad).cast()), kv)
        };
        if STORE {
            // SAFETY: the same in-bounds lanes of `dst`.
            unsafe { _mm512_mask_storeu_epi8(dst.wrapping_sub(pad).cast(), m, v) };
        }
        st.block(_mm512_maskz_mov_epi8(m, v));
        i = head;
        k = advance(k, head);
    }
    let kv = _mm512_set1_epi32(k as i32);
    // SIP text is mostly ASCII: one "all ASCII?" test per 256 bytes while the data is in
    // registers; only a stretch with a non-ASCII byte goes block by block through the lookups.
    while len - i >= 4 * LANE {
        // SAFETY: `i + 256 <= len`; when storing, `dst + i` is 64-byte aligned.
        let (a, b, c, d) = unsafe {
            let s = src.add(i);
            (
                _mm512_xor_si512(_mm512_loadu_si512(s.cast()), kv),
                _mm512_xor_si512(_mm512_loadu_si512(s.add(LANE).cast()), kv),
                _mm512_xor_si512(_mm512_loadu_si512(s.add(2 * LANE).cast()), kv),
                _mm512_xor_si512(_mm512_loadu_si512(s.add(3 * LANE).cast()), kv),
            )
        };
        if STORE {
            // SAFETY: as above.
            unsafe {
                let o = dst.add(i);
                _mm512_store_si512(o.cast(), a);
                _mm512_store_si512(o.add(LANE).cast(), b);
                _mm512_store_si512(o.add(2 * LANE).cast(), c);
                _mm512_store_si512(o.add(3 * LANE).cast(), d);
            }
        }
        let any = _mm512_or_si512(_mm512_or_si512(a, b), _mm512_or_si512(c, d));
        if _mm512_movepi8_mask(any) == 0 {
            st.ascii_run(d);
        } else {
            st.block(a);
            st.block(b);
            st.block(c);
            st.block(d);
        }
        i += 4 * LANE;
    }
    while len - i >= LANE {
        // SAFETY: `i + 64 <= len`; when storing, `dst + i` is 64-byte aligned.
        let v = unsafe { _mm512_xor_si512(_mm512_loadu_si512(src.add(i).cast()), kv) };
        if STORE {
            // SAFETY: as above.
            unsafe { _mm512_store_si512(dst.add(i).cast(), v) };
        }
        st.block(v);
        i += LANE;
    }
    if i < len {
        let m = low_bits(len - i);
        // SAFETY: only the `len - i` in-bounds low lanes are accessed.
        let v = unsafe { _mm512_xor_si512(_mm512_maskz_loadu_epi8(m, src.add(i).cast()), kv) };
        if STORE {
            // SAFETY: as above.
            unsafe { _mm512_mask_storeu_epi8(dst.add(i).cast(), m, v) };
        }
        st.last_block(_mm512_maskz_mov_epi8(m, v), m);
    }
    st.proof(len)
}
