//! The session without sockets: a harness feeds it bytes and time and records its commands.

mod deflate;
mod handshake;
mod open;
mod state;

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use super::{Close, Command, ListenerPolicy, Output, Peer, Policy, RequestRate, Session};
use crate::auth::Authenticator;
use crate::config::{Auth, AuthMode, OnExpiry, OverRate};
use crate::limits::IpLimits;
use crate::metrics::{Counter, HandshakeRejection, RoutingFailure};

pub(super) const SECRET: &str = "session-test-secret";
pub(super) const MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

/// A command, owned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Rec {
    Transmit(Vec<u8>),
    Opened,
    /// permessage-deflate agreed, compressing with this window.
    Deflate(u8),
    Inbound(Vec<u8>),
    Inflated(usize),
    ToEdge {
        message: Vec<u8>,
        client: Option<IpAddr>,
        user: Option<String>,
    },
    FromCore(Vec<u8>),
    Count(Counter, u64),
    Rejected(HandshakeRejection),
    Failed(RoutingFailure),
    Closing(u16, &'static str),
    Close(Close),
}

impl From<Command<'_>> for Rec {
    fn from(c: Command<'_>) -> Self {
        match c {
            Command::Transmit(b) => Self::Transmit(b.to_vec()),
            Command::Opened { deflate: None, .. } => Self::Opened,
            Command::Opened {
                deflate: Some(d), ..
            } => Self::Deflate(d.window_bits),
            Command::Inbound(b) => Self::Inbound(b.to_vec()),
            Command::Inflated(n) => Self::Inflated(n),
            Command::ToEdge {
                message,
                client,
                identity,
            } => Self::ToEdge {
                message: message.to_vec(),
                client,
                user: identity.map(|i| i.user.clone()),
            },
            Command::FromCore(b) => Self::FromCore(b.to_vec()),
            Command::Count(c, n) => Self::Count(c, n),
            Command::Rejected(r) => Self::Rejected(r),
            Command::Failed(r) => Self::Failed(r),
            Command::Closing { code, reason } => Self::Closing(code, reason),
            Command::Close(c) => Self::Close(c),
        }
    }
}

/// The default test policy: one listener at `/`, keepalive every 30 s, idle after 300 s, no limits.
pub(super) fn policy() -> Policy {
    Policy {
        listeners: vec![ListenerPolicy {
            path: "/".into(),
            authenticate: true,
        }],
        allowed_origins: Vec::new(),
        ws: wsproto::Config {
            max_message_size: 65536,
            max_frame_size: 65536,
            keepalive: Some(wsproto::Keepalive {
                interval: Duration::from_secs(30),
                pong_timeout: Duration::from_secs(30),
            }),
        },
        handshake_timeout: Duration::from_secs(10),
        idle_timeout: Duration::from_secs(300),
        core_streams: false,
        max_message_size: 65536,
        auth: Authenticator::new(&Auth::default()).unwrap(),
        on_expiry: OnExpiry::Close,
        ip_limits: std::sync::Arc::new(IpLimits::new(0, 0, 0)),
        node_handshakes: std::sync::Arc::new(crate::limits::NodeHandshakeRate::new(0)),
        received: crate::config::Received::Always,
        trusted_proxies: Vec::new(),
        request_rate: None,
        web: crate::web::WebConfig::default(),
        deflate: None,
        deflate_window: 512,
        epoch: Instant::now(),
    }
}

/// Bearer authentication with [`SECRET`], audience `sipedge`, no leeway.
pub(super) fn bearer_auth() -> Authenticator {
    Authenticator::new(&Auth {
        mode: AuthMode::Bearer,
        secret: Some(SECRET.into()),
        audience: Some("sipedge".into()),
        leeway: Duration::ZERO,
        ..Auth::default()
    })
    .unwrap()
}

