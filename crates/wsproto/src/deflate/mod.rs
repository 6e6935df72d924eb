//! permessage-deflate (RFC 7692): negotiation in the opening handshake and the per-message codec.
//!
//! * [`choose`] (server) and [`DeflateConfig::offer`] / [`read_response`] (client) agree on
//!   [`DeflateParams`]; [`DeflateParams::header_value`] is the server's `Sec-WebSocket-Extensions` answer.
//! * [`Compressor`] and [`Decompressor`] turn one message's payload into the compressed payload of a frame
//!   with RSV1 set and back (§7.2), through `flate2` (zlib-rs backend).
//! * [`Connection::receive_inflating`](crate::Connection::receive_inflating) and
//!   [`Connection::send_compressed`](crate::Connection::send_compressed) use them.
//!
//! Where the codec state lives is the caller's choice. With context takeover a direction's state lasts as
//! long as the connection; without it (`*_no_context_takeover`), the state is reset after every message, so
//! one compressor and one decompressor per window size can serve every connection of a worker and an idle
//! connection holds none.

mod codec;
mod context;
mod negotiate;
mod share;

pub use codec::{Compressor, Decompressor, InflateError};
pub use context::{Context, PACK_LEVEL};
pub use negotiate::{BadParameter, EXTENSION, ResponseError, choose, read_response};
pub use share::{Deflate, SharedCodecs};

use crate::config::Role;

/// The smallest LZ77 window RFC 7692 allows (256 bytes).
pub const MIN_WINDOW_BITS: u8 = 8;
/// The largest, and the default when a side names none (32 KiB).
pub const MAX_WINDOW_BITS: u8 = 15;
/// The smallest window zlib compresses with: asked for 8 it uses 9, which a 256-byte decoder cannot follow,
/// so a compressor held to 8 writes stored blocks (no back-references, valid for any window).
pub const MIN_COMPRESS_WINDOW_BITS: u8 = 9;

/// What an endpoint is willing to agree to: the server's policy, or what a client offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeflateConfig {
    /// The largest window the server compresses with (9–15). A server never uses more; a client asks for
    /// no more with `server_max_window_bits` when below 15.
    pub server_max_window_bits: u8,
    /// The largest window the client may compress with (8–15), which bounds the server's inflate window. A
    /// server can impose it only on a client that offered `client_max_window_bits`.
    pub client_max_window_bits: u8,
    /// The server starts every message with an empty window (its compressor keeps no state between
    /// messages).
    pub server_no_context_takeover: bool,
    /// The client starts every message with an empty window (the server's decompressor keeps no state
    /// between messages).
    pub client_no_context_takeover: bool,
    /// The compression level, 0 (stored) to 9 (smallest).
    pub level: u8,
}

impl Default for DeflateConfig {
    /// No context takeover either way (no codec state in an idle connection), full windows, level 6.
    fn default() -> Self {
        Self {
            server_max_window_bits: MAX_WINDOW_BITS,
            client_max_window_bits: MAX_WINDOW_BITS,
            server_no_context_takeover: true,
            client_no_context_takeover: true,
            level: 6,
        }
    }
}

/// The parameters both ends agreed on (RFC 7692 §7.1), as the server's answer states them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeflateParams {
    /// The server resets its compressor after every message.
    pub server_no_context_takeover: bool,
    /// The client resets its compressor after every message.
    pub client_no_context_takeover: bool,
    /// The server's window, when the answer names it (else 15).
    pub server_max_window_bits: Option<u8>,
    /// The client's window, when the answer names it (else 15).
    pub client_max_window_bits: Option<u8>,
}

impl DeflateParams {
    /// The window the endpoint in `role` compresses with.
    pub fn compress_window_bits(&self, role: Role) -> u8 {
        let bits = match role {
            Role::Server => self.server_max_window_bits,
            Role::Client => self.client_max_window_bits,
        };
        bits.unwrap_or(MAX_WINDOW_BITS)
    }

    /// The window the endpoint in `role` must be able to inflate with (a larger one is always safe).
    pub fn decompress_window_bits(&self, role: Role) -> u8 {
        let bits = match role {
            Role::Server => self.client_max_window_bits,
            Role::Client => self.server_max_window_bits,
        };
        bits.unwrap_or(MAX_WINDOW_BITS)
            .max(MIN_COMPRESS_WINDOW_BITS)
    }

    /// Whether the endpoint in `role` keeps its compressor's window from one message to the next.
    pub fn compress_takeover(&self, role: Role) -> bool {
        match role {
            Role::Server => !self.server_no_context_takeover,
            Role::Client => !self.client_no_context_takeover,
        }
    }

    /// Whether the peer of the endpoint in `role` keeps its window, so that this endpoint's decompressor must
    /// keep its own.
    pub fn decompress_takeover(&self, role: Role) -> bool {
        match role {
            Role::Server => !self.client_no_context_takeover,
            Role::Client => !self.server_no_context_takeover,
        }
    }

    /// A compressor for the endpoint in `role` at `level` (0–9).
    pub fn compressor(&self, role: Role, level: u8) -> Compressor {
        Compressor::new(
            self.compress_window_bits(role),
            level,
            self.compress_takeover(role),
        )
    }

    /// A decompressor for the endpoint in `role`.
    pub fn decompressor(&self, role: Role) -> Decompressor {
        Decompressor::new(
            self.decompress_window_bits(role),
            self.decompress_takeover(role),
        )
    }
}

#[cfg(test)]
mod tests;
