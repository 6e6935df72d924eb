//! The open WebSocket: messages to the edge, the request-rate limit, keepalive, idle and credential expiry.

use std::net::IpAddr;
use std::time::Instant;

use wsproto::close_code::{GOING_AWAY, NORMAL, POLICY_VIOLATION};
use wsproto::deflate::Context;
use wsproto::{Connection, Event, Role};

use super::{Close, Command, Output, Policy};
use crate::config::{OnExpiry, OverRate};
use crate::limits::RequestBucket;
use crate::metrics::{Counter, RoutingFailure};

/// A WebSocket carrying SIP.
#[derive(Debug)]
pub(super) struct Open {
    pub(super) ws: Box<Connection>,
    /// What only some connections hold (boxed: the others pay one pointer).
    pub(super) extras: Option<Box<Extras>>,
    /// The browser's address as the edge may reveal it in Via `received` (`[sip] received`).
    pub(super) client: Option<IpAddr>,
    /// Its SIP request rate.
    pub(super) bucket: RequestBucket,
    /// When the browser last sent anything (milliseconds on the edge's clock, wrapping: 4 bytes per idle
    /// connection instead of an `Instant`'s 16).
    pub(super) last_rx_ms: u32,
    /// When the WebSocket opened (milliseconds on the edge's clock, wrapping like `last_rx_ms`).
    pub(super) opened_ms: u32,
    /// permessage-deflate: the window the browser compresses with (8–15), 0 when not agreed.
    pub(super) inflate_bits: u8,
}

/// What an open WebSocket holds only when its handshake or its permessage-deflate asked for it.
#[derive(Debug, Default)]
pub(super) struct Extras {
    /// Who the handshake authenticated (RFC 7118 §7), when the listener requires it.
    pub(super) identity: Option<Box<edge::Identity>>,
    /// When the browser keeps its window (context takeover): the last 2^`inflate_bits` bytes it sent, packed,
    /// unpacked and lent to the worker's decompressor for each read.
    pub(super) inflate_window: Option<Context>,
}

/// What one WebSocket message from the browser leads to.
enum Verdict {
    /// Hand it to the edge.
    Forward,
    /// Over the rate: answered 503 (or not at all, for an ACK or a response).
    Refused,
    /// Over the rate, and the policy closes the connection.
    Close(&'static str),
}

impl Open {
    pub(super) fn new(
        p: &Policy,
        now: Instant,
        client: Option<IpAddr>,
        identity: Option<Box<edge::Identity>>,
        deflate: Option<&wsproto::deflate::DeflateParams>,
    ) -> Self {
        let mut ws = Box::new(Connection::new(Role::Server, p.ws));
        ws.start_keepalive(now);
        let inflate_window = deflate
            .filter(|d| d.decompress_takeover(Role::Server))
            .map(|_| Context::default());
        let extras = (identity.is_some() || inflate_window.is_some()).then(|| {
            Box::new(Extras {
                identity,
                inflate_window,
            })
        });
        Self {
            ws,
            extras,
            client,
            bucket: RequestBucket::default(),
            last_rx_ms: p.timestamp(now).0 as u32,
            opened_ms: p.timestamp(now).0 as u32,
            inflate_bits: deflate.map_or(0, |d| d.decompress_window_bits(Role::Server)),
        }
    }

    pub(super) fn identity(&self) -> Option<&edge::Identity> {
        self.extras.as_deref().and_then(|e| e.identity.as_deref())
    }

    /// Milliseconds since the WebSocket opened and since the browser last sent anything, at `now_ms` on the
    /// edge's clock.
    pub(super) fn ages_ms(&self, now_ms: u64) -> (u32, u32) {
        let now = now_ms as u32;
        (
            now.wrapping_sub(self.opened_ms),
            now.wrapping_sub(self.last_rx_ms),
        )
    }

    #[cfg(test)]
    pub(super) fn inflate_context_bytes(&self) -> usize {
        self.extras
            .as_deref()
            .and_then(|e| e.inflate_window.as_ref())
            .map_or(0, Context::heap_bytes)
    }

    pub(super) fn poll_timeout(&self) -> Option<Instant> {
        self.ws.poll_timeout()
    }

