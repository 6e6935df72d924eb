//! The handshake policy: what an upgrade request must satisfy before it becomes a WebSocket, and the HTTP
//! answer to each refusal.

use std::net::IpAddr;
use std::time::Instant;

use wsproto::{HandshakeError, Request, ServerConfig, ServerHandshake};

use super::open::Open;
use super::{Close, Command, Output, Peer, Policy, Session, State};
use crate::auth::AuthError;
use crate::limits::{canonical, is_trusted};
use crate::metrics::{Counter, HandshakeRejection, RoutingFailure};

/// Waiting for the upgrade request.
#[derive(Debug)]
pub(super) struct Handshake {
    hs: ServerHandshake,
    deadline: Instant,
    peer: Peer,
    /// The request bytes so far when they came in more than one read (empty otherwise).
    head: Vec<u8>,
}

impl Handshake {
    pub(super) fn new(p: &Policy, peer: Peer, now: Instant) -> Self {
        Self {
            hs: ServerHandshake::new(ServerConfig {
                subprotocols: vec!["sip".into()],
                deflate: p.deflate,
                ..ServerConfig::default()
            }),
            deadline: now + p.handshake_timeout,
            peer,
            head: Vec::new(),
        }
    }

    pub(super) fn deadline(&self) -> Instant {
        self.deadline
    }
}

/// Why a connection was refused before it became a WebSocket; each names its HTTP answer and metric.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Not a valid upgrade request (RFC 6455 §4.2.1).
    Malformed(HandshakeError),
    /// No WebSocket endpoint at this path.
    WrongPath,
    /// The `Origin` is not allowed (RFC 6455 §10.2).
    Origin,
    /// A per-source-IP limit.
    IpLimit(crate::limits::Refusal),
    /// The node takes no more upgrades this second (`[limits] handshakes_per_second`).
    NodeBusy,
    /// Authentication failed (RFC 7118 §7).
    Auth(AuthError),
    /// The request does not offer the `sip` subprotocol (RFC 7118 §4.1).
    NoSipSubprotocol,
    /// The request did not complete in time.
    Timeout,
}

impl Refusal {
    /// The metric it is counted under.
    pub fn metric(&self) -> HandshakeRejection {
        match self {
            Self::Malformed(e) if e.status() == 431 => HandshakeRejection::TooLarge,
            Self::Malformed(_) => HandshakeRejection::BadRequest,
            Self::WrongPath => HandshakeRejection::WrongPath,
            Self::Origin => HandshakeRejection::Origin,
            Self::IpLimit(r) => (*r).into(),
            Self::NodeBusy => HandshakeRejection::NodeHandshakeRate,
            Self::Auth(e) => match e {
                AuthError::Missing(_) => HandshakeRejection::AuthMissing,
                AuthError::Invalid(_) => HandshakeRejection::AuthInvalid,
                AuthError::Expired => HandshakeRejection::AuthExpired,
                AuthError::Audience => HandshakeRejection::AuthAudience,
                AuthError::NoIdentity(_) => HandshakeRejection::AuthIdentity,
            },
            Self::NoSipSubprotocol => HandshakeRejection::NoSipSubprotocol,
            Self::Timeout => HandshakeRejection::Timeout,
        }
    }

    /// The complete HTTP answer.
    pub fn write_response(&self, out: &mut Vec<u8>) {
        match self {
            Self::Malformed(e) => e.write_response(out),
            Self::WrongPath => http_response(out, 404, "no WebSocket endpoint at this path\n", ""),
            Self::Origin => http_response(out, 403, "Origin not allowed\n", ""),
            Self::IpLimit(_) => {
                http_response(out, 503, "too many connections from your address\n", "")
            }
            Self::NodeBusy => http_response(
                out,
                503,
                "too many new connections on this node, try again\n",
                "Retry-After: 1\r\n",
            ),
            // RFC 6750 §3: a 401 tells the client which scheme to use.
            Self::Auth(e) if e.status() == 401 => http_response(
                out,
                401,
                &format!("{e}\n"),
                "WWW-Authenticate: Bearer realm=\"sipedge\"\r\n",
            ),
            Self::Auth(e) => http_response(out, e.status(), &format!("{e}\n"), ""),
            Self::NoSipSubprotocol => http_response(
                out,
                400,
                "Sec-WebSocket-Protocol must offer \"sip\" (RFC 7118)\n",
                "",
            ),
            Self::Timeout => http_response(out, 408, "WebSocket handshake took too long\n", ""),
        }
    }
}

