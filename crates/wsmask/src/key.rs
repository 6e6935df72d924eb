//! The masking key (RFC 6455 §5.3) rotated to a payload position.

/// The key bytes in the order they apply from payload position `offset` on.
pub(crate) fn rotated_key_bytes(key: [u8; 4], offset: usize) -> [u8; 4] {
    let mut k = key;
    k.rotate_left(offset & 3);
    k
}

/// The rotated key as one 32-bit lane in memory order (broadcast it into a vector).
pub(crate) fn rotated_key_word(key: [u8; 4], offset: usize) -> u32 {
    u32::from_ne_bytes(rotated_key_bytes(key, offset))
}

/// Move a key word (see [`rotated_key_word`]) forward by `n` payload bytes.
pub(crate) fn advance(word: u32, n: usize) -> u32 {
    let mut k = word.to_ne_bytes();
    k.rotate_left(n & 3);
    u32::from_ne_bytes(k)
}

/// Move a key word back by `n` payload bytes.
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
pub(crate) fn retreat(word: u32, n: usize) -> u32 {
    let mut k = word.to_ne_bytes();
    k.rotate_right(n & 3);
    u32::from_ne_bytes(k)
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