    /// Frames from the browser; `Some` when the connection is to close.
    pub(super) fn receive(
        &mut self,
        p: &Policy,
        now: Instant,
        bytes: &mut [u8],
        out: &mut Output<'_>,
    ) -> Option<Close> {
        self.last_rx_ms = p.timestamp(now).0 as u32;
        let mut policy_close = None;
        if p.on_expiry == OnExpiry::Close
            && self.identity().is_some_and(|i| i.expired(p.timestamp(now)))
        {
            out.emit(Command::Failed(RoutingFailure::CredentialExpired));
            policy_close = Some("credential expired");
        }
        let mut peer_closed = false;
        let mut off = 0;
        // The worker's decompressor, taken out of `out` while messages borrow from it.
        let mut codecs = out.codecs.take();
        let (identity, mut window) = match self.extras.as_deref_mut() {
            Some(e) => (e.identity.as_deref(), e.inflate_window.as_mut()),
            None => (None, None),
        };
        let keep = 1 << self.inflate_bits;
        let plain = match (codecs.as_deref_mut(), window.as_deref_mut()) {
            (Some(c), Some(w)) if self.inflate_bits != 0 => Some(c.take_context(w, keep)),
            _ => None,
        };
        let mut inflate = codecs
            .as_deref_mut()
            .filter(|_| self.inflate_bits != 0)
            .map(|c| c.decompressor(self.inflate_bits));
        if let (Some(d), Some(w)) = (inflate.as_deref_mut(), plain) {
            d.lend_window(w, keep);
        }
        while off < bytes.len() && policy_close.is_none() && !peer_closed {
            let input = &mut bytes[off..];
            let got = match inflate.as_deref_mut() {
                Some(d) => self.ws.receive_inflating(input, d),
                None => self.ws.receive(input),
            };
            off += got.consumed;
            match got.event {
                None if got.consumed == 0 => break,
                None | Some(Event::Ping(_)) | Some(Event::Pong(_)) => {}
                Some(Event::Message { payload, .. }) => {
                    out.emit(Command::Inbound(payload));
                    match verdict(p, &mut self.bucket, now, payload, out) {
                        Verdict::Forward => out.emit(Command::ToEdge {
                            message: payload,
                            client: self.client,
                            identity,
                        }),
                        Verdict::Refused => {}
                        Verdict::Close(reason) => policy_close = Some(reason),
                    }
                }
                Some(Event::Close { code, .. }) => {
                    out.emit(Command::Closing {
                        code: code.unwrap_or(wsproto::close_code::NO_STATUS_RECEIVED),
                        reason: "closed by the browser",
                    });
                    peer_closed = true;
                }
                Some(Event::ProtocolError { code, error }) => {
                    tracing::debug!(code, %error, "WebSocket protocol error");
                    out.emit(Command::Count(Counter::WsProtocolErrors, 1));
                    out.emit(Command::Closing {
                        code,
                        reason: "WebSocket protocol error",
                    });
                    peer_closed = true;
                }
            }
            if let Some(n) = inflate.as_deref_mut().and_then(|d| d.take_inflated()) {
                out.emit(Command::Inflated(n));
            }
        }
        if let (Some(d), Some(w)) = (inflate, window) {
            let plain = d.return_window();
            if let Some(c) = codecs.as_deref_mut() {
                c.put_context(w, plain);
            }
        }
        out.codecs = codecs;
        if let Some(reason) = policy_close {
            out.emit(Command::Closing {
                code: POLICY_VIOLATION,
                reason,
            });
        }
        let ws = &mut self.ws;
        out.transmit_with(|buf| {
            if let Some(reason) = policy_close {
                // RFC 6455 §7.4.1: 1008, policy violation.
                let _ = ws.close(POLICY_VIOLATION, reason, buf, None);
            }
            while let Ok(true) = ws.poll_transmit(buf, None) {}
        });
        if policy_close.is_some() {
            Some(Close::Graceful(Some(POLICY_VIOLATION)))
        } else if peer_closed || self.ws.is_closed() {
            Some(Close::Graceful(Some(NORMAL)))
        } else {
            None
        }
    }

    /// The keepalive deadline has come: close an idle connection, ping, or give up on a missing pong.
    pub(super) fn timeout(
        &mut self,
        p: &Policy,
        now: Instant,
        out: &mut Output<'_>,
    ) -> Option<Close> {
        let silent_ms = (p.timestamp(now).0 as u32).wrapping_sub(self.last_rx_ms);
        if u128::from(silent_ms) >= p.idle_timeout.as_millis() {
            self.close_frame(GOING_AWAY, "idle", out);
            out.emit(Command::Closing {
                code: GOING_AWAY,
                reason: "idle",
            });
            return Some(Close::Graceful(Some(GOING_AWAY)));
        }
        let ws = &mut self.ws;
        let mut outcome = Ok(wsproto::Timeout::NotDue);
        out.transmit_with(|buf| outcome = ws.on_timeout(now, buf, None));
        match outcome {
            Ok(wsproto::Timeout::PongMissing) => {
                out.emit(Command::Count(Counter::PongMissing, 1));
                out.emit(Command::Closing {
                    code: GOING_AWAY,
                    reason: "no pong",
                });
                Some(Close::Abort(GOING_AWAY))
            }
            _ => None,
        }
    }

    /// Queue a close frame with `code`.
    pub(super) fn close_frame(&mut self, code: u16, reason: &str, out: &mut Output<'_>) {
        let ws = &mut self.ws;
        out.transmit_with(|buf| {
            let _ = ws.close(code, reason, buf, None);
        });
    }
}

/// The request-rate decision for one message (responses and keepalive CRLFs are never limited).
fn verdict(
    p: &Policy,
    bucket: &mut RequestBucket,
    now: Instant,
    payload: &[u8],
    out: &mut Output<'_>,
) -> Verdict {
    let Some(rate) = p.request_rate else {
        return Verdict::Forward;
    };
    let is_request =
        !payload.starts_with(b"SIP/2.0 ") && !payload.iter().all(|&b| b == b'\r' || b == b'\n');
    if !is_request || bucket.take(p.timestamp(now).0, rate.per_second, rate.burst) {
        return Verdict::Forward;
    }
    out.emit(Command::Failed(RoutingFailure::RateLimited));
    match rate.over {
        OverRate::Close => Verdict::Close("request rate exceeded"),
        OverRate::Reject => {
            if let Ok(m) = sipscan::Message::parse(payload)
                && m.method() != Some(sipscan::Method::Ack)
            {
                let answer =
                    edge::response::build(&m, 503, "Service Unavailable", &["Retry-After: 1"]);
                out.transmit_with(|buf| {
                    wsproto::writer::write_frame(buf, true, wsproto::OpCode::Text, &answer, None)
                });
            }
            Verdict::Refused
        }
    }
}
