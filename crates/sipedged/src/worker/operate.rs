//! What the admin API asks of a worker ([`Ask`]): list its open WebSockets (all, or those of one user), close
//! one with a chosen close code, show its registrar shard's bindings, and drain (stop accepting, then close
//! every WebSocket with 1001 spread over a period, so that the browsers reconnect to other nodes a few at a
//! time rather than all at once). The worker answers from its own thread; the admin thread joins the answers.

use std::ops::ControlFlow;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use edge::flow_token::FlowId;
use ringmux::{Conn, Ctx};
use serde::Serialize;
use tokio::sync::oneshot;

use super::{Connection, Msg, Worker};
use crate::session::Output;

/// The worker-timer token of a drain's steps.
pub const DRAIN_TOKEN: u64 = 2;
/// How often a draining worker closes its next share of connections.
const DRAIN_STEP: Duration = Duration::from_millis(100);
/// How long after its period a drain still closes WebSockets that opened late (their handshake was under way).
const DRAIN_TAIL: Duration = Duration::from_secs(10);
/// The close frame's text when a drain closes a WebSocket.
const DRAIN_TEXT: &str = "node draining";

/// A question or an order from the admin API to one worker.
#[derive(Debug)]
pub enum Ask {
    /// This worker's open WebSockets that match, at most `limit` of them.
    Connections {
        /// Which ones.
        filter: Filter,
        /// Where the answer goes.
        reply: oneshot::Sender<Listing>,
    },
    /// Close one WebSocket with a close frame.
    Close {
        /// The connection, as its flow token names it.
        flow: FlowId,
        /// The close code (already checked to be one a server may send).
        code: u16,
        /// The close frame's reason text (at most 123 bytes).
        text: String,
        /// `true` when the connection was open and is now closing.
        reply: oneshot::Sender<bool>,
    },
    /// This worker's registrar shard (standalone mode): the bindings of `aor`, or all (at most `limit`).
    Bindings {
        /// The normalized AoR, or `None` for all.
        aor: Option<String>,
        /// At most this many.
        limit: usize,
        /// Where the answer goes.
        reply: oneshot::Sender<Vec<BindingInfo>>,
    },
    /// Stop accepting and close every WebSocket with 1001 within `period`.
    Drain {
        /// Time over which the closes are spread.
        period: Duration,
    },
}

/// Which connections a listing shows: with a filter set, those matching any part of it.
#[derive(Debug, Default, Clone)]
pub struct Filter {
    /// A user: connections whose authenticated identity is it, or that registered it (edge mode).
    pub aor: Option<String>,
    /// Connections holding these flows (standalone: the bindings of the AoR asked for).
    pub flows: Vec<FlowId>,
    /// At most this many.
    pub limit: usize,
}

impl Filter {
    fn is_set(&self) -> bool {
        self.aor.is_some() || !self.flows.is_empty()
    }
}

/// One worker's answer to [`Ask::Connections`].
#[derive(Debug, Default)]
pub struct Listing {
    /// The connections that matched, up to the limit.
    pub connections: Vec<ConnectionInfo>,
    /// Whether more matched than the limit.
    pub truncated: bool,
}

/// An open WebSocket, as the admin API lists it.
#[derive(Debug, Clone, Serialize)]
pub struct ConnectionInfo {
    /// The worker that owns it.
    pub worker: usize,
    /// Its flow token (what the edge writes in Path and Record-Route; names it to [`Ask::Close`]).
    pub flow: String,
    /// The browser's address (or the one a PROXY header named).
    pub peer: Option<String>,
    /// Which `[[listen]]` accepted it.
    pub listener: usize,
    /// wss://.
    pub tls: bool,
    /// Who the handshake authenticated.
    pub identity: Option<String>,
    /// The AoRs it registered (standalone: its bindings; edge mode: the To of its REGISTERs).
    pub aors: Vec<String>,
    /// Seconds since the WebSocket opened.
    pub age_seconds: f64,
    /// Seconds since the browser last sent anything.
    pub idle_seconds: f64,
    /// Bytes received on the socket (TLS: records).
    pub bytes_in: u64,
    /// Bytes written on the socket.
    pub bytes_out: u64,
    #[serde(skip)]
    /// The flow, for joining with bindings.
    pub flow_id: FlowId,
}

