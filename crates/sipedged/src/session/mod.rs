//! One client connection as a sans-io state machine: the handshake policy (path, Origin, the client's address,
//! per-IP limits, authentication), the open WebSocket (messages to the edge, request-rate limit, keepalive,
//! credential expiry), a raw SIP stream from the core, and closing.
//!
//! A [`Session`] holds no socket and reads no clock: the worker feeds it bytes ([`Session::handle_bytes`]), the
//! time ([`Session::handle_timeout`]) and events ([`Session::shutdown`], [`Session::closed`]), and carries out the
//! [`Command`]s it emits, in order, through an [`Output`]. [`Session::poll_timeout`] says when it next needs the
//! time.

mod handshake;
mod open;
mod policy;
mod received;
mod state;
#[cfg(test)]
mod tests;

use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use edge::Identity;
use edge::framer::StreamFramer;
use wsproto::deflate::SharedCodecs;

use crate::metrics::{Counter, HandshakeRejection, RoutingFailure};

pub use handshake::Refusal;
pub use policy::{ListenerPolicy, Policy, RequestRate};
pub use state::SESSION_STATE_VERSION;
#[cfg(test)]
pub use state::{NotMovable, StateError};

use handshake::Handshake;
use open::Open;

/// What the worker knows about a connection when it is accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Peer {
    /// The TCP peer (or the client a PROXY protocol header named).
    pub addr: Option<SocketAddr>,
    /// Which `[[listen]]` entry accepted it.
    pub listener: usize,
    /// Whether a PROXY protocol header named the peer.
    pub proxied: bool,
    /// Whether the peer is the SIP core (one of the addresses its URI resolves to): only then may the connection
    /// be a SIP stream instead of a WebSocket.
    pub from_core: bool,
}

/// How the edge compresses the messages it sends on one connection (permessage-deflate).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outbound {
    /// The window the browser was told (`server_max_window_bits`, else 15).
    pub window_bits: u8,
    /// Bytes of what was last sent that the next message is compressed against; 0: every message on its own.
    pub keep: u16,
}

/// How the connection is to be closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Close {
    /// Send what is queued, then close; the WebSocket close code, if it was one.
    Graceful(Option<u16>),
    /// Close at once, dropping what is queued (the peer is gone).
    Abort(u16),
}

/// Something the session asks the worker to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command<'a> {
    /// Write these bytes to the connection (an HTTP answer, WebSocket frames).
    Transmit(&'a [u8]),
    /// The WebSocket handshake completed: the flow exists from now on.
    Opened {
        /// How the edge compresses what it sends on this connection, when permessage-deflate was agreed.
        deflate: Option<Outbound>,
        /// From the connection's start (after TLS and a PROXY header, when there are) to the 101.
        handshake: std::time::Duration,
    },
    /// A WebSocket message arrived (before any policy decision on it).
    Inbound(&'a [u8]),
    /// The message just announced by [`Command::Inbound`] came compressed, in this many bytes.
    Inflated(usize),
    /// A SIP message from the browser, for the edge.
    ToEdge {
        /// One SIP message.
        message: &'a [u8],
        /// The browser's address for Via `received`, when `[sip] received` lets it be written.
        client: Option<IpAddr>,
        /// Who the handshake authenticated, when the listener requires it.
        identity: Option<&'a Identity>,
    },
    /// A SIP message from the core, on a SIP stream.
    FromCore(&'a [u8]),
    /// Add to a counter.
    Count(Counter, u64),
    /// A handshake (or the connection before it) was refused.
    Rejected(HandshakeRejection),
    /// A message was not forwarded.
    Failed(RoutingFailure),
    /// Why the WebSocket is closing: the close code and its reason, as the edge sent it or the browser did
    /// (for the log of closed connections). Comes before the [`Command::Close`] it explains, or alone when the
    /// browser closed.
    Closing {
        /// The WebSocket close code.
        code: u16,
        /// Who closed it and why.
        reason: &'static str,
    },
    /// Close the connection; no command follows.
    Close(Close),
}

/// Where a session's commands go: a scratch buffer for bytes it writes, the worker's handler of commands, and the
/// worker's permessage-deflate decompressors.
pub struct Output<'a> {
    buf: &'a mut Vec<u8>,
    sink: &'a mut dyn FnMut(Command<'_>),
    codecs: Option<&'a mut SharedCodecs>,
}

