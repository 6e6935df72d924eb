//! Character classes and small lexing helpers of the RFC 3261 §25.1 grammar.

const fn token_table() -> [bool; 256] {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        t[i] = b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'-' | b'.' | b'!' | b'%' | b'*' | b'_' | b'+' | b'`' | b'\'' | b'~'
            );
        i += 1;
    }
    t
}

static TOKEN: [bool; 256] = token_table();

const fn host_table() -> [bool; 256] {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        t[i] = b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_');
        i += 1;
    }
    t
}

static HOST: [bool; 256] = host_table();

/// Characters of a host name or IPv4 address: alphanum / `-._`.
#[inline(always)]
pub(crate) fn is_host_char(b: u8) -> bool {
    HOST[b as usize]
}

/// End of the run of host characters starting at `i` (sixteen bytes at a time on x86-64).
#[inline]
pub(crate) fn host_end(s: &[u8], mut i: usize) -> usize {
    #[cfg(target_arch = "x86_64")]
    while let Some(chunk) = s.get(i..).and_then(|r| r.first_chunk::<16>()) {
        let run = host_run16(chunk);
        i += run;
        if run < 16 {
            return i;
        }
    }
    while s.get(i).is_some_and(|&b| is_host_char(b)) {
        i += 1;
    }
    i
}

/// How many of the first bytes of `chunk` are host characters (alphanum / `-._`).
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn host_run16(chunk: &[u8; 16]) -> usize {
    use core::arch::x86_64::*;
    // SAFETY: `chunk` is 16 readable bytes and `loadu` has no alignment requirement; the
    // other intrinsics only touch registers; SSE2 is part of the x86-64 baseline.
    let ok = unsafe {
        let v = _mm_loadu_si128(chunk.as_ptr().cast());
        let set = |b: u8| _mm_set1_epi8(b as i8);
        // Signed compares: bytes >= 0x80 are negative and fall outside both ranges.
        let lower = _mm_or_si128(v, set(0x20));
        let letter = _mm_and_si128(
            _mm_cmpgt_epi8(lower, set(b'a' - 1)),
            _mm_cmplt_epi8(lower, set(b'z' + 1)),
        );
        let digit = _mm_and_si128(
            _mm_cmpgt_epi8(v, set(b'0' - 1)),
            _mm_cmplt_epi8(v, set(b'9' + 1)),
        );
        let marks = _mm_or_si128(
            _mm_or_si128(_mm_cmpeq_epi8(v, set(b'-')), _mm_cmpeq_epi8(v, set(b'.'))),
            _mm_cmpeq_epi8(v, set(b'_')),
        );
        _mm_movemask_epi8(_mm_or_si128(_mm_or_si128(letter, digit), marks)) as u32
    };
    (!ok).trailing_zeros().min(16) as usize
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// Bit 7 of byte `k` set when byte `k` of `word` equals `needle`. Exact for the lowest
/// flagged byte (borrows only flag bytes above a match), so take `trailing_zeros() / 8`.
#[cfg(not(target_arch = "x86_64"))]
#[inline(always)]
pub(crate) fn eq_bytes(word: [u8; 8], needle: u8) -> u64 {
    let x = u64::from_le_bytes(word) ^ (ONES * u64::from(needle));
    x.wrapping_sub(ONES) & !x & HIGHS
}

/// Position of the first `needle` in `hay`, sixteen bytes at a time.
#[inline]
pub(crate) fn find_byte(hay: &[u8], needle: u8) -> Option<usize> {
    find_any(hay, [needle])
}

/// Position of the first byte of `hay` that is one of `needles`, sixteen bytes at a time
/// (SSE2 on x86-64, two 8-byte words elsewhere).
#[inline]
pub(crate) fn find_any<const N: usize>(hay: &[u8], needles: [u8; N]) -> Option<usize> {
    let (chunks, tail) = hay.as_chunks::<16>();
    for (i, c) in chunks.iter().enumerate() {
        if let Some(p) = first_of16(c, needles) {
            return Some(i * 16 + p);
        }
    }
    if tail.is_empty() {
        return None;
    }
    // The tail is searched as the last 16 bytes of `hay` when there are that many (its
    // first bytes were already searched and had no match).
    let from = hay.len().checked_sub(16);
    match from.and_then(|f| hay.get(f..)?.first_chunk::<16>()) {
        Some(last) => first_of16(last, needles).map(|p| hay.len() - 16 + p),
        None => tail.iter().position(|b| needles.contains(b)),
    }
}

#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn first_of16<const N: usize>(chunk: &[u8; 16], needles: [u8; N]) -> Option<usize> {
    use core::arch::x86_64::*;
    // SAFETY: `chunk` is 16 readable bytes and `loadu` has no alignment requirement; the
    // other intrinsics only touch registers; SSE2 is part of the x86-64 baseline.
    let m = unsafe {
        let v = _mm_loadu_si128(chunk.as_ptr().cast());
        let hits = needles.iter().fold(_mm_setzero_si128(), |acc, &n| {
            _mm_or_si128(acc, _mm_cmpeq_epi8(v, _mm_set1_epi8(n as i8)))
        });
        _mm_movemask_epi8(hits) as u32
    };
    (m != 0).then(|| m.trailing_zeros() as usize)
}

