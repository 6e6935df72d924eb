//! Lookup tables of the "lookup" UTF-8 validation algorithm (Keiser & Lemire, 2021).
//!
//! Each byte pair (previous byte, current byte) is classified by three 16-entry tables indexed by
//! the previous byte's high nibble, its low nibble, and the current byte's high nibble. Every bit
//! names one way RFC 3629 §4 (`UTF8-octets` grammar) can be broken; the AND of the three lookups
//! is non-zero exactly when the pair is impossible. Continuation bytes that must be the 3rd or
//! 4th of a sequence are checked separately with saturating subtractions (see the arch kernels).
#![cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]

/// Lead byte followed by a non-continuation: `11______ 0_______` or `11______ 11______`.
const TOO_SHORT: u8 = 1 << 0;
/// Continuation after ASCII: `0_______ 10______`.
const TOO_LONG: u8 = 1 << 1;
/// Overlong 3-byte form: `11100000 100_____`.
const OVERLONG_3: u8 = 1 << 2;
/// Code point above U+10FFFF: `11110100 1001____`, `11110100 101_____`, `11110101+ ...`.
const TOO_LARGE: u8 = 1 << 3;
/// UTF-16 surrogate U+D800..U+DFFF: `11101101 101_____`.
const SURROGATE: u8 = 1 << 4;
/// Overlong 2-byte form: `1100000_ 10______`.
const OVERLONG_2: u8 = 1 << 5;
/// Above U+10FFFF with a `1000____` second byte: `11110101+ 1000____`.
const TOO_LARGE_1000: u8 = 1 << 6;
/// Overlong 4-byte form: `11110000 1000____` (shares the bit with [`TOO_LARGE_1000`]).
const OVERLONG_4: u8 = 1 << 6;
/// Two continuation bytes in a row: legal only as 3rd/4th bytes, which the kernels check apart.
pub(crate) const TWO_CONTS: u8 = 1 << 7;
const CARRY: u8 = TOO_SHORT | TOO_LONG | TWO_CONTS;

/// Indexed by the high nibble of the previous byte.
pub(crate) const BYTE_1_HIGH: [u8; 16] = [
    // 0_______ : ASCII
    TOO_LONG,
    TOO_LONG,
    TOO_LONG,
    TOO_LONG,
    TOO_LONG,
    TOO_LONG,
    TOO_LONG,
    TOO_LONG,
    // 10______ : continuation
    TWO_CONTS,
    TWO_CONTS,
    TWO_CONTS,
    TWO_CONTS,
    // 1100____ : 2-byte lead (C0/C1 are overlong)
    TOO_SHORT | OVERLONG_2,
    // 1101____ : 2-byte lead
    TOO_SHORT,
    // 1110____ : 3-byte lead
    TOO_SHORT | OVERLONG_3 | SURROGATE,
    // 1111____ : 4-byte lead (or invalid F5..FF)
    TOO_SHORT | TOO_LARGE | TOO_LARGE_1000 | OVERLONG_4,
];

/// Indexed by the low nibble of the previous byte.
pub(crate) const BYTE_1_LOW: [u8; 16] = [
    // ____0000
    CARRY | OVERLONG_3 | OVERLONG_2 | OVERLONG_4,
    // ____0001
    CARRY | OVERLONG_2,
    // ____001_
    CARRY,
    CARRY,
    // ____0100
    CARRY | TOO_LARGE,
    // ____0101 .. ____1100
    CARRY | TOO_LARGE | TOO_LARGE_1000,
    CARRY | TOO_LARGE | TOO_LARGE_1000,
    CARRY | TOO_LARGE | TOO_LARGE_1000,
    CARRY | TOO_LARGE | TOO_LARGE_1000,
    CARRY | TOO_LARGE | TOO_LARGE_1000,
    CARRY | TOO_LARGE | TOO_LARGE_1000,
    CARRY | TOO_LARGE | TOO_LARGE_1000,
    CARRY | TOO_LARGE | TOO_LARGE_1000,
    // ____1101
    CARRY | TOO_LARGE | TOO_LARGE_1000 | SURROGATE,
    // ____111_
    CARRY | TOO_LARGE | TOO_LARGE_1000,
    CARRY | TOO_LARGE | TOO_LARGE_1000,
];

