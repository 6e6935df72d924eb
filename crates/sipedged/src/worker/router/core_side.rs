//! The router's side toward the core's targets: which target a message goes to (its route set or Via when it
//! names one, else the best live target), the worker's UDP socket or its stream (TCP, TLS) to that target, and
//! failover: a request that cannot go to its target, or that a target going down left unanswered, is sent to the
//! next live one (RFC 3261 §16.7: no response came), and answered 503 with Retry-After when there is none.

use std::net::SocketAddr;
use std::sync::Arc;

use ringmux::{CloseReason, Conn, Ctx};

use super::{Router, Way, since_woke};
use crate::metrics::{Counter, RoutingFailure};
use crate::targets::health::Outcome;
use crate::targets::pinned::pinned;
use crate::targets::prober::server_name;
use crate::targets::{CoreView, Feedback, TargetStats, Transport, select};
use crate::worker::Msg;
use crate::worker::link::{CoreLink, Route};

/// How many other targets a message is tried on after its first one failed.
const FAILOVER_TRIES: u8 = 2;

/// The port of a target named without one.
fn default_port(transport: Transport) -> u16 {
    match transport {
        Transport::Tls => 5061,
        Transport::Udp | Transport::Tcp => 5060,
    }
}

fn is_request(bytes: &[u8]) -> bool {
    !bytes.starts_with(b"SIP/2.0 ")
}

/// Whether a message that could not reach its target, unanswered, may be sent to another (RFC 3261 §16.7, §16.10):
/// a request, but not an ACK (an ACK for a 2xx belongs to the dialog's target, and one for a failure to the
/// hop that failed), nor a CANCEL (it follows its INVITE to the same hop). A response goes back to the core that
/// sent the request, or nowhere.
pub fn may_fail_over(bytes: &[u8]) -> bool {
    is_request(bytes) && !bytes.starts_with(b"ACK ") && !bytes.starts_with(b"CANCEL ")
}

impl Router {
    /// A message the edge sends to the core.
    pub(super) fn send_to_core(&mut self, ctx: &mut Ctx<'_, Msg>, bytes: Vec<u8>) {
        let Some(view) = self.view.clone() else {
            return;
        };
        match self.choose(ctx, &view, &bytes, None) {
            Some(target) => {
                self.send_to_target(ctx, &view, target, bytes, FAILOVER_TRIES);
                self.metrics.forward_to_core.observe(since_woke(ctx));
            }
            None => self.core_unavailable(ctx, &bytes),
        }
    }

    /// The target for `bytes`: the one it names, else the best live one that is not `avoid` and whose stream is
    /// not backing off.
    fn choose(
        &mut self,
        ctx: &Ctx<'_, Msg>,
        view: &CoreView,
        bytes: &[u8],
        avoid: Option<SocketAddr>,
    ) -> Option<SocketAddr> {
        if view.targets.len() > 1
            && let Some(t) = pinned(bytes, view, default_port(view.transport))
            && Some(t) != avoid
        {
            return Some(t);
        }
        self.pick = self.pick.wrapping_add(1);
        let now = ctx.now();
        let links = &self.links;
        let usable = |t: &crate::targets::CoreTarget| {
            Some(t.addr) != avoid
                && !links
                    .iter()
                    .any(|(a, l)| *a == t.addr && l.is_backing_off(now))
        };
        select::best(&view.targets, self.pick, usable).map(|i| view.targets[i].addr)
    }

    fn send_to_target(
        &mut self,
        ctx: &mut Ctx<'_, Msg>,
        view: &CoreView,
        target: SocketAddr,
        bytes: Vec<u8>,
        tries: u8,
    ) {
        if is_request(&bytes)
            && let Some(t) = view.target(target)
        {
            TargetStats::bump(&t.stats.requests);
        }
        match view.transport {
            Transport::Udp => self.send_udp(ctx, target, &bytes),
            Transport::Tcp | Transport::Tls => self.send_stream(ctx, view, target, bytes, tries),
        }
    }

    fn send_udp(&mut self, ctx: &mut Ctx<'_, Msg>, target: SocketAddr, bytes: &[u8]) {
        let sent = self.udp.map(|udp| ctx.send_to(udp, target, bytes));
        if sent.is_some() {
            // Lost on the way or refused by a full socket buffer alike: the transaction sends it again.
            self.track_sent(ctx, bytes, target);
        }
        match sent {
            Some(Ok(_)) => {
                self.capture_core_udp(target, bytes, Way::Out);
                self.metrics.add(Counter::CoreMessagesOut, 1)
            }
            Some(Err(e)) => {
                tracing::warn!(worker = self.index, %target, error = %e, "send to core failed");
                self.metrics.routing_failed(RoutingFailure::CoreSendFailed);
            }
            None => self.metrics.routing_failed(RoutingFailure::CoreSendFailed),
        }
    }

