//! The masking key (RFC 6455 §5.3) rotated to a payload position.

/// The key bytes in the order they apply from payload position `offset` on.
#[inline]
pub(crate) fn rotated_key_bytes(key: [u8; 4], offset: usize) -> [u8; 4] {
    // Little-endian view: moving byte 1 into position 0 is a right rotation.
    let shift = 8 * (offset & 3) as u32;
    u32::from_le_bytes(key).rotate_right(shift).to_le_bytes()
}

/// The rotated key as one 32-bit lane in memory order (broadcast it into a vector).
#[inline]
pub(crate) fn rotated_key_word(key: [u8; 4], offset: usize) -> u32 {
    u32::from_ne_bytes(rotated_key_bytes(key, offset))
}

/// Move a key word (see [`rotated_key_word`]) forward by `n` payload bytes.
#[inline]
pub(crate) fn advance(word: u32, n: usize) -> u32 {
    u32::from_ne_bytes(rotated_key_bytes(word.to_ne_bytes(), n))
}

/// Move a key word back by `n` payload bytes.
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
#[inline]
pub(crate) fn retreat(word: u32, n: usize) -> u32 {
    advance(word, 4 - (n & 3))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotation_follows_the_payload_position() {
        let key = [1, 2, 3, 4];
        assert_eq!(rotated_key_bytes(key, 0), [1, 2, 3, 4]);
        assert_eq!(rotated_key_bytes(key, 1), [2, 3, 4, 1]);
        assert_eq!(rotated_key_bytes(key, 7), [4, 1, 2, 3]);
        let w = rotated_key_word(key, 1);
        assert_eq!(advance(w, 2), rotated_key_word(key, 3));
        assert_eq!(retreat(w, 2), rotated_key_word(key, 3));
        assert_eq!(retreat(advance(w, 3), 3), w);
    }
}