/// A registrar binding, as the admin API lists it.
#[derive(Debug, Clone, Serialize)]
pub struct BindingInfo {
    /// The AoR.
    pub aor: String,
    /// The Contact URI.
    pub contact: String,
    /// `+sip.instance`.
    pub instance: Option<String>,
    /// Seconds left.
    pub expires_in: u32,
    /// The flow token of the connection that reaches it.
    pub flow: String,
    #[serde(skip)]
    /// The flow.
    pub flow_id: FlowId,
}

/// What the worker is in the middle of for the admin API.
#[derive(Debug, Default)]
pub struct Operate {
    listing: Option<(Filter, Listing, oneshot::Sender<Listing>)>,
    closing: Option<(Conn, u16, String, oneshot::Sender<bool>)>,
    /// Closes left in this drain step.
    drain_budget: usize,
    /// The fraction of a close carried from one drain step to the next.
    drain_credit: f64,
    /// The end of the drain, once one began.
    drain_until: Option<Instant>,
}

impl Worker {
    /// An [`Ask`] from the admin API.
    pub(super) fn ask(&mut self, ctx: &mut Ctx<'_, Msg>, ask: Ask) {
        match ask {
            Ask::Connections { filter, reply } => {
                self.operate.listing = Some((filter, Listing::default(), reply));
                ctx.visit_connections();
            }
            Ask::Close {
                flow,
                code,
                text,
                reply,
            } => {
                let conn = Conn {
                    slot: flow.slot,
                    generation: flow.generation,
                };
                if flow.node != self.shared.edge.node || ctx.bytes(conn).is_none() {
                    let _ = reply.send(false);
                    return;
                }
                self.operate.closing = Some((conn, code, text, reply));
                ctx.visit_connections();
            }
            Ask::Bindings { aor, limit, reply } => {
                let _ = reply.send(self.router.bindings(aor.as_deref(), limit, ctx.now()));
            }
            Ask::Drain { period } => {
                if self.operate.drain_until.is_some() {
                    return;
                }
                tracing::info!(
                    worker = self.router.index(),
                    ?period,
                    "draining: no new connections; closing WebSockets with 1001"
                );
                ctx.stop_accepting();
                self.operate.drain_until = Some(ctx.now() + period);
                ctx.arm_worker_timer(Duration::ZERO, DRAIN_TOKEN);
            }
        }
    }

    /// A drain's step: close this step's share of the WebSockets left, evenly over what is left of the period.
    pub(super) fn drain_step(&mut self, ctx: &mut Ctx<'_, Msg>) {
        let Some(until) = self.operate.drain_until else {
            return;
        };
        let open = self.router.metrics.websockets.load(Ordering::Relaxed) as usize;
        let now = ctx.now();
        let left = until.saturating_duration_since(now);
        self.operate.drain_budget = if left <= DRAIN_STEP {
            usize::MAX
        } else {
            // open × step / left, its fractions carried to the next step: evenly over what is left of the
            // period; the last step before the deadline takes the rest.
            self.operate.drain_credit +=
                open as f64 * DRAIN_STEP.as_secs_f64() / left.as_secs_f64();
            let whole = self.operate.drain_credit.floor();
            self.operate.drain_credit -= whole;
            whole as usize
        };
        // Past the period, steps go on a while for connections that were still in their handshake.
        if open > 0 || now < until + DRAIN_TAIL {
            if self.operate.drain_budget > 0 && open > 0 {
                ctx.visit_connections();
            }
            ctx.arm_worker_timer(DRAIN_STEP, DRAIN_TOKEN);
        }
    }

