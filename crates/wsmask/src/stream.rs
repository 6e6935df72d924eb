//! Streaming UTF-8 validation of one text message (RFC 6455 §5.6, §8.1), fused with unmasking.
//!
//! A message arrives as chunks (receive buffers, and the frames of a fragmented message). The
//! SIMD kernels prove most of each chunk valid while unmasking it; this module carries a code
//! point split across chunks, re-checks the last code point of the proven stretch and the
//! unproven rest with `std::str::from_utf8`, and turns positions into whole-payload positions.

use crate::arch::{self, Detected, Proof};
use crate::{Implementation, scalar};

/// Inputs shorter than this skip the vector kernels.
const SHORT: usize = 16;

/// The first invalid UTF-8 byte of a text message (RFC 3629 §4; RFC 6455 §8.1 requires failing
/// the connection), as a position in the whole (multi-chunk) payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("invalid UTF-8 (RFC 3629 §4) in text message at payload byte {valid_up_to}")]
pub struct Utf8Error {
    /// Number of leading bytes of the whole payload that are valid UTF-8; equals
    /// `std::str::from_utf8(whole_payload).unwrap_err().valid_up_to()`.
    pub valid_up_to: usize,
}

/// Streaming fused unmask + UTF-8 validation over the chunks of one message.
///
/// Every call reports an error as soon as the bytes seen so far can no longer be the start of
/// valid UTF-8 ("fail fast"); a chunk that ends inside a code point is fine and carried over;
/// [`Utf8Stream::finish`] rejects a message that ends inside one. Once an error was found it
/// sticks: later calls still unmask but return the same error.
#[derive(Debug, Default, Clone)]
pub struct Utf8Stream {
    /// Start of a code point cut off by the end of the previous chunk (1..=3 bytes, a valid
    /// prefix).
    pending: [u8; 4],
    pending_len: u8,
    /// Payload bytes before `pending`, all valid.
    verified: usize,
    error: Option<Utf8Error>,
}

/// Length of the sequence a lead byte starts (1 for ASCII; 0 for bytes that cannot lead).
fn sequence_len(lead: u8) -> usize {
    match lead {
        0x00..=0x7F => 1,
        0xC2..=0xDF => 2,
        0xE0..=0xEF => 3,
        0xF0..=0xF4 => 4,
        _ => 0,
    }
}

impl Utf8Stream {
    /// A validator at the start of a message.
    pub fn new() -> Self {
        Self::default()
    }

    /// Unmask `buf` in place (payload position `offset`) and validate it as the next chunk.
    /// The whole buffer is unmasked even when an error is returned.
    pub fn unmask_validate(
        &mut self,
        buf: &mut [u8],
        key: [u8; 4],
        offset: usize,
    ) -> Result<(), Utf8Error> {
        if self.at_boundary() && buf.len() >= SHORT {
            // The common case: no code point carried over, nothing wrong so far.
            let proof = arch::unmask_validate_dispatched(buf, key, offset);
            return self.check_rest(buf, proof);
        }
        self.unmask_validate_on(Detected::best(), buf, key, offset, SHORT)
    }

    /// Copy + unmask `src` into `dst` (same length) and validate it as the next chunk.
    /// `dst` is fully written even when an error is returned.
    ///
    /// # Panics
    /// If `src.len() != dst.len()` (a caller bug, never input-derived).
    pub fn unmask_copy_validate(
        &mut self,
        src: &[u8],
        dst: &mut [u8],
        key: [u8; 4],
        offset: usize,
    ) -> Result<(), Utf8Error> {
        if self.at_boundary() && src.len() >= SHORT && src.len() == dst.len() {
            // The common case: no code point carried over, nothing wrong so far.
            let proof = arch::unmask_copy_validate_dispatched(src, dst, key, offset);
            return self.check_rest(dst, proof);
        }
        self.unmask_copy_validate_on(Detected::best(), src, dst, key, offset, SHORT)
    }

    /// Validate an already-unmasked chunk.
    pub fn validate(&mut self, chunk: &[u8]) -> Result<(), Utf8Error> {
        self.validate_on(Detected::best(), chunk, SHORT)
    }