impl<'a> Output<'a> {
    /// Commands go to `sink`; `buf` is scratch space for the bytes of [`Command::Transmit`].
    pub fn new(buf: &'a mut Vec<u8>, sink: &'a mut dyn FnMut(Command<'_>)) -> Self {
        Self {
            buf,
            sink,
            codecs: None,
        }
    }

    /// Compressed messages are inflated with `codecs` (without them, a compressed message fails the connection).
    pub fn with_codecs(mut self, codecs: &'a mut SharedCodecs) -> Self {
        self.codecs = Some(codecs);
        self
    }

    fn emit(&mut self, command: Command<'_>) {
        (self.sink)(command);
    }

    /// Write bytes with `write` and transmit them (nothing when it writes nothing).
    fn transmit_with(&mut self, write: impl FnOnce(&mut Vec<u8>)) {
        self.buf.clear();
        write(self.buf);
        if !self.buf.is_empty() {
            (self.sink)(Command::Transmit(self.buf));
        }
    }
}

/// Where the connection is in its life.
#[derive(Debug)]
enum State {
    /// Waiting for the HTTP upgrade request.
    Handshake(Box<Handshake>),
    /// A WebSocket carrying SIP.
    Open(Open),
    /// SIP over TCP with the core (RFC 3261 §18.3 framing).
    SipStream(Box<Stream>),
    /// Closing or closed: input is ignored.
    Closed {
        /// Whether it had been a WebSocket (its flow existed).
        websocket: bool,
    },
}

/// A SIP stream with the core: its framer, and when it is closed unless the core sends something first
/// (`[limits] idle_timeout` after the last bytes).
#[derive(Debug)]
struct Stream {
    framer: StreamFramer,
    idle_at: Instant,
}

impl Stream {
    fn new(p: &Policy, now: Instant) -> Box<Self> {
        Box::new(Self {
            framer: StreamFramer::new(p.max_message_size),
            idle_at: now + p.idle_timeout,
        })
    }
}

/// One client connection (or one SIP stream with the core).
#[derive(Debug)]
pub struct Session {
    state: State,
    /// The address counted against a per-IP limit, released when the connection closes.
    /// Boxed: only connections counted under an active limit pay for it.
    admitted: Option<Box<IpAddr>>,
}

impl Session {
    /// A connection accepted from `peer` at `now`: counted, checked against the per-IP limits (a peer that is not
    /// a trusted proxy), and given the handshake deadline.
    pub fn accept(p: &Policy, peer: Peer, now: Instant, out: &mut Output<'_>) -> Self {
        out.emit(Command::Count(Counter::Accepted, 1));
        if peer.proxied {
            out.emit(Command::Count(Counter::ProxyHeaders, 1));
        }
        // An IPv4 client on a `[::]` listener is `::ffff:a.b.c.d`: from here on it is its IPv4 address (limits,
        // the trusted-proxy check, the client handed to the edge).
        let peer = Peer {
            addr: peer
                .addr
                .map(|a| SocketAddr::new(crate::limits::canonical(a.ip()), a.port())),
            ..peer
        };
        let mut session = Self {
            state: State::Handshake(Box::new(Handshake::new(p, peer, now))),
            admitted: None,
        };
        if let Some(ip) = peer.addr.map(|a| a.ip())
            && !crate::limits::is_trusted(&p.trusted_proxies, ip)
        {
            match p.ip_limits.admit(ip, now) {
                Ok(()) => session.admitted = p.ip_limits.is_active().then(|| Box::new(ip)),
                Err(r) => session.refuse(Refusal::IpLimit(r), out),
            }
        }
        session
    }

    /// Our own TCP connection to the core, made at `now`: a SIP stream from the start.
    pub fn core_stream(p: &Policy, now: Instant) -> Self {
        Self {
            state: State::SipStream(Stream::new(p, now)),
            admitted: None,
        }
    }

    /// Whether the WebSocket handshake completed (the flow exists, or existed).
    pub fn is_websocket(&self) -> bool {
        matches!(
            self.state,
            State::Open(_) | State::Closed { websocket: true }
        )
    }

    /// Whether the session has closed (or asked to close) and ignores input.
    #[cfg(test)]
    pub fn is_closed(&self) -> bool {
        matches!(self.state, State::Closed { .. })
    }

