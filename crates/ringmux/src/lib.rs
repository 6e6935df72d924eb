//! ringmux: a thread-per-core connection multiplexer on io_uring, with an epoll (`mio`) fallback.
//!
//! ringmux knows nothing of WebSocket or SIP. It runs N worker threads; each owns one io_uring ring (or one
//! epoll instance), its SO_REUSEPORT listeners, its connections (a slab of small slots with generation
//! counters), one provided-buffer ring for receives, one hashed timer wheel, and a mailbox for messages from
//! other workers. The protocol layer implements [`Handler`] (open / data / writable / timer / closed,
//! messages, datagrams) and acts through [`Ctx`]: queue bytes (bounded per connection, with a
//! slow-consumer policy), close, arm timers, post to other workers, open outbound TCP and UDP sockets. The
//! same handler runs on both backends; [`select_backend`] probes io_uring at start and falls back to epoll
//! (or obeys `RINGMUX_IO=uring|epoll`).
//!
//! [`Config::listeners`] lists the addresses to listen on, each with its own settings (say ws:// and wss://
//! side by side); [`Ctx::listener`] tells which one accepted a connection, by its index in that list.
//!
//! Listeners may terminate TLS ([`Listener::tls`], module [`tls`]): the handler still sees plaintext and sends
//! plaintext, on any connection; [`Ctx::is_tls`] tells which connections are TLS. Outbound connections may run
//! TLS as clients ([`Ctx::connect_tls`] with a [`TlsConnector`]).
//!
//! Listeners may sit behind a load balancer speaking PROXY protocol v2 ([`Listener::proxy_protocol`], module
//! [`proxy_header`]): from the trusted proxies' addresses a header must come first (before TLS), and the client
//! it names is what [`Ctx::peer_addr`] returns; the handler hears of a connection only once its header is read
//! ([`Handler::proxy_rejected`] tells of the ones that never were).
//!
//! An idle connection costs one slot (see [`per_connection_bytes`]): no receive buffer (receives come from
//! the worker's buffer ring) and no send buffer (queues allocate only while bytes are queued).
//!
//! ```
//! use std::io::{Read, Write};
//! use std::time::Duration;
//! use ringmux::{Config, Conn, Ctx, Handler, Listener, Origin, Server};
//!
//! struct Echo;
//! impl Handler for Echo {
//!     type State = ();
//!     type Message = ();
//!     fn open(&mut self, _: &mut Ctx<'_, ()>, _: Conn, _: Origin) {}
//!     fn data(&mut self, ctx: &mut Ctx<'_, ()>, conn: Conn, _: &mut (), bytes: &[u8]) {
//!         let _ = ctx.send(conn, bytes);
//!     }
//! }
//!
//! let cfg = Config {
//!     listeners: vec![Listener::plain("127.0.0.1:0".parse().unwrap())],
//!     workers: 1,
//!     ..Config::default()
//! };
//! let server = Server::start(cfg, |_| Echo).unwrap();
//! let mut client = std::net::TcpStream::connect(server.local_addr().unwrap()).unwrap();
//! client.write_all(b"ping").unwrap();
//! let mut reply = [0; 4];
//! client.read_exact(&mut reply).unwrap();
//! assert_eq!(&reply, b"ping");
//! server.shutdown(Duration::from_secs(1));
//! assert_eq!(server.join().unwrap()[0].accepted, 1);
//! ```

mod config;
mod conn;
mod ctx;
mod engine;
mod epoll;
mod error;
pub mod hand_out;
mod handler;
pub mod handover;
mod inherit;
pub mod proxy_header;
mod proxy_state;
mod sendq;
mod server;
mod shared;
pub mod slab;
mod stats;
mod sys;
pub mod tls;
mod uring;
pub mod wheel;
mod worker;

pub use config::{Backend, Config, IoChoice, Listener, ProxyProtocol};
pub use conn::{CloseReason, Conn, Origin, SendError, Udp};
pub use ctx::Ctx;
pub use error::{Error, Result};
pub use hand_out::HandOutPart;
pub use handler::Handler;
pub use inherit::{InheritedConn, WorkerInheritance};
pub use proxy_state::ProxyRejection;
pub use server::{IO_ENV, Poster, Server, select_backend};
pub use stats::Stats;
pub use tls::{
    Certificates, PemFiles, TLS_STATE_VERSION, TlsAcceptor, TlsConnectError, TlsConnector,
    TlsError, TlsFiles, TlsState, TlsStateError, fuzz_tls_state,
};
pub use wheel::TimerId;

/// Most listeners one server runs ([`Config::listeners`]).
pub const MAX_LISTENERS: usize = 64;

/// Bytes ringmux keeps per connection on `backend` while the connection is idle, with `S` as the handler's
/// per-connection state: the slab slot, the slot in the state table and the backend's per-slot entry.
pub fn per_connection_bytes<S>(backend: Backend) -> usize {
    let backend_extra = match backend {
        Backend::Uring => 0,
        Backend::Epoll => std::mem::size_of::<Option<mio::net::TcpStream>>(),
    };
    slab::Slab::<ctx::ConnIo>::SLOT_BYTES + std::mem::size_of::<Option<S>>() + backend_extra
}