    fn link(&mut self, target: SocketAddr) -> &mut CoreLink {
        let i = match self.links.iter().position(|(a, _)| *a == target) {
            Some(i) => i,
            None => {
                self.links.push((target, CoreLink::default()));
                self.links.len() - 1
            }
        };
        &mut self.links[i].1
    }

    fn send_stream(
        &mut self,
        ctx: &mut Ctx<'_, Msg>,
        view: &CoreView,
        target: SocketAddr,
        mut bytes: Vec<u8>,
        tries: u8,
    ) {
        let now = ctx.now();
        let route = match self.link(target).route(&mut bytes, now) {
            Route::Connect => match self.connect(ctx, view, target) {
                Ok(conn) => {
                    tracing::info!(worker = self.index, %target, transport = view.transport.token(), "connecting to the core");
                    self.link(target).connecting(conn, &mut bytes)
                }
                Err(e) => {
                    tracing::warn!(worker = self.index, %target, error = %e, "cannot connect to the core");
                    self.link_failed(ctx, target);
                    Route::Unavailable
                }
            },
            route => route,
        };
        match route {
            Route::Send(conn) => self.send_on_link(ctx, target, conn, bytes, tries),
            Route::Unavailable => self.fail_over(ctx, target, bytes, tries),
            Route::Queued | Route::Connect => {}
        }
    }

    fn connect(
        &mut self,
        ctx: &mut Ctx<'_, Msg>,
        view: &CoreView,
        target: SocketAddr,
    ) -> Result<Conn, ringmux::Error> {
        let tls = self.shared.core.as_ref().and_then(|c| c.tls.as_ref());
        match (view.transport, tls) {
            (Transport::Tls, Some((connector, fixed))) => {
                let name = fixed
                    .as_deref()
                    .or_else(|| view.target(target).and_then(|t| t.name.as_deref()));
                ctx.connect_tls(target, connector, server_name(name, target))
            }
            _ => ctx.connect(target),
        }
    }

    fn send_on_link(
        &mut self,
        ctx: &mut Ctx<'_, Msg>,
        target: SocketAddr,
        conn: Conn,
        bytes: Vec<u8>,
        tries: u8,
    ) {
        match ctx.send(conn, &bytes) {
            Ok(()) => {
                self.capture_core_stream(ctx, conn, Some(target), &bytes, Way::Out);
                self.metrics.add(Counter::CoreMessagesOut, 1);
                // Unanswered when the connection goes, it goes to the next target; unanswered at Timer F, 408.
                self.track_sent(ctx, &bytes, target);
            }
            Err(e) => {
                tracing::warn!(worker = self.index, %target, error = %e, "send to core failed");
                self.fail_over(ctx, target, bytes, tries);
            }
        }
    }

    /// `bytes` could not go to `failed`: a request (not an ACK) goes to the next live target, counted as a
    /// failover; what cannot go anywhere is answered 503 (a request) or dropped.
    fn fail_over(&mut self, ctx: &mut Ctx<'_, Msg>, failed: SocketAddr, bytes: Vec<u8>, tries: u8) {
        let Some(view) = self.view.clone() else {
            return;
        };
        let next = (tries > 0 && may_fail_over(&bytes))
            .then(|| self.choose(ctx, &view, &bytes, Some(failed)))
            .flatten();
        match next {
            Some(next) => {
                if let Some(t) = view.target(failed) {
                    TargetStats::bump(&t.stats.failovers);
                }
                tracing::debug!(worker = self.index, from = %failed, to = %next, "request sent on to the next target");
                self.send_to_target(ctx, &view, next, bytes, tries - 1);
            }
            None => self.core_unavailable(ctx, &bytes),
        }
    }

    /// A stream to a target is up: send what waited.
    pub fn core_connected(&mut self, ctx: &mut Ctx<'_, Msg>, conn: Conn) {
        let Some(i) = self.links.iter().position(|(_, l)| l.is_link(conn)) else {
            return;
        };
        let target = self.links[i].0;
        tracing::info!(worker = self.index, %target, "connected to the core");
        for bytes in self.links[i].1.connected(conn) {
            self.send_on_link(ctx, target, conn, bytes, FAILOVER_TRIES);
        }
    }

    /// `conn` closed; `true` when it was one of our streams to the core. The requests it carried that had no
    /// answer yet go to the next live target (or get 503): no response came (RFC 3261 §16.7).
    pub fn core_closed(&mut self, ctx: &mut Ctx<'_, Msg>, conn: Conn, reason: CloseReason) -> bool {
        let Some((target, link)) = self.links.iter_mut().find(|(_, l)| l.is_link(conn)) else {
            return false;
        };
        let target = *target;
        link.closed(conn);
        if reason == CloseReason::Tls {
            // The peer refused the session after the handshake (TLS 1.3 checks a client certificate then).
            if let Some(t) = self.view.as_ref().and_then(|v| v.target(target)) {
                TargetStats::bump(&t.stats.tls_failures);
            }
            tracing::warn!(worker = self.index, %target, "TLS session with the core refused or broken");
        } else {
            tracing::warn!(worker = self.index, %target, ?reason, "connection to the core closed");
        }
        let unanswered = self
            .transactions
            .as_mut()
            .map(|tx| tx.take_unanswered(target))
            .unwrap_or_default();
        if !unanswered.is_empty() {
            self.feedback(target, Outcome::TransportError);
        }
        for bytes in unanswered {
            self.fail_over(ctx, target, bytes, FAILOVER_TRIES);
        }
        true
    }

