//! A connection's context between messages, kept packed: the plain bytes live only while a message is read or
//! written, in a buffer of the worker's.

use super::{Compressor, Decompressor};

/// The level contexts are packed at: zlib's fastest, a few microseconds for a SIP message's worth.
pub const PACK_LEVEL: u8 = 1;

/// What a connection keeps of one direction's stream between messages (the last bytes the peer's window may
/// refer to): packed by [`Context::put`], unpacked by [`Context::take`] for the next message.
///
/// Kept packed, a context costs less than half its size; and the plain bytes live in one buffer of the worker's
/// ([`SharedCodecs`](super::SharedCodecs)), so that many connections busy at once (a reconnection storm) do not
/// leave the worker's heap full of holes once they are quiet: a connection holds one allocation of the packed
/// size.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Context(Option<Box<[u8]>>);

impl Context {
    /// Keeps `plain` packed with `packer` (a shared compressor, which keeps no window) against `dictionary`,
    /// compressed into `scratch` first.
    pub fn put(
        &mut self,
        plain: &[u8],
        packer: &mut Compressor,
        dictionary: &[u8],
        scratch: &mut Vec<u8>,
    ) {
        self.0 = (!plain.is_empty()).then(|| {
            packer.pack(plain, dictionary, scratch);
            Box::from(scratch.as_slice())
        });
    }

    /// Unpacks the context into `plain` (at most `keep` bytes) with `unpacker` and the `dictionary` it was
    /// packed against, and empties it until the bytes are [put](Context::put) back. Bytes that do not unpack
    /// (never the case for what [`Context::put`] packed) come back empty, and a message that refers to them
    /// fails to inflate.
    pub fn take(
        &mut self,
        unpacker: &mut Decompressor,
        dictionary: &[u8],
        keep: usize,
        plain: &mut Vec<u8>,
    ) {
        plain.clear();
        if let Some(packed) = self.0.take() {
            unpacker.unpack(&packed, dictionary, keep, plain);
        }
    }

    /// The packed bytes, to move the context to another process (`None`: nothing kept).
    pub fn packed(&self) -> Option<&[u8]> {
        self.0.as_deref()
    }

    /// A context from bytes [`packed`](Self::packed) returned, packed against the same dictionary.
    pub fn from_packed(packed: &[u8]) -> Self {
        Self((!packed.is_empty()).then(|| Box::from(packed)))
    }

    /// Heap bytes held.
    pub fn heap_bytes(&self) -> usize {
        self.0.as_ref().map_or(0, |p| p.len())
    }

    /// Whether nothing is kept.
    pub fn is_empty(&self) -> bool {
        self.0.is_none()
    }
}
