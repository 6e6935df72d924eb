//! One message's payload compressed and inflated (RFC 7692 §7.2), with the output bounded while inflating.

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

use super::MIN_COMPRESS_WINDOW_BITS;

/// The four bytes a sync flush ends with, removed by the sender and appended by the receiver (§7.2.1).
const TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// Compresses messages for one direction.
pub struct Compressor {
    z: Compress,
    takeover: bool,
    /// The last message [`Connection::send_compressed`](crate::Connection::send_compressed) compressed.
    buf: Vec<u8>,
}

impl std::fmt::Debug for Compressor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Compressor")
            .field("takeover", &self.takeover)
            .finish_non_exhaustive()
    }
}

impl Compressor {
    /// A compressor with a `window_bits` window (8–15) at `level` (0–9); `takeover`: keep the window from
    /// one message to the next. Held to 8 bits, it writes stored blocks, which any window can read.
    pub fn new(window_bits: u8, level: u8, takeover: bool) -> Self {
        let (bits, level) = if window_bits < MIN_COMPRESS_WINDOW_BITS {
            (MIN_COMPRESS_WINDOW_BITS, 0)
        } else {
            (window_bits.min(super::MAX_WINDOW_BITS), level.min(9))
        };
        Self {
            z: Compress::new_with_window_bits(Compression::new(u32::from(level)), false, bits),
            takeover,
            buf: Vec::new(),
        }
    }

    /// Compresses `payload` into the compressor's own buffer.
    pub(crate) fn compress_message(&mut self, payload: &[u8]) -> &[u8] {
        let mut buf = std::mem::take(&mut self.buf);
        buf.clear();
        self.compress(payload, &mut buf);
        self.buf = buf;
        &self.buf
    }

    /// Frees the buffer [`Connection::send_compressed`](crate::Connection::send_compressed) keeps.
    pub fn release(&mut self) {
        self.buf = Vec::new();
    }

    /// Context takeover without keeping a compressor per connection: a compressor that keeps no window
    /// (`takeover == false`) starts from `window`, the last bytes this connection's peer inflated, appends the
    /// compressed form of `payload` to `out`, and leaves in `window` the last `keep` bytes of what was sent (the
    /// peer keeps its window, RFC 7692 §7.1.1.1, so references into them are valid). `keep` must not exceed
    /// the window the peer was told (`server_max_window_bits`).
    pub fn compress_after(
        &mut self,
        window: &mut Vec<u8>,
        keep: usize,
        payload: &[u8],
        out: &mut Vec<u8>,
    ) {
        debug_assert!(
            !self.takeover,
            "a shared compressor starts every message afresh"
        );
        if !window.is_empty() {
            // A raw stream takes a dictionary right after a reset; this one was reset after its last message.
            let _ = self.z.set_dictionary(window);
        }
        self.compress(payload, out);
        remember(window, keep, payload);
    }

    /// `bytes` compressed on their own (against `dictionary`, if not empty) into `out` (cleared first): a
    /// connection's context kept small until [`Decompressor::unpack`] gives it back.
    pub fn pack(&mut self, bytes: &[u8], dictionary: &[u8], out: &mut Vec<u8>) {
        debug_assert!(
            !self.takeover,
            "a shared compressor starts every message afresh"
        );
        out.clear();
        if !dictionary.is_empty() {
            let _ = self.z.set_dictionary(dictionary);
        }
        self.compress(bytes, out);
    }

