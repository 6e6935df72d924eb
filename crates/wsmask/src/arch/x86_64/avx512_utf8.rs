//! AVX-512 fused unmask + UTF-8 validation.
//!
//! 64-byte blocks (a masked load and store for a misaligned head and a partial last block).
//! Unmasked blocks are stored and, while still in registers, tested for "all ASCII" once per
//! 256 bytes (one `vpmovb2m`); a stretch with a non-ASCII byte goes block by block, and each
//! non-ASCII block through the lookup algorithm (three 16-entry table lookups plus the
//! 3rd/4th-byte check).
//!
//! Built twice by [`fused_kernel!`]: [`bw`] for AVX-512 F + BW, whose `vpshufb` lookups need the
//! nibbles masked out first, and [`vbmi`] for CPUs that also have VBMI, whose `vpermb` lookups
//! index with the low 6 bits of each byte (the tables hold four copies of 16 entries), which
//! saves three ANDs per block — the lookup path is bound by vector-ALU throughput.

use core::arch::x86_64::*;

use crate::arch::Proof;
use crate::arch::vector::{xor_four, xor_one};
use crate::key::{advance, retreat};
use crate::utf8_tables::{
    BYTE_1_HIGH, BYTE_1_LOW, BYTE_2_HIGH, FOURTH_BYTE_BIAS, THIRD_BYTE_BIAS, words,
};

use super::avx512::LANE;

/// Mask with the low `n` bits set (`n` may be 64).
#[inline]
fn low_bits(n: usize) -> u64 {
    if n >= LANE { u64::MAX } else { (1u64 << n) - 1 }
}

/// The three lookup tables, each 16 entries repeated in the four 128-bit lanes.
struct Tables {
    byte_1_high: __m512i,
    byte_1_low: __m512i,
    byte_2_high: __m512i,
}

impl Tables {
    #[target_feature(enable = "avx512f,avx512bw")]
    #[inline]
    fn new() -> Self {
        #[target_feature(enable = "avx512f,avx512bw")]
        #[inline]
        fn table(t: &[u8; 16]) -> __m512i {
            let [a, b, c, d] = words(t);
            _mm512_set4_epi32(d, c, b, a)
        }
        Self {
            byte_1_high: table(&BYTE_1_HIGH),
            byte_1_low: table(&BYTE_1_LOW),
            byte_2_high: table(&BYTE_2_HIGH),
        }
    }
}

