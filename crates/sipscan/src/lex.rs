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

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// Bit 7 of byte `k` set when byte `k` of `word` equals `needle`. Exact for the lowest
/// flagged byte (borrows only flag bytes above a match), so take `trailing_zeros() / 8`.
#[inline(always)]
pub(crate) fn eq_bytes(word: [u8; 8], needle: u8) -> u64 {
    let x = u64::from_le_bytes(word) ^ (ONES * u64::from(needle));
    x.wrapping_sub(ONES) & !x & HIGHS
}

/// Position of the first `needle` in `hay`, eight bytes at a time.
#[inline]
pub(crate) fn find_byte(hay: &[u8], needle: u8) -> Option<usize> {
    let (words, tail) = hay.as_chunks::<8>();
    for (i, w) in words.iter().enumerate() {
        let m = eq_bytes(*w, needle);
        if m != 0 {
            return Some(i * 8 + (m.trailing_zeros() / 8) as usize);
        }
    }
    let p = tail.iter().position(|&b| b == needle)?;
    Some(words.len() * 8 + p)
}

/// Position of the first byte of `hay` that is one of `needles`, eight bytes at a time.
#[inline]
pub(crate) fn find_any<const N: usize>(hay: &[u8], needles: [u8; N]) -> Option<usize> {
    let (words, tail) = hay.as_chunks::<8>();
    for (i, w) in words.iter().enumerate() {
        let m = needles.iter().fold(0, |m, &n| m | eq_bytes(*w, n));
        if m != 0 {
            return Some(i * 8 + (m.trailing_zeros() / 8) as usize);
        }
    }
    let p = tail.iter().position(|b| needles.contains(b))?;
    Some(words.len() * 8 + p)
}

/// Whether `s` holds linear white space (SP, HT, CR, LF).
#[inline]
pub(crate) fn has_lws(s: &[u8]) -> bool {
    find_any(s, [b' ', b'\t', b'\r', b'\n']).is_some()
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
            hay in proptest::collection::vec(prop_oneof![Just(b' '), Just(b':'), Just(0u8), Just(0xffu8), any::<u8>()], 0..40),
            needle in prop_oneof![Just(b' '), Just(b':'), Just(0u8), any::<u8>()],
        ) {
            prop_assert_eq!(find_byte(&hay, needle), hay.iter().position(|&b| b == needle));
        }

        #[test]
        fn find_any_matches_position(
            hay in proptest::collection::vec(prop_oneof![Just(b','), Just(b'<'), Just(b'"'), any::<u8>()], 0..40),
        ) {
            let want = hay.iter().position(|b| [b',', b'<', b'"'].contains(b));
            prop_assert_eq!(find_any(&hay, [b',', b'<', b'"']), want);
            prop_assert_eq!(has_lws(&hay), hay.iter().any(|&b| is_lws(b)));
        }
    }
}