    /// Appends the compressed form of `payload` to `out`: the payload of a frame with RSV1 set.
    pub fn compress(&mut self, payload: &[u8], out: &mut Vec<u8>) {
        let (in0, start) = (self.z.total_in(), out.len());
        loop {
            if out.capacity() - out.len() < 64 {
                out.reserve(payload.len() / 2 + 64);
            }
            let done = (self.z.total_in() - in0) as usize;
            let rest = payload.get(done..).unwrap_or_default();
            // Raw deflate into a buffer with room does not fail (flate2 reports only stream errors); if it
            // ever did, the message would go out truncated rather than the loop spin.
            if self.z.compress_vec(rest, out, FlushCompress::Sync).is_err() {
                break;
            }
            let consumed = (self.z.total_in() - in0) as usize;
            // A sync flush is complete once it returns with output space left (zlib's avail_out != 0).
            if consumed >= payload.len() && out.len() < out.capacity() {
                break;
            }
        }
        if out.get(start..).is_some_and(|w| w.ends_with(&TAIL)) {
            out.truncate(out.len() - TAIL.len());
        }
        if !self.takeover {
            self.z.reset();
        }
    }
}

/// Keeps in `window` the last `keep` bytes of its old contents followed by `more`, in at most `keep` bytes of
/// heap: the buffer grows with what it holds, so a connection that sent little keeps little.
fn remember(window: &mut Vec<u8>, keep: usize, more: &[u8]) {
    if keep == 0 {
        return;
    }
    let want = (window.len() + more.len()).min(keep);
    if window.capacity() < want {
        window.reserve_exact(want - window.len());
    }
    if more.len() >= keep {
        window.clear();
        window.extend_from_slice(more.get(more.len() - keep..).unwrap_or_default());
        return;
    }
    let excess = (window.len() + more.len()).saturating_sub(keep);
    window.drain(..excess);
    window.extend_from_slice(more);
}

/// Why a compressed message was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum InflateError {
    /// It inflates to more than the message size limit (a compression bomb stops here).
    #[error("message inflates to more than {max} bytes")]
    TooBig {
        /// The limit.
        max: usize,
    },
    /// The bytes are not DEFLATE data.
    #[error("message is not valid DEFLATE data (RFC 7692 §7.2.2)")]
    Corrupt,
}

/// Inflates messages for one direction. The output buffer is kept for the next message; [`Decompressor::release`]
/// gives it back.
pub struct Decompressor {
    z: Decompress,
    takeover: bool,
    out: Vec<u8>,
    /// Compressed bytes of the last message inflated, until [`Decompressor::take_inflated`].
    last_input: Option<usize>,
    /// A connection's window lent by [`Decompressor::lend_window`], and how much of it to keep.
    window: Vec<u8>,
    keep: usize,
}

impl std::fmt::Debug for Decompressor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Decompressor")
            .field("takeover", &self.takeover)
            .field("out", &self.out.capacity())
            .finish_non_exhaustive()
    }
}

impl Decompressor {
    /// A decompressor for a peer compressing with at most `window_bits` (8–15); `takeover`: the peer keeps
    /// its window from one message to the next.
    pub fn new(window_bits: u8, takeover: bool) -> Self {
        debug_assert!(window_bits <= super::MAX_WINDOW_BITS);
        Self {
            // Always a 32 KiB window, which reads any smaller one: flate2's reset puts the window back to 15 bits,
            // and zlib frees and makes again a window whose size changed, which on every message left the heap
            // of a worker with holes between the connections' small buffers.
            z: Decompress::new_with_window_bits(false, super::MAX_WINDOW_BITS),
            takeover,
            out: Vec::new(),
            last_input: None,
            window: Vec::new(),
            keep: 0,
        }
    }

    /// Inflates one message's compressed payload (its frames' payloads joined) into at most `max` bytes.
    pub fn decompress(&mut self, compressed: &[u8], max: usize) -> Result<&[u8], InflateError> {
        self.out.clear();
        self.last_input = Some(compressed.len());
        if self.keep != 0 && !self.window.is_empty() {
            // The peer keeps its window: this message may refer to the connection's last bytes.
            let _ = self.z.set_dictionary(&self.window);
        }
        let result = self.inflate(compressed, max).and_then(|ended| {
            if ended {
                Ok(true)
            } else {
                self.inflate(&TAIL, max)
            }
        });
        match result {
            Ok(ended) if self.takeover && !ended => {}
            _ => self.z.reset(false),
        }
        if result.is_ok() {
            remember(&mut self.window, self.keep, &self.out);
        }
        result.map(|_| self.out.as_slice())
    }

