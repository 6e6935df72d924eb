//! Where codec state lives: with the connection for a direction that keeps its window (context takeover), or
//! shared by all the connections of a worker for a direction that does not.

use super::{Compressor, Decompressor, DeflateParams, MAX_WINDOW_BITS, MIN_WINDOW_BITS};
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
}

impl SharedCodecs {
    /// Codecs compressing at `level` (0–9).
    pub fn new(level: u8) -> Self {
        Self {
            level,
            compress: Default::default(),
            decompress: Default::default(),
        }
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