    /// One open connection of a visit: listed, closed, or drained as the pending asks say.
    pub(super) fn visit_one(
        &mut self,
        ctx: &mut Ctx<'_, Msg>,
        conn: Conn,
        state: &mut Connection,
    ) -> ControlFlow<()> {
        if self
            .operate
            .closing
            .as_ref()
            .is_some_and(|(target, ..)| *target == conn)
            && let Some((_, code, text, reply)) = self.operate.closing.take()
        {
            let closed =
                self.close_for_operator(ctx, conn, state, code, &text, "closed by the operator");
            let _ = reply.send(closed);
        }
        if let Some((filter, listing, _)) = &mut self.operate.listing
            && let Some(info) = self.router.describe(ctx, conn, &state.session, filter)
        {
            if listing.connections.len() < filter.limit {
                listing.connections.push(info);
            } else {
                listing.truncated = true;
            }
        }
        if self.operate.drain_budget > 0
            && self.close_for_operator(
                ctx,
                conn,
                state,
                wsproto::close_code::GOING_AWAY,
                DRAIN_TEXT,
                "the node drains",
            )
        {
            self.operate.drain_budget -= 1;
        }
        let more = self.operate.listing.is_some()
            || self.operate.closing.is_some()
            || self.operate.drain_budget > 0;
        if more {
            ControlFlow::Continue(())
        } else {
            ControlFlow::Break(())
        }
    }

    /// A visit ended: answer what is still waiting (a close whose connection was not found answers `false`).
    pub(super) fn visit_done(&mut self) {
        if let Some((_, listing, reply)) = self.operate.listing.take() {
            let _ = reply.send(listing);
        }
        if let Some((.., reply)) = self.operate.closing.take() {
            let _ = reply.send(false);
        }
        self.operate.drain_budget = 0;
    }

    fn close_for_operator(
        &mut self,
        ctx: &mut Ctx<'_, Msg>,
        conn: Conn,
        state: &mut Connection,
        code: u16,
        text: &str,
        why: &'static str,
    ) -> bool {
        let mut closed = false;
        self.drive(ctx, conn, state, |s, _, out: &mut Output<'_>| {
            closed = s.close_for_operator(code, text, why, out);
        });
        closed
    }
}

impl Filter {
    /// Whether a connection with this identity, these registered AoRs and this flow is shown.
    pub fn matches(&self, identity: Option<&str>, aors: &[String], flow: &FlowId) -> bool {
        if !self.is_set() {
            return true;
        }
        let by_aor = self.aor.as_deref().is_some_and(|want| {
            identity.is_some_and(|i| same_user(i, want)) || aors.iter().any(|a| a == want)
        });
        by_aor
            || self.flows.iter().any(|f| {
                f.slot == flow.slot && f.generation == flow.generation && f.worker == flow.worker
            })
    }
}

/// Whether an identity (`alice`, or `alice@example.com`) names the normalized AoR `aor` (`alice@example.com`).
fn same_user(identity: &str, aor: &str) -> bool {
    identity == aor
        || aor
            .split_once('@')
            .is_some_and(|(user, _)| user == identity)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flow(slot: u32) -> FlowId {
        FlowId {
            node: 1,
            worker: 0,
            slot,
            generation: 1,
            outbound: false,
            secure: false,
        }
    }

    #[test]
    fn a_filter_matches_identity_registered_aors_or_flows() {
        let all = Filter::default();
        assert!(all.matches(None, &[], &flow(1)));
        let alice = Filter {
            aor: Some("alice@example.com".into()),
            ..Filter::default()
        };
        assert!(alice.matches(Some("alice"), &[], &flow(1)));
        assert!(alice.matches(Some("alice@example.com"), &[], &flow(1)));
        assert!(alice.matches(None, &["alice@example.com".into()], &flow(1)));
        assert!(!alice.matches(Some("bob"), &["bob@example.com".into()], &flow(1)));
        let by_flow = Filter {
            flows: vec![flow(7)],
            ..Filter::default()
        };
        assert!(by_flow.matches(None, &[], &flow(7)));
        assert!(!by_flow.matches(None, &[], &flow(8)));
    }
}
