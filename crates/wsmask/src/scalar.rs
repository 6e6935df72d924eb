//! Portable scalar implementation: the reference every SIMD path is tested against, the
//! fallback on targets without SIMD, and the path for inputs too short to be worth a vector.

use crate::key::rotated_key_bytes;

/// XOR `src` into `dst` with the masking key, `src[0]` being payload byte `offset`
/// (RFC 6455 §5.3: `transformed-octet-i = original-octet-i XOR masking-key-octet-(i MOD 4)`).
///
/// Works on 8-byte words; the key is rotated once so that word lanes line up with `offset`.
/// The last `< 8` bytes go as one 4-, one 2- and one 1-byte piece.
/// Only the common prefix of `src` and `dst` is processed.
#[inline]
pub(crate) fn unmask_copy(src: &[u8], dst: &mut [u8], key: [u8; 4], offset: usize) {
    let k = rotated_key_bytes(key, offset);
    let word = doubled(k);
    let mut s_words = src.chunks_exact(8);
    let mut d_words = dst.chunks_exact_mut(8);
    for (d, s) in (&mut d_words).zip(&mut s_words) {
        let mut w = [0u8; 8];
        w.copy_from_slice(s);
        d.copy_from_slice(&(u64::from_ne_bytes(w) ^ word).to_ne_bytes());
    }
    // Every word is 8 bytes, a multiple of 4, so the tail starts at key lane 0 again.
    tail(s_words.remainder(), d_words.into_remainder(), k);
}

/// In-place form of [`unmask_copy`].
#[inline]
pub(crate) fn unmask(buf: &mut [u8], key: [u8; 4], offset: usize) {
    let k = rotated_key_bytes(key, offset);
    let word = doubled(k);
    let mut words = buf.chunks_exact_mut(8);
    for d in &mut words {
        let mut w = [0u8; 8];
        w.copy_from_slice(d);
        d.copy_from_slice(&(u64::from_ne_bytes(w) ^ word).to_ne_bytes());
    }
    tail_in_place(words.into_remainder(), k);
}

/// The key bytes twice, as one 8-byte word in memory order.
#[inline]
fn doubled(k: [u8; 4]) -> u64 {
    let w = u64::from(u32::from_ne_bytes(k));
    w | (w << 32)
}

/// In-place form of [`tail`].
#[inline]
fn tail_in_place(buf: &mut [u8], k: [u8; 4]) {
    let [k0, k1, k2, _] = k;
    let mut i = 0;
    if let Some(d) = buf.first_chunk_mut::<4>() {
        *d = (u32::from_ne_bytes(*d) ^ u32::from_ne_bytes(k)).to_ne_bytes();
        i = 4;
    }
    let rest = buf.get_mut(i..).unwrap_or_default();
    let (mut j, mut last_key) = (0, k0);
    if let Some(d) = rest.first_chunk_mut::<2>() {
        *d = (u16::from_ne_bytes(*d) ^ u16::from_ne_bytes([k0, k1])).to_ne_bytes();
        (j, last_key) = (2, k2);
    }
    if let Some(d) = rest.get_mut(j) {
        *d ^= last_key;
    }
}

/// The last `< 8` bytes (the common prefix of `src` and `dst`), starting at key lane 0: one
/// 4-, one 2- and one 1-byte piece at most.
#[inline]
fn tail(src: &[u8], dst: &mut [u8], k: [u8; 4]) {
    let [k0, k1, k2, _] = k;
    let mut i = 0;
    if let (Some(s), Some(d)) = (src.first_chunk::<4>(), dst.first_chunk_mut::<4>()) {
        *d = (u32::from_ne_bytes(*s) ^ u32::from_ne_bytes(k)).to_ne_bytes();
        i = 4;
    }
    let (src, dst) = (
        src.get(i..).unwrap_or_default(),
        dst.get_mut(i..).unwrap_or_default(),
    );
    let mut j = 0;
    if let (Some(s), Some(d)) = (src.first_chunk::<2>(), dst.first_chunk_mut::<2>()) {
        *d = (u16::from_ne_bytes(*s) ^ u16::from_ne_bytes([k0, k1])).to_ne_bytes();
        j = 2;
    }
    if let (Some(s), Some(d)) = (src.get(j), dst.get_mut(j)) {
        *d = *s ^ if j == 0 { k0 } else { k2 };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytewise(buf: &[u8], key: [u8; 4], offset: usize) -> Vec<u8> {
        buf.iter()
            .enumerate()
            .map(|(i, b)| b ^ key[(offset + i) % 4])
            .collect()
    }

    #[test]
    fn words_match_the_rfc_definition() {
        let key = [0x37, 0xfa, 0x21, 0x3d];
        let data: Vec<u8> = (0..=255u8).collect();
        for len in 0..40 {
            for offset in 0..8 {
                let mut buf = data[..len].to_vec();
                unmask(&mut buf, key, offset);
                assert_eq!(
                    buf,
                    bytewise(&data[..len], key, offset),
                    "len {len} offset {offset}"
                );
                let mut dst = vec![0u8; len];
                unmask_copy(&data[..len], &mut dst, key, offset);
                assert_eq!(dst, buf);
            }
        }
    }

    #[test]
    fn rfc6455_example_hello() {
        // RFC 6455 §5.7: a masked "Hello" with key 37 fa 21 3d.
        let mut payload = [0x7f, 0x9f, 0x4d, 0x51, 0x58];
        unmask(&mut payload, [0x37, 0xfa, 0x21, 0x3d], 0);
        assert_eq!(&payload, b"Hello");
    }
}