/// Indexed by the high nibble of the current byte.
pub(crate) const BYTE_2_HIGH: [u8; 16] = [
    // 0_______ : ASCII
    TOO_SHORT,
    TOO_SHORT,
    TOO_SHORT,
    TOO_SHORT,
    TOO_SHORT,
    TOO_SHORT,
    TOO_SHORT,
    TOO_SHORT,
    // 1000____
    TOO_LONG | OVERLONG_2 | TWO_CONTS | OVERLONG_3 | TOO_LARGE_1000 | OVERLONG_4,
    // 1001____
    TOO_LONG | OVERLONG_2 | TWO_CONTS | OVERLONG_3 | TOO_LARGE,
    // 101_____
    TOO_LONG | OVERLONG_2 | TWO_CONTS | SURROGATE | TOO_LARGE,
    TOO_LONG | OVERLONG_2 | TWO_CONTS | SURROGATE | TOO_LARGE,
    // 11______ : lead
    TOO_SHORT,
    TOO_SHORT,
    TOO_SHORT,
    TOO_SHORT,
];

/// `prev2 - THIRD_BYTE_BIAS` (saturating) has its top bit set iff `prev2 >= 0xE0`:
/// the current byte must be the 3rd of a 3- or 4-byte sequence.
pub(crate) const THIRD_BYTE_BIAS: u8 = 0xE0 - 0x80;
/// `prev3 - FOURTH_BYTE_BIAS` (saturating) has its top bit set iff `prev3 >= 0xF0`.
pub(crate) const FOURTH_BYTE_BIAS: u8 = 0xF0 - 0x80;

/// A table as four native-order 32-bit words (for `set1`/`set4`-style vector constructors).
pub(crate) fn words(table: &[u8; 16]) -> [i32; 4] {
    let mut out = [0i32; 4];
    for (w, c) in out.iter_mut().zip(table.chunks_exact(4)) {
        *w = i32::from_ne_bytes([c[0], c[1], c[2], c[3]]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Scalar model of the pair check, compared against std over every 2-byte prefix.
    fn pair_error(prev1: u8, cur: u8) -> u8 {
        BYTE_1_HIGH[usize::from(prev1 >> 4)]
            & BYTE_1_LOW[usize::from(prev1 & 15)]
            & BYTE_2_HIGH[usize::from(cur >> 4)]
    }

    #[test]
    fn pair_tables_agree_with_std_on_two_byte_prefixes() {
        for a in 0..=255u8 {
            for b in 0..=255u8 {
                // Is "a b" a possible prefix of valid UTF-8 (continuing after a complete char)?
                let cont_b = b & 0xC0 == 0x80;
                // Whether `b` is a possible next byte after `a`; a lead byte `b` that can never
                // start a sequence (C0, F5..) is judged together with the byte after it.
                let std_ok = match std::str::from_utf8(&[a, b]) {
                    Ok(_) => true,
                    Err(e) if e.error_len().is_none() => true,
                    Err(e) => e.valid_up_to() == 1 && !cont_b,
                };
                let cont_a = a & 0xC0 == 0x80;
                let err = pair_error(a, b);
                if cont_a && cont_b {
                    // Legal only as 3rd/4th byte: reported as TWO_CONTS, resolved by the kernels.
                    assert_eq!(err, TWO_CONTS, "{a:02x} {b:02x}");
                } else if cont_a {
                    // A continuation followed by a non-continuation: fine as a pair.
                    assert_eq!(err, 0, "{a:02x} {b:02x}");
                } else {
                    assert_eq!(err == 0, std_ok, "{a:02x} {b:02x}");
                }
            }
        }
    }
}
