//! The first 32 bytes of a header line, for finding the colon and comparing the
//! field-name with a known spelling: two SSE2 registers on x86-64 (SSE2 is baseline
//! there), four little-endian words elsewhere.

/// Bytes looked at from the start of a header line.
pub(crate) const WIDTH: usize = 32;

/// A known spelling laid out for [`Window::matches`]: the lower-cased bytes, the 0x20
/// bits to OR into the input first (on letters only, so that a `-` never matches a CR,
/// 0x0d | 0x20), and 0xff on the bytes that belong to the name; zero past its end.
#[derive(Debug, Clone, Copy)]
#[repr(C, align(16))]
pub(crate) struct Spelling {
    pub(crate) pattern: [u8; WIDTH],
    pub(crate) fold: [u8; WIDTH],
    pub(crate) mask: [u8; WIDTH],
}

impl Spelling {
    pub(crate) const EMPTY: Spelling = Spelling {
        pattern: [0; WIDTH],
        fold: [0; WIDTH],
        mask: [0; WIDTH],
    };

    /// Lay out `name` (lower case, shorter than [`WIDTH`]).
    pub(crate) const fn new(name: &[u8]) -> Spelling {
        let mut s = Spelling::EMPTY;
        let mut i = 0;
        while i < name.len() {
            s.pattern[i] = name[i];
            s.mask[i] = 0xff;
            if name[i].is_ascii_lowercase() {
                s.fold[i] = 0x20;
            }
            i += 1;
        }
        s
    }
}

pub(crate) use imp::Window;

#[cfg(target_arch = "x86_64")]
mod imp {
    use super::{Spelling, WIDTH};
    use core::arch::x86_64::*;

    /// 32 bytes in two SSE2 registers.
    #[derive(Clone, Copy)]
    pub(crate) struct Window {
        lo: __m128i,
        hi: __m128i,
    }

    #[inline(always)]
    fn load16(b: &[u8; 16]) -> __m128i {
        // SAFETY: `b` is 16 readable bytes and `loadu` has no alignment requirement;
        // SSE2 is part of the x86-64 baseline.
        unsafe { _mm_loadu_si128(b.as_ptr().cast()) }
    }

    #[inline(always)]
    fn halves(a: &[u8; WIDTH]) -> (__m128i, __m128i) {
        let (lo, hi) = a.split_at(16);
        match (lo.first_chunk::<16>(), hi.first_chunk::<16>()) {
            (Some(lo), Some(hi)) => (load16(lo), load16(hi)),
            _ => unreachable!("WIDTH is 32"),
        }
    }

    impl Window {
        #[inline(always)]
        pub(crate) fn from_array(a: &[u8; WIDTH]) -> Window {
            let (lo, hi) = halves(a);
            Window { lo, hi }
        }

        /// The first two bytes, little-endian.
        #[inline(always)]
        pub(crate) fn first_two(&self) -> u16 {
            // SAFETY: register-only SSE2 intrinsics; SSE2 is part of the x86-64 baseline.
            unsafe { _mm_cvtsi128_si32(self.lo) as u16 }
        }

        /// Offset of the first `:`.
        #[inline(always)]
        pub(crate) fn colon(&self) -> Option<usize> {
            // SAFETY: register-only SSE2 intrinsics; SSE2 is part of the x86-64 baseline.
            let (lo, hi) = unsafe {
                let c = _mm_set1_epi8(b':' as i8);
                (
                    _mm_movemask_epi8(_mm_cmpeq_epi8(self.lo, c)) as u32,
                    _mm_movemask_epi8(_mm_cmpeq_epi8(self.hi, c)) as u32,
                )
            };
            let m = lo | (hi << 16);
            (m != 0).then(|| m.trailing_zeros() as usize)
        }

        /// Whether the first `len` bytes spell `s` (`len` is the spelling's length).
        #[inline(always)]
        pub(crate) fn matches(&self, s: &Spelling, len: usize) -> bool {
            let (p0, p1) = halves(&s.pattern);
            let (f0, f1) = halves(&s.fold);
            let (m0, m1) = halves(&s.mask);
            let eq = |v: __m128i, f: __m128i, m: __m128i, p: __m128i| {
                // SAFETY: register-only SSE2 intrinsics; SSE2 is part of the x86-64
                // baseline.
                unsafe {
                    let folded = _mm_and_si128(_mm_or_si128(v, f), m);
                    _mm_movemask_epi8(_mm_cmpeq_epi8(folded, p)) == 0xffff
                }
            };
            eq(self.lo, f0, m0, p0) && (len <= 16 || eq(self.hi, f1, m1, p1))
        }
    }
}