    /// [`Utf8Stream::unmask_validate`] with a given implementation, whatever the length.
    ///
    /// # Panics
    /// If the implementation is not available on this CPU.
    pub fn unmask_validate_with(
        &mut self,
        imp: Implementation,
        buf: &mut [u8],
        key: [u8; 4],
        offset: usize,
    ) -> Result<(), Utf8Error> {
        self.unmask_validate_on(imp.detected(), buf, key, offset, 0)
    }

    /// [`Utf8Stream::unmask_copy_validate`] with a given implementation, whatever the length.
    ///
    /// # Panics
    /// If the lengths differ or the implementation is not available on this CPU.
    pub fn unmask_copy_validate_with(
        &mut self,
        imp: Implementation,
        src: &[u8],
        dst: &mut [u8],
        key: [u8; 4],
        offset: usize,
    ) -> Result<(), Utf8Error> {
        self.unmask_copy_validate_on(imp.detected(), src, dst, key, offset, 0)
    }

    /// [`Utf8Stream::validate`] with a given implementation, whatever the length.
    ///
    /// # Panics
    /// If the implementation is not available on this CPU.
    pub fn validate_with(&mut self, imp: Implementation, chunk: &[u8]) -> Result<(), Utf8Error> {
        self.validate_on(imp.detected(), chunk, 0)
    }