    /// Feeds `input`; `Ok(true)` if the stream ended (a final block).
    fn inflate(&mut self, input: &[u8], max: usize) -> Result<bool, InflateError> {
        let in0 = self.z.total_in();
        loop {
            if self.out.len() == self.out.capacity() {
                if self.out.len() > max {
                    return Err(InflateError::TooBig { max });
                }
                let want = (self.out.len() * 2).max(input.len() * 4).max(1024);
                let room = want.min(max + 1 - self.out.len());
                self.out.reserve_exact(room);
            }
            let done = (self.z.total_in() - in0) as usize;
            let (out0, rest) = (self.out.len(), input.get(done..).unwrap_or_default());
            let status = self
                .z
                .decompress_vec(rest, &mut self.out, FlushDecompress::Sync)
                .map_err(|_| InflateError::Corrupt)?;
            if self.out.len() > max {
                return Err(InflateError::TooBig { max });
            }
            let consumed = (self.z.total_in() - in0) as usize;
            match status {
                Status::StreamEnd => return Ok(true),
                _ if consumed >= input.len() && self.out.len() < self.out.capacity() => {
                    return Ok(false);
                }
                _ if consumed == done
                    && self.out.len() == out0
                    && self.out.len() < self.out.capacity() =>
                {
                    return Err(InflateError::Corrupt);
                }
                _ => {}
            }
        }
    }

    /// Context takeover without keeping a decompressor per connection: until [`Decompressor::return_window`],
    /// a decompressor that keeps no window inflates every message from `window` (the last bytes the connection's
    /// peer compressed, at least its whole window: `keep` ≥ 2^client_max_window_bits) and keeps the last `keep`
    /// bytes of what it inflated there.
    pub fn lend_window(&mut self, window: Vec<u8>, keep: usize) {
        debug_assert!(
            !self.takeover,
            "a shared decompressor starts every message afresh"
        );
        self.window = window;
        self.keep = keep;
    }

    /// The window lent by [`Decompressor::lend_window`], updated by the messages inflated since.
    pub fn return_window(&mut self) -> Vec<u8> {
        self.keep = 0;
        std::mem::take(&mut self.window)
    }

    /// What [`Compressor::pack`] packed (against the same `dictionary`), into `out` (cleared first); `false`, and `out` empty, if it does not
    /// inflate to at most `max` bytes. Not counted as a message inflated ([`Decompressor::take_inflated`]).
    pub fn unpack(
        &mut self,
        packed: &[u8],
        dictionary: &[u8],
        max: usize,
        out: &mut Vec<u8>,
    ) -> bool {
        out.clear();
        let (window, keep) = (
            std::mem::take(&mut self.window),
            std::mem::replace(&mut self.keep, 0),
        );
        if !dictionary.is_empty() {
            // A shared decompressor is reset after every message, where a raw stream takes a dictionary.
            let _ = self.z.set_dictionary(dictionary);
        }
        let ok = match self.decompress(packed, max) {
            Ok(plain) => {
                out.extend_from_slice(plain);
                true
            }
            Err(_) => false,
        };
        (self.window, self.keep, self.last_input) = (window, keep, None);
        ok
    }

    /// The last message [`decompress`](Self::decompress) inflated.
    pub(crate) fn output(&self) -> &[u8] {
        &self.out
    }

    /// The compressed size of the message inflated since the last call, if one was (its inflated size is the
    /// delivered payload's): for counting bytes before and after.
    pub fn take_inflated(&mut self) -> Option<usize> {
        self.last_input.take()
    }

    /// Heap bytes of the output buffer.
    pub fn buffer_bytes(&self) -> usize {
        self.out.capacity()
    }

    /// Frees the output buffer (it is made again for the next message).
    pub fn release(&mut self) {
        self.out = Vec::new();
    }
}