/// The body shared by both builds; `special` (the AND of the three table lookups, given the
/// byte before each byte of `input`) and the feature list come from the expanding module.
macro_rules! fused_kernel {
    ($features:literal) => {
        /// Carried state of the lookup validator between 64-byte blocks.
        struct Utf8Blocks {
            /// The previous (unmasked) block: its last 3 bytes precede the current one.
            prev: __m512i,
            /// OR of all error bytes so far.
            error: __m512i,
            /// [`Utf8Blocks::prev_incomplete`] as of the last block checked one by one, for the
            /// next all-ASCII group to report (after an all-ASCII group its non-zero bytes, if
            /// any, only repeat an error already recorded).
            pending: __m512i,
            tables: Tables,
            /// `vpsubusb` thresholds that leave a non-zero byte where the block ends mid-sequence.
            incomplete_max: __m512i,
        }

        impl Utf8Blocks {
            #[target_feature(enable = $features)]
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
                    error: _mm512_setzero_si512(),
                    pending: _mm512_setzero_si512(),
                    tables: Tables::new(),
                    incomplete_max: _mm512_set_epi64(
                        q[7], q[6], q[5], q[4], q[3], q[2], q[1], q[0],
                    ),
                }
            }

            /// Error bytes of `input` given the block before it, as two vectors whose XOR is
            /// non-zero where a byte is invalid.
            #[target_feature(enable = $features)]
            #[inline]
            fn lookup(&self, input: __m512i) -> [__m512i; 2] {
                // 128-bit lanes of `shifted`: [prev.3, input.0, input.1, input.2], so that a
                // per-lane byte align against `input` yields the bytes 1, 2 and 3 positions back.
                let shifted = _mm512_alignr_epi64::<6>(input, self.prev);
                let prev1 = _mm512_alignr_epi8::<15>(input, shifted);
                let prev2 = _mm512_alignr_epi8::<14>(input, shifted);
                let prev3 = _mm512_alignr_epi8::<13>(input, shifted);
                let special = special(&self.tables, prev1, input);
                let third = _mm512_subs_epu8(prev2, _mm512_set1_epi8(THIRD_BYTE_BIAS as i8));
                let fourth = _mm512_subs_epu8(prev3, _mm512_set1_epi8(FOURTH_BYTE_BIAS as i8));
                // (a | b) & c
                let must_be_cont = _mm512_ternarylogic_epi32::<0xA8>(
                    third,
                    fourth,
                    _mm512_set1_epi8(0x80u8 as i8),
                );
                [must_be_cont, special]
            }

            /// Non-zero bytes where the previous block ends inside a multi-byte sequence.
            #[target_feature(enable = $features)]
            #[inline]
            fn prev_incomplete(&self) -> __m512i {
                _mm512_subs_epu8(self.prev, self.incomplete_max)
            }

            /// Unmask (and store, when `STORE`) and check the first `n` bytes, which end at a
            /// 64-byte aligned address. They go in the HIGH lanes of a block whose low lanes
            /// read as zero (ASCII), so the block boundary afterwards is aligned and no padding
            /// follows real bytes.
            ///
            /// # Safety
            /// `0 < n <= 64`; `src` is valid for `n` reads and, when `STORE`, `dst` for `n`
            /// writes.
            #[target_feature(enable = $features)]
            #[inline]
            unsafe fn head<const STORE: bool>(
                &mut self,
                src: *const u8,
                dst: *mut u8,
                n: usize,
                key: u32,
            ) {
                let pad = LANE - n;
                let m = !low_bits(pad);
                let kv = _mm512_set1_epi32(retreat(key, pad) as i32);
                // SAFETY: lane `j >= pad` addresses `src + (j - pad)`, inside the `n` first
                // bytes; the other lanes are masked off and never accessed.
                let v = unsafe {
                    _mm512_xor_si512(_mm512_maskz_loadu_epi8(m, src.wrapping_sub(pad).cast()), kv)
                };
                if STORE {
                    // SAFETY: the same in-bounds lanes of `dst`.
                    unsafe { _mm512_mask_storeu_epi8(dst.wrapping_sub(pad).cast(), m, v) };
                }
                self.block(_mm512_maskz_mov_epi8(m, v));
                self.pending = self.prev_incomplete();
            }

            /// Check one full block.
            #[target_feature(enable = $features)]
            #[inline]
            fn block(&mut self, input: __m512i) {
                if _mm512_movepi8_mask(input) == 0 {
                    // A previous block that ends inside a code point is an error now.
                    self.error = _mm512_or_si512(self.error, self.prev_incomplete());
                } else {
                    let [must_be_cont, special] = self.lookup(input);
                    // error | (must_be_cont ^ special)
                    self.error =
                        _mm512_ternarylogic_epi32::<0xF6>(self.error, must_be_cont, special);
                }
                self.prev = input;
            }

            /// Several all-ASCII blocks, `last` the final one.
            #[target_feature(enable = $features)]
            #[inline]
            fn ascii_run(&mut self, last: __m512i) {
                self.error = _mm512_or_si512(self.error, self.pending);
                self.prev = last;
            }

            /// Check the last, zero-padded block: errors in the `real` lanes are errors; errors in
            /// the padding lanes mean the input ends inside a code point (or on a byte that can
            /// only lead).
            ///
            /// Returns non-zero bytes where the input ends inside a code point.
            #[target_feature(enable = $features)]
            #[inline]
            fn last_block(&mut self, input: __m512i, real: u64) -> __m512i {
                if _mm512_movepi8_mask(input) == 0 {
                    self.error = _mm512_or_si512(self.error, self.prev_incomplete());
                    _mm512_setzero_si512()
                } else {
                    let [must_be_cont, special] = self.lookup(input);
                    let e = _mm512_xor_si512(must_be_cont, special);
                    self.error = _mm512_or_si512(self.error, _mm512_maskz_mov_epi8(real, e));
                    _mm512_maskz_mov_epi8(!real, e)
                }
            }

            /// `incomplete`: non-zero bytes where the input ends inside a code point.
            #[target_feature(enable = $features)]
            fn proof(&self, len: usize, incomplete: __m512i) -> Proof {
                if _mm512_test_epi8_mask(self.error, self.error) != 0 {
                    return Proof::NONE;
                }
                Proof {
                    proven: len,
                    ends_complete: _mm512_test_epi8_mask(incomplete, incomplete) == 0,
                }
            }
        }

        // The fused kernel: proves all `len` bytes unless an error was seen (the caller then
        // locates it).
        crate::arch::vector::fused_kernel_fn!($features, |src, dst, len, key| {
            let mut st = Utf8Blocks::new();
            let anchor = if STORE { dst as usize } else { src as usize };
            let misalign = anchor & (LANE - 1);
            let head = if misalign == 0 {
                0
            } else {
                (LANE - misalign).min(len)
            };
            if head != 0 {
                // SAFETY: `0 < head <= len`, so the pointers are valid for `head` bytes.
                unsafe { st.head::<STORE>(src, dst, head, key) };
            }
            let mut i = head;
            let k = advance(key, head);
            let kv = _mm512_set1_epi32(k as i32);
            // SIP text is mostly ASCII: one "all ASCII?" test per 256 bytes while the data is in
            // registers; only a stretch with a non-ASCII byte goes block by block through the
            // lookups.
            while len - i >= 4 * LANE {
                // SAFETY: the features are enabled here; `i + 256 <= len`; when storing,
                // `dst + i` is 64-byte aligned.
                let [a, b, c, d] = unsafe { xor_four::<__m512i, STORE>(src, dst, i, kv) };
                // a | b | c, then | d
                let any = _mm512_or_si512(_mm512_ternarylogic_epi32::<0xFE>(a, b, c), d);
                if _mm512_movepi8_mask(any) == 0 {
                    st.ascii_run(d);
                } else {
                    st.block(a);
                    st.block(b);
                    st.block(c);
                    st.block(d);
                    st.pending = st.prev_incomplete();
                }
                i += 4 * LANE;
            }
            while len - i >= LANE {
                // SAFETY: as above, with `i + 64 <= len`.
                st.block(unsafe { xor_one::<__m512i, STORE, true>(src, dst, i, kv) });
                i += LANE;
            }
            let mut incomplete = st.prev_incomplete();
            if i < len {
                let m = low_bits(len - i);
                let v = _mm512_xor_si512(
                    // SAFETY: only the `len - i` in-bounds low lanes are accessed.
                    unsafe { _mm512_maskz_loadu_epi8(m, src.add(i).cast()) },
                    kv,
                );
                if STORE {
                    // SAFETY: as above.
                    unsafe { _mm512_mask_storeu_epi8(dst.add(i).cast(), m, v) };
                }
                incomplete = st.last_block(_mm512_maskz_mov_epi8(m, v), m);
            }
            st.proof(len, incomplete)
        });
    };
}