    /// End of message: an incomplete trailing code point is an error.
    pub fn finish(&self) -> Result<(), Utf8Error> {
        if let Some(e) = self.error {
            return Err(e);
        }
        if self.pending_len == 0 {
            Ok(())
        } else {
            Err(Utf8Error {
                valid_up_to: self.verified,
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

    // Out of line: keeps the whole-chunk fast path of the public entry points small.
    #[inline(never)]
    fn unmask_validate_on(
        &mut self,
        imp: Detected,
        buf: &mut [u8],
        key: [u8; 4],
        offset: usize,
        short: usize,
    ) -> Result<(), Utf8Error> {
        if self.at_boundary() && buf.len() >= short {
            let proof = imp.unmask_validate(buf, key, offset);
            return self.check_rest(buf, proof);
        }
        let take = self.completion_len(buf.len());
        let (head, rest) = buf.split_at_mut(take);
        scalar::unmask(head, key, offset);
        let offset = offset.wrapping_add(take);
        if self.complete_pending(head).is_err() {
            imp.unmask(rest, key, offset);
            return self.result();
        }
        let proven = if rest.len() < short {
            scalar::unmask(rest, key, offset);
            Proof::NONE
        } else {
            imp.unmask_validate(rest, key, offset)
        };
        self.check_rest(rest, proven)
    }

    // Out of line: keeps the whole-chunk fast path of the public entry points small.
    #[inline(never)]
    fn unmask_copy_validate_on(
        &mut self,
        imp: Detected,
        src: &[u8],
        dst: &mut [u8],
        key: [u8; 4],
        offset: usize,
        short: usize,
    ) -> Result<(), Utf8Error> {
        assert_eq!(
            src.len(),
            dst.len(),
            "unmask_copy_validate: length mismatch"
        );
        if self.at_boundary() && src.len() >= short {
            // The common case: no code point carried over, nothing wrong so far.
            let proof = imp.unmask_copy_validate(src, dst, key, offset);
            return self.check_rest(dst, proof);
        }
        let take = self.completion_len(src.len());
        let (src_head, src_rest) = src.split_at(take);
        let (head, rest) = dst.split_at_mut(take);
        scalar::unmask_copy(src_head, head, key, offset);
        let offset = offset.wrapping_add(take);
        if self.complete_pending(head).is_err() {
            imp.unmask_copy(src_rest, rest, key, offset);
            return self.result();
        }
        let proven = if rest.len() < short {
            scalar::unmask_copy(src_rest, rest, key, offset);
            Proof::NONE
        } else {
            imp.unmask_copy_validate(src_rest, rest, key, offset)
        };
        self.check_rest(rest, proven)
    }

    fn validate_on(&mut self, imp: Detected, chunk: &[u8], short: usize) -> Result<(), Utf8Error> {
        let take = self.completion_len(chunk.len());
        let (head, rest) = chunk.split_at(take);
        if self.complete_pending(head).is_err() {
            return self.result();
        }
        let proven = if rest.len() < short {
            Proof::NONE
        } else {
            imp.validate(rest)
        };
        self.check_rest(rest, proven)
    }

    /// No pending code point and no error: a chunk can go straight to the kernel.
    #[inline]
    fn at_boundary(&self) -> bool {
        self.pending_len == 0 && self.error.is_none()
    }

    fn result(&self) -> Result<(), Utf8Error> {
        self.error.map_or(Ok(()), Err)
    }

    /// How many leading bytes of a `len`-byte chunk belong to the pending code point.
    fn completion_len(&self, len: usize) -> usize {
        if self.error.is_some() || self.pending_len == 0 {
            return 0;
        }
        let need = sequence_len(self.pending[0]).saturating_sub(usize::from(self.pending_len));
        need.min(len)
    }

    /// Append `head` (unmasked) to the pending code point and check it.
    fn complete_pending(&mut self, head: &[u8]) -> Result<(), Utf8Error> {
        if let Some(e) = self.error {
            return Err(e);
        }
        if self.pending_len == 0 {
            return Ok(());
        }
        let held = usize::from(self.pending_len);
        // `head` is at most the 1..=3 bytes the pending code point still needs.
        let mut joined = [0u8; 4];
        let mut n = 0;
        for (d, s) in joined
            .iter_mut()
            .zip(self.pending.iter().take(held).chain(head))
        {
            *d = *s;
            n += 1;
        }
        self.judge_pending(joined.get(..n).unwrap_or_default())
    }

    fn judge_pending(&mut self, joined: &[u8]) -> Result<(), Utf8Error> {
        match std::str::from_utf8(joined) {
            Ok(_) => {
                self.verified += joined.len();
                self.pending_len = 0;
                Ok(())
            }
            Err(e) if e.error_len().is_none() => {
                // Still cut off: `joined` is a 1..=3 byte valid prefix.
                self.hold(joined);
                Ok(())
            }
            Err(e) => Err(self.fail(self.verified + e.valid_up_to())),
        }
    }

    fn hold(&mut self, prefix: &[u8]) {
        let n = prefix.len().min(3);
        self.pending = [0; 4];
        for (d, s) in self.pending.iter_mut().zip(prefix) {
            *d = *s;
        }
        self.pending_len = n as u8;
    }

    fn fail(&mut self, valid_up_to: usize) -> Utf8Error {
        let e = Utf8Error { valid_up_to };
        self.error = Some(e);
        self.pending_len = 0;
        e
    }

    /// `rest[..proof.proven]` was checked by a kernel except for a code point cut off at
    /// `proven`; re-check from that code point's start to the end with std.
    #[inline]
    fn check_rest(&mut self, rest: &[u8], proof: Proof) -> Result<(), Utf8Error> {
        if proof.ends_complete && proof.proven == rest.len() {
            self.verified += rest.len();
            return Ok(());
        }
        self.check_rest_slow(rest, proof)
    }

    #[inline(never)]
    fn check_rest_slow(&mut self, rest: &[u8], proof: Proof) -> Result<(), Utf8Error> {
        let proven = proof.proven.min(rest.len());
        // Walk back over at most 3 continuation bytes to the start of the last code point.
        let mut start = proven;
        for i in (proven.saturating_sub(3)..proven).rev() {
            if rest.get(i).is_some_and(|b| b & 0xC0 != 0x80) {
                start = i;
                break;
            }
        }
        let tail = rest.get(start..).unwrap_or_default();
        match std::str::from_utf8(tail) {
            Ok(_) => {
                self.verified += rest.len();
                Ok(())
            }
            Err(e) if e.error_len().is_none() => {
                let cut = start + e.valid_up_to();
                self.verified += cut;
                self.hold(rest.get(cut..).unwrap_or_default());
                Ok(())
            }
            Err(e) => Err(self.fail(self.verified + start + e.valid_up_to())),
        }
    }
}