#[cfg(not(target_arch = "x86_64"))]
mod imp {
    use super::{Spelling, WIDTH};

    /// 32 bytes as four little-endian words.
    #[derive(Clone, Copy)]
    pub(crate) struct Window {
        words: [u64; 4],
    }

    #[inline(always)]
    fn words(a: &[u8; WIDTH]) -> [u64; 4] {
        let (chunks, _) = a.as_chunks::<8>();
        let mut w = [0u64; 4];
        for (w, c) in w.iter_mut().zip(chunks) {
            *w = u64::from_le_bytes(*c);
        }
        w
    }

    impl Window {
        #[inline(always)]
        pub(crate) fn from_array(a: &[u8; WIDTH]) -> Window {
            Window { words: words(a) }
        }

        /// The first two bytes, little-endian.
        #[inline(always)]
        pub(crate) fn first_two(&self) -> u16 {
            self.words[0] as u16
        }

        /// Offset of the first `:`.
        #[inline(always)]
        pub(crate) fn colon(&self) -> Option<usize> {
            for (i, w) in self.words.iter().enumerate() {
                let m = crate::lex::eq_bytes(w.to_le_bytes(), b':');
                if m != 0 {
                    return Some(8 * i + (m.trailing_zeros() / 8) as usize);
                }
            }
            None
        }

        /// Whether the first `len` bytes spell `s` (`len` is the spelling's length).
        #[inline(always)]
        pub(crate) fn matches(&self, s: &Spelling, len: usize) -> bool {
            let (p, f, m) = (words(&s.pattern), words(&s.fold), words(&s.mask));
            let n = len.div_ceil(8);
            (0..n).all(|i| (self.words[i] | f[i]) & m[i] == p[i])
        }
    }
}

impl Window {
    /// The first byte.
    #[inline(always)]
    pub(crate) fn first(&self) -> u8 {
        self.first_two() as u8
    }

    /// The [`WIDTH`] bytes at `pos`, if the buffer has them.
    #[inline(always)]
    pub(crate) fn load(buf: &[u8], pos: usize) -> Option<Window> {
        let bytes: &[u8; WIDTH] = buf.get(pos..pos.checked_add(WIDTH)?)?.try_into().ok()?;
        Some(Window::from_array(bytes))
    }

    /// `bytes` (at most [`WIDTH`]) zero-padded.
    pub(crate) fn padded(bytes: &[u8]) -> Option<Window> {
        let mut a = [0u8; WIDTH];
        a.get_mut(..bytes.len())?.copy_from_slice(bytes);
        Some(Window::from_array(&a))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn colon_and_first_byte(bytes in proptest::collection::vec(prop_oneof![Just(b':'), any::<u8>()], WIDTH)) {
            let w = Window::padded(&bytes).unwrap();
            prop_assert_eq!(w.first(), bytes[0]);
            prop_assert_eq!(w.first_two(), u16::from_le_bytes([bytes[0], bytes[1]]));
            prop_assert_eq!(w.colon(), bytes.iter().position(|&b| b == b':'));
        }

        #[test]
        fn matches_is_exact_case_insensitive_equality(
            name in "[a-z-]{1,31}",
            input in proptest::collection::vec(any::<u8>(), 1..32),
            flip in any::<u32>(),
        ) {
            let s = Spelling::new(name.as_bytes());
            // The name itself, in mixed case, followed by junk.
            let mut same: Vec<u8> = name.bytes().enumerate()
                .map(|(i, b)| if flip >> (i % 32) & 1 == 1 { b.to_ascii_uppercase() } else { b })
                .collect();
            same.extend_from_slice(&input[..input.len().min(WIDTH - same.len())]);
            prop_assert!(Window::padded(&same).unwrap().matches(&s, name.len()));
            // Arbitrary bytes match only when they spell the name.
            let mut other = input.clone();
            other.truncate(WIDTH);
            let want = other.len() >= name.len()
                && other[..name.len()].eq_ignore_ascii_case(name.as_bytes());
            prop_assert_eq!(Window::padded(&other).unwrap().matches(&s, name.len()), want);
        }
    }
}