/// AVX-512 F + BW: nibbles masked, then `vpshufb`.
pub(crate) mod bw {
    use super::*;

    /// The AND of the three table lookups for each byte of `input` and the byte before it.
    #[target_feature(enable = "avx512f,avx512bw")]
    #[inline]
    fn special(t: &Tables, prev1: __m512i, input: __m512i) -> __m512i {
        let nibble = _mm512_set1_epi8(0x0F);
        let p1_high = _mm512_and_si512(_mm512_srli_epi16::<4>(prev1), nibble);
        let p1_low = _mm512_and_si512(prev1, nibble);
        let in_high = _mm512_and_si512(_mm512_srli_epi16::<4>(input), nibble);
        // a & b & c
        _mm512_ternarylogic_epi32::<0x80>(
            _mm512_shuffle_epi8(t.byte_1_high, p1_high),
            _mm512_shuffle_epi8(t.byte_1_low, p1_low),
            _mm512_shuffle_epi8(t.byte_2_high, in_high),
        )
    }

    fused_kernel!("avx512f,avx512bw");
}

/// AVX-512 F + BW + VBMI: `vpermb` on unmasked nibbles.
pub(crate) mod vbmi {
    use super::*;

    /// The AND of the three table lookups for each byte of `input` and the byte before it.
    #[target_feature(enable = "avx512f,avx512bw,avx512vbmi")]
    #[inline]
    fn special(t: &Tables, prev1: __m512i, input: __m512i) -> __m512i {
        // `vpermb` indexes with the low 6 bits and the tables repeat every 16 bytes, so only
        // the nibble counts: no masking. (A 16-bit shift pulls the next byte's low bits into
        // bits 4 and 5 of the index, which select a copy of the same table.)
        let p1_high = _mm512_srli_epi16::<4>(prev1);
        let in_high = _mm512_srli_epi16::<4>(input);
        // a & b & c
        _mm512_ternarylogic_epi32::<0x80>(
            _mm512_permutexvar_epi8(p1_high, t.byte_1_high),
            _mm512_permutexvar_epi8(prev1, t.byte_1_low),
            _mm512_permutexvar_epi8(in_high, t.byte_2_high),
        )
    }

    fused_kernel!("avx512f,avx512bw,avx512vbmi");
}
