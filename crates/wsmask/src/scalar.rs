//! Portable scalar implementation: the reference every SIMD path is tested against, the
//! fallback on targets without SIMD, and the path for inputs too short to be worth a vector.

use crate::key::rotated_key_bytes;

/// XOR `src` into `dst` with the masking key, `src[0]` being payload byte `offset`
/// (RFC 6455 §5.3: `transformed-octet-i = original-octet-i XOR masking-key-octet-(i MOD 4)`).
///
/// Works on 8-byte words; the key is rotated once so that word lanes line up with `offset`.
/// Only the common prefix of `src` and `dst` is processed.
pub(crate) fn unmask_copy(src: &[u8], dst: &mut [u8], key: [u8; 4], offset: usize) {
    let k = rotated_key_bytes(key, offset);
    let word = u64::from_ne_bytes([k[0], k[1], k[2], k[3], k[0], k[1], k[2], k[3]]);
    let mut s_words = src.chunks_exact(8);
    let mut d_words = dst.chunks_exact_mut(8);
    for (d, s) in (&mut d_words).zip(&mut s_words) {
        let mut w = [0u8; 8];
        w.copy_from_slice(s);
        d.copy_from_slice(&(u64::from_ne_bytes(w) ^ word).to_ne_bytes());
    }
    // Every word is 8 bytes, a multiple of 4, so the tail starts at key lane 0 again.
    for (i, (d, s)) in d_words
        .into_remainder()
        .iter_mut()
        .zip(s_words.remainder())
        .enumerate()
    {
        *d = *s ^ k[i & 3];
    }
}

/// In-place form of [`unmask_copy`].
pub(crate) fn unmask(buf: &mut [u8], key: [u8; 4], offset: usize) {
    let k = rotated_key_bytes(key, offset);
    let word = u64::from_ne_bytes([k[0], k[1], k[2], k[3], k[0], k[1], k[2], k[3]]);
    let mut words = buf.chunks_exact_mut(8);
    for d in &mut words {
        let mut w = [0u8; 8];
        w.copy_from_slice(d);
        d.copy_from_slice(&(u64::from_ne_bytes(w) ^ word).to_ne_bytes());
    }
    for (i, d) in words.into_remainder().iter_mut().enumerate() {
        *d ^= k[i & 3];
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
