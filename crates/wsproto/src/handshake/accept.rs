//! `Sec-WebSocket-Accept` (RFC 6455 §4.2.2 step 5.4).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use sha1::{Digest, Sha1};

/// The GUID every server appends to the client's key.
const GUID: &[u8] = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// base64(SHA-1(key ++ GUID)): the value proving the server read the client's key.
///
/// ```
/// // RFC 6455 §1.3
/// assert_eq!(wsproto::accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
/// ```
pub fn accept_key(key: &[u8]) -> String {
    let mut sha = Sha1::new();
    sha.update(key);
    sha.update(GUID);
    STANDARD.encode(sha.finalize())
}

/// Whether a `Sec-WebSocket-Key` value is base64 of 16 bytes (§4.1, §11.3.1).
pub(crate) fn is_valid_key(key: &[u8]) -> bool {
    key.len() == 24 && STANDARD.decode(key).is_ok_and(|raw| raw.len() == 16)
}

/// base64 of a 16-byte nonce, as a client sends it.
pub(crate) fn encode_key(nonce: [u8; 16]) -> String {
    STANDARD.encode(nonce)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_sample_accept() {
        assert_eq!(
            accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    #[test]
    fn key_must_be_16_bytes_of_base64() {
        assert!(is_valid_key(b"dGhlIHNhbXBsZSBub25jZQ=="));
        assert!(!is_valid_key(b"dGhlIHNhbXBsZSBub25jZQ"));
        assert!(!is_valid_key(b"dGhlIHNhbXBsZSBub25jZXh4eA=="));
        assert!(!is_valid_key(b"!!!!!!!!!!!!!!!!!!!!!!=="));
        assert!(is_valid_key(encode_key([7; 16]).as_bytes()));
    }
}