/// A short HTTP/1.1 answer that closes the connection, with `extra` header lines (each ending in CRLF).
pub fn http_response(out: &mut Vec<u8>, code: u16, body: &str, extra: &str) {
    use std::io::Write as _;
    let reason = match code {
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        408 => "Request Timeout",
        503 => "Service Unavailable",
        _ => "Error",
    };
    // Writing into a Vec cannot fail.
    let _ = write!(
        out,
        "HTTP/1.1 {code} {reason}\r\n{extra}Content-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
}

/// A complete upgrade request and what it is judged with.
struct Ask<'a> {
    p: &'a Policy,
    peer: Peer,
    req: &'a Request,
    now: Instant,
}

/// A request that passed every rule: who the client is.
struct Accepted {
    client: Option<IpAddr>,
    identity: Option<Box<edge::Identity>>,
}

impl Session {
    /// Refuse the connection: answer, count and close.
    pub(super) fn refuse(&mut self, why: Refusal, out: &mut Output<'_>) {
        self.state = State::Closed { websocket: false };
        out.emit(Command::Rejected(why.metric()));
        out.transmit_with(|buf| why.write_response(buf));
        out.emit(Command::Close(Close::Graceful(None)));
    }

    /// Bytes before the upgrade: a SIP stream from the core, a plain HTTP request, or (part of) an upgrade.
    pub(super) fn handshake_bytes(
        &mut self,
        p: &Policy,
        now: Instant,
        bytes: &mut [u8],
        out: &mut Output<'_>,
    ) {
        let State::Handshake(h) = &mut self.state else {
            return;
        };
        if p.core_streams && h.head.is_empty() && looks_like_sip(bytes) {
            if !h.peer.from_core {
                // Only the core speaks SIP on this port; anyone else is dropped, not answered.
                self.state = State::Closed { websocket: false };
                out.emit(Command::Failed(RoutingFailure::NotFromCore));
                out.emit(Command::Close(Close::Graceful(None)));
                return;
            }
            // The core's own TCP connection to us (it routes along our Path / Record-Route).
            self.state = State::SipStream(super::Stream::new(p, now));
            return self.handle_bytes(p, now, bytes, out);
        }
        // Plain HTTP (the web phone) may arrive in pieces: keep what came so far (only until the request is
        // complete; the handshake parser bounds it).
        let seen: &[u8] = if h.head.is_empty() {
            bytes
        } else {
            h.head.extend_from_slice(bytes);
            &h.head
        };
        if let Some(response) = crate::web::respond(seen, &p.web) {
            self.state = State::Closed { websocket: false };
            out.emit(Command::Transmit(&response));
            out.emit(Command::Close(Close::Graceful(None)));
            return;
        }
        match h.hs.feed(bytes) {
            Ok(None) => {
                if h.head.is_empty() {
                    h.head.extend_from_slice(bytes);
                }
            }
            Ok(Some(req)) => {
                let ask = Ask {
                    p,
                    peer: h.peer,
                    req: &req,
                    now,
                };
                match self.evaluate(&ask, out) {
                    Ok(accepted) => self.upgrade(p, now, req, accepted, out),
                    Err(why) => self.refuse(why, out),
                }
            }
            Err(e) => self.refuse(Refusal::Malformed(e), out),
        }
    }

