//! A connection's context between messages, as plain bytes while it is in use and packed while it is quiet.

use super::{Compressor, Decompressor};

/// What a connection keeps of one direction's stream between messages (the last bytes the peer's window may
/// refer to). A quiet connection packs it ([`Context::pack`]); the next message unpacks it
/// ([`Context::take`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Context {
    /// The bytes themselves.
    Plain(Vec<u8>),
    /// The bytes compressed on their own ([`Compressor::pack`]).
    Packed(Box<[u8]>),
}

impl Default for Context {
    fn default() -> Self {
        Self::Plain(Vec::new())
    }
}

impl Context {
    /// Packs plain bytes with `compressor` (a shared one, which keeps no window), when that makes them smaller.
    pub fn pack(&mut self, compressor: &mut Compressor) {
        if let Self::Plain(plain) = self
            && !plain.is_empty()
        {
            let packed = compressor.pack(plain);
            if packed.len() < plain.capacity() {
                *self = Self::Packed(packed.into_boxed_slice());
            }
        }
    }

    /// The plain bytes (at most `keep` of them), unpacked with `decompressor` when packed; the context is left
    /// empty until they are put back. Bytes that do not unpack (never the case for what [`Context::pack`]
    /// wrote) come back empty, and the next message that refers to them fails to inflate.
    pub fn take(&mut self, decompressor: &mut Decompressor, keep: usize) -> Vec<u8> {
        match std::mem::take(self) {
            Self::Plain(plain) => plain,
            Self::Packed(packed) => decompressor.unpack(&packed, keep).unwrap_or_default(),
        }
    }

    /// Heap bytes held.
    pub fn heap_bytes(&self) -> usize {
        match self {
            Self::Plain(plain) => plain.capacity(),
            Self::Packed(packed) => packed.len(),
        }
    }
}
