//! The router's capture points: every SIP message in and out, on the client side (the browser's address and the
//! listener's, WS or WSS) and on the core side (the worker's UDP socket or stream and the target's address, UDP,
//! TCP or TLS). With `[capture]` off each is one branch.

use std::net::SocketAddr;

use ringmux::{Conn, Ctx};

use super::Router;
use crate::capture::Transport;
use crate::worker::Msg;

/// Which way a message crossed the edge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Way {
    /// Received by the edge.
    In,
    /// Sent by the edge.
    Out,
}

impl Router {
    /// A SIP message received from, or sent to, the browser on `conn`.
    #[inline]
    pub(super) fn capture_client(&self, ctx: &Ctx<'_, Msg>, conn: Conn, bytes: &[u8], way: Way) {
        let Some(c) = self.capture.as_ref().filter(|c| c.tap.keeps(bytes)) else {
            return;
        };
        let unknown = SocketAddr::from(([0, 0, 0, 0], 0));
        let browser = ctx.peer_addr(conn).unwrap_or(unknown);
        let listener = ctx
            .listener(conn)
            .and_then(|i| c.listeners.get(i).copied())
            .unwrap_or(unknown);
        let transport = if ctx.is_tls(conn) {
            Transport::Wss
        } else {
            Transport::Ws
        };
        let (src, dst) = match way {
            Way::In => (browser, listener),
            Way::Out => (listener, browser),
        };
        c.tap.record(bytes, src, dst, transport);
    }

    /// A SIP message received on, or sent from, the worker's UDP socket toward the core; `peer` is the target.
    #[inline]
    pub(super) fn capture_core_udp(&self, peer: SocketAddr, bytes: &[u8], way: Way) {
        let Some(c) = self.capture.as_ref().filter(|c| c.tap.keeps(bytes)) else {
            return;
        };
        let local = self.udp_local.unwrap_or_else(|| self.core_local());
        let (src, dst) = match way {
            Way::In => (peer, local),
            Way::Out => (local, peer),
        };
        c.tap.record(bytes, src, dst, Transport::Udp);
    }

    /// A SIP message received on, or sent on, a stream with the core (`conn`: ours to a target, or the core's
    /// to a listener); `peer` is the target when known.
    #[inline]
    pub(super) fn capture_core_stream(
        &self,
        ctx: &Ctx<'_, Msg>,
        conn: Conn,
        peer: Option<SocketAddr>,
        bytes: &[u8],
        way: Way,
    ) {
        let Some(c) = self.capture.as_ref().filter(|c| c.tap.keeps(bytes)) else {
            return;
        };
        let core = peer
            .or_else(|| ctx.peer_addr(conn))
            .unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 0)));
        // The core's own connection ends on a listener; ours leaves from the core side's address (its ephemeral
        // port is not known here).
        let local = ctx
            .listener(conn)
            .and_then(|i| c.listeners.get(i).copied())
            .unwrap_or_else(|| self.core_local());
        let transport = if ctx.is_tls(conn) {
            Transport::Tls
        } else {
            Transport::Tcp
        };
        let (src, dst) = match way {
            Way::In => (core, local),
            Way::Out => (local, core),
        };
        c.tap.record(bytes, src, dst, transport);
    }

    /// The core side's local address without a port (`[core] local_address`'s IP), or `0.0.0.0:0`.
    fn core_local(&self) -> SocketAddr {
        let ip = self
            .shared
            .core
            .as_ref()
            .map_or(std::net::Ipv4Addr::UNSPECIFIED.into(), |c| c.local.ip());
        SocketAddr::new(ip, 0)
    }
}