    /// An outbound connection failed (refused, unreachable, or its TLS handshake refused).
    pub fn core_connect_failed(
        &mut self,
        ctx: &mut Ctx<'_, Msg>,
        conn: Conn,
        error: &std::io::Error,
    ) {
        let Some(target) = self
            .links
            .iter()
            .find(|(_, l)| l.is_link(conn))
            .map(|(a, _)| *a)
        else {
            return;
        };
        let handshake = error
            .get_ref()
            .and_then(|e| e.downcast_ref::<ringmux::TlsConnectError>())
            .is_some_and(|e| matches!(e, ringmux::TlsConnectError::Handshake(_)));
        if handshake {
            if let Some(t) = self.view.as_ref().and_then(|v| v.target(target)) {
                TargetStats::bump(&t.stats.tls_failures);
            }
            tracing::warn!(worker = self.index, %target, %error, "TLS handshake with the core refused");
        } else {
            tracing::warn!(worker = self.index, %target, %error, "cannot connect to the core");
        }
        self.link_failed(ctx, target);
    }

    fn link_failed(&mut self, ctx: &mut Ctx<'_, Msg>, target: SocketAddr) {
        self.feedback(target, Outcome::TransportError);
        let now = ctx.now();
        for bytes in self.link(target).failed(now) {
            self.fail_over(ctx, target, bytes, FAILOVER_TRIES);
        }
    }

    /// Tell the target manager what went wrong with `target` (dropped when its queue is full: probes decide).
    pub(super) fn feedback(&self, target: SocketAddr, outcome: Outcome) {
        if let Some(tx) = self.shared.core.as_ref().and_then(|c| c.feedback.as_ref()) {
            let _ = tx.try_send(Feedback { target, outcome });
        }
    }

    /// New targets or states: requests a target that went down (or away) never answered go to the next one, and
    /// a target that came back up is connected to at once (not after its stream's back-off).
    pub(super) fn view_changed(&mut self, ctx: &mut Ctx<'_, Msg>, view: Arc<CoreView>) {
        let old = self.view.replace(view.clone());
        let up = |addr: SocketAddr| view.target(addr).is_some_and(|t| t.up);
        for (addr, link) in &mut self.links {
            if up(*addr) {
                link.address_changed();
            }
        }
        let Some(old) = old else { return };
        for gone in old.targets.iter().filter(|t| t.up && !up(t.addr)) {
            let unanswered = self
                .transactions
                .as_mut()
                .map(|tx| tx.take_unanswered(gone.addr))
                .unwrap_or_default();
            for bytes in unanswered {
                self.fail_over(ctx, gone.addr, bytes, FAILOVER_TRIES);
            }
        }
    }

    /// A message for the core cannot go: a request is answered `503 Service Unavailable` with Retry-After (RFC 3261
    /// §16.7: as if from the core, so it takes the way back through our Via), anything else is dropped.
    pub(super) fn core_unavailable(&mut self, ctx: &mut Ctx<'_, Msg>, bytes: &[u8]) {
        self.metrics.routing_failed(RoutingFailure::CoreSendFailed);
        let Ok(msg) = sipscan::Message::parse(bytes) else {
            return;
        };
        if !matches!(msg.kind(), sipscan::Kind::Request { .. })
            || msg.method() == Some(sipscan::Method::Ack)
        {
            return;
        }
        let answer = edge::response::build(&msg, 503, "Service Unavailable", &["Retry-After: 5"]);
        self.edge.from_core(&answer, &mut self.actions);
        self.run_actions(ctx);
    }
}

#[cfg(test)]
mod tests {
    use super::may_fail_over;

    #[test]
    fn only_requests_other_than_ack_and_cancel_go_to_another_target() {
        for (message, allowed) in [
            (&b"INVITE sip:bob@x SIP/2.0\r\n"[..], true),
            (b"MESSAGE sip:bob@x SIP/2.0\r\n", true),
            (b"REGISTER sip:x SIP/2.0\r\n", true),
            (b"BYE sip:bob@x SIP/2.0\r\n", true),
            (b"ACK sip:bob@x SIP/2.0\r\n", false),
            (b"CANCEL sip:bob@x SIP/2.0\r\n", false),
            (b"SIP/2.0 200 OK\r\n", false),
        ] {
            assert_eq!(
                may_fail_over(message),
                allowed,
                "{:?}",
                String::from_utf8_lossy(message)
            );
        }
    }
}