    /// Apply the handshake policy to a complete, valid upgrade request.
    fn evaluate(&mut self, ask: &Ask<'_>, out: &mut Output<'_>) -> Result<Accepted, Refusal> {
        let Ask { p, peer, req, now } = *ask;
        let listener = p.listener(peer.listener);
        let path = req.path.split('?').next().unwrap_or_default();
        if path != listener.map_or("/", |l| l.path.as_str()) {
            return Err(Refusal::WrongPath);
        }
        if !p.allowed_origins.is_empty()
            && !req
                .origin
                .as_ref()
                .is_some_and(|o| p.allowed_origins.iter().any(|a| a == o))
        {
            return Err(Refusal::Origin);
        }
        let client = self.client_address(ask, out)?;
        let identity = if listener.is_none_or(|l| l.authenticate) {
            p.auth.authenticate(req).map_err(Refusal::Auth)?
        } else {
            None
        };
        if req.subprotocol.as_deref() != Some("sip") {
            return Err(Refusal::NoSipSubprotocol);
        }
        // Last: a request refused for another reason takes no upgrade from the node's rate.
        if !p.node_handshakes.admit(now) {
            return Err(Refusal::NodeBusy);
        }
        let identity = identity.map(|a| {
            let at = p.timestamp(now).0;
            Box::new(edge::Identity {
                user: a.user,
                domains: a.domains,
                expires_at: a
                    .expires_in
                    .map(|left| edge::time::Timestamp(at.saturating_add(left.as_millis() as u64))),
            })
        });
        Ok(Accepted { client, identity })
    }

    /// The client's address: X-Forwarded-For from a trusted proxy (its last entry), admitted against the per-IP
    /// limits, else the TCP peer. On a connection that came with a PROXY protocol header the peer is the client
    /// it named, and X-Forwarded-For is not believed in addition. Every address is [`canonical`]: an IPv4-mapped
    /// IPv6 address is its IPv4 address, for the trusted-proxy check, the limits and the edge alike.
    fn client_address(
        &mut self,
        ask: &Ask<'_>,
        out: &mut Output<'_>,
    ) -> Result<Option<IpAddr>, Refusal> {
        let Ask { p, peer, req, now } = *ask;
        let tcp_peer = peer.addr.map(|a| canonical(a.ip()));
        let via_proxy =
            !peer.proxied && tcp_peer.is_some_and(|ip| is_trusted(&p.trusted_proxies, ip));
        if !via_proxy {
            if req.x_forwarded_for.is_some() {
                out.emit(Command::Count(Counter::ForwardedForIgnored, 1));
            }
            return Ok(tcp_peer);
        }
        let client = req
            .x_forwarded_for
            .as_deref()
            .and_then(|x| x.rsplit(',').next())
            .and_then(|x| x.trim().parse::<IpAddr>().ok())
            .map(canonical)
            .or(tcp_peer);
        if let Some(ip) = client {
            p.ip_limits.admit(ip, now).map_err(Refusal::IpLimit)?;
            self.admitted = Some(Box::new(ip));
        }
        Ok(client)
    }

    /// Answer 101 and open the WebSocket; bytes that came after the request are its first frames.
    fn upgrade(
        &mut self,
        p: &Policy,
        now: Instant,
        req: Request,
        a: Accepted,
        out: &mut Output<'_>,
    ) {
        out.transmit_with(|buf| req.write_accept(buf));
        let handshake = match &self.state {
            State::Handshake(h) => now.saturating_duration_since(h.deadline - p.handshake_timeout),
            _ => std::time::Duration::ZERO,
        };
        let received = super::received::revealed(p.received, a.client, &p.trusted_proxies);
        let deflate = req.deflate;
        self.state = State::Open(Open::new(p, now, received, a.identity, deflate.as_ref()));
        out.emit(Command::Opened {
            deflate: deflate.map(|d| {
                let window_bits = d.compress_window_bits(wsproto::Role::Server);
                let takeover = d.compress_takeover(wsproto::Role::Server);
                super::Outbound {
                    window_bits,
                    keep: if takeover { p.deflate_window } else { 0 },
                }
            }),
            handshake,
        });
        let mut leftover = req.leftover;
        if !leftover.is_empty() {
            self.handle_bytes(p, now, &mut leftover, out);
        }
    }
}

/// Whether the first bytes of a connection are a SIP start line (`... SIP/2.0` or `SIP/2.0 ...`), not HTTP.
pub(super) fn looks_like_sip(bytes: &[u8]) -> bool {
    let start = bytes
        .iter()
        .position(|&b| b != b'\r' && b != b'\n')
        .unwrap_or(bytes.len());
    let line = &bytes[start..];
    let line = &line[..line.iter().position(|&b| b == b'\n').unwrap_or(line.len())];
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    line.starts_with(b"SIP/2.0 ") || line.ends_with(b" SIP/2.0")
}
