//! Sans-io RFC 6455 WebSocket codec for sipedge.
//!
//! Everything a WebSocket endpoint decides, with no socket and no clock, so that the io_uring loop,
//! the epoll fallback, the load tool and the tests drive the same code:
//!
//! * [`ServerHandshake`] / [`ClientHandshake`]: the opening handshake (§4), fed bytes as they arrive.
//! * [`Connection`]: frames in (§5: masking by role, fragmentation, control frames, limits, UTF-8 via
//!   the fused SIMD kernels of `wsmask`), events out ([`Event`]); the close handshake (§7); ping/pong
//!   and keepalive with the time passed in.
//! * [`writer`]: frames encoded into caller buffers without allocating per frame.
//!
//! * [`deflate`]: permessage-deflate (RFC 7692), accepted when [`ServerConfig::deflate`] is set.
//!
//! ```
//! use wsproto::{Config, Connection, Event, MessageKind, Role, ServerConfig, ServerHandshake};
//!
//! let mut hs = ServerHandshake::new(ServerConfig { subprotocols: vec!["sip".into()], ..Default::default() });
//! let request = hs
//!     .feed(b"GET / HTTP/1.1\r\nHost: edge\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
//!             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
//!             Sec-WebSocket-Protocol: sip\r\n\r\n")
//!     .unwrap()
//!     .unwrap();
//! let mut out = Vec::new();
//! request.write_accept(&mut out);
//! assert!(out.starts_with(b"HTTP/1.1 101"));
//!
//! let mut conn = Connection::new(Role::Server, Config::default());
//! // A masked text frame "Hello" (RFC 6455 §5.7).
//! let mut input = [0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58];
//! let got = conn.receive(&mut input);
//! assert_eq!(got.event, Some(Event::Message { kind: MessageKind::Text, payload: b"Hello" }));
//!
//! out.clear();
//! conn.send_text("Hello", &mut out, None).unwrap();
//! assert_eq!(out, [0x81, 0x05, b'H', b'e', b'l', b'l', b'o']);
//! ```
#![forbid(unsafe_code)]

pub mod close_code;
mod config;
mod connection;
pub mod deflate;
mod error;
mod handshake;
pub mod header;
mod opcode;
pub mod writer;

pub use config::{Config, Keepalive, Role};
pub use connection::{
    Connection, Event, MessageKind, Received, STATE_VERSION, StateError, Timeout,
};
pub use error::{ProtocolError, SendError};
pub use handshake::{
    ClientHandshake, ClientHandshakeError, HandshakeError, Request, Response, ServerConfig,
    ServerHandshake, accept_key,
};
pub use opcode::OpCode;
