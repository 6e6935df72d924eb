//! The opening handshake (RFC 6455 §4): an HTTP/1.1 Upgrade, parsed incrementally with `httparse`.

mod accept;
mod client;
mod error;
mod http;
mod server;

pub use accept::accept_key;
pub use client::{ClientHandshake, ClientHandshakeError, Response};
pub use error::HandshakeError;
pub use server::{Request, ServerConfig, ServerHandshake};
