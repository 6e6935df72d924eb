//! Where codec state lives: with the connection for a direction that keeps its window (context takeover), or
//! shared by all the connections of a worker for a direction that does not.

use super::{
    Compressor, Context, Decompressor, DeflateParams, MAX_WINDOW_BITS, MIN_WINDOW_BITS, PACK_LEVEL,
};
use crate::config::Role;

/// Window sizes a codec may have (8 to 15 bits).
const SIZES: usize = (MAX_WINDOW_BITS - MIN_WINDOW_BITS + 1) as usize;

/// One worker's codecs for the directions that keep no window between messages: one per window size, made on
/// first use. Such a codec is reset after every message, so any connection may use it next.
#[derive(Debug)]
pub struct SharedCodecs {
    level: u8,
    compress: [Option<Compressor>; SIZES],
    decompress: [Option<Decompressor>; SIZES],
    /// Packs connections' contexts ([`Context`]) at [`PACK_LEVEL`].
    packer: Option<Compressor>,
    /// What contexts are packed against ([`SharedCodecs::with_pack_dictionary`]).
    dictionary: &'static [u8],
    /// The plain bytes of the context in use, and a context's packed bytes before they are kept.
    plain: Vec<u8>,
    packed: Vec<u8>,
}

impl SharedCodecs {
    /// Codecs compressing at `level` (0–9).
    pub fn new(level: u8) -> Self {
        Self {
            level,
            compress: Default::default(),
            decompress: Default::default(),
            packer: None,
            dictionary: &[],
            plain: Vec::new(),
            packed: Vec::new(),
        }
    }

    /// Contexts are packed against `dictionary`: text like what they hold (a protocol's common words) makes them
    /// smaller. It never leaves the process, so any bytes will do, as long as they do not change while contexts
    /// packed against them are kept.
    pub fn with_pack_dictionary(mut self, dictionary: &'static [u8]) -> Self {
        self.dictionary = dictionary;
        self
    }

    /// A connection's context unpacked (at most `keep` bytes) into the worker's buffer, to be lent for one
    /// message ([`Decompressor::lend_window`], [`Compressor::compress_after`]) and given back with
    /// [`SharedCodecs::put_context`].
    pub fn take_context(&mut self, context: &mut Context, keep: usize) -> Vec<u8> {
        let mut plain = std::mem::take(&mut self.plain);
        let unpacker = self.decompress[slot(MAX_WINDOW_BITS)]
            .get_or_insert_with(|| Decompressor::new(MAX_WINDOW_BITS, false));
        context.take(unpacker, self.dictionary, keep, &mut plain);
        plain
    }

    /// Packs `plain` into `context`, and keeps its buffer for the next [`SharedCodecs::take_context`].
    pub fn put_context(&mut self, context: &mut Context, mut plain: Vec<u8>) {
        let packer = self
            .packer
            .get_or_insert_with(|| Compressor::new(MAX_WINDOW_BITS, PACK_LEVEL, false));
        context.put(&plain, packer, self.dictionary, &mut self.packed);
        plain.clear();
        self.plain = plain;
    }

    /// The shared compressor for a `bits` window (made on first use).
    pub fn compressor(&mut self, bits: u8) -> &mut Compressor {
        let level = self.level;
        self.compress[slot(bits)].get_or_insert_with(|| Compressor::new(bits, level, false))
    }

    /// The shared decompressor for a peer's `bits` window (made on first use).
    pub fn decompressor(&mut self, bits: u8) -> &mut Decompressor {
        self.decompress[slot(bits)].get_or_insert_with(|| Decompressor::new(bits, false))
    }

    /// Heap bytes held by the decompressors' output buffers (the codecs' own state is fixed per window size).
    pub fn buffer_bytes(&self) -> usize {
        self.decompress
            .iter()
            .flatten()
            .map(Decompressor::buffer_bytes)
            .sum()
    }
}

fn slot(bits: u8) -> usize {
    usize::from(bits.clamp(MIN_WINDOW_BITS, MAX_WINDOW_BITS) - MIN_WINDOW_BITS)
}

/// permessage-deflate on one connection: what was agreed, and the codecs of the directions that keep their
/// window (none under the default policy, so that an idle connection holds no codec state).
#[derive(Debug)]
pub struct Deflate {
    params: DeflateParams,
    role: Role,
    compressor: Option<Box<Compressor>>,
    decompressor: Option<Box<Decompressor>>,
}

impl Deflate {
    /// The connection of the endpoint in `role` under `params`, compressing at `level`.
    pub fn new(params: DeflateParams, role: Role, level: u8) -> Self {
        Self {
            params,
            role,
            compressor: params
                .compress_takeover(role)
                .then(|| Box::new(params.compressor(role, level))),
            decompressor: params
                .decompress_takeover(role)
                .then(|| Box::new(params.decompressor(role))),
        }
    }

    /// What was agreed.
    pub fn params(&self) -> &DeflateParams {
        &self.params
    }

    /// The compressor and the decompressor this connection uses now: its own, or the worker's shared ones.
    pub fn codecs<'a>(
        &'a mut self,
        shared: &'a mut SharedCodecs,
    ) -> (&'a mut Compressor, &'a mut Decompressor) {
        let (params, role, level) = (self.params, self.role, shared.level);
        let SharedCodecs {
            compress,
            decompress,
            ..
        } = shared;
        let compressor = match self.compressor.as_deref_mut() {
            Some(own) => own,
            None => {
                let bits = params.compress_window_bits(role);
                compress[slot(bits)].get_or_insert_with(|| Compressor::new(bits, level, false))
            }
        };
        let decompressor = match self.decompressor.as_deref_mut() {
            Some(own) => own,
            None => {
                let bits = params.decompress_window_bits(role);
                decompress[slot(bits)].get_or_insert_with(|| Decompressor::new(bits, false))
            }
        };
        (compressor, decompressor)
    }
}