    /// When [`handle_timeout`](Self::handle_timeout) is next due, if ever.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match &self.state {
            State::Handshake(h) => Some(h.deadline()),
            State::Open(o) => o.poll_timeout(),
            State::SipStream(s) => Some(s.idle_at),
            State::Closed { .. } => None,
        }
    }

    /// Bytes from the connection. `bytes` is scratch: WebSocket payloads are unmasked in place.
    pub fn handle_bytes(
        &mut self,
        p: &Policy,
        now: Instant,
        bytes: &mut [u8],
        out: &mut Output<'_>,
    ) {
        match &mut self.state {
            State::Handshake(_) => self.handshake_bytes(p, now, bytes, out),
            State::Open(o) => {
                if let Some(close) = o.receive(p, now, bytes, out) {
                    self.close_websocket(close, out);
                }
            }
            State::SipStream(stream) => {
                stream.idle_at = now + p.idle_timeout;
                stream.framer.push(bytes);
                if let Err(e) = stream_messages(&mut stream.framer, out) {
                    tracing::warn!(error = %e, "closing a SIP stream from the core");
                    self.state = State::Closed { websocket: false };
                    out.emit(Command::Failed(RoutingFailure::Malformed));
                    out.emit(Command::Close(Close::Graceful(None)));
                }
            }
            State::Closed { .. } => {}
        }
    }

    /// The time is `now`: act on whatever deadline has passed.
    pub fn handle_timeout(&mut self, p: &Policy, now: Instant, out: &mut Output<'_>) {
        match &mut self.state {
            State::Handshake(h) if now >= h.deadline() => self.refuse(Refusal::Timeout, out),
            State::SipStream(s) if now >= s.idle_at => {
                self.state = State::Closed { websocket: false };
                out.emit(Command::Close(Close::Graceful(None)));
            }
            State::Open(o) => {
                if let Some(close) = o.timeout(p, now, out) {
                    self.close_websocket(close, out);
                }
            }
            _ => {}
        }
    }

    /// The node is shutting down: a WebSocket is sent close 1001 and every connection is closed.
    pub fn shutdown(&mut self, out: &mut Output<'_>) {
        let websocket = self.is_websocket();
        if let State::Open(o) = &mut self.state {
            o.close_frame(wsproto::close_code::GOING_AWAY, "server shutting down", out);
            out.emit(Command::Closing {
                code: wsproto::close_code::GOING_AWAY,
                reason: "the node shuts down",
            });
        }
        self.state = State::Closed { websocket };
        out.emit(Command::Close(Close::Graceful(Some(
            wsproto::close_code::GOING_AWAY,
        ))));
    }

    /// Close an open WebSocket for the operator (an admin request, a drain): close frame with `code` and `text`,
    /// then close; `why` is the reason the log of closed connections gives. `false` (and nothing done) when the
    /// connection is not an open WebSocket.
    pub fn close_for_operator(
        &mut self,
        code: u16,
        text: &str,
        why: &'static str,
        out: &mut Output<'_>,
    ) -> bool {
        let State::Open(o) = &mut self.state else {
            return false;
        };
        o.close_frame(code, text, out);
        out.emit(Command::Closing { code, reason: why });
        self.state = State::Closed { websocket: true };
        out.emit(Command::Close(Close::Graceful(Some(code))));
        true
    }

    /// What an operator's listing shows of an open WebSocket: who the handshake authenticated, and
    /// milliseconds since it opened and since the browser last sent anything (at `now_ms`, the edge's clock).
    /// `None` for anything else (a handshake, a SIP stream with the core, a closing connection).
    pub fn open_info(&self, now_ms: u64) -> Option<(Option<&Identity>, u32, u32)> {
        let State::Open(o) = &self.state else {
            return None;
        };
        let (age, idle) = o.ages_ms(now_ms);
        Some((o.identity(), age, idle))
    }

    /// Heap bytes of the permessage-deflate context kept of what the browser sent (0 without one).
    #[cfg(test)]
    pub fn inflate_context_bytes(&self) -> usize {
        match &self.state {
            State::Open(o) => o.inflate_context_bytes(),
            _ => 0,
        }
    }

    /// The worker is closing the connection for its own reason (a full send queue): ignore what follows.
    pub fn abandon(&mut self) {
        let websocket = self.is_websocket();
        self.state = State::Closed { websocket };
    }

    /// The connection is gone: release what it held in the shared limits.
    pub fn closed(&mut self, p: &Policy) {
        self.abandon();
        if let Some(ip) = self.admitted.take().map(|ip| *ip) {
            p.ip_limits.release(ip);
        }
    }

    fn close_websocket(&mut self, close: Close, out: &mut Output<'_>) {
        self.state = State::Closed { websocket: true };
        out.emit(Command::Close(close));
    }
}

/// Hand every complete message of a SIP stream to the core's side of the edge.
fn stream_messages(
    framer: &mut StreamFramer,
    out: &mut Output<'_>,
) -> Result<(), edge::framer::FramingError> {
    while let Some(msg) = framer.next_message()? {
        out.emit(Command::FromCore(&msg));
    }
    Ok(())
}