#[cfg(not(target_arch = "x86_64"))]
#[inline(always)]
fn first_of16<const N: usize>(chunk: &[u8; 16], needles: [u8; N]) -> Option<usize> {
    let (words, _) = chunk.as_chunks::<8>();
    for (i, w) in words.iter().enumerate() {
        let m = needles.iter().fold(0, |m, &n| m | eq_bytes(*w, n));
        if m != 0 {
            return Some(i * 8 + (m.trailing_zeros() / 8) as usize);
        }
    }
    None
}

/// Whether `s` holds linear white space (SP, HT, CR, LF). A first pass flags every byte
/// below 0x21 (all four are), eight bytes at a time; only then are the bytes looked at.
#[inline]
pub(crate) fn has_lws(s: &[u8]) -> bool {
    let (words, tail) = s.as_chunks::<8>();
    let below_0x21 = |w: &[u8; 8]| {
        let x = u64::from_le_bytes(*w);
        x.wrapping_sub(ONES * 0x21) & !x & HIGHS != 0
    };
    (words.iter().any(below_0x21) || tail.iter().any(|&b| b < 0x21)) && s.iter().any(|&b| is_lws(b))
}

/// `token` characters: alphanum / `-.!%*_+`'~`.
#[inline(always)]
pub(crate) fn is_token(b: u8) -> bool {
    TOKEN[b as usize]
}

/// Linear white space inside a header value. The scanner guarantees CR/LF only occur
/// there as part of a fold (CRLF followed by SP/HT), so they count as LWS.
#[inline]
pub(crate) fn is_lws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

/// Skip LWS from `i`.
#[inline]
pub(crate) fn skip_lws(s: &[u8], mut i: usize) -> usize {
    while i < s.len() && is_lws(s[i]) {
        i += 1;
    }
    i
}

/// `s` without leading and trailing LWS.
#[inline]
pub(crate) fn trim(s: &[u8]) -> &[u8] {
    let start = skip_lws(s, 0);
    let mut end = s.len();
    while end > start && is_lws(s[end - 1]) {
        end -= 1;
    }
    &s[start..end]
}

/// End of the token starting at `i`.
#[inline(always)]
pub(crate) fn token_end(s: &[u8], mut i: usize) -> usize {
    while i < s.len() && is_token(s[i]) {
        i += 1;
    }
    i
}

/// With `s[i] == b'"'`, the index just past the closing quote (quoted-pairs skipped).
pub(crate) fn quoted_end(s: &[u8], i: usize) -> Option<usize> {
    let mut j = i + 1;
    while j < s.len() {
        match s[j] {
            b'\\' => j += 2,
            b'"' => return Some(j + 1),
            _ => j += 1,
        }
    }
    None
}

/// Parse `1*DIGIT` (leading zeros allowed) into a u64, `None` on overflow/empty/non-digit.
pub(crate) fn digits_u64(s: &[u8]) -> Option<u64> {
    if s.is_empty() {
        return None;
    }
    let mut v: u64 = 0;
    for &b in s {
        if !b.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
    }
    Some(v)
}

/// Like [`digits_u64`] but tells "not digits" from "too large".
pub(crate) fn number(s: &[u8], max: u64) -> Result<u64, crate::ViewError> {
    if s.is_empty() || !s.iter().all(u8::is_ascii_digit) {
        return Err(crate::ViewError::Number);
    }
    match digits_u64(s) {
        Some(v) if v <= max => Ok(v),
        _ => Err(crate::ViewError::OutOfRange),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn find_byte_matches_position(
            hay in proptest::collection::vec(prop_oneof![Just(b' '), Just(b':'), Just(0u8), Just(0xffu8), any::<u8>()], 0..80),
            needle in prop_oneof![Just(b' '), Just(b':'), Just(0u8), any::<u8>()],
        ) {
            prop_assert_eq!(find_byte(&hay, needle), hay.iter().position(|&b| b == needle));
        }

        #[test]
        fn find_any_matches_position(
            hay in proptest::collection::vec(prop_oneof![Just(b','), Just(b'<'), Just(b'"'), any::<u8>()], 0..80),
        ) {
            let want = hay.iter().position(|b| [b',', b'<', b'"'].contains(b));
            prop_assert_eq!(find_any(&hay, [b',', b'<', b'"']), want);
            prop_assert_eq!(has_lws(&hay), hay.iter().any(|&b| is_lws(b)));
        }

        #[test]
        fn host_end_matches_byte_loop(
            s in proptest::collection::vec(prop_oneof![
                Just(b'a'), Just(b'Z'), Just(b'0'), Just(b'9'), Just(b'.'), Just(b'-'), Just(b'_'),
                Just(b':'), Just(b'@'), Just(b'`'), Just(b'{'), Just(b'/'), Just(b'['), Just(0x80u8), Just(0xe1u8),
            ], 0..60),
            i in 0usize..60,
        ) {
            let i = i.min(s.len());
            let want = i + s[i..].iter().take_while(|&&b| is_host_char(b)).count();
            prop_assert_eq!(host_end(&s, i), want);
        }
    }
}