/// A signed token for `claims`.
pub(super) fn token(claims: serde_json::Value) -> String {
    use jsonwebtoken::{EncodingKey, Header, encode};
    encode(
        &Header::default(),
        &claims,
        &EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .unwrap()
}

pub(super) fn rate(per_second: u32, burst: u32, over: OverRate) -> Option<RequestRate> {
    Some(RequestRate {
        per_second,
        burst,
        over,
    })
}

/// An upgrade request for `path` with `extra` header lines (each ending in CRLF).
pub(super) fn upgrade(path: &str, extra: &str) -> Vec<u8> {
    format!(
        "GET {path} HTTP/1.1\r\nHost: edge.example\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n"
    )
    .into_bytes()
}

/// The usual browser request: path `/`, subprotocol `sip`.
pub(super) fn sip_upgrade() -> Vec<u8> {
    upgrade(
        "/",
        "Sec-WebSocket-Protocol: sip\r\nOrigin: https://app.example\r\n",
    )
}

/// A masked text frame, as a browser sends it.
pub(super) fn text(payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    wsproto::writer::write_frame(&mut out, true, wsproto::OpCode::Text, payload, Some(MASK));
    out
}

/// A masked frame of `opcode`.
pub(super) fn frame(opcode: wsproto::OpCode, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    wsproto::writer::write_frame(&mut out, true, opcode, payload, Some(MASK));
    out
}

pub(super) const MESSAGE: &[u8] = b"MESSAGE sip:bob@example.com SIP/2.0\r\n\
Via: SIP/2.0/WSS df7jal23ls0d.invalid;branch=z9hG4bK776sgdkse\r\n\
Max-Forwards: 70\r\nFrom: <sip:alice@example.com>;tag=49583\r\nTo: <sip:bob@example.com>\r\n\
Call-ID: asd88asd77a@1.2.3.4\r\nCSeq: 1 MESSAGE\r\nContent-Length: 0\r\n\r\n";

/// A session under test, its policy and clock, and everything it asked for.
pub(super) struct Harness {
    pub policy: Policy,
    pub session: Session,
    pub now: Instant,
    pub log: Vec<Rec>,
    buf: Vec<u8>,
    pub codecs: wsproto::deflate::SharedCodecs,
}

impl Harness {
    /// A connection from 192.0.2.7:40000 on listener 0.
    pub fn new(policy: Policy) -> Self {
        Self::from_peer(policy, "192.0.2.7:40000".parse().unwrap(), false)
    }

    pub fn from_peer(policy: Policy, addr: SocketAddr, proxied: bool) -> Self {
        Self::from_addr(policy, addr, proxied, false)
    }

    /// A connection from the core's address.
    pub fn from_core(policy: Policy) -> Self {
        Self::from_addr(policy, "198.51.100.20:5060".parse().unwrap(), false, true)
    }

    fn from_addr(policy: Policy, addr: SocketAddr, proxied: bool, from_core: bool) -> Self {
        let now = policy.epoch + Duration::from_secs(1);
        let mut log = Vec::new();
        let mut buf = Vec::new();
        let peer = Peer {
            addr: Some(addr),
            listener: 0,
            proxied,
            from_core,
        };
        let session = {
            let mut sink = |c: Command<'_>| log.push(Rec::from(c));
            Session::accept(&policy, peer, now, &mut Output::new(&mut buf, &mut sink))
        };
        Self {
            policy,
            session,
            now,
            log,
            buf,
            codecs: wsproto::deflate::SharedCodecs::new(6),
        }
    }

    /// Feed bytes; returns the commands they led to.
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<Rec> {
        let mut bytes = bytes.to_vec();
        let mut got = Vec::new();
        {
            let mut sink = |c: Command<'_>| got.push(Rec::from(c));
            let mut out = Output::new(&mut self.buf, &mut sink).with_codecs(&mut self.codecs);
            self.session
                .handle_bytes(&self.policy, self.now, &mut bytes, &mut out);
        }
        self.log.extend(got.iter().cloned());
        got
    }

    /// Let `d` pass and run the session's timeout if one is due by then.
    pub fn advance(&mut self, d: Duration) -> Vec<Rec> {
        self.now += d;
        let mut got = Vec::new();
        if self.session.poll_timeout().is_some_and(|at| at <= self.now) {
            let mut sink = |c: Command<'_>| got.push(Rec::from(c));
            let mut out = Output::new(&mut self.buf, &mut sink).with_codecs(&mut self.codecs);
            self.session
                .handle_timeout(&self.policy, self.now, &mut out);
        }
        self.log.extend(got.iter().cloned());
        got
    }

    /// Complete the usual handshake (asserting it is accepted).
    pub fn open(policy: Policy) -> Self {
        let mut h = Self::new(policy);
        let got = h.feed(&sip_upgrade());
        assert!(got.contains(&Rec::Opened), "{got:?}");
        h
    }

    pub fn shutdown(&mut self) -> Vec<Rec> {
        let mut got = Vec::new();
        {
            let mut sink = |c: Command<'_>| got.push(Rec::from(c));
            self.session
                .shutdown(&mut Output::new(&mut self.buf, &mut sink));
        }
        got
    }
}

/// Every byte the session transmitted in `got`.
pub(super) fn transmitted(got: &[Rec]) -> Vec<u8> {
    got.iter()
        .filter_map(|r| match r {
            Rec::Transmit(b) => Some(b.as_slice()),
            _ => None,
        })
        .flatten()
        .copied()
        .collect()
}

/// The HTTP status line of a transmitted answer.
pub(super) fn status_line(got: &[Rec]) -> String {
    let t = transmitted(got);
    let s = String::from_utf8_lossy(&t);
    s.lines().next().unwrap_or_default().to_string()
}

/// The close the session asked for, if any (it must be the last command).
pub(super) fn close_of(got: &[Rec]) -> Option<Close> {
    match got.last() {
        Some(Rec::Close(c)) => Some(*c),
        _ => {
            assert!(
                !got.iter().any(|r| matches!(r, Rec::Close(_))),
                "Close not last: {got:?}"
            );
            None
        }
    }
}

/// The server frames in transmitted bytes: (opcode byte, payload).
pub(super) fn frames(bytes: &[u8]) -> Vec<(u8, Vec<u8>)> {
    let mut out = Vec::new();
    let mut rest = bytes;
    while rest.len() >= 2 {
        let (op, len7) = (rest[0], usize::from(rest[1] & 0x7f));
        let (len, head) = match len7 {
            126 => (usize::from(u16::from_be_bytes([rest[2], rest[3]])), 4),
            127 => panic!("no test frame is that long"),
            n => (n, 2),
        };
        out.push((op, rest[head..head + len].to_vec()));
        rest = &rest[head + len..];
    }
    out
}
