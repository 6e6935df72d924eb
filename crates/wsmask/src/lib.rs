//! WebSocket masking kernel (RFC 6455 §5.3). PLACEHOLDER API — being implemented (issue 2).
//!
//! The signatures here are the contract other crates code against:
//! ```
//! let key = [1, 2, 3, 4];
//! let mut buf = *b"hello";
//! wsmask::unmask(&mut buf, key, 0);
//! wsmask::unmask(&mut buf, key, 0);
//! assert_eq!(&buf, b"hello");
//! ```

/// XOR `buf` with the mask `key`, where `buf[0]` is payload byte number `offset`.
pub fn unmask(buf: &mut [u8], key: [u8; 4], offset: usize) {
    for (i, b) in buf.iter_mut().enumerate() {
        *b ^= key[(offset + i) & 3];
    }
}

/// Copy `src` into `dst` (same length) while unmasking; `src[0]` is payload byte `offset`.
///
/// # Panics
/// If `src.len() != dst.len()` (a caller bug, never input-derived).
pub fn unmask_copy(src: &[u8], dst: &mut [u8], key: [u8; 4], offset: usize) {
    assert_eq!(src.len(), dst.len(), "unmask_copy: length mismatch");
    for (i, (d, s)) in dst.iter_mut().zip(src).enumerate() {
        *d = *s ^ key[(offset + i) & 3];
    }
}

/// The first invalid UTF-8 byte of a message, as a position in the whole (multi-chunk) payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Utf8Error {
    /// Number of leading bytes of the whole payload that are valid UTF-8.
    pub valid_up_to: usize,
}

impl core::fmt::Display for Utf8Error {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "invalid UTF-8 at payload byte {}", self.valid_up_to)
    }
}

impl std::error::Error for Utf8Error {}

/// Streaming fused unmask + UTF-8 validation over the chunks of one message.
#[derive(Debug, Default, Clone)]
pub struct Utf8Stream {
    pending: [u8; 4],
    pending_len: u8,
    consumed: usize,
}

impl Utf8Stream {
    /// A validator at the start of a message.
    pub fn new() -> Self {
        Self::default()
    }

    /// Unmask `buf` in place (payload position `offset`) and validate it as the next chunk.
    pub fn unmask_validate(
        &mut self,
        buf: &mut [u8],
        key: [u8; 4],
        offset: usize,
    ) -> Result<(), Utf8Error> {
        unmask(buf, key, offset);
        self.validate(buf)
    }

    /// Copy + unmask `src` into `dst` and validate it as the next chunk.
    pub fn unmask_copy_validate(
        &mut self,
        src: &[u8],
        dst: &mut [u8],
        key: [u8; 4],
        offset: usize,
    ) -> Result<(), Utf8Error> {
        unmask_copy(src, dst, key, offset);
        self.validate(dst)
    }

    /// Validate an already-unmasked chunk.
    pub fn validate(&mut self, chunk: &[u8]) -> Result<(), Utf8Error> {
        let mut joined = self.pending[..self.pending_len as usize].to_vec();
        joined.extend_from_slice(chunk);
        let start = self.consumed - self.pending_len as usize;
        match std::str::from_utf8(&joined) {
            Ok(_) => {
                self.pending_len = 0;
                self.consumed += chunk.len();
                Ok(())
            }
            Err(e) if e.error_len().is_none() => {
                let tail = joined.len() - e.valid_up_to();
                self.pending[..tail].copy_from_slice(&joined[e.valid_up_to()..]);
                self.pending_len = tail as u8;
                self.consumed += chunk.len();
                Ok(())
            }
            Err(e) => Err(Utf8Error {
                valid_up_to: start + e.valid_up_to(),
            }),
        }
    }

    /// End of message: an incomplete trailing code point is an error.
    pub fn finish(&self) -> Result<(), Utf8Error> {
        if self.pending_len == 0 {
            Ok(())
        } else {
            Err(Utf8Error {
                valid_up_to: self.consumed - self.pending_len as usize,
            })
        }
    }

    /// Whether the stream ends in the middle of a code point.
    pub fn is_incomplete(&self) -> bool {
        self.pending_len != 0
    }

    /// Reset for a new message.
    pub fn reset(&mut self) {
        *self = Self::default();
    }
}
